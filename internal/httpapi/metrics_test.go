package httpapi_test

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/httpapi"
	"github.com/prometheus/client_golang/prometheus"
)

// counter is the value of the series of name with labels in reg.
func counter(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// TestFastCheckIsMeasured: a check the fast path answers counts in the
// request metrics and the checks by decision exactly as one the general
// handlers answer, under the same route, on v1 and on Permit's /allowed.
func TestFastCheckIsMeasured(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	k := s.envKey("manage:user", "manage:resource", "manage:role", "manage:role_assignment", "check:access")
	s.must(201, req{method: "POST", path: "/v1/resources", key: k, body: map[string]any{"key": "doc", "actions": []string{"read", "write"}}})
	s.must(201, req{method: "POST", path: "/v1/roles", key: k, body: map[string]any{"key": "reader", "permissions": []string{"doc:read"}}})
	s.must(201, req{method: "POST", path: "/v1/users", key: k, body: map[string]any{"key": "ada"}})
	s.must(201, req{method: "POST", path: "/v1/role-assignments", key: k, body: map[string]any{"user": "ada", "role": "reader"}})
	reg := s.app.Metrics
	for _, c := range []struct {
		path, route, body, decision string
	}{
		{"/v1/allowed", "POST /v1/allowed", `{"user":"ada","action":"read","resource":{"type":"doc"}}`, "allow"},
		{"/v1/allowed", "POST /v1/allowed", `{"user":"ada","action":"write","resource":{"type":"doc"}}`, "deny"},
		{"/allowed", "POST /allowed", `{"user":{"key":"ada"},"action":"read","resource":{"type":"doc","tenant":"default"}}`, "allow"},
	} {
		requests := map[string]string{"route": c.route, "method": "POST", "code": "2xx"}
		decision := map[string]string{"decision": c.decision}
		for _, via := range []struct {
			name string
			body string
			fast bool
		}{{"fast", c.body, true}, {"general", slowTwin(t, c.body), false}} {
			n, d, fast := counter(t, reg, "gatehouse_http_requests_total", requests), counter(t, reg, "gatehouse_checks_total", decision), httpapi.FastAnswered()
			s.must(200, req{method: "POST", path: c.path, key: k, body: via.body})
			// Other tests answer checks too: the process-wide count only
			// shows this one was answered fast (or may have been).
			if via.fast && httpapi.FastAnswered() == fast {
				t.Fatalf("%s %s: not answered by the fast path", c.path, via.body)
			}
			if got := counter(t, reg, "gatehouse_http_requests_total", requests); got != n+1 {
				t.Errorf("%s %s (%s path): %s went %v → %v, want +1", c.path, via.body, via.name, c.route, n, got)
			}
			if got := counter(t, reg, "gatehouse_checks_total", decision); got != d+1 {
				t.Errorf("%s %s (%s path): checks %s went %v → %v, want +1", c.path, via.body, via.name, c.decision, d, got)
			}
		}
	}
}
