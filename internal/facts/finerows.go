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

// Rows of the fine-grained model (issue 15): imports, exports and copies
// of an environment carry it like the rest. Each kind follows the rules of
// the single-item writes in fine.go; what a row refers to is found in the
// database inside the batch's transaction, so a batch may create what its
// later kinds refer to (see Kinds).

// validateFine checks a fine-grained row on its own.
func (r *Row) validateFine() error {
	str := func(f string, v *string, max int) error {
		if v == nil {
			return nil
		}
		return validText(f, *v, max)
	}
	need := func(kind string, fields ...[2]string) error {
		for _, f := range fields {
			if f[1] == "" {
				return gatehouse.FieldError(f[0], "required_field_missing", "a %s row needs %s", kind, f[0])
			}
		}
		return nil
	}
	switch r.Type {
	case KindResourceRole:
		if err := need(r.Type, [2]string{"resource", r.Resource}); err != nil {
			return err
		}
		_, aerr := r.userAttrs()
		return firstErr(validKey("key", r.Key), str("name", r.Name, 200), str("description", r.Description, 2000), aerr)
	case KindRelation:
		if err := need(r.Type, [2]string{"resource", r.Resource}, [2]string{"subject", r.Subject}); err != nil {
			return err
		}
		return firstErr(validKey("key", r.Key), str("name", r.Name, 200), str("description", r.Description, 2000))
	case KindInstance:
		if err := need(r.Type, [2]string{"resource", r.Resource}); err != nil {
			return err
		}
		var terr error
		if r.Tenant != "" {
			terr = validKey("tenant", r.Tenant)
		}
		_, aerr := r.userAttrs()
		return firstErr(validKey("key", r.Key), terr, aerr)
	case KindTuple:
		return need(r.Type, [2]string{"subject", r.Subject}, [2]string{"relation", r.Relation}, [2]string{"object", r.Object})
	case KindConditionSet:
		switch r.SetType {
		case "", authz.UserSet, authz.ResourceSet: // "": an existing set's
		default:
			return gatehouse.FieldError("set_type", "invalid_value", "set_type must be %s or %s", authz.UserSet, authz.ResourceSet)
		}
		if r.SetType == authz.UserSet && r.Resource != "" {
			return gatehouse.FieldError("resource", "invalid_value", "a user set has no resource type")
		}
		var cerr error
		if r.Conditions != nil {
			cerr = validConditions(r.Conditions)
		}
		return firstErr(validKey("key", r.Key), str("name", r.Name, 200), str("description", r.Description, 2000), cerr)
	case KindSetRule:
		return need(r.Type, [2]string{"user_set", r.UserSet}, [2]string{"action", r.Action}, [2]string{"resource_set", r.ResourceSet})
	}
	return nil
}

// failOr records a row error when err is one (INVALID_REQUEST, NOT_FOUND,
// CONFLICT), and returns any other error (the database failed).
func (a *applier) failOr(r *Row, err error) error {
	switch gatehouse.ErrorCode(err) {
	case gatehouse.CodeInvalidRequest, gatehouse.CodeNotFound, gatehouse.CodeConflict:
		a.fail(r, err)
		return nil
	}
	return err
}

// put records a created or updated item: its count, feed change and event.
func (a *applier) put(ctx context.Context, isNew bool, c Change, created, updated string, item any) error {
	typ := updated
	if isNew {
		a.res.Created++
		typ = created
	} else {
		a.res.Updated++
	}
	a.parts = append(a.parts, c)
	if typ == "" {
		return nil // no event of that kind (or none wanted)
	}
	return a.event(ctx, typ, item)
}

// byRowKey groups rows by a key in order of first appearance: later rows
// of a key win, field by field.
func byRowKey(rows []*Row, key func(*Row) string) ([]string, map[string][]*Row) {
	var keys []string
	m := map[string][]*Row{}
	for _, r := range rows {
		k := key(r)
		if m[k] == nil {
			keys = append(keys, k)
		}
		m[k] = append(m[k], r)
	}
	return keys, m
}

func (a *applier) applyRelations(ctx context.Context, rows []*Row) error {
	keys, groups := byRowKey(rows, func(r *Row) string { return r.Resource + "#" + r.Key })
	for _, k := range keys {
		rs := groups[k]
		r := rs[len(rs)-1]
		res, err := resourceOf(ctx, a.tx, a.envID, r.Resource)
		if err != nil {
			if err := a.failOr(r, err); err != nil {
				return err
			}
			continue
		}
		subject := ""
		for _, x := range rs {
			subject = x.Subject
		}
		sub, err := a.tx.GetResource(ctx, a.envID, subject)
		if err != nil {
			if err := a.failOr(r, asField(err, "subject")); err != nil {
				return err
			}
			continue
		}
		cur, err := a.tx.GetRelation(ctx, a.envID, res.ID, r.Key)
		isNew := gatehouse.ErrorCode(err) == gatehouse.CodeNotFound
		if err != nil && !isNew {
			return err
		}
		if isNew {
			if _, err := a.tx.GetResourceRole(ctx, a.envID, res.ID, r.Key); err == nil {
				a.fail(r, gatehouse.FieldError("key", "already_exists", "resource type %q has a role %q: a relation may not share its key", res.Key, r.Key))
				continue
			}
			cur = &Relation{ID: newID(), EnvID: a.envID, ResourceID: res.ID, Resource: res.Key, Key: r.Key, Name: r.Key,
				SubjectID: sub.ID, Subject: sub.Key, CreatedAt: a.now, UpdatedAt: a.now}
		} else if cur.SubjectID != sub.ID {
			a.fail(r, gatehouse.FieldError("subject", "invalid_value", "relation %q of %q relates instances of %q: its subject type cannot change", cur.Key, res.Key, cur.Subject))
			continue
		}
		before := mustJSON(cur)
		for _, x := range rs {
			setIf(&cur.Name, x.Name)
			setIf(&cur.Description, x.Description)
		}
		if !isNew && mustJSON(cur) == before {
			a.res.Unchanged++
			continue
		}
		if isNew {
			err = a.tx.CreateRelation(ctx, cur)
		} else {
			cur.UpdatedAt = a.now
			err = a.tx.UpdateRelation(ctx, cur)
		}
		if err != nil {
			return err
		}
		if err := a.put(ctx, isNew, change(OpPutRelation, cur.Authz()), event.RelationCreated, "", cur); err != nil {
			return err
		}
	}
	return nil
}

// applyResourceRoles creates every new role first without its links
// (extends and derivations may name roles later in the batch, of this type
// or of others), then sets each role's fields and checks it as a single
// write does. The feed gets the bare new roles first, so that each change
// applies in order.
func (a *applier) applyResourceRoles(ctx context.Context, rows []*Row) error {
	type pending struct {
		rows []*Row
		res  *Resource
		role *ResourceRole
		new  bool
		was  string
	}
	keys, groups := byRowKey(rows, func(r *Row) string { return r.Resource + "#" + r.Key })
	var ps []*pending
	for _, k := range keys {
		rs := groups[k]
		r := rs[len(rs)-1]
		res, err := resourceOf(ctx, a.tx, a.envID, r.Resource)
		if err != nil {
			if err := a.failOr(r, err); err != nil {
				return err
			}
			continue
		}
		p := &pending{rows: rs, res: res}
		cur, err := a.tx.GetResourceRole(ctx, a.envID, res.ID, r.Key)
		switch {
		case gatehouse.ErrorCode(err) == gatehouse.CodeNotFound:
			if _, err := a.tx.GetRelation(ctx, a.envID, res.ID, r.Key); err == nil {
				a.fail(r, gatehouse.FieldError("key", "already_exists", "resource type %q has a relation %q: a role may not share its key", res.Key, r.Key))
				continue
			}
			p.new = true
			p.role = &ResourceRole{ID: newID(), EnvID: a.envID, ResourceID: res.ID, Resource: res.Key, Key: r.Key, Name: r.Key,
				Permissions: []string{}, Extends: []string{}, GrantedTo: []authz.Derivation{}, Attributes: map[string]any{}, CreatedAt: a.now, UpdatedAt: a.now}
			if err := a.tx.CreateResourceRole(ctx, p.role); err != nil {
				return err
			}
			a.parts = append(a.parts, change(OpPutResourceRole, p.role.Authz()))
		case err != nil:
			return err
		default:
			p.role, p.was = cur, mustJSON(cur)
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		role, r := p.role, p.rows[len(p.rows)-1]
		for _, x := range p.rows {
			setIf(&role.Name, x.Name)
			setIf(&role.Description, x.Description)
			if x.Permissions != nil {
				role.Permissions = dedupe(*x.Permissions)
			}
			if x.Extends != nil {
				role.Extends = dedupe(*x.Extends)
			}
			if x.GrantedTo != nil {
				role.GrantedTo = orNoDerivations(*x.GrantedTo)
			}
			if attrs, _ := x.userAttrs(); attrs != nil {
				role.Attributes = attrs
			}
		}
		if err := checkResourceRole(ctx, a.tx, a.envID, p.res, role); err != nil {
			if err := a.failOr(r, err); err != nil {
				return err
			}
			continue
		}
		if !p.new && mustJSON(role) == p.was {
			a.res.Unchanged++
			continue
		}
		if !p.new {
			role.UpdatedAt = a.now
		}
		if err := a.tx.UpdateResourceRole(ctx, role); err != nil {
			return err
		}
		if err := a.put(ctx, p.new, change(OpPutResourceRole, role.Authz()), event.ResourceRoleCreated, event.ResourceRoleUpdated, role); err != nil {
			return err
		}
	}
	return nil
}

// tenantOf finds a tenant by key, through the tenants this batch knows.
func (a *applier) tenantOf(ctx context.Context, key string) (*Tenant, error) {
	if t := a.tenantByKey[key]; t != nil {
		return t, nil
	}
	t, err := a.tx.GetTenant(ctx, a.envID, key)
	if err != nil {
		return nil, asField(err, "tenant")
	}
	if a.tenantByKey == nil {
		a.tenantByKey = map[string]*Tenant{}
	}
	a.tenantByKey[key] = t
	return t, nil
}

// fineCache holds what a batch has looked up of the fine-grained data, so
// that rows of thousands of instances and tuples cost a few queries, not a
// few each.
type fineCache struct {
	resources map[string]*Resource // by key; nil: none
	instances map[string]*Instance // by "resource:key"; nil: none
	// by resource type id + "#" + key, loaded at once
	relations map[string]*Relation
	roles     map[string]*ResourceRole
}

// resource is resource type key, NOT_FOUND naming field when missing.
func (a *applier) resource(ctx context.Context, key, field string) (*Resource, error) {
	c := &a.fine
	if c.resources == nil {
		c.resources = map[string]*Resource{}
	}
	r, ok := c.resources[key]
	if !ok {
		var err error
		r, err = a.tx.GetResource(ctx, a.envID, key)
		if err != nil && gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
			return nil, err
		}
		c.resources[key] = r
	}
	if r == nil {
		return nil, &gatehouse.Error{Code: gatehouse.CodeNotFound, Message: fmt.Sprintf("resource type %q not found", key),
			Details: map[string]any{"field": field, "reason": "not_found"}}
	}
	return r, nil
}

// loadInstances looks up, a query per resource type, the instances of refs
// ("resource:key") that this batch has not looked up yet.
func (a *applier) loadInstances(ctx context.Context, refs []string) error {
	c := &a.fine
	if c.instances == nil {
		c.instances = map[string]*Instance{}
	}
	byType := map[string][]string{}
	for _, ref := range refs {
		if _, ok := c.instances[ref]; ok {
			continue
		}
		c.instances[ref] = nil
		if typ, key, ok := strings.Cut(ref, ":"); ok {
			byType[typ] = append(byType[typ], key)
		}
	}
	for _, typ := range setKeys(boolSet(byType)) {
		res, err := a.resource(ctx, typ, "resource")
		if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
			continue
		}
		if err != nil {
			return err
		}
		found, err := a.tx.InstancesByKey(ctx, a.envID, res.ID, byType[typ])
		if err != nil {
			return err
		}
		for k, i := range found {
			c.instances[typ+":"+k] = i
		}
	}
	return nil
}

func boolSet[V any](m map[string]V) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

// instance is instance ref as loaded (loadInstances), NOT_FOUND naming
// field when missing.
func (a *applier) instance(ref, field string) (*Instance, error) {
	if i := a.fine.instances[ref]; i != nil {
		return i, nil
	}
	return nil, &gatehouse.Error{Code: gatehouse.CodeNotFound, Message: fmt.Sprintf("resource instance %q not found", ref),
		Details: map[string]any{"field": field, "reason": "not_found"}}
}

// loadModel loads the relations and resource roles of the environment (a
// few per resource type), once the batch's own are applied.
func (a *applier) loadModel(ctx context.Context) error {
	c := &a.fine
	if c.relations != nil {
		return nil
	}
	rels, err := a.tx.AllRelations(ctx, a.envID)
	if err != nil {
		return err
	}
	roles, err := a.tx.AllResourceRoles(ctx, a.envID)
	if err != nil {
		return err
	}
	c.relations, c.roles = make(map[string]*Relation, len(rels)), make(map[string]*ResourceRole, len(roles))
	for i := range rels {
		c.relations[rels[i].ResourceID+"#"+rels[i].Key] = &rels[i]
	}
	for i := range roles {
		c.roles[roles[i].ResourceID+"#"+roles[i].Key] = &roles[i]
	}
	return nil
}

func (a *applier) applyInstances(ctx context.Context, rows []*Row) error {
	keys, groups := byRowKey(rows, func(r *Row) string { return r.Resource + ":" + r.Key })
	if err := a.loadInstances(ctx, keys); err != nil {
		return err
	}
	var created []*Instance
	for _, k := range keys {
		rs := groups[k]
		r := rs[len(rs)-1]
		cur := a.fine.instances[k]
		isNew, before := cur == nil, ""
		if isNew {
			res, err := a.resource(ctx, r.Resource, "resource")
			if err != nil {
				if err := a.failOr(r, err); err != nil {
					return err
				}
				continue
			}
			cur = &Instance{ID: newID(), EnvID: a.envID, ResourceID: res.ID, Resource: res.Key, Key: r.Key, Tenant: authz.DefaultTenant,
				Attributes: map[string]any{}, CreatedAt: a.now, UpdatedAt: a.now}
		} else {
			before = mustJSON(cur)
		}
		for _, x := range rs {
			if x.Tenant != "" {
				cur.Tenant = x.Tenant
			}
			if attrs, _ := x.userAttrs(); attrs != nil {
				cur.Attributes = attrs
			}
		}
		t, err := a.tenantOf(ctx, cur.Tenant)
		if err != nil {
			if err := a.failOr(r, err); err != nil {
				return err
			}
			continue
		}
		cur.TenantID = t.ID
		if isNew {
			created = append(created, cur)
			a.fine.instances[k] = cur
			continue
		}
		if mustJSON(cur) == before {
			a.res.Unchanged++
			continue
		}
		cur.UpdatedAt = a.now
		if err := a.tx.UpdateInstance(ctx, cur); err != nil {
			return err
		}
		if err := a.put(ctx, false, change(OpPutInstance, cur.Authz()), "", event.ResourceInstanceUpdated, cur); err != nil {
			return err
		}
	}
	if len(a.errs) > 0 {
		return nil // the batch is rolled back: do not write
	}
	if err := a.tx.InsertInstances(ctx, created); err != nil {
		return err
	}
	for _, i := range created {
		if err := a.put(ctx, true, change(OpPutInstance, i.Authz()), event.ResourceInstanceCreated, "", i); err != nil {
			return err
		}
	}
	return nil
}

// resolveTuple is resolveTuple (fine.go) over what the batch has loaded.
func (a *applier) resolveTuple(r *Row) (*Tuple, error) {
	subRef, subRole, isSet := strings.Cut(r.Subject, "#")
	if !strings.Contains(subRef, ":") || isSet && subRole == "" {
		return nil, gatehouse.FieldError("subject", "invalid_format", "subject %q must be \"type:key\" or \"type:key#role\"", r.Subject)
	}
	if !strings.Contains(r.Object, ":") {
		return nil, gatehouse.FieldError("object", "invalid_format", "object %q must be \"type:key\"", r.Object)
	}
	sub, err := a.instance(subRef, "subject")
	if err != nil {
		return nil, err
	}
	obj, err := a.instance(r.Object, "object")
	if err != nil {
		return nil, err
	}
	if isSet {
		if a.fine.roles[sub.ResourceID+"#"+subRole] == nil {
			return nil, gatehouse.FieldError("subject", "unknown_role", "resource type %q has no role %q", sub.Resource, subRole)
		}
		if a.fine.roles[obj.ResourceID+"#"+r.Relation] == nil {
			return nil, gatehouse.FieldError("relation", "unknown_role", "with a subject set, the relation is a role of the object's type: resource type %q has no role %q", obj.Resource, r.Relation)
		}
	} else {
		rel := a.fine.relations[obj.ResourceID+"#"+r.Relation]
		if rel == nil {
			return nil, gatehouse.FieldError("relation", "unknown_relation", "resource type %q has no relation %q", obj.Resource, r.Relation)
		}
		if rel.SubjectID != sub.ResourceID {
			return nil, gatehouse.FieldError("subject", "wrong_type", "relation %q of %q relates instances of %q, not %q", rel.Key, obj.Resource, rel.Subject, sub.Resource)
		}
	}
	subject := sub.Ref()
	if isSet {
		subject += "#" + subRole
	}
	return &Tuple{EnvID: a.envID, SubjectID: sub.ID, SubjectRole: subRole, Subject: subject, Relation: r.Relation, ObjectID: obj.ID, Object: obj.Ref()}, nil
}

// applyTuples resolves every tuple, then validates them together against
// the engine (no cycle, no chain longer than authz.MaxDepth) as
// CreateTuples does; the engine passes over those it holds already. When
// this batch has already changed the model or the instances, the engine
// does not hold them yet: the tuples are then validated against a copy of
// the engine with the batch's changes applied.
func (a *applier) applyTuples(ctx context.Context, rows []*Row) error {
	refs := make([]string, 0, 2*len(rows))
	for _, r := range rows {
		sub, _, _ := strings.Cut(r.Subject, "#")
		refs = append(refs, sub, r.Object)
	}
	if err := a.loadInstances(ctx, refs); err != nil {
		return err
	}
	if err := a.loadModel(ctx); err != nil {
		return err
	}
	var ts []Tuple
	var trs []*Row
	seen := map[authz.Tuple]bool{}
	for _, r := range rows {
		t, err := a.resolveTuple(r)
		if err != nil {
			a.fail(r, err)
			continue
		}
		if seen[t.Authz()] {
			a.res.Unchanged++
			continue
		}
		seen[t.Authz()] = true
		ts, trs = append(ts, *t), append(trs, r)
	}
	if len(a.errs) > 0 || len(ts) == 0 {
		return nil // the batch is rolled back: do not write
	}
	e, err := a.engine(ctx)
	if err != nil {
		return err
	}
	ats := make([]authz.Tuple, len(ts))
	for i := range ts {
		ats[i] = ts[i].Authz()
		ts[i].ID, ts[i].CreatedAt = newID(), a.now
	}
	if i, err := e.ValidateTuples(ats); err != nil {
		return a.failOr(trs[i], tupleError(ats[i], err))
	}
	inserted, err := a.tx.InsertTuples(ctx, ts)
	if err != nil {
		return err
	}
	for i := range ts {
		if !inserted[ts[i].ID] {
			a.res.Unchanged++
			continue
		}
		if err := a.put(ctx, true, change(OpPutTuple, ats[i]), event.RelationshipTupleCreated, "", &ts[i]); err != nil {
			return err
		}
	}
	return nil
}

// engine is the environment's engine, caught up, for validating tuples:
// a copy with this batch's changes so far when they matter to tuples.
func (a *applier) engine(ctx context.Context) (*authz.Engine, error) {
	e, err := a.s.caughtUpEngine(ctx, a.envID)
	if err != nil || !slices.ContainsFunc(a.parts, func(c Change) bool {
		return slices.Contains([]string{OpPutResource, OpPutRelation, OpPutResourceRole, OpPutInstance}, c.Op)
	}) {
		return e, err
	}
	cp := authz.New()
	if err := cp.Load(e.Data()); err != nil {
		return nil, err
	}
	for _, c := range a.parts {
		if err := cp.Apply(c.Change); err != nil {
			return nil, fmt.Errorf("rows: the batch's changes do not apply to the engine: %w", err)
		}
	}
	return cp, nil
}

func (a *applier) applyConditionSets(ctx context.Context, rows []*Row) error {
	keys, groups := byRowKey(rows, func(r *Row) string { return r.Key })
	for _, k := range keys {
		rs := groups[k]
		r := rs[len(rs)-1]
		cur, err := a.tx.GetConditionSet(ctx, a.envID, k)
		isNew := gatehouse.ErrorCode(err) == gatehouse.CodeNotFound
		if err != nil && !isNew {
			return err
		}
		before := ""
		if isNew {
			cur = &ConditionSet{ID: newID(), EnvID: a.envID, Key: k, Name: k, CreatedAt: a.now, UpdatedAt: a.now}
		} else {
			before = mustJSON(cur)
		}
		typ, resource := cur.Type, cur.Resource
		for _, x := range rs {
			setIf(&cur.Name, x.Name)
			setIf(&cur.Description, x.Description)
			if x.SetType != "" {
				typ = x.SetType
			}
			if x.Resource != "" {
				resource = x.Resource
			}
			if x.Conditions != nil {
				cur.Conditions = append(json.RawMessage{}, x.Conditions...)
			}
		}
		var bad error
		switch {
		case !isNew && (typ != cur.Type || resource != cur.Resource):
			bad = gatehouse.FieldError("set_type", "invalid_value", "condition set %q is a %s of %q: its type and resource type cannot change", k, cur.Type, cur.Resource)
		case typ == "":
			bad = gatehouse.FieldError("set_type", "required_field_missing", "a new condition_set row needs set_type (%s or %s)", authz.UserSet, authz.ResourceSet)
		case typ == authz.ResourceSet && resource == "":
			bad = gatehouse.FieldError("resource", "required_field_missing", "a resource set names its resource type")
		case typ == authz.UserSet && resource != "":
			bad = gatehouse.FieldError("resource", "invalid_value", "a user set has no resource type")
		case len(cur.Conditions) == 0:
			bad = gatehouse.FieldError("conditions", "required_field_missing", "a new condition_set row needs conditions")
		}
		if bad == nil && isNew && resource != "" {
			res, err := resourceOf(ctx, a.tx, a.envID, resource)
			if err != nil {
				bad = err
			} else {
				cur.ResourceID, cur.Resource = res.ID, res.Key
			}
		}
		if bad != nil {
			if err := a.failOr(r, bad); err != nil {
				return err
			}
			continue
		}
		cur.Type = typ
		if !isNew && mustJSON(cur) == before {
			a.res.Unchanged++
			continue
		}
		if isNew {
			err = a.tx.CreateConditionSet(ctx, cur)
		} else {
			cur.UpdatedAt = a.now
			err = a.tx.UpdateConditionSet(ctx, cur)
		}
		if err != nil {
			return err
		}
		if err := a.put(ctx, isNew, change(OpPutConditionSet, cur.Authz()), event.ConditionSetCreated, event.ConditionSetUpdated, cur); err != nil {
			return err
		}
	}
	return nil
}

func (a *applier) applySetRules(ctx context.Context, rows []*Row) error {
	seen := map[authz.SetRule]bool{}
	for _, r := range rows {
		in := SetRuleInput{UserSet: r.UserSet, Action: r.Action, ResourceSet: r.ResourceSet}
		us, rs, err := resolveSets(ctx, a.tx, a.envID, in)
		if err != nil {
			if err := a.failOr(r, err); err != nil {
				return err
			}
			continue
		}
		res, err := a.tx.GetResource(ctx, a.envID, rs.ResourceID)
		if err != nil {
			return err
		}
		if !slices.Contains(res.Actions, r.Action) {
			a.fail(r, gatehouse.FieldError("action", "unknown_action", "resource type %q (of resource set %q) has no action %q", res.Key, rs.Key, r.Action))
			continue
		}
		k := authz.SetRule{UserSet: us.Key, Action: r.Action, ResourceSet: rs.Key}
		if seen[k] {
			a.res.Unchanged++
			continue
		}
		seen[k] = true
		page, err := a.tx.ListSetRules(ctx, SetRuleFilter{EnvID: a.envID, UserSet: us.Key, Action: r.Action, ResourceSet: rs.Key}, gatehouse.PageRequest{Page: 1, PerPage: 1})
		if err != nil {
			return err
		}
		if len(page.Items) > 0 {
			a.res.Unchanged++
			continue
		}
		if len(a.errs) > 0 {
			continue // rolled back anyway
		}
		sr := &SetRule{ID: newID(), EnvID: a.envID, UserSetID: us.ID, UserSet: us.Key, Action: r.Action, ResourceSetID: rs.ID, ResourceSet: rs.Key, CreatedAt: a.now}
		if err := a.tx.CreateSetRule(ctx, sr); err != nil {
			return err
		}
		if err := a.put(ctx, true, change(OpPutSetRule, sr.Authz()), event.SetRuleCreated, "", sr); err != nil {
			return err
		}
	}
	return nil
}

// applyInstanceAssignments gives users roles on instances; one that exists
// is left alone.
func (a *applier) applyInstanceAssignments(ctx context.Context, rows []*Row) error {
	if len(rows) == 0 {
		return nil
	}
	if a.userByKey == nil {
		a.userByKey = map[string]*User{}
	}
	want := map[string]bool{}
	refs := make([]string, 0, len(rows))
	for _, r := range rows {
		if a.userByKey[r.User] == nil {
			want[r.User] = true
		}
		refs = append(refs, r.ResourceInstance)
	}
	if len(want) > 0 {
		found, err := a.tx.UsersByKey(ctx, a.envID, setKeys(want))
		if err != nil {
			return err
		}
		for k, u := range found {
			a.userByKey[k] = u
		}
	}
	if err := a.loadInstances(ctx, refs); err != nil {
		return err
	}
	if err := a.loadModel(ctx); err != nil {
		return err
	}
	type key struct{ u, r, i string }
	seen := map[key]bool{}
	var as []Assignment
	for _, r := range rows {
		u := a.userByKey[r.User]
		if u == nil {
			a.fail(r, gatehouse.FieldError("user", "not_found", "user %q does not exist", r.User))
			continue
		}
		inst, err := a.instance(r.ResourceInstance, "resource_instance")
		if err != nil {
			a.fail(r, err)
			continue
		}
		role := a.fine.roles[inst.ResourceID+"#"+r.Role]
		if role == nil {
			a.fail(r, gatehouse.FieldError("role", "not_found", "resource type %q has no role %q", inst.Resource, r.Role))
			continue
		}
		if r.Tenant != "" && r.Tenant != inst.Tenant {
			a.fail(r, gatehouse.FieldError("tenant", "invalid_value", "resource instance %q is in tenant %q, not %q", inst.Ref(), inst.Tenant, r.Tenant))
			continue
		}
		k := key{u.ID, role.ID, inst.ID}
		if seen[k] {
			a.res.Unchanged++
			continue
		}
		seen[k] = true
		as = append(as, Assignment{ID: newID(), EnvID: a.envID, UserID: u.ID, RoleID: role.ID, TenantID: inst.TenantID, User: u.Key, Role: role.Key,
			Tenant: inst.Tenant, ResourceInstance: inst.Ref(), InstanceID: inst.ID, CreatedAt: a.now})
	}
	if len(a.errs) > 0 {
		return nil // the batch is rolled back: do not write
	}
	inserted, err := a.tx.InsertInstanceAssignments(ctx, as)
	if err != nil {
		return err
	}
	for i := range as {
		x := &as[i]
		if !inserted[x.ID] {
			a.res.Unchanged++
			continue
		}
		op := authz.Assignment{User: x.User, Role: x.Role, Tenant: x.Tenant, ResourceInstance: x.ResourceInstance}
		if err := a.put(ctx, true, change(OpAssign, op), event.RoleAssignmentCreated, "", x); err != nil {
			return err
		}
	}
	return nil
}

// RowOfResourceRole is the export row of a resource role.
func RowOfResourceRole(r *ResourceRole) Row {
	perms, ext, gt := append([]string{}, r.Permissions...), append([]string{}, r.Extends...), orNoDerivations(r.GrantedTo)
	attrs, _ := json.Marshal(orEmpty(r.Attributes))
	return Row{Type: KindResourceRole, Resource: r.Resource, Key: r.Key, Name: &r.Name, Description: &r.Description,
		Permissions: &perms, Extends: &ext, GrantedTo: &gt, Attributes: attrs}
}

// RowOfRelation is the export row of a relation.
func RowOfRelation(r *Relation) Row {
	return Row{Type: KindRelation, Resource: r.Resource, Key: r.Key, Name: &r.Name, Description: &r.Description, Subject: r.Subject}
}

// RowOfInstance is the export row of a resource instance.
func RowOfInstance(i *Instance) Row {
	attrs, _ := json.Marshal(orEmpty(i.Attributes))
	return Row{Type: KindInstance, Resource: i.Resource, Key: i.Key, Tenant: i.Tenant, Attributes: attrs}
}

// RowOfTuple is the export row of a relationship tuple.
func RowOfTuple(t *Tuple) Row {
	return Row{Type: KindTuple, Subject: t.Subject, Relation: t.Relation, Object: t.Object}
}

// RowOfConditionSet is the export row of a condition set.
func RowOfConditionSet(c *ConditionSet) Row {
	return Row{Type: KindConditionSet, Key: c.Key, Name: &c.Name, Description: &c.Description, SetType: c.Type, Resource: c.Resource,
		Conditions: append(json.RawMessage{}, c.Conditions...)}
}

// RowOfSetRule is the export row of a set rule.
func RowOfSetRule(r *SetRule) Row {
	return Row{Type: KindSetRule, UserSet: r.UserSet, Action: r.Action, ResourceSet: r.ResourceSet}
}
