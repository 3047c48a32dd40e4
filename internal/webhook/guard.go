package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/clientaddr"
)

// Guard decides which addresses webhook deliveries may connect to. By
// default only public unicast addresses: loopback, private (RFC 1918, ULA),
// link-local (including cloud metadata at 169.254.169.254), carrier-grade
// NAT, multicast, unspecified and reserved ranges are refused, unless the
// operator allows a network explicitly.
//
// The check runs on the address actually dialled, after DNS resolution, so
// a public name that resolves to a private address is refused too (no DNS
// rebinding); redirects are not followed and no proxy is used.
type Guard struct {
	allow []netip.Prefix
}

// blocked are the ranges refused unless allowed.
var blocked = mustPrefixes(
	"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
	"192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
	"203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
	"::/128", "::1/128", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "2002::/16",
	"fc00::/7", "fe80::/10", "ff00::/8",
)

func mustPrefixes(list ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(list))
	for i, s := range list {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// NewGuard returns a guard that also allows the given networks (CIDRs such
// as "127.0.0.0/8" or "10.1.2.0/24", or single addresses).
func NewGuard(allow []string) (*Guard, error) {
	g := &Guard{}
	for _, s := range allow {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, ok := clientaddr.Network(s)
		if !ok {
			return nil, fmt.Errorf("webhook allowed network %q: want a CIDR such as 10.0.0.0/8 or an address", s)
		}
		g.allow = append(g.allow, p.Masked())
	}
	return g, nil
}

// Allowed reports whether deliveries may connect to ip.
func (g *Guard) Allowed(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range g.allow {
		if p.Contains(ip) {
			return true
		}
	}
	for _, p := range blocked {
		if p.Contains(ip) {
			return false
		}
	}
	return ip.IsValid()
}

// ErrBlocked is wrapped by the error of a delivery the guard refused.
var ErrBlocked = errors.New("refused by the webhook network guard")

func (g *Guard) refusal(ip netip.Addr) error {
	return fmt.Errorf("%w: %s is a private, loopback, link-local or reserved address (an operator may allow it with --webhook-allow-networks)", ErrBlocked, ip)
}

// CheckHost refuses, at registration, a URL host that is a refused address
// or localhost. Other names are checked when deliveries resolve them.
func (g *Guard) CheckHost(host string) error {
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		if !g.Allowed(ip) {
			return g.refusal(ip)
		}
		return nil
	}
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		if !g.Allowed(netip.MustParseAddr("127.0.0.1")) {
			return g.refusal(netip.MustParseAddr("127.0.0.1"))
		}
	}
	return nil
}

// control runs on every connection attempt, with the resolved address.
func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrBlocked, address)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrBlocked, address)
	}
	if !g.Allowed(ip) {
		return g.refusal(ip)
	}
	return nil
}

type httpDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// Client returns the HTTP client deliveries use: every connection goes
// through the guard, no proxy, no redirects, timeout per attempt.
func (g *Guard) Client(timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: g.control}
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, addr)
		},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{Transport: tr, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
