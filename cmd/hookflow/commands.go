package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/hookflow/hookflow/api"
	"github.com/hookflow/hookflow/internal/config"
	"github.com/hookflow/hookflow/internal/secretbox"
	"github.com/hookflow/hookflow/internal/store"
	"github.com/hookflow/hookflow/internal/tsetup"
	"github.com/hookflow/hookflow/workflows"
)

const helpServer = `Usage: hookflow server [flags]

Runs the REST API against an external Temporal (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE)
and Postgres (DATABASE_URL). Refuses to start on a database that is not migrated.

With --with-worker the same process also runs the Temporal worker, sharing one
client, and events are started with Temporal's eager workflow start: the first
workflow task comes back in the start response instead of through the task queue,
which saves a round trip and CPU per event. Separate 'hookflow worker' processes
may still run beside it.

Flags:
`

func cmdServer(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	withWorker := fs.Bool("with-worker", false, "also run the Temporal worker in this process, and start events eagerly")
	if err := parseFlags(fs, args, stdout, helpServer); err != nil {
		return err
	}
	role := config.RoleServer
	if *withWorker {
		// The worker half needs what a worker needs (the encryption key opens secrets).
		role = config.RoleWorker
	}
	p, err := connect(ctx, role, getenv, stderr)
	if err != nil {
		return err
	}
	defer p.close()
	cfg, logger := p.cfg, p.logger
	if err := ensureAPIKey(ctx, p.store, cfg.APIKey); err != nil {
		return err
	}
	stop, err := startServing(p, *withWorker, false, true)
	if err != nil {
		return err
	}
	logger.Info("hookflow server listening", "addr", cfg.HTTPAddr, "temporal", cfg.TemporalAddress)
	<-ctx.Done()
	logger.Info("shutting down: finishing in-flight requests", "grace", cfg.ShutdownGrace)
	stop()
	return nil
}

const helpWorker = `Usage: hookflow worker [flags]

Runs the Temporal worker (workflows and activities) on HOOKFLOW_TASK_QUEUE against an
external Temporal and Postgres. On SIGTERM it stops polling and lets running
activities finish within HOOKFLOW_SHUTDOWN_GRACE.

Flags:
`

func cmdWorker(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	if err := parseFlags(fs, args, stdout, helpWorker); err != nil {
		return err
	}
	p, err := connect(ctx, config.RoleWorker, getenv, stderr)
	if err != nil {
		return err
	}
	defer p.close()
	cfg, logger := p.cfg, p.logger
	w, err := newWorker(p)
	if err != nil {
		return err
	}
	ops := &http.Server{
		Addr:              cfg.HTTPAddr,
		Handler:           api.OpsHandler(p.store, workflows.NewStarter(p.client, cfg.TaskQueue), p.metrics, logger),
		ReadHeaderTimeout: 10 * time.Second,
	}
	stopOps, err := serveHTTP(ops, logger)
	if err != nil {
		return err
	}
	defer stopOps(5 * time.Second)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	logger.Info("hookflow worker polling", "task_queue", cfg.TaskQueue, "temporal", cfg.TemporalAddress, "ops_addr", cfg.HTTPAddr, "smtp", cfg.SMTP)
	<-ctx.Done()
	logger.Info("shutting down: waiting for running activities", "grace", cfg.ShutdownGrace)
	w.Stop()
	return nil
}

const helpMigrate = `Usage: hookflow migrate [flags]

Applies the pending versioned migrations to DATABASE_URL (Postgres, or SQLite as
sqlite:/path/file.db). Safe to run from several processes at once.

Flags:
`

func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	if err := parseFlags(fs, args, stdout, helpMigrate); err != nil {
		return err
	}
	cfg, err := config.Load(config.RoleMigrate, getenv)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stderr)
	st, err := store.Open(ctx, cfg.DatabaseURL, logger)
	if err != nil {
		return err
	}
	defer st.Close()
	applied, err := st.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "database is up to date")
		return nil
	}
	for _, v := range applied {
		fmt.Fprintf(stdout, "applied migration %04d\n", v)
	}
	return nil
}

const helpRotateKey = `Usage: hookflow rotate-encryption-key [flags]

Re-encrypts every secret in the database (endpoint, source and automation signing
secrets) with a new key, in one transaction. It opens the secrets with the keys in
HOOKFLOW_ENCRYPTION_KEY, seals them with the new key, and prints the new key.

Without DATABASE_URL and HOOKFLOW_ENCRYPTION_KEY it works on the dev data dir
(HOOKFLOW_DATA_DIR) and replaces the key file there; stop 'hookflow dev' first.

To rotate without downtime in production:
  1. hookflow rotate-encryption-key --print-only          (prints a fresh key, NEW)
  2. give every server and worker HOOKFLOW_ENCRYPTION_KEY=NEW,OLD and roll them
     (NEW seals, OLD still opens)
  3. HOOKFLOW_ENCRYPTION_KEY=NEW,OLD hookflow rotate-encryption-key --new-key NEW
  4. set HOOKFLOW_ENCRYPTION_KEY=NEW everywhere and roll again

Flags:
`

func cmdRotateKey(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("rotate-encryption-key", flag.ContinueOnError)
	newKey := fs.String("new-key", "", "the key to seal with (32 bytes, base64 or hex); a fresh one is made when empty")
	printOnly := fs.Bool("print-only", false, "print a fresh key and change nothing")
	if err := parseFlags(fs, args, stdout, helpRotateKey); err != nil {
		return err
	}
	if *printOnly {
		fmt.Fprintln(stdout, secretbox.Generate())
		return nil
	}
	role := config.RoleWorker
	if strings.TrimSpace(getenv("DATABASE_URL")) == "" && strings.TrimSpace(getenv("HOOKFLOW_ENCRYPTION_KEY")) == "" {
		role = config.RoleDev
	}
	cfg, err := config.Load(role, getenv)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stderr)
	current := cfg.Keys
	if role == config.RoleDev {
		if current, err = devEncryptionKey(cfg); err != nil {
			return err
		}
	}
	if *newKey == "" {
		*newKey = secretbox.Generate()
	}
	next, err := secretbox.Parse(*newKey)
	if err != nil {
		return fmt.Errorf("--new-key: %w", err)
	}
	ring := secretbox.Join(next, current)
	st, err := store.Open(ctx, cfg.DatabaseURL, logger)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.CheckMigrated(ctx); err != nil {
		return err
	}
	st.UseKeyring(ring)
	n, err := st.Reseal(ctx)
	if err != nil {
		return fmt.Errorf("nothing changed: %w", err)
	}
	if role == config.RoleDev {
		path := filepath.Join(cfg.DataDir, devKeyFile)
		if err := writeFileAtomic(path, *newKey+"\n"); err != nil {
			return fmt.Errorf("secrets are sealed with the new key but %s could not be written; keep this key: %s: %w", path, *newKey, err)
		}
		fmt.Fprintf(stdout, "re-encrypted %d secrets with key %s; %s holds the new key\n", n, next.PrimaryID(), path)
		return nil
	}
	fmt.Fprintf(stdout, "re-encrypted %d secrets with key %s\nset HOOKFLOW_ENCRYPTION_KEY on every server and worker to:\n%s\n", n, next.PrimaryID(), *newKey)
	return nil
}

const helpTemporalSetup = `Usage: hookflow temporal-setup [flags]

Prepares an external Temporal cluster (TEMPORAL_ADDRESS) for hookflow: registers
the namespace (TEMPORAL_NAMESPACE) unless it exists, and adds hookflow's search
attributes (HookflowWorkspace, HookflowEventType, HookflowSource, HookflowEndpoint,
HookflowAutomation) that the namespace lacks. Safe to run at every deploy.

Flags:
`

func cmdTemporalSetup(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("temporal-setup", flag.ContinueOnError)
	retention := fs.Duration("retention", 7*24*time.Hour, "how long Temporal keeps closed workflow histories, for a namespace it creates")
	if err := parseFlags(fs, args, stdout, helpTemporalSetup); err != nil {
		return err
	}
	cfg, err := config.Load(config.RoleTemporalSetup, getenv)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stderr)
	// The namespace may not exist yet: dial without checking it.
	c, err := client.DialContext(ctx, client.Options{HostPort: cfg.TemporalAddress, Namespace: "temporal-system",
		Logger: tlog.NewStructuredLogger(logger.With("component", "temporal-sdk"))})
	if err != nil {
		return fmt.Errorf("connect to Temporal at %s: %w", cfg.TemporalAddress, err)
	}
	defer c.Close()
	made, err := tsetup.EnsureNamespace(ctx, c, cfg.TemporalNamespace, *retention)
	if err != nil {
		return err
	}
	if made {
		fmt.Fprintf(stdout, "registered namespace %s (retention %s)\n", cfg.TemporalNamespace, *retention)
	} else {
		fmt.Fprintf(stdout, "namespace %s exists\n", cfg.TemporalNamespace)
	}
	// A namespace just registered takes a moment to reach every service's cache.
	var added []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		added, err = tsetup.EnsureSearchAttributes(ctx, c, cfg.TemporalNamespace, workflows.SearchAttributes())
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	if err != nil {
		return err
	}
	if len(added) == 0 {
		fmt.Fprintln(stdout, "search attributes are registered")
	} else {
		fmt.Fprintf(stdout, "added search attributes %s\n", strings.Join(added, ", "))
	}
	return nil
}
