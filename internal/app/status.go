package app

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/status"
)

// LockStatusSampler: the status page's sampling round (StatusRound).
const LockStatusSampler = "status-sampler"

// statusLag is how long due work (a job, a webhook delivery) may wait
// before its component shows degraded.
const statusLag = 5 * time.Minute

// StatusReadings looks at every component once, as /readyz does, and says
// what it saw in fixed, public phrases (never an error's text: it may name
// a host or a DSN).
func (a *App) StatusReadings(ctx context.Context) []status.Reading {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	now := a.Config.Now()
	dbUp := a.DB.Ping(ctx) == nil
	done, _, _ := a.Warm()
	var out []status.Reading
	add := func(c, state, note string) { out = append(out, status.Reading{Component: c, State: state, Note: note}) }

	if done {
		add(status.API, status.Operational, "")
	} else {
		add(status.API, status.Degraded, "starting: loading the decision engines")
	}
	switch {
	case !done:
		add(status.Checks, status.Degraded, "starting: checks wait for the decision engines to load")
	case !dbUp && a.Config.KeyOutageGrace > 0:
		add(status.Checks, status.Degraded, "answered from memory for keys verified before the database became unreachable")
	case !dbUp:
		add(status.Checks, status.Down, "keys cannot be verified while the database is unreachable")
	case !a.KeyCacheHealthy():
		add(status.Checks, status.Degraded, "keys are verified against the database on every call until this node hears the others again")
	default:
		add(status.Checks, status.Operational, "")
	}
	if dbUp {
		add(status.Database, status.Operational, "")
	} else {
		add(status.Database, status.Down, "the database does not answer")
	}
	if a.Config.RedisURL != "" {
		if a.Limiter.Health(ctx) != nil {
			add(status.Redis, status.Down, "unreachable: each node enforces its share of every rate limit")
		} else {
			add(status.Redis, status.Operational, "")
		}
	}
	lagging := func(t *time.Time, err error) (string, bool) {
		switch {
		case err != nil:
			return "its backlog cannot be read", true
		case t != nil && now.Sub(*t) > statusLag:
			return "work due for more than 5 minutes is waiting", true
		}
		return "", false
	}
	if !dbUp {
		add(status.Queue, status.Down, "the queue lives in the database, which does not answer")
		add(status.Webhooks, status.Down, "deliveries wait in the database, which does not answer")
		return out
	}
	if note, bad := lagging(a.DB.OldestAvailableJob(ctx)); bad {
		add(status.Queue, status.Degraded, note)
	} else {
		add(status.Queue, status.Operational, "")
	}
	if note, bad := lagging(a.Store.OldestDueDelivery(ctx, now)); bad {
		add(status.Webhooks, status.Degraded, note)
	} else {
		add(status.Webhooks, status.Operational, "")
	}
	return out
}

// StatusRound samples the components once, unless another node is doing
// it (a cluster-wide lock) or did it less than three quarters of an
// interval ago: then sampled is false. When the database cannot be reached
// the node that sampled last keeps counting in memory until it can.
func (a *App) StatusRound(ctx context.Context) (sampled bool, err error) {
	readings := a.StatusReadings(ctx)
	ran, err := a.singleton(ctx, LockStatusSampler, func(ctx context.Context) error {
		s, err := a.sampler.Round(ctx, readings)
		sampled = s
		return err
	})
	switch {
	case err != nil && !ran:
		// The lock could not be asked for: the database is unreachable.
		if a.sampler.WasSampler() {
			a.sampler.Hold(readings)
		}
	case !ran:
		a.sampler.NotSampler()
	}
	return sampled, err
}

// runStatusSampler runs a round now and then every interval until ctx ends.
func (a *App) runStatusSampler(ctx context.Context, every time.Duration) {
	for {
		if _, err := a.StatusRound(ctx); err != nil && ctx.Err() == nil {
			a.Log.Warn("status page: sample the components; held until the database answers", "err", err)
		}
		select {
		case <-time.After(every):
		case <-ctx.Done():
			return
		}
	}
}

// StatusSampler is this node's sampler of the status page.
func (a *App) StatusSampler() *status.Sampler { return a.sampler }
