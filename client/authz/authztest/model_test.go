package authztest

import (
	"encoding/json"
	"testing"

	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// The model's condition interpreter, on its own: each case is one user set
// condition evaluated for user ada (dept eng, level 3, tags [a b], joined
// 2025-03-01) in tenant acme (tier gold) with context zone corp.
func TestModelConditions(t *testing.T) {
	cases := []struct {
		cond string
		want bool
	}{
		{`{"user.dept": {"equals": "eng"}}`, true},
		{`{"user.dept": {"not-equals": "eng"}}`, false},
		{`{"user.dept": {"not-equals": 5}}`, true}, // scalars of different kinds are not equal
		{`{"user.level": {"equals": 3.0}}`, true},
		{`{"user.level": {"greater-than": 2.5}}`, true},
		{`{"user.level": {"less-than-equals": 3}}`, true},
		{`{"user.level": {"less-than": 3}}`, false},
		{`{"user.level": {"greater-than": "2"}}`, false},
		{`{"user.dept": {"in": ["sales", "eng"]}}`, true},
		{`{"user.dept": {"not-in": ["sales", "eng"]}}`, false},
		{`{"user.tags": {"in": ["a"]}}`, false},
		{`{"user.tags": {"contains": "b"}}`, true},
		{`{"user.tags": {"not-contains": "c"}}`, true},
		{`{"user.dept": {"contains": "n"}}`, true},
		{`{"user.joined": {"before": "2025-03-01T01:00:00+02:00"}}`, false}, // the same instant
		{`{"user.joined": {"after": "2025-02-28T22:59:59Z"}}`, true},
		{`{"user.missing": {"equals": "x"}}`, false},
		{`{"not": {"user.missing": {"equals": "x"}}}`, true},
		{`{"user.missing": {"not-equals": "x"}}`, false},
		{`{"allOf": []}`, true},
		{`{"anyOf": []}`, false},
		{`{"anyOf": [{"user.dept": {"equals": "x"}}, {"tenant.tier": {"equals": "gold"}}]}`, true},
		{`{"user.key": {"equals": "ada"}, "tenant.key": {"equals": "acme"}}`, true},
		{`{"user.key": {"equals": "ada"}, "tenant.key": {"equals": "x"}}`, false},
		{`{"user.level": {"greater-than": 1, "less-than": 3}}`, false},
		{`{"user.dept": {"equals": {"ref": "context.dept"}}}`, true},
		{`{"user.dept": {"equals": {"ref": "context.missing"}}}`, false},
		{`{"user.dept": {"not-equals": {"ref": "context.missing"}}}`, false},
		{`{"context.zone": {"equals": "corp"}}`, true},
		{`{"user.address.city": {"equals": "Paris"}}`, true},
		{`{"user.address.zip": {"equals": "75001"}}`, false},
		{`{"resource.type": {"equals": "doc"}}`, true},
		{`{"resource.key": {"equals": ""}}`, false}, // a check on the type has no key
		{`null`, true},
		{`{}`, true},
	}
	d := authz.Data{
		Users: []authz.User{{Key: "ada", Attributes: map[string]any{"dept": "eng", "level": 3, "tags": []string{"a", "b"},
			"joined": "2025-03-01T00:00:00+01:00", "address": map[string]any{"city": "Paris"}}}},
		Tenants:   []authz.Tenant{{Key: "acme", Attributes: map[string]any{"tier": "gold"}}},
		Resources: []authz.Resource{{Key: "doc", Actions: []string{"read"}}},
		ConditionSets: []authz.ConditionSet{
			{Key: "all", Type: authz.ResourceSet, Resource: "doc", Conditions: json.RawMessage(`{}`)},
		},
		SetRules: []authz.SetRule{{UserSet: "u", Action: "read", ResourceSet: "all"}},
	}
	for _, tc := range cases {
		d.ConditionSets = append(d.ConditionSets[:1], authz.ConditionSet{Key: "u", Type: authz.UserSet, Conditions: json.RawMessage(tc.cond)})
		m := NewModel(d)
		r := authz.Request{User: "ada", Action: "read", Resource: "doc", Tenant: "acme", Context: map[string]any{"zone": "corp", "dept": "eng"}}
		if got := m.Allowed(r); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.cond, got, tc.want)
		}
	}
}

// The model's fixpoint on its own: derivations along a chain, subject
// sets, extends and tenant derivations, and the checks of ValidPath.
func TestModelDerivations(t *testing.T) {
	d := authz.Data{
		Users:     []authz.User{{Key: "ada"}, {Key: "bob"}},
		Tenants:   []authz.Tenant{{Key: authz.DefaultTenant}, {Key: "acme"}},
		Resources: []authz.Resource{{Key: "team", Actions: []string{"read"}}, {Key: "folder", Actions: []string{"read", "write"}}},
		Roles:     []authz.Role{{Key: "admin"}, {Key: "boss", Extends: []string{"admin"}}},
		ResourceRoles: []authz.ResourceRole{
			{Resource: "team", Key: "member", Permissions: []string{"read"}},
			{Resource: "folder", Key: "viewer", Permissions: []string{"read"}, GrantedTo: []authz.Derivation{{Role: "viewer", OnResource: "folder", LinkedByRelation: "parent"}}},
			{Resource: "folder", Key: "editor", Permissions: []string{"write"}, Extends: []string{"viewer"},
				GrantedTo: []authz.Derivation{{Role: "boss", OnResource: authz.TenantResource}}},
		},
		Relations: []authz.Relation{{Resource: "folder", Key: "parent", Subject: "folder"}},
		Instances: []authz.Instance{{Resource: "team", Key: "t", Tenant: "acme"}, {Resource: "folder", Key: "a", Tenant: "acme"},
			{Resource: "folder", Key: "b", Tenant: "acme"}, {Resource: "folder", Key: "c"}},
		Tuples: []authz.Tuple{{Subject: "folder:a", Relation: "parent", Object: "folder:b"}, {Subject: "team:t#member", Relation: "editor", Object: "folder:a"},
			{Subject: "folder:b", Relation: "parent", Object: "folder:c"}}, // across tenants: b in acme, c in default
		Assignments: []authz.Assignment{{User: "ada", Role: "member", Tenant: "acme", ResourceInstance: "team:t"}, {User: "bob", Role: "boss", Tenant: "acme"}},
	}
	m := NewModel(d)
	for _, tc := range []struct {
		user, action, key string
		want              bool
	}{
		{"ada", "write", "a", true}, {"ada", "read", "b", true}, {"ada", "write", "b", false}, {"ada", "read", "c", true},
		{"bob", "write", "b", true}, {"bob", "read", "b", true}, {"bob", "read", "c", true}, {"bob", "write", "c", false},
	} {
		r := authz.Request{User: tc.user, Action: tc.action, Resource: "folder", Key: tc.key}
		if got := m.Allowed(r); got != tc.want {
			t.Errorf("%s %s %s: %v, want %v", tc.user, tc.action, tc.key, got, tc.want)
		}
	}
	r := authz.Request{User: "ada", Action: "read", Resource: "folder", Key: "b"}
	good := []authz.Step{
		{Kind: authz.StepDerived, Subject: "user:ada", Relation: "viewer", Object: "folder:b", Rule: "folder#viewer ⇒ folder#viewer by parent"},
		{Kind: authz.StepTuple, Subject: "folder:a", Relation: "parent", Object: "folder:b"},
		{Kind: authz.StepDerived, Subject: "user:ada", Relation: "editor", Object: "folder:a"},
		{Kind: authz.StepTuple, Subject: "team:t#member", Relation: "editor", Object: "folder:a"},
		{Kind: authz.StepInstanceRole, Subject: "user:ada", Relation: "member", Object: "team:t"},
	}
	if err := m.ValidPath(r, good); err != nil {
		t.Errorf("a good path: %v", err)
	}
	if err := m.ValidPath(r, good[1:]); err == nil {
		t.Error("a path that never reaches folder:b is accepted")
	}
	if err := m.ValidPath(r, append(good[:3:3], good[4])); err == nil {
		t.Error("a path missing the team grant is accepted")
	}
	bad := append([]authz.Step{}, good...)
	bad[4].Object = "team:x"
	if err := m.ValidPath(r, bad); err == nil {
		t.Error("a path with an assignment that does not exist is accepted")
	}
	rb := authz.Request{User: "bob", Action: "read", Resource: "folder", Key: "a"}
	if err := m.ValidPath(rb, []authz.Step{
		{Kind: authz.StepTenantRole, Subject: "user:bob", Relation: "boss", Object: "tenant:acme"},
		{Kind: authz.StepDerived, Subject: "user:bob", Relation: "editor", Object: "folder:a"},
	}); err != nil {
		t.Errorf("a tenant derivation path: %v", err)
	}
	if err := m.ValidPath(rb, []authz.Step{{Kind: authz.StepDerived, Subject: "user:bob", Relation: "editor", Object: "folder:a"}}); err == nil {
		t.Error("a derived step without its premise is accepted")
	}
}
