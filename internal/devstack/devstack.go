// Package devstack runs Temporal's own server and Web UI inside the hookflow
// process, so that `hookflow dev` and the integration tests need no external
// Temporal cluster: one SQLite file (or memory), one history shard, every
// service on loopback ports.
//
// It is a thin layer over go.temporal.io/server/temporal and
// github.com/temporalio/ui-server/v2: it chooses settings that suit a single
// developer machine and waits until the server really answers before handing
// it over.
package devstack

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/temporal"
)

// DatabaseFile is the name of Temporal's SQLite file inside Options.DataDir.
const DatabaseFile = "temporal.db"

// Defaults applied by Start to zero-valued Options fields.
const (
	// DefaultNamespace is the namespace of the Temporal CLI's dev server too,
	// so tools pointed at either find the workflows without flags.
	DefaultNamespace = "default"
	// DefaultRetention keeps closed workflows long enough to look into a
	// failure after a weekend.
	DefaultRetention = 72 * time.Hour
	// DefaultFrontendAddr is loopback on a free port, which suits tests; the
	// dev command passes the well-known 127.0.0.1:7233.
	DefaultFrontendAddr = "127.0.0.1:0"
)

// startTimeout bounds how long Start waits for the server to answer, even
// when the caller's context has no deadline: a server that is not up by then
// is broken, and hanging forever would hide why.
const startTimeout = 2 * time.Minute

// Options configures Start. Only the zero value of each field has a default;
// nothing else is changed.
type Options struct {
	// DataDir is where the SQLite file (DatabaseFile) lives; it is created if
	// missing. Empty keeps everything in memory, which suits tests: the data
	// goes when the process exits.
	DataDir string

	// FrontendAddr is the host:port of the gRPC frontend that SDK clients dial,
	// e.g. 127.0.0.1:7233. Port 0 picks a free port; empty means
	// DefaultFrontendAddr. The host must be an IP address or "localhost".
	FrontendAddr string

	// UIAddr is the host:port of the Web UI; port 0 picks a free port and
	// empty runs no UI.
	UIAddr string

	// Namespace is created if it does not exist; empty means DefaultNamespace.
	Namespace string

	// Retention is how long closed workflows are kept in a namespace created
	// by Start; zero means DefaultRetention. An existing namespace keeps its
	// retention.
	Retention time.Duration

	// SearchAttributes are the custom search attributes the namespace must
	// have. Missing ones are added on every start, so a data dir created by an
	// older version gains the attributes added since.
	SearchAttributes map[string]enumspb.IndexedValueType

	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger

	// LogLevel is the least severe server log level passed on to Logger; nil
	// means slog.LevelWarn, because the server is chatty at Info and would
	// drown the application's own output.
	LogLevel slog.Leveler

	// DynamicConfig overrides Temporal dynamic config keys (for example
	// "matching.numTaskqueueReadPartitions") on top of the dev defaults.
	DynamicConfig map[string]any

	// Postgres, when set, keeps the server's state in Postgres instead of
	// SQLite (DataDir is then unused): the setting for load, since SQLite
	// has a single writer.
	Postgres *Postgres

	// NumHistoryShards is fixed when the databases are created and must not
	// change afterwards; zero means 1 on SQLite and DefaultPostgresShards on
	// Postgres.
	NumHistoryShards int32
}

// Server is a running embedded Temporal server, with its Web UI when one was
// asked for. Stop it with Stop.
type Server struct {
	temporal     temporal.Server
	ui           *uiserver.Server
	uiDone       chan struct{}
	frontendAddr string
	uiURL        string
	namespace    string
	logger       *slog.Logger
	stopping     *atomic.Bool // quiets the logger during Stop
	stopOnce     sync.Once
}

// Start starts the server and returns once its frontend answers for the
// namespace, the search attributes are registered and the UI (if any) serves.
// ctx bounds the start only; the server runs until Stop.
func Start(ctx context.Context, o Options) (*Server, error) {
	o = o.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()

	stopping := new(atomic.Bool)
	logger := slog.New(minLevelHandler{min: o.LogLevel, stopping: stopping, next: o.Logger.Handler()})
	p, err := planAddresses(o)
	if err != nil {
		return nil, err
	}
	var stores persistenceStores
	if o.Postgres != nil {
		pg := o.Postgres.withDefaults()
		stores.main, stores.visibility, err = preparePostgres(pg, newServerLogger(logger))
		stores.name, stores.visibilityName = "postgres-default", "postgres-visibility"
		stores.registerNamespace = true
	} else {
		stores.main, err = prepareDatabase(o)
		stores.visibility = stores.main
		stores.name, stores.visibilityName = storeName, storeName
	}
	if err != nil {
		return nil, err
	}
	opts, err := serverOptions(o, p, stores, logger)
	if err != nil {
		return nil, err
	}
	ts, err := newServer(opts)
	if err != nil {
		return nil, err
	}
	if err := ts.Start(); err != nil {
		// Start may have brought up some services before failing; stopping
		// releases their ports and goroutines.
		stopping.Store(true)
		_ = ts.Stop()
		return nil, fmt.Errorf("start temporal server: %w", err)
	}
	s := &Server{
		temporal:     ts,
		frontendAddr: p.frontend,
		namespace:    o.Namespace,
		logger:       logger,
		stopping:     stopping,
	}
	if p.ui != "" {
		s.startUI(p.ui)
	}
	retention := time.Duration(0)
	if stores.registerNamespace {
		retention = o.Retention
	}
	if err := s.awaitReady(ctx, retention, o.SearchAttributes); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// newServer builds the server. The server reports some construction
// failures (a listener it cannot open, say) through its logger's Fatal and
// carries on, because Fatal normally exits; ours only logs (see
// serverLogger), so they surface as a nil dereference a little later. That
// panic is turned into an error here: the message itself is in the log.
func newServer(opts []temporal.ServerOption) (ts temporal.Server, err error) {
	defer func() {
		if r := recover(); r != nil {
			ts, err = nil, fmt.Errorf("create temporal server: panic: %v (see the server log for the cause)", r)
		}
	}()
	ts, err = temporal.NewServer(opts...)
	if err != nil {
		return nil, fmt.Errorf("create temporal server: %w", err)
	}
	return ts, nil
}

// FrontendAddr is the host:port SDK clients dial. When FrontendAddr was given
// with an unspecified IP (0.0.0.0), this is the loopback address, which is
// always dialable.
func (s *Server) FrontendAddr() string { return s.frontendAddr }

// UIURL is the base URL of the Web UI, or "" when it does not run.
func (s *Server) UIURL() string { return s.uiURL }

// Namespace is the namespace Start created or found.
func (s *Server) Namespace() string { return s.namespace }

// Stop stops the UI and then the server, and waits for both. Calling it more
// than once is harmless.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		s.stopping.Store(true)
		if s.ui != nil {
			s.ui.Stop()
			<-s.uiDone
		}
		if err := s.temporal.Stop(); err != nil {
			s.logger.Error("stop temporal server", "error", err)
		}
	})
}

func (o Options) withDefaults() Options {
	if o.FrontendAddr == "" {
		o.FrontendAddr = DefaultFrontendAddr
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Retention == 0 {
		o.Retention = DefaultRetention
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.LogLevel == nil {
		o.LogLevel = slog.LevelWarn
	}
	if o.NumHistoryShards == 0 {
		o.NumHistoryShards = 1
		if o.Postgres != nil {
			o.NumHistoryShards = DefaultPostgresShards
		}
	}
	return o
}

// startUI runs the UI server in the background: its Start blocks until Stop.
func (s *Server) startUI(addr string) {
	s.ui = newUIServer(addr, s.frontendAddr, s.namespace)
	s.uiURL = "http://" + dialable(addr)
	s.uiDone = make(chan struct{})
	go func() {
		defer close(s.uiDone)
		if err := s.ui.Start(); err != nil {
			s.logger.Error("temporal ui stopped", "error", err)
		}
	}()
}

// awaitReady waits until the frontend serves the namespace (registering it
// with the given retention first unless that is zero), registers any missing
// search attributes, and waits for the UI to answer.
func (s *Server) awaitReady(ctx context.Context, register time.Duration, attrs map[string]enumspb.IndexedValueType) error {
	c, err := dialReady(ctx, s.frontendAddr, s.namespace, register, s.logger)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := ensureSearchAttributes(ctx, c, s.namespace, attrs); err != nil {
		return err
	}
	if s.uiURL != "" {
		if err := poll(ctx, func(ctx context.Context) error { return getOK(ctx, s.uiURL+"/healthz") }); err != nil {
			return fmt.Errorf("wait for temporal ui at %s: %w", s.uiURL, err)
		}
	}
	return nil
}

// poll calls try until it succeeds or ctx ends, and then returns try's last
// error so that a timeout says what was failing.
func poll(ctx context.Context, try func(context.Context) error) error {
	const interval = 50 * time.Millisecond
	for {
		err := try(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-time.After(interval):
		}
	}
}

func getOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// addrPlan holds the addresses decided before anything starts.
type addrPlan struct {
	frontendBindIP string // what the frontend listens on, as given
	internalIP     string // where the other services listen and are reached
	frontendPort   int
	httpPort       int    // frontend's HTTP API (and Nexus) port
	frontend       string // dialable host:port of the frontend
	ui             string // host:port of the UI, or ""
}

func planAddresses(o Options) (addrPlan, error) {
	host, port, err := splitHostPort(o.FrontendAddr)
	if err != nil {
		return addrPlan{}, fmt.Errorf("frontend address %q: %w", o.FrontendAddr, err)
	}
	// Internal services need an address the others can reach; loopback
	// keeps them off the network even when the frontend is exposed on all
	// interfaces.
	internal, _, _ := net.SplitHostPort(dialable(net.JoinHostPort(host, "0")))
	p := addrPlan{frontendBindIP: host, internalIP: internal, frontendPort: port}
	if p.frontendPort == 0 {
		if p.frontendPort, err = freePort(p.frontendBindIP); err != nil {
			return addrPlan{}, err
		}
	} else if err := checkBindable(p.frontendBindIP, p.frontendPort); err != nil {
		// Usually another dev server (the Temporal CLI's, or a second
		// hookflow dev) already runs there; say so before building anything.
		return addrPlan{}, fmt.Errorf("frontend address %q: %w", o.FrontendAddr, err)
	}
	p.frontend = net.JoinHostPort(p.internalIP, strconv.Itoa(p.frontendPort))
	// Without the HTTP API the server warns on every start that Nexus is
	// unavailable; it also lets a developer curl the frontend.
	if p.httpPort, err = freePort(p.frontendBindIP); err != nil {
		return addrPlan{}, err
	}

	if o.UIAddr != "" {
		uiHost, uiPort, err := splitHostPort(o.UIAddr)
		if err != nil {
			return addrPlan{}, fmt.Errorf("ui address %q: %w", o.UIAddr, err)
		}
		if uiPort == 0 {
			if uiPort, err = freePort(uiHost); err != nil {
				return addrPlan{}, err
			}
		} else if err := checkBindable(uiHost, uiPort); err != nil {
			// The UI server exits the whole process when it cannot listen, so
			// a taken port has to be caught here, while it is still an error.
			return addrPlan{}, fmt.Errorf("ui address %q: %w", o.UIAddr, err)
		}
		p.ui = net.JoinHostPort(uiHost, strconv.Itoa(uiPort))
	}
	return p, nil
}

// splitHostPort accepts an IP address or "localhost" (mapped to 127.0.0.1)
// and a numeric port; Temporal's services bind to IPs, not names.
func splitHostPort(addr string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	switch host {
	case "", "localhost":
		host = "127.0.0.1"
	}
	if net.ParseIP(host) == nil {
		return "", 0, fmt.Errorf("host %q is not an IP address", host)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", portStr)
	}
	return host, port, nil
}

// freePort asks the kernel for a port on ip that nothing listens on.
//
// Closing a listener alone would hand the port back to the ephemeral pool,
// where an outgoing connection could take it before the server binds it. A
// connection accepted and closed by the listening side instead leaves the
// port in TIME_WAIT: the kernel does not reuse it for ephemeral binds for a
// minute, while Go listeners (SO_REUSEADDR) can still bind it explicitly.
func freePort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, fmt.Errorf("find free port on %s: %w", ip, err)
	}
	defer func() { _ = l.Close() }()
	port := l.Addr().(*net.TCPAddr).Port

	c, err := net.Dial("tcp", dialable(l.Addr().String()))
	if err != nil {
		return port, nil // the port is free anyway; only the reuse guard is lost
	}
	defer func() { _ = c.Close() }()
	if sc, err := l.Accept(); err == nil {
		_ = sc.Close()
	}
	return port, nil
}

// dialable replaces an unspecified listen IP (0.0.0.0, ::) with loopback,
// which reaches the listener from this machine on every OS.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if ip.To4() != nil {
			host = "127.0.0.1"
		} else {
			host = "::1"
		}
	}
	return net.JoinHostPort(host, port)
}

func checkBindable(ip string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return l.Close()
}
