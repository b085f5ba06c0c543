package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// The flow-control entity workflows. Each is one automation and key
// (FlowWorkflowID), started by the first SignalWithStart of the key and fed
// every later event as a FlowSignal: the one place that decides, serially and
// durably, when the key's runs start. They share flowEntity (the signal
// channel, the local StartFlowRun activity and the start of the run as a
// child) and a few rules:
//
//   - A signal is handled once it is received; before an entity ends or
//     continues as new it drains the channel (flowEntity.drain), so a signal
//     delivered in the meantime is acted on, not lost. One that arrives after
//     the drain, in the same workflow task, makes Temporal refuse the task's
//     completion and replay it, and the drain then finds it.
//   - Signals that arrive while StartFlowRun or a child's start is under way
//     stay in the channel and are handled after it, in arrival order.
//   - An entity continues as new after maxFlowSignals signals, or when
//     Temporal suggests it, carrying what it has not acted on in FlowInput.
//   - The entity never waits for a run to finish except to free a
//     concurrency slot; the runs are abandoned children, so ending or
//     continuing the entity leaves them running.

// maxFlowSignals is how many signals an entity takes in one run before it
// continues as new: each costs a signal and a workflow task in the history,
// so 500 keep a run's history at a few thousand events. A variable so tests
// can make it small.
var maxFlowSignals = 500

// flowEntity is what the entity workflows share: their input, the signal
// channel, how many signals this run took, and the one timer they re-arm.
type flowEntity struct {
	in      FlowInput
	signals workflow.ReceiveChannel
	taken   int
	timer   wakeup
}

func newFlowEntity(ctx workflow.Context, in FlowInput) *flowEntity {
	return &flowEntity{in: in, signals: workflow.GetSignalChannel(ctx, SignalFlowEvent)}
}

// drain hands take every signal already delivered, without waiting for more,
// and reports whether there was any. take may block (start a run): the
// signals that come in meanwhile are drained too.
func (e *flowEntity) drain(ctx workflow.Context, take func(FlowSignal)) bool {
	got := false
	for {
		var sig FlowSignal
		if !e.signals.ReceiveAsync(&sig) {
			return got
		}
		e.taken++
		got = true
		take(sig)
	}
}

// wantsNewRun says the history is long enough to continue as new.
func (e *flowEntity) wantsNewRun(ctx workflow.Context) bool {
	return e.taken >= maxFlowSignals || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
}

// await waits for the next signal until at: it returns the signal and true,
// or false once at has come.
func (e *flowEntity) await(ctx workflow.Context, at time.Time) (FlowSignal, bool, error) {
	for workflow.Now(ctx).Before(at) {
		e.timer.arm(ctx, at)
		var sig FlowSignal
		got := false
		var err error
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(e.signals, func(c workflow.ReceiveChannel, _ bool) {
			c.Receive(ctx, &sig)
			got = true
		})
		sel.AddFuture(e.timer.fired, func(f workflow.Future) {
			err = f.Get(ctx, nil)
			e.timer.fired = nil
		})
		sel.Select(ctx)
		if got {
			e.taken++
			return sig, true, nil
		}
		if err != nil {
			return FlowSignal{}, false, err // the entity was cancelled
		}
	}
	return FlowSignal{}, false, nil
}

// wakeup is the one timer an entity keeps armed for the next moment it must
// look at its state again. It is not replaced on every signal (a burst would
// start and cancel a timer per event): one set for an earlier moment stays,
// and when it fires early the entity looks, finds nothing due, and arms it
// again for the rest.
type wakeup struct {
	at     time.Time
	fired  workflow.Future
	cancel workflow.CancelFunc
}

// arm makes sure the timer fires no later than at.
func (w *wakeup) arm(ctx workflow.Context, at time.Time) {
	if w.fired != nil && !w.at.After(at) {
		return
	}
	if w.cancel != nil {
		w.cancel()
	}
	tctx, cancel := workflow.WithCancel(ctx)
	d := max(at.Sub(workflow.Now(ctx)), time.Millisecond)
	w.at, w.fired, w.cancel = at, workflow.NewTimer(tctx, d), cancel
}

// letGo asks StartFlowRun for the run of sig (count is the count trigger's
// threshold, 0 otherwise), starts it as a child AutomationRunWorkflow and
// waits until it has started. It returns the child, or nil when this call
// started none: there was nothing to start (the run was cancelled, skipped
// or ran already), the run's workflow already existed, or StartFlowRun or
// the start failed for good, which is logged and passes the event over.
func (e *flowEntity) letGo(ctx workflow.Context, sig FlowSignal, count int) workflow.ChildWorkflowFuture {
	in := StartFlowRunInput{WorkspaceID: e.in.WorkspaceID, AutomationID: e.in.AutomationID, Key: e.in.Key, Event: sig, Count: count}
	var res StartFlowRunResult
	if err := workflow.ExecuteLocalActivity(localOptions(ctx), StartFlowRunActivity, in).Get(ctx, &res); err != nil {
		if ctx.Err() != nil {
			return nil // the entity was cancelled: it ends with the error
		}
		workflow.GetLogger(ctx).Error("start flow run", "event_id", sig.EventID, "run_id", sig.AutomationRunID, "error", err)
		return nil
	}
	run := res.Run
	if run.WorkflowID == "" {
		return nil
	}
	f := workflow.ExecuteChildWorkflow(e.childOptions(ctx, sig, run), AutomationRunWorkflowName,
		RunWorkflowInput{AutomationRunID: run.AutomationRunID, FirstAttemptLocal: true, RetryWaitsInActivity: true})
	if err := f.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		var already *temporal.ChildWorkflowExecutionAlreadyStartedError
		if !errors.As(err, &already) {
			workflow.GetLogger(ctx).Error("start automation run", "run_id", run.AutomationRunID, "error", err)
		}
		return nil
	}
	return f
}

// childOptions are startRuns' options for a run, with the entity's key.
func (e *flowEntity) childOptions(ctx workflow.Context, sig FlowSignal, run PlannedRun) workflow.Context {
	sa := []temporal.SearchAttributeUpdate{SAWorkspace.ValueSet(e.in.WorkspaceID), SAAutomation.ValueSet(run.AutomationID)}
	if sig.EventType != "" {
		sa = append(sa, SAEventType.ValueSet(sig.EventType))
	}
	if e.in.Key != "" {
		sa = append(sa, SAKey.ValueSet(e.in.Key))
	}
	return workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            run.WorkflowID,
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(sa...),
		StaticSummary:         fmt.Sprintf("run of event %s, let go by %s", sig.EventID, workflow.GetInfo(ctx).WorkflowExecution.ID),
	})
}

// CountWorkflow is a count trigger's entity: it counts the key's events
// within the window (in.Period) and starts one run, carrying the last accepted
// of the Threshold events counted and Count = Threshold, each time the window holds
// Threshold events; the window then starts over. An event counts once, however
// often it is signalled (plans are retried), and only while its CreatedAt is
// inside the window: an older one drops out. The entity ends once the window
// is empty and nothing arrived for Period, and continues as new carrying the
// window (Pending) and the events already counted into a run (Counted).
func CountWorkflow(ctx workflow.Context, in FlowInput) error {
	e := newFlowEntity(ctx, in)
	c := newCounter(in, workflow.Now(ctx))
	take := func(sig FlowSignal) { c.take(ctx, e, sig) }
	for {
		if e.wantsNewRun(ctx) {
			e.drain(ctx, take)
			return workflow.NewContinueAsNewError(ctx, CountWorkflowName, c.carry(in))
		}
		sig, ok, err := e.await(ctx, c.deadline())
		if err != nil {
			return err
		}
		if ok {
			take(sig)
			continue
		}
		c.prune(workflow.Now(ctx))
		if len(c.events) == 0 && !e.drain(ctx, take) {
			return nil
		}
	}
}

// counter is a count entity's memory: the events of the window, in arrival
// order, those already counted into a run marked fired. The fired ones are
// kept until they leave the window, so a late duplicate of one does not
// count again; seen indexes them all by event id.
type counter struct {
	threshold int
	period    time.Duration
	events    []countedEvent
	seen      map[string]bool
	unfired   int
	last      time.Time // when the last signal arrived
}

type countedEvent struct {
	sig   FlowSignal
	fired bool
}

func newCounter(in FlowInput, now time.Time) *counter {
	c := &counter{threshold: max(in.Threshold, 1), period: in.Period, seen: map[string]bool{}, last: now}
	for _, s := range in.Counted {
		c.add(s, true)
	}
	for _, s := range in.Pending {
		c.add(s, false)
	}
	return c
}

func (c *counter) add(sig FlowSignal, fired bool) {
	c.events = append(c.events, countedEvent{sig: sig, fired: fired})
	c.seen[sig.EventID] = true
	if !fired {
		c.unfired++
	}
}

// take counts sig unless it was counted already or is older than the window,
// and starts the run when it is the Threshold-th.
func (c *counter) take(ctx workflow.Context, e *flowEntity, sig FlowSignal) {
	now := workflow.Now(ctx)
	c.last = now
	c.prune(now)
	if c.seen[sig.EventID] || c.expired(sig, now) {
		return
	}
	c.add(sig, false)
	if c.unfired < c.threshold {
		return
	}
	// The run carries the last accepted of the counted events: batches
	// planned side by side may signal them out of order, so the one that
	// tipped the count need not be the latest.
	last := sig
	for _, ev := range c.events {
		if !ev.fired && accepted(last).Less(accepted(ev.sig)) {
			last = ev.sig
		}
	}
	e.letGo(ctx, last, c.threshold)
	for i := range c.events {
		c.events[i].fired = true
	}
	c.unfired = 0
}

// expired: sig was created a whole window or more before now.
func (c *counter) expired(sig FlowSignal, now time.Time) bool {
	return !sig.CreatedAt.After(now.Add(-c.period))
}

// prune drops the events that left the window.
func (c *counter) prune(now time.Time) {
	kept := c.events[:0]
	clear(c.seen)
	c.unfired = 0
	for _, ev := range c.events {
		if c.expired(ev.sig, now) {
			continue
		}
		kept = append(kept, ev)
		c.seen[ev.sig.EventID] = true
		if !ev.fired {
			c.unfired++
		}
	}
	c.events = kept
}

// deadline is when the entity may end if nothing else arrives: a window
// after the last signal, and after every event it remembers has left the
// window (later only for an event stamped ahead of the workflow's clock).
func (c *counter) deadline() time.Time {
	at := c.last.Add(c.period)
	for _, ev := range c.events {
		if t := ev.sig.CreatedAt.Add(c.period); t.After(at) {
			at = t
		}
	}
	return at
}

// carry is in with the counter's memory, for a continue-as-new.
func (c *counter) carry(in FlowInput) FlowInput {
	in.Pending, in.Counted = nil, nil
	for _, ev := range c.events {
		if ev.fired {
			in.Counted = append(in.Counted, ev.sig)
		} else {
			in.Pending = append(in.Pending, ev.sig)
		}
	}
	return in
}

// DebounceWorkflow is a debounce's entity: it keeps the key's latest event
// (the last accepted), and once the key has been quiet for in.Period, no
// signal for that long, starts one run with it. It ends then, or, if signals
// came in while the run was being started, starts a new quiet period with
// the latest of them. A continue-as-new carries the latest event (Pending)
// and restarts its quiet period.
func DebounceWorkflow(ctx workflow.Context, in FlowInput) error {
	e := newFlowEntity(ctx, in)
	var latest *FlowSignal
	var quietUntil time.Time
	take := func(sig FlowSignal) {
		// The latest by acceptance: batches planned side by side may signal
		// a burst's events out of order. Each resets the quiet period.
		if latest == nil || !accepted(sig).Less(accepted(*latest)) {
			latest = &sig
		}
		quietUntil = workflow.Now(ctx).Add(in.Period)
	}
	if n := len(in.Pending); n > 0 {
		take(in.Pending[n-1])
	}
	for {
		if latest == nil {
			if !e.drain(ctx, take) {
				return nil
			}
			continue
		}
		if e.wantsNewRun(ctx) {
			e.drain(ctx, take)
			in.Pending = []FlowSignal{*latest}
			return workflow.NewContinueAsNewError(ctx, DebounceWorkflowName, in)
		}
		sig, ok, err := e.await(ctx, quietUntil)
		if err != nil {
			return err
		}
		if ok {
			take(sig)
			continue
		}
		e.letGo(ctx, *latest, 0)
		latest = nil
	}
}

// runQueue is the runs a concurrency or throttle entity holds back, in the
// order their events were accepted (by time, then by id, which sorts by time
// too): events planned by batches that ran side by side may signal out of
// order, and a run queued behind a later event's would wait out of turn.
// known indexes the runs it holds (queued, and for concurrency running) by id: a run signalled again (a retried plan) while
// it is held is not queued twice.
type runQueue struct {
	items []FlowSignal
	known map[string]bool
}

func newRunQueue(pending []FlowSignal) *runQueue {
	q := &runQueue{known: map[string]bool{}}
	for _, s := range pending {
		q.push(s)
	}
	return q
}

func (q *runQueue) push(sig FlowSignal) {
	if sig.AutomationRunID != "" {
		if q.known[sig.AutomationRunID] {
			return
		}
		q.known[sig.AutomationRunID] = true
	}
	i := len(q.items)
	for i > 0 && accepted(sig).Less(accepted(q.items[i-1])) {
		i--
	}
	q.items = slices.Insert(q.items, i, sig)
}

// acceptance orders events as they were accepted.
type acceptance struct {
	at time.Time
	id string
}

func accepted(s FlowSignal) acceptance { return acceptance{s.CreatedAt, s.EventID} }

// Less reports whether a was accepted before b.
func (a acceptance) Less(b acceptance) bool {
	if !a.at.Equal(b.at) {
		return a.at.Before(b.at)
	}
	return a.id < b.id
}

// pop takes the oldest run; it stays known until forgotten.
func (q *runQueue) pop() FlowSignal {
	sig := q.items[0]
	q.items = q.items[1:]
	return sig
}

func (q *runQueue) forget(runID string) { delete(q.known, runID) }

// held is the queue, for a continue-as-new.
func (q *runQueue) held() []FlowSignal { return append([]FlowSignal(nil), q.items...) }

// ConcurrencyWorkflow is a concurrency entity: each signal is a run already
// recorded as waiting for its turn, queued in arrival order; while fewer than
// in.Limit of the runs it started are running it lets the oldest go
// (StartFlowRun, then the child). A run's end, whatever its outcome (success,
// failure, cancel, terminate), frees its slot. The entity ends when nothing is
// queued or running. A continue-as-new, which cannot carry running children,
// waits for them: once it is due no run is let go until the running ones have
// ended, and the queue is carried in Pending.
func ConcurrencyWorkflow(ctx workflow.Context, in FlowInput) error {
	e := newFlowEntity(ctx, in)
	q := newRunQueue(in.Pending)
	limit := max(in.Limit, 1)
	var running []runningRun
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		renew := e.wantsNewRun(ctx)
		for !renew && ctx.Err() == nil && len(running) < limit && len(q.items) > 0 {
			sig := q.pop()
			if f := e.letGo(ctx, sig, 0); f != nil {
				running = append(running, runningRun{id: sig.AutomationRunID, done: f})
			} else {
				q.forget(sig.AutomationRunID)
			}
		}
		if len(running) == 0 {
			e.drain(ctx, q.push)
			if len(q.items) == 0 {
				return nil
			}
			if renew {
				in.Pending = q.held()
				return workflow.NewContinueAsNewError(ctx, ConcurrencyWorkflowName, in)
			}
			continue
		}
		var err error
		if running, err = awaitSlot(ctx, e, q, running); err != nil {
			return err
		}
	}
}

// runningRun is a run a concurrency entity started and waits to end.
type runningRun struct {
	id   string
	done workflow.ChildWorkflowFuture
}

// awaitSlot waits for a signal (queued) or the end of a running run (removed
// from running, which it returns).
func awaitSlot(ctx workflow.Context, e *flowEntity, q *runQueue, running []runningRun) ([]runningRun, error) {
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(e.signals, func(c workflow.ReceiveChannel, _ bool) {
		var sig FlowSignal
		c.Receive(ctx, &sig)
		e.taken++
		q.push(sig)
	})
	ended := -1
	for i, r := range running {
		sel.AddFuture(r.done, func(f workflow.Future) {
			ended = i
			if err := f.Get(ctx, nil); err != nil {
				workflow.GetLogger(ctx).Info("automation run ended", "run_id", r.id, "error", err)
			}
		})
	}
	sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
	sel.Select(ctx)
	if err := ctx.Err(); err != nil {
		return running, err
	}
	if ended >= 0 {
		q.forget(running[ended].id)
		running = append(running[:ended], running[ended+1:]...)
	}
	return running, nil
}

// ThrottleWorkflow is a throttle entity: each signal is a run already
// recorded as waiting for its turn, queued in arrival order, and at most
// in.Limit of them are let go per sliding in.Period: when that many started
// within the last Period, the next waits until the oldest of those starts is
// a Period old. It waits for a run's start only, not its end. It ends when
// nothing is queued and the last start is a Period old, and continues as new
// carrying the queue (Pending) and the recent starts (Started).
func ThrottleWorkflow(ctx workflow.Context, in FlowInput) error {
	e := newFlowEntity(ctx, in)
	q := newRunQueue(in.Pending)
	t := &throttle{limit: max(in.Limit, 1), period: in.Period, started: append([]time.Time(nil), in.Started...)}
	for {
		t.letGo(ctx, e, q)
		if err := ctx.Err(); err != nil {
			return err
		}
		if len(q.items) == 0 && len(t.started) == 0 {
			if !e.drain(ctx, q.push) {
				return nil
			}
			continue
		}
		if e.wantsNewRun(ctx) {
			e.drain(ctx, q.push)
			in.Pending, in.Started = q.held(), t.started
			return workflow.NewContinueAsNewError(ctx, ThrottleWorkflowName, in)
		}
		sig, ok, err := e.await(ctx, t.next(len(q.items) > 0))
		if err != nil {
			return err
		}
		if ok {
			q.push(sig)
		}
	}
}

// throttle is when a throttle entity's recent runs started, oldest first.
type throttle struct {
	limit   int
	period  time.Duration
	started []time.Time
}

// letGo forgets the starts a Period old and lets queued runs go while fewer
// than limit are left. A run it did not start (nothing to start, or started
// before) takes no turn.
func (t *throttle) letGo(ctx workflow.Context, e *flowEntity, q *runQueue) {
	t.prune(workflow.Now(ctx))
	for ctx.Err() == nil && len(t.started) < t.limit && len(q.items) > 0 {
		sig := q.pop()
		if e.letGo(ctx, sig, 0) != nil {
			t.started = append(t.started, workflow.Now(ctx))
		}
		q.forget(sig.AutomationRunID)
		t.prune(workflow.Now(ctx))
	}
}

func (t *throttle) prune(now time.Time) {
	cut := now.Add(-t.period)
	i := 0
	for i < len(t.started) && !t.started[i].After(cut) {
		i++
	}
	t.started = t.started[i:]
}

// next is when a turn frees up (queued: the oldest start is a Period old)
// or, with nothing queued, when the entity may end (the newest is).
func (t *throttle) next(queued bool) time.Time {
	if queued {
		return t.started[0].Add(t.period)
	}
	return t.started[len(t.started)-1].Add(t.period)
}
