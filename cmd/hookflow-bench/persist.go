package main

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"go.temporal.io/api/workflowservice/v1"
)

// persistence is how much a saturated end-to-end run grew Temporal's two
// databases, and that per event: the storage side of "one workflow per event",
// which batching divides.
type persistence struct {
	Events          int   `json:"events"`
	HistoryBytes    int64 `json:"history_db_growth_bytes"`
	VisibilityBytes int64 `json:"visibility_db_growth_bytes"`
	// Per event, over Events.
	HistoryPerEvent    float64 `json:"history_bytes_per_event"`
	VisibilityPerEvent float64 `json:"visibility_bytes_per_event"`
	TotalPerEvent      float64 `json:"history_visibility_bytes_per_event"`
	// Closed is false when the run's workflows had not all closed when the
	// sizes were read after it, so their closing writes may be missing.
	Closed bool `json:"workflows_closed"`
}

// dbSizes is the on-disk size of Temporal's history and visibility databases.
type dbSizes struct{ history, visibility int64 }

// persistencePerEvent is the growth from before to after divided by events;
// nil when no event was sent, as there is nothing to divide by.
func persistencePerEvent(before, after dbSizes, events int, closed bool) *persistence {
	if events <= 0 {
		return nil
	}
	p := &persistence{Events: events, Closed: closed,
		HistoryBytes: after.history - before.history, VisibilityBytes: after.visibility - before.visibility}
	n := float64(events)
	p.HistoryPerEvent, p.VisibilityPerEvent = float64(p.HistoryBytes)/n, float64(p.VisibilityBytes)/n
	p.TotalPerEvent = p.HistoryPerEvent + p.VisibilityPerEvent
	return p
}

// tableBytesQuery sums the tables of a database with their indexes and TOAST
// (pg_total_relation_size), leaving out the system catalogs: the figure is
// Temporal's own rows. Relations grow in 8 KiB pages, a rounding that 1000
// events make small.
const tableBytesQuery = `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`

// tableBytes runs tableBytesQuery in database name; pg_total_relation_size
// only sees the database it runs in, hence a connection of its own, closed
// again so no idle backend of ours sits in the CPU accounting.
func tableBytes(ctx context.Context, adminURL, name string) (int64, error) {
	db, err := sql.Open("pgx", withDatabase(adminURL, name))
	if err != nil {
		return 0, err
	}
	defer func() { _ = db.Close() }()
	var n int64
	if err := db.QueryRowContext(ctx, tableBytesQuery).Scan(&n); err != nil {
		return 0, fmt.Errorf("size of %s: %w", name, err)
	}
	return n, nil
}

// measuresPersistence reports whether Temporal keeps its state in Postgres
// and the bench can count its open workflows: in memory there is no
// database to measure.
func (b *bench) measuresPersistence() bool { return b.temporal != nil && !b.cfg.TemporalMemory }

func (b *bench) temporalSizes(ctx context.Context) (dbSizes, error) {
	h, err := tableBytes(ctx, b.cfg.AdminURL, b.st.historyDB)
	if err != nil {
		return dbSizes{}, err
	}
	v, err := tableBytes(ctx, b.cfg.AdminURL, b.st.visibilityDB)
	return dbSizes{history: h, visibility: v}, err
}

// runningWorkflows counts the namespace's open workflows through visibility,
// which Temporal updates after a workflow's own state: once visibility says
// closed, both databases have the close written.
func (b *bench) runningWorkflows(ctx context.Context) (int64, error) {
	resp, err := b.temporal.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
		Namespace: b.st.namespace, Query: "ExecutionStatus = 'Running'"})
	if err != nil {
		return 0, err
	}
	return resp.GetCount(), nil
}

// settle waits until no more workflows are open than before the first
// scenario, so a measurement neither misses its own run's closing writes
// nor counts the previous run's; false when they did not close in time.
func (b *bench) settle(ctx context.Context, what string) bool {
	sctx, cancel := context.WithTimeout(ctx, min(b.cfg.Timeout, time.Minute))
	defer cancel()
	for {
		n, err := b.runningWorkflows(sctx)
		if err == nil && n <= b.idleRunning {
			return true
		}
		select {
		case <-sctx.Done():
			b.logf("%s: %d workflows still open (%v); sizes read anyway", what, n, err)
			return false
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// persistenceStart settles the previous run and reads the sizes before one;
// ok is false when persistence is not measured.
func (b *bench) persistenceStart(ctx context.Context, what string) (before dbSizes, ok bool) {
	if !b.measuresPersistence() {
		return dbSizes{}, false
	}
	b.settle(ctx, what+" (before)")
	before, err := b.temporalSizes(ctx)
	if err != nil {
		b.logf("%s: %v", what, err)
		return dbSizes{}, false
	}
	return before, true
}

// persistenceEnd waits for the run's workflows to close and returns the
// growth since before per event.
func (b *bench) persistenceEnd(ctx context.Context, what string, before dbSizes, events int) *persistence {
	closed := b.settle(ctx, what)
	after, err := b.temporalSizes(ctx)
	if err != nil {
		b.logf("%s: %v", what, err)
		return nil
	}
	return persistencePerEvent(before, after, events, closed)
}
