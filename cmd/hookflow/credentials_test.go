package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hookflow/hookflow/internal/testenv"
	"github.com/hookflow/hookflow/models"
)

// TestCredentials: a token used in an http.request header and a Slack webhook URL
// kept as credentials reach their receivers, and appear nowhere else: not in
// the app database (pg_dump), not in Temporal's histories, not in a log line,
// not in any API answer; a step that fails keeps them out of its error; the
// dry run shows placeholders; a literal Slack URL is warned about.
func TestCredentials(t *testing.T) {
	logs := &testenv.SyncBuffer{}
	s := newStackLogging(t, logs)
	crm := testenv.NewReceiver(t, 200)
	slack := testenv.NewSlackReceiver(t, 200)
	const token = "tok_CRM_s3cr3t_9f8e7d"
	slackURL := slack.URL + "/services/T0HOOK/B0FLOW/slackpathsecret4242"
	var answers []string
	keep := func(code int, body any) {
		b, _ := protojsonOrJSON(body)
		answers = append(answers, string(b))
		_ = code
	}
	for name, value := range map[string]string{"crm_token": token, "team_slack": slackURL} {
		var cr models.Credential
		code := s.do("POST", "/v1/credentials", map[string]string{"name": name, "value": value}, &cr)
		if code != http.StatusCreated || cr.Name != name || !strings.HasPrefix(cr.ID, "cred_") {
			t.Fatalf("create credential %s: %d %+v", name, code, cr)
		}
		keep(code, cr)
	}
	var dup apiError
	if code := s.do("POST", "/v1/credentials", map[string]string{"name": "crm_token", "value": "x"}, &dup); code != http.StatusConflict {
		t.Errorf("a second crm_token: %d %+v", code, dup)
	}
	var bad apiError
	if code := s.do("POST", "/v1/credentials", map[string]string{"name": "CRM token", "value": "x"}, &bad); code != 400 || !strings.Contains(bad.Error.Message, "name") {
		t.Errorf("a bad name: %d %+v", code, bad)
	}
	au := s.createAutomation(`{"name":"tell the CRM and Slack","trigger":{"event_type":"order.placed"},"steps":[
	 {"id":"crm","action":"http.request","params":{"method":"PUT","url":"` + crm.URL + `/orders","json":{"order":"{{ .event.data.order_id }}"},
	   "headers":{"Authorization":"Bearer {{ secret \"crm_token\" }}"}}},
	 {"id":"tell","action":"slack.post","params":{"webhook_url":{"$secret":"team_slack"},"text":"order {{ .event.data.order_id }}"}}]}`)
	keep(0, au)
	ev := s.sendEvent(map[string]any{"type": "order.placed", "data": map[string]any{"order_id": "o-cred"}})
	run := s.waitRuns(ev.ID, 1, 20*time.Second)[0]
	if run.Status != models.RunSucceeded {
		t.Fatalf("run %s: %+v", run.Status, run.Steps)
	}
	if got := crm.Requests(); len(got) != 1 || got[0].Header.Get("Authorization") != "Bearer "+token {
		t.Errorf("the CRM got %d requests, Authorization %q", len(got), crm.Requests()[0].Header.Get("Authorization"))
	}
	if got := slack.Requests(); len(got) != 1 || !strings.HasSuffix(got[0].Path, "/services/T0HOOK/B0FLOW/slackpathsecret4242") {
		t.Errorf("slack got %+v", got)
	}

	// A failing step: the receiver is gone, and the error names the URL.
	s.do("PUT", "/v1/credentials/team_slack", map[string]string{"value": "http://127.0.0.1:1/services/T0HOOK/B0FLOW/deadpathsecret7777"}, nil)
	failing := s.sendEvent(map[string]any{"type": "order.placed", "data": map[string]any{"order_id": "o-fail"}})
	fr := s.waitRuns(failing.ID, 1, 30*time.Second)[0]
	if fr.Status != models.RunFailed || !strings.Contains(fr.Error, "[secret team_slack]") {
		t.Errorf("failed run %s: %q, want the error with the credential replaced", fr.Status, fr.Error)
	}

	var dry map[string]any
	s.do("POST", "/v1/automations/"+au.ID+"/test", `{"event":{"type":"order.placed","data":{"order_id":"o1"}}}`, &dry)
	keep(0, dry)
	if b, _ := protojsonOrJSON(dry); !strings.Contains(string(b), "[secret crm_token]") {
		t.Errorf("dry run: %s, want placeholders", b)
	}
	var warned struct {
		Warnings []string `json:"warnings"`
	}
	s.do("POST", "/v1/automations", `{"name":"literal","trigger":{"event_type":"a.b"},"steps":[{"id":"s","action":"slack.post","params":{"webhook_url":"https://hooks.slack.com/services/T1/B1/x","text":"x"}}]}`, &warned)
	if len(warned.Warnings) != 1 || !strings.Contains(warned.Warnings[0], "POST /v1/credentials") {
		t.Errorf("literal Slack URL: warnings %q", warned.Warnings)
	}
	for _, path := range []string{"/v1/credentials", "/v1/credentials/crm_token", "/v1/automations/" + au.ID, "/v1/runs/" + run.ID,
		"/v1/runs/" + fr.ID, "/v1/events/" + ev.ID, "/v1/automations/" + au.ID + "/runs", "/v1/events?limit=100"} {
		var body any
		keep(s.do("GET", path, nil, &body), body)
	}

	secrets := []string{token, "slackpathsecret4242", "deadpathsecret7777"}
	dump := pgDump(t, s.cfg.DatabaseURL)
	histories := s.allHistories()
	for _, secret := range secrets {
		if strings.Contains(dump, secret) {
			t.Errorf("pg_dump shows %q", secret)
		}
		if strings.Contains(histories, secret) {
			t.Errorf("a workflow history holds %q", secret)
		}
		if strings.Contains(logs.String(), secret) {
			t.Errorf("a log line holds %q", secret)
		}
		for _, a := range answers {
			if strings.Contains(a, secret) {
				t.Errorf("an API answer holds %q: %s", secret, a)
			}
		}
	}
	if len(histories) < 1000 || !strings.Contains(logs.String(), "level=") {
		t.Errorf("read %d bytes of histories and %d of logs: too little to show anything", len(histories), len(logs.String()))
	}
}

// allHistories is every workflow history of the stack's task queue, as JSON.
func (s *stack) allHistories() string {
	s.t.Helper()
	ctx := context.Background()
	resp, err := s.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: `TaskQueue = "` + s.cfg.TaskQueue + `"`})
	if err != nil {
		s.t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range resp.Executions {
		it := s.client.GetWorkflowHistory(ctx, e.Execution.WorkflowId, e.Execution.RunId, false, 0)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				s.t.Fatal(err)
			}
			j, _ := protojson.Marshal(ev)
			b.Write(j)
			// Payloads are base64 in JSON: read them decoded too.
			for _, m := range payloadData.FindAllSubmatch(j, -1) {
				if d, err := base64.StdEncoding.DecodeString(string(m[1])); err == nil {
					b.Write(d)
				}
			}
		}
	}
	return b.String()
}

var payloadData = regexp.MustCompile(`"data":"([A-Za-z0-9+/=]+)"`)

func protojsonOrJSON(v any) ([]byte, error) { return json.Marshal(v) }
