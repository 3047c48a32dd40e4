package metrics

import (
	"context"
	"database/sql"
	"time"

	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/batch"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/prometheus/client_golang/prometheus"
)

// State is where the scrape-time metrics read the server's state: counters
// the server keeps anyway, queues' lengths, pools' statistics. Nothing on
// a request's path does more work for them. A nil func leaves its metrics
// out.
type State struct {
	// Checks are the checks counted so far (the usage meter's totals).
	Checks func() (allowed, denied int64)
	// RateLimit are the rate limiter's decisions and store failures.
	RateLimit func() ratelimit.Counts
	// APILog and DecisionLog are the writers' queues.
	APILog, DecisionLog func() batch.Stats
	// Backlog counts the queue's jobs waiting to run, by kind.
	Backlog func(ctx context.Context) (map[string]int64, error)
	// Pools are the database pools by name.
	Pools map[string]*sql.DB
	// Engines are the loaded decision engines' sizes, by environment id.
	Engines func() map[string]authz.Stats
	// KeyCache are the API key verifications answered from the cache, those
	// that read the store, and those answered from the cache in an outage.
	KeyCache func() (hits, misses, outage int64)
	// WebhookOldest is when the oldest undelivered webhook delivery was
	// made (ok false: none).
	WebhookOldest func(ctx context.Context) (at time.Time, ok bool, err error)
	// PDPLags are the open PDP change streams' lags by key id, and
	// PDPStreams their number.
	PDPLags    func() map[string]FeedLag
	PDPStreams func() int
}

// FeedLag is how far behind the change feed a PDP is.
type FeedLag struct {
	Positions int64
	Seconds   float64
}

// RegisterState registers in reg the metrics read from s at scrape time.
func RegisterState(reg prometheus.Registerer, s State) {
	if s.Checks != nil {
		for _, d := range []struct {
			label string
			allow bool
		}{{"allow", true}, {"deny", false}} {
			reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "gatehouse_checks_total", Help: "Permission checks this node answered, by decision.",
				ConstLabels: prometheus.Labels{"decision": d.label},
			}, func() float64 {
				a, n := s.Checks()
				if d.allow {
					return float64(a)
				}
				return float64(n)
			}))
		}
	}
	if s.RateLimit != nil {
		for _, r := range []struct {
			label string
			get   func(ratelimit.Counts) int64
		}{{"allowed", func(c ratelimit.Counts) int64 { return c.Allowed }}, {"refused", func(c ratelimit.Counts) int64 { return c.Refused }}} {
			reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "gatehouse_ratelimit_decisions_total", Help: "Rate-limit decisions on limited requests, by result.",
				ConstLabels: prometheus.Labels{"result": r.label},
			}, func() float64 { return float64(r.get(s.RateLimit())) }))
		}
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "gatehouse_ratelimit_store_failures_total", Help: "Calls to the rate-limit store (Redis) that failed.",
		}, func() float64 { return float64(s.RateLimit().StoreFailures) }))
	}
	for _, w := range []struct {
		name  string
		stats func() batch.Stats
	}{{"api", s.APILog}, {"decision", s.DecisionLog}} {
		if w.stats == nil {
			continue
		}
		labels := prometheus.Labels{"log": w.name}
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatehouse_log_queue_depth", ConstLabels: labels,
				Help: "Entries waiting in memory to be written to the API log or the decision log, or being written."},
				func() float64 { return float64(w.stats().Queued) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gatehouse_log_dropped_total", ConstLabels: labels,
				Help: "Entries dropped because the log's in-memory queue was full."},
				func() float64 { return float64(w.stats().Dropped) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gatehouse_log_failed_total", ConstLabels: labels,
				Help: "Entries the log database refused."},
				func() float64 { return float64(w.stats().Failed) }),
		)
	}
	if s.Backlog != nil {
		reg.MustRegister(&backlog{s: s})
	}
	if len(s.Pools) > 0 {
		reg.MustRegister(&pools{pools: s.Pools})
	}
	if s.Engines != nil {
		reg.MustRegister(&engines{get: s.Engines})
	}
	if s.KeyCache != nil {
		for _, r := range []struct {
			label string
			get   func(h, m, o int64) int64
		}{{"hit", func(h, _, _ int64) int64 { return h }}, {"miss", func(_, m, _ int64) int64 { return m }},
			{"outage", func(_, _, o int64) int64 { return o }}} {
			reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "gatehouse_key_cache_requests_total", ConstLabels: prometheus.Labels{"result": r.label},
				Help: "API key verifications, by result: hit (answered from this node's cache), miss (signature checked and the key read from the database), outage (answered from the cache because the database could not be read).",
			}, func() float64 { return float64(r.get(s.KeyCache())) }))
		}
	}
	if s.WebhookOldest != nil {
		reg.MustRegister(&webhookLag{oldest: s.WebhookOldest})
	}
	if s.PDPLags != nil {
		reg.MustRegister(&pdpLag{lags: s.PDPLags})
	}
	if s.PDPStreams != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatehouse_pdp_streams",
			Help: "PDP change streams open on this node."}, func() float64 { return float64(s.PDPStreams()) }))
	}
}

var webhookLagDesc = prometheus.NewDesc("gatehouse_webhook_delivery_lag_seconds",
	"Age of the oldest webhook delivery not yet delivered (waiting, retrying or in progress); 0 when none waits.", nil, nil)

// webhookLag reads the oldest undelivered delivery at scrape time (one
// indexed read, bounded by a timeout).
type webhookLag struct {
	oldest func(ctx context.Context) (time.Time, bool, error)
}

func (w *webhookLag) Describe(ch chan<- *prometheus.Desc) { ch <- webhookLagDesc }

func (w *webhookLag) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	at, ok, err := w.oldest(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(webhookLagDesc, err)
		return
	}
	lag := 0.0
	if ok {
		lag = max(0, time.Since(at).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(webhookLagDesc, prometheus.GaugeValue, lag)
}

var (
	pdpLagPositions = prometheus.NewDesc("gatehouse_pdp_feed_lag_positions",
		"Change feed positions between the last change sent to a PDP's stream and the newest this node applied, by the PDP's API key id (its streams' worst).",
		[]string{"key_id"}, nil)
	pdpLagSeconds = prometheus.NewDesc("gatehouse_pdp_feed_lag_seconds",
		"Seconds a PDP's stream has been behind the change feed (since it was last caught up); 0 when current. By API key id.",
		[]string{"key_id"}, nil)
)

// pdpLag reports the lag of each PDP with a stream open on this node: a
// series per key, no more than the node's stream cap.
type pdpLag struct{ lags func() map[string]FeedLag }

func (p *pdpLag) Describe(ch chan<- *prometheus.Desc) { ch <- pdpLagPositions; ch <- pdpLagSeconds }

func (p *pdpLag) Collect(ch chan<- prometheus.Metric) {
	for key, l := range p.lags() {
		ch <- prometheus.MustNewConstMetric(pdpLagPositions, prometheus.GaugeValue, float64(l.Positions), key)
		ch <- prometheus.MustNewConstMetric(pdpLagSeconds, prometheus.GaugeValue, l.Seconds, key)
	}
}

var backlogDesc = prometheus.NewDesc("gatehouse_queue_backlog",
	"Background jobs waiting to run (available, scheduled or retrying), by kind: webhook_delivery, job_task, sandbox_sweep.",
	[]string{"kind"}, nil)

// backlog counts the queue's waiting jobs at scrape time (one grouped
// count in the database, bounded by a timeout).
type backlog struct{ s State }

func (b *backlog) Describe(ch chan<- *prometheus.Desc) { ch <- backlogDesc }

func (b *backlog) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, err := b.s.Backlog(ctx)
	if err != nil {
		// The rest of the scrape still answers; the error says why this
		// metric is missing.
		ch <- prometheus.NewInvalidMetric(backlogDesc, err)
		return
	}
	for kind, c := range n {
		ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, float64(c), kind)
	}
}

var (
	poolLabels   = []string{"pool"}
	poolMaxOpen  = prometheus.NewDesc("gatehouse_db_max_open_connections", "The pool's bound on open connections (0: none).", poolLabels, nil)
	poolOpen     = prometheus.NewDesc("gatehouse_db_open_connections", "Connections open, in use or idle.", poolLabels, nil)
	poolInUse    = prometheus.NewDesc("gatehouse_db_in_use_connections", "Connections in use.", poolLabels, nil)
	poolIdle     = prometheus.NewDesc("gatehouse_db_idle_connections", "Idle connections.", poolLabels, nil)
	poolWaits    = prometheus.NewDesc("gatehouse_db_wait_count_total", "Times a caller waited for a connection.", poolLabels, nil)
	poolWaitTime = prometheus.NewDesc("gatehouse_db_wait_duration_seconds_total", "Time callers waited for a connection.", poolLabels, nil)
)

// pools reports database/sql's statistics of each pool.
type pools struct{ pools map[string]*sql.DB }

func (p *pools) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolMaxOpen, poolOpen, poolInUse, poolIdle, poolWaits, poolWaitTime} {
		ch <- d
	}
}

func (p *pools) Collect(ch chan<- prometheus.Metric) {
	for name, db := range p.pools {
		s := db.Stats()
		ch <- prometheus.MustNewConstMetric(poolMaxOpen, prometheus.GaugeValue, float64(s.MaxOpenConnections), name)
		ch <- prometheus.MustNewConstMetric(poolOpen, prometheus.GaugeValue, float64(s.OpenConnections), name)
		ch <- prometheus.MustNewConstMetric(poolInUse, prometheus.GaugeValue, float64(s.InUse), name)
		ch <- prometheus.MustNewConstMetric(poolIdle, prometheus.GaugeValue, float64(s.Idle), name)
		ch <- prometheus.MustNewConstMetric(poolWaits, prometheus.CounterValue, float64(s.WaitCount), name)
		ch <- prometheus.MustNewConstMetric(poolWaitTime, prometheus.CounterValue, s.WaitDuration.Seconds(), name)
	}
}

var (
	enginesLoaded = prometheus.NewDesc("gatehouse_engines_loaded", "Environments whose decision engine is in memory.", nil, nil)
	engineSize    = prometheus.NewDesc("gatehouse_engine_objects",
		"What an environment's decision engine holds, by kind: users, tenants, resources, roles, assignments, permissions, instances, tuples.",
		[]string{"environment_id", "kind"}, nil)
)

// engines reports the loaded decision engines and their sizes.
type engines struct{ get func() map[string]authz.Stats }

func (e *engines) Describe(ch chan<- *prometheus.Desc) { ch <- enginesLoaded; ch <- engineSize }

func (e *engines) Collect(ch chan<- prometheus.Metric) {
	all := e.get()
	ch <- prometheus.MustNewConstMetric(enginesLoaded, prometheus.GaugeValue, float64(len(all)))
	for env, s := range all {
		for _, k := range []struct {
			kind string
			n    int
		}{{"users", s.Users}, {"tenants", s.Tenants}, {"resources", s.Resources}, {"roles", s.Roles},
			{"assignments", s.Assignments}, {"permissions", s.Permissions}, {"instances", s.Instances}, {"tuples", s.Tuples}} {
			ch <- prometheus.MustNewConstMetric(engineSize, prometheus.GaugeValue, float64(k.n), env, k.kind)
		}
	}
}
