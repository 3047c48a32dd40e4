//go:build interop

package dashboard_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

// The policy editor, the decision log and a user's page in Debian's
// Chromium: a check is denied; the denied decision, followed from the log,
// opens the playground filled in; a cell pressed in the matrix grants the
// permission at once (undone and done again from the toast), and the
// playground's check flips; the user's page shows what they may do and
// their latest checks, and gives and takes a role. Screenshots at laptop
// and phone widths.
func TestDashboardPolicyInABrowser(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := browser(t, 1366, 900)
	const pw = "correct horse battery staple"
	do(t, ctx, "open the setup link", chromedp.Navigate(s.url+s.setup), chromedp.WaitVisible(chromedp.ID("password")))
	submit(t, ctx, "set the password", "#setup", map[string]string{"#password": pw, "#confirm": pw})
	seedAPI(t, s,
		[2]any{"/v1/resources", map[string]any{"key": "doc", "actions": []string{"read", "write", "delete"}}},
		[2]any{"/v1/resources", map[string]any{"key": "invoice", "actions": []string{"view", "pay"}}},
		[2]any{"/v1/roles", map[string]any{"key": "viewer", "permissions": []string{"doc:read", "invoice:view"}}},
		[2]any{"/v1/roles", map[string]any{"key": "editor", "extends": []string{"viewer"}}},
		[2]any{"/v1/resources/doc/roles", map[string]any{"key": "owner", "permissions": []string{"read", "write", "delete"}}},
		[2]any{"/v1/users", map[string]any{"key": "ada", "email": "ada@acme.example"}},
		[2]any{"/v1/tenants", map[string]any{"key": "acme"}},
		[2]any{"/v1/role-assignments", map[string]any{"user": "ada", "role": "editor"}},
	)
	if st, out := s.api(t, "PATCH", "/v1/projects/default/environments/development/settings", s.key, map[string]any{"decision_log": "full"}); st != 200 {
		t.Fatalf("turn the decision log on: %d %v", st, out)
	}
	wide := func(what string) {
		t.Helper()
		if w, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)); w {
			t.Errorf("%s is wider than the window", what)
		}
	}
	phone := func(name, path string) {
		t.Helper()
		do(t, ctx, "phone", chromedp.EmulateViewport(390, 844), chromedp.Navigate(s.url+path), chromedp.WaitVisible(chromedp.CSS("main h1")))
		wide(path)
		screenshot(t, ctx, "phone-"+name)
		do(t, ctx, "laptop", chromedp.EmulateViewport(1366, 900))
	}
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

	// The decision log: the denied check is there, explained; its link
	// opens the playground filled in.
	testwait.Until(t, 20*time.Second, "the denied check in the decision log", func() bool {
		if err := chromedp.Do(ctx, chromedp.Navigate(s.url+"/decisions?user=ada&allow=false"), chromedp.WaitVisible(chromedp.CSS("main h1"))); err != nil {
			return false
		}
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#decisions tr.decision.denied").length`))
		return err == nil && n > 0
	})
	if got := text(t, ctx, "#decisions tr.decision.denied td.explanation"); !strings.Contains(got, `no role of user "ada" in tenant "default" grants doc:write`) {
		t.Errorf("the denied decision's explanation: %q", got)
	}
	do(t, ctx, "filter by reason", chromedp.Navigate(s.url+"/decisions?reason=granted"), chromedp.WaitVisible(chromedp.CSS("main h1")))
	says(t, ctx, "no granted check yet", "No decisions match")
	do(t, ctx, "back to the denied ones", chromedp.Navigate(s.url+"/decisions?user=ada&allow=false"), chromedp.WaitVisible(chromedp.ID("decisions")))
	screenshot(t, ctx, "decisions")
	phone("decisions", "/decisions?user=ada&allow=false")
	do(t, ctx, "decisions again", chromedp.Navigate(s.url+"/decisions?user=ada&allow=false"), chromedp.WaitVisible(chromedp.ID("decisions")),
		leave(), chromedp.Click(chromedp.CSS("#decisions tr.decision.denied a.btn")))
	arrived(t, ctx, "follow the denied decision")
	do(t, ctx, "the playground", chromedp.WaitVisible(chromedp.ID("check-form")))
	filled, err := chromedp.Run(ctx, chromedp.Evaluate[string](`["check-user","check-action","check-resource","check-tenant"].map(function (id) { return document.getElementById(id).value; }).join(" ")`))
	if err != nil || filled != "ada write doc default" {
		t.Fatalf("the playground from the denied decision is filled with %q (%v)", filled, err)
	}
	do(t, ctx, "ask", leave(), chromedp.Click(chromedp.ID("check-submit")))
	arrived(t, ctx, "ask")
	do(t, ctx, "the verdict", chromedp.WaitVisible(chromedp.CSS(".verdict .big")))
	if got := text(t, ctx, ".verdict .big"); got != "Denied" {
		t.Errorf("the followed decision asked again: %q", got)
	}

	// The policy editor: editor inherits read from viewer; pressing its
	// write cell grants doc:write at once.
	do(t, ctx, "policy", chromedp.Navigate(s.url+"/policy"), chromedp.WaitVisible(chromedp.ID("policy-doc")))
	if got := text(t, ctx, "#policy-doc td[data-cell='editor:doc:read']"); !strings.Contains(got, "inherited from viewer") {
		t.Errorf("editor's read: %q", got)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#policy-doc td[data-cell='editor:doc:read'] button").length`)); n != 0 {
		t.Error("an inherited cell can be toggled")
	}
	cell := "#policy-doc td[data-cell='editor:doc:write']"
	pressed := func() string {
		v, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("`+cell+` button").getAttribute("aria-pressed")`))
		return v
	}
	toast := func(want string) {
		t.Helper()
		eventually(t, ctx, "the toast says "+want, `document.getElementById("policy-toast").hidden ? "" : document.getElementById("policy-toast-text").textContent`,
			func(s string) bool { return s == want })
	}
	writes := func() bool {
		t.Helper()
		return strings.Contains(fmt.Sprint(apiData(t, s, "/v1/roles/editor")["permissions"]), "doc:write")
	}
	// drawn counts the times the page drew the matrices again after
	// changes; settle waits for the next (cells may be replaced then).
	drawn := func() string {
		v, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.getAttribute("data-policy-drawn") || "0"`))
		return v
	}
	settle := func(before string) {
		t.Helper()
		eventually(t, ctx, "the matrices drawn again", `document.documentElement.getAttribute("data-policy-drawn") || "0"`, func(s string) bool { return s != before })
	}
	before := drawn()
	do(t, ctx, "press editor's write", chromedp.Click(chromedp.CSS(cell+" button")))
	if p := pressed(); p != "true" {
		t.Errorf("the cell after pressing: aria-pressed %q", p)
	}
	toast("Granted doc:write to role editor.")
	if !writes() {
		t.Fatal("the grant did not reach the role")
	}
	settle(before)
	screenshot(t, ctx, "policy")
	before = drawn()
	do(t, ctx, "undo", chromedp.Click(chromedp.ID("policy-toast-undo")))
	toast("Revoked doc:write from role editor.")
	settle(before)
	if pressed() != "false" || writes() {
		t.Errorf("after Undo: aria-pressed %q, editor grants doc:write: %v", pressed(), writes())
	}
	before = drawn()
	do(t, ctx, "press again", chromedp.Click(chromedp.CSS(cell+" button")))
	toast("Granted doc:write to role editor.")
	settle(before)
	// A grant to viewer shows, once drawn again, as inherited in editor.
	before = drawn()
	do(t, ctx, "press viewer's delete", chromedp.Click(chromedp.CSS("#policy-doc td[data-cell='viewer:doc:delete'] button")))
	toast("Granted doc:delete to role viewer.")
	settle(before)
	if focus, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.activeElement.closest("td") || {}).getAttribute ? document.activeElement.closest("td").getAttribute("data-cell") : ""`)); focus != "viewer:doc:delete" {
		t.Errorf("after the matrix was drawn again the focus is on %q, not the cell pressed", focus)
	}
	eventually(t, ctx, "editor's delete inherited from viewer", `document.querySelector("#policy-doc td[data-cell='editor:doc:delete']").innerText`,
		func(s string) bool { return strings.Contains(s, "inherited from viewer") })
	if p := pressed(); p != "true" {
		t.Errorf("editor's write after the matrix was drawn again: aria-pressed %q", p)
	}
	// A refresh started before a later change is not drawn: the page's
	// first GET after the next change is held until the change after it
	// has been drawn, then let through with what it read then.
	hold := `(function () { var real = window.fetch; window.__hold = true; window.__held = null;
	  window.fetch = function (url, opt) { var p = real.apply(this, arguments);
	    if ((!opt || !opt.method || opt.method === "GET") && window.__hold) { window.__hold = false;
	      return new Promise(function (resolve, reject) { window.__held = function () { p.then(resolve, reject); }; }); }
	    return p; }; return true; })()`
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](hold)); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "press viewer's pay", chromedp.Click(chromedp.CSS("#policy-invoice td[data-cell='viewer:invoice:pay'] button")))
	toast("Granted invoice:pay to role viewer.")
	eventually(t, ctx, "a refresh held", `window.__held ? "held" : ""`, func(s string) bool { return s == "held" })
	before = drawn()
	do(t, ctx, "press editor's pay", chromedp.Click(chromedp.CSS("#policy-invoice td[data-cell='editor:invoice:pay'] button")))
	toast("Granted invoice:pay to role editor.")
	settle(before)
	before = drawn()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__held(), true`)); err != nil {
		t.Fatal(err)
	}
	settle(before)
	if got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector("#policy-invoice td[data-cell='editor:invoice:pay'] button") || {getAttribute: function () { return "no button"; }}).getAttribute("aria-pressed")`)); got != "true" {
		t.Errorf("editor's pay after a refresh older than its change came back: %q", got)
	}
	phone("policy", "/policy")
	if got := verdict(); got != "Allowed" {
		t.Errorf("after the grant in the matrix ada's write is %q", got)
	}
	if got := text(t, ctx, "#explanation"); !strings.Contains(got, `has role "editor"`) {
		t.Errorf("the allowed check's explanation: %q", got)
	}

	// The user's page: what ada may do, her latest checks, a role given
	// and taken away from here.
	// The decision log is written in the background: the allowed check may
	// come a moment after the verdict.
	testwait.Until(t, 20*time.Second, "ada's allowed check recorded", func() bool {
		if err := chromedp.Do(ctx, chromedp.Navigate(s.url+"/users/ada"), chromedp.WaitVisible(chromedp.ID("roles"))); err != nil {
			return false
		}
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("recent-decisions").innerText`))
		return err == nil && strings.Contains(got, "allowed")
	})
	if got := text(t, ctx, "#effective-permissions"); !strings.Contains(got, "doc:write") || !strings.Contains(got, "doc:read") || !strings.Contains(got, "editor") {
		t.Errorf("ada's permissions: %q", got)
	}
	if got := text(t, ctx, "#recent-decisions"); !strings.Contains(got, "denied") || !strings.Contains(got, "allowed") {
		t.Errorf("ada's latest checks: %q", got)
	}
	submit(t, ctx, "give ada viewer in acme", "#assign-role", map[string]string{"select[name=role]": "viewer", "input[name=tenant]": "acme"})
	says(t, ctx, "the role given", "Gave ada role viewer in acme.")
	if got := text(t, ctx, "#tenant-roles"); !strings.Contains(got, "acme") || !strings.Contains(got, "viewer") {
		t.Errorf("ada's roles after giving one: %q", got)
	}
	if got := text(t, ctx, "#effective-permissions"); !strings.Contains(got, "acme") {
		t.Errorf("ada's permissions do not name acme: %q", got)
	}
	screenshot(t, ctx, "user-page")
	phone("user-page", "/users/ada")
	do(t, ctx, "ada", chromedp.Navigate(s.url+"/users/ada"), chromedp.WaitVisible(chromedp.ID("roles")),
		leave(), chromedp.Click(chromedp.CSS("button[aria-label='Take role viewer in acme away']")))
	arrived(t, ctx, "take viewer in acme away")
	says(t, ctx, "the role taken", "Took role viewer in acme from ada.")
	if _, out := s.api(t, "GET", "/v1/role-assignments?user=ada&tenant=acme&project=default&environment=development", s.key, nil); len(out["data"].([]any)) != 0 {
		t.Errorf("ada's roles in acme after taking it: %v", out["data"])
	}
}
