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
	"github.com/hookflow/hookflow/internal/testenv"
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

func withDNS(addr string) stackOption {
	return func(c *config.Config) { c.DNSServer = addr }
}

// loopbackForms reach the canary on 127.0.0.1 when nothing stops them.
var loopbackForms = []string{"127.0.0.1", "2130706433", "0x7f.1", "0177.0.0.1", "127.1", "[::ffff:127.0.0.1]", "localhost",
	"hooks.partner-shop.com"}

// elsewhere are the other blocked ranges and forms (0.0.0.0 reaches local
// listeners; NAT64 and 6to4 forms embed 127.0.0.1 but route nowhere here), so only
// the recorded outcome tells blocked from unreachable.
var elsewhere = []string{"0.0.0.0", "[64:ff9b::7f00:1]", "[2002:7f00:1::]", "10.0.0.1", "172.16.0.1", "192.168.1.1", "100.64.0.1", "192.0.0.8", "198.18.0.1", "240.0.0.1",
	"224.0.0.1", "255.255.255.255", "192.0.2.1", "198.51.100.1", "203.0.113.1", "169.254.169.254", "2852039166",
	"[::1]", "[fc00::1]", "[fe80::1]", "[fd00:ec2::254]", "[64:ff9b::a9fe:a9fe]", "[::ffff:169.254.169.254]", "[2001:db8::1]", "[ff02::1]"}

// redirector stands for a public server that answers every request with a redirect
// into the network. It listens on 127.0.0.2, which the tests allow as "public".
func redirector(t *testing.T, to string) string {
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, to, http.StatusTemporaryRedirect)
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// TestSSRFGuard aims deliveries and webhook steps at loopback written every way, at
// every other blocked range, at a public-looking name that a DNS server the test
// controls resolves to 127.0.0.1, and at a public-looking server that redirects to
// the cloud metadata address. With no allow-list, no connection reaches the canary
// and each attempt is recorded blocked, once, not retried. With loopback allowed,
// the same requests go through, so the guard is what stopped them.
func TestSSRFGuard(t *testing.T) {
	dns := testenv.StartDNS(t, map[string][]netip.Addr{
		"hooks.partner-shop.com": {netip.MustParseAddr("127.0.0.1")},
		"cdn.partner-shop.com":   {netip.MustParseAddr("127.0.0.2")},
	})
	redirectPort := redirector(t, "http://169.254.169.254/latest/meta-data/iam/security-credentials/")
	redirectURL := "http://cdn.partner-shop.com:" + redirectPort + "/hook"
	for _, open := range []bool{false, true} {
		name := "closed"
		opts := []stackOption{withDNS(dns), withAllowed("127.0.0.2/32")}
		if open {
			name, opts = "loopback allowed", []stackOption{withDNS(dns), withAllowed("127.0.0.0/8", "::1/128", "169.254.0.0/16")}
		}
		t.Run(name, func(t *testing.T) {
			s := newStack(t, opts...)
			_, conns, reqs, port := canary(t)
			s.createAutomation(`{"name":"probe","trigger":{"event_type":"probe.sent"},"steps":[
			 {"id":"post","action":"webhook.post","params":{"url":"{{ .event.data.url }}"}}]}`)
			targets := []string{redirectURL}
			for _, f := range loopbackForms {
				targets = append(targets, "http://"+f+":"+port+"/hook")
			}
			if !open {
				for _, f := range elsewhere {
					targets = append(targets, "http://"+f+":"+port+"/hook")
				}
			}
			var evs []string
			for _, u := range targets {
				evs = append(evs, s.sendEvent(map[string]any{"type": "probe.sent", "data": map[string]any{"url": u}}).ID)
			}
			// Endpoints: names pass the save-time check; the dial-time guard decides.
			s.createEndpoint("http://hooks.partner-shop.com:"+port+"/hook", "probe.endpoint")
			s.createEndpoint(redirectURL, "probe.endpoint")
			epEvent := s.sendEvent(map[string]any{"type": "probe.endpoint", "data": map[string]any{}}).ID

			for i, id := range evs {
				run := s.waitRuns(id, 1, 20*time.Second)[0]
				var list struct{ Data []models.Delivery }
				s.do("GET", "/v1/deliveries?endpoint_id=step:"+run.ID+":post", nil, &list)
				if len(list.Data) != 1 {
					t.Errorf("%s: %d deliveries recorded", targets[i], len(list.Data))
					continue
				}
				d := s.delivery(list.Data[0].ID)
				switch {
				case open && targets[i] == redirectURL:
					// Redirects are never followed; allowed, the 307 is an ordinary failure.
					if len(d.Attempts) == 0 || d.Attempts[0].Outcome == models.AttemptBlocked || d.Attempts[0].StatusCode != http.StatusTemporaryRedirect {
						t.Errorf("redirect with its target allowed: attempts %+v, want the 307 recorded", d.Attempts)
					}
				case open:
					if run.Status != models.RunSucceeded {
						t.Errorf("%s with loopback allowed: run %s (%s)", targets[i], run.Status, run.Steps[0].Error)
					}
				default:
					if run.Status != models.RunFailed || len(d.Attempts) != 1 || d.Attempts[0].Outcome != models.AttemptBlocked {
						t.Errorf("%s: run %s, attempts %+v; want failed after one blocked attempt", targets[i], run.Status, d.Attempts)
					}
				}
			}
			for _, d := range s.waitDeliveries(epEvent, 2, 30*time.Second) {
				d = s.delivery(d.ID)
				if open {
					if d.Attempts[0].Outcome == models.AttemptBlocked {
						t.Errorf("endpoint delivery with loopback allowed was blocked: %+v", d.Attempts)
					}
					continue
				}
				if d.Status != models.DeliveryFailed || len(d.Attempts) != 1 || d.Attempts[0].Outcome != models.AttemptBlocked {
					t.Errorf("endpoint delivery %s: status %s, attempts %+v; want failed after one blocked attempt", d.EndpointID, d.Status, d.Attempts)
				}
			}
			if !open {
				// slack.post, like every HTTP action, fails at once when blocked instead
				// of retrying for the whole delivery schedule (5 s, 5 min, ... here).
				s.createAutomation(`{"name":"slack probe","trigger":{"event_type":"probe.slack"},"steps":[
				 {"id":"notify","action":"slack.post","params":{"webhook_url":"{{ .event.data.url }}","text":"hi"}}]}`)
				ev := s.sendEvent(map[string]any{"type": "probe.slack", "data": map[string]any{"url": "http://127.0.0.1:" + port + "/slack"}})
				run := s.waitRuns(ev.ID, 1, 20*time.Second)[0]
				if run.Status != models.RunFailed || len(run.Steps) != 1 || !strings.Contains(run.Steps[0].Error, "blocked") || strings.Contains(run.Steps[0].Error, "attempts") {
					t.Errorf("slack.post to loopback: run %s, steps %+v; want failed at once, blocked", run.Status, run.Steps)
				}
			}
			if open {
				// Every loopback form through webhook.post, plus the endpoint on the name.
				if got, want := reqs.Load(), int32(len(loopbackForms)+1); got != want {
					t.Errorf("canary got %d requests, want %d", got, want)
				}
			} else if got := conns.Load(); got != 0 {
				t.Errorf("canary saw %d connections, want none", got)
			}
		})
	}
}
