package delivery_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"

	"github.com/hookflow/hookflow/activities/delivery"
	"github.com/hookflow/hookflow/internal/attempt"
	"github.com/hookflow/hookflow/internal/netguard"
	"github.com/hookflow/hookflow/internal/rules"
	"github.com/hookflow/hookflow/models"
	"github.com/hookflow/hookflow/workflows"
)

// memStore is an in-memory delivery.Store: enough for the workflow's unit tests,
// which are about orchestration and the retry schedule, not persistence.
type memStore struct {
	mu         sync.Mutex
	events     map[string]*models.Event
	endpoints  map[string]*models.Endpoint
	deliveries map[string]*models.Delivery
	attempts   map[string][]models.Attempt
	nextSlot   map[string]time.Time
	loads      atomic.Int32 // GetEndpoint and GetDeliveryAnyWorkspace calls
}

func newMemStore(eps ...models.Endpoint) *memStore {
	s := &memStore{events: map[string]*models.Event{}, endpoints: map[string]*models.Endpoint{},
		deliveries: map[string]*models.Delivery{}, attempts: map[string][]models.Attempt{}}
	for i := range eps {
		s.endpoints[eps[i].ID] = &eps[i]
	}
	return s
}

func (s *memStore) InsertEvent(_ context.Context, e *models.Event) (*models.Event, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, old := range s.events {
		if old.WorkspaceID == e.WorkspaceID && old.DedupKey == e.DedupKey {
			return old, false, nil
		}
	}
	cp := *e
	s.events[e.ID] = &cp
	return &cp, true, nil
}

func (s *memStore) ClaimEventBatch(_ context.Context, batchID string, eventIDs []string) ([]models.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []models.Event
	for _, id := range eventIDs {
		if e, ok := s.events[id]; ok && e.BatchID == batchID {
			out = append(out, *e)
		}
	}
	return out, nil
}

func (s *memStore) GetEvent(_ context.Context, ws, id string) (*models.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.events[id]; ok && e.WorkspaceID == ws {
		cp := *e
		return &cp, nil
	}
	return nil, models.ErrNotFound
}

func (s *memStore) GetEndpoint(_ context.Context, ws, id string) (*models.Endpoint, error) {
	s.loads.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.endpoints[id]; ok && e.WorkspaceID == ws {
		cp := *e
		return &cp, nil
	}
	return nil, models.ErrNotFound
}

func (s *memStore) EndpointsForEvent(_ context.Context, ws, t string) ([]models.Endpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []models.Endpoint
	for _, e := range s.endpoints {
		if e.WorkspaceID == ws && e.Enabled && e.Subscribes(t) {
			out = append(out, *e)
		}
	}
	return out, nil
}

func (s *memStore) DisableEndpoint(_ context.Context, ws, id, reason string, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.endpoints[id]
	e.Enabled, e.DisabledReason = false, reason
	return nil
}

func (s *memStore) ReserveSendSlot(_ context.Context, id string, interval, maxWait time.Duration, now time.Time) (time.Duration, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nextSlot == nil {
		s.nextSlot = map[string]time.Time{}
	}
	slot := now
	if n := s.nextSlot[id]; n.After(now) {
		slot = n
	}
	if slot.Sub(now) > maxWait {
		return slot.Sub(now), false, nil
	}
	s.nextSlot[id] = slot.Add(interval)
	return slot.Sub(now), true, nil
}

func (s *memStore) SetEndpointHealth(context.Context, string, string, bool, time.Time) (*time.Time, error) {
	return nil, nil
}

func (s *memStore) EnsureDeliveries(_ context.Context, ds []models.Delivery) ([]models.Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]models.Delivery, 0, len(ds))
	for _, d := range ds {
		found := false
		for _, old := range s.deliveries {
			if old.EventID == d.EventID && old.EndpointID == d.EndpointID {
				out, found = append(out, *old), true
			}
		}
		if !found {
			cp := d
			s.deliveries[d.ID] = &cp
			out = append(out, d)
		}
	}
	return out, nil
}

func (s *memStore) GetDeliveryAnyWorkspace(_ context.Context, id string) (*models.Delivery, error) {
	s.loads.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.deliveries[id]; ok {
		cp := *d
		return &cp, nil
	}
	return nil, models.ErrNotFound
}

func (s *memStore) RecordAttempt(_ context.Context, id string, a *models.Attempt, st models.DeliveryStatus, next *time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a.Number = len(s.attempts[id]) + 1
	s.attempts[id] = append(s.attempts[id], *a)
	d := s.deliveries[id]
	d.Status, d.AttemptCount, d.NextAttemptAt = st, a.Number, next
	return nil
}

func (s *memStore) SetDeliveryStatus(_ context.Context, id string, st models.DeliveryStatus, msg string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deliveries[id].Status, s.deliveries[id].LastError = st, msg
	return nil
}

func testEvent() models.Event {
	return models.Event{ID: "evt_1", WorkspaceID: "ws_1", Type: "order.placed", DedupKey: "evt:evt_1",
		Data: json.RawMessage(`{"total":10}`), CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func testEndpoint(url string) models.Endpoint {
	return models.Endpoint{ID: "ep_1", WorkspaceID: "ws_1", URL: url, EventTypes: []string{"*"}, Enabled: true,
		Secrets: []models.Secret{{Value: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}}
}

// newActivities makes the activities under test. The test environment skips time
// through timers, so the activities read its clock (now), not the wall clock, to
// know whether an attempt is due.
func newActivities(t *testing.T, st delivery.Store, schedule []time.Duration, now func() time.Time, opts ...func(*delivery.Config)) *delivery.Activities {
	t.Helper()
	env, err := rules.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	guard := netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, false)
	cfg := delivery.Config{
		Policy: attempt.Policy{Schedule: schedule,
			Jitter: func(d time.Duration) time.Duration { return d }}, // exact, so the test can add it up
		Now: now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	return delivery.New(st, guard.Client(5*time.Second), env, nil, cfg)
}

// TestEventWorkflowFullDefaultSchedule runs a delivery to a receiver that always
// fails through the whole default schedule — 8 attempts over more than a day —
// with the test suite skipping time.
func TestEventWorkflowFullDefaultSchedule(t *testing.T) {
	for _, local := range []bool{false, true} {
		t.Run(paths[local], func(t *testing.T) { testFullDefaultSchedule(t, local) })
	}
}

// paths names the two delivery paths: every attempt an activity (runs started
// before FirstAttemptLocal), and the first attempt local.
var paths = map[bool]string{false: "activities", true: "first attempt local"}

func testFullDefaultSchedule(t *testing.T, local bool) {
	var hits atomic.Int32
	var ids sync.Map
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		ids.Store(r.Header.Get("webhook-id"), true)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer rcv.Close()

	st := newMemStore(testEndpoint(rcv.URL))
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	register(env, newActivities(t, st, attempt.DefaultSchedule(), env.Now))
	start := env.Now()
	env.ExecuteWorkflow(workflows.EventWorkflow, workflows.EventWorkflowInput{Event: workflows.EventFrom(testEvent()), DedupKey: "evt:evt_1", FirstAttemptLocal: local})

	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	err := env.GetWorkflowError()
	if err == nil {
		t.Fatal("workflow succeeded, want it to fail after the schedule is exhausted")
	}
	if got, want := hits.Load(), int32(len(attempt.DefaultSchedule())); got != want {
		t.Errorf("receiver got %d attempts, want %d", got, want)
	}
	var want time.Duration
	for _, d := range attempt.DefaultSchedule() {
		want += d
	}
	// Each attempt itself takes a few milliseconds of real time on top.
	if got := env.Now().Sub(start); got < want || got > want+time.Minute {
		t.Errorf("schedule took %s of workflow time, want %s", got, want)
	}
	n := 0
	ids.Range(func(k, _ any) bool { n++; return k == "evt_1" })
	if n != 1 {
		t.Errorf("saw %d distinct webhook-ids, want 1 (evt_1)", n)
	}
	for _, d := range st.deliveries {
		if d.Status != models.DeliveryFailed || d.AttemptCount != 8 {
			t.Errorf("delivery status %s after %d attempts, want failed after 8", d.Status, d.AttemptCount)
		}
		atts := st.attempts[d.ID]
		for i, a := range atts {
			wantOutcome := models.AttemptRetrying
			if i == len(atts)-1 {
				wantOutcome = models.AttemptFailed
			}
			if a.Outcome != wantOutcome || a.StatusCode != 503 {
				t.Errorf("attempt %d: outcome %s status %d, want %s 503", a.Number, a.Outcome, a.StatusCode, wantOutcome)
			}
		}
	}
}

// TestEventWorkflowOutcomes checks how the workflow ends for the receiver's answers.
func TestEventWorkflowOutcomes(t *testing.T) {
	tests := []struct {
		name         string
		codes        []int // answers in order; the last repeats
		wantErr      bool
		wantAttempts int
		wantStatus   models.DeliveryStatus
		wantDisabled bool
	}{
		{"success first time", []int{200}, false, 1, models.DeliverySucceeded, false},
		{"fails twice then succeeds", []int{500, 502, 204}, false, 3, models.DeliverySucceeded, false},
		{"400 is final", []int{400}, true, 1, models.DeliveryFailed, false},
		{"429 is retried", []int{429, 200}, false, 2, models.DeliverySucceeded, false},
		{"410 disables", []int{410}, true, 1, models.DeliveryFailed, true},
		{"3xx is not followed and is retried", []int{302, 200}, false, 2, models.DeliverySucceeded, false},
		{"schedule exhausted", []int{500}, true, 3, models.DeliveryFailed, false},
	}
	for _, local := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(paths[local]+"/"+tt.name, func(t *testing.T) {
				var n atomic.Int32
				rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					i := int(n.Add(1)) - 1
					code := tt.codes[min(i, len(tt.codes)-1)]
					if code == 302 {
						w.Header().Set("Location", "http://127.0.0.1:1/elsewhere")
					}
					w.WriteHeader(code)
				}))
				defer rcv.Close()
				st := newMemStore(testEndpoint(rcv.URL))
				var ts testsuite.WorkflowTestSuite
				env := ts.NewTestWorkflowEnvironment()
				register(env, newActivities(t, st, []time.Duration{0, time.Second, 2 * time.Second}, env.Now))
				var localDeliveries, activityDeliveries atomic.Int32
				env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
					if info.ActivityType.Name == "Deliver" {
						localDeliveries.Add(1)
					}
				})
				env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
					if info.ActivityType.Name == "Deliver" {
						activityDeliveries.Add(1)
					}
				})
				env.ExecuteWorkflow(workflows.EventWorkflow, workflows.EventWorkflowInput{Event: workflows.EventFrom(testEvent()), DedupKey: "evt:evt_1", FirstAttemptLocal: local})
				// With FirstAttemptLocal the first attempt is a local activity and the
				// rest are activities; without it every attempt is an activity. The
				// activity that follows a failed local attempt starts before it is
				// due, sends nothing and is retried by Temporal when it is: one more
				// activity start than attempts.
				wantLocal, wantNotDue := 0, 0
				if local {
					wantLocal = 1
					if tt.wantAttempts > 1 {
						wantNotDue = 1
					}
				}
				if got := int(localDeliveries.Load()); got != wantLocal {
					t.Errorf("%d local Deliver attempts, want %d", got, wantLocal)
				}
				if got, want := int(activityDeliveries.Load()), tt.wantAttempts-wantLocal+wantNotDue; got != want {
					t.Errorf("%d Deliver activity attempts, want %d", got, want)
				}
				if err := env.GetWorkflowError(); (err != nil) != tt.wantErr {
					t.Fatalf("workflow error = %v, want error %v", err, tt.wantErr)
				}
				if len(st.deliveries) != 1 {
					t.Fatalf("%d deliveries, want 1", len(st.deliveries))
				}
				for _, d := range st.deliveries {
					if d.Status != tt.wantStatus || d.AttemptCount != tt.wantAttempts {
						t.Errorf("delivery %s after %d attempts, want %s after %d", d.Status, d.AttemptCount, tt.wantStatus, tt.wantAttempts)
					}
				}
				if got := int(n.Load()); got != tt.wantAttempts {
					t.Errorf("receiver saw %d requests, want %d", got, tt.wantAttempts)
				}
				if disabled := !st.endpoints["ep_1"].Enabled; disabled != tt.wantDisabled {
					t.Errorf("endpoint disabled = %v, want %v", disabled, tt.wantDisabled)
				}
			})
		}
	}
}

// TestEventWorkflowRetryDueFromAttempt: the retry of a failed local first attempt
// is due a schedule step after the attempt ended, by the attempt's own clock. The
// workflow's clock stands still at the start of the task while a local activity
// waits for a slot and runs; a delay counted from it brought retries early under
// load (the reliability suite saw a 1 s step come after 750 ms).
func TestEventWorkflowRetryDueFromAttempt(t *testing.T) {
	var n atomic.Int32
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer rcv.Close()
	st := newMemStore(testEndpoint(rcv.URL))
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	// The activities' clock runs lag ahead of the workflow's: the local attempt
	// ended lag after the workflow task began.
	const lag = 3 * time.Second
	start := env.Now()
	register(env, newActivities(t, st, []time.Duration{0, time.Second}, func() time.Time { return env.Now().Add(lag) }))
	var inputs []workflows.DeliverInput
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
		var in workflows.DeliverInput
		if info.ActivityType.Name == "Deliver" && args.Get(&in) == nil {
			inputs = append(inputs, in)
		}
	})
	env.ExecuteWorkflow(workflows.EventWorkflow, workflows.EventWorkflowInput{Event: workflows.EventFrom(testEvent()), DedupKey: "evt:evt_1", FirstAttemptLocal: true})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow: %v", err)
	}
	if len(inputs) == 0 {
		t.Fatal("no Deliver activity after the failed local attempt")
	}
	// Due one step after the attempt: lag + 1 s past the workflow's start, not 1 s.
	if got, want := inputs[0].NotBefore.Sub(start), lag+time.Second; got < want || got > want+time.Second {
		t.Errorf("retry due %s after the workflow started, want %s (the attempt's end plus the step)", got, want)
	}
	if got := n.Load(); got != 2 {
		t.Errorf("receiver saw %d requests, want 2", got)
	}
}

// TestDeliverHeartbeats: a Deliver activity heartbeats while a slow receiver holds
// its request, so a worker that dies mid-attempt is noticed within the heartbeat
// timeout; a quick attempt sends no heartbeat at all.
func TestDeliverHeartbeats(t *testing.T) {
	for _, slow := range []bool{false, true} {
		t.Run(map[bool]string{false: "quick", true: "slow"}[slow], func(t *testing.T) {
			rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if slow {
					time.Sleep(700 * time.Millisecond)
				}
				w.WriteHeader(http.StatusOK)
			}))
			defer rcv.Close()
			st := newMemStore(testEndpoint(rcv.URL))
			var ts testsuite.WorkflowTestSuite
			env := ts.NewTestWorkflowEnvironment()
			envRules, err := rules.NewEnv()
			if err != nil {
				t.Fatal(err)
			}
			guard := netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, false)
			register(env, delivery.New(st, guard.Client(5*time.Second), envRules, nil, delivery.Config{
				Now: env.Now, HeartbeatEvery: 100 * time.Millisecond,
			}))
			var beats atomic.Int32
			env.SetOnActivityHeartbeatListener(func(info *activity.Info, _ converter.EncodedValues) {
				if info.ActivityType.Name == "Deliver" {
					beats.Add(1)
				}
			})
			// Every attempt an activity (the path without FirstAttemptLocal): local
			// activities have no heartbeat.
			env.ExecuteWorkflow(workflows.EventWorkflow, workflows.EventWorkflowInput{Event: workflows.EventFrom(testEvent()), DedupKey: "evt:evt_1"})
			if err := env.GetWorkflowError(); err != nil {
				t.Fatalf("workflow: %v", err)
			}
			if got := beats.Load(); slow && got == 0 {
				t.Error("no heartbeat while the receiver held the request for 700 ms")
			} else if !slow && got != 0 {
				t.Errorf("%d heartbeats from a quick attempt, want none", got)
			}
		})
	}
}

// TestFirstAttemptHandoff: a first attempt made as a local activity takes its
// delivery and endpoint from what PrepareEvent loaded in this worker, so it reads
// neither back; a retry, a regular activity, reads both from the store, as does
// every attempt on the path without local first attempts.
func TestFirstAttemptHandoff(t *testing.T) {
	for _, tt := range []struct {
		name      string
		local     bool
		codes     []int
		wantLoads int32
	}{
		{"local first attempt succeeds", true, []int{200}, 0},
		{"local first attempt, then a retry", true, []int{503, 200}, 2},
		{"every attempt an activity", false, []int{200}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int32
			rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				i := int(n.Add(1)) - 1
				w.WriteHeader(tt.codes[min(i, len(tt.codes)-1)])
			}))
			defer rcv.Close()
			st := newMemStore(testEndpoint(rcv.URL))
			var ts testsuite.WorkflowTestSuite
			env := ts.NewTestWorkflowEnvironment()
			register(env, newActivities(t, st, []time.Duration{0, time.Second}, env.Now))
			env.ExecuteWorkflow(workflows.EventWorkflow, workflows.EventWorkflowInput{Event: workflows.EventFrom(testEvent()), DedupKey: "evt:evt_1", FirstAttemptLocal: tt.local})
			if err := env.GetWorkflowError(); err != nil {
				t.Fatalf("workflow: %v", err)
			}
			if got := st.loads.Load(); got != tt.wantLoads {
				t.Errorf("%d delivery/endpoint loads from the store, want %d", got, tt.wantLoads)
			}
			if got := int(n.Load()); got != len(tt.codes) {
				t.Errorf("receiver saw %d requests, want %d", got, len(tt.codes))
			}
		})
	}
}

func TestEventWorkflowNoEndpoints(t *testing.T) {
	st := newMemStore()
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	register(env, newActivities(t, st, nil, env.Now))
	env.ExecuteWorkflow(workflows.EventWorkflow, workflows.EventWorkflowInput{Event: workflows.EventFrom(testEvent()), DedupKey: "evt:evt_1"})
	var res workflows.EventWorkflowResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if len(res.Deliveries) != 0 || len(st.events) != 1 {
		t.Errorf("got %d deliveries and %d events stored, want 0 and 1", len(res.Deliveries), len(st.events))
	}
}

// register puts the workflows and acts on the test environment, as the worker does.
func register(env *testsuite.TestWorkflowEnvironment, acts *delivery.Activities) {
	workflows.Register(env)
	acts.Register(env)
}
