package attempt

import (
	"context"
	"testing"
	"time"
)

func TestPolicyNext(t *testing.T) {
	exact := func(d time.Duration) time.Duration { return d }
	p := Policy{Schedule: []time.Duration{0, time.Second, time.Minute}, MaxRetryAfter: 10 * time.Minute, Jitter: exact}
	tests := []struct {
		name       string
		n          int
		retryAfter time.Duration
		want       time.Duration
		ok         bool
	}{
		{"after the first attempt", 1, 0, time.Second, true},
		{"after the second", 2, 0, time.Minute, true},
		{"the schedule is spent", 3, 0, 0, false},
		{"Retry-After later than the schedule wins", 1, 30 * time.Second, 30 * time.Second, true},
		{"Retry-After sooner than the schedule does not", 2, time.Second, time.Minute, true},
		{"Retry-After is capped", 1, 24 * time.Hour, 10 * time.Minute, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := p.Next(tt.n, tt.retryAfter)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Next(%d, %s) = %s, %v; want %s, %v", tt.n, tt.retryAfter, got, ok, tt.want, tt.ok)
			}
		})
	}
	// A zero delay would mean "the retry policy's interval" to Temporal.
	if got, _ := (Policy{Schedule: []time.Duration{0, 0}, Jitter: exact}).Next(1, 0); got != time.Millisecond {
		t.Errorf("a zero step gives %s, want 1ms", got)
	}
	if d := (Policy{}).WithDefaults(); d.Attempts() != 8 || d.MaxRetryAfter != time.Hour || d.Jitter == nil {
		t.Errorf("defaults: %d attempts, cap %s", d.Attempts(), d.MaxRetryAfter)
	}
}

func TestNumber(t *testing.T) {
	for _, tt := range []struct{ recorded, base, want int }{
		{0, 0, 1}, {2, 0, 3}, {8, 8, 1}, {9, 8, 2}, {3, 5, 1},
	} {
		if got := Number(tt.recorded, tt.base); got != tt.want {
			t.Errorf("Number(%d, %d) = %d, want %d", tt.recorded, tt.base, got, tt.want)
		}
	}
}

func TestJitterStaysWithinTwentyPercent(t *testing.T) {
	for range 1000 {
		if d := Jitter(10 * time.Second); d < 8*time.Second || d > 12*time.Second {
			t.Fatalf("Jitter(10s) = %s", d)
		}
	}
	if Jitter(0) != 0 {
		t.Error("Jitter(0) != 0")
	}
}

func TestDue(t *testing.T) {
	now := time.Now()
	ctx := context.Background()
	if left, err := Due(ctx, now, time.Time{}); left != 0 || err != nil {
		t.Errorf("no NotBefore: %s, %v", left, err)
	}
	start := time.Now()
	if left, err := Due(ctx, time.Now(), time.Now().Add(50*time.Millisecond)); left != 0 || err != nil {
		t.Errorf("due in 50ms: %s, %v; want it waited for", left, err)
	}
	if waited := time.Since(start); waited < 40*time.Millisecond {
		t.Errorf("waited %s for an attempt due in 50ms", waited)
	}
	if left, err := Due(ctx, now, now.Add(time.Minute)); left != time.Minute || err != nil {
		t.Errorf("due in a minute: %s, %v; want it handed back", left, err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Due(cancelled, time.Now(), time.Now().Add(80*time.Millisecond)); err == nil {
		t.Error("a cancelled wait returned no error")
	}
}
