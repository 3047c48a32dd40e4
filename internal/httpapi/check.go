package httpapi

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse/authz"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

// envRef names the environment a call acts in.
type envRef struct{ orgID, projectID, envID string }

// envRefOf is envOf for the check path: an environment key's environment is
// known without a database read.
func (h *handlers) envRefOf(ctx context.Context, q EnvQuery) (envRef, error) {
	if p := principal(ctx); q.Project == "" && q.Environment == "" && p.EnvironmentID != "" {
		return envRef{p.OrgID, p.ProjectID, p.EnvironmentID}, nil
	}
	env, err := h.envOf(ctx, q)
	if err != nil {
		return envRef{}, err
	}
	return envRef{env.OrgID, env.ProjectID, env.ID}, nil
}

// engineOf returns the call's environment and its decision engine.
func (h *handlers) engineOf(ctx context.Context, q EnvQuery) (envRef, *authz.Engine, error) {
	ref, err := h.envRefOf(ctx, q)
	if err != nil {
		return ref, nil, err
	}
	e, err := h.Facts.Engines.Get(ctx, ref.envID)
	return ref, e, err
}

// record hands a decision to the decision log when the environment's policy
// samples it. It never blocks.
func (h *handlers) record(ctx context.Context, ref envRef, c *decision.CheckRequest, r *decision.CheckResult, at time.Time) {
	if h.Decisions == nil || !h.Decisions.Sampled(ctx, ref.envID) {
		return
	}
	var keyID string
	if p := principal(ctx); p != nil {
		keyID = p.KeyID
	}
	h.Decisions.Record(decision.Entry{OrganizationID: ref.orgID, ProjectID: ref.projectID, EnvironmentID: ref.envID, Time: at,
		Source: decision.SourceAPI, RequestID: RequestID(ctx), KeyID: keyID,
		User: c.User, Action: c.Action, ResourceType: c.Resource.Type, ResourceKey: c.Resource.Key, Tenant: r.Tenant,
		Allow: r.Allow, Reason: r.Reason, Role: r.Role})
}

type checkIn struct {
	EnvQuery
	Body decision.CheckRequest
}

func (h *handlers) allowed(ctx context.Context, in *checkIn) (*Out[decision.CheckResult], error) {
	if err := in.Body.Validate(""); err != nil {
		return nil, err
	}
	ref, e, err := h.engineOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	r := decision.Decide(e, &in.Body)
	h.record(ctx, ref, &in.Body, &r, time.Now())
	return ok(ctx, r), nil
}

type bulkCheckIn struct {
	EnvQuery
	Body decision.BulkRequest
}

func (h *handlers) allowedBulk(ctx context.Context, in *bulkCheckIn) (*Out[[]decision.CheckResult], error) {
	if err := in.Body.Validate(); err != nil {
		return nil, err
	}
	ref, e, err := h.engineOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make([]decision.CheckResult, len(in.Body.Checks))
	for i := range in.Body.Checks {
		out[i] = decision.Decide(e, &in.Body.Checks[i])
		h.record(ctx, ref, &in.Body.Checks[i], &out[i], now)
	}
	return ok(ctx, out), nil
}

type userPermissionsIn struct {
	EnvQuery
	Body decision.UserPermissionsRequest
}

func (h *handlers) userPermissions(ctx context.Context, in *userPermissionsIn) (*Out[[]authz.TenantPermissions], error) {
	_, e, err := h.engineOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	return ok(ctx, decision.UserPermissions(e, &in.Body)), nil
}
