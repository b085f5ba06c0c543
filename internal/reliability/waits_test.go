//go:build reliability

package reliability

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/testenv"
)

// TestWorkerKilledWhileWaiting: runs waiting for a payment, delaying under a
// cancel_on, counting likes, debouncing cart updates, queued behind a
// concurrency limit and rate-limited, with the worker SIGKILLed while they wait
// and the events they wait for sent while it is dead. After the restart each
// flow ends as it would have without the kill: Slack hears each outcome once.
func TestWorkerKilledWhileWaiting(t *testing.T) {
	rep := scenario(t, 11, "Worker SIGKILL while runs wait, count, debounce and queue; their events sent while it is dead")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := newCluster(ctx, t, clusterOptions{retrySchedule: "0s,1s,2s"})
	srv := c.add(ctx, "server", "server")
	worker := c.add(ctx, "worker", "worker")
	api := newAPIClient(c.key)
	base := "http://" + srv.Addr
	slack := testenv.NewSlackReceiver(t)
	post := func(text string) string {
		return fmt.Sprintf(`{"id":"tell","action":"slack.post","params":{"webhook_url":%q,"text":%q}}`, slack.URL, text)
	}
	nudge := post("cart {{ .event.data.order_id }}")
	nudge = nudge[:len(nudge)-1] + `,"if":"!steps.paid.matched"}`
	for _, a := range []string{
		`{"name":"cart","trigger":{"event_type":"order.created"},"steps":[
		  {"id":"paid","action":"wait_for_event","params":{"event_type":"payment.succeeded","match":"data.order_id","timeout":"8s"}},` +
			nudge + `]}`,
		`{"name":"ship","trigger":{"event_type":"shipment.created"},"cancel_on":[{"event_type":"shipment.cancelled","match":"data.order_id"}],"steps":[
		  {"id":"cool","action":"delay","params":{"duration":"8s"}},` + post("ship {{ .event.data.order_id }}") + `]}`,
		`{"name":"popular","trigger":{"event_type":"review.liked","count":{"key":"event.data.review_id","threshold":5,"within":"1h"}},"steps":[` +
			post("popular {{ .event.data.review_id }} at {{ .event.data.n }}") + `]}`,
		`{"name":"cart updated","trigger":{"event_type":"cart.updated"},"debounce":{"key":"event.data.cart_id","period":"5s"},"steps":[` +
			post("cart {{ .event.data.cart_id }} settled at {{ .event.data.n }}") + `]}`,
		`{"name":"jobs","trigger":{"event_type":"job.queued"},"concurrency":{"key":"event.data.customer","limit":1},"steps":[
		  {"id":"work","action":"delay","params":{"duration":"1s"}},` + post("job {{ .event.data.n }}") + `]}`,
		`{"name":"thanks","trigger":{"event_type":"order.placed"},"rate_limit":{"key":"event.data.customer","limit":1,"period":"1h"},"steps":[` +
			post("thanks {{ .event.data.customer }}") + `]}`,
	} {
		api.must(ctx, t, 201, "POST", base+"/v1/automations", a, nil)
	}
	sent := 0
	send := func(typ, id string, data map[string]any) {
		sent++
		body := map[string]any{"type": typ, "data": data}
		if id != "" {
			body["id"] = id
		}
		api.must(ctx, t, 202, "POST", base+"/v1/events", body, nil)
	}
	for _, o := range []string{"c1", "c2", "c3", "c4"} {
		send("order.created", "", map[string]any{"order_id": o})
	}
	send("shipment.created", "", map[string]any{"order_id": "s1"})
	send("shipment.created", "", map[string]any{"order_id": "s2"})
	for i := 1; i <= 3; i++ {
		send("review.liked", fmt.Sprintf("like-%d", i), map[string]any{"review_id": "rv1", "n": i})
		send("job.queued", "", map[string]any{"customer": "cus_j", "n": i})
		send("order.placed", "", map[string]any{"customer": "cus_r", "n": i})
	}
	for i := 1; i <= 5; i++ {
		send("cart.updated", "", map[string]any{"cart_id": "k1", "n": i})
	}

	db := openDB(t, c.dsn)
	// Kill once every flow is in its waiting state: each event so far planned
	// (its batch claimed, the runs recorded, the entities told). An event
	// accepted but not yet planned when a worker dies is planned when the
	// batch's workflow task times out (up to 10 s later), and a debounce
	// measures quiet from when events are planned (docs/AUTOMATIONS.md).
	testenv.EventuallyCtx(ctx, t, 30*time.Second, func() bool {
		return queryInt(t, db, `SELECT count(*) FROM run_waits WHERE kind = 'event'`) == 4 &&
			queryInt(t, db, `SELECT count(*) FROM run_waits WHERE kind = 'cancel'`) == 2 &&
			queryInt(t, db, `SELECT count(*) FROM event_batches`) == 0 &&
			queryInt(t, db, `SELECT count(*) FROM automation_runs r JOIN events e ON e.id = r.event_id WHERE e.type IN ('job.queued', 'order.placed')`) == 6
	}, testenv.Msg("four carts wait for their payment, two shipments may be cancelled, every event is planned"))
	time.Sleep(time.Second) // the last batch's signals to the entities are sent
	worker.Kill()
	before := sent
	send("payment.succeeded", "", map[string]any{"order_id": "c1"})
	send("payment.succeeded", "", map[string]any{"order_id": "c2"})
	send("shipment.cancelled", "", map[string]any{"order_id": "s1"})
	send("review.liked", "like-3", map[string]any{"review_id": "rv1", "n": 3}) // a duplicate: counts once
	send("review.liked", "like-4", map[string]any{"review_id": "rv1", "n": 4})
	send("review.liked", "like-5", map[string]any{"review_id": "rv1", "n": 5})
	send("cart.updated", "", map[string]any{"cart_id": "k1", "n": 6})
	time.Sleep(2 * time.Second)
	worker.Start(ctx)
	restarted := time.Now()

	want := map[string]int{"cart c3": 1, "cart c4": 1, "ship s2": 1, "popular rv1 at 5": 1, "cart k1 settled at 6": 1,
		"job 1": 1, "job 2": 1, "job 3": 1, "thanks cus_r": 1}
	testenv.EventuallyCtx(ctx, t, 90*time.Second, func() bool {
		return len(slack.Answered()) >= len(want) &&
			queryInt(t, db, `SELECT count(*) FROM automation_runs WHERE status NOT IN ('succeeded','failed','skipped','cancelled')`) == 0
	}, func() string { return fmt.Sprintf("every flow ended (Slack has %v)", slack.Answered()) })
	settled := time.Since(restarted)
	time.Sleep(3 * time.Second) // a late duplicate would come now
	got := slack.Answered()
	for text, n := range want {
		if got[text] != n {
			t.Errorf("Slack got %q %d times, want %d", text, got[text], n)
		}
	}
	for text := range got {
		if want[text] == 0 {
			t.Errorf("Slack got %q, which no flow should say", text)
		}
	}
	cancelled := queryInt(t, db, `SELECT count(*) FROM automation_runs WHERE status = 'cancelled'`)
	skipped := queryInt(t, db, `SELECT count(*) FROM automation_runs WHERE status = 'skipped'`)
	overlap := queryInt(t, db, `SELECT count(*) FROM run_steps a JOIN run_steps b ON a.step_id = 'work' AND b.step_id = 'work' AND a.run_id < b.run_id
		AND a.started_at < b.finished_at AND b.started_at < a.finished_at`)
	if cancelled != 1 || skipped != 2 || overlap != 0 {
		t.Errorf("%d runs cancelled (want 1), %d skipped (want 2), %d overlapping jobs (want 0)", cancelled, skipped, overlap)
	}
	rep.Sent, rep.Acked = fmt.Sprintf("%d events (%d while the worker was dead)", sent, sent-before), fmt.Sprint(sent)
	rep.Delivered, rep.Lost = fmt.Sprintf("%d of %d Slack messages", len(got), len(want)), "0"
	rep.Checks = fmt.Sprintf("paid carts silent, unpaid told once; cancelled shipment cancelled (%d), kept one shipped; count fired once at the 5th distinct like; debounce one run with the last update; 3 jobs one at a time (%d overlaps); 2 rate-limited skips; worker dead 2 s, every flow ended %s after the restart",
		cancelled, overlap, settled.Round(100*time.Millisecond))
	rep.Duplicates = "0"
}
