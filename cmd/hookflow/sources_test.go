package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/testenv"
	"github.com/hookflow/hookflow/models"
)

type sourceCreated struct {
	models.Source
	URL    string `json:"url"`
	Secret string `json:"secret"`
}

func (s *stack) createSource(body string) sourceCreated {
	s.t.Helper()
	var src sourceCreated
	var e apiError
	if code := s.do("POST", "/v1/sources", body, &src); code != http.StatusCreated {
		s.do("POST", "/v1/sources", body, &e)
		s.t.Fatalf("create source: %d %+v", code, e)
	}
	return src
}

// ring sends a request to a source's doorbell.
func (s *stack) ring(method, id, contentType, body string, header http.Header) (int, apiError, accepted) {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.api.URL+"/hooks/"+id, strings.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var e apiError
	var a accepted
	if resp.StatusCode == http.StatusAccepted {
		_ = jsonUnmarshal(raw, &a)
	} else {
		_ = jsonUnmarshal(raw, &e)
	}
	return resp.StatusCode, e, a
}

func hmacHex(secret, msg string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// TestSourceFormAndQueryTriggerFlagship: a form-encoded review.created from a source
// runs the flagship automation exactly as JSON does, and so does a GET with a query
// string once the source accepts unsigned query data; a replayed delivery id is a
// duplicate that runs nothing new.
func TestSourceFormAndQueryTriggerFlagship(t *testing.T) {
	s := newStack(t)
	s.createAutomation(testenv.FlagshipAward()) // the flagship rule, as JSON events use it
	src := s.createSource(`{"name":"legacy reviews","verification":{"scheme":"hmac","header":"X-Signature","prefix":"sha256="},
	 "event_type":{"value":"review.created"},"event_id":{"header":"X-Delivery"}}`)
	if !strings.HasSuffix(src.URL, "/hooks/"+src.ID) || src.Secret == "" {
		t.Fatalf("source %+v", src)
	}
	sign := func(body, delivery string) http.Header {
		return http.Header{"X-Signature": {"sha256=" + hmacHex(src.Secret, body)}, "X-Delivery": {delivery}, "Cookie": {"sid=1"}}
	}
	form := "customer_id=cus_ann&customer_name=Ann&rating=5&review_id=r1"
	code, e, a := s.ring("POST", src.ID, "application/x-www-form-urlencoded", form, sign(form, "d-1"))
	if code != http.StatusAccepted || a.Duplicate {
		t.Fatalf("form: %d %+v", code, e)
	}
	runs := s.waitRuns(a.ID, 1, 30*time.Second)
	if runs[0].Status != models.RunSucceeded {
		t.Fatalf("form run %s: %+v", runs[0].Status, runs[0].Steps)
	}
	// The same delivery again: accepted as a duplicate, nothing new runs.
	code, _, dup := s.ring("POST", src.ID, "application/x-www-form-urlencoded", form, sign(form, "d-1"))
	if code != http.StatusAccepted || !dup.Duplicate || dup.ID != a.ID {
		t.Errorf("replay: %d %+v, want 202 duplicate of %s", code, dup, a.ID)
	}
	var ev struct {
		models.Event
	}
	s.do("GET", "/v1/events/"+a.ID, nil, &ev)
	if ev.SourceID != src.ID || ev.Headers["x-delivery"] != "d-1" || ev.Headers["cookie"] != "" || ev.Headers["x-signature"] != "" {
		t.Errorf("event source %q headers %v: want the source, x-delivery kept, cookie and signature dropped", ev.SourceID, ev.Headers)
	}

	// GET with a query string (signed over the empty body): hmac signs only the
	// body, so the legacy system's source must accept unsigned query data.
	getBob := src.ID + "?customer_id=cus_bob&customer_name=Bob&rating=4&review_id=r2"
	if code, e, _ := s.ring("GET", getBob, "", "", sign("", "d-2")); code != http.StatusBadRequest || e.Error.Code != "unsigned_data" {
		t.Fatalf("GET before opting in: %d %+v, want 400 unsigned_data", code, e)
	}
	var patched sourceCreated
	if code := s.do("PATCH", "/v1/sources/"+src.ID, `{"allow_unsigned_query":true}`, &patched); code != 200 || !patched.AllowUnsignedQuery {
		t.Fatalf("opt in: %d %+v", code, patched)
	}
	code, e, g := s.ring("GET", getBob, "", "", sign("", "d-2"))
	if code != http.StatusAccepted {
		t.Fatalf("GET: %d %+v", code, e)
	}
	low := "customer_id=cus_cy&rating=2"
	code, _, l := s.ring("POST", src.ID, "application/x-www-form-urlencoded", low, sign(low, "d-3"))
	if code != 202 {
		t.Fatalf("a rating-2 form review: %d, want 202", code)
	}
	s.waitDeliveries(l.ID, 0, 10*time.Second) // recorded
	var lowEv struct{ Runs []models.AutomationRun }
	if s.do("GET", "/v1/events/"+l.ID, nil, &lowEv); len(lowEv.Runs) != 0 {
		t.Errorf("a rating-2 review started %d runs", len(lowEv.Runs))
	}
	if runs := s.waitRuns(g.ID, 1, 30*time.Second); runs[0].Status != models.RunSucceeded {
		t.Fatalf("GET run %s", runs[0].Status)
	}
	if ann, bob := s.member("cus_ann"), s.member("cus_bob"); ann.Balance != 50 || ann.Name != "Ann" || bob.Balance != 40 {
		t.Errorf("balances %d and %d, want 50 (rating 5, once) and 40 (rating 4)", ann.Balance, bob.Balance)
	}
}

// TestSourceUnsignedQuery is the reproduction: a GitHub source signs only
// the body, so a GET whose query string says "refund a million to cus_victim",
// carrying the (constant) signature of the empty body, is refused with 400
// unsigned_data and stores and starts nothing; so is the same query on a POST with
// an empty body. A signed POST is still accepted. Opted in (and the opt-in read back
// from the store), the same GET is accepted; a token source always accepts queries.
func TestSourceUnsignedQuery(t *testing.T) {
	s := newStack(t)
	s.createAutomation(`{"name":"refunds","trigger":{"event_type":"order.refunded"},"steps":[{"id":"wait","action":"delay","params":{"duration":"0s"}}]}`)
	src := s.createSource(`{"name":"github","verification":{"scheme":"github","secret":"gh_secret"},"event_type":{"path":"type"}}`)
	if src.AllowUnsignedQuery {
		t.Fatalf("a new source accepts unsigned query data: %+v", src)
	}
	emptySig := http.Header{"X-Hub-Signature-256": {"sha256=" + hmacHex("gh_secret", "")}}
	attack := src.ID + "?type=order.refunded&amount=1000000&customer=cus_victim"
	tests := []struct {
		name, method, target string
		h                    http.Header
		want                 int
		code                 string
	}{
		{"GET with the empty body's signature", "GET", attack, emptySig, 400, "unsigned_data"},
		{"POST with an empty body", "POST", attack, emptySig, 400, "unsigned_data"},
		{"GET unsigned", "GET", attack, nil, 401, "missing_signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, e, _ := s.ring(tt.method, tt.target, "", "", tt.h)
			if code != tt.want || e.Error.Code != tt.code {
				t.Errorf("%d %+v, want %d %s", code, e, tt.want, tt.code)
			}
			if tt.code == "unsigned_data" && !strings.Contains(e.Error.Message, "allow_unsigned_query") {
				t.Errorf("message %q does not say how to opt in", e.Error.Message)
			}
		})
	}
	body := `{"type":"order.paid","amount":20}`
	code, e, paid := s.ring("POST", src.ID, "application/json", body, http.Header{"X-Hub-Signature-256": {"sha256=" + hmacHex("gh_secret", body)}})
	if code != http.StatusAccepted {
		t.Fatalf("signed POST: %d %+v", code, e)
	}
	s.waitDeliveries(paid.ID, 0, 10*time.Second) // until the event is recorded
	var evs struct{ Data []models.Event }
	s.do("GET", "/v1/events", nil, &evs)
	if len(evs.Data) != 1 || evs.Data[0].Type != "order.paid" {
		t.Fatalf("events after the refusals: %+v, want only the signed order.paid", evs.Data)
	}

	if code := s.do("PATCH", "/v1/sources/"+src.ID, `{"allow_unsigned_query":true}`, nil); code != 200 {
		t.Fatalf("opt in: %d", code)
	}
	var got sourceCreated
	if s.do("GET", "/v1/sources/"+src.ID, nil, &got); !got.AllowUnsignedQuery {
		t.Fatalf("opt-in not kept: %+v", got)
	}
	code, e, a := s.ring("GET", attack, "", "", emptySig)
	if code != http.StatusAccepted {
		t.Fatalf("GET opted in: %d %+v", code, e)
	}
	if runs := s.waitRuns(a.ID, 1, 30*time.Second); runs[0].Status != models.RunSucceeded {
		t.Errorf("opted-in GET run %s", runs[0].Status)
	}

	tok := s.createSource(`{"name":"token","verification":{"scheme":"token","header":"X-Token","secret":"tok_1"},"event_type":{"path":"type"}}`)
	if code, e, _ := s.ring("GET", tok.ID+"?type=order.refunded", "", "", http.Header{"X-Token": {"tok_1"}}); code != http.StatusAccepted {
		t.Errorf("token source GET: %d %+v, want 202", code, e)
	}
}

// TestDoorbellRefusals: bad requests get the right status and nothing is stored.
func TestDoorbellRefusals(t *testing.T) {
	s := newStack(t)
	src := s.createSource(`{"name":"stripe","verification":{"scheme":"stripe","secret":"whsec_test"},"event_type":{"path":"type"}}`)
	body := `{"id":"evt_stripe_1","type":"invoice.paid"}`
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	good := http.Header{"Stripe-Signature": {"t=" + ts + ",v1=" + hmacHex("whsec_test", ts+"."+body)}}
	stale := strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10)
	tests := []struct {
		name, id, ct, body string
		h                  http.Header
		want               int
		code               string
	}{
		{"unknown source", "src_nope", "application/json", body, good, 404, "not_found"},
		{"no signature", src.ID, "application/json", body, nil, 401, "missing_signature"},
		{"changed body", src.ID, "application/json", body + " ", good, 401, "invalid_signature"},
		{"stale", src.ID, "application/json", body, http.Header{"Stripe-Signature": {"t=" + stale + ",v1=" + hmacHex("whsec_test", stale+"."+body)}}, 401, "stale_timestamp"},
		{"unsupported type", src.ID, "text/plain", body, good, 415, "unsupported_media_type"},
		{"too big", src.ID, "application/json", strings.Repeat("x", 300<<10), good, 413, "payload_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, e, _ := s.ring("POST", tt.id, tt.ct, tt.body, tt.h)
			if code != tt.want || e.Error.Code != tt.code {
				t.Errorf("%d %+v, want %d %s", code, e, tt.want, tt.code)
			}
			if strings.Contains(e.Error.Message, hmacHex("whsec_test", ts+"."+body)) {
				t.Error("the error shows the expected signature")
			}
		})
	}
	code, _, a := s.ring("POST", src.ID, "application/json", body, good)
	if code != 202 || a.ID == "" {
		t.Fatalf("valid stripe request: %d", code)
	}
	s.waitDeliveries(a.ID, 0, 10*time.Second) // until the event is recorded
	var evs struct{ Data []models.Event }
	s.do("GET", "/v1/events", nil, &evs)
	if len(evs.Data) != 1 || evs.Data[0].ExternalID != "evt_stripe_1" || evs.Data[0].Type != "invoice.paid" {
		t.Errorf("events after the refusals: %+v, want only the valid one", evs.Data)
	}
	if code := s.do("PATCH", "/v1/sources/"+src.ID, `{"enabled":false}`, nil); code != 200 {
		t.Fatalf("disable: %d", code)
	}
	if code, e, _ := s.ring("POST", src.ID, "application/json", body, good); code != http.StatusGone {
		t.Errorf("disabled source: %d %+v, want 410", code, e)
	}
}

// TestChunkedBodyOverLimit: a 10 MB chunked body is refused with 413 without the
// server reading (or holding) more than the limit.
func TestChunkedBodyOverLimit(t *testing.T) {
	s := newStack(t)
	src := s.createSource(`{"name":"open","verification":{"scheme":"none"},"event_type":{"value":"x.y"}}`)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	pr, pw := io.Pipe()
	go func() {
		chunk := bytes.Repeat([]byte("a"), 64<<10)
		for i := 0; i < 160; i++ { // 10 MB
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", s.api.URL+"/hooks/"+src.ID, pr)
	req.ContentLength = -1 // chunked
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	pr.CloseWithError(io.EOF)
	runtime.GC()
	runtime.ReadMemStats(&after)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413", resp.StatusCode)
	}
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 4<<20 {
		t.Errorf("heap grew by %d bytes for a refused 10 MB body", grown)
	}
}

// TestSlackURLVerification: a Slack source answers Slack's url_verification
// challenge once the request's signature checks out, and starts nothing.
func TestSlackURLVerification(t *testing.T) {
	s := newStack(t)
	src := s.createSource(`{"name":"slack events","verification":{"scheme":"slack","secret":"8f742231b10e8888abcd99yyyzzz85a5"},"event_type":{"path":"event.type"}}`)
	body := `{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, _ := http.NewRequest("POST", s.api.URL+"/hooks/"+src.ID, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hmacHex("8f742231b10e8888abcd99yyyzzz85a5", "v0:"+ts+":"+body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(raw), "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P") {
		t.Errorf("challenge answer %d %s", resp.StatusCode, raw)
	}
	var evs struct{ Data []models.Event }
	s.do("GET", "/v1/events", nil, &evs)
	if len(evs.Data) != 0 {
		t.Errorf("the challenge stored %d events", len(evs.Data))
	}
}
