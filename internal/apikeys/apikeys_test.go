package apikeys

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hookflow/hookflow/models"
)

var errOutage = errors.New("connection refused")

// fakeStore keeps keys by hash and workspaces by id, in memory.
type fakeStore struct {
	keys       map[string]models.APIKey
	workspaces map[string]models.Workspace
	down       bool
}

func newFakeStore() *fakeStore {
	return &fakeStore{keys: map[string]models.APIKey{}, workspaces: map[string]models.Workspace{}}
}

func (f *fakeStore) CreateWorkspaceWithKey(_ context.Context, w *models.Workspace, k *models.APIKey) error {
	if f.down {
		return errOutage
	}
	f.workspaces[w.ID] = *w
	f.keys[k.Hash] = *k
	return nil
}

func (f *fakeStore) CreateAPIKey(_ context.Context, k *models.APIKey) error {
	if f.down {
		return errOutage
	}
	f.keys[k.Hash] = *k
	return nil
}

func (f *fakeStore) APIKeyByHash(_ context.Context, hash string) (*models.APIKey, error) {
	if f.down {
		return nil, errOutage
	}
	k, ok := f.keys[hash]
	if !ok || k.RevokedAt != nil {
		return nil, models.ErrNotFound
	}
	return &k, nil
}

func (f *fakeStore) ListAPIKeys(_ context.Context, ws string) ([]models.APIKey, error) {
	var out []models.APIKey
	for _, k := range f.keys {
		if k.WorkspaceID == ws {
			out = append(out, k)
		}
	}
	return out, nil
}

func (f *fakeStore) RevokeAPIKey(_ context.Context, ws, id string, at time.Time) error {
	for h, k := range f.keys {
		if k.WorkspaceID == ws && k.ID == id {
			k.RevokedAt = &at
			f.keys[h] = k
			return nil
		}
	}
	return models.ErrNotFound
}

var testNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newKeys(st *fakeStore, admin string) *Keys {
	return New(st, Config{AdminKey: admin, Now: func() time.Time { return testNow }})
}

// TestGeneratedKeys: a key is hfk_ and 256 bits, stored only as its hash, and
// listed by a prefix that does not give it away.
func TestGeneratedKeys(t *testing.T) {
	key, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key, Prefix) || len(key) != len(Prefix)+43 {
		t.Fatalf("got key %q, want hfk_ and 43 base64url characters", key)
	}
	rec := Record("ws_1", "ci", key, testNow)
	if rec.Hash != Hash(key) || strings.Contains(rec.Hash, key) || rec.Prefix != key[:12] {
		t.Errorf("got record %+v of %q, want its hash and a 12-character prefix", rec, key)
	}
	if got := DisplayPrefix("short"); got != "short" {
		t.Errorf("got prefix %q of a short foreign key, want it whole", got)
	}
}

// TestAuthenticate: a workspace's key is its record; the admin key is no
// workspace's; an unknown or revoked key is invalid; an outage is not "invalid"
// (that would tell a good client its key is bad).
func TestAuthenticate(t *testing.T) {
	st := newFakeStore()
	keys := newKeys(st, "admin-secret")
	good, err := keys.CreateWorkspace(context.Background(), "Acme", "")
	if err != nil {
		t.Fatal(err)
	}
	revoked, _ := keys.Create(context.Background(), CreateRequest{WorkspaceID: good.Workspace.ID, Name: "old"})
	if err := keys.Revoke(context.Background(), good.Workspace.ID, revoked.Record.ID); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		key     string
		down    bool
		wantWS  string
		wantErr error
	}{
		{"workspace key", good.Key, false, good.Workspace.ID, nil},
		{"admin key", "admin-secret", false, "", ErrAdminKey},
		{"unknown key", "hfk_nobody", false, "", ErrInvalidKey},
		{"revoked key", revoked.Key, false, "", ErrInvalidKey},
		{"store down", good.Key, true, "", errOutage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st.down = tt.down
			defer func() { st.down = false }()
			k, err := keys.Authenticate(context.Background(), tt.key)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && k.WorkspaceID != tt.wantWS {
				t.Errorf("got workspace %q, want %q", k.WorkspaceID, tt.wantWS)
			}
		})
	}
}

// TestAuthenticateAdmin: only the admin key passes; a workspace's key is told
// apart from garbage; without an admin key configured nothing passes.
func TestAuthenticateAdmin(t *testing.T) {
	st := newFakeStore()
	ws, err := newKeys(st, "").CreateWorkspace(context.Background(), "Acme", "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		admin string
		key   string
		want  error
	}{
		{"admin key", "admin-secret", "admin-secret", nil},
		{"workspace key", "admin-secret", ws.Key, ErrWorkspaceKey},
		{"unknown key", "admin-secret", "nope", ErrInvalidKey},
		{"no admin key configured", "", "", ErrInvalidKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := newKeys(st, tt.admin).AuthenticateAdmin(context.Background(), tt.key); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// TestCreate: a workspace's key makes keys of its own workspace only; a bad name
// is refused before anything else, Admit (the quota) only for allowed requests,
// and a refused request stores nothing.
func TestCreate(t *testing.T) {
	overQuota := errors.New("over quota")
	tests := []struct {
		name    string
		req     CreateRequest
		admit   error
		wantErr error
		admits  int
	}{
		{"own workspace", CreateRequest{Name: "ci"}, nil, nil, 1},
		{"own workspace by id", CreateRequest{Name: "ci", ForWorkspace: "ws_1"}, nil, nil, 1},
		{"another workspace", CreateRequest{Name: "ci", ForWorkspace: "ws_2"}, nil, ErrOtherWorkspace, 0},
		{"a new workspace", CreateRequest{Name: "ci", NewWorkspace: "Mine"}, nil, ErrOtherWorkspace, 0},
		{"name too long", CreateRequest{Name: strings.Repeat("n", 201), NewWorkspace: "Mine"}, nil, models.ErrInvalid, 0},
		{"over quota", CreateRequest{Name: "ci"}, overQuota, overQuota, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newFakeStore()
			admits := 0
			tt.req.WorkspaceID = "ws_1"
			tt.req.Admit = func() error { admits++; return tt.admit }
			got, err := newKeys(st, "").Create(context.Background(), tt.req)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if admits != tt.admits {
				t.Errorf("Admit ran %d times, want %d", admits, tt.admits)
			}
			if tt.wantErr != nil {
				if len(st.keys) != 0 {
					t.Errorf("a refused request stored %d keys", len(st.keys))
				}
				return
			}
			if stored := st.keys[Hash(got.Key)]; stored.WorkspaceID != "ws_1" || stored.Name != "ci" || !stored.CreatedAt.Equal(testNow) {
				t.Errorf("got stored key %+v, want ws_1's key ci made now", stored)
			}
		})
	}
}

// TestCreateWorkspace: a name is required and bounded, the first key is named
// "first key" unless told otherwise, and the key shown opens the new workspace.
func TestCreateWorkspace(t *testing.T) {
	tests := []struct {
		name, wsName, keyName string
		wantErr               string
		wantKeyName           string
	}{
		{"default key name", "Acme", "", "", DefaultKeyName},
		{"key name given", "Acme", "deploy", "", "deploy"},
		{"no name", "  ", "", "name: is required", ""},
		{"name too long", strings.Repeat("a", 201), "", "name: must be at most 200 bytes", ""},
		{"key name too long", "Acme", strings.Repeat("k", 201), "key_name: must be at most 200 bytes", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newFakeStore()
			keys := newKeys(st, "")
			got, err := keys.CreateWorkspace(context.Background(), tt.wsName, tt.keyName)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, models.ErrInvalid) {
					t.Fatalf("got error %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Record.Name != tt.wantKeyName || got.Record.WorkspaceID != got.Workspace.ID {
				t.Errorf("got first key %+v, want %q of %s", got.Record, tt.wantKeyName, got.Workspace.ID)
			}
			k, err := keys.Authenticate(context.Background(), got.Key)
			if err != nil || k.WorkspaceID != got.Workspace.ID {
				t.Errorf("the key shown does not open the workspace: %v", err)
			}
		})
	}
}

// TestCreateWorkspaceOutage: a store that does not answer fails the create with
// its own error, for the caller to map.
func TestCreateWorkspaceOutage(t *testing.T) {
	st := newFakeStore()
	st.down = true
	if _, err := newKeys(st, "").CreateWorkspace(context.Background(), "Acme", ""); !errors.Is(err, errOutage) {
		t.Errorf("got %v, want the store's error", err)
	}
}
