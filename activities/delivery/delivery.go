// Package delivery holds the activities of an event's workflow: PrepareEvent
// records the event and plans its deliveries and runs, Deliver makes one signed
// attempt of a delivery and applies the schedule. Their payloads and names are the
// workflows package's contract; the interfaces this package needs are declared
// here so the store and the HTTP client can be swapped in tests.
package delivery

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"

	"github.com/hookflow/hookflow/internal/attempt"
	"github.com/hookflow/hookflow/internal/chain"
	"github.com/hookflow/hookflow/internal/dispatch"
	"github.com/hookflow/hookflow/internal/ingest"
	"github.com/hookflow/hookflow/internal/matching"
	"github.com/hookflow/hookflow/internal/metrics"
	"github.com/hookflow/hookflow/internal/rules"
	"github.com/hookflow/hookflow/models"
	"github.com/hookflow/hookflow/workflows"
)

// Store is what the delivery activities need from persistence.
type Store interface {
	InsertEvent(ctx context.Context, e *models.Event) (*models.Event, bool, error)
	ClaimEventBatch(ctx context.Context, batchID string, eventIDs []string) ([]models.Event, error)
	GetEvent(ctx context.Context, workspaceID, id string) (*models.Event, error)
	GetEndpoint(ctx context.Context, workspaceID, id string) (*models.Endpoint, error)
	EndpointsForEvent(ctx context.Context, workspaceID, eventType string) ([]models.Endpoint, error)
	DisableEndpoint(ctx context.Context, workspaceID, id, reason string, at time.Time) error
	SetEndpointHealth(ctx context.Context, workspaceID, id string, ok bool, at time.Time) (*time.Time, error)
	EnsureDeliveries(ctx context.Context, ds []models.Delivery) ([]models.Delivery, error)
	GetDeliveryAnyWorkspace(ctx context.Context, id string) (*models.Delivery, error)
	RecordAttempt(ctx context.Context, deliveryID string, a *models.Attempt, status models.DeliveryStatus, next *time.Time) error
	SetDeliveryStatus(ctx context.Context, deliveryID string, status models.DeliveryStatus, lastError string) error
	ReserveSendSlot(ctx context.Context, endpointID string, interval, maxWait time.Duration, now time.Time) (time.Duration, bool, error)
}

// DeliveryStarter starts the workflow a batch hands a delivery on to
// (workflows.Starter).
type DeliveryStarter interface {
	StartDelivery(ctx context.Context, in workflows.StartDeliveryInput) error
}

// RunPlanner records the automation runs an event starts (runs.Activities).
type RunPlanner interface {
	// PlanRuns reads the automations that may apply from candidates, or from
	// its store when nil (a batch passes a matching.Memo: one read per type).
	PlanRuns(ctx context.Context, ev *models.Event, eventMap map[string]any, candidates matching.Candidates) ([]workflows.PlannedRun, error)
	// Candidates is where PlanRuns reads automations by default.
	Candidates() matching.Candidates
}

// DefaultDisableAfter is how long an endpoint may fail continuously before it is disabled.
const DefaultDisableAfter = 120 * time.Hour

// Activities holds the dependencies of the delivery activities. Create it with New.
type Activities struct {
	store          Store
	dispatcher     dispatch.Dispatcher
	rules          *rules.Env
	policy         attempt.Policy
	now            func() time.Time
	logger         *slog.Logger
	metrics        *metrics.Metrics
	heartbeatEvery time.Duration
	disableAfter   time.Duration
	events         ingest.Starter
	deliveries     DeliveryStarter
	runs           RunPlanner
	chain          *chain.Signer
	recent         eventCache
	handoffs       handoffs
}

// Config tunes the activities; zero values take the defaults.
type Config struct {
	// Policy is the retry schedule (default attempt.DefaultSchedule).
	Policy attempt.Policy
	// Now is injected by tests.
	Now func() time.Time
	// DisableAfter disables an endpoint that has failed continuously this long
	// (default 120h); any success resets the clock.
	DisableAfter time.Duration
	// Events starts events the platform itself emits (endpoint.disabled).
	Events ingest.Starter
	// Deliveries starts the workflows batches hand deliveries on to.
	Deliveries DeliveryStarter
	// Runs, when set, turns on automation runs: events also start the automations
	// they trigger.
	Runs RunPlanner
	// Metrics records attempts, deliveries and disables; nil records nothing.
	Metrics *metrics.Metrics
	// Chain signs the chain header of deliveries; nil sends none.
	Chain *chain.Signer
	// HeartbeatEvery is how often a long attempt heartbeats; zero means a third of
	// the activity's heartbeat timeout. Tests shorten it.
	HeartbeatEvery time.Duration
}

// New returns Activities that deliver with client (which must enforce the SSRF guard
// and not follow redirects) and evaluate filters with env.
func New(store Store, client *http.Client, env *rules.Env, logger *slog.Logger, cfg Config) *Activities {
	a := &Activities{
		store:          store,
		rules:          env,
		policy:         cfg.Policy.WithDefaults(),
		now:            cfg.Now,
		logger:         logger,
		metrics:        cfg.Metrics,
		heartbeatEvery: cfg.HeartbeatEvery,
		disableAfter:   cfg.DisableAfter,
		events:         cfg.Events,
		deliveries:     cfg.Deliveries,
		runs:           cfg.Runs,
		chain:          cfg.Chain,
	}
	if a.disableAfter <= 0 {
		a.disableAfter = DefaultDisableAfter
	}
	if a.now == nil {
		a.now = func() time.Time { return time.Now().UTC() }
	}
	if a.logger == nil {
		a.logger = slog.New(slog.DiscardHandler)
	}
	a.dispatcher = dispatch.Dispatcher{Client: client, Now: a.now}
	return a
}

// Register puts the activities on a worker under their contract names; the
// workflows run PrepareEvent and first attempts of Deliver as local activities,
// which are registered the same way.
func (a *Activities) Register(w worker.ActivityRegistry) {
	w.RegisterActivityWithOptions(a.PrepareEvent, activity.RegisterOptions{Name: workflows.PrepareEventActivity})
	w.RegisterActivityWithOptions(a.PrepareBatch, activity.RegisterOptions{Name: workflows.PrepareBatchActivity})
	w.RegisterActivityWithOptions(a.StartDelivery, activity.RegisterOptions{Name: workflows.StartDeliveryActivity})
	w.RegisterActivityWithOptions(a.Deliver, activity.RegisterOptions{Name: workflows.DeliverActivity})
}
