package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/hookflow/hookflow/internal/config"
	"github.com/hookflow/hookflow/internal/devstack"
	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/internal/metrics"
	"github.com/hookflow/hookflow/internal/secretbox"
	"github.com/hookflow/hookflow/internal/store"
	"github.com/hookflow/hookflow/internal/testenv"
	"github.com/hookflow/hookflow/models"
	"github.com/hookflow/hookflow/workflows"
)

// temporalAddr is the embedded Temporal server shared by this package's tests (one
// server per package; every test gets its own task queue and database).
var temporalAddr string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "hookflow-temporal-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// On a data dir, as `hookflow dev` runs it, rather than testenv's in-memory
	// default.
	ts, stop, err := testenv.StartTemporal(
		testenv.WithSearchAttributes(workflows.SearchAttributes()),
		testenv.WithServerLogLevel(slog.LevelError),
		func(o *devstack.Options) { o.DataDir = dir })
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stop()
	temporalAddr = ts.FrontendAddr()
	return m.Run()
}

// stack is one test's hookflow: API, worker and store on a fresh Postgres database,
// its own task queue on the shared Temporal server.
type stack struct {
	t      *testing.T
	cfg    *config.Config
	store  *store.Store
	client client.Client
	api    *httptest.Server
	key    string
	// adminKey is the operator's HOOKFLOW_ADMIN_KEY.
	adminKey string
	logger   *slog.Logger
	metrics  *metrics.Metrics
	mu       sync.Mutex
	worker   worker.Worker
	running  bool
}

// testEncryptionKey seals the secrets of every test stack.
var testEncryptionKey = secretbox.Generate()

type stackOption func(*config.Config)

func withSchedule(s string) stackOption {
	return func(c *config.Config) {
		var err error
		if c.RetrySchedule, err = config.ParseSchedule(s); err != nil {
			panic(err)
		}
	}
}

func newStack(t *testing.T, opts ...stackOption) *stack {
	t.Helper()
	return newStackLogging(t, nil, opts...)
}

// newStackLogging is newStack with every log line of its processes, debug
// level up, written to logs (when not nil).
func newStackLogging(t *testing.T, logs io.Writer, opts ...stackOption) *stack {
	t.Helper()
	ctx := context.Background()
	dsn := testenv.NewPostgres(t)
	key := "hfk_test_" + ids.New("k")
	adminKey := "admin_test_" + ids.New("adm")
	cfg, err := config.Load(config.RoleServer, func(k string) string {
		return map[string]string{
			"DATABASE_URL":            dsn,
			"TEMPORAL_ADDRESS":        temporalAddr,
			"HOOKFLOW_TASK_QUEUE":     "test-" + ids.New("tq"),
			"HOOKFLOW_RETRY_SCHEDULE": "0s,200ms,400ms",
			"HOOKFLOW_ALLOWED_CIDRS":  "127.0.0.0/8",
			"HOOKFLOW_API_KEY":        key,
			"HOOKFLOW_ADMIN_KEY":      adminKey,
			"HOOKFLOW_SHUTDOWN_GRACE": "5s",
			"HOOKFLOW_ENCRYPTION_KEY": testEncryptionKey,
			// Tests poll hard; TestRateLimits turns the limits on.
			"HOOKFLOW_API_RATE_LIMIT":    "0",
			"HOOKFLOW_SOURCE_RATE_LIMIT": "0",
		}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range opts {
		o(cfg)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if logs != nil {
		logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	} else if lvl := os.Getenv("HOOKFLOW_TEST_LOG"); lvl != "" {
		var l slog.Level
		_ = l.UnmarshalText([]byte(lvl))
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
	}
	// The same start as `dev`, `server` and `worker`.
	proc, err := openProcess(ctx, cfg, logger, openOptions{migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proc.close)
	st, c, m := proc.store, proc.client, proc.metrics
	if err := ensureAPIKey(ctx, st, key); err != nil {
		t.Fatal(err)
	}
	srv, err := newAPIServer(proc, false)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler)
	t.Cleanup(hs.Close)
	s := &stack{t: t, cfg: cfg, store: st, client: c, api: hs, key: key, adminKey: adminKey, logger: logger, metrics: m}
	s.startWorker()
	t.Cleanup(s.stopWorker)
	return s
}

func (s *stack) startWorker() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return
	}
	w, err := newWorker(&process{cfg: s.cfg, logger: s.logger, store: s.store, client: s.client, metrics: s.metrics})
	if err != nil {
		s.t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.worker, s.running = w, true
}

func (s *stack) stopWorker() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		s.worker.Stop()
		s.running = false
	}
}

// do sends a request to the API with the stack's key and decodes the JSON answer.
func (s *stack) do(method, path string, body any, out any) int {
	s.t.Helper()
	return s.doKey(s.key, method, path, body, out)
}

func (s *stack) doKey(key, method, path string, body any, out any) int {
	s.t.Helper()
	return callAPI(s.t, key, method, s.api.URL+path, body, out)
}

// callAPI sends body (a string as is, anything else as JSON) to url with key
// (none when empty) and decodes the JSON answer into out when out is not nil.
func callAPI(t testing.TB, key, method, url string, body any, out any) int {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, url, raw, err)
		}
	}
	return resp.StatusCode
}

// newWorkspace has the operator make a workspace; it returns its id and first key.
func (s *stack) newWorkspace(name string) (id, key string) {
	s.t.Helper()
	var ws struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	if code := s.doKey(s.adminKey, "POST", "/v1/workspaces", map[string]any{"name": name}, &ws); code != http.StatusCreated || ws.Key == "" {
		s.t.Fatalf("create workspace %q: status %d", name, code)
	}
	return ws.ID, ws.Key
}

type endpointCreated struct {
	models.Endpoint
	Secret string `json:"secret"`
}

func (s *stack) createEndpoint(url string, types ...string) endpointCreated {
	s.t.Helper()
	if len(types) == 0 {
		types = []string{"*"}
	}
	var ep endpointCreated
	if code := s.do("POST", "/v1/endpoints", map[string]any{"url": url, "event_types": types}, &ep); code != http.StatusCreated {
		s.t.Fatalf("create endpoint: status %d", code)
	}
	return ep
}

type accepted struct {
	ID        string `json:"id"`
	Duplicate bool   `json:"duplicate"`
}

// eventWorkflowID is the ID of the workflow that took event id in: its batch's,
// or its own EventWorkflow's when it was accepted alone (which records it, so
// this waits for that).
func (s *stack) eventWorkflowID(id string) string {
	s.t.Helper()
	var ev *models.Event
	var err error
	testenv.Eventually(s.t, 20*time.Second, func() bool {
		ev, err = s.store.GetEvent(context.Background(), models.DefaultWorkspaceID, id)
		return err == nil
	}, func() string { return fmt.Sprintf("event %s recorded (%v)", id, err) })
	if ev.BatchID != "" {
		return workflows.BatchWorkflowID(ev.WorkspaceID, ev.BatchID)
	}
	return workflows.EventWorkflowID(ev.WorkspaceID, ev.DedupKey)
}

// waitListed waits until the visibility query lists workflow id, as the Web UI
// would show it.
func (s *stack) waitListed(query, id string) {
	s.t.Helper()
	var err error
	testenv.Eventually(s.t, 20*time.Second, func() bool {
		var resp *workflowservice.ListWorkflowExecutionsResponse
		if resp, err = s.client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query}); err != nil {
			return false
		}
		for _, e := range resp.Executions {
			if e.Execution.WorkflowId == id {
				return true
			}
		}
		return false
	}, func() string { return fmt.Sprintf("workflow %s listed by %s (err %v)", id, query, err) })
}

// unbatched turns micro-batching off: one EventWorkflow per event.
func unbatched(c *config.Config) { c.BatchMax = 1 }

func (s *stack) sendEvent(body map[string]any) accepted {
	s.t.Helper()
	var a accepted
	if code := s.do("POST", "/v1/events", body, &a); code != http.StatusAccepted {
		s.t.Fatalf("post event: status %d", code)
	}
	return a
}

type eventDetail struct {
	models.Event
	WorkflowID string            `json:"workflow_id"`
	Deliveries []models.Delivery `json:"deliveries"`
}

// waitDeliveries polls the event until it has n deliveries that are all finished.
func (s *stack) waitDeliveries(eventID string, n int, timeout time.Duration) []models.Delivery {
	s.t.Helper()
	var ev eventDetail
	code := 0
	testenv.Eventually(s.t, timeout, func() bool {
		ev = eventDetail{}
		if code = s.do("GET", "/v1/events/"+eventID, nil, &ev); code != http.StatusOK || len(ev.Deliveries) != n {
			return false
		}
		for _, d := range ev.Deliveries {
			if d.Status == models.DeliveryPending {
				return false
			}
		}
		return true
	}, func() string {
		return fmt.Sprintf("event %s (last answer %d): deliveries %+v finished (want %d)", eventID, code, ev.Deliveries, n)
	})
	return ev.Deliveries
}

func (s *stack) delivery(id string) models.Delivery {
	s.t.Helper()
	var d models.Delivery
	if code := s.do("GET", "/v1/deliveries/"+id, nil, &d); code != http.StatusOK {
		s.t.Fatalf("get delivery %s: status %d", id, code)
	}
	return d
}
