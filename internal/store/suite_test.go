package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/secretbox"
	"github.com/hookflow/hookflow/internal/testenv"
	"github.com/hookflow/hookflow/models"
)

// backends runs a test on a fresh, migrated database of each kind.
func backends(t *testing.T, fn func(t *testing.T, s *Store)) {
	t.Helper()
	for _, b := range []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"postgres", func(t *testing.T) string { return testenv.NewPostgres(t) }},
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "app.db") }},
	} {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s, err := Open(ctx, b.dsn(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			s.UseKeyring(testKeyring(t, testKey))
			if _, err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			fn(t, s)
		})
	}
}

// testKey is the suite's encryption key.
var testKey = secretbox.Generate()

func testKeyring(t *testing.T, keys string) *secretbox.Keyring {
	t.Helper()
	kr, err := secretbox.Parse(keys)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 123456000, time.FixedZone("CET", 3600))

func endpoint(ws, id string, types ...string) *models.Endpoint {
	exp := t0.Add(time.Hour)
	return &models.Endpoint{ID: id, WorkspaceID: ws, URL: "https://example.com/" + id, EventTypes: types, Enabled: true,
		Secrets:   []models.Secret{{Value: "whsec_old", CreatedAt: t0, ExpiresAt: &exp}, {Value: "whsec_new", CreatedAt: t0}},
		CreatedAt: t0, UpdatedAt: t0}
}

func TestMigrate(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		again, err := s.Migrate(ctx)
		if err != nil || len(again) != 0 {
			t.Errorf("second Migrate = %v, %v; want nothing to do", again, err)
		}
		if err := s.CheckMigrated(ctx); err != nil {
			t.Errorf("CheckMigrated after Migrate: %v", err)
		}
		if _, err := s.GetWorkspace(ctx, models.DefaultWorkspaceID); err != nil {
			t.Errorf("default workspace: %v", err)
		}
	})
}

func TestCheckMigratedOnFreshDatabase(t *testing.T) {
	ctx := context.Background()
	for name, dsn := range map[string]string{
		"postgres": testenv.NewPostgres(t),
		"sqlite":   "sqlite:" + filepath.Join(t.TempDir(), "fresh.db"),
	} {
		s, err := Open(ctx, dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = s.CheckMigrated(ctx)
		if !errors.Is(err, ErrNotMigrated) || !containsAll(err.Error(), "version 0", "hookflow migrate") {
			t.Errorf("%s: CheckMigrated = %v, want ErrNotMigrated saying to run hookflow migrate", name, err)
		}
		s.Close()
	}
}

func TestConcurrentMigrate(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.NewPostgres(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	applied := make([][]int, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(ctx, dsn, nil)
			if err != nil {
				errs[i] = err
				return
			}
			defer s.Close()
			applied[i], errs[i] = s.Migrate(ctx)
		}()
	}
	wg.Wait()
	counts := map[int]int{}
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrate %d: %v", i, err)
		}
		for _, v := range applied[i] {
			counts[v]++
		}
	}
	for v, n := range counts {
		if n != 1 {
			t.Errorf("migration %d applied %d times, want once", v, n)
		}
	}
	if counts[1] != 1 {
		t.Errorf("migration 1 applied %d times, want once", counts[1])
	}
}

func TestEndpoints(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		other := &models.Workspace{ID: "ws_other", Name: "Other", CreatedAt: t0}
		if err := s.CreateWorkspace(ctx, other); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 5; i++ {
			if err := s.CreateEndpoint(ctx, endpoint(models.DefaultWorkspaceID, fmt.Sprintf("ep_%d", i), "order.placed")); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CreateEndpoint(ctx, endpoint(models.DefaultWorkspaceID, "ep_1", "x")); !errors.Is(err, models.ErrConflict) {
			t.Errorf("duplicate id: %v, want ErrConflict", err)
		}
		got, err := s.GetEndpoint(ctx, models.DefaultWorkspaceID, "ep_1")
		if err != nil {
			t.Fatal(err)
		}
		want := endpoint(models.DefaultWorkspaceID, "ep_1", "order.placed")
		if got.CreatedAt != t0.UTC().Truncate(time.Microsecond) || got.CreatedAt.Location() != time.UTC {
			t.Errorf("created_at = %v, want %v in UTC", got.CreatedAt, t0.UTC())
		}
		if len(got.Secrets) != 2 || got.Secrets[1].Value != "whsec_new" || got.Secrets[0].ExpiresAt == nil ||
			!got.Secrets[0].ExpiresAt.Equal(*want.Secrets[0].ExpiresAt) {
			t.Errorf("secrets = %+v", got.Secrets)
		}

		// Paging.
		var ids []string
		cursor := ""
		for {
			page, next, err := s.ListEndpoints(ctx, models.DefaultWorkspaceID, models.Page{Cursor: cursor, Limit: 2})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page {
				ids = append(ids, e.ID)
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if fmt.Sprint(ids) != "[ep_1 ep_2 ep_3 ep_4 ep_5]" {
			t.Errorf("paged ids = %v", ids)
		}

		// Another workspace sees nothing.
		if _, err := s.GetEndpoint(ctx, "ws_other", "ep_1"); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("other workspace get: %v, want ErrNotFound", err)
		}
		e := endpoint("ws_other", "ep_1", "x")
		if err := s.UpdateEndpoint(ctx, e); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("other workspace update: %v, want ErrNotFound", err)
		}
		if err := s.DeleteEndpoint(ctx, "ws_other", "ep_1"); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("other workspace delete: %v, want ErrNotFound", err)
		}

		// Update, match, disable, health, delete.
		got.EventTypes = []string{"*"}
		got.Filter = `event.data.x == 1`
		if err := s.UpdateEndpoint(ctx, got); err != nil {
			t.Fatal(err)
		}
		if err := s.DisableEndpoint(ctx, models.DefaultWorkspaceID, "ep_2", "HTTP 410", t0); err != nil {
			t.Fatal(err)
		}
		matched, err := s.EndpointsForEvent(ctx, models.DefaultWorkspaceID, "refund.issued")
		if err != nil || len(matched) != 1 || matched[0].ID != "ep_1" || matched[0].Filter != `event.data.x == 1` {
			t.Errorf("EndpointsForEvent(refund.issued) = %+v, %v; want ep_1 (wildcard)", matched, err)
		}
		matched, _ = s.EndpointsForEvent(ctx, models.DefaultWorkspaceID, "order.placed")
		if len(matched) != 4 {
			t.Errorf("EndpointsForEvent(order.placed) = %d endpoints, want 4 (ep_2 is disabled)", len(matched))
		}
		since, err := s.SetEndpointHealth(ctx, models.DefaultWorkspaceID, "ep_3", false, t0)
		if err != nil || since == nil || !since.Equal(t0) {
			t.Errorf("first failure: %v %v", since, err)
		}
		since, _ = s.SetEndpointHealth(ctx, models.DefaultWorkspaceID, "ep_3", false, t0.Add(time.Hour))
		if since == nil || !since.Equal(t0) {
			t.Errorf("a later failure moved failing_since to %v", since)
		}
		if _, err := s.SetEndpointHealth(ctx, models.DefaultWorkspaceID, "ep_3", true, t0); err != nil {
			t.Fatal(err)
		}
		if ep, err := s.GetEndpoint(ctx, models.DefaultWorkspaceID, "ep_3"); err != nil {
			t.Fatal(err)
		} else if ep.FailingSince != nil {
			t.Errorf("success left failing_since = %v", ep.FailingSince)
		}
		if err := s.DeleteEndpoint(ctx, models.DefaultWorkspaceID, "ep_5"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetEndpoint(ctx, models.DefaultWorkspaceID, "ep_5"); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("deleted endpoint: %v", err)
		}
	})
}

func event(id, key string) *models.Event {
	return &models.Event{ID: id, WorkspaceID: models.DefaultWorkspaceID, Type: "order.placed", DedupKey: key,
		Data: json.RawMessage(`{"total": 12.5, "big": 2432232314}`), Headers: map[string]string{"x-a": "1"}, CreatedAt: t0}
}

func TestEvents(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		got, inserted, err := s.InsertEvent(ctx, event("evt_1", "id:order-1"))
		if err != nil || !inserted || got.ID != "evt_1" {
			t.Fatalf("first insert: %+v %v %v", got, inserted, err)
		}
		got, inserted, err = s.InsertEvent(ctx, event("evt_2", "id:order-1"))
		if err != nil || inserted || got.ID != "evt_1" {
			t.Errorf("same key again: %+v inserted=%v %v; want evt_1, not inserted", got.ID, inserted, err)
		}
		// Idempotent on retry of the same event.
		if got, inserted, err = s.InsertEvent(ctx, event("evt_1", "id:order-1")); err != nil || inserted || got.ID != "evt_1" {
			t.Errorf("re-insert: %v %v %v", got.ID, inserted, err)
		}
		if _, _, err := s.InsertEvent(ctx, event("evt_x", "")); err == nil {
			t.Error("empty dedup key accepted")
		}
		ev, err := s.GetEvent(ctx, models.DefaultWorkspaceID, "evt_1")
		if err != nil {
			t.Fatal(err)
		}
		var data map[string]any
		if err := json.Unmarshal(ev.Data, &data); err != nil || data["total"] != 12.5 || data["big"] != 2432232314.0 {
			t.Errorf("data = %s (%v)", ev.Data, err)
		}
		if ev.Headers["x-a"] != "1" || !ev.CreatedAt.Equal(t0) {
			t.Errorf("event = %+v", ev)
		}
		if _, err := s.GetEvent(ctx, "ws_other", "evt_1"); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("other workspace: %v", err)
		}

		// Ten concurrent inserts of one key: exactly one wins, all see it.
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, seen := 0, map[string]bool{}
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, ins, err := s.InsertEvent(ctx, event(fmt.Sprintf("evt_c%d", i), "key:storm"))
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Errorf("concurrent insert: %v", err)
					return
				}
				if ins {
					wins++
				}
				seen[got.ID] = true
			}()
		}
		wg.Wait()
		if wins != 1 || len(seen) != 1 {
			t.Errorf("%d inserts won and %d ids seen, want 1 and 1", wins, len(seen))
		}
		list, next, err := s.ListEvents(ctx, models.DefaultWorkspaceID, models.Page{Limit: 1})
		if err != nil || len(list) != 1 || next == "" {
			t.Errorf("ListEvents page 1: %d items next %q %v", len(list), next, err)
		}
	})
}

func TestDeliveriesAndAttempts(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if _, _, err := s.InsertEvent(ctx, event("evt_1", "evt:evt_1")); err != nil {
			t.Fatal(err)
		}
		plan := []models.Delivery{
			{ID: "del_a", WorkspaceID: models.DefaultWorkspaceID, EventID: "evt_1", EventType: "order.placed", EndpointID: "ep_1", MessageID: "evt_1", Status: models.DeliveryPending, CreatedAt: t0, UpdatedAt: t0},
			{ID: "del_b", WorkspaceID: models.DefaultWorkspaceID, EventID: "evt_1", EventType: "order.placed", EndpointID: "ep_2", MessageID: "evt_1", Status: models.DeliveryPending, CreatedAt: t0, UpdatedAt: t0},
		}
		got, err := s.EnsureDeliveries(ctx, plan)
		if err != nil || len(got) != 2 {
			t.Fatalf("EnsureDeliveries: %v %v", got, err)
		}
		// Again with fresh ids (a retried activity): the originals come back.
		plan[0].ID, plan[1].ID = "del_c", "del_d"
		got, err = s.EnsureDeliveries(ctx, plan)
		if err != nil || got[0].ID != "del_a" || got[1].ID != "del_b" {
			t.Fatalf("EnsureDeliveries again: %+v %v", got, err)
		}

		next := t0.Add(5 * time.Second)
		for i, code := range []int{500, 503} {
			a := &models.Attempt{At: t0.Add(time.Duration(i) * time.Second), DurationMS: 12, StatusCode: code, ResponseExcerpt: "nope", Outcome: models.AttemptRetrying}
			if err := s.RecordAttempt(ctx, "del_a", a, models.DeliveryPending, &next); err != nil {
				t.Fatal(err)
			}
			if a.Number != i+1 || a.ID == "" {
				t.Errorf("attempt %d numbered %d id %q", i+1, a.Number, a.ID)
			}
		}
		ok := &models.Attempt{At: t0.Add(10 * time.Second), DurationMS: 3, StatusCode: 200, Outcome: models.AttemptSucceeded}
		if err := s.RecordAttempt(ctx, "del_a", ok, models.DeliverySucceeded, nil); err != nil {
			t.Fatal(err)
		}
		d, err := s.GetDelivery(ctx, models.DefaultWorkspaceID, "del_a")
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != models.DeliverySucceeded || d.AttemptCount != 3 || len(d.Attempts) != 3 || d.NextAttemptAt != nil ||
			d.LastAttemptAt == nil || !d.LastAttemptAt.Equal(ok.At) {
			t.Errorf("delivery = %+v", d)
		}
		for i, a := range d.Attempts {
			if a.Number != i+1 {
				t.Errorf("attempt %d has number %d", i, a.Number)
			}
		}
		if d.Attempts[0].StatusCode != 500 || d.Attempts[0].ResponseExcerpt != "nope" {
			t.Errorf("first attempt = %+v", d.Attempts[0])
		}
		fail := &models.Attempt{At: t0, StatusCode: 400, Outcome: models.AttemptFailed}
		if err := s.RecordAttempt(ctx, "del_b", fail, models.DeliveryFailed, nil); err != nil {
			t.Fatal(err)
		}
		if b, _ := s.GetDeliveryAnyWorkspace(ctx, "del_b"); b.LastError != "HTTP 400" || b.Status != models.DeliveryFailed {
			t.Errorf("del_b = %+v", b)
		}
		if err := s.RecordAttempt(ctx, "del_nope", &models.Attempt{At: t0, Outcome: models.AttemptFailed}, models.DeliveryFailed, nil); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("attempt of a delivery that does not exist: %v", err)
		}
		if _, err := s.GetDelivery(ctx, "ws_other", "del_a"); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("other workspace: %v", err)
		}

		for _, tt := range []struct {
			f    models.DeliveryFilter
			want int
		}{
			{models.DeliveryFilter{}, 2},
			{models.DeliveryFilter{EndpointID: "ep_1"}, 1},
			{models.DeliveryFilter{Status: models.DeliveryFailed}, 1},
			{models.DeliveryFilter{EndpointID: "ep_1", Status: models.DeliveryFailed}, 0},
			{models.DeliveryFilter{EventID: "evt_1"}, 2},
		} {
			list, _, err := s.ListDeliveries(ctx, models.DefaultWorkspaceID, tt.f, models.Page{})
			if err != nil || len(list) != tt.want {
				t.Errorf("ListDeliveries(%+v) = %d, %v; want %d", tt.f, len(list), err, tt.want)
			}
		}
		if err := s.SetDeliveryStatus(ctx, "del_b", models.DeliveryPending, ""); err != nil {
			t.Fatal(err)
		}
		if err := s.SetDeliveryStatus(ctx, "del_nope", models.DeliveryPending, ""); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("unknown delivery: %v", err)
		}
	})
}

func TestAPIKeys(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		k := &models.APIKey{ID: "key_1", WorkspaceID: models.DefaultWorkspaceID, Name: "ci", Prefix: "hfk_abc", Hash: "h1", CreatedAt: t0}
		if err := s.CreateAPIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		if err := s.EnsureAPIKey(ctx, &models.APIKey{ID: "key_2", WorkspaceID: models.DefaultWorkspaceID, Hash: "h1", Prefix: "x", CreatedAt: t0}); err != nil {
			t.Errorf("EnsureAPIKey of an existing hash: %v", err)
		}
		got, err := s.APIKeyByHash(ctx, "h1")
		if err != nil || got.ID != "key_1" {
			t.Errorf("APIKeyByHash = %+v, %v", got, err)
		}
		if err := s.RevokeAPIKey(ctx, "ws_other", "key_1", t0); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("revoke from another workspace: %v", err)
		}
		if err := s.RevokeAPIKey(ctx, models.DefaultWorkspaceID, "key_1", t0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.APIKeyByHash(ctx, "h1"); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("revoked key still found: %v", err)
		}
		keys, err := s.ListAPIKeys(ctx, models.DefaultWorkspaceID)
		if err != nil || len(keys) != 1 || keys[0].RevokedAt == nil {
			t.Errorf("ListAPIKeys = %+v, %v", keys, err)
		}
	})
}

func TestOpenRejectsUnknownURL(t *testing.T) {
	if _, err := Open(context.Background(), "mysql://u:secret@h/db", nil); err == nil || containsAll(err.Error(), "secret") {
		t.Errorf("Open(mysql) = %v; want an error that does not show the password", err)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !contains(s, sub) {
			return false
		}
	}
	return true
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub)))
}
