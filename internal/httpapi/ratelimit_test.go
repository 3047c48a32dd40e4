package httpapi_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// ci: race
// TestRateLimits: every authenticated response carries the X-RateLimit
// headers; over the limit the answer is the documented 429; a key with its own
// limit spends from its own bucket, an environment may override, sandbox
// environments are not limited.
func TestRateLimits(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.must(200, req{method: "PATCH", path: "/v1/settings", key: s.key, body: map[string]any{"rate_limit_per_hour": 1000}})
	_, orgKey := s.newKey("organization", []string{"view:project", "manage:settings"}, nil)

	before := time.Now().Unix()
	res := s.must(200, req{method: "GET", path: "/v1/projects", key: orgKey})
	limit, _ := strconv.Atoi(res.header.Get("X-RateLimit-Limit"))
	remaining, _ := strconv.Atoi(res.header.Get("X-RateLimit-Remaining"))
	reset, _ := strconv.ParseInt(res.header.Get("X-RateLimit-Reset"), 10, 64)
	if limit != 1000 || remaining >= 1000 || remaining < 900 || reset < before || reset > before+3601 {
		t.Fatalf("headers: limit %d remaining %d reset %d (now %d)", limit, remaining, reset, before)
	}
	// Errors carry them too.
	if res := s.do(req{method: "GET", path: "/v1/projects/nope", key: orgKey}); res.status != 404 || res.header.Get("X-RateLimit-Limit") != "1000" {
		t.Fatalf("404 without rate limit headers: %d %v", res.status, res.header)
	}

	// A new organization (free tier, 100 per hour) lowered to 3 per hour:
	// its first call (the change itself) cost 36 s of the hour at 100 per
	// hour, so exactly two more pass at 3 per hour (1,200 s each).
	b := s.otherOrg("Small")
	s.must(200, req{method: "PATCH", path: "/v1/settings", key: b.key, body: map[string]any{"rate_limit_per_hour": 3}})
	passed := 0
	var last resp
	for range 10 {
		last = s.do(req{method: "GET", path: "/v1/projects", key: b.key})
		if last.status == 200 {
			passed++
		}
	}
	if passed != 2 || last.status != 429 {
		t.Fatalf("%d passed at 3 per hour, want 2; last %d", passed, last.status)
	}
	e := last.body["error"].(map[string]any)
	retry, _ := strconv.Atoi(last.header.Get("Retry-After"))
	if e["code"] != "RATE_LIMIT_EXCEEDED" || e["retry_after"] != float64(retry) || retry < 1 || retry > 3600 ||
		e["message"] != fmt.Sprintf("Rate limit exceeded. Try again in %d seconds.", retry) || last.header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("429: %s (Retry-After %q)", last.raw, last.header.Get("Retry-After"))
	}

	// A key with its own limit has its own bucket.
	_, own := s.newKey("organization", []string{"view:project"}, map[string]any{"rate_limit_per_hour": 2})
	codes := []int{}
	for range 3 {
		codes = append(codes, s.do(req{method: "GET", path: "/v1/projects", key: own}).status)
	}
	if fmt.Sprint(codes) != "[200 200 429]" {
		t.Fatalf("key with 2 per hour: %v", codes)
	}

	// An environment's override, then a sandbox environment: not limited.
	s.must(200, req{method: "PATCH", path: "/v1/settings", key: s.key, body: map[string]any{"rate_limit_per_hour": 100000}})
	s.must(200, req{method: "PATCH", path: fmt.Sprintf("/v1/projects/%s/environments/%s/settings", s.projID, s.devID), key: s.key,
		body: map[string]any{"rate_limit_per_hour": 1}})
	_, envKey := s.newKey("environment", []string{"view:user"}, map[string]any{"project": s.projID, "environment": s.devID})
	if c1, c2 := s.do(req{method: "GET", path: "/v1/users", key: envKey}).status, s.do(req{method: "GET", path: "/v1/users", key: envKey}).status; c1 != 200 || c2 != 429 {
		t.Fatalf("environment with 1 per hour: %d %d", c1, c2)
	}
	s.must(200, req{method: "PATCH", path: fmt.Sprintf("/v1/projects/%s/environments/%s", s.projID, s.devID), key: s.key, body: map[string]any{"sandbox": true}})
	for range 5 {
		res := s.must(200, req{method: "GET", path: "/v1/users", key: envKey})
		if res.header.Get("X-RateLimit-Limit") != "" {
			t.Fatalf("a sandbox environment is limited: %v", res.header)
		}
	}
	// A PDP's decision uploads (and change stream) do not spend from the limit.
	s.must(200, req{method: "PATCH", path: fmt.Sprintf("/v1/projects/%s/environments/%s", s.projID, s.devID), key: s.key, body: map[string]any{"sandbox": false}})
	_, pdpKey := s.newKey("environment", []string{"check:access"}, map[string]any{"project": s.projID, "environment": s.devID})
	upload := map[string]any{"decisions": []any{map[string]any{"timestamp": time.Now().Format(time.RFC3339), "user": "u", "action": "a",
		"resource_type": "r", "tenant": "default", "allow": false, "reason": "unknown_user"}}}
	for range 3 {
		if res := s.must(200, req{method: "POST", path: "/v1/pdp/decisions", key: pdpKey, body: upload}); res.header.Get("X-RateLimit-Limit") != "" {
			t.Fatal("PDP uploads spend from the limit")
		}
	}
	// Public endpoints are not limited.
	if res := s.must(200, req{method: "GET", path: "/healthz"}); res.header.Get("X-RateLimit-Limit") != "" {
		t.Fatal("healthz is limited")
	}
}

// TestAnonymousRateLimit: calls without a valid key spend from their client
// address's bucket, so guessing keys is limited like any other call.
func TestAnonymousRateLimit(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.AnonymousRateLimit = 3
	s := newServerWith(t, cfg)
	var codes []int
	for _, key := range []string{"", "garbage", "eyJhbGciOiJFZERTQSJ9.e30.c2ln", "garbage"} {
		res := s.do(req{method: "GET", path: "/v1/projects", key: key})
		codes = append(codes, res.status)
		if res.header.Get("X-RateLimit-Limit") != "3" {
			t.Fatalf("a %d without rate limit headers: %v", res.status, res.header)
		}
	}
	if fmt.Sprint(codes) != "[401 401 401 429]" {
		t.Fatalf("anonymous calls at 3 per hour: %v", codes)
	}
	// A valid key is not held back by the address's failed calls.
	s.must(200, req{method: "GET", path: "/v1/projects", key: s.key})
}

// TestPublicRoutesSpendTheAnonymousLimit: the status page (HTML) and its
// routes take no key, and spend from the client address's bucket like a
// call with a refused key, so they cannot be flooded without bound;
// /healthz does not, and a valid key is not held back.
func TestPublicRoutesSpendTheAnonymousLimit(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.AnonymousRateLimit = 3
	s := newServerWith(t, cfg)
	var codes []int
	// The HTML page spends through the API call that draws it.
	for _, path := range []string{"/status", "/v1/status/incidents", "/v1/status", "/v1/status/incidents", "/status"} {
		res := s.do(req{method: "GET", path: path})
		codes = append(codes, res.status)
		if path != "/status" && res.header.Get("X-RateLimit-Limit") != "3" {
			t.Fatalf("%s: a %d without rate limit headers: %v", path, res.status, res.header)
		}
	}
	if fmt.Sprint(codes) != "[200 200 200 429 429]" {
		t.Fatalf("the status page and its routes at 3 anonymous calls per hour: %v", codes)
	}
	if res := s.must(200, req{method: "GET", path: "/healthz"}); res.header.Get("X-RateLimit-Limit") != "" {
		t.Fatal("healthz is limited")
	}
	s.must(200, req{method: "GET", path: "/v1/projects", key: s.key})
}

// ci: race
// TestChecksHaveTheirOwnBudget: a new organization (free tier: 100 API
// calls an hour) checks from a budget of its own (10,000 an hour), so
// spending every API call leaves its checks answering, on v1 (the fast
// path and the bulk route) and on Permit's /allowed.
func TestChecksHaveTheirOwnBudget(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	b := s.otherOrg("Checker")
	d := s.must(201, req{method: "POST", path: "/v1/api-keys", key: b.key, body: map[string]any{"name": "app", "level": "environment",
		"project": b.projID, "environment": b.envID, "scopes": []string{"check:access", "view:user", "manage:user", "manage:resource", "manage:role", "manage:role_assignment"}}}).data()
	env := d["token"].(string)
	for _, c := range []struct {
		path string
		body any
	}{
		{"/v1/resources", map[string]any{"key": "doc", "actions": []string{"read"}}},
		{"/v1/roles", map[string]any{"key": "reader", "permissions": []string{"doc:read"}}},
		{"/v1/users", map[string]any{"key": "ada"}},
		{"/v1/role-assignments", map[string]any{"user": "ada", "role": "reader"}},
	} {
		s.must(201, req{method: "POST", path: c.path, key: env, body: c.body})
	}
	check := map[string]any{"user": "ada", "action": "read", "resource": map[string]any{"type": "doc"}}
	checks := []req{
		{method: "POST", path: "/v1/allowed", key: env, body: check},
		{method: "POST", path: "/v1/allowed/bulk", key: env, body: map[string]any{"checks": []any{check}}},
		{method: "POST", path: "/allowed", key: env, body: map[string]any{"user": "ada", "action": "read", "resource": "doc"}},
	}
	for _, c := range checks {
		if res := s.must(200, c); res.header.Get("X-RateLimit-Limit") != "10000" {
			t.Fatalf("%s: X-RateLimit-Limit %q, want the free tier's check budget 10000", c.path, res.header.Get("X-RateLimit-Limit"))
		}
	}
	// Spend the API calls' hour.
	var last resp
	for range 101 {
		if last = s.do(req{method: "GET", path: "/v1/users", key: env}); last.status == 429 {
			break
		}
		if last.header.Get("X-RateLimit-Limit") != "100" {
			t.Fatalf("an API call: X-RateLimit-Limit %q, want the free tier's 100", last.header.Get("X-RateLimit-Limit"))
		}
	}
	if last.status != 429 {
		t.Fatalf("101 API calls on the free tier: last %d, want 429", last.status)
	}
	for _, c := range checks {
		res := s.must(200, c)
		if rem, _ := strconv.Atoi(res.header.Get("X-RateLimit-Remaining")); rem < 9990 {
			t.Fatalf("%s after the API calls' hour: %d checks remaining", c.path, rem)
		}
	}
}

// TestCheckReplaySpendsTheCheckBudget: a check retried with the same
// Idempotency-Key is answered again from the check budget, not the API
// calls'.
func TestCheckReplaySpendsTheCheckBudget(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	b := s.otherOrg("Replayer")
	d := s.must(201, req{method: "POST", path: "/v1/api-keys", key: b.key, body: map[string]any{"name": "app", "level": "environment",
		"project": b.projID, "environment": b.envID, "scopes": []string{"check:access"}}}).data()
	env := d["token"].(string)
	r := req{method: "POST", path: "/v1/allowed/bulk", key: env, header: map[string]string{"Idempotency-Key": "check-1"},
		body: map[string]any{"checks": []any{map[string]any{"user": "ada", "action": "read", "resource": map[string]any{"type": "doc"}}}}}
	first := s.must(200, r)
	again := s.must(200, r)
	if again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("the retry was not a replay: %v", again.header)
	}
	for _, res := range []resp{first, again} {
		if res.header.Get("X-RateLimit-Limit") != "10000" {
			t.Fatalf("X-RateLimit-Limit %q, want the check budget 10000", res.header.Get("X-RateLimit-Limit"))
		}
	}
}

// TestTrustedProxyClientAddress: behind a proxy named in --trusted-proxies
// (here the test's own loopback client), each client address the proxy
// forwards has its own anonymous bucket and is the one the API log and
// the audit trail record; what a client prepends to X-Forwarded-For
// changes nothing. Without the setting, the header is ignored: every
// caller is the peer.
func TestTrustedProxyClientAddress(t *testing.T) {
	t.Parallel()
	xff := func(v string) map[string]string { return map[string]string{"X-Forwarded-For": v} }
	t.Run("trusted", func(t *testing.T) {
		t.Parallel()
		cfg := config.Default()
		cfg.DataDir = t.TempDir()
		cfg.AnonymousRateLimit = 2
		cfg.TrustedProxies = []string{"127.0.0.1", "::1"}
		s := newServerWith(t, cfg)
		var codes []int
		for _, from := range []string{"203.0.113.7", "203.0.113.7", "203.0.113.7", "203.0.113.8",
			"203.0.113.8, 203.0.113.7", // prepended by the client: still 203.0.113.7
			"203.0.113.9, 127.0.0.1"} { // through a second trusted hop: 203.0.113.9
			codes = append(codes, s.do(req{method: "GET", path: "/v1/projects", key: "garbage", header: xff(from)}).status)
		}
		if fmt.Sprint(codes) != "[401 401 429 401 429 401]" {
			t.Fatalf("anonymous calls at 2 per hour per forwarded client: %v", codes)
		}
		// An IPv6 client's bucket is its /64: its other addresses share it.
		codes = nil
		for _, from := range []string{"2001:db8::1", "2001:db8::2", "2001:db8::3", "2001:db8:0:1::1"} {
			codes = append(codes, s.do(req{method: "GET", path: "/v1/projects", key: "garbage", header: xff(from)}).status)
		}
		if fmt.Sprint(codes) != "[401 401 429 401]" {
			t.Fatalf("anonymous calls from one IPv6 /64, then another, at 2 per hour: %v", codes)
		}
		// The API log and the audit trail name the forwarded client.
		keyID, key := s.newKey("organization", []string{"view:project", "manage:api"}, nil)
		_, reader := s.newKey("organization", allScopes(), nil)
		s.must(201, req{method: "POST", path: "/v1/api-keys", key: key, header: xff("198.51.100.9"),
			body: map[string]any{"name": "proxied", "level": "organization", "scopes": []string{"view:project"}}})
		calls := s.waitLogs(reader, "actor="+keyID, 1)
		if c := calls[0].(map[string]any); c["client_ip"] != "198.51.100.9" {
			t.Fatalf("API log entry: client_ip %v, want the forwarded client", c["client_ip"])
		}
		e := findAudit(s.auditEntries(reader, ""), "api_key.created", "")
		if e == nil || e["client_ip"] != "198.51.100.9" {
			t.Fatalf("audit entry: %v, want client_ip 198.51.100.9", e)
		}
	})
	t.Run("not trusted", func(t *testing.T) {
		t.Parallel()
		cfg := config.Default()
		cfg.DataDir = t.TempDir()
		cfg.AnonymousRateLimit = 2
		s := newServerWith(t, cfg)
		var codes []int
		for _, from := range []string{"203.0.113.7", "203.0.113.8", "203.0.113.9"} {
			codes = append(codes, s.do(req{method: "GET", path: "/v1/projects", key: "garbage", header: xff(from)}).status)
		}
		if fmt.Sprint(codes) != "[401 401 429]" {
			t.Fatalf("a header from a peer that is no trusted proxy opened new buckets: %v", codes)
		}
	})
}
