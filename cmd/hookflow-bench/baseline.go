package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Baseline modes: how the bare-Temporal workflow makes its POST.
const (
	modeActivity = "activity" // a regular activity: scheduled, polled, completed through the server
	modeLocal    = "local"    // a local activity: run by the workflow worker, recorded as a marker
	modeEager    = "eager"    // local activity, and the workflow started eagerly on this worker
)

var baselineModes = []string{modeActivity, modeLocal, modeEager}

// baselineInput is one event for the baseline workflow: the same body posted
// to each URL.
type baselineInput struct {
	URLs  []string
	Body  []byte
	Local bool
}

// poster holds the HTTP client the baseline's activity reuses, as hookflow's
// delivery does.
type poster struct{ client *http.Client }

// Post is the baseline's delivery: one POST, success on 2xx.
func (p *poster) Post(ctx context.Context, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s", url, resp.Status)
	}
	return nil
}

// BaselineWorkflow is the engine's own cost of "one workflow per event, one
// HTTP POST per receiver": what hookflow is measured against.
func BaselineWorkflow(ctx workflow.Context, in baselineInput) error {
	retry := &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 0}
	var futures []workflow.Future
	for _, u := range in.URLs {
		if in.Local {
			lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 15 * time.Second, RetryPolicy: retry})
			futures = append(futures, workflow.ExecuteLocalActivity(lctx, "Post", u, in.Body))
		} else {
			actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 15 * time.Second, RetryPolicy: retry})
			futures = append(futures, workflow.ExecuteActivity(actx, "Post", u, in.Body))
		}
	}
	for _, f := range futures {
		if err := f.Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

// baselineResult is the child's report on its stdout, one JSON line after
// "result ".
type baselineResult struct {
	Warm     driveResult `json:"warm"`
	Measured driveResult `json:"measured"`
}

// cmdBaseline runs the worker and the load driver of one baseline mode in
// this process (eager start needs both in one), so the parent accounts its
// CPU separately from hookflow's. Protocol on stdin/stdout: it sends the
// warm-up and prints "warm"; on a "go" line it sends the measured run and
// prints "result <json>"; it keeps the worker running until stdin closes.
func cmdBaseline(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("baseline", flag.ContinueOnError)
	mode := fs.String("mode", modeActivity, "activity | local | eager")
	addr := fs.String("temporal", "127.0.0.1:7233", "Temporal frontend")
	namespace := fs.String("namespace", "default", "Temporal namespace")
	recv := fs.String("receiver", "", "base URL of the receiver")
	path := fs.String("path", "/baseline", "receiver path; with --fanout N, N paths <path>-<i>")
	prefix := fs.String("prefix", "b", "key prefix")
	warm := fs.Int("warmup", 20, "warm-up events")
	count := fs.Int("count", 100, "measured events")
	conc := fs.Int("concurrency", 32, "concurrent starts (in flight at most, with --rate)")
	rate := fs.Float64("rate", 0, "events per second (0: closed loop, saturated)")
	fanout := fs.Int("fanout", 0, "POST each event to this many paths (0: one, at --path)")
	timeout := fs.Duration("timeout", 5*time.Minute, "bound on each run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	local := *mode != modeActivity
	c, err := client.Dial(client.Options{HostPort: *addr, Namespace: *namespace,
		Logger: sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))})
	if err != nil {
		return fmt.Errorf("dial temporal: %w", err)
	}
	defer c.Close()
	queue := "bench-baseline-" + *mode + "-" + strings.ToLower(rand.Text()[:6])
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflow(BaselineWorkflow)
	p := &poster{client: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512}}}
	w.RegisterActivityWithOptions(p.Post, activity.RegisterOptions{Name: "Post"})
	if err := w.Start(); err != nil {
		return err
	}
	defer w.Stop()

	urls := []string{*recv + *path}
	if *fanout > 0 {
		urls = urls[:0]
		for i := range *fanout {
			urls = append(urls, *recv+*path+"-"+strconv.Itoa(i))
		}
	}
	run := func(keyPrefix string, n int, r float64) driveResult {
		rctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		return drive(rctx, n, *conc, r, func(ctx context.Context, i int) error {
			key := keyPrefix + strconv.Itoa(i)
			body, _ := json.Marshal(map[string]any{"id": key, "type": "bench.baseline",
				"data": payload{Key: key, SentNS: time.Now().UnixNano()}})
			_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID: "baseline-" + key, TaskQueue: queue, EnableEagerStart: *mode == modeEager,
			}, BaselineWorkflow, baselineInput{URLs: urls, Body: body, Local: local})
			return err
		})
	}
	var res baselineResult
	res.Warm = run(*prefix+"-w", *warm, 0)
	fmt.Fprintln(stdout, "warm")
	in := bufio.NewScanner(stdin)
	if !in.Scan() || in.Text() != "go" {
		return errors.New("baseline: no go from the parent")
	}
	res.Measured = run(*prefix+"-", *count, *rate)
	b, _ := json.Marshal(res)
	fmt.Fprintf(stdout, "result %s\n", b)
	for in.Scan() { // until the parent has every receipt and closes stdin
	}
	return nil
}
