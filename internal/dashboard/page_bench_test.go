package dashboard_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apilog"
	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

// BenchmarkDashboardPagesAtScale times the policy editor, a user's page,
// the decision log, the users list and the usage page as a signed-in Admin gets them, server and loopback
// included, in an environment of GATEHOUSE_DASH_ASSIGNMENTS role
// assignments (default 1M) of a tenth as many users (100k), over 1,000
// tenants and 20 roles (each extending the one before, over 5 resource
// types of 4 actions, with 3 resource roles each), on SQLite. The users,
// tenants and assignments are stored through the bulk insert paths with
// the server stopped (outside the timing; minutes at 1M); the server then
// starts on that database as it would after a restart. Runs only when
// asked for:
//
//	go test ./internal/dashboard -run XXX -bench DashboardPagesAtScale -benchtime 20x -timeout 60m
func BenchmarkDashboardPagesAtScale(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("GATEHOUSE_DASH_ASSIGNMENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			b.Fatalf("GATEHOUSE_DASH_ASSIGNMENTS=%q: want a number >= 1000", v)
		}
	}
	ctx := context.Background()
	cfg := config.Default()
	cfg.DataDir = b.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := app.New(ctx, cfg, quiet)
	if err != nil {
		b.Fatal(err)
	}
	res, err := a.Init(ctx, app.DefaultInitOptions())
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(a.Handler())
	s := &site{url: ts.URL, key: res.Token, setup: res.SetupPath, a: a}
	envID := benchAPI(b, s, "GET", "/v1/projects/default/environments/development", nil)["id"].(string)
	start := time.Now()
	loadEnv(b, a.Store, envID, n)
	b.Logf("loaded %d assignments of %d users in %s", n, n/10, time.Since(start).Round(time.Second))
	ts.Close()
	if err := a.Close(); err != nil {
		b.Fatal(err)
	}
	// The server starts again on the loaded database.
	if a, err = app.New(ctx, cfg, quiet); err != nil {
		b.Fatal(err)
	}
	ts = httptest.NewServer(a.Handler())
	b.Cleanup(func() { ts.Close(); a.Close() })
	s = &site{url: ts.URL, key: res.Token, setup: res.SetupPath, a: a}
	// The policy: 5 resource types, 3 resource roles each; the 20 roles
	// each grant one action and extend the one before.
	for i := range 5 {
		rk := fmt.Sprintf("res-%d", i)
		benchAPI(b, s, "POST", "/v1/resources", map[string]any{"key": rk, "actions": []string{"read", "write", "share", "delete"}})
		for j, k := range []string{"viewer", "editor", "owner"} {
			benchAPI(b, s, "POST", "/v1/resources/"+rk+"/roles", map[string]any{"key": k, "permissions": []string{[]string{"read", "write", "delete"}[j]}})
		}
	}
	for i := range 20 {
		patch := map[string]any{"permissions": []string{fmt.Sprintf("res-%d:%s", i%5, []string{"read", "write", "share", "delete"}[i%4])}}
		if i > 0 {
			patch["extends"] = []string{fmt.Sprintf("role-%02d", i-1)}
		}
		benchAPI(b, s, "PATCH", fmt.Sprintf("/v1/roles/role-%02d", i), patch)
	}
	benchAPI(b, s, "PATCH", "/v1/projects/default/environments/development/settings", map[string]any{"decision_log": "full"})
	user := fmt.Sprintf("u-%06d", n/20)
	for i := range 30 { // decisions about the user, for their page and the log
		benchAPI(b, s, "POST", "/v1/allowed", map[string]any{"user": user, "action": "read", "resource": map[string]any{"type": fmt.Sprintf("res-%d", i%5)}})
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if r, err := c.PostForm(s.url+s.setup, url.Values{"password": {"correct horse battery"}, "confirm": {"correct horse battery"}}); err != nil || r.StatusCode != 303 {
		b.Fatalf("setup: %v %v", r, err)
	}
	get := func(b *testing.B, path, want string) {
		r, err := c.Get(s.url + path)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != 200 || !strings.Contains(string(body), want) {
			b.Fatalf("GET %s: %d, without %q", path, r.StatusCode, want)
		}
	}
	// The decision log is written in batches.
	testwait.Until(b, 20*time.Second, "the 30 checks in the decision log", func() bool {
		r, err := c.Get(s.url + "/decisions?user=" + user)
		if err != nil {
			return false
		}
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		return strings.Count(string(body), `<tr class="decision `) == 30
	})
	for _, p := range []struct{ name, path, want string }{
		{"policy", "/policy", `data-cell="role-19:res-0:read"`},
		{"user", "/users/" + user, `id="effective-permissions"`},
		{"decisions", "/decisions", `<tr class="decision `},
		{"decisions-of-user", "/decisions?user=" + user + "&allow=false", `<tr class="decision denied`},
		{"users-list", "/users", user[:2]},
		{"usage", "/usage", `id="chart-calls-status"`},
	} {
		b.Run(p.name, func(b *testing.B) {
			get(b, p.path, p.want) // warm
			b.ResetTimer()
			for b.Loop() {
				get(b, p.path, p.want)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/page")
		})
	}
}

// benchAPI calls the API with the site's key in the default project's
// development environment and returns the answer's data.
func benchAPI(b *testing.B, s *site, method, path string, body any) map[string]any {
	b.Helper()
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	r, _ := http.NewRequest(method, s.url+path+"?project=default&environment=development", rd)
	r.Header.Set("Authorization", "Bearer "+s.key)
	r.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	if res.StatusCode/100 != 2 {
		b.Fatalf("%s %s: %d %v", method, path, res.StatusCode, out)
	}
	d, _ := out["data"].(map[string]any)
	return d
}

// loadEnv stores 20 roles, 1,000 tenants, n/10 users and n assignments
// (ten per user, in ten tenants) in environment env.
func loadEnv(b *testing.B, st *store.Store, env string, n int) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const tenants, roles, batch = 1000, 20, 20_000
	var roleIDs, tenantIDs []string
	for i := range roles {
		r := &facts.Role{ID: tenancy.NewID(), EnvID: env, Key: fmt.Sprintf("role-%02d", i), Name: fmt.Sprintf("Role %d", i), Permissions: []string{}, Extends: []string{}, CreatedAt: t0, UpdatedAt: t0}
		if err := st.CreateRole(ctx, r); err != nil {
			b.Fatal(err)
		}
		roleIDs = append(roleIDs, r.ID)
	}
	var tl []*facts.Tenant
	for i := range tenants {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		tl = append(tl, &facts.Tenant{ID: tenancy.NewID(), EnvID: env, Key: fmt.Sprintf("t-%04d", i), Name: fmt.Sprintf("Tenant %d", i), CreatedAt: at, UpdatedAt: at})
		tenantIDs = append(tenantIDs, tl[i].ID)
	}
	if err := st.InsertTenants(ctx, tl); err != nil {
		b.Fatal(err)
	}
	nUsers := n / 10
	userIDs := make([]string, nUsers)
	for from := 0; from < nUsers; from += batch {
		var us []*facts.User
		for i := from; i < min(from+batch, nUsers); i++ {
			at := t0.Add(time.Duration(i) * time.Millisecond)
			userIDs[i] = tenancy.NewID()
			us = append(us, &facts.User{ID: userIDs[i], EnvID: env, Key: fmt.Sprintf("u-%06d", i), Email: fmt.Sprintf("u%06d@example.com", i), CreatedAt: at, UpdatedAt: at})
		}
		if err := st.InTx(ctx, func(tx *store.Store) error { return tx.InsertUsers(ctx, us) }); err != nil {
			b.Fatal(err)
		}
	}
	for from := 0; from < n; from += batch {
		as := make([]facts.Assignment, 0, batch)
		for i := from; i < min(from+batch, n); i++ {
			u := i / 10
			as = append(as, facts.Assignment{ID: tenancy.NewID(), EnvID: env, UserID: userIDs[u], RoleID: roleIDs[(u+i)%roles],
				TenantID: tenantIDs[(u*37+i%10*101)%tenants], CreatedAt: t0.Add(time.Duration(i) * time.Microsecond * 10)})
		}
		if err := st.InTx(ctx, func(tx *store.Store) error {
			_, err := tx.InsertAssignments(ctx, as)
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUsagePageFirstLoad times the usage page's first load (the API's
// cache of settled call counts left out: its TTL is 0, so every load reads
// the database as a first one does) with 100,000 API calls in the last
// 22 hours of a SQLite log, per range, reading the per-minute call counts
// ("rollup") and, for comparison in the same run, counting the API log's
// rows as before them ("logscan"). Runs only when asked for:
//
//	go test ./internal/dashboard -run XXX -bench UsagePageFirstLoad -benchmem -benchtime 10x
func BenchmarkUsagePageFirstLoad(b *testing.B) {
	ctx := context.Background()
	cfg := config.Default()
	cfg.DataDir = b.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := app.New(ctx, cfg, quiet)
	if err != nil {
		b.Fatal(err)
	}
	res, err := a.Init(ctx, app.DefaultInitOptions())
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(a.Handler())
	b.Cleanup(func() { ts.Close(); a.Close() })
	a.CallCache.TTL = 0 // every load is a first one
	s := &site{url: ts.URL, key: res.Token, setup: res.SetupPath, a: a}
	orgID := benchAPI(b, s, "GET", "/v1/me", nil)["organization_id"].(string)
	now := time.Now().UTC()
	const n = 100_000
	batch := make([]apilog.Call, 0, 5000)
	for i := range n {
		batch = append(batch, apilog.Call{ID: fmt.Sprintf("seed-%06d", i), Time: now.Add(-time.Duration(i) * 800 * time.Millisecond), RequestID: fmt.Sprintf("r%d", i),
			OrganizationID: orgID, ActorType: "key", ActorID: fmt.Sprintf("key-%d", i%12), Method: "POST", Route: "/v1/users", Path: "/v1/users",
			Status: []int{200, 201, 404, 429, 500}[i%5]})
		if len(batch) == cap(batch) {
			if err := a.LogDB.LogStore().WriteAPILog(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if r, err := c.PostForm(s.url+s.setup, url.Values{"password": {"correct horse battery"}, "confirm": {"correct horse battery"}}); err != nil || r.StatusCode != 303 {
		b.Fatalf("setup: %v %v", r, err)
	}
	get := func(b *testing.B, path string) {
		r, err := c.Get(s.url + path)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != 200 || !strings.Contains(string(body), `id="chart-calls-status" data-total="`) || strings.Contains(string(body), `data-total="0"`) && strings.Contains(string(body), "chart-calls-status\" data-total=\"0\"") {
			b.Fatalf("GET %s: %d, without the calls counted", path, r.StatusCode)
		}
	}
	for _, rg := range []string{"24h", "30d"} {
		for _, mode := range []string{"logscan", "rollup"} {
			b.Run(rg+"/"+mode, func(b *testing.B) {
				a.LogStore.SetCallRollup(mode == "rollup")
				defer a.LogStore.SetCallRollup(true)
				get(b, "/usage?range="+rg) // warm the SQLite pages either way
				b.ResetTimer()
				for b.Loop() {
					get(b, "/usage?range="+rg)
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/page")
			})
		}
	}
}
