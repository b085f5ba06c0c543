// Command hookflow-bench measures hookflow against the engine it runs on. It
// builds hookflow, starts a fresh stack on the local Postgres (Temporal's
// embedded server on Postgres persistence and `hookflow server --with-worker`,
// each its own process), a loopback receiver in this process, and runs the
// scenarios of issue 7: ingest, end-to-end, fan-out, the flagship chain, a
// latency-versus-load curve, and bare-Temporal baselines on the same server
// and concurrency (each baseline in a child process of its own, so its CPU is
// accounted separately). hookflow is measured twice: as "hookflow", the server
// with its defaults (micro-batching at ingest), and then, the same server
// restarted with HOOKFLOW_BATCH_MAX=1, as "hookflow (unbatched)" on ingest,
// end-to-end and the curve. The saturated end-to-end runs also report how many
// bytes each event added to Temporal's history and visibility databases.
// Every delivery is reconciled: delivered exactly once, duplicated, missing
// or unexpected. It prints a table and writes
// docs/BENCHMARKS.md (between generated markers), a JSON file, and two SVG
// charts it draws from that JSON: latency versus load, and throughput with
// CPU per event.
//
//	go run ./cmd/hookflow-bench            # what `make bench` runs
//	go run ./cmd/hookflow-bench --help     # counts, rates, --profile DIR
//	go run ./cmd/hookflow-bench --charts-from docs/benchmarks.json  # redraw charts and Markdown only
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	// stop is called, not deferred: os.Exit runs no deferred calls.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var err error
	if len(args) > 0 && args[0] == "baseline" {
		err = cmdBaseline(ctx, args[1:], stdin, stdout)
	} else {
		var cfg config
		switch cfg, err = parseConfig(args, stderr); {
		case err != nil:
		case cfg.ChartsFrom != "":
			err = redraw(cfg, stdout)
		default:
			_, err = runBench(ctx, cfg, stdout, stderr)
		}
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	default:
		fmt.Fprintf(stderr, "hookflow-bench: %v\n", err)
		return 1
	}
}

// config is the bench's settings; the defaults are `make bench`'s.
type config struct {
	AdminURL        string        `json:"-"`
	DBPrefix        string        `json:"db_prefix"`
	Shards          int           `json:"history_shards"`
	TemporalMemory  bool          `json:"temporal_memory"`
	Warmup          int           `json:"warmup"`
	Count           int           `json:"count"`
	IngestCount     int           `json:"ingest_count"`
	IngestConc      []int         `json:"ingest_concurrency"`
	Concurrency     int           `json:"concurrency"`
	HalfCount       int           `json:"half_load_count"`
	Rates           []float64     `json:"rates"`
	RateSeconds     float64       `json:"rate_seconds"`
	FanoutEvents    int           `json:"fanout_events"`
	FanoutEndpoints int           `json:"fanout_endpoints"`
	Chains          int           `json:"chains"`
	Timeout         time.Duration `json:"timeout"`
	Baselines       []string      `json:"baselines"`
	Unbatched       bool          `json:"unbatched"`
	Markdown        string        `json:"-"`
	JSON            string        `json:"-"`
	SVGDir          string        `json:"-"`
	ChartsFrom      string        `json:"-"`
	ProfileDir      string        `json:"-"`
	Hookflow        string        `json:"-"`
	HookflowServer  string        `json:"-"`
	Slim            bool          `json:"slim_server"`
	WorkDir         string        `json:"-"`
	DropAfter       bool          `json:"-"`
}

const helpText = `Usage: hookflow-bench [flags]
       hookflow-bench --charts-from docs/benchmarks.json   (redraw charts and --md only)
       hookflow-bench baseline [flags]   (the baseline child process; run by the bench)

Starts a fresh stack on the local Postgres and measures hookflow against bare
Temporal; prints a table and writes --md, --json and the charts in --svg-dir.
Databases named <db-prefix>* are dropped and recreated at the start of each run.

Flags:
`

func parseConfig(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("hookflow-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, helpText); fs.PrintDefaults() }
	fs.StringVar(&c.AdminURL, "postgres", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "Postgres `URL` of a user that may create databases")
	fs.StringVar(&c.DBPrefix, "db-prefix", "hookflow_bench_", "prefix of the databases the bench (re)creates")
	fs.IntVar(&c.Shards, "shards", 4, "Temporal history shards")
	fs.BoolVar(&c.TemporalMemory, "temporal-memory", false, "run Temporal in memory (SQLite) instead of on Postgres: for the smoke test, not for numbers")
	fs.IntVar(&c.Warmup, "warmup", 50, "warm-up events before each measured run")
	fs.IntVar(&c.Count, "count", 1000, "events of each saturated end-to-end run (hookflow and each baseline)")
	fs.IntVar(&c.IngestCount, "ingest-count", 500, "events per ingest concurrency level")
	ingest := fs.String("ingest-concurrency", "8,32,128", "ingest concurrency levels")
	fs.IntVar(&c.Concurrency, "concurrency", 32, "concurrency of the saturated runs (end-to-end, fan-out, chains, baselines)")
	fs.IntVar(&c.HalfCount, "half-count", 400, "events of the half-load run")
	rates := fs.String("rates", "10,50,100", "fixed rates (events/s) of the latency curve")
	fs.Float64Var(&c.RateSeconds, "rate-seconds", 10, "seconds of each fixed-rate run")
	fs.IntVar(&c.FanoutEvents, "fanout-events", 20, "events of the fan-out run")
	fs.IntVar(&c.FanoutEndpoints, "fanout-endpoints", 50, "endpoints each fan-out event goes to")
	fs.IntVar(&c.Chains, "chains", 100, "flagship chains (review → points → tier → Slack)")
	fs.DurationVar(&c.Timeout, "timeout", 90*time.Second, "bound on each scenario's sending and on its wait for receipts")
	baselines := fs.String("baselines", strings.Join(baselineModes, ","), "baseline modes to run (empty: none)")
	fs.BoolVar(&c.Unbatched, "unbatched", true, "after hookflow's scenarios, restart its server with "+unbatchedBatchMaxFlag+" on the same Temporal and app DB and measure ingest, end-to-end and the latency curve again as \""+sysUnbatched+"\"")
	fs.StringVar(&c.Markdown, "md", "docs/BENCHMARKS.md", "Markdown report to update between its generated markers (empty: none)")
	fs.StringVar(&c.JSON, "json", "docs/benchmarks.json", "JSON report (empty: none)")
	svgDir := fs.String("svg-dir", "", "`DIR` for the charts "+latencySVG+" and "+throughputSVG+", embedded in --md (default: --md's directory; empty: none)")
	fs.StringVar(&c.ChartsFrom, "charts-from", "", "redraw the charts and the --md section from this JSON `report` and exit, running nothing")
	fs.StringVar(&c.ProfileDir, "profile", "", "`DIR` for 20 s CPU profiles of hookflow and Temporal during the saturated end-to-end run, and their pprof -top")
	fs.StringVar(&c.Hookflow, "hookflow", "", "use this hookflow binary instead of building one (for `temporal`, `migrate`, and the server unless --slim or --hookflow-server says otherwise)")
	fs.BoolVar(&c.Slim, "slim", true, "run `server --with-worker` from a slim build (-tags slim: no embedded Temporal server), as a production image does")
	fs.StringVar(&c.HookflowServer, "hookflow-server", "", "use this binary for the `server --with-worker` process (A/B runs of server code)")
	fs.StringVar(&c.WorkDir, "work-dir", "", "where the binary and the child logs go (default: a new temp dir, kept)")
	fs.BoolVar(&c.DropAfter, "drop-after", false, "drop the databases when done")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.SVGDir = *svgDir
	if !flagSet(fs, "svg-dir") && c.Markdown != "" {
		c.SVGDir = filepath.Dir(c.Markdown) // next to the Markdown, so its relative links work wherever it is read
	}
	var err error
	if c.IngestConc, err = intList(*ingest); err != nil {
		return c, fmt.Errorf("--ingest-concurrency: %w", err)
	}
	for f := range strings.SplitSeq(*rates, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		r, err := strconv.ParseFloat(f, 64)
		if err != nil || r <= 0 {
			return c, fmt.Errorf("--rates: bad rate %q", f)
		}
		c.Rates = append(c.Rates, r)
	}
	for m := range strings.SplitSeq(*baselines, ",") {
		if m = strings.TrimSpace(m); m == "" {
			continue
		}
		if m != modeActivity && m != modeLocal && m != modeEager {
			return c, fmt.Errorf("--baselines: unknown mode %q", m)
		}
		c.Baselines = append(c.Baselines, m)
	}
	if c.Count < 1 || c.Concurrency < 1 || c.FanoutEndpoints < 1 {
		return c, errors.New("--count, --concurrency and --fanout-endpoints must be at least 1")
	}
	return c, nil
}

// flagSet reports whether name was given on the command line, so an explicit
// empty value can mean "none" while the default is derived from another flag.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func intList(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad value %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}
