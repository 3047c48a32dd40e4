package dashboard_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

var recentChangesRE = regexp.MustCompile(`(?s)<section class="card" id="recent-changes">.*?</section>`)

// The user page's latest changes by API are those of its environment: a
// call with an organization key to another environment's user of the same
// key is not listed.
func TestDashboardUserCallsOfThisEnvironment(t *testing.T) {
	t.Parallel()
	s, m := adminSite(t, nil)
	for _, env := range []string{"development", "production"} {
		if st, out := s.api(t, "POST", "/v1/users?project=default&environment="+env, s.key, map[string]any{"key": "ada"}); st != 201 {
			t.Fatalf("ada in %s: %d %v", env, st, out)
		}
	}
	for _, env := range []string{"production", "development"} {
		if st, out := s.api(t, "PATCH", "/v1/users/ada?project=default&environment="+env, s.key, map[string]any{"first_name": env}); st != 200 {
			t.Fatalf("ada in %s: %d %v", env, st, out)
		}
	}
	section := func() string {
		t.Helper()
		st, body := m.get("/users/ada")
		if st != 200 {
			t.Fatalf("GET /users/ada: %d %s", st, alertOf(body))
		}
		return recentChangesRE.FindString(body)
	}
	testwait.Until(t, 10*time.Second, "the development call listed", func() bool {
		return strings.Contains(section(), "environment=development")
	})
	if got := section(); strings.Contains(got, "environment=production") {
		t.Errorf("development's page lists production's call: %s", got)
	}
}

// A user read often still shows the call that changed them: the page asks
// the API log for writes only.
func TestDashboardUserCallsAfterManyReads(t *testing.T) {
	t.Parallel()
	s, m := adminSite(t, nil)
	seedAPI(t, s, [2]any{"/v1/users", map[string]any{"key": "ada"}})
	if st, out := s.api(t, "PATCH", "/v1/users/ada?project=default&environment=development", s.key, map[string]any{"first_name": "Ada"}); st != 200 {
		t.Fatalf("PATCH ada: %d %v", st, out)
	}
	const reads = 60
	for range reads {
		if st, out := s.api(t, "GET", "/v1/users/ada?project=default&environment=development", s.key, nil); st != 200 {
			t.Fatalf("GET ada: %d %v", st, out)
		}
	}
	testwait.Until(t, 10*time.Second, "the reads logged", func() bool {
		_, out := s.api(t, "GET", "/v1/logs?method=GET&per_page=100&path=/v1/users/ada", s.key, nil)
		d, _ := out["data"].([]any)
		return len(d) >= reads
	})
	st, body := m.get("/users/ada")
	if got := recentChangesRE.FindString(body); st != 200 || !strings.Contains(got, "PATCH /v1/users/ada") || strings.Contains(got, "GET /v1/users") {
		t.Errorf("after %d reads the page lists: %d %s", reads, st, got)
	}
	if !strings.Contains(body, "/v1/role-assignments</code>) are not listed") {
		t.Error("the panel does not say role assignments are not listed")
	}
}

// Viewing a user's page asks the API what they may do (a POST) without
// writing the API log.
func TestDashboardUserPageLogsNoCall(t *testing.T) {
	t.Parallel()
	s, m := adminSite(t, nil)
	seedAPI(t, s, [2]any{"/v1/users", map[string]any{"key": "ada"}})
	for range 3 {
		if st, body := m.get("/users/ada"); st != 200 || !strings.Contains(body, `id="roles"`) {
			t.Fatalf("GET /users/ada: %d %s", st, alertOf(body))
		}
	}
	// A call logged after the views: once it is in the log, so would they.
	if st, out := s.api(t, "PATCH", "/v1/users/ada?project=default&environment=development", s.key, map[string]any{"first_name": "Marker"}); st != 200 {
		t.Fatalf("PATCH ada: %d %v", st, out)
	}
	testwait.Until(t, 10*time.Second, "the later call logged", func() bool {
		_, out := s.api(t, "GET", "/v1/logs?method=PATCH&path=/v1/users/ada", s.key, nil)
		d, _ := out["data"].([]any)
		return len(d) == 1
	})
	if _, out := s.api(t, "GET", "/v1/logs?path=/v1/user-permissions", s.key, nil); len(out["data"].([]any)) != 0 {
		t.Errorf("viewing the page logged %v", out["data"])
	}
}

// The form giving a user a role offers every role, past the first page.
func TestDashboardUserAssignOffersEveryRole(t *testing.T) {
	t.Parallel()
	s, m := adminSite(t, nil)
	seeds := [][2]any{{"/v1/users", map[string]any{"key": "ada"}}}
	for i := range 130 {
		seeds = append(seeds, [2]any{"/v1/roles", map[string]any{"key": fmt.Sprintf("r%03d", i)}})
	}
	seedAPI(t, s, seeds...)
	st, body := m.get("/users/ada")
	form := regexp.MustCompile(`(?s)<form[^>]*id="assign-role".*?</form>`).FindString(body)
	if st != 200 || !strings.Contains(form, `<option value="r000">`) || !strings.Contains(form, `<option value="r129">`) {
		t.Errorf("the assign form: %d, r000 %v, r129 %v", st, strings.Contains(form, `"r000"`), strings.Contains(form, `"r129"`))
	}
}
