package netguard

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestCheckAddr(t *testing.T) {
	g := New(nil, false)
	blockedAddrs := []string{
		"127.0.0.1", "127.255.255.254", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
		"169.254.169.254", "100.64.0.1", "100.127.255.255", "0.0.0.0", "0.1.2.3", "192.0.0.8",
		"192.0.2.1", "198.51.100.7", "203.0.113.9", "198.18.0.1", "198.19.255.255", "240.0.0.1",
		"255.255.255.255", "224.0.0.1", "239.255.255.250",
		"::1", "::", "fe80::1", "fc00::1", "fd00:ec2::254", "ff02::1", "2001:db8::1",
		"::ffff:127.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1",
		"64:ff9b:1::a00:1", "2002:7f00:1::", "2002:a9fe:a9fe::1", "::127.0.0.1",
		"2001:0:4136:e378:8000:63bf:80ff:fffe", // Teredo for 127.0.0.1
	}
	for _, s := range blockedAddrs {
		if err := g.CheckAddr(netip.MustParseAddr(s)); !errors.Is(err, ErrBlocked) {
			t.Errorf("%s: got %v, want blocked", s, err)
		}
	}
	for _, s := range []string{"93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "172.32.0.1", "100.128.0.1"} {
		if err := g.CheckAddr(netip.MustParseAddr(s)); err != nil {
			t.Errorf("%s: got %v, want allowed", s, err)
		}
	}
	open := New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.9.0.0/16")}, false)
	for _, s := range []string{"127.0.0.1", "::ffff:127.0.0.1", "10.9.8.7"} {
		if err := open.CheckAddr(netip.MustParseAddr(s)); err != nil {
			t.Errorf("allow-listed %s: %v", s, err)
		}
	}
	if err := open.CheckAddr(netip.MustParseAddr("10.8.0.1")); !errors.Is(err, ErrBlocked) {
		t.Errorf("10.8.0.1 outside the allow-list: %v", err)
	}
}

func TestCheckURL(t *testing.T) {
	g := New(nil, false)
	tests := []struct {
		url  string
		want error
	}{
		{"https://example.com/hook", nil},
		{"http://example.com:8080/hook?x=1", nil},
		{"ftp://example.com", ErrInvalidURL},
		{"example.com/hook", ErrInvalidURL},
		{"https://user:pass@example.com", ErrInvalidURL},
		{"https://", ErrInvalidURL},
		{"https://example.com:99999", ErrInvalidURL},
		{"::not a url", ErrInvalidURL},
		{"http://127.0.0.1/", ErrBlocked},
		{"http://2130706433/", ErrBlocked},
		{"http://0x7f.1/", ErrBlocked},
		{"http://0177.0.0.1/", ErrBlocked},
		{"http://127.1/", ErrBlocked},
		{"http://[::ffff:127.0.0.1]/", ErrBlocked},
		{"http://[64:ff9b::a9fe:a9fe]/", ErrBlocked},
		{"http://169.254.169.254/latest/meta-data", ErrBlocked},
		{"http://[fd00:ec2::254]/", ErrBlocked},
		{"http://10.0.0.1:8080/", ErrBlocked},
		{"http://localhost/", nil}, // names are checked at dial time
	}
	for _, tt := range tests {
		err := g.CheckURL(tt.url)
		if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("CheckURL(%q) = %v, want %v", tt.url, err, tt.want)
		}
	}
	if err := New(nil, true).CheckURL("http://example.com"); !errors.Is(err, ErrInvalidURL) {
		t.Errorf("https-only accepted http: %v", err)
	}
}

func TestClientDialTime(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/final", http.StatusFound)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()

	get := func(g *Guard, url string) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", url, nil)
		return g.Client(5 * time.Second).Do(req)
	}
	if _, err := get(New(nil, false), srv.URL); !errors.Is(err, ErrBlocked) {
		t.Errorf("loopback without allow-list: %v, want blocked", err)
	}
	// A name that resolves to loopback is caught when dialling.
	named := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	if _, err := get(New(nil, false), named); !errors.Is(err, ErrBlocked) {
		t.Errorf("localhost by name: %v, want blocked", err)
	}
	open := New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, false)
	resp, err := get(open, srv.URL)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("allow-listed loopback: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = get(open, srv.URL+"/redirect")
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Errorf("redirect: got %v %v, want the 302 itself", resp, err)
	} else {
		resp.Body.Close()
	}
	if _, err := get(New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, true), srv.URL); !errors.Is(err, ErrBlocked) {
		t.Errorf("https-only sent over http: %v", err)
	}
}

func TestParseCIDRs(t *testing.T) {
	got, err := ParseCIDRs(" 127.0.0.0/8, ::1 ,10.0.0.5")
	if err != nil || len(got) != 3 || got[1].String() != "::1/128" || got[2].String() != "10.0.0.5/32" {
		t.Errorf("ParseCIDRs = %v, %v", got, err)
	}
	if _, err := ParseCIDRs("nope"); err == nil {
		t.Error("bad CIDR accepted")
	}
	if got, _ := ParseCIDRs(""); got != nil {
		t.Errorf("empty = %v", got)
	}
}
