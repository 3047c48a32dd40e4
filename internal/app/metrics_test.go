package app_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/datadirtest"
	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/internal/testwait"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// startAdmin serves a's admin listener on a loopback port until the test
// ends, and returns its base URL.
func startAdmin(t *testing.T, a *app.App) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.ServeAdmin(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("admin listener: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

// scrape reads the admin listener's /metrics.
func scrape(t *testing.T, admin string) map[string]*dto.MetricFamily {
	t.Helper()
	status, body := get(t, admin+"/metrics")
	if status != http.StatusOK {
		t.Fatalf("/metrics: %d %s", status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value is the counter's, gauge's or histogram's count of the series of
// name with labels (0 and false when there is none).
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// readmeMetrics are the metric names the README's table documents.
func readmeMetrics(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range regexp.MustCompile("(?m)^\\| `(gatehouse_[a-z_]+)` \\|").FindAllStringSubmatch(string(b), -1) {
		names = append(names, m[1])
	}
	if len(names) < 10 {
		t.Fatalf("the README documents %d metrics: %v", len(names), names)
	}
	return names
}

// TestMetricsOnAdminListener: a node with an admin listener serves every
// metric the README documents there, counting checks answered by the fast
// path and by the general handlers under one route label, never a raw
// path; pprof answers there (but not /debug/pprof/cmdline: the process's
// arguments); the public port has neither.
func TestMetricsOnAdminListener(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		cfg := config.Default()
		cfg.DataDir = t.TempDir()
		testMetricsOnAdminListener(t, cfg, "main_write")
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		cfg := config.Default()
		cfg.DatabaseURL, cfg.SecretKey = datadirtest.Postgres(t), pgtest.SecretKey
		testMetricsOnAdminListener(t, cfg, "main")
	})
}

func testMetricsOnAdminListener(t *testing.T, cfg config.Config, pool string) {
	// A webhook endpoint that fails: its delivery waits an hour for a
	// retry, in the backlog.
	var hits atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(hook.Close)
	cfg.WebhookAllowNetworks = []string{"127.0.0.1/32"}
	cfg.WebhookRetrySchedule = []time.Duration{time.Hour}
	a, url := start(t, cfg)
	res, err := a.Init(context.Background(), app.DefaultInitOptions())
	if err != nil {
		t.Fatal(err)
	}
	admin := startAdmin(t, a)

	status, created := call(t, "POST", url+"/v1/api-keys", res.Token,
		`{"name":"checker","level":"environment","project":"default","environment":"development","scopes":["view:user","manage:user","manage:resource","manage:role","manage:role_assignment","check:access"]}`)
	if status != http.StatusCreated {
		t.Fatalf("create key: %d %v", status, created)
	}
	key := created["data"].(map[string]any)["token"].(string)
	keyID := created["data"].(map[string]any)["id"].(string)
	if status, body := call(t, "POST", url+"/v1/webhooks", res.Token, `{"url":"`+hook.URL+`","events":["user.created"]}`); status != http.StatusCreated {
		t.Fatalf("create webhook: %d %v", status, body)
	}
	for _, c := range []struct{ path, body string }{
		{"/v1/resources", `{"key":"doc","actions":["read","write"]}`},
		{"/v1/roles", `{"key":"reader","permissions":["doc:read"]}`},
		{"/v1/users", `{"key":"ada"}`},
		{"/v1/role-assignments", `{"user":"ada","role":"reader"}`},
	} {
		if status, body := call(t, "POST", url+c.path, key, c.body); status != http.StatusCreated {
			t.Fatalf("POST %s: %d %v", c.path, status, body)
		}
	}
	if status, body := call(t, "GET", url+"/v1/users/ada", key, ""); status != http.StatusOK {
		t.Fatalf("GET /v1/users/ada: %d %v", status, body)
	}
	// Two checks by the fast path (an allow and a deny), one by the
	// general handlers (a query string sends it there), one through
	// Permit's /allowed.
	for _, c := range []struct {
		path, body string
		allow      bool
	}{
		{"/v1/allowed", `{"user":"ada","action":"read","resource":{"type":"doc","tenant":"default"}}`, true},
		{"/v1/allowed", `{"user":"ada","action":"write","resource":{"type":"doc"}}`, false},
		{"/v1/allowed?via=general", `{"user":"ada","action":"read","resource":{"type":"doc"}}`, true},
		{"/allowed", `{"user":{"key":"ada"},"action":"read","resource":{"type":"doc","tenant":"default"}}`, true},
	} {
		status, body := call(t, "POST", url+c.path, key, c.body)
		if status != http.StatusOK {
			t.Fatalf("POST %s: %d %v", c.path, status, body)
		}
		allow, _ := body["allow"].(bool)
		if d, ok := body["data"].(map[string]any); ok {
			allow, _ = d["allow"].(bool)
		}
		if allow != c.allow {
			t.Fatalf("POST %s %s: allow %v, want %v (%v)", c.path, c.body, allow, c.allow, body)
		}
	}
	if status, _ := call(t, "GET", url+"/v1/no-such-thing/ada", key, ""); status != http.StatusNotFound {
		t.Fatalf("unknown path: %d", status)
	}

	if status, _ := get(t, url+"/signin"); status != http.StatusOK { // a dashboard page
		t.Fatalf("GET /signin: %d", status)
	}
	// A PDP following the change feed, caught up.
	streamCtx, stopStream := context.WithCancel(context.Background())
	defer stopStream()
	sr, _ := http.NewRequestWithContext(streamCtx, "GET", url+"/v1/pdp/changes", nil)
	sr.Header.Set("Authorization", "Bearer "+key)
	stream, err := http.DefaultClient.Do(sr)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if stream.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/pdp/changes: %d", stream.StatusCode)
	}
	lines := bufio.NewScanner(stream.Body)
	for lines.Scan() && lines.Text() != "event: synced" {
	}
	// The delivery was tried once and waits for its retry.
	var fams map[string]*dto.MetricFamily
	testwait.Until(t, 30*time.Second, "the failed delivery in the backlog", func() bool {
		fams = scrape(t, admin)
		n, _ := value(fams, "gatehouse_queue_backlog", map[string]string{"kind": "webhook_delivery"})
		return hits.Load() > 0 && n == 1
	})
	for _, name := range readmeMetrics(t) {
		if fams[name] == nil {
			t.Errorf("the README documents %s; /metrics does not serve it", name)
		}
	}
	for name := range fams {
		if strings.HasPrefix(name, "gatehouse_") && !strings.Contains(strings.Join(readmeMetrics(t), " "), name) {
			t.Errorf("/metrics serves %s; the README's table does not document it", name)
		}
	}
	want := func(name string, labels map[string]string, least float64) {
		t.Helper()
		if v, ok := value(fams, name, labels); !ok || v < least {
			t.Errorf("%s%v = %v (present %v), want at least %v", name, labels, v, ok, least)
		}
	}
	checks := map[string]string{"route": "POST /v1/allowed", "method": "POST", "code": "2xx"}
	want("gatehouse_http_requests_total", checks, 3) // 2 fast, 1 general: one series
	want("gatehouse_http_request_duration_seconds", map[string]string{"route": "POST /v1/allowed", "method": "POST"}, 3)
	want("gatehouse_http_requests_total", map[string]string{"route": "POST /allowed", "code": "2xx"}, 1)
	want("gatehouse_http_requests_total", map[string]string{"route": "POST /v1/api-keys", "code": "2xx"}, 1)
	want("gatehouse_http_requests_total", map[string]string{"route": "/", "code": "4xx"}, 1) // the catch-all
	want("gatehouse_http_requests_total", map[string]string{"route": "GET /signin", "code": "2xx"}, 1)
	want("gatehouse_checks_total", map[string]string{"decision": "allow"}, 3)
	want("gatehouse_checks_total", map[string]string{"decision": "deny"}, 1)
	want("gatehouse_ratelimit_decisions_total", map[string]string{"result": "allowed"}, 9)
	want("gatehouse_engines_loaded", nil, 1)
	want("gatehouse_engine_objects", map[string]string{"kind": "assignments"}, 1)
	want("gatehouse_db_max_open_connections", map[string]string{"pool": pool}, 1)
	if _, ok := value(fams, "gatehouse_queue_backlog", map[string]string{"kind": "job_task"}); !ok {
		t.Error("no job queue backlog")
	}
	if _, ok := value(fams, "gatehouse_log_queue_depth", map[string]string{"log": "decision"}); !ok {
		t.Error("no decision log queue depth")
	}
	// Key verifications: the first of each key read the database, the
	// rest came from the cache; but a node whose change listener is not
	// (yet) healthy bypasses its cache (PostgreSQL on a busy machine), so
	// only the sum and one hit are sure.
	want("gatehouse_key_cache_requests_total", map[string]string{"result": "miss"}, 2)
	want("gatehouse_key_cache_requests_total", map[string]string{"result": "hit"}, 1)
	hit, _ := value(fams, "gatehouse_key_cache_requests_total", map[string]string{"result": "hit"})
	miss, _ := value(fams, "gatehouse_key_cache_requests_total", map[string]string{"result": "miss"})
	if hit+miss < 10 {
		t.Errorf("key verifications: %v hits and %v misses, want at least 10 in all", hit, miss)
	}
	if v, ok := value(fams, "gatehouse_key_cache_requests_total", map[string]string{"result": "outage"}); !ok || v != 0 {
		t.Errorf("outage answers with the database up: %v (present %v)", v, ok)
	}
	// The failed delivery waits for its retry: the webhook lag is its age.
	if v, ok := value(fams, "gatehouse_webhook_delivery_lag_seconds", nil); !ok || v <= 0 || v > 60 {
		t.Errorf("webhook lag %v (present %v), want the waiting delivery's age", v, ok)
	}
	// The PDP's stream is current: its key's lag is 0.
	want("gatehouse_pdp_streams", nil, 1)
	for _, name := range []string{"gatehouse_pdp_feed_lag_positions", "gatehouse_pdp_feed_lag_seconds"} {
		if v, ok := value(fams, name, map[string]string{"key_id": keyID}); !ok || v != 0 {
			t.Errorf("%s{key_id=%s} = %v (present %v), want 0", name, keyID, v, ok)
		}
	}
	// A closed stream's series go away (the labels stay bounded by the
	// streams open).
	stopStream()
	testwait.Until(t, 30*time.Second, "the closed stream's lag gone", func() bool {
		_, ok := value(scrape(t, admin), "gatehouse_pdp_feed_lag_positions", map[string]string{"key_id": keyID})
		return !ok
	})
	// Bounded routes: patterns, never a path with a user's key in it.
	for _, m := range fams["gatehouse_http_requests_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "route" && strings.Contains(l.GetValue(), "ada") {
				t.Errorf("raw path as a route: %q", l.GetValue())
			}
		}
	}
	want("gatehouse_http_requests_total", map[string]string{"route": "GET /v1/users/{user}", "code": "2xx"}, 1)

	if status, body := get(t, admin+"/debug/pprof/"); status != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Fatalf("admin /debug/pprof/: %d %.200s", status, body)
	}
	if status, body := get(t, admin+"/debug/pprof/heap?debug=1"); status != http.StatusOK || !strings.Contains(body, "heap profile") {
		t.Fatalf("admin heap profile: %d %.200s", status, body)
	}
	// The process's arguments are not served: a secret may be one of them.
	if status, body := get(t, admin+"/debug/pprof/cmdline"); status != http.StatusNotFound || strings.Contains(body, os.Args[0]) {
		t.Errorf("admin /debug/pprof/cmdline: %d %.200s, want 404", status, body)
	}
	for _, p := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/heap"} {
		if status, body := get(t, url+p); status != http.StatusNotFound {
			t.Errorf("public port %s: %d %.200s, want 404", p, status, body)
		}
	}

	// A second App in the same process has its own registry: nothing of
	// the first one's traffic, and no clash registering the same names.
	cfg2 := config.Default()
	cfg2.DataDir = t.TempDir()
	b, _ := start(t, cfg2)
	other := scrape(t, startAdmin(t, b))
	if v, ok := value(other, "gatehouse_checks_total", map[string]string{"decision": "allow"}); !ok || v != 0 {
		t.Errorf("second App's allowed checks: %v (present %v), want 0", v, ok)
	}
	if v, _ := value(other, "gatehouse_http_requests_total", checks); v != 0 {
		t.Errorf("the second App counts the first one's checks: %v", v)
	}
}
