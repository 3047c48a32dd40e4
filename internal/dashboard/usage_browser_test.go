//go:build interop

package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

// setupAdmin sets the first Admin's password through the setup link and
// leaves the browser signed in.
func setupAdmin(t *testing.T, ctx context.Context, s *site) {
	t.Helper()
	const pw = "correct horse battery staple"
	do(t, ctx, "open the setup link", chromedp.Navigate(s.url+s.setup), chromedp.WaitVisible(chromedp.ID("password")))
	submit(t, ctx, "set the password", "#setup", map[string]string{"#password": pw, "#confirm": pw})
}

// chartTotals reads the usage page's charts: their data-total by id.
func chartTotals(t *testing.T, ctx context.Context) map[string]int {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll("section.chart")).map(c => c.id + "=" + c.dataset.total).join(",")`))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, kv := range strings.Split(s, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[k], _ = strconv.Atoi(v)
		}
	}
	return out
}

// darkMode emulates prefers-color-scheme (dark or light).
func darkMode(t *testing.T, ctx context.Context, scheme string) {
	t.Helper()
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return err
	}))
	if err != nil {
		t.Fatalf("emulate prefers-color-scheme: %s: %v", scheme, err)
	}
}

// See a chart move after calls: the usage page, then API calls, checks
// and webhook deliveries, then the page again until its charts count
// them; the rate-limit table shows the key's calls. Screenshots at laptop
// and phone widths.
func TestDashboardUsageInABrowser(t *testing.T) {
	t.Parallel()
	s := newSiteWith(t, func(c *config.Config) { c.WebhookAllowNetworks = []string{"127.0.0.0/8"} })
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	t.Cleanup(hook.Close)
	ctx := browser(t, 1366, 900)
	setupAdmin(t, ctx, s)
	seedAPI(t, s,
		[2]any{"/v1/resources", map[string]any{"key": "doc", "actions": []string{"read", "write"}}},
		[2]any{"/v1/roles", map[string]any{"key": "reader", "permissions": []string{"doc:read"}}},
		[2]any{"/v1/users", map[string]any{"key": "zed"}},
		[2]any{"/v1/role-assignments", map[string]any{"user": "zed", "role": "reader"}},
	)
	if st, out := s.api(t, "POST", "/v1/webhooks", s.key, map[string]any{"url": hook.URL + "/hook", "events": []string{"user.created"}}); st != 201 {
		t.Fatalf("webhook: %d %v", st, out)
	}
	st, out := s.api(t, "POST", "/v1/api-keys", s.key, map[string]any{"name": "billing-service", "level": "environment", "project": "default",
		"environment": "development", "scopes": []string{"manage:user", "check:access"}, "rate_limit_per_hour": 1000})
	if st != 201 {
		t.Fatalf("key: %d %v", st, out)
	}
	key := out["data"].(map[string]any)["token"].(string)
	keyID := out["data"].(map[string]any)["id"].(string)

	do(t, ctx, "usage", chromedp.Navigate(s.url+"/usage"), chromedp.WaitVisible(chromedp.ID("chart-calls-status")))
	before := chartTotals(t, ctx)
	if len(before) != 4 {
		t.Fatalf("the usage page's charts: %v", before)
	}
	screenshot(t, ctx, "usage-before")

	// Calls by the key: 3 users created, 1 refused (404), 3 checks (1 denied).
	for _, u := range []string{"ada", "bob", "cy"} {
		if st, out := s.api(t, "POST", "/v1/users", key, map[string]any{"key": u}); st != 201 {
			t.Fatalf("user %s: %d %v", u, st, out)
		}
	}
	if st, _ := s.api(t, "DELETE", "/v1/users/nobody", key, nil); st != 404 {
		t.Fatalf("delete nobody: %d", st)
	}
	for _, c := range [][2]string{{"zed", "read"}, {"zed", "write"}, {"ada", "read"}} {
		if st, out := s.api(t, "POST", "/v1/allowed", key, map[string]any{"user": c[0], "action": c[1], "resource": map[string]any{"type": "doc"}}); st != 200 {
			t.Fatalf("check %v: %d %v", c, st, out)
		}
	}

	// Reload until every chart has moved: calls (4 more), checks (3, flushed
	// within 10 s), deliveries (3).
	var after map[string]int
	testwait.Progress(t, 45*time.Second, "the usage charts counting the calls", func() (any, bool) {
		do(t, ctx, "reload usage", chromedp.Navigate(s.url+"/usage"), chromedp.WaitVisible(chromedp.ID("chart-calls-status")))
		after = chartTotals(t, ctx)
		return after, after["chart-calls-status"] >= before["chart-calls-status"]+4 && after["chart-calls-key"] >= before["chart-calls-key"]+4 &&
			after["chart-checks"] >= before["chart-checks"]+3 && after["chart-webhooks"] >= before["chart-webhooks"]+3
	})
	// The key is named in the by-key chart, its 4xx in the status chart,
	// and its use of its own limit in the rate-limit table.
	legend := text(t, ctx, "#chart-calls-key .legend")
	if !strings.Contains(legend, "billing-service") {
		t.Errorf("the by-key chart's legend: %q", legend)
	}
	if got := text(t, ctx, "#chart-calls-status .legend"); !strings.Contains(got, "4xx") {
		t.Errorf("the status chart's legend: %q", got)
	}
	row := text(t, ctx, "#rate-limits tr[data-key='"+keyID+"']")
	if !strings.Contains(row, "its own limit") || !strings.Contains(row, "of 1,000") {
		t.Errorf("the key's rate-limit row: %q", row)
	}
	used, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#rate-limits tr[data-key='`+keyID+`'] .limit-use").dataset.used`))
	if n, _ := strconv.Atoi(used); err != nil || n < 7 { // 4 calls and 3 checks on its own limit
		t.Errorf("the key's use of its limit: %q %v", used, err)
	}
	bars, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#chart-calls-status svg rect").length`))
	if bars == 0 {
		t.Error("the status chart draws no bars")
	}
	screenshot(t, ctx, "usage-laptop")

	// Another range draws the same calls in its own buckets.
	do(t, ctx, "last hour", chromedp.Click(chromedp.CSS(".usage-ranges a[href='/usage?range=1h']")), chromedp.WaitVisible(chromedp.CSS(".usage-ranges a[aria-current][href='/usage?range=1h']")))
	if got := chartTotals(t, ctx); got["chart-calls-status"] < after["chart-calls-status"]-before["chart-calls-status"] {
		t.Errorf("last hour: %v", got)
	}

	do(t, ctx, "phone", chromedp.EmulateViewport(390, 844), chromedp.Navigate(s.url+"/usage"), chromedp.WaitVisible(chromedp.ID("chart-calls-status")))
	if w, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > document.documentElement.clientWidth`)); w {
		t.Error("the usage page is wider than a phone")
	}
	screenshot(t, ctx, "usage-phone")
	darkMode(t, ctx, "dark")
	screenshot(t, ctx, "usage-phone-dark")
	do(t, ctx, "laptop", chromedp.EmulateViewport(1366, 900), chromedp.Navigate(s.url+"/usage"), chromedp.WaitVisible(chromedp.ID("chart-calls-status")))
	screenshot(t, ctx, "usage-laptop-dark")
}

// luminance of a computed CSS colour "rgb(r, g, b)" (0 dark … 1 light).
func luminance(t *testing.T, css string) float64 {
	t.Helper()
	var r, g, b float64
	if _, err := fmt.Sscanf(strings.Replace(css, "rgba", "rgb", 1), "rgb(%f, %f, %f", &r, &g, &b); err != nil {
		t.Fatalf("colour %q: %v", css, err)
	}
	return (0.2126*r + 0.7152*g + 0.0722*b) / 255
}

// The header's search with its keyboard shortcut finds a user by key and
// opens it from the keyboard; dark mode follows prefers-color-scheme; at
// phone width the list tables keep their actions on screen, measured in
// the browser. Screenshots at laptop and phone widths, light and dark.
func TestDashboardSearchDarkModePhoneInABrowser(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := browser(t, 1366, 900)
	setupAdmin(t, ctx, s)
	seedAPI(t, s,
		[2]any{"/v1/users", map[string]any{"key": "ada-lovelace", "email": "ada@analytical-engines.example", "first_name": "Ada", "last_name": "Lovelace"}},
		[2]any{"/v1/users", map[string]any{"key": "grace", "email": "grace.brewster.murray.hopper@a-rather-long-domain-name.example"}},
		[2]any{"/v1/users", map[string]any{"key": "user-with-a-remarkably-long-key-0123456789abcdef", "email": "long@example.com"}},
		[2]any{"/v1/tenants", map[string]any{"key": "adastra", "name": "Ad Astra"}},
		[2]any{"/v1/resources", map[string]any{"key": "document", "actions": []string{"read"}}},
		[2]any{"/v1/roles", map[string]any{"key": "reader", "permissions": []string{"document:read"}}},
	)
	if st, out := s.api(t, "POST", "/v1/api-keys", s.key, map[string]any{"name": "ada-sync-job", "level": "organization", "scopes": []string{"view:user"}}); st != 201 {
		t.Fatalf("key: %d %v", st, out)
	}
	active := func() string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.activeElement.id || "") + "|" + (document.activeElement.getAttribute("href") || "")`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	// "/" focuses the search; typing and Enter search; the first result has
	// the focus; the arrow keys move; Enter opens the user.
	do(t, ctx, "overview", chromedp.Navigate(s.url+"/"), chromedp.WaitVisible(chromedp.ID("global-search")))
	// A key down without its character event, as a browser sends it when
	// the page cancels the key down (CDP's KeyEvent would type the "/" in
	// the box regardless).
	do(t, ctx, "press /", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
			if _, err := chromedp.Call(ctx, input.DispatchKeyEvent, input.DispatchKeyEventParams{Type: typ, Key: "/", Code: "Slash", WindowsVirtualKeyCode: 191}); err != nil {
				return err
			}
		}
		return nil
	}))
	if got := active(); got != "global-search|" {
		t.Fatalf("after /, the focus is on %q", got)
	}
	do(t, ctx, "type ada", leave(), chromedp.KeyEvent("ada\r"))
	arrived(t, ctx, "search")
	do(t, ctx, "results", chromedp.WaitVisible(chromedp.ID("search-results")))
	results := text(t, ctx, "#search-results")
	for _, want := range []string{"ada-lovelace", "adastra", "ada-sync-job"} {
		if !strings.Contains(results, want) {
			t.Errorf("the results of ada lack %s: %q", want, results)
		}
	}
	if strings.Contains(results, "grace") {
		t.Errorf("grace matches ada: %q", results)
	}
	eventually(t, ctx, "the first result focused", `document.activeElement.getAttribute("href") || ""`, func(s string) bool { return s == "/users/ada-lovelace" })
	screenshot(t, ctx, "search-laptop")
	do(t, ctx, "arrow down, up", chromedp.KeyEvent(kb.ArrowDown))
	if got := active(); got != "|/tenants/adastra" {
		t.Errorf("after ↓ the focus is on %q", got)
	}
	do(t, ctx, "arrow up", chromedp.KeyEvent(kb.ArrowUp))
	do(t, ctx, "open", leave(), chromedp.KeyEvent("\r"))
	arrived(t, ctx, "the user")
	if loc, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname`)); loc != "/users/ada-lovelace" {
		t.Fatalf("Enter on the first result led to %q", loc)
	}
	// Ctrl+K works too, also from a page's own field.
	do(t, ctx, "ctrl+k", chromedp.KeyEvent("k", chromedp.KeyModifiers(chromedp.ModifierCtrl)))
	if got := active(); got != "global-search|" {
		t.Errorf("after Ctrl+K, the focus is on %q", got)
	}
	// A search by a user's email finds them; nothing found says so.
	do(t, ctx, "search by email", chromedp.Navigate(s.url+"/search?q=analytical-engines"), chromedp.WaitVisible(chromedp.ID("search-results")))
	if got := text(t, ctx, "#search-results"); !strings.Contains(got, "ada-lovelace") {
		t.Errorf("by email: %q", got)
	}
	do(t, ctx, "search nothing", chromedp.Navigate(s.url+"/search?q=zzz-nothing"), chromedp.WaitVisible(chromedp.CSS(".empty")))

	// Dark mode follows prefers-color-scheme.
	bg := func() (float64, float64) {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.documentElement).backgroundColor + "|" + getComputedStyle(document.querySelector("h1")).color`))
		if err != nil {
			t.Fatal(err)
		}
		b, c, _ := strings.Cut(v, "|")
		return luminance(t, b), luminance(t, c)
	}
	do(t, ctx, "users", chromedp.Navigate(s.url+"/users"), chromedp.WaitVisible(chromedp.CSS("table.list")))
	if b, c := bg(); b < 0.8 || c > 0.3 {
		t.Errorf("light: background %.2f, text %.2f", b, c)
	}
	screenshot(t, ctx, "users-laptop-light")
	darkMode(t, ctx, "dark")
	if b, c := bg(); b > 0.15 || c < 0.7 {
		t.Errorf("dark: background %.2f, text %.2f", b, c)
	}
	screenshot(t, ctx, "users-laptop-dark")
	do(t, ctx, "search dark", chromedp.Navigate(s.url+"/search?q=ada"), chromedp.WaitVisible(chromedp.ID("search-results")))
	screenshot(t, ctx, "search-laptop-dark")
	darkMode(t, ctx, "light")

	// At phone width every list table fits its card and the page, and its
	// actions are on screen.
	do(t, ctx, "phone", chromedp.EmulateViewport(390, 844))
	for _, path := range []string{"/users", "/keys", "/tenants", "/roles"} {
		do(t, ctx, "phone "+path, chromedp.Navigate(s.url+path), chromedp.WaitVisible(chromedp.CSS("table.list")))
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
			const bad = [];
			const de = document.documentElement;
			if (de.scrollWidth > de.clientWidth) bad.push("page " + de.scrollWidth + ">" + de.clientWidth);
			document.querySelectorAll("table.list").forEach(t => {
				for (let el = t; el && el !== document.body; el = el.parentElement) {
					if (el.scrollWidth > el.clientWidth) bad.push(el.tagName + "." + el.className + " " + el.scrollWidth + ">" + el.clientWidth);
				}
				t.querySelectorAll("tbody a.btn, tbody button").forEach(b => {
					const r = b.getBoundingClientRect();
					if (r.left < 0 || r.right > window.innerWidth) bad.push("action " + b.textContent.trim() + " at " + r.left + ".." + r.right);
				});
			});
			const actions = document.querySelectorAll("table.list tbody a.btn, table.list tbody button").length;
			return actions + "|" + bad.join("; ");
		})()`))
		if err != nil {
			t.Fatal(err)
		}
		n, bad, _ := strings.Cut(got, "|")
		if bad != "" {
			t.Errorf("%s at phone width: %s", path, bad)
		}
		if n == "0" && path != "/roles" {
			t.Errorf("%s: no actions in its table to measure", path)
		}
	}
	do(t, ctx, "phone users", chromedp.Navigate(s.url+"/users"), chromedp.WaitVisible(chromedp.CSS("table.list")))
	screenshot(t, ctx, "users-phone-light")
	darkMode(t, ctx, "dark")
	screenshot(t, ctx, "users-phone-dark")
	do(t, ctx, "phone search", chromedp.Navigate(s.url+"/search?q=ada"), chromedp.WaitVisible(chromedp.ID("search-results")))
	screenshot(t, ctx, "search-phone-dark")
}
