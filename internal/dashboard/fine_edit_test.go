package dashboard_test

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// seedAPI creates facts through the v1 API of s's default environment.
func seedAPI(t *testing.T, s *site, seeds ...[2]any) {
	t.Helper()
	for _, sd := range seeds {
		path := sd[0].(string)
		if st, out := s.api(t, "POST", path+"?project=default&environment=development", s.key, sd[1]); st != 201 {
			t.Fatalf("seed %s: %d %v", path, st, out)
		}
	}
}

func jsonText(v any) string { b, _ := json.Marshal(v); return string(b) }

func apiData(t *testing.T, s *site, path string) map[string]any {
	t.Helper()
	st, out := s.api(t, "GET", path+"?project=default&environment=development", s.key, nil)
	if st != 200 {
		t.Fatalf("GET %s: %d %v", path, st, out)
	}
	return out["data"].(map[string]any)
}

// A role's derivations, actions and extends are edited on its page; the
// playground follows at once.
func TestDashboardEditsAResourceRole(t *testing.T) {
	t.Parallel()
	s, m := adminSite(t, nil)
	seedAPI(t, s,
		[2]any{"/v1/resources", map[string]any{"key": "folder", "actions": []string{"read", "write"}}},
		[2]any{"/v1/resources", map[string]any{"key": "document", "actions": []string{"read", "write"}}},
		[2]any{"/v1/tenants", map[string]any{"key": "acme"}},
		[2]any{"/v1/users", map[string]any{"key": "bob"}},
		[2]any{"/v1/resources/document/relations", map[string]any{"key": "parent", "subject": "folder"}},
		[2]any{"/v1/resources/folder/roles", map[string]any{"key": "editor", "permissions": []string{"read", "write"}}},
		[2]any{"/v1/resources/document/roles", map[string]any{"key": "viewer", "permissions": []string{"read"}}},
		[2]any{"/v1/resources/document/roles", map[string]any{"key": "editor", "permissions": []string{"write"}}},
		[2]any{"/v1/resource-instances", map[string]any{"resource": "folder", "key": "root", "tenant": "acme"}},
		[2]any{"/v1/resource-instances", map[string]any{"resource": "document", "key": "d1", "tenant": "acme"}},
		[2]any{"/v1/relationship-tuples", map[string]any{"subject": "folder:root", "relation": "parent", "object": "document:d1"}},
		[2]any{"/v1/role-assignments", map[string]any{"user": "bob", "role": "editor", "resource_instance": "folder:root"}},
	)
	bobWrites := func() string {
		t.Helper()
		_, body := m.page("/check", url.Values{"user": {"bob"}, "action": {"write"}, "resource": {"document"}, "key": {"d1"}})
		switch {
		case strings.Contains(body, ">Allowed<"):
			return "allowed"
		case strings.Contains(body, ">Denied<"):
			return "denied"
		}
		t.Fatalf("the check has no verdict: %s", alertOf(body))
		return ""
	}
	if got := bobWrites(); got != "denied" {
		t.Fatalf("before the derivation bob's write is %s", got)
	}

	// The type's page links to the role's; the form starts from the role.
	if _, body := m.get("/resources/document"); !strings.Contains(body, `href="/resources/document/roles/editor#edit-resource-role"`) {
		t.Error("the type's page has no Edit link for its role")
	}
	st, body := m.get("/resources/document/roles/editor")
	if st != 200 || !strings.Contains(body, `id="edit-resource-role"`) ||
		!strings.Contains(body, `name="permissions" value="write" checked`) || strings.Contains(body, `name="permissions" value="read" checked`) ||
		!strings.Contains(body, `name="extends" value="viewer" >`) || strings.Contains(body, `name="extends" value="editor"`) ||
		!strings.Contains(body, `<input type="hidden" name="gt_rows" value="2">`) {
		t.Fatalf("the role's page: %d %s", st, alertOf(body))
	}

	// Add the derivation, an action and an extended role.
	edit := url.Values{"name": {"Editor"}, "description": {"writes documents"}, "permissions": {"read", "write"}, "extends": {"viewer"},
		"gt_rows": {"2"}, "gt_role_0": {"editor"}, "gt_on_0": {"folder"}, "gt_by_0": {"parent"}}
	st, body = m.page("/resources/document/roles/editor", edit)
	if st != 200 || !strings.Contains(body, "Role editor of document saved.") {
		t.Fatalf("saving the role: %d %s", st, alertOf(body))
	}
	if !strings.Contains(body, `holders of <strong>editor</strong> on the <a href="/resources/folder">folder</a> linked by <code>parent</code>`) ||
		!strings.Contains(body, `name="gt_role_0" placeholder="editor" value="editor"`) || !strings.Contains(body, `<input type="hidden" name="gt_rows" value="3">`) {
		t.Error("the saved role's page does not show its derivation in the list and the form")
	}
	role := apiData(t, s, "/v1/resources/document/roles/editor")
	if g := role["granted_to"].([]any); len(g) != 1 || g[0].(map[string]any)["on_resource"] != "folder" || g[0].(map[string]any)["linked_by_relation"] != "parent" {
		t.Errorf("granted_to after the edit: %v", role["granted_to"])
	}
	if role["name"] != "Editor" || role["description"] != "writes documents" || len(role["permissions"].([]any)) != 2 || len(role["extends"].([]any)) != 1 {
		t.Errorf("the role after the edit: %v", role)
	}
	if got := bobWrites(); got != "allowed" {
		t.Errorf("after the derivation bob's write is %s", got)
	}

	// A half-filled row is refused beside its field, the form as typed.
	bad := url.Values{"name": {"Editor"}, "permissions": {"read"}, "gt_rows": {"3"}, "gt_role_0": {"editor"}, "gt_on_0": {"folder"}, "gt_by_0": {"parent"},
		"gt_role_2": {"editor"}, "gt_on_2": {"folder"}}
	st, body = m.page("/resources/document/roles/editor", bad)
	if st != 400 || !strings.Contains(fieldError(body, "gt_by_2"), "relation") || !strings.Contains(body, "Not saved: check the marked fields.") ||
		!strings.Contains(body, `name="permissions" value="read" checked`) || strings.Contains(body, `name="permissions" value="write" checked`) ||
		!regexp.MustCompile(`name="gt_by_2" aria-invalid="true" aria-describedby="err-gt_by_2" autofocus`).MatchString(body) {
		t.Errorf("a derivation without its relation: %d %q", st, fieldError(body, "gt_by_2"))
	}
	// The API's refusal (a role the folder does not have) is shown, not a 500.
	st, body = m.page("/resources/document/roles/editor", url.Values{"gt_rows": {"1"}, "gt_role_0": {"owner"}, "gt_on_0": {"folder"}, "gt_by_0": {"parent"}})
	if st < 400 || st >= 500 || !strings.Contains(alertOf(body), "Not saved: ") || !strings.Contains(body, `value="owner"`) {
		t.Errorf("a derivation from a missing role: %d %s", st, alertOf(body))
	}
	// A garbled row count is not a 500.
	if st, body = m.page("/resources/document/roles/editor", url.Values{"gt_rows": {"-5x"}, "permissions": {"read", "write"}, "extends": {"viewer"}}); st != 200 {
		t.Errorf("a garbled row count: %d %s", st, alertOf(body))
	}
	// Emptying the rows removes the derivation: bob loses the write.
	if g := apiData(t, s, "/v1/resources/document/roles/editor")["granted_to"].([]any); len(g) != 0 {
		t.Errorf("granted_to after saving no rows: %v", g)
	}
	if got := bobWrites(); got != "denied" {
		t.Errorf("after removing the derivation bob's write is %s", got)
	}
	if st, _ := m.get("/resources/document/roles/nope"); st != 404 {
		t.Errorf("a missing role's page: %d", st)
	}

	// A Viewer sees the role without the form, and is refused the edit.
	v := viewerMember(t, s)
	st, body = v.get("/resources/document/roles/editor")
	if st != 200 || strings.Contains(body, `<form method="post" action="/resources/`) || !strings.Contains(body, `<code class="scope">write</code>`) {
		t.Errorf("a Viewer on the role's page: %d %s", st, alertOf(body))
	}
	st, body = v.page("/resources/document/roles/editor", edit)
	if st != 403 || !strings.Contains(alertOf(body), "manage:resource") {
		t.Errorf("a Viewer editing the role: %d %s", st, alertOf(body))
	}
	if g := apiData(t, s, "/v1/resources/document/roles/editor")["granted_to"].([]any); len(g) != 0 {
		t.Errorf("the Viewer's edit changed the role: %v", g)
	}
}

// A condition set's conditions are edited on its page; the API's judgement
// of them is shown beside the field.
func TestDashboardEditsAConditionSet(t *testing.T) {
	t.Parallel()
	s, m := adminSite(t, nil)
	seedAPI(t, s,
		[2]any{"/v1/resources", map[string]any{"key": "document", "actions": []string{"read"}}},
		[2]any{"/v1/users", map[string]any{"key": "ann"}},
		[2]any{"/v1/tenants", map[string]any{"key": "acme"}},
		[2]any{"/v1/resource-instances", map[string]any{"resource": "document", "key": "d1", "tenant": "acme"}},
		[2]any{"/v1/condition-sets", map[string]any{"key": "finance", "type": "userset", "conditions": map[string]any{"user.dept": map[string]any{"equals": "finance"}}}},
		[2]any{"/v1/condition-sets", map[string]any{"key": "docs", "type": "resourceset", "resource": "document", "conditions": map[string]any{"resource.key": map[string]any{"not-equals": ""}}}},
		[2]any{"/v1/set-rules", map[string]any{"user_set": "finance", "action": "read", "resource_set": "docs"}},
	)
	salesReads := func() string {
		t.Helper()
		_, body := m.page("/check", url.Values{"user": {"ann"}, "action": {"read"}, "resource": {"document"}, "key": {"d1"}, "user_attributes": {`{"dept": "sales"}`}})
		switch {
		case strings.Contains(body, ">Allowed<"):
			return "allowed"
		case strings.Contains(body, ">Denied<"):
			return "denied"
		}
		t.Fatalf("the check has no verdict: %s", alertOf(body))
		return ""
	}
	if got := salesReads(); got != "denied" {
		t.Fatalf("before the edit ann of sales: %s", got)
	}
	if _, body := m.get("/rules"); !strings.Contains(body, `<a href="/condition-sets/finance"><code>finance</code></a>`) {
		t.Error("the rules page does not link to the set's page")
	}
	st, body := m.get("/condition-sets/finance")
	if st != 200 || !strings.Contains(body, `id="edit-condition-set"`) || !strings.Contains(body, "{\n  &#34;user.dept&#34;: {\n    &#34;equals&#34;: &#34;finance&#34;") ||
		!strings.Contains(body, `<a href="/condition-sets/docs"><code>docs</code></a>`) {
		t.Fatalf("the set's page: %d %s", st, alertOf(body))
	}

	edit := url.Values{"name": {"Money people"}, "description": {"finance and sales"},
		"conditions": {`{"anyOf": [{"user.dept": {"equals": "finance"}}, {"user.dept": {"equals": "sales"}}]}`}}
	st, body = m.page("/condition-sets/finance", edit)
	if st != 200 || !strings.Contains(body, "Condition set finance saved.") || !strings.Contains(body, "Money people") {
		t.Fatalf("saving the set: %d %s", st, alertOf(body))
	}
	set := apiData(t, s, "/v1/condition-sets/finance")
	if set["name"] != "Money people" || set["description"] != "finance and sales" || !strings.Contains(jsonText(set["conditions"]), "anyOf") {
		t.Errorf("the set after the edit: %v", set)
	}
	if got := salesReads(); got != "allowed" {
		t.Errorf("after the edit ann of sales: %s", got)
	}

	for _, c := range []struct{ conditions, want string }{
		{`{"user.dept": `, "not JSON"},
		{``, "Write the conditions"},
		{`{"user.dept": {"frobnicates": 1}}`, "invalid conditions"}, // the API's
	} {
		st, body = m.page("/condition-sets/finance", url.Values{"name": {"Money people"}, "conditions": {c.conditions}})
		e := fieldError(body, "conditions")
		if st != 400 || !strings.Contains(e, c.want) || !strings.Contains(body, `aria-invalid="true" autofocus>`+strings.ReplaceAll(strings.TrimSpace(c.conditions), `"`, "&#34;")+`</textarea>`) {
			t.Errorf("conditions %q: %d %q %s", c.conditions, st, e, alertOf(body))
		}
	}
	if !strings.Contains(jsonText(apiData(t, s, "/v1/condition-sets/finance")["conditions"]), "anyOf") {
		t.Error("a refused edit changed the conditions")
	}
	if st, _ := m.get("/condition-sets/nope"); st != 404 {
		t.Errorf("a missing set's page: %d", st)
	}
	if st, _ := m.page("/condition-sets/nope", edit); st != 404 {
		t.Errorf("editing a missing set: %d", st)
	}

	v := viewerMember(t, s)
	st, body = v.get("/condition-sets/finance")
	if st != 200 || strings.Contains(body, `<form method="post" action="/condition-sets/`) || !strings.Contains(body, `<pre class="conditions">`) {
		t.Errorf("a Viewer on the set's page: %d %s", st, alertOf(body))
	}
	st, body = v.page("/condition-sets/finance", url.Values{"conditions": {`{"user.dept": {"equals": "x"}}`}})
	if st != 403 || !strings.Contains(alertOf(body), "manage:role") {
		t.Errorf("a Viewer editing the set: %d %s", st, alertOf(body))
	}
	if !strings.Contains(jsonText(apiData(t, s, "/v1/condition-sets/finance")["conditions"]), "anyOf") {
		t.Error("the Viewer's edit changed the conditions")
	}
}

// The forms' choices of the schema are complete past the API's page of
// 100; a tenant is typed (with suggestions) and the API checks it.
func TestDashboardChoicesAreComplete(t *testing.T) {
	t.Parallel()
	s, m := adminSite(t, nil)
	seedAPI(t, s,
		[2]any{"/v1/resources", map[string]any{"key": "document", "actions": []string{"read"}}},
		[2]any{"/v1/tenants", map[string]any{"key": "acme"}},
	)
	// A type has at most 64 roles (authz.MaxResourceRoles); relations and
	// types have no such bound.
	var seeds [][2]any
	for i := range 105 {
		if i < 64 {
			seeds = append(seeds, [2]any{"/v1/resources/document/roles", map[string]any{"key": "r" + itoa3(i), "permissions": []string{"read"}}})
		}
		seeds = append(seeds, [2]any{"/v1/resources/document/relations", map[string]any{"key": "rel" + itoa3(i), "subject": "document"}},
			[2]any{"/v1/resources", map[string]any{"key": "t" + itoa3(i), "actions": []string{"read"}}},
			[2]any{"/v1/roles", map[string]any{"key": "tr" + itoa3(i)}})
	}
	seedAPI(t, s, seeds...)
	_, body := m.get("/resources/document")
	if n := strings.Count(body, `<input type="checkbox" name="extends"`); n != 64 {
		t.Errorf("the create form offers %d roles to extend, want 64", n)
	}
	for _, want := range []string{`<option value="rel104" >rel104 (from document)</option>`, `<option value="t104" >a related t104</option>`} {
		if !strings.Contains(body, want) {
			t.Errorf("the create form does not offer %s", want)
		}
	}
	_, body = m.get("/resources/document/roles/r000")
	if n := strings.Count(body, `<input type="checkbox" name="extends"`); n != 63 {
		t.Errorf("the edit form offers %d other roles to extend, want 63", n)
	}
	for _, want := range []string{`<option value="rel104" >rel104 (from document)</option>`, `<option value="t104" >a related t104</option>`} {
		if !strings.Contains(body, want) {
			t.Errorf("the edit form does not offer %s", want)
		}
	}
	if _, body = m.get("/instances"); !strings.Contains(body, `<option value="t104" >t104</option>`) {
		t.Error("the instances page does not offer the 106th resource type")
	}
	seedAPI(t, s, [2]any{"/v1/resource-instances", map[string]any{"resource": "document", "key": "x", "tenant": "acme"}})
	if _, body = m.get("/instances/document:x"); !strings.Contains(body, `<option value="r063" >r063</option>`) {
		t.Error("the instance's page does not offer the 64th role")
	}
	if !regexp.MustCompile(`<datalist id="tenant-keys">.*<option value="acme">`).MatchString(body) || !strings.Contains(body, `name="tenant" list="tenant-keys" required value="acme"`) {
		t.Error("the instance's tenant is not a text field with suggestions")
	}

	// Tenant roles and the permissions from every type, past 100 too.
	if _, body = m.get("/assignments"); !strings.Contains(body, `<option value="tr104">`) {
		t.Error("the assignments page does not offer the 105th tenant role")
	}
	if _, body = m.get("/roles"); !strings.Contains(body, `value="t104:read"`) || !strings.Contains(body, `name="extends" value="tr104"`) {
		t.Error("the roles page does not offer the 106th type's permission or the 105th role")
	}
	if _, body = m.get("/check"); !strings.Contains(body, `<option value="t104" >t104 (read)</option>`) {
		t.Error("the playground does not offer the 106th resource type")
	}

	// Any tenant key can be typed; one that does not exist is refused with the API's message.
	st, body := m.page("/instances", url.Values{"resource": {"document"}, "key": {"y"}, "tenant": {"nowhere"}})
	if st < 400 || st >= 500 || !strings.Contains(alertOf(body), "nowhere") || !strings.Contains(body, `value="nowhere"`) {
		t.Errorf("an instance in a missing tenant: %d %s", st, alertOf(body))
	}
	st, body = m.page("/instances/document:x", url.Values{"tenant": {"nowhere"}, "current_tenant": {"acme"}, "attributes": {"{}"}})
	if st < 400 || st >= 500 || !strings.Contains(alertOf(body), "nowhere") {
		t.Errorf("moving an instance to a missing tenant: %d %s", st, alertOf(body))
	}
	seedAPI(t, s, [2]any{"/v1/users", map[string]any{"key": "bob"}})
	if _, body = m.page("/assignments", url.Values{"user": {"bob"}, "role": {"tr000"}, "tenant": {"nowhere"}}); !strings.Contains(alertOf(body), "nowhere") {
		t.Errorf("a role in a missing tenant: %s", alertOf(body))
	}
	if st, body = m.page("/assignments", url.Values{"user": {"bob"}, "role": {"tr000"}, "tenant": {"acme"}}); st != 200 || !strings.Contains(alertOf(body), "created") {
		t.Errorf("a role in a typed tenant: %d %s", st, alertOf(body))
	}
}

func itoa3(i int) string {
	return string(rune('0'+i/100)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10))
}
