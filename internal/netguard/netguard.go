// Package netguard makes outbound HTTP safe to aim at URLs that customers type in.
// The check happens at dial time, on the address actually being connected to after
// DNS resolution, on every connection: a name that resolves to 127.0.0.1, a DNS
// answer that changes between check and use (rebinding) or a redirect cannot reach
// inside the network. Save-time checks only catch the obvious literal addresses.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Errors of the guard.
var (
	// ErrBlocked means the destination address is not allowed.
	ErrBlocked = errors.New("destination blocked")
	// ErrInvalidURL means an endpoint URL is malformed or not allowed in form.
	ErrInvalidURL = errors.New("invalid URL")
)

type blockedRange struct {
	prefix netip.Prefix
	why    string
}

// blocked lists the ranges no webhook may reach unless allowed explicitly.
var blocked = func() []blockedRange {
	var out []blockedRange
	for _, r := range []struct{ cidr, why string }{
		{"0.0.0.0/8", "unspecified/this network"},
		{"10.0.0.0/8", "private (RFC 1918)"},
		{"100.64.0.0/10", "carrier-grade NAT"},
		{"127.0.0.0/8", "loopback"},
		{"169.254.0.0/16", "link-local (cloud metadata)"},
		{"172.16.0.0/12", "private (RFC 1918)"},
		{"192.0.0.0/24", "IETF protocol assignments"},
		{"192.0.2.0/24", "documentation"},
		{"192.88.99.0/24", "6to4 relay anycast"},
		{"192.168.0.0/16", "private (RFC 1918)"},
		{"198.18.0.0/15", "benchmarking"},
		{"198.51.100.0/24", "documentation"},
		{"203.0.113.0/24", "documentation"},
		{"224.0.0.0/4", "multicast"},
		{"240.0.0.0/4", "reserved"},
		{"255.255.255.255/32", "broadcast"},
		{"::/128", "unspecified"},
		{"::1/128", "loopback"},
		{"100::/64", "discard-only"},
		{"2001:db8::/32", "documentation"},
		{"fc00::/7", "unique local (incl. fd00:ec2::254 metadata)"},
		{"fe80::/10", "link-local"},
		{"fec0::/10", "site-local"},
		{"ff00::/8", "multicast"},
	} {
		out = append(out, blockedRange{netip.MustParsePrefix(r.cidr), r.why})
	}
	return out
}()

// Guard decides which addresses outbound requests may reach.
type Guard struct {
	allowed   []netip.Prefix
	httpsOnly bool
}

// New returns a guard that opens the allowed prefixes despite the block list and,
// with httpsOnly, refuses plain HTTP.
func New(allowed []netip.Prefix, httpsOnly bool) *Guard {
	return &Guard{allowed: allowed, httpsOnly: httpsOnly}
}

// Allowed returns the prefixes the guard opens.
func (g *Guard) Allowed() []netip.Prefix { return g.allowed }

// ParseCIDRs reads a comma-separated list of CIDRs or bare IPs ("127.0.0.0/8,::1").
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if strings.Contains(part, "/") {
			p, err := netip.ParsePrefix(part)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR: %w", part, err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP or CIDR: %w", part, err)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// embeddedIPv4 returns the IPv4 address carried inside an IPv6 one by the usual
// transition mechanisms, which would otherwise smuggle a blocked IPv4 past the list.
func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	if !a.Is6() || a.Is4In6() {
		if a.Is4In6() {
			return a.Unmap(), true
		}
		return netip.Addr{}, false
	}
	b := a.As16()
	v4 := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{b[i], b[i+1], b[i+2], b[i+3]}) }
	switch {
	case b[0] == 0x20 && b[1] == 0x02: // 6to4 2002:AABB:CCDD::/16
		return v4(2), true
	case b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b: // NAT64 64:ff9b::/96 and 64:ff9b:1::/48
		return v4(12), true
	case b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0: // Teredo 2001::/32: client address inverted
		x := v4(12).As4()
		return netip.AddrFrom4([4]byte{^x[0], ^x[1], ^x[2], ^x[3]}), true
	case isZero(b[:12]): // IPv4-compatible ::a.b.c.d (deprecated but parsed)
		return v4(12), true
	}
	return netip.Addr{}, false
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

func (g *Guard) isAllowed(a netip.Addr) bool {
	for _, p := range g.allowed {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// CheckAddr reports whether ip may be dialled: not in a blocked range, in any of its
// forms, unless an allowed prefix opens it.
func (g *Guard) CheckAddr(ip netip.Addr) error {
	ip = ip.WithZone("")
	forms := []netip.Addr{ip}
	if v4, ok := embeddedIPv4(ip); ok {
		forms = append(forms, v4)
	}
	for _, a := range forms {
		if g.isAllowed(a) {
			return nil
		}
	}
	for _, a := range forms {
		for _, r := range blocked {
			if r.prefix.Contains(a) {
				return fmt.Errorf("%w: %s is %s (%s)", ErrBlocked, ip, r.why, r.prefix)
			}
		}
	}
	return nil
}

// parseLiteralHost reads a host that is an IP address in any form a resolver or
// browser accepts: dotted, bracketed IPv6, or the old numeric shorthands such as
// 2130706433, 0x7f.1, 0177.0.0.1 and 127.1.
func parseLiteralHost(host string) (netip.Addr, bool) {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if a, err := netip.ParseAddr(host); err == nil {
		return a, true
	}
	parts := strings.Split(host, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	nums := make([]uint64, len(parts))
	for i, p := range parts {
		n, err := parseInetNumber(p)
		if err != nil {
			return netip.Addr{}, false
		}
		nums[i] = n
	}
	// inet_aton: the last part fills the remaining bytes.
	var v uint64
	switch len(nums) {
	case 1:
		v = nums[0]
	case 2:
		v = nums[0]<<24 | nums[1]
	case 3:
		v = nums[0]<<24 | nums[1]<<16 | nums[2]
	case 4:
		v = nums[0]<<24 | nums[1]<<16 | nums[2]<<8 | nums[3]
	}
	if v > 0xffffffff {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

func parseInetNumber(s string) (uint64, error) {
	switch {
	case s == "":
		return 0, errors.New("empty")
	case strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X"):
		return strconv.ParseUint(s[2:], 16, 32)
	case len(s) > 1 && s[0] == '0':
		return strconv.ParseUint(s[1:], 8, 32)
	}
	return strconv.ParseUint(s, 10, 32)
}

// CheckURL validates an endpoint URL when it is saved: http(s) (https only when so
// configured), a host, no credentials, and no literal blocked address in any form.
// Names are not resolved here; the dialler checks them on every connection.
func (g *Guard) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidURL, err)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if g.httpsOnly {
			return fmt.Errorf("%w: only https:// URLs are accepted", ErrInvalidURL)
		}
	default:
		return fmt.Errorf("%w: scheme must be http or https, not %q", ErrInvalidURL, u.Scheme)
	}
	if u.User != nil {
		return fmt.Errorf("%w: credentials in the URL are not allowed; use a header or the signature", ErrInvalidURL)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("%w: host is missing", ErrInvalidURL)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%w: port %q is out of range", ErrInvalidURL, port)
		}
	}
	if a, ok := parseLiteralHost(host); ok {
		return g.CheckAddr(a)
	}
	return nil
}

// control runs after DNS resolution, just before connect, for every address tried.
func (g *Guard) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse dialled address %q", ErrBlocked, address)
	}
	return g.CheckAddr(ap.Addr())
}

// DialContext dials like net.Dialer but refuses blocked addresses.
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: g.control}
	return d.DialContext(ctx, network, addr)
}

type httpsOnlyTransport struct{ next http.RoundTripper }

func (t httpsOnlyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "https" {
		return nil, fmt.Errorf("%w: plain http is disabled (HOOKFLOW_HTTPS_ONLY)", ErrBlocked)
	}
	return t.next.RoundTrip(r)
}

// Client returns an HTTP client for deliveries: guarded dialling, no proxy from the
// environment (it would bypass the guard), no redirects followed (a 3xx is an
// answer, and following it could lead anywhere), and timeout for the whole exchange.
func (g *Guard) Client(timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            g.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           256,
		MaxIdleConnsPerHost:    16,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  timeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	var rt http.RoundTripper = tr
	if g.httpsOnly {
		rt = httpsOnlyTransport{tr}
	}
	return &http.Client{
		Transport:     rt,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
