// Package netguard makes outbound HTTP safe to aim at URLs that customers type in
// (server-side request forgery protection).
//
// The decisive check happens at dial time, on the address actually being
// connected to after DNS resolution, for every connection: a name that resolves
// to 127.0.0.1, a DNS answer that changes between a check and its use (DNS
// rebinding) or a redirect cannot reach inside the network. CheckURL, used when an
// endpoint is saved, only catches literal addresses early so users get a clear
// 400 instead of failed deliveries.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Errors of the guard; match them with errors.Is.
var (
	// ErrBlocked means the destination is not allowed: a blocked address, or plain
	// http when the guard is https-only.
	ErrBlocked = errors.New("destination blocked")
	// ErrInvalidURL means an endpoint URL is malformed or not allowed in form.
	ErrInvalidURL = errors.New("invalid URL")
)

// rangeRule is one blocked range and why it is blocked, for the error message.
type rangeRule struct {
	prefix netip.Prefix
	why    string
}

// blockedRanges lists what no webhook may reach unless allowed explicitly: every
// special-purpose range that is not the public internet (IANA's IPv4 and IPv6
// special-purpose registries). The first match names the reason, so narrower
// ranges come before the ranges that contain them.
func blockedRanges() []rangeRule {
	list := []struct{ cidr, why string }{
		{"0.0.0.0/8", "unspecified, this network"},
		{"10.0.0.0/8", "private, RFC 1918"},
		{"100.64.0.0/10", "carrier-grade NAT, RFC 6598"},
		{"127.0.0.0/8", "loopback"},
		{"169.254.0.0/16", "link-local, incl. cloud metadata"},
		{"172.16.0.0/12", "private, RFC 1918"},
		{"192.0.0.0/24", "IETF protocol assignments"},
		{"192.0.2.0/24", "documentation, TEST-NET-1"},
		{"192.88.99.0/24", "6to4 relay anycast"},
		{"192.168.0.0/16", "private, RFC 1918"},
		{"198.18.0.0/15", "benchmarking"},
		{"198.51.100.0/24", "documentation, TEST-NET-2"},
		{"203.0.113.0/24", "documentation, TEST-NET-3"},
		{"224.0.0.0/4", "multicast"},
		{"255.255.255.255/32", "broadcast"},
		{"240.0.0.0/4", "reserved"},
		{"::/128", "unspecified"},
		{"::1/128", "loopback"},
		{"::/96", "IPv4-compatible, deprecated"},
		{"64:ff9b:1::/48", "local-use NAT64, RFC 8215"},
		{"100::/64", "discard-only"},
		{"2001:2::/48", "benchmarking"},
		{"2001:10::/28", "ORCHID, deprecated"},
		{"2001:db8::/32", "documentation"},
		{"3fff::/20", "documentation"},
		{"fc00::/7", "unique local, incl. cloud metadata"},
		{"fe80::/10", "link-local"},
		{"fec0::/10", "site-local, deprecated"},
		{"ff00::/8", "multicast"},
	}
	out := make([]rangeRule, len(list))
	for i, r := range list {
		out[i] = rangeRule{netip.MustParsePrefix(r.cidr), r.why}
	}
	return out
}

// in reports whether a is in cidr. Parsing on each call keeps the special
// ranges as constants next to their use; dials are far slower than this.
func in(a netip.Addr, cidr string) bool {
	return netip.MustParsePrefix(cidr).Contains(a)
}

// Guard decides which addresses outbound requests may reach. It is immutable and
// safe for concurrent use.
type Guard struct {
	allowed   []netip.Prefix
	blocked   []rangeRule
	httpsOnly bool
	dialer    net.Dialer
}

// New returns a guard that opens the allowed prefixes despite the block list
// (e.g. 127.0.0.0/8 for local development) and, with httpsOnly, refuses plain
// HTTP. IPv4-mapped prefixes such as ::ffff:10.0.0.0/104 are stored as their
// IPv4 form so they match however the address is written.
func New(allowed []netip.Prefix, httpsOnly bool) *Guard {
	g := &Guard{
		blocked:   blockedRanges(),
		httpsOnly: httpsOnly,
	}
	for _, p := range allowed {
		if !p.IsValid() {
			continue
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		g.allowed = append(g.allowed, p.Masked())
	}
	g.dialer = net.Dialer{
		Timeout:   10 * time.Second,
		KeepAlive: 30 * time.Second,
		Control:   g.control,
	}
	return g
}

// Allowed returns a copy of the prefixes the guard opens.
func (g *Guard) Allowed() []netip.Prefix { return slices.Clone(g.allowed) }

// HTTPSOnly reports whether the guard refuses plain http.
func (g *Guard) HTTPSOnly() bool { return g.httpsOnly }

// ParseCIDRs reads a comma-separated list of CIDRs or bare IPs, as found in an
// environment variable ("127.0.0.0/8, ::1"). Bare IPs become /32 or /128; an
// empty string gives nil.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for part := range strings.SplitSeq(s, ",") {
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
		if a.Zone() != "" {
			return nil, fmt.Errorf("%q: zones are not allowed", part)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// embeddedIPv4 returns the IPv4 address an IPv6 one carries by a transition
// mechanism. Each of these reaches, or can be made to reach, the IPv4 host, so
// without this a blocked IPv4 address could be smuggled past the list.
func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	if a.Is4In6() { // ::ffff:a.b.c.d
		return a.Unmap(), true
	}
	if !a.Is6() {
		return netip.Addr{}, false
	}
	b := a.As16()
	last32 := netip.AddrFrom4([4]byte(b[12:16]))
	switch {
	case in(a, "64:ff9b::/96"), in(a, "64:ff9b:1::/48"):
		// RFC 6052: with a /96 prefix the IPv4 address is the last 32 bits, the
		// layout used in practice.
		return last32, true
	case in(a, "2002::/16"): // 2002:AABB:CCDD::/48
		return netip.AddrFrom4([4]byte(b[2:6])), true
	case in(a, "2001::/32"): // the client's address, with every bit inverted
		x := last32.As4()
		return netip.AddrFrom4([4]byte{^x[0], ^x[1], ^x[2], ^x[3]}), true
	case in(a, "::/96"): // ::a.b.c.d, deprecated but still parsed
		return last32, true
	}
	return netip.Addr{}, false
}

func (g *Guard) isAllowed(a netip.Addr) bool {
	for _, p := range g.allowed {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// blockedBy says why a is blocked, e.g. "in 10.0.0.0/8 (private, RFC 1918)".
func (g *Guard) blockedBy(a netip.Addr) (string, bool) {
	for _, r := range g.blocked {
		if r.prefix.Contains(a) {
			return fmt.Sprintf("in %s (%s)", r.prefix, r.why), true
		}
	}
	// Only 2000::/3 is allocated for the public internet; the rest of IPv6 is
	// reserved, local, multicast or a wrapper judged by the IPv4 address inside.
	if a.Is6() && !a.Is4In6() && !in(a, "64:ff9b::/96") && !in(a, "2000::/3") {
		return "not in 2000::/3 (IPv6 global unicast)", true
	}
	return "", false
}

// CheckAddr returns an error wrapping ErrBlocked unless ip may be dialled: it is
// not in a blocked range, nor is the IPv4 address it embeds (IPv4-mapped, NAT64,
// 6to4, Teredo, IPv4-compatible), or an allowed prefix contains either form.
func (g *Guard) CheckAddr(ip netip.Addr) error {
	if !ip.IsValid() {
		return fmt.Errorf("%w: invalid address", ErrBlocked)
	}
	// Prefixes never contain zoned addresses; the zone only picks the interface.
	ip = ip.WithZone("")
	v4, embeds := embeddedIPv4(ip)
	if g.isAllowed(ip) || (embeds && g.isAllowed(v4)) {
		return nil
	}
	if why, ok := g.blockedBy(ip); ok {
		return fmt.Errorf("%w: %s is %s", ErrBlocked, ip, why)
	}
	if embeds {
		if why, ok := g.blockedBy(v4); ok {
			return fmt.Errorf("%w: %s embeds %s, which is %s", ErrBlocked, ip, v4, why)
		}
	}
	return nil
}

// CheckURL validates an endpoint URL when it is saved: it parses, the scheme is
// http or https (only https when the guard is https-only), it has a host and no
// credentials (ErrInvalidURL), and a host that is a literal IP address in any
// form a resolver or browser accepts is not blocked (ErrBlocked). Host names are
// not resolved here: DNS can change later, so they are checked when dialled.
func (g *Guard) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the whole URL, which may hold credentials.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%w: %v", ErrInvalidURL, err)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if g.httpsOnly {
			return fmt.Errorf("%w: only https:// URLs are accepted", ErrInvalidURL)
		}
	case "":
		return fmt.Errorf("%w: scheme is missing; start with https://", ErrInvalidURL)
	default:
		return fmt.Errorf("%w: scheme must be http or https, not %q", ErrInvalidURL, u.Scheme)
	}
	if u.User != nil {
		return fmt.Errorf("%w: credentials in the URL are not allowed", ErrInvalidURL)
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
		if err := g.CheckAddr(a); err != nil {
			if host != a.String() {
				return fmt.Errorf("host %q: %w", host, err)
			}
			return err
		}
	}
	return nil
}

// control runs after DNS resolution, just before connect(2), for every address
// the dialler tries, so it sees exactly what the socket will reach.
func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		// Not an IP socket (e.g. a unix path): nothing a webhook should reach.
		return fmt.Errorf("%w: cannot parse dialled address %q", ErrBlocked, address)
	}
	return g.CheckAddr(ap.Addr())
}

// WithResolver returns a copy of g that resolves names with r (nil: the system's
// resolver). The check still happens on the addresses r returns, at dial time.
func (g *Guard) WithResolver(r *net.Resolver) *Guard {
	cp := *g
	cp.dialer.Resolver = r
	cp.dialer.Control = cp.control
	return &cp
}

// DNSResolver returns a resolver that asks the DNS server at addr (host:port) for
// every name, instead of the system's resolver (HOOKFLOW_DNS_SERVER).
func DNSResolver(addr string) *net.Resolver {
	var d net.Dialer
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}
}

func (g *Guard) resolver() *net.Resolver {
	if g.dialer.Resolver != nil {
		return g.dialer.Resolver
	}
	return net.DefaultResolver
}

// DialContext dials like net.Dialer.DialContext but refuses blocked addresses
// (errors wrap ErrBlocked). When a name resolves to several addresses, blocked
// ones are skipped and the others tried.
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return g.dialer.DialContext(ctx, network, addr)
}

// httpsOnlyTransport refuses plain http for every request, including ones built
// from URLs saved before https-only was turned on.
// literalTransport handles hosts written as IP literals in the shorthand forms Go's
// resolver does not understand (2130706433, 0x7f.1, 127.1): it checks them like
// any address and dials their canonical form. Without it such a URL would fail as
// an unknown host and be retried, instead of being blocked at once (or, when the
// range is allowed, delivered).
type literalTransport struct {
	g    *Guard
	next http.RoundTripper
}

func (t literalTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	host := r.URL.Hostname()
	addr, ok := parseLiteralHost(host)
	if !ok {
		return t.next.RoundTrip(r)
	}
	if err := t.g.CheckAddr(addr); err != nil {
		return nil, err
	}
	if canonical := addr.Unmap().String(); canonical != host {
		r = r.Clone(r.Context())
		if port := r.URL.Port(); port != "" {
			r.URL.Host = net.JoinHostPort(canonical, port)
		} else if addr.Is6() && !addr.Is4In6() {
			r.URL.Host = "[" + canonical + "]"
		} else {
			r.URL.Host = canonical
		}
	}
	return t.next.RoundTrip(r)
}

// redirectTransport inspects redirects, which the client never follows: a 3xx whose
// Location points at a blocked address (a literal, or a name that resolves to one)
// is an attempt to reach inside through the receiver, and fails as blocked — final,
// like a blocked dial — instead of coming back as an ordinary failure to retry.
type redirectTransport struct {
	g    *Guard
	next http.RoundTripper
}

func (t redirectTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil || resp.StatusCode < 300 || resp.StatusCode > 399 {
		return resp, err
	}
	loc, lerr := resp.Location()
	if lerr != nil {
		return resp, nil
	}
	if berr := t.g.checkTarget(r.Context(), loc); berr != nil {
		resp.Body.Close()
		return nil, fmt.Errorf("redirect (HTTP %d) to %s: %w", resp.StatusCode, loc.Redacted(), berr)
	}
	return resp, nil
}

// checkTarget reports whether u's host is, or resolves only to, blocked addresses.
// A name that does not resolve is not blocked: it just cannot be reached.
func (g *Guard) checkTarget(ctx context.Context, u *url.URL) error {
	host := u.Hostname()
	if a, ok := parseLiteralHost(host); ok {
		return g.CheckAddr(a)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := g.resolver().LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if err := g.CheckAddr(a); err != nil {
			return fmt.Errorf("%s resolves to a blocked address: %w", host, err)
		}
	}
	return nil
}

type httpsOnlyTransport struct{ next http.RoundTripper }

func (t httpsOnlyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.EqualFold(r.URL.Scheme, "https") {
		// A RoundTripper must close the body, even when it fails.
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, fmt.Errorf("%w: plain %s to %s is refused (https only)", ErrBlocked, r.URL.Scheme, r.URL.Host)
	}
	return t.next.RoundTrip(r)
}

// Client returns an HTTP client for deliveries, with timeout for the whole
// exchange. It dials through the guard; ignores proxies from the environment
// (a proxy would dial on our behalf, out of the guard's sight); does not follow
// redirects (a 3xx is returned as the response, since following it could lead
// anywhere, and a redirect aimed at a blocked address fails as blocked); and, when the guard is https-only, refuses plain http.
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
	var rt http.RoundTripper = literalTransport{g: g, next: redirectTransport{g: g, next: tr}}
	if g.httpsOnly {
		rt = httpsOnlyTransport{rt}
	}
	return &http.Client{
		Transport:     rt,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
