package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/internal/testenv"
)

// binaryEnv is the environment of hookflow processes on a fresh database,
// migrated, and the Temporal server at temporalAddress, with more on top; key
// is their API key.
func binaryEnv(t *testing.T, temporalAddress string, more ...string) (env []string, key string) {
	t.Helper()
	key = "hfk_test_" + ids.New("k")
	env = append([]string{
		"DATABASE_URL=" + testenv.NewPostgres(t),
		"TEMPORAL_ADDRESS=" + temporalAddress,
		"HOOKFLOW_ENCRYPTION_KEY=" + testEncryptionKey,
		"HOOKFLOW_API_KEY=" + key,
		"HOOKFLOW_ALLOWED_CIDRS=127.0.0.0/8",
		"HOOKFLOW_API_RATE_LIMIT=0",
		"HOOKFLOW_LOG_LEVEL=warn",
		"HOOKFLOW_SHUTDOWN_GRACE=5s",
	}, more...)
	testenv.RunHookflow(context.Background(), t, env, "migrate")
	return env, key
}

// post sends body to the API of process p with key.
func post(t *testing.T, p *testenv.Process, key, path string, body, out any) int {
	t.Helper()
	return callAPI(t, key, "POST", "http://"+p.Addr+path, body, out)
}

// scrape sums the values of the metric lines of process p that match pattern.
func scrape(t *testing.T, p *testenv.Process, pattern string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + p.Addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	total := 0.0
	for _, m := range regexp.MustCompile(`(?m)^`+pattern+` ([0-9.e+-]+)$`).FindAllSubmatch(body, -1) {
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		total += v
	}
	return total
}

// deliveredOnce fails the test unless the receiver got each event of sent
// exactly once; it waits a moment first, for a duplicate to show.
func deliveredOnce(t *testing.T, rcv *testenv.Receiver, sent map[string]bool) map[string]int {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, func() bool { return len(rcv.Requests()) >= len(sent) },
		func() string { return fmt.Sprintf("receiver got %d of %d", len(rcv.Requests()), len(sent)) })
	time.Sleep(500 * time.Millisecond) // a duplicate would come now
	got := map[string]int{}
	for _, r := range rcv.Requests() {
		got[r.Header.Get("webhook-id")]++
	}
	for id := range sent {
		if got[id] != 1 {
			t.Errorf("event %s delivered %d times, want once", id, got[id])
		}
	}
	return got
}

// deliverRan matches the SDK metric that counts the Deliver activities a process ran.
const deliverRan = `temporal_(?:local_)?activity_execution_latency_seconds_count\{[^}]*activity_type="Deliver"[^}]*\}`

// TestTwoServersTwoWorkers: two `hookflow server` and two `hookflow worker`
// processes on one Temporal and one Postgres share the work: events sent to both
// servers are each delivered exactly once, and both workers ran deliveries.
func TestTwoServersTwoWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	ctx := context.Background()
	env, key := binaryEnv(t, temporalAddr, "HOOKFLOW_TASK_QUEUE=scale-"+ids.New("tq"))
	servers := []*testenv.Process{
		testenv.StartHookflow(ctx, t, "server-1", env, "server"),
		testenv.StartHookflow(ctx, t, "server-2", env, "server"),
	}
	workers := []*testenv.Process{
		testenv.StartHookflow(ctx, t, "worker-1", env, "worker"),
		testenv.StartHookflow(ctx, t, "worker-2", env, "worker"),
	}

	rcv := testenv.NewReceiver(t, 200)
	if code := post(t, servers[0], key, "/v1/endpoints", map[string]any{"url": rcv.URL, "event_types": []string{"*"}}, nil); code != http.StatusCreated {
		t.Fatalf("create endpoint: %d", code)
	}
	const n = 40
	sent := map[string]bool{}
	for i := range n {
		var a accepted
		if code := post(t, servers[i%2], key, "/v1/events", map[string]any{"type": "scale.test", "data": map[string]any{"i": i}}, &a); code != http.StatusAccepted {
			t.Fatalf("event %d to %s: %d", i, servers[i%2].Name, code)
		}
		sent[a.ID] = true
	}
	got := deliveredOnce(t, rcv, sent)
	if len(got) != n {
		t.Errorf("receiver saw %d distinct events, want %d", len(got), n)
	}
	for _, w := range workers {
		if ran := scrape(t, w, deliverRan); ran == 0 {
			t.Errorf("%s ran no deliveries", w.Name)
		} else {
			t.Logf("%s ran %v deliveries", w.Name, ran)
		}
	}
	for _, s := range servers {
		if accepted := scrape(t, s, `hookflow_events_accepted_total\{ingress="api"\}`); accepted != n/2 {
			t.Errorf("%s accepted %v events, want %d", s.Name, accepted, n/2)
		}
	}
}

// TestTemporalSetup registers a namespace and the search attributes, and a second
// run finds nothing to do.
func TestTemporalSetup(t *testing.T) {
	ns := "setup-" + strings.ToLower(ids.New("ns"))
	env := envMap(map[string]string{"TEMPORAL_ADDRESS": temporalAddr, "TEMPORAL_NAMESPACE": ns, "HOOKFLOW_LOG_LEVEL": "error"})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"temporal-setup"}, &out, &errOut, env); code != 0 {
		t.Fatalf("temporal-setup exited %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "registered namespace "+ns) || !strings.Contains(out.String(), "added search attributes HookflowAutomation") {
		t.Errorf("first run said %q", out.String())
	}
	out.Reset()
	if code := run(ctx, []string{"temporal-setup"}, &out, &errOut, env); code != 0 {
		t.Fatalf("second temporal-setup exited %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "namespace "+ns+" exists") || !strings.Contains(out.String(), "search attributes are registered") {
		t.Errorf("second run said %q", out.String())
	}
}

// TestTemporalProcessAndServerWithWorker runs the three-process layout the
// reliability suite and the benchmark use: `hookflow temporal` (its own process,
// file-backed) and `hookflow server --with-worker` (API and worker sharing a client,
// events started eagerly). Events are delivered once each, and the Temporal process
// keeps its state across a restart.
func TestTemporalProcessAndServerWithWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	ctx := context.Background()
	temporal := testenv.StartHookflowTemporal(ctx, t, t.TempDir(), []string{"HOOKFLOW_LOG_LEVEL=warn"})
	env, key := binaryEnv(t, temporal.Addr)
	srv := testenv.StartHookflow(ctx, t, "server", env, "server", "--with-worker")
	rcv := testenv.NewReceiver(t, 200)
	if code := post(t, srv, key, "/v1/endpoints", map[string]any{"url": rcv.URL, "event_types": []string{"*"}}, nil); code != http.StatusCreated {
		t.Fatalf("create endpoint: %d", code)
	}
	sent := map[string]bool{}
	send := func(n int) {
		for i := range n {
			var a accepted
			if code := post(t, srv, key, "/v1/events", map[string]any{"type": "eager.test", "data": map[string]any{"i": i}}, &a); code != http.StatusAccepted {
				t.Fatalf("event %d: %d\n%s", i, code, srv.Out)
			}
			sent[a.ID] = true
		}
	}
	send(20)
	testenv.Eventually(t, 60*time.Second, func() bool { return len(rcv.Requests()) >= len(sent) },
		func() string { return fmt.Sprintf("receiver got %d of %d", len(rcv.Requests()), len(sent)) })
	if ran := scrape(t, srv, deliverRan); ran == 0 {
		t.Errorf("the server's own worker ran no deliveries")
	}

	// Restart the Temporal process: it keeps its namespace and search attributes
	// in its file, and the server and its worker reconnect by themselves.
	temporal.Term()
	temporal.Start(ctx)
	testenv.Eventually(t, 60*time.Second, func() bool {
		var a accepted
		if post(t, srv, key, "/v1/events", map[string]any{"type": "eager.test", "data": map[string]any{"after": "restart"}}, &a) != http.StatusAccepted {
			return false
		}
		sent[a.ID] = true
		return true
	}, func() string {
		return "the server did not accept events after Temporal restarted:\n" + srv.Out.String()
	})
	deliveredOnce(t, rcv, sent)
}
