package activities

import (
	"context"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
)

// HeartbeatTimeout is the heartbeat timeout workflows give the activities that make
// HTTP requests (Deliver, RunStep). A worker killed mid-attempt is then noticed, and
// the attempt retried elsewhere, within this time rather than after the 30 s
// start-to-close timeout.
const HeartbeatTimeout = 10 * time.Second

// keepAlive heartbeats the running activity every interval (a third of its
// heartbeat timeout unless Config.HeartbeatEvery says otherwise) until the
// returned stop is called. The first beat comes one interval in, so an attempt that
// ends sooner — nearly all of them — costs the engine no heartbeat at all. Local
// activities, activities scheduled without a heartbeat timeout and calls outside
// an activity do nothing.
func (a *Activities) keepAlive(ctx context.Context) (stop func()) {
	if !activity.IsActivity(ctx) {
		return func() {}
	}
	info := activity.GetInfo(ctx)
	if info.IsLocalActivity || info.HeartbeatTimeout <= 0 {
		return func() {}
	}
	every := a.heartbeatEvery
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
