package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/apikeys"
	"github.com/hookflow/hookflow/models"
)

// testKey is the API key every fake-backed request carries; it belongs to testWS.
const (
	testKey = "hfk_test"
	testWS  = "ws_test"
)

// errOutage is a store or engine that does not answer.
var errOutage = errors.New("connection refused")

// fakeStore holds what the intake routes read, in memory. Methods it does not
// implement panic through the nil FullStore, so a test shows what a handler
// touches.
type fakeStore struct {
	FullStore
	mu          sync.Mutex
	events      map[string]models.Event // by dedup key
	sources     map[string]models.Source
	automations map[string]models.Automation
	budget      map[string]int
	// keys are the API keys by hash; testKey is one of them.
	keys       map[string]models.APIKey
	workspaces map[string]models.Workspace
	// down makes every lookup but the API key's fail as an unreachable database
	// does; keysDown fails the API key's and the key writes.
	down, keysDown bool
}

func newFakeStore() *fakeStore {
	h := apikeys.Hash(testKey)
	return &fakeStore{events: map[string]models.Event{}, sources: map[string]models.Source{},
		automations: map[string]models.Automation{}, budget: map[string]int{},
		keys: map[string]models.APIKey{h: {ID: "key_1", WorkspaceID: testWS, Hash: h}}, workspaces: map[string]models.Workspace{}}
}

func (f *fakeStore) APIKeyByHash(_ context.Context, hash string) (*models.APIKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.keysDown {
		// As the store answers when the database does not.
		return nil, fmt.Errorf("api key: %w: %w", models.ErrUnavailable, errOutage)
	}
	k, ok := f.keys[hash]
	if !ok {
		return nil, models.ErrNotFound
	}
	return &k, nil
}

func (f *fakeStore) EventByDedupKey(_ context.Context, ws, key string) (*models.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errOutage
	}
	ev, ok := f.events[key]
	if !ok || ev.WorkspaceID != ws {
		return nil, models.ErrNotFound
	}
	return &ev, nil
}

func (f *fakeStore) ReserveChainEvent(_ context.Context, root string, limit int, _ time.Time) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.budget[root] >= limit {
		return false, nil
	}
	f.budget[root]++
	return true, nil
}

func (f *fakeStore) SourceByID(_ context.Context, id string) (*models.Source, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errOutage
	}
	src, ok := f.sources[id]
	if !ok {
		return nil, models.ErrNotFound
	}
	return &src, nil
}

func (f *fakeStore) GetAutomation(_ context.Context, ws, id string) (*models.Automation, error) {
	a, ok := f.automations[id]
	if !ok || a.WorkspaceID != ws {
		return nil, models.ErrNotFound
	}
	return &a, nil
}

// fakeEngine records the events started; startErr fails every start.
type fakeEngine struct {
	Engine
	mu       sync.Mutex
	started  []models.Event
	startErr error
}

func (e *fakeEngine) StartEvent(_ context.Context, ev models.Event, _ string) (string, bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.startErr != nil {
		return "", false, e.startErr
	}
	e.started = append(e.started, ev)
	return ev.ID, false, nil
}

func (e *fakeEngine) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.started)
}

// fakeServer is the API over fakes, as the handler tests use it.
func fakeServer(st *fakeStore, eng *fakeEngine) http.Handler {
	return New(st, eng, nil, nil, nil, Config{KnownAction: func(a string) bool { return a == "slack.post" }}).Handler()
}

// call sends one request with the test key and returns the status and body.
func call(t *testing.T, h http.Handler, method, path, body string, header map[string]string) (int, string) {
	t.Helper()
	r := httpRequest(method, path, body, "Bearer "+testKey)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := serve(h, r)
	return w.Code, w.Body.String()
}

// httpRequest is a request with the Authorization header auth (none when empty).
func httpRequest(method, path, body, auth string) *http.Request {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}
