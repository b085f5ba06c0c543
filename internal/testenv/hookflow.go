package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// buildOnce holds the one build of hookflow per test binary: a build takes
// tens of seconds, and every test that runs the binary runs the same one.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "hookflow-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "hookflow")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/hookflow/hookflow/cmd/hookflow").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("testenv: go build hookflow: %v\n%s", err, out)
	}
	return bin, nil
})

// BuildBinary builds the hookflow binary, once per test binary however often
// it is called, and returns its path. It is built without -race whatever the
// test's flags: the processes under test are the product as shipped. The
// binary is alone in a temporary directory, which a TestMain may remove
// when the tests are done.
func BuildBinary() (string, error) { return buildOnce() }

func mustBuild(t testing.TB) string {
	t.Helper()
	bin, err := BuildBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// RunHookflow runs a hookflow command that ends by itself (`migrate`) with
// env added to the test's environment, and fails the test, showing the
// output, if it does not succeed.
func RunHookflow(ctx context.Context, t testing.TB, env []string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, mustBuild(t), args...)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv: hookflow %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// StartHookflow starts a hookflow role (`server`, `worker`, `server
// --with-worker`: args) as a process on a free loopback address (its
// HOOKFLOW_HTTP_ADDR, in Addr) and waits until it answers /readyz with 200.
func StartHookflow(ctx context.Context, t testing.TB, name string, env []string, args ...string) *Process {
	t.Helper()
	addr := FreeAddr(t)
	return StartProcess(ctx, t, Command{
		Name: name, Path: mustBuild(t), Args: args, Addr: addr,
		Env:   append(append([]string(nil), env...), "HOOKFLOW_HTTP_ADDR="+addr),
		Ready: httpReady(addr),
	})
}

// StartHookflowTemporal starts `hookflow temporal` (the embedded server as
// its own process, file-backed in dataDir so it keeps its state across
// restarts, without the Web UI) on a free loopback address (its
// TEMPORAL_ADDRESS, in Addr) and waits until it says it is ready.
func StartHookflowTemporal(ctx context.Context, t testing.TB, dataDir string, env []string) *Process {
	t.Helper()
	addr := FreeAddr(t)
	ready := "temporal ready frontend=" + addr
	return StartProcess(ctx, t, Command{
		Name: "temporal", Path: mustBuild(t), Args: []string{"temporal", "--data-dir", dataDir, "--no-ui"}, Addr: addr,
		Env:   append(append([]string(nil), env...), "TEMPORAL_ADDRESS="+addr),
		Ready: func(out string) bool { return strings.Contains(out, ready) },
	})
}

// httpReady is ready once http://addr/readyz answers 200.
func httpReady(addr string) func(string) bool {
	c := &http.Client{Timeout: 2 * time.Second}
	return func(string) bool {
		resp, err := c.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
}
