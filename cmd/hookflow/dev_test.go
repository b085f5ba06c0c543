package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/signing"
	"github.com/hookflow/hookflow/internal/testenv"
)

// startDev runs `hookflow dev` in-process on free ports and waits until the API
// answers. out gets stdout and stderr interleaved, as a terminal (or a log of it) does.
// The SMTP sink, too, gets a free port unless env names one.
func startDev(t *testing.T, env map[string]string) (stop func(), out *testenv.SyncBuffer) {
	t.Helper()
	if env["HOOKFLOW_DEV_SMTP_ADDR"] == "" {
		env["HOOKFLOW_DEV_SMTP_ADDR"] = testenv.FreeAddr(t)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out = &testenv.SyncBuffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"dev"}, out, out, envMap(env)) }()
	t.Cleanup(cancel) // stops a dev that never became ready
	testenv.Eventually(t, 90*time.Second, func() bool {
		select {
		case code := <-done:
			t.Fatalf("hookflow dev exited %d before it was ready: %s", code, out.String())
		default:
		}
		resp, err := http.Get("http://" + env["HOOKFLOW_HTTP_ADDR"] + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, func() string { return "hookflow dev ready: " + out.String() })
	return func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("hookflow dev exited %d", code)
			}
		case <-time.After(60 * time.Second):
			t.Error("hookflow dev did not stop within 60s")
		}
	}, out
}

// keyOnce fails unless key occurs exactly once in out, on the banner's "API key"
// line: every other copy in a terminal log is one more place the key leaks from.
func keyOnce(t *testing.T, out, key string) {
	t.Helper()
	if n := strings.Count(out, key); n != 1 {
		t.Errorf("the API key occurs %d times in the output, want once:\n%s", n, out)
		return
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, key) && !strings.Contains(line, "API key") {
			t.Errorf("the API key is on %q, want the banner's API key line", line)
		}
	}
}

// TestDevWalkthrough follows the README: `hookflow dev` prints a key (once, in its
// banner), an endpoint on the dev inbox receives a signed delivery, the Web UI
// answers, and after a restart on the same data dir the event is still there.
func TestDevWalkthrough(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{
		"HOOKFLOW_DATA_DIR":   filepath.Join(dir, "data"),
		"HOOKFLOW_HTTP_ADDR":  testenv.FreeAddr(t),
		"TEMPORAL_ADDRESS":    testenv.FreeAddr(t),
		"TEMPORAL_UI_ADDRESS": testenv.FreeAddr(t),
		"HOOKFLOW_LOG_LEVEL":  "info", // the log, too, must not repeat the key
	}
	stop, out := startDev(t, env)
	keyBytes, err := os.ReadFile(filepath.Join(env["HOOKFLOW_DATA_DIR"], "api_key"))
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(keyBytes))
	for _, want := range []string{key, "http://" + env["HOOKFLOW_HTTP_ADDR"], env["TEMPORAL_UI_ADDRESS"], "/dev/inbox/", "/docs"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dev banner lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(out.String(), "export HOOKFLOW_API_KEY=$(cat "+filepath.Join(env["HOOKFLOW_DATA_DIR"], "api_key")+")") {
		t.Errorf("dev banner lacks the export line reading the key file:\n%s", out.String())
	}
	base := "http://" + env["HOOKFLOW_HTTP_ADDR"]
	call := func(method, path, body string, want int, out any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, raw, want)
		}
		if out != nil {
			if err := json.Unmarshal(raw, out); err != nil {
				t.Fatal(err)
			}
		}
	}
	var ep struct{ ID, Secret string }
	call("POST", "/v1/endpoints", `{"url":"`+base+`/dev/inbox/crm","event_types":["review.created"],"description":"CRM"}`, 201, &ep)
	var ev struct {
		ID        string
		Duplicate bool
	}
	call("POST", "/v1/events", `{"type":"review.created","id":"review-1001","data":{"customer":{"name":"Ann"},"rating":5}}`, 202, &ev)

	var inbox struct {
		Requests []struct {
			Method  string
			Headers map[string]string
			Body    string
		}
	}
	testenv.Until(30*time.Second, func() bool {
		call("GET", "/dev/inbox/crm", "", 200, &inbox)
		return len(inbox.Requests) > 0
	})
	if len(inbox.Requests) != 1 {
		t.Fatalf("inbox has %d requests, want 1", len(inbox.Requests))
	}
	got := inbox.Requests[0]
	h := http.Header{}
	for k, v := range got.Headers {
		h.Set(k, v)
	}
	if err := signing.Verify(ep.Secret, h, []byte(got.Body), time.Now(), 5*time.Minute); err != nil {
		t.Errorf("inbox delivery does not verify: %v (headers %v)", err, got.Headers)
	}
	if resp, err := http.Get("http://" + env["TEMPORAL_UI_ADDRESS"] + "/"); err != nil || resp.StatusCode != 200 {
		t.Errorf("Web UI: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	stop()
	keyOnce(t, out.String(), key)

	// Same data dir: the event, its delivery and the key survive.
	stop, out = startDev(t, env)
	defer stop()
	var detail struct {
		ID         string
		Deliveries []struct{ Status string }
	}
	call("GET", "/v1/events/"+ev.ID, "", 200, &detail)
	if len(detail.Deliveries) != 1 || detail.Deliveries[0].Status != "succeeded" {
		t.Errorf("after restart: %+v", detail)
	}
	var dup struct {
		ID        string
		Duplicate bool
	}
	call("POST", "/v1/events", `{"type":"review.created","id":"review-1001","data":{}}`, 202, &dup)
	if !dup.Duplicate || dup.ID != ev.ID {
		t.Errorf("re-sent after restart: %+v, want duplicate of %s", dup, ev.ID)
	}
	keyOnce(t, out.String(), key)
}
