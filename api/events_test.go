package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/hookflow/hookflow/models"
)

// TestCreateEvent: an event is 202 once started; a resend with the same id or
// Idempotency-Key answers the original with duplicate:true and starts nothing; a
// store that does not answer is 503 with nothing started; a failed start maps
// through the error mapper (Temporal down: 503).
func TestCreateEvent(t *testing.T) {
	earlier := models.Event{ID: "evt_earlier", WorkspaceID: testWS, Type: "order.paid", ExternalID: "o-1"}
	tests := []struct {
		name     string
		body     string
		header   map[string]string
		down     bool
		startErr error
		want     int
		wantCode string
		wantID   string
		wantDup  bool
		started  int
	}{
		{name: "new", body: `{"type":"order.paid","id":"o-2","data":{"n":1}}`, want: 202, started: 1},
		{name: "duplicate id", body: `{"type":"order.paid","id":"o-1"}`, want: 202, wantID: "evt_earlier", wantDup: true},
		{name: "duplicate key", body: `{"type":"order.paid"}`, header: map[string]string{"Idempotency-Key": "k-1"}, want: 202, wantID: "evt_earlier", wantDup: true},
		{name: "no key, no lookup", body: `{"type":"order.paid"}`, down: true, want: 202, started: 1},
		{name: "store outage", body: `{"type":"order.paid","id":"o-2"}`, down: true, want: 503, wantCode: "unavailable"},
		{name: "temporal down", body: `{"type":"order.paid","id":"o-2"}`, startErr: fmt.Errorf("start workflow x: %w", models.ErrUnavailable), want: 503, wantCode: "unavailable"},
		{name: "start fails otherwise", body: `{"type":"order.paid"}`, startErr: fmt.Errorf("boom"), want: 500, wantCode: "internal"},
		{name: "data not an object", body: `{"type":"order.paid","data":[1]}`, want: 400, wantCode: "invalid_request"},
		{name: "bad type", body: `{"type":""}`, want: 400, wantCode: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, eng := newFakeStore(), &fakeEngine{startErr: tt.startErr}
			st.events["id:o-1"] = earlier
			st.events["key:k-1"] = earlier
			st.down = tt.down
			code, body := call(t, fakeServer(st, eng), http.MethodPost, "/v1/events", tt.body, tt.header)
			if code != tt.want || errorCode(body) != tt.wantCode {
				t.Fatalf("got %d %s, want %d %q", code, body, tt.want, tt.wantCode)
			}
			if got := eng.count(); got != tt.started {
				t.Errorf("started %d events, want %d", got, tt.started)
			}
			if code != http.StatusAccepted {
				return
			}
			var got eventAccepted
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			if tt.wantID != "" && got.ID != tt.wantID {
				t.Errorf("got id %s, want %s", got.ID, tt.wantID)
			}
			if got.Duplicate != tt.wantDup || got.Type != "order.paid" {
				t.Errorf("got %+v, want duplicate %v of order.paid", got, tt.wantDup)
			}
		})
	}
}

// TestCreateEventKeys: the dedup key a start carries is the one stored and in the
// workflow ID, byte for byte.
func TestCreateEventKeys(t *testing.T) {
	tests := []struct {
		body, idem, want string
	}{
		{`{"type":"a.b","id":"x"}`, "k", "id:x"},
		{`{"type":"a.b"}`, "k", "key:k"},
	}
	for _, tt := range tests {
		st, eng := newFakeStore(), &fakeEngine{}
		call(t, fakeServer(st, eng), http.MethodPost, "/v1/events", tt.body, map[string]string{"Idempotency-Key": tt.idem})
		if eng.count() != 1 || eng.started[0].DedupKey != tt.want {
			t.Errorf("%s: started %+v, want one with key %q", tt.body, eng.started, tt.want)
		}
	}
	st, eng := newFakeStore(), &fakeEngine{}
	call(t, fakeServer(st, eng), http.MethodPost, "/v1/events", `{"type":"a.b"}`, nil)
	if eng.count() != 1 || eng.started[0].DedupKey != "evt:"+eng.started[0].ID {
		t.Errorf("started %+v, want one keyed by its own id", eng.started)
	}
}
