package app

import (
	"context"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/adminhttp"
	"github.com/gatehouse-dev/gatehouse/internal/dashboard"
	"github.com/gatehouse-dev/gatehouse/internal/metrics"
	"github.com/gatehouse-dev/gatehouse/internal/queue"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// registerMetrics makes the App's registry: the request metrics (returned,
// for the handlers), what is read from the services' own counters and
// queues at scrape time, and Go's runtime and the process.
func (a *App) registerMetrics() *metrics.HTTP {
	reg := prometheus.NewRegistry()
	a.Metrics = reg
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, r := range []struct {
		reason string
		get    func(dashboard.SignInAuditStats) int64
	}{
		{"queue_full", func(st dashboard.SignInAuditStats) int64 { return st.QueueFull }},
		{"member_limit", func(st dashboard.SignInAuditStats) int64 { return st.MemberLimit }},
		{"failed", func(st dashboard.SignInAuditStats) int64 { return st.Failed }},
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gatehouse_audit_sign_in_failures_dropped_total",
			Help: "Failed dashboard sign-ins not written to the audit trail, by reason.", ConstLabels: prometheus.Labels{"reason": r.reason}},
			func() float64 { return float64(r.get(a.signInAudit.Stats())) }))
	}
	for _, r := range []struct {
		result string
		pick   func(hits, stale int64) int64
	}{
		{"kept_cursor", func(hits, _ int64) int64 { return hits }},
		{"outdated", func(_, stale int64) int64 { return stale }},
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gatehouse_list_next_pages_total",
			Help:        "Deep list pages by number this node read that followed a page the server served (on PostgreSQL, on any node): through the cursor kept then (kept_cursor), or by a skip because a write outdated it (outdated).",
			ConstLabels: prometheus.Labels{"result": r.result}},
			func() float64 { return float64(r.pick(a.DB.AnchorPages())) }))
	}
	pools := a.DB.Pools("main")
	maps.Copy(pools, a.LogDB.Pools("log")) // nil on PostgreSQL: the main pools
	metrics.RegisterState(reg, metrics.State{
		Checks:      a.Usage.Totals,
		RateLimit:   a.Limiter.Counts,
		APILog:      a.APILog.Stats,
		DecisionLog: a.Decisions.Stats,
		Backlog: func(ctx context.Context) (map[string]int64, error) {
			n, err := a.DB.QueueBacklog(ctx)
			if err != nil {
				return nil, err
			}
			for _, k := range []string{queue.KindDelivery, queue.KindTask, queue.KindSweep} {
				if _, ok := n[k]; !ok {
					n[k] = 0 // every kind reported, 0 when none waits
				}
			}
			return n, nil
		},
		Pools:    pools,
		Engines:  a.Facts.Engines.Sizes,
		KeyCache: a.Keys.CacheCounts,
		WebhookOldest: func(ctx context.Context) (time.Time, bool, error) {
			return a.DB.OldestWaiting(ctx, queue.KindDelivery)
		},
		PDPLags: func() map[string]metrics.FeedLag {
			lags := a.streams.Lags(time.Now(), func(envID string) (int64, bool) {
				_, seq, ok := a.Facts.Engines.Loaded(envID)
				return seq, ok
			})
			out := make(map[string]metrics.FeedLag, len(lags))
			for k, l := range lags {
				out[k] = metrics.FeedLag(l)
			}
			return out
		},
		PDPStreams: a.streams.Open,
	})
	return metrics.NewHTTP(reg)
}

// AdminHandler answers the admin listener: Prometheus /metrics and
// /debug/pprof/. It is never mounted on the public port.
func (a *App) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.Metrics, promhttp.HandlerOpts{
		// A collector that fails (the queue's count while the database is
		// down) leaves its metric out; the rest is still served.
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn),
		Registry:      a.Metrics, // promhttp_metric_handler_errors_total
	}))
	adminhttp.Profiles(mux)
	adminhttp.Index(mux, "Gatehouse admin listener: /metrics (Prometheus), /debug/pprof/")
	return mux
}

// ServeAdmin answers the admin listener on ln until ctx ends.
func (a *App) ServeAdmin(ctx context.Context, ln net.Listener) error {
	return adminhttp.Serve(ctx, ln, a.AdminHandler(), a.Log)
}
