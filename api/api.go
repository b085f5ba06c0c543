// Package api is hookflow's REST API: the Gin router, its handlers, API-key
// authentication and the one place where errors become HTTP statuses. It talks to
// storage and to Temporal only through the small interfaces declared here.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hookflow/hookflow/internal/apikeys"
	"github.com/hookflow/hookflow/internal/chain"
	"github.com/hookflow/hookflow/internal/ingest"
	"github.com/hookflow/hookflow/internal/metrics"
	"github.com/hookflow/hookflow/internal/netguard"
	"github.com/hookflow/hookflow/internal/ratelimit"
	"github.com/hookflow/hookflow/internal/rules"
	"github.com/hookflow/hookflow/models"
)

// Store is what the API reads and writes. It and the interfaces after it are the
// API's whole storage contract, declared in one place (FullStore is their sum), so
// a reader and a fake see at once what each part of the API touches.
type Store interface {
	Ping(ctx context.Context) error

	// Store serves the key and workspace use cases.
	apikeys.Store
	GetWorkspace(ctx context.Context, id string) (*models.Workspace, error)
	ListWorkspaces(ctx context.Context, page models.Page) ([]models.Workspace, string, error)
	CountActiveAPIKeys(ctx context.Context, workspaceID string) (int64, error)

	CreateEndpoint(ctx context.Context, e *models.Endpoint) error
	GetEndpoint(ctx context.Context, workspaceID, id string) (*models.Endpoint, error)
	ListEndpoints(ctx context.Context, workspaceID string, page models.Page) ([]models.Endpoint, string, error)
	UpdateEndpoint(ctx context.Context, e *models.Endpoint) error
	DeleteEndpoint(ctx context.Context, workspaceID, id string) error
	CountEndpoints(ctx context.Context, workspaceID string) (int64, error)
	TakeRecoverLease(ctx context.Context, workspaceID, endpointID, token string, now time.Time, ttl time.Duration) (bool, error)
	ReleaseRecoverLease(ctx context.Context, endpointID, token string) error

	GetEvent(ctx context.Context, workspaceID, id string) (*models.Event, error)
	EventByDedupKey(ctx context.Context, workspaceID, dedupKey string) (*models.Event, error)
	ListEvents(ctx context.Context, workspaceID string, page models.Page) ([]models.Event, string, error)

	ReserveChainEvent(ctx context.Context, rootID string, limit int, now time.Time) (bool, error)

	GetDelivery(ctx context.Context, workspaceID, id string) (*models.Delivery, error)
	ListDeliveries(ctx context.Context, workspaceID string, f models.DeliveryFilter, page models.Page) ([]models.Delivery, string, error)
	DeliveriesForEvent(ctx context.Context, workspaceID, eventID string) ([]models.Delivery, error)
	SetDeliveryStatus(ctx context.Context, deliveryID string, status models.DeliveryStatus, lastError string) error
}

// AutomationStore is what the automation and run routes need.
type AutomationStore interface {
	CreateAutomation(ctx context.Context, a *models.Automation) error
	CountAutomations(ctx context.Context, workspaceID string) (int64, error)
	GetAutomation(ctx context.Context, workspaceID, id string) (*models.Automation, error)
	ListAutomations(ctx context.Context, workspaceID string, page models.Page) ([]models.Automation, string, error)
	UpdateAutomation(ctx context.Context, a *models.Automation) error
	DeleteAutomation(ctx context.Context, workspaceID, id string) error
	GetRun(ctx context.Context, workspaceID, id string) (*models.AutomationRun, error)
	ListRuns(ctx context.Context, workspaceID, automationID string, page models.Page) ([]models.AutomationRun, string, error)
	RunsForEvent(ctx context.Context, workspaceID, eventID string) ([]models.AutomationRun, error)
	ResetRun(ctx context.Context, runID string) error
	SetRunStatus(ctx context.Context, runID string, status models.RunStatus, errMsg string, finishedAt *time.Time) error
}

// SourceStore is what the source routes and the doorbell need.
type SourceStore interface {
	CreateSource(ctx context.Context, src *models.Source) error
	CountSources(ctx context.Context, workspaceID string) (int64, error)
	GetSource(ctx context.Context, workspaceID, id string) (*models.Source, error)
	SourceByID(ctx context.Context, id string) (*models.Source, error)
	ListSources(ctx context.Context, workspaceID string, page models.Page) ([]models.Source, string, error)
	UpdateSource(ctx context.Context, src *models.Source) error
	DeleteSource(ctx context.Context, workspaceID, id string) error
}

// LoyaltyStore is what the loyalty routes need.
type LoyaltyStore interface {
	GetTiers(ctx context.Context, workspaceID string) ([]models.Tier, error)
	SetTiers(ctx context.Context, workspaceID string, tiers []models.Tier) error
	GetMember(ctx context.Context, workspaceID, customerID string) (*models.Member, error)
	Ledger(ctx context.Context, workspaceID, customerID string, page models.Page) ([]models.LedgerEntry, string, error)
	ApplyPoints(ctx context.Context, workspaceID, customerID, name string, delta int64, reason, idempotencyKey string, at time.Time) (*models.PointsChange, error)
}

// FullStore is every store interface the API uses.
type FullStore interface {
	Store
	AutomationStore
	LoyaltyStore
	SourceStore
	CredentialStore
}

// Engine starts durable work: in production a Temporal client behind workflows.Starter.
type Engine interface {
	// Starter starts events' workflows, for the intake every door shares.
	ingest.Starter
	// RetryDelivery runs a delivery again with the same webhook-id.
	RetryDelivery(ctx context.Context, d models.Delivery) error
	// RetryRun resumes a failed automation run at its failed step.
	RetryRun(ctx context.Context, r models.AutomationRun) error
	// Ping checks the engine is reachable.
	Ping(ctx context.Context) error
}

// Config holds the API's knobs.
type Config struct {
	// MaxEventBytes limits the body of POST /v1/events (default 256 KiB).
	MaxEventBytes int64
	// DevInbox mounts /dev/inbox (only `hookflow dev` sets it).
	DevInbox bool
	// PublicURL is the base of source URLs (<PublicURL>/hooks/src_…).
	PublicURL string
	// KnownAction reports whether an automation step's action exists.
	KnownAction func(string) bool
	// WorkspaceLimiter limits requests per workspace on /v1, whichever of its keys
	// they carry (a tenant with more keys gets no more capacity); nil: no limit.
	WorkspaceLimiter *ratelimit.Limiter
	// SourceLimiter limits requests per source on /hooks; nil: no limit.
	SourceLimiter *ratelimit.Limiter
	// Metrics records requests and accepted events and is served at /metrics; nil: neither.
	Metrics *metrics.Metrics
	// Chain verifies the chain header of hookflow's own deliveries ringing back in
	// on /hooks; nil: every request starts a chain.
	Chain *chain.Signer
	// MaxChainEvents is how many events one root event may cause in all
	// (default models.DefaultMaxChainEvents).
	MaxChainEvents int
	// AdminKey is the operator's key for /v1/workspaces; empty: that API refuses
	// every caller and workspaces are made with `hookflow workspace create`.
	AdminKey string
	// Quotas cap what each workspace may hold; zero fields: no cap.
	Quotas Quotas
	// MaxRecover bounds the deliveries one POST /v1/endpoints/{id}/recover starts
	// (default DefaultMaxRecover); the answer says whether more remain.
	MaxRecover int
	// Events, when set, starts accepted events instead of the engine (a
	// micro-batching ingest.Batcher); the engine still does everything else.
	Events ingest.Starter
	// Now is injected by tests.
	Now func() time.Time
}

// Server is the HTTP API.
type Server struct {
	store   Store
	autos   AutomationStore
	loyalty LoyaltyStore
	sources SourceStore
	creds   CredentialStore
	engine  Engine
	intake  *ingest.Intake
	keys    *apikeys.Keys
	guard   *netguard.Guard
	rules   *rules.Env
	logger  *slog.Logger
	cfg     Config
	inbox   *inbox
	router  *gin.Engine
}

// DefaultMaxEventBytes is the default body limit for events.
const DefaultMaxEventBytes = 256 << 10

// New wires the router. guard validates endpoint URLs at save time; env compiles filters.
// The store must also implement AutomationStore and LoyaltyStore.
func New(store FullStore, engine Engine, guard *netguard.Guard, env *rules.Env, logger *slog.Logger, cfg Config) *Server {
	if cfg.MaxEventBytes <= 0 {
		cfg.MaxEventBytes = DefaultMaxEventBytes
	}
	if cfg.MaxChainEvents <= 0 {
		cfg.MaxChainEvents = models.DefaultMaxChainEvents
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://127.0.0.1:8080"
	}
	if cfg.MaxRecover <= 0 {
		cfg.MaxRecover = DefaultMaxRecover
	}
	if cfg.KnownAction == nil {
		cfg.KnownAction = func(string) bool { return false }
	}
	var events ingest.Starter = engine
	if cfg.Events != nil {
		events = cfg.Events
	}
	s := &Server{store: store, autos: store, loyalty: store, sources: store, creds: store, engine: engine, guard: guard, rules: env, logger: logger, cfg: cfg,
		intake: ingest.New(store, events, ingest.Config{MaxChainEvents: cfg.MaxChainEvents, Metrics: cfg.Metrics}),
		keys:   apikeys.New(store, apikeys.Config{AdminKey: cfg.AdminKey, Now: cfg.Now})}
	if cfg.DevInbox {
		s.inbox = newInbox(500)
	}
	s.router = s.routes()
	return s
}

// Routes lists the method and path of every route, for tests that must cover them all.
func (s *Server) Routes() [][2]string {
	var out [][2]string
	for _, r := range s.router.Routes() {
		out = append(out, [2]string{r.Method, r.Path})
	}
	return out
}

// Handler returns the http.Handler to serve.
func (s *Server) Handler() http.Handler { return s.router }

func (s *Server) routes() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	r.Use(s.requestLog(), s.recoverJSON())
	r.NoRoute(func(c *gin.Context) {
		writeError(c, http.StatusNotFound, "not_found", "no route for "+c.Request.Method+" "+c.Request.URL.Path)
	})
	r.NoMethod(func(c *gin.Context) {
		writeError(c, http.StatusMethodNotAllowed, "method_not_allowed", c.Request.Method+" is not allowed on "+c.Request.URL.Path)
	})

	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	if s.cfg.Metrics != nil {
		r.GET("/metrics", gin.WrapH(s.cfg.Metrics.Handler()))
	}
	r.GET("/openapi.yaml", s.openapiSpec)
	r.GET("/docs", s.docs)
	if s.inbox != nil {
		r.POST("/dev/inbox/:name", s.inboxRecord)
		r.GET("/dev/inbox/:name", s.inboxList)
		r.DELETE("/dev/inbox/:name", s.inboxClear)
	}

	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodGet} {
		r.Handle(m, "/hooks/:source_id", s.hook)
	}

	// The operator's routes, outside the /v1 group: the admin key authenticates
	// them, not a workspace key, and no workspace's rate limit applies.
	r.POST("/v1/workspaces", s.authenticateAdmin(), s.createWorkspace)
	r.GET("/v1/workspaces", s.authenticateAdmin(), s.listWorkspaces)

	s.workspaceRoutes(r.Group("/v1", s.authenticate()))
	return r
}

// workspaceRoutes are the /v1 routes a workspace's key reaches.
func (s *Server) workspaceRoutes(v1 *gin.RouterGroup) {
	v1.POST("/credentials", s.createCredential)
	v1.GET("/credentials", s.listCredentials)
	v1.GET("/credentials/:name", s.getCredential)
	v1.PUT("/credentials/:name", s.rotateCredential)
	v1.DELETE("/credentials/:name", s.deleteCredential)
	v1.POST("/sources", s.createSource)
	v1.GET("/sources", s.listSources)
	v1.GET("/sources/:id", s.getSource)
	v1.PATCH("/sources/:id", s.patchSource)
	v1.DELETE("/sources/:id", s.deleteSource)
	v1.POST("/sources/:id/rotate-secret", s.rotateSourceSecret)
	v1.POST("/api-keys", s.createAPIKey)
	v1.GET("/api-keys", s.listAPIKeys)
	v1.DELETE("/api-keys/:id", s.revokeAPIKey)

	v1.POST("/endpoints", s.createEndpoint)
	v1.GET("/endpoints", s.listEndpoints)
	v1.GET("/endpoints/:id", s.getEndpoint)
	v1.PATCH("/endpoints/:id", s.patchEndpoint)
	v1.DELETE("/endpoints/:id", s.deleteEndpoint)
	v1.GET("/endpoints/:id/secret", s.getEndpointSecret)
	v1.POST("/endpoints/:id/rotate-secret", s.rotateEndpointSecret)
	v1.POST("/endpoints/:id/test", s.testEndpoint)
	v1.POST("/endpoints/:id/recover", s.recoverEndpoint)

	v1.POST("/events", s.createEvent)
	v1.GET("/events", s.listEvents)
	v1.GET("/events/:id", s.getEvent)

	v1.POST("/automations", s.createAutomation)
	v1.GET("/automations", s.listAutomations)
	v1.GET("/automations/:id", s.getAutomation)
	v1.PUT("/automations/:id", s.updateAutomation)
	v1.PATCH("/automations/:id", s.updateAutomation)
	v1.DELETE("/automations/:id", s.deleteAutomation)
	v1.GET("/automations/:id/secret", s.getAutomationSecret)
	v1.POST("/automations/:id/test", s.testAutomation)
	v1.GET("/automations/:id/runs", s.listAutomationRuns)
	v1.GET("/runs/:id", s.getRun)
	v1.POST("/runs/:id/retry", s.retryRun)

	v1.GET("/loyalty/tiers", s.getTiers)
	v1.PUT("/loyalty/tiers", s.putTiers)
	v1.GET("/loyalty/members/:customer_id", s.getMember)
	v1.GET("/loyalty/members/:customer_id/ledger", s.getLedger)
	v1.POST("/loyalty/members/:customer_id/redemptions", s.createRedemption)

	v1.GET("/deliveries", s.listDeliveries)
	v1.GET("/deliveries/:id", s.getDelivery)
	v1.POST("/deliveries/:id/retry", s.retryDelivery)
}
