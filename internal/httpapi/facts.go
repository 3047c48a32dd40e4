package httpapi

import (
	"context"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// EnvQuery selects the environment of an environment-scoped operation. An
// environment key needs neither parameter (its environment is implied); an
// organization or project key names the project and environment.
type EnvQuery struct {
	Project     string `query:"project" doc:"Project id or key; implied by an environment key."`
	Environment string `query:"environment" doc:"Environment id or key; implied by an environment key."`
}

// envOf resolves the environment of an environment-scoped call.
func (h *handlers) envOf(ctx context.Context, q EnvQuery) (*tenancy.Environment, error) {
	return h.Tenancy.EnvironmentOf(ctx, principal(ctx), q.Project, q.Environment)
}

// ---- wire types

// User is the wire form of an environment's user.
type User struct {
	ID         string         `json:"id"`
	Key        string         `json:"key" doc:"Your identifier of the user (unique in the environment)."`
	Email      string         `json:"email"`
	FirstName  string         `json:"first_name"`
	LastName   string         `json:"last_name"`
	Attributes map[string]any `json:"attributes"`
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
}

func userOut(u *facts.User) User {
	return User{ID: u.ID, Key: u.Key, Email: u.Email, FirstName: u.FirstName, LastName: u.LastName, Attributes: u.Attributes, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

// Tenant is the wire form of a tenant.
type Tenant struct {
	ID          string         `json:"id"`
	Key         string         `json:"key"`
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Attributes  map[string]any `json:"attributes"`
	CreatedAt   time.Time      `json:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
}

func tenantOut(t *facts.Tenant) Tenant {
	return Tenant{ID: t.ID, Key: t.Key, Name: t.Name, Description: t.Description, Attributes: t.Attributes, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
}

// Resource is the wire form of a resource type.
type Resource struct {
	ID          string                  `json:"id"`
	Key         string                  `json:"key"`
	Name        string                  `json:"name"`
	Description string                  `json:"description"`
	Actions     []string                `json:"actions" doc:"The actions of this resource type; a permission is \"<resource>:<action>\"."`
	Attributes  map[string]AttributeDef `json:"attributes" doc:"The attributes resources of this type carry, by key."`
	Type        string                  `json:"type" doc:"Your category of the resource type (e.g. processor); not used by checks."`
	Config      map[string]any          `json:"config" doc:"Free configuration (a JSON object); not used by checks."`
	Status      string                  `json:"status" enum:"active,archived"`
	CreatedAt   time.Time               `json:"created_at"`
	UpdatedAt   time.Time               `json:"updated_at"`
}

// AttributeDef declares an attribute of a resource type.
type AttributeDef struct {
	Type        string `json:"type" enum:"bool,number,string,time,array,json"`
	Description string `json:"description,omitempty" maxLength:"2000"`
}

func attrDefsIn(in map[string]AttributeDef) map[string]facts.AttributeDef {
	if in == nil {
		return nil
	}
	out := make(map[string]facts.AttributeDef, len(in))
	for k, v := range in {
		out[k] = facts.AttributeDef(v)
	}
	return out
}

func resourceOut(r *facts.Resource) Resource {
	attrs := make(map[string]AttributeDef, len(r.Attributes))
	for k, v := range r.Attributes {
		attrs[k] = AttributeDef(v)
	}
	return Resource{ID: r.ID, Key: r.Key, Name: r.Name, Description: r.Description, Actions: r.Actions, Attributes: attrs,
		Type: r.Type, Config: r.Config, Status: r.Status, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

// Role is the wire form of a role.
type Role struct {
	ID          string         `json:"id"`
	Key         string         `json:"key"`
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Permissions []string       `json:"permissions" doc:"\"<resource>:<action>\" permissions granted by the role itself."`
	Extends     []string       `json:"extends" doc:"Roles whose permissions this role also grants."`
	Attributes  map[string]any `json:"attributes" doc:"Your metadata of the role (a JSON object); not used by checks."`
	CreatedAt   time.Time      `json:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
}

func roleWire(r *facts.Role) Role {
	return Role{ID: r.ID, Key: r.Key, Name: r.Name, Description: r.Description, Permissions: r.Permissions, Extends: r.Extends,
		Attributes: orEmptyValues(r.Attributes), CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

// orEmptyValues is attribute values as the API gives them: an object,
// never null.
func orEmptyValues(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// RoleAssignment is the wire form of a role assignment.
type RoleAssignment struct {
	ID       string `json:"id"`
	User     string `json:"user" doc:"User key."`
	Role     string `json:"role" doc:"Role key."`
	Tenant   string `json:"tenant" doc:"Tenant key."`
	UserID   string `json:"user_id"`
	RoleID   string `json:"role_id"`
	TenantID string `json:"tenant_id"`
	// ResourceInstance is set for a role on one instance.
	ResourceInstance   string    `json:"resource_instance,omitempty" doc:"For a role on one resource instance: \"resource:key\" (the role is one of that resource type, the tenant the instance's)."`
	ResourceInstanceID string    `json:"resource_instance_id,omitempty"`
	CreatedAt          time.Time `json:"created_at"`
}

func assignmentOut(a *facts.Assignment) RoleAssignment {
	return RoleAssignment{ID: a.ID, User: a.User, Role: a.Role, Tenant: a.Tenant, UserID: a.UserID, RoleID: a.RoleID, TenantID: a.TenantID,
		ResourceInstance: a.ResourceInstance, ResourceInstanceID: a.InstanceID, CreatedAt: a.CreatedAt}
}

// ---- users

type FactsQuery struct {
	EnvQuery
	PageQuery
	Sort   string `query:"sort" default:"created_at" enum:"created_at,updated_at,key,name"`
	Key    string `query:"key" doc:"Only the item with this key."`
	Search string `query:"search" maxLength:"200" doc:"Case-insensitive substring of the key or name."`
}

type listUsersIn struct {
	EnvQuery
	PageQuery
	Sort   string `query:"sort" default:"created_at" enum:"created_at,updated_at,key,email"`
	Key    string `query:"key" doc:"Only the user with this key."`
	Email  string `query:"email" doc:"Only users with this email."`
	Search string `query:"search" maxLength:"200" doc:"Case-insensitive substring of the key, email or names."`
}

func (h *handlers) listUsers(ctx context.Context, in *listUsersIn) (*ListOut[User], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	req := in.request(in.Sort)
	page, err := h.Facts.Users(ctx, facts.Filter{EnvID: env.ID, Key: in.Key, Email: in.Email, Search: in.Search}, req)
	if err != nil {
		return nil, err
	}
	return list(ctx, page, req, userOut), nil
}

type UserRef struct {
	EnvQuery
	User string `path:"user" doc:"User id or key."`
}

func (h *handlers) getUser(ctx context.Context, in *UserRef) (*Out[User], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	u, err := h.Facts.User(ctx, env.ID, in.User)
	if err != nil {
		return nil, err
	}
	return ok(ctx, userOut(u)), nil
}

type createUserIn struct {
	EnvQuery
	Body struct {
		Key        string         `json:"key" minLength:"1" maxLength:"255"`
		Email      string         `json:"email,omitempty" maxLength:"254"`
		FirstName  string         `json:"first_name,omitempty" maxLength:"254"`
		LastName   string         `json:"last_name,omitempty" maxLength:"254"`
		Attributes map[string]any `json:"attributes,omitempty"`
	}
}

func (h *handlers) createUser(ctx context.Context, in *createUserIn) (*Out[User], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	b := in.Body
	u, err := h.Facts.CreateUser(ctx, env.ID, facts.UserInput{Key: b.Key, Email: b.Email, FirstName: b.FirstName, LastName: b.LastName, Attributes: b.Attributes})
	if err != nil {
		return nil, err
	}
	return ok(ctx, userOut(u)), nil
}

type updateUserIn struct {
	UserRef
	Body struct {
		Email      *string         `json:"email,omitempty" maxLength:"254"`
		FirstName  *string         `json:"first_name,omitempty" maxLength:"254"`
		LastName   *string         `json:"last_name,omitempty" maxLength:"254"`
		Attributes *map[string]any `json:"attributes,omitempty" doc:"Replaces all attributes."`
	}
}

func (h *handlers) updateUser(ctx context.Context, in *updateUserIn) (*Out[User], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	b := in.Body
	u, err := h.Facts.UpdateUser(ctx, env.ID, in.User, facts.UserPatch{Email: b.Email, FirstName: b.FirstName, LastName: b.LastName, Attributes: b.Attributes})
	if err != nil {
		return nil, err
	}
	return ok(ctx, userOut(u)), nil
}

func (h *handlers) deleteUser(ctx context.Context, in *UserRef) (*NoContent, error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	return &NoContent{}, h.Facts.DeleteUser(ctx, env.ID, in.User)
}

// ---- tenants

func (h *handlers) listTenants(ctx context.Context, in *FactsQuery) (*ListOut[Tenant], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	if _, err := h.Facts.Engines.Get(ctx, env.ID); err != nil { // makes sure the default tenant exists
		return nil, err
	}
	req := in.request(in.Sort)
	page, err := h.Facts.Tenants(ctx, facts.Filter{EnvID: env.ID, Key: in.Key, Search: in.Search}, req)
	if err != nil {
		return nil, err
	}
	return list(ctx, page, req, tenantOut), nil
}

type TenantRef struct {
	EnvQuery
	Tenant string `path:"tenant" doc:"Tenant id or key."`
}

func (h *handlers) getTenant(ctx context.Context, in *TenantRef) (*Out[Tenant], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	t, err := h.Facts.Tenant(ctx, env.ID, in.Tenant)
	if err != nil {
		return nil, err
	}
	return ok(ctx, tenantOut(t)), nil
}

type createTenantIn struct {
	EnvQuery
	Body struct {
		Key         string         `json:"key" minLength:"1" maxLength:"255"`
		Name        string         `json:"name,omitempty" maxLength:"200" doc:"Defaults to the key."`
		Description string         `json:"description,omitempty" maxLength:"2000"`
		Attributes  map[string]any `json:"attributes,omitempty"`
	}
}

func (h *handlers) createTenant(ctx context.Context, in *createTenantIn) (*Out[Tenant], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	b := in.Body
	t, err := h.Facts.CreateTenant(ctx, env.ID, facts.TenantInput{Key: b.Key, Name: b.Name, Description: b.Description, Attributes: b.Attributes})
	if err != nil {
		return nil, err
	}
	return ok(ctx, tenantOut(t)), nil
}

type updateTenantIn struct {
	TenantRef
	Body struct {
		Name        *string         `json:"name,omitempty" maxLength:"200"`
		Description *string         `json:"description,omitempty" maxLength:"2000"`
		Attributes  *map[string]any `json:"attributes,omitempty" doc:"Replaces all attributes."`
	}
}

func (h *handlers) updateTenant(ctx context.Context, in *updateTenantIn) (*Out[Tenant], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	t, err := h.Facts.UpdateTenant(ctx, env.ID, in.Tenant, facts.TenantPatch{Name: in.Body.Name, Description: in.Body.Description, Attributes: in.Body.Attributes})
	if err != nil {
		return nil, err
	}
	return ok(ctx, tenantOut(t)), nil
}

func (h *handlers) deleteTenant(ctx context.Context, in *TenantRef) (*NoContent, error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	return &NoContent{}, h.Facts.DeleteTenant(ctx, env.ID, in.Tenant)
}

// ---- resources

type listResourcesIn struct {
	FactsQuery
	Type   string `query:"type" maxLength:"100" doc:"Only resource types of this category."`
	Status string `query:"status" enum:"active,archived" doc:"Only resource types with this status."`
}

func (h *handlers) listResources(ctx context.Context, in *listResourcesIn) (*ListOut[Resource], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	req := in.request(in.Sort)
	page, err := h.Facts.Resources(ctx, facts.Filter{EnvID: env.ID, Key: in.Key, Search: in.Search, Type: in.Type, Status: in.Status}, req)
	if err != nil {
		return nil, err
	}
	return list(ctx, page, req, resourceOut), nil
}

type ResourceRef struct {
	EnvQuery
	Resource string `path:"resource" doc:"Resource type id or key."`
}

func (h *handlers) getResource(ctx context.Context, in *ResourceRef) (*Out[Resource], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	r, err := h.Facts.Resource(ctx, env.ID, in.Resource)
	if err != nil {
		return nil, err
	}
	return ok(ctx, resourceOut(r)), nil
}

type createResourceIn struct {
	EnvQuery
	Body struct {
		Key         string                  `json:"key,omitempty" maxLength:"255" doc:"Derived from the name when omitted."`
		Name        string                  `json:"name,omitempty" maxLength:"200"`
		Description string                  `json:"description,omitempty" maxLength:"2000"`
		Actions     []string                `json:"actions,omitempty" doc:"e.g. [\"read\", \"write\", \"delete\"]"`
		Attributes  map[string]AttributeDef `json:"attributes,omitempty" doc:"e.g. {\"owner\": {\"type\": \"string\"}, \"pages\": {\"type\": \"number\"}}"`
		Type        string                  `json:"type,omitempty" maxLength:"100" doc:"Your category, e.g. processor."`
		Config      map[string]any          `json:"config,omitempty" doc:"Free configuration, e.g. {\"timeout\": 30}."`
		Status      string                  `json:"status,omitempty" enum:"active,archived" doc:"Default active."`
	}
}

func (h *handlers) createResource(ctx context.Context, in *createResourceIn) (*Out[Resource], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	b := in.Body
	if b.Key == "" && b.Name == "" {
		return nil, gatehouse.FieldError("key", "required_field_missing", "give the resource type a key or a name")
	}
	r, err := h.Facts.CreateResource(ctx, env.ID, facts.ResourceInput{Key: b.Key, Name: b.Name, Description: b.Description, Actions: b.Actions,
		Attributes: attrDefsIn(b.Attributes), Type: b.Type, Config: b.Config, Status: b.Status})
	if err != nil {
		return nil, err
	}
	return ok(ctx, resourceOut(r)), nil
}

// CascadeQuery lets a delete remove what refers to the deleted thing.
type CascadeQuery struct {
	Cascade bool `query:"cascade" doc:"Also remove what refers to it (roles' permissions on it, roles extending it, its role assignments), in the same transaction, each with its webhook event. Without it, a delete of something in use is a 409 listing the referrers."`
}

type updateResourceIn struct {
	ResourceRef
	CascadeQuery
	Body struct {
		Name        *string                 `json:"name,omitempty" maxLength:"200"`
		Description *string                 `json:"description,omitempty" maxLength:"2000"`
		Actions     *[]string               `json:"actions,omitempty" doc:"Replaces the list of actions."`
		Attributes  map[string]AttributeDef `json:"attributes,omitempty" doc:"Replaces the attribute definitions."`
		Type        *string                 `json:"type,omitempty" maxLength:"100"`
		Config      *map[string]any         `json:"config,omitempty" doc:"Replaces the configuration. Its \"permit\" entry (the Permit API's urn, action attributes and action groups of this type) is kept unless given here (then it must be an object)."`
		Status      *string                 `json:"status,omitempty" enum:"active,archived"`
	}
}

func (h *handlers) updateResource(ctx context.Context, in *updateResourceIn) (*Out[Resource], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	p := facts.ResourcePatch{Name: in.Body.Name, Description: in.Body.Description, Actions: in.Body.Actions, Type: in.Body.Type, Config: in.Body.Config, Status: in.Body.Status,
		Cascade: in.Cascade, KeepPermitConfig: true}
	if in.Body.Attributes != nil {
		defs := attrDefsIn(in.Body.Attributes)
		p.Attributes = &defs
	}
	r, err := h.Facts.UpdateResource(ctx, env.ID, in.Resource, p)
	if err != nil {
		return nil, err
	}
	return ok(ctx, resourceOut(r)), nil
}

type deleteResourceIn struct {
	ResourceRef
	CascadeQuery
}

func (h *handlers) deleteResource(ctx context.Context, in *deleteResourceIn) (*NoContent, error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	return &NoContent{}, h.Facts.DeleteResource(ctx, env.ID, in.Resource, in.Cascade)
}

// ---- roles

func (h *handlers) listAuthzRoles(ctx context.Context, in *FactsQuery) (*ListOut[Role], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	req := in.request(in.Sort)
	page, err := h.Facts.Roles(ctx, facts.Filter{EnvID: env.ID, Key: in.Key, Search: in.Search}, req)
	if err != nil {
		return nil, err
	}
	return list(ctx, page, req, roleWire), nil
}

type RoleRef struct {
	EnvQuery
	Role string `path:"role" doc:"Role id or key."`
}

func (h *handlers) getAuthzRole(ctx context.Context, in *RoleRef) (*Out[Role], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	r, err := h.Facts.Role(ctx, env.ID, in.Role)
	if err != nil {
		return nil, err
	}
	return ok(ctx, roleWire(r)), nil
}

type createAuthzRoleIn struct {
	EnvQuery
	Body struct {
		Key         string         `json:"key" minLength:"1" maxLength:"255"`
		Name        string         `json:"name,omitempty" maxLength:"200"`
		Description string         `json:"description,omitempty" maxLength:"2000"`
		Permissions []string       `json:"permissions,omitempty" doc:"\"<resource>:<action>\" of existing resource types."`
		Extends     []string       `json:"extends,omitempty" doc:"Keys of roles whose permissions this role also grants."`
		Attributes  map[string]any `json:"attributes,omitempty" doc:"Your metadata of the role (a JSON object); not used by checks."`
	}
}

func (h *handlers) createAuthzRole(ctx context.Context, in *createAuthzRoleIn) (*Out[Role], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	b := in.Body
	r, err := h.Facts.CreateRole(ctx, env.ID, facts.RoleInput{Key: b.Key, Name: b.Name, Description: b.Description, Permissions: b.Permissions, Extends: b.Extends,
		Attributes: b.Attributes})
	if err != nil {
		return nil, err
	}
	return ok(ctx, roleWire(r)), nil
}

type updateAuthzRoleIn struct {
	RoleRef
	Body struct {
		Name        *string   `json:"name,omitempty" maxLength:"200"`
		Description *string   `json:"description,omitempty" maxLength:"2000"`
		Permissions *[]string `json:"permissions,omitempty" doc:"Replaces the role's permissions. Not with add_permissions or remove_permissions."`
		// AddPermissions and RemovePermissions change the permissions the
		// role has when the write runs, in its transaction: two clients
		// adding one each both land.
		AddPermissions    []string        `json:"add_permissions,omitempty" maxItems:"256" doc:"Permissions (\"<resource>:<action>\" of existing resource types) to grant besides those the role has; one already granted is no change. Not with permissions."`
		RemovePermissions []string        `json:"remove_permissions,omitempty" maxItems:"256" doc:"Permissions to take from the role; one it does not grant is no change. Not with permissions, nor one also in add_permissions."`
		Extends           *[]string       `json:"extends,omitempty" doc:"Replaces the roles it extends."`
		Attributes        *map[string]any `json:"attributes,omitempty" doc:"Replaces all attributes."`
	}
}

// permissionEdits refuses a patch with both a permissions list and an add
// or remove, or naming one permission to add and to remove.
func permissionEdits(set bool, add, remove []string) error {
	if set && (add != nil || remove != nil) {
		return gatehouse.FieldError("permissions", "conflicting_fields", "give either permissions (the whole list) or add_permissions/remove_permissions, not both")
	}
	for _, p := range add {
		if slices.Contains(remove, p) {
			return gatehouse.FieldError("remove_permissions", "conflicting_fields", "%q is both in add_permissions and in remove_permissions", p)
		}
	}
	return nil
}

func (h *handlers) updateAuthzRole(ctx context.Context, in *updateAuthzRoleIn) (*Out[Role], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	b := in.Body
	if err := permissionEdits(b.Permissions != nil, b.AddPermissions, b.RemovePermissions); err != nil {
		return nil, err
	}
	r, err := h.Facts.UpdateRole(ctx, env.ID, in.Role, facts.RolePatch{Name: b.Name, Description: b.Description, Permissions: b.Permissions, Extends: b.Extends,
		AddPermissions: b.AddPermissions, RemovePermissions: b.RemovePermissions, Attributes: b.Attributes})
	if err != nil {
		return nil, err
	}
	return ok(ctx, roleWire(r)), nil
}

type deleteRoleIn struct {
	RoleRef
	CascadeQuery
}

func (h *handlers) deleteAuthzRole(ctx context.Context, in *deleteRoleIn) (*NoContent, error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	return &NoContent{}, h.Facts.DeleteRole(ctx, env.ID, in.Role, in.Cascade)
}

// ---- role assignments

type listAssignmentsIn struct {
	EnvQuery
	PageQuery
	Sort   string `query:"sort" default:"created_at" enum:"created_at,user,role,tenant"`
	User   string `query:"user" doc:"Only assignments of this user (key)."`
	Role   string `query:"role" doc:"Only assignments of this role (key)."`
	Tenant string `query:"tenant" doc:"Only assignments in this tenant (key)."`
	// ResourceInstance narrows to roles on one instance.
	ResourceInstance string `query:"resource_instance" doc:"Only roles on this resource instance (\"resource:key\")."`
	Kind             string `query:"kind" enum:"all,tenant,instance" default:"all" doc:"tenant: only roles in tenants; instance: only roles on resource instances."`
}

func (h *handlers) listAssignments(ctx context.Context, in *listAssignmentsIn) (*ListOut[RoleAssignment], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	req := in.request(in.Sort)
	kind := map[string]string{"all": facts.AllAssignments, "tenant": "", "instance": facts.AssignmentsOnInstances}[in.Kind]
	if in.Kind == "" {
		kind = facts.AllAssignments
	}
	page, err := h.Facts.Assignments(ctx, facts.AssignmentFilter{EnvID: env.ID, User: in.User, Role: in.Role, Tenant: in.Tenant, ResourceInstance: in.ResourceInstance, Kind: kind}, req)
	if err != nil {
		return nil, err
	}
	return list(ctx, page, req, assignmentOut), nil
}

type assignIn struct {
	EnvQuery
	Body struct {
		User   string `json:"user" minLength:"1" doc:"User id or key."`
		Role   string `json:"role" minLength:"1" doc:"Role id or key."`
		Tenant string `json:"tenant,omitempty" doc:"Tenant id or key; the default tenant when omitted."`
		// ResourceInstance makes it a role on one instance.
		ResourceInstance string `json:"resource_instance,omitempty" doc:"\"resource:key\" (or id) of a resource instance: the role is then a role of its resource type, given on that instance only (tenant, if given, must be the instance's)."`
	}
}

func (h *handlers) assign(ctx context.Context, in *assignIn) (*Out[RoleAssignment], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	if _, err := h.Facts.Engines.Get(ctx, env.ID); err != nil { // the default tenant exists from here on
		return nil, err
	}
	a, err := h.Facts.Assign(ctx, env.ID, facts.AssignInput{User: in.Body.User, Role: in.Body.Role, Tenant: in.Body.Tenant, ResourceInstance: in.Body.ResourceInstance})
	if err != nil {
		return nil, err
	}
	return ok(ctx, assignmentOut(a)), nil
}

type unassignIn struct {
	EnvQuery
	User   string `query:"user" required:"true" doc:"User id or key."`
	Role   string `query:"role" required:"true" doc:"Role id or key."`
	Tenant string `query:"tenant" doc:"Tenant id or key; the default tenant when omitted."`
	// ResourceInstance names a role on one instance.
	ResourceInstance string `query:"resource_instance" doc:"For a role on a resource instance: \"resource:key\" or id."`
}

func (h *handlers) unassign(ctx context.Context, in *unassignIn) (*NoContent, error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	return &NoContent{}, h.Facts.Unassign(ctx, env.ID, facts.AssignInput{User: in.User, Role: in.Role, Tenant: in.Tenant, ResourceInstance: in.ResourceInstance})
}
