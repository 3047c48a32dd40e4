package httpapi

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
)

// Fine-grained authorization data (issue 15): roles and relations of
// resource types, resource instances, relationship tuples, condition sets
// and set rules. The rules are authz's (authz/model.go).

// ---- wire types

// Derivation grants a resource role to the holders of a role on a related
// instance (or of a tenant role, with on_resource "__tenant").
type Derivation struct {
	Role             string `json:"role" minLength:"1" doc:"The role held: a role of on_resource, or a tenant role."`
	OnResource       string `json:"on_resource" minLength:"1" doc:"The resource type on whose instance the role is held; \"__tenant\" for a tenant role (held in the instance's tenant)."`
	LinkedByRelation string `json:"linked_by_relation,omitempty" doc:"The relation (declared on this role's resource type, its subjects of on_resource) that links the two instances; none for a tenant role."`
}

func derivationsIn(in []Derivation) []authz.Derivation {
	if in == nil {
		return nil
	}
	out := make([]authz.Derivation, len(in))
	for i, d := range in {
		out[i] = authz.Derivation(d)
	}
	return out
}

// ResourceRole is the wire form of a role of a resource type.
type ResourceRole struct {
	ID          string         `json:"id"`
	Key         string         `json:"key"`
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Resource    string         `json:"resource" doc:"The resource type's key."`
	ResourceID  string         `json:"resource_id"`
	Permissions []string       `json:"permissions" doc:"Actions of the resource type the role grants on an instance."`
	Extends     []string       `json:"extends" doc:"Other roles of the same resource type whose actions this role also grants."`
	GrantedTo   []Derivation   `json:"granted_to" doc:"Who else holds this role: the holders of a role on a related instance, or of a tenant role."`
	Attributes  map[string]any `json:"attributes" doc:"Your metadata of the role (a JSON object); not used by checks."`
	CreatedAt   time.Time      `json:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
}

func resourceRoleOut(r *facts.ResourceRole) ResourceRole {
	ds := make([]Derivation, len(r.GrantedTo))
	for i, d := range r.GrantedTo {
		ds[i] = Derivation(d)
	}
	return ResourceRole{ID: r.ID, Key: r.Key, Name: r.Name, Description: r.Description, Resource: r.Resource, ResourceID: r.ResourceID,
		Permissions: r.Permissions, Extends: r.Extends, GrantedTo: ds, Attributes: orEmptyValues(r.Attributes), CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

// Relation is the wire form of a relation of a resource type.
type Relation struct {
	ID          string    `json:"id"`
	Key         string    `json:"key"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Resource    string    `json:"resource" doc:"The resource type the relation is declared on (the tuples' objects)."`
	ResourceID  string    `json:"resource_id"`
	Subject     string    `json:"subject" doc:"The resource type of the tuples' subjects."`
	SubjectID   string    `json:"subject_id"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func relationOut(r *facts.Relation) Relation {
	return Relation{ID: r.ID, Key: r.Key, Name: r.Name, Description: r.Description, Resource: r.Resource, ResourceID: r.ResourceID,
		Subject: r.Subject, SubjectID: r.SubjectID, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

// ResourceInstance is the wire form of a resource instance.
type ResourceInstance struct {
	ID         string         `json:"id"`
	Key        string         `json:"key"`
	Resource   string         `json:"resource"`
	ResourceID string         `json:"resource_id"`
	Tenant     string         `json:"tenant"`
	TenantID   string         `json:"tenant_id"`
	Attributes map[string]any `json:"attributes"`
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
}

func instanceOut(i *facts.Instance) ResourceInstance {
	return ResourceInstance{ID: i.ID, Key: i.Key, Resource: i.Resource, ResourceID: i.ResourceID, Tenant: i.Tenant, TenantID: i.TenantID,
		Attributes: i.Attributes, CreatedAt: i.CreatedAt, UpdatedAt: i.UpdatedAt}
}

// RelationshipTuple is the wire form of a relationship tuple.
type RelationshipTuple struct {
	ID        string    `json:"id"`
	Subject   string    `json:"subject" doc:"\"type:key\", or \"type:key#role\" for the holders of a role on an instance."`
	Relation  string    `json:"relation"`
	Object    string    `json:"object" doc:"\"type:key\"."`
	SubjectID string    `json:"subject_id"`
	ObjectID  string    `json:"object_id"`
	CreatedAt time.Time `json:"created_at"`
}

func tupleOut(t *facts.Tuple) RelationshipTuple {
	return RelationshipTuple{ID: t.ID, Subject: t.Subject, Relation: t.Relation, Object: t.Object, SubjectID: t.SubjectID, ObjectID: t.ObjectID, CreatedAt: t.CreatedAt}
}

// ConditionSet is the wire form of a user set or resource set.
type ConditionSet struct {
	ID          string    `json:"id"`
	Key         string    `json:"key"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Type        string    `json:"type" enum:"userset,resourceset"`
	Resource    string    `json:"resource,omitempty" doc:"A resource set's resource type."`
	ResourceID  string    `json:"resource_id,omitempty"`
	Conditions  any       `json:"conditions" doc:"The conditions, as given."`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func conditionSetOut(c *facts.ConditionSet) ConditionSet {
	return ConditionSet{ID: c.ID, Key: c.Key, Name: c.Name, Description: c.Description, Type: c.Type, Resource: c.Resource, ResourceID: c.ResourceID,
		Conditions: c.Conditions, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

// SetRule is the wire form of a set rule.
type SetRule struct {
	ID            string    `json:"id"`
	UserSet       string    `json:"user_set"`
	Action        string    `json:"action"`
	ResourceSet   string    `json:"resource_set"`
	UserSetID     string    `json:"user_set_id"`
	ResourceSetID string    `json:"resource_set_id"`
	CreatedAt     time.Time `json:"created_at"`
}

func setRuleOut(r *facts.SetRule) SetRule {
	return SetRule{ID: r.ID, UserSet: r.UserSet, Action: r.Action, ResourceSet: r.ResourceSet, UserSetID: r.UserSetID, ResourceSetID: r.ResourceSetID, CreatedAt: r.CreatedAt}
}

// ---- resource roles

type listResourceRolesIn struct {
	ResourceRef
	PageQuery
	Sort   string `query:"sort" default:"created_at" enum:"created_at,updated_at,key,name"`
	Key    string `query:"key" doc:"Only the role with this key."`
	Search string `query:"search" maxLength:"200" doc:"Case-insensitive substring of the key or name."`
}

func (h *handlers) listResourceRoles(ctx context.Context, in *listResourceRolesIn) (*ListOut[ResourceRole], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	req := in.request(in.Sort)
	page, err := h.Facts.ResourceRoles(ctx, env.ID, in.Resource, facts.FineFilter{Key: in.Key, Search: in.Search}, req)
	if err != nil {
		return nil, err
	}
	return list(ctx, page, req, resourceRoleOut), nil
}

type ResourceRoleRef struct {
	ResourceRef
	Role string `path:"role" doc:"Role id or key (of this resource type)."`
}

func (h *handlers) getResourceRole(ctx context.Context, in *ResourceRoleRef) (*Out[ResourceRole], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	r, err := h.Facts.ResourceRole(ctx, env.ID, in.Resource, in.Role)
	if err != nil {
		return nil, err
	}
	return ok(ctx, resourceRoleOut(r)), nil
}

type createResourceRoleIn struct {
	ResourceRef
	Body struct {
		Key         string         `json:"key" minLength:"1" maxLength:"255"`
		Name        string         `json:"name,omitempty" maxLength:"200" doc:"Defaults to the key."`
		Description string         `json:"description,omitempty" maxLength:"2000"`
		Permissions []string       `json:"permissions,omitempty" maxItems:"256" doc:"Actions of the resource type, e.g. [\"read\", \"write\"]."`
		Extends     []string       `json:"extends,omitempty" maxItems:"64" doc:"Keys of other roles of the resource type."`
		GrantedTo   []Derivation   `json:"granted_to,omitempty" maxItems:"64" doc:"e.g. [{\"role\": \"editor\", \"on_resource\": \"folder\", \"linked_by_relation\": \"parent\"}]: editors of a document's parent folder are editors of the document."`
		Attributes  map[string]any `json:"attributes,omitempty" doc:"Your metadata of the role (a JSON object); not used by checks."`
	}
}

func (h *handlers) createResourceRole(ctx context.Context, in *createResourceRoleIn) (*Out[ResourceRole], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	b := in.Body
	r, err := h.Facts.CreateResourceRole(ctx, env.ID, in.Resource, facts.ResourceRoleInput{Key: b.Key, Name: b.Name, Description: b.Description,
		Permissions: b.Permissions, Extends: b.Extends, GrantedTo: derivationsIn(b.GrantedTo), Attributes: b.Attributes})
	if err != nil {
		return nil, err
	}
	return ok(ctx, resourceRoleOut(r)), nil
}

type updateResourceRoleIn struct {
	ResourceRoleRef
	Body struct {
		Name        *string   `json:"name,omitempty" maxLength:"200"`
		Description *string   `json:"description,omitempty" maxLength:"2000"`
		Permissions *[]string `json:"permissions,omitempty" maxItems:"256" doc:"Replaces the role's actions. Not with add_permissions or remove_permissions."`
		// AddPermissions and RemovePermissions change the actions the role
		// has when the write runs, in its transaction.
		AddPermissions    []string        `json:"add_permissions,omitempty" maxItems:"256" doc:"Actions of the resource type to grant besides those the role has; one already granted is no change. Not with permissions."`
		RemovePermissions []string        `json:"remove_permissions,omitempty" maxItems:"256" doc:"Actions to take from the role; one it does not grant is no change. Not with permissions, nor one also in add_permissions."`
		Extends           *[]string       `json:"extends,omitempty" maxItems:"64" doc:"Replaces the roles it extends."`
		GrantedTo         *[]Derivation   `json:"granted_to,omitempty" maxItems:"64" doc:"Replaces its derivations."`
		Attributes        *map[string]any `json:"attributes,omitempty" doc:"Replaces all attributes."`
	}
}

func (h *handlers) updateResourceRole(ctx context.Context, in *updateResourceRoleIn) (*Out[ResourceRole], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	b := in.Body
	if err := permissionEdits(b.Permissions != nil, b.AddPermissions, b.RemovePermissions); err != nil {
		return nil, err
	}
	p := facts.ResourceRolePatch{Name: b.Name, Description: b.Description, Permissions: b.Permissions, Extends: b.Extends, Attributes: b.Attributes}
	if b.GrantedTo != nil {
		ds := derivationsIn(*b.GrantedTo)
		if ds == nil {
			ds = []authz.Derivation{}
		}
		p.GrantedTo = &ds
	}
	if b.AddPermissions != nil || b.RemovePermissions != nil {
		// Worked out from the role as the write's transaction reads it.
		fixed := p
		p = facts.ResourceRolePatch{Edit: func(_ *facts.Resource, r *facts.ResourceRole) facts.ResourceRolePatch {
			perms := slices.DeleteFunc(append(slices.Clone(r.Permissions), b.AddPermissions...), func(x string) bool { return slices.Contains(b.RemovePermissions, x) })
			fixed.Permissions = &perms
			return fixed
		}}
	}
	r, err := h.Facts.UpdateResourceRole(ctx, env.ID, in.Resource, in.Role, p)
	if err != nil {
		return nil, err
	}
	return ok(ctx, resourceRoleOut(r)), nil
}

type deleteResourceRoleIn struct {
	ResourceRoleRef
	CascadeQuery
}

func (h *handlers) deleteResourceRole(ctx context.Context, in *deleteResourceRoleIn) (*NoContent, error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	return &NoContent{}, h.Facts.DeleteResourceRole(ctx, env.ID, in.Resource, in.Role, in.Cascade)
}

// ---- relations

func (h *handlers) listRelations(ctx context.Context, in *listResourceRolesIn) (*ListOut[Relation], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	req := in.request(in.Sort)
	page, err := h.Facts.Relations(ctx, env.ID, in.Resource, facts.FineFilter{Key: in.Key, Search: in.Search}, req)
	if err != nil {
		return nil, err
	}
	return list(ctx, page, req, relationOut), nil
}

type RelationRef struct {
	ResourceRef
	Relation string `path:"relation" doc:"Relation id or key (of this resource type)."`
}

func (h *handlers) getRelation(ctx context.Context, in *RelationRef) (*Out[Relation], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	r, err := h.Facts.Relation(ctx, env.ID, in.Resource, in.Relation)
	if err != nil {
		return nil, err
	}
	return ok(ctx, relationOut(r)), nil
}

type createRelationIn struct {
	ResourceRef
	Body struct {
		Key         string `json:"key" minLength:"1" maxLength:"255"`
		Name        string `json:"name,omitempty" maxLength:"200" doc:"Defaults to the key."`
		Description string `json:"description,omitempty" maxLength:"2000"`
		Subject     string `json:"subject" minLength:"1" doc:"The resource type of the subjects, e.g. folder for document's parent."`
	}
}

func (h *handlers) createRelation(ctx context.Context, in *createRelationIn) (*Out[Relation], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	b := in.Body
	r, err := h.Facts.CreateRelation(ctx, env.ID, in.Resource, facts.RelationInput{Key: b.Key, Name: b.Name, Description: b.Description, Subject: b.Subject})
	if err != nil {
		return nil, err
	}
	return ok(ctx, relationOut(r)), nil
}

type deleteRelationIn struct {
	RelationRef
	CascadeQuery
}

func (h *handlers) deleteRelation(ctx context.Context, in *deleteRelationIn) (*NoContent, error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	return &NoContent{}, h.Facts.DeleteRelation(ctx, env.ID, in.Resource, in.Relation, in.Cascade)
}

// ---- resource instances

type listInstancesIn struct {
	EnvQuery
	PageQuery
	Sort     string `query:"sort" default:"created_at" enum:"created_at,updated_at,key,resource,tenant"`
	Resource string `query:"resource" doc:"Only instances of this resource type (key)."`
	Tenant   string `query:"tenant" doc:"Only instances in this tenant (key)."`
	Key      string `query:"key" doc:"Only instances with this key."`
	Search   string `query:"search" maxLength:"200" doc:"Case-insensitive substring of the key."`
}

func (h *handlers) listInstances(ctx context.Context, in *listInstancesIn) (*ListOut[ResourceInstance], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	req := in.request(in.Sort)
	page, err := h.Facts.Instances(ctx, facts.FineFilter{EnvID: env.ID, Resource: in.Resource, Tenant: in.Tenant, Key: in.Key, Search: in.Search}, req)
	if err != nil {
		return nil, err
	}
	return list(ctx, page, req, instanceOut), nil
}

type InstanceRef struct {
	EnvQuery
	Instance string `path:"instance" doc:"Instance id, or \"resource:key\" (document:d1)."`
}

func (h *handlers) getInstance(ctx context.Context, in *InstanceRef) (*Out[ResourceInstance], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	i, err := h.Facts.Instance(ctx, env.ID, in.Instance)
	if err != nil {
		return nil, err
	}
	return ok(ctx, instanceOut(i)), nil
}

type createInstanceIn struct {
	EnvQuery
	Body struct {
		Resource   string         `json:"resource" minLength:"1" doc:"The resource type (key or id)."`
		Key        string         `json:"key" minLength:"1" maxLength:"255"`
		Tenant     string         `json:"tenant,omitempty" doc:"Tenant id or key; the default tenant when omitted."`
		Attributes map[string]any `json:"attributes,omitempty"`
	}
}

func (h *handlers) createInstance(ctx context.Context, in *createInstanceIn) (*Out[ResourceInstance], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	if _, err := h.Facts.Engines.Get(ctx, env.ID); err != nil { // the default tenant exists from here on
		return nil, err
	}
	b := in.Body
	i, err := h.Facts.CreateInstance(ctx, env.ID, facts.InstanceInput{Resource: b.Resource, Key: b.Key, Tenant: b.Tenant, Attributes: b.Attributes})
	if err != nil {
		return nil, err
	}
	return ok(ctx, instanceOut(i)), nil
}

type updateInstanceIn struct {
	InstanceRef
	Body struct {
		Tenant     *string         `json:"tenant,omitempty" doc:"Moves the instance to this tenant (id or key)."`
		Attributes *map[string]any `json:"attributes,omitempty" doc:"Replaces all attributes."`
	}
}

func (h *handlers) updateInstance(ctx context.Context, in *updateInstanceIn) (*Out[ResourceInstance], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	i, err := h.Facts.UpdateInstance(ctx, env.ID, in.Instance, facts.InstancePatch{Tenant: in.Body.Tenant, Attributes: in.Body.Attributes})
	if err != nil {
		return nil, err
	}
	return ok(ctx, instanceOut(i)), nil
}

func (h *handlers) deleteInstance(ctx context.Context, in *InstanceRef) (*NoContent, error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	return &NoContent{}, h.Facts.DeleteInstance(ctx, env.ID, in.Instance)
}

// ---- relationship tuples

// TupleIn names a relationship tuple.
type TupleIn struct {
	Subject  string `json:"subject" minLength:"1" doc:"\"type:key\" (folder:f1), or \"type:key#role\" (team:t1#member) for the holders of a role on an instance."`
	Relation string `json:"relation" minLength:"1" doc:"A relation of the object's type; with a subject set, a role of the object's type."`
	Object   string `json:"object" minLength:"1" doc:"\"type:key\" (document:d1)."`
}

func tuplesIn(in []TupleIn) []facts.TupleInput {
	out := make([]facts.TupleInput, len(in))
	for i, t := range in {
		out[i] = facts.TupleInput{Subject: t.Subject, Relation: t.Relation, Object: t.Object}
	}
	return out
}

type listTuplesIn struct {
	EnvQuery
	PageQuery
	Sort     string `query:"sort" default:"created_at" enum:"created_at,relation"`
	Subject  string `query:"subject" doc:"Only tuples with this subject (\"type:key\" or \"type:key#role\")."`
	Relation string `query:"relation" doc:"Only tuples with this relation."`
	Object   string `query:"object" doc:"Only tuples with this object (\"type:key\")."`
}

func (h *handlers) listTuples(ctx context.Context, in *listTuplesIn) (*ListOut[RelationshipTuple], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	req := in.request(in.Sort)
	page, err := h.Facts.Tuples(ctx, facts.TupleFilter{EnvID: env.ID, Subject: in.Subject, Relation: in.Relation, Object: in.Object}, req)
	if err != nil {
		return nil, err
	}
	return list(ctx, page, req, tupleOut), nil
}

type createTupleIn struct {
	EnvQuery
	Body TupleIn
}

func (h *handlers) createTuple(ctx context.Context, in *createTupleIn) (*Out[RelationshipTuple], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	ts, err := h.Facts.CreateTuples(ctx, env.ID, tuplesIn([]TupleIn{in.Body}))
	if err != nil {
		return nil, err
	}
	return ok(ctx, tupleOut(&ts[0])), nil
}

type deleteTupleIn struct {
	EnvQuery
	Subject  string   `query:"subject" doc:"The tuple's subject, when not in the body."`
	Relation string   `query:"relation" doc:"The tuple's relation, when not in the body."`
	Object   string   `query:"object" doc:"The tuple's object, when not in the body."`
	Body     *TupleIn `required:"false"`
}

func (h *handlers) deleteTuple(ctx context.Context, in *deleteTupleIn) (*NoContent, error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	t := TupleIn{Subject: in.Subject, Relation: in.Relation, Object: in.Object}
	if in.Body != nil {
		if t != (TupleIn{}) {
			return nil, gatehouse.FieldError("body", "invalid_value", "name the tuple in the body or in the query, not both")
		}
		t = *in.Body
	}
	return &NoContent{}, h.Facts.DeleteTuples(ctx, env.ID, tuplesIn([]TupleIn{t}))
}

type bulkTuplesIn struct {
	EnvQuery
	Body struct {
		Tuples []TupleIn `json:"tuples" minItems:"1" maxItems:"1000" doc:"At most 1,000 tuples, written in one transaction: all or none."`
	}
}

// BulkTuples is the answer of a bulk write.
type BulkTuples struct {
	Tuples []RelationshipTuple `json:"tuples"`
}

func (h *handlers) createTuplesBulk(ctx context.Context, in *bulkTuplesIn) (*Out[BulkTuples], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	ts, err := h.Facts.CreateTuples(ctx, env.ID, tuplesIn(in.Body.Tuples))
	if err != nil {
		return nil, err
	}
	out := BulkTuples{Tuples: make([]RelationshipTuple, len(ts))}
	for i := range ts {
		out.Tuples[i] = tupleOut(&ts[i])
	}
	return ok(ctx, out), nil
}

func (h *handlers) deleteTuplesBulk(ctx context.Context, in *bulkTuplesIn) (*NoContent, error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	return &NoContent{}, h.Facts.DeleteTuples(ctx, env.ID, tuplesIn(in.Body.Tuples))
}

// ---- condition sets

type listConditionSetsIn struct {
	FactsQuery
	Type     string `query:"type" enum:"userset,resourceset" doc:"Only user sets or only resource sets."`
	Resource string `query:"resource" doc:"Only resource sets of this resource type (key)."`
}

func (h *handlers) listConditionSets(ctx context.Context, in *listConditionSetsIn) (*ListOut[ConditionSet], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	req := in.request(in.Sort)
	page, err := h.Facts.ConditionSets(ctx, facts.FineFilter{EnvID: env.ID, Key: in.Key, Search: in.Search, Type: in.Type, Resource: in.Resource}, req)
	if err != nil {
		return nil, err
	}
	return list(ctx, page, req, conditionSetOut), nil
}

type ConditionSetRef struct {
	EnvQuery
	ConditionSet string `path:"condition_set" doc:"Condition set id or key."`
}

func (h *handlers) getConditionSet(ctx context.Context, in *ConditionSetRef) (*Out[ConditionSet], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	c, err := h.Facts.ConditionSet(ctx, env.ID, in.ConditionSet)
	if err != nil {
		return nil, err
	}
	return ok(ctx, conditionSetOut(c)), nil
}

type createConditionSetIn struct {
	EnvQuery
	Body struct {
		Key         string `json:"key" minLength:"1" maxLength:"255"`
		Name        string `json:"name,omitempty" maxLength:"200" doc:"Defaults to the key."`
		Description string `json:"description,omitempty" maxLength:"2000"`
		Type        string `json:"type" enum:"userset,resourceset"`
		Resource    string `json:"resource,omitempty" doc:"A resource set's resource type (key or id); none for a user set."`
		Conditions  any    `json:"conditions" doc:"Permit's condition JSON: {\"allOf\": [...]}, {\"anyOf\": [...]}, {\"not\": {...}} or a comparison such as {\"user.department\": {\"equals\": \"finance\"}} on user., resource., tenant. or context. attributes."`
	}
}

func rawJSON(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

func (h *handlers) createConditionSet(ctx context.Context, in *createConditionSetIn) (*Out[ConditionSet], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	b := in.Body
	c, err := h.Facts.CreateConditionSet(ctx, env.ID, facts.ConditionSetInput{Key: b.Key, Name: b.Name, Description: b.Description, Type: b.Type,
		Resource: b.Resource, Conditions: rawJSON(b.Conditions)})
	if err != nil {
		return nil, err
	}
	return ok(ctx, conditionSetOut(c)), nil
}

type updateConditionSetIn struct {
	ConditionSetRef
	Body struct {
		Name        *string `json:"name,omitempty" maxLength:"200"`
		Description *string `json:"description,omitempty" maxLength:"2000"`
		Conditions  any     `json:"conditions,omitempty" doc:"Replaces the conditions."`
	}
}

func (h *handlers) updateConditionSet(ctx context.Context, in *updateConditionSetIn) (*Out[ConditionSet], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	b := in.Body
	c, err := h.Facts.UpdateConditionSet(ctx, env.ID, in.ConditionSet, facts.ConditionSetPatch{Name: b.Name, Description: b.Description, Conditions: rawJSON(b.Conditions)})
	if err != nil {
		return nil, err
	}
	return ok(ctx, conditionSetOut(c)), nil
}

type deleteConditionSetIn struct {
	ConditionSetRef
	Cascade bool `query:"cascade" doc:"Also remove the set rules using it, in the same transaction. Without it, a condition set in use is a 409 listing them."`
}

func (h *handlers) deleteConditionSet(ctx context.Context, in *deleteConditionSetIn) (*NoContent, error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	return &NoContent{}, h.Facts.DeleteConditionSet(ctx, env.ID, in.ConditionSet, in.Cascade)
}

// ---- set rules

type listSetRulesIn struct {
	EnvQuery
	PageQuery
	Sort        string `query:"sort" default:"created_at" enum:"created_at,action,user_set,resource_set"`
	UserSet     string `query:"user_set" doc:"Only rules of this user set (key)."`
	Action      string `query:"action" doc:"Only rules of this action."`
	ResourceSet string `query:"resource_set" doc:"Only rules of this resource set (key)."`
}

func (h *handlers) listSetRules(ctx context.Context, in *listSetRulesIn) (*ListOut[SetRule], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	req := in.request(in.Sort)
	page, err := h.Facts.SetRules(ctx, facts.SetRuleFilter{EnvID: env.ID, UserSet: in.UserSet, Action: in.Action, ResourceSet: in.ResourceSet}, req)
	if err != nil {
		return nil, err
	}
	return list(ctx, page, req, setRuleOut), nil
}

type createSetRuleIn struct {
	EnvQuery
	Body struct {
		UserSet     string `json:"user_set" minLength:"1" doc:"A user set (key or id)."`
		Action      string `json:"action" minLength:"1" doc:"An action of the resource set's resource type."`
		ResourceSet string `json:"resource_set" minLength:"1" doc:"A resource set (key or id)."`
	}
}

func (h *handlers) createSetRule(ctx context.Context, in *createSetRuleIn) (*Out[SetRule], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	b := in.Body
	r, err := h.Facts.CreateSetRule(ctx, env.ID, facts.SetRuleInput{UserSet: b.UserSet, Action: b.Action, ResourceSet: b.ResourceSet})
	if err != nil {
		return nil, err
	}
	return ok(ctx, setRuleOut(r)), nil
}

type deleteSetRuleIn struct {
	EnvQuery
	UserSet     string `query:"user_set" required:"true" doc:"The rule's user set (key or id)."`
	Action      string `query:"action" required:"true" doc:"The rule's action."`
	ResourceSet string `query:"resource_set" required:"true" doc:"The rule's resource set (key or id)."`
}

func (h *handlers) deleteSetRule(ctx context.Context, in *deleteSetRuleIn) (*NoContent, error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	return &NoContent{}, h.Facts.DeleteSetRule(ctx, env.ID, "", facts.SetRuleInput{UserSet: in.UserSet, Action: in.Action, ResourceSet: in.ResourceSet})
}

type SetRuleRef struct {
	EnvQuery
	SetRule string `path:"set_rule" doc:"Set rule id."`
}

func (h *handlers) deleteSetRuleByID(ctx context.Context, in *SetRuleRef) (*NoContent, error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	return &NoContent{}, h.Facts.DeleteSetRule(ctx, env.ID, in.SetRule, facts.SetRuleInput{})
}
