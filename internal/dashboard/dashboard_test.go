package dashboard_test

import (
	"bytes"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

// member is a signed-in browser without a browser: a cookie jar.
type member struct {
	t *testing.T
	s *site
	c *http.Client
}

func (s *site) member(t *testing.T, email, password string) *member {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	m := &member{t: t, s: s, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	res := m.post("/signin", url.Values{"email": {email}, "password": {password}})
	if res.StatusCode != 303 {
		t.Fatalf("sign in %s: %d", email, res.StatusCode)
	}
	return m
}

func (m *member) do(req *http.Request) *http.Response {
	m.t.Helper()
	res, err := m.c.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	return res
}

func (m *member) post(path string, form url.Values) *http.Response {
	m.t.Helper()
	req, _ := http.NewRequest("POST", m.s.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return m.do(req)
}

// get returns the page's HTML, following one redirect.
func (m *member) get(path string) (int, string) {
	m.t.Helper()
	req, _ := http.NewRequest("GET", m.s.url+path, nil)
	res := m.do(req)
	defer res.Body.Close()
	if res.StatusCode == 303 {
		return m.get(res.Header.Get("Location"))
	}
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// page posts a form and returns the page it leads to.
func (m *member) page(path string, form url.Values) (int, string) {
	m.t.Helper()
	res := m.post(path, form)
	defer res.Body.Close()
	if res.StatusCode == 303 {
		return m.get(res.Header.Get("Location"))
	}
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// adminSite is a site whose Admin has a password.
func adminSite(t *testing.T, mod func(*config.Config)) (*site, *member) {
	t.Helper()
	s := newSiteWith(t, mod)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.PostForm(s.url+s.setup, url.Values{"password": {"correct horse battery"}, "confirm": {"correct horse battery"}})
	if err != nil || res.StatusCode != 303 {
		t.Fatalf("setup: %v %v", res, err)
	}
	return s, s.member(t, "admin@example.com", "correct horse battery")
}

var secretRE = regexp.MustCompile(`whsec_[A-Za-z0-9+/=]+`)

// showsSecret reports whether a page shows a webhook secret. The page is
// read as the browser shows it: html/template writes a secret's "+" as
// "&#43;", so one that begins with "+" (1 in 64) is not in the raw HTML.
func showsSecret(page string) bool { return secretRE.MatchString(html.UnescapeString(page)) }

func TestDashboardWebhooks(t *testing.T) {
	t.Parallel()
	_, m := adminSite(t, func(c *config.Config) { c.WebhookAllowNetworks = []string{"127.0.0.0/8"} })
	got := make(chan string, 10)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- string(b)
	}))
	defer rc.Close()
	// A private address is refused, with the reason, in place.
	st, body := m.page("/webhooks", url.Values{"url": {"http://10.1.2.3/hook"}, "all": {"on"}})
	if st != 400 || !strings.Contains(body, "webhook-allow-networks") {
		t.Fatalf("a private endpoint: %d %s", st, strings.Join(regexp.MustCompile(`class="alert"[^<]*`).FindAllString(body, -1), " "))
	}
	// Loopback, which this server allows.
	st, body = m.page("/webhooks", url.Values{"url": {rc.URL}, "events": {"user.created"}})
	if st != 200 || !showsSecret(body) {
		t.Fatalf("register: %d, secret shown: %v", st, showsSecret(body))
	}
	_, list := m.get("/webhooks")
	id := regexp.MustCompile(`/webhooks/([0-9a-f-]{36})`).FindStringSubmatch(list)[1]
	if showsSecret(list) {
		t.Error("the list shows the secret")
	}
	// A test event arrives and its delivery is listed; replay sends it again.
	m.page("/webhooks/"+id+"/test", nil)
	first := <-got
	if !strings.Contains(first, `"webhook.test"`) {
		t.Fatalf("delivered %s", first)
	}
	var detail string
	testwait.Until(t, 30*time.Second, "the delivery shown as succeeded", func() bool {
		_, detail = m.get("/webhooks/" + id)
		return strings.Contains(detail, ">succeeded<")
	})
	d := regexp.MustCompile(`/webhooks/` + id + `/deliveries/([0-9a-f-]{36})`).FindStringSubmatch(detail)
	if d == nil || !strings.Contains(detail, ">succeeded<") {
		t.Fatalf("no succeeded delivery on the page")
	}
	_, dp := m.get("/webhooks/" + id + "/deliveries/" + d[1])
	if !strings.Contains(dp, "Attempt 1") || !strings.Contains(dp, "X-Signature") {
		t.Errorf("the delivery page lacks its attempt")
	}
	m.page("/webhooks/"+id+"/deliveries/"+d[1]+"/replay", nil)
	if again := <-got; again != first {
		t.Errorf("the replay sent another body:\n%s\n%s", again, first)
	}
	// Disable, and the endpoint says so.
	_, page := m.page("/webhooks/"+id+"/disable", nil)
	if !strings.Contains(page, ">disabled<") {
		t.Error("after disabling, the page does not say disabled")
	}
}

func TestDashboardJobs(t *testing.T) {
	t.Parallel()
	s, m := adminSite(t, nil)
	upload := func(name, ctype, rowType, content string) (int, string) {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		_ = w.WriteField("type", rowType)
		fw, _ := w.CreateFormFile("file", name)
		_, _ = fw.Write([]byte(content))
		w.Close()
		req, _ := http.NewRequest("POST", s.url+"/jobs/import", &buf)
		req.Header.Set("Content-Type", w.FormDataContentType())
		res := m.do(req)
		defer res.Body.Close()
		if res.StatusCode == 303 {
			return m.get(res.Header.Get("Location"))
		}
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	// Bad rows: refused with their lines, in place.
	st, body := upload("people.jsonl", "application/x-ndjson", "", "{\"type\":\"user\",\"key\":\"ok\"}\n{\"type\":\"user\",\"key\":\"bad key\"}\n")
	if st != 400 || !strings.Contains(body, "line 2") {
		t.Fatalf("bad rows: %d %s", st, regexp.MustCompile(`class="alert"[^<]*`).FindString(body))
	}
	// A CSV of users.
	st, body = upload("people.csv", "text/csv", "users", "key,email\nada,ada@acme.example\nbob,bob@acme.example\n")
	if st != 200 || !strings.Contains(body, "Import started") {
		t.Fatalf("import: %d", st)
	}
	jobPage := regexp.MustCompile(`/jobs/[0-9a-f-]{36}`).FindString(body)
	testwait.Until(t, 30*time.Second, "the import shown as succeeded", func() bool {
		_, body = m.get(jobPage)
		return strings.Contains(body, ">succeeded<")
	})
	if !strings.Contains(body, ">succeeded<") || !strings.Contains(body, "2 created") {
		t.Fatalf("the import's page does not show it done")
	}
	_, users := m.get("/users")
	if !strings.Contains(users, "ada@acme.example") {
		t.Error("the imported users are not listed")
	}
	// Export, then download it.
	_, body = m.page("/jobs/export", nil)
	job := regexp.MustCompile(`/jobs/([0-9a-f-]{36})`).FindStringSubmatch(body)[1]
	testwait.Until(t, 30*time.Second, "the export's download link", func() bool {
		_, body = m.get("/jobs/" + job)
		return strings.Contains(body, "Download the export")
	})
	st, out := m.get("/jobs/" + job + "/output")
	if st != 200 || !strings.Contains(out, `"key":"ada"`) {
		t.Fatalf("download: %d %.200s", st, out)
	}
}

func TestDashboardSessionsAndCSRF(t *testing.T) {
	t.Parallel()
	s, m := adminSite(t, nil)
	// Without a session every page leads to the sign-in page.
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(s.url + "/users")
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 303 || !strings.HasPrefix(res.Header.Get("Location"), "/signin?next=%2Fusers") {
		t.Errorf("no session: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	// The session cookie is HttpOnly and SameSite.
	u, _ := url.Parse(s.url)
	var cookie *http.Cookie
	for _, c := range m.c.Jar.Cookies(u) {
		if c.Name == "gatehouse_session" {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatal("no session cookie")
	}
	// A write from another site is refused (CSRF), and changes nothing.
	req, _ := http.NewRequest("POST", s.url+"/users", strings.NewReader("key=forged"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if res := m.do(req); res.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-site form: %d", res.StatusCode)
	}
	if st, _ := s.api(t, "GET", "/v1/users/forged?project=default&environment=development", s.key, nil); st != 404 {
		t.Error("the cross-site form created a user")
	}
	// The same form from the dashboard works.
	req, _ = http.NewRequest("POST", s.url+"/users", strings.NewReader("key=real"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", s.url)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if res := m.do(req); res.StatusCode != 303 {
		t.Errorf("a same-origin form: %d", res.StatusCode)
	}
	// Security headers: nothing from elsewhere, no framing.
	req, _ = http.NewRequest("GET", s.url+"/", nil)
	res = m.do(req)
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || res.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("headers: %v", res.Header)
	}
	// An open redirect through next= is not possible.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, _ = c.PostForm(s.url+"/signin", url.Values{"email": {"admin@example.com"}, "password": {"correct horse battery"}, "next": {"//evil.example/x"}})
	if loc := res.Header.Get("Location"); loc != "/" {
		t.Errorf("next=//evil.example led to %q", loc)
	}
	// Changing the password signs the other sessions out.
	other := s.member(t, "admin@example.com", "correct horse battery")
	if st, _ := m.page("/account/password", url.Values{"current": {"correct horse battery"}, "password": {"a new long passphrase"}, "confirm": {"a new long passphrase"}}); st != 200 {
		t.Fatalf("change password: %d", st)
	}
	if st, body := other.get("/users"); st != 200 || !strings.Contains(body, `id="signin"`) {
		t.Errorf("the other session still works after a password change: %d", st)
	}
	if st, body := m.get("/users"); st != 200 || strings.Contains(body, `id="signin"`) {
		t.Errorf("the session that changed it was signed out: %d", st)
	}
	// Signing out ends the session on the server too.
	m.post("/signout", nil)
	req, _ = http.NewRequest("GET", s.url+"/users", nil)
	req.AddCookie(cookie)
	if res := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do; res != nil {
		r, _ := res(req)
		if r.StatusCode != 303 {
			t.Errorf("an old session cookie after sign-out: %d", r.StatusCode)
		}
	}
}

// The dashboard's calls are the member's: its writes are in the API log
// as the member's, with the browser's agent and no credentials, and the
// reads that only draw pages are not.
func TestDashboardCallsAreTheMembers(t *testing.T) {
	t.Parallel()
	s, m := adminSite(t, nil)
	m.get("/users")
	if st, _ := m.page("/users", url.Values{"key": {"logged"}}); st != 200 {
		t.Fatalf("create a user: %d", st)
	}
	var call map[string]any
	// The log is written in batches: wait for the entry.
	testwait.Until(t, 30*time.Second, "the dashboard's POST /v1/users in the API log", func() bool {
		_, out := s.api(t, "GET", "/v1/logs?per_page=100", s.key, nil)
		list, _ := out["data"].([]any)
		for _, it := range list {
			c, _ := it.(map[string]any)
			if c["actor_type"] != "member" {
				continue
			}
			if c["method"] != "POST" || c["route"] != "/v1/users" {
				t.Errorf("a member's call that draws a page is logged: %v %v", c["method"], c["path"])
				continue
			}
			call = c
		}
		return call != nil
	})
	_, out := s.api(t, "GET", "/v1/logs/"+call["id"].(string), s.key, nil)
	c, _ := out["data"].(map[string]any)
	headers, _ := c["request_headers"].(map[string]any)
	if ua, _ := c["user_agent"].(string); !strings.HasPrefix(ua, "Gatehouse-Dashboard (") || headers == nil || headers["Authorization"] != nil ||
		c["status"] != float64(201) || c["actor_name"] != "admin@example.com" {
		t.Errorf("the logged call: %v", c)
	}
}

// TestDashboardEnvironmentSettings: the environment's check logging is a
// checkbox; unticking it turns it off again (a form sends nothing for an
// unticked box), and the other settings are kept.
func TestDashboardEnvironmentSettings(t *testing.T) {
	t.Parallel()
	_, m := adminSite(t, nil)
	st, body := m.page("/settings/environment", url.Values{"decision_log": {"sampled"}, "decision_log_sample_rate": {"0.25"},
		"api_log_checks_shown": {"1"}, "api_log_checks": {"1"}})
	if st != 200 || !regexp.MustCompile(`name="api_log_checks" value="1" checked`).MatchString(body) || !strings.Contains(body, `value="0.25"`) {
		t.Fatalf("after ticking: %d\n%s", st, body)
	}
	st, body = m.page("/settings/environment", url.Values{"decision_log": {"sampled"}, "decision_log_sample_rate": {"0.25"}, "api_log_checks_shown": {"1"}})
	if st != 200 || strings.Contains(body, `name="api_log_checks" value="1" checked`) || !strings.Contains(body, `value="0.25"`) {
		t.Fatalf("after unticking: %d\n%s", st, body)
	}
}

// The links the dashboard shows start with the configured public URL (the
// server behind a proxy), else with the address the browser asked for.
func TestDashboardLinksUseThePublicURL(t *testing.T) {
	t.Parallel()
	for _, public := range []string{"", "https://auth.example.com/"} {
		t.Run("public url "+public, func(t *testing.T) {
			t.Parallel()
			s, m := adminSite(t, func(c *config.Config) { c.PublicURL = public })
			base := s.url
			if public != "" {
				base = "https://auth.example.com"
			}
			st, body := s.api(t, "POST", "/v1/members", s.key, map[string]any{"email": "nel@example.com", "role": "viewer"})
			if st != 201 {
				t.Fatalf("member: %d %v", st, body)
			}
			id := body["data"].(map[string]any)["id"].(string)
			if st, page := m.page("/members/"+id+"/setup-link", url.Values{"email": {"nel@example.com"}}); st != 200 || !strings.Contains(page, base+"/setup/") {
				t.Fatalf("setup link page (%d) lacks %s/setup/…:\n%s", st, base, page)
			}
			st, page := m.page("/keys", url.Values{"name": {"ci"}, "level": {"organization"}, "scopes": {"view:project"}})
			if st != 200 || !strings.Contains(page, base+"/v1/me") {
				t.Fatalf("new key page (%d) lacks %s/v1/me:\n%s", st, base, page)
			}
		})
	}
}

// The keys page names the organization's region and the URL to give SDKs
// as apiUrl (this region's entry of --region-urls).
func TestKeysPageShowsTheRegion(t *testing.T) {
	t.Parallel()
	_, m := adminSite(t, func(c *config.Config) {
		c.Region, c.RegionURLs = "eu", []string{"us=https://us.auth.example.com", "eu=https://eu.auth.example.com"}
	})
	st, page := m.get("/keys")
	if st != 200 || !strings.Contains(page, "Region: <strong>eu</strong>") || !strings.Contains(page, `apiUrl: "https://eu.auth.example.com"`) {
		t.Fatalf("keys page (%d) lacks the region and apiUrl:\n%s", st, page)
	}
}
