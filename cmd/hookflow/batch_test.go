package main

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/config"
	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/internal/testenv"
	"github.com/hookflow/hookflow/models"
)

// TestBatchBehavesAsAlone: a batch holding a duplicate, an event whose only
// subscriber is disabled, an event whose automation fails and a plain event
// ends exactly as the four do when each is started alone (HOOKFLOW_BATCH_MAX=1):
// the same answers, deliveries and runs.
func TestBatchBehavesAsAlone(t *testing.T) {
	var batched, alone batchOutcome
	t.Run("batched", func(t *testing.T) {
		// A window long enough that the four concurrent sends share a batch.
		batched = runBatchScenario(t, true, func(c *config.Config) { c.BatchWindow = 300 * time.Millisecond })
	})
	t.Run("alone", func(t *testing.T) { alone = runBatchScenario(t, false, unbatched) })
	if t.Failed() {
		return
	}
	if !reflect.DeepEqual(batched, alone) {
		t.Errorf("batched and alone differ:\nbatched %+v\n  alone %+v", batched, alone)
	}
	t.Logf("both: %+v", batched)
}

// batchOutcome is what a user sees of the scenario, without ids and times.
type batchOutcome struct {
	DuplicateOfOriginal bool
	Deliveries          map[string][]string // by event: "endpoint status attempts"
	Runs                map[string][]string // by event: "status step:status..."
}

func runBatchScenario(t *testing.T, wantShared bool, opts ...stackOption) batchOutcome {
	s := newStack(t, opts...)
	crm := testenv.NewReceiver(t, 200)
	inventory := testenv.NewReceiver(t, 200)
	down := testenv.NewReceiver(t, 503)
	s.createEndpoint(crm.URL, "order.placed")
	off := s.createEndpoint(inventory.URL, "inventory.low")
	if code := s.do("PATCH", "/v1/endpoints/"+off.ID, map[string]any{"enabled": false}, nil); code != http.StatusOK {
		t.Fatalf("disable endpoint: %d", code)
	}
	s.createAutomation(`{"name":"forward reviews","trigger":{"event_type":"review.created"},"steps":[
	 {"id":"post","action":"webhook.post","params":{"url":"` + down.URL + `","body":{"review":"{{ .event.data.review_id }}"}}}]}`)
	// The embedded Temporal outlives each test's stack, and unbatched dedup is by
	// workflow ID: keys are the run's own.
	key := ids.New("o")
	orig := s.sendEvent(map[string]any{"type": "order.placed", "id": key, "data": map[string]any{"id": key}})
	s.waitDeliveries(orig.ID, 1, 20*time.Second)

	bodies := map[string]map[string]any{
		"duplicate": {"type": "order.placed", "id": key, "data": map[string]any{"id": key}},
		"disabled":  {"type": "inventory.low", "data": map[string]any{"sku": "A-1"}},
		"failing":   review(ids.New("rev"), 5),
		"plain":     {"type": "order.placed", "id": key + "-2", "data": map[string]any{"id": key + "-2"}},
	}
	got := map[string]accepted{}
	codes := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, body := range bodies {
		wg.Go(func() {
			var a accepted
			code := s.do("POST", "/v1/events", body, &a)
			mu.Lock()
			got[name], codes[name] = a, code
			mu.Unlock()
		})
	}
	wg.Wait()
	for name, code := range codes {
		if code != http.StatusAccepted {
			t.Fatalf("%s: status %d", name, code)
		}
	}
	out := batchOutcome{DuplicateOfOriginal: got["duplicate"].Duplicate && got["duplicate"].ID == orig.ID,
		Deliveries: map[string][]string{}, Runs: map[string][]string{}}

	batches := map[string]bool{}
	for _, name := range []string{"disabled", "failing", "plain"} {
		id := got[name].ID
		wfID := s.eventWorkflowID(id)
		ev, err := s.store.GetEvent(context.Background(), models.DefaultWorkspaceID, id)
		if err != nil {
			t.Fatal(err)
		}
		batches[ev.BatchID] = true
		// Wait for the event's workflow to end: then its deliveries are planned
		// and its first attempts made.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = s.client.GetWorkflow(ctx, wfID, "").Get(ctx, nil)
		cancel()
		if name == "failing" {
			// Its run ends on its own time; its webhook step records its
			// attempts as a delivery, read once the run has ended.
			for _, r := range s.waitRuns(id, 1, 30*time.Second) {
				line := string(r.Status)
				for _, st := range r.Steps {
					line += fmt.Sprintf(" %s:%s:%d", st.ID, st.Status, st.Attempts)
				}
				out.Runs[name] = append(out.Runs[name], line)
			}
		}
		var detail eventDetail
		s.do("GET", "/v1/events/"+id, nil, &detail)
		if detail.WorkflowID != wfID {
			t.Errorf("%s: workflow_id %q, want %q", name, detail.WorkflowID, wfID)
		}
		for _, d := range detail.Deliveries {
			label := "crm"
			switch d.EndpointID {
			case off.ID:
				label = "disabled"
			case "":
				label = "webhook step"
			}
			out.Deliveries[name] = append(out.Deliveries[name], fmt.Sprintf("%s %s %d", label, d.Status, d.AttemptCount))
		}
		sort.Strings(out.Deliveries[name])
	}
	if wantShared && (len(batches) != 1 || batches[""]) {
		t.Fatalf("the three new events were not one batch: %v", batches)
	}
	if !wantShared && !batches[""] {
		t.Fatalf("unbatched events carry batches %v", batches)
	}
	if n := len(inventory.Requests()); n != 0 {
		t.Errorf("disabled endpoint got %d requests", n)
	}
	return out
}
