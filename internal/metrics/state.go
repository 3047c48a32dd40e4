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
				Help: "Entries waiting in memory to be written to the API log or the decision log."},
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
