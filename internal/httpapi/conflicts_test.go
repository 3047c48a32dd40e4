package httpapi_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestConflictsNameTheFieldAndValue: every write that can collide with an
// existing item answers 409 CONFLICT naming what exists, the field and
// the value (details {field, value, reason: already_exists}), never "an
// item with this key"; on /v2 the same, in Permit's additional_info. Both
// engines name their unique violations differently: both are held to it.
func TestConflictsNameTheFieldAndValue(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			conflictsNameTheFieldAndValue(t, newServerWith(t, engineConfig(t, engine)))
		})
	}
}

func conflictsNameTheFieldAndValue(t *testing.T, s *server) {
	k := s.fineKey()
	ok := func(key, method, path string, body any) map[string]any {
		t.Helper()
		res := s.do(req{method: method, path: path, key: key, body: body})
		if res.status/100 != 2 {
			t.Fatalf("%s %s: %d\n%s", method, path, res.status, res.raw)
		}
		return res.data()
	}
	s.otherOrg("Zeta") // takes the organization key "zeta"
	second := ok(s.key, "POST", "/v1/projects", map[string]any{"key": "second", "name": "Second"})
	ok(s.key, "POST", "/v1/member-roles", map[string]any{"key": "auditor", "name": "Auditor", "scopes": []string{"view:project"}})
	ok(k, "POST", "/v1/users", map[string]any{"key": "ada"})
	ok(k, "POST", "/v1/resources", map[string]any{"key": "document", "actions": []string{"read", "approve"}})
	ok(k, "POST", "/v1/resources", map[string]any{"key": "folder", "actions": []string{"read"}})
	ok(k, "POST", "/v1/roles", map[string]any{"key": "reader", "permissions": []string{"document:read"}})
	ok(k, "POST", "/v1/resources/document/roles", map[string]any{"key": "editor", "permissions": []string{"read"}})
	ok(k, "POST", "/v1/resources/document/relations", map[string]any{"key": "parent", "subject": "folder"})
	ok(k, "POST", "/v1/resource-instances", map[string]any{"resource": "document", "key": "d1"})
	ok(k, "POST", "/v1/resource-instances", map[string]any{"resource": "folder", "key": "f1"})
	ok(k, "POST", "/v1/relationship-tuples", map[string]any{"subject": "folder:f1", "relation": "parent", "object": "document:d1"})
	ok(k, "POST", "/v1/role-assignments", map[string]any{"user": "ada", "role": "reader"})
	ok(k, "POST", "/v1/role-assignments", map[string]any{"user": "ada", "role": "editor", "resource_instance": "document:d1"})
	ok(k, "POST", "/v1/condition-sets", map[string]any{"key": "approvers", "type": "userset", "conditions": map[string]any{"user.dept": map[string]any{"equals": "finance"}}})
	ok(k, "POST", "/v1/condition-sets", map[string]any{"key": "small", "type": "resourceset", "resource": "document", "conditions": map[string]any{"resource.amount": map[string]any{"less-than": 10}}})
	ok(k, "POST", "/v1/set-rules", map[string]any{"user_set": "approvers", "action": "approve", "resource_set": "small"})

	tests := []struct {
		name, method, path, key string
		body                    any
		msg                     string
		details                 map[string]any // besides reason already_exists
	}{
		{"organization", "POST", "/v1/organizations", s.key, map[string]any{"name": "Zeta", "admin_email": "boss@zeta2.example"},
			`an organization with key "zeta" already exists`, map[string]any{"field": "key", "value": "zeta"}},
		{"project", "POST", "/v1/projects", s.key, map[string]any{"key": "default", "name": "Again"},
			`a project with key "default" already exists`, map[string]any{"field": "key", "value": "default"}},
		{"project, by its derived key", "POST", "/v1/projects", s.key, map[string]any{"name": "Second"},
			`a project with key "second" already exists`, map[string]any{"field": "key", "value": "second"}},
		{"project renamed onto another's key", "PATCH", "/v1/projects/" + second["id"].(string), s.key, map[string]any{"key": "default"},
			`a project with key "default" already exists`, map[string]any{"field": "key", "value": "default"}},
		{"environment", "POST", "/v1/projects/default/environments", s.key, map[string]any{"key": "development", "name": "Dev"},
			`an environment of this project with key "development" already exists`, map[string]any{"field": "key", "value": "development"}},
		{"environment renamed onto another's key", "PATCH", "/v1/projects/default/environments/production", s.key, map[string]any{"key": "development"},
			`an environment of this project with key "development" already exists`, map[string]any{"field": "key", "value": "development"}},
		{"member", "POST", "/v1/members", s.key, map[string]any{"email": "Admin@Example.com", "role": "viewer"},
			`a member with email "admin@example.com" already exists`, map[string]any{"field": "email", "value": "admin@example.com"}},
		{"member role", "POST", "/v1/member-roles", s.key, map[string]any{"key": "auditor", "name": "Again", "scopes": []string{"view:project"}},
			`a member role with key "auditor" already exists`, map[string]any{"field": "key", "value": "auditor"}},
		{"user", "POST", "/v1/users", k, map[string]any{"key": "ada"},
			`a user with key "ada" already exists`, map[string]any{"field": "key", "value": "ada"}},
		{"tenant", "POST", "/v1/tenants", k, map[string]any{"key": "default"},
			`a tenant with key "default" already exists`, map[string]any{"field": "key", "value": "default"}},
		{"resource type", "POST", "/v1/resources", k, map[string]any{"key": "document", "actions": []string{"read"}},
			`a resource type with key "document" already exists`, map[string]any{"field": "key", "value": "document"}},
		{"role", "POST", "/v1/roles", k, map[string]any{"key": "reader"},
			`a role with key "reader" already exists`, map[string]any{"field": "key", "value": "reader"}},
		{"resource role", "POST", "/v1/resources/document/roles", k, map[string]any{"key": "editor"},
			`resource type "document" already has a role "editor"`, map[string]any{"field": "key", "value": "editor"}},
		{"relation", "POST", "/v1/resources/document/relations", k, map[string]any{"key": "parent", "subject": "folder"},
			`resource type "document" already has a relation "parent"`, map[string]any{"field": "key", "value": "parent"}},
		{"resource instance", "POST", "/v1/resource-instances", k, map[string]any{"resource": "document", "key": "d1"},
			`resource instance "document:d1" already exists`, map[string]any{"field": "key", "value": "d1"}},
		{"condition set", "POST", "/v1/condition-sets", k, map[string]any{"key": "approvers", "type": "userset", "conditions": map[string]any{"user.a": map[string]any{"equals": 1}}},
			`a condition set with key "approvers" already exists`, map[string]any{"field": "key", "value": "approvers"}},
		{"set rule", "POST", "/v1/set-rules", k, map[string]any{"user_set": "approvers", "action": "approve", "resource_set": "small"},
			`set rule approvers × approve × small already exists`, map[string]any{"user_set": "approvers", "action": "approve", "resource_set": "small"}},
		{"relationship tuple", "POST", "/v1/relationship-tuples", k, map[string]any{"subject": "folder:f1", "relation": "parent", "object": "document:d1"},
			`relationship tuple folder:f1 parent document:d1 already exists`, map[string]any{"subject": "folder:f1", "relation": "parent", "object": "document:d1"}},
		{"role assignment", "POST", "/v1/role-assignments", k, map[string]any{"user": "ada", "role": "reader"},
			`user "ada" already has role "reader" in tenant "default"`, map[string]any{"user": "ada", "role": "reader", "tenant": "default"}},
		{"role assignment on an instance", "POST", "/v1/role-assignments", k, map[string]any{"user": "ada", "role": "editor", "resource_instance": "document:d1"},
			`user "ada" already has role "editor" on "document:d1"`, map[string]any{"user": "ada", "role": "editor", "resource_instance": "document:d1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := s.do(req{method: tc.method, path: tc.path, key: tc.key, body: tc.body})
			if res.status != 409 || res.code() != "CONFLICT" {
				t.Fatalf("%d %s, want 409 CONFLICT\n%s", res.status, res.code(), res.raw)
			}
			e := res.body["error"].(map[string]any)
			if e["message"] != tc.msg {
				t.Errorf("message %q, want %q", e["message"], tc.msg)
			}
			d, _ := e["details"].(map[string]any)
			if d["reason"] != "already_exists" {
				t.Errorf("details %v: no reason already_exists", d)
			}
			for name, want := range tc.details {
				if d[name] != want {
					t.Errorf("details.%s = %v, want %v (%v)", name, d[name], want, d)
				}
			}
		})
	}

	// Permit's API answers the same, in its shape.
	const f = "/v2/facts/default/development"
	for _, c := range []struct{ path, key, msg string }{
		{f + "/users", "ada", `a user with key "ada" already exists`},
		{f + "/tenants", "default", `a tenant with key "default" already exists`},
		{"/v2/schema/default/development/roles", "reader", `a role with key "reader" already exists`},
		{"/v2/schema/default/development/resources", "document", `a resource type with key "document" already exists`},
	} {
		body := map[string]any{"key": c.key, "name": c.key}
		if strings.HasSuffix(c.path, "/resources") {
			body["actions"] = map[string]any{"read": map[string]any{}}
		}
		res := s.do(req{method: "POST", path: c.path, key: s.key, body: body})
		info, _ := res.body["additional_info"].(map[string]any)
		if res.status != 409 || res.body["error_code"] != "DUPLICATE_ENTITY" || res.body["message"] != c.msg ||
			info["field"] != "key" || info["value"] != c.key {
			t.Errorf("POST %s: %d\n%s", c.path, res.status, res.raw)
		}
	}
	// A bulk create names the user and keeps the field.
	res := s.do(req{method: "POST", path: f + "/bulk/users", key: s.key, body: map[string]any{"operations": []any{
		map[string]any{"key": "grace"}, map[string]any{"key": "ada"}}}})
	info, _ := res.body["additional_info"].(map[string]any)
	if res.status != 409 || res.body["message"] != `user 1 ("ada"): a user with key "ada" already exists` ||
		info["field"] != "key" || info["value"] != "ada" || fmt.Sprint(info["index"]) != "1" {
		t.Errorf("bulk: %d\n%s", res.status, res.raw)
	}
}

// TestEmailsAreCheckedOnEveryPath: every way of setting a user's (or a
// member's) email refuses one that is not an address, with the field
// named: v1 create and update, Permit's create, replace, update and bulk
// writes, imports (the bad row reported with its line, nothing imported),
// members and a new organization's admin. Nothing bad is stored.
func TestEmailsAreCheckedOnEveryPath(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	k := s.envKey("view:user", "manage:user")
	s.must(201, req{method: "POST", path: "/v1/users", key: k, body: map[string]any{"key": "ada", "email": "ada@acme.example"}})
	const f = "/v2/facts/default/development"
	tests := []struct {
		name, method, path, key string
		body                    any
		ct                      string // the body's content type when not JSON
		status                  int
	}{
		{"v1 create", "POST", "/v1/users", k, map[string]any{"key": "bob", "email": "notanemail"}, "", 400},
		{"v1 update", "PATCH", "/v1/users/ada", k, map[string]any{"email": "notanemail"}, "", 400},
		{"v2 create", "POST", f + "/users", s.key, map[string]any{"key": "bob", "email": "notanemail"}, "", 422},
		{"v2 replace", "PUT", f + "/users/ada", s.key, map[string]any{"email": "notanemail"}, "", 422},
		{"v2 update", "PATCH", f + "/users/ada", s.key, map[string]any{"email": "notanemail"}, "", 422},
		{"v2 bulk create", "POST", f + "/bulk/users", s.key, map[string]any{"operations": []any{map[string]any{"key": "bob", "email": "notanemail"}}}, "", 422},
		{"v2 bulk replace", "PUT", f + "/bulk/users", s.key, map[string]any{"operations": []any{map[string]any{"key": "ada", "email": "notanemail"}}}, "", 422},
		{"CSV import", "POST", "/v1/jobs/import" + devQ + "&type=users", s.key, "key,email\nbob,bob@acme.example\nada,notanemail\n", "text/csv", 400},
		{"JSON Lines import", "POST", "/v1/jobs/import" + devQ, s.key, `{"type":"user","key":"ada","email":"notanemail"}`, "application/x-ndjson", 400},
		{"member", "POST", "/v1/members", s.key, map[string]any{"email": "notanemail", "role": "viewer"}, "", 400},
		{"organization admin", "POST", "/v1/organizations", s.key, map[string]any{"name": "Zeta", "admin_email": "notanemail"}, "", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := req{method: tc.method, path: tc.path, key: tc.key, body: tc.body}
			if tc.ct != "" {
				r.header = map[string]string{"Content-Type": tc.ct}
			}
			res := s.do(r)
			// (The schema of members and organizations checks the format
			// first, in its own words, without quoting the value.)
			schema := tc.name == "member" || tc.name == "organization admin"
			if res.status != tc.status || (!schema && !strings.Contains(res.raw, `\"notanemail\" is not a valid address`)) {
				t.Fatalf("%d, want %d naming the address\n%s", res.status, tc.status, res.raw)
			}
			var field any
			switch {
			case tc.status == 422: // Permit's shape: detail[0].loc = [body, field]
				d, _ := res.body["detail"].([]any)
				if len(d) > 0 {
					loc, _ := d[0].(map[string]any)["loc"].([]any)
					if len(loc) > 0 {
						field = loc[len(loc)-1]
					}
				}
			case tc.ct != "": // an import: each bad row with its line and field
				e, _ := res.body["error"].(map[string]any)["details"].(map[string]any)["errors"].([]any)
				if len(e) != 1 {
					t.Fatalf("row errors: %s", res.raw)
				}
				field = e[0].(map[string]any)["field"]
			default:
				field = res.body["error"].(map[string]any)["details"].(map[string]any)["field"]
			}
			want := "email"
			if tc.name == "organization admin" {
				want = "admin_email"
			}
			if field != want {
				t.Fatalf("field %v, want %s\n%s", field, want, res.raw)
			}
		})
	}
	// Nothing was stored: ada keeps her address, bob does not exist.
	if u := s.must(200, req{method: "GET", path: "/v1/users/ada", key: k}).data(); u["email"] != "ada@acme.example" {
		t.Fatalf("ada: %v", u)
	}
	s.must(404, req{method: "GET", path: "/v1/users/bob", key: k})
}
