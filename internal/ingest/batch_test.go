package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookflow/hookflow/models"
)

// batchStore is an in-memory BatchStore: events by workspace and key, batches
// by id, with the claim the workflow would make.
type batchStore struct {
	mu          sync.Mutex
	events      map[string]models.Event // by workspace + key
	batches     map[string]models.EventBatch
	inserts     [][]string // event ids of each InsertEventBatch call
	failAbandon bool
}

func newBatchStore() *batchStore {
	return &batchStore{events: map[string]models.Event{}, batches: map[string]models.EventBatch{}}
}

func (s *batchStore) InsertEventBatch(_ context.Context, b models.EventBatch, evs []models.Event) ([]*models.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches[b.ID] = b
	var ids []string
	out := make([]*models.Event, len(evs))
	for i, ev := range evs {
		ids = append(ids, ev.ID)
		if ev.BatchID != b.ID {
			return nil, fmt.Errorf("event %s not of batch %s", ev.ID, b.ID)
		}
		k := ev.WorkspaceID + "/" + ev.DedupKey
		if orig, ok := s.events[k]; ok {
			out[i] = &orig
			continue
		}
		s.events[k] = ev
	}
	s.inserts = append(s.inserts, ids)
	return out, nil
}

func (s *batchStore) AbandonEventBatch(_ context.Context, id string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failAbandon {
		return false, errors.New("database down")
	}
	if _, ok := s.batches[id]; !ok {
		return false, nil
	}
	delete(s.batches, id)
	for k, ev := range s.events {
		if ev.BatchID == id {
			delete(s.events, k)
		}
	}
	return true, nil
}

func (s *batchStore) claim(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.batches, id)
}

func (s *batchStore) GetEventBatch(_ context.Context, id string) (*models.EventBatch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.batches[id]
	if !ok {
		return nil, models.ErrNotFound
	}
	return &b, nil
}

func (s *batchStore) OpenEventBatches(_ context.Context, before time.Time, limit int) ([]models.EventBatch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []models.EventBatch
	for _, b := range s.batches {
		if b.CreatedAt.Before(before) && len(out) < limit {
			out = append(out, b)
		}
	}
	return out, nil
}

func (s *batchStore) insertCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.inserts)
}

func (s *batchStore) has(workspaceID, key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.events[workspaceID+"/"+key]
	return ok
}

// batchEngine records the batches started; gate, when set, holds each start
// until it is received from; fail makes starts fail (claimed: after the
// workflow claimed the batch, as a start that timed out but happened).
type batchEngine struct {
	store   *batchStore
	mu      sync.Mutex
	batches []models.EventBatch
	singles []string
	gate    chan struct{}
	fail    error
	claimed bool
}

func (e *batchEngine) StartEvent(_ context.Context, ev models.Event, only string) (string, bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.singles = append(e.singles, ev.ID+"->"+only)
	return ev.ID, false, nil
}

func (e *batchEngine) StartBatch(_ context.Context, b models.EventBatch, _, _ string) error {
	if e.gate != nil {
		<-e.gate
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.batches = append(e.batches, b)
	if e.claimed {
		e.store.claim(b.ID)
	}
	if e.fail != nil {
		return e.fail
	}
	e.store.claim(b.ID)
	return nil
}

func (e *batchEngine) sizes() []int {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []int
	for _, b := range e.batches {
		out = append(out, len(b.EventIDs))
	}
	return out
}

func event(ws, id string, data int) models.Event {
	return models.Event{ID: id, WorkspaceID: ws, Type: "t", DedupKey: "evt:" + id, Data: make([]byte, data)}
}

type answer struct {
	id  string
	dup bool
	err error
}

func take(b *Batcher, evs ...models.Event) []answer {
	out := make([]answer, len(evs))
	var wg sync.WaitGroup
	for i, ev := range evs {
		wg.Go(func() {
			id, dup, err := b.StartEvent(context.Background(), ev, "")
			out[i] = answer{id, dup, err}
		})
	}
	wg.Wait()
	return out
}

// waitQueued waits until n events wait in ws's queue behind the batch under way.
func waitQueued(t *testing.T, b *Batcher, ws string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b.mu.Lock()
		q := b.queues[ws]
		got := 0
		if q != nil {
			got = len(q.waiting)
		}
		b.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%d events never queued", n)
}

// TestBatcherGroupCommit: an event on a quiet system goes at once, alone; the
// events that arrive while its batch starts go together in the next one, up to
// the bounds; every caller hears its own event's id.
func TestBatcherGroupCommit(t *testing.T) {
	st := newBatchStore()
	eng := &batchEngine{store: st, gate: make(chan struct{})}
	b := NewBatcher(st, eng, BatchConfig{MaxEvents: 4, MaxBytes: 1000})
	first := make(chan []answer)
	go func() { first <- take(b, event("ws_a", "evt_0", 10)) }()
	for st.insertCalls() == 0 {
		time.Sleep(time.Millisecond)
	}
	rest := make(chan []answer)
	var evs []models.Event
	for i := 1; i <= 6; i++ {
		evs = append(evs, event("ws_a", fmt.Sprintf("evt_%d", i), 10))
	}
	evs = append(evs, event("ws_a", "evt_big", 2000))
	go func() { rest <- take(b, evs...) }()
	waitQueued(t, b, "ws_a", len(evs))
	close(eng.gate)
	if got := <-first; got[0].id != "evt_0" || got[0].dup || got[0].err != nil {
		t.Errorf("first: %+v", got)
	}
	for i, a := range <-rest {
		if a.id != evs[i].ID || a.dup || a.err != nil {
			t.Errorf("%s: %+v", evs[i].ID, a)
		}
	}
	sizes := eng.sizes()
	if sizes[0] != 1 {
		t.Errorf("first batch %v: want the lone event alone", sizes)
	}
	total := 0
	for _, n := range sizes[1:] {
		if n > 4 {
			t.Errorf("batch of %d events: over MaxEvents 4 (%v)", n, sizes)
		}
		total += n
	}
	if total != len(evs) || len(sizes) > 4 {
		t.Errorf("batches %v: want the %d later events in few batches", sizes, len(evs))
	}
	for _, bt := range eng.batches {
		if slices.Contains(bt.EventIDs, "evt_big") && len(bt.EventIDs) != 1 {
			t.Errorf("event over MaxBytes shared batch %v", bt.EventIDs)
		}
	}
}

// TestBatcherDuplicates: the same key twice at once is one event, the second
// caller told it is a duplicate of the first; a key the store holds is a
// duplicate of the stored event; only duplicates start nothing.
func TestBatcherDuplicates(t *testing.T) {
	st := newBatchStore()
	eng := &batchEngine{store: st}
	b := NewBatcher(st, eng, BatchConfig{})
	a, c := event("ws_a", "evt_a", 1), event("ws_a", "evt_c", 1)
	c.DedupKey = a.DedupKey
	got := take(b, a, c)
	ids := map[string]bool{got[0].id: true, got[1].id: true}
	if len(ids) != 1 || got[0].dup == got[1].dup || got[0].err != nil || got[1].err != nil {
		t.Fatalf("same key twice: %+v", got)
	}
	again := event("ws_a", "evt_again", 1)
	again.DedupKey = a.DedupKey
	got = take(b, again)
	if !got[0].dup || !ids[got[0].id] {
		t.Errorf("resend: %+v, want a duplicate of %v", got, ids)
	}
	if n := len(eng.sizes()); n != 1 {
		t.Errorf("%d batches started, want 1 (the duplicate-only batch starts nothing)", n)
	}
	if len(st.batches) != 0 {
		t.Errorf("batch rows left: %v", st.batches)
	}
	// Another workspace may use the same key.
	other := event("ws_b", "evt_b", 1)
	other.DedupKey = a.DedupKey
	if got := take(b, other); got[0].dup || got[0].err != nil {
		t.Errorf("other workspace: %+v", got)
	}
}

// TestBatcherStartFails: a failed start abandons the batch (its events are gone,
// so a retry is new) and the callers hear models.ErrUnavailable; a start that
// failed after the workflow claimed the batch did start, and the callers hear so.
func TestBatcherStartFails(t *testing.T) {
	st := newBatchStore()
	eng := &batchEngine{store: st, fail: fmt.Errorf("temporal: %w", models.ErrUnavailable)}
	b := NewBatcher(st, eng, BatchConfig{})
	got := take(b, event("ws_a", "evt_1", 1))
	if !errors.Is(got[0].err, models.ErrUnavailable) {
		t.Fatalf("failed start: %+v", got)
	}
	if st.has("ws_a", "evt:evt_1") || len(st.batches) != 0 {
		t.Errorf("abandoned batch left events %v, batches %v", st.events, st.batches)
	}
	eng.claimed = true
	if got := take(b, event("ws_a", "evt_2", 1)); got[0].err != nil || got[0].id != "evt_2" {
		t.Errorf("claimed despite the error: %+v", got)
	}
	if !st.has("ws_a", "evt:evt_2") {
		t.Error("claimed batch's event was deleted")
	}
	// Neither started nor abandoned: the rows stay for the sweep, the caller
	// hears 503.
	eng.claimed, st.failAbandon = false, true
	if got := take(b, event("ws_a", "evt_3", 1)); got[0].err == nil {
		t.Errorf("start and abandon failed, yet %+v", got)
	}
	if len(st.batches) != 1 {
		t.Errorf("batches %v: want the unstarted one kept for the sweep", st.batches)
	}
}

// TestBatcherOrphans: a resend whose original sits in a batch nobody started
// waits while the batch is young (the first request may still fail) and starts
// it once it is old; the sweep starts such batches too.
func TestBatcherOrphans(t *testing.T) {
	st := newBatchStore()
	eng := &batchEngine{store: st}
	b := NewBatcher(st, eng, BatchConfig{OrphanAfter: time.Minute})
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	b.now = func() time.Time { return now }
	orig := event("ws_a", "evt_orig", 1)
	orig.BatchID = "bat_1"
	st.batches["bat_1"] = models.EventBatch{ID: "bat_1", WorkspaceID: "ws_a", EventIDs: []string{orig.ID}, CreatedAt: now.Add(-time.Second)}
	st.events["ws_a/"+orig.DedupKey] = orig
	resend := event("ws_a", "evt_resend", 1)
	resend.DedupKey = orig.DedupKey
	if got := take(b, resend); !errors.Is(got[0].err, models.ErrUnavailable) {
		t.Errorf("resend of a young unstarted batch: %+v, want ErrUnavailable", got)
	}
	now = now.Add(2 * time.Minute)
	if got := take(b, resend); got[0].err != nil || !got[0].dup || got[0].id != orig.ID {
		t.Errorf("resend of an orphan: %+v", got)
	}
	if !slices.ContainsFunc(eng.batches, func(bt models.EventBatch) bool { return bt.ID == "bat_1" }) {
		t.Errorf("orphan batch not started: %v", eng.batches)
	}
	st.batches["bat_2"] = models.EventBatch{ID: "bat_2", WorkspaceID: "ws_a", CreatedAt: now.Add(-2 * time.Minute)}
	st.batches["bat_3"] = models.EventBatch{ID: "bat_3", WorkspaceID: "ws_a", CreatedAt: now.Add(-time.Second)}
	n, err := b.SweepOnce(context.Background())
	if err != nil || n != 1 {
		t.Errorf("sweep started %d (%v), want bat_2 only", n, err)
	}
	if _, young := st.batches["bat_3"]; !young {
		t.Error("sweep started a young batch")
	}
}

// TestBatcherPingAlone: a test ping is not batched.
func TestBatcherPingAlone(t *testing.T) {
	st := newBatchStore()
	eng := &batchEngine{store: st}
	b := NewBatcher(st, eng, BatchConfig{})
	if _, _, err := b.StartEvent(context.Background(), event("ws_a", "evt_p", 1), "ep_1"); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(eng.singles, []string{"evt_p->ep_1"}) || len(eng.batches) != 0 {
		t.Errorf("singles %v, batches %v", eng.singles, eng.batches)
	}
}
