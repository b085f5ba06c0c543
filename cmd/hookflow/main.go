// Command hookflow is the one binary of the hookflow platform. Its subcommands are
// the roles: `dev` (everything in one process on embedded defaults), `server` (the
// REST API), `worker` (the Temporal worker) and `migrate` (database schema), and the
// operator's one-offs (`workspace`, `rotate-encryption-key`).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

const usage = `hookflow — event automation on Temporal

Usage:
  hookflow <command> [flags]

Commands:
  dev       run everything in one process: embedded Temporal + Web UI, SQLite, API, worker, dev inbox
  server    run the REST API against an external Temporal and Postgres
  worker    run the Temporal worker against an external Temporal and Postgres
  migrate   apply database migrations
  temporal  run the embedded Temporal server (+ Web UI) alone, for multi-process setups on one machine
  temporal-setup
            register the namespace and search attributes on an external Temporal
  rotate-encryption-key
            re-encrypt the stored secrets with a new key
  workspace create a workspace and its first API key, or list them (the operator's job)
  help      show this help

Configuration is read from environment variables; see the README's config table.
Run 'hookflow <command> --help' for a command's flags.
`

// errUsage marks a usage error that was already printed.
var errUsage = errors.New("usage")

// run is main without the process: tests call it with their own context and env.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	stopPprof, err := startPprof(getenv(pprofAddrEnv), stderr)
	if err != nil {
		fmt.Fprintf(stderr, "hookflow: %v\n", err)
		return 1
	}
	defer stopPprof()
	switch args[0] {
	case "dev":
		err = cmdDev(ctx, args[1:], stdout, stderr, getenv)
	case "server":
		err = cmdServer(ctx, args[1:], stdout, stderr, getenv)
	case "worker":
		err = cmdWorker(ctx, args[1:], stdout, stderr, getenv)
	case "migrate":
		err = cmdMigrate(ctx, args[1:], stdout, stderr, getenv)
	case "temporal":
		err = cmdTemporal(ctx, args[1:], stdout, stderr, getenv)
	case "temporal-setup":
		err = cmdTemporalSetup(ctx, args[1:], stdout, stderr, getenv)
	case "rotate-encryption-key":
		err = cmdRotateKey(ctx, args[1:], stdout, stderr, getenv)
	case "workspace":
		err = cmdWorkspace(ctx, args[1:], stdout, stderr, getenv)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "hookflow: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, errHelp):
		return 0
	default:
		fmt.Fprintf(stderr, "hookflow %s: %v\n", args[0], err)
		return 1
	}
}
