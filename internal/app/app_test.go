package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apilog"
	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/datadirtest"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/internal/redistest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

func start(t *testing.T, cfg config.Config) (*app.App, string) {
	t.Helper()
	// An empty data folder starts as a copy of a migrated one (the tests
	// of creating one call app.New themselves).
	datadirtest.SeedConfig(t, cfg)
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a.Handler())
	t.Cleanup(func() { ts.Close(); a.Close() })
	return a, ts.URL
}

func call(t testing.TB, method, url, key, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, _ := http.NewRequest(method, url, rd)
	r.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// waitHealthy waits until a node's key cache listener is up.
func waitHealthy(t *testing.T, a *app.App) {
	t.Helper()
	testwait.Until(t, 30*time.Second, "the key cache listener starting", a.KeyCacheHealthy)
}

// twoNodes starts two initialized server nodes on one fresh PostgreSQL
// database, both listening for invalidations.
func twoNodes(t *testing.T) (urlA, urlB string, res *app.InitResult) {
	t.Helper()
	n := twoNodesWith(t, config.Default())
	return n.urlA, n.urlB, n.res
}

// nodes are two server nodes on one database.
type nodes struct {
	a, b       *app.App
	urlA, urlB string
	res        *app.InitResult
}

// twoNodesWith is twoNodes with cfg (its database is a fresh PostgreSQL one).
func twoNodesWith(t *testing.T, cfg config.Config) nodes {
	t.Helper()
	cfg.DatabaseURL, cfg.SecretKey = datadirtest.Postgres(t), pgtest.SecretKey
	var n nodes
	n.a, n.urlA = start(t, cfg)
	res, err := n.a.Init(context.Background(), app.DefaultInitOptions())
	if err != nil {
		t.Fatal(err)
	}
	n.res = res
	n.b, n.urlB = start(t, cfg)
	waitHealthy(t, n.a)
	waitHealthy(t, n.b)
	return n
}

// TestRevocationReachesEveryNode runs two server nodes on one PostgreSQL
// database: a key revoked through node A is refused by node B on the very
// next request, although B had it cached.
func TestRevocationReachesEveryNode(t *testing.T) {
	t.Parallel()
	urlA, urlB, res := twoNodes(t)
	for i := 0; i < 20; i++ {
		status, created := call(t, "POST", urlA+"/v1/api-keys", res.Token,
			fmt.Sprintf(`{"name":"k%d","level":"organization","scopes":["view:project"]}`, i))
		if status != 201 {
			t.Fatalf("create: %d %v", status, created)
		}
		d := created["data"].(map[string]any)
		token, id := d["token"].(string), d["id"].(string)
		for j := 0; j < 3; j++ { // cache it on B
			if status, _ := call(t, "GET", urlB+"/v1/projects", token, ""); status != 200 {
				t.Fatalf("node B refused a fresh key: %d", status)
			}
		}
		if status, _ := call(t, "POST", urlA+"/v1/api-keys/"+id+"/revoke", res.Token, ""); status != 200 {
			t.Fatalf("revoke: %d", status)
		}
		if status, body := call(t, "GET", urlB+"/v1/projects", token, ""); status != 401 {
			t.Fatalf("round %d: node B still accepts a revoked key: %d %v", i, status, body)
		}
	}
	// Rotation without grace ends the old key on every node too.
	status, created := call(t, "POST", urlA+"/v1/api-keys", res.Token, `{"name":"r","level":"organization","scopes":["view:project"]}`)
	if status != 201 {
		t.Fatal(status)
	}
	d := created["data"].(map[string]any)
	call(t, "GET", urlB+"/v1/projects", d["token"].(string), "")
	if status, _ := call(t, "POST", urlA+"/v1/api-keys/"+d["id"].(string)+"/rotate", res.Token, ""); status != 201 {
		t.Fatal(status)
	}
	if status, _ := call(t, "GET", urlB+"/v1/projects", d["token"].(string), ""); status != 401 {
		t.Fatalf("node B accepts a rotated-out key: %d", status)
	}
}

// TestFactsReachEveryNode: a role assignment written through node A is
// visible to checks on node B within 100 ms (in the median of ten rounds),
// and B's engine was loaded before the write.
func TestFactsReachEveryNode(t *testing.T) {
	t.Parallel()
	urlA, urlB, res := twoNodes(t)
	q := "?project=default&environment=development"
	for _, body := range []string{`{"key":"doc","actions":["read"]}`} {
		if st, out := call(t, "POST", urlA+"/v1/resources"+q, res.Token, body); st != 201 {
			t.Fatalf("resource: %d %v", st, out)
		}
	}
	call(t, "POST", urlA+"/v1/roles"+q, res.Token, `{"key":"reader","permissions":["doc:read"]}`)
	check := `{"user":"u%d","action":"read","resource":{"type":"doc"}}`
	call(t, "POST", urlB+"/v1/allowed"+q, res.Token, fmt.Sprintf(check, 0)) // B loads the environment
	var took []time.Duration
	for i := 0; i < 10; i++ {
		call(t, "POST", urlA+"/v1/users"+q, res.Token, fmt.Sprintf(`{"key":"u%d"}`, i))
		if st, out := call(t, "POST", urlA+"/v1/role-assignments"+q, res.Token, fmt.Sprintf(`{"user":"u%d","role":"reader"}`, i)); st != 201 {
			t.Fatalf("assign: %d %v", st, out)
		}
		written := time.Now()
		testwait.Until(t, 30*time.Second, fmt.Sprintf("round %d: node B seeing the assignment", i), func() bool {
			_, out := call(t, "POST", urlB+"/v1/allowed"+q, res.Token, fmt.Sprintf(check, i))
			return out["data"].(map[string]any)["allow"] == true
		})
		took = append(took, time.Since(written))
	}
	// The typical round, not the slowest: on a busy machine one round can
	// wait for a core, but a node that only polls for changes is slow in
	// every round.
	slices.Sort(took)
	if median := took[len(took)/2]; median > 100*time.Millisecond {
		t.Fatalf("node B saw the assignments in %v (the median round), want within 100 ms; rounds: %v", median, took)
	}
}

// Log retention follows each organization's log_retention_days (30 by
// default).
func TestLogRetention(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	a, _ := start(t, cfg)
	res, err := a.Init(context.Background(), app.DefaultInitOptions())
	if err != nil {
		t.Fatal(err)
	}
	logs := a.LogDB.LogStore()
	now := time.Now()
	var entries []decision.Entry
	for i, age := range []int{40, 31, 29, 1} {
		entries = append(entries, decision.Entry{ID: fmt.Sprint("d", i), OrganizationID: res.Organization.ID, ProjectID: "p", EnvironmentID: "e",
			Time: now.AddDate(0, 0, -age), Source: decision.SourceAPI, User: "u", Action: "a", ResourceType: "r", Tenant: "default", Reason: "unknown_user"})
	}
	if err := logs.WriteDecisions(context.Background(), entries); err != nil {
		t.Fatal(err)
	}
	if err := a.PruneLogs(context.Background(), logs); err != nil {
		t.Fatal(err)
	}
	page, err := logs.ListDecisions(context.Background(), decision.Filter{OrgID: res.Organization.ID, EnvID: "e"}, gatehouse.PageRequest{Page: 1, PerPage: 10, Sort: "timestamp"})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 2 || page.Items[0].ID != "d2" || page.Items[1].ID != "d3" {
		t.Fatalf("after retention: %+v", page.Items)
	}
}

// The audit trail has its own retention (--audit-retention, here 90
// days), applied by the same round, whatever the organizations' log
// retention.
func TestAuditRetention(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.AuditRetention = 90 * 24 * time.Hour
	a, _ := start(t, cfg)
	res, err := a.Init(context.Background(), app.DefaultInitOptions())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now()
	for _, age := range []int{400, 91, 89, 31} {
		if err := a.Store.RecordAudit(ctx, audit.AuditEntry{OrganizationID: res.Organization.ID, Time: now.AddDate(0, 0, -age),
			Action: fmt.Sprintf("test.age_%d", age), ObjectType: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.PruneLogs(ctx, a.LogDB.LogStore()); err != nil {
		t.Fatal(err)
	}
	page, err := a.Store.ListAudit(ctx, audit.Filter{OrgID: res.Organization.ID, ObjectType: "test"}, gatehouse.PageRequest{Page: 1, PerPage: 10, Sort: "timestamp"})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range page.Items {
		left = append(left, e.Action)
	}
	if fmt.Sprint(left) != "[test.age_89 test.age_31]" { // older than 30 days (the log retention) but within 90
		t.Fatalf("after retention: %v", left)
	}
}

// A failing audit sweep (here its table is gone) does not stop the
// round: the logs' retention still runs.
func TestAuditRetentionFailureSkipsNothing(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	a, _ := start(t, cfg)
	res, err := a.Init(context.Background(), app.DefaultInitOptions())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	logs := a.LogDB.LogStore()
	now := time.Now()
	var entries []decision.Entry
	for i, age := range []int{40, 1} {
		entries = append(entries, decision.Entry{ID: fmt.Sprint("d", i), OrganizationID: res.Organization.ID, ProjectID: "p", EnvironmentID: "e",
			Time: now.AddDate(0, 0, -age), Source: decision.SourceAPI, User: "u", Action: "a", ResourceType: "r", Tenant: "default", Reason: "unknown_user"})
	}
	if err := logs.WriteDecisions(ctx, entries); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DB.Writer().ExecContext(ctx, "ALTER TABLE audit_events RENAME TO audit_events_away"); err != nil {
		t.Fatal(err)
	}
	if err := a.PruneLogs(ctx, logs); err != nil {
		t.Fatalf("PruneLogs with a failing audit sweep: %v", err)
	}
	page, err := logs.ListDecisions(ctx, decision.Filter{OrgID: res.Organization.ID, EnvID: "e"}, gatehouse.PageRequest{Page: 1, PerPage: 10, Sort: "timestamp"})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 1 || page.Items[0].ID != "d1" {
		t.Fatalf("after a round whose audit sweep failed: %+v (the 40-day-old decision should be gone)", page.Items)
	}
}

// limitedKey creates an organization key with its own hourly limit: a
// fresh bucket no other call has touched.
func limitedKey(t *testing.T, url, orgKey string, perHour int) string {
	t.Helper()
	status, out := call(t, "POST", url+"/v1/api-keys", orgKey,
		fmt.Sprintf(`{"name":"limited","level":"organization","scopes":["view:project"],"rate_limit_per_hour":%d}`, perHour))
	if status != 201 {
		t.Fatalf("create key: %d %v", status, out)
	}
	return out["data"].(map[string]any)["token"].(string)
}

// outcome counts a burst's answers.
type outcome struct{ ok, limited, unavailable int }

// hammer sends n GETs alternating between urls, inFlight at a time (0:
// all at once), and counts the answers: 200, 429 and 503 (the limiter
// could not decide, with fail-closed).
func hammer(t *testing.T, urls []string, key string, n, inFlight int) outcome {
	t.Helper()
	if inFlight <= 0 {
		inFlight = n
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var out outcome
	start := make(chan struct{})
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	for range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range next {
				status, _ := call(t, "GET", urls[i%len(urls)]+"/v1/projects", key, "")
				mu.Lock()
				switch status {
				case 200:
					out.ok++
				case 429:
					out.limited++
				case 503:
					out.unavailable++
				default:
					t.Errorf("status %d", status)
				}
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// spin keeps a goroutine busy until the test ends: a loop that never
// yields (the runtime still preempts it), stealing a core of the machine.
func spin(t *testing.T) {
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := 0; !stop.Load(); n++ {
		}
	}()
	t.Cleanup(func() { stop.Store(true); <-done })
}

// TestRateLimitAcrossNodes: two servers on one Redis share the limit, and
// concurrent requests at a limit pass exactly up to it, with a goroutine
// spinning on one of the machine's cores all along (issue 16: a loaded run
// let 109 of 300 through a limit of 100). No burst may ever pass more than
// the limit. A burst in which a node's Redis call failed or outlasted its
// timeout (that node then decided on its share) need not be exact (a
// request counted in Redis and on the share is counted twice): it is tried
// again with a fresh key, and one burst must go through Redis alone and
// pass exactly the limit. Fail-closed: the shares round down.
func TestRateLimitAcrossNodes(t *testing.T) {
	t.Parallel()
	spin(t)
	cfg := config.Default()
	cfg.RedisURL = redistest.Required(t)
	cfg.RateLimitFailOpen = false
	n := twoNodesWith(t, cfg)
	onShare := func() int64 { return n.a.Limiter.Status().DecisionsOnShare + n.b.Limiter.Status().DecisionsOnShare }
	const limit, requests, attempts = 100, 300, 5
	for attempt := 1; ; attempt++ {
		key := limitedKey(t, n.urlA, n.res.Token, limit)
		before := onShare()
		// 16 at a time: concurrent on both nodes, within their Redis pools.
		got := hammer(t, []string{n.urlA, n.urlB}, key, requests, 16)
		if got.ok > limit || got.unavailable != 0 {
			t.Fatalf("two nodes, limit %d: %d passed (%d limited, %d refused)", limit, got.ok, got.limited, got.unavailable)
		}
		alone := onShare() - before
		if alone == 0 {
			if got.ok != limit || got.limited != requests-limit {
				t.Fatalf("two nodes, limit %d: %d passed, %d limited", limit, got.ok, got.limited)
			}
			return
		}
		t.Logf("attempt %d: %d requests decided on a node's share (%d passed, %d limited)", attempt, alone, got.ok, got.limited)
		if attempt == attempts {
			t.Fatalf("a node decided on its share in each of %d bursts", attempts)
		}
	}
}

// TestRateLimitExactUnderConcurrency: on one node (memory store), N
// concurrent requests at a limit of L: exactly L pass.
func TestRateLimitExactUnderConcurrency(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	a, url := start(t, cfg)
	res, err := a.Init(context.Background(), app.DefaultInitOptions())
	if err != nil {
		t.Fatal(err)
	}
	key := limitedKey(t, url, res.Token, 50)
	got := hammer(t, []string{url}, key, 200, 0)
	if got.ok != 50 || got.limited != 150 {
		t.Fatalf("limit 50: %d passed, %d limited, %d refused", got.ok, got.limited, got.unavailable)
	}
}

// TestRedisDown: with the Redis store unreachable the server keeps serving
// and limiting: each node enforces its share of every limit (1/2 here, the
// configured N: it never counted the nodes), rounded up when failing open
// and down when failing closed; /readyz says degraded (200) in both modes,
// so that a load balancer does not drain every node at once.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "redis://" + ln.Addr().String() + "/0"
	ln.Close() // nothing listens there now
	for _, failOpen := range []bool{true, false} {
		t.Run(fmt.Sprint("fail-open=", failOpen), func(t *testing.T) {
			cfg := config.Default()
			cfg.DataDir = t.TempDir()
			cfg.RedisURL = dead
			cfg.RateLimitFailOpen = failOpen
			cfg.RateLimitNodes = 2
			a, url := start(t, cfg)
			res, err := a.Init(context.Background(), app.DefaultInitOptions())
			if err != nil {
				t.Fatal(err)
			}
			key := limitedKey(t, url, res.Token, 5)
			share := 2 // 5/2 rounded down
			if failOpen {
				share = 3
			}
			r, _ := http.NewRequest("GET", url+"/v1/projects", nil)
			r.Header.Set("Authorization", "Bearer "+key)
			first, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			first.Body.Close()
			if first.StatusCode != 200 || first.Header.Get("X-RateLimit-Limit") != fmt.Sprint(share) ||
				first.Header.Get("X-RateLimit-Remaining") != fmt.Sprint(share-1) {
				t.Fatalf("first request on the share: %d %v", first.StatusCode, first.Header)
			}
			if got := hammer(t, []string{url}, key, 5, 1); got.ok != share-1 || got.limited != 5-(share-1) {
				t.Fatalf("limit 5 on a share of %d: then %d passed, %d limited, %d refused", share, got.ok, got.limited, got.unavailable)
			}
			ready, rout := call(t, "GET", url+"/readyz", "", "")
			if ready != 200 || rout["data"].(map[string]any)["status"] != "degraded" {
				t.Fatalf("readyz %d %v", ready, rout)
			}
			check := fmt.Sprint(rout["data"].(map[string]any)["checks"].(map[string]any)["rate_limit_store"])
			if !strings.Contains(check, "unreachable") || !strings.Contains(check, "1/2 of each limit") {
				t.Fatalf("readyz rate_limit_store: %q", check)
			}
		})
	}
}

// TestAPILogSurvivesShutdown: every call answered before a graceful
// shutdown is in the log afterwards, on the log database's own file.
func TestAPILogSurvivesShutdown(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Init(context.Background(), app.DefaultInitOptions())
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a.Handler())
	const n = 300
	for range n {
		if status, _ := call(t, "GET", ts.URL+"/v1/projects", res.Token, ""); status != 200 {
			t.Fatalf("status %d", status)
		}
	}
	ts.Close()
	if err := a.Close(); err != nil { // no waiting: the queue is drained here
		t.Fatal(err)
	}
	logs, err := store.OpenLogSQLite(context.Background(), cfg.LogSQLitePath())
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	page, err := logs.LogStore().ListAPILog(context.Background(), apilog.Filter{OrgID: res.Organization.ID, PathPrefix: "/v1/projects"},
		gatehouse.PageRequest{Page: 1, PerPage: 1, Sort: "timestamp"})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != n {
		t.Fatalf("%d of %d calls in the log after shutdown", page.Total, n)
	}
}

// TestDeletedEnvironmentLeavesEveryNode: deleting an environment on node A
// drops its engine on node B too.
func TestDeletedEnvironmentLeavesEveryNode(t *testing.T) {
	t.Parallel()
	n := twoNodesWith(t, config.Default())
	b, urlA, urlB, res := n.b, n.urlA, n.urlB, n.res
	st, out := call(t, "POST", urlA+"/v1/projects/default/environments", res.Token, `{"name":"Temp","key":"temp"}`)
	if st != 201 {
		t.Fatalf("create environment: %d %v", st, out)
	}
	envID := out["data"].(map[string]any)["id"].(string)
	if st, out := call(t, "POST", urlB+"/v1/allowed?project=default&environment=temp", res.Token,
		`{"user":"u","action":"read","resource":{"type":"doc"}}`); st != 200 {
		t.Fatalf("check on B: %d %v", st, out)
	}
	loaded := func(x *app.App) bool {
		for _, id := range x.Facts.Engines.LoadedEnvironments() {
			if id == envID {
				return true
			}
		}
		return false
	}
	if !loaded(b) {
		t.Fatal("node B did not load the environment")
	}
	if st, out := call(t, "DELETE", urlA+"/v1/projects/default/environments/temp", res.Token, ""); st != 204 {
		t.Fatalf("delete: %d %v", st, out)
	}
	testwait.Until(t, 30*time.Second, "node B dropping the deleted environment's engine", func() bool { return !loaded(b) })
}
