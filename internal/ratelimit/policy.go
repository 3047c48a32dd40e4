package ratelimit

import (
	"context"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Settings are where the limits come from (an organization's and an
// environment's settings, kept by tenancy).
type Settings interface {
	// OrgLimit is an organization's hourly limit (its override, else its
	// tier's).
	OrgLimit(ctx context.Context, orgID string) (int, error)
	// EnvLimit is an environment's override (0: none) and whether it is a
	// sandbox (not limited at all).
	EnvLimit(ctx context.Context, envID string) (limit int, sandbox bool, err error)
}

// Policy decides which bucket a caller spends from and its limit: a
// sandbox environment's keys are not limited; a key with its own limit
// spends from its own bucket; then an environment's override; then the
// organization's limit. Settings are read at most every ttl (and at once
// after Forget), never once per request.
type Policy struct {
	settings Settings
	ttl      time.Duration
	m        sync.Map // id → *limitEntry
}

// NewPolicy returns a Policy over settings, re-read every ttl.
func NewPolicy(settings Settings, ttl time.Duration) *Policy {
	return &Policy{settings: settings, ttl: ttl}
}

type limitEntry struct {
	limit   int  // requests per hour; 0: the level above decides
	sandbox bool // environments only
	until   time.Time
}

func (c *Policy) get(id string, load func() (*limitEntry, error)) (*limitEntry, error) {
	if v, ok := c.m.Load(id); ok {
		if e := v.(*limitEntry); time.Now().Before(e.until) {
			return e, nil
		}
	}
	e, err := load()
	if err != nil {
		// The settings cannot be read (a database outage): the limit last
		// read goes on for a while, rather than no limit (fail-open) or
		// refusing everything (fail-closed).
		if v, ok := c.m.Load(id); ok {
			if old := v.(*limitEntry); time.Since(old.until) < StaleFor {
				return old, nil
			}
		}
		return nil, err
	}
	e.until = time.Now().Add(c.ttl)
	c.m.Store(id, e)
	return e, nil
}

// StaleFor is how long past its ttl a limit is used when the settings
// cannot be read again.
const StaleFor = 10 * time.Minute

// Forget drops what is known of an organization or environment: its
// settings changed.
func (c *Policy) Forget(id string) { c.m.Delete(id) }

// CheckFactor is how many checks an hour the check budget holds for each
// API call of the limit that applies (free 100 calls: 10,000 checks).
const CheckFactor = 100

// maxCheckLimit caps a check budget (the largest limit a setting takes).
const maxCheckLimit = 100_000_000

// CheckTarget is the Resolver of permission checks: the bucket Target
// picks (a sandbox's: none), but a bucket of its own for checks, holding
// CheckFactor times its limit, so that an application's checks never
// starve its API calls nor the other way round. A key with its own limit
// spends that on everything, checks included.
func (c *Policy) CheckTarget(ctx context.Context, p *auth.Principal) (Target, error) {
	t, err := c.Target(ctx, p)
	if err != nil || t.Limit <= 0 || p.RateLimitPerHour > 0 {
		return t, err
	}
	return Target{Bucket: checksPrefix + t.Bucket, Limit: min(t.Limit*CheckFactor, maxCheckLimit)}, nil
}

// checksPrefix names the check budgets' buckets.
const checksPrefix = "checks:"

// Target is the Resolver.
func (c *Policy) Target(ctx context.Context, p *auth.Principal) (Target, error) {
	var env *limitEntry
	if p.EnvironmentID != "" {
		var err error
		env, err = c.get(p.EnvironmentID, func() (*limitEntry, error) {
			limit, sandbox, err := c.settings.EnvLimit(ctx, p.EnvironmentID)
			if err != nil {
				return nil, err
			}
			return &limitEntry{limit: limit, sandbox: sandbox}, nil
		})
		if err != nil {
			return Target{}, err
		}
		if env.sandbox {
			return Target{}, nil
		}
	}
	if p.RateLimitPerHour > 0 {
		return Target{Bucket: p.Actor(), Limit: p.RateLimitPerHour}, nil
	}
	if env != nil && env.limit > 0 {
		return Target{Bucket: "env:" + p.EnvironmentID, Limit: env.limit}, nil
	}
	org, err := c.get(p.OrgID, func() (*limitEntry, error) {
		limit, err := c.settings.OrgLimit(ctx, p.OrgID)
		if err != nil {
			return nil, err
		}
		return &limitEntry{limit: limit}, nil
	})
	if err != nil {
		return Target{}, err
	}
	return Target{Bucket: "org:" + p.OrgID, Limit: org.limit}, nil
}
