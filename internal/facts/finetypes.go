package facts

import (
	"context"
	"encoding/json"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// Fine-grained authorization data (issue 15; the rules are authz's, see
// authz/model.go): roles on resource types, relations between types,
// resource instances, relationship tuples, role assignments on instances,
// condition sets and set rules.

// ResourceRole is a role defined on a resource type, assigned on instances.
// Attributes are free metadata, as a tenant role's.
type ResourceRole struct {
	ID          string             `json:"id"`
	EnvID       string             `json:"-"`
	ResourceID  string             `json:"resource_id"`
	Resource    string             `json:"resource"` // key, filled when read
	Key         string             `json:"key"`
	Name        string             `json:"name"`
	Description string             `json:"description"`
	Permissions []string           `json:"permissions"` // actions of Resource
	Extends     []string           `json:"extends"`     // roles of Resource
	GrantedTo   []authz.Derivation `json:"granted_to"`
	Attributes  map[string]any     `json:"attributes"`
	CreatedAt   time.Time          `json:"created_at"`
	UpdatedAt   time.Time          `json:"updated_at"`
}

// Authz is the engine's view of the resource role.
func (r ResourceRole) Authz() authz.ResourceRole {
	return authz.ResourceRole{Resource: r.Resource, Key: r.Key, Name: r.Name, Permissions: r.Permissions, Extends: r.Extends, GrantedTo: r.GrantedTo}
}

// Relation declares that instances of Subject may relate to instances of
// Resource under Key.
type Relation struct {
	ID          string    `json:"id"`
	EnvID       string    `json:"-"`
	ResourceID  string    `json:"resource_id"`
	Resource    string    `json:"resource"`
	Key         string    `json:"key"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	SubjectID   string    `json:"subject_id"`
	Subject     string    `json:"subject"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Authz is the engine's view of the relation.
func (r Relation) Authz() authz.Relation {
	return authz.Relation{Resource: r.Resource, Key: r.Key, Name: r.Name, Subject: r.Subject}
}

// Instance is one resource of a type, in one tenant.
type Instance struct {
	ID         string         `json:"id"`
	EnvID      string         `json:"-"`
	ResourceID string         `json:"resource_id"`
	Resource   string         `json:"resource"`
	Key        string         `json:"key"`
	TenantID   string         `json:"tenant_id"`
	Tenant     string         `json:"tenant"`
	Attributes map[string]any `json:"attributes"`
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
}

// Ref is the instance's "resource:key".
func (i Instance) Ref() string { return i.Resource + ":" + i.Key }

// Authz is the engine's view of the instance.
func (i Instance) Authz() authz.Instance {
	return authz.Instance{Resource: i.Resource, Key: i.Key, Tenant: i.Tenant, Attributes: i.Attributes}
}

// Tuple relates two instances, or the holders of a role on an instance to
// a role on another.
type Tuple struct {
	ID          string    `json:"id"`
	EnvID       string    `json:"-"`
	SubjectID   string    `json:"subject_id"`
	SubjectRole string    `json:"-"`
	Subject     string    `json:"subject"` // "S:s" or "S:s#r"
	Relation    string    `json:"relation"`
	ObjectID    string    `json:"object_id"`
	Object      string    `json:"object"`
	CreatedAt   time.Time `json:"created_at"`
}

// Authz is the engine's view of the tuple.
func (t Tuple) Authz() authz.Tuple {
	return authz.Tuple{Subject: t.Subject, Relation: t.Relation, Object: t.Object}
}

// ConditionSet selects users (a user set) or resources of one type (a
// resource set) by their attributes.
type ConditionSet struct {
	ID          string          `json:"id"`
	EnvID       string          `json:"-"`
	Key         string          `json:"key"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Type        string          `json:"type"`
	ResourceID  string          `json:"resource_id,omitempty"`
	Resource    string          `json:"resource,omitempty"`
	Conditions  json.RawMessage `json:"conditions"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

// Authz is the engine's view of the condition set.
func (c ConditionSet) Authz() authz.ConditionSet {
	return authz.ConditionSet{Key: c.Key, Name: c.Name, Type: c.Type, Resource: c.Resource, Conditions: c.Conditions}
}

// SetRule lets the users of a user set do an action on the resources of a
// resource set.
type SetRule struct {
	ID            string    `json:"id"`
	EnvID         string    `json:"-"`
	UserSetID     string    `json:"user_set_id"`
	UserSet       string    `json:"user_set"`
	Action        string    `json:"action"`
	ResourceSetID string    `json:"resource_set_id"`
	ResourceSet   string    `json:"resource_set"`
	CreatedAt     time.Time `json:"created_at"`
}

// Authz is the engine's view of the set rule.
func (r SetRule) Authz() authz.SetRule {
	return authz.SetRule{UserSet: r.UserSet, Action: r.Action, ResourceSet: r.ResourceSet}
}

// Change operations of the fine-grained data.
const (
	OpPutResourceRole    = authz.OpPutResourceRole
	OpDeleteResourceRole = authz.OpDeleteResourceRole
	OpPutRelation        = authz.OpPutRelation
	OpDeleteRelation     = authz.OpDeleteRelation
	OpPutInstance        = authz.OpPutInstance
	OpDeleteInstance     = authz.OpDeleteInstance
	OpPutTuple           = authz.OpPutTuple
	OpDeleteTuple        = authz.OpDeleteTuple
	OpPutConditionSet    = authz.OpPutConditionSet
	OpDeleteConditionSet = authz.OpDeleteConditionSet
	OpPutSetRule         = authz.OpPutSetRule
	OpDeleteSetRule      = authz.OpDeleteSetRule
)

// ResourceKeyRef is the data of a delete of something keyed within a
// resource type (a resource role, a relation, an instance).
type ResourceKeyRef struct {
	Resource string `json:"resource"`
	Key      string `json:"key"`
}

// FineFilter narrows a list of resource roles, relations, instances or
// condition sets; values are keys.
type FineFilter struct {
	EnvID    string
	Resource string // the resource type (id for roles and relations of one type)
	Key      string
	Tenant   string // instances only
	Type     string // condition sets only
	Search   string
}

// TupleFilter narrows a list of tuples. Subject and Object are "type:key"
// ("type:key#role" for a subject set); the others match by key.
type TupleFilter struct {
	EnvID, Subject, Relation, Object string
	// SubjectID, ObjectID: instance ids (either side: AnyID).
	SubjectID, ObjectID, AnyID string
	ObjectResourceID           string // the object's type
	SubjectResourceID          string // the subject's type
	SubjectRole                string
	// Role, when set, is the exact subject role ("": an instance subject).
	Role *string
}

// SetRuleFilter narrows a list of set rules; values are keys.
type SetRuleFilter struct {
	EnvID, UserSet, Action, ResourceSet string
	// SetID matches rules with this condition set (id) on either side.
	SetID string
}

// FineStore persists the fine-grained data; lookups take an id or a key
// (an instance: an id or "resource:key").
type FineStore interface {
	CreateResourceRole(ctx context.Context, r *ResourceRole) error
	GetResourceRole(ctx context.Context, envID, resourceID, ref string) (*ResourceRole, error)
	ListResourceRoles(ctx context.Context, f FineFilter, page gatehouse.PageRequest) (gatehouse.Page[ResourceRole], error)
	// AllResourceRoles returns every resource role of envID.
	AllResourceRoles(ctx context.Context, envID string) ([]ResourceRole, error)
	UpdateResourceRole(ctx context.Context, r *ResourceRole) error
	DeleteResourceRole(ctx context.Context, envID, id string) error

	CreateRelation(ctx context.Context, r *Relation) error
	GetRelation(ctx context.Context, envID, resourceID, ref string) (*Relation, error)
	ListRelations(ctx context.Context, f FineFilter, page gatehouse.PageRequest) (gatehouse.Page[Relation], error)
	// AllRelations returns every relation of envID.
	AllRelations(ctx context.Context, envID string) ([]Relation, error)
	UpdateRelation(ctx context.Context, r *Relation) error
	DeleteRelation(ctx context.Context, envID, id string) error

	CreateInstance(ctx context.Context, i *Instance) error
	GetInstance(ctx context.Context, envID, ref string) (*Instance, error)
	ListInstances(ctx context.Context, f FineFilter, page gatehouse.PageRequest) (gatehouse.Page[Instance], error)
	UpdateInstance(ctx context.Context, i *Instance) error
	DeleteInstance(ctx context.Context, envID, id string) error

	CreateTuple(ctx context.Context, t *Tuple) error
	DeleteTuple(ctx context.Context, envID, id string) error
	ListTuples(ctx context.Context, f TupleFilter, page gatehouse.PageRequest) (gatehouse.Page[Tuple], error)

	CreateInstanceAssignment(ctx context.Context, a *Assignment) error
	DeleteInstanceAssignment(ctx context.Context, envID, userID, roleID, instanceID string) error

	CreateConditionSet(ctx context.Context, c *ConditionSet) error
	GetConditionSet(ctx context.Context, envID, ref string) (*ConditionSet, error)
	ListConditionSets(ctx context.Context, f FineFilter, page gatehouse.PageRequest) (gatehouse.Page[ConditionSet], error)
	UpdateConditionSet(ctx context.Context, c *ConditionSet) error
	DeleteConditionSet(ctx context.Context, envID, id string) error

	// Bulk reads and writes of imports and copies.
	// InstancesByKey returns the instances of resource type resourceID (an
	// id) with the given keys.
	InstancesByKey(ctx context.Context, envID, resourceID string, keys []string) (map[string]*Instance, error)
	InsertInstances(ctx context.Context, is []*Instance) error
	// InsertTuples and InsertInstanceAssignments store the items that do
	// not exist yet and return the ids of those stored.
	InsertTuples(ctx context.Context, ts []Tuple) (map[string]bool, error)
	InsertInstanceAssignments(ctx context.Context, as []Assignment) (map[string]bool, error)

	CreateSetRule(ctx context.Context, r *SetRule) error
	GetSetRule(ctx context.Context, envID, ref string) (*SetRule, error)
	ListSetRules(ctx context.Context, f SetRuleFilter, page gatehouse.PageRequest) (gatehouse.Page[SetRule], error)
	DeleteSetRule(ctx context.Context, envID, id string) error
}
