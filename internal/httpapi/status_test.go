package httpapi_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/internal/redistest"
	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

// statusServer is a server on engine sampling its status every 100 ms,
// whose webhooks may reach loopback.
func statusServer(t *testing.T, engine string, mod func(*config.Config)) *server {
	t.Helper()
	cfg := engineConfig(t, engine)
	cfg.StatusSampleEvery = 100 * time.Millisecond
	cfg.WebhookAllowNetworks = []string{"127.0.0.0/8"}
	cfg.WebhookRetrySchedule = []time.Duration{50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	return newServerWith(t, cfg)
}

// components returns name → component of the status page.
func (s *server) components() map[string]map[string]any {
	s.t.Helper()
	out := map[string]map[string]any{}
	for _, c := range s.must(200, req{method: "GET", path: "/v1/status"}).data()["components"].([]any) {
		m := c.(map[string]any)
		out[m["name"].(string)] = m
	}
	return out
}

// waitComponent waits until the status page shows component in state.
func (s *server) waitComponent(name, state string) map[string]any {
	s.t.Helper()
	var got map[string]any
	testwait.Until(s.t, 30*time.Second, name+" "+state+" on the status page", func() bool {
		got = s.components()[name]
		return got != nil && got["state"] == state
	})
	return got
}

// changes returns the status.component_changed payloads rc got for
// component.
func (rc *receiver) changes(component string) []map[string]any {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []map[string]any
	for _, r := range rc.got {
		if r.event() != "status.component_changed" {
			continue
		}
		if d := r.payload["data"].(map[string]any); d["component"] == component {
			out = append(out, d)
		}
	}
	return out
}

// waitChange waits until rc got a change of component to state.
func (rc *receiver) waitChange(t *testing.T, component, state string) map[string]any {
	t.Helper()
	var got map[string]any
	testwait.Until(t, 30*time.Second, "a status.component_changed webhook: "+component+" "+state, func() bool {
		for _, d := range rc.changes(component) {
			if d["state"] == state {
				got = d
				return true
			}
		}
		return false
	})
	return got
}

var engines = []string{"sqlite", "postgres"}

// TestStatusPageShowsSampledComponents: the public status page (JSON and
// HTML, no key) shows every component the server has, sampled, with 90
// days of uptime; it leaks no address or DSN and loads nothing from
// elsewhere.
func TestStatusPageShowsSampledComponents(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			s := statusServer(t, engine, nil)
			for _, c := range []string{"api", "checks", "database", "queue", "webhooks"} {
				got := s.waitComponent(c, "operational")
				if days := got["days"].([]any); len(days) != 90 || days[89].(map[string]any)["uptime"] != 1.0 || days[0].(map[string]any)["uptime"] != nil {
					t.Fatalf("%s: %d days, today %v, first %v", c, len(days), days[89], days[0])
				}
				if got["uptime_90d"] != 1.0 {
					t.Fatalf("%s uptime %v", c, got["uptime_90d"])
				}
			}
			res := s.must(200, req{method: "GET", path: "/v1/status"})
			if _, ok := s.components()["redis"]; ok {
				t.Fatal("redis shown without Redis configured")
			}
			if d := res.data(); d["state"] != "operational" || len(d["open_incidents"].([]any)) != 0 {
				t.Fatalf("status: %s", res.raw)
			}
			for _, leak := range []string{"postgres", "127.0.0.1", "sqlite", s.orgID, "password"} {
				if strings.Contains(res.raw, leak) {
					t.Fatalf("the public status shows %q: %s", leak, res.raw)
				}
			}

			r, err := http.Get(s.url + "/status")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(r.Body)
			r.Body.Close()
			html := string(body)
			if r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") || r.Header.Get("Refresh") == "" {
				t.Fatalf("/status: %d %v", r.StatusCode, r.Header)
			}
			if !strings.Contains(r.Header.Get("Content-Security-Policy"), "default-src 'self'") {
				t.Fatalf("/status CSP: %q", r.Header.Get("Content-Security-Policy"))
			}
			for _, want := range []string{`id="component-database"`, `id="component-checks"`, "<svg", `class="up"`, "All systems operational", "No incidents in the last 90 days"} {
				if !strings.Contains(html, want) {
					t.Fatalf("/status lacks %q:\n%s", want, html)
				}
			}
			// Nothing from elsewhere: every src and href is on this server.
			for _, m := range regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(html, -1) {
				if u, err := url.Parse(m[1]); err != nil || u.Host != "" || u.Scheme != "" {
					t.Fatalf("/status loads %q", m[1])
				}
			}
			if strings.Contains(html, "style=") || strings.Contains(html, "<script>") {
				t.Fatal("/status has inline style or script (the CSP refuses them)")
			}
		})
	}
}

// TestStatusIncidentLifecycle: the instance operator (the first
// organization's organization key) opens, updates and resolves an
// incident; anyone else gets 403 (or 401 without a key); everyone reads
// them; each step is a webhook to the endpoints that named its event, in
// any organization, and never to a "*" endpoint.
func TestStatusIncidentLifecycle(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			s := statusServer(t, engine, nil)
			other := s.otherOrg("Tenant")
			named, star := newReceiver(t, nil), newReceiver(t, nil)
			s.must(201, req{method: "POST", path: "/v1/webhooks", key: other.key, body: map[string]any{"url": named.srv.URL + "/hook",
				"events": []string{"status.incident_created", "status.incident_updated", "status.incident_resolved"}}})
			s.newWebhook(star.srv.URL+"/hook", "*")
			_, noScope := s.newKey("organization", []string{"view:organization"}, nil)
			_, projectKey := s.newKey("project", []string{"manage:organization"}, map[string]any{"project": "default"})

			open := map[string]any{"title": "Slow checks", "body": "We are looking into it.", "impact": "minor", "components": []string{"checks"}}
			for _, tc := range []struct {
				name, key string
				want      int
			}{
				{"no key", "", 401},
				{"another organization's owner key", other.key, 403},
				{"the operator's organization without manage:organization", noScope, 403},
				{"a project key", projectKey, 403},
			} {
				if res := s.do(req{method: "POST", path: "/v1/status/incidents", key: tc.key, body: open}); res.status != tc.want {
					t.Fatalf("%s: %d %s", tc.name, res.status, res.raw)
				}
			}
			for _, bad := range []map[string]any{
				{"title": "x", "body": "y", "impact": "huge"},
				{"title": "x", "body": "y", "components": []string{"dns"}},
				{"title": "x"},
			} {
				if res := s.do(req{method: "POST", path: "/v1/status/incidents", key: s.key, body: bad}); res.status != 400 {
					t.Fatalf("bad %v: %d %s", bad, res.status, res.raw)
				}
			}

			inc := s.must(201, req{method: "POST", path: "/v1/status/incidents", key: s.key, body: open}).data()
			id := inc["id"].(string)
			if inc["status"] != "investigating" || len(inc["updates"].([]any)) != 1 {
				t.Fatalf("created: %v", inc)
			}
			if res := s.do(req{method: "POST", path: "/v1/status/incidents/" + id + "/updates", key: other.key, body: map[string]any{"body": "x"}}); res.status != 403 {
				t.Fatalf("update by a tenant: %d", res.status)
			}
			s.must(201, req{method: "POST", path: "/v1/status/incidents/" + id + "/updates", key: s.key,
				body: map[string]any{"body": "Found the cause.", "status": "identified", "impact": "major"}})
			if st := s.must(200, req{method: "GET", path: "/v1/status"}).data(); st["open_incidents"].([]any)[0].(map[string]any)["impact"] != "major" {
				t.Fatalf("status page: %v", st["open_incidents"])
			}
			if res := s.do(req{method: "POST", path: "/v1/status/incidents/" + id + "/resolve", key: other.key}); res.status != 403 {
				t.Fatalf("resolve by a tenant: %d", res.status)
			}
			done := s.must(200, req{method: "POST", path: "/v1/status/incidents/" + id + "/resolve", key: s.key, body: map[string]any{"body": "Fixed."}}).data()
			if done["status"] != "resolved" || done["resolved_at"] == nil || len(done["updates"].([]any)) != 3 {
				t.Fatalf("resolved: %v", done)
			}
			if res := s.do(req{method: "POST", path: "/v1/status/incidents/" + id + "/resolve", key: s.key}); res.status != 409 {
				t.Fatalf("resolve twice: %d %s", res.status, res.raw)
			}
			if res := s.do(req{method: "GET", path: "/v1/status/incidents/nope"}); res.status != 404 {
				t.Fatalf("unknown incident: %d", res.status)
			}
			list := s.must(200, req{method: "GET", path: "/v1/status/incidents?state=resolved"})
			if items := list.list(); len(items) != 1 || items[0].(map[string]any)["id"] != id {
				t.Fatalf("resolved list: %s", list.raw)
			}
			if strings.Contains(list.raw, s.orgID) || strings.Contains(list.raw, "key:") {
				t.Fatalf("the public list names the operator: %s", list.raw)
			}
			st := s.must(200, req{method: "GET", path: "/v1/status"}).data()
			if len(st["open_incidents"].([]any)) != 0 || len(st["recent_incidents"].([]any)) != 1 {
				t.Fatalf("after resolving: %v", st)
			}

			got := named.wait(t, 3)
			types := map[string]bool{}
			for _, r := range got {
				types[r.event()] = true
				if r.payload["organization_id"] != other.id {
					t.Fatalf("delivered as organization %v, want the subscriber's %s", r.payload["organization_id"], other.id)
				}
			}
			if !types["status.incident_created"] || !types["status.incident_updated"] || !types["status.incident_resolved"] {
				t.Fatalf("events: %v", types)
			}
			star.mu.Lock()
			defer star.mu.Unlock()
			for _, r := range star.got {
				if strings.HasPrefix(r.event(), "status.") {
					t.Fatalf("a \"*\" endpoint got %s", r.event())
				}
			}
		})
	}
}

// TestStatusRedisOutage: Redis unreachable (its connection cut) shows on
// the status page as down, fires status.component_changed, and back again
// when it returns.
func TestStatusRedisOutage(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(redistest.Required(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := pgtest.NewProxyTo(t, u.Host)
	u.Host = proxy.Addr()
	s := statusServer(t, "sqlite", func(c *config.Config) { c.RedisURL = u.String() })
	rc := newReceiver(t, nil)
	s.newWebhook(rc.srv.URL+"/hook", "status.component_changed")
	s.waitComponent("redis", "operational")

	proxy.Cut()
	got := s.waitComponent("redis", "down")
	if note := got["note"].(string); !strings.Contains(note, "share") || strings.Contains(note, "127.0.0.1") {
		t.Fatalf("note %q", note)
	}
	if d := rc.waitChange(t, "redis", "down"); d["previous_state"] != "operational" {
		t.Fatalf("change: %v", d)
	}
	if c := s.components(); c["database"]["state"] != "operational" || c["checks"]["state"] != "operational" {
		t.Fatalf("Redis took others down: %v", c)
	}
	proxy.Restore()
	s.waitComponent("redis", "operational")
	rc.waitChange(t, "redis", "operational")
}

// ci: race
// TestStatusDatabaseOutage: with PostgreSQL cut off, the node that sampled
// keeps counting; the status API answers 503 (never 500); when the
// database is back the outage is in the day's samples and its changes are
// webhooks, with the times they happened.
func TestStatusDatabaseOutage(t *testing.T) {
	t.Parallel()
	proxy := pgtest.NewProxy(t)
	s := statusServer(t, "sqlite", func(c *config.Config) {
		c.DataDir, c.DatabaseURL, c.SecretKey = t.TempDir(), proxy.URL(pgtest.NewDatabase(t)), pgtest.SecretKey
	})
	rc := newReceiver(t, nil)
	s.newWebhook(rc.srv.URL+"/hook", "status.component_changed")
	s.waitComponent("database", "operational")

	cut := time.Now()
	proxy.Cut()
	// Five rounds of five components (the first may have looked before
	// the cut).
	testwait.Until(t, 30*time.Second, "the sampler holding samples of the outage", func() bool { return s.app.StatusSampler().Held() >= 5*5 })
	if res := s.do(req{method: "GET", path: "/v1/status"}); res.status != 503 {
		t.Fatalf("status in the outage: %d %s", res.status, res.raw)
	}
	proxy.Restore()
	down := rc.waitChange(t, "database", "down")
	since, err := time.Parse(time.RFC3339Nano, down["since"].(string))
	if err != nil || since.Before(cut.Add(-time.Second)) || since.After(time.Now()) {
		t.Fatalf("down since %v (cut at %s): %v", down["since"], cut, err)
	}
	rc.waitChange(t, "database", "operational")
	db := s.waitComponent("database", "operational")
	today := db["days"].([]any)[89].(map[string]any)
	if today["down"].(float64) < 3 || today["uptime"].(float64) >= 1 {
		t.Fatalf("today's database samples: %v", today)
	}
}
