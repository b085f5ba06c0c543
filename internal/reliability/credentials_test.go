//go:build reliability

package reliability

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/testenv"
)

// TestCredentialsAtRest: credentials used by http.request and slack.post, in
// real processes on a file-backed Temporal, reach their receivers and are
// nowhere at rest or in the open: not in Temporal's SQLite files, not in the
// app database's pg_dump, not in any process's output at debug level — also
// after a step failed with an error that quoted the Slack URL.
func TestCredentialsAtRest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := newCluster(ctx, t, clusterOptions{retrySchedule: "0s,200ms", env: []string{"HOOKFLOW_LOG_LEVEL=debug"}})
	srv := c.add(ctx, "server", "server")
	worker := c.add(ctx, "worker", "worker")
	api := newAPIClient(c.key)
	base := "http://" + srv.Addr
	crm := testenv.NewReceiver(t)
	slack := testenv.NewSlackReceiver(t)
	const token = "tok_REL_c4edb9d1e0"
	for name, value := range map[string]string{"crm_token": token, "team_slack": slack.URL + "/services/T9/B9/relslacksecret5151"} {
		api.must(ctx, t, 201, "POST", base+"/v1/credentials", map[string]string{"name": name, "value": value}, nil)
	}
	api.must(ctx, t, 201, "POST", base+"/v1/automations", `{"name":"crm and slack","trigger":{"event_type":"order.placed"},"steps":[
	 {"id":"crm","action":"http.request","params":{"method":"PUT","url":"`+crm.URL+`/o","json":{"o":"{{ .event.data.id }}"},
	   "headers":{"Authorization":"Bearer {{ secret \"crm_token\" }}"}}},
	 {"id":"tell","action":"slack.post","params":{"webhook_url":{"$secret":"team_slack"},"text":"order {{ .event.data.id }}"}}]}`, nil)
	api.must(ctx, t, 202, "POST", base+"/v1/events", map[string]any{"type": "order.placed", "data": map[string]any{"id": "r1"}}, nil)
	testenv.EventuallyCtx(ctx, t, 60*time.Second, func() bool { return len(crm.Requests()) == 1 && len(slack.Requests()) == 1 },
		testenv.Msg("the CRM and Slack got the order"))
	if got := crm.Requests()[0].Header.Get("Authorization"); got != "Bearer "+token {
		t.Errorf("the CRM got Authorization %q", got)
	}
	api.must(ctx, t, 200, "PUT", base+"/v1/credentials/team_slack", map[string]string{"value": "http://127.0.0.1:1/services/T9/B9/reldeadsecret6262"}, nil)
	api.must(ctx, t, 202, "POST", base+"/v1/events", map[string]any{"type": "order.placed", "data": map[string]any{"id": "r2"}}, nil)
	db := openDB(t, c.dsn)
	testenv.EventuallyCtx(ctx, t, 60*time.Second, func() bool {
		return queryInt(t, db, `SELECT count(*) FROM automation_runs WHERE status = 'failed' AND error LIKE '%[secret team_slack]%'`) == 1
	}, testenv.Msg("the second run failed, its error naming the credential, not its value"))

	files, _ := filepath.Glob(filepath.Join(c.dataDir, "*"))
	var temporal strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil {
			temporal.Write(b)
		}
	}
	dump, err := exec.Command("pg_dump", "--data-only", "--no-owner", "-d", c.dsn).Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	places := map[string]string{
		"Temporal's SQLite files": temporal.String(), "pg_dump": string(dump),
		"the server's output": srv.Out.String(), "the worker's output": worker.Out.String(), "Temporal's output": c.temporal.Out.String(),
	}
	for _, secret := range []string{token, "relslacksecret5151", "reldeadsecret6262"} {
		for where, text := range places {
			if strings.Contains(text, secret) {
				t.Errorf("%s holds %q", where, secret)
			}
		}
	}
	if temporal.Len() < 100_000 || !strings.Contains(temporal.String(), "order.placed") || !strings.Contains(strings.ToUpper(worker.Out.String()), "DEBUG") {
		t.Errorf("read %d bytes of Temporal's files (event type there: %v) and %d of worker output: too little to show anything",
			temporal.Len(), strings.Contains(temporal.String(), "order.placed"), len(worker.Out.String()))
	}
	t.Logf("checked %d bytes of Temporal's files, %d of pg_dump", temporal.Len(), len(dump))
}
