package pdp

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
)

// upstreams is the servers a PDP may follow (--api-url, comma-separated):
// every call goes to the current one; a call that cannot reach it, or that
// it answers 502, 503 or 504, moves the PDP on to the next, which the
// following call (the change stream's reconnection, the next upload) uses.
type upstreams struct {
	urls []*url.URL
	cur  atomic.Int32
	next http.RoundTripper
}

// parseUpstreams reads a comma-separated list of server URLs.
func parseUpstreams(list string) ([]*url.URL, error) {
	var out []*url.URL
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimRight(strings.TrimSpace(s), "/")
		if s == "" {
			continue
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("pdp: --api-url %q is not a URL like http://127.0.0.1:8080", s)
		}
		out = append(out, u)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("pdp: --api-url is required (the Gatehouse server, e.g. http://127.0.0.1:8080; several, comma-separated, to fail over)")
	}
	return out, nil
}

// current is the server calls go to now.
func (u *upstreams) current() *url.URL { return u.urls[u.cur.Load()] }

// RoundTrip sends r, built against the first server, to the current one.
func (u *upstreams) RoundTrip(r *http.Request) (*http.Response, error) {
	i := u.cur.Load()
	base, first := u.urls[i], u.urls[0]
	out := r
	if i != 0 {
		out = r.Clone(r.Context())
		out.URL.Scheme, out.URL.Host, out.Host = base.Scheme, base.Host, ""
		out.URL.Path = base.Path + strings.TrimPrefix(r.URL.Path, first.Path)
		out.URL.RawPath = ""
	}
	res, err := u.next.RoundTrip(out)
	if r.Context().Err() != nil {
		return res, err // the caller went away: says nothing of the server
	}
	if err != nil || res.StatusCode == http.StatusBadGateway || res.StatusCode == http.StatusServiceUnavailable || res.StatusCode == http.StatusGatewayTimeout {
		if len(u.urls) > 1 {
			u.cur.CompareAndSwap(i, (i+1)%int32(len(u.urls)))
		}
	}
	return res, err
}
