package client

import (
	"context"
	"encoding/json"
	"iter"
	"net/http"
	"net/url"
	"strconv"
)

// Fine-grained authorization data (authz/model.go): roles and relations of
// resource types, resource instances, relationship tuples, condition sets
// and set rules, and the lookups of what a user may act on and who may act
// on an instance.

// FineListOptions filter a list of resource roles, relations or condition
// sets.
type FineListOptions struct {
	ListOptions
	Key    string // only the item with this key
	Search string // case-insensitive substring of the key or name
}

func (o *FineListOptions) values() url.Values {
	if o == nil {
		return url.Values{}
	}
	q := o.ListOptions.values()
	set(q, "key", o.Key)
	set(q, "search", o.Search)
	return q
}

func cascade(q url.Values, on bool) url.Values {
	if on {
		q.Set("cascade", "true")
	}
	return q
}

// ResourceRoles are the roles of resource types, given on instances.
type ResourceRoles struct{ c *Client }

// ResourceRoleInput creates a role of a resource type.
type ResourceRoleInput struct {
	Key         string         `json:"key"`
	Name        string         `json:"name,omitempty"`
	Description string         `json:"description,omitempty"`
	Permissions []string       `json:"permissions,omitempty"` // actions of the resource type
	Extends     []string       `json:"extends,omitempty"`     // other roles of the resource type
	GrantedTo   []Derivation   `json:"granted_to,omitempty"`
	Attributes  map[string]any `json:"attributes,omitempty"`
}

// ResourceRolePatch changes a role of a resource type (nil fields stay; a
// set list replaces the old one).
type ResourceRolePatch struct {
	Name        *string   `json:"name,omitempty"`
	Description *string   `json:"description,omitempty"`
	Permissions *[]string `json:"permissions,omitempty"`
	// AddPermissions and RemovePermissions change the actions the role has
	// when the server writes; not with Permissions.
	AddPermissions    []string        `json:"add_permissions,omitempty"`
	RemovePermissions []string        `json:"remove_permissions,omitempty"`
	Extends           *[]string       `json:"extends,omitempty"`
	GrantedTo         *[]Derivation   `json:"granted_to,omitempty"`
	Attributes        *map[string]any `json:"attributes,omitempty"` // replaces them all
}

func resourceRolesPath(resource string) string { return "/v1/resources/" + seg(resource) + "/roles" }

// List lists the roles of resource type resource.
func (r *ResourceRoles) List(ctx context.Context, resource string, opt *FineListOptions) (*Page[ResourceRole], error) {
	return list[ResourceRole](ctx, r.c, resourceRolesPath(resource), r.c.envQuery(opt.values()))
}

// All iterates over every role of resource type resource matching opt.
func (r *ResourceRoles) All(ctx context.Context, resource string, opt *FineListOptions) iter.Seq2[ResourceRole, error] {
	return all[ResourceRole](ctx, r.c, resourceRolesPath(resource), r.c.envQuery(opt.values()))
}

// Get returns a role of resource type resource by id or key.
func (r *ResourceRoles) Get(ctx context.Context, resource, ref string) (*ResourceRole, error) {
	return get[ResourceRole](ctx, r.c, resourceRolesPath(resource)+"/"+seg(ref), r.c.envQuery(nil))
}

// Create creates a role of resource type resource.
func (r *ResourceRoles) Create(ctx context.Context, resource string, in ResourceRoleInput) (*ResourceRole, error) {
	return write[ResourceRole](ctx, r.c, http.MethodPost, resourceRolesPath(resource), r.c.envQuery(nil), in)
}

// Update changes a role of resource type resource.
func (r *ResourceRoles) Update(ctx context.Context, resource, ref string, p ResourceRolePatch) (*ResourceRole, error) {
	return write[ResourceRole](ctx, r.c, http.MethodPatch, resourceRolesPath(resource)+"/"+seg(ref), r.c.envQuery(nil), p)
}

// Delete deletes a role of resource type resource. A role still used (by
// other roles, tuples or assignments) is a CONFLICT unless cascade also
// removes those uses.
func (r *ResourceRoles) Delete(ctx context.Context, resource, ref string, cascadeUses bool) error {
	return del(ctx, r.c, resourceRolesPath(resource)+"/"+seg(ref), cascade(r.c.envQuery(nil), cascadeUses))
}

// Relations are the relations declared on resource types.
type Relations struct{ c *Client }

// RelationInput declares a relation on a resource type.
type RelationInput struct {
	Key         string `json:"key"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	Subject     string `json:"subject"` // the resource type of the subjects
}

func relationsPath(resource string) string { return "/v1/resources/" + seg(resource) + "/relations" }

// List lists the relations of resource type resource.
func (r *Relations) List(ctx context.Context, resource string, opt *FineListOptions) (*Page[Relation], error) {
	return list[Relation](ctx, r.c, relationsPath(resource), r.c.envQuery(opt.values()))
}

// All iterates over every relation of resource type resource matching opt.
func (r *Relations) All(ctx context.Context, resource string, opt *FineListOptions) iter.Seq2[Relation, error] {
	return all[Relation](ctx, r.c, relationsPath(resource), r.c.envQuery(opt.values()))
}

// Get returns a relation of resource type resource by id or key.
func (r *Relations) Get(ctx context.Context, resource, ref string) (*Relation, error) {
	return get[Relation](ctx, r.c, relationsPath(resource)+"/"+seg(ref), r.c.envQuery(nil))
}

// Create declares a relation on resource type resource.
func (r *Relations) Create(ctx context.Context, resource string, in RelationInput) (*Relation, error) {
	return write[Relation](ctx, r.c, http.MethodPost, relationsPath(resource), r.c.envQuery(nil), in)
}

// Delete deletes a relation; its tuples and the derivations linked by it
// make it a CONFLICT unless cascade removes them too.
func (r *Relations) Delete(ctx context.Context, resource, ref string, cascadeUses bool) error {
	return del(ctx, r.c, relationsPath(resource)+"/"+seg(ref), cascade(r.c.envQuery(nil), cascadeUses))
}

// ResourceInstances are the environment's resource instances.
type ResourceInstances struct{ c *Client }

// InstanceListOptions filter a list of instances.
type InstanceListOptions struct {
	ListOptions
	Resource string // only instances of this resource type (key)
	Tenant   string // only instances in this tenant (key)
	Key      string
	Search   string // case-insensitive substring of the key
}

func (o *InstanceListOptions) values() url.Values {
	if o == nil {
		return url.Values{}
	}
	q := o.ListOptions.values()
	set(q, "resource", o.Resource)
	set(q, "tenant", o.Tenant)
	set(q, "key", o.Key)
	set(q, "search", o.Search)
	return q
}

// InstanceInput creates an instance.
type InstanceInput struct {
	Resource   string         `json:"resource"`
	Key        string         `json:"key"`
	Tenant     string         `json:"tenant,omitempty"` // the default tenant when empty
	Attributes map[string]any `json:"attributes,omitempty"`
}

// InstancePatch changes an instance: Tenant moves it, Attributes replaces
// all its attributes.
type InstancePatch struct {
	Tenant     *string         `json:"tenant,omitempty"`
	Attributes *map[string]any `json:"attributes,omitempty"`
}

// List lists instances.
func (r *ResourceInstances) List(ctx context.Context, opt *InstanceListOptions) (*Page[ResourceInstance], error) {
	return list[ResourceInstance](ctx, r.c, "/v1/resource-instances", r.c.envQuery(opt.values()))
}

// All iterates over every instance matching opt.
func (r *ResourceInstances) All(ctx context.Context, opt *InstanceListOptions) iter.Seq2[ResourceInstance, error] {
	return all[ResourceInstance](ctx, r.c, "/v1/resource-instances", r.c.envQuery(opt.values()))
}

// Get returns an instance by id or "resource:key".
func (r *ResourceInstances) Get(ctx context.Context, ref string) (*ResourceInstance, error) {
	return get[ResourceInstance](ctx, r.c, "/v1/resource-instances/"+seg(ref), r.c.envQuery(nil))
}

// Create creates an instance.
func (r *ResourceInstances) Create(ctx context.Context, in InstanceInput) (*ResourceInstance, error) {
	return write[ResourceInstance](ctx, r.c, http.MethodPost, "/v1/resource-instances", r.c.envQuery(nil), in)
}

// Update changes an instance (id or "resource:key").
func (r *ResourceInstances) Update(ctx context.Context, ref string, p InstancePatch) (*ResourceInstance, error) {
	return write[ResourceInstance](ctx, r.c, http.MethodPatch, "/v1/resource-instances/"+seg(ref), r.c.envQuery(nil), p)
}

// Delete deletes an instance with its tuples and role assignments.
func (r *ResourceInstances) Delete(ctx context.Context, ref string) error {
	return del(ctx, r.c, "/v1/resource-instances/"+seg(ref), r.c.envQuery(nil))
}

// RelationshipTuples link instances.
type RelationshipTuples struct{ c *Client }

// Tuple names a relationship tuple to write or delete.
type Tuple struct {
	Subject  string `json:"subject"` // "type:key", or "type:key#role"
	Relation string `json:"relation"`
	Object   string `json:"object"` // "type:key"
}

// TupleFilter narrows a list of tuples.
type TupleFilter struct {
	ListOptions
	Subject, Relation, Object string
}

func (f *TupleFilter) values() url.Values {
	if f == nil {
		return url.Values{}
	}
	q := f.ListOptions.values()
	set(q, "subject", f.Subject)
	set(q, "relation", f.Relation)
	set(q, "object", f.Object)
	return q
}

// List lists tuples.
func (r *RelationshipTuples) List(ctx context.Context, f *TupleFilter) (*Page[RelationshipTuple], error) {
	return list[RelationshipTuple](ctx, r.c, "/v1/relationship-tuples", r.c.envQuery(f.values()))
}

// All iterates over every tuple matching f.
func (r *RelationshipTuples) All(ctx context.Context, f *TupleFilter) iter.Seq2[RelationshipTuple, error] {
	return all[RelationshipTuple](ctx, r.c, "/v1/relationship-tuples", r.c.envQuery(f.values()))
}

// Create writes a tuple. One that would close a cycle or make a chain
// longer than 32 is refused (INVALID_REQUEST).
func (r *RelationshipTuples) Create(ctx context.Context, t Tuple) (*RelationshipTuple, error) {
	return write[RelationshipTuple](ctx, r.c, http.MethodPost, "/v1/relationship-tuples", r.c.envQuery(nil), t)
}

// Delete deletes a tuple.
func (r *RelationshipTuples) Delete(ctx context.Context, t Tuple) error {
	q := r.c.envQuery(nil)
	q.Set("subject", t.Subject)
	q.Set("relation", t.Relation)
	q.Set("object", t.Object)
	return del(ctx, r.c, "/v1/relationship-tuples", q)
}

// CreateBulk writes up to 1,000 tuples in one transaction, all or none; an
// error's Details["index"] names the failing tuple.
func (r *RelationshipTuples) CreateBulk(ctx context.Context, ts []Tuple) ([]RelationshipTuple, error) {
	out, err := write[struct {
		Tuples []RelationshipTuple `json:"tuples"`
	}](ctx, r.c, http.MethodPost, "/v1/relationship-tuples/bulk", r.c.envQuery(nil), map[string]any{"tuples": ts})
	if err != nil {
		return nil, err
	}
	return out.Tuples, nil
}

// DeleteBulk deletes up to 1,000 tuples in one transaction, all or none; a
// missing one is NOT_FOUND with Details["index"].
func (r *RelationshipTuples) DeleteBulk(ctx context.Context, ts []Tuple) error {
	return r.c.do(ctx, request{method: http.MethodDelete, path: "/v1/relationship-tuples/bulk", query: r.c.envQuery(nil),
		body: map[string]any{"tuples": ts}}, nil, nil)
}

// ConditionSets are user sets and resource sets.
type ConditionSets struct{ c *Client }

// ConditionSetFilter narrows a list of condition sets.
type ConditionSetFilter struct {
	FineListOptions
	Type     string // UserSet or ResourceSet
	Resource string // resource sets of this resource type
}

func (f *ConditionSetFilter) values() url.Values {
	if f == nil {
		return url.Values{}
	}
	q := f.FineListOptions.values()
	set(q, "type", f.Type)
	set(q, "resource", f.Resource)
	return q
}

// ConditionSetInput creates a condition set. Conditions is Permit's
// condition JSON, e.g. {"allOf": [{"user.department": {"equals":
// "finance"}}]}; the server compiles it and refuses a bad one
// (INVALID_REQUEST, Details["field"] "conditions").
type ConditionSetInput struct {
	Key         string          `json:"key"`
	Name        string          `json:"name,omitempty"`
	Description string          `json:"description,omitempty"`
	Type        string          `json:"type"`               // UserSet or ResourceSet
	Resource    string          `json:"resource,omitempty"` // a resource set's type
	Conditions  json.RawMessage `json:"conditions"`
}

// ConditionSetPatch changes a condition set (nil fields stay).
type ConditionSetPatch struct {
	Name        *string         `json:"name,omitempty"`
	Description *string         `json:"description,omitempty"`
	Conditions  json.RawMessage `json:"conditions,omitempty"`
}

// List lists condition sets.
func (s *ConditionSets) List(ctx context.Context, f *ConditionSetFilter) (*Page[ConditionSet], error) {
	return list[ConditionSet](ctx, s.c, "/v1/condition-sets", s.c.envQuery(f.values()))
}

// All iterates over every condition set matching f.
func (s *ConditionSets) All(ctx context.Context, f *ConditionSetFilter) iter.Seq2[ConditionSet, error] {
	return all[ConditionSet](ctx, s.c, "/v1/condition-sets", s.c.envQuery(f.values()))
}

// Get returns a condition set by id or key.
func (s *ConditionSets) Get(ctx context.Context, ref string) (*ConditionSet, error) {
	return get[ConditionSet](ctx, s.c, "/v1/condition-sets/"+seg(ref), s.c.envQuery(nil))
}

// Create creates a condition set.
func (s *ConditionSets) Create(ctx context.Context, in ConditionSetInput) (*ConditionSet, error) {
	return write[ConditionSet](ctx, s.c, http.MethodPost, "/v1/condition-sets", s.c.envQuery(nil), in)
}

// Update changes a condition set.
func (s *ConditionSets) Update(ctx context.Context, ref string, p ConditionSetPatch) (*ConditionSet, error) {
	return write[ConditionSet](ctx, s.c, http.MethodPatch, "/v1/condition-sets/"+seg(ref), s.c.envQuery(nil), p)
}

// Delete deletes a condition set; its set rules make it a CONFLICT unless
// cascade removes them too.
func (s *ConditionSets) Delete(ctx context.Context, ref string, cascadeRules bool) error {
	return del(ctx, s.c, "/v1/condition-sets/"+seg(ref), cascade(s.c.envQuery(nil), cascadeRules))
}

// SetRules let user sets do actions on resource sets.
type SetRules struct{ c *Client }

// SetRuleInput names a set rule.
type SetRuleInput struct {
	UserSet     string `json:"user_set"`
	Action      string `json:"action"`
	ResourceSet string `json:"resource_set"`
}

// SetRuleFilter narrows a list of set rules.
type SetRuleFilter struct {
	ListOptions
	UserSet, Action, ResourceSet string
}

func (f *SetRuleFilter) values() url.Values {
	if f == nil {
		return url.Values{}
	}
	q := f.ListOptions.values()
	set(q, "user_set", f.UserSet)
	set(q, "action", f.Action)
	set(q, "resource_set", f.ResourceSet)
	return q
}

// List lists set rules.
func (s *SetRules) List(ctx context.Context, f *SetRuleFilter) (*Page[SetRule], error) {
	return list[SetRule](ctx, s.c, "/v1/set-rules", s.c.envQuery(f.values()))
}

// All iterates over every set rule matching f.
func (s *SetRules) All(ctx context.Context, f *SetRuleFilter) iter.Seq2[SetRule, error] {
	return all[SetRule](ctx, s.c, "/v1/set-rules", s.c.envQuery(f.values()))
}

// Create creates a set rule.
func (s *SetRules) Create(ctx context.Context, in SetRuleInput) (*SetRule, error) {
	return write[SetRule](ctx, s.c, http.MethodPost, "/v1/set-rules", s.c.envQuery(nil), in)
}

// Delete deletes the set rule named by its user set, action and resource
// set.
func (s *SetRules) Delete(ctx context.Context, in SetRuleInput) error {
	q := s.c.envQuery(nil)
	q.Set("user_set", in.UserSet)
	q.Set("action", in.Action)
	q.Set("resource_set", in.ResourceSet)
	return del(ctx, s.c, "/v1/set-rules", q)
}

// DeleteByID deletes a set rule by id.
func (s *SetRules) DeleteByID(ctx context.Context, id string) error {
	return del(ctx, s.c, "/v1/set-rules/"+seg(id), s.c.envQuery(nil))
}

// ---- role assignments on instances

// AssignOnInstance gives user the role role (a role of the instance's
// resource type) on instance ("resource:key" or id).
func (a *RoleAssignments) AssignOnInstance(ctx context.Context, user, role, instance string) (*RoleAssignment, error) {
	return write[RoleAssignment](ctx, a.c, http.MethodPost, "/v1/role-assignments", a.c.envQuery(nil),
		map[string]string{"user": user, "role": role, "resource_instance": instance})
}

// UnassignOnInstance takes role on instance from user.
func (a *RoleAssignments) UnassignOnInstance(ctx context.Context, user, role, instance string) error {
	q := a.c.envQuery(nil)
	q.Set("user", user)
	q.Set("role", role)
	q.Set("resource_instance", instance)
	return del(ctx, a.c, "/v1/role-assignments", q)
}

// ---- lookups

// LookupOptions page a lookup's sorted keys (default 100 a page, at most
// 1,000).
type LookupOptions struct {
	Page, PerPage int
}

func (o *LookupOptions) values() url.Values {
	q := url.Values{}
	if o == nil {
		return q
	}
	if o.Page > 0 {
		q.Set("page", strconv.Itoa(o.Page))
	}
	if o.PerPage > 0 {
		q.Set("per_page", strconv.Itoa(o.PerPage))
	}
	return q
}

// ResourcesLookup asks which instances of a type a user may do an action on.
type ResourcesLookup struct {
	User           string
	UserAttributes map[string]any // replace the stored ones of the same name
	Action         string
	Type           string // the resource type
	Tenant         string // only this tenant's instances; every tenant when empty
	Context        map[string]any
	AtLeast        int64 // a revision a write answered: answer once it is applied
}

// MarshalJSON is the API's form of the lookup.
func (l ResourcesLookup) MarshalJSON() ([]byte, error) {
	var user any = l.User
	if l.UserAttributes != nil {
		user = map[string]any{"key": l.User, "attributes": l.UserAttributes}
	}
	res := map[string]any{"type": l.Type}
	if l.Tenant != "" {
		res["tenant"] = l.Tenant
	}
	body := map[string]any{"user": user, "action": l.Action, "resource": res}
	if l.Context != nil {
		body["context"] = l.Context
	}
	if l.AtLeast > 0 {
		body["at_least"] = l.AtLeast
	}
	return json.Marshal(body)
}

// UsersLookup asks which users may do an action on an instance (Resource
// with a Key), or on any resource of the type in a tenant (no Key).
type UsersLookup struct {
	Action   string         `json:"action"`
	Resource CheckResource  `json:"resource"`
	Context  map[string]any `json:"context,omitempty"`
	AtLeast  int64          `json:"at_least,omitempty"`
}

// AllowedResources lists the keys of the instances the lookup's user may
// act on, sorted, a page at a time.
func (ch *Checks) AllowedResources(ctx context.Context, l ResourcesLookup, opt *LookupOptions) (*Page[string], error) {
	p := &Page[string]{}
	err := ch.c.do(ctx, request{method: http.MethodPost, path: "/v1/allowed/resources", query: ch.c.envQuery(opt.values()), body: l}, &p.Items, &p.Meta)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// AllowedUsers lists the keys of the users who may do the lookup's action,
// sorted, a page at a time.
func (ch *Checks) AllowedUsers(ctx context.Context, l UsersLookup, opt *LookupOptions) (*Page[string], error) {
	p := &Page[string]{}
	err := ch.c.do(ctx, request{method: http.MethodPost, path: "/v1/allowed/users", query: ch.c.envQuery(opt.values()), body: l}, &p.Items, &p.Meta)
	if err != nil {
		return nil, err
	}
	return p, nil
}
