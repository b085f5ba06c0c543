package devstack_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/hookflow/hookflow/internal/devstack"
	"github.com/hookflow/hookflow/internal/testenv"
)

const taskQueue = "devstack-test"

// tagWorkflow records its input in a search attribute, as hookflow's
// workflows do so that ops can find them in the UI.
func tagWorkflow(ctx workflow.Context, key, value string) (string, error) {
	k := temporal.NewSearchAttributeKeyKeyword(key)
	if err := workflow.UpsertTypedSearchAttributes(ctx, k.ValueSet(value)); err != nil {
		return "", err
	}
	return "tagged " + value, nil
}

func sleepWorkflow(ctx workflow.Context, d time.Duration) (string, error) {
	if err := workflow.Sleep(ctx, d); err != nil {
		return "", err
	}
	return "woke", nil
}

func signalWorkflow(ctx workflow.Context) (string, error) {
	var v string
	workflow.GetSignalChannel(ctx, "go").Receive(ctx, &v)
	return "got " + v, nil
}

func testLogger() *slog.Logger {
	// Not t.Log: a server goroutine logging after the test ended would panic.
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}

// sdkQuiet keeps the SDK's Info chatter (worker started, ...) out of the
// test output.
func sdkQuiet() sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
}

func startServer(t *testing.T, o devstack.Options) *devstack.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	begin := time.Now()
	s, err := devstack.Start(ctx, o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("server up in %s: frontend %s, ui %q", time.Since(begin).Round(time.Millisecond), s.FrontendAddr(), s.UIURL())
	return s
}

func dial(t *testing.T, s *devstack.Server) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: s.FrontendAddr(), Namespace: s.Namespace(), Logger: sdkQuiet()})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return c
}

func startWorker(t *testing.T, c client.Client) worker.Worker {
	t.Helper()
	w := worker.New(c, taskQueue, worker.Options{})
	w.RegisterWorkflow(tagWorkflow)
	w.RegisterWorkflow(sleepWorkflow)
	w.RegisterWorkflow(signalWorkflow)
	if err := w.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	return w
}

func run(ctx context.Context, c client.Client, id string, wf any, args ...any) (client.WorkflowRun, error) {
	return c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: taskQueue}, wf, args...)
}

func result(ctx context.Context, t *testing.T, r client.WorkflowRun) string {
	t.Helper()
	var got string
	if err := r.Get(ctx, &got); err != nil {
		t.Fatalf("workflow %s: %v", r.GetID(), err)
	}
	return got
}

// findByQuery polls visibility, which is updated asynchronously, until the
// query returns exactly the workflow with wantID.
func findByQuery(ctx context.Context, t *testing.T, c client.Client, query, wantID string) {
	t.Helper()
	var last []string
	for ctx.Err() == nil {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil {
			t.Fatalf("list %q: %v", query, err)
		}
		last = last[:0]
		for _, e := range resp.GetExecutions() {
			last = append(last, e.GetExecution().GetWorkflowId())
		}
		if len(last) == 1 && last[0] == wantID {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("query %q: got %v, want [%s]", query, last, wantID)
}

// waitForEvent waits until the workflow's history has an event of type typ,
// i.e. the worker has got it as far as that point.
func waitForEvent(ctx context.Context, t *testing.T, c client.Client, id string, typ enumspb.EventType) {
	t.Helper()
	for ctx.Err() == nil {
		it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				t.Fatalf("history of %s: %v", id, err)
			}
			if e.GetEventType() == typ {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("workflow %s never reached %s", id, typ)
}

func TestServerKeepsStateAcrossRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()

	// The first start predates HookflowAutomation, like a data dir created by
	// an older hookflow.
	old := map[string]enumspb.IndexedValueType{
		"HookflowEventType": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"HookflowWorkspace": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
	s := startServer(t, devstack.Options{
		DataDir:          dir,
		FrontendAddr:     "127.0.0.1:0",
		UIAddr:           "127.0.0.1:0",
		SearchAttributes: old,
		Logger:           testLogger(),
	})
	stopped := false
	defer func() {
		if !stopped {
			s.Stop()
		}
	}()
	if got, want := s.Namespace(), devstack.DefaultNamespace; got != want {
		t.Errorf("Namespace() = %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, devstack.DatabaseFile)); err != nil {
		t.Errorf("database file: %v", err)
	}
	// The -wal file exists only in WAL mode: the pragmas reached SQLite.
	if _, err := os.Stat(filepath.Join(dir, devstack.DatabaseFile+"-wal")); err != nil {
		t.Errorf("database not in WAL mode: %v", err)
	}
	assertRetention(ctx, t, s, devstack.DefaultRetention)

	c := dial(t, s)
	w := startWorker(t, c)

	begin := time.Now()
	r, err := run(ctx, c, "tagged-1", tagWorkflow, "HookflowEventType", "review.created")
	if err != nil {
		t.Fatalf("start tagged-1: %v", err)
	}
	if got, want := result(ctx, t, r), "tagged review.created"; got != want {
		t.Errorf("tagged-1 result = %q, want %q", got, want)
	}
	t.Logf("first workflow done in %s", time.Since(begin).Round(time.Millisecond))
	findByQuery(ctx, t, c, `HookflowEventType="review.created"`, "tagged-1")

	assertUI(ctx, t, s.UIURL())

	// Workflows in flight at shutdown: one on a timer that fires after the
	// restart, one waiting for a signal sent after it.
	sleeper, err := run(ctx, c, "sleeper", sleepWorkflow, 4*time.Second)
	if err != nil {
		t.Fatalf("start sleeper: %v", err)
	}
	if _, err := run(ctx, c, "waiter", signalWorkflow); err != nil {
		t.Fatalf("start waiter: %v", err)
	}
	waitForEvent(ctx, t, c, "sleeper", enumspb.EVENT_TYPE_TIMER_STARTED)
	waitForEvent(ctx, t, c, "waiter", enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)

	w.Stop()
	c.Close()
	begin = time.Now()
	s.Stop()
	stopped = true
	t.Logf("stopped in %s", time.Since(begin).Round(time.Millisecond))
	if conn, err := net.DialTimeout("tcp", s.FrontendAddr(), time.Second); err == nil {
		_ = conn.Close()
		t.Errorf("frontend %s still accepts connections after Stop", s.FrontendAddr())
	}

	all := map[string]enumspb.IndexedValueType{"HookflowAutomation": enumspb.INDEXED_VALUE_TYPE_KEYWORD}
	for k, v := range old {
		all[k] = v
	}
	// All interfaces this time: internal services and FrontendAddr() must
	// still use loopback.
	s2 := startServer(t, devstack.Options{
		DataDir:          dir,
		FrontendAddr:     "0.0.0.0:0",
		SearchAttributes: all,
		Logger:           testLogger(),
	})
	defer s2.Stop()
	if host, _, _ := net.SplitHostPort(s2.FrontendAddr()); host != "127.0.0.1" {
		t.Errorf("FrontendAddr() = %q with 0.0.0.0, want a 127.0.0.1 address", s2.FrontendAddr())
	}
	if s2.UIURL() != "" {
		t.Errorf("UIURL() = %q without UIAddr, want empty", s2.UIURL())
	}
	c2 := dial(t, s2)
	defer c2.Close()

	sa, err := c2.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: s2.Namespace()})
	if err != nil {
		t.Fatalf("list search attributes: %v", err)
	}
	for name, typ := range all {
		if got := sa.GetCustomAttributes()[name]; got != typ {
			t.Errorf("search attribute %s after restart: got %s, want %s", name, got, typ)
		}
	}

	// The old workflow is still there, in history and in visibility.
	desc, err := c2.DescribeWorkflowExecution(ctx, "tagged-1", "")
	if err != nil {
		t.Fatalf("describe tagged-1 after restart: %v", err)
	}
	if got := desc.GetWorkflowExecutionInfo().GetStatus(); got != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Errorf("tagged-1 status after restart = %s, want COMPLETED", got)
	}
	findByQuery(ctx, t, c2, `HookflowEventType="review.created"`, "tagged-1")

	w2 := startWorker(t, c2)
	defer w2.Stop()

	if err := c2.SignalWorkflow(ctx, "waiter", "", "go", "after restart"); err != nil {
		t.Fatalf("signal waiter: %v", err)
	}
	if got, want := result(ctx, t, c2.GetWorkflow(ctx, "waiter", "")), "got after restart"; got != want {
		t.Errorf("waiter result = %q, want %q", got, want)
	}
	if got, want := result(ctx, t, c2.GetWorkflow(ctx, "sleeper", sleeper.GetRunID())), "woke"; got != want {
		t.Errorf("sleeper result = %q, want %q", got, want)
	}

	// The attribute added on restart is usable straight away.
	r, err = run(ctx, c2, "tagged-2", tagWorkflow, "HookflowAutomation", "award-points")
	if err != nil {
		t.Fatalf("start tagged-2: %v", err)
	}
	if got, want := result(ctx, t, r), "tagged award-points"; got != want {
		t.Errorf("tagged-2 result = %q, want %q", got, want)
	}
	findByQuery(ctx, t, c2, `HookflowAutomation="award-points"`, "tagged-2")
}

func assertRetention(ctx context.Context, t *testing.T, s *devstack.Server, want time.Duration) {
	t.Helper()
	c := dial(t, s)
	defer c.Close()
	resp, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: s.Namespace()})
	if err != nil {
		t.Fatalf("describe namespace: %v", err)
	}
	if got := resp.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != want {
		t.Errorf("retention = %s, want %s", got, want)
	}
}

func assertUI(ctx context.Context, t *testing.T, url string) {
	t.Helper()
	if url == "" {
		t.Fatal("UIURL() is empty with UIAddr set")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s/: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s/: status %s, want 200", url, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("GET %s/: content type %q, want text/html", url, ct)
	}
}

func TestStartInMemory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := startServer(t, devstack.Options{
		Namespace: "inmem",
		Retention: 24 * time.Hour,
		SearchAttributes: map[string]enumspb.IndexedValueType{
			"HookflowEventType": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		},
		Logger: testLogger(),
	})
	// Stop is deferred twice on purpose: the second call must be a no-op.
	defer s.Stop()
	defer s.Stop()
	if got := s.Namespace(); got != "inmem" {
		t.Errorf("Namespace() = %q, want inmem", got)
	}
	if host, _, _ := net.SplitHostPort(s.FrontendAddr()); host != "127.0.0.1" {
		t.Errorf("FrontendAddr() = %q, want a 127.0.0.1 address by default", s.FrontendAddr())
	}
	assertRetention(ctx, t, s, 24*time.Hour)

	c := dial(t, s)
	defer c.Close()
	w := startWorker(t, c)
	defer w.Stop()
	r, err := run(ctx, c, "mem-1", tagWorkflow, "HookflowEventType", "x")
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if got, want := result(ctx, t, r), "tagged x"; got != want {
		t.Errorf("result = %q, want %q", got, want)
	}
	findByQuery(ctx, t, c, `HookflowEventType="x"`, "mem-1")
}

func TestStartRejectsBadOptions(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = taken.Close() }()

	tests := []struct {
		name string
		o    devstack.Options
		want string
	}{
		{"frontend host name", devstack.Options{FrontendAddr: "example.com:7233"}, "not an IP address"},
		{"frontend without port", devstack.Options{FrontendAddr: "127.0.0.1"}, "missing port"},
		{"ui without port", devstack.Options{UIAddr: "127.0.0.1"}, "missing port"},
		{"ui port taken", devstack.Options{UIAddr: taken.Addr().String()}, "address already in use"},
		{"frontend port taken", devstack.Options{FrontendAddr: taken.Addr().String()}, "address already in use"},
		{"too many keyword attributes", devstack.Options{SearchAttributes: manyKeywords(100)}, "search attributes of type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := devstack.Start(context.Background(), tt.o)
			if err == nil {
				s.Stop()
				t.Fatalf("Start succeeded, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Start error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func manyKeywords(n int) map[string]enumspb.IndexedValueType {
	m := make(map[string]enumspb.IndexedValueType, n)
	for i := range n {
		m[fmt.Sprintf("Kw%03d", i)] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	return m
}

func TestStartOnPostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	pg, err := devstack.PostgresFromURL(testenv.NewPostgres(t))
	if err != nil {
		t.Fatal(err)
	}
	// NewPostgres drops the main database; the visibility one is ours.
	t.Cleanup(func() { dropDatabase(t, pg.VisibilityDatabase) })
	pg.MaxConns, pg.VisibilityMaxConns = 4, 2
	o := devstack.Options{
		Postgres:         pg,
		NumHistoryShards: 2,
		Namespace:        "pgtest",
		Retention:        48 * time.Hour,
		SearchAttributes: map[string]enumspb.IndexedValueType{
			"HookflowEventType": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		},
		Logger: testLogger(),
	}
	s := startServer(t, o)
	stopped := false
	defer func() {
		if !stopped {
			s.Stop()
		}
	}()
	assertRetention(ctx, t, s, 48*time.Hour)
	c := dial(t, s)
	w := startWorker(t, c)
	r, err := run(ctx, c, "pg-1", tagWorkflow, "HookflowEventType", "review.created")
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if got, want := result(ctx, t, r), "tagged review.created"; got != want {
		t.Errorf("result = %q, want %q", got, want)
	}
	findByQuery(ctx, t, c, `HookflowEventType="review.created"`, "pg-1")
	w.Stop()
	c.Close()
	s.Stop()
	stopped = true

	// A second start on the same databases finds the schema at its version
	// and the namespace registered, and the workflow still there.
	s2 := startServer(t, o)
	defer s2.Stop()
	c2 := dial(t, s2)
	defer c2.Close()
	desc, err := c2.DescribeWorkflowExecution(ctx, "pg-1", "")
	if err != nil {
		t.Fatalf("describe pg-1 after restart: %v", err)
	}
	if got := desc.GetWorkflowExecutionInfo().GetStatus(); got != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Errorf("pg-1 status after restart = %s, want COMPLETED", got)
	}
	findByQuery(ctx, t, c2, `HookflowEventType="review.created"`, "pg-1")
}

func TestPostgresFromURL(t *testing.T) {
	got, err := devstack.PostgresFromURL("postgres://bob:pw@db.local:6543/temporal?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	want := devstack.Postgres{Host: "db.local", Port: 6543, User: "bob", Password: "pw", Database: "temporal", VisibilityDatabase: "temporal_visibility"}
	if *got != want {
		t.Errorf("got %+v, want %+v", *got, want)
	}
	for _, bad := range []string{"mysql://x/y", "postgres://127.0.0.1:5432/", "postgres://h:port/db"} {
		if _, err := devstack.PostgresFromURL(bad); err == nil {
			t.Errorf("PostgresFromURL(%q) succeeded, want error", bad)
		}
	}
}

// dropDatabase drops a database this test created besides the one testenv
// made, ending the server's leftover connections first.
func dropDatabase(t *testing.T, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", testenv.DefaultPostgresURL)
	if err != nil {
		t.Errorf("drop %s: %v", name, err)
		return
	}
	defer func() { _ = db.Close() }()
	if _, err := db.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, name); err != nil {
		t.Errorf("drop %s: %v", name, err)
	}
	if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Errorf("drop %s: %v", name, err)
	}
}
