package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/internal/testenv"
)

// buildBinary builds hookflow once per test run, the way `make build` does.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "hookflow-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "hookflow")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// proc is a hookflow process the test started.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *testenv.SyncBuffer
	addr string
}

func startProc(t *testing.T, bin, name, role string, env []string, addr string) *proc {
	t.Helper()
	p := &proc{name: name, out: &testenv.SyncBuffer{}, addr: addr}
	p.cmd = exec.Command(bin, strings.Fields(role)...) // role and its flags
	p.cmd.Env = append(env, "HOOKFLOW_HTTP_ADDR="+addr)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			p.cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.out.String())
		}
	})
	testenv.Eventually(t, 60*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "%s did not become ready:\n%s", name, p.out)
	return p
}

func (p *proc) scrape(t *testing.T, pattern string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + p.addr + "/metrics")
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

// TestTwoServersTwoWorkers: two `hookflow server` and two `hookflow worker`
// processes on one Temporal and one Postgres share the work: events sent to both
// servers are each delivered exactly once, and both workers ran deliveries.
func TestTwoServersTwoWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	dsn := testenv.NewPostgres(t)
	key := "hfk_test_" + ids.New("k")
	env := append(os.Environ(),
		"DATABASE_URL="+dsn,
		"TEMPORAL_ADDRESS="+temporalAddr,
		"HOOKFLOW_TASK_QUEUE=scale-"+ids.New("tq"),
		"HOOKFLOW_ENCRYPTION_KEY="+testEncryptionKey,
		"HOOKFLOW_API_KEY="+key,
		"HOOKFLOW_ALLOWED_CIDRS=127.0.0.0/8",
		"HOOKFLOW_API_RATE_LIMIT=0",
		"HOOKFLOW_LOG_LEVEL=warn",
		"HOOKFLOW_SHUTDOWN_GRACE=5s",
	)
	var out bytes.Buffer
	migrate := exec.Command(bin, "migrate")
	migrate.Env, migrate.Stdout, migrate.Stderr = env, &out, &out
	if err := migrate.Run(); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out.String())
	}
	servers := []*proc{
		startProc(t, bin, "server-1", "server", env, testenv.FreeAddr(t)),
		startProc(t, bin, "server-2", "server", env, testenv.FreeAddr(t)),
	}
	workers := []*proc{
		startProc(t, bin, "worker-1", "worker", env, testenv.FreeAddr(t)),
		startProc(t, bin, "worker-2", "worker", env, testenv.FreeAddr(t)),
	}

	rcv := newReceiver(t, 200)
	post := func(p *proc, path string, body any, out any) int {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", "http://"+p.addr+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if out != nil {
			json.NewDecoder(resp.Body).Decode(out)
		}
		return resp.StatusCode
	}
	if code := post(servers[0], "/v1/endpoints", map[string]any{"url": rcv.URL, "event_types": []string{"*"}}, nil); code != http.StatusCreated {
		t.Fatalf("create endpoint: %d", code)
	}
	const n = 40
	sent := map[string]bool{}
	for i := range n {
		var a accepted
		if code := post(servers[i%2], "/v1/events", map[string]any{"type": "scale.test", "data": map[string]any{"i": i}}, &a); code != http.StatusAccepted {
			t.Fatalf("event %d to %s: %d", i, servers[i%2].name, code)
		}
		sent[a.ID] = true
	}
	testenv.Eventually(t, 60*time.Second, func() bool { return len(rcv.requests()) >= n }, "receiver got %d of %d", len(rcv.requests()), n)
	time.Sleep(500 * time.Millisecond) // a duplicate would come now
	got := map[string]int{}
	for _, r := range rcv.requests() {
		got[r.Header.Get("webhook-id")]++
	}
	for id := range sent {
		if got[id] != 1 {
			t.Errorf("event %s delivered %d times, want once", id, got[id])
		}
	}
	if len(got) != n {
		t.Errorf("receiver saw %d distinct events, want %d", len(got), n)
	}
	for _, w := range workers {
		if ran := w.scrape(t, `temporal_(?:local_)?activity_execution_latency_seconds_count\{[^}]*activity_type="Deliver"[^}]*\}`); ran == 0 {
			t.Errorf("%s ran no deliveries", w.name)
		} else {
			t.Logf("%s ran %v deliveries", w.name, ran)
		}
	}
	for _, s := range servers {
		if accepted := s.scrape(t, `hookflow_events_accepted_total\{ingress="api"\}`); accepted != n/2 {
			t.Errorf("%s accepted %v events, want %d", s.name, accepted, n/2)
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
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	tAddr := testenv.FreeAddr(t)
	startTemporal := func() (*exec.Cmd, *testenv.SyncBuffer) {
		out := &testenv.SyncBuffer{}
		cmd := exec.Command(bin, "temporal", "--data-dir", dataDir, "--no-ui")
		cmd.Env = append(os.Environ(), "TEMPORAL_ADDRESS="+tAddr, "HOOKFLOW_LOG_LEVEL=warn")
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 90*time.Second, func() bool { return strings.Contains(out.String(), "temporal ready frontend="+tAddr) },
			"hookflow temporal did not say it was ready:\n%s", out)
		return cmd, out
	}
	stopTemporal := func(cmd *exec.Cmd) {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Error("hookflow temporal did not stop within 30 s of SIGTERM")
		}
	}
	tcmd, _ := startTemporal()
	t.Cleanup(func() { stopTemporal(tcmd) })

	dsn := testenv.NewPostgres(t)
	key := "hfk_test_" + ids.New("k")
	env := append(os.Environ(),
		"DATABASE_URL="+dsn,
		"TEMPORAL_ADDRESS="+tAddr,
		"HOOKFLOW_ENCRYPTION_KEY="+testEncryptionKey,
		"HOOKFLOW_API_KEY="+key,
		"HOOKFLOW_ALLOWED_CIDRS=127.0.0.0/8",
		"HOOKFLOW_API_RATE_LIMIT=0",
		"HOOKFLOW_LOG_LEVEL=warn",
		"HOOKFLOW_SHUTDOWN_GRACE=5s",
	)
	var out bytes.Buffer
	migrate := exec.Command(bin, "migrate")
	migrate.Env, migrate.Stdout, migrate.Stderr = env, &out, &out
	if err := migrate.Run(); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out.String())
	}
	srv := startProc(t, bin, "server", "server --with-worker", env, testenv.FreeAddr(t))
	rcv := newReceiver(t, 200)
	post := func(path string, body any, out any) int {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", "http://"+srv.addr+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if out != nil {
			json.NewDecoder(resp.Body).Decode(out)
		}
		return resp.StatusCode
	}
	if code := post("/v1/endpoints", map[string]any{"url": rcv.URL, "event_types": []string{"*"}}, nil); code != http.StatusCreated {
		t.Fatalf("create endpoint: %d", code)
	}
	sent := map[string]bool{}
	send := func(n int) {
		for i := range n {
			var a accepted
			if code := post("/v1/events", map[string]any{"type": "eager.test", "data": map[string]any{"i": i}}, &a); code != http.StatusAccepted {
				t.Fatalf("event %d: %d\n%s", i, code, srv.out)
			}
			sent[a.ID] = true
		}
	}
	send(20)
	testenv.Eventually(t, 60*time.Second, func() bool { return len(rcv.requests()) >= len(sent) }, "receiver got %d of %d", len(rcv.requests()), len(sent))
	if ran := srv.scrape(t, `temporal_(?:local_)?activity_execution_latency_seconds_count\{[^}]*activity_type="Deliver"[^}]*\}`); ran == 0 {
		t.Errorf("the server's own worker ran no deliveries")
	}

	// Restart the Temporal process: it keeps its namespace and search attributes
	// in its file, and the server and its worker reconnect by themselves.
	stopTemporal(tcmd)
	tcmd, _ = startTemporal()
	testenv.Eventually(t, 60*time.Second, func() bool {
		var a accepted
		if post("/v1/events", map[string]any{"type": "eager.test", "data": map[string]any{"after": "restart"}}, &a) != http.StatusAccepted {
			return false
		}
		sent[a.ID] = true
		return true
	}, "the server did not accept events after Temporal restarted:\n%s", srv.out)
	testenv.Eventually(t, 60*time.Second, func() bool { return len(rcv.requests()) >= len(sent) }, "receiver got %d of %d", len(rcv.requests()), len(sent))
	time.Sleep(500 * time.Millisecond) // a duplicate would come now
	got := map[string]int{}
	for _, r := range rcv.requests() {
		got[r.Header.Get("webhook-id")]++
	}
	for id := range sent {
		if got[id] != 1 {
			t.Errorf("event %s delivered %d times, want once", id, got[id])
		}
	}
}
