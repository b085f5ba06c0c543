package actions

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/dispatch"
	"github.com/hookflow/hookflow/internal/netguard"
	"github.com/hookflow/hookflow/internal/signing"
)

// apiRequest is what a test API got.
type apiRequest struct {
	method, path, query string
	header              http.Header
	body                string
}

// testAPI is a loopback server that records the requests it gets and answers
// with reply.
type testAPI struct {
	*httptest.Server
	mu  sync.Mutex
	got []apiRequest
}

// newTestAPI starts a testAPI that answers with reply until the test ends.
func newTestAPI(t *testing.T, reply http.HandlerFunc) *testAPI {
	t.Helper()
	api := &testAPI{}
	api.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		api.mu.Lock()
		api.got = append(api.got, apiRequest{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), string(b)})
		api.mu.Unlock()
		reply(w, r)
	}))
	t.Cleanup(api.Close)
	return api
}

// requests is what the API got so far.
func (a *testAPI) requests() []apiRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]apiRequest(nil), a.got...)
}

// created answers 201 with a JSON id, as a CRM creating a record does.
func created(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Location", "/contacts/crm_42")
	w.Header().Set("ETag", `"7"`)
	w.Header().Set("Server", "test")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, `{"id":"crm_42","score":12}`)
}

// crmStep is the step the requests are made for.
var crmStep = StepContext{Key: "run_1:crm", Attempt: 1, MaxAttempts: 8}

// runHTTP runs http.request for crmStep through a dispatcher that allows loopback.
func runHTTP(t *testing.T, params map[string]any) (map[string]any, error) {
	t.Helper()
	return HTTPRequest{Dispatcher: loopbackClient()}.Run(context.Background(), crmStep, params)
}

// TestHTTPRequestSends: each method, with its headers, query and body kind, goes
// out as the step says, with an idempotency key on all but GET and HEAD.
func TestHTTPRequestSends(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]any
		want   apiRequest // header holds only the headers to check
	}{
		{"default is a POST of JSON", map[string]any{"json": map[string]any{"name": "Ann", "points": int64(50)}},
			apiRequest{"POST", "/contacts", "", http.Header{"Content-Type": {"application/json"}, "Idempotency-Key": {"run_1:crm"}}, `{"name":"Ann","points":50}`}},
		{"GET with a query and headers", map[string]any{"method": "get", "query": map[string]any{"email": "ann@example.com", "tag": []any{"a", "b"}, "n": int64(3)},
			"headers": map[string]any{"Authorization": "Bearer t0k", "X-Count": int64(2)}},
			apiRequest{"GET", "/contacts", "email=ann%40example.com&n=3&tag=a&tag=b", http.Header{"Authorization": {"Bearer t0k"}, "X-Count": {"2"}, "Idempotency-Key": nil, "Content-Type": nil}, ""}},
		{"PUT JSON", map[string]any{"method": "PUT", "json": []any{"x", true}},
			apiRequest{"PUT", "/contacts", "", http.Header{"Content-Type": {"application/json"}}, `["x",true]`}},
		{"PATCH a form", map[string]any{"method": "PATCH", "form": map[string]any{"name": "Ann Lee", "gold": true}},
			apiRequest{"PATCH", "/contacts", "", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, "gold=true&name=Ann+Lee"}},
		{"POST text with its own type and key", map[string]any{"body": "<x/>", "headers": map[string]any{"content-type": "application/xml", "Idempotency-Key": "mine"}},
			apiRequest{"POST", "/contacts", "", http.Header{"Content-Type": {"application/xml"}, "Idempotency-Key": {"mine"}}, "<x/>"}},
		{"POST text", map[string]any{"body": "hello"},
			apiRequest{"POST", "/contacts", "", http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, "hello"}},
		{"DELETE without a body", map[string]any{"method": "DELETE"},
			apiRequest{"DELETE", "/contacts", "", http.Header{"Content-Type": nil, "Idempotency-Key": {"run_1:crm"}}, ""}},
		{"HEAD", map[string]any{"method": "HEAD"},
			apiRequest{"HEAD", "/contacts", "", http.Header{"Idempotency-Key": nil}, ""}},
		{"a step cannot set the chain", map[string]any{"headers": map[string]any{"Hookflow-Chain": "v1,evt_x,0,forged"}},
			apiRequest{"POST", "/contacts", "", http.Header{"Hookflow-Chain": nil, "User-Agent": {"hookflow/1"}}, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newTestAPI(t, created)
			tt.params["url"] = api.URL + "/contacts"
			if _, err := runHTTP(t, tt.params); err != nil {
				t.Fatal(err)
			}
			reqs := api.requests()
			if len(reqs) != 1 {
				t.Fatalf("API got %d requests, want 1", len(reqs))
			}
			got := reqs[0]
			if got.method != tt.want.method || got.path != tt.want.path || got.query != tt.want.query || got.body != tt.want.body {
				t.Errorf("API got %s %s?%s %q, want %s %s?%s %q", got.method, got.path, got.query, got.body, tt.want.method, tt.want.path, tt.want.query, tt.want.body)
			}
			for k, want := range tt.want.header {
				if v := got.header.Values(k); !reflect.DeepEqual(v, want) {
					t.Errorf("header %s = %q, want %q", k, v, want)
				}
			}
		})
	}
}

// TestHTTPRequestOutput: the answer becomes the step's output: its status, the
// headers later steps act on, and the body as JSON when it is JSON, else as text.
func TestHTTPRequestOutput(t *testing.T) {
	tests := []struct {
		name  string
		reply http.HandlerFunc
		want  map[string]any
	}{
		{"JSON", created, map[string]any{"status": 201, "json": map[string]any{"id": "crm_42", "score": int64(12)},
			"headers": map[string]any{"content-type": "application/json; charset=utf-8", "location": "/contacts/crm_42", "etag": `"7"`, "content-length": "26"}}},
		{"JSON sent as text/plain", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, ` [1, 2.5] `) },
			map[string]any{"status": 200, "json": []any{int64(1), 2.5}, "headers": map[string]any{"content-type": "text/plain; charset=utf-8", "content-length": "10"}}},
		{"text", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, `{"looks":"like JSON"}`)
		}, map[string]any{"status": 200, "body": `{"looks":"like JSON"}`, "headers": map[string]any{"content-type": "text/html", "content-length": "21"}}},
		{"bad JSON is text", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"id":1}{"id":2}`)
		}, map[string]any{"status": 200, "body": `{"id":1}{"id":2}`, "headers": map[string]any{"content-type": "application/json", "content-length": "16"}}},
		{"no content", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) },
			map[string]any{"status": 204, "body": "", "headers": map[string]any{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newTestAPI(t, tt.reply)
			out, err := runHTTP(t, map[string]any{"url": api.URL})
			if err != nil {
				t.Fatal(err)
			}
			delete(out["headers"].(map[string]any), "date")
			if !reflect.DeepEqual(out, tt.want) {
				t.Errorf("output\n%#v\nwant\n%#v", out, tt.want)
			}
			if _, err := json.Marshal(out); err != nil {
				t.Errorf("output does not encode: %v", err)
			}
		})
	}
}

// TestHTTPRequestStatuses: a status outside expect fails the step the way the
// answer means, with the status and an excerpt of the answer in the error.
func TestHTTPRequestStatuses(t *testing.T) {
	tests := []struct {
		name       string
		code       int
		header     http.Header
		expect     []any
		wantErr    string // "" succeeds
		wantFinal  bool
		wantAfter  time.Duration
		wantStatus int
	}{
		{"2xx by default", 202, nil, nil, "", false, 0, 202},
		{"expected 404", 404, nil, []any{int64(200), int64(404)}, "", false, 0, 404},
		{"2xx not expected is final", 200, nil, []any{int64(201)}, "HTTP 200, expected 201: answer 200", true, 0, 0},
		{"rate limited", 429, http.Header{"Retry-After": {"6"}}, nil, "HTTP 429, expected 2xx: answer 429", false, 6 * time.Second, 0},
		{"server error retries", 500, nil, nil, "HTTP 500, expected 2xx: answer 500", false, 0, 0},
		{"unavailable asks for a pause", 503, http.Header{"Retry-After": {"2"}}, nil, "HTTP 503", false, 2 * time.Second, 0},
		{"request timeout retries", 408, nil, nil, "HTTP 408", false, 0, 0},
		{"too early retries", 425, nil, nil, "HTTP 425", false, 0, 0},
		{"not found is final", 404, nil, nil, "HTTP 404, expected 2xx: answer 404", true, 0, 0},
		{"conflict is final", 409, nil, nil, "HTTP 409", true, 0, 0},
		{"redirect is not followed", 302, http.Header{"Location": {"/elsewhere"}}, nil, "HTTP 302 (redirect to /elsewhere, not followed), expected 2xx", true, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newTestAPI(t, func(w http.ResponseWriter, _ *http.Request) {
				for k, v := range tt.header {
					w.Header()[k] = v
				}
				w.WriteHeader(tt.code)
				_, _ = io.WriteString(w, "answer "+strconv.Itoa(tt.code))
			})
			params := map[string]any{"url": api.URL}
			if tt.expect != nil {
				params["expect"] = tt.expect
			}
			out, err := runHTTP(t, params)
			if tt.wantErr == "" {
				if err != nil || out["status"] != tt.wantStatus {
					t.Fatalf("got %v, %v; want status %d", out, err, tt.wantStatus)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
			}
			if IsFinal(err) != tt.wantFinal {
				t.Errorf("final = %v, want %v", !tt.wantFinal, tt.wantFinal)
			}
			if got := RetryAfterOf(err); got != tt.wantAfter {
				t.Errorf("retry after %s, want %s", got, tt.wantAfter)
			}
		})
	}
}

// TestHTTPRequestSizeCap: an answer up to the cap is read whole; one byte over
// fails the step for good, naming the cap.
func TestHTTPRequestSizeCap(t *testing.T) {
	for _, size := range []int{MaxResponseBytes, MaxResponseBytes + 1} {
		api := newTestAPI(t, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `"`+strings.Repeat("a", size-2)+`"`)
		})
		out, err := runHTTP(t, map[string]any{"url": api.URL, "method": "GET"})
		if size == MaxResponseBytes {
			if s, _ := out["json"].(string); err != nil || len(s) != size-2 {
				t.Errorf("answer of %d bytes: err %v, json of %d bytes; want it whole", size, err, len(s))
			}
			continue
		}
		if !IsFinal(err) || !strings.Contains(err.Error(), "256 KiB") {
			t.Errorf("answer of %d bytes: err = %v, want final naming the 256 KiB cap", size, err)
		}
	}
}

// TestHTTPRequestSign: with sign, the request carries Standard Webhooks headers
// that verify with the automation's secret over the body sent; without a secret
// the step cannot sign and fails for good.
func TestHTTPRequestSign(t *testing.T) {
	secret, err := signing.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	api := newTestAPI(t, created)
	signed := crmStep
	signed.SigningSecret = secret
	params := map[string]any{"url": api.URL, "method": "PUT", "form": map[string]any{"a": "1"}, "sign": true}
	if _, err := (HTTPRequest{Dispatcher: loopbackClient()}).Run(context.Background(), signed, params); err != nil {
		t.Fatal(err)
	}
	got := api.requests()[0]
	if err := signing.Verify(secret, got.header, []byte(got.body), time.Now(), time.Minute); err != nil {
		t.Errorf("signature does not verify: %v (headers %v)", err, got.header)
	}
	if id := got.header.Get(signing.HeaderID); id != "msg_run_1:crm" {
		t.Errorf("webhook-id %q, want the run and step", id)
	}
	if _, err := runHTTP(t, params); !IsFinal(err) || !strings.Contains(err.Error(), "signing secret") {
		t.Errorf("sign without a secret: %v, want final", err)
	}
	if _, err := runHTTP(t, map[string]any{"url": api.URL}); err != nil {
		t.Fatal(err)
	}
	if h := api.requests()[1].header; h.Get(signing.HeaderSignature) != "" || h.Get(signing.HeaderID) != "" {
		t.Errorf("unsigned request carries %v", h)
	}
}

// TestHTTPRequestGuard: the SSRF guard applies to the URL and to where a
// redirect points: a redirect to a blocked address fails at once as blocked.
func TestHTTPRequestGuard(t *testing.T) {
	api := newTestAPI(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	})
	_, err := runHTTP(t, map[string]any{"url": api.URL, "method": "GET"})
	if !IsFinal(err) || !errors.Is(err, netguard.ErrBlocked) {
		t.Errorf("redirect to metadata: %v, want final and blocked", err)
	}
	closed := HTTPRequest{Dispatcher: dispatch.Dispatcher{Client: netguard.New(nil, false).Client(time.Second)}}
	if _, err := closed.Run(context.Background(), crmStep, map[string]any{"url": api.URL}); !IsFinal(err) || !errors.Is(err, netguard.ErrBlocked) {
		t.Errorf("loopback without allow-list: %v, want final and blocked", err)
	}
}

// TestHTTPRequestTimeout: params.timeout cuts a slow answer short, and the step
// retries.
func TestHTTPRequestTimeout(t *testing.T) {
	release := make(chan struct{})
	api := newTestAPI(t, func(http.ResponseWriter, *http.Request) { <-release })
	defer close(release)
	start := time.Now()
	_, err := runHTTP(t, map[string]any{"url": api.URL, "timeout": "200ms"})
	if err == nil || IsFinal(err) {
		t.Errorf("slow answer: %v, want a retryable error", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("gave up after %s, want about 200ms", took)
	}
}

// TestHTTPRequestBadParams: params no retry can fix are final, say what is
// wrong, and send nothing.
func TestHTTPRequestBadParams(t *testing.T) {
	api := newTestAPI(t, created)
	u := api.URL
	tests := []struct {
		name    string
		params  map[string]any
		wantErr string
	}{
		{"no URL", map[string]any{}, "params.url is required"},
		{"not http", map[string]any{"url": "ftp://example.com/x"}, "https://"},
		{"no host", map[string]any{"url": "http:///x"}, "no host"},
		{"credentials", map[string]any{"url": "http://u:p@127.0.0.1/"}, "credentials"},
		{"malformed", map[string]any{"url": "http://[::1"}, "not a URL"},
		{"method", map[string]any{"url": u, "method": "TRACE"}, "params.method must be one of"},
		{"typo", map[string]any{"url": u, "header": map[string]any{}}, "params.header: http.request takes"},
		{"two bodies", map[string]any{"url": u, "json": map[string]any{}, "body": "x"}, "params.json and params.body"},
		{"GET body", map[string]any{"url": u, "method": "GET", "json": map[string]any{}}, "a GET request has no body"},
		{"headers not object", map[string]any{"url": u, "headers": "x"}, "params.headers must be an object"},
		{"header value", map[string]any{"url": u, "headers": map[string]any{"X": map[string]any{}}}, "params.headers.X must be a string"},
		{"header name", map[string]any{"url": u, "headers": map[string]any{"X Y": "1"}}, "not a header name"},
		{"header injection", map[string]any{"url": u, "headers": map[string]any{"X": "a\r\nHost: evil"}}, "line break"},
		{"reserved header", map[string]any{"url": u, "headers": map[string]any{"content-length": "5"}}, "set by hookflow"},
		{"query not object", map[string]any{"url": u, "query": []any{}}, "params.query must be an object"},
		{"form value", map[string]any{"url": u, "form": map[string]any{"a": map[string]any{}}}, "params.form.a must be"},
		{"body not string", map[string]any{"url": u, "body": int64(5)}, "params.body must be a string"},
		{"expect not list", map[string]any{"url": u, "expect": int64(200)}, "params.expect must be a list"},
		{"expect empty", map[string]any{"url": u, "expect": []any{}}, "params.expect is empty"},
		{"expect not status", map[string]any{"url": u, "expect": []any{int64(200), int64(99)}}, "params.expect[1]: 99 is not an HTTP status"},
		{"expect not number", map[string]any{"url": u, "expect": []any{"2xx"}}, "params.expect[0] must be a whole number"},
		{"sign not bool", map[string]any{"url": u, "sign": "yes"}, "params.sign must be true or false"},
		{"timeout too long", map[string]any{"url": u, "timeout": "30s"}, "params.timeout"},
		{"timeout not duration", map[string]any{"url": u, "timeout": int64(5)}, "params.timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runHTTP(t, tt.params)
			if !IsFinal(err) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want final saying %q", err, tt.wantErr)
			}
		})
	}
	if n := len(api.requests()); n != 0 {
		t.Errorf("API got %d requests from bad params", n)
	}
}
