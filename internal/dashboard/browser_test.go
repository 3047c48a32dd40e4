//go:build interop

// The dashboard in Debian's Chromium: interop tests, run by the interop
// stage of .ci/test (go test -tags interop).

package dashboard_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

// browser starts Debian's Chromium, headless, with its own profile. In CI
// a missing Chromium fails the test; elsewhere it skips, saying why.
func browser(t *testing.T, width, height int) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("Chromium is required in CI (.ci/run installs Debian's chromium package): not found on PATH")
		}
		t.Skip("no chromium on PATH (apt-get install -y chromium); CI=true makes this a failure")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true), chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(width, height))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	// Accept the confirmations of destructive actions.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return ctx
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// submit fills a form's fields (by CSS selector), submits it and waits
// for the page it leads to.
func submit(t *testing.T, ctx context.Context, what, form string, fields map[string]string) {
	t.Helper()
	steps := []chromedp.Action[chromedp.Void]{leave()}
	for sel, v := range fields {
		steps = append(steps, chromedp.SetValue(chromedp.CSS(form+" "+sel), v))
	}
	steps = append(steps, chromedp.Submit(chromedp.CSS(form+" button.primary")))
	do(t, ctx, what, steps...)
	arrived(t, ctx, what)
	do(t, ctx, what, chromedp.WaitReady(chromedp.CSS("main")))
}

// leave marks the page in the browser, so that arrived can tell the next
// one from it (a page with a flash looks like the page after a form).
func leave() chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`window.__leaving = true`)
}

// arrived waits until the page leave marked has given way to the next one,
// loaded.
func arrived(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	testwait.Until(t, 30*time.Second, what+": the next page", func() bool {
		in, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__leaving === undefined && document.readyState === "complete"`))
		return err == nil && in
	})
}

// eventually polls a JavaScript expression in the page until ok accepts
// its value (a page may still be arriving, its autofocus still to come),
// and fails naming the last value if it does not within a while.
func eventually(t *testing.T, ctx context.Context, what, expr string, ok func(string) bool) {
	t.Helper()
	var last string
	held := false
	defer func() {
		if !held {
			t.Logf("%s: last seen %.600q", what, last)
		}
	}()
	testwait.Until(t, 20*time.Second, what, func() bool {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			return false
		}
		last = v
		return ok(v)
	})
	held = true
}

// says polls the page until its main part says want.
func says(t *testing.T, ctx context.Context, what, want string) {
	t.Helper()
	eventually(t, ctx, what+": the page says "+want, `(document.querySelector("main") || {}).innerText || ""`, func(s string) bool { return strings.Contains(s, want) })
}

func artifacts(t *testing.T) string {
	dir := os.Getenv("GATEHOUSE_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", ".artifacts", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(artifacts(t), name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

func signIn(t *testing.T, ctx context.Context, s *site, email, password string) {
	t.Helper()
	do(t, ctx, "open sign in", chromedp.Navigate(s.url+"/signin"), chromedp.WaitVisible(chromedp.ID("email")))
	submit(t, ctx, "sign in", "#signin", map[string]string{"#email": email, "#password": password})
	if h := text(t, ctx, "h1"); h != "My Organization" {
		t.Fatalf("after signing in the page says %q", h)
	}
}

func TestDashboardInABrowser(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := browser(t, 1366, 900)
	const pw = "correct horse battery staple"

	// The first Admin chooses a password with the link init printed.
	do(t, ctx, "open the setup link", chromedp.Navigate(s.url+s.setup), chromedp.WaitVisible(chromedp.ID("password")))
	screenshot(t, ctx, "setup")
	submit(t, ctx, "set the password", "#setup", map[string]string{"#password": pw, "#confirm": pw})
	if got := text(t, ctx, ".flash"); !strings.Contains(got, "Welcome") {
		t.Fatalf("after setup: %q", got)
	}
	// The link works once.
	do(t, ctx, "open the used link", chromedp.Navigate(s.url+s.setup), chromedp.WaitVisible(chromedp.CSS(".alert")))
	if got := text(t, ctx, ".alert"); !strings.Contains(got, "does not work") {
		t.Errorf("a used link: %q", got)
	}
	do(t, ctx, "sign out", chromedp.Navigate(s.url+"/account"), chromedp.Click(chromedp.CSS(".who button.link")), chromedp.WaitVisible(chromedp.ID("email")))
	screenshot(t, ctx, "signin")
	// A wrong password, then the right one.
	submit(t, ctx, "sign in wrong", "#signin", map[string]string{"#email": "admin@example.com", "#password": "not the password"})
	if got := text(t, ctx, ".alert"); !strings.Contains(got, "not right") {
		t.Fatalf("wrong password: %q", got)
	}
	signIn(t, ctx, s, "admin@example.com", pw)
	screenshot(t, ctx, "overview")

	// A small model, through the forms.
	do(t, ctx, "resources", chromedp.Navigate(s.url+"/resources"), chromedp.WaitVisible(chromedp.ID("create-resource")))
	submit(t, ctx, "create resource", "#create-resource", map[string]string{"input[name=key]": "document", "input[name=actions]": "read, write, delete"})
	do(t, ctx, "roles", chromedp.Navigate(s.url+"/roles"), chromedp.WaitVisible(chromedp.ID("create-role")),
		chromedp.SetValue(chromedp.CSS("#create-role input[name=key]"), "editor"),
		chromedp.Click(chromedp.CSS("#create-role input[value='document:read']")),
		chromedp.Click(chromedp.CSS("#create-role input[value='document:write']")),
		chromedp.Submit(chromedp.CSS("#create-role button.primary")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	do(t, ctx, "users", chromedp.Navigate(s.url+"/users"), chromedp.WaitVisible(chromedp.ID("create-user")))
	submit(t, ctx, "create user", "#create-user", map[string]string{"input[name=key]": "ada", "input[name=email]": "ada@acme.example"})
	do(t, ctx, "assignments", chromedp.Navigate(s.url+"/assignments"), chromedp.WaitVisible(chromedp.ID("create-assignment")))
	submit(t, ctx, "assign", "#create-assignment", map[string]string{"input[name=user]": "ada"})
	if got := text(t, ctx, "table.list tbody"); !strings.Contains(got, "ada") || !strings.Contains(got, "editor") {
		t.Fatalf("assignment list: %q", got)
	}
	// Errors are shown in place.
	do(t, ctx, "users", chromedp.Navigate(s.url+"/users"), chromedp.WaitVisible(chromedp.ID("create-user")))
	submit(t, ctx, "create a duplicate", "#create-user", map[string]string{"input[name=key]": "ada"})
	if got := text(t, ctx, ".alert"); !strings.Contains(got, "already exists") {
		t.Errorf("a duplicate user: %q", got)
	}
	screenshot(t, ctx, "users")

	// The check playground.
	do(t, ctx, "check", chromedp.Navigate(s.url+"/check"), chromedp.WaitVisible(chromedp.ID("check-form")))
	submit(t, ctx, "allowed", "#check-form", map[string]string{"#check-user": "ada", "#check-action": "write"})
	if got := text(t, ctx, "#reason"); got != "granted" {
		t.Errorf("ada write: reason %q", got)
	}
	if got := text(t, ctx, ".verdict .big"); got != "Allowed" {
		t.Errorf("ada write: %q", got)
	}
	screenshot(t, ctx, "check")
	submit(t, ctx, "denied", "#check-form", map[string]string{"#check-user": "ada", "#check-action": "delete"})
	if got := text(t, ctx, ".verdict .big"); got != "Denied" {
		t.Errorf("ada delete: %q", got)
	}
	if got := text(t, ctx, "#explanation"); !strings.Contains(got, "delete") {
		t.Errorf("explanation %q", got)
	}

	// An API key: chosen scopes, the token shown once, its claims decoded.
	do(t, ctx, "keys", chromedp.Navigate(s.url+"/keys"), chromedp.WaitVisible(chromedp.ID("create-key")),
		chromedp.SetValue(chromedp.ID("key-name"), "browser test key"),
		chromedp.Click(chromedp.CSS("#create-key input[value='view:user']")),
		chromedp.Click(chromedp.CSS("#create-key input[value='check:access']")),
		chromedp.Submit(chromedp.ID("create-key")), chromedp.WaitVisible(chromedp.ID("new-key")))
	token := strings.TrimSpace(text(t, ctx, "#token"))
	claims := text(t, ctx, "#claims")
	if !strings.HasPrefix(token, "eyJ") || !strings.Contains(claims, `"view:user"`) || !strings.Contains(claims, `"environment"`) || strings.Contains(claims, "manage:user") {
		t.Fatalf("new key: token %.20s…, claims %s", token, claims)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("[data-copy=token]").length`)); err != nil || n != 1 {
		t.Errorf("copy button: %d %v", n, err)
	}
	screenshot(t, ctx, "keys")
	// The key works, and its call shows up in the API log.
	if st, res := s.api(t, "GET", "/v1/users", token, nil); st != 200 || len(res["data"].([]any)) != 1 {
		t.Fatalf("the new key: %d %v", st, res)
	}
	if st, _ := s.api(t, "POST", "/v1/users", token, map[string]any{"key": "nope"}); st != 403 {
		t.Errorf("the key holds only view:user: %d", st)
	}
	testwait.Until(t, 30*time.Second, "the key's call in the API log page", func() bool {
		do(t, ctx, "logs", chromedp.Navigate(s.url+"/logs?path=/v1/users&method=GET"), chromedp.WaitReady(chromedp.CSS("main")))
		return strings.Contains(text(t, ctx, "main"), "browser test key")
	})
	screenshot(t, ctx, "logs")
	do(t, ctx, "open the call", chromedp.Click(chromedp.CSS("#calls tbody tr:first-child a")), chromedp.WaitVisible(chromedp.ID("tab-request")))
	if got := text(t, ctx, "#panel-request"); !strings.Contains(got, "[REDACTED]") {
		t.Errorf("the request tab should show the Authorization header redacted: %q", got)
	}
	do(t, ctx, "response tab", chromedp.Click(chromedp.ID("tab-response")), chromedp.WaitVisible(chromedp.ID("panel-response")))
	if got := text(t, ctx, "#panel-response"); !strings.Contains(got, `"ada"`) {
		t.Errorf("the response tab: %q", got)
	}
	screenshot(t, ctx, "log-call")
	// The dashboard's own actions are in the API log too, by the member.
	_, logs := s.api(t, "GET", "/v1/logs?path=/v1/api-keys&method=POST", s.key, nil)
	if calls := logs["data"].([]any); len(calls) == 0 || calls[0].(map[string]any)["actor_type"] != "member" {
		t.Errorf("the key created in the dashboard is not in the log as the member's: %v", logs["data"])
	}

	// Revoke it, with the confirmation.
	do(t, ctx, "keys", chromedp.Navigate(s.url+"/keys?status=active"), chromedp.WaitReady(chromedp.CSS("main")),
		chromedp.Click(chromedp.CSS("form[action$='/revoke'] button")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	if st, _ := s.api(t, "GET", "/v1/users", token, nil); st != 401 {
		t.Errorf("a revoked key: %d", st)
	}

	for _, pg := range []string{"projects", "members", "member-roles", "tenants", "resources", "instances", "relationships", "roles", "assignments", "rules", "webhooks", "jobs", "settings"} {
		do(t, ctx, pg, chromedp.Navigate(s.url+"/"+pg), chromedp.WaitReady(chromedp.CSS("main")))
		screenshot(t, ctx, pg)
	}
	t.Logf("screenshots in %s", artifacts(t))
}

// A Viewer sees and may do what the role allows, the API deciding.
func TestDashboardFollowsTheRole(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	const pw = "viewers see things"
	st, m := s.api(t, "POST", "/v1/members", s.key, map[string]any{"email": "vic@example.com", "role": "viewer"})
	if st != 201 {
		t.Fatalf("member: %d %v", st, m)
	}
	id := m["data"].(map[string]any)["id"].(string)
	_, link := s.api(t, "POST", "/v1/members/"+id+"/setup-link", s.key, nil)
	path := link["data"].(map[string]any)["path"].(string)
	ctx := browser(t, 390, 844) // a phone
	do(t, ctx, "setup", chromedp.Navigate(s.url+path), chromedp.WaitVisible(chromedp.ID("password")))
	submit(t, ctx, "set the password", "#setup", map[string]string{"#password": pw, "#confirm": pw})
	screenshot(t, ctx, "phone-overview")
	nav, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("nav").textContent`)) // folded away on a phone
	if err != nil {
		t.Fatal(err)
	}
	for _, hidden := range []string{"API keys", "Roles & permissions"} {
		if strings.Contains(nav, hidden) {
			t.Errorf("a Viewer's menu shows %s", hidden)
		}
	}
	for _, shown := range []string{"Users", "API log", "Members"} {
		if !strings.Contains(nav, shown) {
			t.Errorf("a Viewer's menu lacks %s", shown)
		}
	}
	do(t, ctx, "users", chromedp.Navigate(s.url+"/users"), chromedp.WaitReady(chromedp.CSS("main")))
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#create-user").length`)); n != 0 {
		t.Error("a Viewer is offered the form to add users")
	}
	screenshot(t, ctx, "phone-users")
	// The API decides, whatever the page shows: a forged form is refused.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`(function(){var f=document.createElement("form");f.method="post";f.action="/users";
		var i=document.createElement("input");i.name="key";i.value="sneaky";f.appendChild(i);document.body.appendChild(f);f.submit();})()`)); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "after the forged form", chromedp.WaitVisible(chromedp.CSS(".alert")))
	if got := text(t, ctx, ".alert"); !strings.Contains(got, "manage:user") {
		t.Errorf("a Viewer adding a user: %q", got)
	}
	if st, res := s.api(t, "GET", "/v1/users/sneaky?project=default&environment=development", s.key, nil); st != 404 {
		t.Errorf("the Viewer's user exists: %d %v", st, res)
	}
	do(t, ctx, "keys", chromedp.Navigate(s.url+"/keys"), chromedp.WaitReady(chromedp.CSS("main")))
	if got := text(t, ctx, ".alert"); !strings.Contains(got, "manage:api") {
		t.Errorf("a Viewer on the API keys page: %q", got)
	}
}

// The fine-grained model built through the pages: a folder tree with its
// relation and derived role, instances, tuples and a role on an instance;
// then the playground allows the check and shows the path, step by step,
// with links to the facts it went through.
func TestDashboardFineGrainedInABrowser(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := browser(t, 1366, 900)
	const pw = "correct horse battery staple"
	do(t, ctx, "open the setup link", chromedp.Navigate(s.url+s.setup), chromedp.WaitVisible(chromedp.ID("password")))
	submit(t, ctx, "set the password", "#setup", map[string]string{"#password": pw, "#confirm": pw})
	flash := func(what, want string) { t.Helper(); says(t, ctx, what, want) }

	for _, res := range []string{"folder", "document"} {
		do(t, ctx, "resources", chromedp.Navigate(s.url+"/resources"), chromedp.WaitVisible(chromedp.ID("create-resource")))
		submit(t, ctx, "create "+res, "#create-resource", map[string]string{"input[name=key]": res, "input[name=actions]": "read, write"})
		flash("create "+res, "created")
	}
	do(t, ctx, "tenants", chromedp.Navigate(s.url+"/tenants"), chromedp.WaitVisible(chromedp.CSS("form[action='/tenants']")))
	submit(t, ctx, "create acme", "form[action='/tenants']", map[string]string{"input[name=key]": "acme"})
	flash("create acme", "created")

	// Each type: relation parent (subjects: folder), role editor derived
	// from the parent folder's editors. The type's page is reached from the list.
	for _, res := range []string{"folder", "document"} {
		do(t, ctx, "resources", chromedp.Navigate(s.url+"/resources"), chromedp.WaitVisible(chromedp.ID("create-resource")),
			chromedp.Click(chromedp.CSS("a[href='/resources/"+res+"']")), chromedp.WaitVisible(chromedp.ID("create-relation")))
		submit(t, ctx, "relation on "+res, "#create-relation", map[string]string{"input[name=key]": "parent", "select[name=subject]": "folder"})
		flash("relation on "+res, "declared")
		do(t, ctx, "role on "+res, chromedp.WaitVisible(chromedp.ID("create-resource-role")),
			chromedp.SetValue(chromedp.CSS("#create-resource-role input[name=key]"), "editor"),
			chromedp.Click(chromedp.CSS("#create-resource-role input[name=permissions][value=read]")),
			chromedp.Click(chromedp.CSS("#create-resource-role input[name=permissions][value=write]")),
			chromedp.SetValue(chromedp.CSS("#create-resource-role input[name=gt_role_0]"), "editor"),
			chromedp.SetValue(chromedp.CSS("#create-resource-role select[name=gt_on_0]"), "folder"),
			chromedp.SetValue(chromedp.CSS("#create-resource-role select[name=gt_by_0]"), "parent"),
			chromedp.Submit(chromedp.CSS("#create-resource-role button.primary")))
		flash("role on "+res, "Role editor of "+res+" created")
		if got := text(t, ctx, "#roles table"); !strings.Contains(got, "holders of editor on the folder linked by parent") {
			t.Errorf("%s's role does not show its derivation: %q", res, got)
		}
	}
	screenshot(t, ctx, "resource-type")

	// Instances: bad JSON is refused beside the field, which gets the focus.
	do(t, ctx, "instances", chromedp.Navigate(s.url+"/instances"), chromedp.WaitVisible(chromedp.ID("create-instance")))
	submit(t, ctx, "a bad attribute", "#create-instance", map[string]string{"select[name=resource]": "document", "input[name=key]": "d1",
		"input[name=tenant]": "acme", "textarea[name=attributes]": `{"owner": bob}`})
	if got := text(t, ctx, "#err-attributes"); !strings.Contains(got, "not a JSON object") {
		t.Errorf("bad JSON: %q", got)
	}
	eventually(t, ctx, "the field in error focused and described", `document.activeElement.name + " " + document.activeElement.getAttribute("aria-invalid") + " " + document.activeElement.getAttribute("aria-describedby")`,
		func(focus string) bool {
			return strings.HasPrefix(focus, "attributes true") && strings.Contains(focus, "err-attributes")
		})
	screenshot(t, ctx, "instance-json-error")
	submit(t, ctx, "document d1", "#create-instance", map[string]string{"textarea[name=attributes]": `{"owner": "bob"}`})
	flash("document d1", "Instance document:d1 created")
	for _, f := range []string{"root", "specs"} {
		do(t, ctx, "instances", chromedp.Navigate(s.url+"/instances"), chromedp.WaitVisible(chromedp.ID("create-instance")))
		submit(t, ctx, "folder "+f, "#create-instance", map[string]string{"select[name=resource]": "folder", "input[name=key]": f, "input[name=tenant]": "acme"})
		flash("folder "+f, "Instance folder:"+f+" created")
	}
	do(t, ctx, "folders of acme", chromedp.Navigate(s.url+"/instances?resource=folder&tenant=acme"), chromedp.WaitVisible(chromedp.ID("instances")))
	if got := text(t, ctx, "#instances tbody"); !strings.Contains(got, "folder:root") || strings.Contains(got, "document:d1") {
		t.Errorf("the folders of acme: %q", got)
	}

	// The tree: root ⊃ specs ⊃ d1.
	for _, tu := range [][2]string{{"folder:root", "folder:specs"}, {"folder:specs", "document:d1"}} {
		do(t, ctx, "relationships", chromedp.Navigate(s.url+"/relationships"), chromedp.WaitVisible(chromedp.ID("create-relationship")))
		submit(t, ctx, "tuple", "#create-relationship", map[string]string{"input[name=subject]": tu[0], "input[name=relation]": "parent", "input[name=object]": tu[1]})
		flash("tuple", "Relationship "+tu[0]+" parent "+tu[1]+" created")
	}
	screenshot(t, ctx, "relationships")
	do(t, ctx, "users", chromedp.Navigate(s.url+"/users"), chromedp.WaitVisible(chromedp.ID("create-user")))
	submit(t, ctx, "user bob", "#create-user", map[string]string{"input[name=key]": "bob"})
	// bob is editor of folder:root, given on the instance's page.
	do(t, ctx, "folder root", chromedp.Navigate(s.url+"/instances/folder:root"), chromedp.WaitVisible(chromedp.ID("assign-instance")))
	submit(t, ctx, "assign on root", "#assign-instance", map[string]string{"input[name=user]": "bob", "select[name=role]": "editor"})
	flash("assign on root", "Role editor given to bob")
	if got := text(t, ctx, "#assignments table"); !strings.Contains(got, "user:bob") || !strings.Contains(got, "editor") {
		t.Errorf("the roles on folder:root: %q", got)
	}
	screenshot(t, ctx, "instance")

	// The playground: allowed, by the role on root carried down the tree.
	do(t, ctx, "check", chromedp.Navigate(s.url+"/check"), chromedp.WaitVisible(chromedp.ID("check-form")))
	submit(t, ctx, "bob writes d1", "#check-form", map[string]string{"#check-user": "bob", "#check-action": "write", "#check-resource": "document", "#check-key": "d1"})
	do(t, ctx, "the decision", chromedp.WaitVisible(chromedp.ID("path")))
	if got := text(t, ctx, ".verdict .big"); got != "Allowed" {
		t.Fatalf("bob write d1: %q (%s)", got, text(t, ctx, "#decision"))
	}
	if got := text(t, ctx, "#via"); got != "instance_role" {
		t.Errorf("via %q", got)
	}
	steps, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#path li .chain")).map(e => e.textContent.replace(/\s+/g, " ").trim())`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"user:bob — editor → folder:root", "folder:root — parent → folder:specs", "user:bob — editor → folder:specs",
		"folder:specs — parent → document:d1", "user:bob — editor → document:d1"}
	if strings.Join(steps, "\n") != strings.Join(want, "\n") {
		t.Errorf("the path:\n%s\nwant\n%s", strings.Join(steps, "\n"), strings.Join(want, "\n"))
	}
	if got := text(t, ctx, "#path li:last-child .rule"); !strings.Contains(got, "folder#editor ⇒ document#editor by parent") {
		t.Errorf("the last step's rule: %q", got)
	}
	screenshot(t, ctx, "check-path")
	// On a phone the chain wraps instead of widening the page.
	do(t, ctx, "phone", chromedp.EmulateViewport(390, 844))
	if wide, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)); wide {
		t.Error("the playground with a path is wider than a phone")
	}
	screenshot(t, ctx, "phone-check-path")
	do(t, ctx, "desktop", chromedp.EmulateViewport(1366, 900))
	// A step links to its fact: the second step is the tuple root → specs.
	do(t, ctx, "open the tuple", chromedp.Click(chromedp.CSS("#path li:nth-child(2) a.small")), chromedp.WaitVisible(chromedp.ID("tuples")))
	if got := text(t, ctx, "#tuples tbody"); !strings.Contains(got, "folder:root") || !strings.Contains(got, "folder:specs") || strings.Contains(got, "document:d1") {
		t.Errorf("the tuple's page: %q", got)
	}
	// And the first to the instance where the role was given.
	do(t, ctx, "check", chromedp.Navigate(s.url+"/check"), chromedp.WaitVisible(chromedp.ID("check-form")))
	submit(t, ctx, "bob writes d1", "#check-form", map[string]string{"#check-user": "bob", "#check-action": "write", "#check-resource": "document", "#check-key": "d1"})
	do(t, ctx, "open the role", chromedp.WaitVisible(chromedp.ID("path")),
		chromedp.Click(chromedp.CSS("#path li:first-child a.small")), chromedp.WaitVisible(chromedp.ID("assignments")))
	if h := text(t, ctx, "h1"); h != "folder:root" {
		t.Errorf("the first step leads to %q", h)
	}
	// Bad JSON in the playground is refused beside its field.
	do(t, ctx, "check", chromedp.Navigate(s.url+"/check"), chromedp.WaitVisible(chromedp.ID("check-form")),
		chromedp.Click(chromedp.CSS("#check-form details summary")))
	submit(t, ctx, "bad context", "#check-form", map[string]string{"#check-user": "bob", "#check-action": "write", "#check-resource": "document", "#check-context": "{ip}"})
	if got := text(t, ctx, "#err-context"); !strings.Contains(got, "not a JSON object") {
		t.Errorf("bad context: %q", got)
	}

	// Editing a derivation: the document's editor role, from the type's
	// page. Emptying its row removes it and bob no longer writes d1;
	// filling it again gives the write back.
	verdict := func() string {
		t.Helper()
		do(t, ctx, "check", chromedp.Navigate(s.url+"/check"), chromedp.WaitVisible(chromedp.ID("check-form")))
		submit(t, ctx, "bob writes d1", "#check-form", map[string]string{"#check-user": "bob", "#check-action": "write", "#check-resource": "document", "#check-key": "d1"})
		do(t, ctx, "the verdict", chromedp.WaitVisible(chromedp.CSS(".verdict .big")))
		return text(t, ctx, ".verdict .big")
	}
	openRole := func() {
		t.Helper()
		do(t, ctx, "the role's page", chromedp.Navigate(s.url+"/resources/document"), chromedp.WaitVisible(chromedp.ID("roles")),
			chromedp.Click(chromedp.CSS("a[aria-label='Edit role editor']")), chromedp.WaitVisible(chromedp.ID("edit-resource-role")))
	}
	openRole()
	if got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#edit-resource-role select[name=gt_by_0]").value`)); err != nil || got != "parent" {
		t.Fatalf("the edit form's derivation: %q %v", got, err)
	}
	// (chromedp's SetValue cannot set an empty value: the row is emptied by script.)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`["gt_role_0", "gt_on_0", "gt_by_0"].forEach(n => document.querySelector("#edit-resource-role [name=" + n + "]").value = "")`)); err != nil {
		t.Fatal(err)
	}
	submit(t, ctx, "remove the derivation", "#edit-resource-role", nil)
	flash("remove the derivation", "Role editor of document saved.")
	if got := text(t, ctx, "#role"); !strings.Contains(got, "nobody else") {
		t.Errorf("the role after removing its derivation: %q", got)
	}
	if got := verdict(); got != "Denied" {
		t.Errorf("bob writes d1 without the derivation: %q", got)
	}
	openRole()
	// A half-filled row is refused beside its field, which gets the focus.
	submit(t, ctx, "a half derivation", "#edit-resource-role", map[string]string{"input[name=gt_role_0]": "editor", "select[name=gt_on_0]": "folder"})
	if got := text(t, ctx, "#err-gt_by_0"); !strings.Contains(got, "relation") {
		t.Errorf("a derivation without its relation: %q", got)
	}
	eventually(t, ctx, "the focus on the field in error", `document.activeElement.name`, func(focus string) bool { return focus == "gt_by_0" })
	submit(t, ctx, "the derivation again", "#edit-resource-role", map[string]string{"select[name=gt_by_0]": "parent"})
	flash("the derivation again", "Role editor of document saved.")
	if got := text(t, ctx, "#role"); !strings.Contains(got, "holders of editor on the folder linked by parent") {
		t.Errorf("the role after the edit: %q", got)
	}
	screenshot(t, ctx, "resource-role-edit")
	if got := verdict(); got != "Allowed" {
		t.Errorf("bob writes d1 with the derivation back: %q", got)
	}

	// Editing a condition set's conditions, from the rules page.
	if st, out := s.api(t, "POST", "/v1/condition-sets?project=default&environment=development", s.key,
		map[string]any{"key": "finance", "type": "userset", "conditions": map[string]any{"user.dept": map[string]any{"equals": "finance"}}}); st != 201 {
		t.Fatalf("condition set: %d %v", st, out)
	}
	do(t, ctx, "rules", chromedp.Navigate(s.url+"/rules"), chromedp.WaitVisible(chromedp.ID("sets")),
		chromedp.Click(chromedp.CSS("a[aria-label='Edit condition set finance']")), chromedp.WaitVisible(chromedp.ID("edit-condition-set")))
	submit(t, ctx, "bad conditions", "#edit-condition-set", map[string]string{"textarea[name=conditions]": `{"user.dept": {"frobnicates": 1}}`})
	if got := text(t, ctx, "#err-conditions"); !strings.Contains(got, "invalid conditions") {
		t.Errorf("conditions the API refuses: %q", got)
	}
	eventually(t, ctx, "the conditions in error focused and described", `document.activeElement.name + " " + document.activeElement.getAttribute("aria-describedby")`,
		func(focus string) bool {
			return strings.HasPrefix(focus, "conditions ") && strings.Contains(focus, "err-conditions")
		})
	screenshot(t, ctx, "condition-set-error")
	submit(t, ctx, "edit conditions", "#edit-condition-set", map[string]string{"input[name=name]": "Sales people",
		"textarea[name=conditions]": `{"user.dept": {"equals": "sales"}}`})
	flash("edit conditions", "Condition set finance saved.")
	if got := text(t, ctx, "h1 + p"); !strings.Contains(got, "Sales people") {
		t.Errorf("the set's page after the edit: %q", got)
	}
	if _, out := s.api(t, "GET", "/v1/condition-sets/finance?project=default&environment=development", s.key, nil); !strings.Contains(fmt.Sprint(out["data"]), "sales") {
		t.Errorf("the set after the edit: %v", out["data"])
	}
	// On a phone the edit form fits.
	do(t, ctx, "phone", chromedp.EmulateViewport(390, 844))
	if wide, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)); wide {
		t.Error("the condition set's page is wider than a phone")
	}
	screenshot(t, ctx, "phone-condition-set")
	openRole()
	if wide, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)); wide {
		t.Error("the role's page is wider than a phone")
	}
	screenshot(t, ctx, "phone-resource-role")
}
