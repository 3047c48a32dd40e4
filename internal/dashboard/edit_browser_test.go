//go:build interop

package dashboard_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Editing in place in Debian's Chromium: a user's attributes (with a row
// added by the page's script), a role's permissions (the playground
// follows), a resource type's actions (removing one roles grant asks, then
// takes it off them), and a delete whose confirmation names what goes with
// it; screenshots at laptop and phone widths.
func TestDashboardEditInPlaceInABrowser(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := browser(t, 1366, 900)
	const pw = "correct horse battery staple"
	do(t, ctx, "open the setup link", chromedp.Navigate(s.url+s.setup), chromedp.WaitVisible(chromedp.ID("password")))
	submit(t, ctx, "set the password", "#setup", map[string]string{"#password": pw, "#confirm": pw})
	seedAPI(t, s,
		[2]any{"/v1/resources", map[string]any{"key": "doc", "actions": []string{"read", "write", "delete"}}},
		[2]any{"/v1/roles", map[string]any{"key": "viewer", "permissions": []string{"doc:read"}}},
		[2]any{"/v1/roles", map[string]any{"key": "editor", "permissions": []string{"doc:read"}}},
		[2]any{"/v1/users", map[string]any{"key": "ada", "email": "ada@acme.example", "attributes": map[string]any{"dept": "eng"}}},
		[2]any{"/v1/role-assignments", map[string]any{"user": "ada", "role": "editor"}},
	)
	flash := func(what, want string) { t.Helper(); says(t, ctx, what, want) }
	wide := func(what string) {
		t.Helper()
		if w, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)); w {
			t.Errorf("%s is wider than the window", what)
		}
	}

	// A user's attributes: change one, add a row with the page's button.
	do(t, ctx, "users", chromedp.Navigate(s.url+"/users"), chromedp.WaitVisible(chromedp.CSS("a[href='/users/ada']")),
		chromedp.Click(chromedp.CSS("a[href='/users/ada']")), chromedp.WaitVisible(chromedp.ID("edit-user")))
	rows := func() int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#edit-user .kv-row").length`))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := rows(); n != 3 {
		t.Fatalf("ada's form has %d attribute rows, want hers and two blank ones", n)
	}
	do(t, ctx, "add a row", chromedp.Click(chromedp.CSS("#edit-user [data-add-row]")))
	if n := rows(); n != 4 {
		t.Fatalf("after Add a row: %d rows", n)
	}
	if focus, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.name`)); focus != "attr_key_3" {
		t.Errorf("the new row's name field is not focused: %q", focus)
	}
	do(t, ctx, "fill the rows", chromedp.SetValue(chromedp.CSS("#edit-user input[name=attr_val_0]"), "finance"),
		chromedp.SetValue(chromedp.CSS("#edit-user input[name=attr_key_3]"), "level"),
		chromedp.SetValue(chromedp.CSS("#edit-user input[name=attr_val_3]"), "3"),
		chromedp.SetValue(chromedp.CSS("#edit-user input[name=first_name]"), "Ada"))
	screenshot(t, ctx, "user-edit")
	do(t, ctx, "save ada", chromedp.Submit(chromedp.CSS("#edit-user button.primary")))
	flash("save ada", "User ada saved.")
	u := apiData(t, s, "/v1/users/ada")
	if !reflect.DeepEqual(u["attributes"], map[string]any{"dept": "finance", "level": float64(3)}) || u["first_name"] != "Ada" {
		t.Errorf("ada after the edit: %v", u)
	}
	// A name given twice is refused beside the row, which gets the focus.
	submit(t, ctx, "a name twice", "#edit-user", map[string]string{"input[name=attr_key_2]": "dept", "input[name=attr_val_2]": "ops"})
	if got := text(t, ctx, "#err-attr_key_2"); !strings.Contains(got, "named twice") {
		t.Errorf("a name given twice: %q", got)
	}
	eventually(t, ctx, "the row in error focused and described", `document.activeElement.name + " " + document.activeElement.getAttribute("aria-describedby")`,
		func(focus string) bool { return focus == "attr_key_2 err-attr_key_2" })
	do(t, ctx, "phone", chromedp.EmulateViewport(390, 844))
	wide("the user's page")
	screenshot(t, ctx, "phone-user-edit")
	do(t, ctx, "desktop", chromedp.EmulateViewport(1366, 900))

	// A role's permissions: editor gets doc:write; the playground follows.
	verdict := func() string {
		t.Helper()
		do(t, ctx, "check", chromedp.Navigate(s.url+"/check"), chromedp.WaitVisible(chromedp.ID("check-form")))
		submit(t, ctx, "ada writes", "#check-form", map[string]string{"#check-user": "ada", "#check-action": "write", "#check-resource": "doc"})
		do(t, ctx, "the verdict", chromedp.WaitVisible(chromedp.CSS(".verdict .big")))
		return text(t, ctx, ".verdict .big")
	}
	if got := verdict(); got != "Denied" {
		t.Fatalf("before the edit ada's write is %q", got)
	}
	do(t, ctx, "roles", chromedp.Navigate(s.url+"/roles"), chromedp.WaitVisible(chromedp.CSS("a[aria-label='Edit role editor']")),
		chromedp.Click(chromedp.CSS("a[aria-label='Edit role editor']")), chromedp.WaitVisible(chromedp.ID("edit-role")),
		chromedp.Click(chromedp.CSS("#edit-role input[name=permissions][value='doc:write']")),
		chromedp.Click(chromedp.CSS("#edit-role input[name=extends][value=viewer]")))
	screenshot(t, ctx, "role-edit")
	do(t, ctx, "save editor", chromedp.Submit(chromedp.CSS("#edit-role button.primary")))
	flash("save editor", "Role editor saved.")
	if got := text(t, ctx, "#role"); !strings.Contains(got, "doc:write") || !strings.Contains(got, "viewer") {
		t.Errorf("the role after the edit: %q", got)
	}
	if got := verdict(); got != "Allowed" {
		t.Errorf("after the edit ada's write is %q", got)
	}

	// A resource type's actions: add two; then remove read, which roles
	// grant: the page names them and asks; ticked, they lose it.
	do(t, ctx, "doc", chromedp.Navigate(s.url+"/resources/doc"), chromedp.WaitVisible(chromedp.ID("edit-resource")))
	if got := text(t, ctx, "#edit-resource #actions"); !strings.Contains(got, "granted by viewer, editor") && !strings.Contains(got, "granted by editor, viewer") {
		t.Errorf("the actions do not say who grants them: %q", got)
	}
	submit(t, ctx, "add actions", "#edit-resource", map[string]string{"input[name=add_actions]": "share, archive"})
	flash("add actions", "Resource type doc saved.")
	if a := apiData(t, s, "/v1/resources/doc")["actions"]; fmt.Sprint(a) != "[read write delete share archive]" {
		t.Errorf("the actions after adding two: %v", a)
	}
	do(t, ctx, "untick read", chromedp.WaitVisible(chromedp.ID("edit-resource")), chromedp.Click(chromedp.CSS("#edit-resource input[name=actions][value=read]")),
		leave(), chromedp.Submit(chromedp.CSS("#edit-resource button.primary")))
	arrived(t, ctx, "untick read")
	do(t, ctx, "the offer", chromedp.WaitVisible(chromedp.ID("edit-cascade")))
	if got := text(t, ctx, ".alert"); !strings.Contains(got, "in use") || !strings.Contains(got, "viewer") || !strings.Contains(got, "editor") {
		t.Errorf("removing a granted action: %q", got)
	}
	if a := apiData(t, s, "/v1/resources/doc")["actions"]; fmt.Sprint(a) != "[read write delete share archive]" {
		t.Fatalf("the refused change was saved: %v", a)
	}
	eventually(t, ctx, "the offer to take read off the roles focused", `document.activeElement.id`, func(focus string) bool { return focus == "edit-cascade" })
	screenshot(t, ctx, "resource-action-in-use")
	do(t, ctx, "take it off them", chromedp.Click(chromedp.ID("edit-cascade")), chromedp.Submit(chromedp.CSS("#edit-resource button.primary")))
	flash("take it off them", "Resource type doc saved.")
	if a := apiData(t, s, "/v1/resources/doc")["actions"]; fmt.Sprint(a) != "[write delete share archive]" {
		t.Errorf("the actions after removing read: %v", a)
	}
	if p := apiData(t, s, "/v1/roles/viewer")["permissions"]; fmt.Sprint(p) != "[]" {
		t.Errorf("viewer still grants the removed action: %v", p)
	}

	// Deleting editor: the confirmation names its assignment; confirmed,
	// both go.
	do(t, ctx, "roles", chromedp.Navigate(s.url+"/roles"), chromedp.WaitVisible(chromedp.CSS("a[aria-label='Delete role editor']")),
		chromedp.Click(chromedp.CSS("a[aria-label='Delete role editor']")), chromedp.WaitVisible(chromedp.ID("confirm")))
	if h := text(t, ctx, "h1"); h != "Delete role editor?" {
		t.Errorf("the confirmation asks %q", h)
	}
	if got := text(t, ctx, "#cascade"); !strings.Contains(got, "1 assignment of it (who holds it, in which tenant)") {
		t.Errorf("the confirmation does not name editor's assignment: %q", got)
	}
	if _, out := s.api(t, "GET", "/v1/roles/editor?project=default&environment=development", s.key, nil); out["data"] == nil {
		t.Fatal("opening the confirmation deleted the role")
	}
	screenshot(t, ctx, "delete-confirm")
	do(t, ctx, "phone", chromedp.EmulateViewport(390, 844))
	wide("the confirmation")
	screenshot(t, ctx, "phone-delete-confirm")
	do(t, ctx, "desktop", chromedp.EmulateViewport(1366, 900))
	do(t, ctx, "confirm", chromedp.Click(chromedp.ID("confirm-delete")))
	flash("confirm", "Role editor deleted.")
	if st, _ := s.api(t, "GET", "/v1/roles/editor?project=default&environment=development", s.key, nil); st != 404 {
		t.Errorf("editor after the delete: %d", st)
	}
	if _, out := s.api(t, "GET", "/v1/role-assignments?user=ada&project=default&environment=development", s.key, nil); len(out["data"].([]any)) != 0 {
		t.Errorf("ada's assignments after deleting editor: %v", out["data"])
	}
}
