package permitv2_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testwait"
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

// A resource type's Permit details (urn, action attributes, action
// groups) live in its config: v1 writes that replace the config keep them
// unless they name them.
func TestPermitSchemaDetailsSurviveV1ConfigWrites(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	k := s.key
	s.pmust(200, "POST", schema+"/resources", k, map[string]any{"key": "doc", "name": "Doc", "urn": "prn:x:doc",
		"actions": map[string]any{"read": map[string]any{}, "write": map[string]any{"attributes": map[string]any{"risk": "high"}}}})
	s.pmust(200, "POST", schema+"/resources/doc/action_groups", k, map[string]any{"key": "all", "name": "All", "actions": []string{"read", "write"}})
	details := func(when string) {
		t.Helper()
		d := s.pmust(200, "GET", schema+"/resources/doc", k, nil).obj()
		write, _ := d["actions"].(map[string]any)["write"].(map[string]any)
		if d["urn"] != "prn:x:doc" || fmt.Sprint(write["attributes"]) != "map[risk:high]" || fmt.Sprint(d["action_groups"]) != "map[all:[read write]]" {
			t.Fatalf("%s: /v2 reads %v", when, d)
		}
	}
	v1 := "/v1/resources/doc?" + v1env
	for _, method := range []string{"PATCH", "PUT"} {
		cfg := s.must(200, req{method: method, path: v1, key: k, body: map[string]any{"config": map[string]any{"timeout": 30}}}).data()["config"].(map[string]any)
		if cfg["timeout"] != float64(30) || cfg["permit"] == nil {
			t.Fatalf("v1 %s: config %v", method, cfg)
		}
		details("after v1 " + method)
	}
	// Through a v1 import of the type with a config.
	job := s.must(201, req{method: "POST", path: "/v1/jobs/import?" + v1env, key: k, body: `{"type":"resource","key":"doc","config":{"timeout":60}}` + "\n",
		header: map[string]string{"Content-Type": "application/x-ndjson"}}).data()["id"].(string)
	var j map[string]any
	testwait.Until(t, 30*time.Second, "the import job ending", func() bool {
		j = s.must(200, req{method: "GET", path: "/v1/jobs/" + job, key: k}).data()
		return j["status"] != "queued" && j["status"] != "running"
	})
	if j["status"] != "succeeded" {
		t.Fatalf("import job: %v", j)
	}
	if cfg := s.must(200, req{method: "GET", path: v1, key: k}).data()["config"].(map[string]any); cfg["timeout"] != float64(60) {
		t.Fatalf("config after the import: %v", cfg)
	}
	details("after a v1 import")
	// Not an object: refused; named: replaced, as asked.
	s.must(400, req{method: "PATCH", path: v1, key: k, body: map[string]any{"config": map[string]any{"permit": "x"}}})
	details("after a refused v1 write")
	s.must(200, req{method: "PATCH", path: v1, key: k, body: map[string]any{"config": map[string]any{"permit": map[string]any{"urn": "prn:y:doc"}}}})
	if d := s.pmust(200, "GET", schema+"/resources/doc", k, nil).obj(); d["urn"] != "prn:y:doc" || d["action_groups"] != nil && len(d["action_groups"].(map[string]any)) != 0 {
		t.Fatalf("after v1 set them: %v", d)
	}
}

// ci: race
// A /v2 write of an item with the items its body names (a resource type
// with its relations and roles, a user with its roles) is whole or
// nothing: a later part that fails leaves no earlier part behind.
func TestPermitCompositeWritesAreAtomic(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	k := s.key
	instanceSchema(t, s)

	// A role naming an action the type lacks, after a valid relation and role.
	r := s.pcall("POST", schema+"/resources", k, map[string]any{"key": "folder", "name": "Folder", "actions": map[string]any{"read": map[string]any{}},
		"relations": map[string]any{"parent": "folder"},
		"roles":     map[string]any{"reader": map[string]any{"permissions": []string{"read"}}, "writer": map[string]any{"permissions": []string{"fly"}}}})
	if r.status < 400 || r.status >= 500 {
		t.Fatalf("a resource with a bad role: %d %s", r.status, r.raw)
	}
	s.pmust(404, "GET", schema+"/resources/folder", k, nil)
	// A role deriving from a relation the body does not make.
	r = s.pcall("POST", schema+"/resources", k, map[string]any{"key": "folder", "name": "Folder", "actions": map[string]any{"read": map[string]any{}},
		"roles": map[string]any{"reader": map[string]any{"permissions": []string{"read"},
			"granted_to": map[string]any{"users_with_role": []any{map[string]any{"role": "editor", "on_resource": "doc", "linked_by_relation": "owner"}}}}}})
	if r.status < 400 || r.status >= 500 {
		t.Fatalf("a resource with a bad derivation: %d %s", r.status, r.raw)
	}
	s.pmust(404, "GET", schema+"/resources/folder", k, nil)
	// The same type, valid: made whole.
	f := s.pmust(200, "POST", schema+"/resources", k, map[string]any{"key": "folder", "name": "Folder", "actions": map[string]any{"read": map[string]any{}},
		"relations": map[string]any{"parent": "folder"},
		"roles": map[string]any{"reader": map[string]any{"permissions": []string{"read"},
			"granted_to": map[string]any{"users_with_role": []any{map[string]any{"role": "reader", "on_resource": "folder", "linked_by_relation": "parent"}}}}}}).obj()
	if len(f["roles"].(map[string]any)) != 1 || len(f["relations"].(map[string]any)) != 1 {
		t.Fatalf("folder: %v", f)
	}

	// An action whose attributes cannot be kept (the config over its
	// 64 KiB): no action.
	r = s.pcall("POST", schema+"/resources/folder/actions", k, map[string]any{"key": "big", "name": "Big", "attributes": map[string]any{"blob": strings.Repeat("x", 70<<10)}})
	if r.status < 400 || r.status >= 500 {
		t.Fatalf("an action with too big attributes: %d %s", r.status, r.raw)
	}
	if a := s.pmust(200, "GET", schema+"/resources/folder", k, nil).obj()["actions"].(map[string]any); a["big"] != nil {
		t.Fatalf("the action stayed: %v", a)
	}

	// A user whose role on an instance fails: no user.
	for _, method := range []string{"POST", "PUT"} {
		path := facts + "/users"
		if method == "PUT" {
			path += "/dan"
		}
		r = s.pcall(method, path, k, map[string]any{"key": "dan", "role_assignments": []map[string]any{
			{"role": "editor", "tenant": "default"}, {"role": "owner", "resource_instance": "doc:d1"}}})
		if r.status != 404 {
			t.Fatalf("%s a user with a role its instance's type lacks: %d %s", method, r.status, r.raw)
		}
		s.pmust(404, "GET", facts+"/users/dan", k, nil)
	}
	if got := assignmentsOf(t, s, "dan"); len(got) != 0 {
		t.Fatalf("dan's assignments: %v", got)
	}

	// PATCH and PUT of a type with a valid relation and a bad role: the
	// type as it was, no relation.
	for _, method := range []string{"PATCH", "PUT"} {
		r = s.pcall(method, schema+"/resources/folder", k, map[string]any{"name": "Renamed", "actions": map[string]any{"read": map[string]any{}},
			"relations": map[string]any{"owner": "doc"},
			"roles":     map[string]any{"writer": map[string]any{"permissions": []string{"fly"}}}})
		if r.status < 400 || r.status >= 500 {
			t.Fatalf("%s a resource with a bad role: %d %s", method, r.status, r.raw)
		}
		f = s.pmust(200, "GET", schema+"/resources/folder", k, nil).obj()
		if f["name"] != "Folder" || f["relations"].(map[string]any)["owner"] != nil || f["roles"].(map[string]any)["writer"] != nil {
			t.Fatalf("after a failed %s: %v", method, f)
		}
	}
	// ... and a valid one changes the type, its role and adds the relation.
	f = s.pmust(200, "PATCH", schema+"/resources/folder", k, map[string]any{"name": "Renamed", "relations": map[string]any{"owner": "doc"},
		"roles": map[string]any{"reader": map[string]any{"description": "reads"}, "writer": map[string]any{"permissions": []string{"read"}}}}).obj()
	if f["name"] != "Renamed" || f["relations"].(map[string]any)["owner"] == nil || f["roles"].(map[string]any)["writer"] == nil {
		t.Fatalf("after a PATCH: %v", f)
	}

	// Implicit instances: a tuple batch or a role assignment that fails
	// leaves none of the instances it would have created.
	r = s.pcall("POST", facts+"/relationship_tuples/bulk", k, map[string]any{"operations": []map[string]any{
		{"subject": "folder:new1", "relation": "parent", "object": "folder:new2", "tenant": "default"},
		{"subject": "folder:new3", "relation": "no-such-relation", "object": "folder:new4", "tenant": "default"}}})
	if r.status < 400 || r.status >= 500 {
		t.Fatalf("a tuple batch with a bad relation: %d %s", r.status, r.raw)
	}
	for _, i := range []string{"new1", "new2", "new3", "new4"} {
		s.pmust(404, "GET", facts+"/resource_instances/folder:"+i, k, nil)
	}
	r = s.pcall("POST", facts+"/role_assignments", k, map[string]any{"user": "ada", "role": "owner", "resource_instance": "folder:new5", "tenant": "default"})
	if r.status != 404 {
		t.Fatalf("a role the type lacks on a new instance: %d %s", r.status, r.raw)
	}
	s.pmust(404, "GET", facts+"/resource_instances/folder:new5", k, nil)
	r = s.pcall("POST", facts+"/role_assignments/bulk", k, []map[string]any{
		{"user": "ada", "role": "reader", "resource_instance": "folder:new6", "tenant": "default"},
		{"user": "nobody", "role": "reader", "resource_instance": "folder:new7", "tenant": "default"}})
	if r.status != 404 {
		t.Fatalf("a bulk assignment with an unknown user: %d %s", r.status, r.raw)
	}
	for _, i := range []string{"new6", "new7"} {
		s.pmust(404, "GET", facts+"/resource_instances/folder:"+i, k, nil)
	}
	// Unassigning on an instance that does not exist creates nothing.
	s.pmust(404, "DELETE", facts+"/role_assignments", k, map[string]any{"user": "ada", "role": "reader", "resource_instance": "folder:new8", "tenant": "default"})
	s.pmust(404, "GET", facts+"/resource_instances/folder:new8", k, nil)
	// The valid ones create the instances with what names them, at once.
	s.pmust(200, "POST", facts+"/relationship_tuples/bulk", k, map[string]any{"operations": []map[string]any{
		{"subject": "folder:new1", "relation": "parent", "object": "folder:new2", "tenant": "default"}}})
	s.pmust(200, "POST", facts+"/role_assignments", k, map[string]any{"user": "ada", "role": "reader", "resource_instance": "folder:new1", "tenant": "default"})
	_, envKey := s.newKey("environment", []string{"check:access"}, map[string]any{"project": "default", "environment": "development"})
	if !s.pmust(200, "POST", "/allowed", envKey, map[string]any{"user": "ada", "action": "read", "resource": "folder:new2"}).obj()["allow"].(bool) {
		t.Fatal("ada reads folder:new2 through folder:new1")
	}
}

// ci: race
// Permit's writes that change one part of an item (an action group, an
// action, a permission of a resource role) work it out from the item as
// the write reads it: concurrent ones all land.
func TestPermitPartialWritesDoNotLoseConcurrentOnes(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	k := s.key
	s.pmust(200, "POST", schema+"/resources", k, map[string]any{"key": "doc", "name": "Doc",
		"actions": map[string]any{"a0": map[string]any{}, "a1": map[string]any{}, "a2": map[string]any{}, "a3": map[string]any{}, "a4": map[string]any{}, "a5": map[string]any{}},
		"roles":   map[string]any{"editor": map[string]any{"permissions": []string{}}}})
	const n = 6
	var wg sync.WaitGroup
	errs := make(chan string, 3*n)
	for i := 0; i < n; i++ {
		wg.Add(3)
		go func() {
			defer wg.Done()
			if r := s.pcall("POST", schema+"/resources/doc/action_groups", k, map[string]any{"key": fmt.Sprintf("g%d", i), "actions": []string{fmt.Sprintf("a%d", i)}}); r.status != 200 {
				errs <- fmt.Sprintf("group %d: %d %s", i, r.status, r.raw)
			}
		}()
		go func() {
			defer wg.Done()
			if r := s.pcall("POST", schema+"/resources/doc/actions", k, map[string]any{"key": fmt.Sprintf("b%d", i), "name": "B", "attributes": map[string]any{"n": i}}); r.status != 200 {
				errs <- fmt.Sprintf("action %d: %d %s", i, r.status, r.raw)
			}
		}()
		go func() {
			defer wg.Done()
			if r := s.pcall("POST", schema+"/resources/doc/roles/editor/permissions", k, map[string]any{"permissions": []string{fmt.Sprintf("a%d", i)}}); r.status != 200 {
				errs <- fmt.Sprintf("permission %d: %d %s", i, r.status, r.raw)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	doc := s.pmust(200, "GET", schema+"/resources/doc", k, nil).obj()
	groups, actions := doc["action_groups"].(map[string]any), doc["actions"].(map[string]any)
	perms := s.pmust(200, "GET", schema+"/resources/doc/roles/editor", k, nil).obj()["permissions"].([]any)
	if len(groups) != n || len(actions) != 2*n || len(perms) != n {
		t.Fatalf("after %d concurrent writes of each: %d groups, %d actions, %d permissions\n%v\n%v", n, len(groups), len(actions), len(perms), doc, perms)
	}
	for i := 0; i < n; i++ {
		a, _ := actions[fmt.Sprintf("b%d", i)].(map[string]any)
		if a == nil || a["attributes"].(map[string]any)["n"] != float64(i) {
			t.Fatalf("action b%d: %v", i, a)
		}
	}
}
