// Package config reads hookflow's settings from environment variables, each with a
// default that suits its role (`dev` runs on a laptop, `server` and `worker` in
// production). The README's config table lists every variable read here.
package config

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hookflow/hookflow/internal/mailer"
	"github.com/hookflow/hookflow/internal/netguard"
	"github.com/hookflow/hookflow/internal/secretbox"
)

// Role selects the defaults.
type Role string

// Roles of the one binary.
const (
	RoleDev    Role = "dev"
	RoleServer Role = "server"
	RoleWorker Role = "worker"
	// RoleMigrate is `hookflow migrate`: a database, no secrets.
	RoleMigrate Role = "migrate"
	// RoleTemporalSetup is `hookflow temporal-setup`: Temporal only.
	RoleTemporalSetup Role = "temporal-setup"
)

// Config is every setting hookflow reads.
type Config struct {
	Role              Role
	HTTPAddr          string
	DatabaseURL       string
	DataDir           string
	TemporalAddress   string
	TemporalNamespace string
	TemporalUIAddress string
	TaskQueue         string
	APIKey            string
	RetrySchedule     []time.Duration
	AllowedCIDRs      []netip.Prefix
	HTTPSOnly         bool
	MaxEventBytes     int64
	LogLevel          string
	LogFormat         string
	ShutdownGrace     time.Duration
	PublicURL         string
	DisableAfter      time.Duration
	// Keys seals the secrets kept in the database (HOOKFLOW_ENCRYPTION_KEY). Required
	// for server and worker; `dev` keeps one in the data dir when it is unset.
	Keys *secretbox.Keyring
	// DNSServer, when set, is the DNS server (host:port) outbound requests resolve
	// names with instead of the system's resolver.
	DNSServer string
	// AdminKey is the operator's key (HOOKFLOW_ADMIN_KEY): it alone may create and
	// list workspaces over the API. Empty: no admin API (the CLI still works).
	AdminKey string
	// Quotas cap what one workspace may hold (0: no cap).
	Quotas Quotas
	// APIRateLimit and SourceRateLimit are requests a second per workspace on /v1
	// and per source on /hooks (0: no limit); bursts of twice that are allowed.
	APIRateLimit    float64
	SourceRateLimit float64
	// MaxChainEvents is how many events one root event may cause in all, through
	// emitting steps and through hookflow's own deliveries to /hooks
	// (HOOKFLOW_MAX_CHAIN_EVENTS).
	MaxChainEvents int
	// Tracing is on when OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) is set.
	Tracing bool
	// TemporalGzip compresses gRPC requests to Temporal (TEMPORAL_GRPC_COMPRESSION:
	// gzip, none, or auto = gzip unless TEMPORAL_ADDRESS is a loopback address,
	// where compressing only costs CPU).
	TemporalGzip bool
	// MetricsTenantLabels labels /metrics by source id and event type
	// (HOOKFLOW_METRICS_TENANT_LABELS); off, no tenant identifier or sender-chosen
	// string is a label value. MetricsLabelLimit bounds each such label's values.
	MetricsTenantLabels bool
	MetricsLabelLimit   int
	// MetricsToken, when set, is the bearer token /metrics requires.
	MetricsToken string
	// BatchMax bounds the events started as one workflow (HOOKFLOW_BATCH_MAX,
	// default 64); 1 turns micro-batching off: one EventWorkflow per event.
	BatchMax int
	// BatchWindow holds a batch open this long after its first event
	// (HOOKFLOW_BATCH_WINDOW, default 0: group commit alone).
	BatchWindow time.Duration
	// SMTP is where email.send steps submit mail (HOOKFLOW_SMTP_URL; dev: the
	// dev SMTP sink unless set). The zero Server: none, and such steps fail.
	SMTP mailer.Server
	// DevSMTPAddr is the loopback host:port of `hookflow dev`'s SMTP sink
	// (HOOKFLOW_DEV_SMTP_ADDR); empty when it is "off" and in other roles.
	DevSMTPAddr string
}

// Quotas are the per-workspace caps, each from its HOOKFLOW_QUOTA_* variable.
type Quotas struct {
	Endpoints   int
	Automations int
	Sources     int
	APIKeys     int
}

// minAdminKeyLen keeps the admin key out of guessing range: it guards every
// workspace, and `openssl rand -base64 32` gives 44 characters.
const minAdminKeyLen = 32

// Load reads the environment through getenv (os.Getenv in main; a map in tests).
func Load(role Role, getenv func(string) string) (*Config, error) {
	get := func(k, def string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return def
	}
	c := &Config{
		Role:              role,
		HTTPAddr:          get("HOOKFLOW_HTTP_ADDR", "127.0.0.1:8080"),
		DatabaseURL:       get("DATABASE_URL", ""),
		DataDir:           get("HOOKFLOW_DATA_DIR", ".hookflow"),
		TemporalAddress:   get("TEMPORAL_ADDRESS", "127.0.0.1:7233"),
		TemporalNamespace: get("TEMPORAL_NAMESPACE", "default"),
		TemporalUIAddress: get("TEMPORAL_UI_ADDRESS", "127.0.0.1:8233"),
		TaskQueue:         get("HOOKFLOW_TASK_QUEUE", "hookflow"),
		APIKey:            get("HOOKFLOW_API_KEY", ""),
		LogLevel:          get("HOOKFLOW_LOG_LEVEL", "info"),
		DNSServer:         get("HOOKFLOW_DNS_SERVER", ""),
		Tracing:           get("OTEL_EXPORTER_OTLP_ENDPOINT", "") != "" || get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "") != "",
		LogFormat:         get("HOOKFLOW_LOG_FORMAT", map[Role]string{RoleDev: "text"}[role]),
	}
	c.PublicURL = get("HOOKFLOW_PUBLIC_URL", "http://"+c.HTTPAddr)
	if c.LogFormat == "" {
		c.LogFormat = "json"
	}
	for _, load := range []func(func(k, def string) string) error{
		c.loadDelivery, c.loadLimits, c.loadTemporal, c.loadTenancy, c.loadMetrics, c.loadStorage, c.loadMail,
	} {
		if err := load(get); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// loadDelivery reads how deliveries are made: schedule, SSRF allow-list, HTTPS,
// disabling and the resolver.
func (c *Config) loadDelivery(get func(k, def string) string) error {
	var err error
	if c.RetrySchedule, err = ParseSchedule(get("HOOKFLOW_RETRY_SCHEDULE", "")); err != nil {
		return fmt.Errorf("HOOKFLOW_RETRY_SCHEDULE: %w", err)
	}
	defCIDRs := ""
	if c.Role == RoleDev {
		// The dev inbox and local test receivers live on loopback.
		defCIDRs = "127.0.0.0/8,::1/128"
	}
	if c.AllowedCIDRs, err = netguard.ParseCIDRs(get("HOOKFLOW_ALLOWED_CIDRS", defCIDRs)); err != nil {
		return fmt.Errorf("HOOKFLOW_ALLOWED_CIDRS: %w", err)
	}
	if c.HTTPSOnly, err = strconv.ParseBool(get("HOOKFLOW_HTTPS_ONLY", "false")); err != nil {
		return fmt.Errorf("HOOKFLOW_HTTPS_ONLY: %w", err)
	}
	if c.DisableAfter, err = time.ParseDuration(get("HOOKFLOW_DISABLE_AFTER", "120h")); err != nil || c.DisableAfter <= 0 {
		return fmt.Errorf("HOOKFLOW_DISABLE_AFTER: want a positive Go duration such as 120h")
	}
	if c.DNSServer != "" {
		if _, _, err := net.SplitHostPort(c.DNSServer); err != nil {
			return fmt.Errorf("HOOKFLOW_DNS_SERVER: want host:port, e.g. 10.0.0.2:53: %w", err)
		}
	}
	return nil
}

// loadLimits reads the bounds on what tenants send: sizes, chains and rates.
func (c *Config) loadLimits(get func(k, def string) string) error {
	var err error
	if c.MaxEventBytes, err = strconv.ParseInt(get("HOOKFLOW_MAX_EVENT_BYTES", "262144"), 10, 64); err != nil || c.MaxEventBytes <= 0 {
		return fmt.Errorf("HOOKFLOW_MAX_EVENT_BYTES: want a positive number of bytes")
	}
	if c.MaxChainEvents, err = strconv.Atoi(get("HOOKFLOW_MAX_CHAIN_EVENTS", "100")); err != nil || c.MaxChainEvents <= 0 {
		return fmt.Errorf("HOOKFLOW_MAX_CHAIN_EVENTS: want a positive number of events")
	}
	for _, l := range []struct {
		name string
		dst  *float64
	}{{"HOOKFLOW_API_RATE_LIMIT", &c.APIRateLimit}, {"HOOKFLOW_SOURCE_RATE_LIMIT", &c.SourceRateLimit}} {
		v, err := strconv.ParseFloat(get(l.name, "100"), 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return fmt.Errorf("%s: want requests a second, 0 for no limit", l.name)
		}
		*l.dst = v
	}
	if c.BatchMax, err = strconv.Atoi(get("HOOKFLOW_BATCH_MAX", "64")); err != nil || c.BatchMax < 1 || c.BatchMax > 1000 {
		return fmt.Errorf("HOOKFLOW_BATCH_MAX: want events per batch from 1 (no batching) to 1000")
	}
	if c.BatchWindow, err = time.ParseDuration(get("HOOKFLOW_BATCH_WINDOW", "0s")); err != nil || c.BatchWindow < 0 || c.BatchWindow > time.Second {
		return fmt.Errorf("HOOKFLOW_BATCH_WINDOW: want a Go duration from 0s to 1s, such as 5ms")
	}
	return nil
}

// loadTemporal reads how to talk to Temporal and how long to wait at shutdown.
func (c *Config) loadTemporal(get func(k, def string) string) error {
	switch v := get("TEMPORAL_GRPC_COMPRESSION", "auto"); v {
	case "gzip":
		c.TemporalGzip = true
	case "none":
	case "auto":
		c.TemporalGzip = !isLoopback(c.TemporalAddress)
	default:
		return fmt.Errorf("TEMPORAL_GRPC_COMPRESSION: want gzip, none or auto, not %q", v)
	}
	var err error
	if c.ShutdownGrace, err = time.ParseDuration(get("HOOKFLOW_SHUTDOWN_GRACE", "30s")); err != nil {
		return fmt.Errorf("HOOKFLOW_SHUTDOWN_GRACE: %w", err)
	}
	return nil
}

// loadTenancy reads the quotas and the operator's admin key.
func (c *Config) loadTenancy(get func(k, def string) string) error {
	var err error
	if c.Quotas, err = loadQuotas(get); err != nil {
		return err
	}
	c.AdminKey = get("HOOKFLOW_ADMIN_KEY", "")
	if c.AdminKey != "" && len(c.AdminKey) < minAdminKeyLen {
		// The value itself is never echoed: error messages end up in logs.
		return fmt.Errorf("HOOKFLOW_ADMIN_KEY is too short (%d characters, want at least %d): make one with `openssl rand -base64 32`", len(c.AdminKey), minAdminKeyLen)
	}
	return nil
}

// loadStorage reads the app database and the key that seals its secrets.
func (c *Config) loadStorage(get func(k, def string) string) error {
	if c.DatabaseURL == "" {
		if c.Role != RoleDev && c.Role != RoleTemporalSetup {
			return fmt.Errorf("DATABASE_URL is required for %s (e.g. postgres://user:pass@host:5432/hookflow)", c.Role)
		}
		c.DatabaseURL = "sqlite:" + filepath.Join(c.DataDir, "hookflow.db")
	}
	if v := get("HOOKFLOW_ENCRYPTION_KEY", ""); v != "" {
		var err error
		if c.Keys, err = secretbox.Parse(v); err != nil {
			return fmt.Errorf("HOOKFLOW_ENCRYPTION_KEY: %w", err)
		}
	} else if c.Role == RoleServer || c.Role == RoleWorker {
		return fmt.Errorf("HOOKFLOW_ENCRYPTION_KEY is required for %s: it encrypts endpoint and source secrets in the database (make one with `openssl rand -base64 32`, and give every server and worker the same)", c.Role)
	}
	return nil
}

// loadQuotas reads the HOOKFLOW_QUOTA_* variables: whole numbers, 0 for no cap.
func loadQuotas(get func(k, def string) string) (Quotas, error) {
	var q Quotas
	for _, v := range []struct {
		name, def string
		dst       *int
	}{
		{"HOOKFLOW_QUOTA_ENDPOINTS", "250", &q.Endpoints},
		{"HOOKFLOW_QUOTA_AUTOMATIONS", "250", &q.Automations},
		{"HOOKFLOW_QUOTA_SOURCES", "100", &q.Sources},
		{"HOOKFLOW_QUOTA_API_KEYS", "50", &q.APIKeys},
	} {
		n, err := strconv.Atoi(get(v.name, v.def))
		if err != nil || n < 0 {
			return q, fmt.Errorf("%s: want a whole number of resources per workspace, 0 for no quota", v.name)
		}
		*v.dst = n
	}
	return q, nil
}

// loadMetrics reads what /metrics may reveal and who may read it.
func (c *Config) loadMetrics(get func(k, def string) string) error {
	var err error
	if c.MetricsTenantLabels, err = strconv.ParseBool(get("HOOKFLOW_METRICS_TENANT_LABELS", "false")); err != nil {
		return fmt.Errorf("HOOKFLOW_METRICS_TENANT_LABELS: want true or false")
	}
	if c.MetricsLabelLimit, err = strconv.Atoi(get("HOOKFLOW_METRICS_LABEL_LIMIT", "100")); err != nil || c.MetricsLabelLimit < 1 || c.MetricsLabelLimit > 10000 {
		return fmt.Errorf("HOOKFLOW_METRICS_LABEL_LIMIT: want a number of label values between 1 and 10000")
	}
	c.MetricsToken = get("HOOKFLOW_METRICS_TOKEN", "")
	return nil
}

// devSMTPFrom is the sender of dev's email.send steps that name none.
const devSMTPFrom = "hookflow@localhost"

// loadMail reads the SMTP server of email.send and, for dev, its SMTP sink: dev
// sends to the sink unless HOOKFLOW_SMTP_URL says otherwise, so mail works on
// a laptop with nothing else set up.
func (c *Config) loadMail(get func(k, def string) string) error {
	if addr := get("HOOKFLOW_DEV_SMTP_ADDR", "127.0.0.1:2525"); c.Role == RoleDev && addr != "off" {
		if _, _, err := net.SplitHostPort(addr); err != nil || !isLoopback(addr) {
			// The sink takes mail from anyone who reaches it, without a login.
			return fmt.Errorf("HOOKFLOW_DEV_SMTP_ADDR: want a loopback host:port such as 127.0.0.1:2525, or off")
		}
		c.DevSMTPAddr = addr
	}
	def := ""
	if c.DevSMTPAddr != "" {
		def = "smtp://" + c.DevSMTPAddr + "?from=" + devSMTPFrom
	}
	if raw := get("HOOKFLOW_SMTP_URL", def); raw != "" {
		var err error
		if c.SMTP, err = mailer.ParseURL(raw); err != nil {
			return fmt.Errorf("HOOKFLOW_SMTP_URL: %w", err)
		}
	}
	return nil
}

// isLoopback: addr's host is localhost or a loopback IP.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParseSchedule reads a comma-separated list of Go durations ("0s,5s,5m"); empty
// means the default schedule (nil).
func ParseSchedule(s string) ([]time.Duration, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	out := make([]time.Duration, 0, len(parts))
	for _, p := range parts {
		d, err := time.ParseDuration(strings.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("%q: %w", p, err)
		}
		if d < 0 {
			return nil, fmt.Errorf("%q: delays cannot be negative", p)
		}
		out = append(out, d)
	}
	if len(out) > 50 {
		return nil, fmt.Errorf("at most 50 attempts")
	}
	return out, nil
}
