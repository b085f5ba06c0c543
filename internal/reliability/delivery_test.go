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
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/hookflow/hookflow/internal/testenv"
)

// sendEvents posts n events built by mk to POST /v1/events with conc clients at once
// and returns the answers in order.
func sendEvents(ctx context.Context, api *apiClient, addr func(i int) string, n, conc int, mk func(i int) any) []answer {
	out := make([]answer, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				out[i] = api.do(ctx, "POST", "http://"+addr(i)+"/v1/events", mk(i), nil)
			}
		}()
	}
	wg.Wait()
	return out
}

// acceptedIDs fails the test unless every answer is a 202, and returns the event ids.
func acceptedIDs(t *testing.T, answers []answer) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	for i, a := range answers {
		var acc accepted
		if a.Err != nil || a.Code != 202 || json.Unmarshal(a.Body, &acc) != nil || acc.ID == "" {
			t.Fatalf("event %d: %s, want 202", i, a)
		}
		ids[acc.ID] = true
	}
	return ids
}

func durations(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	q := func(p float64) time.Duration {
		return ds[min(int(p*float64(len(ds))), len(ds)-1)].Round(10 * time.Millisecond)
	}
	return fmt.Sprintf("min %s, median %s, p95 %s, max %s", ds[0].Round(10*time.Millisecond), q(0.5), q(0.95), ds[len(ds)-1].Round(10*time.Millisecond))
}

// awaitNoneRunning waits (a minute at most) until Temporal runs no workflow.
func (c *cluster) awaitNoneRunning(ctx context.Context, t *testing.T) {
	t.Helper()
	tc, err := client.Dial(client.Options{HostPort: c.temporal.Addr, Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	running := int64(-1)
	testenv.EventuallyCtx(ctx, t, time.Minute, func() bool {
		n, err := tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: "default", Query: `ExecutionStatus = 'Running'`})
		if err != nil {
			return false
		}
		running = n.GetCount()
		return running == 0
	}, func() string { return fmt.Sprintf("no workflow running (%d still are)", running) })
}

// TestReceiverDown: 500 events to 5 endpoints whose receivers are down (503) for the
// first attempt of every delivery, then answer 200. Every delivery arrives, every
// attempt carries the event's id as webhook-id, nothing is sent after a 2xx, and no
// retry comes earlier than the scaled schedule's step minus its 20 % jitter. Under
// the full load the gaps also hold the queueing of 2,500 concurrent deliveries; a
// second, light wave of 5 events, down for two attempts, shows the schedule itself.
func TestReceiverDown(t *testing.T) {
	const events, endpoints, downLoad, downProbe, probes = 500, 5, 1, 2, 5
	rep := scenario(t, 1, "Receiver down: 503 to each delivery's first attempt (first two for the light-load probes), then 200")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	schedule := []time.Duration{0, time.Second, 2 * time.Second}
	for len(schedule) < 10 {
		schedule = append(schedule, 3*time.Second)
	}
	var sched []string
	for _, d := range schedule {
		sched = append(sched, d.String())
	}
	c := newCluster(ctx, t, clusterOptions{retrySchedule: strings.Join(sched, ",")})
	srv := c.add(ctx, "server", "server")
	c.add(ctx, "worker", "worker")
	api := newAPIClient(c.key)

	rcvs := make([]*testenv.Receiver, endpoints)
	for i := range rcvs {
		rcvs[i] = testenv.NewReceiver(t)
		rcvs[i].SetAnswer(func(h testenv.Request) testenv.Reply {
			downFor := downLoad
			if eventData(h)["wave"] == "probe" {
				downFor = downProbe
			}
			if h.N <= downFor {
				return testenv.JSONReply(503)
			}
			return testenv.JSONReply(200)
		})
		api.must(ctx, t, 201, "POST", "http://"+srv.Addr+"/v1/endpoints",
			map[string]any{"url": rcvs[i].URL, "event_types": []string{"rel.receiver_down"}}, nil)
	}
	wave := func(n int, tag string) map[string]bool {
		answers := sendEvents(ctx, api, func(int) string { return srv.Addr }, n, 8, func(i int) any {
			return map[string]any{"type": "rel.receiver_down", "data": map[string]any{"i": i, "wave": tag}}
		})
		want := acceptedIDs(t, answers)
		testenv.EventuallyCtx(ctx, t, 3*time.Minute, func() bool {
			for _, r := range rcvs {
				if tl := count(r, want, nil); tl.Delivered < len(want) {
					return false
				}
			}
			return true
		}, func() string {
			return fmt.Sprintf("every delivery of the %s wave arrived", tag)
		})
		return want
	}
	start := time.Now()
	want := wave(events, "load")
	loadTime := time.Since(start)
	// Light load means light: the load wave's workflows (a batch's retries are
	// workflows of their own) close before the probes are sent.
	c.awaitNoneRunning(ctx, t)
	probe := wave(probes, "probe")
	time.Sleep(2 * time.Second) // anything sent again after a 2xx would come now

	all := map[string]bool{}
	for id := range want {
		all[id] = true
	}
	for id := range probe {
		all[id] = true
	}
	rep.Sent = fmt.Sprintf("%d events × %d endpoints = %d deliveries (+%d light-load probes)", events, endpoints, events*endpoints, probes*endpoints)
	rep.Acked = fmt.Sprintf("%d events (202)", len(want))
	n, lost, sameID, afterOK, other, attempts := 0, []string(nil), true, 0, 0, 0
	gaps := map[bool][][]time.Duration{true: make([][]time.Duration, downProbe+1), false: make([][]time.Duration, downLoad+1)}
	early := 0
	for i, r := range rcvs {
		tl := count(r, all, nil)
		n += tl.Delivered
		for _, id := range tl.Lost {
			lost = append(lost, fmt.Sprintf("%s@endpoint%d", id, i))
		}
		sameID = sameID && tl.SameID
		other += tl.OtherEvents
		afterOK += tl.Duplicates
		attempts += tl.Requests
		byID := map[string][]testenv.Request{}
		for _, h := range r.Requests() {
			byID[h.Key] = append(byID[h.Key], h)
		}
		for id, hs := range byID {
			sort.Slice(hs, func(i, j int) bool { return hs[i].At.Before(hs[j].At) })
			for k := 1; k < len(hs) && k < len(gaps[probe[id]]); k++ {
				gap := hs[k].At.Sub(hs[k-1].At)
				gaps[probe[id]][k] = append(gaps[probe[id]][k], gap)
				// Jitter never brings a retry earlier than 80 % of its step; 10 ms
				// allow for the receiver's clock reading of two requests.
				if gap < schedule[k]*8/10-10*time.Millisecond {
					early++
					if early <= 5 {
						t.Errorf("event %s: attempt %d came %s after attempt %d; the schedule says %s ±20 %%", id, k+1, gap, k, schedule[k])
					}
				}
				// Light load: the gap is the schedule's step, its jitter and the
				// time it takes to run an attempt; a second of slack for a busy CI box.
				if probe[id] && gap > schedule[k]*12/10+time.Second {
					t.Errorf("probe %s: attempt %d came %s after attempt %d; the schedule says %s ±20 %%", id, k+1, gap, k, schedule[k])
				}
			}
		}
	}
	rep.Delivered = fmt.Sprintf("%d of %d (%d attempts)", n, len(all)*endpoints, attempts)
	rep.Lost = fmt.Sprint(len(lost))
	if len(lost) > 0 {
		t.Errorf("%d deliveries lost: %v", len(lost), lost)
	}
	if !sameID {
		t.Error("a request's webhook-id differed from its event id")
	}
	if afterOK > 0 {
		t.Errorf("%d deliveries were sent again after a 2xx", afterOK)
	}
	if other > 0 {
		t.Errorf("%d requests for events nobody sent", other)
	}
	rep.Duplicates = fmt.Sprintf("%d after a 2xx; %d repeats after 503s, webhook-id = event id on all: %v", afterOK, attempts-n, sameID)
	var gs []string
	for _, light := range []bool{true, false} {
		for k := 1; k < len(gaps[light]); k++ {
			what := "under load"
			if light {
				what = "light load"
			}
			gs = append(gs, fmt.Sprintf("gap %d→%d %s (step %s ±20 %%): %s", k, k+1, what, schedule[k], durations(gaps[light][k])))
		}
	}
	rep.Checks = fmt.Sprintf("retries earlier than schedule −20 %%: %d; %s; the 500-event wave took %s to deliver in full",
		early, strings.Join(gs, "; "), loadTime.Round(100*time.Millisecond))
	t.Log(rep.Checks)
}
