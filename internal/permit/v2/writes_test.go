package permitv2_test

import (
	"testing"
)

const v1env = "project=default&environment=development"

// instanceSchema makes a doc type with a role "editor" on its instances,
// a tenant role with the same key (what an assignment that loses its
// instance would turn into), users ada and bob and the instances doc:d1
// and doc:d2.
func instanceSchema(t *testing.T, s *server) {
	t.Helper()
	k := s.key
	s.pmust(200, "POST", schema+"/resources", k, map[string]any{"key": "doc", "name": "Doc", "actions": map[string]any{"read": map[string]any{}},
		"roles": map[string]any{"editor": map[string]any{"name": "Editor", "permissions": []string{"read"}}}})
	s.pmust(200, "POST", schema+"/roles", k, map[string]any{"key": "editor", "name": "Tenant editor", "permissions": []string{"doc:read"}})
	for _, u := range []string{"ada", "bob"} {
		s.pmust(200, "POST", facts+"/users", k, map[string]any{"key": u})
	}
	for _, d := range []string{"d1", "d2"} {
		s.pmust(200, "POST", facts+"/resource_instances", k, map[string]any{"key": d, "resource": "doc", "tenant": "default"})
	}
}

// assignmentsOf lists a user's assignments through /v2 and v1 and checks
// both see the same: "resource:key" for a role on an instance, "" for a
// tenant role.
func assignmentsOf(t *testing.T, s *server, user string) []string {
	t.Helper()
	var v2 []string
	for _, a := range s.pmust(200, "GET", facts+"/role_assignments?user="+user, s.key, nil).arr() {
		inst, _ := a.(map[string]any)["resource_instance"].(string)
		v2 = append(v2, a.(map[string]any)["role"].(string)+"@"+inst)
	}
	var v1 []string
	for _, a := range s.must(200, req{method: "GET", path: "/v1/role-assignments?" + v1env + "&user=" + user, key: s.key}).list() {
		inst, _ := a.(map[string]any)["resource_instance"].(string)
		v1 = append(v1, a.(map[string]any)["role"].(string)+"@"+inst)
	}
	if len(v1) != len(v2) || (len(v1) > 0 && v1[0] != v2[0]) {
		t.Fatalf("%s: /v2 sees %v, v1 %v", user, v2, v1)
	}
	return v2
}

// A role on a resource instance given by Permit's bulk assignment or with
// a user's creation is that role on that instance (not the tenant role of
// the same key), made once however often it is sent.
func TestPermitInstanceRolesAssignedIfMissing(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	k := s.key
	instanceSchema(t, s)
	_, envKey := s.newKey("environment", []string{"check:access"}, map[string]any{"project": "default", "environment": "development"})
	reads := func(user, doc string) bool {
		return s.pmust(200, "POST", "/allowed", envKey, map[string]any{"user": user, "action": "read", "resource": "doc:" + doc}).obj()["allow"].(bool)
	}

	one := []map[string]any{{"user": "ada", "role": "editor", "resource_instance": "doc:d1", "tenant": "default"}}
	if got := s.pmust(200, "POST", facts+"/role_assignments/bulk", k, one).obj(); got["assignments_created"] != float64(1) {
		t.Fatalf("bulk: %v", got)
	}
	if got := assignmentsOf(t, s, "ada"); len(got) != 1 || got[0] != "editor@doc:d1" {
		t.Fatalf("ada's assignments after bulk: %v", got)
	}
	if got := s.pmust(200, "POST", facts+"/role_assignments/bulk", k, one).obj(); got["assignments_created"] != float64(0) {
		t.Fatalf("bulk again: %v", got)
	}
	if !reads("ada", "d1") || reads("ada", "d2") {
		t.Fatal("ada reads d1 only")
	}
	// A role its type lacks fails the whole call, on the role.
	permitError(t, s.pcall("POST", facts+"/role_assignments/bulk", k, []map[string]any{
		{"user": "bob", "role": "editor", "resource_instance": "doc:d2"}, {"user": "bob", "role": "owner", "resource_instance": "doc:d1"}}), 404, "NOT_FOUND")
	if got := assignmentsOf(t, s, "bob"); len(got) != 0 {
		t.Fatalf("bob after a failed bulk: %v", got)
	}

	// Created and replaced with a role on an instance: once.
	cy := map[string]any{"role_assignments": []map[string]any{{"role": "editor", "resource_instance": "doc:d2", "tenant": "default"}}}
	s.pmust(201, "PUT", facts+"/users/cy", k, cy)
	s.pmust(200, "PUT", facts+"/users/cy", k, cy)
	if got := assignmentsOf(t, s, "cy"); len(got) != 1 || got[0] != "editor@doc:d2" {
		t.Fatalf("cy's assignments: %v", got)
	}
	if !reads("cy", "d2") || reads("cy", "d1") {
		t.Fatal("cy reads d2 only")
	}
}
