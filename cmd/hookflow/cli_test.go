package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/testenv"
)

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// TestServerRefusesUnmigratedDatabase: `server` on a fresh database stops with a
// message that says to run `hookflow migrate`; after `migrate` the schema is current
// and a second `migrate` has nothing to do.
func TestServerRefusesUnmigratedDatabase(t *testing.T) {
	dsn := testenv.NewPostgres(t)
	env := envMap(map[string]string{"DATABASE_URL": dsn, "TEMPORAL_ADDRESS": temporalAddr, "HOOKFLOW_HTTP_ADDR": "127.0.0.1:0",
		"HOOKFLOW_ENCRYPTION_KEY": testEncryptionKey})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"server"}, &out, &errOut, env); code == 0 {
		t.Fatalf("server on an unmigrated database exited 0")
	}
	if !strings.Contains(errOut.String(), "hookflow migrate") {
		t.Errorf("server error %q does not say to run hookflow migrate", errOut.String())
	}

	out.Reset()
	if code := run(ctx, []string{"migrate"}, &out, &errOut, env); code != 0 {
		t.Fatalf("migrate exited %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "applied migration 0001") {
		t.Errorf("migrate said %q", out.String())
	}
	out.Reset()
	if code := run(ctx, []string{"migrate"}, &out, &errOut, env); code != 0 || !strings.Contains(out.String(), "up to date") {
		t.Errorf("second migrate exited %d saying %q", code, out.String())
	}
}

func TestHelpAndUsage(t *testing.T) {
	for _, cmd := range []string{"dev", "server", "worker", "migrate", "rotate-encryption-key", "workspace"} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), []string{cmd, "--help"}, &out, &errOut, envMap(nil)); code != 0 {
			t.Errorf("%s --help exited %d", cmd, code)
		}
		if !strings.Contains(out.String(), "Usage: hookflow "+cmd) {
			t.Errorf("%s --help printed %q", cmd, out.String())
		}
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"bogus"}, &out, &errOut, envMap(nil)); code != 2 {
		t.Errorf("unknown command exited %d, want 2", code)
	}
	if code := run(context.Background(), []string{"server"}, &out, &errOut, envMap(nil)); code != 1 || !strings.Contains(errOut.String(), "DATABASE_URL") {
		t.Errorf("server without DATABASE_URL exited %d: %q", code, errOut.String())
	}
	errOut.Reset()
	for _, role := range []string{"server", "worker"} {
		noKey := envMap(map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/none"})
		if code := run(context.Background(), []string{role}, &out, &errOut, noKey); code != 1 || !strings.Contains(errOut.String(), "HOOKFLOW_ENCRYPTION_KEY is required") {
			t.Errorf("%s without HOOKFLOW_ENCRYPTION_KEY exited %d: %q", role, code, errOut.String())
		}
	}
}
