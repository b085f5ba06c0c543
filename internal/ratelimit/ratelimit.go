// Package ratelimit keeps one token bucket per key (an API key, a source) in the
// process: the API answers 429 with Retry-After when a key's bucket is empty.
//
// Buckets are per process: with N API servers behind a balancer a key may get up to
// N times the rate. That is the usual trade for not putting a shared store on the
// hot path of every request; the limit protects each server, and the fleet's total
// scales with it.
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// idleAfter is how long a key's bucket may go unused before it is forgotten; a
// bucket that idle is full anyway, so forgetting it changes nothing.
const idleAfter = 10 * time.Minute

// Limiter is a set of token buckets, one per key, each refilling at the same rate.
// A nil *Limiter allows everything. It is safe for concurrent use.
type Limiter struct {
	limit rate.Limit
	burst int
	now   func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// New returns a limiter of perSecond requests a second per key, with bursts of up
// to burst (at least 1); perSecond <= 0 means no limit (nil).
func New(perSecond float64, burst int) *Limiter {
	if perSecond <= 0 {
		return nil
	}
	return &Limiter{limit: rate.Limit(perSecond), burst: max(burst, 1), now: time.Now, buckets: map[string]*bucket{}}
}

// PerSecond is the rate of each bucket (0 for a nil limiter).
func (l *Limiter) PerSecond() float64 {
	if l == nil {
		return 0
	}
	return float64(l.limit)
}

// Allow takes a token from key's bucket. When there is none it takes nothing and
// says how long until there will be one.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	if now.Sub(l.lastSweep) > time.Minute {
		l.lastSweep = now
		for k, other := range l.buckets {
			if now.Sub(other.seen) > idleAfter {
				delete(l.buckets, k)
			}
		}
	}
	l.mu.Unlock()

	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}
