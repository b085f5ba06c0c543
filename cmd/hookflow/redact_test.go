package main

import (
	"strings"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/testenv"
	"github.com/hookflow/hookflow/models"
)

// TestSecretsInURLsRedacted: an endpoint whose URL carries a token in its
// query and a Slack step with a literal webhook URL, both unreachable: the
// delivery's attempts and last error, the run's error, the Temporal
// histories and the logs name the hosts but not the secrets.
func TestSecretsInURLsRedacted(t *testing.T) {
	logs := &testenv.SyncBuffer{}
	s := newStackLogging(t, logs, withSchedule("0s,100ms"))
	s.createEndpoint("http://127.0.0.1:1/hook?token=tok_QUERY_SECRET_1", "order.placed")
	s.createAutomation(`{"name":"tell","trigger":{"event_type":"order.placed"},"steps":[{"id":"tell","action":"slack.post",
	  "params":{"webhook_url":"http://127.0.0.1:1/services/T1/B1/LITERALSLACKSECRET","text":"x"}}]}`)
	ev := s.sendEvent(map[string]any{"type": "order.placed", "data": map[string]any{}})
	ds := s.waitDeliveries(ev.ID, 1, 30*time.Second)
	run := s.waitRuns(ev.ID, 1, 30*time.Second)[0]
	d := s.delivery(ds[0].ID)
	var texts []string
	texts = append(texts, d.LastError, run.Error, run.Steps[0].Error, s.allHistories(), logs.String())
	for _, a := range d.Attempts {
		texts = append(texts, a.Error)
	}
	if d.Status != models.DeliveryFailed || run.Status != models.RunFailed || !strings.Contains(d.LastError, "127.0.0.1:1") ||
		!strings.Contains(d.LastError, "[redacted]") || !strings.Contains(run.Error, "[redacted]") {
		t.Errorf("delivery %s %q, run %s %q", d.Status, d.LastError, run.Status, run.Error)
	}
	for _, text := range texts {
		for _, secret := range []string{"tok_QUERY_SECRET_1", "LITERALSLACKSECRET"} {
			if strings.Contains(text, secret) {
				t.Errorf("%q shows up in %.300s", secret, text)
			}
		}
	}
}
