package testenv_test

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/hookflow/hookflow/internal/devstack"
	"github.com/hookflow/hookflow/internal/testenv"
)

// temporalServer is shared by the tests of this package, as StartTemporal's
// documentation suggests.
var temporalServer *devstack.Server

func TestMain(m *testing.M) {
	srv, stop, err := testenv.StartTemporal()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	temporalServer = srv
	code := m.Run()
	stop()
	os.Exit(code)
}

func TestStartTemporalRegistersSearchAttributes(t *testing.T) {
	c := testenv.NewClient(t, temporalServer)
	ctx := context.Background()
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: temporalServer.Namespace()})
	if err != nil {
		t.Fatalf("list search attributes: %v", err)
	}
	want := testenv.SearchAttributes()
	if len(want) != 7 {
		t.Errorf("SearchAttributes() has %d entries, want 7", len(want))
	}
	for name, typ := range want {
		if got, ok := resp.GetCustomAttributes()[name]; !ok || got != typ {
			t.Errorf("search attribute %s: got %s (present %t), want %s", name, got, ok, typ)
		}
	}
	// The query parser knows the attribute, so visibility can filter on it.
	if _, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: `HookflowWorkspace="ws_1"`}); err != nil {
		t.Errorf("query by HookflowWorkspace: %v", err)
	}
}

func TestSearchAttributesReturnsFreshMap(t *testing.T) {
	a := testenv.SearchAttributes()
	delete(a, "HookflowWorkspace")
	if _, ok := testenv.SearchAttributes()["HookflowWorkspace"]; !ok {
		t.Error("changing one result of SearchAttributes() changed the next")
	}
}

func TestNewPostgres(t *testing.T) {
	outer := t
	var dsn string
	t.Run("inner", func(t *testing.T) {
		dsn = testenv.NewPostgres(t)
		other := testenv.NewPostgres(t)
		if dsn == other {
			t.Fatalf("two calls returned the same database %s", dsn)
		}
		// Opened on the outer test, the connection is still open when the
		// inner test's cleanup drops the database, like a pool the code under
		// test forgot to close: it must not stop the drop.
		db := open(outer, dsn)
		db.SetMaxIdleConns(1)
		if _, err := db.Exec(`CREATE TABLE things (id int primary key)`); err != nil {
			t.Fatalf("use database: %v", err)
		}
		var name string
		if err := db.QueryRow(`SELECT current_database()`).Scan(&name); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(name, "hookflow_test_testnewpostgres_inner_") {
			t.Errorf("database name %q does not say which test made it", name)
		}
	})

	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	admin := open(t, testenv.DefaultPostgresURL)
	var exists bool
	if err := admin.QueryRow(`SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, cfg.Database).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("database %s still exists after its test ended", cfg.Database)
	}
}

func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestNewPostgresUnreachable(t *testing.T) {
	t.Setenv(testenv.PostgresURLEnv, "postgres://postgres:secret@"+testenv.FreeAddr(t)+"/postgres?sslmode=disable&connect_timeout=2")
	ft := &fakeTB{TB: t}
	ft.run(func() { testenv.NewPostgres(ft) })
	if !ft.failed {
		t.Fatal("NewPostgres did not fail on an unreachable server")
	}
	if !strings.Contains(ft.msg, "unreachable") || !strings.Contains(ft.msg, testenv.PostgresURLEnv) {
		t.Errorf("message %q should say the server is unreachable and name %s", ft.msg, testenv.PostgresURLEnv)
	}
	if strings.Contains(ft.msg, "secret") {
		t.Errorf("message %q leaks the password", ft.msg)
	}
}

func TestFreeAddr(t *testing.T) {
	addr := testenv.FreeAddr(t)
	if host, _, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" {
		t.Fatalf("FreeAddr() = %q, want 127.0.0.1:port", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on FreeAddr() %s: %v", addr, err)
	}
	_ = l.Close()
}

func TestEventually(t *testing.T) {
	n := 0
	testenv.Eventually(t, time.Second, func() bool { n++; return n == 3 }, func() string {
		t.Error("the message was built though the wait succeeded")
		return ""
	})
	if n != 3 {
		t.Errorf("cond called %d times, want 3", n)
	}

	ft := &fakeTB{TB: t}
	begin := time.Now()
	polls := 0
	ft.run(func() {
		testenv.Eventually(ft, 100*time.Millisecond, func() bool { polls++; return false }, func() string {
			return fmt.Sprintf("workflow wf-1 done (%d polls)", polls)
		})
	})
	if !ft.failed {
		t.Fatal("Eventually did not fail on a condition that never holds")
	}
	if took := time.Since(begin); took > time.Second {
		t.Errorf("Eventually gave up after %s, want about 100ms", took)
	}
	// The message is built at the end, so it shows the state then.
	if want := fmt.Sprintf("not true within 100ms: workflow wf-1 done (%d polls)", polls); polls < 2 || !strings.Contains(ft.msg, want) {
		t.Errorf("message %q after %d polls, want it to contain %q", ft.msg, polls, want)
	}
}

func TestEventuallyCtx(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ft := &fakeTB{TB: t}
	begin := time.Now()
	ft.run(func() {
		testenv.EventuallyCtx(ctx, ft, time.Minute, func() bool { return false }, testenv.Msg("the scenario's last step"))
	})
	if !ft.failed || !strings.Contains(ft.msg, "deadline passed waiting for: the scenario's last step") {
		t.Errorf("failed %v with %q, want the context's end reported", ft.failed, ft.msg)
	}
	if took := time.Since(begin); took > time.Second {
		t.Errorf("EventuallyCtx gave up after %s, want at once when ctx has ended", took)
	}
}

// fakeTB records a fatal failure instead of failing the real test. Like
// the real one, its Fatalf ends the goroutine it is called on, so code under
// test runs through run.
type fakeTB struct {
	testing.TB
	failed bool
	msg    string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = true
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fakeTB) run(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}

func TestStartDNS(t *testing.T) {
	addr := testenv.StartDNS(t, map[string][]netip.Addr{"hooks.example.com": {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}})
	var d net.Dialer
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}
	got, err := r.LookupNetIP(context.Background(), "ip", "Hooks.Example.com")
	if err != nil || len(got) != 2 {
		t.Fatalf("LookupNetIP = %v, %v; want 127.0.0.1 and ::1", got, err)
	}
	if _, err := r.LookupNetIP(context.Background(), "ip", "other.example.com"); err == nil {
		t.Error("an unknown name resolved")
	}
}
