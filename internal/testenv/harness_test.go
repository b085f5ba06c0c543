package testenv_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/testenv"
)

func post(t *testing.T, url, webhookID, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if webhookID != "" {
		req.Header.Set("webhook-id", webhookID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestReceiverScript(t *testing.T) {
	r := testenv.NewReceiver(t, 500, 200)
	for i, want := range []int{500, 200, 200} {
		if code, _, body := post(t, r.URL+"/hook", "msg_1", `{"id":"evt_1","data":{"n":1}}`); code != want || body != fmt.Sprintf(`{"answer":%d}`, want) {
			t.Errorf("request %d: %d %q, want %d and a JSON body naming it", i, code, body, want)
		}
	}
	post(t, r.URL, "msg_2", "not json")
	got := r.Requests()
	if len(got) != 4 {
		t.Fatalf("%d requests recorded, want 4", len(got))
	}
	first := got[0]
	if first.Seq != 0 || first.Method != "POST" || first.Path != "/hook" || first.Key != "msg_1" || first.N != 1 || first.Code != 500 {
		t.Errorf("first request recorded as %+v", first)
	}
	if first.JSON["id"] != "evt_1" || first.At.IsZero() || string(first.Body) != `{"id":"evt_1","data":{"n":1}}` {
		t.Errorf("first request's body %q decoded as %v at %v", first.Body, first.JSON, first.At)
	}
	if got[2].N != 3 || got[3].Key != "msg_2" || got[3].N != 1 || got[3].JSON != nil {
		t.Errorf("repeats counted per key: %+v", got[2:])
	}
	if a := r.Answered(); a["msg_1"] != 2 || a["msg_2"] != 1 {
		t.Errorf("Answered() = %v, want msg_1 twice (the 500 does not count) and msg_2 once", a)
	}
	r.SetCodes(410)
	if code, _, _ := post(t, r.URL, "msg_3", "{}"); code != 410 {
		t.Errorf("after SetCodes(410): %d", code)
	}
}

func TestSlackReceiver(t *testing.T) {
	r := testenv.NewSlackReceiver(t, 429, 200)
	code, h, body := post(t, r.URL, "", `{"text":"Ann reached Gold"}`)
	if code != 429 || h.Get("Retry-After") != "1" || body != "rate_limited" {
		t.Errorf("first answer %d %q (Retry-After %q), want Slack's 429", code, body, h.Get("Retry-After"))
	}
	if code, _, body := post(t, r.URL, "", `{"text":"Ann reached Gold"}`); code != 200 || body != "ok" {
		t.Errorf("second answer %d %q, want 200 ok", code, body)
	}
	if got := r.Requests(); got[1].Key != "Ann reached Gold" || got[1].N != 2 {
		t.Errorf("Slack requests keyed %q (N %d), want the text, second time", got[1].Key, got[1].N)
	}
}

func TestReceiverHoldAndAnswer(t *testing.T) {
	r := testenv.NewReceiver(t)
	r.SetAnswer(func(req testenv.Request) testenv.Reply {
		return testenv.Reply{Code: 503, Header: http.Header{"Webhook-Delivery": {"abort-message"}}}
	})
	r.Hold()
	answered := make(chan int)
	go func() {
		resp, err := http.Post(r.URL, "application/json", strings.NewReader(`{}`))
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	testenv.Eventually(t, 5*time.Second, func() bool { return len(r.InFlight()) == 1 }, testenv.Msg("the request is held"))
	if c := r.Requests()[0].Code; c != 0 {
		t.Errorf("held request recorded with code %d, want 0 (not answered)", c)
	}
	select {
	case <-answered:
		t.Fatal("a held request was answered before Release")
	case <-time.After(100 * time.Millisecond):
	}
	r.Release()
	if code := <-answered; code != 503 {
		t.Errorf("released request answered %d, want the answer func's 503", code)
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return len(r.InFlight()) == 0 }, testenv.Msg("nothing in flight"))
}

func TestFlagship(t *testing.T) {
	award, notify := testenv.FlagshipAward(), testenv.FlagshipNotify(`http://127.0.0.1:9/slack?a="b"`)
	var a, n struct {
		Name  string
		Steps []struct {
			Action string
			Params map[string]any
		}
	}
	if err := json.Unmarshal([]byte(award), &a); err != nil || a.Name != "Reviews earn points" || a.Steps[0].Action != "loyalty.award_points" {
		t.Errorf("award automation %+v (%v)", a, err)
	}
	if err := json.Unmarshal([]byte(notify), &n); err != nil || n.Steps[0].Params["webhook_url"] != `http://127.0.0.1:9/slack?a="b"` {
		t.Errorf("notify automation %+v (%v), want the Slack URL filled in", n, err)
	}
	if strings.Contains(notify, testenv.SlackURLPlaceholder) {
		t.Errorf("notify still has the placeholder: %s", notify)
	}
}

func TestProcess(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "p.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"up as $ROLE\"\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p := testenv.StartProcess(ctx, t, testenv.Command{Name: "sleeper", Path: script, Env: []string{"ROLE=first", "ROLE=sleeper"},
		Ready: func(out string) bool { return strings.Contains(out, "up as sleeper") }})
	if !p.Running() || p.Pid() == 0 {
		t.Fatal("not running after StartProcess")
	}
	p.Kill()
	if p.Running() {
		t.Fatal("running after Kill")
	}
	p.Start(ctx) // ready again only on this start's output
	if n := strings.Count(p.Out.String(), "up as sleeper"); n != 2 {
		t.Errorf("output has %d starts, want 2:\n%s", n, p.Out)
	}
	p.Term()
	if p.Running() || !strings.Contains(p.Out.String(), "terminated") {
		t.Errorf("after Term: running %v, output:\n%s", p.Running(), p.Out)
	}

	ft := &fakeTB{TB: t}
	ft.run(func() {
		testenv.StartProcess(ctx, ft, testenv.Command{Name: "quitter", Path: "/bin/sh", Args: []string{"-c", "echo bye"},
			Ready: func(string) bool { return false }})
	})
	if !ft.failed || !strings.Contains(ft.msg, "quitter exited while starting") || !strings.Contains(ft.msg, "bye") {
		t.Errorf("failed %v with %q, want the exit reported with the output", ft.failed, ft.msg)
	}
}

func TestBuildBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds hookflow")
	}
	bin, err := testenv.BuildBinary()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := testenv.BuildBinary()
	if again != bin {
		t.Errorf("second BuildBinary() = %s, want the first build %s", again, bin)
	}
	testenv.RunHookflow(context.Background(), t, nil, "help")
}
