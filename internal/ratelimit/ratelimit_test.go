package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

func TestAllow(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	l := New(10, 5)
	l.now = func() time.Time { return now }
	for i := range 5 {
		if ok, _ := l.Allow("key_a"); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.Allow("key_a")
	if ok || wait <= 0 || wait > 100*time.Millisecond {
		t.Fatalf("sixth request: %v, wait %v; want refused for at most one token's time (100ms)", ok, wait)
	}
	// A refusal takes no token: the wait it named is enough.
	if ok, _ := l.Allow("key_b"); !ok {
		t.Error("another key shares the first one's bucket")
	}
	now = now.Add(wait)
	if ok, _ := l.Allow("key_a"); !ok {
		t.Error("refused again after waiting as told")
	}
	// Idle buckets are forgotten.
	for i := range 100 {
		l.Allow(fmt.Sprint("key_", i))
	}
	now = now.Add(time.Hour)
	l.Allow("key_new")
	if n := len(l.buckets); n != 1 {
		t.Errorf("%d buckets after an idle hour, want 1", n)
	}
}

func TestNilAllowsAll(t *testing.T) {
	var l *Limiter = New(0, 10)
	if l != nil {
		t.Fatal("a zero rate made a limiter")
	}
	for range 1000 {
		if ok, _ := l.Allow("k"); !ok {
			t.Fatal("nil limiter refused")
		}
	}
}
