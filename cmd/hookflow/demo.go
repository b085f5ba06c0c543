//go:build !slim

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/internal/signing"
	"github.com/hookflow/hookflow/internal/store"
	"github.com/hookflow/hookflow/models"
)

const demoMarker = "Demo: reviews earn points"

// seedDemo sets up the flagship scenario in the default workspace: tiers, a CRM
// endpoint and a Slack webhook both pointed at the dev inbox, and the two
// automations (review → points, tier change → Slack). It does nothing when the demo
// is already there, so `hookflow dev --demo` can be run every time.
func seedDemo(ctx context.Context, st *store.Store, base string) (bool, error) {
	ws := models.DefaultWorkspaceID
	page, _, err := st.ListAutomations(ctx, ws, models.Page{Limit: 250})
	if err != nil {
		return false, err
	}
	for _, a := range page {
		if a.Name == demoMarker {
			return false, nil
		}
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := st.SetTiers(ctx, ws, []models.Tier{{Name: "Bronze", MinPoints: 0}, {Name: "Silver", MinPoints: 50}, {Name: "Gold", MinPoints: 150}}); err != nil {
		return false, err
	}
	secret, err := signing.NewSecret()
	if err != nil {
		return false, err
	}
	crm := &models.Endpoint{ID: ids.New(ids.Endpoint), WorkspaceID: ws, URL: base + "/dev/inbox/crm", Description: "Demo CRM",
		EventTypes: []string{"review.created"}, Enabled: true, Secrets: []models.Secret{{Value: secret, CreatedAt: now}}, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateEndpoint(ctx, crm); err != nil {
		return false, err
	}
	awardSecret, err := signing.NewSecret()
	if err != nil {
		return false, err
	}
	notifySecret, err := signing.NewSecret()
	if err != nil {
		return false, err
	}
	award := &models.Automation{
		ID: ids.New(ids.Automation), WorkspaceID: ws, Name: demoMarker, Enabled: true, Version: 1, CreatedAt: now, UpdatedAt: now,
		SigningSecret: awardSecret,
		Trigger:       models.Trigger{EventType: "review.created", Filter: "int(event.data.rating) >= 4"},
		Steps: []models.Step{{ID: "award", Action: "loyalty.award_points", Params: mustRaw(map[string]any{
			"customer_id":   "{{ .event.data.customer.id }}",
			"customer_name": "{{ .event.data.customer.name }}",
			"points":        50,
			"reason":        "review {{ .event.id }}",
		})}},
	}
	notify := &models.Automation{
		ID: ids.New(ids.Automation), WorkspaceID: ws, Name: "Demo: tell Slack about tiers", Enabled: true, Version: 1, CreatedAt: now, UpdatedAt: now,
		SigningSecret: notifySecret,
		Trigger:       models.Trigger{EventType: "loyalty.tier_changed"},
		Steps: []models.Step{{ID: "notify", Action: "slack.post", Params: mustRaw(map[string]any{
			"webhook_url": base + "/dev/inbox/slack",
			"text":        "{{ .event.data.customer_name }} reached {{ .event.data.tier }}",
		})}},
	}
	for _, a := range []*models.Automation{award, notify} {
		if err := st.CreateAutomation(ctx, a); err != nil {
			return false, err
		}
	}
	return true, nil
}

func printDemo(w io.Writer, base string) {
	fmt.Fprintf(w, `
The flagship demo is seeded: reviews rated 4+ earn 50 points (Silver at 50, Gold at
150), tier changes are posted to "Slack" (the dev inbox), and every review goes,
signed, to a "CRM" endpoint (also the dev inbox). Three reviews make it happen:

  curl -s -X POST %[1]s/v1/events -H "Authorization: Bearer $HOOKFLOW_API_KEY" -H 'Content-Type: application/json' -d '{"type":"review.created","id":"rev-1","data":{"rating":5,"customer":{"id":"cus_ann","name":"Ann"}}}'
  curl -s -X POST %[1]s/v1/events -H "Authorization: Bearer $HOOKFLOW_API_KEY" -H 'Content-Type: application/json' -d '{"type":"review.created","id":"rev-2","data":{"rating":4,"customer":{"id":"cus_ann","name":"Ann"}}}'
  curl -s -X POST %[1]s/v1/events -H "Authorization: Bearer $HOOKFLOW_API_KEY" -H 'Content-Type: application/json' -d '{"type":"review.created","id":"rev-3","data":{"rating":5,"customer":{"id":"cus_ann","name":"Ann"}}}'

Then: curl -s %[1]s/dev/inbox/slack   (Ann reached Silver, then Gold)
      curl -s %[1]s/dev/inbox/crm     (three signed deliveries)
      curl -s %[1]s/v1/loyalty/members/cus_ann -H "Authorization: Bearer $HOOKFLOW_API_KEY"
`, base)
}

func mustRaw(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
