// Package testenv is what integration tests in other packages share: one
// embedded Temporal server per test package, one fresh Postgres database per
// test, free loopback addresses, polling with messages built on failure
// (Eventually), a loopback webhook and Slack receiver (Receiver), the hookflow
// binary built once and run as processes that can be killed and restarted
// (BuildBinary, StartHookflow, Process), and the flagship automations as a
// fixture in testdata.
//
// It is imported only by _test.go files. It runs the real things (the real
// Temporal server, a real Postgres) because the house rule is that an
// integration test must be able to fail the way production would.
package testenv

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/hookflow/hookflow/internal/devstack"
)

// SearchAttributes returns the custom search attributes hookflow's workflows
// set, all Keyword, so that ops can find runs in the Web UI by workspace,
// event type, source, endpoint and automation. It returns a new map on each
// call, so callers may change their copy.
//
// The canonical list is meant to move to package workflows; until then this
// is it, and StartTemporal registers it unless told otherwise.
func SearchAttributes() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		"HookflowWorkspace":  enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"HookflowEventType":  enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"HookflowSource":     enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"HookflowEndpoint":   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"HookflowAutomation": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"HookflowWaitingOn":  enumspb.INDEXED_VALUE_TYPE_KEYWORD_LIST,
		"HookflowKey":        enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
}

// TemporalOption changes the devstack options StartTemporal starts with. Any
// func of this shape works; the With functions cover the common cases.
type TemporalOption func(*devstack.Options)

// WithSearchAttributes registers sa instead of SearchAttributes(), e.g. the
// list from package workflows.
func WithSearchAttributes(sa map[string]enumspb.IndexedValueType) TemporalOption {
	return func(o *devstack.Options) { o.SearchAttributes = sa }
}

// WithServerLogLevel sets the least severe server log level written to
// stderr; the default is Warn.
func WithServerLogLevel(l slog.Leveler) TemporalOption {
	return func(o *devstack.Options) { o.LogLevel = l }
}

// StartTemporal starts an embedded Temporal server for one test package: in
// memory, on a free 127.0.0.1 port, without the Web UI, in namespace
// "default" with SearchAttributes() registered. It returns the server and the
// function that stops it. Meant for TestMain, which has no testing.TB:
//
//	var temporalServer *devstack.Server
//
//	func TestMain(m *testing.M) {
//		srv, stop, err := testenv.StartTemporal()
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//		temporalServer = srv
//		code := m.Run()
//		stop()
//		os.Exit(code)
//	}
//
// Server logs go to stderr (not t.Log: the server outlives every test, and
// logging through a finished test panics).
func StartTemporal(opts ...TemporalOption) (*devstack.Server, func(), error) {
	o := devstack.Options{
		FrontendAddr:     "127.0.0.1:0",
		SearchAttributes: SearchAttributes(),
		Logger:           slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, opt := range opts {
		opt(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := devstack.Start(ctx, o)
	if err != nil {
		return nil, nil, fmt.Errorf("testenv: start temporal: %w", err)
	}
	return s, s.Stop, nil
}

// NewClient dials srv in its namespace and closes the client when the test
// ends. The SDK's own logging is limited to warnings, on stderr.
func NewClient(t testing.TB, srv *devstack.Server) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{
		HostPort:  srv.FrontendAddr(),
		Namespace: srv.Namespace(),
		Logger:    sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))),
	})
	if err != nil {
		t.Fatalf("testenv: dial temporal at %s: %v", srv.FrontendAddr(), err)
	}
	t.Cleanup(c.Close)
	return c
}
