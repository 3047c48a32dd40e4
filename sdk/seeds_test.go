package sdk_test

import (
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testserver"
)

// The seeds' curl requests, copied verbatim. The test replaces only the
// base URL, the key and the example ids (123), then runs them with bash
// and curl against a live server.
const (
	seed002Example = `curl -X GET https://api.yourcompany.com/v1/resources \
  -H "Authorization: Bearer YOUR_API_KEY" \
  -H "Content-Type: application/json"`

	seed002Create = `curl -X POST https://api.yourcompany.com/v1/resources \
  -H "Authorization: Bearer YOUR_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{
    "name": "my-resource",
    "type": "processor",
    "config": {
      "timeout": 30
    }
  }'`

	seed002List = `curl -X GET https://api.yourcompany.com/v1/resources?status=active \
  -H "Authorization: Bearer YOUR_API_KEY"`

	seed002Update = `curl -X PUT https://api.yourcompany.com/v1/resources/123 \
  -H "Authorization: Bearer YOUR_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{
    "name": "updated-resource"
  }'`

	seed002Delete = `curl -X DELETE https://api.yourcompany.com/v1/resources/123 \
  -H "Authorization: Bearer YOUR_API_KEY"`
)

// The listing requests our API reference shows (as request lines).
var seed002Queries = []string{
	"GET /v1/resources?page=2&per_page=50",
	"GET /v1/resources?status=active&type=processor",
	"GET /v1/resources?sort=created_at&order=desc",
	"GET /v1/resources?status=active&sort=name&order=asc&page=1&per_page=25",
}

type envelope struct {
	Status string          `json:"status"`
	Data   json.RawMessage `json:"data"`
	Meta   map[string]any  `json:"meta"`
	Error  *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// curl runs a seed's command with the replacements; -w appends the status.
func curl(t *testing.T, s *testserver.Server, command, id string) (int, envelope) {
	t.Helper()
	testserver.Need(t, "curl")
	cmd := strings.NewReplacer("https://api.yourcompany.com", s.URL, "YOUR_API_KEY", s.EnvKey, "/resources/123", "/resources/"+id).Replace(command)
	out, err := exec.Command("bash", "-c", cmd+` -s -w '\n%{http_code}'`).Output()
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	text := strings.TrimSpace(string(out))
	body, code := "", text
	if i := strings.LastIndex(text, "\n"); i >= 0 {
		body, code = text[:i], text[i+1:]
	}
	status, err := strconv.Atoi(code)
	if err != nil {
		t.Fatalf("%s: no status in %q", cmd, text)
	}
	var env envelope
	if body != "" {
		if err := json.Unmarshal([]byte(body), &env); err != nil {
			t.Fatalf("%s answered %q: %v", cmd, body, err)
		}
	}
	return status, env
}

type resource struct {
	ID     string         `json:"id"`
	Name   string         `json:"name"`
	Type   string         `json:"type"`
	Status string         `json:"status"`
	Config map[string]any `json:"config"`
}

// TestSeed002CurlRequests runs our API reference's curl requests unchanged but for
// the base URL, the key and the ids.
func TestSeed002CurlRequests(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)

	status, env := curl(t, s, seed002Example, "")
	if status != 200 || env.Status != "success" {
		t.Fatalf("example request: %d %+v", status, env)
	}

	status, env = curl(t, s, seed002Create, "")
	var created resource
	_ = json.Unmarshal(env.Data, &created)
	if status != 201 || env.Status != "success" || created.ID == "" || created.Name != "my-resource" || created.Type != "processor" ||
		created.Config["timeout"] != float64(30) || created.Status != "active" || env.Meta["timestamp"] == nil {
		t.Fatalf("create: %d %+v %+v", status, env, created)
	}

	status, env = curl(t, s, seed002List, "")
	var listed []resource
	_ = json.Unmarshal(env.Data, &listed)
	if status != 200 || len(listed) != 1 || listed[0].ID != created.ID || env.Meta["total_items"] != float64(1) {
		t.Fatalf("list ?status=active: %d %+v", status, env)
	}

	for _, q := range seed002Queries {
		path := strings.TrimPrefix(q, "GET ")
		status, env := curl(t, s, `curl -X GET "https://api.yourcompany.com`+path+`" -H "Authorization: Bearer YOUR_API_KEY"`, "")
		if status != 200 || env.Status != "success" || env.Meta["page"] == nil || env.Meta["has_previous"] == nil {
			t.Fatalf("%s: %d %+v", q, status, env)
		}
	}

	status, env = curl(t, s, seed002Update, created.ID)
	var updated resource
	_ = json.Unmarshal(env.Data, &updated)
	if status != 200 || updated.Name != "updated-resource" || updated.ID != created.ID || updated.Type != "processor" {
		t.Fatalf("update: %d %+v", status, env)
	}

	status, _ = curl(t, s, seed002Delete, created.ID)
	if status != 204 {
		t.Fatalf("delete: %d", status)
	}
	status, env = curl(t, s, seed002Delete, created.ID)
	if status != 404 || env.Error == nil || env.Error.Code != "NOT_FOUND" {
		t.Fatalf("delete again: %d %+v", status, env)
	}
	status, env = curl(t, s, strings.Replace(seed002Example, "YOUR_API_KEY", "not-a-key", 1), "")
	if status != 401 || env.Error == nil || env.Error.Code != "UNAUTHORIZED" {
		t.Fatalf("a bad key: %d %+v", status, env)
	}
}

// Permit.io's documented curl requests, verbatim but for the host, the key and the
// project and environment keys.
const (
	seed001Users   = `curl -H "Authorization: Bearer <API Key>" https://api.permit.io/v2/facts/{projectKey}/{environmentKey}/users`
	seed001Tenants = `curl -H "Authorization: Bearer <API Key>" https://api.permit.io/v2/facts/{projectKey}/{environmentKey}/tenants`
)

func TestSeed001CurlRequests(t *testing.T) {
	t.Parallel()
	testserver.Need(t, "curl")
	s := testserver.Start(t)
	s.Call(t, s.EnvKey, "POST", "/v1/users", `{"key":"seed-user"}`, 201)
	s.Call(t, s.EnvKey, "POST", "/v1/tenants", `{"key":"seed-tenant"}`, 201)
	run := func(command string) (int, []byte) {
		t.Helper()
		cmd := strings.NewReplacer("https://api.permit.io", s.URL, "<API Key>", s.EnvKey, "{projectKey}", "default", "{environmentKey}", "development").Replace(command)
		out, err := exec.Command("bash", "-c", cmd+` -s -w '\n%{http_code}'`).Output()
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		text := strings.TrimSpace(string(out))
		i := strings.LastIndex(text, "\n")
		status, _ := strconv.Atoi(text[i+1:])
		return status, []byte(text[:max(i, 0)])
	}
	status, body := run(seed001Users)
	var users struct {
		Data []struct {
			Key string `json:"key"`
		} `json:"data"`
		TotalCount int `json:"total_count"`
	}
	if err := json.Unmarshal(body, &users); status != 200 || err != nil || users.TotalCount != 1 || users.Data[0].Key != "seed-user" {
		t.Fatalf("users: %d %s %v", status, body, err)
	}
	status, body = run(seed001Tenants)
	var tenants []struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(body, &tenants); status != 200 || err != nil || len(tenants) != 2 {
		t.Fatalf("tenants (the default one and seed-tenant): %d %s %v", status, body, err)
	}
}
