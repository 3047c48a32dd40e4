package facts

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/authz"
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
		return firstErr(validKey("key", r.Key), str("name", r.Name, 200), str("description", r.Description, 2000))
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
		return nil // no event of that kind
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
				Permissions: []string{}, Extends: []string{}, GrantedTo: []authz.Derivation{}, CreatedAt: a.now, UpdatedAt: a.now}
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

func (a *applier) applyInstances(ctx context.Context, rows []*Row) error {
	keys, groups := byRowKey(rows, func(r *Row) string { return r.Resource + ":" + r.Key })
	for _, k := range keys {
		rs := groups[k]
		r := rs[len(rs)-1]
		cur, err := a.tx.GetInstance(ctx, a.envID, k)
		isNew := gatehouse.ErrorCode(err) == gatehouse.CodeNotFound
		if err != nil && !isNew {
			return err
		}
		before := ""
		if isNew {
			res, err := resourceOf(ctx, a.tx, a.envID, r.Resource)
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
		if !isNew && mustJSON(cur) == before {
			a.res.Unchanged++
			continue
		}
		if isNew {
			err = a.tx.CreateInstance(ctx, cur)
		} else {
			cur.UpdatedAt = a.now
			err = a.tx.UpdateInstance(ctx, cur)
		}
		if err != nil {
			return err
		}
		if err := a.put(ctx, isNew, change(OpPutInstance, cur.Authz()), event.ResourceInstanceCreated, event.ResourceInstanceUpdated, cur); err != nil {
			return err
		}
	}
	return nil
}

// applyTuples resolves every tuple in the database, then validates the new
// ones together against the engine (no cycle, no chain longer than
// authz.MaxDepth), as CreateTuples does. When this batch has already
// changed the model or the instances, the engine does not hold them yet:
// the tuples are then validated against a copy of the engine with the
// batch's changes applied.
func (a *applier) applyTuples(ctx context.Context, rows []*Row) error {
	var ts []*Tuple
	var trs []*Row
	seen := map[authz.Tuple]bool{}
	for _, r := range rows {
		in := TupleInput{Subject: r.Subject, Relation: r.Relation, Object: r.Object}
		t, err := resolveTuple(ctx, a.tx, a.envID, in)
		if err != nil {
			if err := a.failOr(r, err); err != nil {
				return err
			}
			continue
		}
		if seen[t.Authz()] {
			a.res.Unchanged++
			continue
		}
		seen[t.Authz()] = true
		if _, err := findTuple(ctx, a.tx, a.envID, TupleInput{Subject: t.Subject, Relation: t.Relation, Object: t.Object}); err == nil {
			a.res.Unchanged++
			continue
		} else if gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
			return err
		}
		ts, trs = append(ts, t), append(trs, r)
	}
	if len(a.errs) > 0 || len(ts) == 0 {
		return nil // the batch is rolled back: do not write
	}
	e, err := a.engine(ctx)
	if err != nil {
		return err
	}
	ats := make([]authz.Tuple, len(ts))
	for i, t := range ts {
		ats[i] = t.Authz()
	}
	if i, err := e.ValidateTuples(ats); err != nil {
		if err := a.failOr(trs[i], tupleError(ats[i], err)); err != nil {
			return err
		}
		return nil
	}
	for i, t := range ts {
		t.ID, t.CreatedAt = newID(), a.now
		if err := a.tx.CreateTuple(ctx, t); err != nil {
			return err
		}
		a.res.Created++
		a.parts = append(a.parts, change(OpPutTuple, ats[i]))
		if err := a.event(ctx, event.RelationshipTupleCreated, t); err != nil {
			return err
		}
	}
	return nil
}

// engine is the environment's engine, caught up, for validating tuples:
// a copy with this batch's changes so far when there are some.
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
	type key struct{ u, r, i string }
	seen := map[key]bool{}
	for _, r := range rows {
		u := a.userByKey[r.User]
		if u == nil {
			var err error
			if u, err = a.tx.GetUser(ctx, a.envID, r.User); err != nil {
				if err := a.failOr(r, asField(err, "user")); err != nil {
					return err
				}
				continue
			}
		}
		inst, err := a.tx.GetInstance(ctx, a.envID, r.ResourceInstance)
		if err != nil {
			if err := a.failOr(r, asField(err, "resource_instance")); err != nil {
				return err
			}
			continue
		}
		role, err := a.tx.GetResourceRole(ctx, a.envID, inst.ResourceID, r.Role)
		if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
			a.fail(r, gatehouse.FieldError("role", "not_found", "resource type %q has no role %q", inst.Resource, r.Role))
			continue
		}
		if err != nil {
			return err
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
		page, err := a.tx.ListAssignments(ctx, AssignmentFilter{EnvID: a.envID, User: u.Key, Role: role.Key, ResourceInstance: inst.Ref(), Kind: AssignmentsOnInstances},
			gatehouse.PageRequest{Page: 1, PerPage: 1})
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
		as := &Assignment{ID: newID(), EnvID: a.envID, UserID: u.ID, RoleID: role.ID, TenantID: inst.TenantID, User: u.Key, Role: role.Key,
			Tenant: inst.Tenant, ResourceInstance: inst.Ref(), InstanceID: inst.ID, CreatedAt: a.now}
		if err := a.tx.CreateInstanceAssignment(ctx, as); err != nil {
			return err
		}
		op := authz.Assignment{User: u.Key, Role: role.Key, Tenant: inst.Tenant, ResourceInstance: inst.Ref()}
		if err := a.put(ctx, true, change(OpAssign, op), event.RoleAssignmentCreated, "", as); err != nil {
			return err
		}
	}
	return nil
}

// RowOfResourceRole is the export row of a resource role.
func RowOfResourceRole(r *ResourceRole) Row {
	perms, ext, gt := append([]string{}, r.Permissions...), append([]string{}, r.Extends...), orNoDerivations(r.GrantedTo)
	return Row{Type: KindResourceRole, Resource: r.Resource, Key: r.Key, Name: &r.Name, Description: &r.Description,
		Permissions: &perms, Extends: &ext, GrantedTo: &gt}
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
