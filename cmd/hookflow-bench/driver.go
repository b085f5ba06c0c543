package main

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// driveResult is what a load driver saw on its side: how many sends were
// accepted, which failed, and how long each accepted send took.
type driveResult struct {
	Sent      int             `json:"sent"`
	Failed    []int           `json:"failed"`
	Start     time.Time       `json:"start"`
	End       time.Time       `json:"end"`
	Latencies []time.Duration `json:"latencies"` // per accepted send, sorted
}

func (r driveResult) perSecond() float64 {
	d := r.End.Sub(r.Start).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(r.Sent) / d
}

// drive calls send for i in [0, n). With rate 0 it is a closed loop:
// concurrency senders, each sending the next as soon as its last returned
// (the saturated run). With a rate it is an open loop: send i starts at
// start + i/rate whatever the system's state, as real traffic does, with at
// most concurrency in flight; a system that falls behind shows it as
// latency. ctx bounds the whole run; sends not started by then fail.
func drive(ctx context.Context, n, concurrency int, rate float64, send func(ctx context.Context, i int) error) driveResult {
	var (
		mu  sync.Mutex
		res = driveResult{Start: time.Now()}
	)
	one := func(i int) {
		t0 := time.Now()
		err := ctx.Err()
		if err == nil {
			err = send(ctx, i)
		}
		d := time.Since(t0)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			res.Failed = append(res.Failed, i)
			return
		}
		res.Sent++
		res.Latencies = append(res.Latencies, d)
	}
	var wg sync.WaitGroup
	if rate <= 0 {
		var next atomic.Int64
		for range concurrency {
			wg.Go(func() {
				for {
					i := int(next.Add(1) - 1)
					if i >= n {
						return
					}
					one(i)
				}
			})
		}
	} else {
		sem := make(chan struct{}, concurrency)
		interval := time.Duration(float64(time.Second) / rate)
		for i := range n {
			if d := time.Until(res.Start.Add(time.Duration(i) * interval)); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
				}
			}
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				one(i)
			})
		}
	}
	wg.Wait()
	res.End = time.Now()
	slices.Sort(res.Latencies)
	slices.Sort(res.Failed)
	return res
}
