//go:build reliability

package reliability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/testenv"
)

// request is one POST /v1/events of a steady load and what it got.
type request struct {
	Seq    int
	Target string
	At     time.Time
	Took   time.Duration
	Ans    answer
	ID     string // the event id of a 2xx answer
}

// load posts events ("data": {"seq": n}) steadily, one client per target in
// targets (a target may repeat), until stopped. A client that got no answer pauses
// briefly so a dead server is not hammered.
type load struct {
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	reqs    []request
	seq     atomic.Int64
	eventTy string
}

func startLoad(ctx context.Context, api *apiClient, eventType string, targets ...func() string) *load {
	l := &load{stop: make(chan struct{}), eventTy: eventType}
	for _, target := range targets {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				seq := int(l.seq.Add(1))
				addr := target()
				r := request{Seq: seq, Target: addr, At: time.Now()}
				r.Ans = api.do(ctx, "POST", "http://"+addr+"/v1/events", map[string]any{"type": eventType, "data": map[string]any{"seq": seq}}, nil)
				r.Took = time.Since(r.At)
				var acc accepted
				if r.Ans.Err == nil && r.Ans.Code/100 == 2 && json.Unmarshal(r.Ans.Body, &acc) == nil {
					r.ID = acc.ID
				}
				l.mu.Lock()
				l.reqs = append(l.reqs, r)
				l.mu.Unlock()
				if r.Ans.Err != nil || r.Ans.Code/100 != 2 {
					time.Sleep(50 * time.Millisecond)
				} else {
					time.Sleep(5 * time.Millisecond)
				}
			}
		}()
	}
	return l
}

func (l *load) finish() []request {
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]request(nil), l.reqs...)
}

// outcome names what a request got, for the report: the status code, or the kind
// of transport error.
func outcome(a answer) string {
	if a.Err == nil {
		return fmt.Sprint(a.Code)
	}
	var ne net.Error
	switch {
	case errors.Is(a.Err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(a.Err, syscall.ECONNRESET), errors.Is(a.Err, syscall.EPIPE):
		return "connection reset"
	case errors.As(a.Err, &ne) && ne.Timeout():
		return "client timeout (30 s)"
	case strings.Contains(a.Err.Error(), "EOF"), strings.Contains(a.Err.Error(), "server closed"):
		return "connection closed"
	}
	return "error: " + a.Err.Error()
}

func slowest(reqs []request) time.Duration {
	var m time.Duration
	for _, r := range reqs {
		m = max(m, r.Took)
	}
	return m.Round(10 * time.Millisecond)
}

func summarize(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s × %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// loadResult is what the receiver saw of a load.
type loadResult struct {
	acked        map[string]bool
	outcomes     map[string]int
	tally        tally
	unacked      int // events delivered whose request got no 2xx (the sender would retry)
	errorBodies  int // non-2xx answers without the JSON error body
	non503Errors []string
}

// settle waits for every acknowledged event to reach rcv (bounded) and tallies the
// load's requests against what arrived. allowDup says whether repeats (with the same
// webhook-id) are legitimate for this fault.
func settle(ctx context.Context, t *testing.T, reqs []request, rcv *testenv.Receiver, bound time.Duration) loadResult {
	t.Helper()
	res := loadResult{acked: map[string]bool{}, outcomes: map[string]int{}}
	ackedSeq := map[int]bool{}
	for _, r := range reqs {
		res.outcomes[outcome(r.Ans)]++
		if r.ID != "" {
			res.acked[r.ID] = true
			ackedSeq[r.Seq] = true
			continue
		}
		if r.Ans.Err == nil {
			var e struct {
				Error struct{ Code, Message string }
			}
			if json.Unmarshal(r.Ans.Body, &e) != nil || e.Error.Code == "" || e.Error.Message == "" {
				res.errorBodies++
			}
			if r.Ans.Code != 503 {
				res.non503Errors = append(res.non503Errors, fmt.Sprintf("seq %d at %s: %s", r.Seq, r.At.Format("15:04:05.000"), r.Ans))
			}
		}
	}
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) && ctx.Err() == nil && count(rcv, res.acked, nil).Delivered < len(res.acked) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // late repeats would come now
	res.tally = count(rcv, res.acked, nil)
	for _, h := range rcv.Requests() {
		if s, ok := eventData(h)["seq"].(float64); ok && !ackedSeq[int(s)] && h.Code/100 == 2 {
			res.unacked++
		}
	}
	return res
}

// report fills the scenario's row and fails the test for lost events, repeats
// that are not allowed, and answers that are neither 2xx nor a JSON 503.
func (res loadResult) report(t *testing.T, rep *row, reqs []request, allowDup bool) {
	t.Helper()
	rep.Sent = fmt.Sprintf("%d requests", len(reqs))
	rep.Acked = fmt.Sprint(len(res.acked))
	rep.Delivered = fmt.Sprintf("%d of %d acknowledged", res.tally.Delivered, len(res.acked))
	rep.Lost = fmt.Sprint(len(res.tally.Lost))
	rep.Duplicates = fmt.Sprintf("%d requests repeated (%d answered 2xx twice), webhook-id = event id on all: %v", res.tally.Repeats, res.tally.Duplicates, res.tally.SameID)
	if len(res.tally.Lost) > 0 {
		t.Errorf("%d acknowledged events never delivered (false 202s): %v", len(res.tally.Lost), res.tally.Lost)
	}
	if !res.tally.SameID {
		t.Error("a delivery's webhook-id differed from its event id")
	}
	if res.tally.Repeats > 0 && !allowDup {
		t.Errorf("%d deliveries repeated though the worker and Temporal were not touched", res.tally.Repeats)
	}
	if len(res.non503Errors) > 0 {
		t.Errorf("%d answers other than 2xx or 503: %v", len(res.non503Errors), res.non503Errors[:min(len(res.non503Errors), 5)])
	}
	if res.errorBodies > 0 {
		t.Errorf("%d error answers without the {\"error\":{\"code\",\"message\"}} body", res.errorBodies)
	}
}

// TestAPIServerKilled: a steady load of POST /v1/events on two API servers; one is
// stopped with SIGTERM and started again, then killed with SIGKILL and started
// again. Every request answered 2xx has its event delivered; the others got an
// error or a closed connection.
func TestAPIServerKilled(t *testing.T) {
	rep := scenario(t, 3, "API server SIGTERM, then SIGKILL, under steady POST /v1/events load (2 servers)")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := newCluster(ctx, t, clusterOptions{retrySchedule: "0s,1s,2s"})
	a := c.add(ctx, "server-a", "server")
	b := c.add(ctx, "server-b", "server")
	c.add(ctx, "worker", "worker")
	api := newAPIClient(c.key)
	rcv := testenv.NewReceiver(t)
	api.must(ctx, t, 201, "POST", "http://"+b.Addr+"/v1/endpoints", map[string]any{"url": rcv.URL, "event_types": []string{"rel.api"}}, nil)

	toA, toB := func() string { return a.Addr }, func() string { return b.Addr }
	l := startLoad(ctx, api, "rel.api", toA, toA, toA, toB)
	steady := func() { time.Sleep(1500 * time.Millisecond) }
	steady()
	a.Term()
	a.Start(ctx)
	steady()
	a.Kill()
	time.Sleep(500 * time.Millisecond)
	a.Start(ctx)
	steady()
	reqs := l.finish()

	res := settle(ctx, t, reqs, rcv, 60*time.Second)
	res.report(t, rep, reqs, false)
	rep.Checks = fmt.Sprintf("answers: %s; delivered though unacknowledged (the sender would retry): %d", summarize(res.outcomes), res.unacked)
}

// privatePostgres is a Postgres cluster of the test's own, on a free port, that the
// test may stop and start: the machine's shared cluster on :5432 is never touched.
type privatePostgres struct {
	t    *testing.T
	bin  string // directory of initdb and pg_ctl
	dir  string
	port int
	user string // OS user to run as ("" = the current one)
}

func newPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		t.Fatal("no /usr/lib/postgresql/*/bin/pg_ctl: install PostgreSQL's server binaries")
	}
	sort.Strings(bins)
	pg := &privatePostgres{t: t, bin: filepath.Dir(bins[len(bins)-1]), port: freePort(t)}
	dir, err := os.MkdirTemp("", "hookflow-rel-pg-")
	if err != nil {
		t.Fatal(err)
	}
	pg.dir = dir
	t.Cleanup(func() {
		pg.run("pg_ctl", "-D", pg.data(), "-m", "immediate", "stop")
		os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		// Postgres refuses to run as root: run it as the postgres OS user, which
		// must own the data directory.
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs the postgres OS user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		pg.user = "postgres"
	}
	if out, err := pg.run("initdb", "-D", pg.data(), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	pg.start()
	return pg
}

func (pg *privatePostgres) data() string { return filepath.Join(pg.dir, "data") }

func (pg *privatePostgres) run(tool string, args ...string) (string, error) {
	name, argv := filepath.Join(pg.bin, tool), args
	if pg.user != "" {
		name, argv = "runuser", append([]string{"-u", pg.user, "--", filepath.Join(pg.bin, tool)}, args...)
	}
	cmd := exec.Command(name, argv...)
	cmd.Dir = pg.dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (pg *privatePostgres) start() {
	pg.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", pg.port, pg.dir)
	if out, err := pg.run("pg_ctl", "-D", pg.data(), "-o", opts, "-l", filepath.Join(pg.dir, "log"), "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(pg.dir, "log"))
		pg.t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
}

func (pg *privatePostgres) stop() {
	pg.t.Helper()
	if out, err := pg.run("pg_ctl", "-D", pg.data(), "-m", "fast", "-w", "-t", "60", "stop"); err != nil {
		pg.t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

func (pg *privatePostgres) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg.port)
}

// TestPostgresRestarted: a steady load of POST /v1/events while the app database is
// stopped (pg_ctl stop -m fast) for a few seconds and started again. While it is
// down ingest answers 503 (never a 202 it cannot honour); the server and worker
// recover by themselves and every acknowledged event is delivered.
func TestPostgresRestarted(t *testing.T) {
	rep := scenario(t, 4, "Postgres stopped (fast) for 4 s and started again under steady load")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pg := newPrivatePostgres(t)
	c := newCluster(ctx, t, clusterOptions{dsn: pg.url(), retrySchedule: "0s,1s,2s,3s,3s,3s,3s,3s"})
	srv := c.add(ctx, "server", "server")
	c.add(ctx, "worker", "worker")
	api := newAPIClient(c.key)
	rcv := testenv.NewReceiver(t)
	api.must(ctx, t, 201, "POST", "http://"+srv.Addr+"/v1/endpoints", map[string]any{"url": rcv.URL, "event_types": []string{"rel.pg"}}, nil)

	to := func() string { return srv.Addr }
	l := startLoad(ctx, api, "rel.pg", to, to, to, to)
	time.Sleep(1500 * time.Millisecond)
	pg.stop()
	down := time.Now()
	time.Sleep(4 * time.Second)
	pg.start()
	up := time.Now()
	// Work resumes by itself: wait for the server to take events again.
	testenv.EventuallyCtx(ctx, t, 60*time.Second, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.reqs) > 0 && l.reqs[len(l.reqs)-1].ID != "" && l.reqs[len(l.reqs)-1].At.After(up)
	}, testenv.Msg("the server took events again after Postgres came back"))
	time.Sleep(1500 * time.Millisecond)
	reqs := l.finish()

	var duringDown, okDuringDown int
	for _, r := range reqs {
		if end := r.At.Add(r.Took); end.After(down) && end.Before(up) {
			duringDown++
			if r.ID != "" {
				okDuringDown++
			}
		}
	}
	res := settle(ctx, t, reqs, rcv, 90*time.Second)
	res.report(t, rep, reqs, true)
	rep.Checks = fmt.Sprintf("answers: %s; requests answered while Postgres was down: %d (2xx among them: %d, each delivered); slowest answer %s; delivered though unacknowledged: %d",
		summarize(res.outcomes), duringDown, okDuringDown, slowest(reqs), res.unacked)
	if duringDown == 0 {
		t.Error("no request was answered while Postgres was down: the scenario did not test the outage")
	}
}

// TestTemporalRestarted: a steady load while the `hookflow temporal` process is
// SIGKILLed and started again on the same data dir and port. Ingest answers 503
// while it is down; no acknowledged event is lost.
func TestTemporalRestarted(t *testing.T) {
	rep := scenario(t, 5, "Temporal process SIGKILL, restarted after 12 s on the same data dir, under steady load")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, srv, api, rcv := serverAndWorker(ctx, t, "0s,1s,2s,3s,3s,3s,3s,3s", "rel.temporal")
	to := func() string { return srv.Addr }
	l := startLoad(ctx, api, "rel.temporal", to, to, to, to)
	time.Sleep(1500 * time.Millisecond)
	c.temporal.Kill()
	down := time.Now()
	// Longer than the API's 5 s budget for a start call, so requests that begin in
	// the outage are answered within it.
	time.Sleep(12 * time.Second)
	c.temporal.Start(ctx)
	up := time.Now()
	l.awaitAccepted(ctx, t, up)
	time.Sleep(1500 * time.Millisecond)
	reqs := l.finish()

	// A request answered in the outage but sent before the kill may have had its
	// workflow started just before Temporal died; its 202 is true (and the no-loss
	// check holds it to that). One sent after the kill can have no true 2xx.
	var duringDown, okDuringDown, okStraddling int
	for _, r := range reqs {
		if end := r.At.Add(r.Took); end.After(down) && end.Before(up) {
			duringDown++
			switch {
			case r.ID != "" && r.At.After(down):
				okDuringDown++
			case r.ID != "":
				okStraddling++
			}
		}
	}
	res := settle(ctx, t, reqs, rcv, 120*time.Second)
	res.report(t, rep, reqs, true)
	rep.Checks = fmt.Sprintf("answers: %s; requests answered while Temporal was down: %d (2xx among those sent after the kill: %d; 2xx to requests sent before it: %d, each delivered); slowest answer %s; delivered though unacknowledged: %d",
		summarize(res.outcomes), duringDown, okDuringDown, okStraddling, slowest(reqs), res.unacked)
	if duringDown == 0 {
		t.Error("no request was answered while Temporal was down: the scenario did not test the outage")
	}
	if okDuringDown > 0 {
		t.Errorf("%d requests sent after Temporal was killed were answered 2xx while it was down", okDuringDown)
	}
}

// TestAPIServerKilledMidBatch: the API server is SIGKILLed while a batch it
// recorded in the app database has not been started in Temporal (Temporal was
// SIGKILLed just before, so the start is retrying against a dead frontend and
// never reaches it). Nobody heard 202 for that batch, yet
// its events are recorded: the workers' sweep starts it once it is 30 s old, so
// every event the database holds is delivered, once. Events whose start failed
// and was undone are not in the database and are not delivered.
func TestAPIServerKilledMidBatch(t *testing.T) {
	rep := scenario(t, 10, "API server SIGKILL with a batch recorded but not started (Temporal SIGKILLed 1.5 s before, then restarted)")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, srv, api, rcv := serverAndWorker(ctx, t, "0s,1s,2s", "rel.batch")
	to := func() string { return srv.Addr }
	l := startLoad(ctx, api, "rel.batch", to, to, to, to)
	time.Sleep(1500 * time.Millisecond)
	c.temporal.Kill()
	time.Sleep(1500 * time.Millisecond) // a batch is recorded and its start retries
	srv.Kill()
	c.temporal.Start(ctx)
	srv.Start(ctx)
	l.awaitAccepted(ctx, t, time.Now())
	time.Sleep(1500 * time.Millisecond)
	reqs := l.finish()

	db := openDB(t, c.dsn)
	recorded := map[string]bool{}
	rows, err := db.QueryContext(ctx, `SELECT id FROM events WHERE type = 'rel.batch'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		recorded[id] = true
	}
	rows.Close()
	acked := map[string]bool{}
	for _, r := range reqs {
		if r.ID != "" {
			acked[r.ID] = true
			if !recorded[r.ID] {
				t.Errorf("event %s answered 2xx is not recorded", r.ID)
			}
		}
	}
	orphans := len(recorded) - len(acked)
	if orphans < 1 {
		t.Fatalf("every recorded event was acknowledged: the kill left no batch unstarted, so the scenario tested nothing")
	}
	// The sweep takes batches 30 s old, every 10 s.
	testenv.EventuallyCtx(ctx, t, 75*time.Second, func() bool { return count(rcv, recorded, nil).Delivered == len(recorded) },
		func() string {
			return fmt.Sprintf("%d of %d recorded events delivered", count(rcv, recorded, nil).Delivered, len(recorded))
		})
	time.Sleep(2 * time.Second) // late repeats would come now
	tl := count(rcv, recorded, nil)
	left := queryInt(t, db, `SELECT count(*) FROM event_batches`)
	rep.Sent = fmt.Sprintf("%d requests", len(reqs))
	rep.Acked = fmt.Sprint(len(acked))
	rep.Delivered = fmt.Sprintf("%d of %d recorded (%d acknowledged, %d recorded by the killed server without an answer)", tl.Delivered, len(recorded), len(acked), orphans)
	rep.Lost = fmt.Sprint(len(tl.Lost))
	rep.Duplicates = fmt.Sprintf("%d requests repeated, webhook-id = event id on all: %v", tl.Repeats, tl.SameID)
	rep.Checks = fmt.Sprintf("answers: %s; unstarted batches left: %d", summarize(outcomeCounts(reqs)), left)
	if tl.Repeats > 0 || !tl.SameID || tl.OtherEvents > 0 {
		t.Errorf("repeats %d, same id %v, unrecorded events delivered %d", tl.Repeats, tl.SameID, tl.OtherEvents)
	}
	if left != 0 {
		t.Errorf("%d batches still unstarted after the sweep", left)
	}
}

func outcomeCounts(reqs []request) map[string]int {
	m := map[string]int{}
	for _, r := range reqs {
		m[outcome(r.Ans)]++
	}
	return m
}

// serverAndWorker is a cluster of one API server and one worker with an endpoint
// (on the returned receiver) subscribed to eventType.
func serverAndWorker(ctx context.Context, t *testing.T, schedule, eventType string) (*cluster, *testenv.Process, *apiClient, *testenv.Receiver) {
	t.Helper()
	c := newCluster(ctx, t, clusterOptions{retrySchedule: schedule})
	srv := c.add(ctx, "server", "server")
	c.add(ctx, "worker", "worker")
	api := newAPIClient(c.key)
	rcv := testenv.NewReceiver(t)
	api.must(ctx, t, 201, "POST", "http://"+srv.Addr+"/v1/endpoints", map[string]any{"url": rcv.URL, "event_types": []string{eventType}}, nil)
	return c, srv, api, rcv
}

// awaitAccepted waits until the load's latest request, sent after since, was
// accepted: the system took events again after the fault.
func (l *load) awaitAccepted(ctx context.Context, t *testing.T, since time.Time) {
	t.Helper()
	testenv.EventuallyCtx(ctx, t, 60*time.Second, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.reqs) > 0 && l.reqs[len(l.reqs)-1].ID != "" && l.reqs[len(l.reqs)-1].At.After(since)
	}, testenv.Msg("the server took events again after the fault"))
}
