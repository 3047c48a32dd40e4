package facts

import (
	"context"
	"fmt"
	"slices"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/event"
)

// References to the fine-grained data, under the rule of references.go:
// without cascade a delete of something referred to is a CONFLICT listing
// the referrers; with cascade they are removed in the same transaction,
// each with its change in the feed, before the delete itself.

// allPages reads every page of a list.
func allPages[T any](list func(gatehouse.PageRequest) (gatehouse.Page[T], error)) ([]T, error) {
	var out []T
	for page := 1; ; page++ {
		res, err := list(gatehouse.PageRequest{Page: page, PerPage: 1000})
		if err != nil {
			return nil, err
		}
		out = append(out, res.Items...)
		if page*1000 >= res.Total {
			return out, nil
		}
	}
}

// refSet gathers referrers and the changes that remove them.
type refSet struct {
	refs    []Referrer
	changes []Change
	fns     []func() error // the store writes, run only with cascade
}

func (r *refSet) add(ref Referrer, c Change, fn func() error) {
	r.refs = append(r.refs, ref)
	r.changes = append(r.changes, c)
	r.fns = append(r.fns, fn)
}

// apply refuses (no cascade) or runs the removals.
func (r *refSet) apply(what string, cascade bool) ([]Change, error) {
	if len(r.refs) == 0 {
		return nil, nil
	}
	if !cascade {
		listed := r.refs
		if len(listed) > maxListedReferrers {
			listed = listed[:maxListedReferrers]
		}
		return nil, inUse(what, listed, len(r.refs))
	}
	for _, fn := range r.fns {
		if err := fn(); err != nil {
			return nil, err
		}
	}
	return r.changes, nil
}

// updateRoleFn stores a changed resource role with its event.
func (s *Service) updateRoleFn(ctx context.Context, tx Store, envID string, r *ResourceRole) func() error {
	return func() error {
		r.UpdatedAt = s.now()
		if err := tx.UpdateResourceRole(ctx, r); err != nil {
			return err
		}
		return s.emit(ctx, tx, envID, event.ResourceRoleUpdated, r)
	}
}

func (s *Service) tupleRefs(ctx context.Context, tx Store, envID string, rs *refSet, f TupleFilter, via string) error {
	f.EnvID = envID
	tuples, err := allPages(func(p gatehouse.PageRequest) (gatehouse.Page[Tuple], error) { return tx.ListTuples(ctx, f, p) })
	if err != nil {
		return err
	}
	for _, t := range tuples {
		rs.add(Referrer{Kind: "tuple", Key: t.Subject + " " + t.Relation + " " + t.Object, Via: via}, change(OpDeleteTuple, t.Authz()),
			func() error {
				return s.then(ctx, tx.DeleteTuple(ctx, envID, t.ID), tx, envID, event.RelationshipTupleDeleted, t)
			})
	}
	return nil
}

// dropResourceRoleRefs: other roles' extends and derivations, tuples
// naming the role, its assignments.
func (s *Service) dropResourceRoleRefs(ctx context.Context, tx Store, envID string, r *ResourceRole, cascade bool) ([]Change, error) {
	rs := &refSet{}
	roles, err := tx.AllResourceRoles(ctx, envID)
	if err != nil {
		return nil, err
	}
	for i := range roles {
		o := &roles[i]
		if o.ID == r.ID {
			continue
		}
		ext := o.ResourceID == r.ResourceID && slices.Contains(o.Extends, r.Key)
		der := slices.ContainsFunc(o.GrantedTo, func(d authz.Derivation) bool { return d.OnResource == r.Resource && d.Role == r.Key })
		if !ext && !der {
			continue
		}
		via := "extends"
		if !ext {
			via = "granted_to"
		}
		if ext {
			o.Extends = slices.DeleteFunc(o.Extends, func(k string) bool { return k == r.Key })
		}
		o.GrantedTo = slices.DeleteFunc(o.GrantedTo, func(d authz.Derivation) bool { return d.OnResource == r.Resource && d.Role == r.Key })
		rs.add(Referrer{Kind: "resource_role", Key: o.Resource + "#" + o.Key, Via: via, Values: []string{r.Resource + "#" + r.Key}},
			change(OpPutResourceRole, o.Authz()), s.updateRoleFn(ctx, tx, envID, o))
	}
	// Subject-set tuples naming it: as the subject's role, or as the relation.
	if err := s.tupleRefs(ctx, tx, envID, rs, TupleFilter{SubjectResourceID: r.ResourceID, SubjectRole: r.Key}, "subject"); err != nil {
		return nil, err
	}
	f := TupleFilter{EnvID: envID, ObjectResourceID: r.ResourceID, Relation: r.Key}
	tuples, err := allPages(func(p gatehouse.PageRequest) (gatehouse.Page[Tuple], error) { return tx.ListTuples(ctx, f, p) })
	if err != nil {
		return nil, err
	}
	for _, t := range tuples {
		if t.SubjectRole != "" {
			rs.add(Referrer{Kind: "tuple", Key: t.Subject + " " + t.Relation + " " + t.Object, Via: "relation"}, change(OpDeleteTuple, t.Authz()),
				func() error {
					return s.then(ctx, tx.DeleteTuple(ctx, envID, t.ID), tx, envID, event.RelationshipTupleDeleted, t)
				})
		}
	}
	as, err := allPages(func(p gatehouse.PageRequest) (gatehouse.Page[Assignment], error) {
		return tx.ListAssignments(ctx, AssignmentFilter{EnvID: envID, Role: r.Key, Kind: AssignmentsOnInstances}, p)
	})
	if err != nil {
		return nil, err
	}
	for _, a := range as {
		if a.RoleID != r.ID {
			continue // a role of the same key on another type
		}
		rs.add(Referrer{Kind: "role_assignment", Via: "role", User: a.User, Tenant: a.ResourceInstance},
			change(OpUnassign, authz.Assignment{User: a.User, Role: a.Role, Tenant: a.Tenant, ResourceInstance: a.ResourceInstance}),
			func() error {
				return s.then(ctx, tx.DeleteInstanceAssignment(ctx, envID, a.UserID, a.RoleID, a.InstanceID), tx, envID, event.RoleAssignmentDeleted, a)
			})
	}
	return rs.apply(fmt.Sprintf("role %q of resource type %q", r.Key, r.Resource), cascade)
}

// dropRelationRefs: the relation's tuples and the derivations linked by it.
func (s *Service) dropRelationRefs(ctx context.Context, tx Store, envID string, r *Relation, cascade bool) ([]Change, error) {
	rs := &refSet{}
	if err := s.relationRefs(ctx, tx, envID, rs, r); err != nil {
		return nil, err
	}
	return rs.apply(fmt.Sprintf("relation %q of resource type %q", r.Key, r.Resource), cascade)
}

func (s *Service) relationRefs(ctx context.Context, tx Store, envID string, rs *refSet, r *Relation) error {
	roles, err := tx.AllResourceRoles(ctx, envID)
	if err != nil {
		return err
	}
	for i := range roles {
		o := &roles[i]
		linked := func(d authz.Derivation) bool { return o.ResourceID == r.ResourceID && d.LinkedByRelation == r.Key }
		if slices.ContainsFunc(o.GrantedTo, linked) {
			o.GrantedTo = slices.DeleteFunc(o.GrantedTo, linked)
			rs.add(Referrer{Kind: "resource_role", Key: o.Resource + "#" + o.Key, Via: "granted_to", Values: []string{r.Key}},
				change(OpPutResourceRole, o.Authz()), s.updateRoleFn(ctx, tx, envID, o))
		}
	}
	f := TupleFilter{EnvID: envID, ObjectResourceID: r.ResourceID, Relation: r.Key}
	tuples, err := allPages(func(p gatehouse.PageRequest) (gatehouse.Page[Tuple], error) { return tx.ListTuples(ctx, f, p) })
	if err != nil {
		return err
	}
	for _, t := range tuples {
		if t.SubjectRole == "" {
			rs.add(Referrer{Kind: "tuple", Key: t.Subject + " " + t.Relation + " " + t.Object, Via: "relation"}, change(OpDeleteTuple, t.Authz()),
				func() error {
					return s.then(ctx, tx.DeleteTuple(ctx, envID, t.ID), tx, envID, event.RelationshipTupleDeleted, t)
				})
		}
	}
	return nil
}

// dropSetRules: the set rules f selects.
func (s *Service) dropSetRules(ctx context.Context, tx Store, envID, what string, f SetRuleFilter, cascade bool) ([]Change, error) {
	rs := &refSet{}
	if err := s.setRuleRefs(ctx, tx, envID, rs, f); err != nil {
		return nil, err
	}
	return rs.apply(what, cascade)
}

func (s *Service) setRuleRefs(ctx context.Context, tx Store, envID string, rs *refSet, f SetRuleFilter) error {
	rules, err := allPages(func(p gatehouse.PageRequest) (gatehouse.Page[SetRule], error) { return tx.ListSetRules(ctx, f, p) })
	if err != nil {
		return err
	}
	for _, r := range rules {
		rs.add(Referrer{Kind: "set_rule", Key: r.UserSet + " × " + r.Action + " × " + r.ResourceSet, Via: "condition set"}, change(OpDeleteSetRule, r.Authz()),
			func() error {
				return s.then(ctx, tx.DeleteSetRule(ctx, envID, r.ID), tx, envID, event.SetRuleDeleted, r)
			})
	}
	return nil
}

// resourceFineRefs: what of the fine-grained model refers to resource type
// res: its instances (with their tuples and assignments), its roles and
// relations, other types' relations to it and derivations from it, its
// resource sets (with their rules).
func (s *Service) resourceFineRefs(ctx context.Context, tx Store, envID string, rs *refSet, res *Resource) error {
	sets, err := allPages(func(p gatehouse.PageRequest) (gatehouse.Page[ConditionSet], error) {
		return tx.ListConditionSets(ctx, FineFilter{EnvID: envID, Resource: res.Key}, p)
	})
	if err != nil {
		return err
	}
	for _, c := range sets {
		if err := s.setRuleRefs(ctx, tx, envID, rs, SetRuleFilter{EnvID: envID, SetID: c.ID}); err != nil {
			return err
		}
		rs.add(Referrer{Kind: "condition_set", Key: c.Key, Via: "resource"}, change(OpDeleteConditionSet, KeyRef{Key: c.Key}),
			func() error {
				return s.then(ctx, tx.DeleteConditionSet(ctx, envID, c.ID), tx, envID, event.ConditionSetDeleted, event.Deleted{ID: c.ID, Key: c.Key})
			})
	}
	rels, err := tx.AllRelations(ctx, envID)
	if err != nil {
		return err
	}
	// Other types' relations to this one: their tuples (and derivations)
	// go before this type's instances, whose own removal takes the tuples
	// naming them (a tuple is removed once, before its instance).
	for _, r := range rels {
		if r.ResourceID != res.ID && r.SubjectID == res.ID {
			if err := s.relationRefs(ctx, tx, envID, rs, &r); err != nil {
				return err
			}
		}
	}
	insts, err := allPages(func(p gatehouse.PageRequest) (gatehouse.Page[Instance], error) {
		return tx.ListInstances(ctx, FineFilter{EnvID: envID, Resource: res.Key}, p)
	})
	if err != nil {
		return err
	}
	for _, i := range insts {
		rs.add(Referrer{Kind: "instance", Key: i.Ref(), Via: "resource"}, change(OpDeleteInstance, ResourceKeyRef{Resource: i.Resource, Key: i.Key}),
			func() error {
				return s.then(ctx, tx.DeleteInstance(ctx, envID, i.ID), tx, envID, event.ResourceInstanceDeleted, event.Deleted{ID: i.ID, Key: i.Key, Resource: i.Resource})
			})
	}
	roles, err := tx.AllResourceRoles(ctx, envID)
	if err != nil {
		return err
	}
	for i := range roles {
		o := &roles[i]
		if o.ResourceID == res.ID {
			continue
		}
		from := func(d authz.Derivation) bool { return d.OnResource == res.Key }
		if slices.ContainsFunc(o.GrantedTo, from) {
			o.GrantedTo = slices.DeleteFunc(o.GrantedTo, from)
			rs.add(Referrer{Kind: "resource_role", Key: o.Resource + "#" + o.Key, Via: "granted_to", Values: []string{res.Key}},
				change(OpPutResourceRole, o.Authz()), s.updateRoleFn(ctx, tx, envID, o))
		}
	}
	for _, r := range rels {
		if r.ResourceID != res.ID && r.SubjectID != res.ID {
			continue
		}
		rs.add(Referrer{Kind: "relation", Key: r.Resource + "#" + r.Key, Via: "resource"}, change(OpDeleteRelation, ResourceKeyRef{Resource: r.Resource, Key: r.Key}),
			func() error {
				return s.then(ctx, tx.DeleteRelation(ctx, envID, r.ID), tx, envID, event.RelationDeleted, event.Deleted{ID: r.ID, Key: r.Key, Resource: r.Resource})
			})
	}
	for _, o := range roles {
		if o.ResourceID == res.ID {
			rs.add(Referrer{Kind: "resource_role", Key: o.Resource + "#" + o.Key, Via: "resource"}, change(OpDeleteResourceRole, ResourceKeyRef{Resource: o.Resource, Key: o.Key}),
				func() error {
					return s.then(ctx, tx.DeleteResourceRole(ctx, envID, o.ID), tx, envID, event.ResourceRoleDeleted, event.Deleted{ID: o.ID, Key: o.Key, Resource: o.Resource})
				})
		}
	}
	return nil
}

// tenantRoleDerivations: resource roles derived from tenant role key.
func (s *Service) tenantRoleDerivations(ctx context.Context, tx Store, envID string, rs *refSet, key string) error {
	roles, err := tx.AllResourceRoles(ctx, envID)
	if err != nil {
		return err
	}
	for i := range roles {
		o := &roles[i]
		from := func(d authz.Derivation) bool { return d.OnResource == authz.TenantResource && d.Role == key }
		if slices.ContainsFunc(o.GrantedTo, from) {
			o.GrantedTo = slices.DeleteFunc(o.GrantedTo, from)
			rs.add(Referrer{Kind: "resource_role", Key: o.Resource + "#" + o.Key, Via: "granted_to", Values: []string{key}},
				change(OpPutResourceRole, o.Authz()), s.updateRoleFn(ctx, tx, envID, o))
		}
	}
	return nil
}

// tenantInstances: the instances of a tenant go with it (as its
// assignments do), each with its change.
func (s *Service) tenantInstances(ctx context.Context, tx Store, envID string, t *Tenant) ([]Change, error) {
	insts, err := allPages(func(p gatehouse.PageRequest) (gatehouse.Page[Instance], error) {
		return tx.ListInstances(ctx, FineFilter{EnvID: envID, Tenant: t.Key}, p)
	})
	if err != nil {
		return nil, err
	}
	var changes []Change
	for _, i := range insts {
		if err := s.then(ctx, tx.DeleteInstance(ctx, envID, i.ID), tx, envID, event.ResourceInstanceDeleted, event.Deleted{ID: i.ID, Key: i.Key, Resource: i.Resource}); err != nil {
			return nil, err
		}
		changes = append(changes, change(OpDeleteInstance, ResourceKeyRef{Resource: i.Resource, Key: i.Key}))
	}
	return changes, nil
}

// actionRefs: resource roles of res granting removed actions, and set
// rules on res's resource sets for them.
func (s *Service) actionRefs(ctx context.Context, tx Store, envID string, rs *refSet, res *Resource, removed []string) error {
	roles, err := tx.AllResourceRoles(ctx, envID)
	if err != nil {
		return err
	}
	for i := range roles {
		o := &roles[i]
		if o.ResourceID != res.ID {
			continue
		}
		var gone []string
		for _, p := range o.Permissions {
			if slices.Contains(removed, p) {
				gone = append(gone, p)
			}
		}
		if len(gone) > 0 {
			o.Permissions = slices.DeleteFunc(o.Permissions, func(p string) bool { return slices.Contains(removed, p) })
			rs.add(Referrer{Kind: "resource_role", Key: o.Resource + "#" + o.Key, Via: "permissions", Values: gone},
				change(OpPutResourceRole, o.Authz()), s.updateRoleFn(ctx, tx, envID, o))
		}
	}
	sets, err := allPages(func(p gatehouse.PageRequest) (gatehouse.Page[ConditionSet], error) {
		return tx.ListConditionSets(ctx, FineFilter{EnvID: envID, Resource: res.Key}, p)
	})
	if err != nil {
		return err
	}
	for _, c := range sets {
		rules, err := allPages(func(p gatehouse.PageRequest) (gatehouse.Page[SetRule], error) {
			return tx.ListSetRules(ctx, SetRuleFilter{EnvID: envID, ResourceSet: c.Key}, p)
		})
		if err != nil {
			return err
		}
		for _, r := range rules {
			if slices.Contains(removed, r.Action) {
				rs.add(Referrer{Kind: "set_rule", Key: r.UserSet + " × " + r.Action + " × " + r.ResourceSet, Via: "action"}, change(OpDeleteSetRule, r.Authz()),
					func() error {
						return s.then(ctx, tx.DeleteSetRule(ctx, envID, r.ID), tx, envID, event.SetRuleDeleted, r)
					})
			}
		}
	}
	return nil
}

// then emits an event after a store write that succeeded.
func (s *Service) then(ctx context.Context, err error, tx Store, envID, typ string, data any) error {
	if err != nil {
		return err
	}
	return s.emit(ctx, tx, envID, typ, data)
}
