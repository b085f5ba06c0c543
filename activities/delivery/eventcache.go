package delivery

import (
	"context"
	"sync"

	"github.com/hookflow/hookflow/models"
)

// eventCacheSize bounds the recent-events cache: more than the events in flight on a
// busy worker.
const eventCacheSize = 2048

// eventCache keeps the events this worker read last, so the deliveries of an event
// (one per endpoint; fifty in a fan-out, started together) share one read of it
// instead of each reading it back from the database: concurrent misses for the same
// event wait for the first one's read. Events never change once stored, so a cached
// one is never stale (it may outlive a deletion by retention, harmless for a
// delivery planned before). Only what the database returned is cached, so every
// attempt sends the same bytes (Postgres normalises JSON as it stores it).
type eventCache struct {
	mu    sync.Mutex
	byID  map[string]*cachedEvent
	order []string // insertion order, a ring of eventCacheSize
	next  int
}

type cachedEvent struct {
	ready chan struct{} // closed when ev/err are set
	ev    *models.Event
	err   error
}

// event returns the workspace's event, from the cache when this worker has it.
func (a *Activities) event(ctx context.Context, workspaceID, id string) (*models.Event, error) {
	c := &a.recent
	c.mu.Lock()
	if c.byID == nil {
		c.byID = make(map[string]*cachedEvent, eventCacheSize)
		c.order = make([]string, eventCacheSize)
	}
	if e, ok := c.byID[id]; ok {
		c.mu.Unlock()
		select {
		case <-e.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if e.err == nil && e.ev.WorkspaceID == workspaceID {
			cp := *e.ev
			return &cp, nil
		}
		// A failed read (it was dropped) or another workspace's id: read ourselves.
		return a.store.GetEvent(ctx, workspaceID, id)
	}
	e := &cachedEvent{ready: make(chan struct{})}
	c.byID[id] = e
	if old := c.order[c.next]; old != "" {
		delete(c.byID, old)
	}
	c.order[c.next] = id
	c.next = (c.next + 1) % eventCacheSize
	c.mu.Unlock()

	e.ev, e.err = a.store.GetEvent(ctx, workspaceID, id)
	if e.err != nil {
		c.mu.Lock()
		if c.byID[id] == e {
			delete(c.byID, id)
		}
		c.mu.Unlock()
	}
	close(e.ready)
	if e.err != nil {
		return nil, e.err
	}
	cp := *e.ev
	return &cp, nil
}

// put caches ev, as read from the database by someone else (a batch's claim),
// unless the cache holds it already.
func (c *eventCache) put(ev *models.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byID == nil {
		c.byID = make(map[string]*cachedEvent, eventCacheSize)
		c.order = make([]string, eventCacheSize)
	}
	if _, ok := c.byID[ev.ID]; ok {
		return
	}
	cp := *ev
	e := &cachedEvent{ready: make(chan struct{}), ev: &cp}
	close(e.ready)
	c.byID[ev.ID] = e
	if old := c.order[c.next]; old != "" {
		delete(c.byID, old)
	}
	c.order[c.next] = ev.ID
	c.next = (c.next + 1) % eventCacheSize
}
