//go:build !slim

package main

// The dev command runs Temporal's server in-process; a build with the slim tag
// leaves it out (see slim.go).

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hookflow/hookflow/internal/apikeys"
	"github.com/hookflow/hookflow/internal/config"
	"github.com/hookflow/hookflow/internal/devstack"
	"github.com/hookflow/hookflow/workflows"
)

const helpDev = `Usage: hookflow dev [flags]

Runs the whole platform in one process on 127.0.0.1: Temporal's server (SQLite
under HOOKFLOW_DATA_DIR) with its Web UI, the app database (SQLite unless
DATABASE_URL is set), migrations, the REST API, the worker, the dev inbox and
an SMTP sink (HOOKFLOW_DEV_SMTP_ADDR) that email.send steps send to unless
HOOKFLOW_SMTP_URL is set; its messages are listed at /dev/inbox/email.
Ctrl-C stops it; started again on the same data dir it carries on where it stopped.

Flags:
`

func cmdDev(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	demo := fs.Bool("demo", false, "seed the flagship scenario (review → points → tier → Slack) and print curl lines to run it")
	if err := parseFlags(fs, args, stdout, helpDev); err != nil {
		return err
	}
	cfg, err := config.Load(config.RoleDev, getenv)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stderr)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}

	ts, err := devstack.Start(ctx, devstack.Options{
		DataDir:          cfg.DataDir,
		FrontendAddr:     cfg.TemporalAddress,
		UIAddr:           cfg.TemporalUIAddress,
		Namespace:        cfg.TemporalNamespace,
		SearchAttributes: workflows.SearchAttributes(),
		Logger:           logger.With("component", "temporal-server"),
	})
	if err != nil {
		return fmt.Errorf("start embedded Temporal: %w", err)
	}
	defer ts.Stop()
	cfg.TemporalAddress = ts.FrontendAddr()

	if cfg.Keys == nil {
		if cfg.Keys, err = devEncryptionKey(cfg); err != nil {
			return err
		}
	}
	p, err := openProcess(ctx, cfg, logger, openOptions{migrate: true, role: "dev", getenv: getenv})
	if err != nil {
		return err
	}
	defer p.close()
	st := p.store
	key, keyFile, err := devAPIKey(cfg)
	if err != nil {
		return err
	}
	if err := ensureAPIKey(ctx, st, key); err != nil {
		return err
	}
	stop, err := startServing(p, true, true, false)
	if err != nil {
		return err
	}
	defer stop()

	base := "http://" + cfg.HTTPAddr
	if *demo {
		if _, err := seedDemo(ctx, st, base); err != nil {
			return fmt.Errorf("seed demo: %w", err)
		}
	}
	printBanner(stdout, cfg, ts.UIURL(), key, keyFile)
	if *demo {
		printDemo(stdout, base)
	}
	<-ctx.Done()
	fmt.Fprintln(stdout, "\nstopping…")
	return nil
}

// printBanner tells a newcomer where everything is; the key appears once.
func printBanner(stdout io.Writer, cfg *config.Config, uiURL, key, keyFile string) {
	base := "http://" + cfg.HTTPAddr
	fmt.Fprintf(stdout, `
hookflow dev is running.

  API          %s
  API docs     %s/docs
  Temporal UI  %s
  Temporal     %s (namespace %s)
  Dev inbox    %s/dev/inbox/{name}
  Mail         %s
  Data dir     %s
  Database     %s

  API key      %s
%s
Press Ctrl-C to stop.
`, base, base, uiURL, cfg.TemporalAddress, cfg.TemporalNamespace, base, mailLine(cfg, base), cfg.DataDir, redactDSN(cfg.DatabaseURL), key, exportHint(keyFile))
}

// mailLine says where email.send steps send: to the dev SMTP sink (and so to
// the dev inbox) unless HOOKFLOW_SMTP_URL names a server, shown without its
// password.
func mailLine(cfg *config.Config, base string) string {
	sink := ""
	if cfg.DevSMTPAddr != "" {
		sink = "dev SMTP sink on " + cfg.DevSMTPAddr + ", messages at " + base + "/dev/inbox/email"
	}
	switch {
	case !cfg.SMTP.Configured():
		return "email.send has no SMTP server (set HOOKFLOW_SMTP_URL)"
	case sink != "" && cfg.SMTP.Addr() == cfg.DevSMTPAddr:
		return "email.send → " + sink
	case sink != "":
		return "email.send → " + cfg.SMTP.String() + "; " + sink
	default:
		return "email.send → " + cfg.SMTP.String()
	}
}

// redactDSN hides a password in a database URL before it is printed.
func redactDSN(dsn string) string {
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return dsn
	}
	creds, host, ok := strings.Cut(rest, "@")
	if !ok {
		return dsn
	}
	user, _, hasPass := strings.Cut(creds, ":")
	if !hasPass {
		return dsn
	}
	return scheme + "://" + user + ":***@" + host
}

// exportHint is the banner's line for the shell. It reads the key from its file
// rather than repeating it: the key is printed once, on the "API key" line, so a
// log of the terminal holds one copy, not one per hint. A key given in
// HOOKFLOW_API_KEY (no file) is already in the environment.
func exportHint(keyFile string) string {
	if keyFile == "" {
		return ""
	}
	return "\n  export HOOKFLOW_API_KEY=$(cat " + keyFile + ")\n"
}

// devAPIKey returns HOOKFLOW_API_KEY or the key kept in the data dir, making one on
// the first run, so the key printed yesterday still works today. file is where the
// key is kept, empty when it came from HOOKFLOW_API_KEY.
func devAPIKey(cfg *config.Config) (key, file string, err error) {
	if cfg.APIKey != "" {
		return cfg.APIKey, "", nil
	}
	path := filepath.Join(cfg.DataDir, "api_key")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), path, nil
	}
	if key, err = apikeys.Generate(); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return "", "", fmt.Errorf("save dev API key: %w", err)
	}
	return key, path, nil
}
