package authztest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// ApplyChange applies c to d the naive way, with the cascades issue 15
// specifies, independently of the engine: a test applies every change the
// engine accepts to a copy of the data too, and compares the engine with
// the Model of that copy. It does not validate (a change the engine refuses
// is not given to it); it fails only on a change it cannot read.
//
// Cascades: deleting an instance removes its tuples (either side) and the
// assignments on it; a resource role, its instance assignments, the
// subject-set tuples naming it, the derivations naming it and its place in
// other roles' extends; a relation, its tuples and the derivations using it;
// a resource type, its instances, roles and relations (and relations whose
// subject it is); a user, its assignments; a tenant, its assignments and
// instances; a condition set, the set rules using it; a tenant role, its
// assignments, its place in extends and the derivations from it.
func ApplyChange(d *authz.Data, c authz.Change) error {
	var err error
	un := func(v any) bool {
		err = json.Unmarshal(c.Data, v)
		return err == nil
	}
	switch c.Op {
	case authz.OpPutUser:
		var u authz.User
		if un(&u) {
			d.Users = putBy(d.Users, u, func(x authz.User) bool { return x.Key == u.Key })
		}
	case authz.OpDeleteUser:
		var k authz.KeyRef
		if un(&k) {
			d.Users = slices.DeleteFunc(d.Users, func(x authz.User) bool { return x.Key == k.Key })
			d.Assignments = slices.DeleteFunc(d.Assignments, func(a authz.Assignment) bool { return a.User == k.Key })
		}
	case authz.OpPutTenant:
		var t authz.Tenant
		if un(&t) {
			d.Tenants = putBy(d.Tenants, t, func(x authz.Tenant) bool { return x.Key == t.Key })
		}
	case authz.OpDeleteTenant:
		var k authz.KeyRef
		if un(&k) {
			d.Tenants = slices.DeleteFunc(d.Tenants, func(x authz.Tenant) bool { return x.Key == k.Key })
			d.Assignments = slices.DeleteFunc(d.Assignments, func(a authz.Assignment) bool {
				return a.ResourceInstance == "" && tenantOr(a.Tenant) == k.Key
			})
			for _, in := range slices.Clone(d.Instances) {
				if tenantOr(in.Tenant) == k.Key {
					deleteInstance(d, in.Resource, in.Key)
				}
			}
		}
	case authz.OpPutResource:
		var r authz.Resource
		if un(&r) {
			d.Resources = putBy(d.Resources, r, func(x authz.Resource) bool { return x.Key == r.Key })
		}
	case authz.OpDeleteResource:
		var k authz.KeyRef
		if un(&k) {
			d.Resources = slices.DeleteFunc(d.Resources, func(x authz.Resource) bool { return x.Key == k.Key })
			for _, in := range slices.Clone(d.Instances) {
				if in.Resource == k.Key {
					deleteInstance(d, in.Resource, in.Key)
				}
			}
			for _, rr := range slices.Clone(d.ResourceRoles) {
				if rr.Resource == k.Key {
					deleteResourceRole(d, rr.Resource, rr.Key)
				}
			}
			for _, rel := range slices.Clone(d.Relations) {
				if rel.Resource == k.Key || rel.Subject == k.Key {
					deleteRelation(d, rel.Resource, rel.Key)
				}
			}
		}
	case authz.OpPutRole:
		var r authz.Role
		if un(&r) {
			d.Roles = putBy(d.Roles, r, func(x authz.Role) bool { return x.Key == r.Key })
		}
	case authz.OpDeleteRole:
		var k authz.KeyRef
		if un(&k) {
			d.Roles = slices.DeleteFunc(d.Roles, func(x authz.Role) bool { return x.Key == k.Key })
			for i := range d.Roles {
				d.Roles[i].Extends = slices.DeleteFunc(slices.Clone(d.Roles[i].Extends), func(x string) bool { return x == k.Key })
			}
			d.Assignments = slices.DeleteFunc(d.Assignments, func(a authz.Assignment) bool { return a.ResourceInstance == "" && a.Role == k.Key })
			dropDerivations(d, func(rr authz.ResourceRole, g authz.Derivation) bool {
				return g.OnResource == authz.TenantResource && g.Role == k.Key
			})
		}
	case authz.OpAssign:
		var a authz.Assignment
		if un(&a) {
			a = normalAssignment(d, a)
			if !slices.Contains(d.Assignments, a) {
				d.Assignments = append(d.Assignments, a)
			}
		}
	case authz.OpUnassign:
		var a authz.Assignment
		if un(&a) {
			a = normalAssignment(d, a)
			d.Assignments = slices.DeleteFunc(d.Assignments, func(x authz.Assignment) bool {
				if a.ResourceInstance != "" {
					return x.User == a.User && x.Role == a.Role && x.ResourceInstance == a.ResourceInstance
				}
				return x == a
			})
		}
	case authz.OpPutResourceRole:
		var r authz.ResourceRole
		if un(&r) {
			d.ResourceRoles = putBy(d.ResourceRoles, r, func(x authz.ResourceRole) bool { return x.Resource == r.Resource && x.Key == r.Key })
		}
	case authz.OpDeleteResourceRole:
		var k resKey
		if un(&k) {
			deleteResourceRole(d, k.Resource, k.Key)
		}
	case authz.OpPutRelation:
		var r authz.Relation
		if un(&r) {
			d.Relations = putBy(d.Relations, r, func(x authz.Relation) bool { return x.Resource == r.Resource && x.Key == r.Key })
		}
	case authz.OpDeleteRelation:
		var k resKey
		if un(&k) {
			deleteRelation(d, k.Resource, k.Key)
		}
	case authz.OpPutInstance:
		var in authz.Instance
		if un(&in) {
			d.Instances = putBy(d.Instances, in, func(x authz.Instance) bool { return x.Resource == in.Resource && x.Key == in.Key })
			for i, a := range d.Assignments { // an instance's assignments are in its tenant
				if a.ResourceInstance == in.Resource+":"+in.Key {
					d.Assignments[i].Tenant = tenantOr(in.Tenant)
				}
			}
		}
	case authz.OpDeleteInstance:
		var k resKey
		if un(&k) {
			deleteInstance(d, k.Resource, k.Key)
		}
	case authz.OpPutTuple:
		var t authz.Tuple
		if un(&t) && !slices.Contains(d.Tuples, t) {
			d.Tuples = append(d.Tuples, t)
		}
	case authz.OpDeleteTuple:
		var t authz.Tuple
		if un(&t) {
			d.Tuples = slices.DeleteFunc(d.Tuples, func(x authz.Tuple) bool { return x == t })
		}
	case authz.OpPutConditionSet:
		var cs authz.ConditionSet
		if un(&cs) {
			d.ConditionSets = putBy(d.ConditionSets, cs, func(x authz.ConditionSet) bool { return x.Key == cs.Key })
		}
	case authz.OpDeleteConditionSet:
		var k authz.KeyRef
		if un(&k) {
			d.ConditionSets = slices.DeleteFunc(d.ConditionSets, func(x authz.ConditionSet) bool { return x.Key == k.Key })
			d.SetRules = slices.DeleteFunc(d.SetRules, func(x authz.SetRule) bool { return x.UserSet == k.Key || x.ResourceSet == k.Key })
		}
	case authz.OpPutSetRule:
		var sr authz.SetRule
		if un(&sr) && !slices.Contains(d.SetRules, sr) {
			d.SetRules = append(d.SetRules, sr)
		}
	case authz.OpDeleteSetRule:
		var sr authz.SetRule
		if un(&sr) {
			d.SetRules = slices.DeleteFunc(d.SetRules, func(x authz.SetRule) bool { return x == sr })
		}
	default:
		return fmt.Errorf("ApplyChange: op %q not modelled", c.Op)
	}
	if err != nil {
		return fmt.Errorf("ApplyChange %s: %w", c.Op, err)
	}
	return nil
}

// CloneData copies d deeply enough for ApplyChange (slices of values; the
// maps and raw JSON inside are shared and never modified).
func CloneData(d authz.Data) authz.Data {
	d.Users, d.Tenants, d.Resources, d.Roles = slices.Clone(d.Users), slices.Clone(d.Tenants), slices.Clone(d.Resources), slices.Clone(d.Roles)
	d.Assignments, d.ResourceRoles, d.Relations = slices.Clone(d.Assignments), slices.Clone(d.ResourceRoles), slices.Clone(d.Relations)
	d.Instances, d.Tuples, d.ConditionSets, d.SetRules = slices.Clone(d.Instances), slices.Clone(d.Tuples), slices.Clone(d.ConditionSets), slices.Clone(d.SetRules)
	return d
}

func putBy[T any](list []T, v T, same func(T) bool) []T {
	if i := slices.IndexFunc(list, same); i >= 0 {
		list[i] = v
		return list
	}
	return append(list, v)
}

func tenantOr(t string) string {
	if t == "" {
		return authz.DefaultTenant
	}
	return t
}

// normalAssignment puts an instance assignment in its instance's tenant.
func normalAssignment(d *authz.Data, a authz.Assignment) authz.Assignment {
	a.Tenant = tenantOr(a.Tenant)
	if a.ResourceInstance != "" {
		for _, in := range d.Instances {
			if in.Resource+":"+in.Key == a.ResourceInstance {
				a.Tenant = tenantOr(in.Tenant)
			}
		}
	}
	return a
}

func deleteInstance(d *authz.Data, typ, key string) {
	id := typ + ":" + key
	d.Instances = slices.DeleteFunc(d.Instances, func(x authz.Instance) bool { return x.Resource == typ && x.Key == key })
	d.Tuples = slices.DeleteFunc(d.Tuples, func(t authz.Tuple) bool {
		subj, _, _ := strings.Cut(t.Subject, "#")
		return subj == id || t.Object == id
	})
	d.Assignments = slices.DeleteFunc(d.Assignments, func(a authz.Assignment) bool { return a.ResourceInstance == id })
}

func deleteResourceRole(d *authz.Data, typ, key string) {
	d.ResourceRoles = slices.DeleteFunc(d.ResourceRoles, func(x authz.ResourceRole) bool { return x.Resource == typ && x.Key == key })
	for i := range d.ResourceRoles {
		if d.ResourceRoles[i].Resource == typ {
			d.ResourceRoles[i].Extends = slices.DeleteFunc(slices.Clone(d.ResourceRoles[i].Extends), func(x string) bool { return x == key })
		}
	}
	d.Assignments = slices.DeleteFunc(d.Assignments, func(a authz.Assignment) bool {
		t, _, _ := strings.Cut(a.ResourceInstance, ":")
		return a.ResourceInstance != "" && t == typ && a.Role == key
	})
	d.Tuples = slices.DeleteFunc(d.Tuples, func(t authz.Tuple) bool {
		subj, role, isSet := strings.Cut(t.Subject, "#")
		st, _, _ := strings.Cut(subj, ":")
		ot, _, _ := strings.Cut(t.Object, ":")
		return isSet && ((st == typ && role == key) || (ot == typ && t.Relation == key))
	})
	dropDerivations(d, func(rr authz.ResourceRole, g authz.Derivation) bool { return g.OnResource == typ && g.Role == key })
}

func deleteRelation(d *authz.Data, typ, key string) {
	d.Relations = slices.DeleteFunc(d.Relations, func(x authz.Relation) bool { return x.Resource == typ && x.Key == key })
	d.Tuples = slices.DeleteFunc(d.Tuples, func(t authz.Tuple) bool {
		ot, _, _ := strings.Cut(t.Object, ":")
		return !strings.Contains(t.Subject, "#") && ot == typ && t.Relation == key
	})
	dropDerivations(d, func(rr authz.ResourceRole, g authz.Derivation) bool {
		return rr.Resource == typ && g.LinkedByRelation == key
	})
}

func dropDerivations(d *authz.Data, drop func(authz.ResourceRole, authz.Derivation) bool) {
	for i := range d.ResourceRoles {
		rr := d.ResourceRoles[i]
		d.ResourceRoles[i].GrantedTo = slices.DeleteFunc(slices.Clone(rr.GrantedTo), func(g authz.Derivation) bool { return drop(rr, g) })
	}
}
