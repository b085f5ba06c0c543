package netguard

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func prefixes(t *testing.T, cidrs ...string) []netip.Prefix {
	t.Helper()
	out := make([]netip.Prefix, len(cidrs))
	for i, c := range cidrs {
		out[i] = netip.MustParsePrefix(c)
	}
	return out
}

func TestCheckAddrBlocked(t *testing.T) {
	tests := []struct {
		addr    string
		wantMsg string // part of the reason the user sees
	}{
		{"0.0.0.0", "0.0.0.0/8"},
		{"0.1.2.3", "unspecified"},
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "127.0.0.0/8"},
		{"10.1.2.3", "10.0.0.0/8 (private, RFC 1918)"},
		{"172.16.0.1", "172.16.0.0/12"},
		{"172.31.255.255", "172.16.0.0/12"},
		{"192.168.1.1", "192.168.0.0/16"},
		{"169.254.169.254", "link-local"},
		{"169.254.0.1", "169.254.0.0/16"},
		{"100.64.0.1", "carrier-grade NAT"},
		{"100.127.255.255", "100.64.0.0/10"},
		{"192.0.0.8", "192.0.0.0/24"},
		{"192.0.2.1", "documentation"},
		{"198.51.100.7", "documentation"},
		{"203.0.113.9", "documentation"},
		{"198.18.0.1", "benchmarking"},
		{"198.19.255.255", "198.18.0.0/15"},
		{"192.88.99.1", "6to4 relay"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "224.0.0.0/4"},
		{"240.0.0.1", "reserved"},
		{"255.255.255.255", "broadcast"},
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"fc00::1", "unique local"},
		{"fd00:ec2::254", "fc00::/7"},
		{"fec0::1", "site-local"},
		{"ff02::1", "multicast"},
		{"2001:db8::1", "documentation"},
		{"3fff::1", "documentation"},
		{"100::1", "discard-only"},
		{"2001:2::1", "benchmarking"},
		{"4000::1", "not in 2000::/3"},
		{"5f00::1", "not in 2000::/3"},
		// IPv4 wrapped in IPv6: the embedded address decides.
		{"::ffff:127.0.0.1", "embeds 127.0.0.1, which is in 127.0.0.0/8"},
		{"::ffff:169.254.169.254", "embeds 169.254.169.254"},
		{"::ffff:10.0.0.1", "private"},
		{"::127.0.0.1", "IPv4-compatible"},
		{"::8.8.8.8", "IPv4-compatible"},
		{"64:ff9b::7f00:1", "embeds 127.0.0.1"},
		{"64:ff9b::a9fe:a9fe", "embeds 169.254.169.254"},
		{"64:ff9b:1::a00:1", "local-use NAT64"},
		{"64:ff9b:1::808:808", "local-use NAT64"},
		{"64:ff9b:2::808:808", "not in 2000::/3"},
		{"2002:7f00:1::", "embeds 127.0.0.1"},
		{"2002:a9fe:a9fe::1", "embeds 169.254.169.254"},
		{"2002:c0a8:101::1", "embeds 192.168.1.1"},
		{"2001:0:4136:e378:8000:63bf:80ff:fffe", "embeds 127.0.0.1"}, // Teredo, client bits inverted
		{"2001:0:4136:e378:8000:63bf:f5ff:fffe", "embeds 10.0.0.1"},
	}
	g := New(nil, false)
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			err := g.CheckAddr(netip.MustParseAddr(tt.addr))
			if !errors.Is(err, ErrBlocked) {
				t.Fatalf("CheckAddr(%s) = %v, want ErrBlocked", tt.addr, err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("CheckAddr(%s) = %q, want it to say %q", tt.addr, err, tt.wantMsg)
			}
		})
	}
}

func TestCheckAddrPublic(t *testing.T) {
	g := New(nil, false)
	for _, s := range []string{
		"93.184.216.34", "8.8.8.8", "1.1.1.1", "172.32.0.1", "172.15.255.255", "100.128.0.1",
		"100.63.255.255", "169.255.0.1", "192.0.1.1", "198.20.0.1", "223.255.255.255",
		"2606:4700:4700::1111", "2a00:1450:4001:80b::200e",
		"::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
		"2001:0:4136:e378:8000:63bf:f7f7:f7f7", // Teredo for 8.8.8.8
	} {
		t.Run(s, func(t *testing.T) {
			if err := g.CheckAddr(netip.MustParseAddr(s)); err != nil {
				t.Errorf("CheckAddr(%s) = %v, want allowed", s, err)
			}
		})
	}
	if err := g.CheckAddr(netip.Addr{}); !errors.Is(err, ErrBlocked) {
		t.Errorf("CheckAddr(zero Addr) = %v, want ErrBlocked", err)
	}
}

func TestCheckAddrAllowList(t *testing.T) {
	tests := []struct {
		allowed []string
		addr    string
		want    error
	}{
		{[]string{"127.0.0.0/8"}, "127.0.0.1", nil},
		{[]string{"127.0.0.0/8"}, "127.9.9.9", nil},
		{[]string{"127.0.0.0/8"}, "::ffff:127.0.0.1", nil},
		{[]string{"127.0.0.0/8"}, "64:ff9b::7f00:1", nil},
		{[]string{"127.0.0.0/8"}, "::1", ErrBlocked},
		{[]string{"127.0.0.0/8"}, "10.0.0.1", ErrBlocked},
		{[]string{"::1/128"}, "::1", nil},
		{[]string{"10.9.0.0/16"}, "10.9.8.7", nil},
		{[]string{"10.9.0.0/16"}, "10.8.0.1", ErrBlocked},
		{[]string{"10.9.8.7/32"}, "10.9.8.7", nil},
		{[]string{"10.9.8.7/32"}, "10.9.8.8", ErrBlocked},
		{[]string{"::ffff:10.0.0.0/104"}, "10.1.1.1", nil}, // mapped prefixes are normalised
		{[]string{"fd00::/8"}, "fd00:ec2::254", nil},
		{[]string{"fd00::/8"}, "fc00::1", ErrBlocked},
		{[]string{"fe80::/10"}, "fe80::1%eth0", nil},
		{[]string{"169.254.169.254/32"}, "169.254.169.253", ErrBlocked},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.allowed, ",")+" "+tt.addr, func(t *testing.T) {
			g := New(prefixes(t, tt.allowed...), false)
			err := g.CheckAddr(netip.MustParseAddr(tt.addr))
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("CheckAddr(%s) = %v, want %v", tt.addr, err, tt.want)
			}
		})
	}
}

func TestAllowed(t *testing.T) {
	g := New([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/8"), {}, netip.MustParsePrefix("::ffff:10.0.0.0/104")}, false)
	got := g.Allowed()
	want := prefixes(t, "127.0.0.0/8", "10.0.0.0/8")
	if !slices.Equal(got, want) {
		t.Fatalf("Allowed = %v, want %v", got, want)
	}
	got[0] = netip.MustParsePrefix("0.0.0.0/0")
	if err := g.CheckAddr(netip.MustParseAddr("192.168.1.1")); !errors.Is(err, ErrBlocked) {
		t.Errorf("changing the slice Allowed returned opened the guard: %v", err)
	}
}

func TestParseLiteralHost(t *testing.T) {
	tests := []struct {
		host string
		want string // "" when the host is a name
	}{
		{"127.0.0.1", "127.0.0.1"},
		{"127.0.0.1.", "127.0.0.1"},
		{"2130706433", "127.0.0.1"},
		{"0x7f000001", "127.0.0.1"},
		{"0X7F.1", "127.0.0.1"},
		{"0x7f.1", "127.0.0.1"},
		{"0177.0.0.1", "127.0.0.1"},
		{"0177.1", "127.0.0.1"},
		{"127.1", "127.0.0.1"},
		{"127.0.1", "127.0.0.1"},
		{"10.65535", "10.0.255.255"},
		{"169.254.43518", "169.254.169.254"},
		{"0xa9.0xfe.0xa9.0xfe", "169.254.169.254"},
		{"0", "0.0.0.0"},
		{"0x", "0.0.0.0"},
		{"4294967295", "255.255.255.255"},
		{"１２７.０.０.１", "127.0.0.1"},
		{"127。0。0。1", "127.0.0.1"},
		{"::1", "::1"},
		{"::ffff:127.0.0.1", "::ffff:127.0.0.1"},
		{"fe80::1%eth0", "fe80::1%eth0"},
		{"4294967296", ""},
		{"256.0.0.1", ""},
		{"1.256.0.1", ""},
		{"1.2.3.256", ""},
		{"127.16777216", ""},
		{"1.2.3.4.5", ""},
		{"08.0.0.1", ""},
		{"0x0x1", ""},
		{"+1.2.3.4", ""},
		{"1_0.0.0.1", ""},
		{"127..1", ""},
		{".", ""},
		{"example.com", ""},
		{"localhost", ""},
		{"1e3", ""},
		{"::zz", ""},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			a, ok := parseLiteralHost(tt.host)
			got := ""
			if ok {
				got = a.String()
			}
			if got != tt.want {
				t.Errorf("parseLiteralHost(%q) = %q, want %q", tt.host, got, tt.want)
			}
		})
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		url       string
		httpsOnly bool
		allowed   []string
		want      error
	}{
		{url: "https://example.com/hook", want: nil},
		{url: "http://example.com:8080/hook?x=1", want: nil},
		{url: "HTTPS://Example.com/", want: nil},
		{url: "https://8.8.8.8/", want: nil},
		{url: "https://[2606:4700:4700::1111]:8443/", want: nil},
		{url: "http://localhost/", want: nil}, // names are checked when dialled
		{url: "https://example.com", httpsOnly: true, want: nil},
		{url: "http://example.com", httpsOnly: true, want: ErrInvalidURL},
		{url: "ftp://example.com", want: ErrInvalidURL},
		{url: "file:///etc/passwd", want: ErrInvalidURL},
		{url: "gopher://127.0.0.1:25/", want: ErrInvalidURL},
		{url: "example.com/hook", want: ErrInvalidURL},
		{url: "//example.com/hook", want: ErrInvalidURL},
		{url: "http:example.com", want: ErrInvalidURL},
		{url: "https://user:pass@example.com", want: ErrInvalidURL},
		{url: "https://token@example.com", want: ErrInvalidURL},
		{url: "https://", want: ErrInvalidURL},
		{url: "https://:443/", want: ErrInvalidURL},
		{url: "https://example.com:99999", want: ErrInvalidURL},
		{url: "https://example.com:0", want: ErrInvalidURL},
		{url: "::not a url", want: ErrInvalidURL},
		{url: "https://exa mple.com", want: ErrInvalidURL},
		{url: "", want: ErrInvalidURL},
		{url: "http://127.0.0.1/", want: ErrBlocked},
		{url: "http://127.0.0.1./", want: ErrBlocked},
		{url: "http://2130706433/", want: ErrBlocked},
		{url: "http://0x7f.1/", want: ErrBlocked},
		{url: "http://0177.0.0.1/", want: ErrBlocked},
		{url: "http://127.1/", want: ErrBlocked},
		{url: "http://0/", want: ErrBlocked},
		{url: "http://[::1]/", want: ErrBlocked},
		{url: "http://[::]/", want: ErrBlocked},
		{url: "http://[::ffff:127.0.0.1]/", want: ErrBlocked},
		{url: "http://[::ffff:7f00:1]/", want: ErrBlocked},
		{url: "http://[64:ff9b::a9fe:a9fe]/", want: ErrBlocked},
		{url: "http://[2002:a9fe:a9fe::]/", want: ErrBlocked},
		{url: "http://[fe80::1%25eth0]/", want: ErrBlocked},
		{url: "http://169.254.169.254/latest/meta-data", want: ErrBlocked},
		{url: "http://[fd00:ec2::254]/", want: ErrBlocked},
		{url: "http://10.0.0.1:8080/", want: ErrBlocked},
		{url: "http://１２７.０.０.１/", want: ErrBlocked},
		{url: "http://127.0.0.1:8080/dev/inbox/a", allowed: []string{"127.0.0.0/8"}, want: nil},
		{url: "http://0x7f.1/", allowed: []string{"127.0.0.0/8"}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			g := New(prefixes(t, tt.allowed...), tt.httpsOnly)
			err := g.CheckURL(tt.url)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("CheckURL(%q) = %v, want %v", tt.url, err, tt.want)
			}
		})
	}
}

func TestCheckURLMessages(t *testing.T) {
	g := New(nil, false)
	tests := []struct {
		url     string
		want    string
		notWant string
	}{
		{"http://0x7f.1/", `host "0x7f.1": destination blocked: 127.0.0.1 is in 127.0.0.0/8 (loopback)`, ""},
		{"http://10.0.0.1/", "destination blocked: 10.0.0.1 is in 10.0.0.0/8 (private, RFC 1918)", "host"},
		{"https://user:hunter2@exa mple.com/", "invalid URL", "hunter2"},
		{"https://user:hunter2@example.com/", "credentials", "hunter2"},
	}
	for _, tt := range tests {
		err := g.CheckURL(tt.url)
		if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.notWant != "" && strings.Contains(err.Error(), tt.notWant)) {
			t.Errorf("CheckURL(%q) = %v, want it to contain %q and not %q", tt.url, err, tt.want, tt.notWant)
		}
	}
}

func TestParseCIDRs(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: "", want: nil},
		{in: " , ", want: nil},
		{in: "127.0.0.0/8", want: []string{"127.0.0.0/8"}},
		{in: " 127.0.0.0/8, ::1 ,10.0.0.5", want: []string{"127.0.0.0/8", "::1/128", "10.0.0.5/32"}},
		{in: "10.1.2.3/8", want: []string{"10.0.0.0/8"}},
		{in: "fd00::1/8", want: []string{"fd00::/8"}},
		{in: "nope", wantErr: true},
		{in: "10.0.0.0/33", wantErr: true},
		{in: "127.0.0.0/8,bad", wantErr: true},
		{in: "fe80::1%eth0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseCIDRs(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseCIDRs(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			var gotS []string
			for _, p := range got {
				gotS = append(gotS, p.String())
			}
			if !slices.Equal(gotS, tt.want) || (tt.want == nil) != (got == nil) {
				t.Errorf("ParseCIDRs(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// receiver is a loopback server that counts the requests it gets per path.
type receiver struct {
	*httptest.Server
	hits atomic.Int64
}

func newReceiver(t *testing.T, h http.HandlerFunc) *receiver {
	t.Helper()
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.hits.Add(1)
		h(w, req)
	}))
	t.Cleanup(r.Close)
	return r
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err == nil {
		t.Cleanup(func() { resp.Body.Close() })
	}
	return resp, err
}

func TestClientLoopback(t *testing.T) {
	srv := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	loopback := prefixes(t, "127.0.0.0/8")
	tests := []struct {
		name    string
		guard   *Guard
		url     string
		want    error
		wantHit bool
	}{
		{"blocked without allow-list", New(nil, false), srv.URL, ErrBlocked, false},
		// A name that resolves to loopback passes CheckURL but is caught when dialled.
		{"name resolving to loopback", New(nil, false), strings.Replace(srv.URL, "127.0.0.1", "localhost", 1), ErrBlocked, false},
		{"allow-listed", New(loopback, false), srv.URL, nil, true},
		{"https-only refuses http at send time", New(loopback, true), srv.URL, ErrBlocked, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := srv.hits.Load()
			resp, err := get(t, tt.guard.Client(5*time.Second), tt.url)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("GET %s = %v, want %v", tt.url, err, tt.want)
			}
			if hit := srv.hits.Load() > before; hit != tt.wantHit {
				t.Errorf("server reached = %v, want %v", hit, tt.wantHit)
			}
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != http.StatusOK || string(body) != "ok" {
					t.Errorf("response = %d %q, want 200 \"ok\"", resp.StatusCode, body)
				}
			}
		})
	}
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	var finalHits atomic.Int64
	srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/final" {
			finalHits.Add(1)
			return
		}
		http.Redirect(w, r, "/final", http.StatusFound)
	})
	c := New(prefixes(t, "127.0.0.0/8"), false).Client(5 * time.Second)
	resp, err := get(t, c, srv.URL+"/redirect")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/final" {
		t.Errorf("got %d to %q, want the 302 itself", resp.StatusCode, resp.Header.Get("Location"))
	}
	if n := finalHits.Load(); n != 0 {
		t.Errorf("redirect target reached %d times, want 0", n)
	}
}

// TestClientLiteralForms: IP shorthands Go's resolver cannot read are blocked at
// once, or, when their range is allowed, dialled in canonical form.
func TestClientLiteralForms(t *testing.T) {
	srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	forms := []string{"2130706433", "0x7f.1", "0177.0.0.1", "127.1", "[::ffff:127.0.0.1]"}
	closed := New(nil, false).Client(2 * time.Second)
	open := New(prefixes(t, "127.0.0.0/8"), false).Client(2 * time.Second)
	for _, f := range forms {
		url := "http://" + f + ":" + port + "/"
		if _, err := get(t, closed, url); !errors.Is(err, ErrBlocked) {
			t.Errorf("%s without allow-list: %v, want blocked", f, err)
		}
		if _, err := get(t, open, url); err != nil {
			t.Errorf("%s with loopback allowed: %v", f, err)
		}
	}
	if hits := srv.hits.Load(); hits != int64(len(forms)) {
		t.Errorf("receiver got %d requests, want %d (only the allowed ones)", hits, len(forms))
	}
}

func TestClientIgnoresEnvironmentProxy(t *testing.T) {
	// http.ProxyFromEnvironment reads the environment once per process, so setting
	// HTTP_PROXY in a test proves nothing; look at the transport instead. A proxy
	// would connect on the client's behalf, out of the guard's sight.
	for _, httpsOnly := range []bool{false, true} {
		rt := New(nil, httpsOnly).Client(time.Second).Transport
		if h, ok := rt.(httpsOnlyTransport); ok {
			rt = h.next
		}
		if l, ok := rt.(literalTransport); ok {
			rt = l.next
		}
		if r, ok := rt.(redirectTransport); ok {
			rt = r.next
		}
		tr, ok := rt.(*http.Transport)
		if !ok {
			t.Fatalf("httpsOnly=%v: transport is %T, want *http.Transport", httpsOnly, rt)
		}
		if tr.Proxy != nil {
			t.Errorf("httpsOnly=%v: transport has a Proxy func, want none", httpsOnly)
		}
	}
}

func TestClientTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := newReceiver(t, func(http.ResponseWriter, *http.Request) { <-release })
	defer close(release) // before srv.Close, which waits for the handler
	c := New(prefixes(t, "127.0.0.0/8"), false).Client(200 * time.Millisecond)
	start := time.Now()
	_, err := get(t, c, srv.URL)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("GET a stalled server = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("timed out after %s, want about 200ms", d)
	}
}

func TestDialContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	tests := []struct {
		name    string
		guard   *Guard
		network string
		addr    string
		want    error
	}{
		{"blocked", New(nil, false), "tcp", ln.Addr().String(), ErrBlocked},
		{"allowed", New(prefixes(t, "127.0.0.0/8"), false), "tcp", ln.Addr().String(), nil},
		{"allowed by name", New(prefixes(t, "127.0.0.0/8"), false), "tcp4", strings.Replace(ln.Addr().String(), "127.0.0.1", "localhost", 1), nil},
		{"unix socket", New(prefixes(t, "0.0.0.0/0", "::/0"), false), "unix", "/tmp/netguard-test.sock", ErrBlocked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := tt.guard.DialContext(ctx, tt.network, tt.addr)
			if err == nil {
				c.Close()
			}
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("DialContext(%s) = %v, want %v", tt.addr, err, tt.want)
			}
		})
	}
}

// TestRedirectToBlockedAddress: a receiver that answers with a redirect into the
// network (a literal, or a name that resolves inside) fails as blocked; a redirect
// to a public address comes back as the 3xx itself.
func TestRedirectToBlockedAddress(t *testing.T) {
	for _, tt := range []struct {
		location string
		blocked  bool
	}{
		{"http://169.254.169.254/latest/meta-data/", true},
		{"http://[fd00:ec2::254]/", true},
		{"http://2852039166/", true}, // 169.254.169.254 as one number
		{"http://127.0.0.2:8080/admin", true},
		{"https://93.184.215.14/moved", false},
		{"/relative", false},
	} {
		t.Run(tt.location, func(t *testing.T) {
			srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, tt.location, http.StatusTemporaryRedirect)
			})
			c := New(prefixes(t, "127.0.0.1/32"), false).Client(5 * time.Second)
			resp, err := get(t, c, srv.URL+"/hook")
			if tt.blocked {
				if !errors.Is(err, ErrBlocked) {
					t.Errorf("got %v, %v; want ErrBlocked", resp, err)
				}
				return
			}
			if err != nil || resp.StatusCode != http.StatusTemporaryRedirect {
				t.Errorf("got %v, %v; want the 307 itself", resp, err)
			}
		})
	}
}
