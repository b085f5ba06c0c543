package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookflow/hookflow/internal/benchtally"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
)

// bench is one run: the stack, the receiver, the results so far.
type bench struct {
	cfg     config
	st      *stack
	recv    *receiver
	http    *http.Client
	bin     string // the full build: temporal, migrate
	server  string // the server's build: slim unless told otherwise
	workDir string
	log     io.Writer
	results []scenarioResult
	systems []systemSettings
	// temporal counts open workflows, for the persistence measurements; nil
	// when Temporal runs in memory. idleRunning is how many were open before
	// the first scenario.
	temporal    client.Client
	idleRunning int64
	// The memory of the first system's server, read before it is restarted.
	peakRSS, peakAnon int64
	stopMemory        chan struct{}
	anonPeak          <-chan int64
}

// scenarioResult is one measured run of one system.
type scenarioResult struct {
	Scenario    string  `json:"scenario"`
	System      string  `json:"system"`
	Concurrency int     `json:"concurrency,omitempty"`
	Rate        float64 `json:"rate,omitempty"` // events/s offered; 0: saturated
	Events      int     `json:"events"`         // sends accepted
	// AcceptedPerSec is the rate the senders got their answers (202 or
	// workflow started) at; AcceptP50/P99 their latency.
	AcceptedPerSec float64 `json:"accepted_per_sec"`
	AcceptP50Ms    float64 `json:"accept_p50_ms"`
	AcceptP99Ms    float64 `json:"accept_p99_ms"`
	// DeliveredPerSec counts deliveries (an event to 50 endpoints is 50)
	// from the first send to the last first receipt.
	DeliveredPerSec float64 `json:"delivered_per_sec,omitempty"`
	P50Ms           float64 `json:"p50_ms,omitempty"`
	P90Ms           float64 `json:"p90_ms,omitempty"`
	P99Ms           float64 `json:"p99_ms,omitempty"`
	// CPU milliseconds per delivered delivery, per process.
	CPUHookflowMs float64           `json:"cpu_ms_hookflow"`
	CPUTemporalMs float64           `json:"cpu_ms_temporal"`
	CPUBaselineMs float64           `json:"cpu_ms_baseline"`
	CPUPostgresMs float64           `json:"cpu_ms_postgres"`
	CPUTotalMs    float64           `json:"cpu_ms_total"`
	Tally         benchtally.Report `json:"tally"`
	// Persistence is Temporal's database growth, for the saturated
	// end-to-end runs on Postgres.
	Persistence *persistence `json:"temporal_persistence,omitempty"`
	Note        string       `json:"note,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// binaries builds (or takes from the flags) the hookflow binaries, and notes
// whether the server's reads the batching settings the systems differ by.
func (b *bench) binaries(ctx context.Context) error {
	cfg := b.cfg
	var err error
	b.bin = cfg.Hookflow
	if b.bin == "" {
		b.logf("building hookflow (go build ./cmd/hookflow)")
		if b.bin, err = buildHookflow(ctx, b.workDir, ""); err != nil {
			return err
		}
	}
	switch b.server = cfg.HookflowServer; {
	case b.server != "":
	case cfg.Slim:
		b.logf("building the slim hookflow for the server (go build -tags slim ./cmd/hookflow)")
		if b.server, err = buildHookflow(ctx, b.workDir, "slim"); err != nil {
			return err
		}
	default:
		b.server = b.bin
	}
	b.systems = hookflowSystems(os.Environ(), cfg.Unbatched)
	if reads, err := binaryMentions(b.server, envBatchMax); err != nil {
		b.logf("looking for %s in %s: %v", envBatchMax, b.server, err)
	} else if !reads {
		b.logf("%s does not read %s: every hookflow system runs unbatched", b.server, envBatchMax)
		for i := range b.systems {
			b.systems[i].Ignored = true
		}
	}
	return nil
}

func runBench(ctx context.Context, cfg config, stdout, stderr io.Writer) (*report, error) {
	b := &bench{cfg: cfg, log: stderr, http: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 512, MaxIdleConns: 512}}}
	b.workDir = cfg.WorkDir
	if b.workDir == "" {
		var err error
		if b.workDir, err = os.MkdirTemp("", "hookflow-bench-"); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(b.workDir, 0o755); err != nil {
		return nil, err
	}
	b.logf("work dir %s (binary, child logs)", b.workDir)
	began, load := time.Now(), loadNote()
	recv, err := startReceiver()
	if err != nil {
		return nil, err
	}
	defer recv.close()
	b.recv = recv

	if err := b.binaries(ctx); err != nil {
		return nil, err
	}
	if err := b.startStack(ctx); err != nil {
		if b.temporal != nil {
			b.temporal.Close()
		}
		if b.st != nil {
			b.st.stop()
		}
		return nil, err
	}
	defer func() {
		b.recordPeaks()
		if b.temporal != nil {
			b.temporal.Close()
		}
		b.st.stop()
		if cfg.DropAfter {
			dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := dropDatabases(dctx, cfg.AdminURL, b.st.dbs...); err != nil {
				b.logf("drop databases: %v", err)
			}
		}
	}()
	if err := b.setupResources(ctx); err != nil {
		return nil, err
	}
	if b.measuresPersistence() {
		if b.idleRunning, err = b.runningWorkflows(ctx); err != nil {
			return nil, fmt.Errorf("count open workflows: %w", err)
		}
	}
	b.watchMemory()
	if err := b.scenarios(ctx); err != nil {
		return nil, err
	}
	b.recordPeaks()
	rep := b.report(time.Since(began))
	rep.Machine.Shared = load
	rep.Machine.Postgre = postgresNote(ctx, cfg.AdminURL)
	fmt.Fprint(stdout, rep.text(nil))
	if err := rep.write(cfg); err != nil {
		return rep, err
	}
	return rep, nil
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (b *bench) startStack(ctx context.Context) error {
	cfg := b.cfg
	st := &stack{adminURL: cfg.AdminURL, namespace: "default", pprof: map[string]string{}}
	b.st = st
	temporalDB, appDB := cfg.DBPrefix+"temporal", cfg.DBPrefix+"app"
	st.historyDB, st.visibilityDB = temporalDB, temporalDB+"_visibility"
	st.dbs = []string{st.historyDB, st.visibilityDB, appDB}
	b.logf("recreating databases %v", st.dbs)
	if err := recreateDatabases(ctx, cfg.AdminURL, st.dbs...); err != nil {
		return err
	}
	st.postmaster = postmasterPID(ctx, cfg.AdminURL)

	addrs := make([]string, 4)
	for i := range addrs {
		a, err := freeAddr()
		if err != nil {
			return err
		}
		addrs[i] = a
	}
	st.frontend = addrs[0]
	st.pprof["temporal"], st.pprof["hookflow"] = addrs[1], addrs[2]
	st.api = "http://" + addrs[3]
	st.apiKey = "hfk_bench_" + strings.ToLower(rand.Text())

	base := append(os.Environ(), "HOOKFLOW_LOG_LEVEL=warn", "TEMPORAL_ADDRESS="+st.frontend, "TEMPORAL_NAMESPACE="+st.namespace)
	targs := []string{"temporal", "--no-ui", "--postgres", withDatabase(cfg.AdminURL, temporalDB), "--shards", strconv.Itoa(cfg.Shards)}
	if cfg.TemporalMemory {
		targs = []string{"temporal", "--no-ui", "--memory"}
	}
	pr, pw := io.Pipe()
	b.logf("starting hookflow %s", strings.Join(targs, " "))
	var err error
	st.temporal, err = startChild("temporal", b.workDir, b.bin, targs, append(base, "HOOKFLOW_PPROF_ADDR="+st.pprof["temporal"]), pw)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if _, err := waitLine(rctx, pr, "temporal ready"); err != nil {
		return fmt.Errorf("temporal: %w (see %s)", err, st.temporal.log.Name())
	}

	if err := b.dialTemporal(rctx); err != nil {
		return err
	}

	st.appEnv = append(base,
		"DATABASE_URL="+withDatabase(cfg.AdminURL, appDB),
		"HOOKFLOW_HTTP_ADDR="+addrs[3],
		"HOOKFLOW_API_KEY="+st.apiKey,
		"HOOKFLOW_ENCRYPTION_KEY="+randomKey(),
		"HOOKFLOW_ALLOWED_CIDRS=127.0.0.0/8",
		"HOOKFLOW_API_RATE_LIMIT=0",
		"HOOKFLOW_SOURCE_RATE_LIMIT=0",
	)
	mig := exec.CommandContext(ctx, b.server, "migrate")
	mig.Env = st.appEnv
	if out, err := mig.CombinedOutput(); err != nil {
		return fmt.Errorf("hookflow migrate: %v\n%s", err, out)
	}
	return b.startServer(rctx, b.systems[0], "hookflow")
}

// dialTemporal connects the client that counts open workflows; Temporal in
// memory has no databases to measure, so it is not needed there.
func (b *bench) dialTemporal(ctx context.Context) error {
	if b.cfg.TemporalMemory {
		return nil
	}
	c, err := client.DialContext(ctx, client.Options{HostPort: b.st.frontend, Namespace: b.st.namespace,
		Logger: sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(b.log, &slog.HandlerOptions{Level: slog.LevelWarn})))})
	if err != nil {
		return fmt.Errorf("dial temporal: %w", err)
	}
	b.temporal = c
	return nil
}

// startServer starts `hookflow server --with-worker` as sys, its log in
// <logName>.log, and waits until it is ready.
func (b *bench) startServer(ctx context.Context, sys systemSettings, logName string) error {
	st := b.st
	b.logf("starting hookflow server --with-worker as %q %v", sys.Name, sys.Env)
	env := append(slices.Clip(st.appEnv), "HOOKFLOW_PPROF_ADDR="+st.pprof["hookflow"])
	var err error
	if st.hookflow, err = startChild(logName, b.workDir, b.server, []string{"server", "--with-worker"}, append(env, sys.Env...), nil); err != nil {
		return err
	}
	return waitReady(ctx, st.api+"/readyz", st.hookflow)
}

// restartServer stops the server and starts it again as sys, on the same
// Temporal, app database, address and keys: the endpoints and automations
// stay, and Temporal's process and its caches are the ones the first system
// warmed. Connections to the old process are dropped first, so no POST goes
// out on one the old process closed.
func (b *bench) restartServer(ctx context.Context, sys systemSettings, logName string) error {
	b.logf("stopping hookflow server --with-worker")
	b.st.hookflow.stop()
	b.http.CloseIdleConnections()
	rctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	return b.startServer(rctx, sys, logName)
}

// watchMemory samples the server's private memory until recordPeaks.
func (b *bench) watchMemory() {
	b.stopMemory = make(chan struct{})
	b.anonPeak = sampleAnonPeak(b.st.hookflow.pid(), b.stopMemory)
}

// recordPeaks reads the server's peak memory and stops the sampling, before
// the server is restarted and when the bench ends; only the first call counts.
func (b *bench) recordPeaks() {
	if b.stopMemory == nil {
		return
	}
	b.peakRSS = peakRSS(b.st.hookflow.pid())
	close(b.stopMemory)
	b.peakAnon = <-b.anonPeak
	b.stopMemory = nil
}

// api calls hookflow's REST API and decodes a 2xx answer into out.
func (b *bench) api(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		buf, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.st.api+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+b.st.apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.http.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(data))
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// Event types and receiver paths of the scenarios.
const (
	typeIngest  = "bench.ingest"
	typeE2E     = "bench.e2e"
	typeFanout  = "bench.fanout"
	pathIngest  = "/ingest"
	pathE2E     = "/e2e"
	pathSlack   = "/slack"
	fanoutPath  = "/fan"
	chainTier   = "Gold"
	reviewEvent = "review.created"
)

func fanoutPaths(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + "-" + strconv.Itoa(i)
	}
	return out
}

func (b *bench) setupResources(ctx context.Context) error {
	ep := func(typ, path string) error {
		return b.api(ctx, "POST", "/v1/endpoints", map[string]any{"url": b.recv.url + path, "event_types": []string{typ}, "description": "bench " + path}, nil)
	}
	if err := ep(typeIngest, pathIngest); err != nil {
		return err
	}
	if err := ep(typeE2E, pathE2E); err != nil {
		return err
	}
	for _, p := range fanoutPaths(fanoutPath, b.cfg.FanoutEndpoints) {
		if err := ep(typeFanout, p); err != nil {
			return err
		}
	}
	// Every chain is a new customer whose first review (50 points) crosses
	// Gold at 10, so each review makes exactly one tier change and one Slack
	// message; the customer's name carries the chain's key and send time
	// into the Slack text.
	if err := b.api(ctx, "PUT", "/v1/loyalty/tiers", map[string]any{"tiers": []map[string]any{{"name": "Bronze", "min_points": 0}, {"name": chainTier, "min_points": 10}}}, nil); err != nil {
		return err
	}
	automations, err := flagshipAutomations(b.recv.url + pathSlack)
	if err != nil {
		return err
	}
	for _, a := range automations {
		if err := b.api(ctx, "POST", "/v1/automations", a, nil); err != nil {
			return err
		}
	}
	return nil
}

// flagshipFixture holds the flagship's two automations for the tests
// (testenv.FlagshipAward and FlagshipNotify). The bench reads the same file
// from the source tree it builds hookflow from, so the chain it measures is
// the one the tests check.
const flagshipFixture = "internal/testenv/testdata/flagship.json"

// flagshipAutomations are the award and notify automations, the latter
// posting to slackURL in place of the fixture's placeholder
// (testenv.SlackURLPlaceholder).
func flagshipAutomations(slackURL string) ([]json.RawMessage, error) {
	raw, err := os.ReadFile(filepath.Join(moduleRoot(), flagshipFixture))
	if err != nil {
		return nil, err
	}
	var parts struct{ Award, Notify json.RawMessage }
	if err := json.Unmarshal(raw, &parts); err != nil || parts.Award == nil || parts.Notify == nil {
		return nil, fmt.Errorf("%s: want the award and notify automations (%v)", flagshipFixture, err)
	}
	quoted, _ := json.Marshal(slackURL)
	return []json.RawMessage{parts.Award, bytes.Replace(parts.Notify, []byte(`"$SLACK_URL"`), quoted, 1)}, nil
}

// sender makes the i-th event of a run: its key (unique in the run), and the
// send function.
type sender func(ctx context.Context, key string) error

// postEvent sends one event through POST /v1/events; data carries the key
// and the send time.
func (b *bench) postEvent(typ string) sender {
	return func(ctx context.Context, key string) error {
		return b.api(ctx, "POST", "/v1/events", map[string]any{"type": typ,
			"data": payload{Key: key, SentNS: time.Now().UnixNano()}}, nil)
	}
}

// postReview sends the review that starts one flagship chain.
func (b *bench) postReview(ctx context.Context, key string) error {
	return b.api(ctx, "POST", "/v1/events", map[string]any{"type": reviewEvent, "data": map[string]any{
		"review_id": key, "rating": 5, "customer_id": "cus_" + key,
		"customer_name": key + " " + strconv.FormatInt(time.Now().UnixNano(), 10)}}, nil)
}

// runSpec describes one hookflow run.
type runSpec struct {
	scenario    string
	key         string // key prefix, unique in the bench
	send        sender
	system      string
	paths       []string // receiver paths each event reaches
	warm, n     int
	concurrency int
	rate        float64
	profile     bool
	persist     bool // measure Temporal's database growth
}

func (b *bench) snapshot(baselinePID int) cpuSnapshot {
	s := cpuSnapshot{at: time.Now(), hookflow: cpuOf(b.st.hookflow.pid()), temporal: cpuOf(b.st.temporal.pid()),
		postgres: postgresCPU(b.st.postmaster, b.cfg.DBPrefix)}
	if baselinePID != 0 {
		s.baseline = cpuOf(baselinePID)
	}
	return s
}

func (b *bench) expect(t *benchtally.Tally, prefix string, n int, paths []string) {
	for i := range n {
		for _, p := range paths {
			t.Expect(deliveryKey(prefix+strconv.Itoa(i), p))
		}
	}
}

func (b *bench) withdraw(t *benchtally.Tally, prefix string, failed []int, paths []string) {
	for _, i := range failed {
		for _, p := range paths {
			t.Withdraw(deliveryKey(prefix+strconv.Itoa(i), p))
		}
	}
}

// hookflowRun warms up, then runs and measures one scenario on hookflow.
func (b *bench) hookflowRun(ctx context.Context, s runSpec) scenarioResult {
	if s.warm > 0 {
		wt := benchtally.New()
		b.expect(wt, s.key+"-w", s.warm, s.paths)
		b.recv.use(wt)
		dr := b.driveKeys(ctx, s.key+"-w", s.warm, s.concurrency, 0, s.send)
		b.withdraw(wt, s.key+"-w", dr.Failed, s.paths)
		b.waitTally(ctx, wt, s.scenario+" warm-up")
	}
	t := benchtally.New()
	b.expect(t, s.key+"-", s.n, s.paths)
	var sizes dbSizes
	measure := false
	if s.persist {
		sizes, measure = b.persistenceStart(ctx, s.system+" "+s.scenario)
	}
	b.recv.use(t)
	var profDone chan struct{}
	if s.profile && b.cfg.ProfileDir != "" {
		profDone = b.startProfiles(ctx)
	}
	before := b.snapshot(0)
	dr := b.driveKeys(ctx, s.key+"-", s.n, s.concurrency, s.rate, s.send)
	b.withdraw(t, s.key+"-", dr.Failed, s.paths)
	b.waitTally(ctx, t, s.scenario)
	after := b.snapshot(0)
	if profDone != nil {
		<-profDone
	}
	r := b.result(s.scenario, s.system, s.concurrency, s.rate, dr, t.Report(), before, after)
	if measure {
		r.Persistence = b.persistenceEnd(ctx, s.system+" "+s.scenario, sizes, r.Events)
	}
	b.results = append(b.results, r)
	b.logf("%-22s %-26s %s", r.Scenario, r.System, r.summary())
	return r
}

func (b *bench) driveKeys(ctx context.Context, prefix string, n, conc int, rate float64, send sender) driveResult {
	dctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	return drive(dctx, n, conc, rate, func(ctx context.Context, i int) error {
		return send(ctx, prefix+strconv.Itoa(i))
	})
}

func (b *bench) waitTally(ctx context.Context, t *benchtally.Tally, what string) {
	wctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	if err := t.Wait(wctx); err != nil {
		b.logf("%s: %d deliveries still missing after %s", what, t.Outstanding(), b.cfg.Timeout)
	}
}

func (b *bench) result(scenario, system string, conc int, rate float64, dr driveResult, rep benchtally.Report, before, after cpuSnapshot) scenarioResult {
	r := scenarioResult{Scenario: scenario, System: system, Concurrency: conc, Rate: rate, Events: dr.Sent, Tally: rep,
		AcceptedPerSec: dr.perSecond(),
		AcceptP50Ms:    ms(benchtally.Percentile(dr.Latencies, 50)),
		AcceptP99Ms:    ms(benchtally.Percentile(dr.Latencies, 99))}
	if rep.Delivered > 0 {
		if span := rep.LastReceived.Sub(dr.Start).Seconds(); span > 0 {
			r.DeliveredPerSec = float64(rep.Delivered) / span
		}
		r.P50Ms = ms(benchtally.Percentile(rep.Latencies, 50))
		r.P90Ms = ms(benchtally.Percentile(rep.Latencies, 90))
		r.P99Ms = ms(benchtally.Percentile(rep.Latencies, 99))
		per := func(d time.Duration) float64 { return ms(d) / float64(rep.Delivered) }
		u := cpuUse{Hookflow: after.hookflow - before.hookflow, Temporal: after.temporal - before.temporal,
			Baseline: after.baseline - before.baseline, Postgres: cpuDelta(before.postgres, after.postgres)}
		r.CPUHookflowMs, r.CPUTemporalMs, r.CPUBaselineMs, r.CPUPostgresMs = per(u.Hookflow), per(u.Temporal), per(u.Baseline), per(u.Postgres)
		r.CPUTotalMs = per(u.total())
	}
	return r
}

func (r scenarioResult) summary() string {
	return fmt.Sprintf("accepted %6.1f/s (p50 %5.1f ms, p99 %6.1f ms)  delivered %6.1f/s  latency p50 %6.1f p90 %6.1f p99 %7.1f ms  cpu %5.1f ms/delivery  %s",
		r.AcceptedPerSec, r.AcceptP50Ms, r.AcceptP99Ms, r.DeliveredPerSec, r.P50Ms, r.P90Ms, r.P99Ms, r.CPUTotalMs, tallyText(r.Tally))
}

func tallyText(t benchtally.Report) string {
	s := fmt.Sprintf("%d/%d once", t.ExactlyOnce, t.Expected)
	if t.Duplicates+t.Missing+t.Unexpected+t.SendFailed > 0 {
		s += fmt.Sprintf(", %d dup, %d missing, %d unexpected, %d send failed", t.Duplicates, t.Missing, t.Unexpected, t.SendFailed)
	}
	return s
}

// scenarios runs everything, in an order where each run starts on a drained
// system (every run waits for its receipts): every scenario on the first
// hookflow system; then, the server restarted as the unbatched system, the
// scenarios batching changes (ingest, end-to-end, the latency curve); then the
// baselines.
func (b *bench) scenarios(ctx context.Context) error {
	b.hookflowScenarios(ctx, b.systems[0].Name, "", true)
	if len(b.systems) > 1 {
		b.recordPeaks()
		if err := b.restartServer(ctx, b.systems[1], "hookflow-unbatched"); err != nil {
			return err
		}
		b.hookflowScenarios(ctx, b.systems[1].Name, "u", false)
	}
	for _, mode := range b.cfg.Baselines {
		if err := b.baselineRun(ctx, "end-to-end", mode, b.cfg.Count, 0); err != nil {
			return err
		}
		if b.cfg.FanoutEvents == 0 {
			continue
		}
		if err := b.baselineRun(ctx, "fan-out", mode, b.cfg.FanoutEvents, b.cfg.FanoutEndpoints); err != nil {
			return err
		}
	}
	return nil
}

// hookflowScenarios runs the scenarios on the server as it is now, as system;
// keys start with prefix, unique per system; all adds fan-out and the
// flagship chain, whose shape batching leaves alone, and the profiles.
func (b *bench) hookflowScenarios(ctx context.Context, system, prefix string, all bool) {
	cfg := b.cfg
	run := func(s runSpec) scenarioResult {
		if s.n <= 0 { // --half-count 0 and the like: left out
			return scenarioResult{}
		}
		s.system, s.key = system, prefix+s.key
		return b.hookflowRun(ctx, s)
	}
	for _, c := range cfg.IngestConc {
		run(runSpec{scenario: "ingest", key: "in" + strconv.Itoa(c), send: b.postEvent(typeIngest),
			paths: []string{pathIngest}, warm: cfg.Warmup, n: cfg.IngestCount, concurrency: c})
	}
	full := run(runSpec{scenario: "end-to-end", key: "e2e", send: b.postEvent(typeE2E),
		paths: []string{pathE2E}, warm: cfg.Warmup, n: cfg.Count, concurrency: cfg.Concurrency, profile: all, persist: true})
	if half := full.DeliveredPerSec / 2; half > 0 {
		run(runSpec{scenario: "end-to-end half load", key: "half", send: b.postEvent(typeE2E),
			paths: []string{pathE2E}, n: cfg.HalfCount, concurrency: 256, rate: half})
	}
	for _, rate := range cfg.Rates {
		n := max(1, int(rate*cfg.RateSeconds))
		run(runSpec{scenario: "latency curve", key: "rate" + strconv.Itoa(int(rate)), send: b.postEvent(typeE2E),
			paths: []string{pathE2E}, n: n, concurrency: 256, rate: rate})
	}
	if !all {
		return
	}
	run(runSpec{scenario: "fan-out", key: "fan", send: b.postEvent(typeFanout),
		paths: fanoutPaths(fanoutPath, cfg.FanoutEndpoints), warm: min(cfg.Warmup, 5), n: cfg.FanoutEvents, concurrency: cfg.Concurrency})
	run(runSpec{scenario: "flagship chain", key: "chain", send: b.postReview,
		paths: []string{pathSlack}, warm: min(cfg.Warmup, 20), n: cfg.Chains, concurrency: cfg.Concurrency})
}

// baselineRun runs one baseline mode in a child process of this binary.
func (b *bench) baselineRun(ctx context.Context, scenario, mode string, n, fanout int) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	prefix := "bl" + mode + strconv.Itoa(fanout)
	path := "/baseline-" + mode
	paths := []string{path}
	warm := b.cfg.Warmup
	if fanout > 0 {
		paths = fanoutPaths(path, fanout)
		warm = min(warm, 5)
	}
	args := []string{"baseline", "--mode", mode, "--temporal", b.st.frontend, "--namespace", b.st.namespace,
		"--receiver", b.recv.url, "--path", path, "--prefix", prefix, "--warmup", strconv.Itoa(warm),
		"--count", strconv.Itoa(n), "--concurrency", strconv.Itoa(b.cfg.Concurrency), "--fanout", strconv.Itoa(fanout),
		"--timeout", b.cfg.Timeout.String()}
	logf, err := os.Create(filepath.Join(b.workDir, "baseline-"+mode+"-"+strconv.Itoa(fanout)+".log"))
	if err != nil {
		return err
	}
	defer func() { _ = logf.Close() }()
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = logf
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	wt, t := benchtally.New(), benchtally.New()
	b.expect(wt, prefix+"-w", warm, paths)
	b.expect(t, prefix+"-", n, paths)
	b.recv.use(wt)
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = stdin.Close(); _ = cmd.Wait() }()
	lines := bufio.NewScanner(out)
	lines.Buffer(make([]byte, 1<<20), 64<<20)
	if !lines.Scan() || lines.Text() != "warm" {
		return fmt.Errorf("baseline %s: no warm-up (see %s)", mode, logf.Name())
	}
	b.waitTally(ctx, wt, "baseline "+mode+" warm-up")
	system := "temporal " + baselineLabel(mode)
	var sizes dbSizes
	measure := false
	if fanout == 0 {
		sizes, measure = b.persistenceStart(ctx, system+" "+scenario)
	}
	b.recv.use(t)
	before := b.snapshot(cmd.Process.Pid)
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		return err
	}
	if !lines.Scan() || !strings.HasPrefix(lines.Text(), "result ") {
		return fmt.Errorf("baseline %s: no result (see %s)", mode, logf.Name())
	}
	var res baselineResult
	if err := json.Unmarshal([]byte(strings.TrimPrefix(lines.Text(), "result ")), &res); err != nil {
		return fmt.Errorf("baseline %s result: %w", mode, err)
	}
	b.withdraw(t, prefix+"-", res.Measured.Failed, paths)
	b.waitTally(ctx, t, "baseline "+mode)
	after := b.snapshot(cmd.Process.Pid)
	r := b.result(scenario, system, b.cfg.Concurrency, 0, res.Measured, t.Report(), before, after)
	if measure {
		r.Persistence = b.persistenceEnd(ctx, system+" "+scenario, sizes, r.Events)
	}
	b.results = append(b.results, r)
	b.logf("%-22s %-26s %s", r.Scenario, r.System, r.summary())
	return nil
}

func baselineLabel(mode string) string {
	switch mode {
	case modeActivity:
		return "activity"
	case modeLocal:
		return "local act."
	default:
		return "local act.+eager"
	}
}

// startProfiles takes 20 s CPU profiles of hookflow and Temporal at once,
// writes them to the profile dir with their `go tool pprof -top`.
func (b *bench) startProfiles(ctx context.Context) chan struct{} {
	done := make(chan struct{})
	_ = os.MkdirAll(b.cfg.ProfileDir, 0o755)
	go func() {
		defer close(done)
		fin := make(chan struct{}, 2)
		for _, name := range []string{"hookflow", "temporal"} {
			go func() {
				defer func() { fin <- struct{}{} }()
				if err := b.profile(ctx, name); err != nil {
					b.logf("profile %s: %v", name, err)
				}
			}()
		}
		<-fin
		<-fin
	}()
	return done
}

func (b *bench) profile(ctx context.Context, name string) error {
	url := "http://" + b.st.pprof[name] + "/debug/pprof/profile?seconds=20"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	file := filepath.Join(b.cfg.ProfileDir, name+".cpu.pprof")
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		return err
	}
	bin := b.bin
	if name == "hookflow" {
		bin = b.server
	}
	top, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=30", bin, file).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pprof -top: %v: %s", err, top)
	}
	return os.WriteFile(filepath.Join(b.cfg.ProfileDir, name+".top.txt"), top, 0o644)
}
