package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Command says how to run a Process.
type Command struct {
	Name string // in logs and failure messages
	Path string
	Args []string
	Env  []string // added to the test's own environment; later entries win
	// Addr is where the process serves, for the test's use (the starters of
	// hookflow processes fill it in); the process learns it from Args or Env.
	Addr string
	// Ready says, of what the process wrote since it was started, whether it
	// is ready for the test; nil means as soon as it runs.
	Ready func(out string) bool
}

// startTimeout bounds how long a process may take to become ready: the
// embedded Temporal server's first start on a loaded 2-core machine takes
// most of a minute.
const startTimeout = 90 * time.Second

// Process is a program the test runs as a child process. It can be stopped
// (Term, Kill) and started again with the same command line, and its output
// accumulates in Out across starts, each marked with a "---" line. When the
// test ends it is sent SIGTERM; if the test failed, the end of its output is
// logged.
type Process struct {
	Command
	Out *SyncBuffer

	t    testing.TB
	cmd  *exec.Cmd
	done chan struct{} // closed when the current run has exited
}

// StartProcess starts c and waits until it is ready (see Start).
func StartProcess(ctx context.Context, t testing.TB, c Command) *Process {
	t.Helper()
	p := &Process{Command: c, Out: &SyncBuffer{}, t: t}
	t.Cleanup(p.cleanup)
	p.Start(ctx)
	return p
}

// Start runs the process (again) and waits until it is ready. It fails the
// test if the process exits first, or is not ready within 90 s or by the
// end of ctx.
func (p *Process) Start(ctx context.Context) {
	p.t.Helper()
	since := p.Out.Len()
	p.mark("start " + strings.Join(p.Args, " "))
	cmd := exec.Command(p.Path, p.Args...)
	cmd.Env = append(os.Environ(), p.Env...)
	cmd.Stdout, cmd.Stderr = p.Out, p.Out
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("testenv: start %s: %v", p.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done = cmd, done
	go func() {
		err := cmd.Wait()
		p.mark(fmt.Sprintf("exited: %v", err))
		close(done)
	}()
	EventuallyCtx(ctx, p.t, startTimeout, func() bool {
		if !p.Running() {
			p.t.Fatalf("testenv: %s exited while starting:\n%s", p.Name, Tail(p.Out.String(), 20<<10))
		}
		return p.Ready == nil || p.Ready(p.Out.String()[since:])
	}, func() string { return p.Name + " did not become ready:\n" + Tail(p.Out.String()[since:], 20<<10) })
}

func (p *Process) mark(what string) {
	fmt.Fprintf(p.Out, "--- %s: %s\n", time.Now().Format("15:04:05.000"), what)
}

// Running says whether the process has been started and has not exited.
func (p *Process) Running() bool {
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Pid is the process id of the current run.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig and waits up to wait for the process to exit; a process
// still running then fails the test and is killed.
func (p *Process) Signal(sig syscall.Signal, wait time.Duration) {
	p.t.Helper()
	if !p.Running() {
		return
	}
	p.mark(sig.String())
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(wait):
		p.t.Errorf("testenv: %s did not exit within %s of %v; killing it", p.Name, wait, sig)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Kill ends the process at once (SIGKILL), as a crash or the OOM killer would.
func (p *Process) Kill() { p.Signal(syscall.SIGKILL, 10*time.Second) }

// Term asks the process to stop (SIGTERM) and gives it 30 s to finish
// what it is doing.
func (p *Process) Term() { p.Signal(syscall.SIGTERM, 30*time.Second) }

func (p *Process) cleanup() {
	p.Term()
	if p.t.Failed() {
		p.t.Logf("=== %s output (last 20 KB):\n%s", p.Name, Tail(p.Out.String(), 20<<10))
	}
}

// Tail is the last n bytes of s, marked as cut when they are not all of it:
// the part of a long log that explains a failure.
func Tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
