package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookflow/hookflow/models"
)

const testAdminKey = "admin-key-of-the-operator"

func (f *fakeStore) CreateAPIKey(_ context.Context, k *models.APIKey) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.keysDown {
		return errOutage
	}
	f.keys[k.Hash] = *k
	return nil
}

func (f *fakeStore) CreateWorkspaceWithKey(_ context.Context, w *models.Workspace, k *models.APIKey) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.keysDown {
		return errOutage
	}
	f.workspaces[w.ID] = *w
	f.keys[k.Hash] = *k
	return nil
}

func (f *fakeStore) CountActiveAPIKeys(_ context.Context, ws string) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n int64
	for _, k := range f.keys {
		if k.WorkspaceID == ws && k.RevokedAt == nil {
			n++
		}
	}
	return n, nil
}

func (f *fakeStore) ListAPIKeys(_ context.Context, ws string) ([]models.APIKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []models.APIKey
	for _, k := range f.keys {
		if k.WorkspaceID == ws {
			out = append(out, k)
		}
	}
	return out, nil
}

func (f *fakeStore) RevokeAPIKey(_ context.Context, ws, id string, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for h, k := range f.keys {
		if k.WorkspaceID == ws && k.ID == id && k.RevokedAt == nil {
			k.RevokedAt = &at
			f.keys[h] = k
			return nil
		}
	}
	return models.ErrNotFound
}

// keyServer is the API over fakes with an admin key (unless noAdmin) and a quota
// of keys.
func keyServer(st *fakeStore, noAdmin bool, keyQuota int) http.Handler {
	cfg := Config{AdminKey: testAdminKey, Quotas: Quotas{APIKeys: keyQuota}}
	if noAdmin {
		cfg.AdminKey = ""
	}
	return New(st, &fakeEngine{}, nil, nil, nil, cfg).Handler()
}

func errorMessage(body string) string {
	var e struct {
		Error struct{ Code, Message string }
	}
	_ = json.Unmarshal([]byte(body), &e)
	return e.Error.Message
}

// TestAuthenticate: the /v1 routes take a workspace's key: none or an unknown one is
// 401 (with WWW-Authenticate), the operator's admin key is 403 (it is no
// workspace's), a store that does not answer is 503, not a verdict on the key.
func TestAuthenticate(t *testing.T) {
	tests := []struct {
		name       string
		auth       string
		keysDown   bool
		want       int
		wantCode   string
		wantHeader string
	}{
		{"workspace key", "Bearer " + testKey, false, 200, "", ""},
		{"no key", "", false, 401, "unauthorized", `Bearer realm="hookflow"`},
		{"not bearer", "Basic " + testKey, false, 401, "unauthorized", `Bearer realm="hookflow"`},
		{"unknown key", "Bearer hfk_nobody", false, 401, "unauthorized", `Bearer realm="hookflow", error="invalid_token"`},
		{"admin key", "Bearer " + testAdminKey, false, 403, "forbidden", ""},
		{"store down", "Bearer " + testKey, true, 503, "unavailable", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newFakeStore()
			st.keysDown = tt.keysDown
			r := httpRequest(http.MethodGet, "/v1/api-keys", "", tt.auth)
			w := serve(keyServer(st, false, 0), r)
			if w.Code != tt.want || errorCode(w.Body.String()) != tt.wantCode {
				t.Fatalf("got %d %s, want %d %q", w.Code, w.Body, tt.want, tt.wantCode)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tt.wantHeader {
				t.Errorf("got WWW-Authenticate %q, want %q", got, tt.wantHeader)
			}
		})
	}
}

// TestCreateAPIKey: a workspace's key makes keys of its own workspace, shown once
// and usable at once; another or a new workspace is 403 whether or not it exists;
// a bad name is 400 before anything else; at the quota it is 409.
func TestCreateAPIKey(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		quota    int
		want     int
		wantCode string
	}{
		{"own workspace", `{"name":"ci"}`, 0, 201, ""},
		{"own workspace by id", `{"name":"ci","workspace_id":"` + testWS + `"}`, 0, 201, ""},
		{"another workspace", `{"name":"ci","workspace_id":"ws_other"}`, 0, 403, "forbidden"},
		{"a new workspace", `{"name":"ci","workspace_name":"Mine"}`, 0, 403, "forbidden"},
		{"name too long", `{"name":"` + strings.Repeat("n", 201) + `","workspace_name":"Mine"}`, 0, 400, "invalid_request"},
		{"at the quota", `{"name":"ci"}`, 1, 409, "quota_exceeded"},
		{"forbidden before quota", `{"name":"ci","workspace_name":"Mine"}`, 1, 403, "forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newFakeStore()
			h := keyServer(st, false, tt.quota)
			code, body := call(t, h, http.MethodPost, "/v1/api-keys", tt.body, nil)
			if code != tt.want || errorCode(body) != tt.wantCode {
				t.Fatalf("got %d %s, want %d %q", code, body, tt.want, tt.wantCode)
			}
			if code == http.StatusForbidden && !strings.Contains(errorMessage(body), "POST /v1/workspaces") {
				t.Errorf("got message %q, want one saying where workspaces come from", errorMessage(body))
			}
			if code != http.StatusCreated {
				if len(st.keys) != 1 {
					t.Errorf("a refused request stored a key: %d keys", len(st.keys))
				}
				return
			}
			var got struct {
				models.APIKey
				Key string
			}
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			if got.WorkspaceID != testWS || !strings.HasPrefix(got.Key, "hfk_") || strings.Contains(body, `"hash"`) {
				t.Errorf("got %s, want a key of %s shown once, no hash", body, testWS)
			}
			w := serve(h, httpRequest(http.MethodGet, "/v1/api-keys", "", "Bearer "+got.Key))
			if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), got.ID) {
				t.Errorf("the new key lists keys: got %d %s", w.Code, w.Body)
			}
		})
	}
}

// TestRevokeAPIKey: revoking a key is 204, and again 404; another workspace's key
// is 404 and stays as it was.
func TestRevokeAPIKey(t *testing.T) {
	st := newFakeStore()
	st.keys["other"] = models.APIKey{ID: "key_2", WorkspaceID: "ws_other", Hash: "other"}
	h := keyServer(st, false, 0)
	tests := []struct {
		path     string
		want     int
		wantCode string
	}{
		{"/v1/api-keys/key_1", 204, ""},
		{"/v1/api-keys/key_1", 404, "not_found"},
		{"/v1/api-keys/key_2", 404, "not_found"},
	}
	for _, tt := range tests {
		if code, body := call(t, h, http.MethodDelete, tt.path, "", nil); code != tt.want || errorCode(body) != tt.wantCode {
			t.Errorf("DELETE %s: got %d %s, want %d %q", tt.path, code, body, tt.want, tt.wantCode)
		}
	}
	if st.keys[keyHash(st, "key_1")].RevokedAt == nil || st.keys["other"].RevokedAt != nil {
		t.Error("want key_1 revoked and key_2 not")
	}
}

func keyHash(st *fakeStore, id string) string {
	for h, k := range st.keys {
		if k.ID == id {
			return h
		}
	}
	return ""
}

// TestWorkspaceRoutes: /v1/workspaces takes only the admin key: a workspace's key
// is 403 and told where workspaces come from on this server, anything else 401; a
// workspace is made with its first key, which opens it.
func TestWorkspaceRoutes(t *testing.T) {
	tests := []struct {
		name        string
		noAdmin     bool
		auth        string
		body        string
		want        int
		wantCode    string
		wantMessage string
	}{
		{"admin key", false, testAdminKey, `{"name":"Acme"}`, 201, "", ""},
		{"workspace key", false, testKey, `{"name":"Acme"}`, 403, "forbidden", "POST /v1/workspaces with the admin key"},
		{"workspace key, no admin API", true, testKey, `{"name":"Acme"}`, 403, "forbidden", "this server has no admin API"},
		{"unknown key", false, "hfk_nobody", `{"name":"Acme"}`, 401, "unauthorized", "that is not it"},
		{"no name", false, testAdminKey, `{"name":" "}`, 400, "invalid_request", "name: is required"},
		{"key name too long", false, testAdminKey, `{"name":"Acme","key_name":"` + strings.Repeat("k", 201) + `"}`, 400, "invalid_request", "key_name:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newFakeStore()
			h := keyServer(st, tt.noAdmin, 0)
			w := serve(h, httpRequest(http.MethodPost, "/v1/workspaces", tt.body, "Bearer "+tt.auth))
			body := w.Body.String()
			if w.Code != tt.want || errorCode(body) != tt.wantCode || !strings.Contains(errorMessage(body), tt.wantMessage) {
				t.Fatalf("got %d %s, want %d %q saying %q", w.Code, body, tt.want, tt.wantCode, tt.wantMessage)
			}
			if w.Code != http.StatusCreated {
				return
			}
			var got workspaceCreated
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			if got.Name != "Acme" || got.APIKey.Name != "first key" || got.APIKey.WorkspaceID != got.ID {
				t.Errorf("got %s, want Acme with its first key", body)
			}
			if w := serve(h, httpRequest(http.MethodGet, "/v1/api-keys", "", "Bearer "+got.Key)); w.Code != http.StatusOK {
				t.Errorf("the first key does not open the workspace: %d %s", w.Code, w.Body)
			}
		})
	}
}
