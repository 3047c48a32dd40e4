package httpapi

import (
	"context"
	"fmt"

	"github.com/gatehouse-dev/gatehouse"

	"github.com/gatehouse-dev/gatehouse/authz"
)

// envIDOf is envOf for the check path: an environment key's environment is
// known without a database read.
func (h *handlers) envIDOf(ctx context.Context, q EnvQuery) (string, error) {
	if p := principal(ctx); q.Project == "" && q.Environment == "" && p.EnvironmentID != "" {
		return p.EnvironmentID, nil
	}
	env, err := h.envOf(ctx, q)
	if err != nil {
		return "", err
	}
	return env.ID, nil
}

// engineOf returns the decision engine of the call's environment.
func (h *handlers) engineOf(ctx context.Context, q EnvQuery) (*authz.Engine, error) {
	envID, err := h.envIDOf(ctx, q)
	if err != nil {
		return nil, err
	}
	return h.Facts.Engines.Get(ctx, envID)
}

// CheckResource names what a check is about.
type CheckResource struct {
	Type   string `json:"type" minLength:"1" doc:"Resource type key, e.g. document."`
	Key    string `json:"key,omitempty" doc:"The resource instance; accepted and reported, not yet used (RBAC decides by type)."`
	Tenant string `json:"tenant,omitempty" doc:"Tenant key; the default tenant when omitted."`
}

// CheckRequest is one permission check.
type CheckRequest struct {
	User     string         `json:"user" minLength:"1" doc:"User key."`
	Action   string         `json:"action" minLength:"1"`
	Resource CheckResource  `json:"resource"`
	Context  map[string]any `json:"context,omitempty" doc:"Accepted for forward compatibility; attribute conditions are not evaluated yet."`
}

// CheckResult is the answer to one check.
type CheckResult struct {
	Allow       bool   `json:"allow"`
	Reason      string `json:"reason" enum:"granted,not_granted,no_role_in_tenant,unknown_user,unknown_tenant,unknown_resource,unknown_action"`
	Role        string `json:"role,omitempty" doc:"The role that granted the permission."`
	Tenant      string `json:"tenant"`
	Explanation string `json:"explanation"`
}

// validate replaces the schema validation the hot check operations skip.
func (c *CheckRequest) validate(field string) error {
	switch {
	case c.User == "":
		return gatehouse.FieldError(field+"user", "required_field_missing", "user is required")
	case c.Action == "":
		return gatehouse.FieldError(field+"action", "required_field_missing", "action is required")
	case c.Resource.Type == "":
		return gatehouse.FieldError(field+"resource.type", "required_field_missing", "resource.type is required")
	}
	return nil
}

func decide(e *authz.Engine, c *CheckRequest) CheckResult {
	tenant := c.Resource.Tenant
	if tenant == "" {
		tenant = authz.DefaultTenant
	}
	d := e.Check(c.User, c.Action, c.Resource.Type, tenant)
	return CheckResult{Allow: d.Allow, Reason: d.Reason.String(), Role: d.Role, Tenant: tenant,
		Explanation: d.Explain(c.User, c.Action, c.Resource.Type, tenant)}
}

type checkIn struct {
	EnvQuery
	Body CheckRequest
}

func (h *handlers) allowed(ctx context.Context, in *checkIn) (*Out[CheckResult], error) {
	if err := in.Body.validate(""); err != nil {
		return nil, err
	}
	e, err := h.engineOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	return ok(ctx, decide(e, &in.Body)), nil
}

type bulkCheckIn struct {
	EnvQuery
	Body struct {
		Checks []CheckRequest `json:"checks" minItems:"1" maxItems:"1000"`
	}
}

func (h *handlers) allowedBulk(ctx context.Context, in *bulkCheckIn) (*Out[[]CheckResult], error) {
	if n := len(in.Body.Checks); n == 0 || n > 1000 {
		return nil, gatehouse.FieldError("checks", "out_of_range", "send between 1 and 1000 checks")
	}
	for i := range in.Body.Checks {
		if err := in.Body.Checks[i].validate(fmt.Sprintf("checks[%d].", i)); err != nil {
			return nil, err
		}
	}
	e, err := h.engineOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	out := make([]CheckResult, len(in.Body.Checks))
	for i := range in.Body.Checks {
		out[i] = decide(e, &in.Body.Checks[i])
	}
	return ok(ctx, out), nil
}

type userPermissionsIn struct {
	EnvQuery
	Body struct {
		User    string   `json:"user" minLength:"1" doc:"User key."`
		Tenants []string `json:"tenants,omitempty" maxItems:"1000" doc:"Only these tenants; every tenant where the user has a role when omitted."`
	}
}

func (h *handlers) userPermissions(ctx context.Context, in *userPermissionsIn) (*Out[[]authz.TenantPermissions], error) {
	e, err := h.engineOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	perms := e.Permissions(in.Body.User, in.Body.Tenants)
	if perms == nil {
		perms = []authz.TenantPermissions{}
	}
	return ok(ctx, perms), nil
}
