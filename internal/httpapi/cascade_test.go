package httpapi_test

import (
	"slices"
	"strings"
	"testing"
)

// One rule for every delete that something else refers to,
// on v1 and /v2 alike: a 409 listing the referrers, unless ?cascade=true,
// which removes the references in the same transaction (each with its
// event) so that nothing stale is left to come back.
func TestDeletesInUse(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	k := s.envKey("view:user", "manage:user", "view:tenant", "manage:tenant", "view:resource", "manage:resource",
		"view:role", "manage:role", "view:role_assignment", "manage:role_assignment", "check:access")
	wh, _ := s.newWebhook("https://hooks.example/in", "role.updated", "role_assignment.deleted")
	v2 := "/v2/schema/" + s.projID + "/" + s.devID
	seed := func() {
		t.Helper()
		for _, r := range []struct {
			method, path string
			body         any
		}{
			{"POST", "/v1/resources", map[string]any{"key": "doc", "actions": []string{"read", "write"}}},
			{"POST", "/v1/resources", map[string]any{"key": "note", "actions": []string{"read"}}},
			{"POST", "/v1/roles", map[string]any{"key": "viewer", "permissions": []string{"doc:read", "note:read"}}},
			{"POST", "/v1/roles", map[string]any{"key": "editor", "permissions": []string{"doc:write"}, "extends": []string{"viewer"}}},
			{"POST", "/v1/users", map[string]any{"key": "ada"}},
			{"POST", "/v1/role-assignments", map[string]any{"user": "ada", "role": "viewer"}},
		} {
			s.must(201, req{method: r.method, path: r.path, key: k, body: r.body})
		}
	}
	clear := func() {
		t.Helper()
		for _, p := range []string{"/v1/roles/editor?cascade=true", "/v1/roles/viewer?cascade=true", "/v1/resources/doc?cascade=true", "/v1/resources/note?cascade=true", "/v1/users/ada"} {
			if res := s.do(req{method: "DELETE", path: p, key: k}); res.status != 204 && res.status != 404 {
				t.Fatalf("clear %s: %d %s", p, res.status, res.raw)
			}
		}
	}
	role := func(key string) map[string]any {
		return s.must(200, req{method: "GET", path: "/v1/roles/" + key, key: k}).data()
	}
	has := func(list any, v string) bool {
		for _, x := range list.([]any) {
			if x == v {
				return true
			}
		}
		return false
	}
	conflict := func(res resp, referrer string) {
		t.Helper()
		if res.status != 409 || !strings.Contains(res.raw, referrer) || !strings.Contains(res.raw, "cascade=true") {
			t.Fatalf("a delete in use: %d, want 409 naming %q\n%s", res.status, referrer, res.raw)
		}
	}
	for _, api := range []string{"v1", "v2"} {
		seed()
		path := func(v1, permit string) string {
			if api == "v1" {
				return v1
			}
			return v2 + permit
		}
		// A resource type named by roles' permissions.
		conflict(s.do(req{method: "DELETE", path: path("/v1/resources/doc", "/resources/doc"), key: k}), "viewer")
		if !has(role("viewer")["permissions"], "doc:read") {
			t.Fatal("a refused delete changed a role")
		}
		s.must(204, req{method: "DELETE", path: path("/v1/resources/doc?cascade=true", "/resources/doc?cascade=true"), key: k})
		if has(role("viewer")["permissions"], "doc:read") || has(role("editor")["permissions"], "doc:write") {
			t.Fatalf("%s: cascade left permissions on a deleted type: %v %v", api, role("viewer"), role("editor"))
		}
		// Re-creating the type does not bring old grants back.
		s.must(201, req{method: "POST", path: "/v1/resources", key: k, body: map[string]any{"key": "doc", "actions": []string{"read"}}})
		if has(role("viewer")["permissions"], "doc:read") {
			t.Fatalf("%s: re-creating a deleted type restored old grants", api)
		}
		allowed := func(typ, action string) bool {
			return s.must(200, req{method: "POST", path: "/v1/allowed", key: k,
				body: map[string]any{"user": "ada", "action": action, "resource": map[string]any{"type": typ}}}).data()["allow"] == true
		}
		if !allowed("note", "read") || allowed("doc", "read") {
			t.Fatalf("%s: checks after the cascade", api)
		}
		// An action named by roles' permissions.
		if api == "v1" {
			conflict(s.do(req{method: "PATCH", path: "/v1/resources/note", key: k, body: map[string]any{"actions": []string{"write"}}}), "viewer")
			s.must(200, req{method: "PATCH", path: "/v1/resources/note?cascade=true", key: k, body: map[string]any{"actions": []string{"write"}}})
		} else {
			conflict(s.do(req{method: "DELETE", path: v2 + "/resources/note/actions/read", key: k}), "viewer")
			s.must(204, req{method: "DELETE", path: v2 + "/resources/note/actions/read?cascade=true", key: k})
		}
		if has(role("viewer")["permissions"], "note:read") {
			t.Fatalf("%s: a removed action's permission is still on a role", api)
		}
		// A role that is extended and assigned.
		res := s.do(req{method: "DELETE", path: path("/v1/roles/viewer", "/roles/viewer"), key: k})
		conflict(res, "editor")
		if !strings.Contains(res.raw, "ada") {
			t.Errorf("%s: the conflict does not list the assignment: %s", api, res.raw)
		}
		s.must(204, req{method: "DELETE", path: path("/v1/roles/viewer?cascade=true", "/roles/viewer?cascade=true"), key: k})
		if ext := role("editor")["extends"]; ext != nil && has(ext, "viewer") {
			t.Fatalf("%s: cascade left extends on a deleted role", api)
		}
		if n := len(s.must(200, req{method: "GET", path: "/v1/role-assignments", key: k}).list()); n != 0 {
			t.Fatalf("%s: cascade left %d assignments", api, n)
		}
		// Later role edits work (no stale entries to trip on).
		s.must(200, req{method: "PATCH", path: "/v1/roles/editor", key: k, body: map[string]any{"name": "Editor"}})
		clear()
	}
	// Every removed reference sent its event.
	var types []string
	for _, d := range s.must(200, req{method: "GET", path: "/v1/webhooks/" + wh + "/deliveries?per_page=100", key: s.key}).list() {
		types = append(types, d.(map[string]any)["event"].(string))
	}
	if !slices.Contains(types, "role.updated") || !slices.Contains(types, "role_assignment.deleted") {
		t.Errorf("cascade events: %v", types)
	}
}
