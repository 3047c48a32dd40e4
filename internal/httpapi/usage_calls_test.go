package httpapi_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/httpapi"
	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

// TestCallUsageTimeout: a usage query that runs past its timeout is ended
// and answered 503 saying what to do, not 500. (Not parallel: it shortens
// the timeout of the process.)
func TestCallUsageTimeout(t *testing.T) {
	s := newServerWith(t, engineConfig(t, "sqlite"))
	defer httpapi.SetUsageTimeout(time.Nanosecond)()
	for _, path := range []string{"/v1/usage/calls?interval=day", "/v1/usage/webhooks", "/v1/usage/checks" + devQ} {
		got := s.do(req{method: "GET", path: path, key: s.key})
		if got.status != 503 || !strings.Contains(string(got.raw), "narrow since/until") {
			t.Errorf("%s: %d %s", path, got.status, got.raw)
		}
	}
}

// TestCallUsage: GET /v1/usage/calls counts an environment's logged calls
// by status class and by caller, only that environment's, behind view:log.
func TestCallUsage(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			callUsage(t, newServerWith(t, engineConfig(t, engine)))
		})
	}
}

func callUsage(t *testing.T, s *server) {
	dev := map[string]any{"project": s.projID, "environment": s.devID}
	prod := map[string]any{"project": s.projID, "environment": s.prodID}
	devWriterID, devWriter := s.newKey("environment", []string{"manage:user", "view:user"}, dev)
	prodWriterID, prodWriter := s.newKey("environment", []string{"manage:user"}, prod)
	_, devKey := s.newKey("environment", []string{"view:log"}, dev)
	_, prodKey := s.newKey("environment", []string{"view:log"}, prod)
	_, noLog := s.newKey("environment", []string{"view:user"}, dev)
	s.must(201, req{method: "POST", path: "/v1/users", key: devWriter, body: map[string]any{"key": "ada"}})
	s.must(201, req{method: "POST", path: "/v1/users", key: devWriter, body: map[string]any{"key": "bob"}})
	s.must(404, req{method: "GET", path: "/v1/users/nobody", key: devWriter})
	s.must(201, req{method: "POST", path: "/v1/users", key: prodWriter, body: map[string]any{"key": "eve"}})

	// The reads themselves are logged calls too: counts are of the writers.
	usage := func(key, query, field string) map[string]float64 {
		got := map[string]float64{}
		for _, b := range s.must(200, req{method: "GET", path: "/v1/usage/calls" + query, key: key}).list() {
			m := b.(map[string]any)
			got[m[field].(string)] += m["calls"].(float64)
		}
		return got
	}
	// The log is written in the background: wait for the calls.
	testwait.Progress(t, 30*time.Second, "the calls in the usage", func() (any, bool) {
		d, p := usage(devKey, "?group_by=key", "key_id"), usage(prodKey, "?group_by=key", "key_id")
		return []any{d, p}, d[devWriterID] >= 3 && p[prodWriterID] >= 1
	})
	if got := usage(devKey, "?group_by=key&interval=minute&since="+time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), "key_id"); got[devWriterID] != 3 || got[prodWriterID] != 0 {
		t.Fatalf("dev by key: %v", got)
	}
	if got := usage(prodKey, "?group_by=key&interval=day", "key_id"); got[prodWriterID] != 1 || got[devWriterID] != 0 {
		t.Fatalf("prod by key (the other environment's calls counted?): %v", got)
	}
	// An organization key reaches every call; narrowed to an environment,
	// only that one's.
	if got := usage(s.key, "?group_by=key", "key_id"); got[devWriterID] != 3 || got[prodWriterID] != 1 {
		t.Fatalf("organization by key: %v", got)
	}
	if got := usage(s.key, fmt.Sprintf("?group_by=key&project=%s&environment=%s", s.projID, s.prodID), "key_id"); got[devWriterID] != 0 || got[prodWriterID] != 1 {
		t.Fatalf("organization key, prod only: %v", got)
	}
	// A project key of another project of the same organization reaches
	// none of these calls, nor can it name their environment.
	other := s.must(201, req{method: "POST", path: "/v1/projects", key: s.key, body: map[string]any{"key": "other-usage", "name": "Other"}}).data()
	_, otherProj := s.newKey("project", []string{"view:log"}, map[string]any{"project": other["id"]})
	if got := usage(otherProj, "?group_by=key&interval=day", "key_id"); got[devWriterID] != 0 || got[prodWriterID] != 0 {
		t.Fatalf("another project's key: %v", got)
	}
	if got := s.do(req{method: "GET", path: fmt.Sprintf("/v1/usage/calls?project=%s&environment=%s", s.projID, s.devID), key: otherProj}); got.status != 403 && got.status != 404 {
		t.Fatalf("another project's key naming dev: %d %s", got.status, got.raw)
	}
	if got := usage(devKey, "?interval=day", "status"); got["2xx"] < 2 || got["4xx"] != 1 || got["5xx"] != 0 {
		t.Fatalf("dev by status: %v", got)
	}

	for _, tc := range []struct {
		name   string
		key    string
		query  string
		status int
	}{
		{"without view:log", noLog, "", 403},
		{"an unknown group", devKey, "?group_by=colour", 400},
		{"an unknown interval", devKey, "?interval=week", 400},
		{"too many buckets", devKey, "?interval=minute&since=2020-01-01T00:00:00Z", 400},
		{"days over 90 days", devKey, "?interval=day&since=" + time.Now().Add(-91*24*time.Hour).UTC().Format(time.RFC3339), 400},
		{"hours over 31 days", devKey, "?interval=hour&since=" + time.Now().Add(-32*24*time.Hour).UTC().Format(time.RFC3339), 400},
		{"minutes over 7 days", devKey, "?interval=minute&until=2026-01-09T00:00:00Z&since=2026-01-01T00:00:00Z", 400},
		{"days within 90 days", devKey, "?interval=day&since=" + time.Now().Add(-89*24*time.Hour).UTC().Format(time.RFC3339), 200},
		{"until before since", devKey, "?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", 400},
		{"another organization's environment", s.otherOrg("Elsewhere").key, fmt.Sprintf("?project=%s&environment=%s", s.projID, s.devID), 404},
		{"another environment of the key's", prodKey, fmt.Sprintf("?project=%s&environment=%s", s.projID, s.devID), 403},
	} {
		if got := s.do(req{method: "GET", path: "/v1/usage/calls" + tc.query, key: tc.key}); got.status != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.name, got.status, tc.status, got.raw)
		}
	}
}

// TestWebhookUsage: GET /v1/usage/webhooks counts deliveries by outcome,
// only to the endpoints the caller reaches.
func TestWebhookUsage(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			cfg := engineConfig(t, engine)
			cfg.WebhookAllowNetworks = []string{"127.0.0.0/8"}
			cfg.WebhookRetrySchedule = []time.Duration{50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond}
			webhookUsage(t, newServerWith(t, cfg))
		})
	}
}

func webhookUsage(t *testing.T, s *server) {
	ok := newReceiver(t, nil)
	bad := newReceiver(t, func(int) int { return 500 })
	s.newWebhook(ok.srv.URL+"/hook", "user.created")
	s.newWebhook(bad.srv.URL+"/hook", "user.created")
	s.must(201, req{method: "POST", path: "/v1/users" + devQ, key: s.key, body: map[string]any{"key": "ada"}})
	s.must(201, req{method: "POST", path: "/v1/users" + devQ, key: s.key, body: map[string]any{"key": "bob"}})
	sum := func(key string) map[string]float64 {
		got := map[string]float64{}
		for _, b := range s.must(200, req{method: "GET", path: "/v1/usage/webhooks?interval=day", key: key}).list() {
			for k, v := range b.(map[string]any) {
				if n, isNum := v.(float64); isNum {
					got[k] += n
				}
			}
		}
		return got
	}
	testwait.Progress(t, 30*time.Second, "deliveries ending", func() (any, bool) {
		got := sum(s.key)
		return got, got["succeeded"] == 2 && got["failed"] == 2
	})
	if got := sum(s.key); got["pending"] != 0 || got["cancelled"] != 0 {
		t.Fatalf("usage: %v", got)
	}
	// Another organization sees none of them.
	other := s.otherOrg("Elsewhere")
	if got := sum(other.key); len(got) != 0 {
		t.Fatalf("another organization's usage: %v", got)
	}
	if got := s.do(req{method: "GET", path: "/v1/usage/webhooks?interval=day&since=2020-01-01T00:00:00Z", key: s.key}); got.status != 400 || !strings.Contains(string(got.raw), "at most 90 days") {
		t.Errorf("a window of years: %d %s", got.status, got.raw)
	}
	// A project key of another project of the same organization reaches
	// none of the organization-wide endpoints' deliveries.
	proj := s.must(201, req{method: "POST", path: "/v1/projects", key: s.key, body: map[string]any{"key": "other-usage", "name": "Other"}}).data()
	_, pkey := s.newKey("project", []string{"view:log", "view:webhook"}, map[string]any{"project": proj["id"]})
	if got := sum(pkey); got["succeeded"] != 0 || got["failed"] != 0 {
		t.Fatalf("another project's key: %v", got)
	}
	_, noScope := s.newKey("organization", []string{"view:log"}, nil)
	s.must(403, req{method: "GET", path: "/v1/usage/webhooks", key: noScope})
	s.must(400, req{method: "GET", path: "/v1/usage/webhooks?interval=minute&since=2020-01-01T00:00:00Z", key: s.key})
}

// TestCallUsageTooManyGroups: a window with more rows than an answer may
// hold is refused with a 400 saying what to do. (Not parallel: it lowers
// the bound of the process.)
func TestCallUsageTooManyGroups(t *testing.T) {
	s := newServerWith(t, engineConfig(t, "sqlite"))
	defer httpapi.SetUsageMaxGroups(1)()
	s.must(201, req{method: "POST", path: "/v1/users" + devQ, key: s.key, body: map[string]any{"key": "ada"}})
	s.must(404, req{method: "GET", path: "/v1/users/nobody" + devQ, key: s.key})
	// Two rows (2xx and 4xx of the one key) once the log has them.
	testwait.Progress(t, 30*time.Second, "a usage answer refused", func() (any, bool) {
		got := s.do(req{method: "GET", path: "/v1/usage/calls?group_by=status_and_key&interval=day", key: s.key})
		return got.status, got.status == 400 && strings.Contains(string(got.raw), "more than 1 rows")
	})
	// Grouped by key alone (one row) it fits.
	s.must(200, req{method: "GET", path: "/v1/usage/calls?group_by=key&interval=day", key: s.key})
}
