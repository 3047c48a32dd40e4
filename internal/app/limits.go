package app

import (
	"context"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// limitSettings answers the rate limit resolver from memory: organization
// and environment settings are read at most every ttl (and at once after a
// change made on this node), never once per request.
type limitSettings struct {
	st interface {
		GetOrganization(ctx context.Context, idOrKey string) (*tenancy.Organization, error)
		EnvironmentByID(ctx context.Context, id string) (*tenancy.Environment, error)
	}
	ttl time.Duration
	m   sync.Map // id → *limitEntry
}

type limitEntry struct {
	limit   int  // requests per hour; 0: the level above decides
	sandbox bool // environments only
	until   time.Time
}

func (c *limitSettings) get(ctx context.Context, id string, load func() (*limitEntry, error)) (*limitEntry, error) {
	if v, ok := c.m.Load(id); ok {
		if e := v.(*limitEntry); time.Now().Before(e.until) {
			return e, nil
		}
	}
	e, err := load()
	if err != nil {
		return nil, err
	}
	e.until = time.Now().Add(c.ttl)
	c.m.Store(id, e)
	return e, nil
}

// Forget drops what is known of an organization or environment: its
// settings changed.
func (c *limitSettings) Forget(id string) { c.m.Delete(id) }

// target is the ratelimit.Resolver: a sandbox environment's keys are not
// limited; a key with its own limit spends from its own bucket; then an
// environment's override; then the organization's limit (its override, or
// its tier's: free 100, pro 1,000, enterprise 10,000 per hour).
func (c *limitSettings) target(ctx context.Context, p *auth.Principal) (ratelimit.Target, error) {
	var env *limitEntry
	if p.EnvironmentID != "" {
		var err error
		env, err = c.get(ctx, p.EnvironmentID, func() (*limitEntry, error) {
			e, err := c.st.EnvironmentByID(ctx, p.EnvironmentID)
			if err != nil {
				return nil, err
			}
			le := &limitEntry{sandbox: e.Sandbox}
			if e.Settings.RateLimitPerHour != nil {
				le.limit = *e.Settings.RateLimitPerHour
			}
			return le, nil
		})
		if err != nil {
			return ratelimit.Target{}, err
		}
		if env.sandbox {
			return ratelimit.Target{}, nil
		}
	}
	if p.RateLimitPerHour > 0 {
		return ratelimit.Target{Bucket: p.Actor(), Limit: p.RateLimitPerHour}, nil
	}
	if env != nil && env.limit > 0 {
		return ratelimit.Target{Bucket: "env:" + p.EnvironmentID, Limit: env.limit}, nil
	}
	org, err := c.get(ctx, p.OrgID, func() (*limitEntry, error) {
		o, err := c.st.GetOrganization(ctx, p.OrgID)
		if err != nil {
			return nil, err
		}
		limit := tenancy.TierLimit(o.Settings.Tier)
		if o.Settings.RateLimitPerHour != nil {
			limit = *o.Settings.RateLimitPerHour
		}
		return &limitEntry{limit: limit}, nil
	})
	if err != nil {
		return ratelimit.Target{}, err
	}
	return ratelimit.Target{Bucket: "org:" + p.OrgID, Limit: org.limit}, nil
}
