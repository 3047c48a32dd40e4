package dashboard_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

var decisionRowRE = regexp.MustCompile(`(?s)<tr class="decision (allowed|denied)">.*?</tr>`)

// The decision log page lists this environment's recorded checks, each
// explained, filtered as the API filters them; a denied one links to the
// playground with its question; a bad filter is a 4xx; a member whose
// role cannot read logs is refused.
func TestDashboardDecisions(t *testing.T) {
	t.Parallel()
	s, m := adminSite(t, nil)
	seedAPI(t, s,
		[2]any{"/v1/resources", map[string]any{"key": "doc", "actions": []string{"read", "write"}}},
		[2]any{"/v1/roles", map[string]any{"key": "viewer", "permissions": []string{"doc:read"}}},
		[2]any{"/v1/users", map[string]any{"key": "ada"}},
		[2]any{"/v1/users", map[string]any{"key": "bob"}},
		[2]any{"/v1/role-assignments", map[string]any{"user": "ada", "role": "viewer"}},
	)
	_, body := m.get("/decisions")
	if !strings.Contains(body, `id="decision-log-off"`) {
		t.Error("the page does not say the decision log is off")
	}
	for _, env := range []string{"development", "production"} {
		if st, out := s.api(t, "PATCH", "/v1/projects/default/environments/"+env+"/settings", s.key, map[string]any{"decision_log": "full"}); st != 200 {
			t.Fatalf("decision log on in %s: %d %v", env, st, out)
		}
	}
	for _, c := range []struct{ env, user, action string }{
		{"development", "ada", "read"}, {"development", "ada", "write"}, {"development", "bob", "read"}, {"production", "zed", "read"},
	} {
		if st, out := s.api(t, "POST", "/v1/allowed?project=default&environment="+c.env, s.key,
			map[string]any{"user": c.user, "action": c.action, "resource": map[string]any{"type": "doc"}}); st != 200 {
			t.Fatalf("check %v: %d %v", c, st, out)
		}
	}
	rows := func(q string) []string {
		t.Helper()
		st, body := m.get("/decisions" + q)
		if st != 200 {
			t.Fatalf("GET /decisions%s: %d %s", q, st, alertOf(body))
		}
		return decisionRowRE.FindAllString(body, -1)
	}
	testwait.Until(t, 10*time.Second, "three checks recorded", func() bool { return len(rows("")) == 3 })
	all := strings.Join(rows(""), "\n")
	if strings.Contains(all, "zed") {
		t.Error("another environment's check is listed")
	}
	for _, want := range []string{
		`user &#34;ada&#34; may read doc in tenant &#34;default&#34;, granted by &#34;viewer&#34;`,
		`no role of user &#34;ada&#34; in tenant &#34;default&#34; grants doc:write`,
		`user &#34;bob&#34; has no role in tenant &#34;default&#34;`,
		`href="/check?action=write&amp;resource=doc&amp;tenant=default&amp;user=ada"`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("the log lacks %s", want)
		}
	}
	for q, want := range map[string]int{
		"?user=ada": 2, "?allow=false": 2, "?allow=true": 1, "?reason=no_role_in_tenant": 1,
		"?action=write&user=ada": 1, "?reason=instance_in_other_tenant": 0, "?source=pdp": 0, "?source=api": 3, "?resource=doc&tenant=default": 3, "?tenant=other": 0,
	} {
		if got := rows(q); len(got) != want {
			t.Errorf("/decisions%s: %d rows, want %d", q, len(got), want)
		}
	}
	for _, q := range []string{"?allow=maybe", "?reason=bogus", "?source=elsewhere"} {
		st, body := m.get("/decisions" + q)
		if st/100 != 4 || !strings.Contains(body, `class="alert"`) {
			t.Errorf("/decisions%s: %d, want a 4xx with a message", q, st)
		}
	}

	// A member whose role cannot read logs.
	st, out := s.api(t, "POST", "/v1/member-roles", s.key, map[string]any{"key": "people", "name": "People", "scopes": []string{"view:organization", "view:project", "view:user", "manage:user"}})
	if st != 201 {
		t.Fatalf("member role: %d %v", st, out)
	}
	st, out = s.api(t, "POST", "/v1/members", s.key, map[string]any{"email": "pat@example.com", "role": "people"})
	if st != 201 {
		t.Fatalf("member: %d %v", st, out)
	}
	_, link := s.api(t, "POST", "/v1/members/"+out["data"].(map[string]any)["id"].(string)+"/setup-link", s.key, nil)
	pat := s.memberWithLink(t, link["data"].(map[string]any)["path"].(string), "pat@example.com", "pat's long password")
	if st, body := pat.get("/decisions"); st != 403 || decisionRowRE.MatchString(body) {
		t.Errorf("/decisions for a role without view:log: %d", st)
	}
	if st, body := pat.get("/policy"); st != 403 {
		t.Errorf("/policy for a role without view:resource: %d %s", st, alertOf(body))
	}
	// Their view of a user: no roles, checks or calls, and no way to give
	// a role (the API refuses a forged one).
	st, body = pat.get("/users/ada")
	if st != 200 || strings.Contains(body, `id="recent-decisions"`) || strings.Contains(body, `id="assign-role"`) || strings.Contains(body, `id="recent-changes"`) {
		t.Errorf("a user's page for a role without those scopes: %d", st)
	}
	if st, body := pat.page("/users/ada/roles", url.Values{"role": {"viewer"}, "tenant": {"default"}}); st != 200 || !strings.Contains(body, "⚠") {
		t.Errorf("a forged assignment: %d %s", st, alertOf(body))
	}
	if _, out := s.api(t, "GET", "/v1/role-assignments?user=ada&project=default&environment=development", s.key, nil); len(out["data"].([]any)) != 1 {
		t.Errorf("ada's roles after a forged assignment: %v", out["data"])
	}
}

// A user's page gives and takes roles through the API, names the calls
// that changed the user, and refuses another environment's user.
func TestDashboardUserPageRoles(t *testing.T) {
	t.Parallel()
	s, m := adminSite(t, nil)
	seedAPI(t, s,
		[2]any{"/v1/resources", map[string]any{"key": "doc", "actions": []string{"read", "write"}}},
		[2]any{"/v1/roles", map[string]any{"key": "viewer", "permissions": []string{"doc:read"}}},
		[2]any{"/v1/tenants", map[string]any{"key": "acme"}},
		[2]any{"/v1/users", map[string]any{"key": "ada"}},
	)
	if st, out := s.api(t, "PATCH", "/v1/users/ada?project=default&environment=development", s.key, map[string]any{"first_name": "Ada"}); st != 200 {
		t.Fatalf("patch ada: %d %v", st, out)
	}
	if st, body := m.page("/users/ada/roles", url.Values{"role": {"viewer"}, "tenant": {"acme"}}); st != 200 || !strings.Contains(body, "Gave ada role viewer in acme.") {
		t.Fatalf("give a role: %d %s", st, alertOf(body))
	}
	// The API log is written in batches: the page names the change once it is.
	var body string
	testwait.Until(t, 10*time.Second, "the PATCH of ada on her page", func() bool {
		_, body = m.get("/users/ada")
		return strings.Contains(body, "PATCH /v1/users/ada")
	})
	for _, want := range []string{`<a href="/tenants/acme"><code>acme</code></a>`, `aria-label="Take role viewer in acme away"`, `<code class="scope">doc:read</code>`} {
		if !strings.Contains(body, want) {
			t.Errorf("ada's page lacks %s", want)
		}
	}
	for _, tc := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"role": {""}}, "Choose the role to give."},
		{url.Values{"role": {"nobody"}, "tenant": {"acme"}}, "⚠"},
		{url.Values{"role": {"viewer"}, "tenant": {"nowhere"}}, "⚠"},
	} {
		if st, body := m.page("/users/ada/roles", tc.form); st != 200 || !strings.Contains(body, tc.want) {
			t.Errorf("give %v: %d %s", tc.form, st, alertOf(body))
		}
	}
	if st, body := m.page("/users/ada/roles/delete", url.Values{"role": {"viewer"}, "tenant": {"acme"}}); st != 200 || !strings.Contains(body, "Took role viewer in acme from ada.") {
		t.Errorf("take the role: %d %s", st, alertOf(body))
	}
	if _, out := s.api(t, "GET", "/v1/role-assignments?user=ada&project=default&environment=development", s.key, nil); len(out["data"].([]any)) != 0 {
		t.Errorf("ada's roles after taking it: %v", out["data"])
	}
	// Another environment's user: not found from here, and not given a role.
	if st, out := s.api(t, "POST", "/v1/users?project=default&environment=production", s.key, map[string]any{"key": "prod-only"}); st != 201 {
		t.Fatalf("production user: %d %v", st, out)
	}
	if st, _ := m.get("/users/prod-only"); st != 404 {
		t.Errorf("another environment's user page: %d", st)
	}
	if _, body := m.page("/users/prod-only/roles", url.Values{"role": {"viewer"}}); !strings.Contains(body, "⚠") {
		t.Errorf("a role given to another environment's user: %s", alertOf(body))
	}
	if _, out := s.api(t, "GET", "/v1/role-assignments?user=prod-only&project=default&environment=production", s.key, nil); len(out["data"].([]any)) != 0 {
		t.Errorf("the production user got a role: %v", out["data"])
	}
}
