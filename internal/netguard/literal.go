package netguard

import (
	"net/netip"
	"strconv"
	"strings"
)

// parseLiteralHost reads a URL host (without brackets) that is an IP address in
// any form that something downstream may accept: IPv6, dotted IPv4, and the
// inet_aton shorthands that C resolvers and browsers (the WHATWG URL standard)
// still honour, such as 2130706433, 0x7f.1, 0177.0.0.1 and 127.1, optionally
// with a trailing dot or written in full-width characters that IDNA maps to
// ASCII. Anything else is a name, and ok is false.
func parseLiteralHost(host string) (addr netip.Addr, ok bool) {
	host = foldHost(host)
	if strings.Contains(host, ":") {
		a, err := netip.ParseAddr(host)
		return a, err == nil
	}
	parts := strings.Split(host, ".")
	if len(parts) > 1 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1] // "127.0.0.1." is the same host
	}
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var v uint64
	for i, p := range parts {
		n, ok := parseIPv4Number(p)
		if !ok {
			return netip.Addr{}, false
		}
		if i < len(parts)-1 {
			if n > 0xff {
				return netip.Addr{}, false
			}
			v |= n << (8 * (3 - i))
			continue
		}
		// The last part fills every byte not yet given: in "127.1" it is the
		// last three bytes, in "2130706433" all four.
		if n >= 1<<(8*(5-len(parts))) {
			return netip.Addr{}, false
		}
		v |= n
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// parseIPv4Number reads one part of an IPv4 address the inet_aton way: 0x for
// hexadecimal ("0x" alone is 0), a leading 0 for octal, decimal otherwise.
func parseIPv4Number(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	base := 10
	switch {
	case strings.HasPrefix(s, "0x"):
		s, base = s[2:], 16
		if s == "" {
			return 0, true
		}
	case len(s) > 1 && s[0] == '0':
		s, base = s[1:], 8
	}
	// ParseUint accepts a sign and underscores only with base 0; with an explicit
	// base it takes digits alone, as inet_aton does.
	n, err := strconv.ParseUint(s, base, 64)
	return n, err == nil && n <= 0xffffffff
}

// foldHost maps full-width forms and ideographic full stops to ASCII and lower
// cases the result, as IDNA processing does before a name is resolved, so that
// "１２７.０.０.１" is recognised as the loopback address it becomes.
func foldHost(host string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\u3002' || r == '\uff0e' || r == '\uff61':
			return '.'
		case r >= '\uff01' && r <= '\uff5e':
			r -= 0xfee0
		}
		if r >= 'A' && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r
	}, host)
}
