package authztest

import (
	"fmt"
	"strings"

	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// ValidPath checks that path, as Engine.Explain returns it for an allowed
// r, is a real proof in the model's data: every tenant_role, instance_role
// and tuple step states a fact the data holds; every derived step follows,
// by one rule (extends, a subject-set tuple, a derivation along a tuple or
// from a tenant role), from facts other steps establish; set_rule steps name
// a set rule that matches r; and some step concludes r itself (a role of
// r.User granting r.Action on the checked instance or in the check's
// tenant, or a matching set rule). Steps may come in any order.
func (m *Model) ValidPath(r authz.Request, path []authz.Step) error {
	if len(path) == 0 {
		return fmt.Errorf("empty path")
	}
	if !m.actions[r.Resource][r.Action] {
		return fmt.Errorf("%s has no action %q", r.Resource, r.Action)
	}
	tenant, in, ok := m.checkTenant(r)
	if !ok {
		return fmt.Errorf("instance %s:%s is not in tenant %q", r.Resource, r.Key, r.Tenant)
	}
	proved := map[hold]bool{}
	tuples := map[authz.Tuple]bool{}
	done := make([]bool, len(path))
	userOf := func(s string) (string, error) {
		u, ok := strings.CutPrefix(s, "user:")
		if !ok {
			return "", fmt.Errorf("subject %q is not user:<key>", s)
		}
		if u != r.User {
			return "", fmt.Errorf("subject %q is not the checked user %q", s, r.User)
		}
		return u, nil
	}
	// extendsTo: holding role from (of type typ) means holding role to.
	extendsTo := func(typ, from, to string) bool {
		seen := map[string]bool{}
		var walk func(string) bool
		walk = func(k string) bool {
			if k == to {
				return true
			}
			if seen[k] {
				return false
			}
			seen[k] = true
			rr, ok := m.resRoles[typ][k]
			if !ok {
				return false
			}
			for _, x := range rr.Extends {
				if walk(x) {
					return true
				}
			}
			return false
		}
		_, ok := m.resRoles[typ][from]
		return ok && walk(from)
	}
	// heldOn: some proved hold of user on obj includes role (by extends).
	heldOn := func(user, role, obj string) bool {
		typ, _, _ := strings.Cut(obj, ":")
		for h := range proved {
			if h.user == user && h.obj == obj && extendsTo(typ, h.role, role) {
				return true
			}
		}
		return false
	}
	concluded := false
	for progress := true; progress; {
		progress = false
		for i, s := range path {
			if done[i] {
				continue
			}
			ok, err := false, error(nil)
			switch s.Kind {
			case authz.StepTuple:
				t := authz.Tuple{Subject: s.Subject, Relation: s.Relation, Object: s.Object}
				if !m.tupleSet[t] {
					return fmt.Errorf("step %d: no tuple %s %s %s", i, s.Subject, s.Relation, s.Object)
				}
				tuples[t], ok = true, true
			case authz.StepTenantRole:
				var u string
				if u, err = userOf(s.Subject); err != nil {
					return fmt.Errorf("step %d: %w", i, err)
				}
				t, isTenant := strings.CutPrefix(s.Object, "tenant:")
				if !isTenant || !m.tenantRolesOf(u, t)[s.Relation] {
					return fmt.Errorf("step %d: user %q does not hold tenant role %q in %q", i, u, s.Relation, s.Object)
				}
				proved[hold{u, s.Relation, s.Object}], ok = true, true
			case authz.StepInstanceRole:
				var u string
				if u, err = userOf(s.Subject); err != nil {
					return fmt.Errorf("step %d: %w", i, err)
				}
				typ, _, _ := strings.Cut(s.Object, ":")
				for _, a := range m.instAsg[u] {
					if a.ResourceInstance == s.Object && extendsTo(typ, a.Role, s.Relation) {
						ok = true
					}
				}
				if _, exists := m.instances[s.Object]; !ok || !exists {
					return fmt.Errorf("step %d: user %q is not assigned role %q on %q", i, u, s.Relation, s.Object)
				}
				proved[hold{u, s.Relation, s.Object}] = true
			case authz.StepDerived:
				var u string
				if u, err = userOf(s.Subject); err != nil {
					return fmt.Errorf("step %d: %w", i, err)
				}
				if ok = m.derivable(u, s.Relation, s.Object, heldOn, tuples, proved); ok {
					proved[hold{u, s.Relation, s.Object}] = true
				}
			case authz.StepSetRule:
				if err = m.setRuleStep(r, tenant, in, s.Rule); err != nil {
					return fmt.Errorf("step %d: %w", i, err)
				}
				ok, concluded = true, true
			default:
				return fmt.Errorf("step %d: unknown kind %q", i, s.Kind)
			}
			if ok {
				done[i], progress = true, true
			}
		}
	}
	for i, d := range done {
		if !d {
			s := path[i]
			return fmt.Errorf("step %d (%s %s %s %s, rule %q) follows from no other step", i, s.Kind, s.Subject, s.Relation, s.Object, s.Rule)
		}
	}
	if concluded {
		return nil
	}
	// A tenant role granting the permission in the check's tenant.
	for h := range proved {
		if h.user != r.User {
			continue
		}
		if h.obj == "tenant:"+tenant {
			for k := range m.tenantRolesOf(r.User, tenant) {
				if !tenantExtends(m, h.role, k) {
					continue
				}
				for _, p := range m.tenantRoles[k].Permissions {
					if p == r.Resource+":"+r.Action {
						return nil
					}
				}
			}
		}
		if in != nil && h.obj == r.Resource+":"+r.Key {
			for k, rr := range m.resRoles[r.Resource] {
				if !heldOn(r.User, k, h.obj) {
					continue
				}
				for _, p := range rr.Permissions {
					if p == r.Action {
						return nil
					}
				}
			}
		}
	}
	return fmt.Errorf("no step concludes that %q may %s %s:%s in %q", r.User, r.Action, r.Resource, r.Key, tenant)
}

// hold is a proved fact: user holds role on obj ("type:key", or
// "tenant:T" for a tenant role).
type hold struct{ user, role, obj string }

// derivable says whether user holding role on obj follows by one rule from
// the proved holds and tuples: extends of a role held on obj, a subject-set
// tuple naming a role held on its subject, a derivation along a proved tuple
// from a role held on its subject, or a tenant derivation from a tenant
// role proved in obj's tenant.
func (m *Model) derivable(user, role, obj string, heldOn func(user, role, obj string) bool, tuples map[authz.Tuple]bool, proved map[hold]bool) bool {
	in, ok := m.instances[obj]
	if !ok {
		return false
	}
	rr, ok := m.resRoles[in.Resource][role]
	if !ok {
		return false
	}
	for h := range proved { // extends
		if h.user == user && h.obj == obj && h.role != role && heldOn(user, role, obj) {
			return true
		}
	}
	for t := range tuples {
		if t.Object != obj {
			continue
		}
		subj, subjRole, isSet := strings.Cut(t.Subject, "#")
		if isSet {
			if t.Relation == role && heldOn(user, subjRole, subj) {
				return true
			}
			continue
		}
		styp, _, _ := strings.Cut(subj, ":")
		for _, d := range rr.GrantedTo {
			if d.OnResource == styp && d.LinkedByRelation == t.Relation && heldOn(user, d.Role, subj) {
				return true
			}
		}
	}
	for _, d := range rr.GrantedTo {
		if d.OnResource != authz.TenantResource {
			continue
		}
		for h := range proved {
			if h.user == user && h.obj == "tenant:"+in.Tenant && tenantExtends(m, h.role, d.Role) {
				return true
			}
		}
	}
	return false
}

// setRuleStep checks a set_rule step: rule "userset × action × resourceset"
// names a set rule of the data that grants r; another wording is accepted
// when some set rule grants r.
func (m *Model) setRuleStep(r authz.Request, tenant string, in *authz.Instance, rule string) error {
	parts := strings.Split(rule, " × ")
	if len(parts) == 3 {
		for _, sr := range m.setRules {
			if sr.UserSet == parts[0] && sr.Action == parts[1] && sr.ResourceSet == parts[2] {
				if sr.Action == r.Action && m.GrantedBy(r, authz.ViaSetRule, sr.UserSet, sr.ResourceSet) {
					return nil
				}
				return fmt.Errorf("set rule %q does not grant the check", rule)
			}
		}
		return fmt.Errorf("no set rule %q", rule)
	}
	if us, _ := m.setRuleGrants(r, tenant, in); us == "" {
		return fmt.Errorf("no set rule grants the check (rule %q)", rule)
	}
	return nil
}

func tenantExtends(m *Model, from, to string) bool {
	seen := map[string]bool{}
	var walk func(string) bool
	walk = func(k string) bool {
		if k == to {
			return true
		}
		if seen[k] {
			return false
		}
		seen[k] = true
		for _, x := range m.tenantRoles[k].Extends {
			if walk(x) {
				return true
			}
		}
		return false
	}
	return walk(from)
}
