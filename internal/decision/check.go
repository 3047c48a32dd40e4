// Package decision holds what the server and the standalone PDP share about
// permission checks: the request and answer shapes of /v1/allowed, the
// decision function over an authz engine, and the decision log (a
// non-blocking recorder, its sampling policy and its entries).
package decision

import (
	"fmt"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/authz"
)

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

// BulkRequest is many checks in one call.
type BulkRequest struct {
	Checks []CheckRequest `json:"checks" minItems:"1" maxItems:"1000"`
}

// MaxBulk is the most checks one bulk call may carry.
const MaxBulk = 1000

// Validate checks what the hot check operations do not leave to a schema
// validator. field prefixes the error's field name (e.g. "checks[3].").
func (c *CheckRequest) Validate(field string) error {
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

// Validate checks the number of checks and each check.
func (b *BulkRequest) Validate() error {
	if n := len(b.Checks); n == 0 || n > MaxBulk {
		return gatehouse.FieldError("checks", "out_of_range", "send between 1 and %d checks", MaxBulk)
	}
	for i := range b.Checks {
		if err := b.Checks[i].Validate(fmt.Sprintf("checks[%d].", i)); err != nil {
			return err
		}
	}
	return nil
}

// Tenant is the tenant the check is about: the default tenant when the
// request names none.
func (c *CheckRequest) Tenant() string {
	if c.Resource.Tenant == "" {
		return authz.DefaultTenant
	}
	return c.Resource.Tenant
}

// Decide answers c from e.
func Decide(e *authz.Engine, c *CheckRequest) CheckResult {
	tenant := c.Tenant()
	d := e.Check(c.User, c.Action, c.Resource.Type, tenant)
	return CheckResult{Allow: d.Allow, Reason: d.Reason.String(), Role: d.Role, Tenant: tenant,
		Explanation: d.Explain(c.User, c.Action, c.Resource.Type, tenant)}
}

// UserPermissionsRequest asks what a user may do.
type UserPermissionsRequest struct {
	User    string   `json:"user" minLength:"1" doc:"User key."`
	Tenants []string `json:"tenants,omitempty" maxItems:"1000" doc:"Only these tenants; every tenant where the user has a role when omitted."`
}

// UserPermissions answers r from e; never nil.
func UserPermissions(e *authz.Engine, r *UserPermissionsRequest) []authz.TenantPermissions {
	perms := e.Permissions(r.User, r.Tenants)
	if perms == nil {
		perms = []authz.TenantPermissions{}
	}
	return perms
}
