// Package attempt is how hookflow makes and retries an attempt, a delivery's or an
// automation step's alike: which attempt this is (counted from the attempts on
// record), when the next one is due (one retry policy), waiting in the activity
// until an attempt is due, and heartbeating while a long one runs.
//
// The activities apply the policy themselves and tell Temporal the delay through
// NextRetryDelay (see workflows.RetryLater), so the schedule a user reads in the
// docs is the one that runs; Temporal's retry policy only covers a worker that
// died mid-attempt.
package attempt

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
)

// DefaultMaxRetryAfter caps how long a receiver's Retry-After can push an attempt back.
const DefaultMaxRetryAfter = time.Hour

// MaxDueWait is how long an attempt that starts a little early waits in the
// activity rather than going back to Temporal until it is due.
const MaxDueWait = 100 * time.Millisecond

// DefaultSchedule is the delay before each attempt of a delivery or an HTTP step:
// immediately, then 5 s, 5 m, 30 m, 2 h, 5 h, 10 h and 10 h (each ±20 % jitter),
// about 33 hours in all.
func DefaultSchedule() []time.Duration {
	return []time.Duration{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute,
		2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
}

// InternalSchedule is the delay before each attempt of an internal step (the
// ledger, an emit): quick, for a database blip.
func InternalSchedule() []time.Duration {
	return []time.Duration{0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
		15 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second}
}

// Policy is when a failed attempt is tried again, and when it is not.
type Policy struct {
	// Schedule is the delay before each attempt; len(Schedule) is the attempt budget.
	Schedule []time.Duration
	// MaxRetryAfter caps how far the other side's Retry-After can push an attempt.
	MaxRetryAfter time.Duration
	// Jitter maps a scheduled delay to the one used (default Jitter; tests pin it).
	Jitter func(time.Duration) time.Duration
}

// WithDefaults fills what p leaves zero: the default schedule, cap and jitter.
func (p Policy) WithDefaults() Policy {
	if len(p.Schedule) == 0 {
		p.Schedule = DefaultSchedule()
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if p.Jitter == nil {
		p.Jitter = Jitter
	}
	return p
}

// Attempts is the attempt budget.
func (p Policy) Attempts() int { return len(p.Schedule) }

// Next is the delay after failed attempt n (1-based) before the next one: the
// schedule's, pushed back to what the other side asked for (Retry-After, capped).
// ok is false when n was the last attempt the schedule allows.
func (p Policy) Next(n int, retryAfter time.Duration) (delay time.Duration, ok bool) {
	if n >= len(p.Schedule) {
		return 0, false
	}
	delay = p.Jitter(p.Schedule[n])
	if retryAfter > 0 {
		delay = max(delay, min(retryAfter, p.MaxRetryAfter))
	}
	// Zero would mean "use the retry policy's interval" to Temporal.
	return max(delay, time.Millisecond), true
}

// Number is this attempt's number (1-based) in the current run of the schedule,
// from the attempts on record: recorded is how many were made, base how many had
// been made when this run of the schedule began (a manual retry starts it over).
// Attempts on record, not Temporal's attempt counter, because Temporal also counts
// tries that sent nothing (paced, not yet due) and forgets the first attempt made
// as a local activity.
func Number(recorded, base int) int { return max(recorded-base, 0) + 1 }

// Jitter spreads a scheduled delay by ±20 % so that retries of many attempts that
// failed together do not hit the receiver together again.
func Jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// Due waits until notBefore when it is at most MaxDueWait away and returns 0; an
// attempt further from its time returns how long is left, and the caller hands it
// back to Temporal for that long (workflows.NotDue). A zero notBefore is due.
func Due(ctx context.Context, now, notBefore time.Time) (left time.Duration, err error) {
	if notBefore.IsZero() {
		return 0, nil
	}
	wait := notBefore.Sub(now)
	if wait > MaxDueWait {
		return wait, nil
	}
	return 0, Sleep(ctx, wait)
}

// Sleep waits for d or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// KeepAlive heartbeats the running activity every interval (every, or a third of
// its heartbeat timeout when every is zero) until the returned stop is called. The
// first beat comes one interval in, so an attempt that ends sooner — nearly all of
// them — costs the engine no heartbeat at all. Local activities, activities
// scheduled without a heartbeat timeout and calls outside an activity do nothing.
func KeepAlive(ctx context.Context, every time.Duration) (stop func()) {
	if !activity.IsActivity(ctx) {
		return func() {}
	}
	info := activity.GetInfo(ctx)
	if info.IsLocalActivity || info.HeartbeatTimeout <= 0 {
		return func() {}
	}
	if every <= 0 {
		every = info.HeartbeatTimeout / 3
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				activity.RecordHeartbeat(ctx)
			case <-done:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}
