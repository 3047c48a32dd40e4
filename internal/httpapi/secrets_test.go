package httpapi_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// secretsScenario makes every kind of one-time secret the API hands out
// and returns them: new key tokens (create, rotate, a new organization's),
// webhook secrets (create, rotate) and a setup link.
func secretsScenario(t *testing.T, s *server) []string {
	t.Helper()
	var secrets []string
	d := s.must(201, req{method: "POST", path: "/v1/api-keys", key: s.key, body: map[string]any{"name": "ci", "level": "organization", "scopes": []string{"view:project", "manage:api"}}}).data()
	secrets = append(secrets, d["token"].(string))
	d = s.must(201, req{method: "POST", path: "/v1/api-keys/" + d["id"].(string) + "/rotate", key: s.key, body: map[string]any{"grace_period_seconds": 60}}).data()
	secrets = append(secrets, d["token"].(string))
	d = s.must(201, req{method: "POST", path: "/v1/webhooks", key: s.key, body: map[string]any{"url": "https://hooks.example/x", "events": []string{"user.created"}}}).data()
	secrets = append(secrets, d["secret"].(string))
	d = s.must(200, req{method: "POST", path: "/v1/webhooks/" + d["id"].(string) + "/rotate-secret", key: s.key, body: map[string]any{}}).data()
	secrets = append(secrets, d["secret"].(string))
	m := s.must(201, req{method: "POST", path: "/v1/members", key: s.key, body: map[string]any{"email": "dev@acme.example", "role": "developer"}}).data()
	d = s.must(201, req{method: "POST", path: "/v1/members/" + m["id"].(string) + "/setup-link", key: s.key}).data()
	path := d["path"].(string)
	secrets = append(secrets, path, strings.TrimPrefix(path, "/setup/"))
	o := s.otherOrg("Other")
	secrets = append(secrets, o.key)
	// A replayed answer (Idempotency-Key) is redacted like the first.
	kb := map[string]any{"name": "idem", "level": "organization", "scopes": []string{"view:project"}}
	first := s.must(201, req{method: "POST", path: "/v1/api-keys", key: s.key, body: kb, header: map[string]string{"Idempotency-Key": "k-1"}}).data()
	again := s.must(201, req{method: "POST", path: "/v1/api-keys", key: s.key, body: kb, header: map[string]string{"Idempotency-Key": "k-1"}})
	if again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatal("no replay")
	}
	secrets = append(secrets, first["token"].(string))
	// A key sent where no credential belongs: in the query, a custom
	// header, the user agent and a body field.
	s.do(req{method: "GET", path: "/v1/projects?api_key=" + secrets[0] + "&x=1", key: s.key,
		header: map[string]string{"X-Debug-Token": secrets[1], "User-Agent": "bot " + secrets[0]}})
	s.do(req{method: "POST", path: "/v1/users?project=" + s.projID + "&environment=" + s.devID, key: s.key,
		body: map[string]any{"key": "u1", "attributes": map[string]any{"note": "my key " + secrets[1]}}})
	return secrets
}

// logDump is everything the API log holds for the organization: the list
// and, for every call, its full entry, as the dashboard's log view reads
// them.
func logDump(t *testing.T, s *server) string {
	t.Helper()
	s.waitLogs(s.key, "method=POST&path=/v1/users", 1) // the scenario's last call
	var b strings.Builder
	hr, _ := http.NewRequest("GET", s.url+"/v1/logs/export", nil)
	hr.Header.Set("Authorization", "Bearer "+s.key)
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	b.Write(raw)
	for _, it := range s.must(200, req{method: "GET", path: "/v1/logs?per_page=100", key: s.key}).list() {
		b.WriteString(s.must(200, req{method: "GET", path: "/v1/logs/" + it.(map[string]any)["id"].(string), key: s.key}).raw)
	}
	return b.String()
}

// No one-time secret a response carries reaches the API
// log, whole or cut at the log's body limit, and no credential sent in a
// query, a header or a body either.
func TestAPILogKeepsNoSecret(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{64 << 10, 120} {
		t.Run(map[int]string{64 << 10: "whole bodies", 120: "cut bodies"}[limit], func(t *testing.T) {
			t.Parallel()
			cfg := config.Default()
			cfg.DataDir = t.TempDir()
			cfg.LogBodyBytes = limit
			s := newServerWith(t, cfg)
			secrets := secretsScenario(t, s)
			dump := logDump(t, s)
			for _, sec := range secrets {
				if strings.Contains(dump, sec) {
					t.Errorf("the API log holds a secret %.24s…", sec)
				}
			}
			if !strings.Contains(dump, "/setup-link") || !strings.Contains(dump, "[REDACTED") {
				t.Fatalf("the dump misses the calls it should hold:\n%.2000s", dump)
			}
			if limit > 1000 && !strings.Contains(dump, `\"member_id\":`) && !strings.Contains(dump, `"member_id":`) {
				t.Errorf("the setup link's response lost its harmless fields:\n%.3000s", dump)
			}
		})
	}
}

// Nothing the API serves can be framed: the reference
// pages, the specs, JSON answers and errors.
func TestNothingCanBeFramed(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	for _, path := range []string{"/docs", "/v2/redoc", "/v1/spec.yaml", "/v2/openapi.json", "/v1/me", "/v1/nowhere", "/healthz", "/v2/api-key/scope", "/allowed"} {
		res := s.do(req{method: "GET", path: path, key: s.key})
		csp := res.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || res.header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s (%d): CSP %q, X-Frame-Options %q", path, res.status, csp, res.header.Get("X-Frame-Options"))
		}
	}
}
