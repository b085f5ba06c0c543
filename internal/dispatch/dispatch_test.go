package dispatch

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/netguard"
)

func loopback() Dispatcher {
	return Dispatcher{Client: netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, false).Client(5 * time.Second)}
}

func TestPostReadsTheAnswer(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		w.Header().Set("Retry-After", "7")
		w.Header().Set("webhook-delivery", " Abort-Message ")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("busy \xff" + strings.Repeat("x", MaxExcerpt)))
	}))
	defer srv.Close()
	resp, err := loopback().Post(context.Background(), Request{URL: srv.URL, Body: []byte(`{}`), Header: http.Header{"X-A": {"b"}}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 503 || resp.OK() || resp.RetryAfter != 7*time.Second || !resp.Abort {
		t.Errorf("response %+v", resp)
	}
	if len(resp.Excerpt) > MaxExcerpt+3 || !strings.HasPrefix(resp.Excerpt, "busy \uFFFD") {
		t.Errorf("excerpt of %d bytes starting %q: want at most the limit, valid UTF-8", len(resp.Excerpt), resp.Excerpt[:8])
	}
	if got.Header.Get("X-A") != "b" || got.Header.Get("Content-Type") != "application/json" || got.Header.Get("User-Agent") != "hookflow/1" {
		t.Errorf("request headers %v", got.Header)
	}
}

// TestDoMethods: other methods than POST send their body (or none) with the type
// the caller names, and a request that asks for the body gets it, bounded.
func TestDoMethods(t *testing.T) {
	type seen struct {
		method, contentType, body string
		length                    int64
	}
	var got seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = seen{r.Method, r.Header.Get("Content-Type"), string(b), r.ContentLength}
		w.Header().Set("ETag", `"v1"`)
		_, _ = w.Write([]byte("0123456789"))
	}))
	defer srv.Close()
	tests := []struct {
		name     string
		req      Request
		want     seen
		wantBody string
		tooLarge bool
	}{
		{"GET sends no body and no type", Request{Method: "GET", MaxBody: 10}, seen{"GET", "", "", 0}, "0123456789", false},
		{"PUT with its type", Request{Method: "PUT", Body: []byte("a=1"), ContentType: "application/x-www-form-urlencoded", MaxBody: 4},
			seen{"PUT", "application/x-www-form-urlencoded", "a=1", 3}, "0123", true},
		{"DELETE without a body", Request{Method: "DELETE"}, seen{"DELETE", "", "", 0}, "", false},
		{"POST without a body", Request{Method: "POST"}, seen{"POST", "", "", 0}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.URL = srv.URL
			resp, err := loopback().Do(context.Background(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("server saw %+v, want %+v", got, tt.want)
			}
			if string(resp.Body) != tt.wantBody || resp.TooLarge != tt.tooLarge || resp.Excerpt != tt.wantBody && tt.req.MaxBody > 0 {
				t.Errorf("body %q (too large %v, excerpt %q), want %q (too large %v)", resp.Body, resp.TooLarge, resp.Excerpt, tt.wantBody, tt.tooLarge)
			}
			if tt.req.MaxBody == 0 && (resp.Body != nil || resp.Excerpt != "0123456789") {
				t.Errorf("without MaxBody: body %q, excerpt %q; want no body, the excerpt", resp.Body, resp.Excerpt)
			}
			if resp.Header.Get("ETag") != `"v1"` {
				t.Errorf("answer headers %v", resp.Header)
			}
		})
	}
	// Post keeps what deliveries have always sent: a body, if empty, with its type.
	if _, err := loopback().Post(context.Background(), Request{URL: srv.URL, Method: "GET"}); err != nil {
		t.Fatal(err)
	}
	if want := (seen{"POST", "application/json", "", 0}); got != want {
		t.Errorf("Post sent %+v, want %+v", got, want)
	}
}

func TestPostErrors(t *testing.T) {
	if _, err := loopback().Post(context.Background(), Request{URL: "http://[::1"}); !IsBadRequest(err) {
		t.Errorf("malformed URL: %v, want a BadRequestError", err)
	}
	closed := Dispatcher{Client: netguard.New(nil, false).Client(time.Second)}
	if _, err := closed.Post(context.Background(), Request{URL: "http://127.0.0.1:1/"}); !errors.Is(err, netguard.ErrBlocked) || IsBadRequest(err) {
		t.Errorf("blocked destination: %v, want netguard.ErrBlocked", err)
	}
}

func TestIsFinalStatus(t *testing.T) {
	for code, want := range map[int]bool{200: false, 302: false, 400: true, 404: true, 408: false, 410: true, 425: false, 429: false, 500: false, 503: false} {
		if IsFinalStatus(code) != want {
			t.Errorf("IsFinalStatus(%d) = %v", code, !want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"": 0, "5": 5 * time.Second, "-1": 0, "99999999": 24 * time.Hour, "soon": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Minute).Format(http.TimeFormat):     0,
	} {
		if got := ParseRetryAfter(v, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", v, got, want)
		}
	}
}
