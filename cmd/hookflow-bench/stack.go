package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// child is a process the bench started; its output goes to a log file so a
// failure can be explained.
type child struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
}

func startChild(name string, logDir string, bin string, args []string, env []string, stdout io.Writer) (*child, error) {
	f, err := os.Create(filepath.Join(logDir, name+".log"))
	if err != nil {
		return nil, err
	}
	c := &child{name: name, log: f, done: make(chan struct{})}
	c.cmd = exec.Command(bin, args...)
	c.cmd.Env = env
	c.cmd.Stderr = f
	c.cmd.Stdout = f
	if stdout != nil {
		c.cmd.Stdout = io.MultiWriter(f, stdout)
	}
	if err := c.cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { _ = c.cmd.Wait(); close(c.done) }()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// stop sends SIGTERM and waits, killing after a grace period.
func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	_ = c.log.Close()
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// buildHookflow builds the hookflow binary the way `make build` does minus
// stripping (profiles need symbols), with the given build tags.
func buildHookflow(ctx context.Context, dir, tags string) (string, error) {
	bin := filepath.Join(dir, "hookflow")
	args := []string{"build", "-o", bin}
	if tags != "" {
		bin += "-" + tags
		args = []string{"build", "-tags", tags, "-o", bin}
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/hookflow")...)
	cmd.Dir = moduleRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s ./cmd/hookflow: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin, nil
}

// moduleRoot is the directory holding go.mod, found from the working
// directory upwards (make runs the bench from the root; tests from the
// package).
func moduleRoot() string {
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

// recreateDatabases drops and creates the named databases on the server at
// adminURL.
func recreateDatabases(ctx context.Context, adminURL string, names ...string) error {
	db, err := sql.Open("pgx", adminURL)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	for _, n := range names {
		if err := dropDatabase(ctx, db, n); err != nil {
			return err
		}
		if _, err := db.ExecContext(ctx, "CREATE DATABASE "+pgx.Identifier{n}.Sanitize()); err != nil {
			return fmt.Errorf("create database %s: %w", n, err)
		}
	}
	return nil
}

func dropDatabases(ctx context.Context, adminURL string, names ...string) error {
	db, err := sql.Open("pgx", adminURL)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	for _, n := range names {
		if err := dropDatabase(ctx, db, n); err != nil {
			return err
		}
	}
	return nil
}

func dropDatabase(ctx context.Context, db *sql.DB, name string) error {
	if _, err := db.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, name); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// postmasterPID finds the Postgres server's main process: the parent of the
// backend serving this connection. Zero when it is not on this machine.
func postmasterPID(ctx context.Context, adminURL string) int {
	db, err := sql.Open("pgx", adminURL)
	if err != nil {
		return 0
	}
	defer func() { _ = db.Close() }()
	var backend int
	if err := db.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		return 0
	}
	st, err := readStat(backend)
	if err != nil {
		return 0
	}
	return st.ppid
}

// withDatabase replaces the database of a postgres:// URL.
func withDatabase(adminURL, name string) string {
	i := strings.LastIndex(adminURL, "/")
	rest := adminURL[i+1:]
	q := ""
	if j := strings.Index(rest, "?"); j >= 0 {
		q = rest[j:]
	}
	return adminURL[:i+1] + name + q
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

func randomKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// waitLine waits for a line with prefix on r, for the "temporal ready" line.
func waitLine(ctx context.Context, r io.Reader, prefix string) (string, error) {
	got := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), prefix) {
				got <- sc.Text()
				break
			}
		}
		_, _ = io.Copy(io.Discard, r)
	}()
	select {
	case l := <-got:
		return l, nil
	case <-ctx.Done():
		return "", fmt.Errorf("waiting for %q: %w", prefix, ctx.Err())
	}
}

func waitReady(ctx context.Context, url string, c *child) error {
	for {
		resp, err := http.Get(url)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if c.exited() {
			return fmt.Errorf("%s exited; see %s", c.name, c.log.Name())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s: %w", c.name, url, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stack is the system under test: Temporal and hookflow as child processes.
type stack struct {
	temporal, hookflow *child
	frontend           string // Temporal frontend host:port
	namespace          string
	api                string // http://host:port of hookflow
	apiKey             string
	pprof              map[string]string // process name → pprof host:port
	postmaster         int
	dbs                []string
	historyDB          string // Temporal's, and its visibility's
	visibilityDB       string
	appEnv             []string // the server's environment, kept for its restart
	adminURL           string
}

func (s *stack) stop() {
	if s.hookflow != nil {
		s.hookflow.stop()
	}
	if s.temporal != nil {
		s.temporal.stop()
	}
}
