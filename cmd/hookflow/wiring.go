package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/hookflow/hookflow/activities/actions"
	"github.com/hookflow/hookflow/activities/delivery"
	"github.com/hookflow/hookflow/activities/runs"
	"github.com/hookflow/hookflow/api"
	"github.com/hookflow/hookflow/internal/apikeys"
	"github.com/hookflow/hookflow/internal/attempt"
	"github.com/hookflow/hookflow/internal/chain"
	"github.com/hookflow/hookflow/internal/config"
	"github.com/hookflow/hookflow/internal/devsmtp"
	"github.com/hookflow/hookflow/internal/dispatch"
	"github.com/hookflow/hookflow/internal/ingest"
	"github.com/hookflow/hookflow/internal/logctx"
	"github.com/hookflow/hookflow/internal/metrics"
	"github.com/hookflow/hookflow/internal/netguard"
	"github.com/hookflow/hookflow/internal/ratelimit"
	"github.com/hookflow/hookflow/internal/rules"
	"github.com/hookflow/hookflow/internal/secretbox"
	"github.com/hookflow/hookflow/internal/store"
	"github.com/hookflow/hookflow/internal/tracing"
	"github.com/hookflow/hookflow/models"
	"github.com/hookflow/hookflow/sdk/hookflow"
	"github.com/hookflow/hookflow/workflows"
)

// errHelp means --help was asked for and printed.
var errHelp = errors.New("help")

// parseFlags parses a subcommand's flags, printing its help on --help.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer, help string) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, help)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return errHelp
		}
		fmt.Fprintf(stdout, "%v\n\n%s", err, help)
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stdout, "unexpected arguments: %s\n\n%s", strings.Join(fs.Args(), " "), help)
		return errUsage
	}
	return nil
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(logctx.Handler{Handler: slog.NewTextHandler(w, opts)})
	}
	return slog.New(logctx.Handler{Handler: slog.NewJSONHandler(w, opts)})
}

// dialTemporal connects to the frontend, retrying briefly: in docker-compose and
// Kubernetes hookflow often starts before Temporal answers.
func dialTemporal(ctx context.Context, cfg *config.Config, logger *slog.Logger, m *metrics.Metrics) (client.Client, error) {
	var interceptors []interceptor.ClientInterceptor
	if cfg.Tracing {
		ti, err := tracing.Interceptor()
		if err != nil {
			return nil, err
		}
		interceptors = append(interceptors, ti)
	}
	var compression client.GrpcCompression = &client.GrpcCompressionNone{}
	if cfg.TemporalGzip {
		compression = &client.GrpcCompressionGzip{}
	}
	var last error
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := client.DialContext(ctx, client.Options{
			Interceptors:      interceptors,
			HostPort:          cfg.TemporalAddress,
			Namespace:         cfg.TemporalNamespace,
			Logger:            tlog.NewStructuredLogger(logger.With("component", "temporal-sdk")),
			MetricsHandler:    m.TemporalHandler(),
			ConnectionOptions: client.ConnectionOptions{GrpcCompression: compression},
		})
		if err == nil {
			return c, nil
		}
		last = err
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("connect to Temporal at %s (namespace %s): %w", cfg.TemporalAddress, cfg.TemporalNamespace, last)
		}
		logger.Warn("Temporal not reachable yet; retrying", "address", cfg.TemporalAddress, "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

// metricsOptions is what /metrics may reveal, from the environment.
func metricsOptions(cfg *config.Config) metrics.Options {
	return metrics.Options{TenantLabels: cfg.MetricsTenantLabels, LabelLimit: cfg.MetricsLabelLimit, Token: cfg.MetricsToken}
}

// ensureAPIKey makes key a key of the default workspace (idempotent).
func ensureAPIKey(ctx context.Context, st *store.Store, key string) error {
	if key == "" {
		return nil
	}
	k := apikeys.Record(models.DefaultWorkspaceID, "HOOKFLOW_API_KEY", key, time.Now().UTC())
	if err := st.EnsureAPIKey(ctx, k); err != nil {
		return fmt.Errorf("register HOOKFLOW_API_KEY: %w", err)
	}
	return nil
}

// devEncryptionKey returns the key kept in the data dir, making one on the first run.
// Losing the file loses the secrets sealed with it, as with any encryption key.
func devEncryptionKey(cfg *config.Config) (*secretbox.Keyring, error) {
	path := filepath.Join(cfg.DataDir, devKeyFile)
	if b, err := os.ReadFile(path); err == nil {
		kr, err := secretbox.Parse(string(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return kr, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key := secretbox.Generate()
	if err := writeFileAtomic(path, key+"\n"); err != nil {
		return nil, fmt.Errorf("save dev encryption key: %w", err)
	}
	return secretbox.Parse(key)
}

// devKeyFile is the dev encryption key's file in the data dir.
const devKeyFile = "encryption_key"

// writeFileAtomic replaces path with data (mode 0600) so a crash leaves the old
// file or the new one, never half of one.
func writeFileAtomic(path, data string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func newGuard(cfg *config.Config) *netguard.Guard {
	g := netguard.New(cfg.AllowedCIDRs, cfg.HTTPSOnly)
	if cfg.DNSServer != "" {
		g = g.WithResolver(netguard.DNSResolver(cfg.DNSServer))
	}
	return g
}

// newWorker builds the Temporal worker with every workflow and activity registered.
func newWorker(p *process) (worker.Worker, error) {
	cfg, c, st, logger := p.cfg, p.client, p.store, p.logger
	env, err := rules.NewEnv()
	if err != nil {
		return nil, err
	}
	httpClient := newGuard(cfg).Client(dispatch.DefaultTimeout)
	policy := attempt.Policy{Schedule: cfg.RetrySchedule}
	emitter := newEmitter(c, cfg, st, logger, p.metrics)
	runActs := runs.New(st, newRegistry(emitter, cfg, st, httpClient), logger, runs.Config{
		Policy: policy, Metrics: p.metrics, Engine: workflows.NewStarter(c, cfg.TaskQueue)})
	deliveryActs := delivery.New(st, httpClient, env, logger, delivery.Config{
		Policy:       policy,
		DisableAfter: cfg.DisableAfter,
		// Events the platform emits start eagerly: this client has a worker polling
		// the task queue (the one built here), so the first workflow task comes back
		// in the start response instead of through the queue.
		Events:     workflows.NewStarter(c, cfg.TaskQueue).WithEagerStart(),
		Deliveries: workflows.NewStarter(c, cfg.TaskQueue),
		Runs:       runActs,
		Metrics:    p.metrics,
		Chain:      chainSigner(cfg),
	})
	w := worker.New(c, cfg.TaskQueue, worker.Options{
		WorkerStopTimeout: cfg.ShutdownGrace,
	})
	workflows.Register(w)
	deliveryActs.Register(w)
	runActs.Register(w)
	// Developers' workflows emit events through hookflow's workers
	// (sdk/hookflow.EmitEvent, a cross-task-queue activity).
	w.RegisterActivityWithOptions(actions.WorkflowEmitter{Emitter: emitter, Events: st}.EmitEvent,
		activity.RegisterOptions{Name: hookflow.EmitEventActivity})
	// Every worker sweeps for batches an intake left unstarted (it died between
	// recording and starting them), whether or not this process batches: the
	// API servers that do may have died.
	sweeper := ingest.NewBatcher(st, workflows.NewStarter(c, cfg.TaskQueue), ingest.BatchConfig{Logger: logger, Metrics: p.metrics})
	return &sweepingWorker{Worker: w, sweep: sweeper.Sweep}, nil
}

// batchSweepEvery is how often a worker looks for unstarted batches.
const batchSweepEvery = 10 * time.Second

// sweepingWorker is the Temporal worker and, while it runs, the batch sweep.
type sweepingWorker struct {
	worker.Worker
	sweep  func(ctx context.Context, every time.Duration)
	cancel context.CancelFunc
	done   chan struct{}
}

func (w *sweepingWorker) Start() error {
	if err := w.Worker.Start(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel, w.done = cancel, make(chan struct{})
	go func() {
		defer close(w.done)
		w.sweep(ctx, batchSweepEvery)
	}()
	return nil
}

func (w *sweepingWorker) Stop() {
	if w.cancel != nil {
		w.cancel()
		<-w.done
	}
	w.Worker.Stop()
}

// events is what starts accepted events: a micro-batching ingest.Batcher over
// starter, unless HOOKFLOW_BATCH_MAX=1 asks for one workflow per event.
func events(cfg *config.Config, st *store.Store, starter *workflows.Starter, logger *slog.Logger, m *metrics.Metrics) ingest.Starter {
	if cfg.BatchMax <= 1 {
		return starter
	}
	return ingest.NewBatcher(st, starter, ingest.BatchConfig{MaxEvents: cfg.BatchMax, Window: cfg.BatchWindow, Logger: logger, Metrics: m})
}

// newRegistry lists the actions automation steps can use.
func newRegistry(emitter *actions.Emitter, cfg *config.Config, st *store.Store, httpClient *http.Client) *actions.Registry {
	// Actions run in the worker (the API only asks the registry which actions
	// exist), whose client has a worker on the task queue: emitted events start
	// eagerly, as above.
	dispatcher := dispatch.Dispatcher{Client: httpClient}
	ledger := actions.Ledger{Store: st, Emitter: emitter}
	return actions.NewRegistry(
		actions.WebhookPost{Dispatcher: dispatcher, Deliveries: st, Chain: chainSigner(cfg)},
		actions.SlackPost{Dispatcher: dispatcher},
		actions.TeamsPost{Dispatcher: dispatcher},
		actions.HTTPRequest{Dispatcher: dispatcher, Chain: chainSigner(cfg)},
		actions.AwardPoints{Ledger: ledger},
		actions.Redeem{Ledger: ledger},
		actions.EmitAction{Emitter: emitter},
		actions.EmailSend{Server: cfg.SMTP},
	)
}

// newEmitter is how actions and developers' workflows emit events: eagerly
// started (this client has a worker on the task queue), rate-limited per
// workspace like API requests, within the chain budget.
func newEmitter(c client.Client, cfg *config.Config, st *store.Store, logger *slog.Logger, m *metrics.Metrics) *actions.Emitter {
	return actions.NewEmitter(events(cfg, st, workflows.NewStarter(c, cfg.TaskQueue).WithEagerStart(), logger, m), actions.EmitterConfig{
		Store:          st,
		MaxChainEvents: cfg.MaxChainEvents,
		MaxEventBytes:  int(cfg.MaxEventBytes),
		// Emitted events count against their workspace's rate as API requests
		// do (per process, like the API's limit).
		Limiter: ratelimit.New(cfg.APIRateLimit, int(2*cfg.APIRateLimit)),
	})
}

// chainSigner signs and verifies the chain header with a key derived from
// HOOKFLOW_ENCRYPTION_KEY, which every server and worker holds.
func chainSigner(cfg *config.Config) *chain.Signer {
	if cfg.Keys == nil {
		return nil
	}
	return chain.NewSigner(cfg.Keys.Derive(chain.KeyLabel))
}

// newAPIServer builds the HTTP server of the REST API.
func newAPIServer(p *process, devInbox bool) (*http.Server, error) {
	srv, err := newAPI(p, devInbox)
	if err != nil {
		return nil, err
	}
	return httpServer(p.cfg, srv), nil
}

// newAPI builds the REST API (with the dev inbox when devInbox).
func newAPI(p *process, devInbox bool) (*api.Server, error) {
	cfg, c, st, logger := p.cfg, p.client, p.store, p.logger
	env, err := rules.NewEnv()
	if err != nil {
		return nil, err
	}
	starter := workflows.NewStarter(c, cfg.TaskQueue)
	if p.eagerStart {
		starter.WithEagerStart()
	}
	return api.New(st, starter, newGuard(cfg), env, logger, api.Config{
		MaxEventBytes:    cfg.MaxEventBytes,
		DevInbox:         devInbox,
		KnownAction:      newRegistry(nil, cfg, st, nil).Known,
		Events:           events(cfg, st, starter, logger, p.metrics),
		PublicURL:        cfg.PublicURL,
		WorkspaceLimiter: ratelimit.New(cfg.APIRateLimit, int(2*cfg.APIRateLimit)),
		SourceLimiter:    ratelimit.New(cfg.SourceRateLimit, int(2*cfg.SourceRateLimit)),
		Metrics:          p.metrics,
		AdminKey:         cfg.AdminKey,
		Quotas:           api.Quotas(cfg.Quotas),
		Chain:            chainSigner(cfg),
		MaxChainEvents:   cfg.MaxChainEvents,
	}), nil
}

// httpServer serves srv on cfg.HTTPAddr.
func httpServer(cfg *config.Config, srv *api.Server) *http.Server {
	handler := srv.Handler()
	if cfg.Tracing {
		handler = tracing.Handler(handler)
	}
	return &http.Server{
		Addr:              cfg.HTTPAddr,
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// startServing starts the worker (withWorker; eager: the API then starts events
// eagerly on the shared client) and the API, and returns what stops them: the
// HTTP server first, within the shutdown grace, so requests finish, then the
// worker, so running activities finish.
func startServing(p *process, withWorker, devInbox, eager bool) (func(), error) {
	var w worker.Worker
	if withWorker {
		var err error
		if w, err = newWorker(p); err != nil {
			return nil, err
		}
		if err := w.Start(); err != nil {
			return nil, fmt.Errorf("start worker: %w", err)
		}
		p.eagerStart = eager
	}
	stopWorker := func() {
		if w != nil {
			w.Stop()
		}
	}
	apiSrv, err := newAPI(p, devInbox)
	if err != nil {
		stopWorker()
		return nil, err
	}
	stopSink := func() {}
	if devInbox {
		if stopSink, err = startDevSMTP(p.cfg, apiSrv, p.logger); err != nil {
			stopWorker()
			return nil, err
		}
	}
	shutdown, err := serveHTTP(httpServer(p.cfg, apiSrv), p.logger)
	if err != nil {
		stopSink()
		stopWorker()
		return nil, err
	}
	return func() {
		shutdown(p.cfg.ShutdownGrace)
		stopSink()
		stopWorker()
	}, nil
}

// startDevSMTP starts dev's SMTP sink, recording into the dev inbox of srv,
// unless HOOKFLOW_DEV_SMTP_ADDR is off; the returned func stops it.
func startDevSMTP(cfg *config.Config, srv *api.Server, logger *slog.Logger) (func(), error) {
	if cfg.DevSMTPAddr == "" {
		return func() {}, nil
	}
	sink, err := devsmtp.Start(cfg.DevSMTPAddr, srv, logger.With("component", "dev-smtp"))
	if err != nil {
		return nil, err
	}
	return func() {
		if err := sink.Close(); err != nil {
			logger.Warn("dev SMTP sink close", "error", err)
		}
	}, nil
}

// serveHTTP listens first (so a taken port fails start-up, not later) and serves in
// the background; the returned func shuts it down gracefully.
func serveHTTP(srv *http.Server, logger *slog.Logger) (func(time.Duration), error) {
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", srv.Addr, err)
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http server stopped", "error", err)
		}
	}()
	return func(grace time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			logger.Warn("http shutdown", "error", err)
		}
	}, nil
}

// process is what one hookflow process runs on.
type process struct {
	cfg     *config.Config
	logger  *slog.Logger
	store   *store.Store
	client  client.Client
	metrics *metrics.Metrics
	// stopTracing flushes the spans not yet exported.
	stopTracing func(context.Context) error
	// eagerStart: a worker shares client, so the API starts event workflows eagerly.
	eagerStart bool
}

// close releases the client and the store and flushes traces.
func (p *process) close() {
	p.client.Close()
	p.store.Close()
	if p.stopTracing != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.stopTracing(ctx)
	}
}

// connect is the start of `server` and `worker`: configuration, logger, and the
// process on a database that must be migrated already. The caller calls close.
func connect(ctx context.Context, role config.Role, getenv func(string) string, stderr io.Writer) (*process, error) {
	cfg, err := config.Load(role, getenv)
	if err != nil {
		return nil, err
	}
	return openProcess(ctx, cfg, newLogger(cfg, stderr), openOptions{getenv: getenv, role: string(role)})
}

// openOptions says how a process starts.
type openOptions struct {
	// migrate applies pending migrations (dev and tests); otherwise a database
	// that is not migrated is refused.
	migrate bool
	// role names the service on traces; getenv reads the OTEL_* variables.
	role   string
	getenv func(string) string
}

// openProcess is the start every role shares, `dev` and the tests included: the
// database (migrated, or checked), metrics, tracing and a Temporal client. The
// caller calls close.
func openProcess(ctx context.Context, cfg *config.Config, logger *slog.Logger, o openOptions) (*process, error) {
	st, err := store.Open(ctx, cfg.DatabaseURL, logger)
	if err != nil {
		return nil, err
	}
	st.UseKeyring(cfg.Keys)
	if o.migrate {
		_, err = st.Migrate(ctx)
	} else {
		err = st.CheckMigrated(ctx)
	}
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("database: %w", err)
	}
	m := metrics.New(metricsOptions(cfg))
	p := &process{cfg: cfg, logger: logger, store: st, metrics: m, stopTracing: func(context.Context) error { return nil }}
	if cfg.Tracing && o.getenv != nil {
		if p.stopTracing, err = tracing.Setup(ctx, "hookflow-"+o.role, o.getenv); err != nil {
			st.Close()
			return nil, err
		}
	}
	if p.client, err = dialTemporal(ctx, cfg, logger, m); err != nil {
		st.Close()
		return nil, err
	}
	return p, nil
}
