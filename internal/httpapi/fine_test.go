package httpapi_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// fineKey makes an environment key with every scope of the fine-grained
// endpoints.
func (s *server) fineKey() string {
	return s.envKey("view:user", "manage:user", "view:tenant", "manage:tenant", "view:resource", "manage:resource",
		"view:role", "manage:role", "view:role_assignment", "manage:role_assignment")
}

// driveModel sets up a Google-Drive-like model: teams with members, folders
// nested by parent, documents in folders; editor of a folder ⇒ editor of its
// documents and subfolders.
func driveModel(t *testing.T, s *server, k string) {
	t.Helper()
	do := func(want int, method, path string, body any) {
		t.Helper()
		s.must(want, req{method: method, path: path, key: k, body: body})
	}
	do(201, "POST", "/v1/resources", map[string]any{"key": "team", "actions": []string{"view"}})
	do(201, "POST", "/v1/resources", map[string]any{"key": "folder", "actions": []string{"read", "write"}})
	do(201, "POST", "/v1/resources", map[string]any{"key": "document", "actions": []string{"read", "write", "delete"}})
	do(201, "POST", "/v1/resources/team/roles", map[string]any{"key": "member", "permissions": []string{"view"}})
	do(201, "POST", "/v1/resources/folder/relations", map[string]any{"key": "parent", "subject": "folder"})
	do(201, "POST", "/v1/resources/document/relations", map[string]any{"key": "parent", "subject": "folder"})
	do(201, "POST", "/v1/resources/folder/roles", map[string]any{"key": "viewer", "permissions": []string{"read"}})
	do(201, "POST", "/v1/resources/folder/roles", map[string]any{"key": "editor", "permissions": []string{"folder:write"}, "extends": []string{"viewer"},
		"granted_to": []any{map[string]any{"role": "editor", "on_resource": "folder", "linked_by_relation": "parent"}}})
	do(201, "POST", "/v1/resources/document/roles", map[string]any{"key": "editor", "permissions": []string{"read", "write"},
		"granted_to": []any{map[string]any{"role": "editor", "on_resource": "folder", "linked_by_relation": "parent"}}})
}

func TestResourceRolesAndRelations(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	k := s.fineKey()
	driveModel(t, s, k)
	do := func(want int, method, path string, body any) resp {
		t.Helper()
		return s.must(want, req{method: method, path: path, key: k, body: body})
	}
	ed := do(200, "GET", "/v1/resources/folder/roles/editor", nil).data()
	if ed["resource"] != "folder" || fmt.Sprint(ed["permissions"]) != "[write]" || fmt.Sprint(ed["extends"]) != "[viewer]" || len(ed["granted_to"].([]any)) != 1 {
		t.Fatalf("folder editor: %v", ed)
	}
	do(200, "GET", "/v1/resources/folder/roles/"+ed["id"].(string), nil)
	// The same key on another type is another role.
	if res := do(200, "GET", "/v1/resources/document/roles?search=EDIT", nil); res.meta()["total_items"] != float64(1) || res.list()[0].(map[string]any)["resource"] != "document" {
		t.Fatalf("document roles: %s", res.raw)
	}
	if res := do(200, "GET", "/v1/resources/folder/roles?sort=key&order=desc", nil); res.list()[0].(map[string]any)["key"] != "viewer" {
		t.Fatalf("sorted: %s", res.raw)
	}
	for _, bad := range []map[string]any{
		{"key": "x", "permissions": []string{"fly"}},
		{"key": "x", "extends": []string{"ghost"}},
		{"key": "x", "granted_to": []any{map[string]any{"role": "ghost", "on_resource": "folder", "linked_by_relation": "parent"}}},
		{"key": "x", "granted_to": []any{map[string]any{"role": "editor", "on_resource": "folder", "linked_by_relation": "owner"}}},
		{"key": "x", "granted_to": []any{map[string]any{"role": "editor", "on_resource": "folder"}}},
		{"key": "x", "granted_to": []any{map[string]any{"role": "ghost", "on_resource": "__tenant"}}},
		{"key": "bad key!"},
	} {
		do(400, "POST", "/v1/resources/document/roles", bad)
	}
	do(404, "POST", "/v1/resources/spaceship/roles", map[string]any{"key": "x"})
	res := do(409, "POST", "/v1/resources/document/roles", map[string]any{"key": "editor"})
	if !strings.Contains(res.raw, `"editor"`) {
		t.Fatalf("conflict names the key: %s", res.raw)
	}
	do(409, "POST", "/v1/resources/document/roles", map[string]any{"key": "parent"})                          // a relation's key
	do(409, "POST", "/v1/resources/document/relations", map[string]any{"key": "editor", "subject": "folder"}) // a role's key
	do(404, "POST", "/v1/resources/document/relations", map[string]any{"key": "owner", "subject": "ghost"})
	do(400, "PATCH", "/v1/resources/folder/roles/viewer", map[string]any{"extends": []string{"editor"}}) // cycle
	up := do(200, "PATCH", "/v1/resources/document/roles/editor", map[string]any{"name": "Editor", "permissions": []string{"read", "write", "delete"}}).data()
	if up["name"] != "Editor" || len(up["permissions"].([]any)) != 3 || len(up["granted_to"].([]any)) != 1 {
		t.Fatalf("updated: %v", up)
	}
	// Taking an action off the type that a role grants: 409, then cascade.
	if res := do(409, "PATCH", "/v1/resources/document", map[string]any{"actions": []string{"read", "write"}}); !strings.Contains(res.raw, "document#editor") {
		t.Fatalf("in use names the role: %s", res.raw)
	}
	do(200, "PATCH", "/v1/resources/document?cascade=true", map[string]any{"actions": []string{"read", "write"}})
	if p := do(200, "GET", "/v1/resources/document/roles/editor", nil).data()["permissions"].([]any); len(p) != 2 {
		t.Fatalf("permissions after cascade: %v", p)
	}
	rel := do(200, "GET", "/v1/resources/document/relations/parent", nil).data()
	if rel["subject"] != "folder" || rel["resource"] != "document" {
		t.Fatalf("relation: %v", rel)
	}
	if res := do(200, "GET", "/v1/resources/folder/relations", nil); res.meta()["total_items"] != float64(1) {
		t.Fatalf("relations: %s", res.raw)
	}
	// The relation is used by a derivation: 409 naming it, then cascade.
	res = do(409, "DELETE", "/v1/resources/document/relations/parent", nil)
	if !strings.Contains(res.raw, "document#editor") {
		t.Fatalf("in use names the role: %s", res.raw)
	}
	do(204, "DELETE", "/v1/resources/document/relations/parent?cascade=true", nil)
	if g := do(200, "GET", "/v1/resources/document/roles/editor", nil).data()["granted_to"].([]any); len(g) != 0 {
		t.Fatalf("derivation left after cascade: %v", g)
	}
	do(404, "GET", "/v1/resources/document/relations/parent", nil)
	// A role others extend: 409, then cascade.
	do(409, "DELETE", "/v1/resources/folder/roles/viewer", nil)
	do(204, "DELETE", "/v1/resources/folder/roles/viewer?cascade=true", nil)
	if e := do(200, "GET", "/v1/resources/folder/roles/editor", nil).data()["extends"].([]any); len(e) != 0 {
		t.Fatalf("extends left after cascade: %v", e)
	}
	// A tenant role derivation.
	do(201, "POST", "/v1/roles", map[string]any{"key": "admin"})
	do(200, "PATCH", "/v1/resources/document/roles/editor", map[string]any{"granted_to": []any{map[string]any{"role": "admin", "on_resource": "__tenant"}}})
	do(409, "DELETE", "/v1/roles/admin", nil)
	do(204, "DELETE", "/v1/roles/admin?cascade=true", nil)
	// Deleting a resource type others refer to.
	do(409, "DELETE", "/v1/resources/folder", nil)
	do(204, "DELETE", "/v1/resources/folder?cascade=true", nil)
	do(404, "GET", "/v1/resources/folder/roles", nil)
}

func TestResourceInstancesTuplesAndAssignments(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	k := s.fineKey()
	driveModel(t, s, k)
	wh, _ := s.newWebhook("https://hooks.example/in", "resource_instance.created", "resource_instance.deleted", "relationship_tuple.created",
		"relationship_tuple.deleted", "role_assignment.created")
	do := func(want int, method, path string, body any) resp {
		t.Helper()
		return s.must(want, req{method: method, path: path, key: k, body: body})
	}
	do(201, "POST", "/v1/tenants", map[string]any{"key": "acme"})
	do(201, "POST", "/v1/users", map[string]any{"key": "ada"})
	for _, f := range []string{"f1", "f2", "f3"} {
		do(201, "POST", "/v1/resource-instances", map[string]any{"resource": "folder", "key": f, "tenant": "acme"})
	}
	d1 := do(201, "POST", "/v1/resource-instances", map[string]any{"resource": "document", "key": "d1", "tenant": "acme", "attributes": map[string]any{"pages": 3}}).data()
	if d1["tenant"] != "acme" || d1["resource"] != "document" || d1["attributes"].(map[string]any)["pages"] != float64(3) {
		t.Fatalf("instance: %v", d1)
	}
	def := do(201, "POST", "/v1/resource-instances", map[string]any{"resource": "document", "key": "d2"}).data()
	if def["tenant"] != "default" {
		t.Fatalf("default tenant: %v", def)
	}
	do(409, "POST", "/v1/resource-instances", map[string]any{"resource": "document", "key": "d1"})
	do(404, "POST", "/v1/resource-instances", map[string]any{"resource": "ghost", "key": "d1"})
	do(404, "POST", "/v1/resource-instances", map[string]any{"resource": "document", "key": "d9", "tenant": "ghost"})
	do(400, "POST", "/v1/resource-instances", map[string]any{"resource": "document", "key": "a:b"})
	do(200, "GET", "/v1/resource-instances/document:d1", nil)
	do(200, "GET", "/v1/resource-instances/"+d1["id"].(string), nil)
	do(404, "GET", "/v1/resource-instances/document:nope", nil)
	do(404, "GET", "/v1/resource-instances/nocolon", nil)
	for q, want := range map[string]float64{"": 5, "resource=folder": 3, "tenant=default": 1, "search=D": 2, "resource=document&tenant=acme": 1} {
		if res := do(200, "GET", "/v1/resource-instances?"+q, nil); res.meta()["total_items"] != want {
			t.Errorf("instances?%s: %v, want %v", q, res.meta()["total_items"], want)
		}
	}
	up := do(200, "PATCH", "/v1/resource-instances/document:d2", map[string]any{"tenant": "acme", "attributes": map[string]any{"x": "y"}}).data()
	if up["tenant"] != "acme" || up["attributes"].(map[string]any)["x"] != "y" {
		t.Fatalf("updated instance: %v", up)
	}

	// Tuples.
	tres := do(201, "POST", "/v1/relationship-tuples", map[string]any{"subject": "folder:f1", "relation": "parent", "object": "document:d1"})
	if rev, _ := tres.meta()["revision"].(float64); rev <= 0 || tres.header.Get("Gatehouse-Revision") != fmt.Sprint(int64(rev)) {
		t.Fatalf("a tuple write answers its revision: %v %q", tres.meta(), tres.header.Get("Gatehouse-Revision"))
	}
	tu := tres.data()
	if tu["subject"] != "folder:f1" || tu["object"] != "document:d1" {
		t.Fatalf("tuple: %v", tu)
	}
	do(409, "POST", "/v1/relationship-tuples", map[string]any{"subject": "folder:f1", "relation": "parent", "object": "document:d1"})
	for _, bad := range []map[string]any{
		{"subject": "folder:f1", "relation": "owner", "object": "document:d1"},    // unknown relation
		{"subject": "document:d2", "relation": "parent", "object": "document:d1"}, // wrong subject type
		{"subject": "folder", "relation": "parent", "object": "document:d1"},      // not type:key
		{"subject": "team:t1#ghost", "relation": "editor", "object": "folder:f1"}, // unknown instance first
	} {
		res := s.do(req{method: "POST", path: "/v1/relationship-tuples", key: k, body: bad})
		if res.status != 400 && res.status != 404 {
			t.Errorf("bad tuple %v: %d\n%s", bad, res.status, res.raw)
		}
	}
	do(404, "POST", "/v1/relationship-tuples", map[string]any{"subject": "folder:nope", "relation": "parent", "object": "document:d1"})
	// Nested folders f3 → f2 → f1; f1 → f3 would close a cycle.
	bulk := do(201, "POST", "/v1/relationship-tuples/bulk", map[string]any{"tuples": []any{
		map[string]any{"subject": "folder:f2", "relation": "parent", "object": "folder:f1"},
		map[string]any{"subject": "folder:f3", "relation": "parent", "object": "folder:f2"},
	}}).data()
	if len(bulk["tuples"].([]any)) != 2 {
		t.Fatalf("bulk: %v", bulk)
	}
	res := s.do(req{method: "POST", path: "/v1/relationship-tuples", key: k, body: map[string]any{"subject": "folder:f1", "relation": "parent", "object": "folder:f3"}})
	if res.status != 400 || !strings.Contains(res.raw, "cycle") {
		t.Fatalf("cycle not refused at write time: %d %s", res.status, res.raw)
	}
	// A bulk write is all or nothing and names the failing index.
	res = s.do(req{method: "POST", path: "/v1/relationship-tuples/bulk", key: k, body: map[string]any{"tuples": []any{
		map[string]any{"subject": "folder:f1", "relation": "parent", "object": "document:d2"},
		map[string]any{"subject": "folder:f9", "relation": "parent", "object": "document:d2"},
	}}})
	if res.status != 404 || !strings.Contains(res.raw, "tuples[1]") || res.body["error"].(map[string]any)["details"].(map[string]any)["index"] != float64(1) {
		t.Fatalf("bulk failure: %d %s", res.status, res.raw)
	}
	if res := do(200, "GET", "/v1/relationship-tuples?object=document:d2", nil); res.meta()["total_items"] != float64(0) {
		t.Fatalf("a failed bulk wrote: %s", res.raw)
	}
	// A cycle through two tuples of one batch is found too.
	res = s.do(req{method: "POST", path: "/v1/relationship-tuples/bulk", key: k, body: map[string]any{"tuples": []any{
		map[string]any{"subject": "folder:f1", "relation": "parent", "object": "document:d2"},
		map[string]any{"subject": "folder:f1", "relation": "parent", "object": "folder:f3"},
	}}})
	if res.status != 400 || !strings.Contains(res.raw, "tuples[1]") {
		t.Fatalf("cycle in a batch: %d %s", res.status, res.raw)
	}
	tooMany := make([]any, 1001)
	for i := range tooMany {
		tooMany[i] = map[string]any{"subject": "folder:f1", "relation": "parent", "object": "document:d2"}
	}
	do(400, "POST", "/v1/relationship-tuples/bulk", map[string]any{"tuples": tooMany})
	for q, want := range map[string]float64{"": 3, "subject=folder:f2": 1, "relation=parent": 3, "object=folder:f1": 1, "object=document:d1&subject=folder:f1": 1} {
		if res := do(200, "GET", "/v1/relationship-tuples?"+q, nil); res.meta()["total_items"] != want {
			t.Errorf("tuples?%s: %v, want %v", q, res.meta()["total_items"], want)
		}
	}
	// Subject sets: members of team:t1 are editors of folder:f1.
	do(201, "POST", "/v1/resource-instances", map[string]any{"resource": "team", "key": "t1", "tenant": "acme"})
	do(201, "POST", "/v1/relationship-tuples", map[string]any{"subject": "team:t1#member", "relation": "editor", "object": "folder:f1"})
	do(400, "POST", "/v1/relationship-tuples", map[string]any{"subject": "team:t1#member", "relation": "parent", "object": "folder:f2"}) // parent is no role
	do(400, "POST", "/v1/relationship-tuples", map[string]any{"subject": "team:t1#ghost", "relation": "editor", "object": "folder:f2"})

	// Role assignments on instances.
	a := do(201, "POST", "/v1/role-assignments", map[string]any{"user": "ada", "role": "member", "resource_instance": "team:t1"}).data()
	if a["resource_instance"] != "team:t1" || a["tenant"] != "acme" || a["role"] != "member" {
		t.Fatalf("instance assignment: %v", a)
	}
	do(409, "POST", "/v1/role-assignments", map[string]any{"user": "ada", "role": "member", "resource_instance": "team:t1"})
	do(404, "POST", "/v1/role-assignments", map[string]any{"user": "ada", "role": "editor", "resource_instance": "team:t1"}) // not a team role
	do(404, "POST", "/v1/role-assignments", map[string]any{"user": "ada", "role": "member", "resource_instance": "team:nope"})
	do(400, "POST", "/v1/role-assignments", map[string]any{"user": "ada", "role": "member", "resource_instance": "team:t1", "tenant": "default"})
	do(201, "POST", "/v1/role-assignments", map[string]any{"user": "ada", "role": "editor", "resource_instance": "document:d1", "tenant": "acme"})
	do(201, "POST", "/v1/roles", map[string]any{"key": "admin"})
	do(201, "POST", "/v1/role-assignments", map[string]any{"user": "ada", "role": "admin", "tenant": "acme"})
	for q, want := range map[string]float64{"": 3, "kind=tenant": 1, "kind=instance": 2, "resource_instance=document:d1": 1, "role=editor": 1, "tenant=acme": 3} {
		if res := do(200, "GET", "/v1/role-assignments?"+q, nil); res.meta()["total_items"] != want {
			t.Errorf("role-assignments?%s: %v, want %v\n%s", q, res.meta()["total_items"], want, res.raw)
		}
	}
	do(204, "DELETE", "/v1/role-assignments?user=ada&role=editor&resource_instance=document:d1", nil)
	do(404, "DELETE", "/v1/role-assignments?user=ada&role=editor&resource_instance=document:d1", nil)

	// Tuple deletes: by body, by query, in bulk (all or nothing).
	do(204, "DELETE", "/v1/relationship-tuples?subject=folder:f3&relation=parent&object=folder:f2", nil)
	do(404, "DELETE", "/v1/relationship-tuples", map[string]any{"subject": "folder:f3", "relation": "parent", "object": "folder:f2"})
	do(400, "DELETE", "/v1/relationship-tuples", nil)
	res = s.do(req{method: "DELETE", path: "/v1/relationship-tuples/bulk", key: k, body: map[string]any{"tuples": []any{
		map[string]any{"subject": "folder:f2", "relation": "parent", "object": "folder:f1"},
		map[string]any{"subject": "folder:f3", "relation": "parent", "object": "folder:f2"},
	}}})
	if res.status != 404 || !strings.Contains(res.raw, "tuples[1]") {
		t.Fatalf("bulk delete of a missing tuple: %d %s", res.status, res.raw)
	}
	do(204, "DELETE", "/v1/relationship-tuples/bulk", map[string]any{"tuples": []any{map[string]any{"subject": "folder:f2", "relation": "parent", "object": "folder:f1"}}})

	// Deleting an instance takes its tuples and assignments along.
	do(204, "DELETE", "/v1/resource-instances/team:t1", nil)
	if res := do(200, "GET", "/v1/relationship-tuples?subject=team:t1%23member", nil); res.meta()["total_items"] != float64(0) {
		t.Fatalf("tuples of a deleted instance: %s", res.raw)
	}
	if res := do(200, "GET", "/v1/role-assignments?kind=instance", nil); res.meta()["total_items"] != float64(0) {
		t.Fatalf("assignments of a deleted instance: %s", res.raw)
	}
	// Deleting a tenant takes its instances along.
	do(204, "DELETE", "/v1/tenants/acme", nil)
	if res := do(200, "GET", "/v1/resource-instances", nil); res.meta()["total_items"] != float64(0) {
		t.Fatalf("instances of a deleted tenant: %s", res.raw)
	}
	// Every write sent its event, failed ones none (deliveries are written
	// in the write's transaction).
	events := map[string]int{}
	for _, d := range s.must(200, req{method: "GET", path: "/v1/webhooks/" + wh + "/deliveries?per_page=100", key: s.key}).list() {
		events[d.(map[string]any)["event"].(string)]++
	}
	want := map[string]int{"resource_instance.created": 6, "resource_instance.deleted": 6, "relationship_tuple.created": 4, "relationship_tuple.deleted": 2, "role_assignment.created": 3}
	if fmt.Sprint(events) != fmt.Sprint(want) {
		t.Errorf("events %v, want %v", events, want)
	}
}

func TestConditionSetsAndSetRules(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	k := s.fineKey()
	do := func(want int, method, path string, body any) resp {
		t.Helper()
		return s.must(want, req{method: method, path: path, key: k, body: body})
	}
	do(201, "POST", "/v1/resources", map[string]any{"key": "invoice", "actions": []string{"read", "approve"}})
	us := do(201, "POST", "/v1/condition-sets", map[string]any{"key": "approvers", "type": "userset",
		"conditions": map[string]any{"allOf": []any{map[string]any{"user.department": map[string]any{"equals": "finance"}}}}}).data()
	if us["type"] != "userset" || us["conditions"] == nil {
		t.Fatalf("user set: %v", us)
	}
	do(201, "POST", "/v1/condition-sets", map[string]any{"key": "small", "type": "resourceset", "resource": "invoice",
		"conditions": map[string]any{"resource.amount": map[string]any{"less-than": 1000}}})
	for _, bad := range []map[string]any{
		{"key": "x", "type": "userset", "conditions": map[string]any{"user.a": map[string]any{"frobnicates": 1}}},
		{"key": "x", "type": "userset", "resource": "invoice", "conditions": map[string]any{"user.a": map[string]any{"equals": 1}}},
		{"key": "x", "type": "resourceset", "conditions": map[string]any{"resource.a": map[string]any{"equals": 1}}},
		{"key": "x", "type": "userset"},
		{"key": "x", "type": "groupset", "conditions": map[string]any{}},
	} {
		do(400, "POST", "/v1/condition-sets", bad)
	}
	do(404, "POST", "/v1/condition-sets", map[string]any{"key": "x", "type": "resourceset", "resource": "ghost", "conditions": map[string]any{"resource.a": map[string]any{"equals": 1}}})
	res := do(409, "POST", "/v1/condition-sets", map[string]any{"key": "approvers", "type": "userset", "conditions": map[string]any{"user.a": map[string]any{"equals": 1}}})
	if !strings.Contains(res.raw, "approvers") {
		t.Fatalf("conflict names the key: %s", res.raw)
	}
	for q, want := range map[string]float64{"": 2, "type=userset": 1, "resource=invoice": 1, "search=APP": 1} {
		if res := do(200, "GET", "/v1/condition-sets?"+q, nil); res.meta()["total_items"] != want {
			t.Errorf("condition-sets?%s: %v, want %v", q, res.meta()["total_items"], want)
		}
	}
	do(200, "GET", "/v1/condition-sets/"+us["id"].(string), nil)
	do(200, "PATCH", "/v1/condition-sets/small", map[string]any{"conditions": map[string]any{"resource.amount": map[string]any{"less-than": 500}}, "name": "Small"})
	do(400, "PATCH", "/v1/condition-sets/small", map[string]any{"conditions": map[string]any{"resource.amount": map[string]any{"nope": 500}}})

	rule := do(201, "POST", "/v1/set-rules", map[string]any{"user_set": "approvers", "action": "approve", "resource_set": "small"}).data()
	if rule["user_set"] != "approvers" || rule["resource_set"] != "small" {
		t.Fatalf("rule: %v", rule)
	}
	do(409, "POST", "/v1/set-rules", map[string]any{"user_set": "approvers", "action": "approve", "resource_set": "small"})
	do(400, "POST", "/v1/set-rules", map[string]any{"user_set": "approvers", "action": "fly", "resource_set": "small"})
	do(400, "POST", "/v1/set-rules", map[string]any{"user_set": "small", "action": "approve", "resource_set": "approvers"})
	do(404, "POST", "/v1/set-rules", map[string]any{"user_set": "ghost", "action": "approve", "resource_set": "small"})
	do(201, "POST", "/v1/set-rules", map[string]any{"user_set": "approvers", "action": "read", "resource_set": "small"})
	for q, want := range map[string]float64{"": 2, "action=read": 1, "user_set=approvers": 2, "resource_set=nope": 0} {
		if res := do(200, "GET", "/v1/set-rules?"+q, nil); res.meta()["total_items"] != want {
			t.Errorf("set-rules?%s: %v, want %v", q, res.meta()["total_items"], want)
		}
	}
	do(204, "DELETE", "/v1/set-rules?user_set=approvers&action=read&resource_set=small", nil)
	do(404, "DELETE", "/v1/set-rules?user_set=approvers&action=read&resource_set=small", nil)
	// A set in use: 409, then cascade takes its rules.
	do(409, "DELETE", "/v1/condition-sets/approvers", nil)
	do(204, "DELETE", "/v1/set-rules/"+rule["id"].(string), nil)
	do(404, "DELETE", "/v1/set-rules/"+rule["id"].(string), nil)
	do(201, "POST", "/v1/set-rules", map[string]any{"user_set": "approvers", "action": "read", "resource_set": "small"})
	do(204, "DELETE", "/v1/condition-sets/approvers?cascade=true", nil)
	if res := do(200, "GET", "/v1/set-rules", nil); res.meta()["total_items"] != float64(0) {
		t.Fatalf("rules after cascade: %s", res.raw)
	}
	// A resource type's resource sets go with it (cascade).
	do(409, "DELETE", "/v1/resources/invoice", nil)
	do(204, "DELETE", "/v1/resources/invoice?cascade=true", nil)
	do(404, "GET", "/v1/condition-sets/small", nil)
}

// Another environment's items are not found through this environment.
func TestFineGrainedEnvironmentIsolation(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	k := s.fineKey()
	driveModel(t, s, k)
	s.must(201, req{method: "POST", path: "/v1/resource-instances", key: k, body: map[string]any{"resource": "folder", "key": "f1"}})
	inst := s.must(200, req{method: "GET", path: "/v1/resource-instances/folder:f1", key: k}).data()["id"].(string)
	role := s.must(200, req{method: "GET", path: "/v1/resources/folder/roles/editor", key: k}).data()["id"].(string)
	_, prod := s.newKey("environment", []string{"view:resource", "manage:resource", "view:role", "manage:role"}, map[string]any{"project": "default", "environment": "production"})
	s.must(201, req{method: "POST", path: "/v1/resources", key: prod, body: map[string]any{"key": "folder", "actions": []string{"read"}}})
	s.must(404, req{method: "GET", path: "/v1/resource-instances/" + inst, key: prod})
	s.must(404, req{method: "GET", path: "/v1/resource-instances/folder:f1", key: prod})
	s.must(404, req{method: "DELETE", path: "/v1/resource-instances/" + inst, key: prod})
	s.must(404, req{method: "GET", path: "/v1/resources/folder/roles/" + role, key: prod})
	s.must(404, req{method: "POST", path: "/v1/relationship-tuples", key: prod, body: map[string]any{"subject": "folder:f1", "relation": "parent", "object": "folder:f1"}})
	if res := s.must(200, req{method: "GET", path: "/v1/resource-instances", key: prod}); res.meta()["total_items"] != float64(0) {
		t.Fatalf("production sees development's instances: %s", res.raw)
	}
}

// A bulk write of the maximum, 1,000 tuples, goes through in one
// transaction, and so does its bulk delete.
func TestRelationshipTuplesBulkOfAThousand(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	k := s.fineKey()
	driveModel(t, s, k)
	s.must(201, req{method: "POST", path: "/v1/resource-instances", key: k, body: map[string]any{"resource": "folder", "key": "root"}})
	// the 1,000 documents in one import (1,000 calls would cost more than the bulk itself)
	var tuples []any
	var rows []string
	for i := 0; i < 1000; i++ {
		key := fmt.Sprintf("d%d", i)
		rows = append(rows, fmt.Sprintf(`{"type":"resource_instance","resource":"document","key":%q}`, key))
		tuples = append(tuples, map[string]any{"subject": "folder:root", "relation": "parent", "object": "document:" + key})
	}
	imp := s.importFile(s.key, devQ, "application/x-ndjson", strings.Join(rows, "\n"))
	if imp.status != 201 {
		t.Fatalf("import: %d %s", imp.status, imp.raw)
	}
	if j := s.waitJob(imp.data()["id"].(string)); j["status"] != "succeeded" {
		t.Fatalf("import job: %v", j)
	}
	start := time.Now()
	s.must(201, req{method: "POST", path: "/v1/relationship-tuples/bulk", key: k, body: map[string]any{"tuples": tuples}})
	t.Logf("1,000 tuples written in %v", time.Since(start))
	if res := s.must(200, req{method: "GET", path: "/v1/relationship-tuples?subject=folder:root", key: k}); res.meta()["total_items"] != float64(1000) {
		t.Fatalf("tuples: %v", res.meta())
	}
	start = time.Now()
	s.must(204, req{method: "DELETE", path: "/v1/relationship-tuples/bulk", key: k, body: map[string]any{"tuples": tuples}})
	t.Logf("1,000 tuples deleted in %v", time.Since(start))
	if res := s.must(200, req{method: "GET", path: "/v1/relationship-tuples", key: k}); res.meta()["total_items"] != float64(0) {
		t.Fatalf("tuples after the bulk delete: %v", res.meta())
	}
}

// POST /v1/user-permissions lists, when asked, the instances on which the
// user holds a role, assigned or derived, per tenant; a tenant where the
// user holds roles only on instances is listed too.
func TestUserPermissionsOnInstances(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	k := s.envKey("manage:user", "manage:tenant", "manage:resource", "manage:role", "manage:role_assignment", "check:access")
	driveModel(t, s, k)
	do := func(want int, method, path string, body any) resp {
		t.Helper()
		return s.must(want, req{method: method, path: path, key: k, body: body})
	}
	do(201, "POST", "/v1/tenants", map[string]any{"key": "acme"})
	do(201, "POST", "/v1/users", map[string]any{"key": "ada"})
	do(201, "POST", "/v1/roles", map[string]any{"key": "reader", "permissions": []string{"document:read"}})
	do(201, "POST", "/v1/role-assignments", map[string]any{"user": "ada", "role": "reader"}) // in the default tenant
	for _, i := range []map[string]any{{"resource": "folder", "key": "f1", "tenant": "acme"}, {"resource": "document", "key": "d1", "tenant": "acme"},
		{"resource": "document", "key": "d2", "tenant": "acme"}} {
		do(201, "POST", "/v1/resource-instances", i)
	}
	do(201, "POST", "/v1/relationship-tuples", map[string]any{"subject": "folder:f1", "relation": "parent", "object": "document:d1"})
	do(201, "POST", "/v1/role-assignments", map[string]any{"user": "ada", "role": "editor", "resource_instance": "folder:f1"})

	plain := do(200, "POST", "/v1/user-permissions", map[string]any{"user": "ada"}).list()
	if len(plain) != 1 || plain[0].(map[string]any)["tenant"] != "default" || plain[0].(map[string]any)["instances"] != nil {
		t.Fatalf("without instances: %v", plain)
	}
	got := do(200, "POST", "/v1/user-permissions", map[string]any{"user": "ada", "instances": true}).list()
	want := `[{"instances":null,"permissions":["document:read"],"roles":["reader"],"tenant":"default"},` +
		`{"instances":[{"permissions":["document:read","document:write"],"resource":"document:d1","roles":["editor"]},` +
		`{"permissions":["folder:read","folder:write"],"resource":"folder:f1","roles":["editor","viewer"]}],"permissions":[],"roles":[],"tenant":"acme"}]`
	if js := jsonOf(t, normalized(got)); js != want {
		t.Fatalf("with instances:\n got %s\nwant %s", js, want)
	}
	docs := do(200, "POST", "/v1/user-permissions", map[string]any{"user": "ada", "instances": true, "resource_types": []string{"document"}, "tenants": []string{"acme"}}).list()
	if len(docs) != 1 || len(docs[0].(map[string]any)["instances"].([]any)) != 1 {
		t.Fatalf("documents in acme: %v", docs)
	}
	do(200, "POST", "/v1/user-permissions", map[string]any{"user": "nobody", "instances": true})
	do(400, "POST", "/v1/user-permissions", map[string]any{"user": "ada", "instances": "yes"})
}

// normalized gives every tenant entry an "instances" key (null when
// absent), so one JSON literal states the whole answer.
func normalized(list []any) []any {
	for _, x := range list {
		m := x.(map[string]any)
		if _, ok := m["instances"]; !ok {
			m["instances"] = nil
		}
	}
	return list
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
