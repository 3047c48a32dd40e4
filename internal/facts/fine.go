package facts

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/event"
)

// The fine-grained model's writes (issue 15; the rules are authz's: see
// authz/model.go). As everywhere in this package, each write runs in the
// environment's write transaction and records the engine operations it
// amounts to in the feed, in an order in which each applies.

// ---- resource roles

// ResourceRoleInput is what a caller gives for a role of a resource type.
type ResourceRoleInput struct {
	Key, Name, Description string
	Permissions, Extends   []string
	GrantedTo              []authz.Derivation
	Attributes             map[string]any
}

// resourceOf resolves the resource type of a nested path, NOT_FOUND naming
// it when missing.
func resourceOf(ctx context.Context, tx Store, envID, ref string) (*Resource, error) {
	r, err := tx.GetResource(ctx, envID, ref)
	if err != nil {
		return nil, asField(err, "resource")
	}
	return r, nil
}

// checkResourceRole validates a resource role against its type's actions,
// its type's other roles (extends: existence, no cycle), the relations and
// roles its derivations name, and the tenant roles.
func checkResourceRole(ctx context.Context, tx Store, envID string, res *Resource, r *ResourceRole) error {
	if err := firstErr(validText("name", r.Name, 200), validText("description", r.Description, 2000)); err != nil {
		return err
	}
	for i, p := range r.Permissions {
		if pre, act, ok := strings.Cut(p, ":"); ok && pre == res.Key { // "document:read" is read
			r.Permissions[i], p = act, act
		}
		if !slices.Contains(res.Actions, p) {
			return gatehouse.FieldError("permissions", "unknown_action", "resource type %q has no action %q", res.Key, p)
		}
	}
	r.Permissions = dedupe(r.Permissions)
	all, err := tx.AllResourceRoles(ctx, envID)
	if err != nil {
		return err
	}
	graph := map[string][]string{}
	count := 0
	for _, o := range all {
		if o.ResourceID == res.ID {
			graph[o.Key] = o.Extends
			if o.Key != r.Key {
				count++
			}
		}
	}
	if count >= authz.MaxResourceRoles {
		return gatehouse.FieldError("key", "too_many", "a resource type has at most %d roles", authz.MaxResourceRoles)
	}
	if err := validKey("key", r.Key); err != nil {
		return err
	}
	graph[r.Key] = r.Extends
	for _, parent := range r.Extends {
		if _, ok := graph[parent]; !ok {
			return gatehouse.FieldError("extends", "unknown_role", "resource type %q has no role %q", res.Key, parent)
		}
	}
	var visit func(k string, path []string) error
	visit = func(k string, path []string) error {
		if slices.Contains(path, k) {
			return gatehouse.FieldError("extends", "cycle", "roles would extend each other in a cycle: %s", strings.Join(append(path, k), " → "))
		}
		for _, p := range graph[k] {
			if err := visit(p, append(path, k)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := visit(r.Key, nil); err != nil {
		return err
	}
	var rels []Relation
	if len(r.GrantedTo) > 0 {
		if rels, err = tx.AllRelations(ctx, envID); err != nil {
			return err
		}
	}
	seen := map[authz.Derivation]bool{}
	for i, d := range r.GrantedTo {
		field := fmt.Sprintf("granted_to[%d]", i)
		if seen[d] {
			return gatehouse.FieldError(field, "duplicate", "derivation %s#%s is listed twice", d.OnResource, d.Role)
		}
		seen[d] = true
		if d.OnResource == authz.TenantResource {
			if d.LinkedByRelation != "" {
				return gatehouse.FieldError(field+".linked_by_relation", "invalid_value", "a derivation from a tenant role has no relation")
			}
			if _, err := tx.GetRole(ctx, envID, d.Role); err != nil {
				if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
					return gatehouse.FieldError(field+".role", "unknown_role", "tenant role %q does not exist", d.Role)
				}
				return err
			}
			continue
		}
		on, err := tx.GetResource(ctx, envID, d.OnResource)
		if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
			return gatehouse.FieldError(field+".on_resource", "unknown_resource", "resource type %q does not exist", d.OnResource)
		}
		if err != nil {
			return err
		}
		if on.ID == res.ID && d.Role == r.Key {
			// folder#editor from the parent folder's editor: the role itself.
		} else if !slices.ContainsFunc(all, func(o ResourceRole) bool { return o.ResourceID == on.ID && o.Key == d.Role }) {
			return gatehouse.FieldError(field+".role", "unknown_role", "resource type %q has no role %q", d.OnResource, d.Role)
		}
		if d.LinkedByRelation == "" {
			return gatehouse.FieldError(field+".linked_by_relation", "required_field_missing", "a derivation from a role of %q names the relation (declared on %q) that links the instances", d.OnResource, res.Key)
		}
		if !slices.ContainsFunc(rels, func(x Relation) bool {
			return x.ResourceID == res.ID && x.Key == d.LinkedByRelation && x.SubjectID == on.ID
		}) {
			return gatehouse.FieldError(field+".linked_by_relation", "unknown_relation", "resource type %q has no relation %q whose subjects are %q", res.Key, d.LinkedByRelation, d.OnResource)
		}
	}
	return nil
}

// CreateResourceRole adds a role to resource type resourceRef.
func (s *Service) CreateResourceRole(ctx context.Context, envID, resourceRef string, in ResourceRoleInput) (*ResourceRole, error) {
	r, err := s.newResourceRole(envID, in)
	if err != nil {
		return nil, err
	}
	return r, s.write(ctx, envID, func(tx Store) ([]Change, error) {
		return s.createResourceRoleTx(ctx, tx, envID, resourceRef, r)
	})
}

// newResourceRole checks what a new resource role's input holds alone and
// returns the role to store.
func (s *Service) newResourceRole(envID string, in ResourceRoleInput) (*ResourceRole, error) {
	if err := validKey("key", in.Key); err != nil {
		return nil, err
	}
	if in.Name == "" {
		in.Name = in.Key
	}
	now := s.now()
	return &ResourceRole{ID: newID(), EnvID: envID, Key: in.Key, Name: in.Name, Description: in.Description,
		Permissions: dedupe(in.Permissions), Extends: dedupe(in.Extends), GrantedTo: orNoDerivations(in.GrantedTo),
		Attributes: orEmpty(in.Attributes), CreatedAt: now, UpdatedAt: now}, nil
}

func (s *Service) createResourceRoleTx(ctx context.Context, tx Store, envID, resourceRef string, r *ResourceRole) ([]Change, error) {
	res, err := resourceOf(ctx, tx, envID, resourceRef)
	if err != nil {
		return nil, err
	}
	r.ResourceID, r.Resource = res.ID, res.Key
	if err := checkResourceRole(ctx, tx, envID, res, r); err != nil {
		return nil, err
	}
	if _, err := tx.GetRelation(ctx, envID, res.ID, r.Key); err == nil {
		return nil, &gatehouse.Error{Code: gatehouse.CodeConflict, Message: fmt.Sprintf("resource type %q has a relation %q: a role may not share its key", res.Key, r.Key),
			Details: map[string]any{"field": "key", "value": r.Key, "reason": "already_exists"}}
	}
	if err := tx.CreateResourceRole(ctx, r); err != nil {
		return nil, err
	}
	return []Change{change(OpPutResourceRole, r.Authz())}, s.emit(ctx, tx, envID, event.ResourceRoleCreated, r)
}

func orNoDerivations(ds []authz.Derivation) []authz.Derivation {
	if ds == nil {
		return []authz.Derivation{}
	}
	return append([]authz.Derivation{}, ds...)
}

// ResourceRolePatch lists the fields to change; nil: unchanged.
type ResourceRolePatch struct {
	Name, Description    *string
	Permissions, Extends *[]string
	GrantedTo            *[]authz.Derivation
	Attributes           *map[string]any // replaces them all
	// Edit, when set, is the patch worked out from the role (and its type)
	// as the write's transaction reads them, in place of the fields above:
	// an add or remove of one permission, parent or derivation is not lost
	// to a concurrent write.
	Edit func(res *Resource, r *ResourceRole) ResourceRolePatch
}

// UpdateResourceRole changes a role of a resource type.
func (s *Service) UpdateResourceRole(ctx context.Context, envID, resourceRef, ref string, p ResourceRolePatch) (*ResourceRole, error) {
	var r *ResourceRole
	return r, s.write(ctx, envID, func(tx Store) (changes []Change, err error) {
		r, changes, err = s.updateResourceRoleTx(ctx, tx, envID, resourceRef, ref, p)
		return changes, err
	})
}

func (s *Service) updateResourceRoleTx(ctx context.Context, tx Store, envID, resourceRef, ref string, p ResourceRolePatch) (*ResourceRole, []Change, error) {
	res, err := resourceOf(ctx, tx, envID, resourceRef)
	if err != nil {
		return nil, nil, err
	}
	r, err := tx.GetResourceRole(ctx, envID, res.ID, ref)
	if err != nil {
		return nil, nil, err
	}
	if p.Edit != nil {
		p = p.Edit(res, r)
	}
	setIf(&r.Name, p.Name)
	setIf(&r.Description, p.Description)
	if p.Permissions != nil {
		r.Permissions = dedupe(*p.Permissions)
	}
	if p.Extends != nil {
		r.Extends = dedupe(*p.Extends)
	}
	if p.GrantedTo != nil {
		r.GrantedTo = orNoDerivations(*p.GrantedTo)
	}
	if p.Attributes != nil {
		r.Attributes = orEmpty(*p.Attributes)
	}
	if err := checkResourceRole(ctx, tx, envID, res, r); err != nil {
		return nil, nil, err
	}
	r.UpdatedAt = s.now()
	if err := tx.UpdateResourceRole(ctx, r); err != nil {
		return nil, nil, err
	}
	return r, []Change{change(OpPutResourceRole, r.Authz())}, s.emit(ctx, tx, envID, event.ResourceRoleUpdated, r)
}

// DeleteResourceRole removes a role of a resource type. What refers to it
// (other roles' extends and derivations, tuples naming it, its
// assignments) makes it a CONFLICT unless cascade, which removes those.
func (s *Service) DeleteResourceRole(ctx context.Context, envID, resourceRef, ref string, cascade bool) error {
	return s.write(ctx, envID, func(tx Store) ([]Change, error) {
		res, err := resourceOf(ctx, tx, envID, resourceRef)
		if err != nil {
			return nil, err
		}
		r, err := tx.GetResourceRole(ctx, envID, res.ID, ref)
		if err != nil {
			return nil, err
		}
		changes, err := s.dropResourceRoleRefs(ctx, tx, envID, r, cascade)
		if err != nil {
			return nil, err
		}
		if err := tx.DeleteResourceRole(ctx, envID, r.ID); err != nil {
			return nil, err
		}
		return append(changes, change(OpDeleteResourceRole, ResourceKeyRef{Resource: r.Resource, Key: r.Key})),
			s.emit(ctx, tx, envID, event.ResourceRoleDeleted, event.Deleted{ID: r.ID, Key: r.Key, Resource: r.Resource})
	})
}

// ResourceRole is role ref of resource type resourceRef.
func (s *Service) ResourceRole(ctx context.Context, envID, resourceRef, ref string) (*ResourceRole, error) {
	res, err := resourceOf(ctx, s.Store, envID, resourceRef)
	if err != nil {
		return nil, err
	}
	return s.Store.GetResourceRole(ctx, envID, res.ID, ref)
}

// ResourceRoles lists the roles of resource type resourceRef.
func (s *Service) ResourceRoles(ctx context.Context, envID, resourceRef string, f FineFilter, page gatehouse.PageRequest) (gatehouse.Page[ResourceRole], error) {
	res, err := resourceOf(ctx, s.Store, envID, resourceRef)
	if err != nil {
		return gatehouse.Page[ResourceRole]{}, err
	}
	f.EnvID, f.Resource = envID, res.ID
	return s.Store.ListResourceRoles(ctx, f, page)
}

// ---- relations

// RelationInput is what a caller gives for a relation of a resource type.
type RelationInput struct {
	Key, Name, Description string
	Subject                string // the subjects' resource type
}

// CreateRelation declares a relation on resource type resourceRef.
func (s *Service) CreateRelation(ctx context.Context, envID, resourceRef string, in RelationInput) (*Relation, error) {
	r, err := s.newRelation(envID, in)
	if err != nil {
		return nil, err
	}
	return r, s.write(ctx, envID, func(tx Store) ([]Change, error) {
		return s.createRelationTx(ctx, tx, envID, resourceRef, r, in.Subject)
	})
}

// newRelation checks what a new relation's input holds alone and returns
// the relation to store.
func (s *Service) newRelation(envID string, in RelationInput) (*Relation, error) {
	if err := validKey("key", in.Key); err != nil {
		return nil, err
	}
	if in.Name == "" {
		in.Name = in.Key
	}
	if err := firstErr(validText("name", in.Name, 200), validText("description", in.Description, 2000)); err != nil {
		return nil, err
	}
	if in.Subject == "" {
		return nil, gatehouse.FieldError("subject", "required_field_missing", "subject (the resource type of the relation's subjects) is required")
	}
	now := s.now()
	return &Relation{ID: newID(), EnvID: envID, Key: in.Key, Name: in.Name, Description: in.Description, CreatedAt: now, UpdatedAt: now}, nil
}

func (s *Service) createRelationTx(ctx context.Context, tx Store, envID, resourceRef string, r *Relation, subject string) ([]Change, error) {
	res, err := resourceOf(ctx, tx, envID, resourceRef)
	if err != nil {
		return nil, err
	}
	sub, err := tx.GetResource(ctx, envID, subject)
	if err != nil {
		return nil, asField(err, "subject")
	}
	r.ResourceID, r.Resource, r.SubjectID, r.Subject = res.ID, res.Key, sub.ID, sub.Key
	if _, err := tx.GetResourceRole(ctx, envID, res.ID, r.Key); err == nil {
		return nil, &gatehouse.Error{Code: gatehouse.CodeConflict, Message: fmt.Sprintf("resource type %q has a role %q: a relation may not share its key", res.Key, r.Key),
			Details: map[string]any{"field": "key", "value": r.Key, "reason": "already_exists"}}
	}
	if err := tx.CreateRelation(ctx, r); err != nil {
		return nil, err
	}
	return []Change{change(OpPutRelation, r.Authz())}, s.emit(ctx, tx, envID, event.RelationCreated, r)
}

// Relation is relation ref of resource type resourceRef.
func (s *Service) Relation(ctx context.Context, envID, resourceRef, ref string) (*Relation, error) {
	res, err := resourceOf(ctx, s.Store, envID, resourceRef)
	if err != nil {
		return nil, err
	}
	return s.Store.GetRelation(ctx, envID, res.ID, ref)
}

// Relations lists the relations of resource type resourceRef.
func (s *Service) Relations(ctx context.Context, envID, resourceRef string, f FineFilter, page gatehouse.PageRequest) (gatehouse.Page[Relation], error) {
	res, err := resourceOf(ctx, s.Store, envID, resourceRef)
	if err != nil {
		return gatehouse.Page[Relation]{}, err
	}
	f.EnvID, f.Resource = envID, res.ID
	return s.Store.ListRelations(ctx, f, page)
}

// DeleteRelation removes a relation. Its tuples and the derivations linked
// by it make it a CONFLICT unless cascade, which removes those.
func (s *Service) DeleteRelation(ctx context.Context, envID, resourceRef, ref string, cascade bool) error {
	return s.write(ctx, envID, func(tx Store) ([]Change, error) {
		res, err := resourceOf(ctx, tx, envID, resourceRef)
		if err != nil {
			return nil, err
		}
		r, err := tx.GetRelation(ctx, envID, res.ID, ref)
		if err != nil {
			return nil, err
		}
		changes, err := s.dropRelationRefs(ctx, tx, envID, r, cascade)
		if err != nil {
			return nil, err
		}
		if err := tx.DeleteRelation(ctx, envID, r.ID); err != nil {
			return nil, err
		}
		return append(changes, change(OpDeleteRelation, ResourceKeyRef{Resource: r.Resource, Key: r.Key})),
			s.emit(ctx, tx, envID, event.RelationDeleted, event.Deleted{ID: r.ID, Key: r.Key, Resource: r.Resource})
	})
}

// ---- instances

// InstanceInput is what a caller gives for a resource instance; an empty
// Tenant is the default tenant.
type InstanceInput struct {
	Resource, Key, Tenant string
	Attributes            map[string]any
}

// CreateInstance adds a resource instance.
func (s *Service) CreateInstance(ctx context.Context, envID string, in InstanceInput) (*Instance, error) {
	if in.Resource == "" {
		return nil, gatehouse.FieldError("resource", "required_field_missing", "resource (the instance's resource type) is required")
	}
	if err := validKey("key", in.Key); err != nil {
		return nil, err
	}
	if in.Tenant == "" {
		in.Tenant = authz.DefaultTenant
	}
	now := s.now()
	i := &Instance{ID: newID(), EnvID: envID, Key: in.Key, Attributes: orEmpty(in.Attributes), CreatedAt: now, UpdatedAt: now}
	return i, s.write(ctx, envID, func(tx Store) ([]Change, error) {
		res, err := resourceOf(ctx, tx, envID, in.Resource)
		if err != nil {
			return nil, err
		}
		t, err := tx.GetTenant(ctx, envID, in.Tenant)
		if err != nil {
			return nil, asField(err, "tenant")
		}
		i.ResourceID, i.Resource, i.TenantID, i.Tenant = res.ID, res.Key, t.ID, t.Key
		if err := tx.CreateInstance(ctx, i); err != nil {
			return nil, err
		}
		return []Change{change(OpPutInstance, i.Authz())}, s.emit(ctx, tx, envID, event.ResourceInstanceCreated, i)
	})
}

// InstancePatch lists the fields to change; nil: unchanged.
type InstancePatch struct {
	Tenant     *string
	Attributes *map[string]any
}

// UpdateInstance changes an instance's tenant or attributes.
func (s *Service) UpdateInstance(ctx context.Context, envID, ref string, p InstancePatch) (*Instance, error) {
	var i *Instance
	return i, s.write(ctx, envID, func(tx Store) ([]Change, error) {
		var err error
		if i, err = tx.GetInstance(ctx, envID, ref); err != nil {
			return nil, err
		}
		if p.Tenant != nil {
			t, err := tx.GetTenant(ctx, envID, *p.Tenant)
			if err != nil {
				return nil, asField(err, "tenant")
			}
			i.TenantID, i.Tenant = t.ID, t.Key
		}
		if p.Attributes != nil {
			i.Attributes = orEmpty(*p.Attributes)
		}
		i.UpdatedAt = s.now()
		if err := tx.UpdateInstance(ctx, i); err != nil {
			return nil, err
		}
		return []Change{change(OpPutInstance, i.Authz())}, s.emit(ctx, tx, envID, event.ResourceInstanceUpdated, i)
	})
}

// DeleteInstance removes an instance with its tuples and role assignments
// (they are part of it, as the engine does).
func (s *Service) DeleteInstance(ctx context.Context, envID, ref string) error {
	return s.write(ctx, envID, func(tx Store) ([]Change, error) {
		i, err := tx.GetInstance(ctx, envID, ref)
		if err != nil {
			return nil, err
		}
		if err := tx.DeleteInstance(ctx, envID, i.ID); err != nil {
			return nil, err
		}
		return []Change{change(OpDeleteInstance, ResourceKeyRef{Resource: i.Resource, Key: i.Key})},
			s.emit(ctx, tx, envID, event.ResourceInstanceDeleted, event.Deleted{ID: i.ID, Key: i.Key, Resource: i.Resource})
	})
}

// Instance is instance ref (id or "resource:key") of envID.
func (s *Service) Instance(ctx context.Context, envID, ref string) (*Instance, error) {
	return s.Store.GetInstance(ctx, envID, ref)
}

// Instances lists instances.
func (s *Service) Instances(ctx context.Context, f FineFilter, page gatehouse.PageRequest) (gatehouse.Page[Instance], error) {
	return s.Store.ListInstances(ctx, f, page)
}

// ---- tuples

// MaxTupleBatch bounds the tuples of one bulk write.
const MaxTupleBatch = 1000

// TupleInput names a tuple: Subject "type:key" or "type:key#role", the
// relation (a relation of the object's type, or for a subject set one of its
// roles), Object "type:key".
type TupleInput struct {
	Subject, Relation, Object string
	// Tenant, when set, creates the subject's and the object's instances
	// that do not exist, in this tenant, in the same transaction
	// (Permit's implicit instances).
	Tenant string
}

// implicitInstanceTx creates instance ref ("type:key"; a subject set's
// "#role" ignored) in tenant when it does not exist; it answers the
// instance created (nil: it existed).
func (s *Service) implicitInstanceTx(ctx context.Context, tx Store, envID, ref, tenant string) (*Instance, []Change, error) {
	ref, _, _ = strings.Cut(ref, "#")
	typ, key, ok := strings.Cut(ref, ":")
	if !ok || tenant == "" {
		return nil, nil, nil
	}
	if _, err := tx.GetInstance(ctx, envID, ref); gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
		return nil, nil, err
	}
	if err := validKey("key", key); err != nil {
		return nil, nil, err
	}
	res, err := resourceOf(ctx, tx, envID, typ)
	if err != nil {
		return nil, nil, err
	}
	t, err := tx.GetTenant(ctx, envID, tenant)
	if err != nil {
		return nil, nil, asField(err, "tenant")
	}
	now := s.now()
	i := &Instance{ID: newID(), EnvID: envID, Key: key, Attributes: map[string]any{}, CreatedAt: now, UpdatedAt: now,
		ResourceID: res.ID, Resource: res.Key, TenantID: t.ID, Tenant: t.Key}
	if err := tx.CreateInstance(ctx, i); err != nil {
		return nil, nil, err
	}
	return i, []Change{change(OpPutInstance, i.Authz())}, s.emit(ctx, tx, envID, event.ResourceInstanceCreated, i)
}

// resolveTuple finds the instances of a tuple and checks its relation
// against the types' relations and roles.
func resolveTuple(ctx context.Context, tx Store, envID string, in TupleInput) (*Tuple, error) {
	if in.Subject == "" || in.Relation == "" || in.Object == "" {
		for _, f := range [][2]string{{"subject", in.Subject}, {"relation", in.Relation}, {"object", in.Object}} {
			if f[1] == "" {
				return nil, gatehouse.FieldError(f[0], "required_field_missing", "%s is required", f[0])
			}
		}
	}
	subRef, subRole, isSet := strings.Cut(in.Subject, "#")
	if !strings.Contains(subRef, ":") || isSet && subRole == "" {
		return nil, gatehouse.FieldError("subject", "invalid_format", "subject %q must be \"type:key\" or \"type:key#role\"", in.Subject)
	}
	if !strings.Contains(in.Object, ":") {
		return nil, gatehouse.FieldError("object", "invalid_format", "object %q must be \"type:key\"", in.Object)
	}
	sub, err := tx.GetInstance(ctx, envID, subRef)
	if err != nil {
		return nil, asField(err, "subject")
	}
	obj, err := tx.GetInstance(ctx, envID, in.Object)
	if err != nil {
		return nil, asField(err, "object")
	}
	if isSet {
		if _, err := tx.GetResourceRole(ctx, envID, sub.ResourceID, subRole); err != nil {
			if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
				return nil, gatehouse.FieldError("subject", "unknown_role", "resource type %q has no role %q", sub.Resource, subRole)
			}
			return nil, err
		}
		if _, err := tx.GetResourceRole(ctx, envID, obj.ResourceID, in.Relation); err != nil {
			if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
				return nil, gatehouse.FieldError("relation", "unknown_role", "with a subject set, the relation is a role of the object's type: resource type %q has no role %q", obj.Resource, in.Relation)
			}
			return nil, err
		}
	} else {
		rel, err := tx.GetRelation(ctx, envID, obj.ResourceID, in.Relation)
		if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
			return nil, gatehouse.FieldError("relation", "unknown_relation", "resource type %q has no relation %q", obj.Resource, in.Relation)
		}
		if err != nil {
			return nil, err
		}
		if rel.SubjectID != sub.ResourceID {
			return nil, gatehouse.FieldError("subject", "wrong_type", "relation %q of %q relates instances of %q, not %q", rel.Key, obj.Resource, rel.Subject, sub.Resource)
		}
	}
	subject := sub.Ref()
	if isSet {
		subject += "#" + subRole
	}
	return &Tuple{EnvID: envID, SubjectID: sub.ID, SubjectRole: subRole, Subject: subject, Relation: in.Relation, ObjectID: obj.ID, Object: obj.Ref()}, nil
}

// itemError prefixes err with the index of the failing item of a batch.
func itemError(field string, i int, err error) error {
	e, ok := err.(*gatehouse.Error)
	if !ok {
		return err
	}
	out := *e
	out.Message = fmt.Sprintf("%s[%d]: %s", field, i, e.Message)
	out.Details = map[string]any{"index": i}
	for k, v := range e.Details {
		out.Details[k] = v
	}
	if f, ok := e.Details["field"].(string); ok {
		out.Details["field"] = fmt.Sprintf("%s[%d].%s", field, i, f)
	}
	return &out
}

// CreateTuples adds tuples in one transaction: all or none. With more than
// one, an error names the index of the failing one.
func (s *Service) CreateTuples(ctx context.Context, envID string, ins []TupleInput) ([]Tuple, error) {
	if len(ins) == 0 {
		return nil, gatehouse.FieldError("tuples", "required_field_missing", "give at least one tuple")
	}
	if len(ins) > MaxTupleBatch {
		return nil, gatehouse.FieldError("tuples", "too_many", "at most %d tuples at once", MaxTupleBatch)
	}
	var out []Tuple
	err := s.write(ctx, envID, func(tx Store) ([]Change, error) {
		out = out[:0]
		e, err := s.caughtUpEngine(ctx, envID)
		if err != nil {
			return nil, err
		}
		fail := func(i int, err error) error {
			if len(ins) > 1 {
				return itemError("tuples", i, err)
			}
			return err
		}
		changes := make([]Change, 0, len(ins))
		var created []string
		for i, in := range ins {
			for _, ref := range []string{in.Subject, in.Object} {
				inst, more, err := s.implicitInstanceTx(ctx, tx, envID, ref, in.Tenant)
				if err != nil {
					return nil, fail(i, err)
				}
				if inst != nil {
					created = append(created, inst.Ref())
					changes = append(changes, more...)
				}
			}
		}
		ts := make([]*Tuple, len(ins))
		ats := make([]authz.Tuple, len(ins))
		for i, in := range ins {
			if ts[i], err = resolveTuple(ctx, tx, envID, in); err != nil {
				return nil, fail(i, err)
			}
			ats[i] = ts[i].Authz()
		}
		// all at once: a cycle through several new tuples is found too
		if i, err := e.ValidateTuplesCreating(ats, created); err != nil {
			if i < 0 {
				return nil, err
			}
			return nil, fail(i, tupleError(ats[i], err))
		}
		events := make([]event.Event, 0, len(ins))
		for i, t := range ts {
			t.ID, t.CreatedAt = newID(), s.now()
			if err := tx.CreateTuple(ctx, t); err != nil {
				return nil, fail(i, err)
			}
			out = append(out, *t)
			changes = append(changes, change(OpPutTuple, ats[i]))
			events = append(events, s.eventOf(envID, event.RelationshipTupleCreated, t))
		}
		if err := tx.Emit(ctx, events...); err != nil { // one look-up of the webhooks for the whole batch
			return nil, err
		}
		return oneEntry(changes), nil
	})
	return out, err
}

// oneEntry makes the changes of a bulk write one feed entry (a batch):
// one row to append, one revision, applied at once by nodes and PDPs.
func oneEntry(changes []Change) []Change {
	if len(changes) <= 1 {
		return changes
	}
	return []Change{change(OpBatch, changes)}
}

// DeleteTuples removes tuples in one transaction: all or none; a missing
// one is NOT_FOUND naming its index.
func (s *Service) DeleteTuples(ctx context.Context, envID string, ins []TupleInput) error {
	if len(ins) == 0 {
		return gatehouse.FieldError("tuples", "required_field_missing", "give at least one tuple")
	}
	if len(ins) > MaxTupleBatch {
		return gatehouse.FieldError("tuples", "too_many", "at most %d tuples at once", MaxTupleBatch)
	}
	return s.write(ctx, envID, func(tx Store) ([]Change, error) {
		changes := make([]Change, 0, len(ins))
		events := make([]event.Event, 0, len(ins))
		for i, in := range ins {
			t, err := findTuple(ctx, tx, envID, in)
			if err == nil {
				err = tx.DeleteTuple(ctx, envID, t.ID)
			}
			if err != nil {
				if len(ins) > 1 {
					err = itemError("tuples", i, err)
				}
				return nil, err
			}
			changes = append(changes, change(OpDeleteTuple, t.Authz()))
			events = append(events, s.eventOf(envID, event.RelationshipTupleDeleted, t))
		}
		if err := tx.Emit(ctx, events...); err != nil {
			return nil, err
		}
		return oneEntry(changes), nil
	})
}

func findTuple(ctx context.Context, tx Store, envID string, in TupleInput) (*Tuple, error) {
	for _, f := range [][2]string{{"subject", in.Subject}, {"relation", in.Relation}, {"object", in.Object}} {
		if f[1] == "" {
			return nil, gatehouse.FieldError(f[0], "required_field_missing", "%s is required", f[0])
		}
	}
	f, found, err := byInstanceIDs(ctx, tx, TupleFilter{EnvID: envID, Subject: in.Subject, Relation: in.Relation, Object: in.Object})
	if err != nil {
		return nil, err
	}
	var res gatehouse.Page[Tuple]
	if found {
		if res, err = tx.ListTuples(ctx, f, gatehouse.PageRequest{Page: 1, PerPage: 1}); err != nil {
			return nil, err
		}
	}
	if len(res.Items) == 0 {
		return nil, gatehouse.Errorf(gatehouse.CodeNotFound, "relationship tuple %s %s %s not found", in.Subject, in.Relation, in.Object)
	}
	return &res.Items[0], nil
}

// Tuples lists tuples.
func (s *Service) Tuples(ctx context.Context, f TupleFilter, page gatehouse.PageRequest) (gatehouse.Page[Tuple], error) {
	f, found, err := byInstanceIDs(ctx, s.Store, f)
	if err != nil || !found {
		return gatehouse.Page[Tuple]{Items: []Tuple{}}, err
	}
	return s.Store.ListTuples(ctx, f, page)
}

// byInstanceIDs turns a filter's subject and object ("type:key",
// "type:key#role") into instance ids, so that the query follows the
// tuples' indexes; found is false when one names no instance.
func byInstanceIDs(ctx context.Context, st Store, f TupleFilter) (TupleFilter, bool, error) {
	if f.Subject != "" {
		ref, role, _ := strings.Cut(f.Subject, "#")
		i, err := st.GetInstance(ctx, f.EnvID, ref)
		if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
			return f, false, nil
		}
		if err != nil {
			return f, false, err
		}
		f.Subject, f.SubjectID, f.Role = "", i.ID, &role
	}
	if f.Object != "" {
		i, err := st.GetInstance(ctx, f.EnvID, f.Object)
		if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
			return f, false, nil
		}
		if err != nil {
			return f, false, err
		}
		f.Object, f.ObjectID = "", i.ID
	}
	return f, true, nil
}

// ---- role assignments on instances

// resolveInstanceAssign finds the user, instance and role (one of the
// instance's resource type) of an assignment on an instance and checks the
// tenant, if given, is the instance's. It returns the assignment to store
// (a new id) and its engine operation.
func (s *Service) resolveInstanceAssign(ctx context.Context, tx Store, envID string, in AssignInput) (*Assignment, authz.Assignment, error) {
	u, err := tx.GetUser(ctx, envID, in.User)
	if err != nil {
		return nil, authz.Assignment{}, asField(err, "user")
	}
	inst, err := tx.GetInstance(ctx, envID, in.ResourceInstance)
	if err != nil {
		return nil, authz.Assignment{}, asField(err, "resource_instance")
	}
	r, err := tx.GetResourceRole(ctx, envID, inst.ResourceID, in.Role)
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
		return nil, authz.Assignment{}, &gatehouse.Error{Code: gatehouse.CodeNotFound, Message: fmt.Sprintf("resource type %q has no role %q", inst.Resource, in.Role),
			Details: map[string]any{"field": "role", "reason": "not_found"}}
	}
	if err != nil {
		return nil, authz.Assignment{}, err
	}
	if in.Tenant != "" {
		t, err := tx.GetTenant(ctx, envID, in.Tenant)
		if err != nil {
			return nil, authz.Assignment{}, asField(err, "tenant")
		}
		if t.ID != inst.TenantID {
			return nil, authz.Assignment{}, gatehouse.FieldError("tenant", "invalid_value", "resource instance %q is in tenant %q, not %q", inst.Ref(), inst.Tenant, t.Key)
		}
	}
	a := &Assignment{ID: newID(), EnvID: envID, UserID: u.ID, RoleID: r.ID, TenantID: inst.TenantID, User: u.Key, Role: r.Key, Tenant: inst.Tenant,
		ResourceInstance: inst.Ref(), InstanceID: inst.ID, CreatedAt: s.now()}
	return a, authz.Assignment{User: u.Key, Role: r.Key, Tenant: inst.Tenant, ResourceInstance: inst.Ref()}, nil
}

// assignInstanceIfMissingTx makes an assignment on an instance unless the
// user already has that role on it (an insert that skips a duplicate, so
// the transaction goes on).
func (s *Service) assignInstanceIfMissingTx(ctx context.Context, tx Store, envID string, in AssignInput) ([]Change, error) {
	created, err := s.assignedInstanceTx(ctx, tx, envID, in)
	if err != nil {
		return nil, err
	}
	a, op, err := s.resolveInstanceAssign(ctx, tx, envID, in)
	if err != nil {
		return nil, err
	}
	inserted, err := tx.InsertInstanceAssignments(ctx, []Assignment{*a})
	if err != nil || !inserted[a.ID] {
		return created, err
	}
	return append(created, change(OpAssign, op)), s.emit(ctx, tx, envID, event.RoleAssignmentCreated, a)
}

// assignedInstanceTx creates the instance of an assignment that asks for
// it (in.CreateInstance) and lacks it.
func (s *Service) assignedInstanceTx(ctx context.Context, tx Store, envID string, in AssignInput) ([]Change, error) {
	if !in.CreateInstance || in.Tenant == "" {
		return nil, nil
	}
	_, changes, err := s.implicitInstanceTx(ctx, tx, envID, in.ResourceInstance, in.Tenant)
	return changes, prefixed(err, "resource_instance")
}

func (s *Service) assignInstanceTx(ctx context.Context, tx Store, envID string, in AssignInput, remove bool) (*Assignment, []Change, error) {
	var created []Change
	if !remove {
		var err error
		if created, err = s.assignedInstanceTx(ctx, tx, envID, in); err != nil {
			return nil, nil, err
		}
	}
	a, op, err := s.resolveInstanceAssign(ctx, tx, envID, in)
	if err != nil {
		return nil, nil, err
	}
	if remove {
		if err := tx.DeleteInstanceAssignment(ctx, envID, a.UserID, a.RoleID, a.InstanceID); err != nil {
			if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
				return nil, nil, gatehouse.Errorf(gatehouse.CodeNotFound, "user %q has no role %q on %q", a.User, a.Role, a.ResourceInstance)
			}
			return nil, nil, err
		}
		return a, []Change{change(OpUnassign, op)}, s.emit(ctx, tx, envID, event.RoleAssignmentDeleted, a)
	}
	if err := tx.CreateInstanceAssignment(ctx, a); err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.CodeConflict {
			return nil, nil, &gatehouse.Error{Code: gatehouse.CodeConflict, Message: fmt.Sprintf("user %q already has role %q on %q", a.User, a.Role, a.ResourceInstance),
				Details: map[string]any{"reason": "already_exists", "user": a.User, "role": a.Role, "resource_instance": a.ResourceInstance}}
		}
		return nil, nil, err
	}
	return a, append(created, change(OpAssign, op)), s.emit(ctx, tx, envID, event.RoleAssignmentCreated, a)
}

// ---- condition sets

// ConditionSetInput is what a caller gives for a condition set.
type ConditionSetInput struct {
	Key, Name, Description string
	Type                   string // authz.UserSet or authz.ResourceSet
	Resource               string // a resource set's type
	Conditions             json.RawMessage
}

// validConditions checks condition JSON as the engine compiles it.
func validConditions(raw json.RawMessage) error {
	if len(raw) == 0 {
		return gatehouse.FieldError("conditions", "required_field_missing", "conditions are required")
	}
	if len(raw) > 64<<10 {
		return gatehouse.FieldError("conditions", "too_long", "conditions must be at most 64 KiB of JSON")
	}
	if err := compileConditions(raw); err != nil {
		return gatehouse.FieldError("conditions", "invalid_value", "invalid conditions: %s", strings.TrimPrefix(err.Error(), authz.ErrInvalid.Error()+": "))
	}
	return nil
}

// CreateConditionSet adds a user set or a resource set.
func (s *Service) CreateConditionSet(ctx context.Context, envID string, in ConditionSetInput) (*ConditionSet, error) {
	if err := validKey("key", in.Key); err != nil {
		return nil, err
	}
	if in.Name == "" {
		in.Name = in.Key
	}
	if err := firstErr(validText("name", in.Name, 200), validText("description", in.Description, 2000), validConditions(in.Conditions)); err != nil {
		return nil, err
	}
	switch in.Type {
	case authz.UserSet:
		if in.Resource != "" {
			return nil, gatehouse.FieldError("resource", "invalid_value", "a user set has no resource type")
		}
	case authz.ResourceSet:
		if in.Resource == "" {
			return nil, gatehouse.FieldError("resource", "required_field_missing", "a resource set names its resource type")
		}
	default:
		return nil, gatehouse.FieldError("type", "invalid_value", "type must be %s or %s", authz.UserSet, authz.ResourceSet)
	}
	now := s.now()
	c := &ConditionSet{ID: newID(), EnvID: envID, Key: in.Key, Name: in.Name, Description: in.Description, Type: in.Type,
		Conditions: append(json.RawMessage{}, in.Conditions...), CreatedAt: now, UpdatedAt: now}
	return c, s.write(ctx, envID, func(tx Store) ([]Change, error) {
		if in.Resource != "" {
			res, err := resourceOf(ctx, tx, envID, in.Resource)
			if err != nil {
				return nil, err
			}
			c.ResourceID, c.Resource = res.ID, res.Key
		}
		if err := tx.CreateConditionSet(ctx, c); err != nil {
			return nil, err
		}
		return []Change{change(OpPutConditionSet, c.Authz())}, s.emit(ctx, tx, envID, event.ConditionSetCreated, c)
	})
}

// ConditionSetPatch lists the fields to change; nil: unchanged.
type ConditionSetPatch struct {
	Name, Description *string
	Conditions        json.RawMessage // nil: unchanged
}

// UpdateConditionSet changes a condition set.
func (s *Service) UpdateConditionSet(ctx context.Context, envID, ref string, p ConditionSetPatch) (*ConditionSet, error) {
	if p.Conditions != nil {
		if err := validConditions(p.Conditions); err != nil {
			return nil, err
		}
	}
	var c *ConditionSet
	return c, s.write(ctx, envID, func(tx Store) ([]Change, error) {
		var err error
		if c, err = tx.GetConditionSet(ctx, envID, ref); err != nil {
			return nil, err
		}
		setIf(&c.Name, p.Name)
		setIf(&c.Description, p.Description)
		if p.Conditions != nil {
			c.Conditions = append(json.RawMessage{}, p.Conditions...)
		}
		if err := firstErr(validText("name", c.Name, 200), validText("description", c.Description, 2000)); err != nil {
			return nil, err
		}
		c.UpdatedAt = s.now()
		if err := tx.UpdateConditionSet(ctx, c); err != nil {
			return nil, err
		}
		return []Change{change(OpPutConditionSet, c.Authz())}, s.emit(ctx, tx, envID, event.ConditionSetUpdated, c)
	})
}

// DeleteConditionSet removes a condition set. Its set rules make it a
// CONFLICT unless cascade, which removes them too.
func (s *Service) DeleteConditionSet(ctx context.Context, envID, ref string, cascade bool) error {
	return s.write(ctx, envID, func(tx Store) ([]Change, error) {
		c, err := tx.GetConditionSet(ctx, envID, ref)
		if err != nil {
			return nil, err
		}
		changes, err := s.dropSetRules(ctx, tx, envID, fmt.Sprintf("condition set %q", c.Key), SetRuleFilter{EnvID: envID, SetID: c.ID}, cascade)
		if err != nil {
			return nil, err
		}
		if err := tx.DeleteConditionSet(ctx, envID, c.ID); err != nil {
			return nil, err
		}
		return append(changes, change(OpDeleteConditionSet, KeyRef{Key: c.Key})), s.emit(ctx, tx, envID, event.ConditionSetDeleted, event.Deleted{ID: c.ID, Key: c.Key})
	})
}

// ConditionSet is condition set ref of envID.
func (s *Service) ConditionSet(ctx context.Context, envID, ref string) (*ConditionSet, error) {
	return s.Store.GetConditionSet(ctx, envID, ref)
}

// ConditionSets lists condition sets.
func (s *Service) ConditionSets(ctx context.Context, f FineFilter, page gatehouse.PageRequest) (gatehouse.Page[ConditionSet], error) {
	return s.Store.ListConditionSets(ctx, f, page)
}

// ---- set rules

// SetRuleInput names a set rule by keys (or ids) of its sets.
type SetRuleInput struct{ UserSet, Action, ResourceSet string }

// CreateSetRule lets a user set do an action on a resource set.
func (s *Service) CreateSetRule(ctx context.Context, envID string, in SetRuleInput) (*SetRule, error) {
	var r *SetRule
	return r, s.write(ctx, envID, func(tx Store) ([]Change, error) {
		us, rs, err := resolveSets(ctx, tx, envID, in)
		if err != nil {
			return nil, err
		}
		res, err := tx.GetResource(ctx, envID, rs.ResourceID)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(res.Actions, in.Action) {
			return nil, gatehouse.FieldError("action", "unknown_action", "resource type %q (of resource set %q) has no action %q", res.Key, rs.Key, in.Action)
		}
		r = &SetRule{ID: newID(), EnvID: envID, UserSetID: us.ID, UserSet: us.Key, Action: in.Action, ResourceSetID: rs.ID, ResourceSet: rs.Key, CreatedAt: s.now()}
		if err := tx.CreateSetRule(ctx, r); err != nil {
			return nil, err
		}
		return []Change{change(OpPutSetRule, r.Authz())}, s.emit(ctx, tx, envID, event.SetRuleCreated, r)
	})
}

func resolveSets(ctx context.Context, tx Store, envID string, in SetRuleInput) (*ConditionSet, *ConditionSet, error) {
	for _, f := range [][2]string{{"user_set", in.UserSet}, {"action", in.Action}, {"resource_set", in.ResourceSet}} {
		if f[1] == "" {
			return nil, nil, gatehouse.FieldError(f[0], "required_field_missing", "%s is required", f[0])
		}
	}
	us, err := tx.GetConditionSet(ctx, envID, in.UserSet)
	if err != nil {
		return nil, nil, asField(err, "user_set")
	}
	if us.Type != authz.UserSet {
		return nil, nil, gatehouse.FieldError("user_set", "wrong_type", "condition set %q is a %s, not a %s", us.Key, us.Type, authz.UserSet)
	}
	rs, err := tx.GetConditionSet(ctx, envID, in.ResourceSet)
	if err != nil {
		return nil, nil, asField(err, "resource_set")
	}
	if rs.Type != authz.ResourceSet {
		return nil, nil, gatehouse.FieldError("resource_set", "wrong_type", "condition set %q is a %s, not a %s", rs.Key, rs.Type, authz.ResourceSet)
	}
	return us, rs, nil
}

// DeleteSetRule removes a set rule, named by id or by its three parts.
func (s *Service) DeleteSetRule(ctx context.Context, envID, id string, in SetRuleInput) error {
	return s.write(ctx, envID, func(tx Store) ([]Change, error) {
		var r *SetRule
		var err error
		if id != "" {
			r, err = tx.GetSetRule(ctx, envID, id)
		} else {
			var us, rs *ConditionSet
			if us, rs, err = resolveSets(ctx, tx, envID, in); err != nil {
				return nil, err
			}
			var page gatehouse.Page[SetRule]
			page, err = tx.ListSetRules(ctx, SetRuleFilter{EnvID: envID, UserSet: us.Key, Action: in.Action, ResourceSet: rs.Key}, gatehouse.PageRequest{Page: 1, PerPage: 1})
			if err == nil && len(page.Items) == 0 {
				err = gatehouse.Errorf(gatehouse.CodeNotFound, "set rule %s × %s × %s not found", us.Key, in.Action, rs.Key)
			}
			if err == nil {
				r = &page.Items[0]
			}
		}
		if err != nil {
			return nil, err
		}
		if err := tx.DeleteSetRule(ctx, envID, r.ID); err != nil {
			return nil, err
		}
		return []Change{change(OpDeleteSetRule, r.Authz())}, s.emit(ctx, tx, envID, event.SetRuleDeleted, r)
	})
}

// SetRules lists set rules.
func (s *Service) SetRules(ctx context.Context, f SetRuleFilter, page gatehouse.PageRequest) (gatehouse.Page[SetRule], error) {
	return s.Store.ListSetRules(ctx, f, page)
}
