package workflows

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/hookflow/hookflow/models"
)

// flowT0 is when every entity test starts, by the test environment's clock.
var flowT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// flowHarness runs one entity workflow in the test environment with a fake
// StartFlowRun and a fake AutomationRunWorkflow, keeping what they were asked
// and when (as offsets from flowT0).
type flowHarness struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment
	// runFor is how long a fake run takes; fail makes the named runs fail.
	runFor time.Duration
	fail   map[string]bool
	// none makes StartFlowRun answer that the named runs (or events) have
	// nothing to start.
	none map[string]bool
	// slow is how long StartFlowRun takes, by the wall clock: the test
	// environment fires a signal due meanwhile while it runs.
	slow time.Duration

	mu     sync.Mutex
	asked  []StartFlowRunInput
	starts []flowMark
	ends   []flowMark
}

// flowMark is a fake run starting or ending.
type flowMark struct {
	RunID string
	At    time.Duration
}

func newFlowHarness(t *testing.T, start time.Time) *flowHarness {
	var s testsuite.WorkflowTestSuite
	h := &flowHarness{t: t, env: s.NewTestWorkflowEnvironment(), runFor: time.Minute, fail: map[string]bool{}, none: map[string]bool{}}
	h.env.SetStartTime(start)
	h.env.RegisterActivityWithOptions(h.startFlowRun, activity.RegisterOptions{Name: StartFlowRunActivity})
	h.env.RegisterWorkflowWithOptions(h.run, workflow.RegisterOptions{Name: AutomationRunWorkflowName})
	return h
}

// startFlowRun stands for the activity: count and debounce runs are named
// after their event, concurrency and throttle runs come with the signal.
func (h *flowHarness) startFlowRun(_ context.Context, in StartFlowRunInput) (StartFlowRunResult, error) {
	time.Sleep(h.slow)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.asked = append(h.asked, in)
	id := in.Event.AutomationRunID
	if id == "" {
		id = "run_" + in.Event.EventID
	}
	if h.none[id] {
		return StartFlowRunResult{}, nil
	}
	return StartFlowRunResult{Run: PlannedRun{AutomationRunID: id, AutomationID: in.AutomationID, WorkflowID: "run/" + in.AutomationID + "/" + id}}, nil
}

// run stands for AutomationRunWorkflow: it takes runFor.
func (h *flowHarness) run(ctx workflow.Context, in RunWorkflowInput) (RunWorkflowResult, error) {
	h.mark(&h.starts, in.AutomationRunID, workflow.Now(ctx))
	err := workflow.Sleep(ctx, h.runFor)
	h.mark(&h.ends, in.AutomationRunID, workflow.Now(ctx))
	if err == nil && h.fail[in.AutomationRunID] {
		err = temporal.NewNonRetryableApplicationError("step failed", ErrTypeRunFailed, nil)
	}
	return RunWorkflowResult{AutomationRunID: in.AutomationRunID}, err
}

func (h *flowHarness) mark(to *[]flowMark, runID string, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	*to = append(*to, flowMark{RunID: runID, At: at.Sub(flowT0)})
}

// signal sends sig at offset at from the start, stamped with the time it is
// sent unless it carries a CreatedAt of its own.
func (h *flowHarness) signal(at time.Duration, sig FlowSignal) {
	h.env.RegisterDelayedCallback(func() {
		if sig.CreatedAt.IsZero() {
			sig.CreatedAt = h.env.Now()
		}
		h.env.SignalWorkflow(SignalFlowEvent, sig)
	}, at)
}

// execute runs wf with in and returns how it ended.
func (h *flowHarness) execute(wf any, in FlowInput) error {
	h.env.ExecuteWorkflow(wf, in)
	if !h.env.IsWorkflowCompleted() {
		h.t.Fatal("the entity did not end")
	}
	return h.env.GetWorkflowError()
}

// carried is the input the entity continued as new with.
func (h *flowHarness) carried(err error, wantType string) FlowInput {
	h.t.Helper()
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		h.t.Fatalf("entity ended with %v, want a continue-as-new", err)
	}
	if can.WorkflowType.Name != wantType {
		h.t.Errorf("continued as %s, want %s", can.WorkflowType.Name, wantType)
	}
	var in FlowInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &in); err != nil {
		h.t.Fatal(err)
	}
	return in
}

// eventIDs are the events StartFlowRun was asked for, with their count.
func (h *flowHarness) eventIDs() []string {
	var ids []string
	for _, in := range h.asked {
		ids = append(ids, fmt.Sprintf("%s#%d", in.Event.EventID, in.Count))
	}
	return ids
}

func flowIn() FlowInput {
	return FlowInput{WorkspaceID: "ws_1", AutomationID: "aut_1", Key: "cus_1"}
}

func ev(n int) FlowSignal {
	return FlowSignal{EventID: fmt.Sprintf("evt_%d", n), EventType: "order.placed", AutomationVersion: 1}
}

func queued(n int) FlowSignal {
	s := ev(n)
	s.AutomationRunID, s.WorkflowID = fmt.Sprintf("run_%d", n), fmt.Sprintf("run/aut_1/evt_%d", n)
	return s
}

// TestFlowCount: the count entity starts a run on the Threshold-th event of
// its window, with that event and the count, and not before; an event
// signalled twice counts once; events that left the window do not count.
func TestFlowCount(t *testing.T) {
	type sent struct {
		at  time.Duration
		sig FlowSignal
	}
	every := func(step time.Duration, ns ...int) []sent {
		var out []sent
		for i, n := range ns {
			out = append(out, sent{time.Duration(i) * step, ev(n)})
		}
		return out
	}
	old := ev(99)
	old.CreatedAt = flowT0.Add(-2 * time.Hour)
	tests := []struct {
		name      string
		threshold int
		within    time.Duration
		sent      []sent
		want      []string
	}{
		{"10 of 10", 10, time.Hour, every(time.Minute, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10), []string{"evt_10#10"}},
		{"9 of 10", 10, time.Hour, every(time.Minute, 1, 2, 3, 4, 5, 6, 7, 8, 9), nil},
		{"20 of 10: twice", 10, time.Hour, every(time.Second, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20),
			[]string{"evt_10#10", "evt_20#10"}},
		{"a repeated event counts once", 3, time.Hour, every(time.Minute, 1, 1, 2, 2), nil},
		{"a repeat after the run does not count", 3, time.Hour, every(time.Minute, 1, 2, 3, 3, 2, 4, 5), []string{"evt_3#3"}},
		{"the repeat does not stop the count", 3, time.Hour, every(time.Minute, 1, 2, 2, 3), []string{"evt_3#3"}},
		{"older events drop out", 3, 10 * time.Minute, []sent{{0, ev(1)}, {5 * time.Minute, ev(2)}, {11 * time.Minute, ev(3)}, {12 * time.Minute, ev(4)}},
			[]string{"evt_4#3"}},
		{"an event older than the window does not count", 2, time.Hour, append(every(time.Minute, 1), sent{time.Minute, old}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFlowHarness(t, flowT0)
			for _, s := range tt.sent {
				h.signal(s.at, s.sig)
			}
			in := flowIn()
			in.Threshold, in.Period = tt.threshold, tt.within
			if err := h.execute(CountWorkflow, in); err != nil {
				t.Fatalf("entity failed: %v", err)
			}
			if got := h.eventIDs(); !slices.Equal(got, tt.want) {
				t.Errorf("runs asked for %v, want %v", got, tt.want)
			}
			if len(h.starts) != len(tt.want) {
				t.Errorf("started %v, want %d run(s)", h.starts, len(tt.want))
			}
			for _, in := range h.asked {
				if in.Key != "cus_1" || in.AutomationID != "aut_1" || in.WorkspaceID != "ws_1" {
					t.Errorf("StartFlowRun got %+v", in)
				}
			}
		})
	}
}

// TestFlowCountEndsWhenIdle: the entity stays while its window holds events
// and ends a window after the last signal.
func TestFlowCountEndsWhenIdle(t *testing.T) {
	h := newFlowHarness(t, flowT0)
	h.signal(0, ev(1))
	h.signal(30*time.Minute, ev(2))
	in := flowIn()
	in.Threshold, in.Period = 5, time.Hour
	if err := h.execute(CountWorkflow, in); err != nil {
		t.Fatal(err)
	}
	if got, want := h.env.Now().Sub(flowT0), 90*time.Minute; got != want {
		t.Errorf("ended after %s, want %s", got, want)
	}
}

// TestFlowDebounce: ten events 100 ms apart with a period of a second start
// one run, with the tenth event, a second after it.
func TestFlowDebounce(t *testing.T) {
	h := newFlowHarness(t, flowT0)
	for i := range 10 {
		h.signal(time.Duration(i)*100*time.Millisecond, ev(i+1))
	}
	in := flowIn()
	in.Period = time.Second
	if err := h.execute(DebounceWorkflow, in); err != nil {
		t.Fatal(err)
	}
	if got, want := h.eventIDs(), []string{"evt_10#0"}; !slices.Equal(got, want) {
		t.Errorf("runs asked for %v, want %v", got, want)
	}
	if want := []flowMark{{"run_evt_10", 1900 * time.Millisecond}}; !slices.Equal(h.starts, want) {
		t.Errorf("started %v, want %v", h.starts, want)
	}
}

// TestFlowConcurrency: runs of a key start in signal order, at most Limit at
// once, each next one when a running one ended, however it ended.
func TestFlowConcurrency(t *testing.T) {
	m := time.Minute
	tests := []struct {
		name  string
		limit int
		fail  []string
		none  []string
		want  []flowMark
	}{
		{"limit 1", 1, nil, nil, []flowMark{{"run_1", 0}, {"run_2", m}, {"run_3", 2 * m}, {"run_4", 3 * m}, {"run_5", 4 * m}}},
		{"limit 2", 2, nil, nil, []flowMark{{"run_1", 0}, {"run_2", 0}, {"run_3", m}, {"run_4", m}, {"run_5", 2 * m}}},
		{"a failed run frees its slot", 1, []string{"run_2"}, nil, []flowMark{{"run_1", 0}, {"run_2", m}, {"run_3", 2 * m}, {"run_4", 3 * m}, {"run_5", 4 * m}}},
		{"a run with nothing to start takes no slot", 1, nil, []string{"run_2", "run_3"}, []flowMark{{"run_1", 0}, {"run_4", m}, {"run_5", 2 * m}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFlowHarness(t, flowT0)
			for _, id := range tt.fail {
				h.fail[id] = true
			}
			for _, id := range tt.none {
				h.none[id] = true
			}
			for i := range 5 {
				h.signal(0, queued(i+1))
			}
			in := flowIn()
			in.Limit = tt.limit
			if err := h.execute(ConcurrencyWorkflow, in); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(h.starts, tt.want) {
				t.Errorf("started %v, want %v", h.starts, tt.want)
			}
			checkAtMostRunning(t, h, tt.limit)
		})
	}
}

// checkAtMostRunning: never more than limit runs between start and end.
func checkAtMostRunning(t *testing.T, h *flowHarness, limit int) {
	t.Helper()
	for _, s := range h.starts {
		running := 0
		for _, o := range h.starts {
			if o.At <= s.At && !endedBy(h.ends, o.RunID, s.At) {
				running++
			}
		}
		if running > limit {
			t.Errorf("%d runs running when %s started, limit %d", running, s.RunID, limit)
		}
	}
}

func endedBy(ends []flowMark, runID string, at time.Duration) bool {
	for _, e := range ends {
		if e.RunID == runID && e.At <= at {
			return true
		}
	}
	return false
}

// TestFlowConcurrencyDuplicateQueuedOnce: a run signalled again while it is
// queued or running (a retried plan) is let go once.
func TestFlowConcurrencyDuplicateQueuedOnce(t *testing.T) {
	h := newFlowHarness(t, flowT0)
	for _, n := range []int{1, 2, 1, 2} {
		h.signal(0, queued(n))
	}
	h.signal(30*time.Second, queued(2))
	in := flowIn()
	in.Limit = 1
	if err := h.execute(ConcurrencyWorkflow, in); err != nil {
		t.Fatal(err)
	}
	if want := []flowMark{{"run_1", 0}, {"run_2", time.Minute}}; !slices.Equal(h.starts, want) {
		t.Errorf("started %v, want %v", h.starts, want)
	}
	if len(h.asked) != 2 {
		t.Errorf("StartFlowRun asked %d times, want 2: %v", len(h.asked), h.eventIDs())
	}
}

// TestFlowThrottle: two runs per minute: of five signalled at once, two
// start at once, two a minute later, the last two minutes later, without
// waiting for runs to end; the entity ends a minute after the last start.
func TestFlowThrottle(t *testing.T) {
	h := newFlowHarness(t, flowT0)
	h.runFor = 10 * time.Minute
	for i := range 5 {
		h.signal(0, queued(i+1))
	}
	in := flowIn()
	in.Limit, in.Period = 2, time.Minute
	if err := h.execute(ThrottleWorkflow, in); err != nil {
		t.Fatal(err)
	}
	m := time.Minute
	want := []flowMark{{"run_1", 0}, {"run_2", 0}, {"run_3", m}, {"run_4", m}, {"run_5", 2 * m}}
	if !slices.Equal(h.starts, want) {
		t.Errorf("started %v, want %v", h.starts, want)
	}
}

// TestFlowThrottleNothingToStart: a run with nothing to start takes no turn.
func TestFlowThrottleNothingToStart(t *testing.T) {
	h := newFlowHarness(t, flowT0)
	h.none["run_1"] = true
	for i := range 3 {
		h.signal(0, queued(i+1))
	}
	in := flowIn()
	in.Limit, in.Period = 1, time.Minute
	if err := h.execute(ThrottleWorkflow, in); err != nil {
		t.Fatal(err)
	}
	if want := []flowMark{{"run_2", 0}, {"run_3", time.Minute}}; !slices.Equal(h.starts, want) {
		t.Errorf("started %v, want %v", h.starts, want)
	}
}

// TestFlowCountNothingToStart: a count whose run has nothing to start (the
// automation was deleted, the run exists) starts no child and still starts
// the window over.
func TestFlowCountNothingToStart(t *testing.T) {
	h := newFlowHarness(t, flowT0)
	h.none["run_evt_2"] = true
	for i := range 4 {
		h.signal(time.Duration(i)*time.Second, ev(i+1))
	}
	in := flowIn()
	in.Threshold, in.Period = 2, time.Hour
	if err := h.execute(CountWorkflow, in); err != nil {
		t.Fatal(err)
	}
	if got, want := h.eventIDs(), []string{"evt_2#2", "evt_4#2"}; !slices.Equal(got, want) {
		t.Errorf("runs asked for %v, want %v", got, want)
	}
	if want := []flowMark{{"run_evt_4", 3 * time.Second}}; !slices.Equal(h.starts, want) {
		t.Errorf("started %v, want %v", h.starts, want)
	}
}

// smallRuns makes the entities continue as new after n signals for the test.
func smallRuns(t *testing.T, n int) {
	old := maxFlowSignals
	maxFlowSignals = n
	t.Cleanup(func() { maxFlowSignals = old })
}

// TestFlowCountContinueAsNew: the window and the events already counted
// into a run cross a continue-as-new: the count goes on where it was, and a
// repeat of a counted event still counts once.
func TestFlowCountContinueAsNew(t *testing.T) {
	smallRuns(t, 3)
	in := flowIn()
	in.Threshold, in.Period = 4, time.Hour
	h := newFlowHarness(t, flowT0)
	for i := range 3 {
		h.signal(time.Duration(i)*time.Minute, ev(i+1))
	}
	next := h.carried(h.execute(CountWorkflow, in), CountWorkflowName)
	if got := signalIDs(next.Pending); !slices.Equal(got, []string{"evt_1", "evt_2", "evt_3"}) || len(next.Counted) != 0 {
		t.Fatalf("carried window %v, counted %v", got, signalIDs(next.Counted))
	}
	if next.Threshold != 4 || next.Period != time.Hour || next.Key != "cus_1" {
		t.Errorf("carried settings %+v", next)
	}

	h = newFlowHarness(t, flowT0.Add(3*time.Minute))
	h.signal(0, ev(2))
	h.signal(time.Minute, ev(4))
	h.signal(2*time.Minute, ev(3))
	after := h.carried(h.execute(CountWorkflow, next), CountWorkflowName)
	if got, want := h.eventIDs(), []string{"evt_4#4"}; !slices.Equal(got, want) {
		t.Errorf("runs asked for %v, want %v", got, want)
	}
	if got := signalIDs(after.Counted); !slices.Equal(got, []string{"evt_1", "evt_2", "evt_3", "evt_4"}) || len(after.Pending) != 0 {
		t.Errorf("carried counted %v, window %v", got, signalIDs(after.Pending))
	}
}

// TestFlowCountContinueAsNewSuggested: Temporal's suggestion is enough.
func TestFlowCountContinueAsNewSuggested(t *testing.T) {
	h := newFlowHarness(t, flowT0)
	h.env.SetContinueAsNewSuggested(true)
	h.signal(0, ev(1))
	in := flowIn()
	in.Threshold, in.Period = 4, time.Hour
	next := h.carried(h.execute(CountWorkflow, in), CountWorkflowName)
	if got := signalIDs(next.Pending); !slices.Equal(got, []string{"evt_1"}) {
		t.Errorf("carried window %v", got)
	}
}

// TestFlowDebounceContinueAsNew: the latest event crosses; the next run
// starts it once quiet.
func TestFlowDebounceContinueAsNew(t *testing.T) {
	smallRuns(t, 3)
	in := flowIn()
	in.Period = time.Second
	h := newFlowHarness(t, flowT0)
	for i := range 3 {
		h.signal(time.Duration(i)*100*time.Millisecond, ev(i+1))
	}
	next := h.carried(h.execute(DebounceWorkflow, in), DebounceWorkflowName)
	if got := signalIDs(next.Pending); !slices.Equal(got, []string{"evt_3"}) {
		t.Fatalf("carried %v", got)
	}
	h = newFlowHarness(t, flowT0)
	if err := h.execute(DebounceWorkflow, next); err != nil {
		t.Fatal(err)
	}
	if want := []flowMark{{"run_evt_3", time.Second}}; !slices.Equal(h.starts, want) {
		t.Errorf("started %v, want %v", h.starts, want)
	}
}

// TestFlowConcurrencyContinueAsNew: once due, the entity lets no run go
// until the running one ended, then carries the queue in order.
func TestFlowConcurrencyContinueAsNew(t *testing.T) {
	smallRuns(t, 3)
	in := flowIn()
	in.Limit = 1
	h := newFlowHarness(t, flowT0)
	for i := range 4 {
		h.signal(time.Duration(i)*time.Second, queued(i+1))
	}
	next := h.carried(h.execute(ConcurrencyWorkflow, in), ConcurrencyWorkflowName)
	if want := []flowMark{{"run_1", 0}}; !slices.Equal(h.starts, want) || len(h.ends) != 1 {
		t.Errorf("first run started %v, ended %v; want run_1 only, ended", h.starts, h.ends)
	}
	if got := signalIDs(next.Pending); !slices.Equal(got, []string{"evt_2", "evt_3", "evt_4"}) {
		t.Fatalf("carried %v", got)
	}
	h = newFlowHarness(t, flowT0)
	if err := h.execute(ConcurrencyWorkflow, next); err != nil {
		t.Fatal(err)
	}
	m := time.Minute
	if want := []flowMark{{"run_2", 0}, {"run_3", m}, {"run_4", 2 * m}}; !slices.Equal(h.starts, want) {
		t.Errorf("started %v, want %v", h.starts, want)
	}
}

// TestFlowThrottleContinueAsNew: the queue and the recent starts cross: the
// next run still waits for the turn the first one took.
func TestFlowThrottleContinueAsNew(t *testing.T) {
	smallRuns(t, 3)
	in := flowIn()
	in.Limit, in.Period = 1, time.Minute
	h := newFlowHarness(t, flowT0)
	for i := range 3 {
		h.signal(0, queued(i+1))
	}
	next := h.carried(h.execute(ThrottleWorkflow, in), ThrottleWorkflowName)
	if got := signalIDs(next.Pending); !slices.Equal(got, []string{"evt_2", "evt_3"}) || !slices.Equal(next.Started, []time.Time{flowT0}) {
		t.Fatalf("carried %v, started %v", got, next.Started)
	}
	h = newFlowHarness(t, flowT0.Add(time.Second))
	if err := h.execute(ThrottleWorkflow, next); err != nil {
		t.Fatal(err)
	}
	if want := []flowMark{{"run_2", time.Minute}, {"run_3", 2 * time.Minute}}; !slices.Equal(h.starts, want) {
		t.Errorf("started %v, want %v", h.starts, want)
	}
}

func signalIDs(sigs []FlowSignal) []string {
	var ids []string
	for _, s := range sigs {
		ids = append(ids, s.EventID)
	}
	return ids
}

// signalRecorder is a client.Client that keeps its SignalWithStart calls.
type signalRecorder struct {
	client.Client
	err   error
	calls []signalCall
}

type signalCall struct {
	id, signal string
	arg        any
	opts       client.StartWorkflowOptions
	workflow   any
	args       []any
}

func (c *signalRecorder) SignalWithStartWorkflow(_ context.Context, id, signal string, arg any, o client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	c.calls = append(c.calls, signalCall{id, signal, arg, o, wf, args})
	return nil, c.err
}

// TestSignalFlow: each kind signals (or starts) its entity under its ID and
// type, tagged with the workspace, automation and key; an unknown kind is an
// error, Temporal's failure is ErrUnavailable.
func TestSignalFlow(t *testing.T) {
	in := FlowInput{WorkspaceID: "ws_1", AutomationID: "aut_1", Key: "cus_1", Limit: 2}
	sig := queued(1)
	for kind, name := range map[string]string{FlowCount: CountWorkflowName, FlowDebounce: DebounceWorkflowName,
		FlowConcurrency: ConcurrencyWorkflowName, FlowThrottle: ThrottleWorkflowName} {
		c := &signalRecorder{}
		if err := NewStarter(c, "q").SignalFlow(context.Background(), kind, in, sig); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if len(c.calls) != 1 {
			t.Fatalf("%s: %d calls", kind, len(c.calls))
		}
		got := c.calls[0]
		wantID := kind + "/aut_1/cus_1"
		if got.id != wantID || got.opts.ID != wantID || got.signal != SignalFlowEvent || got.arg != sig || got.workflow != name {
			t.Errorf("%s: signalled %s %s with %v, type %v", kind, got.id, got.signal, got.arg, got.workflow)
		}
		if got.opts.TaskQueue != "q" || got.opts.WorkflowIDReusePolicy != enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE {
			t.Errorf("%s: options %+v", kind, got.opts)
		}
		if len(got.args) != 1 || !reflect.DeepEqual(got.args[0], in) {
			t.Errorf("%s: input %v", kind, got.args)
		}
		sa := got.opts.TypedSearchAttributes
		if v, _ := sa.GetKeyword(SAKey); v != "cus_1" {
			t.Errorf("%s: key %q", kind, v)
		}
		if v, _ := sa.GetKeyword(SAAutomation); v != "aut_1" {
			t.Errorf("%s: automation %q", kind, v)
		}
		if v, _ := sa.GetKeyword(SAWorkspace); v != "ws_1" {
			t.Errorf("%s: workspace %q", kind, v)
		}
	}
	c := &signalRecorder{}
	if err := NewStarter(c, "").SignalFlow(context.Background(), "rate", in, sig); err == nil || len(c.calls) != 0 {
		t.Errorf("unknown kind: err %v, %d calls", err, len(c.calls))
	}
	c = &signalRecorder{err: errors.New("connection refused")}
	if err := NewStarter(c, "").SignalFlow(context.Background(), FlowCount, in, sig); !errors.Is(err, models.ErrUnavailable) {
		t.Errorf("Temporal down: %v, want ErrUnavailable", err)
	}
}

// TestFlowSignalsDuringStartFlowRun: signals that arrive while StartFlowRun
// runs are handled after it: counted into the next window, or debounced
// into a second run.
func TestFlowSignalsDuringStartFlowRun(t *testing.T) {
	t.Run("count", func(t *testing.T) {
		h := newFlowHarness(t, flowT0)
		h.slow = 300 * time.Millisecond
		h.signal(0, ev(1))
		h.signal(time.Second, ev(2))
		h.signal(time.Second+20*time.Millisecond, ev(3))
		h.signal(time.Second+40*time.Millisecond, ev(4))
		in := flowIn()
		in.Threshold, in.Period = 2, time.Hour
		if err := h.execute(CountWorkflow, in); err != nil {
			t.Fatal(err)
		}
		if got, want := h.eventIDs(), []string{"evt_2#2", "evt_4#2"}; !slices.Equal(got, want) {
			t.Errorf("runs asked for %v, want %v", got, want)
		}
	})
	t.Run("debounce", func(t *testing.T) {
		h := newFlowHarness(t, flowT0)
		h.slow = 300 * time.Millisecond
		h.signal(0, ev(1))
		h.signal(time.Second+20*time.Millisecond, ev(2))
		in := flowIn()
		in.Period = time.Second
		if err := h.execute(DebounceWorkflow, in); err != nil {
			t.Fatal(err)
		}
		if got, want := h.eventIDs(), []string{"evt_1#0", "evt_2#0"}; !slices.Equal(got, want) {
			t.Errorf("runs asked for %v, want %v", got, want)
		}
	})
}

// TestFlowCancelled: an entity cancelled with runs queued ends cancelled,
// letting none of them go; the running run goes on (it is abandoned).
func TestFlowCancelled(t *testing.T) {
	for _, tt := range []struct {
		name string
		wf   any
		in   FlowInput
	}{
		{"concurrency", ConcurrencyWorkflow, FlowInput{WorkspaceID: "ws_1", AutomationID: "aut_1", Limit: 1}},
		{"throttle", ThrottleWorkflow, FlowInput{WorkspaceID: "ws_1", AutomationID: "aut_1", Limit: 1, Period: time.Hour}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newFlowHarness(t, flowT0)
			for i := range 3 {
				h.signal(0, queued(i+1))
			}
			h.env.RegisterDelayedCallback(h.env.CancelWorkflow, 30*time.Second)
			if err := h.execute(tt.wf, tt.in); !temporal.IsCanceledError(err) {
				t.Errorf("entity ended with %v, want cancelled", err)
			}
			if want := []flowMark{{"run_1", 0}}; !slices.Equal(h.starts, want) {
				t.Errorf("started %v, want %v", h.starts, want)
			}
		})
	}
}
