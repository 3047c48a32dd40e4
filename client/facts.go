package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
)

// FactListOptions filter a list of users, tenants, resources or roles.
type FactListOptions struct {
	ListOptions
	Key    string // only the item with this key
	Search string // case-insensitive substring of the key or name (email for users)
	Email  string // users only
	Type   string // resources only
	Status string // resources only
}

func (o *FactListOptions) values() url.Values {
	if o == nil {
		return url.Values{}
	}
	q := o.ListOptions.values()
	set(q, "key", o.Key)
	set(q, "search", o.Search)
	set(q, "email", o.Email)
	set(q, "type", o.Type)
	set(q, "status", o.Status)
	return q
}

// Users of the environment.
type Users struct{ c *Client }

// UserInput creates a user; UserPatch changes one (nil fields stay).
type UserInput struct {
	Key        string         `json:"key"`
	Email      string         `json:"email,omitempty"`
	FirstName  string         `json:"first_name,omitempty"`
	LastName   string         `json:"last_name,omitempty"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

// UserPatch changes a user.
type UserPatch struct {
	Email      *string         `json:"email,omitempty"`
	FirstName  *string         `json:"first_name,omitempty"`
	LastName   *string         `json:"last_name,omitempty"`
	Attributes *map[string]any `json:"attributes,omitempty"`
}

// List lists users.
func (u *Users) List(ctx context.Context, opt *FactListOptions) (*Page[User], error) {
	return list[User](ctx, u.c, "/v1/users", u.c.envQuery(opt.values()))
}

// All iterates over every user matching opt.
func (u *Users) All(ctx context.Context, opt *FactListOptions) iter.Seq2[User, error] {
	return all[User](ctx, u.c, "/v1/users", u.c.envQuery(opt.values()))
}

// Get returns a user by id or key.
func (u *Users) Get(ctx context.Context, ref string) (*User, error) {
	return get[User](ctx, u.c, "/v1/users/"+seg(ref), u.c.envQuery(nil))
}

// Create creates a user.
func (u *Users) Create(ctx context.Context, in UserInput) (*User, error) {
	return write[User](ctx, u.c, http.MethodPost, "/v1/users", u.c.envQuery(nil), in)
}

// Update changes a user.
func (u *Users) Update(ctx context.Context, ref string, p UserPatch) (*User, error) {
	return write[User](ctx, u.c, http.MethodPatch, "/v1/users/"+seg(ref), u.c.envQuery(nil), p)
}

// Delete deletes a user and its role assignments.
func (u *Users) Delete(ctx context.Context, ref string) error {
	return del(ctx, u.c, "/v1/users/"+seg(ref), u.c.envQuery(nil))
}

// Tenants of the environment.
type Tenants struct{ c *Client }

// TenantInput creates a tenant.
type TenantInput struct {
	Key         string         `json:"key"`
	Name        string         `json:"name,omitempty"`
	Description string         `json:"description,omitempty"`
	Attributes  map[string]any `json:"attributes,omitempty"`
}

// List lists tenants.
func (t *Tenants) List(ctx context.Context, opt *FactListOptions) (*Page[Tenant], error) {
	return list[Tenant](ctx, t.c, "/v1/tenants", t.c.envQuery(opt.values()))
}

// All iterates over every tenant matching opt.
func (t *Tenants) All(ctx context.Context, opt *FactListOptions) iter.Seq2[Tenant, error] {
	return all[Tenant](ctx, t.c, "/v1/tenants", t.c.envQuery(opt.values()))
}

// Get returns a tenant by id or key.
func (t *Tenants) Get(ctx context.Context, ref string) (*Tenant, error) {
	return get[Tenant](ctx, t.c, "/v1/tenants/"+seg(ref), t.c.envQuery(nil))
}

// Create creates a tenant.
func (t *Tenants) Create(ctx context.Context, in TenantInput) (*Tenant, error) {
	return write[Tenant](ctx, t.c, http.MethodPost, "/v1/tenants", t.c.envQuery(nil), in)
}

// TenantPatch changes a tenant (nil fields stay).
type TenantPatch struct {
	Name        *string         `json:"name,omitempty"`
	Description *string         `json:"description,omitempty"`
	Attributes  *map[string]any `json:"attributes,omitempty"` // replaces them all
}

// Update changes a tenant.
func (t *Tenants) Update(ctx context.Context, ref string, p TenantPatch) (*Tenant, error) {
	return write[Tenant](ctx, t.c, http.MethodPatch, "/v1/tenants/"+seg(ref), t.c.envQuery(nil), p)
}

// Delete deletes a tenant and the role assignments in it.
func (t *Tenants) Delete(ctx context.Context, ref string) error {
	return del(ctx, t.c, "/v1/tenants/"+seg(ref), t.c.envQuery(nil))
}

// Resources are the environment's resource types.
type Resources struct{ c *Client }

// ResourceInput creates a resource type.
type ResourceInput struct {
	Key         string                  `json:"key,omitempty"` // from Name when empty
	Name        string                  `json:"name,omitempty"`
	Description string                  `json:"description,omitempty"`
	Type        string                  `json:"type,omitempty"`
	Config      map[string]any          `json:"config,omitempty"`
	Actions     []string                `json:"actions,omitempty"`
	Attributes  map[string]AttributeDef `json:"attributes,omitempty"`
}

// List lists resource types.
func (r *Resources) List(ctx context.Context, opt *FactListOptions) (*Page[Resource], error) {
	return list[Resource](ctx, r.c, "/v1/resources", r.c.envQuery(opt.values()))
}

// All iterates over every resource type matching opt.
func (r *Resources) All(ctx context.Context, opt *FactListOptions) iter.Seq2[Resource, error] {
	return all[Resource](ctx, r.c, "/v1/resources", r.c.envQuery(opt.values()))
}

// Get returns a resource type by id or key.
func (r *Resources) Get(ctx context.Context, ref string) (*Resource, error) {
	return get[Resource](ctx, r.c, "/v1/resources/"+seg(ref), r.c.envQuery(nil))
}

// Create creates a resource type.
func (r *Resources) Create(ctx context.Context, in ResourceInput) (*Resource, error) {
	return write[Resource](ctx, r.c, http.MethodPost, "/v1/resources", r.c.envQuery(nil), in)
}

// Update changes a resource type: fields of patch as the API names them
// (name, description, actions, attributes, type, config, status).
func (r *Resources) Update(ctx context.Context, ref string, patch map[string]any) (*Resource, error) {
	return write[Resource](ctx, r.c, http.MethodPatch, "/v1/resources/"+seg(ref), r.c.envQuery(nil), patch)
}

// UpdateCascade changes a resource type as Update does; actions it drops
// are also taken off the roles that grant them (without it, a dropped
// action a role still grants is a CONFLICT listing those roles).
func (r *Resources) UpdateCascade(ctx context.Context, ref string, patch map[string]any) (*Resource, error) {
	return write[Resource](ctx, r.c, http.MethodPatch, "/v1/resources/"+seg(ref), cascade(r.c.envQuery(nil), true), patch)
}

// Delete deletes a resource type. Roles granting its actions, and its
// instances, roles, relations and resource sets, make it a CONFLICT (see
// DeleteCascade).
func (r *Resources) Delete(ctx context.Context, ref string) error {
	return del(ctx, r.c, "/v1/resources/"+seg(ref), r.c.envQuery(nil))
}

// DeleteCascade deletes a resource type with everything that refers to
// it, in one transaction.
func (r *Resources) DeleteCascade(ctx context.Context, ref string) error {
	return del(ctx, r.c, "/v1/resources/"+seg(ref), cascade(r.c.envQuery(nil), true))
}

// Roles of the environment.
type Roles struct{ c *Client }

// RoleInput creates a role.
type RoleInput struct {
	Key         string         `json:"key"`
	Name        string         `json:"name,omitempty"`
	Description string         `json:"description,omitempty"`
	Permissions []string       `json:"permissions,omitempty"` // "resource:action"
	Extends     []string       `json:"extends,omitempty"`     // role keys
	Attributes  map[string]any `json:"attributes,omitempty"`
}

// List lists roles.
func (r *Roles) List(ctx context.Context, opt *FactListOptions) (*Page[Role], error) {
	return list[Role](ctx, r.c, "/v1/roles", r.c.envQuery(opt.values()))
}

// All iterates over every role matching opt.
func (r *Roles) All(ctx context.Context, opt *FactListOptions) iter.Seq2[Role, error] {
	return all[Role](ctx, r.c, "/v1/roles", r.c.envQuery(opt.values()))
}

// Get returns a role by id or key.
func (r *Roles) Get(ctx context.Context, ref string) (*Role, error) {
	return get[Role](ctx, r.c, "/v1/roles/"+seg(ref), r.c.envQuery(nil))
}

// Create creates a role.
func (r *Roles) Create(ctx context.Context, in RoleInput) (*Role, error) {
	return write[Role](ctx, r.c, http.MethodPost, "/v1/roles", r.c.envQuery(nil), in)
}

// RolePatch changes a role (nil fields stay).
type RolePatch struct {
	Name        *string   `json:"name,omitempty"`
	Description *string   `json:"description,omitempty"`
	Permissions *[]string `json:"permissions,omitempty"` // replaces them
	// AddPermissions and RemovePermissions change the permissions the role
	// has when the server writes (two clients adding one each both land);
	// not with Permissions.
	AddPermissions    []string        `json:"add_permissions,omitempty"`
	RemovePermissions []string        `json:"remove_permissions,omitempty"`
	Extends           *[]string       `json:"extends,omitempty"`    // replaces them
	Attributes        *map[string]any `json:"attributes,omitempty"` // replaces them all
}

// Update changes a role.
func (r *Roles) Update(ctx context.Context, ref string, p RolePatch) (*Role, error) {
	return write[Role](ctx, r.c, http.MethodPatch, "/v1/roles/"+seg(ref), r.c.envQuery(nil), p)
}

// SetPermissions replaces a role's permissions.
func (r *Roles) SetPermissions(ctx context.Context, ref string, permissions []string) (*Role, error) {
	return write[Role](ctx, r.c, http.MethodPatch, "/v1/roles/"+seg(ref), r.c.envQuery(nil), map[string]any{"permissions": permissions})
}

// Delete deletes a role. Its assignments, roles extending it and resource
// roles derived from it make it a CONFLICT (see DeleteCascade).
func (r *Roles) Delete(ctx context.Context, ref string) error {
	return del(ctx, r.c, "/v1/roles/"+seg(ref), r.c.envQuery(nil))
}

// DeleteCascade deletes a role with its assignments, and takes it off the
// roles extending it and the resource roles derived from it, in one
// transaction.
func (r *Roles) DeleteCascade(ctx context.Context, ref string) error {
	return del(ctx, r.c, "/v1/roles/"+seg(ref), cascade(r.c.envQuery(nil), true))
}

// RoleAssignments of the environment.
type RoleAssignments struct{ c *Client }

// AssignmentFilter narrows a list by keys.
type AssignmentFilter struct {
	ListOptions
	User, Role, Tenant string
	// ResourceInstance ("resource:key") narrows to roles on one instance.
	ResourceInstance string
	// Kind is "tenant" (roles in tenants only), "instance" (roles on
	// instances only) or "" (both).
	Kind string
}

func (f *AssignmentFilter) values() url.Values {
	if f == nil {
		return url.Values{}
	}
	q := f.ListOptions.values()
	set(q, "user", f.User)
	set(q, "role", f.Role)
	set(q, "tenant", f.Tenant)
	set(q, "resource_instance", f.ResourceInstance)
	set(q, "kind", f.Kind)
	return q
}

// List lists role assignments.
func (a *RoleAssignments) List(ctx context.Context, f *AssignmentFilter) (*Page[RoleAssignment], error) {
	return list[RoleAssignment](ctx, a.c, "/v1/role-assignments", a.c.envQuery(f.values()))
}

// All iterates over every role assignment matching f.
func (a *RoleAssignments) All(ctx context.Context, f *AssignmentFilter) iter.Seq2[RoleAssignment, error] {
	return all[RoleAssignment](ctx, a.c, "/v1/role-assignments", a.c.envQuery(f.values()))
}

// Assign gives user role in tenant ("" : the default tenant).
func (a *RoleAssignments) Assign(ctx context.Context, user, role, tenant string) (*RoleAssignment, error) {
	return write[RoleAssignment](ctx, a.c, http.MethodPost, "/v1/role-assignments", a.c.envQuery(nil),
		map[string]string{"user": user, "role": role, "tenant": tenant})
}

// Unassign takes role from user in tenant.
func (a *RoleAssignments) Unassign(ctx context.Context, user, role, tenant string) error {
	q := a.c.envQuery(nil)
	q.Set("user", user)
	q.Set("role", role)
	set(q, "tenant", tenant)
	return del(ctx, a.c, "/v1/role-assignments", q)
}

// Checks are permission checks, answered by the server.
type Checks struct{ c *Client }

// Allowed asks one check.
func (ch *Checks) Allowed(ctx context.Context, check Check) (*Decision, error) {
	return write[Decision](ctx, ch.c, http.MethodPost, "/v1/allowed", ch.c.envQuery(nil), check)
}

// Bulk asks up to 1,000 checks; the answers are in order.
func (ch *Checks) Bulk(ctx context.Context, checks []Check) ([]Decision, error) {
	out, err := write[[]Decision](ctx, ch.c, http.MethodPost, "/v1/allowed/bulk", ch.c.envQuery(nil), map[string]any{"checks": checks})
	if err != nil {
		return nil, err
	}
	return *out, nil
}

// UserPermissions lists what user may do, per tenant (all tenants where
// the user holds a role when tenants is empty).
func (ch *Checks) UserPermissions(ctx context.Context, user string, tenants ...string) ([]TenantPermissions, error) {
	body := map[string]any{"user": user}
	if len(tenants) > 0 {
		body["tenants"] = tenants
	}
	out, err := write[[]TenantPermissions](ctx, ch.c, http.MethodPost, "/v1/user-permissions", ch.c.envQuery(nil), body)
	if err != nil {
		return nil, err
	}
	return *out, nil
}

// Permissions answers q: what a user may do per tenant, with the roles
// it holds on resource instances when q.Instances.
func (ch *Checks) Permissions(ctx context.Context, q PermissionsQuery) ([]TenantPermissions, error) {
	out, err := write[[]TenantPermissions](ctx, ch.c, http.MethodPost, "/v1/user-permissions", ch.c.envQuery(nil), q)
	if err != nil {
		return nil, err
	}
	return *out, nil
}

// Decisions are the recorded checks.
type Decisions struct{ c *Client }

// DecisionFilter narrows the decision log.
type DecisionFilter struct {
	ListOptions
	User, Action, Resource, Tenant, Reason, Role, Source string
	Allow                                                *bool
}

// List lists recorded checks, newest first.
func (d *Decisions) List(ctx context.Context, f *DecisionFilter) (*Page[DecisionEntry], error) {
	q := url.Values{}
	if f != nil {
		q = f.ListOptions.values()
		for k, v := range map[string]string{"user": f.User, "action": f.Action, "resource": f.Resource, "tenant": f.Tenant,
			"reason": f.Reason, "role": f.Role, "source": f.Source} {
			set(q, k, v)
		}
		if f.Allow != nil {
			q.Set("allow", map[bool]string{true: "true", false: "false"}[*f.Allow])
		}
	}
	return list[DecisionEntry](ctx, d.c, "/v1/decisions", d.c.envQuery(q))
}
