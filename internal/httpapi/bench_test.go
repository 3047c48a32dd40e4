package httpapi_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkCheckHandler measures POST /v1/allowed through the whole handler
// stack (request id, auth with a cached key, scope check, huma parsing and
// validation, the engine, the envelope), without the network.
// The sub-benchmarks differ only in the environment's decision log setting:
// the ratio of full to off is the recording overhead per check.
func BenchmarkCheckHandler(b *testing.B) {
	for _, mode := range []string{"off", "full"} {
		b.Run("decision_log="+mode, func(b *testing.B) { benchCheckHandler(b, mode) })
	}
}

func benchCheckHandler(b *testing.B, mode string) {
	t := &testing.T{}
	s := newServer(t)
	s.t = t
	key := s.envKey("manage:user", "manage:resource", "manage:role", "manage:role_assignment", "check:access", "manage:settings")
	s.setDecisionLog(key, mode, 0)
	s.must(201, req{method: "POST", path: "/v1/resources", key: key, body: map[string]any{"key": "doc", "actions": []string{"read"}}})
	s.must(201, req{method: "POST", path: "/v1/roles", key: key, body: map[string]any{"key": "reader", "permissions": []string{"doc:read"}}})
	s.must(201, req{method: "POST", path: "/v1/users", key: key, body: map[string]any{"key": "ada"}})
	s.must(201, req{method: "POST", path: "/v1/role-assignments", key: key, body: map[string]any{"user": "ada", "role": "reader"}})
	h := s.app.Handler()
	body := []byte(`{"user":"ada","action":"read","resource":{"type":"doc"}}`)
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/v1/allowed", bytes.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+key)
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
