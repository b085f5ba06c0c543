package runs_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"

	"github.com/hookflow/hookflow/activities/actions"
	"github.com/hookflow/hookflow/activities/runs"
	"github.com/hookflow/hookflow/internal/attempt"
	"github.com/hookflow/hookflow/models"
	"github.com/hookflow/hookflow/workflows"
)

// memStore is an in-memory runs.Store holding one automation, its event and run:
// enough for the run workflow's unit tests, which are about the steps' retries.
type memStore struct {
	noWaits
	mu  sync.Mutex
	au  models.Automation
	ev  models.Event
	run models.AutomationRun
}

func newMemStore(steps ...models.Step) *memStore {
	au := models.Automation{ID: "auto_1", WorkspaceID: "ws_1", Name: "retry test", Version: 1, Enabled: true,
		Trigger: models.Trigger{EventType: "order.placed"}, Steps: steps}
	run := models.AutomationRun{ID: "run_1", WorkspaceID: "ws_1", AutomationID: "auto_1", AutomationVersion: 1, EventID: "evt_1",
		WorkflowID: "run/auto_1/evt_1", Status: models.RunPending}
	for _, st := range steps {
		run.Steps = append(run.Steps, models.RunStep{ID: st.ID, Action: st.Action, Status: models.RunPending})
	}
	return &memStore{au: au, run: run, ev: models.Event{ID: "evt_1", WorkspaceID: "ws_1", Type: "order.placed",
		Data: json.RawMessage(`{"total":10}`), CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}}
}

// noWaits is a store without waits: the run workflow's unit tests have no
// wait_for_event steps or cancel_on.
type noWaits struct{}

func (noWaits) InsertWaits(_ context.Context, w []models.RunWait) ([]models.RunWait, error) {
	return w, nil
}
func (noWaits) WaitPaths(context.Context, string, string) ([]string, error) { return nil, nil }
func (noWaits) OpenWaits(context.Context, string, string, string, string, int) ([]models.RunWait, error) {
	return nil, nil
}
func (noWaits) CountCondWaits(context.Context, string, string) (int, error) { return 0, nil }
func (noWaits) ClaimWait(context.Context, string, string) (bool, error)     { return false, nil }
func (noWaits) CloseWait(context.Context, string) (string, error)           { return "", nil }
func (noWaits) DeleteRunWaits(context.Context, string) error                { return nil }
func (noWaits) NoteCancel(context.Context, string, string) error            { return nil }
func (noWaits) MoveRunWaits(context.Context, string, string) error          { return nil }
func (noWaits) SetRunWaiting(context.Context, string, string) error         { return nil }
func (noWaits) CancelRun(context.Context, string, string, time.Time) error  { return nil }
func (noWaits) CredentialValue(context.Context, string, string) (string, error) {
	return "", models.ErrNotFound
}
func (noWaits) EventsOfTypeSince(context.Context, string, string, time.Time, int) ([]models.Event, error) {
	return nil, nil
}

func (s *memStore) EnsureRunLimited(ctx context.Context, r *models.AutomationRun, _ *models.RunLimit) (*models.AutomationRun, error) {
	return s.EnsureRun(ctx, r)
}

func (s *memStore) AutomationsForEvent(context.Context, string, string, string) ([]models.Automation, error) {
	return []models.Automation{s.au}, nil
}

func (s *memStore) GetAutomationVersion(context.Context, string, string, int) (*models.Automation, error) {
	au := s.au
	return &au, nil
}

func (s *memStore) GetEvent(context.Context, string, string) (*models.Event, error) {
	ev := s.ev
	return &ev, nil
}

func (s *memStore) EnsureRun(_ context.Context, r *models.AutomationRun) (*models.AutomationRun, error) {
	return r, nil
}

func (s *memStore) GetRunAnyWorkspace(context.Context, string) (*models.AutomationRun, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.run
	r.Steps = append([]models.RunStep(nil), s.run.Steps...)
	return &r, nil
}

func (s *memStore) SetRunStatus(_ context.Context, _ string, st models.RunStatus, msg string, _ *time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.run.Status, s.run.Error = st, msg
	return nil
}

func (s *memStore) SetRunStep(_ context.Context, _ string, idx int, st models.RunStep) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.run.Steps[idx] = st
	return nil
}

// flaky is an HTTP-kind action that fails until its fails are spent, keeping the
// attempt numbers it was run with.
type flaky struct {
	mu       sync.Mutex
	fails    int
	attempts []int
}

func (*flaky) Name() string             { return "test.flaky" }
func (*flaky) Retry() actions.RetryKind { return actions.RetryHTTP }
func (f *flaky) seen() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.attempts...)
}
func (f *flaky) Run(_ context.Context, sc actions.StepContext, _ map[string]any) (map[string]any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts = append(f.attempts, sc.Attempt)
	if len(f.attempts) <= f.fails {
		return nil, errors.New("HTTP 503")
	}
	return map[string]any{"ok": true}, nil
}

// runPaths are the ways a run's steps have been run: every attempt an activity
// (runs started before FirstAttemptLocal), the first attempt local with the retry
// waiting on a workflow timer (before RetryWaitsInActivity), and today's.
var runPaths = []struct {
	name string
	in   workflows.RunWorkflowInput
}{
	{"activities", workflows.RunWorkflowInput{AutomationRunID: "run_1"}},
	{"first attempt local, timer", workflows.RunWorkflowInput{AutomationRunID: "run_1", FirstAttemptLocal: true}},
	{"first attempt local, wait in activity", workflows.RunWorkflowInput{AutomationRunID: "run_1", FirstAttemptLocal: true, RetryWaitsInActivity: true}},
}

// TestStepAttemptsOnRecord: however a run's steps are run, a step's attempts are
// numbered from the attempts on record (1, 2, 3 to the action, 3 recorded), each
// retry comes a schedule step later, and the schedule's end fails the step naming
// the attempts. Only the runs started before RetryWaitsInActivity wait on a
// workflow timer.
func TestStepAttemptsOnRecord(t *testing.T) {
	schedule := []time.Duration{0, time.Second, 2 * time.Second}
	for _, p := range runPaths {
		for _, tt := range []struct {
			name      string
			fails     int
			wantErr   string
			wantTries []int
		}{
			{"succeeds on attempt 3", 2, "", []int{1, 2, 3}},
			{"schedule spent", 5, "gave up after 3 attempts", []int{1, 2, 3}},
		} {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				st := newMemStore(models.Step{ID: "call", Action: "test.flaky", Params: json.RawMessage(`{}`)})
				act := &flaky{fails: tt.fails}
				var ts testsuite.WorkflowTestSuite
				env := ts.NewTestWorkflowEnvironment()
				acts := runs.New(st, actions.NewRegistry(act), nil, runs.Config{
					Policy: attempt.Policy{Schedule: schedule, Jitter: func(d time.Duration) time.Duration { return d }},
					Now:    env.Now,
				})
				workflows.Register(env)
				acts.Register(env)
				timers := 0
				env.SetOnTimerScheduledListener(func(string, time.Duration) { timers++ })
				var due []time.Time
				env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
					var in workflows.RunStepInput
					if info.ActivityType.Name == workflows.RunStepActivity && args.Get(&in) == nil && !in.NotBefore.IsZero() {
						due = append(due, in.NotBefore)
					}
				})
				start := env.Now()
				env.ExecuteWorkflow(workflows.AutomationRunWorkflow, p.in)
				err := env.GetWorkflowError()
				if (err != nil) != (tt.wantErr != "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
					t.Fatalf("run error = %v, want %q", err, tt.wantErr)
				}
				if got := act.seen(); !equal(got, tt.wantTries) {
					t.Errorf("action ran as attempts %v, want %v", got, tt.wantTries)
				}
				step := st.run.Steps[0]
				if step.Attempts != len(tt.wantTries) {
					t.Errorf("step records %d attempts, want %d", step.Attempts, len(tt.wantTries))
				}
				// 1 s then 2 s between the three attempts, in workflow time.
				if got := env.Now().Sub(start); got < 3*time.Second || got > 4*time.Second {
					t.Errorf("three attempts took %s of workflow time, want 3s", got)
				}
				wantTimers, wantDue := 0, 0
				switch {
				case p.in.RetryWaitsInActivity:
					wantDue = 1 // the retry after the local attempt, due 1 s in
				case p.in.FirstAttemptLocal:
					wantTimers = 1
				}
				if timers != wantTimers || len(due) < wantDue {
					t.Errorf("%d workflow timers and %d attempts scheduled with NotBefore, want %d and at least %d", timers, len(due), wantTimers, wantDue)
				}
				if wantDue > 0 && len(due) > 0 {
					if got := due[0].Sub(start); got < time.Second || got > 2*time.Second {
						t.Errorf("retry due %s after the start, want 1s", got)
					}
				}
			})
		}
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
