//go:build reliability

package reliability

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/testenv"
)

// procCPU is a process's user+system CPU time so far, from /proc.
func procCPU(t *testing.T, p *testenv.Process) time.Duration {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

// procRSS is a process's resident memory now, from /proc.
func procRSS(t *testing.T, p *testenv.Process) int64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// victim sends one event of another workspace every interval and measures each
// one's time from the POST to its delivery, so an attack's effect on other
// tenants is a number.
type victim struct {
	api  *apiClient
	base string
	rcv  *testenv.Receiver
	mu   sync.Mutex
	sent map[string]time.Time // event id → when posted
}

func (v *victim) run(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		at := time.Now()
		ans := v.api.do(ctx, "POST", v.base+"/v1/events", map[string]any{"type": "victim.ping", "data": map[string]any{}}, nil)
		var a accepted
		if ans.Code == 202 && json.Unmarshal(ans.Body, &a) == nil {
			v.mu.Lock()
			v.sent[a.ID] = at
			v.mu.Unlock()
		}
	}
}

// latencies are the victim's delivery latencies of events posted in [from, to).
func (v *victim) latencies(from, to time.Time) []time.Duration {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []time.Duration
	for _, h := range v.rcv.Requests() {
		if at, ok := v.sent[eventID(h)]; ok && !at.Before(from) && at.Before(to) && h.N == 1 {
			out = append(out, h.At.Sub(at))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func p50(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[len(ds)/2]
}

// defineChain is the attacker's template: n defines that each call the next twice.
func defineChain(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{{define "t%d"}}{{template "t%d"}}{{template "t%d"}}{{end}}`, i, i+1, i+1)
	}
	fmt.Fprintf(&b, `{{define "t%d"}}x{{end}}{{template "t0"}}`, n)
	return b.String()
}

// celConcat is the attacker's CEL: 100 KB concatenated 10×10×10 in nested maps.
const celConcat = `[event.data.s].map(a,[a+a+a+a+a+a+a+a+a+a].map(b,[b+b+b+b+b+b+b+b+b+b].map(c,c+c+c+c+c+c+c+c+c+c)[0])[0])[0]`

// TestTenantAttacks: what one ordinary key did to the platform in issue 13, as
// written, on real processes (server, worker, Temporal): each is refused when saved
// with a 400 that says why, or stopped within its bounds, while another
// workspace's events go on being delivered; the worker then stops within its grace
// with bombs in flight.
func TestTenantAttacks(t *testing.T) {
	rep := scenario(t, 9, "Tenant attacks with one ordinary key")
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	const admin = "hfk_admin_reliability_key_0123456789"
	c := newCluster(ctx, t, clusterOptions{env: []string{"HOOKFLOW_ADMIN_KEY=" + admin, "HOOKFLOW_SHUTDOWN_GRACE=5s"}})
	srv := c.add(ctx, "server", "server")
	wrk := c.add(ctx, "worker", "worker")
	base := "http://" + srv.Addr
	attacker := newAPIClient(c.key)
	var checks []string
	note := func(format string, args ...any) {
		checks = append(checks, fmt.Sprintf(format, args...))
		t.Logf(format, args...)
	}

	// Tenancy: the attacker's key makes no workspace; the operator's does.
	if ans := attacker.do(ctx, "POST", base+"/v1/workspaces", map[string]any{"name": "mine"}, nil); ans.Code != 403 {
		t.Errorf("a workspace key creating a workspace: %s, want 403", ans)
	}
	if ans := attacker.do(ctx, "POST", base+"/v1/api-keys", map[string]any{"name": "x", "workspace_name": "mine"}, nil); ans.Code != 403 {
		t.Errorf("a workspace key minting a workspace through api-keys: %s, want 403", ans)
	}
	var ws struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	newAPIClient(admin).must(ctx, t, 201, "POST", base+"/v1/workspaces", map[string]any{"name": "victim"}, &ws)
	note("workspace keys: 403 on creating a workspace")

	// The victim's traffic, measured before and during the attacks.
	rcv := testenv.NewReceiver(t)
	v := &victim{api: newAPIClient(ws.Key), base: base, rcv: rcv, sent: map[string]time.Time{}}
	v.api.must(ctx, t, 201, "POST", base+"/v1/endpoints", map[string]any{"url": rcv.URL, "event_types": []string{"victim.ping"}}, nil)
	vctx, stopVictim := context.WithCancel(ctx)
	var vwg sync.WaitGroup
	vwg.Add(1)
	go func() { defer vwg.Done(); v.run(vctx, 100*time.Millisecond) }()
	baseFrom := time.Now()
	time.Sleep(5 * time.Second)
	attackFrom := time.Now()
	cpuBefore := procCPU(t, wrk)

	refused := func(what string, body any, path string) {
		t.Helper()
		ans := attacker.do(ctx, "POST", base+path, body, nil)
		var e struct {
			Error struct{ Code, Message string }
		}
		_ = json.Unmarshal(ans.Body, &e)
		if ans.Code != 400 || e.Error.Message == "" {
			t.Errorf("%s: %s, want a 400 saying why", what, ans)
			return
		}
		note("%s: 400 %q", what, testenv.Tail(e.Error.Message, 110))
	}
	auto := func(param any) map[string]any {
		return map[string]any{"name": "bomb", "trigger": map[string]any{"event_type": "bomb.x"},
			"steps": []any{map[string]any{"id": "s", "action": "webhook.post", "params": map[string]any{"url": rcv.URL + "/never", "body": map[string]any{"x": param}}}}}
	}

	// 1. Template bombs: refused when saved.
	refused("template range over 2^63", auto("{{ range $i := 9223372036854775807 }}{{ end }}"), "/v1/automations")
	refused("template define chain (1.5 KB)", auto(defineChain(22)), "/v1/automations")
	// ... and one that can only be caught running: a range over a number the event
	// carries, run by /test and by the worker.
	var bomb struct{ ID string }
	attacker.must(ctx, t, 201, "POST", base+"/v1/automations", auto("{{ range $i := .event.data.n }}{{ end }}"), &bomb)
	start := time.Now()
	ans := attacker.do(ctx, "POST", base+"/v1/automations/"+bomb.ID+"/test",
		map[string]any{"event": map[string]any{"type": "bomb.x", "data": map[string]any{"n": int64(9223372036854775807)}}}, nil)
	if took := time.Since(start); !strings.Contains(string(ans.Body), "over the rendering limits") {
		t.Errorf("/test of a runtime template bomb: %s, want the rendering limit named", ans)
	} else {
		note("/test of a range over the event's 2^63: %d in %s, %q", ans.Code, took.Round(time.Millisecond), "over the rendering limits")
	}

	// 2. CEL string blow-up through /test and as an endpoint filter.
	s100k := strings.Repeat("s", 100_000)
	var celAuto struct{ ID string }
	attacker.must(ctx, t, 201, "POST", base+"/v1/automations", map[string]any{"name": "cel", "trigger": map[string]any{"event_type": "cel.x"},
		"steps": []any{map[string]any{"id": "s", "action": "event.emit", "params": map[string]any{"type": "cel.y", "data": map[string]any{"v": map[string]any{"$expr": "size(" + celConcat + ")"}}}}}}, &celAuto)
	start = time.Now()
	ans = attacker.do(ctx, "POST", base+"/v1/automations/"+celAuto.ID+"/test",
		map[string]any{"event": map[string]any{"type": "cel.x", "data": map[string]any{"s": s100k}}}, nil)
	if took := time.Since(start); !strings.Contains(string(ans.Body), "over the limit") {
		t.Errorf("/test of the CEL concatenation: %s, want the size limit named", ans)
	} else {
		note("/test of the CEL concatenation over 100 KB: %d in %s", ans.Code, took.Round(time.Millisecond))
	}
	attacker.must(ctx, t, 201, "POST", base+"/v1/endpoints", map[string]any{"url": rcv.URL + "/filtered",
		"event_types": []string{"cel.filter"}, "filter": "size(" + celConcat + ") > 0"}, nil)
	rssBefore := procRSS(t, wrk)
	var rssPeak int64
	sampling, stopSampling := context.WithCancel(ctx)
	var swg sync.WaitGroup
	swg.Add(1)
	go func() {
		defer swg.Done()
		for sampling.Err() == nil {
			rssPeak = max(rssPeak, procRSS(t, wrk))
			time.Sleep(20 * time.Millisecond)
		}
	}()
	var celEvent accepted
	attacker.must(ctx, t, 202, "POST", base+"/v1/events", map[string]any{"type": "cel.filter", "data": map[string]any{"s": strings.Repeat("s", 200_000)}}, &celEvent)
	testenv.EventuallyCtx(ctx, t, 30*time.Second, func() bool {
		// The event is recorded as its endpoints are matched.
		return attacker.do(ctx, "GET", base+"/v1/events/"+celEvent.ID, nil, nil).Code == 200
	}, testenv.Msg("the 200 KB event was not recorded"))
	if ans := attacker.do(ctx, "GET", base+"/v1/events/"+celEvent.ID, nil, nil); !strings.Contains(string(ans.Body), `"deliveries":[]`) {
		t.Errorf("the 200 KB event under the CEL filter: %s, want no deliveries", ans)
	}
	time.Sleep(time.Second)
	stopSampling()
	swg.Wait()
	if grew := rssPeak - rssBefore; grew > 50<<20 {
		t.Errorf("the worker grew by %d MB on the CEL filter, want under 50 MB", grew>>20)
	} else {
		note("endpoint filter with the CEL concatenation on a 200 KB event: no match, worker RSS %d → peak %d MB", rssBefore>>20, rssPeak>>20)
	}

	// 5. Unsigned data on a signed source: the GET the issue sent, with the
	// (constant) signature of the empty body.
	var gh struct{ ID, Secret string }
	attacker.must(ctx, t, 201, "POST", base+"/v1/sources", `{"name":"gh","verification":{"scheme":"github","secret":"gh-secret"},"event_type":{"path":"type"}}`, &gh)
	m := hmac.New(sha256.New, []byte("gh-secret"))
	ans = attacker.do(ctx, "GET", base+"/hooks/"+gh.ID+"?type=order.refunded&amount=1000000&customer=cus_victim", nil,
		http.Header{"X-Hub-Signature-256": {"sha256=" + hex.EncodeToString(m.Sum(nil))}, "X-Github-Delivery": {"d-1"}})
	if ans.Code != 400 || !strings.Contains(string(ans.Body), "unsigned_data") {
		t.Errorf("unsigned query data on a GitHub source: %s, want 400 unsigned_data", ans)
	} else {
		note("GET with query data on a GitHub source, signed empty body: 400 unsigned_data")
	}

	db := openDB(t, c.dsn)
	if n := queryInt(t, db, `SELECT count(*) FROM events WHERE type = 'order.refunded'`); n != 0 {
		t.Errorf("the unsigned query data was stored as %d events", n)
	}

	// 1b. The runtime template bomb in the worker, a stream of them.
	for i := range 20 {
		attacker.must(ctx, t, 202, "POST", base+"/v1/events", map[string]any{"type": "bomb.x", "data": map[string]any{"n": int64(9223372036854775807), "i": i}}, nil)
	}
	testenv.EventuallyCtx(ctx, t, time.Minute, func() bool {
		return queryInt(t, db, `SELECT count(*) FROM automation_runs WHERE automation_id = $1 AND status = 'failed'`, bomb.ID) == 20
	}, testenv.Msg("the 20 template bombs did not all fail"))
	failedWhy := queryInt(t, db, `SELECT count(*) FROM automation_runs WHERE automation_id = $1 AND error LIKE '%over the rendering limits%'`, bomb.ID)
	time.Sleep(2 * time.Second)
	cpuAttacksTo := time.Now()
	cpu := procCPU(t, wrk) - cpuBefore
	note("20 runtime template bombs in the worker: all failed for good (%d naming the rendering limits); worker CPU over the template and CEL attacks: %s", failedWhy, cpu.Round(10*time.Millisecond))

	// 3. Emit fan-out: two steps re-emitting their own trigger.
	attacker.must(ctx, t, 201, "POST", base+"/v1/automations", `{"name":"fan","trigger":{"event_type":"fan.x"},"steps":[
		{"id":"one","action":"event.emit","params":{"type":"fan.x"}},{"id":"two","action":"event.emit","params":{"type":"fan.x"}}]}`, nil)
	attacker.must(ctx, t, 202, "POST", base+"/v1/events", map[string]any{"type": "fan.x"}, nil)

	// 4. A loop through the workspace's own doorbell.
	var self struct{ ID string }
	attacker.must(ctx, t, 201, "POST", base+"/v1/sources", `{"name":"self","verification":{"scheme":"none"},"event_type":{"value":"loop.x"}}`, &self)
	attacker.must(ctx, t, 201, "POST", base+"/v1/endpoints", map[string]any{"url": base + "/hooks/" + self.ID, "event_types": []string{"loop.x"}}, nil)
	attacker.must(ctx, t, 202, "POST", base+"/v1/events", map[string]any{"type": "loop.x"}, nil)

	countType := func(typ string) int {
		return queryInt(t, db, `SELECT count(*) FROM events WHERE type = $1`, typ)
	}
	// settled waits for at least want events of typ, then for their number to hold
	// still (a slow machine's pause must not pass for the end of a chain).
	settled := func(typ string, want int) int {
		last, since := -1, time.Now()
		testenv.EventuallyCtx(ctx, t, 3*time.Minute, func() bool {
			n := countType(typ)
			if n != last {
				last, since = n, time.Now()
			}
			return n >= want && time.Since(since) > 3*time.Second
		}, func() string {
			return fmt.Sprintf("%s events: want %d and then no more", typ, want)
		})
		return last
	}
	if n := settled("fan.x", 101); n > 101 {
		t.Errorf("the fan-out made %d events, want at most 101 (the root and its budget of 100)", n)
	} else {
		note("emit fan-out (2 steps re-emitting): %d events in all (the root + its budget of 100)", n)
	}
	if n := settled("loop.x", 9); n != 9 {
		t.Errorf("the loop through /hooks made %d events, want 9 (depths 0 to 8)", n)
	} else {
		note("loop through the workspace's own /hooks: %d events (depths 0 to 8), then 400 chain_limit", n)
	}
	attackTo := time.Now()
	stopVictim()
	vwg.Wait()
	time.Sleep(2 * time.Second)
	baseLat, cpuLat, volLat := v.latencies(baseFrom, attackFrom), v.latencies(attackFrom, cpuAttacksTo), v.latencies(cpuAttacksTo, attackTo)
	if len(baseLat) == 0 || len(cpuLat) == 0 || len(volLat) == 0 {
		t.Fatalf("the victim's events were not delivered: %d before, %d and %d during", len(baseLat), len(cpuLat), len(volLat))
	}
	// Noise on a 2-core machine running Temporal, Postgres, the server and the
	// worker: a tenth of a second on the median, against the 1.7–4.9 s the issue
	// measured under one template bomb.
	if p50(cpuLat) > p50(baseLat)+100*time.Millisecond {
		t.Errorf("another workspace's median event-to-delivery went from %s to %s during the template and CEL attacks", p50(baseLat), p50(cpuLat))
	}
	note("another workspace's event-to-delivery p50: %s before, %s during the template and CEL attacks, %s while the fan-out and the loop spent their budgets (%d, %d and %d events)",
		p50(baseLat).Round(time.Millisecond), p50(cpuLat).Round(time.Millisecond), p50(volLat).Round(time.Millisecond), len(baseLat), len(cpuLat), len(volLat))

	// The worker stops within its grace with template bombs in flight.
	for i := range 40 {
		attacker.do(ctx, "POST", base+"/v1/events", map[string]any{"type": "bomb.x", "data": map[string]any{"n": int64(9223372036854775807), "j": i}}, nil)
	}
	stopAt := time.Now()
	wrk.Signal(syscall.SIGTERM, 5*time.Second+3*time.Second)
	note("worker SIGTERM with 40 bombs just sent: exited in %s (grace 5 s)", time.Since(stopAt).Round(10*time.Millisecond))

	rep.Sent = "–"
	rep.Acked = "–"
	rep.Delivered, rep.Lost, rep.Duplicates = "n/a", "n/a", "n/a"
	rep.Checks = strings.Join(checks, "; ")
}
