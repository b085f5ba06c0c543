// Package activities holds hookflow's side effects: recording events, planning and
// making signed webhook deliveries. Every activity is a method on Activities, which
// holds its dependencies; the interfaces it needs are declared here so the store and
// the HTTP client can be swapped in tests.
package activities

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/hookflow/hookflow/internal/automation"
	"github.com/hookflow/hookflow/internal/chain"
	"github.com/hookflow/hookflow/internal/ingest"
	"github.com/hookflow/hookflow/internal/metrics"
	"github.com/hookflow/hookflow/internal/rules"
	"github.com/hookflow/hookflow/models"
)

// Store is what the activities need from persistence.
type Store interface {
	InsertEvent(ctx context.Context, e *models.Event) (*models.Event, bool, error)
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

// Defaults of the delivery contract (DESIGN.md, "Delivery contract").
const (
	// DefaultHTTPTimeout bounds one delivery attempt from dial to the last byte read.
	DefaultHTTPTimeout = 15 * time.Second
	// MaxResponseExcerpt is how much of a receiver's answer is kept per attempt.
	MaxResponseExcerpt = 64 << 10
	// DefaultDisableAfter is how long an endpoint may fail continuously before it is disabled.
	DefaultDisableAfter = 120 * time.Hour
	// DefaultMaxRetryAfter caps how long a receiver's Retry-After can push an attempt back.
	DefaultMaxRetryAfter = time.Hour
)

// DefaultSchedule is the delay before each attempt: immediately, then 5 s, 5 m,
// 30 m, 2 h, 5 h, 10 h and 10 h (each ±20 % jitter).
func DefaultSchedule() []time.Duration {
	return []time.Duration{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute,
		2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
}

// Activities holds the dependencies of every activity. Create it with New.
type Activities struct {
	metrics        *metrics.Metrics
	heartbeatEvery time.Duration
	store          Store
	client         *http.Client
	rules          *rules.Env
	schedule       []time.Duration
	maxRetryAfter  time.Duration
	now            func() time.Time
	jitter         func(time.Duration) time.Duration
	logger         *slog.Logger
	autos          *Automations
	programs       programs
	disableAfter   time.Duration
	events         ingest.Starter
	recent         eventCache
	handoffs       handoffs
	chain          *chain.Signer
}

// Config tunes the activities; zero values take the defaults.
type Config struct {
	// Schedule is the delay before each attempt; len(Schedule) is the attempt budget.
	Schedule []time.Duration
	// MaxRetryAfter caps a receiver's Retry-After.
	MaxRetryAfter time.Duration
	// Now and Jitter are injected by tests; Jitter maps a scheduled delay to the one used.
	Now    func() time.Time
	Jitter func(time.Duration) time.Duration
	// DisableAfter disables an endpoint that has failed continuously this long
	// (default 120h); any success resets the clock.
	DisableAfter time.Duration
	// Events starts events the platform itself emits (endpoint.disabled).
	Events ingest.Starter
	// Automations, when set, turns on automation runs: events also start the
	// automations they trigger. (A field, not a method: every exported method of
	// Activities is registered as an activity.)
	Automations *Automations
	// Metrics records attempts, deliveries, runs and disables; nil records nothing.
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
		client:         client,
		rules:          env,
		schedule:       cfg.Schedule,
		maxRetryAfter:  cfg.MaxRetryAfter,
		now:            cfg.Now,
		jitter:         cfg.Jitter,
		logger:         logger,
		programs:       programs{m: map[string]*automation.Program{}},
		autos:          cfg.Automations,
		disableAfter:   cfg.DisableAfter,
		events:         cfg.Events,
		metrics:        cfg.Metrics,
		heartbeatEvery: cfg.HeartbeatEvery,
		chain:          cfg.Chain,
	}
	if len(a.schedule) == 0 {
		a.schedule = DefaultSchedule()
	}
	if a.disableAfter <= 0 {
		a.disableAfter = DefaultDisableAfter
	}
	if a.maxRetryAfter <= 0 {
		a.maxRetryAfter = DefaultMaxRetryAfter
	}
	if a.now == nil {
		a.now = func() time.Time { return time.Now().UTC() }
	}
	if a.jitter == nil {
		a.jitter = Jitter
	}
	if a.logger == nil {
		a.logger = slog.New(slog.DiscardHandler)
	}
	return a
}
