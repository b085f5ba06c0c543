// Package benchtally is the benchmark's accounting: which deliveries it
// expects (one per event and receiving endpoint), which arrived, and how
// late. A benchmark that miscounts tells a lie, so the reconciliation —
// delivered exactly once, duplicated, missing, unexpected — lives here,
// apart from the timing code, with its own tests.
package benchtally

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Tally reconciles expected deliveries with receipts. Keys are whatever
// names one delivery uniquely (the benchmark uses "<event key>@<endpoint>").
// It is safe for concurrent use; a receipt may arrive before its key is
// expected (the receiver can be faster than the sender's bookkeeping).
type Tally struct {
	mu        sync.Mutex
	expected  map[string]bool
	withdrawn map[string]bool
	receipts  map[string]*receipt
	changed   chan struct{} // closed and replaced on every receipt
}

type receipt struct {
	count int
	sent  time.Time // from the delivery's payload
	first time.Time // when the first copy arrived
}

// New returns an empty Tally.
func New() *Tally {
	return &Tally{
		expected:  map[string]bool{},
		withdrawn: map[string]bool{},
		receipts:  map[string]*receipt{},
		changed:   make(chan struct{}),
	}
}

// Expect records that one delivery named key should arrive.
func (t *Tally) Expect(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		t.expected[k] = true
	}
}

// Withdraw takes back an expectation whose event was never accepted (its
// send failed): it is counted as a send failure, not as missing, and a
// receipt for it anyway is unexpected.
func (t *Tally) Withdraw(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.expected[key] {
		delete(t.expected, key)
		t.withdrawn[key] = true
	}
}

// Receive records one arrival of key, sent at sent (the sender's clock, read
// from the payload) and received at at.
func (t *Tally) Receive(key string, sent, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.receipts[key]
	if r == nil {
		r = &receipt{sent: sent, first: at}
		t.receipts[key] = r
	}
	r.count++
	if at.Before(r.first) {
		r.first = at
	}
	close(t.changed)
	t.changed = make(chan struct{})
}

// Outstanding is how many expected deliveries have not arrived yet.
func (t *Tally) Outstanding() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.outstandingLocked()
}

func (t *Tally) outstandingLocked() int {
	n := 0
	for k := range t.expected {
		if t.receipts[k] == nil {
			n++
		}
	}
	return n
}

// Wait returns once every expected delivery has arrived (nil), or when ctx
// ends (ctx's error); the report then shows what is missing.
func (t *Tally) Wait(ctx context.Context) error {
	for {
		t.mu.Lock()
		n, ch := t.outstandingLocked(), t.changed
		t.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// Report is the reconciliation at one moment.
type Report struct {
	Expected    int `json:"expected"`     // deliveries expected (sends that were accepted)
	SendFailed  int `json:"send_failed"`  // expectations withdrawn because the send failed
	Delivered   int `json:"delivered"`    // expected keys that arrived at least once
	ExactlyOnce int `json:"exactly_once"` // of those, arrived exactly once
	Duplicates  int `json:"duplicates"`   // extra copies of expected keys
	Missing     int `json:"missing"`      // expected keys that never arrived
	Unexpected  int `json:"unexpected"`   // arrivals of keys never expected (all copies)
	// Latencies are first arrival − send time of each delivered key, sorted.
	Latencies []time.Duration `json:"-"`
	// FirstSent and LastReceived bound the delivered keys in time.
	FirstSent    time.Time `json:"-"`
	LastReceived time.Time `json:"-"`
}

// Reconciled reports whether every expected delivery arrived exactly once
// and nothing else arrived.
func (r Report) Reconciled() bool {
	return r.Missing == 0 && r.Duplicates == 0 && r.Unexpected == 0 && r.ExactlyOnce == r.Expected
}

// Report reconciles what was expected with what arrived.
func (t *Tally) Report() Report {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := Report{Expected: len(t.expected), SendFailed: len(t.withdrawn)}
	for k := range t.expected {
		rc := t.receipts[k]
		if rc == nil {
			r.Missing++
			continue
		}
		r.Delivered++
		if rc.count == 1 {
			r.ExactlyOnce++
		}
		r.Duplicates += rc.count - 1
		r.Latencies = append(r.Latencies, rc.first.Sub(rc.sent))
		if r.FirstSent.IsZero() || rc.sent.Before(r.FirstSent) {
			r.FirstSent = rc.sent
		}
		if rc.first.After(r.LastReceived) {
			r.LastReceived = rc.first
		}
	}
	for k, rc := range t.receipts {
		if !t.expected[k] {
			r.Unexpected += rc.count
		}
	}
	slices.Sort(r.Latencies)
	return r
}

// Percentile returns the p-th percentile (0 < p ≤ 100) of sorted durations by
// the nearest-rank method, or 0 for none.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}
