package httpapi_test

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

// decisionWorld sets up an environment with alice (reader in default) and
// an environment key that may check, read the log and change settings.
func decisionWorld(t *testing.T) (*server, string, string) {
	s := newServer(t)
	keyID, key := s.newKey("environment", []string{"check:access", "view:log", "manage:user", "manage:resource", "manage:role",
		"manage:role_assignment", "manage:settings", "view:settings"}, map[string]any{"project": s.projID, "environment": s.devID})
	for _, c := range []struct {
		path string
		body any
	}{
		{"/v1/resources", map[string]any{"key": "document", "actions": []string{"read", "write"}}},
		{"/v1/roles", map[string]any{"key": "reader", "permissions": []string{"document:read"}}},
		{"/v1/users", map[string]any{"key": "alice"}},
		{"/v1/role-assignments", map[string]any{"user": "alice", "role": "reader"}},
	} {
		s.must(201, req{method: "POST", path: c.path, key: key, body: c.body})
	}
	return s, key, keyID
}

func (s *server) setDecisionLog(key string, mode string, rate float64) {
	s.must(200, req{method: "PATCH", path: fmt.Sprintf("/v1/projects/%s/environments/%s/settings", s.projID, s.devID), key: key,
		body: map[string]any{"decision_log": mode, "decision_log_sample_rate": rate}})
}

func checkBody(user, action string) map[string]any {
	return map[string]any{"user": user, "action": action, "resource": map[string]any{"type": "document", "key": "doc-1"}}
}

// waitDecisions waits until the log holds want entries matching query.
func (s *server) waitDecisions(key, query string, want int) []any {
	s.t.Helper()
	var res resp
	testwait.Until(s.t, 30*time.Second, fmt.Sprintf("decisions?%s holding %d entries", query, want), func() bool {
		res = s.must(200, req{method: "GET", path: "/v1/decisions?per_page=100&" + query, key: key})
		return int(res.meta()["total_items"].(float64)) >= want
	})
	if n := int(res.meta()["total_items"].(float64)); n > want {
		s.t.Fatalf("decisions?%s: %d entries, want %d\n%s", query, n, want, res.raw)
	}
	return res.list()
}

// nothingRecorded fails the test if the server's decision recorder was
// handed anything: a check hands its decision over before it answers, so
// nothing can come later (no need to wait out the recorder's flushes).
func (s *server) nothingRecorded() {
	s.t.Helper()
	if st := s.app.Decisions.Stats(); st.Accepted != 0 || st.Dropped != 0 {
		s.t.Fatalf("the recorder was handed decisions: %+v", st)
	}
}

// TestDecisionLog: checks are recorded as the environment's setting says,
// with who asked and why the answer was what it was, and are queryable.
func TestDecisionLog(t *testing.T) {
	t.Parallel()
	s, key, keyID := decisionWorld(t)

	// Off by default: nothing is recorded.
	s.must(200, req{method: "POST", path: "/v1/allowed", key: key, body: checkBody("alice", "read")})
	s.nothingRecorded()
	s.waitDecisions(key, "", 0)

	s.setDecisionLog(key, "full", 0)
	one := s.must(200, req{method: "POST", path: "/v1/allowed", key: key, body: checkBody("alice", "read")})
	bulk := s.must(200, req{method: "POST", path: "/v1/allowed/bulk", key: key, body: map[string]any{"checks": []any{
		checkBody("alice", "write"), checkBody("mallory", "read")}}})
	all := s.waitDecisions(key, "order=asc", 3)

	first := all[0].(map[string]any)
	want := map[string]any{"user": "alice", "action": "read", "resource_type": "document", "resource_key": "doc-1", "tenant": "default",
		"allow": true, "reason": "granted", "role": "reader", "source": "api", "key_id": keyID, "environment_id": s.devID,
		"project_id": s.projID, "organization_id": s.orgID, "request_id": one.header.Get("X-Request-Id")}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("first decision %s = %v, want %v", k, first[k], v)
		}
	}

	tests := []struct {
		query string
		want  int
	}{
		{"user=alice", 2},
		{"user=mallory", 1},
		{"allow=true", 1},
		{"allow=false", 2},
		{"reason=unknown_user", 1},
		{"reason=not_granted", 1},
		{"action=write", 1},
		{"resource=document", 3},
		{"resource=invoice", 0},
		{"role=reader", 1},
		{"source=pdp", 0},
		{"request_id=" + bulk.header.Get("X-Request-Id"), 2},
		{"since=" + url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339)), 0},
		{"until=" + url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339)), 3},
		{"sort=user&order=desc", 3},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) { s.waitDecisions(key, tc.query, tc.want) })
	}
	if newest := s.waitDecisions(key, "", 3)[0].(map[string]any); newest["user"] == "alice" && newest["action"] == "read" {
		t.Error("the default order is not newest first")
	}

	// One entry by id; not from another environment.
	id := first["id"].(string)
	got := s.must(200, req{method: "GET", path: "/v1/decisions/" + id, key: key}).data()
	if got["request_id"] != first["request_id"] || got["allow"] != true {
		t.Fatalf("get decision: %v", got)
	}
	s.must(404, req{method: "GET", path: "/v1/decisions/" + id + "?project=" + s.projID + "&environment=" + s.prodID, key: s.key})
	s.must(200, req{method: "GET", path: "/v1/decisions/" + id + "?project=" + s.projID + "&environment=" + s.devID, key: s.key})

	// A key without view:log cannot read it.
	_, checker := s.newKey("environment", []string{"check:access"}, map[string]any{"project": s.projID, "environment": s.devID})
	s.must(403, req{method: "GET", path: "/v1/decisions", key: checker})
}

// TestDecisionLogSampling: sampled mode records about its rate of checks;
// rate 0 records none.
func TestDecisionLogSampling(t *testing.T) {
	t.Parallel()
	s, key, _ := decisionWorld(t)
	s.setDecisionLog(key, "sampled", 0)
	checks := make([]any, 1000)
	for i := range checks {
		checks[i] = checkBody("alice", "read")
	}
	s.must(200, req{method: "POST", path: "/v1/allowed/bulk", key: key, body: map[string]any{"checks": checks}})
	s.nothingRecorded()
	s.waitDecisions(key, "", 0)

	s.setDecisionLog(key, "sampled", 0.25)
	s.must(200, req{method: "POST", path: "/v1/allowed/bulk", key: key, body: map[string]any{"checks": checks}})
	// Wait until the recorder has written everything it accepted.
	testwait.Progress(t, 30*time.Second, "the recorder writing what it accepted", func() (any, bool) {
		st := s.app.Decisions.Stats()
		return st, st.Written > 0 && st.Written+st.Failed >= st.Accepted
	})
	res := s.must(200, req{method: "GET", path: "/v1/decisions?per_page=1", key: key})
	// Binomial(1000, 0.25): mean 250, standard deviation under 14.
	if n := res.meta()["total_items"].(float64); n < 150 || n > 350 {
		t.Fatalf("sampled at 0.25: %v of 1000 recorded", n)
	}
}
