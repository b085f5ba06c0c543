package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/internal/metrics"
	"github.com/hookflow/hookflow/models"
)

// Micro-batching at ingest (docs/BATCHING.md): events that arrive together are
// recorded in one statement and started as one workflow, which divides the
// engine's cost of a workflow between them. A caller is answered only once the
// batch's workflow has started, as a lone event's caller is once its workflow
// has; the app database, not a workflow ID, decides duplicates.

// BatchStore is what batching needs from persistence (store.Store).
type BatchStore interface {
	// InsertEventBatch records the batch and those of its events whose key is
	// new; for each event it returns nil (inserted) or the stored original.
	InsertEventBatch(ctx context.Context, b models.EventBatch, evs []models.Event) ([]*models.Event, error)
	// AbandonEventBatch deletes an unstarted batch and its events unless its
	// workflow claimed it first; it reports whether it did.
	AbandonEventBatch(ctx context.Context, batchID string) (bool, error)
	// GetEventBatch returns an unclaimed batch; models.ErrNotFound once claimed.
	GetEventBatch(ctx context.Context, id string) (*models.EventBatch, error)
	// OpenEventBatches lists unclaimed batches created before before.
	OpenEventBatches(ctx context.Context, before time.Time, limit int) ([]models.EventBatch, error)
}

// BatchEngine starts events alone (test pings) and batches (workflows.Starter).
type BatchEngine interface {
	Starter
	// StartBatch starts b's workflow; one already started under b's ID is no
	// error. eventType and sourceID tag it when all its events share them.
	StartBatch(ctx context.Context, b models.EventBatch, eventType, sourceID string) error
}

// BatchConfig tunes a Batcher; zero values take the defaults.
type BatchConfig struct {
	// MaxEvents bounds a batch's events (HOOKFLOW_BATCH_MAX, default 64).
	MaxEvents int
	// MaxBytes bounds a batch's event data and headers (default 1 MiB); an event
	// larger than that is a batch of its own.
	MaxBytes int
	// Window holds a batch open this long after its first event before it is
	// recorded (HOOKFLOW_BATCH_WINDOW, default 0: group commit alone).
	Window time.Duration
	// FlushTimeout bounds one batch's insert and start (default 10 s, twice the
	// start timeout).
	FlushTimeout time.Duration
	// OrphanAfter is how old an unclaimed batch must be before a re-send or the
	// sweep starts it (default 30 s): the intake that inserted it has long since
	// started it, abandoned it or died.
	OrphanAfter time.Duration
	// Logger logs what goes wrong; nil: not logged.
	Logger *slog.Logger
	// Metrics records batch sizes and sweeps; nil: not recorded.
	Metrics *metrics.Metrics
}

// Batch defaults.
const (
	DefaultBatchMaxEvents = 64
	DefaultBatchMaxBytes  = 1 << 20
	DefaultOrphanAfter    = 30 * time.Second
)

// Batcher is an ingest.Starter that starts events in batches: group commit, one
// batch being recorded and started per workspace at a time. When none is under
// way an event goes at once, as a batch of one, so a quiet system waits for
// nothing; events that arrive meanwhile wait for it and go together in the next
// batch, so batches grow with the load. A batch holds one workspace's events
// only: its size, its failure and its search attributes are one tenant's.
type Batcher struct {
	store  BatchStore
	engine BatchEngine
	cfg    BatchConfig
	now    func() time.Time

	mu       sync.Mutex
	queues   map[string]*batchQueue // by workspace; present while it has work
	inflight map[string]*queued     // by workspace and dedup key
}

// batchQueue is one workspace's events waiting for the batch under way.
type batchQueue struct {
	waiting []*queued
}

// queued is one caller's event; done closes when the answer is set.
type queued struct {
	ctx  context.Context // the caller's, for the values it carries (a trace)
	ev   models.Event
	size int
	done chan struct{}
	id   string
	dup  bool
	err  error
}

// NewBatcher returns a Batcher that records batches in store and starts them
// (and test pings, alone) through engine.
func NewBatcher(store BatchStore, engine BatchEngine, cfg BatchConfig) *Batcher {
	if cfg.MaxEvents <= 0 {
		cfg.MaxEvents = DefaultBatchMaxEvents
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultBatchMaxBytes
	}
	if cfg.FlushTimeout <= 0 {
		cfg.FlushTimeout = 10 * time.Second
	}
	if cfg.OrphanAfter <= 0 {
		cfg.OrphanAfter = DefaultOrphanAfter
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Batcher{store: store, engine: engine, cfg: cfg, now: func() time.Time { return time.Now().UTC() },
		queues: map[string]*batchQueue{}, inflight: map[string]*queued{}}
}

// StartEvent returns once the batch holding ev has started (or ev turned out to
// be a duplicate: then the original's id and true). A test ping (onlyEndpointID)
// starts alone through the engine.
func (b *Batcher) StartEvent(ctx context.Context, ev models.Event, onlyEndpointID string) (string, bool, error) {
	if onlyEndpointID != "" {
		return b.engine.StartEvent(ctx, ev, onlyEndpointID)
	}
	q := &queued{ctx: ctx, ev: ev, size: len(ev.Data) + headerBytes(ev.Headers), done: make(chan struct{})}
	key := ev.WorkspaceID + "\x00" + ev.DedupKey
	b.mu.Lock()
	if first, ok := b.inflight[key]; ok {
		// The same key is being taken in by this process right now: its answer
		// is this one's.
		b.mu.Unlock()
		select {
		case <-first.done:
		case <-ctx.Done():
			return "", false, ctx.Err()
		}
		if first.err != nil {
			return "", false, first.err
		}
		return first.id, true, nil
	}
	b.inflight[key] = q
	wq, busy := b.queues[ev.WorkspaceID]
	if !busy {
		wq = &batchQueue{}
		b.queues[ev.WorkspaceID] = wq
	}
	wq.waiting = append(wq.waiting, q)
	b.mu.Unlock()
	if !busy {
		go b.drain(ev.WorkspaceID, wq)
	}
	select {
	case <-q.done:
		return q.id, q.dup, q.err
	case <-ctx.Done():
		// The batch goes on without this caller, who hears the event may not
		// have been taken (and, resending it with its key, finds it if it was).
		return "", false, ctx.Err()
	}
}

func headerBytes(h map[string]string) int {
	n := 0
	for k, v := range h {
		n += len(k) + len(v)
	}
	return n
}

// drain records and starts the workspace's batches one after another until no
// event is waiting.
func (b *Batcher) drain(workspaceID string, wq *batchQueue) {
	for {
		if b.cfg.Window > 0 {
			time.Sleep(b.cfg.Window)
		}
		batch := b.next(workspaceID, wq)
		if batch == nil {
			return
		}
		b.flush(workspaceID, batch)
		b.mu.Lock()
		for _, q := range batch {
			delete(b.inflight, q.ev.WorkspaceID+"\x00"+q.ev.DedupKey)
		}
		b.mu.Unlock()
		for _, q := range batch {
			close(q.done)
		}
	}
}

// next takes the next batch off wq: as many waiting events as the bounds allow,
// at least one. With none waiting it retires wq and returns nil.
func (b *Batcher) next(workspaceID string, wq *batchQueue) []*queued {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(wq.waiting) == 0 {
		delete(b.queues, workspaceID)
		return nil
	}
	n, bytes := 0, 0
	for n < len(wq.waiting) && n < b.cfg.MaxEvents {
		if n > 0 && bytes+wq.waiting[n].size > b.cfg.MaxBytes {
			break
		}
		bytes += wq.waiting[n].size
		n++
	}
	batch := wq.waiting[:n:n]
	wq.waiting = append([]*queued(nil), wq.waiting[n:]...)
	return batch
}

// flush records batch and starts its workflow, and sets every caller's answer.
// It runs under the first caller's context values (its trace goes on into the
// batch's workflow) but not its cancellation: the batch is every caller's.
func (b *Batcher) flush(workspaceID string, batch []*queued) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(batch[0].ctx), b.cfg.FlushTimeout)
	defer cancel()
	rec := models.EventBatch{ID: ids.New(ids.Batch), WorkspaceID: workspaceID, CreatedAt: b.now(), EventIDs: make([]string, len(batch))}
	evs := make([]models.Event, len(batch))
	for i, q := range batch {
		evs[i] = q.ev
		evs[i].BatchID = rec.ID
		rec.EventIDs[i] = q.ev.ID
	}
	originals, err := b.store.InsertEventBatch(ctx, rec, evs)
	if err != nil {
		b.cfg.Metrics.Batch("failed", len(batch))
		err = fmt.Errorf("record batch %s: %w: %w", rec.ID, models.ErrUnavailable, err)
		for _, q := range batch {
			q.err = err
		}
		return
	}
	var fresh []*queued
	for i, q := range batch {
		if originals[i] == nil {
			fresh = append(fresh, q)
			continue
		}
		q.id, q.dup, q.err = b.duplicate(ctx, originals[i])
	}
	if len(fresh) == 0 {
		// Only duplicates: the batch row names no event; nothing starts it, and
		// abandoning it now spares the sweep.
		if _, err := b.store.AbandonEventBatch(ctx, rec.ID); err != nil {
			b.cfg.Logger.Warn("abandon empty batch", "batch_id", rec.ID, "error", err)
		}
		return
	}
	err = b.start(ctx, rec, fresh)
	if err != nil {
		b.cfg.Metrics.Batch("abandoned", len(fresh))
	} else {
		b.cfg.Metrics.Batch("started", len(fresh))
	}
	for _, q := range fresh {
		if err != nil {
			q.err = err
		} else {
			q.id = q.ev.ID
		}
	}
}

// start starts the batch's workflow. If that fails, the batch is abandoned (its
// events deleted, so the callers' retries start clean) unless its workflow
// claimed it meanwhile: then it did start, whatever the error said.
func (b *Batcher) start(ctx context.Context, rec models.EventBatch, fresh []*queued) error {
	eventType, sourceID := fresh[0].ev.Type, fresh[0].ev.SourceID
	for _, q := range fresh[1:] {
		if q.ev.Type != eventType {
			eventType = ""
		}
		if q.ev.SourceID != sourceID {
			sourceID = ""
		}
	}
	err := b.engine.StartBatch(ctx, rec, eventType, sourceID)
	if err == nil {
		return nil
	}
	// The abandon gets a deadline of its own: the start may have used up ctx's.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.FlushTimeout)
	defer cancel()
	abandoned, aerr := b.store.AbandonEventBatch(actx, rec.ID)
	switch {
	case aerr != nil:
		// Neither started nor undone: the sweep starts it once it is
		// OrphanAfter old; until then the callers hear 503 and may resend.
		b.cfg.Logger.Error("abandon batch after failed start", "batch_id", rec.ID, "start_error", err, "error", aerr)
	case !abandoned:
		return nil
	}
	return err
}

// duplicate answers a caller whose event's key the store already held. An
// original whose batch is still unclaimed may not be running: one younger than
// OrphanAfter is being taken in by another request right now (the caller is
// asked to retry, as the first may yet fail), an older one is started here,
// as the sweep would, before the caller hears it is a duplicate.
func (b *Batcher) duplicate(ctx context.Context, orig *models.Event) (string, bool, error) {
	if orig.BatchID == "" {
		return orig.ID, true, nil
	}
	rec, err := b.store.GetEventBatch(ctx, orig.BatchID)
	switch {
	case errors.Is(err, models.ErrNotFound):
		return orig.ID, true, nil
	case err != nil:
		return "", false, fmt.Errorf("look up batch %s: %w: %w", orig.BatchID, models.ErrUnavailable, err)
	}
	if b.now().Sub(rec.CreatedAt) < b.cfg.OrphanAfter {
		return "", false, fmt.Errorf("event %s with the same key is being accepted by another request; retry shortly: %w", orig.ID, models.ErrUnavailable)
	}
	if err := b.engine.StartBatch(ctx, *rec, "", ""); err != nil {
		return "", false, err
	}
	return orig.ID, true, nil
}

// Sweep starts, every interval until ctx ends, the batches whose intake died
// between recording and starting them (unclaimed and older than OrphanAfter).
// Every worker may run it: a batch starts once under its workflow ID.
func (b *Batcher) Sweep(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := b.SweepOnce(ctx)
		b.cfg.Metrics.BatchesSwept(n)
		if err != nil {
			b.cfg.Logger.Warn("sweep event batches", "started", n, "error", err)
		} else if n > 0 {
			b.cfg.Logger.Info("started event batches left unstarted", "batches", n)
		}
	}
}

// sweepLimit bounds the batches one sweep starts.
const sweepLimit = 100

// SweepOnce starts the unclaimed batches older than OrphanAfter and returns how
// many it started.
func (b *Batcher) SweepOnce(ctx context.Context) (int, error) {
	open, err := b.store.OpenEventBatches(ctx, b.now().Add(-b.cfg.OrphanAfter), sweepLimit)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, rec := range open {
		if err := b.engine.StartBatch(ctx, rec, "", ""); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
