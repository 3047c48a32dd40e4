package dashboard_test

import (
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// confirmItems are the lines of a confirmation page's list of what goes
// with the deleted thing, tags removed.
func confirmItems(body string) []string {
	var out []string
	ul := regexp.MustCompile(`(?s)<ul class="cascade" id="cascade">(.*?)</ul>`).FindStringSubmatch(body)
	if ul == nil {
		return nil
	}
	for _, li := range regexp.MustCompile(`(?s)<li>(.*?)</li>`).FindAllStringSubmatch(ul[1], -1) {
		out = append(out, strings.Join(strings.Fields(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(li[1], "")), " "))
	}
	return out
}

func hasItem(items []string, want string) bool {
	for _, it := range items {
		if strings.Contains(it, want) {
			return true
		}
	}
	return false
}

// A user's name, email and attributes are edited on their page, the
// attributes as rows of a name and a value; mistakes are shown beside
// their field with what was typed; the delete names the roles it takes.
func TestDashboardEditsAUser(t *testing.T) {
	t.Parallel()
	s, m := adminSite(t, nil)
	seedAPI(t, s,
		[2]any{"/v1/resources", map[string]any{"key": "doc", "actions": []string{"read"}}},
		[2]any{"/v1/roles", map[string]any{"key": "viewer", "permissions": []string{"doc:read"}}},
		[2]any{"/v1/users", map[string]any{"key": "ada", "email": "ada@acme.example", "attributes": map[string]any{"dept": "eng", "level": 3, "code": "7"}}},
		[2]any{"/v1/role-assignments", map[string]any{"user": "ada", "role": "viewer"}},
	)
	if _, body := m.get("/users"); !strings.Contains(body, `<a href="/users/ada"><code>ada</code></a>`) || !strings.Contains(body, `href="/users/ada/delete"`) {
		t.Error("the users list does not link to the user's page and its delete confirmation")
	}
	st, body := m.get("/users/ada")
	if st != 200 || !strings.Contains(body, `id="edit-user"`) || !strings.Contains(body, `<input type="hidden" name="attr_rows" value="5" data-rows>`) ||
		!strings.Contains(body, `name="attr_key_0" value="code"`) || !strings.Contains(body, `name="attr_val_0" value="&#34;7&#34;"`) ||
		!strings.Contains(body, `name="attr_key_2" value="level"`) || !strings.Contains(body, `name="attr_val_2" value="3"`) ||
		!strings.Contains(body, `1 role in a tenant`) {
		t.Fatalf("the user's page: %d %s", st, alertOf(body))
	}

	// Save: a changed value, a JSON list, a removed row (level), a new one.
	edit := url.Values{"current_email": {"ada@acme.example"}, "email": {"ada@lovelace.example"}, "first_name": {"Ada"}, "last_name": {"Lovelace"},
		"attr_rows": {"5"}, "attr_key_0": {"code"}, "attr_val_0": {`"7"`}, "attr_key_1": {"dept"}, "attr_val_1": {"finance"},
		"attr_key_2": {""}, "attr_val_2": {""}, "attr_key_3": {"tags"}, "attr_val_3": {`["a", "b"]`}, "attr_key_4": {"vip"}, "attr_val_4": {"true"}}
	st, body = m.page("/users/ada", edit)
	if st != 200 || !strings.Contains(body, "User ada saved.") {
		t.Fatalf("saving the user: %d %s", st, alertOf(body))
	}
	u := apiData(t, s, "/v1/users/ada")
	want := map[string]any{"code": "7", "dept": "finance", "tags": []any{"a", "b"}, "vip": true}
	if !reflect.DeepEqual(u["attributes"], want) || u["email"] != "ada@lovelace.example" || u["first_name"] != "Ada" || u["last_name"] != "Lovelace" {
		t.Errorf("the user after the edit: %v", u)
	}

	// A name given twice, and a value without a name: refused beside the
	// rows, the form as typed; nothing saved.
	bad := url.Values{"current_email": {"ada@lovelace.example"}, "email": {"ada@lovelace.example"}, "attr_rows": {"3"},
		"attr_key_0": {"dept"}, "attr_val_0": {"sales"}, "attr_key_1": {"dept"}, "attr_val_1": {"ops"}, "attr_key_2": {""}, "attr_val_2": {"orphan"}}
	st, body = m.page("/users/ada", bad)
	if st != 400 || !strings.Contains(fieldError(body, "attr_key_1"), "named twice") || !strings.Contains(fieldError(body, "attr_key_2"), "Name the attribute") ||
		!strings.Contains(body, `name="attr_val_2" value="orphan"`) || !strings.Contains(body, `name="attr_val_1" value="ops"`) ||
		!strings.Contains(body, `name="attr_key_1" value="dept" autocomplete="off" aria-invalid="true" aria-describedby="err-attr_key_1" autofocus`) {
		t.Errorf("bad attribute rows: %d %q %q", st, fieldError(body, "attr_key_1"), fieldError(body, "attr_key_2"))
	}
	// The API's refusal of the email is shown beside it.
	bad = url.Values{"current_email": {"ada@lovelace.example"}, "email": {"not an address"}, "attr_rows": {"0"}}
	st, body = m.page("/users/ada", bad)
	if st != 400 || fieldError(body, "email") == "" || !strings.Contains(body, `value="not an address"`) {
		t.Errorf("a bad email: %d %q %s", st, fieldError(body, "email"), alertOf(body))
	}
	if u := apiData(t, s, "/v1/users/ada"); u["attributes"].(map[string]any)["dept"] != "finance" || u["email"] != "ada@lovelace.example" {
		t.Errorf("a refused edit changed the user: %v", u)
	}
	// Removing every attribute.
	if st, body = m.page("/users/ada", url.Values{"current_email": {"ada@lovelace.example"}, "email": {"ada@lovelace.example"}, "attr_rows": {"1"}}); st != 200 {
		t.Fatalf("emptying the attributes: %d %s", st, alertOf(body))
	}
	if a := apiData(t, s, "/v1/users/ada")["attributes"].(map[string]any); len(a) != 0 {
		t.Errorf("attributes after emptying every row: %v", a)
	}

	// The delete: its page names the role it takes, the delete does it.
	st, body = m.get("/users/ada/delete")
	if items := confirmItems(body); st != 200 || !hasItem(items, "1 role assignment in a tenant") || hasItem(items, "roles on resource instances") ||
		!strings.Contains(body, `<form method="post" action="/users/ada/delete"`) || strings.Contains(body, "data-confirm") {
		t.Fatalf("the user's delete confirmation: %d %q", st, items)
	}
	if st, body = m.page("/users/ada/delete", nil); st != 200 || !strings.Contains(body, "User ada deleted.") {
		t.Fatalf("deleting: %d %s", st, alertOf(body))
	}
	if st, _ := s.api(t, "GET", "/v1/users/ada?project=default&environment=development", s.key, nil); st != 404 {
		t.Errorf("the user after the delete: %d", st)
	}
	if st, _ := m.get("/users/ada"); st != 404 {
		t.Errorf("a deleted user's page: %d", st)
	}
}

// A tenant role's permissions, extends and attributes are edited on its
// page and checks follow; deleting a role others extend names them and
// takes it off them.
func TestDashboardEditsARole(t *testing.T) {
	t.Parallel()
	s, m := adminSite(t, nil)
	seedAPI(t, s,
		[2]any{"/v1/resources", map[string]any{"key": "doc", "actions": []string{"read", "write"}}},
		[2]any{"/v1/roles", map[string]any{"key": "viewer", "permissions": []string{"doc:read"}}},
		[2]any{"/v1/roles", map[string]any{"key": "editor", "permissions": []string{}, "extends": []string{"viewer"}}},
		[2]any{"/v1/users", map[string]any{"key": "bob"}},
		[2]any{"/v1/role-assignments", map[string]any{"user": "bob", "role": "editor"}},
	)
	writes := func() string {
		t.Helper()
		_, body := m.page("/check", url.Values{"user": {"bob"}, "action": {"write"}, "resource": {"doc"}})
		switch {
		case strings.Contains(body, ">Allowed<"):
			return "allowed"
		case strings.Contains(body, ">Denied<"):
			return "denied"
		}
		t.Fatalf("no verdict: %s", alertOf(body))
		return ""
	}
	if got := writes(); got != "denied" {
		t.Fatalf("before the edit bob's write is %s", got)
	}
	st, body := m.get("/roles/editor")
	if st != 200 || !strings.Contains(body, `name="permissions" value="doc:write" >`) || !strings.Contains(body, `name="extends" value="viewer" checked>`) ||
		strings.Contains(body, `name="extends" value="editor"`) || !strings.Contains(body, "1 assignment</a>") {
		t.Fatalf("the role's page: %d %s", st, alertOf(body))
	}
	st, body = m.page("/roles/editor", url.Values{"name": {"Editor"}, "description": {"writes docs"}, "permissions": {"doc:write"}, "extends": {"viewer"},
		"attr_rows": {"1"}, "attr_key_0": {"tier"}, "attr_val_0": {"gold"}})
	if st != 200 || !strings.Contains(body, "Role editor saved.") {
		t.Fatalf("saving the role: %d %s", st, alertOf(body))
	}
	r := apiData(t, s, "/v1/roles/editor")
	if r["name"] != "Editor" || r["description"] != "writes docs" || fmt.Sprint(r["permissions"]) != "[doc:write]" || fmt.Sprint(r["extends"]) != "[viewer]" ||
		!reflect.DeepEqual(r["attributes"], map[string]any{"tier": "gold"}) {
		t.Errorf("the role after the edit: %v", r)
	}
	if got := writes(); got != "allowed" {
		t.Errorf("after the edit bob's write is %s", got)
	}
	// A cycle is refused beside the extends, the boxes as ticked.
	st, body = m.page("/roles/viewer", url.Values{"permissions": {"doc:read"}, "extends": {"editor"}, "attr_rows": {"0"}})
	if st != 400 || !strings.Contains(fieldError(body, "extends"), "cycle") || !strings.Contains(body, `name="extends" value="editor" checked>`) {
		t.Errorf("a cycle: %d %q %s", st, fieldError(body, "extends"), alertOf(body))
	}

	// Deleting viewer names editor, which extends it; confirmed, editor no
	// longer does.
	st, body = m.get("/roles/viewer/delete")
	items := confirmItems(body)
	if st != 200 || !hasItem(items, "1 role extending it, which stops granting what it grants: editor") || !strings.Contains(body, `<input type="hidden" name="cascade" value="1">`) {
		t.Fatalf("viewer's delete confirmation: %d %q", st, items)
	}
	if st, body = m.page("/roles/viewer/delete", url.Values{"cascade": {"1"}}); st != 200 || !strings.Contains(body, "Role viewer deleted.") {
		t.Fatalf("deleting viewer: %d %s", st, alertOf(body))
	}
	if r := apiData(t, s, "/v1/roles/editor"); len(r["extends"].([]any)) != 0 {
		t.Errorf("editor still extends the deleted viewer: %v", r["extends"])
	}
	// Without the cascade, a role in use is refused: the confirmation
	// page comes back with the API's reason and the cascade.
	st, body = m.page("/roles/editor/delete", nil)
	if st != 200 || !strings.Contains(alertOf(body), "⚠") || !strings.Contains(alertOf(body), "in use") ||
		!hasItem(confirmItems(body), "1 assignment of it") || !strings.Contains(body, `<input type="hidden" name="cascade" value="1">`) {
		t.Errorf("deleting a role in use without the cascade: %d %s %q", st, alertOf(body), confirmItems(body))
	}
	if st, _ := s.api(t, "GET", "/v1/roles/editor?project=default&environment=development", s.key, nil); st != 200 {
		t.Errorf("editor after the refused delete: %d", st)
	}
}

// A resource type's actions are added and removed in place: removing one
// that roles grant is refused naming them, with the offer to take it off
// them, which the second save does. Its attribute definitions are rows.
func TestDashboardEditsAResourceType(t *testing.T) {
	t.Parallel()
	s, m := adminSite(t, nil)
	seedAPI(t, s,
		[2]any{"/v1/resources", map[string]any{"key": "doc", "actions": []string{"read", "write", "delete"}, "attributes": map[string]any{"pages": map[string]any{"type": "number"}}}},
		[2]any{"/v1/roles", map[string]any{"key": "editor", "permissions": []string{"doc:write", "doc:delete"}}},
		[2]any{"/v1/resources/doc/roles", map[string]any{"key": "owner", "permissions": []string{"read", "delete"}}},
		[2]any{"/v1/resource-instances", map[string]any{"resource": "doc", "key": "d1"}},
	)
	st, body := m.get("/resources/doc")
	if st != 200 || !strings.Contains(body, `id="edit-resource"`) || !strings.Contains(body, `name="actions" value="delete" checked> <code>delete</code> <span class="muted small">granted by editor, doc#owner</span>`) ||
		!strings.Contains(body, `name="def_key_0" value="pages"`) || !strings.Contains(body, `<option value="number" selected>number</option>`) {
		t.Fatalf("the resource type's page: %d %s", st, alertOf(body))
	}
	edit := url.Values{"name": {"Document"}, "description": {"a file"}, "actions": {"read", "write"}, "add_actions": {"share, archive"},
		"def_rows": {"3"}, "def_key_0": {"pages"}, "def_type_0": {"number"}, "def_key_1": {"owner"}, "def_type_1": {"string"}, "def_desc_1": {"who wrote it"}}
	st, body = m.page("/resources/doc", edit)
	if st != 409 || !strings.Contains(alertOf(body), "still in use") || !strings.Contains(alertOf(body), "editor") || !strings.Contains(body, `id="edit-cascade"`) ||
		!strings.Contains(body, `name="add_actions" value="share, archive"`) || strings.Contains(body, `name="actions" value="delete" checked`) ||
		!strings.Contains(body, `name="def_desc_1" value="who wrote it"`) {
		t.Fatalf("removing a granted action: %d %s", st, alertOf(body))
	}
	if a := apiData(t, s, "/v1/resources/doc")["actions"]; fmt.Sprint(a) != "[read write delete]" {
		t.Fatalf("the refused edit changed the actions: %v", a)
	}
	edit.Set("cascade", "1")
	if st, body = m.page("/resources/doc", edit); st != 200 || !strings.Contains(body, "Resource type doc saved.") {
		t.Fatalf("saving with the cascade: %d %s", st, alertOf(body))
	}
	res := apiData(t, s, "/v1/resources/doc")
	if fmt.Sprint(res["actions"]) != "[read write share archive]" || res["name"] != "Document" || res["description"] != "a file" ||
		!reflect.DeepEqual(res["attributes"], map[string]any{"pages": map[string]any{"type": "number"}, "owner": map[string]any{"type": "string", "description": "who wrote it"}}) {
		t.Errorf("the type after the edit: %v", res)
	}
	if p := apiData(t, s, "/v1/roles/editor")["permissions"]; fmt.Sprint(p) != "[doc:write]" {
		t.Errorf("editor's permissions after the cascade: %v", p)
	}
	if p := apiData(t, s, "/v1/resources/doc/roles/owner")["permissions"]; fmt.Sprint(p) != "[read]" {
		t.Errorf("owner's permissions after the cascade: %v", p)
	}
	// No action left, and a definition without a type: refused in place.
	st, body = m.page("/resources/doc", url.Values{"def_rows": {"1"}, "def_key_0": {"x"}, "def_type_0": {"colour"}})
	if st != 400 || fieldError(body, "add_actions") == "" || fieldError(body, "def_type_0") == "" {
		t.Errorf("no actions and a bad type: %d %q %q", st, fieldError(body, "add_actions"), fieldError(body, "def_type_0"))
	}

	// The delete names what goes with it.
	st, body = m.get("/resources/doc/delete")
	items := confirmItems(body)
	for _, want := range []string{"1 tenant role granting its actions, which loses those permissions: editor", "1 instance of it", "1 role of it (given on its instances): owner"} {
		if !hasItem(items, want) {
			t.Errorf("the type's delete confirmation lacks %q: %q", want, items)
		}
	}
	if st, body = m.page("/resources/doc/delete", url.Values{"cascade": {"1"}}); st != 200 || !strings.Contains(body, "Resource type doc deleted.") {
		t.Fatalf("deleting the type: %d %s", st, alertOf(body))
	}
	if st, _ := s.api(t, "GET", "/v1/resources/doc?project=default&environment=development", s.key, nil); st != 404 {
		t.Errorf("the type after the delete: %d", st)
	}
	if p := apiData(t, s, "/v1/roles/editor")["permissions"]; fmt.Sprint(p) != "[]" {
		t.Errorf("editor's permissions after the type's delete: %v", p)
	}
}

// Tenants, webhooks and API keys are edited in place too; the instance
// page says how many tuples and roles it does not list, with a link.
func TestDashboardEditsTenantsWebhooksKeys(t *testing.T) {
	t.Parallel()
	s, m := adminSite(t, nil)
	seedAPI(t, s,
		[2]any{"/v1/resources", map[string]any{"key": "doc", "actions": []string{"read"}}},
		[2]any{"/v1/roles", map[string]any{"key": "viewer", "permissions": []string{"doc:read"}}},
		[2]any{"/v1/tenants", map[string]any{"key": "acme"}},
		[2]any{"/v1/users", map[string]any{"key": "bob"}},
		[2]any{"/v1/role-assignments", map[string]any{"user": "bob", "role": "viewer", "tenant": "acme"}},
		[2]any{"/v1/resource-instances", map[string]any{"resource": "doc", "key": "d1", "tenant": "acme"}},
	)
	st, body := m.page("/tenants/acme", url.Values{"name": {"Acme Inc."}, "description": {"first customer"}, "attr_rows": {"2"}, "attr_key_0": {"plan"}, "attr_val_0": {"pro"},
		"attr_key_1": {"seats"}, "attr_val_1": {"12"}})
	if st != 200 || !strings.Contains(body, "Tenant acme saved.") {
		t.Fatalf("saving the tenant: %d %s", st, alertOf(body))
	}
	if tn := apiData(t, s, "/v1/tenants/acme"); tn["name"] != "Acme Inc." || !reflect.DeepEqual(tn["attributes"], map[string]any{"plan": "pro", "seats": float64(12)}) {
		t.Errorf("the tenant after the edit: %v", tn)
	}
	_, body = m.get("/tenants/acme/delete")
	if items := confirmItems(body); !hasItem(items, "1 resource instance in it") || !hasItem(items, "1 role assignment in a tenant") {
		t.Errorf("the tenant's delete confirmation: %q", items)
	}

	// A webhook: URL, events and enabled, in one save.
	st, out := s.api(t, "POST", "/v1/webhooks", s.key, map[string]any{"url": "https://hooks.example/a", "events": []string{"user.created"}})
	if st != 201 {
		t.Fatalf("webhook: %d %v", st, out)
	}
	id := out["data"].(map[string]any)["id"].(string)
	if _, body = m.get("/webhooks/" + id); !strings.Contains(body, `id="edit-webhook"`) || !strings.Contains(body, `name="events" value="user.created" checked>`) ||
		!strings.Contains(body, `<input type="checkbox" name="enabled" checked>`) {
		t.Fatal("the webhook's page has no edit form as it is")
	}
	st, body = m.page("/webhooks/"+id, url.Values{"url": {"https://hooks.example/b"}, "description": {"billing"}, "events": {"user.created", "user.deleted"}})
	if st != 200 || !strings.Contains(body, "Webhook saved.") {
		t.Fatalf("saving the webhook: %d %s", st, alertOf(body))
	}
	_, out = s.api(t, "GET", "/v1/webhooks/"+id, s.key, nil)
	if w := out["data"].(map[string]any); w["url"] != "https://hooks.example/b" || w["enabled"] != false || fmt.Sprint(w["events"]) != "[user.created user.deleted]" || w["description"] != "billing" {
		t.Errorf("the webhook after the edit: %v", w)
	}
	if st, body = m.page("/webhooks/"+id, url.Values{"url": {"https://hooks.example/b"}}); st != 400 || fieldError(body, "events") == "" {
		t.Errorf("a webhook without events: %d %q", st, fieldError(body, "events"))
	}
	if st, body = m.get("/webhooks/" + id + "/delete"); st != 200 || !strings.Contains(body, `action="/webhooks/`+id+`/delete"`) {
		t.Errorf("the webhook's delete confirmation: %d %s", st, alertOf(body))
	}

	// A key: renamed and its expiry set; a later one is refused beside it.
	st, out = s.api(t, "POST", "/v1/api-keys", s.key, map[string]any{"name": "ci", "level": "organization", "scopes": []string{"view:project"}})
	if st != 201 {
		t.Fatalf("key: %d %v", st, out)
	}
	kid := out["data"].(map[string]any)["id"].(string)
	exp := time.Now().UTC().Add(48 * time.Hour).Truncate(time.Minute)
	st, body = m.page("/keys/"+kid, url.Values{"name": {"ci (nightly)"}, "expires_at": {exp.Format("2006-01-02T15:04")}})
	if st != 200 || !strings.Contains(body, "Key ci (nightly) saved") || !strings.Contains(body, `value="`+exp.Format("2006-01-02T15:04")+`"`) {
		t.Fatalf("saving the key: %d %s", st, alertOf(body))
	}
	_, out = s.api(t, "GET", "/v1/api-keys/"+kid, s.key, nil)
	if k := out["data"].(map[string]any); k["name"] != "ci (nightly)" || k["expires_at"] != exp.Format(time.RFC3339) {
		t.Errorf("the key after the edit: %v", k)
	}
	later := exp.Add(time.Hour).Format("2006-01-02T15:04")
	st, body = m.page("/keys/"+kid, url.Values{"name": {"ci (nightly)"}, "expires_at": {later}, "current_expires_at": {exp.Format("2006-01-02T15:04")}})
	if st != 400 || !strings.Contains(fieldError(body, "expires_at"), "sooner") || !strings.Contains(body, `value="`+later+`"`) {
		t.Errorf("a later expiry: %d %q %s", st, fieldError(body, "expires_at"), alertOf(body))
	}
	if st, body = m.page("/keys/"+kid, url.Values{"name": {"x"}, "expires_at": {"tomorrow"}}); st != 400 || fieldError(body, "expires_at") == "" {
		t.Errorf("an expiry that is not a time: %d %q", st, fieldError(body, "expires_at"))
	}
}

// The instance page lists 100 tuples each way and 100 roles, says how many
// there are in all and links to the full lists.
func TestDashboardInstancePageShowsTotals(t *testing.T) {
	t.Parallel()
	s, m := adminSite(t, nil)
	seedAPI(t, s,
		[2]any{"/v1/resources", map[string]any{"key": "folder", "actions": []string{"read"}}},
		[2]any{"/v1/resources/folder/relations", map[string]any{"key": "parent", "subject": "folder"}},
		[2]any{"/v1/resources/folder/roles", map[string]any{"key": "viewer", "permissions": []string{"read"}}},
		[2]any{"/v1/resource-instances", map[string]any{"resource": "folder", "key": "root"}},
	)
	var tuples []map[string]any
	for i := range 101 {
		seedAPI(t, s, [2]any{"/v1/resource-instances", map[string]any{"resource": "folder", "key": fmt.Sprintf("f%d", i)}})
		tuples = append(tuples, map[string]any{"subject": "folder:root", "relation": "parent", "object": fmt.Sprintf("folder:f%d", i)})
	}
	if st, out := s.api(t, "POST", "/v1/relationship-tuples/bulk?project=default&environment=development", s.key, map[string]any{"tuples": tuples}); st != 201 {
		t.Fatalf("tuples: %d %v", st, out)
	}
	for i := range 101 {
		seedAPI(t, s, [2]any{"/v1/users", map[string]any{"key": fmt.Sprintf("u%d", i)}},
			[2]any{"/v1/role-assignments", map[string]any{"user": fmt.Sprintf("u%d", i), "role": "viewer", "resource_instance": "folder:root"}})
	}
	st, body := m.get("/instances/folder:root")
	if st != 200 {
		t.Fatalf("the instance's page: %d", st)
	}
	more := regexp.MustCompile(`(?s)<ul class="more" id="more-tuples">(.*?)</ul>`).FindStringSubmatch(body)
	if more == nil || !strings.Contains(more[1], "Showing the first 100 of 101 with it as the subject") ||
		!strings.Contains(more[1], `href="/relationships?subject=folder:root"`) || strings.Contains(more[1], "as the object") {
		t.Errorf("the tuples beyond the first 100: %v", more)
	}
	if !strings.Contains(body, `id="more-assignments">Showing the first 100 of 101 · <a href="/assignments?resource_instance=folder:root">see them all</a>`) {
		t.Errorf("the roles beyond the first 100: %s", regexp.MustCompile(`(?s)<section class="card" id="assignments">.{0,300}`).FindString(body))
	}
	// The links lead to the full lists.
	if _, list := m.get("/relationships?subject=folder%3aroot"); !strings.Contains(list, "101 in all") {
		t.Error("the relationships page does not list the 101 tuples")
	}
	// A small instance says nothing of the kind.
	if _, body = m.get("/instances/folder:f1"); strings.Contains(body, `class="more"`) {
		t.Error("an instance with few tuples claims more")
	}
	// Deleting the instance names its tuples and roles.
	_, body = m.get("/instances/folder:root/delete")
	if items := confirmItems(body); !hasItem(items, "101 relationship tuples with it as the subject") || !hasItem(items, "101 roles given on it") {
		t.Errorf("the instance's delete confirmation: %q", items)
	}
}

// The confirmation of deleting a resource role, a relation, a condition
// set and removing a member names what goes with each.
func TestDashboardDeleteConfirmationsNameTheCascade(t *testing.T) {
	t.Parallel()
	s, m := adminSite(t, nil)
	seedAPI(t, s,
		[2]any{"/v1/resources", map[string]any{"key": "folder", "actions": []string{"read", "write"}}},
		[2]any{"/v1/resources", map[string]any{"key": "document", "actions": []string{"read", "write"}}},
		[2]any{"/v1/resources/document/relations", map[string]any{"key": "parent", "subject": "folder"}},
		[2]any{"/v1/resources/folder/roles", map[string]any{"key": "editor", "permissions": []string{"read", "write"}}},
		[2]any{"/v1/resources/folder/roles", map[string]any{"key": "boss", "permissions": []string{"write"}, "extends": []string{"editor"}}},
		[2]any{"/v1/resources/document/roles", map[string]any{"key": "editor", "permissions": []string{"write"},
			"granted_to": []map[string]any{{"role": "editor", "on_resource": "folder", "linked_by_relation": "parent"}}}},
		[2]any{"/v1/resource-instances", map[string]any{"resource": "folder", "key": "root"}},
		[2]any{"/v1/resource-instances", map[string]any{"resource": "document", "key": "d1"}},
		[2]any{"/v1/relationship-tuples", map[string]any{"subject": "folder:root", "relation": "parent", "object": "document:d1"}},
		[2]any{"/v1/users", map[string]any{"key": "bob"}},
		[2]any{"/v1/role-assignments", map[string]any{"user": "bob", "role": "editor", "resource_instance": "folder:root"}},
		[2]any{"/v1/role-assignments", map[string]any{"user": "bob", "role": "editor", "resource_instance": "document:d1"}},
	)
	st, body := m.get("/resources/folder/roles/editor/delete")
	items := confirmItems(body)
	for _, want := range []string{"1 role of folder extending it: boss", "1 role derived from it, which loses that derivation: document#editor", "1 assignment of it on an instance"} {
		if !hasItem(items, want) {
			t.Errorf("folder#editor's delete confirmation lacks %q: %d %q", want, st, items)
		}
	}
	_, body = m.get("/resources/document/relations/parent/delete")
	items = confirmItems(body)
	for _, want := range []string{"1 role of document derived along it, which loses that derivation: editor", "1 relationship tuple of it"} {
		if !hasItem(items, want) {
			t.Errorf("the relation's delete confirmation lacks %q: %q", want, items)
		}
	}
	if st, body = m.page("/resources/document/relations/parent/delete", url.Values{"cascade": {"1"}}); st != 200 || !strings.Contains(body, "Relation parent of document deleted.") {
		t.Errorf("deleting the relation: %d %s", st, alertOf(body))
	}
	// Nothing left to take: the page says so and sends no cascade.
	_, body = m.get("/resources/document/roles/editor/delete")
	if items := confirmItems(body); !hasItem(items, "1 assignment of it on an instance") || len(items) != 1 {
		t.Errorf("document#editor's delete confirmation: %q", items)
	}
	_, body = m.get("/instances/folder:root/delete")
	if !hasItem(confirmItems(body), "1 role given on it") {
		t.Errorf("folder:root's delete confirmation: %q", confirmItems(body))
	}

	// A member's keys are revoked with them.
	st, out := s.api(t, "POST", "/v1/members", s.key, map[string]any{"email": "dev@example.com", "role": "developer"})
	if st != 201 {
		t.Fatalf("member: %d %v", st, out)
	}
	mid := out["data"].(map[string]any)["id"].(string)
	_, link := s.api(t, "POST", "/v1/members/"+mid+"/setup-link", s.key, nil)
	dev := s.memberWithLink(t, link["data"].(map[string]any)["path"].(string), "dev@example.com", "a developer's password")
	if st, _ := dev.page("/keys", url.Values{"name": {"dev laptop"}, "level": {"organization"}, "scopes": {"view:project"}}); st != 200 {
		t.Fatalf("the developer's key: %d", st)
	}
	st, body = m.get("/members/" + mid + "/delete")
	if items := confirmItems(body); st != 200 || !hasItem(items, "1 active API key they made, which is revoked with them: dev laptop") {
		t.Errorf("the member's removal confirmation: %d %q", st, items)
	}
	if st, body = m.page("/members/"+mid+"/delete", nil); st != 200 || !strings.Contains(body, "Member removed") {
		t.Errorf("removing the member: %d %s", st, alertOf(body))
	}
}

// A Viewer sees a user's, tenant's and role's attributes but no form, and
// a forged edit is refused by the API.
func TestDashboardEditNeedsTheScope(t *testing.T) {
	t.Parallel()
	s, _ := adminSite(t, nil)
	seedAPI(t, s, [2]any{"/v1/users", map[string]any{"key": "ada", "attributes": map[string]any{"dept": "eng"}}},
		[2]any{"/v1/roles", map[string]any{"key": "viewer"}})
	v := viewerMember(t, s)
	st, body := v.get("/users/ada")
	if st != 200 || strings.Contains(body, `id="edit-user"`) || strings.Contains(body, "/users/ada/delete") || !strings.Contains(body, "<dt><code>dept</code></dt><dd><code>eng</code></dd>") {
		t.Errorf("a Viewer's view of a user: %d", st)
	}
	if _, body = v.get("/roles/viewer"); strings.Contains(body, `id="edit-role"`) {
		t.Error("a Viewer is offered the role's form")
	}
	for path, form := range map[string]url.Values{
		"/users/ada":       {"email": {"x@example.com"}, "attr_rows": {"0"}},
		"/roles/viewer":    {"name": {"V"}, "attr_rows": {"0"}},
		"/tenants/default": {"name": {"D"}, "attr_rows": {"0"}},
	} {
		if st, body := v.page(path, form); st != 403 || !strings.Contains(alertOf(body), "manage:") {
			t.Errorf("a Viewer posting %s: %d %s", path, st, alertOf(body))
		}
	}
	if u := apiData(t, s, "/v1/users/ada"); u["email"] != "" || len(u["attributes"].(map[string]any)) != 1 {
		t.Errorf("the Viewer's forged edit changed the user: %v", u)
	}
}

// memberWithLink sets a member's password through their setup link and
// signs them in.
func (s *site) memberWithLink(t *testing.T, path, email, password string) *member {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if res, err := c.PostForm(s.url+path, url.Values{"password": {password}, "confirm": {password}}); err != nil || res.StatusCode != 303 {
		t.Fatalf("setup %s: %v %v", email, res, err)
	}
	return s.member(t, email, password)
}

// Deleting a project or an environment names its environments, the data
// in them and the keys that stop working.
func TestDashboardDeleteProjectNamesWhatGoes(t *testing.T) {
	t.Parallel()
	s, m := adminSite(t, nil)
	st, out := s.api(t, "POST", "/v1/projects", s.key, map[string]any{"name": "Billing", "key": "billing"})
	if st != 201 {
		t.Fatalf("project: %d %v", st, out)
	}
	pid := out["data"].(map[string]any)["id"].(string)
	if st, out := s.api(t, "POST", "/v1/users?project=billing&environment=development", s.key, map[string]any{"key": "ada"}); st != 201 {
		t.Fatalf("user: %d %v", st, out)
	}
	if st, out := s.api(t, "POST", "/v1/api-keys", s.key, map[string]any{"name": "billing backend", "level": "environment", "project": "billing",
		"environment": "production", "scopes": []string{"check:access"}}); st != 201 {
		t.Fatalf("key: %d %v", st, out)
	}
	if _, body := m.get("/projects"); !strings.Contains(body, `href="/projects/`+pid+`/delete"`) {
		t.Fatal("the projects page does not link to the project's delete confirmation")
	}
	st, body := m.get("/projects/" + pid + "/delete")
	items := confirmItems(body)
	for _, want := range []string{"2 environments, with all their data: Development, Production", "1 user of development, with what refers to it",
		"1 active API key of it, which stops working: billing backend"} {
		if !hasItem(items, want) {
			t.Errorf("the project's delete confirmation lacks %q: %d %q", want, st, items)
		}
	}
	_, out = s.api(t, "GET", "/v1/projects/billing/environments/production", s.key, nil)
	eid := out["data"].(map[string]any)["id"].(string)
	_, body = m.get("/projects/" + pid + "/environments/" + eid + "/delete")
	if items := confirmItems(body); !hasItem(items, "1 active API key of it, which stops working: billing backend") || hasItem(items, "user") {
		t.Errorf("production's delete confirmation: %q", items)
	}
	if st, body = m.page("/projects/"+pid+"/delete", nil); st != 200 || !strings.Contains(body, "Project deleted, with its environments") {
		t.Errorf("deleting the project: %d %s", st, alertOf(body))
	}
	if st, _ := s.api(t, "GET", "/v1/projects/billing", s.key, nil); st != 404 {
		t.Errorf("the project after the delete: %d", st)
	}
}
