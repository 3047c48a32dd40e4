package httpapi_test

import (
	"context"
	"fmt"
	"testing"
)

// TestChecksAreCountedNotLogged: by default a check costs no API log row
// but is counted per key; an environment that turns api_log_checks on
// logs them; refused checks are logged either way; Permit's /allowed is
// counted the same.
func TestChecksAreCountedNotLogged(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	_, reader := s.newKey("organization", []string{"view:log", "manage:settings", "view:settings"}, nil)
	envKeyID, envKey := s.newKey("environment", []string{"manage:user", "manage:resource", "manage:role", "manage:role_assignment", "check:access", "view:log", "view:user"},
		map[string]any{"project": s.projID, "environment": s.devID})
	_, noScope := s.newKey("environment", []string{"view:user"}, map[string]any{"project": s.projID, "environment": s.devID})
	s.must(201, req{method: "POST", path: "/v1/resources", key: envKey, body: map[string]any{"key": "doc", "actions": []string{"read", "write"}}})
	s.must(201, req{method: "POST", path: "/v1/roles", key: envKey, body: map[string]any{"key": "reader", "permissions": []string{"doc:read"}}})
	s.must(201, req{method: "POST", path: "/v1/users", key: envKey, body: map[string]any{"key": "ada"}})
	s.must(201, req{method: "POST", path: "/v1/role-assignments", key: envKey, body: map[string]any{"user": "ada", "role": "reader"}})

	check := func(action string) map[string]any {
		return map[string]any{"user": "ada", "action": action, "resource": map[string]any{"type": "doc"}}
	}
	s.must(200, req{method: "POST", path: "/v1/allowed", key: envKey, body: check("read")})
	s.must(200, req{method: "POST", path: "/v1/allowed", key: envKey, body: check("write")})
	s.must(200, req{method: "POST", path: "/v1/allowed/bulk", key: envKey, body: map[string]any{"checks": []any{check("read"), check("read"), check("write")}}})
	s.must(200, req{method: "POST", path: "/allowed", key: envKey, body: map[string]any{"user": map[string]any{"key": "ada"}, "action": "read", "resource": map[string]any{"type": "doc"}}})
	s.must(403, req{method: "POST", path: "/v1/allowed", key: noScope, body: check("read")})
	s.must(400, req{method: "POST", path: "/v1/allowed", key: envKey, body: map[string]any{"user": "ada"}})
	// A later management call: once it is in the log, so would the checks
	// be (one writer, in order).
	s.must(200, req{method: "GET", path: "/v1/users", key: envKey, header: map[string]string{"X-Request-Id": "after-checks"}})
	s.waitLogs(reader, "request_id=after-checks", 1)
	s.waitLogs(reader, "path=/v1/allowed/bulk", 0)
	s.waitLogs(reader, "path=/allowed", 0)
	failed := s.waitLogs(reader, "path=/v1/allowed", 2) // the 403 and the 400
	for _, c := range failed {
		if st := c.(map[string]any)["status"].(float64); st < 400 {
			t.Fatalf("a successful check was logged: %v", c)
		}
	}

	// Counted: 6 checks by envKey, 4 allowed (the refused ones are not checks).
	if err := s.app.FlushUsage(context.Background(), s.app.LogDB.LogStore()); err != nil {
		t.Fatal(err)
	}
	u := s.must(200, req{method: "GET", path: "/v1/usage/checks?interval=minute&group_by=key", key: envKey}).list()
	var allowed, denied float64
	for _, b := range u {
		m := b.(map[string]any)
		if m["key_id"] != envKeyID {
			t.Fatalf("usage of another key: %v", m)
		}
		allowed += m["allowed"].(float64)
		denied += m["denied"].(float64)
	}
	if allowed != 4 || denied != 2 {
		t.Fatalf("usage: allowed %v denied %v, want 4 and 2: %v", allowed, denied, u)
	}
	// Counts add up across flushes, and a key filter narrows them.
	s.must(200, req{method: "POST", path: "/v1/allowed", key: envKey, body: check("read")})
	if err := s.app.FlushUsage(context.Background(), s.app.LogDB.LogStore()); err != nil {
		t.Fatal(err)
	}
	u = s.must(200, req{method: "GET", path: "/v1/usage/checks?interval=day&key_id=" + envKeyID, key: envKey}).list()
	if len(u) != 1 || u[0].(map[string]any)["checks"] != float64(7) {
		t.Fatalf("usage by day: %v", u)
	}
	u = s.must(200, req{method: "GET", path: "/v1/usage/checks?key_id=nobody", key: envKey}).list()
	if len(u) != 0 {
		t.Fatalf("usage of an unknown key: %v", u)
	}
	s.must(400, req{method: "GET", path: "/v1/usage/checks?interval=minute&since=2020-01-01T00:00:00Z", key: envKey})
	s.must(403, req{method: "GET", path: "/v1/usage/checks", key: noScope})

	// Turned on: checks are logged too.
	s.must(200, req{method: "PATCH", path: fmt.Sprintf("/v1/projects/%s/environments/%s/settings", s.projID, s.devID), key: reader,
		body: map[string]any{"api_log_checks": true}})
	s.must(200, req{method: "POST", path: "/v1/allowed", key: envKey, body: check("read"), header: map[string]string{"X-Request-Id": "logged-check"}})
	s.must(200, req{method: "POST", path: "/allowed", key: envKey, header: map[string]string{"X-Request-Id": "logged-permit-check"},
		body: map[string]any{"user": map[string]any{"key": "ada"}, "action": "read", "resource": map[string]any{"type": "doc"}}})
	s.waitLogs(reader, "request_id=logged-check", 1)
	s.waitLogs(reader, "request_id=logged-permit-check", 1)
	got := s.must(200, req{method: "GET", path: fmt.Sprintf("/v1/projects/%s/environments/%s/settings", s.projID, s.devID), key: reader}).data()
	if got["api_log_checks"] != true {
		t.Fatalf("settings: %v", got)
	}
}
