//go:build reliability

package reliability

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for the checks on the app database

	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/internal/secretbox"
	"github.com/hookflow/hookflow/internal/testenv"
)

// buildBinary builds hookflow once per run, without -race: the processes under test
// are the product as shipped.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "hookflow-rel-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "hookflow")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/hookflow/hookflow/cmd/hookflow").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// proc is one hookflow process; it can be killed and started again with the same
// arguments, address and environment, and its output accumulates across restarts.
type proc struct {
	t     *testing.T
	name  string
	bin   string
	args  []string
	env   []string
	addr  string // HTTP address (server, worker) or the Temporal frontend
	out   *testenv.SyncBuffer
	cmd   *exec.Cmd
	done  chan struct{}
	ready func(since int) bool
}

func (p *proc) start(ctx context.Context) {
	p.t.Helper()
	since := p.out.Len()
	fmt.Fprintf(p.out, "--- %s: start %s\n", time.Now().Format("15:04:05.000"), strings.Join(p.args, " "))
	p.cmd = exec.Command(p.bin, p.args...)
	p.cmd.Env = p.env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan struct{})
	p.done = done
	cmd := p.cmd
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(p.out, "--- %s: exited: %v\n", time.Now().Format("15:04:05.000"), err)
		close(done)
	}()
	waitFor(ctx, p.t, 90*time.Second, func() bool {
		select {
		case <-done:
			p.t.Fatalf("%s exited while starting:\n%s", p.name, p.out)
		default:
		}
		return p.ready(since)
	}, "%s did not become ready", p.name)
}

func (p *proc) running() bool {
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// signal sends sig and waits up to wait for the process to exit (SIGKILL after).
func (p *proc) signal(sig syscall.Signal, wait time.Duration) {
	if !p.running() {
		return
	}
	fmt.Fprintf(p.out, "--- %s: %v\n", time.Now().Format("15:04:05.000"), sig)
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(wait):
		p.t.Errorf("%s did not exit within %s of %v; killing it", p.name, wait, sig)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) kill() { p.signal(syscall.SIGKILL, 10*time.Second) }

func (p *proc) term() { p.signal(syscall.SIGTERM, 30*time.Second) }

// httpReady is ready once /readyz answers 200.
func httpReady(addr string) func(int) bool {
	c := &http.Client{Timeout: 2 * time.Second}
	return func(int) bool {
		resp, err := c.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
}

// waitFor polls cond every 25 ms until it holds; past timeout, or when ctx (the
// scenario's deadline) ends, the test fails with the message. Cleanups print the
// processes' logs of a failed test.
func waitFor(ctx context.Context, t *testing.T, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not true within %s: %s", timeout, fmt.Sprintf(format, args...))
		}
		if ctx.Err() != nil {
			t.Fatalf("scenario deadline passed waiting for: %s", fmt.Sprintf(format, args...))
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// cluster is one scenario's hookflow: its own Temporal process and data dir, its own
// app database, and the server and worker processes the scenario starts.
type cluster struct {
	t        *testing.T
	bin      string
	key      string
	dsn      string
	env      []string
	temporal *proc
	procs    []*proc
}

type clusterOptions struct {
	dsn           string // app database; a fresh one on the shared Postgres when empty
	retrySchedule string
	env           []string // more variables for every process, e.g. HOOKFLOW_ADMIN_KEY=…
}

func newCluster(ctx context.Context, t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, bin: bin, key: "hfk_rel_" + ids.New("k"), dsn: o.dsn}
	if c.dsn == "" {
		c.dsn = testenv.NewPostgres(t)
	}
	tAddr := testenv.FreeAddr(t)
	c.env = append(os.Environ(),
		"DATABASE_URL="+c.dsn,
		"TEMPORAL_ADDRESS="+tAddr,
		"HOOKFLOW_ENCRYPTION_KEY="+secretbox.Generate(),
		"HOOKFLOW_API_KEY="+c.key,
		"HOOKFLOW_ALLOWED_CIDRS=127.0.0.0/8",
		"HOOKFLOW_API_RATE_LIMIT=0",
		"HOOKFLOW_SOURCE_RATE_LIMIT=0",
		"HOOKFLOW_LOG_LEVEL=warn",
		"HOOKFLOW_SHUTDOWN_GRACE=5s",
		"HOOKFLOW_RETRY_SCHEDULE="+o.retrySchedule,
	)
	c.env = append(c.env, o.env...)
	t.Cleanup(func() {
		for i := len(c.procs) - 1; i >= 0; i-- {
			c.procs[i].term()
		}
		c.temporal.term()
		if t.Failed() {
			for _, p := range append([]*proc{c.temporal}, c.procs...) {
				t.Logf("=== %s output (last 20 KB):\n%s", p.name, tail(p.out.String(), 20<<10))
			}
		}
	})
	c.temporal = &proc{t: t, name: "temporal", bin: bin, env: c.env, addr: tAddr, out: &testenv.SyncBuffer{},
		args: []string{"temporal", "--data-dir", t.TempDir(), "--no-ui"}}
	c.temporal.ready = func(since int) bool {
		return strings.Contains(c.temporal.out.String()[since:], "temporal ready frontend="+tAddr)
	}
	c.temporal.start(ctx)

	var out bytes.Buffer
	migrate := exec.CommandContext(ctx, bin, "migrate")
	migrate.Env, migrate.Stdout, migrate.Stderr = c.env, &out, &out
	if err := migrate.Run(); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out.String())
	}
	return c
}

// add starts a hookflow process with role ("server", "worker", "server --with-worker").
func (c *cluster) add(ctx context.Context, name, role string) *proc {
	c.t.Helper()
	addr := testenv.FreeAddr(c.t)
	p := &proc{t: c.t, name: name, bin: c.bin, args: strings.Fields(role), addr: addr, out: &testenv.SyncBuffer{},
		env: append(append([]string(nil), c.env...), "HOOKFLOW_HTTP_ADDR="+addr), ready: httpReady(addr)}
	c.procs = append(c.procs, p)
	p.start(ctx)
	return p
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// answer is one HTTP exchange as the caller saw it.
type answer struct {
	Code int
	Body []byte
	Err  error
}

func (a answer) String() string {
	if a.Err != nil {
		return "error: " + a.Err.Error()
	}
	return fmt.Sprintf("%d %s", a.Code, tail(string(a.Body), 300))
}

// apiClient talks to hookflow's REST API with the cluster's key.
type apiClient struct {
	key  string
	http *http.Client
}

func newAPIClient(key string) *apiClient {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &apiClient{key: key, http: &http.Client{Timeout: 30 * time.Second, Transport: tr}}
}

// do sends body (a []byte or string as is, anything else as JSON) and returns what came back.
func (a *apiClient) do(ctx context.Context, method, url string, body any, header http.Header) answer {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case string:
		r = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return answer{Err: err}
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return answer{Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return answer{Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return answer{Code: resp.StatusCode, Body: raw, Err: err}
}

// must sends and fails the test unless the answer has the wanted status; it decodes
// the body into out when out is not nil.
func (a *apiClient) must(ctx context.Context, t *testing.T, want int, method, url string, body, out any) {
	t.Helper()
	ans := a.do(ctx, method, url, body, nil)
	if ans.Err != nil || ans.Code != want {
		t.Fatalf("%s %s: %s, want %d", method, url, ans, want)
	}
	if out != nil {
		if err := json.Unmarshal(ans.Body, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, url, ans.Body, err)
		}
	}
}

// accepted is the 202 answer to an event.
type accepted struct {
	ID        string `json:"id"`
	Duplicate bool   `json:"duplicate"`
}

// hit is one request a receiver got.
type hit struct {
	Key    string // webhook-id, or the text of a Slack message
	BodyID string // the payload's "id" (deliveries), empty for Slack
	Data   map[string]any
	At     time.Time
	N      int // this request is the Nth with its key at this receiver
	Code   int // what the receiver answered; 0 if the connection went away first
}

// receiver is a loopback HTTP receiver whose answer the test scripts. It records
// every request and which ones are in flight (received, not yet answered).
type receiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	hits     []hit
	inflight map[int]bool
	perKey   map[string]int
	answer   func(h hit) int
	hold     chan struct{} // when not nil, requests wait until it is closed
}

// newReceiver answers every request with what answer says (200 when nil).
func newReceiver(t *testing.T, slack bool) *receiver {
	r := &receiver{inflight: map[int]bool{}, perKey: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		h := hit{Key: req.Header.Get("webhook-id"), At: time.Now()}
		var p struct {
			ID   string         `json:"id"`
			Text string         `json:"text"`
			Data map[string]any `json:"data"`
		}
		_ = json.Unmarshal(body, &p)
		h.BodyID, h.Data = p.ID, p.Data
		if slack {
			h.Key = p.Text
		}
		r.mu.Lock()
		r.perKey[h.Key]++
		h.N = r.perKey[h.Key]
		i := len(r.hits)
		r.hits = append(r.hits, h)
		r.inflight[i] = true
		hold, answer := r.hold, r.answer
		r.mu.Unlock()
		defer func() {
			r.mu.Lock()
			delete(r.inflight, i)
			r.mu.Unlock()
		}()
		if hold != nil {
			select {
			case <-hold:
			case <-req.Context().Done():
				return
			}
		}
		code := http.StatusOK
		if answer != nil {
			code = answer(h)
		}
		r.mu.Lock()
		r.hits[i].Code = code
		r.mu.Unlock()
		w.WriteHeader(code)
		if slack {
			fmt.Fprint(w, "ok")
		} else {
			fmt.Fprintf(w, `{"answer":%d}`, code)
		}
	}))
	t.Cleanup(func() {
		r.release()
		r.srv.CloseClientConnections()
		r.srv.Close()
	})
	return r
}

func (r *receiver) URL() string { return r.srv.URL }

func (r *receiver) setAnswer(f func(hit) int) {
	r.mu.Lock()
	r.answer = f
	r.mu.Unlock()
}

// holdAll makes requests wait until release.
func (r *receiver) holdAll() {
	r.mu.Lock()
	r.hold = make(chan struct{})
	r.mu.Unlock()
}

func (r *receiver) release() {
	r.mu.Lock()
	if r.hold != nil {
		close(r.hold)
		r.hold = nil
	}
	r.mu.Unlock()
}

func (r *receiver) all() []hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hit(nil), r.hits...)
}

// inFlight is the set of keys of requests received and not answered yet.
func (r *receiver) inFlight() map[string]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]bool{}
	for i := range r.inflight {
		out[r.hits[i].Key] = true
	}
	return out
}

// answered counts requests per key that the receiver answered 2xx.
func (r *receiver) answered() map[string]int {
	out := map[string]int{}
	for _, h := range r.all() {
		if h.Code >= 200 && h.Code < 300 {
			out[h.Key]++
		}
	}
	return out
}

// tally is what a set of receivers saw of a set of events: how many were delivered
// (answered 2xx at least once), how many repeats, and whether every repeat and every
// request carried the event's own id as webhook-id.
type tally struct {
	Delivered   int
	Lost        []string
	Duplicates  int // 2xx answers beyond the first per event
	Repeats     int // requests beyond the first per event, answered or not
	SameID      bool
	DupOutside  []string // events received more than once though not in flight at the fault
	Requests    int
	OtherEvents int // requests for events not in the set (must be 0)
}

// count checks the receiver's requests against want (event ids). allowedDup lists
// the ids that may legitimately arrive twice (in flight at the fault); nil allows
// none.
func count(r *receiver, want map[string]bool, allowedDup map[string]bool) tally {
	tl := tally{SameID: true}
	ok, got := map[string]int{}, map[string]int{}
	for _, h := range r.all() {
		tl.Requests++
		if h.Key != h.BodyID {
			tl.SameID = false
		}
		if !want[h.Key] {
			tl.OtherEvents++
			continue
		}
		got[h.Key]++
		if h.Code >= 200 && h.Code < 300 {
			ok[h.Key]++
		}
	}
	for id := range want {
		if n := got[id]; n > 1 {
			tl.Repeats += n - 1
			if !allowedDup[id] {
				tl.DupOutside = append(tl.DupOutside, id)
			}
		}
		switch n := ok[id]; {
		case n == 0:
			tl.Lost = append(tl.Lost, id)
		default:
			tl.Delivered++
			tl.Duplicates += n - 1
		}
	}
	return tl
}

// openDB opens the app database for the checks the API does not expose.
func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(2)
	t.Cleanup(func() { db.Close() })
	return db
}

func queryInt(t *testing.T, db *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// freePort returns a free loopback TCP port.
func freePort(t *testing.T) int {
	_, port, _ := net.SplitHostPort(testenv.FreeAddr(t))
	var p int
	fmt.Sscan(port, &p)
	return p
}
