package dashboard_test

import (
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
