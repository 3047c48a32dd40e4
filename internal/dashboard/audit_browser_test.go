//go:build interop

package dashboard_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The audit trail in Debian's Chromium: a user edited on their page is
// found on /audit as the signed-in member's change, its changed fields
// marked before and after, the filter narrows to it, and the page fits
// the phone's width; screenshots at laptop and phone widths.
func TestDashboardAuditTrailInABrowser(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := browser(t, 1366, 900)
	const pw = "correct horse battery staple"
	do(t, ctx, "open the setup link", chromedp.Navigate(s.url+s.setup), chromedp.WaitVisible(chromedp.ID("password")))
	submit(t, ctx, "set the password", "#setup", map[string]string{"#password": pw, "#confirm": pw})
	seedAPI(t, s, [2]any{"/v1/users", map[string]any{"key": "ada", "email": "ada@acme.example", "first_name": "Ada", "attributes": map[string]any{"dept": "eng"}}})

	// Edit the user in the dashboard.
	do(t, ctx, "ada's page", chromedp.Navigate(s.url+"/users/ada"), chromedp.WaitVisible(chromedp.ID("edit-user")),
		chromedp.SetValue(chromedp.CSS("#edit-user input[name=first_name]"), "Augusta"),
		chromedp.SetValue(chromedp.CSS("#edit-user input[name=attr_val_0]"), "finance"))
	do(t, ctx, "save ada", leave(), chromedp.Submit(chromedp.CSS("#edit-user button.primary")))
	arrived(t, ctx, "save ada")
	says(t, ctx, "save ada", "User ada saved.")

	// The audit page, by its link in the menu.
	do(t, ctx, "the audit link", chromedp.Navigate(s.url+"/"), chromedp.WaitVisible(chromedp.CSS("nav.side a[href='/audit']")),
		leave(), chromedp.Click(chromedp.CSS("nav.side a[href='/audit']")))
	arrived(t, ctx, "the audit page")
	entry := `#audit li[data-action='user.updated']`
	do(t, ctx, "the user's change", chromedp.WaitVisible(chromedp.CSS(entry)))
	if who := text(t, ctx, entry+" .audit-actor"); !strings.Contains(who, "admin@example.com") || !strings.Contains(who, "member") {
		t.Errorf("the change is not the member's: %q", who)
	}
	changed := func() string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("`+entry+` tr.diff-changed")].map(tr =>
			tr.querySelector("th code").innerText + ": " + tr.querySelector(".diff-before").innerText + " → " + tr.querySelector(".diff-after").innerText).join("\n")`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	got := changed()
	for _, want := range []string{`first_name: "Ada" → "Augusta"`, `attributes: {"dept":"eng"} → {"dept":"finance"}`} {
		if !strings.Contains(got, want) {
			t.Errorf("the diff lacks %q:\n%s", want, got)
		}
	}
	// The changed rows look changed: the after cell's background is not
	// the unchanged rows'.
	if bg, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("`+entry+` tr.diff-changed td.diff-after")).backgroundColor + " | " +
		getComputedStyle(document.querySelector("`+entry+` tr.diff-same td.diff-after")).backgroundColor`)); func() bool {
		parts := strings.Split(bg, " | ")
		return len(parts) != 2 || parts[0] == parts[1]
	}() {
		t.Errorf("changed and unchanged fields look the same: %q", bg)
	}
	screenshot(t, ctx, "audit-laptop")

	// Filter to the user's updates.
	do(t, ctx, "filter", chromedp.SetValue(chromedp.CSS("#audit-filters input[name=action]"), "user.updated"), leave(),
		chromedp.Submit(chromedp.CSS("#audit-filters button")))
	arrived(t, ctx, "filter")
	eventually(t, ctx, "only the update", `[...document.querySelectorAll("#audit li")].map(li => li.dataset.action).join(",")`,
		func(s string) bool { return s == "user.updated" })

	// At phone width: no sideways scrolling, the diff still readable.
	do(t, ctx, "phone", chromedp.EmulateViewport(390, 844), chromedp.Navigate(s.url+"/audit"), chromedp.WaitVisible(chromedp.CSS(entry)))
	if w, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)); w {
		t.Error("the audit page is wider than a phone")
	}
	if got := changed(); !strings.Contains(got, `"Augusta"`) {
		t.Errorf("the diff at phone width: %q", got)
	}
	screenshot(t, ctx, "audit-phone")
}
