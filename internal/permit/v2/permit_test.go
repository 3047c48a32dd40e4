package permitv2_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testwait"
	"github.com/getkin/kin-openapi/openapi3"
)

// pres is a decoded answer of the Permit API (a list is an array).
type pres struct {
	status int
	header http.Header
	v      any
	raw    string
}

func (r pres) obj() map[string]any { m, _ := r.v.(map[string]any); return m }
func (r pres) arr() []any          { a, _ := r.v.([]any); return a }

// pcall sends a Permit-API request; body is JSON-encoded unless a string.
func (s *server) pcall(method, path, key string, body any) pres {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		rd = bytes.NewReader(data)
	}
	hr, _ := http.NewRequest(method, s.url+path, rd)
	if rd != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		hr.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := pres{status: res.StatusCode, header: res.Header, raw: string(raw)}
	if len(raw) > 0 {
		if ct := res.Header.Get("Content-Type"); ct != "application/json" {
			s.t.Fatalf("%s %s: Content-Type %q (Permit's Go SDK needs application/json)\n%s", method, path, ct, raw)
		}
		if err := json.Unmarshal(raw, &out.v); err != nil {
			s.t.Fatalf("%s %s: not JSON: %v\n%s", method, path, err, raw)
		}
	}
	return out
}

func (s *server) pmust(want int, method, path, key string, body any) pres {
	s.t.Helper()
	r := s.pcall(method, path, key, body)
	if r.status != want {
		s.t.Fatalf("%s %s: %d, want %d\n%s", method, path, r.status, want, r.raw)
	}
	return r
}

// permitError checks Permit's error body.
func permitError(t *testing.T, r pres, status int, code string) {
	t.Helper()
	m := r.obj()
	if r.status != status || m["error_code"] != code || m["id"] == "" || m["title"] == "" || m["message"] == "" {
		t.Fatalf("want %d %s in Permit's error shape, got %d: %s", status, code, r.status, r.raw)
	}
}

const facts = "/v2/facts/default/development"
const schema = "/v2/schema/default/development"

func TestPermitAPIActsOnV1Data(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	k := s.key
	s.pmust(200, "POST", schema+"/resources", k, map[string]any{"key": "doc", "name": "Document", "actions": map[string]any{"read": map[string]any{}, "write": map[string]any{"name": "Write"}}})
	s.pmust(200, "POST", schema+"/roles", k, map[string]any{"key": "reader", "name": "Reader", "permissions": []string{"doc:read"}})
	s.pmust(200, "POST", facts+"/tenants", k, map[string]any{"key": "acme", "name": "Acme", "attributes": map[string]any{"tier": "gold"}})
	u := s.pmust(200, "POST", facts+"/users", k, map[string]any{"key": "ann", "email": "ann@example.com",
		"role_assignments": []map[string]any{{"role": "reader", "tenant": "acme"}}}).obj()
	if u["environment_id"] != s.devID || u["project_id"] != s.projID || u["organization_id"] != s.orgID {
		t.Fatalf("user's ids: %v", u)
	}
	if roles := u["roles"].([]any); len(roles) != 1 || roles[0].(map[string]any)["tenant"] != "acme" {
		t.Fatalf("user created with its role: %v", u)
	}

	// The same user, tenant, role and assignment through v1.
	v1 := s.must(200, req{method: "GET", path: "/v1/users/ann?project=default&environment=development", key: k}).data()
	if v1["id"] != u["id"] || v1["email"] != "ann@example.com" {
		t.Fatalf("v1 sees %v", v1)
	}
	as := s.must(200, req{method: "GET", path: "/v1/role-assignments?project=default&environment=development&user=ann", key: k}).list()
	if len(as) != 1 || as[0].(map[string]any)["role"] != "reader" {
		t.Fatalf("v1 assignments: %v", as)
	}
	// And v1's writes through Permit's API.
	s.must(201, req{method: "POST", path: "/v1/users?project=default&environment=development", key: k, body: map[string]any{"key": "bob"}})
	list := s.pmust(200, "GET", facts+"/users", k, nil).obj()
	if list["total_count"] != float64(2) || list["page_count"] != float64(1) || len(list["data"].([]any)) != 2 {
		t.Fatalf("users list (paged shape): %v", list)
	}

	// Decisions through Permit's /allowed: the same engine.
	_, envKey := s.newKey("environment", []string{"check:access"}, map[string]any{"project": "default", "environment": "development"})
	check := func(user, action, tenant string) bool {
		r := s.pmust(200, "POST", "/allowed", envKey, map[string]any{"user": map[string]any{"key": user}, "action": action,
			"resource": map[string]any{"type": "doc", "tenant": tenant}, "context": map[string]any{}}).obj()
		if r["result"] != r["allow"] {
			t.Fatalf("result must equal allow (a boolean): %v", r)
		}
		return r["allow"].(bool)
	}
	if !check("ann", "read", "acme") || check("ann", "write", "acme") || check("bob", "read", "acme") || check("ann", "read", "default") {
		t.Fatal("wrong decisions")
	}
	bulk := s.pmust(200, "POST", "/allowed/bulk", envKey, []map[string]any{
		{"user": map[string]any{"key": "ann"}, "action": "write", "resource": map[string]any{"type": "doc", "tenant": "acme"}},
		{"user": "ann", "action": "read", "resource": "doc"},
		{"user": map[string]any{"key": "ann"}, "action": "read", "resource": map[string]any{"type": "doc", "tenant": "acme"}},
	}).obj()["allow"].([]any)
	if len(bulk) != 3 || bulk[0].(map[string]any)["allow"] != false || bulk[1].(map[string]any)["allow"] != false || bulk[2].(map[string]any)["allow"] != true {
		t.Fatalf("bulk: %v", bulk)
	}
	perms := s.pmust(200, "POST", "/user-permissions", envKey, map[string]any{"user": map[string]any{"key": "ann"}}).obj()
	entry := perms["__tenant:acme"].(map[string]any)
	if fmt.Sprint(entry["permissions"]) != "[doc:read]" || fmt.Sprint(entry["roles"]) != "[reader]" ||
		entry["tenant"].(map[string]any)["attributes"].(map[string]any)["tier"] != "gold" || len(perms) != 1 {
		t.Fatalf("user permissions: %v", perms)
	}
	all := s.pmust(200, "POST", "/allowed/all-tenants", envKey, map[string]any{"user": "ann", "action": "read", "resource": map[string]any{"type": "doc"}}).obj()
	if ts := all["allowed_tenants"].([]any); len(ts) != 1 || ts[0].(map[string]any)["tenant"].(map[string]any)["key"] != "acme" {
		t.Fatalf("all tenants: %v", all)
	}
	// An organization key names no environment: the decision endpoints say so.
	permitError(t, s.pcall("POST", "/allowed", k, map[string]any{"user": "ann", "action": "read", "resource": "doc"}), 403, "FORBIDDEN_ACCESS")

	// Unassign with a body on DELETE; the decision follows.
	s.pmust(204, "DELETE", facts+"/role_assignments", k, map[string]any{"user": "ann", "role": "reader", "tenant": "acme"})
	if check("ann", "read", "acme") {
		t.Fatal("allowed after unassign")
	}
}

func TestPermitAPIRefsAndErrors(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	k := s.key
	undash := func(id string) string { return strings.ReplaceAll(id, "-", "") }
	// The project and environment by id, by key and by Permit's undashed id.
	for _, base := range []string{facts, "/v2/facts/" + s.projID + "/" + s.devID, "/v2/facts/" + undash(s.projID) + "/" + undash(s.devID), "/v2/facts/default/" + s.devID} {
		s.pmust(200, "GET", base+"/tenants", k, nil)
	}
	u := s.pmust(200, "POST", facts+"/users", k, map[string]any{"key": "cy"}).obj()
	for _, ref := range []string{"cy", u["id"].(string), undash(u["id"].(string))} {
		if got := s.pmust(200, "GET", facts+"/users/"+ref, k, nil).obj(); got["key"] != "cy" {
			t.Fatalf("user by %q: %v", ref, got)
		}
	}

	tests := []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"missing user", "GET", facts + "/users/nobody", nil, 404, "NOT_FOUND"},
		{"duplicate user", "POST", facts + "/users", map[string]any{"key": "cy"}, 409, "DUPLICATE_ENTITY"},
		{"bad key", "POST", facts + "/users", map[string]any{"key": "no spaces"}, 422, "INVALID_INPUT"},
		{"not JSON", "POST", facts + "/tenants", "{", 422, "INVALID_INPUT"},
		{"wrong type", "POST", facts + "/tenants", map[string]any{"key": 7}, 422, "INVALID_INPUT"},
		{"unknown permission", "POST", schema + "/roles", map[string]any{"key": "r", "permissions": []string{"nothing:read"}}, 422, "INVALID_INPUT"},
		{"role attributes not an object", "POST", schema + "/roles", map[string]any{"key": "r", "attributes": "a"}, 422, "INVALID_INPUT"},
		{"granted_to on a tenant role", "POST", schema + "/roles", map[string]any{"key": "r", "granted_to": map[string]any{"users_with_role": []any{}}}, 501, "NOT_IMPLEMENTED"},
		{"resource relations", "POST", schema + "/resources", map[string]any{"key": "x", "actions": map[string]any{}, "relations": map[string]any{"parent": "y"}}, 404, "NOT_FOUND"},
		{"role on a missing instance", "POST", facts + "/role_assignments", map[string]any{"user": "cy", "role": "r", "resource_instance": "doc:1"}, 404, "NOT_FOUND"},
		{"nested condition sets", "POST", schema + "/condition_sets", map[string]any{"key": "cs", "name": "cs", "parent_id": "p", "conditions": map[string]any{}}, 501, "NOT_IMPLEMENTED"},
		{"proxy configs", "GET", facts + "/proxy_configs", nil, 501, "NOT_IMPLEMENTED"},
		{"page too big", "GET", facts + "/users?per_page=101", nil, 422, "PAGINATION_SIZE_OVERREACHED"},
		{"page 0", "GET", facts + "/role_assignments?page=0", nil, 422, "INVALID_INPUT"},
		{"page past any list", "GET", facts + "/role_assignments?page=9223372036854775807", nil, 422, "INVALID_INPUT"},
		{"users page past any list", "GET", facts + "/users?page=1000001", nil, 422, "INVALID_INPUT"},
		{"unknown environment", "GET", "/v2/facts/default/nowhere/users", nil, 404, "NOT_FOUND"},
		{"unknown operation", "GET", "/v2/elements/config", nil, 404, "NOT_FOUND"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.pcall(tc.method, tc.path, k, tc.body)
			permitError(t, r, tc.status, tc.code)
			if tc.status == 422 && tc.code == "INVALID_INPUT" {
				if d, _ := r.obj()["detail"].([]any); len(d) == 0 {
					t.Fatalf("a 422 carries FastAPI's detail list (Permit's Go SDK reads it): %s", r.raw)
				}
			}
		})
	}
}

func TestPermitAPIAuthLimitsAndLog(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	permitError(t, s.pcall("GET", "/v2/api-key/scope", "", nil), 401, "UNAUTHORIZED")
	permitError(t, s.pcall("GET", "/v2/api-key/scope", "nope", nil), 401, "UNAUTHORIZED")

	// The key's scope decides the path segments Permit's SDKs use.
	_, envKey := s.newKey("environment", []string{"view:user", "check:access"}, map[string]any{"project": "default", "environment": "development", "rate_limit_per_hour": 4})
	scope := s.pmust(200, "GET", "/v2/api-key/scope", envKey, nil).obj()
	if scope["organization_id"] != s.orgID || scope["project_id"] != s.projID || scope["environment_id"] != s.devID {
		t.Fatalf("scope: %v", scope)
	}
	if org := s.pmust(200, "GET", "/v2/api-key/scope", s.key, nil).obj(); org["project_id"] != nil || org["environment_id"] != nil {
		t.Fatalf("an organization key's scope: %v", org)
	}
	base := "/v2/facts/" + s.projID + "/" + s.devID
	s.pmust(200, "GET", base+"/users", envKey, nil)
	permitError(t, s.pcall("POST", base+"/users", envKey, map[string]any{"key": "x"}), 403, "FORBIDDEN_ACCESS")
	permitError(t, s.pcall("GET", "/v2/facts/"+s.projID+"/"+s.prodID+"/users", envKey, nil), 403, "FORBIDDEN_ACCESS")

	// The key's own limit (4 an hour) is spent by these calls like by v1's.
	r := s.pcall("GET", base+"/users", envKey, nil)
	permitError(t, r, 429, "RATE_LIMITED")
	if r.header.Get("Retry-After") == "" || r.header.Get("X-RateLimit-Limit") != "4" {
		t.Fatalf("429 headers: %v", r.header)
	}

	// Every call is in the API log, with its route and its key (the log is
	// written in batches: wait for the entry, up to a deadline).
	var found map[string]any
	testwait.Until(t, 30*time.Second, "the 403 in the API log", func() bool {
		logs := s.must(200, req{method: "GET", path: "/v1/logs?path=" + base + "/users&per_page=100", key: s.key}).list()
		for _, l := range logs {
			if m := l.(map[string]any); m["status"] == float64(403) && m["method"] == "POST" {
				found = m
			}
		}
		return found != nil
	})
	if found == nil || found["route"] != "POST /v2/facts/{proj}/{env}/users" || found["actor_type"] != "key" || found["error_code"] != "FORBIDDEN_ACCESS" {
		t.Fatalf("API log entry: %v", found)
	}
}

func TestPermitAPIListsAndBulk(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	k := s.key
	s.pmust(200, "POST", schema+"/resources", k, map[string]any{"key": "doc", "actions": map[string]any{"read": map[string]any{}}})
	for _, r := range []string{"a", "b"} {
		s.pmust(200, "POST", schema+"/roles", k, map[string]any{"key": "role-" + r, "permissions": []string{"doc:read"}})
	}
	for i := range 3 {
		s.pmust(200, "POST", facts+"/tenants", k, map[string]any{"key": fmt.Sprintf("t%d", i), "attributes": map[string]any{"n": i, "even": i%2 == 0}})
	}
	// Sync: 201 on create, 200 on replace; a replace drops what is not sent.
	s.pmust(201, "PUT", facts+"/users/dee", k, map[string]any{"key": "dee", "email": "dee@example.com", "first_name": "Dee"})
	if got := s.pmust(200, "PUT", facts+"/users/dee", k, map[string]any{"key": "dee", "email": "new@example.com"}).obj(); got["email"] != "new@example.com" || got["first_name"] != nil {
		t.Fatalf("replaced user: %v", got)
	}
	if got := s.pmust(200, "POST", facts+"/bulk/users", k, map[string]any{"operations": []map[string]any{{"key": "u1"}, {"key": "u2"}, {"key": "u3"}}}).obj(); got["created"] != float64(3) {
		t.Fatalf("bulk create: %v", got)
	}
	permitError(t, s.pcall("POST", facts+"/bulk/users", k, map[string]any{"operations": []map[string]any{{"key": "u4"}, {"key": "u1"}}}), 409, "DUPLICATE_ENTITY")
	s.pmust(404, "GET", facts+"/users/u4", k, nil) // all or nothing
	if got := s.pmust(200, "POST", facts+"/role_assignments/bulk", k, []map[string]any{
		{"user": "u1", "role": "role-a", "tenant": "t0"}, {"user": "u2", "role": "role-a", "tenant": "t0"}, {"user": "u2", "role": "role-b", "tenant": "t1"},
		{"user": "u1", "role": "role-a", "tenant": "t0"}, // again: not created twice
	}).obj(); got["assignments_created"] != float64(3) {
		t.Fatalf("bulk assign: %v", got)
	}
	permitError(t, s.pcall("POST", facts+"/role_assignments/bulk", k, []map[string]any{{"user": "u3", "role": "role-a", "tenant": "t0"}, {"user": "ghost", "role": "role-a"}}), 404, "NOT_FOUND")

	// Shapes: tenants, roles and assignments are arrays, or paged with
	// include_total_count; users are always paged.
	if got := s.pmust(200, "GET", facts+"/tenants?per_page=2", k, nil).arr(); len(got) != 2 {
		t.Fatalf("tenants page: %v", got)
	}
	if got := s.pmust(200, "GET", facts+"/tenants?attr_even=true", k, nil).arr(); len(got) != 2 {
		t.Fatalf("tenants with even=true: %v", got)
	}
	if got := s.pmust(200, "GET", facts+"/tenants?attr_n=1", k, nil).arr(); len(got) != 1 || got[0].(map[string]any)["key"] != "t1" {
		t.Fatalf("tenants with n=1: %v", got)
	}
	paged := s.pmust(200, "GET", schema+"/roles?include_total_count=true&per_page=1", k, nil).obj()
	if paged["total_count"] != float64(2) || paged["page_count"] != float64(2) {
		t.Fatalf("roles paged: %v", paged)
	}
	as := s.pmust(200, "GET", facts+"/role_assignments?tenant=t0&user=", k, nil).arr()
	if len(as) != 2 {
		t.Fatalf("assignments in t0: %v", as)
	}
	byID := s.pmust(200, "GET", facts+"/role_assignments?tenant="+as[0].(map[string]any)["tenant_id"].(string)+"&role="+as[0].(map[string]any)["role_id"].(string), k, nil).arr()
	if len(byID) != 2 {
		t.Fatalf("assignments filtered by ids: %v", byID)
	}
	if a := as[0].(map[string]any); len(a) != 13 {
		t.Fatalf("an assignment has exactly Permit's 13 fields: %v", a)
	}
	multi := s.pmust(200, "GET", facts+"/role_assignments?role=role-a&role=role-b&include_total_count=true", k, nil).obj()
	if multi["total_count"] != float64(3) {
		t.Fatalf("repeated role filter: %v", multi)
	}
	det := s.pmust(200, "GET", facts+"/role_assignments?detailed=true&user=u2", k, nil).arr()
	if len(det) != 2 || det[0].(map[string]any)["role"].(map[string]any)["key"] == nil {
		t.Fatalf("detailed: %v", det)
	}
	if got := s.pmust(200, "GET", facts+"/users?role=role-a", k, nil).obj(); got["total_count"] != float64(2) {
		t.Fatalf("users with role-a: %v", got)
	}
	// Each listed user carries its own roles, in the order given (one read
	// for the page's users).
	for _, q := range []string{"", "?role=role-a&role=role-b"} {
		want := map[string]string{"dee": "", "u1": "role-a@t0", "u2": "role-a@t0 role-b@t1", "u3": ""}
		if q != "" {
			want = map[string]string{"u1": "role-a@t0", "u2": "role-a@t0 role-b@t1"}
		}
		got := map[string]string{}
		for _, u := range s.pmust(200, "GET", facts+"/users"+q, k, nil).obj()["data"].([]any) {
			u := u.(map[string]any)
			var roles []string
			for _, r := range u["roles"].([]any) {
				r := r.(map[string]any)
				roles = append(roles, r["role"].(string)+"@"+r["tenant"].(string))
			}
			got[u["key"].(string)] = strings.Join(roles, " ")
		}
		if !maps.Equal(got, want) {
			t.Fatalf("users%s: roles %v, want %v", q, got, want)
		}
	}
	tu := s.pmust(200, "GET", facts+"/tenants/t0/users", k, nil).obj()
	if tu["total_count"] != float64(2) {
		t.Fatalf("t0's users: %v", tu)
	}
	s.pmust(204, "DELETE", facts+"/tenants/t0/users/u1", k, nil)
	if tu := s.pmust(200, "GET", facts+"/tenants/t0/users", k, nil).obj(); tu["total_count"] != float64(1) {
		t.Fatalf("t0's users after removing u1: %v", tu)
	}
	if got := s.pmust(200, "DELETE", facts+"/role_assignments/bulk", k, []map[string]any{{"user": "u2", "role": "role-a", "tenant": "t0"}, {"user": "u1", "role": "role-b", "tenant": "t1"}}).obj(); got["assignments_removed"] != float64(1) {
		t.Fatalf("bulk unassign: %v", got)
	}
	if got := s.pmust(200, "DELETE", facts+"/bulk/users", k, map[string]any{"idents": []string{"u1", "u2", "nobody"}}).obj(); got["deleted"] != float64(2) {
		t.Fatalf("bulk delete: %v", got)
	}

	// Role permissions and parents, resource actions.
	s.pmust(200, "POST", schema+"/resources/doc/actions", k, map[string]any{"key": "share", "name": "Share"})
	role := s.pmust(200, "POST", schema+"/roles/role-a/permissions", k, map[string]any{"permissions": []string{"doc:share"}}).obj()
	if fmt.Sprint(role["permissions"]) != "[doc:read doc:share]" {
		t.Fatalf("permissions added: %v", role)
	}
	role = s.pmust(200, "DELETE", schema+"/roles/role-a/permissions", k, map[string]any{"permissions": []string{"doc:read"}}).obj()
	if fmt.Sprint(role["permissions"]) != "[doc:share]" {
		t.Fatalf("permissions removed: %v", role)
	}
	if role = s.pmust(200, "PUT", schema+"/roles/role-a/parents/role-b", k, nil).obj(); fmt.Sprint(role["extends"]) != "[role-b]" {
		t.Fatalf("parent added: %v", role)
	}
	permitError(t, s.pcall("PUT", schema+"/roles/role-b/parents/role-a", k, nil), 422, "INVALID_INPUT") // a cycle
	actions := s.pmust(200, "GET", schema+"/resources/doc/actions", k, nil).arr()
	if len(actions) != 2 || actions[1].(map[string]any)["permission_name"] != "doc:share" {
		t.Fatalf("actions: %v", actions)
	}
	permitError(t, s.pcall("DELETE", schema+"/resources/doc/actions/share", k, nil), 409, "ENTITY_IN_USE") // role-a's permission
	s.pmust(204, "DELETE", schema+"/resources/doc/actions/share?cascade=true", k, nil)
	if res := s.pmust(200, "GET", schema+"/resources/doc", k, nil).obj(); len(res["actions"].(map[string]any)) != 1 {
		t.Fatalf("action deleted: %v", res)
	}
}

func TestPermitAPIProjects(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	if got := s.pmust(200, "GET", "/v2/projects", s.key, nil).arr(); len(got) != 1 || got[0].(map[string]any)["key"] != "default" {
		t.Fatalf("projects: %v", got)
	}
	p := s.pmust(200, "POST", "/v2/projects", s.key, map[string]any{"key": "shop", "name": "Shop"}).obj()
	envs := s.pmust(200, "GET", "/v2/projects/shop/envs", s.key, nil).arr()
	if len(envs) != 2 {
		t.Fatalf("a new project's environments: %v", envs)
	}
	e := s.pmust(200, "POST", "/v2/projects/"+p["id"].(string)+"/envs", s.key, map[string]any{"key": "staging", "name": "Staging"}).obj()
	if e["project_id"] != p["id"] {
		t.Fatalf("environment: %v", e)
	}
	s.pmust(200, "POST", "/v2/facts/shop/staging/users", s.key, map[string]any{"key": "eve"})
	s.pmust(200, "PATCH", "/v2/projects/shop/envs/staging", s.key, map[string]any{"name": "Staging 2"})
	// An environment key sees its own project only, and cannot make one.
	_, envKey := s.newKey("environment", []string{"view:project", "manage:project"}, map[string]any{"project": "default", "environment": "development"})
	if got := s.pmust(200, "GET", "/v2/projects", envKey, nil).arr(); len(got) != 1 || got[0].(map[string]any)["key"] != "default" {
		t.Fatalf("an environment key's projects: %v", got)
	}
	permitError(t, s.pcall("POST", "/v2/projects", envKey, map[string]any{"key": "x"}), 403, "FORBIDDEN_ACCESS")
	s.pmust(204, "DELETE", "/v2/projects/shop/envs/staging", s.key, nil)
	s.pmust(204, "DELETE", "/v2/projects/shop", s.key, nil)
	permitError(t, s.pcall("GET", "/v2/projects/shop", s.key, nil), 404, "NOT_FOUND")
}

var update = flag.Bool("update", false, "rewrite testdata/openapi.json from the served /v2 spec")

// The v2 reference lists what is served, validates, and is the reviewed
// golden file: a change to the Permit API's surface shows as its diff.
func TestPermitAPIReference(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	r := s.pmust(200, "GET", "/v2/openapi.json", "", nil)
	golden := filepath.Join("testdata", "openapi.json")
	if *update {
		if err := os.WriteFile(golden, []byte(r.raw), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/permit/v2 -run TestPermitAPIReference -update)", err)
	}
	if string(want) != r.raw {
		t.Errorf("the Permit API's surface changed: review the diff and run go test ./internal/permit/v2 -run TestPermitAPIReference -update")
	}
	doc, err := openapi3.NewLoader().LoadFromData([]byte(r.raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the v2 spec does not validate: %v", err)
	}
	for _, p := range []string{"/v2/api-key/scope", "/v2/facts/{proj}/{env}/users/{user}", "/v2/schema/{proj}/{env}/roles/{role}/permissions", "/allowed/bulk"} {
		if doc.Paths.Find(p) == nil {
			t.Errorf("the v2 spec lacks %s", p)
		}
	}
	page := s.do(req{method: "GET", path: "/v2/redoc"})
	if page.status != 200 || !strings.Contains(page.raw, `spec-url="/v2/openapi.json"`) {
		t.Fatalf("/v2/redoc: %d %s", page.status, page.raw)
	}
}
