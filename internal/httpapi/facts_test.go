package httpapi_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// envKey makes an environment key for the development environment.
func (s *server) envKey(scopes ...string) string {
	s.t.Helper()
	_, token := s.newKey("environment", scopes, map[string]any{"project": "default", "environment": "development"})
	return token
}

func TestAuthorizationDataAndChecks(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	k := s.envKey("view:user", "manage:user", "view:tenant", "manage:tenant", "view:resource", "manage:resource",
		"view:role", "manage:role", "view:role_assignment", "manage:role_assignment", "check:access")
	do := func(want int, method, path string, body any) resp {
		t.Helper()
		return s.must(want, req{method: method, path: path, key: k, body: body})
	}
	do(201, "POST", "/v1/resources", map[string]any{"key": "document", "actions": []string{"read", "write", "delete"}})
	do(400, "POST", "/v1/resources", map[string]any{"key": "bad", "actions": []string{"read", "read"}})
	do(400, "POST", "/v1/resources", map[string]any{"key": "bad", "actions": []string{"read"}, "attributes": map[string]any{"x": map[string]any{"type": "uuid"}}})
	inv := do(201, "POST", "/v1/resources", map[string]any{"key": "invoice", "actions": []string{"read"},
		"attributes": map[string]any{"amount": map[string]any{"type": "number", "description": "in cents"}}}).data()
	if a := inv["attributes"].(map[string]any)["amount"].(map[string]any); a["type"] != "number" || a["description"] != "in cents" {
		t.Fatalf("resource attributes: %v", inv)
	}
	if got := do(200, "GET", "/v1/resources/invoice", nil).data()["attributes"].(map[string]any); len(got) != 1 {
		t.Fatalf("read back: %v", got)
	}
	if got := do(200, "PATCH", "/v1/resources/invoice", map[string]any{"attributes": map[string]any{}}).data()["attributes"].(map[string]any); len(got) != 0 {
		t.Fatalf("cleared: %v", got)
	}
	do(201, "POST", "/v1/roles", map[string]any{"key": "viewer", "permissions": []string{"document:read"}})
	do(201, "POST", "/v1/roles", map[string]any{"key": "editor", "permissions": []string{"document:write"}, "extends": []string{"viewer"}})
	for _, bad := range []map[string]any{
		{"key": "x1", "permissions": []string{"document:fly"}},
		{"key": "x2", "permissions": []string{"spaceship:read"}},
		{"key": "x3", "permissions": []string{"nocolon"}},
		{"key": "x4", "extends": []string{"ghost"}},
	} {
		do(400, "POST", "/v1/roles", bad)
	}
	do(400, "PATCH", "/v1/roles/viewer", map[string]any{"extends": []string{"editor"}}) // cycle
	do(201, "POST", "/v1/users", map[string]any{"key": "ada@acme.example", "email": "ada@acme.example", "first_name": "Ada", "attributes": map[string]any{"plan": "pro"}})
	do(201, "POST", "/v1/users", map[string]any{"key": "bob"})
	do(409, "POST", "/v1/users", map[string]any{"key": "bob"})
	do(201, "POST", "/v1/tenants", map[string]any{"key": "acme", "name": "Acme"})

	// PERSCOM's example: GET /v1/users with an environment key holding view:user.
	users := do(200, "GET", "/v1/users", nil)
	if users.meta()["total_items"] != float64(2) {
		t.Fatalf("users: %s", users.raw)
	}
	if d := do(200, "GET", "/v1/users/ada@acme.example", nil).data(); d["first_name"] != "Ada" || d["attributes"].(map[string]any)["plan"] != "pro" {
		t.Fatalf("user: %v", d)
	}
	if l := do(200, "GET", "/v1/users?search=ACME", nil).list(); len(l) != 1 {
		t.Fatalf("search: %v", l)
	}
	// A NUL or bytes that are not UTF-8 in a search are the caller's
	// mistake, never a 500 (PostgreSQL refuses them in text; SQLite's
	// FTS5 ends its query at a NUL): the input check refuses them before
	// any handler, and the store again (TestSearchRefusesNulAndInvalidUTF8).
	for _, path := range []string{"/v1/users?search=ab%00cd", "/v1/tenants?search=%FF%FE%FD", "/v1/resource-instances?search=%00%00%00", "/v1/roles?search=x%00"} {
		do(400, "GET", path, nil)
	}
	// Every environment has a default tenant.
	if l := do(200, "GET", "/v1/tenants?key=default", nil).list(); len(l) != 1 {
		t.Fatalf("default tenant: %v", l)
	}

	check := func(user, action, typ, tenant string) map[string]any {
		t.Helper()
		return do(200, "POST", "/v1/allowed", map[string]any{"user": user, "action": action, "resource": map[string]any{"type": typ, "tenant": tenant}}).data()
	}
	if d := check("ada@acme.example", "read", "document", "acme"); d["allow"] != false || d["reason"] != "no_role_in_tenant" {
		t.Fatalf("before assignment: %v", d)
	}
	do(201, "POST", "/v1/role-assignments", map[string]any{"user": "ada@acme.example", "role": "editor", "tenant": "acme"})
	do(409, "POST", "/v1/role-assignments", map[string]any{"user": "ada@acme.example", "role": "editor", "tenant": "acme"})
	do(404, "POST", "/v1/role-assignments", map[string]any{"user": "nobody", "role": "editor", "tenant": "acme"})
	do(201, "POST", "/v1/role-assignments", map[string]any{"user": "bob", "role": "viewer"}) // default tenant
	// A write is visible to the very next check.
	if d := check("ada@acme.example", "read", "document", "acme"); d["allow"] != true || d["role"] != "editor" || !strings.Contains(d["explanation"].(string), "editor") {
		t.Fatalf("inherited permission: %v", d)
	}
	if d := check("ada@acme.example", "delete", "document", "acme"); d["allow"] != false || d["reason"] != "not_granted" {
		t.Fatalf("not granted: %v", d)
	}
	if d := check("bob", "read", "document", ""); d["allow"] != true || d["tenant"] != "default" {
		t.Fatalf("default tenant check: %v", d)
	}
	bulk := do(200, "POST", "/v1/allowed/bulk", map[string]any{"checks": []any{
		map[string]any{"user": "ada@acme.example", "action": "write", "resource": map[string]any{"type": "document", "tenant": "acme"}},
		map[string]any{"user": "bob", "action": "write", "resource": map[string]any{"type": "document"}},
		map[string]any{"user": "zed", "action": "read", "resource": map[string]any{"type": "document"}},
	}})
	var got []string
	for _, r := range bulk.body["data"].([]any) {
		m := r.(map[string]any)
		got = append(got, fmt.Sprint(m["allow"], "/", m["reason"]))
	}
	if strings.Join(got, " ") != "true/granted false/not_granted false/unknown_user" {
		t.Fatalf("bulk: %v", got)
	}
	perms := do(200, "POST", "/v1/user-permissions", map[string]any{"user": "ada@acme.example"}).body["data"].([]any)
	if len(perms) != 1 || fmt.Sprint(perms[0].(map[string]any)["permissions"]) != "[document:read document:write]" {
		t.Fatalf("user permissions: %v", perms)
	}

	if l := do(200, "GET", "/v1/role-assignments?user=ada@acme.example", nil).list(); len(l) != 1 || l[0].(map[string]any)["role"] != "editor" {
		t.Fatalf("assignments: %v", l)
	}
	// Changing a role reaches its holders at once.
	do(200, "PATCH", "/v1/roles/viewer", map[string]any{"permissions": []string{"document:read", "document:delete"}})
	if d := check("ada@acme.example", "delete", "document", "acme"); d["allow"] != true {
		t.Fatalf("role change: %v", d)
	}
	do(204, "DELETE", "/v1/role-assignments?user=ada@acme.example&role=editor&tenant=acme", nil)
	do(404, "DELETE", "/v1/role-assignments?user=ada@acme.example&role=editor&tenant=acme", nil)
	if d := check("ada@acme.example", "read", "document", "acme"); d["allow"] != false {
		t.Fatalf("after unassign: %v", d)
	}
	// Deleting a user or a tenant cleans up its assignments; a role in use
	// goes with ?cascade=true (its assignments and extends with it).
	do(201, "POST", "/v1/role-assignments", map[string]any{"user": "bob", "role": "editor", "tenant": "acme"})
	do(204, "DELETE", "/v1/tenants/acme", nil)
	do(409, "DELETE", "/v1/roles/viewer", nil)
	do(204, "DELETE", "/v1/roles/viewer?cascade=true", nil)
	if l := do(200, "GET", "/v1/role-assignments", nil).list(); len(l) != 0 {
		t.Fatalf("assignments left: %v", l)
	}
	if r := do(200, "GET", "/v1/roles/editor", nil).data(); len(r["extends"].([]any)) != 0 {
		t.Fatalf("deleted role still extended: %v", r)
	}
	do(204, "DELETE", "/v1/users/bob", nil)
	if d := check("bob", "read", "document", ""); d["reason"] != "unknown_user" {
		t.Fatalf("deleted user: %v", d)
	}
}

func TestEnvironmentsAreIsolated(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	dev := s.envKey("manage:user", "view:user", "check:access")
	_, prod := s.newKey("environment", []string{"view:user", "check:access"}, map[string]any{"project": "default", "environment": "production"})
	s.must(201, req{method: "POST", path: "/v1/users", key: dev, body: map[string]any{"key": "only-in-dev"}})
	if l := s.must(200, req{method: "GET", path: "/v1/users", key: prod}).list(); len(l) != 0 {
		t.Fatalf("production sees development's users: %v", l)
	}
	s.must(404, req{method: "GET", path: "/v1/users/only-in-dev", key: prod})
	// An environment key cannot point at another environment.
	s.must(403, req{method: "GET", path: "/v1/users?project=default&environment=development", key: prod})
	// An organization key names the environment.
	s.must(400, req{method: "GET", path: "/v1/users", key: s.key})
	l := s.must(200, req{method: "GET", path: "/v1/users?project=default&environment=development", key: s.key}).list()
	if len(l) != 1 {
		t.Fatalf("org key with environment: %v", l)
	}
	s.must(404, req{method: "GET", path: "/v1/users?project=default&environment=nope", key: s.key})
}

// ci: race
// Checks stay correct while writes happen concurrently.
func TestChecksDuringWrites(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	k := s.envKey("manage:user", "manage:resource", "manage:role", "manage:role_assignment", "check:access")
	s.must(201, req{method: "POST", path: "/v1/resources", key: k, body: map[string]any{"key": "doc", "actions": []string{"read"}}})
	s.must(201, req{method: "POST", path: "/v1/roles", key: k, body: map[string]any{"key": "reader", "permissions": []string{"doc:read"}}})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			user := fmt.Sprintf("u%d", i)
			s.must(201, req{method: "POST", path: "/v1/users", key: k, body: map[string]any{"key": user}})
			s.must(201, req{method: "POST", path: "/v1/role-assignments", key: k, body: map[string]any{"user": user, "role": "reader"}})
			d := s.must(200, req{method: "POST", path: "/v1/allowed", key: k, body: map[string]any{"user": user, "action": "read", "resource": map[string]any{"type": "doc"}}}).data()
			if d["allow"] != true {
				t.Errorf("%s: %v", user, d)
			}
		}(i)
	}
	wg.Wait()
}

// Every environment lists its default tenant before anything else happened
// in it: the bootstrap's and a new one.
func TestDefaultTenantFromTheStart(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	for _, env := range []string{"development", "production"} {
		res := s.must(200, req{method: "GET", path: "/v1/tenants?project=default&environment=" + env, key: s.key})
		if len(res.list()) != 1 || res.list()[0].(map[string]any)["key"] != "default" {
			t.Fatalf("%s tenants: %s", env, res.raw)
		}
	}
	s.must(201, req{method: "POST", path: "/v1/projects/default/environments", key: s.key, body: map[string]any{"name": "Staging", "key": "staging"}})
	res := s.must(200, req{method: "GET", path: "/v1/tenants?project=default&environment=staging", key: s.key})
	if len(res.list()) != 1 || res.list()[0].(map[string]any)["key"] != "default" {
		t.Fatalf("staging tenants: %s", res.raw)
	}
}

// TestCheckShapes: the user of a check is a key or {key, attributes}; an
// allowed check says which kind of rule granted it and its path; the
// lookups answer sorted, paged keys; a malformed user is a 4xx.
func TestCheckShapes(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	k := s.envKey("manage:user", "manage:resource", "manage:role", "manage:role_assignment", "check:access")
	s.must(201, req{method: "POST", path: "/v1/resources", key: k, body: map[string]any{"key": "doc", "actions": []string{"read"}}})
	s.must(201, req{method: "POST", path: "/v1/roles", key: k, body: map[string]any{"key": "reader", "permissions": []string{"doc:read"}}})
	for _, u := range []string{"ada", "bob", "cy"} {
		s.must(201, req{method: "POST", path: "/v1/users", key: k, body: map[string]any{"key": u}})
	}
	for _, u := range []string{"cy", "ada"} {
		s.must(201, req{method: "POST", path: "/v1/role-assignments", key: k, body: map[string]any{"user": u, "role": "reader", "tenant": "default"}})
	}
	for _, user := range []any{"ada", map[string]any{"key": "ada", "attributes": map[string]any{"level": 3}}} {
		d := s.must(200, req{method: "POST", path: "/v1/allowed", key: k, body: map[string]any{"user": user, "action": "read", "resource": map[string]any{"type": "doc"}}}).data()
		path, _ := d["path"].([]any)
		if d["allow"] != true || d["via"] != "tenant_role" || len(path) != 1 || path[0].(map[string]any)["kind"] != "tenant_role" {
			t.Fatalf("check as %v: %v", user, d)
		}
	}
	for _, bad := range []any{7, map[string]any{"key": "ada", "extra": 1}, map[string]any{"key": ""}, []any{"ada"}} {
		res := s.do(req{method: "POST", path: "/v1/allowed", key: k, body: map[string]any{"user": bad, "action": "read", "resource": map[string]any{"type": "doc"}}})
		if res.status < 400 || res.status >= 500 {
			t.Errorf("user %v: %d %s", bad, res.status, res.raw)
		}
	}
	res := s.must(200, req{method: "POST", path: "/v1/allowed/users?per_page=1&page=2", key: k, body: map[string]any{"action": "read", "resource": map[string]any{"type": "doc"}}})
	if got := res.list(); len(got) != 1 || got[0] != "cy" {
		t.Fatalf("users page 2: %s", res.raw)
	}
	res = s.must(200, req{method: "POST", path: "/v1/allowed/resources", key: k, body: map[string]any{"user": "ada", "action": "read", "resource": map[string]any{"type": "doc"}}})
	if got := res.list(); len(got) != 0 {
		t.Fatalf("resources without instances: %s", res.raw)
	}
}
