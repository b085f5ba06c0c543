package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookflow/hookflow/models"
)

func TestWorkspacesAndCounts(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		ws := &models.Workspace{ID: "ws_acme", Name: "Acme", CreatedAt: t0}
		k := &models.APIKey{ID: "key_acme", WorkspaceID: ws.ID, Name: "first key", Prefix: "hfk_a", Hash: "acme", CreatedAt: t0}
		if err := s.CreateWorkspaceWithKey(ctx, ws, k); err != nil {
			t.Fatal(err)
		}
		if got, err := s.APIKeyByHash(ctx, "acme"); err != nil || got.WorkspaceID != "ws_acme" {
			t.Errorf("first key = %+v, %v", got, err)
		}
		// A key that cannot be inserted leaves no workspace behind.
		dup := &models.APIKey{ID: "key_acme", WorkspaceID: "ws_orphan", Hash: "other", Prefix: "x", CreatedAt: t0}
		if err := s.CreateWorkspaceWithKey(ctx, &models.Workspace{ID: "ws_orphan", Name: "O", CreatedAt: t0}, dup); !errors.Is(err, models.ErrConflict) {
			t.Errorf("duplicate key id: %v, want ErrConflict", err)
		}
		if _, err := s.GetWorkspace(ctx, "ws_orphan"); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("workspace of a failed create: %v, want it rolled back", err)
		}
		list, next, err := s.ListWorkspaces(ctx, models.Page{Limit: 1})
		if err != nil || len(list) != 1 || list[0].ID != "ws_acme" || next != "ws_acme" {
			t.Errorf("ListWorkspaces page 1 = %+v next %q, %v", list, next, err)
		}
		if list, next, _ = s.ListWorkspaces(ctx, models.Page{Cursor: next, Limit: 1}); len(list) != 1 || list[0].ID != models.DefaultWorkspaceID || next != "" {
			t.Errorf("ListWorkspaces page 2 = %+v next %q", list, next)
		}

		for i := range 3 {
			if err := s.CreateEndpoint(ctx, endpoint("ws_acme", fmt.Sprintf("ep_%d", i), "x")); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CreateEndpoint(ctx, endpoint(models.DefaultWorkspaceID, "ep_default", "x")); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteEndpoint(ctx, "ws_acme", "ep_0"); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateAPIKey(ctx, &models.APIKey{ID: "key_2", WorkspaceID: "ws_acme", Prefix: "p", Hash: "h2", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeAPIKey(ctx, "ws_acme", "key_acme", t0); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			name  string
			count func(context.Context, string) (int64, error)
			ws    string
			want  int64
		}{
			{"endpoints, one deleted", s.CountEndpoints, "ws_acme", 2},
			{"endpoints of another workspace", s.CountEndpoints, models.DefaultWorkspaceID, 1},
			{"api keys, one revoked", s.CountActiveAPIKeys, "ws_acme", 1},
			{"automations", s.CountAutomations, "ws_acme", 0},
			{"sources", s.CountSources, "ws_acme", 0},
		} {
			if got, err := tt.count(ctx, tt.ws); err != nil || got != tt.want {
				t.Errorf("%s: %d, %v; want %d", tt.name, got, err, tt.want)
			}
		}
	})
}

func TestRecoverLease(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		ws := models.DefaultWorkspaceID
		if err := s.CreateEndpoint(ctx, endpoint(ws, "ep_1", "x")); err != nil {
			t.Fatal(err)
		}
		ttl := time.Minute
		take := func(token string, at time.Time) bool {
			t.Helper()
			ok, err := s.TakeRecoverLease(ctx, ws, "ep_1", token, at, ttl)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if !take("a", t0) {
			t.Fatal("first take refused")
		}
		if take("b", t0.Add(30*time.Second)) {
			t.Error("second take while the first holds the lease succeeded")
		}
		// An endpoint edit must not clear the lease.
		e, _ := s.GetEndpoint(ctx, ws, "ep_1")
		if err := s.UpdateEndpoint(ctx, e); err != nil {
			t.Fatal(err)
		}
		if take("b", t0.Add(59*time.Second)) {
			t.Error("take after an endpoint update succeeded")
		}
		if err := s.ReleaseRecoverLease(ctx, "ep_1", "b"); err != nil {
			t.Fatal(err)
		}
		if take("c", t0.Add(59*time.Second)) {
			t.Error("a release with another token freed the lease")
		}
		if !take("d", t0.Add(61*time.Second)) {
			t.Error("an expired lease was not taken over")
		}
		if err := s.ReleaseRecoverLease(ctx, "ep_1", "d"); err != nil {
			t.Fatal(err)
		}
		if !take("e", t0.Add(62*time.Second)) {
			t.Error("a released lease was not free")
		}
		if _, err := s.TakeRecoverLease(ctx, "ws_other", "ep_1", "f", t0, ttl); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("another workspace's endpoint: %v, want ErrNotFound", err)
		}

		// Many takers at once (as many server processes would be): one wins.
		if err := s.CreateEndpoint(ctx, endpoint(ws, "ep_2", "x")); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.TakeRecoverLease(ctx, ws, "ep_2", fmt.Sprintf("t%d", i), t0, ttl)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Errorf("concurrent take: %v", err)
				}
				if ok {
					wins++
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Errorf("%d concurrent takes won, want 1", wins)
		}
	})
}
