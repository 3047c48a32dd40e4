// Package decision holds what the server and the standalone PDP share about
// permission checks: the request and answer shapes of /v1/allowed, the
// decision function over an authz engine, and the decision log (a
// non-blocking recorder, its sampling policy and its entries).
package decision

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// CheckResource names what a check is about.
type CheckResource struct {
	Type       string         `json:"type" minLength:"1" doc:"Resource type key, e.g. document."`
	Key        string         `json:"key,omitempty" doc:"The resource instance (document:d1 is type document, key d1): roles on it, derived through relationship tuples, and its stored attributes count. An instance Gatehouse does not hold is checked by tenant roles and attribute rules only."`
	Tenant     string         `json:"tenant,omitempty" doc:"Tenant key; the instance's own tenant for a known instance (naming another one denies), otherwise the default tenant when omitted."`
	Attributes map[string]any `json:"attributes,omitempty" doc:"Resource attributes for attribute rules; they replace the instance's stored attributes of the same name for this check."`
}

// CheckUser is the user of a check: its key, with attributes that replace
// the stored ones of the same name for this check. It is sent as a bare
// key ("ada") or as {"key": "ada", "attributes": {…}}.
type CheckUser struct {
	Key        string         `json:"key"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

// UnmarshalJSON reads a key or {key, attributes}.
func (u *CheckUser) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		*u = CheckUser{}
		return json.Unmarshal(b, &u.Key)
	}
	if len(b) == 0 || b[0] != '{' {
		return errors.New("user must be a key or an object {key, attributes}")
	}
	type plain CheckUser
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("user: %w", err)
	}
	*u = CheckUser(p)
	return nil
}

// MarshalJSON writes a bare key when there are no attributes.
func (u CheckUser) MarshalJSON() ([]byte, error) {
	if u.Attributes == nil {
		return json.Marshal(u.Key)
	}
	type plain CheckUser
	return json.Marshal(plain(u))
}

// CheckRequest is one permission check.
type CheckRequest struct {
	User     CheckUser      `json:"user" doc:"User key, or {key, attributes} to pass attributes for attribute rules."`
	Action   string         `json:"action" minLength:"1"`
	Resource CheckResource  `json:"resource"`
	Context  map[string]any `json:"context,omitempty" doc:"Request context for attribute rules (conditions on context.*)."`
	AtLeast  int64          `json:"at_least,omitempty" minimum:"0" doc:"A revision a write answered (meta.revision, Gatehouse-Revision): answer only once the answering node or PDP has applied it (a bounded wait, then 409 CONFLICT)."`
}

// CheckResult is the answer to one check.
type CheckResult struct {
	Allow       bool   `json:"allow"`
	Reason      string `json:"reason" enum:"granted,not_granted,no_role_in_tenant,unknown_user,unknown_tenant,unknown_resource,unknown_action,instance_in_other_tenant"`
	Via         string `json:"via,omitempty" enum:"tenant_role,instance_role,set_rule" doc:"The kind of rule that granted the check: a role in the tenant, a role on the instance (assigned, or derived through relationship tuples), or an attribute set rule."`
	Role        string `json:"role,omitempty" doc:"The role that granted the permission (a tenant role or a role on the instance), or the user set of the set rule."`
	ResourceSet string `json:"resource_set,omitempty" doc:"The resource set of the set rule that granted the check."`
	Tenant      string `json:"tenant"`
	Explanation string `json:"explanation"`
	// Path is the chain of facts and rules that granted the check.
	Path []authz.Step `json:"path,omitempty" doc:"Why it is allowed, as a chain of facts and rules: the tenant role; or the role assignment, relationship tuples and derivations that give the user a role on the instance; or the set rule."`
}

// BulkRequest is many checks in one call.
type BulkRequest struct {
	Checks  []CheckRequest `json:"checks" minItems:"1" maxItems:"1000"`
	AtLeast int64          `json:"at_least,omitempty" minimum:"0" doc:"As a check's at_least, for the whole call."`
}

// Revision is the highest at_least of the call (the whole call's and each
// check's).
func (b *BulkRequest) Revision() int64 {
	at := b.AtLeast
	for i := range b.Checks {
		at = max(at, b.Checks[i].AtLeast)
	}
	return at
}

// MaxBulk is the most checks one bulk call may carry.
const MaxBulk = 1000

// Validate checks what the hot check operations do not leave to a schema
// validator. field prefixes the error's field name (e.g. "checks[3].").
func (c *CheckRequest) Validate(field string) error {
	switch {
	case c.User.Key == "":
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
		// The field's prefix is built only for the error (a call of 1,000
		// valid checks would build 1,000 of them).
		if b.Checks[i].Validate("") != nil {
			return b.Checks[i].Validate(fmt.Sprintf("checks[%d].", i))
		}
	}
	return nil
}

// Request is the engine's form of c.
func (c *CheckRequest) Request() authz.Request {
	return authz.Request{User: c.User.Key, UserAttributes: c.User.Attributes, Action: c.Action, Resource: c.Resource.Type,
		Key: c.Resource.Key, Tenant: c.Resource.Tenant, ResourceAttributes: c.Resource.Attributes, Context: c.Context}
}

// Decide answers c from e, with the path of what granted it.
func Decide(e *authz.Engine, c *CheckRequest) CheckResult {
	r := c.Request()
	d := e.Decide(&r)
	var path []authz.Step
	switch {
	case d.Allow && d.Via == authz.ViaTenantRole:
		path = []authz.Step{{Kind: authz.StepTenantRole, Subject: "user:" + r.User, Relation: d.Role, Object: "tenant:" + d.Tenant}}
	case d.Allow:
		d, path = e.Explain(&r)
	}
	return Result(d, c, path)
}

// DecideAll answers checks into out (as long as checks), as Decide each,
// sharing the answers' allocations: their explanations and tenant-role
// paths are cut from one string, the paths' steps from one slice (a bulk
// call allocates a few times, not a few times per check).
func DecideAll(e *authz.Engine, checks []CheckRequest, out []CheckResult) {
	out = out[:len(checks)]               // a shorter out is a programming error: a clear panic here
	ends := make([]int, 0, 3*len(checks)) // where each string ends in arena
	arena := make([]byte, 0, 160*len(checks))
	var steps []authz.Step // capacity len(checks): never moved
	for i := range checks {
		c := &checks[i]
		r := c.Request()
		d := e.Decide(&r)
		var path []authz.Step
		tenantPath := d.Allow && d.Via == authz.ViaTenantRole
		if d.Allow && !tenantPath {
			d, path = e.Explain(&r)
		}
		res := c.Resource.Type
		if c.Resource.Key != "" && d.Via != authz.ViaTenantRole {
			res += ":" + c.Resource.Key
		}
		out[i] = CheckResult{Allow: d.Allow, Reason: d.Reason.String(), Via: d.Via.String(), Role: d.Role, ResourceSet: d.Set, Tenant: d.Tenant, Path: path}
		arena = d.AppendExplain(arena, c.User.Key, c.Action, res, d.Tenant)
		if !tenantPath {
			ends = append(ends, len(arena))
		} else { // negative: the user and tenant of the path follow
			ends = append(ends, -len(arena)-1)
		}
		if tenantPath {
			if steps == nil {
				steps = make([]authz.Step, 0, len(checks))
			}
			arena = append(append(arena, "user:"...), r.User...)
			ends = append(ends, len(arena))
			arena = append(append(arena, "tenant:"...), d.Tenant...)
			ends = append(ends, len(arena))
			steps = append(steps, authz.Step{Kind: authz.StepTenantRole, Relation: d.Role})
			n := len(steps)
			out[i].Path = steps[n-1 : n : n]
		}
	}
	all := string(arena)
	at, k := 0, 0
	next := func() string {
		end := ends[k]
		if end < 0 {
			end = -end - 1
		}
		s := all[at:end]
		at = end
		k++
		return s
	}
	for i := range out {
		withPath := ends[k] < 0
		out[i].Explanation = next()
		if withPath {
			out[i].Path[0].Subject = next()
			out[i].Path[0].Object = next()
		}
	}
}

// Result is the answer to c that d is.
func Result(d authz.Decision, c *CheckRequest, path []authz.Step) CheckResult {
	res := c.Resource.Type
	if c.Resource.Key != "" && d.Via != authz.ViaTenantRole {
		res += ":" + c.Resource.Key
	}
	return CheckResult{Allow: d.Allow, Reason: d.Reason.String(), Via: d.Via.String(), Role: d.Role, ResourceSet: d.Set, Tenant: d.Tenant,
		Explanation: d.Explain(c.User.Key, c.Action, res, d.Tenant), Path: path}
}

// UserPermissionsRequest asks what a user may do.
type UserPermissionsRequest struct {
	User    string   `json:"user" minLength:"1" doc:"User key."`
	Tenants []string `json:"tenants,omitempty" maxItems:"1000" doc:"Only these tenants; every tenant where the user has a role when omitted."`
	// Instances asks for the roles on resource instances too.
	Instances bool `json:"instances,omitempty" doc:"Also list, per tenant, the resource instances on which the user holds a role (assigned, or derived through relationships and tenant roles) and the permissions those roles grant there. A tenant role that derives a role on every instance of its tenant lists every such instance: narrow with resource_types."`
	// ResourceTypes narrows Instances.
	ResourceTypes []string `json:"resource_types,omitempty" maxItems:"100" doc:"With instances: only instances of these resource types."`
}

// TenantPermissions are a user's roles and permissions in one tenant: the
// tenant roles and what they grant, and (when asked) the instances of the
// tenant on which the user holds a role.
type TenantPermissions struct {
	Tenant      string                `json:"tenant"`
	Roles       []string              `json:"roles" doc:"The user's tenant roles there, with the roles they extend."`
	Permissions []string              `json:"permissions" doc:"What the tenant roles grant: \"resource:action\", sorted."`
	Instances   []InstancePermissions `json:"instances,omitempty" doc:"With instances: the instances of this tenant on which the user holds a role, sorted."`
}

// InstancePermissions are what a user may do on one resource instance by
// the roles it holds there.
type InstancePermissions struct {
	Resource    string   `json:"resource" doc:"\"type:key\"."`
	Roles       []string `json:"roles" doc:"The roles held there (assigned or derived), with the roles they extend."`
	Permissions []string `json:"permissions" doc:"What those roles grant there: \"type:action\", sorted."`
}

// UserPermissions answers r from e; never nil. Tenants appear in the
// engine's order; a tenant where the user holds roles only on instances
// appears (with no tenant roles) when instances are asked for.
func UserPermissions(e *authz.Engine, r *UserPermissionsRequest) ([]TenantPermissions, error) {
	perms := e.Permissions(r.User, r.Tenants)
	out := make([]TenantPermissions, 0, len(perms))
	at := make(map[string]int, len(perms))
	for _, tp := range perms {
		at[tp.Tenant] = len(out)
		out = append(out, TenantPermissions{Tenant: tp.Tenant, Roles: orNone(tp.Roles), Permissions: orNone(tp.Permissions)})
	}
	if !r.Instances {
		return out, nil
	}
	ips := e.InstancePermissions(r.User, r.Tenants, r.ResourceTypes)
	if len(ips) > MaxInstancePermissions {
		return nil, gatehouse.FieldError("instances", "too_many", "the user holds roles on %d instances, more than the %d one answer lists: narrow with tenants or resource_types, or use POST /v1/allowed/resources (paged)",
			len(ips), MaxInstancePermissions)
	}
	for _, ip := range ips {
		i, ok := at[ip.Tenant]
		if !ok {
			i = len(out)
			at[ip.Tenant] = i
			out = append(out, TenantPermissions{Tenant: ip.Tenant, Roles: []string{}, Permissions: []string{}})
		}
		out[i].Instances = append(out[i].Instances, InstancePermissions{Resource: ip.Resource, Roles: orNone(ip.Roles), Permissions: orNone(ip.Permissions)})
	}
	return out, nil
}

// MaxInstancePermissions bounds the instances one user-permissions answer
// lists.
const MaxInstancePermissions = 10_000

func orNone(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
