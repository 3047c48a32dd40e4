package dashboard_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// auditEntry is the <li> of the audit page's first entry of action, or "".
func auditEntry(body, action string) string {
	for _, li := range regexp.MustCompile(`(?s)<li class="audit-entry"(.*?)</li>`).FindAllStringSubmatch(body, -1) {
		if strings.Contains(li[1], `data-action="`+action+`"`) {
			return li[1]
		}
	}
	return ""
}

// A user edited in the dashboard is in the audit trail as the signed-in
// member's change (the dashboard writes through the v1 API as the member),
// with the changed fields marked; the sign-in is there too; filters work;
// a member whose role lacks view:audit gets neither the link nor the page.
func TestDashboardAuditTrail(t *testing.T) {
	t.Parallel()
	s, m := adminSite(t, nil)
	seedAPI(t, s, [2]any{"/v1/users", map[string]any{"key": "ada", "email": "ada@acme.example", "first_name": "Ada", "attributes": map[string]any{"dept": "eng"}}})
	edit := url.Values{"current_email": {"ada@acme.example"}, "email": {"ada@acme.example"}, "first_name": {"Augusta"}, "last_name": {""},
		"attr_rows": {"1"}, "attr_key_0": {"dept"}, "attr_val_0": {"finance"}}
	if st, body := m.page("/users/ada", edit); st != 200 || !strings.Contains(body, "User ada saved.") {
		t.Fatalf("saving the user: %d %s", st, alertOf(body))
	}

	st, body := m.get("/audit")
	if st != 200 || !strings.Contains(body, `href="/audit"`) {
		t.Fatalf("the audit page: %d %s", st, alertOf(body))
	}
	e := auditEntry(body, "user.updated")
	if e == "" {
		t.Fatalf("no user.updated entry on the page:\n%s", body)
	}
	for _, want := range []string{"admin@example.com", `<span class="badge muted">member</span>`, "from 127.0.0.1", "<summary>3 fields changed</summary>",
		`<tr class="diff-changed"><th scope="row"><code>first_name</code>`, `<code>&#34;Ada&#34;</code>`, `<code>&#34;Augusta&#34;</code>`,
		`<tr class="diff-changed"><th scope="row"><code>attributes</code>`, `<tr class="diff-same"><th scope="row"><code>email</code>`} {
		if !strings.Contains(e, want) {
			t.Errorf("the user.updated entry lacks %q:\n%s", want, e)
		}
	}
	for _, action := range []string{"member.signed_in", "member.setup_link_used", "member.password_set"} {
		if e := auditEntry(body, action); !strings.Contains(e, "admin@example.com") || !strings.Contains(e, "from 127.0.0.1") {
			t.Errorf("%s is not on the page as the member's, with where from: %q", action, e)
		}
	}

	// Filters: an action, an object's history.
	_, body = m.get("/audit?action=member.signed_in")
	if auditEntry(body, "member.signed_in") == "" || auditEntry(body, "user.updated") != "" {
		t.Error("the action filter")
	}
	id := regexp.MustCompile(`data-object="([^"]+)"`).FindStringSubmatch(e)
	if id == nil {
		t.Fatal("no object id on the entry")
	}
	_, body = m.get("/audit?object_id=" + id[1])
	if auditEntry(body, "user.updated") == "" || auditEntry(body, "user.created") == "" || auditEntry(body, "member.signed_in") != "" {
		t.Error("the object filter")
	}

	// The export: what the filters select, as JSON Lines.
	if !strings.Contains(body, `href="/audit/export?object_id=`+id[1]+`"`) {
		t.Error("the export link does not carry the filters")
	}
	req, _ := http.NewRequest("GET", s.url+"/audit/export?action=user.updated", nil)
	res := m.do(req)
	lines, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var got []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(lines)), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("export line %q: %v", l, err)
		}
		got = append(got, e)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/x-ndjson" || len(got) != 1 || got[0]["action"] != "user.updated" ||
		got[0]["after"].(map[string]any)["first_name"] != "Augusta" {
		t.Errorf("export: %d %s %s", res.StatusCode, res.Header.Get("Content-Type"), lines)
	}

	// A viewer: no view:audit.
	vic := viewerMember(t, s)
	if _, body := vic.get("/"); strings.Contains(body, `href="/audit"`) {
		t.Error("a viewer sees the audit link")
	}
	for _, path := range []string{"/audit", "/audit/export"} {
		if st, _ := vic.get(path); st != 403 {
			t.Errorf("a viewer's %s: %d", path, st)
		}
	}
}
