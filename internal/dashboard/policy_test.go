package dashboard_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// cellOf is the HTML of the policy editor's cell role:value.
func cellOf(body, role, value string) string {
	re := regexp.MustCompile(`(?s)<td [^>]*data-cell="` + regexp.QuoteMeta(role+":"+value) + `">.*?</td>`)
	return re.FindString(body)
}

// postJSON posts a form as the page's script does and reads its JSON answer.
func (m *member) postJSON(path string, form url.Values) (int, map[string]any) {
	m.t.Helper()
	req, _ := http.NewRequest("POST", m.s.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	res := m.do(req)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		m.t.Fatalf("POST %s: %d, not JSON: %.300s", path, res.StatusCode, b)
	}
	return res.StatusCode, out
}

// The policy editor shows each role's grants per resource type, inherited
// ones (extends) marked and not toggleable, and those a derived resource
// role gives on instances; a cell's form grants or revokes one permission
// through the API, idempotently, and refuses bad input, another
// environment's role and a member whose role may not change roles.
func TestDashboardPolicyEditor(t *testing.T) {
	t.Parallel()
	s, m := adminSite(t, nil)
	seedAPI(t, s,
		[2]any{"/v1/resources", map[string]any{"key": "doc", "actions": []string{"read", "write", "share"}}},
		[2]any{"/v1/roles", map[string]any{"key": "viewer", "permissions": []string{"doc:read"}}},
		[2]any{"/v1/roles", map[string]any{"key": "editor", "permissions": []string{"doc:write"}, "extends": []string{"viewer"}}},
		[2]any{"/v1/roles", map[string]any{"key": "owner", "extends": []string{"editor"}}},
		[2]any{"/v1/resources/doc/roles", map[string]any{"key": "sharer", "permissions": []string{"share"}, "granted_to": []map[string]any{{"role": "viewer", "on_resource": "__tenant"}}}},
		[2]any{"/v1/resources/doc/roles", map[string]any{"key": "reader", "permissions": []string{"read"}}},
		[2]any{"/v1/resources/doc/roles", map[string]any{"key": "writer", "permissions": []string{"write"}, "extends": []string{"reader"}}},
	)
	st, body := m.get("/policy")
	if st != 200 {
		t.Fatalf("GET /policy: %d %s", st, alertOf(body))
	}
	for _, tc := range []struct {
		role, value string
		want        []string
		not         []string
	}{
		{"viewer", "doc:read", []string{`aria-pressed="true"`, `name="grant" value="0"`}, []string{"inherited"}},
		{"viewer", "doc:write", []string{`aria-pressed="false"`, `name="grant" value="1"`}, nil},
		{"editor", "doc:read", []string{"inherited from", ">viewer</a>"}, []string{"<form"}},
		{"owner", "doc:read", []string{"inherited from", ">viewer</a>"}, []string{"<form"}},
		{"owner", "doc:write", []string{"inherited from", ">editor</a>"}, []string{"<form"}},
		{"viewer", "doc:share", []string{"on instances, via sharer", `aria-pressed="false"`}, nil},
		{"owner", "doc:share", []string{"on instances, via sharer"}, nil},
		{"reader", "read", []string{`aria-pressed="true"`, `action="/policy/resources/doc/roles/reader"`}, nil},
		{"writer", "read", []string{"inherited from", ">reader</a>"}, []string{"<form"}},
	} {
		cell := cellOf(body, tc.role, tc.value)
		if cell == "" {
			t.Errorf("no cell %s:%s", tc.role, tc.value)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(cell, w) {
				t.Errorf("cell %s:%s lacks %q: %s", tc.role, tc.value, w, cell)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(cell, n) {
				t.Errorf("cell %s:%s has %q: %s", tc.role, tc.value, n, cell)
			}
		}
	}

	perms := func(path string) string { t.Helper(); return fmt.Sprint(apiData(t, s, path)["permissions"]) }
	// Without JavaScript: the form posts, the page comes back at the table
	// with the opposite change offered.
	res := m.post("/policy/roles/viewer", url.Values{"permission": {"doc:write"}, "grant": {"1"}})
	res.Body.Close()
	if loc := res.Header.Get("Location"); res.StatusCode != 303 || loc != "/policy#policy-doc" {
		t.Fatalf("grant without JS: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if got := perms("/v1/roles/viewer"); got != "[doc:read doc:write]" {
		t.Errorf("viewer after the grant: %s", got)
	}
	_, body = m.get(res.Header.Get("Location"))
	if !strings.Contains(body, `id="policy-undo"`) || !strings.Contains(body, `action="/policy/roles/viewer"`) || !strings.Contains(body, "revoke doc:write from viewer") || !strings.Contains(body, "Granted doc:write to role viewer.") {
		t.Errorf("the page after a grant offers no undo: %s", alertOf(body))
	}
	// The undo is offered once.
	if _, body = m.get("/policy"); strings.Contains(body, `id="policy-undo"`) {
		t.Errorf("the undo is offered again")
	}
	// With JavaScript: JSON; revoking again changes nothing, and says so.
	for i, want := range []string{"Revoked doc:write from role viewer.", "No change: role viewer does not grant doc:write."} {
		if st, out := m.postJSON("/policy/roles/viewer", url.Values{"permission": {"doc:write"}, "grant": {"0"}}); st != 200 || out["ok"] != true || out["changed"] != (i == 0) || out["message"] != want {
			t.Errorf("revoke %d: %d %v", i, st, out)
		}
	}
	// Without JavaScript, a change that changes nothing offers no undo.
	if st, body := m.page("/policy/roles/viewer", url.Values{"permission": {"doc:read"}, "grant": {"1"}}); st != 200 || strings.Contains(body, `id="policy-undo"`) || !strings.Contains(body, "No change: role viewer already grants doc:read.") {
		t.Errorf("a grant of a granted permission: %d, undo offered: %v", st, strings.Contains(body, `id="policy-undo"`))
	}
	if got := perms("/v1/roles/viewer"); got != "[doc:read]" {
		t.Errorf("viewer after the revoke: %s", got)
	}
	if st, out := m.postJSON("/policy/resources/doc/roles/reader", url.Values{"permission": {"share"}, "grant": {"1"}}); st != 200 || out["message"] != "Granted share to role reader of doc." {
		t.Errorf("grant on a resource role: %d %v", st, out)
	}
	if got := perms("/v1/resources/doc/roles/reader"); got != "[read share]" {
		t.Errorf("reader after the grant: %s", got)
	}

	// Bad input, unknown names, another environment: refused, nothing changed.
	if st, out := s.api(t, "POST", "/v1/roles?project=default&environment=production", s.key, map[string]any{"key": "prodrole", "permissions": []string{}}); st != 201 {
		t.Fatalf("production role: %d %v", st, out)
	}
	prodID := apiDataEnv(t, s, "/v1/roles/prodrole", "production")["id"].(string)
	for _, tc := range []struct {
		path string
		form url.Values
		want int
	}{
		{"/policy/roles/viewer", url.Values{"permission": {"doc:write"}, "grant": {"yes"}}, 400},
		{"/policy/roles/viewer", url.Values{"permission": {"write"}, "grant": {"1"}}, 400},
		{"/policy/roles/viewer", url.Values{"grant": {"1"}}, 400},
		{"/policy/resources/doc/roles/reader", url.Values{"permission": {"doc:write"}, "grant": {"1"}}, 400},
		{"/policy/roles/viewer", url.Values{"permission": {"doc:fly"}, "grant": {"1"}}, 400},
		{"/policy/roles/nobody", url.Values{"permission": {"doc:read"}, "grant": {"1"}}, 404},
		{"/policy/resources/doc/roles/nobody", url.Values{"permission": {"read"}, "grant": {"1"}}, 404},
		{"/policy/roles/prodrole", url.Values{"permission": {"doc:read"}, "grant": {"1"}}, 404},
		{"/policy/roles/" + prodID, url.Values{"permission": {"doc:read"}, "grant": {"1"}}, 404},
	} {
		st, out := m.postJSON(tc.path, tc.form)
		if st != tc.want || out["ok"] != false || out["message"] == "" {
			t.Errorf("POST %s %v: %d %v, want %d", tc.path, tc.form, st, out, tc.want)
		}
	}
	if got := perms("/v1/roles/viewer"); got != "[doc:read]" {
		t.Errorf("viewer after the refusals: %s", got)
	}
	if got := fmt.Sprint(apiDataEnv(t, s, "/v1/roles/prodrole", "production")["permissions"]); got != "[]" {
		t.Errorf("the production role was changed: %s", got)
	}

	// A Viewer sees the matrix without forms; a forged change is refused.
	v := viewerMember(t, s)
	st, body = v.get("/policy")
	if st != 200 || strings.Contains(body, "data-policy-cell") || !strings.Contains(cellOf(body, "viewer", "doc:read"), "✓") {
		t.Errorf("a Viewer's policy editor: %d, forms: %v", st, strings.Contains(body, "data-policy-cell"))
	}
	// Refused first: a change, one that would change nothing, a bad form.
	for _, tc := range []struct {
		path string
		form url.Values
	}{
		{"/policy/roles/viewer", url.Values{"permission": {"doc:write"}, "grant": {"1"}}},
		{"/policy/roles/viewer", url.Values{"permission": {"doc:read"}, "grant": {"1"}}},
		{"/policy/roles/viewer", url.Values{"permission": {"doc:write"}, "grant": {"0"}}},
		{"/policy/roles/viewer", url.Values{"permission": {"bad"}, "grant": {"maybe"}}},
		{"/policy/resources/doc/roles/reader", url.Values{"permission": {"read"}, "grant": {"1"}}},
		{"/policy/resources/doc/roles/reader", url.Values{"grant": {"1"}}},
	} {
		if st, out := v.postJSON(tc.path, tc.form); st != 403 || out["ok"] != false {
			t.Errorf("a Viewer's POST %s %v: %d %v", tc.path, tc.form, st, out)
		}
	}
	if got := perms("/v1/roles/viewer"); got != "[doc:read]" {
		t.Errorf("viewer after the Viewer's attempt: %s", got)
	}
}

func apiDataEnv(t *testing.T, s *site, path, env string) map[string]any {
	t.Helper()
	st, out := s.api(t, "GET", path+"?project=default&environment="+env, s.key, nil)
	if st != 200 {
		t.Fatalf("GET %s in %s: %d %v", path, env, st, out)
	}
	return out["data"].(map[string]any)
}

// Cells of one role pressed at once each land, whether the role is named
// by key or by id: each is one PATCH adding or removing one permission,
// which the API applies in the write's transaction.
func TestDashboardPolicyCellsAtOnce(t *testing.T) {
	t.Parallel()
	s, m := adminSite(t, nil)
	actions := []string{"a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "b0", "b1"}
	seedAPI(t, s,
		[2]any{"/v1/resources", map[string]any{"key": "doc", "actions": actions}},
		[2]any{"/v1/roles", map[string]any{"key": "editor"}},
		[2]any{"/v1/resources/doc/roles", map[string]any{"key": "writer"}},
	)
	id := apiData(t, s, "/v1/roles/editor")["id"].(string)
	rid := apiData(t, s, "/v1/resources/doc/roles/writer")["id"].(string)
	var wg sync.WaitGroup
	errs := make(chan string, 2*len(actions))
	for i, a := range actions {
		ref, rref := "editor", "writer"
		if i%2 == 1 {
			ref, rref = id, rid
		}
		wg.Go(func() {
			if st, out := m.postJSON("/policy/roles/"+ref, url.Values{"permission": {"doc:" + a}, "grant": {"1"}}); st != 200 {
				errs <- fmt.Sprintf("grant %s: %d %v", a, st, out)
			}
		})
		wg.Go(func() {
			if st, out := m.postJSON("/policy/resources/doc/roles/"+rref, url.Values{"permission": {a}, "grant": {"1"}}); st != 200 {
				errs <- fmt.Sprintf("grant %s on writer: %d %v", a, st, out)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if got := apiData(t, s, "/v1/roles/editor")["permissions"].([]any); len(got) != len(actions) {
		t.Errorf("after %d grants at once editor grants %v", len(actions), got)
	}
	if got := apiData(t, s, "/v1/resources/doc/roles/writer")["permissions"].([]any); len(got) != len(actions) {
		t.Errorf("after %d grants at once writer grants %v", len(actions), got)
	}
}

// The Undo form is drawn only from what the dashboard's own POST left in
// its cookie: no link makes the editor draw a form to another route.
func TestDashboardPolicyUndoFromNoLink(t *testing.T) {
	t.Parallel()
	s, m := adminSite(t, nil)
	seedAPI(t, s,
		[2]any{"/v1/resources", map[string]any{"key": "doc", "actions": []string{"read"}}},
		[2]any{"/v1/roles", map[string]any{"key": "viewer"}},
	)
	for _, q := range []string{
		"undo=/policy/%2e%2e/keys/K/revoke&permission=doc:read&role=x&grant=1",
		"undo=%2Fpolicy%2F%252e%252e%2Fprojects%2Fp%2Fdelete&permission=a:b&grant=0",
		"undo=/policy/../keys/K/revoke&permission=doc:read&grant=1",
		"undo=https://evil.example/policy/x&permission=doc:read&grant=1",
		"undo=//evil.example/policy/&permission=doc:read&grant=1",
		"undo=/keys/K/revoke&permission=doc:read&grant=1",
		"undo=/policy/roles/viewer&permission=doc:read&role=viewer&grant=1",
		"role=../keys/K/revoke&permission=doc:read&grant=1",
		"role=viewer&permission=doc:read&grant=1",
	} {
		st, body := m.get("/policy?" + q)
		if st != 200 {
			t.Fatalf("GET /policy?%s: %d", q, st)
		}
		if strings.Contains(body, `id="policy-undo"`) || strings.Contains(body, "evil.example") || strings.Contains(body, "/keys/") {
			t.Errorf("/policy?%s draws a form: %s", q, regexp.MustCompile(`(?s)<form[^>]*policy-undo.*?</form>`).FindString(body))
		}
	}
	// A forged cookie naming no key (a path) is dropped too.
	u, _ := url.Parse(s.url)
	for _, v := range []string{
		url.Values{"k": {"../keys/K/revoke"}, "p": {"doc:read"}, "g": {"1"}}.Encode(),
		url.Values{"k": {"viewer"}, "r": {"doc/../../keys"}, "p": {"read"}, "g": {"1"}}.Encode(),
		url.Values{"k": {"viewer"}, "p": {"doc:read\"/><form action=/keys>"}, "g": {"1"}}.Encode(),
	} {
		m.c.Jar.SetCookies(u, []*http.Cookie{{Name: "gatehouse_policy_undo", Value: v, Path: "/"}})
		if _, body := m.get("/policy"); strings.Contains(body, `id="policy-undo"`) {
			t.Errorf("cookie %s draws a form", v)
		}
	}
	// The dashboard's own change offers its undo, built from the keys.
	res := m.post("/policy/roles/viewer", url.Values{"permission": {"doc:read"}, "grant": {"1"}})
	res.Body.Close()
	if _, body := m.get("/policy"); !strings.Contains(body, `<form method="post" action="/policy/roles/viewer" class="policy-undo"`) {
		t.Errorf("no undo after a change")
	}
}
