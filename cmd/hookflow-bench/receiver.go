package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hookflow/hookflow/internal/benchtally"
)

// payload is what the bench puts in an event's data, and what every sender
// (hookflow's deliveries, the baselines' POSTs) carries back to the receiver.
type payload struct {
	Key    string `json:"bench_key"`
	SentNS int64  `json:"sent_ns"`
}

// receiver is the loopback HTTP server every delivery goes to. Each request
// is booked in the current scenario's tally under "<key>@<path>", so a
// fan-out's 50 endpoints (50 paths) are 50 deliveries of one key.
type receiver struct {
	tally atomic.Pointer[benchtally.Tally]
	srv   *http.Server
	url   string
	stray atomic.Int64 // requests that named no key at all
}

func startReceiver() (*receiver, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{url: "http://" + l.Addr().String()}
	r.tally.Store(benchtally.New())
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(l) }()
	return r, nil
}

func (r *receiver) use(t *benchtally.Tally) { r.tally.Store(t) }

func (r *receiver) close() { _ = r.srv.Close() }

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	key, sent, ok := parseReceipt(body)
	if !ok {
		r.stray.Add(1)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	r.tally.Load().Receive(key+"@"+req.URL.Path, time.Unix(0, sent), at)
	w.WriteHeader(http.StatusNoContent)
}

// parseReceipt reads the key and send time from a delivery: an event
// envelope {"data":{"bench_key","sent_ns"}} (webhooks, baselines) or a Slack
// message {"text":"<key> <sent_ns> reached <tier>"} (the flagship chain,
// whose customer name carries both).
func parseReceipt(body []byte) (key string, sentNS int64, ok bool) {
	var m struct {
		Data payload `json:"data"`
		Text string  `json:"text"`
	}
	if json.Unmarshal(body, &m) != nil {
		return "", 0, false
	}
	if m.Data.Key != "" {
		return m.Data.Key, m.Data.SentNS, true
	}
	f := strings.Fields(m.Text)
	if len(f) >= 2 {
		if n, err := strconv.ParseInt(f[1], 10, 64); err == nil {
			return f[0], n, true
		}
	}
	return "", 0, false
}

func deliveryKey(key, path string) string { return fmt.Sprintf("%s@%s", key, path) }
