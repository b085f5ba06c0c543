package delivery

import (
	"context"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/hookflow/hookflow/models"
)

// handoffTTL and handoffMax bound what PrepareEvent leaves for the first attempts:
// they run within milliseconds, in the same workflow task; anything older was
// never picked up (a first attempt that ran elsewhere) and is dropped.
const (
	handoffTTL = 10 * time.Second
	handoffMax = 4096
)

// handoffs carries each planned delivery, and its endpoint as PrepareEvent loaded
// it, to the delivery's first attempt: a local activity that runs in this worker in
// the same workflow task, moments later. It spares the first attempt reading back
// rows this worker has just read or written: two queries per delivery (a hundred
// for an event fanned out to fifty endpoints). It is a cache in memory and never
// crosses Temporal: endpoints hold signing secrets, which must stay out of workflow
// histories. A first attempt that finds nothing (it runs in another worker, or
// after handoffTTL) reads the database as every retry does.
type handoffs struct {
	mu sync.Mutex
	m  map[string]handoff
}

type handoff struct {
	d  models.Delivery
	ep models.Endpoint
	at time.Time
}

// put leaves d and ep for d's first attempt.
func (h *handoffs) put(d models.Delivery, ep models.Endpoint) {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = make(map[string]handoff)
	}
	if len(h.m) >= handoffMax {
		for id, e := range h.m {
			if now.Sub(e.at) > handoffTTL {
				delete(h.m, id)
			}
		}
		if len(h.m) >= handoffMax {
			return // full of fresh entries: this one reads the database
		}
	}
	h.m[d.ID] = handoff{d: d, ep: ep, at: now}
}

// take returns, once, what PrepareEvent left for the delivery's first attempt, if
// the caller is that attempt: a local activity. Regular activities (retries, and
// every attempt of runs started before first attempts were local) always read the
// database, so a stale entry can never stand in for a delivery that has moved on.
func (h *handoffs) take(ctx context.Context, deliveryID string) (*models.Delivery, *models.Endpoint, bool) {
	if !activity.IsActivity(ctx) || !activity.GetInfo(ctx).IsLocalActivity {
		return nil, nil, false
	}
	h.mu.Lock()
	e, ok := h.m[deliveryID]
	delete(h.m, deliveryID)
	h.mu.Unlock()
	if !ok || time.Since(e.at) > handoffTTL {
		return nil, nil, false
	}
	return &e.d, &e.ep, true
}
