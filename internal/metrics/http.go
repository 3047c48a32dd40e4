// Package metrics holds Gatehouse's Prometheus metrics of HTTP requests
// and the collectors that read the server's state at scrape time. Every
// metric goes into a registry its App owns (never the global default one),
// served on the admin listener (--admin-addr), never on the public port.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// HTTP counts requests by route pattern, method and status class, and
// times them. Routes are the mux patterns ("GET /v1/users/{user}"),
// never raw paths, so the label's values are bounded.
type HTTP struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewHTTP registers the request metrics in reg.
func NewHTTP(reg prometheus.Registerer) *HTTP {
	m := &HTTP{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status class (2xx, 4xx…).",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request (until the handler returns), by route pattern and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// Unmatched is the route of an answer no noting mux gave (an idempotent
// replay); a path no route matches has the catch-all's pattern, "/".
const Unmatched = "other"

// Middleware measures every request next answers. A nil HTTP measures
// nothing.
func (m *HTTP) Middleware(next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		route := rec.route
		if route == "" {
			route = Unmatched
		}
		m.requests.WithLabelValues(route, method(r.Method), class(rec.status)).Inc()
		m.duration.WithLabelValues(route, method(r.Method)).Observe(time.Since(start).Seconds())
	})
}

// Fixed is one route's counter and timer, resolved once: measuring with it
// costs no allocation (the checks' fast path).
type Fixed struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// Fixed resolves the series of route, method and status.
func (m *HTTP) Fixed(route, meth string, status int) *Fixed {
	if m == nil {
		return nil
	}
	return &Fixed{requests: m.requests.WithLabelValues(route, method(meth), class(status)),
		duration: m.duration.WithLabelValues(route, method(meth))}
}

// Observe counts one request that took d. A nil Fixed does nothing.
func (f *Fixed) Observe(d time.Duration) {
	if f == nil {
		return
	}
	f.requests.Inc()
	f.duration.Observe(d.Seconds())
}

// NotePattern tells the measuring middleware (and the tracing one) which
// pattern mux matched: it is the route label. The innermost noting mux
// wins (the API's mux under the server's top one).
func NotePattern(mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		if r.Pattern != "" {
			NoteRoute(w, r.Pattern)
		}
	})
}

// RouteNoter is a response writer that keeps its request's route (the
// first one noted).
type RouteNoter interface{ NoteRoute(pattern string) }

// NoteRoute tells every RouteNoter among w and the writers it wraps that
// the request's route is pattern. Middleware between the noting ones and
// the mux wrap the writer; each unwraps. Only the innermost measuring
// middleware's writer is told (an API call the dashboard makes in-process
// counts under its own route and the page under the page's). It allocates
// nothing.
func NoteRoute(w http.ResponseWriter, pattern string) {
	measured := false
	for w != nil {
		switch n := w.(type) {
		case *recorder:
			if !measured {
				n.NoteRoute(pattern)
				measured = true
			}
		case RouteNoter:
			n.NoteRoute(pattern)
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return
		}
		w = u.Unwrap()
	}
}

// recorder keeps the status and the route of an answer.
type recorder struct {
	http.ResponseWriter
	status int
	route  string
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 && code >= 200 { // 1xx are interim answers
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// NoteRoute keeps the first route noted.
func (w *recorder) NoteRoute(pattern string) {
	if w.route == "" {
		w.route = pattern
	}
}

// class is a status's class: "2xx", "4xx"… (an answer with nothing
// written is 200).
func class(status int) string {
	switch {
	case status == 0:
		return "2xx"
	case status < 300:
		return "2xx"
	case status < 400:
		return "3xx"
	case status < 500:
		return "4xx"
	default:
		return "5xx"
	}
}

// method is the request's method, or "other" for one HTTP does not define
// (a client may send any token: the label must stay bounded).
func method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}
