package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/httpapi"
)

// slowTwin is the same check body with the user key written with a JSON
// escape: the same request to every JSON reader, but one the fast check
// path leaves to the general handlers.
func slowTwin(t *testing.T, body string) string {
	t.Helper()
	i := strings.Index(body, `"ada"`)
	if i < 0 {
		t.Fatalf("no user ada in %s", body)
	}
	return body[:i] + `"ad\u0061"` + body[i+5:]
}

// answerMeta finds the parts of a v1 answer that differ from call to call.
var answerMeta = regexp.MustCompile(`"(request_id|timestamp)":"[^"]*"`)

// TestFastCheckAnswersAsTheGeneralPath: every kind of answer (tenant
// role, role on an instance derived through tuples, each denial) comes out
// of the fast path exactly as the general handlers write it, on v1 and on
// Permit's /allowed; bodies the fast path does not take are answered by
// the general handlers.
func TestFastCheckAnswersAsTheGeneralPath(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	k := s.fineKey()
	driveModel(t, s, k)
	do := func(want int, method, path string, body any) {
		t.Helper()
		s.must(want, req{method: method, path: path, key: k, body: body})
	}
	do(201, "POST", "/v1/tenants", map[string]any{"key": "acme"})
	do(201, "POST", "/v1/roles", map[string]any{"key": "reader", "permissions": []string{"document:read"}})
	do(201, "POST", "/v1/users", map[string]any{"key": "ada"})
	do(201, "POST", "/v1/role-assignments", map[string]any{"user": "ada", "role": "reader"})
	do(201, "POST", "/v1/resource-instances", map[string]any{"resource": "folder", "key": "f1", "tenant": "acme"})
	do(201, "POST", "/v1/resource-instances", map[string]any{"resource": "document", "key": "d1", "tenant": "acme"})
	do(201, "POST", "/v1/relationship-tuples", map[string]any{"subject": "folder:f1", "relation": "parent", "object": "document:d1"})
	do(201, "POST", "/v1/role-assignments", map[string]any{"user": "ada", "role": "editor", "resource_instance": "folder:f1"})
	checker := s.envKey("check:access")

	bodies := []string{
		`{"user":"ada","action":"read","resource":{"type":"document"}}`, // tenant role
		` { "user" : { "key" : "ada" } , "action":"read", "resource":{"type":"document","tenant":"default"}, "context": {} } `,
		`{"user":"ada","action":"write","resource":{"type":"document"}}`,                               // not granted
		`{"user":"ada","action":"write","resource":{"type":"document","key":"d1"}}`,                    // derived instance role
		`{"user":"ada","action":"write","resource":{"type":"document","key":"d1","tenant":"default"}}`, // wrong tenant
		`{"user":"ada","action":"read","resource":{"type":"document","tenant":"acme"}}`,                // no role in tenant
		`{"user":"ada","action":"read","resource":{"type":"document","tenant":"nowhere"}}`,             // unknown tenant
		`{"user":"ada","action":"fly","resource":{"type":"document"}}`,                                 // unknown action
		`{"user":"ada","action":"read","resource":{"type":"spaceship"}}`,                               // unknown resource
		`{"action":"read","resource":{"type":"<doc>&"},"user":"ada"}`,                                  // escaped in the answer
	}
	strip := func(m map[string]any) map[string]any {
		if meta, ok := m["meta"].(map[string]any); ok {
			if meta["request_id"] == "" || meta["timestamp"] == "" {
				t.Fatalf("meta: %v", meta)
			}
			delete(meta, "request_id")
			delete(meta, "timestamp")
		}
		return m
	}
	for _, path := range []string{"/v1/allowed", "/allowed"} {
		for _, body := range bodies {
			before := httpapi.FastAnswered()
			fast := s.must(200, req{method: "POST", path: path, key: checker, body: body})
			if httpapi.FastAnswered() == before {
				t.Fatalf("%s %s: not answered by the fast path", path, body)
			}
			slow := s.must(200, req{method: "POST", path: path, key: checker, body: slowTwin(t, body)})
			if !reflect.DeepEqual(strip(fast.body), strip(slow.body)) {
				t.Errorf("%s %s:\nfast %s\nslow %s", path, body, fast.raw, slow.raw)
			}
			// Byte for byte, but for the request id and the time (the
			// general handlers write <, > and & as they are).
			if sameBytes := func(raw string) string { return answerMeta.ReplaceAllString(raw, "") }; sameBytes(fast.raw) != sameBytes(slow.raw) {
				t.Errorf("%s %s: the bytes differ:\nfast %s\nslow %s", path, body, fast.raw, slow.raw)
			}
			for _, h := range []string{"Content-Type", "X-Frame-Options", "X-Content-Type-Options", "Content-Security-Policy"} {
				if fast.header.Get(h) != slow.header.Get(h) {
					t.Errorf("%s %s: header %s: fast %q, slow %q", path, body, h, fast.header.Get(h), slow.header.Get(h))
				}
			}
			for _, h := range []string{"X-Request-Id", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
				if fast.header.Get(h) == "" {
					t.Errorf("%s: no %s header", path, h)
				}
			}
		}
	}
	// Permit's "any instance" key is the general path's to read; the
	// answer is the same either way.
	star := `{"user":"ada","action":"read","resource":{"type":"document","key":"*"}}`
	fast := s.must(200, req{method: "POST", path: "/allowed", key: checker, body: star})
	slow := s.must(200, req{method: "POST", path: "/allowed", key: checker, body: slowTwin(t, star)})
	if !reflect.DeepEqual(fast.body, slow.body) {
		t.Errorf("key *:\n%s\n%s", fast.raw, slow.raw)
	}
	// The caller's request id is kept.
	res := s.must(200, req{method: "POST", path: "/v1/allowed", key: checker, body: json.RawMessage(bodies[0]), header: map[string]string{"X-Request-Id": "mine-1"}})
	if res.header.Get("X-Request-Id") != "mine-1" || res.body["meta"].(map[string]any)["request_id"] != "mine-1" {
		t.Fatalf("request id: %v %s", res.header, res.raw)
	}
	// What the fast path leaves alone is answered as before.
	for _, c := range []struct {
		body string
		want int
	}{
		{`{"user":"ada","action":"read"}`, 400},
		{`{"user":"","action":"read","resource":{"type":"document"}}`, 400},
		{`{"user":"ada","action":"read","resource":{"type":"document"},"surprise":1}`, 400}, // an unknown field, as on every route
		{`{"user":"ada","action":"read","resource":{"type":"document","tenat":"acme"}}`, 400},
		{`{"user":{"key":"ada","nmae":"Ada"},"action":"read","resource":{"type":"document"}}`, 400},
		{`{"user":"ada","action":"read","resource":{"type":"document","attributes":{"tenat":1}},"context":{"x":1}}`, 200}, // free form
		{`{"user":{"key":"ada","attributes":{"level":3}},"action":"read","resource":{"type":"document"}}`, 200},
		{`{"user":"ada","action":"read","resource":{"type":"document"},"at_least":1}`, 200},
		{`{"user":"ada","action":"read","resource":{"type":"document"}`, 400},
		{`{"user":"ada","action":"read","resource":{"type":"document"}} x`, 400},
		{`{"user":"ada","user":{"attributes":{}},"action":"read","resource":{"type":"document"}}`, 400}, // a name twice: the last counts
		{`{"user":"ada","action":"read","resource":{"type":"document","type":"spaceship"}}`, 200},
	} {
		s.must(c.want, req{method: "POST", path: "/v1/allowed", key: checker, body: c.body})
	}
	// Bulk checks name the check with the unknown field.
	res = s.do(req{method: "POST", path: "/v1/allowed/bulk", key: checker, body: `{"checks":[{"user":"ada","action":"read","resource":{"type":"document"}},` +
		`{"user":"ada","action":"read","resource":{"type":"document","tenat":"acme"}}]}`})
	if res.status != 400 || res.body["error"].(map[string]any)["details"].(map[string]any)["field"] != "checks[1].resource.tenat" {
		t.Fatalf("bulk with an unknown field: %d %s", res.status, res.raw)
	}
	s.must(200, req{method: "POST", path: "/v1/allowed/bulk", key: checker, body: `{"checks":[{"user":"ada","action":"read","resource":{"type":"document"}}],"at_least":0}`})
	// An empty name is a name too; and the gate speaks first.
	s.must(400, req{method: "POST", path: "/v1/allowed", key: checker, body: `{"":0,"user":"ada","action":"read","resource":{"type":"document","tenat":"acme"}}`})
	s.must(401, req{method: "POST", path: "/v1/allowed", key: "nope", body: `{"user":"ada","action":"read","resource":{"type":"document","tenat":"acme"}}`})
	s.must(401, req{method: "POST", path: "/v1/allowed/bulk", key: "nope", body: `{"checks":[],"atleast":1}`})
	// A key the gate refuses is refused the same way.
	_, noScope := s.newKey("environment", []string{"view:user"}, map[string]any{"project": "default", "environment": "development"})
	s.must(403, req{method: "POST", path: "/v1/allowed", key: noScope, body: json.RawMessage(bodies[0])})
	s.must(401, req{method: "POST", path: "/v1/allowed", key: "nope", body: json.RawMessage(bodies[0])})
	s.must(403, req{method: "POST", path: "/v1/allowed", key: checker, body: json.RawMessage(bodies[0]), header: map[string]string{"X-Organization-Id": "another"}})
	s.must(403, req{method: "POST", path: "/allowed", key: s.key, body: json.RawMessage(bodies[0])}) // no environment
}

// ci: race
// TestFastCheckSpendsTheLimitOnce: a check is one request of its key's
// limit, and the refused one answers the documented 429 (logged).
func TestFastCheckSpendsTheLimitOnce(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	_, reader := s.newKey("organization", []string{"view:log"}, nil)
	keyID, key := s.newKey("environment", []string{"check:access"}, map[string]any{"project": "default", "environment": "development", "rate_limit_per_hour": 3})
	body := json.RawMessage(`{"user":"ada","action":"read","resource":{"type":"document"}}`)
	for i := 2; i >= 0; i-- {
		res := s.must(200, req{method: "POST", path: "/v1/allowed", key: key, body: body})
		if got := res.header.Get("X-RateLimit-Remaining"); got != fmt.Sprint(i) {
			t.Fatalf("remaining %q, want %d", got, i)
		}
		if res.header.Get("X-RateLimit-Limit") != "3" {
			t.Fatalf("limit header: %v", res.header)
		}
	}
	res := s.must(429, req{method: "POST", path: "/v1/allowed", key: key, body: body})
	if res.header.Get("Retry-After") == "" || res.body["error"].(map[string]any)["retry_after"] == nil || res.header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("429: %v %s", res.header, res.raw)
	}
	res = s.must(429, req{method: "POST", path: "/allowed", key: key, body: body})
	if !strings.Contains(res.raw, "RATE_LIMIT") {
		t.Fatalf("Permit's 429: %s", res.raw)
	}
	logged := s.waitLogs(reader, "actor="+keyID, 2)
	for _, c := range logged {
		if c.(map[string]any)["status"] != float64(429) {
			t.Fatalf("logged: %v", c)
		}
	}
}

// ci: race
// TestFastCheckDecisionLogKeepsItsOwnStrings: decisions recorded from the
// fast path name what their own request named, however many checks run
// beside them (their strings are not views of a reused buffer).
func TestFastCheckDecisionLogKeepsItsOwnStrings(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	k := s.envKey("manage:user", "manage:tenant", "manage:resource", "manage:role", "manage:role_assignment", "check:access", "view:log", "manage:settings")
	s.setDecisionLog(k, "full", 0)
	s.must(201, req{method: "POST", path: "/v1/resources", key: k, body: map[string]any{"key": "doc", "actions": []string{"read"}}})
	tenants := []string{"acme", "zzzzzzzzzzzzzzzz"}
	for _, tn := range tenants {
		s.must(201, req{method: "POST", path: "/v1/tenants", key: k, body: map[string]any{"key": tn}})
	}
	const each = 40
	done := make(chan struct{})
	for i, tn := range tenants {
		go func() {
			defer func() { done <- struct{}{} }()
			for j := 0; j < each; j++ {
				body := fmt.Sprintf(`{"user":"u%d","action":"read","resource":{"type":"doc","tenant":%q}}`, i, tn)
				if res := s.do(req{method: "POST", path: "/v1/allowed", key: k, body: body}); res.status != 200 {
					t.Errorf("check: %d %s", res.status, res.raw)
					return
				}
			}
		}()
	}
	<-done
	<-done
	for i, tn := range tenants {
		for _, d := range s.waitDecisions(k, fmt.Sprintf("user=u%d", i), each) {
			if got := d.(map[string]any)["tenant"]; got != tn {
				t.Fatalf("a decision of u%d names tenant %v, want %s", i, got, tn)
			}
		}
	}
}

// TestFastCheckShortBodyShowsNoEarlierBody: a check whose body ends before
// its Content-Length (the client half-closes) is refused (4xx), and
// its answer never holds what an earlier call's body left in the fast
// path's pooled buffer (another organization's user and attributes).
func TestFastCheckShortBodyShowsNoEarlierBody(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	victim := s.envKey("check:access")
	other := s.otherOrg("Mallory")
	attacker := s.must(201, req{method: "POST", path: "/v1/api-keys", key: other.key, body: map[string]any{"name": "m", "level": "environment",
		"project": other.projID, "environment": other.envID, "scopes": []string{"check:access"}}}).data()["token"].(string)
	// The attacker's key is verified once (cached) beforehand.
	s.must(200, req{method: "POST", path: "/v1/allowed", key: attacker, body: map[string]any{"user": "x", "action": "read", "resource": map[string]any{"type": "document"}}})
	secret := `{"user":{"key":"alice","attributes":{"ssn":"123-45-6789"}},"action":"read","resource":{"type":"document","tenant":"victim-bank"}}`
	for i := range 20 {
		for _, path := range []string{"/allowed", "/v1/allowed"} {
			s.do(req{method: "POST", path: path, key: victim, body: secret})
			// The attacker announces the victim's length and sends "{".
			conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{",
				path, attacker, len(secret))
			_ = conn.(*net.TCPConn).CloseWrite()
			answer, err := io.ReadAll(conn)
			conn.Close()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(answer), "123-45-6789") || strings.Contains(string(answer), "victim-bank") || strings.Contains(string(answer), "alice") {
				t.Fatalf("round %d, %s: a short body's answer shows an earlier call's body:\n%s", i, path, answer)
			}
			// A client error (what arrived is not valid JSON).
			if !strings.HasPrefix(string(answer), "HTTP/1.1 4") {
				t.Fatalf("round %d, %s: a short body: %s", i, path, answer)
			}
		}
	}
	// A key not yet verified (not cached) whose caller half-closes: the
	// cancelled verification is the client's doing, not an outage (it was
	// a 503 and an error in the server's log).
	cold := s.must(201, req{method: "POST", path: "/v1/api-keys", key: other.key, body: map[string]any{"name": "cold", "level": "environment",
		"project": other.projID, "environment": other.envID, "scopes": []string{"check:access"}}}).data()["token"].(string)
	for range 5 {
		c, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "POST /v1/allowed HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 90\r\n\r\n{", cold)
		_ = c.(*net.TCPConn).CloseWrite()
		answer, err := io.ReadAll(c)
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(answer), "HTTP/1.1 4") {
			t.Fatalf("a cold key's short body: %.300s", answer)
		}
	}
	// A body cut short on a route huma reads is the client's error too
	// (it was a 500).
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/allowed/bulk HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"checks\":[", attacker)
	_ = conn.(*net.TCPConn).CloseWrite()
	answer, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(answer), "HTTP/1.1 400 ") || !strings.Contains(string(answer), `"reason":"incomplete"`) {
		t.Fatalf("a bulk check's body cut short: %s", answer)
	}
}

// TestBodyAtTheLimit: --max-body-bytes is the largest body taken, on every
// path: a check of exactly that many bytes is answered by the fast path,
// the general handlers (a query string sends it there) and Permit's
// /allowed alike, and one byte more is a 413 on each.
func TestBodyAtTheLimit(t *testing.T) {
	t.Parallel()
	cfg := engineConfig(t, "sqlite")
	cfg.MaxBodyBytes = 1024
	s := newServerWith(t, cfg)
	k := s.envKey("check:access")
	body := func(n int, permit bool) string {
		b := `{"user":"ada","action":"read","resource":{"type":"document"}}`
		if permit {
			b = `{"user":{"key":"ada"},"action":"read","resource":{"type":"document"}}`
		}
		return b[:len(b)-1] + strings.Repeat(" ", n-len(b)) + "}"
	}
	for _, path := range []string{"/v1/allowed", "/v1/allowed?via=general", "/allowed", "/allowed?via=general"} {
		permit := strings.HasPrefix(path, "/allowed")
		s.must(200, req{method: "POST", path: path, key: k, body: body(1024, permit)})
		if res := s.do(req{method: "POST", path: path, key: k, body: body(1025, permit)}); res.status != 413 || !permit && !strings.Contains(res.raw, "1024 bytes") {
			t.Errorf("%s, 1,025 bytes: %d %.200s", path, res.status, res.raw)
		}
	}
}

// TestMalformedCheckBodiesEnd: bodies that are not JSON, on the check
// routes whose field names are walked before the body is known to be JSON,
// are answered (a 400), never held on to.
func TestMalformedCheckBodiesEnd(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	k := s.envKey("check:access")
	for _, path := range []string{"/v1/allowed", "/v1/allowed/bulk"} {
		for _, body := range []string{`{"checks":[}]}`, `{"user":{]}`, `{"checks":[{"resource":{:}`, `{"a"::,}`, `{"user":"\`} {
			if res := s.do(req{method: "POST", path: path, key: k, body: body}); res.status != 400 {
				t.Errorf("%s %s: %d %.200s", path, body, res.status, res.raw)
			}
		}
	}
}
