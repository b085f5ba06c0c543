package api

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/inbound"
	"github.com/hookflow/hookflow/models"
)

func (f *fakeStore) GetSource(_ context.Context, ws, id string) (*models.Source, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	src, ok := f.sources[id]
	if !ok || src.WorkspaceID != ws {
		return nil, models.ErrNotFound
	}
	src.Secrets = append([]models.Secret(nil), src.Secrets...)
	return &src, nil
}

func (f *fakeStore) UpdateSource(_ context.Context, src *models.Source) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sources[src.ID] = *src
	return nil
}

// TestChangeSource: a change is answered 404 for a source the workspace does not
// have, refused whole (nothing saved) when a field is bad, and saved and shown
// otherwise; a rotation keeps the previous secret and refuses scheme none.
func TestChangeSource(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		path     string
		body     string
		want     int
		wantCode string
		// wantName and wantSecrets are the stored source's afterwards.
		wantName    string
		wantSecrets int
	}{
		{"rename", http.MethodPatch, "/v1/sources/src_h", `{"name":"renamed"}`, 200, "", "renamed", 1},
		{"bad field saves nothing", http.MethodPatch, "/v1/sources/src_h", `{"name":"renamed","max_body_bytes":-1}`, 400, "invalid_request", "hmac", 1},
		{"another workspace's", http.MethodPatch, "/v1/sources/src_other", `{"name":"renamed"}`, 404, "not_found", "hmac", 1},
		{"rotate", http.MethodPost, "/v1/sources/src_h/rotate-secret", ``, 200, "", "hmac", 2},
		{"rotate to a given secret", http.MethodPost, "/v1/sources/src_h/rotate-secret", `{"secret":"a-new-secret-of-enough-length"}`, 200, "", "hmac", 2},
		{"rotate none", http.MethodPost, "/v1/sources/src_n/rotate-secret", ``, 400, "invalid_request", "hmac", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newFakeStore()
			made := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			st.sources["src_h"] = models.Source{ID: "src_h", WorkspaceID: testWS, Name: "hmac", Enabled: true,
				Verification: models.Verification{Scheme: inbound.HMAC, Header: "X-Sig"},
				Secrets:      []models.Secret{{Value: "the-first-secret-value", CreatedAt: made}}}
			st.sources["src_n"] = models.Source{ID: "src_n", WorkspaceID: testWS, Name: "none", Verification: models.Verification{Scheme: inbound.None}}
			st.sources["src_other"] = models.Source{ID: "src_other", WorkspaceID: "ws_other", Name: "theirs"}
			code, body := call(t, fakeServer(st, &fakeEngine{}), tt.method, tt.path, tt.body, nil)
			if code != tt.want || errorCode(body) != tt.wantCode {
				t.Fatalf("got %d %s, want %d %q", code, body, tt.want, tt.wantCode)
			}
			if got := st.sources["src_h"]; got.Name != tt.wantName || len(got.Secrets) != tt.wantSecrets {
				t.Errorf("stored %q with %d secrets, want %q with %d", got.Name, len(got.Secrets), tt.wantName, tt.wantSecrets)
			}
			if tt.method != http.MethodPost || code != http.StatusOK {
				return
			}
			var got struct {
				Secret            string    `json:"secret"`
				PreviousExpiresAt time.Time `json:"previous_expires_at"`
			}
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			if stored := st.sources["src_h"].Secrets; got.Secret == "" || stored[len(stored)-1].Value != got.Secret || got.PreviousExpiresAt.IsZero() {
				t.Errorf("got %s, want the new secret, stored newest, and when the previous one expires", body)
			}
		})
	}
}

// TestReplaceAutomationNeedsEverything: a PUT without name, trigger and steps is
// refused as such before the automation is looked up.
func TestReplaceAutomationNeedsEverything(t *testing.T) {
	code, body := call(t, fakeServer(newFakeStore(), &fakeEngine{}), http.MethodPut, "/v1/automations/auto_missing", `{"name":"x"}`, nil)
	if code != http.StatusBadRequest || errorCode(body) != "invalid_request" {
		t.Errorf("got %d %s, want 400 invalid_request", code, body)
	}
}
