package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/testenv"
)

// TestMain lets this test binary stand in for hookflow-bench as the
// baseline child process the bench starts with os.Executable.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestSmoke runs the whole harness with tiny counts on Temporal in memory
// and checks that every scenario's counts reconcile: each event sent was
// delivered exactly once, nothing missing, duplicated or unexpected. It
// asserts nothing about speed.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds hookflow and runs the stack")
	}
	dir := t.TempDir()
	md := filepath.Join(dir, "BENCHMARKS.md")
	const analysis = "# Benchmarks\n\n## Analysis\n\nWritten by hand; a run must keep it.\n"
	if err := os.WriteFile(md, []byte(analysis), 0o644); err != nil {
		t.Fatal(err)
	}
	prefix := "hookflow_bench_smoke_" + strings.ToLower(rand.Text()[:8]) + "_"
	cfg, err := parseConfig([]string{
		"--db-prefix", prefix, "--temporal-memory", "--drop-after",
		"--warmup", "2", "--count", "6", "--ingest-count", "4", "--ingest-concurrency", "2,4",
		"--half-count", "3", "--rates", "20", "--rate-seconds", "0.2", "--fanout-events", "2", "--fanout-endpoints", "3",
		"--chains", "2", "--concurrency", "4", "--timeout", "60s",
		"--md", md, "--json", filepath.Join(dir, "bench.json"), "--work-dir", filepath.Join(dir, "work"),
		"--postgres", postgresURL(),
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out strings.Builder
	rep, err := runBench(ctx, cfg, &out, testWriter{t})
	if err != nil {
		t.Fatalf("runBench: %v", err)
	}
	// ingest ×2, end-to-end, half load, one curve point, fan-out, chain; the
	// five before the fan-out again unbatched; end-to-end + fan-out per
	// baseline mode.
	if got, want := len(rep.Results), 7+5+2*len(baselineModes); got != want {
		t.Errorf("%d results, want %d", got, want)
	}
	unbatched := 0
	for _, r := range rep.Results {
		if r.System == sysUnbatched {
			unbatched++
		}
	}
	if unbatched != 5 || len(rep.Systems) != 2 || rep.Systems[1].Env[0] != unbatchedBatchMaxFlag {
		t.Errorf("%d unbatched results, want 5; systems %+v", unbatched, rep.Systems)
	}
	for _, r := range rep.Results {
		want := r.Events
		if r.Scenario == "fan-out" {
			want *= 3
		}
		if !r.Tally.Reconciled() || r.Tally.Expected != want || r.Tally.SendFailed != 0 {
			t.Errorf("%s / %s: tally %+v, want %d sends each delivered exactly once", r.Scenario, r.System, r.Tally, want)
		}
	}
	doc, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(doc), analysis) || !strings.Contains(string(doc), beginMarker) || !strings.Contains(string(doc), "| ratio hookflow ÷ best baseline") {
		t.Errorf("BENCHMARKS.md lost the analysis or lacks the tables:\n%s", doc)
	}
	if _, err := os.Stat(filepath.Join(dir, "bench.json")); err != nil {
		t.Error(err)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestSpliceGenerated(t *testing.T) {
	gen := "table\n"
	block := beginMarker + "\n" + gen + endMarker + "\n"
	tests := []struct{ name, doc, want string }{
		{"empty", "", "# Benchmarks\n\n\n" + block},
		{"no markers", "# B\n\nanalysis", "# B\n\nanalysis\n\n" + block},
		{"replace", "# B\n" + beginMarker + "\nold\n" + endMarker + "\n## Analysis\nkeep\n", "# B\n" + block + "## Analysis\nkeep\n"},
	}
	for _, tt := range tests {
		if got := spliceGenerated(tt.doc, gen); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestParseReceipt(t *testing.T) {
	tests := []struct {
		body    string
		key     string
		sent    int64
		succeed bool
	}{
		{`{"id":"evt_1","type":"x","data":{"bench_key":"e2e-7","sent_ns":123}}`, "e2e-7", 123, true},
		{`{"text":"chain-3 456 reached Gold"}`, "chain-3", 456, true},
		{`{"text":"Ann reached Gold"}`, "", 0, false},
		{`not json`, "", 0, false},
	}
	for _, tt := range tests {
		key, sent, ok := parseReceipt([]byte(tt.body))
		if key != tt.key || sent != tt.sent || ok != tt.succeed {
			t.Errorf("parseReceipt(%s) = %q, %d, %v; want %q, %d, %v", tt.body, key, sent, ok, tt.key, tt.sent, tt.succeed)
		}
	}
}

// postgresURL is the server the other integration tests use.
func postgresURL() string {
	if u := os.Getenv(testenv.PostgresURLEnv); u != "" {
		return u
	}
	return testenv.DefaultPostgresURL
}

// TestFlagshipAutomations: the bench posts the tests' flagship automations, with
// the Slack URL filled in as testenv fills it in.
func TestFlagshipAutomations(t *testing.T) {
	const slackURL = "http://127.0.0.1:9/slack"
	got, err := flagshipAutomations(slackURL)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{testenv.FlagshipAward(), testenv.FlagshipNotify(slackURL)}
	if len(got) != len(want) {
		t.Fatalf("%d automations, want %d", len(got), len(want))
	}
	for i := range want {
		var g, w any
		if json.Unmarshal(got[i], &g) != nil || json.Unmarshal([]byte(want[i]), &w) != nil || !reflect.DeepEqual(g, w) {
			t.Errorf("automation %d:\n%s\nwant\n%s", i, got[i], want[i])
		}
	}
}
