package httpapi_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestUnknownQueryParametersAreIgnored: a query parameter an operation does
// not take (a cache-buster, a tool's own, a misspelt one) is ignored and
// listed in meta.ignored_params, sorted, on every kind of operation (a
// list, a get, a create, a check, which the fast check path hands to the
// general handlers because of its query string); an unknown body field is
// still a 400.
func TestUnknownQueryParametersAreIgnored(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	k := s.envKey("view:user", "manage:user", "view:resource", "manage:resource", "view:role", "manage:role",
		"manage:role_assignment", "check:access")
	s.must(201, req{method: "POST", path: "/v1/resources", key: k, body: map[string]any{"key": "document", "actions": []string{"read"}}})
	s.must(201, req{method: "POST", path: "/v1/roles", key: k, body: map[string]any{"key": "reader", "permissions": []string{"document:read"}}})
	s.must(201, req{method: "POST", path: "/v1/users", key: k, body: map[string]any{"key": "ada"}})
	s.must(201, req{method: "POST", path: "/v1/role-assignments", key: k, body: map[string]any{"user": "ada", "role": "reader"}})
	const env = "project=default&environment=development"
	check := map[string]any{"user": "ada", "action": "read", "resource": map[string]any{"type": "document"}}

	tests := []struct {
		name, method, path, key string
		body                    any
		want                    int
		ignored                 string // fmt of meta.ignored_params; "" when absent
	}{
		{"list", "GET", "/v1/users?_=123&foo=bar", k, nil, 200, "[_ foo]"},
		{"list, declared parameters not listed", "GET", "/v1/users?" + env + "&foo=bar&_=123&page=1", s.key, nil, 200, "[_ foo]"},
		{"get", "GET", "/v1/users/ada?_=123&foo=bar", k, nil, 200, "[_ foo]"},
		{"create", "POST", "/v1/users?_=123&foo=bar", k, map[string]any{"key": "grace"}, 201, "[_ foo]"},
		{"check", "POST", "/v1/allowed?_=123&foo=bar", k, check, 200, "[_ foo]"},
		{"check, declared parameters only", "POST", "/v1/allowed?" + env, s.key, check, 200, ""},
		{"a parameter twice is listed once", "GET", "/v1/users/ada?foo=1&foo=2", k, nil, 200, "[foo]"},
		{"a misspelt parameter is ignored too", "GET", "/v1/users?per_pag=1", k, nil, 200, "[per_pag]"},
		{"no query", "GET", "/v1/users", k, nil, 200, ""},
		// A declared parameter of one value given twice: the operation
		// would read the first and drop the rest without a word.
		{"a declared parameter twice", "GET", "/v1/users?per_page=5&per_page=200", k, nil, 400, ""},
		{"a declared parameter twice on a DELETE", "DELETE", "/v1/role-assignments?user=ada&role=reader&role=writer", k, nil, 400, ""},
		{"an error lists them too", "GET", "/v1/users/ghost?_=1", k, nil, 404, "[_]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := s.must(tc.want, req{method: tc.method, path: tc.path, key: tc.key, body: tc.body})
			got, present := res.meta()["ignored_params"]
			switch {
			case tc.ignored == "" && present:
				t.Fatalf("meta.ignored_params %v, want none\n%s", got, res.raw)
			case tc.ignored != "" && fmt.Sprint(got) != tc.ignored:
				t.Fatalf("meta.ignored_params %v, want %s\n%s", got, tc.ignored, res.raw)
			}
			// (The fast check path never lists ignored parameters: a check
			// with them was answered by the general handlers.)
			if tc.name == "check" && res.data()["allow"] != true {
				t.Fatalf("check: %s", res.raw)
			}
		})
	}
	// The misspelt per_page changed nothing: the default page size holds.
	if res := s.must(200, req{method: "GET", path: "/v1/users?per_pag=1", key: k}); res.meta()["per_page"] != float64(20) || len(res.list()) != 2 {
		t.Fatalf("per_pag: %s", res.raw)
	}
	// A declared parameter keeps being checked.
	if res := s.do(req{method: "GET", path: "/v1/users?per_page=0&_=1", key: k}); res.status != 400 {
		t.Fatalf("per_page=0: %d\n%s", res.status, res.raw)
	}
	// A DELETE refuses a parameter it does not take: a misspelt tenant
	// filter must not unassign the default tenant's role instead.
	s.must(201, req{method: "POST", path: "/v1/tenants?" + env, key: s.key, body: map[string]any{"key": "acme"}})
	s.must(201, req{method: "POST", path: "/v1/role-assignments", key: k, body: map[string]any{"user": "ada", "role": "reader", "tenant": "acme"}})
	del := s.do(req{method: "DELETE", path: "/v1/role-assignments?user=ada&role=reader&tenat=acme", key: k})
	if del.status != 400 || !strings.Contains(del.raw, "tenat") {
		t.Fatalf("DELETE with a misspelt filter: %d\n%s", del.status, del.raw)
	}
	if res := s.must(200, req{method: "GET", path: "/v1/role-assignments?user=ada&" + env, key: s.key}); len(res.list()) != 2 {
		t.Fatalf("the refused DELETE removed an assignment: %s", res.raw)
	}
	s.must(204, req{method: "DELETE", path: "/v1/role-assignments?user=ada&role=reader&tenant=acme", key: k})
	// Unknown body fields are still refused.
	res := s.do(req{method: "POST", path: "/v1/users?_=1", key: k, body: map[string]any{"key": "lin", "emial": "lin@example.com"}})
	if res.status != 400 || res.code() != "INVALID_REQUEST" {
		t.Fatalf("unknown body field: %d\n%s", res.status, res.raw)
	}
	if d, _ := res.body["error"].(map[string]any)["details"].(map[string]any); d["field"] != "emial" || d["reason"] != "unknown_field" {
		t.Fatalf("unknown body field details: %s", res.raw)
	}
}
