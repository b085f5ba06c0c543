package benchtally

import (
	"context"
	"testing"
	"time"
)

func TestReportReconciles(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	tl := New()
	tl.Receive("early@a", ms(0), ms(5)) // arrives before it is expected
	tl.Expect("early@a", "once@a", "twice@a", "lost@a", "failed@a")
	tl.Receive("once@a", ms(1), ms(21))
	tl.Receive("twice@a", ms(2), ms(12))
	tl.Receive("twice@a", ms(2), ms(9)) // a retry's copy can overtake: first is the earliest
	tl.Receive("stray@a", ms(3), ms(4))
	tl.Withdraw("failed@a")
	tl.Receive("failed@a", ms(4), ms(30)) // sent anyway: unexpected

	got := tl.Report()
	want := Report{Expected: 4, SendFailed: 1, Delivered: 3, ExactlyOnce: 2, Duplicates: 1, Missing: 1, Unexpected: 2}
	if got.Expected != want.Expected || got.SendFailed != want.SendFailed || got.Delivered != want.Delivered ||
		got.ExactlyOnce != want.ExactlyOnce || got.Duplicates != want.Duplicates || got.Missing != want.Missing ||
		got.Unexpected != want.Unexpected {
		t.Errorf("report = %+v, want %+v", got, want)
	}
	if got.Reconciled() {
		t.Error("Reconciled() = true with a missing, a duplicate and strays")
	}
	wantLat := []time.Duration{5 * time.Millisecond, 7 * time.Millisecond, 20 * time.Millisecond}
	if len(got.Latencies) != len(wantLat) {
		t.Fatalf("latencies = %v, want %v", got.Latencies, wantLat)
	}
	for i := range wantLat {
		if got.Latencies[i] != wantLat[i] {
			t.Errorf("latencies = %v, want %v", got.Latencies, wantLat)
			break
		}
	}
	if !got.FirstSent.Equal(ms(0)) || !got.LastReceived.Equal(ms(21)) {
		t.Errorf("window = %v..%v, want %v..%v", got.FirstSent, got.LastReceived, ms(0), ms(21))
	}
}

func TestReconciledWhenAllArriveOnce(t *testing.T) {
	tl := New()
	tl.Expect("a", "b")
	now := time.Now()
	tl.Receive("b", now, now)
	tl.Receive("a", now, now)
	if r := tl.Report(); !r.Reconciled() {
		t.Errorf("report %+v not reconciled", r)
	}
	tl.Withdraw("a") // withdrawing a delivered key makes its receipt unexpected
	if r := tl.Report(); r.Reconciled() || r.Unexpected != 1 {
		t.Errorf("after withdraw: %+v, want unexpected 1 and not reconciled", r)
	}
}

func TestWait(t *testing.T) {
	tl := New()
	tl.Expect("a", "b")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	tl.Receive("a", time.Now(), time.Now())
	if err := tl.Wait(ctx); err == nil {
		t.Fatal("Wait returned nil with b outstanding")
	}
	if n := tl.Outstanding(); n != 1 {
		t.Errorf("Outstanding() = %d, want 1", n)
	}
	done := make(chan error, 1)
	go func() { done <- tl.Wait(context.Background()) }()
	tl.Receive("b", time.Now(), time.Now())
	if err := <-done; err != nil {
		t.Errorf("Wait after the last receipt: %v", err)
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	tests := []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {90, 90 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0.1, time.Millisecond}}
	for _, tt := range tests {
		if got := Percentile(d, tt.p); got != tt.want {
			t.Errorf("Percentile(%v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := Percentile(nil, 50); got != 0 {
		t.Errorf("Percentile(nil) = %v, want 0", got)
	}
	if got := Percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("Percentile(one) = %v, want 7", got)
	}
}
