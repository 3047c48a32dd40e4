package httpapi

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// handlers holds the dependencies of every operation.
type handlers struct {
	Deps
	gate *web.Gate // admits callers (v1's middleware; the Permit API shares it)
	// streams are this node's open PDP change streams.
	streams *PDPStreams
}

// limitsChanged forgets this node's copy of an organization's or
// environment's rate limit settings (other nodes re-read within seconds).
func (h *handlers) limitsChanged(id string) {
	if h.LimitsChanged != nil {
		h.LimitsChanged(id)
	}
}

// Health is the body of /healthz and /readyz.
type Health struct {
	Status  string `json:"status" example:"ok" doc:"ok (healthz); ready or degraded (readyz)."`
	Version string `json:"version"`
	// Checks are the dependencies readyz looked at.
	Checks map[string]string `json:"checks,omitempty" doc:"Each dependency's state, e.g. {\"database\": \"ok\", \"rate_limit_store\": \"unreachable since 2026-01-02T03:04:05Z (dial tcp 10.0.0.5:6379: connect: connection refused); this node enforces 1/3 of each limit (3 nodes last counted through the store), rounded up (fail-open)\"}: with Redis down the node is degraded, never unready (each node enforces its share of every limit)."`
	// The log writers' losses since the server started (readyz only; they
	// do not change readiness).
	APILogLost      *uint64 `json:"api_log_lost,omitempty" doc:"readyz: API log entries lost since this node started (the in-memory queue was full, or the log database refused an entry); 0 when the log is complete."`
	DecisionLogLost *uint64 `json:"decision_log_lost,omitempty" doc:"readyz: decision log entries lost since this node started, counted the same way."`
}

func (h *handlers) healthz(ctx context.Context, _ *struct{}) (*Out[Health], error) {
	return ok(ctx, Health{Status: "ok", Version: h.Version}), nil
}

func (h *handlers) readyz(ctx context.Context, _ *struct{}) (*Out[Health], error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	checks := map[string]string{"database": "ok"}
	status := "ready"
	dbErr := h.Ready(ctx)
	if dbErr != nil {
		h.Log.Warn("database does not answer", "err", dbErr)
	}
	if h.Warm != nil {
		done, built, total := h.Warm()
		if !done {
			if dbErr != nil {
				return nil, gatehouse.Errorf(gatehouse.CodeServiceUnavailable, "not ready: the database does not answer")
			}
			return nil, gatehouse.Errorf(gatehouse.CodeServiceUnavailable, "not ready: building the decision engines (%d of %d environments loaded)", built, total)
		}
		checks["engines"] = "ok"
	}
	if dbErr != nil {
		// Degraded, not unready, once the engines are built and keys seen
		// before the outage keep working: the checks go on from memory, and
		// a load balancer that drained every node would stop them all.
		// Without engines, or once no key this node verified is within the
		// outage grace (or it never verified one), nothing can be
		// answered: unready.
		if h.Warm == nil || h.Keys == nil || !h.Keys.CanAnswerInOutage() {
			return nil, gatehouse.Errorf(gatehouse.CodeServiceUnavailable, "not ready: the database does not answer")
		}
		checks["database"] = fmt.Sprintf("unreachable: writes answer 503; checks are answered from memory for keys this node verified in the last %s", h.Keys.OutageGrace())
		status = "degraded"
	}
	if h.Listening != nil {
		checks["key_cache_listener"] = "ok"
		if !h.Listening() {
			// keys are verified against the database on every call until it
			// is back: correct, slower, and the first thing a database
			// outage takes
			checks["key_cache_listener"] = "down: keys are verified against the database on every call until it reconnects"
			status = "degraded"
		}
	}
	if h.Limiter != nil {
		checks["rate_limit_store"] = "ok"
		// Degraded, never unready: with Redis down every node enforces its
		// share of the limits, and a load balancer must not drain them all.
		if err := h.Limiter.Health(ctx); err != nil {
			checks["rate_limit_store"] = err.Error()
			status = "degraded"
		}
	}
	out := Health{Status: status, Version: h.Version, Checks: checks}
	if h.APILog != nil {
		n := h.APILog.Lost()
		out.APILogLost = &n
	}
	if h.Decisions != nil {
		n := uint64(h.Decisions.Stats().Lost)
		out.DecisionLogLost = &n
	}
	return ok(ctx, out), nil
}

// JWKSOut is a JSON Web Key Set (RFC 7517); it is not wrapped in the envelope
// so that JWT libraries can read it directly.
type JWKSOut struct {
	CacheControl string `header:"Cache-Control"`
	Body         struct {
		Keys []apikey.JWK `json:"keys"`
	}
}

func (h *handlers) jwks(_ context.Context, _ *struct{}) (*JWKSOut, error) {
	out := &JWKSOut{CacheControl: "public, max-age=300"}
	out.Body.Keys = h.Keys.JWKS()
	return out, nil
}

func (h *handlers) listScopes(ctx context.Context, _ *struct{}) (*Out[[]gatehouse.ScopeInfo], error) {
	return ok(ctx, gatehouse.Catalog()), nil
}

// Me describes the calling key.
type Me struct {
	KeyID          string            `json:"key_id"`
	KeyName        string            `json:"key_name"`
	MemberID       string            `json:"member_id,omitempty" doc:"Set when the dashboard calls for a signed-in member (key_name is then the member's email)."`
	Level          string            `json:"level" enum:"organization,project,environment"`
	OrganizationID string            `json:"organization_id"`
	ProjectID      string            `json:"project_id,omitempty"`
	EnvironmentID  string            `json:"environment_id,omitempty"`
	Scopes         []gatehouse.Scope `json:"scopes"`
	ExpiresAt      *time.Time        `json:"expires_at,omitempty"`
	Region         string            `json:"region,omitempty" doc:"The region the organization is homed in (the cluster's --region); absent when the server has no regions."`
	APIURL         string            `json:"api_url" doc:"The URL to give SDKs as apiUrl: this region's public URL."`
}

func meOf(p *auth.Principal) Me {
	m := Me{KeyID: p.KeyID, KeyName: p.KeyName, MemberID: p.MemberID, Level: string(p.Level), OrganizationID: p.OrgID,
		ProjectID: p.ProjectID, EnvironmentID: p.EnvironmentID, Scopes: p.Scopes.Scopes()}
	if !p.ExpiresAt.IsZero() {
		t := p.ExpiresAt
		m.ExpiresAt = &t
	}
	return m
}

func (h *handlers) me(ctx context.Context, _ *struct{}) (*Out[Me], error) {
	m := meOf(principal(ctx))
	m.Region, m.APIURL = h.Region, h.APIURL
	return ok(ctx, m), nil
}

// forbidden is the error for a key that is valid but cannot reach something.
func forbidden(format string, args ...any) error {
	return gatehouse.Errorf(gatehouse.CodeForbidden, format, args...)
}
