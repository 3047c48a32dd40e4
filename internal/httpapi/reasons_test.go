package httpapi_test

import (
	"strings"
	"testing"
)

// Every input huma refuses is answered with the field it concerns and a
// stable reason (required_field_missing, unknown_field, out_of_range,
// invalid_value), whatever words huma's message uses.
func TestValidationReasons(t *testing.T) {
	s := newServer(t)
	const env = "project=default&environment=development"
	tests := []struct {
		name, method, path string
		body               any
		field, reason      string
	}{
		{"missing body property", "POST", "/v1/projects", map[string]any{}, "name", "required_field_missing"},
		{"missing query parameter", "DELETE", "/v1/role-assignments?" + env + "&role=r", nil, "user", "required_field_missing"},
		{"unknown body property", "POST", "/v1/projects", map[string]any{"name": "x", "bogus": 1}, "bogus", "unknown_field"},
		{"too short", "POST", "/v1/projects", map[string]any{"name": ""}, "name", "out_of_range"},
		{"too long", "POST", "/v1/projects", map[string]any{"name": strings.Repeat("n", 201)}, "name", "out_of_range"},
		{"below the minimum", "GET", "/v1/projects?page=0", nil, "page", "out_of_range"},
		{"above the maximum", "GET", "/v1/projects?per_page=101", nil, "per_page", "out_of_range"},
		{"not a number", "GET", "/v1/projects?per_page=many", nil, "per_page", "invalid_value"},
		{"not in the enum", "GET", "/v1/projects?order=sideways", nil, "order", "invalid_value"},
		{"wrong type", "POST", "/v1/projects", map[string]any{"name": 7}, "name", "invalid_value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := s.do(req{method: tc.method, path: tc.path, key: s.key, body: tc.body})
			if res.status != 400 || res.code() != "INVALID_REQUEST" {
				t.Fatalf("%d %s, want 400 INVALID_REQUEST\n%s", res.status, res.code(), res.raw)
			}
			d, _ := res.body["error"].(map[string]any)["details"].(map[string]any)
			if d["field"] != tc.field || d["reason"] != tc.reason {
				t.Fatalf("field %v reason %v, want %s %s\n%s", d["field"], d["reason"], tc.field, tc.reason, res.raw)
			}
		})
	}
}
