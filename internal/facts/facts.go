// Package facts manages an environment's authorization data (the API's
// /facts/{project}/{environment}/… paths): users, tenants, resource types with
// their actions, roles and role assignments. Every write is recorded in the
// environment's change feed in the same transaction; the in-memory decision
// engines of every node, and standalone PDPs, follow that feed.
package facts

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/event"
)

// User is an end user of the application, subject of checks.
type User struct {
	ID         string         `json:"id"`
	EnvID      string         `json:"-"`
	Key        string         `json:"key"`
	Email      string         `json:"email"`
	FirstName  string         `json:"first_name"`
	LastName   string         `json:"last_name"`
	Attributes map[string]any `json:"attributes"`
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
}

// Tenant is an isolated part of the application's data.
type Tenant struct {
	ID          string         `json:"id"`
	EnvID       string         `json:"-"`
	Key         string         `json:"key"`
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Attributes  map[string]any `json:"attributes"`
	CreatedAt   time.Time      `json:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
}

// Resource is a resource type, its actions and its attribute definitions.
type Resource struct {
	ID          string                  `json:"id"`
	EnvID       string                  `json:"-"`
	Key         string                  `json:"key"`
	Name        string                  `json:"name"`
	Description string                  `json:"description"`
	Actions     []string                `json:"actions"`
	Attributes  map[string]AttributeDef `json:"attributes"`
	// Type is a category of the caller's (the resource's "type" field, e.g.
	// processor), Config free settings, Status active or archived; the
	// decision engine does not use them.
	Type      string         `json:"type"`
	Config    map[string]any `json:"config"`
	Status    string         `json:"status"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

// Resource statuses.
const (
	ResourceActive   = "active"
	ResourceArchived = "archived"
)

// AttributeDef declares an attribute of a resource type (Permit's
// resource attribute schema).
type AttributeDef struct {
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
}

// AttributeTypes are the types an attribute may declare.
var AttributeTypes = []string{"bool", "number", "string", "time", "array", "json"}

// Role is a named set of "resource:action" permissions that may extend
// other roles. Attributes are the caller's free metadata (a JSON object):
// stored and returned, not used by checks.
type Role struct {
	ID          string         `json:"id"`
	EnvID       string         `json:"-"`
	Key         string         `json:"key"`
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Permissions []string       `json:"permissions"`
	Extends     []string       `json:"extends"`
	Attributes  map[string]any `json:"attributes"`
	CreatedAt   time.Time      `json:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
}

// Assignment gives a user a role in a tenant.
type Assignment struct {
	ID       string `json:"id"`
	EnvID    string `json:"-"`
	User     string `json:"user"` // keys, filled when read
	Role     string `json:"role"`
	Tenant   string `json:"tenant"`
	UserID   string `json:"user_id"`
	RoleID   string `json:"role_id"`
	TenantID string `json:"tenant_id"`
	// ResourceInstance ("document:d1") and InstanceID are set for a role
	// on an instance: Role is then a role of the instance's resource type
	// and Tenant the instance's tenant.
	ResourceInstance string    `json:"resource_instance,omitempty"`
	InstanceID       string    `json:"instance_id,omitempty"`
	CreatedAt        time.Time `json:"created_at"`
}

// Change operations of the feed: the engine's (see authz.Change).
const (
	OpPutUser        = authz.OpPutUser
	OpDeleteUser     = authz.OpDeleteUser
	OpPutTenant      = authz.OpPutTenant
	OpDeleteTenant   = authz.OpDeleteTenant
	OpPutResource    = authz.OpPutResource
	OpDeleteResource = authz.OpDeleteResource
	OpPutRole        = authz.OpPutRole
	OpDeleteRole     = authz.OpDeleteRole
	OpAssign         = authz.OpAssign
	OpUnassign       = authz.OpUnassign
	OpBatch          = authz.OpBatch
	OpReset          = authz.OpReset
)

// Change is one entry of an environment's change feed: an engine operation
// at a position of the feed (the one definition is authz.FeedEntry).
type Change = authz.FeedEntry

// KeyRef is the data of a delete change.
type KeyRef = authz.KeyRef

// Filter narrows a list of users, tenants, resources or roles.
type Filter struct {
	EnvID  string
	Key    string
	Email  string // users only
	Search string // substring of key, name or email
	Type   string // resources only
	Status string // resources only
}

// AssignmentFilter narrows a list of assignments; values are keys.
type AssignmentFilter struct {
	EnvID, User, Role, Tenant string
	ResourceInstance          string // "resource:key": only assignments on this instance
	// Kind: "" tenant assignments only, AssignmentsOnInstances those on
	// instances only, AllAssignments both.
	Kind string
}

// Kinds of an AssignmentFilter.
const (
	AssignmentsOnInstances = "instance"
	AllAssignments         = "all"
)

// Store persists authorization data. Lookups take an id or a key.
type Store interface {
	// InFactsTx runs fn in a transaction that holds the environment's write
	// lock, so changes of one environment commit in feed order.
	InFactsTx(ctx context.Context, envID string, fn func(Store) error) error

	CreateUser(ctx context.Context, u *User) error
	GetUser(ctx context.Context, envID, ref string) (*User, error)
	ListUsers(ctx context.Context, f Filter, page gatehouse.PageRequest) (gatehouse.Page[User], error)
	UpdateUser(ctx context.Context, u *User) error
	DeleteUser(ctx context.Context, envID, id string) error

	CreateTenant(ctx context.Context, t *Tenant) error
	GetTenant(ctx context.Context, envID, ref string) (*Tenant, error)
	// EnvironmentsWithoutTenant lists the environments (deleted ones too)
	// that have no tenant with key.
	EnvironmentsWithoutTenant(ctx context.Context, key string) ([]string, error)
	ListTenants(ctx context.Context, f Filter, page gatehouse.PageRequest) (gatehouse.Page[Tenant], error)
	UpdateTenant(ctx context.Context, t *Tenant) error
	DeleteTenant(ctx context.Context, envID, id string) error

	CreateResource(ctx context.Context, r *Resource) error
	GetResource(ctx context.Context, envID, ref string) (*Resource, error)
	ListResources(ctx context.Context, f Filter, page gatehouse.PageRequest) (gatehouse.Page[Resource], error)
	UpdateResource(ctx context.Context, r *Resource) error
	DeleteResource(ctx context.Context, envID, id string) error

	CreateRole(ctx context.Context, r *Role) error
	GetRole(ctx context.Context, envID, ref string) (*Role, error)
	ListRoles(ctx context.Context, f Filter, page gatehouse.PageRequest) (gatehouse.Page[Role], error)
	AllRoles(ctx context.Context, envID string) ([]Role, error)
	UpdateRole(ctx context.Context, r *Role) error
	DeleteRole(ctx context.Context, envID, id string) error

	FineStore

	CreateAssignment(ctx context.Context, a *Assignment) error
	DeleteAssignment(ctx context.Context, envID, userID, roleID, tenantID string) error
	ListAssignments(ctx context.Context, f AssignmentFilter, page gatehouse.PageRequest) (gatehouse.Page[Assignment], error)

	// AppendChange appends c to envID's feed and sets its Seq.
	AppendChange(ctx context.Context, envID string, c *Change) error
	ChangesSince(ctx context.Context, envID string, seq int64, limit int) ([]Change, error)
	// FeedPosition is the seq of envID's latest change (0 when none).
	FeedPosition(ctx context.Context, envID string) (int64, error)
	// LoadEnvironment reads everything of envID and the feed position it
	// corresponds to, from one consistent snapshot.
	LoadEnvironment(ctx context.Context, envID string) (authz.Data, int64, error)

	// Bulk operations of imports and copies (see rows.go).
	UsersByKey(ctx context.Context, envID string, keys []string) (map[string]*User, error)
	// AssignmentsOfUsers returns the tenant role assignments of the users
	// of envID with these ids, by user, then created_at and id.
	AssignmentsOfUsers(ctx context.Context, envID string, userIDs []string) ([]Assignment, error)
	TenantsByKey(ctx context.Context, envID string, keys []string) (map[string]*Tenant, error)
	// RoleIDs maps role keys of envID to their ids.
	RoleIDs(ctx context.Context, envID string) (map[string]string, error)
	InsertUsers(ctx context.Context, us []*User) error
	InsertTenants(ctx context.Context, ts []*Tenant) error
	// InsertAssignments stores the assignments that do not exist yet and
	// returns the ids of those it stored.
	InsertAssignments(ctx context.Context, as []Assignment) (map[string]bool, error)
	// ClearEnvironment deletes every user, tenant but the default one,
	// resource type, role and assignment of envID.
	ClearEnvironment(ctx context.Context, envID string) error
	// ExportRows reads the items of one kind of envID whose ids are in
	// (after, upto] ("" upto: no upper bound), in id order.
	ExportRows(ctx context.Context, envID, kind, after, upto string) ([]Row, error)
	// IDBoundaries returns every n-th id of kind in envID, in id order: the
	// ends of ranges of n items.
	IDBoundaries(ctx context.Context, envID, kind string, n int) ([]string, error)
	// CountRows counts the items of kind in envID.
	CountRows(ctx context.Context, envID, kind string) (int, error)

	// Emit records events in the transaction (the webhook outbox).
	Emit(ctx context.Context, events ...event.Event) error
	// AuditOnly records events in the transaction's audit trail without
	// sending them to webhooks (a bulk import that sends no events).
	AuditOnly(ctx context.Context, events ...event.Event) error
}

// Authz is the engine's view of the user.
func (u User) Authz() authz.User {
	return authz.User{Key: u.Key, Email: u.Email, FirstName: u.FirstName, LastName: u.LastName, Attributes: u.Attributes}
}

// Authz is the engine's view of the tenant.
func (t Tenant) Authz() authz.Tenant {
	return authz.Tenant{Key: t.Key, Name: t.Name, Attributes: t.Attributes}
}

// Authz is the engine's view of the resource type.
func (r Resource) Authz() authz.Resource {
	return authz.Resource{Key: r.Key, Name: r.Name, Actions: r.Actions}
}

// Authz is the engine's view of the role.
func (r Role) Authz() authz.Role {
	return authz.Role{Key: r.Key, Name: r.Name, Permissions: r.Permissions, Extends: r.Extends}
}
