//go:build reliability

package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/hookflow/hookflow/internal/signing"
	"github.com/hookflow/hookflow/internal/testenv"
)

func review(id, customer string, rating int) map[string]any {
	return map[string]any{"type": "review.created", "id": id, "data": map[string]any{
		"review_id": id, "rating": rating, "customer_id": customer, "customer_name": "Name " + customer}}
}

// TestWorkerKilledMidDelivery: the flagship (review → points → tier change → Slack,
// and every review delivered to a CRM) with a CRM that holds every request open.
// The worker is SIGKILLed while it waits on them all, and started again after a
// pause. Every review reaches the CRM; only the requests in flight at the kill
// arrive twice, with the same webhook-id; the ledger has one entry per run and step
// and Slack one message per run.
func TestWorkerKilledMidDelivery(t *testing.T) {
	const reviews = 50
	rep := scenario(t, 2, "Worker SIGKILL mid-delivery, restarted after 2 s")
	// The killed worker's deliveries come back when their attempt's StartToClose
	// timeout (30 s) passes, or sooner if the first attempt runs as a local activity
	// (the workflow task timeout, 10 s); the bound covers the longer with room.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := newCluster(ctx, t, clusterOptions{retrySchedule: "0s,1s,2s,3s,3s,3s,3s,3s,3s,3s"})
	srv := c.add(ctx, "server", "server")
	worker := c.add(ctx, "worker", "worker")
	api := newAPIClient(c.key)
	base := "http://" + srv.Addr

	crm := testenv.NewReceiver(t)
	crm.Hold()
	slack := testenv.NewSlackReceiver(t)
	api.must(ctx, t, 200, "PUT", base+"/v1/loyalty/tiers", `{"tiers":[{"name":"Bronze","min_points":0},{"name":"Gold","min_points":50}]}`, nil)
	api.must(ctx, t, 201, "POST", base+"/v1/endpoints", map[string]any{"url": crm.URL, "event_types": []string{"review.created"}}, nil)
	api.must(ctx, t, 201, "POST", base+"/v1/automations", testenv.FlagshipAward(), nil)
	api.must(ctx, t, 201, "POST", base+"/v1/automations", testenv.FlagshipNotify(slack.URL), nil)

	answers := sendEvents(ctx, api, func(int) string { return srv.Addr }, reviews, 8, func(i int) any {
		return review(fmt.Sprintf("rev-%d", i), fmt.Sprintf("cus_%d", i), 5)
	})
	want := acceptedIDs(t, answers)
	rep.Sent, rep.Acked = fmt.Sprintf("%d reviews (CRM deliveries)", reviews), fmt.Sprint(len(want))

	// Kill when the CRM holds every delivery and every automation run has finished
	// (Slack has heard of every tier change): the worker is then in the middle of all
	// the deliveries. A Slack post the worker made but had not yet recorded when it
	// died would be posted again (Slack's incoming webhooks cannot deduplicate), so the
	// kill waits until the runs are recorded.
	db := openDB(t, c.dsn)
	testenv.EventuallyCtx(ctx, t, 90*time.Second, func() bool {
		return len(inFlight(crm)) == reviews &&
			queryInt(t, db, `SELECT count(*) FROM automation_runs WHERE status = 'succeeded'`) == 2*reviews
	}, func() string {
		return fmt.Sprintf("the CRM holds %d deliveries (has %d) and the %d runs finished (Slack has %d messages)", reviews, len(inFlight(crm)), 2*reviews, len(slack.Answered()))
	})
	held, slackHeld := inFlight(crm), inFlight(slack)
	worker.Kill()
	// The dead worker's connections close; release the CRM only once it has seen
	// every one of them go, so no answer is written to a connection nobody reads.
	testenv.EventuallyCtx(ctx, t, 10*time.Second, func() bool { return len(inFlight(crm)) == 0 }, testenv.Msg("the CRM saw the killed worker's connections close"))
	crm.Release()
	time.Sleep(2 * time.Second)
	restarted := time.Now()
	worker.Start(ctx)

	testenv.EventuallyCtx(ctx, t, 150*time.Second, func() bool { return count(crm, want, nil).Delivered == len(want) }, func() string {
		return fmt.Sprintf("every review reached the CRM after the restart (%d of %d)", count(crm, want, nil).Delivered, len(want))
	})
	recovered := time.Since(restarted)
	time.Sleep(2 * time.Second) // a late duplicate would come now

	tl := count(crm, want, held)
	rep.Delivered, rep.Lost = fmt.Sprintf("%d of %d", tl.Delivered, len(want)), fmt.Sprint(len(tl.Lost))
	rep.Duplicates = fmt.Sprintf("%d requests received twice (in flight at the kill: %d; others: %d), %d answered 2xx twice; webhook-id = event id on all: %v",
		tl.Repeats, len(held), len(tl.DupOutside), tl.Duplicates, tl.SameID)
	if len(tl.Lost) > 0 {
		t.Errorf("reviews never delivered to the CRM: %v", tl.Lost)
	}
	if len(tl.DupOutside) > 0 {
		t.Errorf("delivered twice though not in flight at the kill: %v", tl.DupOutside)
	}
	if !tl.SameID || tl.OtherEvents > 0 {
		t.Errorf("webhook-id differed from the event id (%v) or unknown events arrived (%d)", !tl.SameID, tl.OtherEvents)
	}

	testenv.EventuallyCtx(ctx, t, 30*time.Second, func() bool {
		return queryInt(t, db, `SELECT count(*) FROM automation_runs WHERE status NOT IN ('succeeded','failed')`) == 0
	}, testenv.Msg("every automation run finished"))
	runs := queryInt(t, db, `SELECT count(*) FROM automation_runs`)
	failed := queryInt(t, db, `SELECT count(*) FROM automation_runs WHERE status <> 'succeeded'`)
	awardRuns := queryInt(t, db, `SELECT count(*) FROM run_steps WHERE action = 'loyalty.award_points'`)
	entries := queryInt(t, db, `SELECT count(*) FROM loyalty_ledger`)
	perRunStep := queryInt(t, db, `SELECT count(*) FROM (SELECT idempotency_key FROM loyalty_ledger GROUP BY idempotency_key HAVING count(*) > 1) d`)
	perCustomer := queryInt(t, db, `SELECT count(*) FROM (SELECT customer_id FROM loyalty_ledger GROUP BY customer_id HAVING count(*) <> 1) d`)
	if runs != 2*reviews || failed != 0 {
		t.Errorf("%d automation runs (%d not succeeded), want %d succeeded (award and notify per review)", runs, failed, 2*reviews)
	}
	if entries != reviews || awardRuns != reviews || perRunStep != 0 || perCustomer != 0 {
		t.Errorf("ledger: %d entries for %d award steps (%d keys repeated, %d customers without exactly one entry), want one per review",
			entries, awardRuns, perRunStep, perCustomer)
	}
	slackMsgs := slack.Answered()
	repeats := 0
	for text, n := range slackMsgs {
		if n != 1 && !slackHeld[text] {
			repeats++
			t.Errorf("Slack got %q %d times", text, n)
		}
	}
	if len(slackMsgs) != reviews {
		t.Errorf("Slack got %d distinct messages, want %d (one per tier change)", len(slackMsgs), reviews)
	}
	rep.Checks = fmt.Sprintf("ledger: %d entries for %d award runs, 0 repeated (run, step) keys: %v; Slack: %d messages for %d notify runs, %d repeated; all %d runs succeeded: %v; deliveries complete %s after the restart",
		entries, awardRuns, perRunStep == 0, len(slackMsgs), runs-awardRuns, repeats, runs, failed == 0, recovered.Round(100*time.Millisecond))
}

// TestDuplicateStorm: the same event 20 times at once through POST /v1/events (same
// `id`) and 20 times through a Standard Webhooks source (same `webhook-id`): one
// event and one workflow each, one delivery per endpoint, one award.
func TestDuplicateStorm(t *testing.T) {
	const copies, endpoints = 20, 3
	rep := scenario(t, 6, "Duplicate storm: 20 × the same event via /v1/events and via /hooks")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := newCluster(ctx, t, clusterOptions{})
	srv := c.add(ctx, "server", "server")
	c.add(ctx, "worker", "worker")
	api := newAPIClient(c.key)
	base := "http://" + srv.Addr

	rcvs := make([]*testenv.Receiver, endpoints)
	for i := range rcvs {
		rcvs[i] = testenv.NewReceiver(t)
		api.must(ctx, t, 201, "POST", base+"/v1/endpoints", map[string]any{"url": rcvs[i].URL, "event_types": []string{"review.created"}}, nil)
	}
	api.must(ctx, t, 201, "POST", base+"/v1/automations", testenv.FlagshipAward(), nil)
	var src struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	api.must(ctx, t, 201, "POST", base+"/v1/sources", `{"name":"reviews","verification":{"scheme":"standard-webhooks"},"event_type":{"path":"type"}}`, &src)

	hookBody, _ := json.Marshal(map[string]any{"type": "review.created", "review_id": "hook-1", "rating": 5, "customer_id": "cus_hook", "customer_name": "Hook"})
	hookHeader, err := signing.Headers([]string{src.Secret}, "msg_storm_1", time.Now(), hookBody)
	if err != nil {
		t.Fatal(err)
	}
	storm := func(send func() answer) []answer {
		out := make([]answer, copies)
		var wg sync.WaitGroup
		gate := make(chan struct{})
		for i := range out {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				out[i] = send()
			}()
		}
		close(gate)
		wg.Wait()
		return out
	}
	viaAPI := storm(func() answer {
		return api.do(ctx, "POST", base+"/v1/events", review("storm-1", "cus_api", 5), nil)
	})
	viaHook := storm(func() answer {
		return api.do(ctx, "POST", base+"/hooks/"+src.ID, hookBody, hookHeader)
	})
	want := map[string]bool{}
	firsts := map[string]int{}
	for name, answers := range map[string][]answer{"/v1/events": viaAPI, "/hooks": viaHook} {
		ids := map[string]bool{}
		for _, a := range answers {
			var acc accepted
			if a.Err != nil || a.Code != 202 || json.Unmarshal(a.Body, &acc) != nil {
				t.Fatalf("%s: %s, want 202", name, a)
			}
			ids[acc.ID] = true
			want[acc.ID] = true
			if !acc.Duplicate {
				firsts[name]++
			}
		}
		if len(ids) != 1 || firsts[name] != 1 {
			t.Errorf("%s: %d copies answered with %d event ids, %d of them not marked duplicate; want one id, one original", name, copies, len(ids), firsts[name])
		}
	}
	rep.Sent, rep.Acked = fmt.Sprintf("2 × %d copies (%d deliveries expected)", copies, len(want)*endpoints), fmt.Sprintf("%d (all 202, %d distinct events)", 2*copies, len(want))

	db := openDB(t, c.dsn)
	testenv.EventuallyCtx(ctx, t, 60*time.Second, func() bool {
		for _, r := range rcvs {
			if count(r, want, nil).Delivered < len(want) {
				return false
			}
		}
		return queryInt(t, db, `SELECT count(*) FROM loyalty_ledger`) >= 2
	}, testenv.Msg("both events delivered to every endpoint and awarded"))
	time.Sleep(2 * time.Second) // repeats would come now

	delivered, dups, sameID := 0, 0, true
	for i, r := range rcvs {
		tl := count(r, want, nil)
		delivered += tl.Delivered
		dups += tl.Repeats + tl.OtherEvents
		sameID = sameID && tl.SameID
		if tl.Repeats > 0 || tl.OtherEvents > 0 || len(tl.Lost) > 0 {
			t.Errorf("endpoint %d: %d repeats, %d unknown events, lost %v; want each event once", i, tl.Duplicates, tl.OtherEvents, tl.Lost)
		}
	}
	events := queryInt(t, db, `SELECT count(*) FROM events WHERE type = 'review.created'`)
	entries := queryInt(t, db, `SELECT count(*) FROM loyalty_ledger`)
	runs := queryInt(t, db, `SELECT count(*) FROM automation_runs`)
	if events != 2 || entries != 2 || runs != 2 {
		t.Errorf("%d review events, %d ledger entries, %d runs stored; want 2 of each", events, entries, runs)
	}

	tc, err := client.Dial(client.Options{HostPort: c.temporal.Addr, Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	var wfs int
	testenv.EventuallyCtx(ctx, t, 30*time.Second, func() bool {
		n, err := tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: "default",
			// A batch (or, with HOOKFLOW_BATCH_MAX=1, an EventWorkflow) per event;
			// a batch of duplicates only starts nothing.
			Query: `WorkflowType IN ('BatchWorkflow', 'EventWorkflow') AND HookflowEventType = 'review.created'`})
		if err != nil {
			t.Logf("count workflows: %v", err)
			return false
		}
		wfs = int(n.GetCount())
		return wfs >= 2
	}, testenv.Msg("Temporal's visibility lists the storm's workflows"))
	if wfs != 2 {
		t.Errorf("%d event workflows for review.created, want 2 (one per stormed event)", wfs)
	}
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	rep.Delivered, rep.Lost = fmt.Sprintf("%d of %d", delivered, len(want)*endpoints), fmt.Sprint(len(want)*endpoints-delivered)
	rep.Duplicates = fmt.Sprintf("%d, webhook-id = event id on all: %v", dups, sameID)
	rep.Checks = fmt.Sprintf("originals per channel: %v; events stored: %d; event workflows (batches): %d; ledger entries: %d; runs: %d (events %s)",
		firsts, events, wfs, entries, runs, strings.Join(ids, ", "))
}
