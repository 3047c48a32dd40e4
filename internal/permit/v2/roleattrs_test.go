package permitv2_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// Role attributes (Permit's free metadata of a role, on tenant roles and
// roles of resource types) are stored, returned, replaced by a PATCH that
// gives them, kept by one that does not, filter role lists (attr_<name>)
// and do not change decisions.
func TestPermitRoleAttributes(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	k := s.key
	s.pmust(200, "POST", schema+"/resources", k, map[string]any{"key": "doc", "actions": map[string]any{"read": map[string]any{}, "write": map[string]any{}},
		"roles": map[string]any{"owner": map[string]any{"name": "Owner", "permissions": []string{"write"}, "attributes": map[string]any{"tier": "gold"}}}})
	s.pmust(200, "POST", schema+"/roles", k, map[string]any{"key": "plain", "permissions": []string{"doc:read"}})
	s.pmust(200, "POST", schema+"/resources/doc/roles", k, map[string]any{"key": "plain", "permissions": []string{"read"}})

	attrsOf := func(r pres) string {
		t.Helper()
		a, ok := r.obj()["attributes"].(map[string]any)
		if !ok {
			t.Fatalf("no attributes object in %s", r.raw)
		}
		b, _ := json.Marshal(a)
		return string(b)
	}
	kinds := []struct {
		name, base string // base: the roles' collection
	}{
		{"tenant role", schema + "/roles"},
		{"resource role", schema + "/resources/doc/roles"},
	}
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) {
			role := kind.base + "/editor"
			created := s.pmust(200, "POST", kind.base, k, map[string]any{"key": "editor", "permissions": []string{"doc:read"},
				"attributes": map[string]any{"tier": "gold", "seats": 5, "tags": []any{"a", "b"}, "limits": map[string]any{"max": 3}}})
			want := `{"limits":{"max":3},"seats":5,"tags":["a","b"],"tier":"gold"}`
			steps := []struct {
				what, method, path string
				body               any
				want               string
			}{
				{"read back", "GET", role, nil, want},
				{"a patch without attributes keeps them", "PATCH", role, map[string]any{"description": "edits"}, want},
				{"a null keeps them", "PATCH", role, map[string]any{"attributes": nil}, want},
				{"a patch with attributes replaces them all", "PATCH", role, map[string]any{"attributes": map[string]any{"tier": "silver"}}, `{"tier":"silver"}`},
				{"read after the replace", "GET", role, nil, `{"tier":"silver"}`},
			}
			if got := attrsOf(created); got != want {
				t.Fatalf("created: attributes %s, want %s", got, want)
			}
			for _, st := range steps {
				if got := attrsOf(s.pmust(200, st.method, st.path, k, st.body)); got != st.want {
					t.Fatalf("%s: attributes %s, want %s", st.what, got, st.want)
				}
			}
			// A role without attributes has an empty object, never null.
			if got := attrsOf(s.pmust(200, "GET", kind.base+"/plain", k, nil)); got != "{}" {
				t.Fatalf("a role created without attributes: %s", got)
			}

			// Lists filter on them like tenants' and instances' lists.
			s.pmust(200, "PATCH", kind.base+"/plain", k, map[string]any{"attributes": map[string]any{"tier": "gold", "seats": 5}})
			filters := []struct {
				query string
				want  []string
			}{
				{"", []string{"plain", "editor"}},
				{"?attr_tier=silver", []string{"editor"}},
				{"?attr_tier=gold", []string{"plain"}},
				{"?attr_seats=5", []string{"plain"}},
				{"?attr_tier=gold&attr_seats=6", nil},
				{"?attr_nothing=x", nil},
				{"?attr_tier=silver&search=edit", []string{"editor"}},
				{"?attr_tier=silver&search=plain", nil},
			}
			for _, f := range filters {
				var got []string
				for _, r := range s.pmust(200, "GET", kind.base+f.query, k, nil).arr() {
					if key := r.(map[string]any)["key"].(string); key != "owner" {
						got = append(got, key)
					}
				}
				if strings.Join(got, ",") != strings.Join(f.want, ",") {
					t.Fatalf("list%s: %v, want %v", f.query, got, f.want)
				}
			}
			paged := s.pmust(200, "GET", kind.base+"?attr_seats=5&include_total_count=true&per_page=1", k, nil).obj()
			if paged["total_count"] != float64(1) || len(paged["data"].([]any)) != 1 {
				t.Fatalf("paged and filtered: %v", paged)
			}
		})
	}

	// The role a resource body names keeps its attributes; the type's read
	// shows them.
	if got := s.pmust(200, "GET", schema+"/resources/doc/roles/owner", k, nil).obj()["attributes"].(map[string]any); got["tier"] != "gold" {
		t.Fatalf("a role created with its resource type: attributes %v", got)
	}
	s.pmust(200, "PATCH", schema+"/resources/doc", k, map[string]any{"roles": map[string]any{"owner": map[string]any{"attributes": map[string]any{"tier": "bronze"}}}})
	roles := s.pmust(200, "GET", schema+"/resources/doc", k, nil).obj()["roles"].(map[string]any)
	if got := roles["owner"].(map[string]any)["attributes"].(map[string]any); got["tier"] != "bronze" {
		t.Fatalf("a resource body's role attributes, changed: %v", got)
	}

	// The v1 API reads what /v2 wrote.
	v1 := s.must(200, req{method: "GET", path: "/v1/roles/editor?project=default&environment=development", key: k}).data()
	if a := v1["attributes"].(map[string]any); a["tier"] != "silver" {
		t.Fatalf("v1 role: %v", v1)
	}
	v1 = s.must(200, req{method: "GET", path: "/v1/resources/doc/roles/editor?project=default&environment=development", key: k}).data()
	if a := v1["attributes"].(map[string]any); a["tier"] != "silver" {
		t.Fatalf("v1 resource role: %v", v1)
	}

	// Attributes are metadata: a check does not read them.
	s.pmust(200, "POST", facts+"/users", k, map[string]any{"key": "ada"})
	s.pmust(200, "POST", facts+"/role_assignments", k, map[string]any{"user": "ada", "role": "editor", "tenant": "default"})
	_, envKey := s.newKey("environment", []string{"check:access"}, map[string]any{"project": "default", "environment": "development"})
	if got := s.pmust(200, "POST", "/allowed", envKey, map[string]any{"user": "ada", "action": "read", "resource": map[string]any{"type": "doc", "tenant": "default"}}).obj(); got["allow"] != true {
		t.Fatalf("check with a role that has attributes: %v", got)
	}

	// Attributes must be a JSON object, in a body within the size limit.
	big := strings.Repeat("x", 1<<20)
	bad := []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"string", "POST", schema + "/roles", map[string]any{"key": "r1", "attributes": "gold"}, 422, "INVALID_INPUT"},
		{"array", "POST", schema + "/roles", map[string]any{"key": "r2", "attributes": []any{"gold"}}, 422, "INVALID_INPUT"},
		{"number on a patch", "PATCH", schema + "/roles/editor", map[string]any{"attributes": 7}, 422, "INVALID_INPUT"},
		{"resource role string", "POST", schema + "/resources/doc/roles", map[string]any{"key": "r3", "attributes": "gold"}, 422, "INVALID_INPUT"},
		{"resource role array on a patch", "PATCH", schema + "/resources/doc/roles/editor", map[string]any{"attributes": []any{1}}, 422, "INVALID_INPUT"},
		{"in a resource body", "POST", schema + "/resources", map[string]any{"key": "sheet", "actions": map[string]any{}, "roles": map[string]any{"r": map[string]any{"attributes": true}}}, 422, "INVALID_INPUT"},
		{"over the body limit", "POST", schema + "/roles", map[string]any{"key": "r4", "attributes": map[string]any{"blob": big}}, 413, "INVALID_INPUT"},
		{"resource role over the body limit", "PATCH", schema + "/resources/doc/roles/editor", map[string]any{"attributes": map[string]any{"blob": big}}, 413, "INVALID_INPUT"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			permitError(t, s.pcall(tc.method, tc.path, k, tc.body), tc.status, tc.code)
		})
	}
	// Nothing was written by the refused calls.
	for _, ref := range []string{schema + "/roles/r1", schema + "/roles/r2", schema + "/roles/r4", schema + "/resources/doc/roles/r3", schema + "/resources/sheet"} {
		s.pmust(404, "GET", ref, k, nil)
	}
	if got := attrsOf(s.pmust(200, "GET", schema+"/resources/doc/roles/editor", k, nil)); got != `{"tier":"silver"}` {
		t.Fatalf("a refused patch changed the attributes: %s", got)
	}
}
