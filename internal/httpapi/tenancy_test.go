package httpapi_test

import (
	"fmt"
	"strings"
	"testing"
)

func TestProjectsAndEnvironments(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	k := s.key
	p := s.must(201, req{method: "POST", path: "/v1/projects", key: k, body: map[string]any{"name": "Web App", "description": "front"}}).data()
	if p["key"] != "web-app" || p["description"] != "front" {
		t.Fatalf("created %v", p)
	}
	s.must(409, req{method: "POST", path: "/v1/projects", key: k, body: map[string]any{"name": "Web App"}})
	s.must(400, req{method: "POST", path: "/v1/projects", key: k, body: map[string]any{"name": "X", "key": "Bad Key!"}})
	s.must(400, req{method: "POST", path: "/v1/projects", key: k, body: map[string]any{"name": "X", "key": "01a2052c-d605-7e39-a23b-ed443940e2de"}})
	s.must(200, req{method: "GET", path: "/v1/projects/web-app", key: k})
	s.must(200, req{method: "GET", path: "/v1/projects/" + p["id"].(string), key: k})
	s.must(404, req{method: "GET", path: "/v1/projects/nope", key: k})

	u := s.must(200, req{method: "PATCH", path: "/v1/projects/web-app", key: k, body: map[string]any{"name": "Web", "key": "web"}}).data()
	if u["name"] != "Web" || u["key"] != "web" || u["id"] != p["id"] {
		t.Fatalf("updated %v", u)
	}
	for i := 0; i < 25; i++ {
		s.must(201, req{method: "POST", path: "/v1/projects", key: k, body: map[string]any{"name": fmt.Sprintf("P%02d", i)}})
	}
	page := s.must(200, req{method: "GET", path: "/v1/projects", key: k})
	m := page.meta()
	if len(page.list()) != 20 || m["total_items"] != float64(27) || m["total_pages"] != float64(2) || m["has_next"] != true || m["has_previous"] != false || m["per_page"] != float64(20) {
		t.Fatalf("default paging: %d items, meta %v", len(page.list()), m)
	}
	page = s.must(200, req{method: "GET", path: "/v1/projects?page=2&per_page=20&sort=name&order=desc", key: k})
	m = page.meta()
	if len(page.list()) != 7 || m["has_next"] != false || m["has_previous"] != true || m["page"] != float64(2) {
		t.Fatalf("page 2: %d items, meta %v", len(page.list()), m)
	}
	first := s.must(200, req{method: "GET", path: "/v1/projects?sort=name&order=desc&per_page=1", key: k}).list()[0].(map[string]any)
	if first["name"] != "Web" {
		t.Fatalf("sort by name desc starts with %v", first["name"])
	}
	if l := s.must(200, req{method: "GET", path: "/v1/projects?key=web", key: k}).list(); len(l) != 1 {
		t.Fatalf("filter by key: %d", len(l))
	}

	e := s.must(201, req{method: "POST", path: "/v1/projects/web/environments", key: k, body: map[string]any{"name": "Sandbox", "sandbox": true}}).data()
	if e["sandbox"] != true || e["key"] != "sandbox" || e["project_id"] != p["id"] {
		t.Fatalf("env %v", e)
	}
	// A new project starts with development and production.
	if l := s.must(200, req{method: "GET", path: "/v1/projects/web/environments?sort=key", key: k}).list(); len(l) != 3 ||
		l[0].(map[string]any)["key"] != "development" || l[1].(map[string]any)["key"] != "production" {
		t.Fatalf("a new project's environments: %v", l)
	}
	s.must(409, req{method: "POST", path: "/v1/projects/web/environments", key: k, body: map[string]any{"name": "Production"}})
	if l := s.must(200, req{method: "GET", path: "/v1/projects/web/environments?sandbox=true", key: k}).list(); len(l) != 1 {
		t.Fatalf("sandbox filter: %v", l)
	}
	s.must(400, req{method: "GET", path: "/v1/projects/web/environments?sandbox=maybe", key: k})
	ue := s.must(200, req{method: "PATCH", path: "/v1/projects/web/environments/sandbox", key: k, body: map[string]any{"sandbox": false, "description": "no more"}}).data()
	if ue["sandbox"] != false || ue["description"] != "no more" {
		t.Fatalf("env update %v", ue)
	}
	set := s.must(200, req{method: "PATCH", path: "/v1/projects/web/environments/sandbox/settings", key: k, body: map[string]any{"decision_log": "sampled", "decision_log_sample_rate": 0.25, "rate_limit_per_hour": 50}}).data()
	if set["decision_log"] != "sampled" || set["decision_log_sample_rate"] != 0.25 || set["rate_limit_per_hour"] != float64(50) {
		t.Fatalf("env settings %v", set)
	}
	set = s.must(200, req{method: "PATCH", path: "/v1/projects/web/environments/sandbox/settings", key: k, body: map[string]any{"rate_limit_per_hour": 0}}).data()
	if set["rate_limit_per_hour"] != nil {
		t.Fatalf("override not removed: %v", set)
	}
	s.must(400, req{method: "PATCH", path: "/v1/projects/web/environments/sandbox/settings", key: k, body: map[string]any{"decision_log_sample_rate": 2}})

	// An environment key dies with its environment, a project's with its project.
	_, envKey := s.newKey("environment", []string{"view:project"}, map[string]any{"project": "web", "environment": "sandbox"})
	s.must(200, req{method: "GET", path: "/v1/me", key: envKey})
	s.must(204, req{method: "DELETE", path: "/v1/projects/web/environments/sandbox", key: k})
	s.must(401, req{method: "GET", path: "/v1/me", key: envKey})
	s.must(404, req{method: "GET", path: "/v1/projects/web/environments/sandbox", key: k})
	s.must(204, req{method: "DELETE", path: "/v1/projects/web", key: k})
	s.must(404, req{method: "GET", path: "/v1/projects/web", key: k})
	s.must(404, req{method: "DELETE", path: "/v1/projects/web", key: k})
}

func TestMembersAndRoles(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	k := s.key
	roles := s.must(200, req{method: "GET", path: "/v1/member-roles", key: k}).list()
	if len(roles) != 3 || roles[0].(map[string]any)["key"] != "admin" || roles[0].(map[string]any)["builtin"] != true {
		t.Fatalf("built-in roles: %v", roles)
	}
	s.must(201, req{method: "POST", path: "/v1/member-roles", key: k, body: map[string]any{"name": "Auditor", "scopes": []string{"view:project", "view:member"}}})
	s.must(400, req{method: "POST", path: "/v1/member-roles", key: k, body: map[string]any{"name": "Root", "scopes": []string{"manage:permission"}}})
	s.must(403, req{method: "PATCH", path: "/v1/member-roles/admin", key: k, body: map[string]any{"name": "x"}})
	r := s.must(200, req{method: "PATCH", path: "/v1/member-roles/auditor", key: k, body: map[string]any{"scopes": []string{"view:settings"}}}).data()
	if strings.Join(toStrings(r["scopes"]), ",") != "view:settings" {
		t.Fatalf("role update %v", r)
	}

	m := s.must(201, req{method: "POST", path: "/v1/members", key: k, body: map[string]any{"email": "Grace@Example.com", "name": "Grace", "role": "auditor"}}).data()
	if m["email"] != "grace@example.com" || m["role"] != "auditor" {
		t.Fatalf("member %v", m)
	}
	mid := m["id"].(string)
	s.must(409, req{method: "POST", path: "/v1/members", key: k, body: map[string]any{"email": "grace@example.com", "role": "viewer"}})
	s.must(400, req{method: "POST", path: "/v1/members", key: k, body: map[string]any{"email": "nope", "role": "viewer"}})
	s.must(400, req{method: "POST", path: "/v1/members", key: k, body: map[string]any{"email": "x@example.com", "role": "ghost"}})
	s.must(409, req{method: "DELETE", path: "/v1/member-roles/auditor", key: k}) // still held
	if l := s.must(200, req{method: "GET", path: "/v1/members?role=auditor", key: k}).list(); len(l) != 1 {
		t.Fatalf("role filter: %v", l)
	}

	// Handing out roles needs manage:permission (the Admin role).
	_, hr := s.newKey("organization", []string{"view:member", "manage:member"}, nil)
	s.must(201, req{method: "POST", path: "/v1/members", key: hr, body: map[string]any{"email": "v@example.com", "role": "viewer"}})
	s.must(403, req{method: "POST", path: "/v1/members", key: hr, body: map[string]any{"email": "a@example.com", "role": "admin"}})
	s.must(403, req{method: "PATCH", path: "/v1/members/" + mid, key: hr, body: map[string]any{"role": "admin"}})
	s.must(200, req{method: "PATCH", path: "/v1/members/" + mid, key: hr, body: map[string]any{"name": "Grace H."}})
	s.must(403, req{method: "GET", path: "/v1/member-roles", key: hr})

	s.must(200, req{method: "PATCH", path: "/v1/members/" + mid, key: k, body: map[string]any{"role": "developer"}})
	s.must(204, req{method: "DELETE", path: "/v1/member-roles/auditor", key: k})
	admin := tenancyAdminID(t, s)
	s.must(409, req{method: "DELETE", path: "/v1/members/" + admin, key: k}) // last Admin
	s.must(204, req{method: "DELETE", path: "/v1/members/" + mid, key: k})
	s.must(404, req{method: "GET", path: "/v1/members/" + mid, key: k})
}

func TestOrganizationAndSettings(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	k := s.key
	orgs := s.must(200, req{method: "GET", path: "/v1/organizations", key: k})
	if len(orgs.list()) != 1 || orgs.meta()["total_items"] != float64(1) {
		t.Fatalf("organizations: %s", orgs.raw)
	}
	s.must(200, req{method: "GET", path: "/v1/organizations/my-organization", key: k})
	o := s.must(200, req{method: "PATCH", path: "/v1/organizations/" + s.orgID, key: k, body: map[string]any{"name": "Acme"}}).data()
	if o["name"] != "Acme" {
		t.Fatalf("rename: %v", o)
	}
	set := s.must(200, req{method: "GET", path: "/v1/settings", key: k}).data()
	// The first organization (gatehouse init) is the operator's: enterprise.
	if set["tier"] != "enterprise" || set["effective_rate_limit_per_hour"] != float64(10000) || set["log_retention_days"] != float64(30) {
		t.Fatalf("default settings %v", set)
	}
	for tier, limit := range map[string]float64{"pro": 1000, "free": 100, "enterprise": 10000} {
		set = s.must(200, req{method: "PATCH", path: "/v1/settings", key: k, body: map[string]any{"tier": tier}}).data()
		if set["effective_rate_limit_per_hour"] != limit {
			t.Fatalf("%s: %v", tier, set)
		}
	}
	set = s.must(200, req{method: "PATCH", path: "/v1/settings", key: k, body: map[string]any{"rate_limit_per_hour": 5000, "log_retention_days": 7}}).data()
	if set["effective_rate_limit_per_hour"] != float64(5000) || set["log_retention_days"] != float64(7) {
		t.Fatalf("override %v", set)
	}
	s.must(400, req{method: "PATCH", path: "/v1/settings", key: k, body: map[string]any{"log_retention_days": 0}})

	// A new organization comes with everything, and deleting it takes its keys.
	b := s.otherOrg("Beta")
	s.must(200, req{method: "GET", path: "/v1/projects/default/environments/production", key: b.key})
	if set := s.must(200, req{method: "GET", path: "/v1/settings", key: b.key}).data(); set["tier"] != "free" || set["effective_rate_limit_per_hour"] != float64(100) {
		t.Fatalf("a new organization's settings: %v", set)
	}
	scopes := s.must(200, req{method: "GET", path: "/v1/scopes", key: b.key}).list()
	if len(scopes) == 0 {
		t.Fatal("empty scope catalog")
	}
	s.must(204, req{method: "DELETE", path: "/v1/organizations/" + b.id, key: b.key})
	s.must(401, req{method: "GET", path: "/v1/me", key: b.key})
	s.must(200, req{method: "GET", path: "/v1/me", key: k})
}

func TestHealthAndDocs(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.must(200, req{method: "GET", path: "/healthz"})
	if d := s.must(200, req{method: "GET", path: "/readyz"}).data(); d["status"] != "ready" {
		t.Fatalf("readyz %v", d)
	}
	docs := s.must(200, req{method: "GET", path: "/docs"})
	for _, banned := range []string{"http://", "https://", "//cdn", "unpkg", "googleapis"} {
		if strings.Contains(docs.raw, banned) {
			t.Errorf("docs page refers to %q: it must work offline", banned)
		}
	}
	js := s.must(200, req{method: "GET", path: "/docs/assets/redoc.standalone.js"})
	if len(js.raw) < 500_000 {
		t.Fatalf("redoc bundle is %d bytes", len(js.raw))
	}
	if ct := s.must(200, req{method: "GET", path: "/v1/spec.yaml"}).header.Get("Content-Type"); ct != "application/yaml" {
		t.Fatalf("spec content type %q", ct)
	}
}

// ci: race
func TestReadyzReportsADeadDatabase(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.must(200, req{method: "GET", path: "/readyz"})
	if err := s.app.DB.Close(); err != nil {
		t.Fatal(err)
	}
	res := s.must(503, req{method: "GET", path: "/readyz"})
	if res.code() != "SERVICE_UNAVAILABLE" {
		t.Fatalf("code %s", res.code())
	}
	s.must(200, req{method: "GET", path: "/healthz"})
}
