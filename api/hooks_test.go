package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/chain"
	"github.com/hookflow/hookflow/internal/inbound"
	"github.com/hookflow/hookflow/models"
)

// openSource is an unsigned source that reads the type and id from the body.
func openSource() models.Source {
	return models.Source{ID: "src_1", WorkspaceID: testWS, Enabled: true,
		Verification: models.Verification{Scheme: inbound.None},
		EventType:    models.FieldRef{Path: "type"}, EventID: &models.FieldRef{Path: "id"}}
}

// TestHook: the doorbell's answers as a sender sees them, over a fake store and
// engine: a resend of a delivery id answers the original with duplicate:true, a
// store outage is 503, a failed start goes through the error mapper, and a
// rejected request starts nothing.
func TestHook(t *testing.T) {
	signer := chain.NewSigner([][]byte{[]byte("k")})
	tests := []struct {
		name     string
		source   func(*models.Source)
		body     string
		header   map[string]string
		down     bool
		startErr error
		budget   int // events root evt_root already caused
		want     int
		wantCode string
		wantDup  bool
		started  int
	}{
		{name: "new", body: `{"type":"order.paid","id":"d-2"}`, want: 202, started: 1},
		{name: "duplicate", body: `{"type":"order.paid","id":"d-1"}`, want: 202, wantDup: true},
		{name: "no id, no lookup", body: `{"type":"order.paid"}`, down: false, want: 202, started: 1},
		{name: "store outage", body: `{"type":"order.paid","id":"d-2"}`, down: true, want: 503, wantCode: "unavailable"},
		{name: "temporal down", body: `{"type":"order.paid","id":"d-2"}`, startErr: fmt.Errorf("start: %w", models.ErrUnavailable), want: 503, wantCode: "unavailable"},
		{name: "unknown source", source: func(s *models.Source) { s.ID = "src_other" }, body: `{}`, want: 404, wantCode: "not_found"},
		{name: "disabled", source: func(s *models.Source) { s.Enabled = false }, body: `{}`, want: 410, wantCode: "source_disabled"},
		{name: "too large", source: func(s *models.Source) { s.MaxBodyBytes = 8 }, body: `{"type":"order.paid"}`, want: 413, wantCode: "payload_too_large"},
		{name: "no type", body: `{"id":"d-3"}`, want: 400, wantCode: "invalid_request"},
		{name: "malformed", body: `{"type":`, want: 400, wantCode: "invalid_request"},
		{name: "chained", body: `{"type":"order.paid"}`, header: map[string]string{chain.Header: signer.Sign(chain.Link{RootID: "evt_root", Depth: 1})}, want: 202, started: 1},
		{name: "chain too deep", body: `{"type":"order.paid"}`, header: map[string]string{chain.Header: signer.Sign(chain.Link{RootID: "evt_root", Depth: models.MaxChainDepth})}, want: 400, wantCode: "chain_limit"},
		{name: "chain budget spent", body: `{"type":"order.paid"}`, budget: models.DefaultMaxChainEvents, header: map[string]string{chain.Header: signer.Sign(chain.Link{RootID: "evt_root", Depth: 1})}, want: 400, wantCode: "chain_limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, eng := newFakeStore(), &fakeEngine{startErr: tt.startErr}
			src := openSource()
			if tt.source != nil {
				tt.source(&src)
			}
			st.sources[src.ID] = src
			st.events["src:src_1:d-1"] = models.Event{ID: "evt_earlier", WorkspaceID: testWS, Type: "order.paid", ExternalID: "d-1"}
			st.budget["evt_root"] = tt.budget
			st.down = tt.down
			h := New(st, eng, nil, nil, nil, Config{Chain: signer}).Handler()
			code, body := call(t, h, http.MethodPost, "/hooks/src_1", tt.body, tt.header)
			if code != tt.want || errorCode(body) != tt.wantCode {
				t.Fatalf("got %d %s, want %d %q", code, body, tt.want, tt.wantCode)
			}
			if got := eng.count(); got != tt.started {
				t.Fatalf("started %d events, want %d", got, tt.started)
			}
			if code == http.StatusAccepted {
				var got eventAccepted
				_ = json.Unmarshal([]byte(body), &got)
				if got.Duplicate != tt.wantDup || (tt.wantDup && got.ID != "evt_earlier") {
					t.Errorf("got %+v, want duplicate %v", got, tt.wantDup)
				}
			}
		})
	}
}

// TestHookEvent: what a verified request becomes: its type and id read where the
// source says, a chain's depth and root, and its dedup key.
func TestHookEvent(t *testing.T) {
	signer := chain.NewSigner([][]byte{[]byte("k")})
	s := New(nil, nil, nil, nil, nil, Config{Chain: signer})
	src := openSource()
	src.EventType = models.FieldRef{Header: "X-Event"}
	h := http.Header{"X-Event": {"order.paid"}, chain.Header: {signer.Sign(chain.Link{RootID: "evt_root", Depth: 2})}}
	ev, err := s.hookEvent(&src, h, map[string]any{"id": "d-9"}, s.cfg.Now())
	if err != nil {
		t.Fatal(err)
	}
	if ev.Type != "order.paid" || ev.ExternalID != "d-9" || ev.DedupKey != "src:src_1:d-9" || ev.Depth != 3 || ev.RootID != "evt_root" {
		t.Errorf("got %+v", ev)
	}
	ev, err = s.hookEvent(&src, http.Header{"X-Event": {"a.b"}}, map[string]any{}, s.cfg.Now())
	if err != nil || ev.DedupKey != "evt:"+ev.ID || ev.Depth != 0 || ev.RootID != "" {
		t.Errorf("got %+v, %v; want a fresh key and no chain", ev, err)
	}
}

// TestHookEventID: a source's own id field wins; else the scheme's usual place.
func TestHookEventID(t *testing.T) {
	tests := []struct {
		name   string
		scheme string
		ref    *models.FieldRef
		header http.Header
		data   map[string]any
		want   string
	}{
		{"standard webhooks header", inbound.StandardWebhooks, nil, http.Header{"Webhook-Id": {"msg_1"}}, nil, "msg_1"},
		{"github header", inbound.GitHub, nil, http.Header{"X-Github-Delivery": {"g-1"}}, nil, "g-1"},
		{"stripe body", inbound.Stripe, nil, nil, map[string]any{"id": "evt_s"}, "evt_s"},
		{"source path wins", inbound.Stripe, &models.FieldRef{Path: "order.id"}, nil, map[string]any{"id": "x", "order": map[string]any{"id": "o-1"}}, "o-1"},
		{"none: no id", inbound.None, nil, http.Header{"Webhook-Id": {"msg_1"}}, nil, ""},
	}
	for _, tt := range tests {
		src := &models.Source{Verification: models.Verification{Scheme: tt.scheme}, EventID: tt.ref}
		got, err := hookEventID(src, tt.header, tt.data)
		if err != nil || got != tt.want {
			t.Errorf("%s: got %q, %v, want %q", tt.name, got, err, tt.want)
		}
	}
}

// TestSafeHeaders: credentials, signatures, the chain header and the source's own
// signature header never reach an event.
func TestSafeHeaders(t *testing.T) {
	src := &models.Source{Verification: models.Verification{Scheme: inbound.None, Header: "X-My-Sig"}}
	h := http.Header{"Authorization": {"Bearer x"}, "Cookie": {"a=b"}, "Webhook-Signature": {"v1,x"},
		"X-My-Sig": {"s"}, "Hookflow-Chain": {"c"}, "X-Request-Id": {"r-1", "r-2"}, "Content-Type": {"application/json"}}
	got := safeHeaders(src, h)
	want := map[string]string{"x-request-id": "r-1", "content-type": "application/json"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestVerifyHook: a missing signature and a wrong one are told apart.
func TestVerifyHook(t *testing.T) {
	src := &models.Source{ID: "src_1", Verification: models.Verification{Scheme: inbound.StandardWebhooks},
		Secrets: []models.Secret{{Value: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}}
	tests := []struct {
		name   string
		header http.Header
		want   string
	}{
		{"missing", http.Header{}, "missing_signature"},
		{"wrong", http.Header{"Webhook-Id": {"m"}, "Webhook-Timestamp": {fmt.Sprint(testNow().Unix())}, "Webhook-Signature": {"v1,AAAA"}}, "invalid_signature"},
	}
	for _, tt := range tests {
		err := verifyHook(src, tt.header, []byte(`{}`), testNow())
		rej, ok := err.(*hookRejection)
		if !ok || rej.status != http.StatusUnauthorized || rej.code != tt.want {
			t.Errorf("%s: got %v, want 401 %s", tt.name, err, tt.want)
		}
	}
}

// TestParseHook: unsigned query data is refused on a signing source; a form
// becomes data; an unknown media type is 415.
func TestParseHook(t *testing.T) {
	signed := &models.Source{Verification: models.Verification{Scheme: inbound.StandardWebhooks}}
	open := &models.Source{Verification: models.Verification{Scheme: inbound.None}}
	tests := []struct {
		name     string
		src      *models.Source
		url, ct  string
		body     string
		wantCode string
		wantData string
	}{
		{"form", open, "/hooks/x", "application/x-www-form-urlencoded", "customer=ann&value=20", "", "map[customer:ann value:20]"},
		{"query on GET", open, "/hooks/x?item=book", "", "", "", "map[item:book]"},
		{"unsigned query", signed, "/hooks/x?item=book", "", "", "unsigned_data", ""},
		{"unsupported", open, "/hooks/x", "image/png", "x", "unsupported_media_type", ""},
	}
	for _, tt := range tests {
		method := http.MethodPost
		if tt.body == "" {
			method = http.MethodGet
		}
		r := httptest.NewRequest(method, tt.url, strings.NewReader(tt.body))
		if tt.ct != "" {
			r.Header.Set("Content-Type", tt.ct)
		}
		data, err := parseHook(tt.src, r, []byte(tt.body))
		code := ""
		if rej, ok := err.(*hookRejection); ok {
			code = rej.code
		} else if err != nil {
			code = err.Error()
		}
		if code != tt.wantCode || (tt.wantData != "" && fmt.Sprint(data) != tt.wantData) {
			t.Errorf("%s: got %v, %q; want %s, %q", tt.name, data, code, tt.wantData, tt.wantCode)
		}
	}
}

func testNow() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) }
