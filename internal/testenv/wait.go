package testenv

import (
	"fmt"
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

// Eventually polls cond until it returns true, and fails the test if it has
// not within timeout. It is for effects that land asynchronously, like
// Temporal visibility or a webhook reaching a test receiver; the message says
// what was awaited.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	const interval = 25 * time.Millisecond
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("testenv: not true within %s: %s", timeout, fmt.Sprintf(format, args...))
			return
		}
		time.Sleep(interval)
	}
}
