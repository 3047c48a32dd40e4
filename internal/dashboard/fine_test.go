package dashboard_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// fieldError is the error drawn beside field name, "" for none.
func fieldError(body, name string) string {
	m := regexp.MustCompile(`<span class="field-error" id="err-` + regexp.QuoteMeta(name) + `">([^<]*)</span>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

func alertOf(body string) string {
	return strings.Join(regexp.MustCompile(`class="(?:alert|flash[^"]*)"[^>]*>([^<]*)`).FindAllString(body, -1), " | ")
}

// viewerMember is a member of s with the built-in Viewer role, signed in.
func viewerMember(t *testing.T, s *site) *member {
	t.Helper()
	st, m := s.api(t, "POST", "/v1/members", s.key, map[string]any{"email": "vic@example.com", "role": "viewer"})
	if st != 201 {
		t.Fatalf("member: %d %v", st, m)
	}
	id := m["data"].(map[string]any)["id"].(string)
	_, link := s.api(t, "POST", "/v1/members/"+id+"/setup-link", s.key, nil)
	path := link["data"].(map[string]any)["path"].(string)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if res, err := c.PostForm(s.url+path, url.Values{"password": {"viewers see things"}, "confirm": {"viewers see things"}}); err != nil || res.StatusCode != 303 {
		t.Fatalf("viewer setup: %v %v", res, err)
	}
	return s.member(t, "vic@example.com", "viewers see things")
}

// The fine-grained model through the pages: a folder tree, a role on an
// instance, relationships, attribute rules, and the playground's path.
func TestDashboardFineGrained(t *testing.T) {
	t.Parallel()
	s, m := adminSite(t, nil)
	check := func(what string, st int, body string) string {
		t.Helper()
		if st != 200 || strings.Contains(body, `class="alert"`) || strings.Contains(body, `class="flash warn"`) {
			t.Fatalf("%s: %d %s", what, st, alertOf(body))
		}
		return body
	}
	ok := func(what, path string, form url.Values) string {
		t.Helper()
		st, body := m.page(path, form)
		return check(what, st, body)
	}
	okGet := func(what, path string) string { t.Helper(); st, body := m.get(path); return check(what, st, body) }
	ok("folder", "/resources", url.Values{"key": {"folder"}, "actions": {"read, write"}})
	ok("document", "/resources", url.Values{"key": {"document"}, "actions": {"read, write"}})
	ok("tenant", "/tenants", url.Values{"key": {"acme"}})
	if _, body := m.get("/resources"); !strings.Contains(body, `href="/resources/document"`) {
		t.Error("the resources list does not link to a type's page")
	}
	for _, res := range []string{"folder", "document"} {
		ok("relation on "+res, "/resources/"+res+"/relations", url.Values{"key": {"parent"}, "subject": {"folder"}})
		ok("role on "+res, "/resources/"+res+"/roles", url.Values{"key": {"editor"}, "permissions": {"read", "write"},
			"gt_role_0": {"editor"}, "gt_on_0": {"folder"}, "gt_by_0": {"parent"}})
	}
	body := okGet("document's page", "/resources/document")
	if !strings.Contains(body, `holders of <strong>editor</strong> on the <a href="/resources/folder">folder</a> linked by <code>parent</code>`) ||
		!regexp.MustCompile(`<code>parent</code></td><td><a href="/resources/folder">folder</a>`).MatchString(body) {
		t.Errorf("the type's page does not show its role's derivation and its relation")
	}
	// A half-filled derivation is refused beside its field, the form kept.
	st, body := m.page("/resources/document/roles", url.Values{"key": {"viewer"}, "gt_role_1": {"editor"}})
	if st != 400 || fieldError(body, "gt_on_1") == "" || !strings.Contains(body, `name="key" required placeholder="editor" value="viewer"`) ||
		!regexp.MustCompile(`name="gt_on_1" aria-invalid="true" aria-describedby="err-gt_on_1" autofocus`).MatchString(body) {
		t.Errorf("a derivation without its type: %d %q", st, fieldError(body, "gt_on_1"))
	}

	// Instances, with attributes; bad JSON is refused beside the field.
	for _, f := range []string{"root", "specs"} {
		ok("folder "+f, "/instances", url.Values{"resource": {"folder"}, "key": {f}, "tenant": {"acme"}})
	}
	body = ok("document d1", "/instances", url.Values{"resource": {"document"}, "key": {"d1"}, "tenant": {"acme"}, "attributes": {`{"owner": "ann"}`}})
	if !strings.Contains(body, "<h1><code>document:d1</code></h1>") || !strings.Contains(body, "&#34;owner&#34;: &#34;ann&#34;") {
		t.Errorf("after creating d1 the page does not show it with its attributes")
	}
	for attrs, want := range map[string]string{`{"owner": `: "unexpected end of JSON input", `["a"]`: "it is a JSON list", `{"a":1,}`: "line 1"} {
		st, body = m.page("/instances", url.Values{"resource": {"document"}, "key": {"d2"}, "attributes": {attrs}})
		if e := fieldError(body, "attributes"); st != 400 || !strings.Contains(e, want) || !strings.Contains(body, "Not saved: check the marked field.") {
			t.Errorf("attributes %s: %d %q", attrs, st, e)
		}
	}
	// The server's refusal of a field goes beside it too.
	st, body = m.page("/instances", url.Values{"resource": {"document"}, "key": {"bad key!"}})
	if st != 400 || fieldError(body, "key") == "" {
		t.Errorf("a bad key: %d %q %s", st, fieldError(body, "key"), alertOf(body))
	}
	body = ok("edit d1", "/instances/document:d1", url.Values{"tenant": {"acme"}, "attributes": {`{"owner": "bob", "pages": 3}`}})
	if !strings.Contains(body, "&#34;pages&#34;: 3") {
		t.Error("the edited attributes are not shown")
	}
	// Moving it to another tenant, and back; saving the attributes alone does not move it.
	ok("tenant beta", "/tenants", url.Values{"key": {"beta"}})
	tenantOf := func() string {
		_, out := s.api(t, "GET", "/v1/resource-instances/document:d1?project=default&environment=development", s.key, nil)
		return out["data"].(map[string]any)["tenant"].(string)
	}
	ok("move d1", "/instances/document:d1", url.Values{"tenant": {"beta"}, "current_tenant": {"acme"}, "attributes": {`{"owner": "bob", "pages": 3}`}})
	if got := tenantOf(); got != "beta" {
		t.Errorf("d1 moved to beta is in %q", got)
	}
	ok("move d1 back", "/instances/document:d1", url.Values{"tenant": {"acme"}, "current_tenant": {"beta"}, "attributes": {`{"owner": "bob", "pages": 3}`}})
	if got := tenantOf(); got != "acme" {
		t.Errorf("d1 moved back is in %q", got)
	}
	st, body = m.page("/instances/document:d1", url.Values{"tenant": {"acme"}, "attributes": {`"text"`}})
	if st != 400 || !strings.Contains(fieldError(body, "attributes"), "JSON text") || !strings.Contains(body, "&#34;text&#34;</textarea>") {
		t.Errorf("editing with a JSON text: %d %q", st, fieldError(body, "attributes"))
	}
	if _, body = m.get("/instances?resource=folder&tenant=acme"); strings.Count(body, `<a href="/instances/folder:`) != 2 || strings.Contains(body, `<a href="/instances/document:d1"`) {
		t.Errorf("instances filtered by type and tenant: %s", regexp.MustCompile(`<a href="/instances/[^"]*"`).FindAllString(body, -1))
	}

	// Relationships: the folder tree; a cycle is refused with the reason.
	ok("root parent of specs", "/relationships", url.Values{"subject": {"folder:root"}, "relation": {"parent"}, "object": {"folder:specs"}})
	ok("specs parent of d1", "/relationships", url.Values{"subject": {"folder:specs"}, "relation": {"parent"}, "object": {"document:d1"}})
	st, body = m.page("/relationships", url.Values{"subject": {"folder:specs"}, "relation": {"parent"}, "object": {"folder:root"}})
	if st != 400 || !strings.Contains(alertOf(body), "cycle") {
		t.Errorf("a cycle: %d %s", st, alertOf(body))
	}
	if _, body = m.get("/relationships?object=document:d1"); strings.Count(body, "<tr><td>") != 1 || !strings.Contains(body, `<a href="/instances/folder:specs"><code>folder:specs</code></a>`) {
		t.Errorf("relationships of d1: %d rows", strings.Count(body, "<tr><td>"))
	}
	// A role on folder:root, from the instance's page.
	ok("user bob", "/users", url.Values{"key": {"bob"}})
	body = ok("assign on root", "/instances/folder:root/assignments", url.Values{"user": {"bob"}, "role": {"editor"}})
	if !strings.Contains(body, "Role editor given to bob.") || !strings.Contains(body, `<a href="/users?search=bob"><code>user:bob</code></a>`) {
		t.Error("the instance's page does not list bob's role")
	}
	if _, body = m.get("/assignments?kind=instance"); !strings.Contains(body, `<a href="/instances/folder:root"><code>folder:root</code></a>`) {
		t.Error("the assignments page does not show the role on folder:root")
	}
	if _, body = m.get("/assignments?kind=tenant"); strings.Contains(body, `<a href="/instances/folder:root">`) {
		t.Error("the tenant roles include the role on folder:root")
	}
	if _, body = m.get("/assignments?resource_instance=folder:specs"); strings.Contains(body, `<a href="/instances/folder:root">`) {
		t.Error("the roles on folder:specs include the role on folder:root")
	}
	if st, body = m.page("/instances/folder:root/assignments", url.Values{"user": {"nobody"}, "role": {"editor"}}); st != 404 && st != 400 {
		t.Errorf("assigning to a missing user: %d %s", st, alertOf(body))
	}

	// The playground answers with the path, each step linked.
	body = ok("check", "/check", url.Values{"user": {"bob"}, "action": {"write"}, "resource": {"document"}, "key": {"d1"}})
	path := regexp.MustCompile(`(?s)<ol class="path".*?</ol>`).FindString(body)
	for _, want := range []string{
		`<span class="badge muted">role on the instance</span>`,
		`<a href="/users?search=bob"><code>user:bob</code></a> <span class="rel">— editor →</span> <a href="/instances/folder:root"><code>folder:root</code></a>`,
		`href="/instances/folder:root#assignments"`,
		`href="/relationships?object=folder%3Aspecs&amp;relation=parent&amp;subject=folder%3Aroot"`,
		`rule: folder#editor ⇒ document#editor by parent`,
		`href="/resources/document#roles"`,
	} {
		if !strings.Contains(path, want) {
			t.Errorf("the path lacks %s:\n%s", want, path)
		}
	}
	if !strings.Contains(body, ">Allowed<") || !strings.Contains(body, `id="via">instance_role<`) || !strings.Contains(body, `<a href="/instances/document:d1"><code>document:d1</code></a>`) {
		t.Errorf("the check's verdict, via or the allowed instances are missing")
	}
	st, body = m.page("/check", url.Values{"user": {"bob"}, "action": {"write"}, "resource": {"document"}, "context": {"{ip: 1}"}, "user_attributes": {"[]"}})
	if st != 400 || fieldError(body, "context") == "" || fieldError(body, "user_attributes") == "" || strings.Contains(body, `class="verdict`) ||
		!strings.Contains(body, "{ip: 1}</textarea>") {
		t.Errorf("bad JSON in the playground: %d %q %q", st, fieldError(body, "context"), fieldError(body, "user_attributes"))
	}

	// Attribute rules: the server compiles the conditions and says what is wrong beside them.
	st, body = m.page("/condition-sets", url.Values{"key": {"finance"}, "type": {"userset"}, "conditions": {`{"user.dept": {"frobnicates": 1}}`}})
	if e := fieldError(body, "conditions"); st != 400 || !strings.Contains(e, "invalid conditions") {
		t.Errorf("bad conditions: %d %q %s", st, e, alertOf(body))
	}
	st, body = m.page("/condition-sets", url.Values{"key": {"finance"}, "type": {"userset"}, "conditions": {`{"user.dept": `}})
	if e := fieldError(body, "conditions"); st != 400 || !strings.Contains(e, "not JSON") || !strings.Contains(body, `&#34;user.dept&#34;:</textarea>`) {
		t.Errorf("conditions that are not JSON: %d %q", st, e)
	}
	ok("user set", "/condition-sets", url.Values{"key": {"finance"}, "type": {"userset"}, "conditions": {`{"user.dept": {"equals": "finance"}}`}})
	ok("resource set", "/condition-sets", url.Values{"key": {"owned-by-bob"}, "type": {"resourceset"}, "resource": {"document"},
		"conditions": {`{"resource.owner": {"equals": "bob"}}`}})
	body = ok("set rule", "/set-rules", url.Values{"user_set": {"finance"}, "action": {"read"}, "resource_set": {"owned-by-bob"}})
	if !strings.Contains(body, "<pre class=\"conditions\">{\n  &#34;resource.owner&#34;") || !regexp.MustCompile(`<td><code>finance</code></td><td><code class="scope">read</code></td><td><code>owned-by-bob</code></td>`).MatchString(body) {
		t.Error("the rules page does not show the sets and the rule")
	}
	ok("user ann", "/users", url.Values{"key": {"ann"}})
	body = ok("check ann", "/check", url.Values{"user": {"ann"}, "action": {"read"}, "resource": {"document"}, "key": {"d1"}, "user_attributes": {`{"dept": "finance"}`}})
	if !strings.Contains(body, `id="via">set_rule<`) || !strings.Contains(body, `<span class="badge muted">attribute rule</span>`) || !strings.Contains(body, `href="/rules"`) {
		t.Errorf("ann's check by attribute rule: %s", regexp.MustCompile(`(?s)<section class="card" id="decision".*?</section>`).FindString(body))
	}
	// Deleting a set in use without cascade is refused: the confirmation
	// page says why, names the rule and offers to delete it too.
	if _, body = m.page("/condition-sets/finance/delete", nil); !strings.Contains(alertOf(body), "⚠") ||
		!strings.Contains(body, "<code>finance may read owned-by-bob</code>") || !strings.Contains(body, `<input type="hidden" name="cascade" value="1">`) {
		t.Errorf("deleting a set in use without cascade: %s", alertOf(body))
	}
	_, body = m.get("/rules")
	rule := regexp.MustCompile(`/set-rules/([0-9a-f-]{36})/delete`).FindStringSubmatch(body)
	if rule == nil {
		t.Fatal("no delete form for the set rule")
	}
	ok("delete rule", "/set-rules/"+rule[1]+"/delete", nil)
	ok("delete set", "/condition-sets/owned-by-bob/delete", url.Values{"cascade": {"1"}})

	// Deleting: the tuple, then the instance; the role with its uses.
	ok("delete tuple", "/relationships/delete", url.Values{"subject": {"folder:specs"}, "relation": {"parent"}, "object": {"document:d1"}})
	body = ok("check again", "/check", url.Values{"user": {"bob"}, "action": {"write"}, "resource": {"document"}, "key": {"d1"}})
	if !strings.Contains(body, ">Denied<") {
		t.Error("bob still writes d1 after the tuple is gone")
	}
	ok("delete d1", "/instances/document:d1/delete", nil)
	if st, _ := s.api(t, "GET", "/v1/resource-instances/document:d1?project=default&environment=development", s.key, nil); st != 404 {
		t.Errorf("d1 after deleting it: %d", st)
	}
	// The assignments page takes a role on an instance away too.
	ok("unassign on root", "/assignments/delete", url.Values{"user": {"bob"}, "role": {"editor"}, "tenant": {"acme"}, "resource_instance": {"folder:root"}})
	if _, out := s.api(t, "GET", "/v1/role-assignments?kind=instance&project=default&environment=development", s.key, nil); len(out["data"].([]any)) != 0 {
		t.Errorf("roles on instances after taking bob's away: %v", out["data"])
	}
	ok("assign on root again", "/instances/folder:root/assignments", url.Values{"user": {"bob"}, "role": {"editor"}})
	if _, body = m.page("/resources/folder/roles/editor/delete", nil); !strings.Contains(alertOf(body), "⚠") {
		t.Errorf("deleting a role in use without cascade: %s", alertOf(body))
	}
	ok("delete role", "/resources/folder/roles/editor/delete", url.Values{"cascade": {"1"}})
	ok("delete relation", "/resources/document/relations/parent/delete", url.Values{"cascade": {"1"}})
	if st, _ := s.api(t, "GET", "/v1/resources/document/relations/parent?project=default&environment=development", s.key, nil); st != 404 {
		t.Errorf("the relation after deleting it: %d", st)
	}
	if st, _ := m.get("/instances/document:nope"); st != 404 {
		t.Errorf("a missing instance's page: %d", st)
	}
}

// A member without the manage scopes sees the fine-grained pages without
// their forms, and the API refuses the forms posted anyway.
func TestDashboardFineGrainedReadOnly(t *testing.T) {
	t.Parallel()
	s, _ := adminSite(t, nil)
	q := "?project=default&environment=development"
	for _, c := range []struct {
		path string
		body map[string]any
	}{
		{"/v1/resources", map[string]any{"key": "folder", "actions": []string{"read"}}},
		{"/v1/tenants", map[string]any{"key": "acme"}},
		{"/v1/users", map[string]any{"key": "bob"}},
		{"/v1/resources/folder/relations", map[string]any{"key": "parent", "subject": "folder"}},
		{"/v1/resources/folder/roles", map[string]any{"key": "editor", "permissions": []string{"read"}}},
		{"/v1/resource-instances", map[string]any{"resource": "folder", "key": "root", "tenant": "acme"}},
		{"/v1/resource-instances", map[string]any{"resource": "folder", "key": "specs", "tenant": "acme"}},
		{"/v1/relationship-tuples", map[string]any{"subject": "folder:root", "relation": "parent", "object": "folder:specs"}},
		{"/v1/role-assignments", map[string]any{"user": "bob", "role": "editor", "resource_instance": "folder:root"}},
		{"/v1/condition-sets", map[string]any{"key": "all", "type": "userset", "conditions": map[string]any{"user.key": map[string]any{"not-equals": ""}}}},
		{"/v1/condition-sets", map[string]any{"key": "folders", "type": "resourceset", "resource": "folder", "conditions": map[string]any{"resource.key": map[string]any{"not-equals": ""}}}},
		{"/v1/set-rules", map[string]any{"user_set": "all", "action": "read", "resource_set": "folders"}},
	} {
		if st, out := s.api(t, "POST", c.path+q, s.key, c.body); st != 201 {
			t.Fatalf("seed %s: %d %v", c.path, st, out)
		}
	}
	v := viewerMember(t, s)
	forms := regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	for _, pg := range []string{"/instances", "/instances/folder:root", "/relationships", "/resources/folder", "/rules", "/assignments"} {
		st, body := v.get(pg)
		if st != 200 || strings.Contains(body, `class="alert"`) {
			t.Errorf("%s for a Viewer: %d %s", pg, st, alertOf(body))
		}
		for _, f := range forms.FindAllStringSubmatch(body, -1) {
			if f[1] != "/env" && f[1] != "/signout" && f[1] != "/check" {
				t.Errorf("%s offers a Viewer the form %s", pg, f[1])
			}
		}
	}
	if _, body := v.get("/instances/folder:root"); !strings.Contains(body, "<code>user:bob</code>") || !strings.Contains(body, "<code>folder:specs</code>") {
		t.Error("a Viewer does not see the instance's role and relationship")
	}
	if _, body := v.get("/rules"); !strings.Contains(body, "<code>folders</code>") {
		t.Error("a Viewer does not see the condition sets")
	}
	for _, c := range []struct {
		path  string
		form  url.Values
		scope string
	}{
		{"/instances", url.Values{"resource": {"folder"}, "key": {"x"}, "tenant": {"acme"}}, "manage:resource"},
		{"/instances/folder:root", url.Values{"attributes": {`{"a": 1}`}}, "manage:resource"},
		{"/instances/folder:root/assignments", url.Values{"user": {"bob"}, "role": {"editor"}}, "manage:role_assignment"},
		{"/relationships", url.Values{"subject": {"folder:specs"}, "relation": {"parent"}, "object": {"folder:root"}}, "manage:resource"},
		{"/resources/folder/roles", url.Values{"key": {"viewer"}}, "manage:resource"},
		{"/resources/folder/relations", url.Values{"key": {"child"}, "subject": {"folder"}}, "manage:resource"},
		{"/condition-sets", url.Values{"key": {"x"}, "type": {"userset"}, "conditions": {`{"user.a": {"equals": 1}}`}}, "manage:role"},
		{"/set-rules", url.Values{"user_set": {"all"}, "action": {"write"}, "resource_set": {"folders"}}, "manage:role"},
	} {
		st, body := v.page(c.path, c.form)
		if st != 403 || !strings.Contains(alertOf(body), c.scope) {
			t.Errorf("a Viewer posting %s: %d %s", c.path, st, alertOf(body))
		}
	}
	for _, c := range []struct {
		path string
		form url.Values
	}{
		{"/instances/folder:root/delete", nil},
		{"/instances/folder:root/assignments/delete", url.Values{"user": {"bob"}, "role": {"editor"}}},
		{"/relationships/delete", url.Values{"subject": {"folder:root"}, "relation": {"parent"}, "object": {"folder:specs"}}},
		{"/resources/folder/roles/editor/delete", url.Values{"cascade": {"1"}}},
		{"/resources/folder/relations/parent/delete", url.Values{"cascade": {"1"}}},
		{"/condition-sets/all/delete", url.Values{"cascade": {"1"}}},
	} {
		if _, body := v.page(c.path, c.form); !strings.Contains(alertOf(body), "⚠") || !strings.Contains(alertOf(body), "manage:") {
			t.Errorf("a Viewer deleting with %s: %s", c.path, alertOf(body))
		}
	}
	// Nothing changed.
	for _, p := range []string{"/v1/resource-instances/folder:root", "/v1/resources/folder/roles/editor", "/v1/resources/folder/relations/parent", "/v1/condition-sets/all"} {
		if st, _ := s.api(t, "GET", p+q, s.key, nil); st != 200 {
			t.Errorf("%s after the Viewer's forms: %d", p, st)
		}
	}
	if _, out := s.api(t, "GET", "/v1/relationship-tuples"+q, s.key, nil); len(out["data"].([]any)) != 1 {
		t.Errorf("tuples after the Viewer's forms: %v", out["data"])
	}
	if _, out := s.api(t, "GET", "/v1/role-assignments"+q+"&kind=instance", s.key, nil); len(out["data"].([]any)) != 1 {
		t.Errorf("roles on instances after the Viewer's forms: %v", out["data"])
	}
}
