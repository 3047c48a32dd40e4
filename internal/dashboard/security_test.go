package dashboard_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// After signing in, next= leads only to a path of this
// site, however it is spelled.
func TestSignInRedirectStaysOnTheSite(t *testing.T) {
	t.Parallel()
	s, _ := adminSite(t, nil)
	for next, want := range map[string]string{
		"/users?page=2":          "/users?page=2",
		"/%09/evil.example":      "/",
		"/\t/evil.example":       "/",
		"/\n/evil.example":       "/",
		"//evil.example/x":       "/",
		"/\\evil.example":        "/",
		"\\\\evil.example":       "/",
		"https://evil.example/":  "/",
		"javascript:alert(1)":    "/",
		"/%2F%2Fevil.example":    "/",
		"/ok#frag":               "/ok#frag",
		"":                       "/",
		"evil.example":           "/",
		"/users/\u2028evil":      "/users/%E2%80%A8evil",
		"///evil.example":        "/",
		"/.//evil.example":       "/evil.example",
		"http:/evil.example":     "/",
		"/@evil.example":         "/@evil.example",
		"/signin?next=//evil.ex": "/signin?next=//evil.ex",
	} {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := c.PostForm(s.url+"/signin", url.Values{"email": {"admin@example.com"}, "password": {"correct horse battery"}, "next": {next}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		loc := res.Header.Get("Location")
		if res.StatusCode != 303 || loc != want {
			t.Errorf("next=%q: %d to %q, want %q", next, res.StatusCode, loc, want)
		}
		if u, err := url.Parse(loc); err != nil || u.Host != "" || strings.HasPrefix(loc, "//") {
			t.Errorf("next=%q leads off the site: %q", next, loc)
		}
	}
}

// With Redis down (and the default fail-open), sign-in
// attempts are still limited, by the node alone.
func TestSignInLimitHoldsWithoutRedis(t *testing.T) {
	t.Parallel()
	s, _ := adminSite(t, func(c *config.Config) {
		c.RedisURL = "redis://127.0.0.1:1/0" // nothing listens there
		c.SignInRateLimit = 3
	})
	statuses := []int{}
	for range 5 {
		res, err := http.PostForm(s.url+"/signin", url.Values{"email": {"admin@example.com"}, "password": {"wrong password"}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		statuses = append(statuses, res.StatusCode)
	}
	// The set-up's sign-in spent one attempt already.
	if statuses[0] != 401 || statuses[1] != 401 || statuses[2] != 429 || statuses[4] != 429 {
		t.Errorf("sign-in attempts with Redis down: %v, want 401 401 429 429 429", statuses)
	}
}
