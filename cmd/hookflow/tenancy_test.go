package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookflow/hookflow/api"
	"github.com/hookflow/hookflow/internal/config"
	"github.com/hookflow/hookflow/internal/rules"
	"github.com/hookflow/hookflow/internal/testenv"
	"github.com/hookflow/hookflow/models"
	"github.com/hookflow/hookflow/workflows"
)

// TestWorkspacesAreMadeByTheOperator: a workspace key cannot make a workspace (403,
// on either route that once or now does it), the admin key can, and the new
// workspace's key works and sees only its own workspace. The admin key is no
// workspace's key.
func TestWorkspacesAreMadeByTheOperator(t *testing.T) {
	s := newStack(t)
	ep := s.createEndpoint("https://example.com/default")

	for _, tt := range []struct {
		name, key, method, path string
		body                    any
		want                    int
		wantCode, wantIn        string
	}{
		{"workspace key creates a workspace", s.key, "POST", "/v1/workspaces", `{"name":"Mine"}`, 403, "forbidden", "hookflow workspace create"},
		{"workspace key lists workspaces", s.key, "GET", "/v1/workspaces", nil, 403, "forbidden", "operator"},
		{"no key on the admin route", "", "POST", "/v1/workspaces", `{"name":"Mine"}`, 401, "unauthorized", "Bearer"},
		{"wrong key on the admin route", "hfk_nope", "POST", "/v1/workspaces", `{"name":"Mine"}`, 401, "unauthorized", "HOOKFLOW_ADMIN_KEY"},
		{"api key for a new workspace", s.key, "POST", "/v1/api-keys", `{"name":"x","workspace_name":"Mine"}`, 403, "forbidden", "POST /v1/workspaces"},
		{"api key for another workspace", s.key, "POST", "/v1/api-keys", `{"name":"x","workspace_id":"ws_01kaz3v0y6m2x8f4hn9q7r5t1c"}`, 403, "forbidden", "own workspace"},
		{"admin key on a workspace route", s.adminKey, "GET", "/v1/endpoints", nil, 403, "forbidden", "admin key"},
		{"admin key creating a workspace key", s.adminKey, "POST", "/v1/api-keys", `{"name":"x"}`, 403, "forbidden", "admin key"},
		{"workspace without a name", s.adminKey, "POST", "/v1/workspaces", `{"name":" "}`, 400, "invalid_request", "name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var e apiError
			if code := s.doKey(tt.key, tt.method, tt.path, tt.body, &e); code != tt.want || e.Error.Code != tt.wantCode || !strings.Contains(e.Error.Message, tt.wantIn) {
				t.Errorf("%d %+v; want %d %s mentioning %q", code, e.Error, tt.want, tt.wantCode, tt.wantIn)
			}
		})
	}
	var keys struct{ Data []models.APIKey }
	if s.do("GET", "/v1/api-keys", nil, &keys); len(keys.Data) != 1 {
		t.Errorf("default workspace has %d keys after refused creates, want 1", len(keys.Data))
	}
	if code := s.do("POST", "/v1/api-keys", map[string]any{"name": "own", "workspace_id": models.DefaultWorkspaceID}, nil); code != http.StatusCreated {
		t.Errorf("key for the caller's own workspace_id: %d, want 201", code)
	}

	var ws struct {
		models.Workspace
		APIKey models.APIKey `json:"api_key"`
		Key    string        `json:"key"`
	}
	if code := s.doKey(s.adminKey, "POST", "/v1/workspaces", `{"name":"Acme"}`, &ws); code != http.StatusCreated {
		t.Fatalf("admin creates a workspace: %d", code)
	}
	if !strings.HasPrefix(ws.ID, "ws_") || ws.Name != "Acme" || !strings.HasPrefix(ws.Key, "hfk_") || ws.APIKey.WorkspaceID != ws.ID || !strings.HasPrefix(ws.APIKey.ID, "key_") {
		t.Fatalf("created %+v", ws)
	}
	var eps struct{ Data []models.Endpoint }
	if code := s.doKey(ws.Key, "GET", "/v1/endpoints", nil, &eps); code != http.StatusOK || len(eps.Data) != 0 {
		t.Errorf("new workspace's endpoints: %d with %d, want 200 and none (the default has %s)", code, len(eps.Data), ep.ID)
	}
	if code := s.doKey(ws.Key, "GET", "/v1/endpoints/"+ep.ID, nil, nil); code != http.StatusNotFound {
		t.Errorf("new workspace's key on the default's endpoint: %d, want 404", code)
	}
	keys.Data = nil
	if code := s.doKey(ws.Key, "GET", "/v1/api-keys", nil, &keys); code != http.StatusOK || len(keys.Data) != 1 || keys.Data[0].ID != ws.APIKey.ID {
		t.Errorf("new workspace's keys: %d %+v, want only its first key", code, keys.Data)
	}
	var list struct{ Data []models.Workspace }
	if code := s.doKey(s.adminKey, "GET", "/v1/workspaces", nil, &list); code != http.StatusOK || len(list.Data) != 2 {
		t.Errorf("admin lists workspaces: %d %+v, want the default and Acme", code, list.Data)
	}

	// Without HOOKFLOW_ADMIN_KEY the route says where workspaces come from instead.
	env, _ := rules.NewEnv()
	noAdmin := httptest.NewServer(api.New(s.store, nil, newGuard(s.cfg), env, nil, api.Config{}).Handler())
	defer noAdmin.Close()
	req, _ := http.NewRequest("POST", noAdmin.URL+"/v1/workspaces", strings.NewReader(`{"name":"x"}`))
	req.Header.Set("Authorization", "Bearer "+s.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var e apiError
	decodeJSON(t, resp, &e)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(e.Error.Message, "HOOKFLOW_ADMIN_KEY is not set") {
		t.Errorf("no admin API: %d %+v, want 403 saying HOOKFLOW_ADMIN_KEY is not set", resp.StatusCode, e)
	}
}

// TestWorkspaceCLI: `hookflow workspace create` against DATABASE_URL prints the new
// workspace's id and a key that works at once, for that workspace only; `list`
// shows it.
func TestWorkspaceCLI(t *testing.T) {
	s := newStack(t)
	env := envMap(map[string]string{"DATABASE_URL": s.cfg.DatabaseURL})
	ctx := context.Background()
	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"workspace", "create"}, &out, &errOut, env); code != 2 || !strings.Contains(out.String(), "--name is required") {
		t.Errorf("create without --name: exit %d, %q", code, out.String())
	}
	out.Reset()
	if code := run(ctx, []string{"workspace", "create", "--name", "Acme"}, &out, &errOut, env); code != 0 {
		t.Fatalf("workspace create: exit %d: %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	key := lines[len(lines)-1]
	var wsID string
	if _, err := fmt.Sscanf(lines[0], "created workspace %s", &wsID); err != nil || !strings.HasPrefix(wsID, "ws_") || !strings.HasPrefix(key, "hfk_") {
		t.Fatalf("output %q: want the workspace id and the key on the last line", out.String())
	}
	var keys struct{ Data []models.APIKey }
	if code := s.doKey(key, "GET", "/v1/api-keys", nil, &keys); code != http.StatusOK || len(keys.Data) != 1 || keys.Data[0].WorkspaceID != wsID {
		t.Errorf("the printed key: %d %+v, want it to be %s's only key", code, keys.Data, wsID)
	}
	out.Reset()
	if code := run(ctx, []string{"workspace", "list"}, &out, &errOut, env); code != 0 || !strings.Contains(out.String(), wsID) || !strings.Contains(out.String(), "Acme") || !strings.Contains(out.String(), models.DefaultWorkspaceID) {
		t.Errorf("workspace list: exit %d, %q", code, out.String())
	}
}

func withQuotas(q config.Quotas) stackOption {
	return func(c *config.Config) { c.Quotas = q }
}

// TestQuotas: each quota refuses the next create with 409 quota_exceeded naming the
// quota and its setting; deleting (or revoking) one makes room; another workspace
// has its own.
func TestQuotas(t *testing.T) {
	s := newStack(t, withQuotas(config.Quotas{Endpoints: 2, Automations: 2, Sources: 2, APIKeys: 2}))
	auto := `{"name":"a","trigger":{"event_type":"a.b"},"steps":[{"id":"e","action":"event.emit","params":{"type":"a.c"}}]}`
	src := `{"name":"s","verification":{"scheme":"none"},"event_type":{"value":"x.y"}}`
	for _, tt := range []struct {
		name, path, body, env, noun string
		existing                    int // made before the test: the HOOKFLOW_API_KEY
		remove                      func(id string) string
	}{
		{"endpoints", "/v1/endpoints", `{"url":"https://example.com/h","event_types":["*"]}`, "HOOKFLOW_QUOTA_ENDPOINTS", "2 endpoints", 0, nil},
		{"automations", "/v1/automations", auto, "HOOKFLOW_QUOTA_AUTOMATIONS", "2 automations", 0, nil},
		{"sources", "/v1/sources", src, "HOOKFLOW_QUOTA_SOURCES", "2 sources", 0, nil},
		{"api keys", "/v1/api-keys", `{"name":"k"}`, "HOOKFLOW_QUOTA_API_KEYS", "2 active API keys", 1, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var last struct{ ID string }
			for i := tt.existing; i < 2; i++ {
				if code := s.do("POST", tt.path, tt.body, &last); code != http.StatusCreated {
					t.Fatalf("create %d of 2: %d", i+1, code)
				}
			}
			var e apiError
			if code := s.do("POST", tt.path, tt.body, &e); code != http.StatusConflict || e.Error.Code != "quota_exceeded" ||
				!strings.Contains(e.Error.Message, tt.env) || !strings.Contains(e.Error.Message, "this workspace has "+tt.noun) {
				t.Fatalf("create over the quota: %d %+v; want 409 quota_exceeded naming %s", code, e.Error, tt.env)
			}
			if code := s.do("DELETE", tt.path+"/"+last.ID, nil, nil); code != http.StatusNoContent {
				t.Fatalf("delete %s: %d", last.ID, code)
			}
			if code := s.do("POST", tt.path, tt.body, nil); code != http.StatusCreated {
				t.Errorf("create after deleting one: %d, want 201", code)
			}
		})
	}
	_, other := s.newWorkspace("other")
	if code := s.doKey(other, "POST", "/v1/endpoints", `{"url":"https://example.com/h","event_types":["*"]}`, nil); code != http.StatusCreated {
		t.Errorf("another workspace's first endpoint: %d, want 201 (quotas are per workspace)", code)
	}
}

// gatedEngine holds every RetryDelivery until release is closed, so a recover is
// caught in the middle.
type gatedEngine struct {
	api.Engine
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (g *gatedEngine) RetryDelivery(ctx context.Context, d models.Delivery) error {
	g.once.Do(func() { close(g.entered) })
	<-g.release
	return g.Engine.RetryDelivery(ctx, d)
}

type recoverAnswer struct {
	Recovered  int     `json:"recovered"`
	More       bool    `json:"more"`
	NextCursor *string `json:"next_cursor"`
}

// failedDeliveries sends n events to an endpoint that answers 400 and waits for
// their deliveries to fail for good.
func (s *stack) failedDeliveries(n int) (endpointID string, rcv *testenv.Receiver) {
	s.t.Helper()
	rcv = testenv.NewReceiver(s.t, 400)
	ep := s.createEndpoint(rcv.URL, "order.placed")
	for range n {
		ev := s.sendEvent(map[string]any{"type": "order.placed"})
		if d := s.waitDeliveries(ev.ID, 1, 20*time.Second)[0]; d.Status != models.DeliveryFailed {
			s.t.Fatalf("delivery %+v, want failed", d)
		}
	}
	return ep.ID, rcv
}

// TestRecoverOneAtATime: while one server is in the middle of recovering an
// endpoint, a recover of it on another server answers 409 recover_in_progress; once
// the first has answered, the endpoint can be recovered again.
func TestRecoverOneAtATime(t *testing.T) {
	s := newStack(t)
	epID, _ := s.failedDeliveries(2)
	gate := &gatedEngine{Engine: workflows.NewStarter(s.client, s.cfg.TaskQueue), entered: make(chan struct{}), release: make(chan struct{})}
	env, _ := rules.NewEnv()
	serverA := httptest.NewServer(api.New(s.store, gate, newGuard(s.cfg), env, nil, api.Config{}).Handler())
	defer serverA.Close()

	body := `{"since":"2020-01-01T00:00:00Z"}`
	path := "/v1/endpoints/" + epID + "/recover"
	type answer struct {
		code int
		body recoverAnswer
		err  error
	}
	first := make(chan answer, 1)
	go func() {
		// No t.Fatal off the test's goroutine: the answer goes back to it.
		req, _ := http.NewRequest("POST", serverA.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+s.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			first <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		var a answer
		a.code, a.err = resp.StatusCode, json.NewDecoder(resp.Body).Decode(&a.body)
		first <- a
	}()
	select {
	case <-gate.entered:
	case <-time.After(20 * time.Second):
		t.Fatal("the first recover never started a delivery")
	}
	var e apiError
	if code := callAPI(t, s.key, "POST", s.api.URL+path, body, &e); code != http.StatusConflict || e.Error.Code != "recover_in_progress" || !strings.Contains(e.Error.Message, epID) {
		t.Errorf("second recover on another server during the first: %d %+v, want 409 recover_in_progress", code, e.Error)
	}
	close(gate.release)
	if a := <-first; a.err != nil || a.code != http.StatusAccepted || a.body.Recovered != 2 || a.body.More {
		t.Errorf("first recover answered %d %+v (%v), want 202 with 2 and no more", a.code, a.body, a.err)
	}
	var again recoverAnswer
	if code := callAPI(t, s.key, "POST", s.api.URL+path, body, &again); code != http.StatusAccepted {
		t.Errorf("recover after the first answered: %d, want 202 (the lease is released)", code)
	}
}

// TestRecoverIsBounded: a call recovers at most MaxRecover deliveries and says more
// remain; the next call, from next_cursor, recovers only the rest, not the ones the
// first call started that failed again.
func TestRecoverIsBounded(t *testing.T) {
	s := newStack(t)
	epID, rcv := s.failedDeliveries(3)
	env, _ := rules.NewEnv()
	srv := httptest.NewServer(api.New(s.store, workflows.NewStarter(s.client, s.cfg.TaskQueue), newGuard(s.cfg), env, nil, api.Config{MaxRecover: 2}).Handler())
	defer srv.Close()
	path := "/v1/endpoints/" + epID + "/recover"

	var a recoverAnswer
	if code := callAPI(t, s.key, "POST", srv.URL+path, `{"since":"2020-01-01T00:00:00Z"}`, &a); code != http.StatusAccepted || a.Recovered != 2 || !a.More || a.NextCursor == nil {
		t.Fatalf("first call: %d %+v, want 2 recovered and more with a next_cursor", code, a)
	}
	// Let the two fail again, so a walk from the start would find them.
	testenv.Until(20*time.Second, func() bool { return len(rcv.Requests()) >= 5 })
	time.Sleep(500 * time.Millisecond)
	var b recoverAnswer
	if code := callAPI(t, s.key, "POST", srv.URL+path, fmt.Sprintf(`{"since":"2020-01-01T00:00:00Z","cursor":%q}`, *a.NextCursor), &b); code != http.StatusAccepted || b.Recovered != 1 || b.More || b.NextCursor != nil {
		t.Errorf("second call from next_cursor: %d %+v, want 1 recovered, no more, next_cursor null", code, b)
	}
	var e apiError
	if code := callAPI(t, s.key, "POST", srv.URL+path, `{"since":"2020-01-01T00:00:00Z","cursor":"nope"}`, &e); code != http.StatusBadRequest || !strings.Contains(e.Error.Message, "cursor") {
		t.Errorf("bad cursor: %d %+v, want 400 naming cursor", code, e.Error)
	}
}

// TestRedemptionIdempotencyKeyReused: the same Idempotency-Key for the same
// customer and points answers the first redemption (duplicate); for another
// customer or amount it is refused with 409 idempotency_key_reused naming what
// differs, and nothing is spent. Points must be a JSON whole number.
func TestRedemptionIdempotencyKeyReused(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	for _, cus := range []string{"cus_1", "cus_2"} {
		if _, err := s.store.ApplyPoints(ctx, models.DefaultWorkspaceID, cus, "", 100, "seed", "seed:"+cus, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	redeem := func(customer, body string, out any) int {
		t.Helper()
		req, _ := http.NewRequest("POST", s.api.URL+"/v1/loyalty/members/"+customer+"/redemptions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+s.key)
		req.Header.Set("Idempotency-Key", "r-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		decodeJSON(t, resp, out)
		return resp.StatusCode
	}
	var first, dup struct {
		Duplicate bool `json:"duplicate"`
		Balance   int64
		Entry     models.LedgerEntry
	}
	if code := redeem("cus_1", `{"points":10,"reward":"mug"}`, &first); code != http.StatusCreated || first.Duplicate || first.Balance != 90 {
		t.Fatalf("first redemption: %d %+v", code, first)
	}
	if code := redeem("cus_1", `{"points":10,"reward":"mug"}`, &dup); code != http.StatusCreated || !dup.Duplicate || dup.Entry.ID != first.Entry.ID {
		t.Errorf("same request again: %d %+v, want the first entry, duplicate", code, dup)
	}
	for _, tt := range []struct {
		name, customer, body, wantCode, wantIn string
		want                                   int
	}{
		{"another customer", "cus_2", `{"points":10,"reward":"mug"}`, "idempotency_key_reused", `customer_id "cus_1" (this request: "cus_2")`, 409},
		{"another amount", "cus_1", `{"points":20,"reward":"mug"}`, "idempotency_key_reused", "points 10 (this request: 20)", 409},
		{"points as a string", "cus_1", `{"points":"10","reward":"mug"}`, "invalid_request", "points", 400},
		{"points with an exponent", "cus_1", `{"points":1e1,"reward":"mug"}`, "invalid_request", "points", 400},
		{"points with a fraction", "cus_1", `{"points":10.5,"reward":"mug"}`, "invalid_request", "points", 400},
	} {
		var e apiError
		if code := redeem(tt.customer, tt.body, &e); code != tt.want || e.Error.Code != tt.wantCode || !strings.Contains(e.Error.Message, tt.wantIn) {
			t.Errorf("%s: %d %+v; want %d %s naming %s", tt.name, code, e.Error, tt.want, tt.wantCode, tt.wantIn)
		}
	}
	if m := s.member("cus_1"); m.Balance != 90 {
		t.Errorf("cus_1 balance %d, want 90 (spent once)", m.Balance)
	}
	if m := s.member("cus_2"); m.Balance != 100 {
		t.Errorf("cus_2 balance %d, want 100 (nothing spent)", m.Balance)
	}
}
