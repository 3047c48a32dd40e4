// Package clientaddr finds a request's client address behind trusted
// proxies (--trusted-proxies). Behind a proxy or load balancer the
// connection's peer is the proxy: every caller would share its anonymous
// and sign-in rate limit buckets, and the API log and the audit trail
// would name the proxy. A proxy in a trusted network names the address it
// took the request from in X-Forwarded-For; that header is believed only
// from such a peer, and only as far as it is a chain of trusted proxies,
// read from the right (the entries on the left are whatever the client
// sent).
package clientaddr

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Trusted is a set of networks whose peers' X-Forwarded-For is believed.
// The zero value, or nil, trusts none.
type Trusted struct {
	nets []netip.Prefix
}

// Parse reads networks as CIDRs (10.0.0.0/8, fd00::/8) or single
// addresses (127.0.0.1); blanks are ignored. It returns nil when there are
// none.
func Parse(list []string) (*Trusted, error) {
	var t Trusted
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, ok := Network(s)
		if !ok {
			return nil, fmt.Errorf("%q: want a CIDR such as 10.1.2.0/24 or an address such as 127.0.0.1", s)
		}
		if p != p.Masked() {
			return nil, fmt.Errorf("%q: an address with a network size; write the address alone (%s) for that one proxy, or the network (%s)", s, p.Addr(), p.Masked())
		}
		p = unmapPrefix(p)
		if p.Bits() == 0 {
			return nil, fmt.Errorf("%q: every address; name the proxies' own addresses or networks (any caller could then say it is anyone)", s)
		}
		t.nets = append(t.nets, p)
	}
	if len(t.nets) == 0 {
		return nil, nil
	}
	return &t, nil
}

// Network reads a network written as a CIDR (10.1.2.0/24, fd00::/8) or
// a single address (127.0.0.1, ::1: a network of that one address), as
// written: host bits are kept (the caller masks them or refuses them).
func Network(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p, true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, a.BitLen()), true
}

// unmapPrefix turns an IPv4-mapped IPv6 network (::ffff:10.0.0.0/104)
// into its IPv4 form, as addresses are compared unmapped.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p
}

// Contains says whether a (unmapped) is in a trusted network.
func (t *Trusted) Contains(a netip.Addr) bool {
	if t == nil || !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, p := range t.nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// maxHops bounds the entries of X-Forwarded-For read: no chain of proxies
// is longer, and a huge header costs no more than this.
const maxHops = 32

// Client is the client address of a request from peer carrying the
// X-Forwarded-For values xff: from the right, each entry added by a
// trusted address (the peer, then each trusted entry in turn) names the
// address before it. The first address that is not trusted is the client.
// An entry that is not an address ends the walk at the trusted address
// that added it (the header is not believed past it), as does the end
// of the header.
func (t *Trusted) Client(peer netip.Addr, xff []string) netip.Addr {
	client := peer.Unmap()
	hops := 0
	for i := len(xff) - 1; i >= 0; i-- {
		v := xff[i]
		for {
			if !t.Contains(client) || hops == maxHops {
				return client
			}
			s := v
			j := strings.LastIndexByte(v, ',')
			if j >= 0 {
				s, v = v[j+1:], v[:j]
			}
			a, ok := parseEntry(strings.TrimSpace(s))
			if !ok {
				return client
			}
			client, hops = a, hops+1
			if j < 0 {
				break
			}
		}
	}
	return client
}

// parseEntry reads an X-Forwarded-For entry: an address, with or without
// a port ("203.0.113.7", "203.0.113.7:4711", "2001:db8::1",
// "[2001:db8::1]:4711").
func parseEntry(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), a.Zone() == ""
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), ap.Addr().Zone() == ""
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return a.Unmap(), a.Zone() == ""
		}
	}
	return netip.Addr{}, false
}

// Bucket is the part of a client address (host, without a port) a
// per-client limit counts by: the address, or for IPv6 its /64 (a client
// commonly holds a whole /64, and could otherwise spread its calls over
// its addresses, a bucket each). Anything else is returned as it is.
func Bucket(host string) string {
	if a, err := netip.ParseAddr(host); err == nil && a.Is6() && !a.Is4In6() {
		if p, err := a.WithZone("").Prefix(64); err == nil {
			return p.String()
		}
	}
	return host
}

// Middleware sets each request's RemoteAddr to its client address
// ("address:0": the port of a forwarded client is not known) when its
// peer is trusted and sends X-Forwarded-For, before h (and everything in
// it that reads the client address: rate limits, the API log, the audit
// trail) sees it. With no trusted network it is h itself.
func (t *Trusted) Middleware(h http.Handler) http.Handler {
	if t == nil || len(t.nets) == 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil && t.Contains(ap.Addr()) {
				if c := t.Client(ap.Addr(), xff); c != ap.Addr().Unmap() {
					r.RemoteAddr = net.JoinHostPort(c.String(), "0")
				}
			}
		}
		h.ServeHTTP(w, r)
	})
}
