//go:build !slim

package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/hookflow/hookflow/internal/config"
	"github.com/hookflow/hookflow/internal/devstack"
	"github.com/hookflow/hookflow/workflows"
)

const helpTemporal = `Usage: hookflow temporal [flags]

Runs the embedded Temporal server (and its Web UI) on its own, without the API or the
worker: the Temporal half of 'hookflow dev' as a separate process. Useful to run
'hookflow server' and 'hookflow worker' as separate processes on one machine, for
the reliability suite (which restarts it) and the benchmark.

It listens on TEMPORAL_ADDRESS (Web UI on TEMPORAL_UI_ADDRESS), keeps its state in
<data dir>/temporal.db (SQLite, WAL), registers TEMPORAL_NAMESPACE and hookflow's
search attributes, prints one "temporal ready" line and runs until SIGINT/SIGTERM.
This is a single-node development server; production runs a Temporal cluster.

With --postgres it keeps its state in Postgres instead (the databases named by the
URL and <name>_visibility, created when missing, Temporal's schema set up or
upgraded at start): the setting for load tests, since SQLite has one writer.
--shards applies only when the databases are created and must not change after.

Flags:
`

func cmdTemporal(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("temporal", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "directory of the SQLite file (default HOOKFLOW_DATA_DIR)")
	memory := fs.Bool("memory", false, "keep everything in memory: the state goes when the process exits")
	noUI := fs.Bool("no-ui", false, "do not serve the Web UI")
	retention := fs.Duration("retention", devstack.DefaultRetention, "how long closed workflows are kept, for a namespace this creates")
	postgres := fs.String("postgres", "", "keep the state in Postgres: `URL` postgres://user[:password]@host:port/database (visibility in <database>_visibility)")
	shards := fs.Int("shards", 0, "history shards with --postgres (default 4; fixed once the database exists)")
	if err := parseFlags(fs, args, stdout, helpTemporal); err != nil {
		return err
	}
	cfg, err := config.Load(config.RoleTemporalSetup, getenv)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stderr)
	dir := cfg.DataDir
	if *dataDir != "" {
		dir = *dataDir
	}
	if *memory {
		dir = ""
	}
	ui := cfg.TemporalUIAddress
	if *noUI {
		ui = ""
	}
	var pg *devstack.Postgres
	if *postgres != "" {
		if pg, err = devstack.PostgresFromURL(*postgres); err != nil {
			return fmt.Errorf("--postgres: %w", err)
		}
		dir = ""
	}
	if *shards < 0 || *shards > 1<<14 || (*shards != 0 && pg == nil) {
		fmt.Fprintln(stderr, "hookflow temporal: --shards needs --postgres and a value between 1 and 16384")
		return errUsage
	}
	ts, err := devstack.Start(ctx, devstack.Options{
		Postgres:         pg,
		NumHistoryShards: int32(*shards),
		DataDir:          dir,
		FrontendAddr:     cfg.TemporalAddress,
		UIAddr:           ui,
		Namespace:        cfg.TemporalNamespace,
		Retention:        *retention,
		SearchAttributes: workflows.SearchAttributes(),
		Logger:           logger.With("component", "temporal-server"),
	})
	if err != nil {
		return fmt.Errorf("start embedded Temporal: %w", err)
	}
	defer ts.Stop()
	where := "memory"
	switch {
	case pg != nil:
		where = "postgres:" + pg.Database
	case dir != "":
		where = dir
	}
	fmt.Fprintf(stdout, "temporal ready frontend=%s ui=%s namespace=%s data=%s\n", ts.FrontendAddr(), ts.UIURL(), ts.Namespace(), where)
	<-ctx.Done()
	logger.Info("stopping Temporal")
	return nil
}
