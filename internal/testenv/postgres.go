package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgresURLEnv names the environment variable with the URL of the Postgres
// server NewPostgres creates databases on. The URL's user must be allowed to
// create and drop databases.
const PostgresURLEnv = "HOOKFLOW_TEST_POSTGRES_URL"

// DefaultPostgresURL is used when PostgresURLEnv is unset: a local server
// with trust authentication, as in the dev container and CI.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// NewPostgres creates an empty database with a unique name for this test and
// returns its URL; the database is dropped when the test ends. Each test gets
// its own so tests can run in parallel and never see each other's rows.
//
// An unreachable server fails the test rather than skipping it: a skipped
// integration test looks like a passing one.
func NewPostgres(t testing.TB) string {
	t.Helper()
	adminURL := os.Getenv(PostgresURLEnv)
	if adminURL == "" {
		adminURL = DefaultPostgresURL
	}
	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("testenv: %s must be a postgres:// URL, got %q", PostgresURLEnv, redact(adminURL))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	admin, err := openAdmin(ctx, adminURL)
	if err != nil {
		t.Fatalf("testenv: Postgres at %s is unreachable: %v\n(start it, or point %s at one)", redact(adminURL), err, PostgresURLEnv)
	}
	defer func() { _ = admin.Close() }()

	name := databaseName(t.Name())
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("testenv: create database %s: %v", name, err)
	}
	t.Cleanup(func() { dropDatabase(t, adminURL, name) })

	u.Path = "/" + name
	return u.String()
}

func openAdmin(ctx context.Context, dsn string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	db := stdlib.OpenDB(*cfg)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// dropDatabase ends the test's leftover connections (a pool the code under
// test did not close would otherwise block DROP) and drops the database.
func dropDatabase(t testing.TB, adminURL, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	admin, err := openAdmin(ctx, adminURL)
	if err != nil {
		t.Errorf("testenv: drop database %s: %v", name, err)
		return
	}
	defer func() { _ = admin.Close() }()

	// A pool may reconnect between terminate and drop; a few rounds settle it.
	for attempt := 1; ; attempt++ {
		_, err = admin.ExecContext(ctx,
			`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, name)
		if err == nil {
			_, err = admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize())
		}
		if err == nil {
			return
		}
		if attempt == 5 || ctx.Err() != nil {
			t.Errorf("testenv: drop database %s: %v", name, err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// databaseName builds a name that says which test made it, in case one is
// left behind by a killed run, within Postgres's 63-byte identifier limit.
func databaseName(testName string) string {
	var b strings.Builder
	underscore := false
	for _, r := range strings.ToLower(testName) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			underscore = false
		} else if !underscore {
			b.WriteByte('_')
			underscore = true
		}
		if b.Len() >= 32 {
			break
		}
	}
	suffix := strings.ToLower(rand.Text()[:10])
	return "hookflow_test_" + strings.Trim(b.String(), "_") + "_" + suffix
}

// redact hides the password of a URL that goes into a failure message.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}
