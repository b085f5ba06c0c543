package testenv

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// FreeAddr returns a 127.0.0.1:port address that nothing listens on, for a
// server the test starts itself.
//
// The port is left in TIME_WAIT (a connection is accepted and closed by the
// listening side) so the kernel does not hand it out again as an ephemeral
// port before the test binds it; Go listeners can still bind it explicitly.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: find free port: %v", err)
	}
	defer func() { _ = l.Close() }()
	addr := l.Addr().String()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return addr // still free; only the reuse guard is lost
	}
	defer func() { _ = c.Close() }()
	if sc, err := l.Accept(); err == nil {
		_ = sc.Close()
	}
	return addr
}

// pollInterval is how often Eventually looks: short next to what tests wait
// for (a delivery, a run), long enough not to load a 2-core machine.
const pollInterval = 25 * time.Millisecond

// Eventually polls cond until it returns true, and fails the test if it has
// not within timeout. It is for effects that land asynchronously, like
// Temporal visibility or a webhook reaching a test receiver.
//
// msg says what was awaited. It is called only on failure, so it can show the
// state at the end ("receiver got 3 of 5") and may be costly to build (a
// process's log); a message built before the wait would show the start.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg func() string) {
	t.Helper()
	EventuallyCtx(context.Background(), t, timeout, cond, msg)
}

// EventuallyCtx is Eventually that also gives up when ctx ends: for a
// scenario with an overall deadline made of many waits.
func EventuallyCtx(ctx context.Context, t testing.TB, timeout time.Duration, cond func() bool, msg func() string) {
	t.Helper()
	switch poll(ctx, timeout, cond) {
	case errTimeout:
		t.Fatalf("testenv: not true within %s: %s", timeout, msg())
	case errCanceled:
		t.Fatalf("testenv: deadline passed waiting for: %s", msg())
	}
}

// Until polls cond until it returns true or timeout has passed, and says
// which: for a wait whose outcome the test judges afterwards, in its own
// words and without stopping.
func Until(timeout time.Duration, cond func() bool) bool {
	return poll(context.Background(), timeout, cond) == nil
}

var (
	errTimeout  = errors.New("timeout")
	errCanceled = errors.New("context ended")
)

func poll(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return errTimeout
		}
		if ctx.Err() != nil {
			return errCanceled
		}
		time.Sleep(pollInterval)
	}
	return nil
}

// Msg is a msg for Eventually that is fixed text: what was awaited, with
// nothing of the state at the end worth adding.
func Msg(text string) func() string { return func() string { return text } }
