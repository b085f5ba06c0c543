package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/config"
	"github.com/hookflow/hookflow/models"
)

func withAllowed(cidrs ...string) stackOption {
	return func(c *config.Config) {
		c.AllowedCIDRs = nil
		for _, s := range cidrs {
			c.AllowedCIDRs = append(c.AllowedCIDRs, netip.MustParsePrefix(s))
		}
	}
}

// canary is a loopback listener that counts every connection made to it and every
// request (connections are reused, so requests show what went through).
func canary(t *testing.T) (*httptest.Server, *atomic.Int32, *atomic.Int32, string) {
	var conns, reqs atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reqs.Add(1) }))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	return srv, &conns, &reqs, port
}

var loopbackForms = []string{"127.0.0.1", "2130706433", "0x7f.1", "0177.0.0.1", "127.1", "[::ffff:127.0.0.1]", "localhost"}

// TestSSRFGuard aims webhook steps at loopback written every way and at the cloud
// metadata addresses: with no allow-list, no connection reaches the canary and each
// attempt is recorded blocked, once, not retried. With loopback allowed, the same
// requests go through, so the guard is what stopped them.
func TestSSRFGuard(t *testing.T) {
	for _, open := range []bool{false, true} {
		name := "closed"
		opts := []stackOption{withAllowed()}
		if open {
			name, opts = "loopback allowed", []stackOption{withAllowed("127.0.0.0/8", "::1/128")}
		}
		t.Run(name, func(t *testing.T) {
			s := newStack(t, opts...)
			_, conns, reqs, port := canary(t)
			s.createAutomation(`{"name":"probe","trigger":{"event_type":"probe.sent"},"steps":[
			 {"id":"post","action":"webhook.post","params":{"url":"{{ .event.data.url }}"}}]}`)
			targets := []string{}
			for _, f := range loopbackForms {
				targets = append(targets, "http://"+f+":"+port+"/hook")
			}
			if !open {
				targets = append(targets, "http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/", "http://[64:ff9b::a9fe:a9fe]/")
			}
			var evs []string
			for _, u := range targets {
				evs = append(evs, s.sendEvent(map[string]any{"type": "probe.sent", "data": map[string]any{"url": u}}).ID)
			}
			for i, id := range evs {
				run := s.waitRuns(id, 1, 20*time.Second)[0]
				var list struct{ Data []models.Delivery }
				s.do("GET", "/v1/deliveries?endpoint_id=step:"+run.ID+":post", nil, &list)
				if len(list.Data) != 1 {
					t.Errorf("%s: %d deliveries recorded", targets[i], len(list.Data))
					continue
				}
				d := s.delivery(list.Data[0].ID)
				if open {
					if run.Status != models.RunSucceeded {
						t.Errorf("%s with loopback allowed: run %s (%s)", targets[i], run.Status, run.Steps[0].Error)
					}
					continue
				}
				if run.Status != models.RunFailed || len(d.Attempts) != 1 || d.Attempts[0].Outcome != models.AttemptBlocked {
					t.Errorf("%s: run %s, attempts %+v; want failed after one blocked attempt", targets[i], run.Status, d.Attempts)
				}
			}
			if open {
				if got := reqs.Load(); got != int32(len(loopbackForms)) {
					t.Errorf("canary got %d requests, want %d", got, len(loopbackForms))
				}
			} else if got := conns.Load(); got != 0 {
				t.Errorf("canary saw %d connections, want none", got)
			}
		})
	}
}
