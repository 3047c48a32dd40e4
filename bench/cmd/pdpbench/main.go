// Command pdpbench compares Gatehouse's decision engine with OPA and Casbin
// on one data set (dataset M: 10k users,
// 1k tenants, 20 roles, 50 resource types × 4 actions, 100k assignments)
// and the same queries, checking that every engine gives the expected
// answer, then measures Gatehouse's HTTP check on loopback. Everything is
// in one run, so the ratios are comparable even on a noisy machine.
//
//	cd bench && go run ./cmd/pdpbench            # in-process + HTTP
//	cd bench && go run ./cmd/pdpbench -http=false
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/client/authz/authztest"
	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

func main() {
	httpToo := flag.Bool("http", true, "also measure the HTTP check of a real server on loopback")
	nq := flag.Int("queries", 100_000, "distinct queries (cycled)")
	flag.Parse()
	if err := run(*httpToo, *nq); err != nil {
		fmt.Fprintln(os.Stderr, "pdpbench:", err)
		os.Exit(1)
	}
}

type result struct {
	name           string
	mean, p50, p99 time.Duration
	allocs         float64
}

func run(httpToo bool, nq int) error {
	shape := authztest.Medium
	ds := authztest.Generate(shape, 1)
	qs := ds.Queries(shape, nq, 2)
	allowed := 0
	for _, q := range qs {
		if q.Want {
			allowed++
		}
	}
	fmt.Printf("dataset M: %d users, %d tenants, %d roles, %d types x %d actions, %d assignments; %d queries, %.1f%% allowed\n",
		shape.Users, shape.Tenants, shape.Roles, shape.ResourceTypes, shape.ActionsPerType, shape.Assignments, len(qs), 100*float64(allowed)/float64(len(qs)))
	fmt.Printf("go %s, %d CPUs\n\n", runtime.Version(), runtime.NumCPU())

	// Gatehouse in-process.
	heap0 := heapNow()
	start := time.Now()
	e := authz.New()
	if err := e.Load(ds.Data); err != nil {
		return err
	}
	fmt.Printf("gatehouse engine load: %v, heap %.1f MB\n", time.Since(start).Round(time.Millisecond), float64(heapNow()-heap0)/(1<<20))
	gh := measure("gatehouse authz.Engine", qs, func(q *authztest.Query) bool { return e.Check(q.User, q.Action, q.Resource, q.Tenant).Allow })
	floorE := authztest.NewFloor(ds)
	floor := measure("floor: plain Go maps", qs, func(q *authztest.Query) bool { return floorE.Check(q.User, q.Action, q.Resource, q.Tenant) })

	// OPA in-process (rego, prepared once).
	opaCheck, err := newOPA(ds)
	if err != nil {
		return err
	}
	opa := measure("OPA v1.22.2 rego (prepared)", qs, opaCheck)

	// Casbin with domains.
	casbinCheck, err := newCasbin(ds)
	if err != nil {
		return err
	}
	cb := measure("Casbin v2.135.0 Enforcer", qs[:min(len(qs), 20_000)], casbinCheck)

	fmt.Printf("\n%-32s %12s %12s %12s %10s %12s\n", "in-process check", "mean", "p50", "p99", "allocs/op", "vs gatehouse")
	for _, r := range []result{floor, gh, opa, cb} {
		fmt.Printf("%-32s %12v %12v %12v %10.1f %11.1fx\n", r.name, r.mean, r.p50, r.p99, r.allocs, float64(r.mean)/float64(gh.mean))
	}
	if httpToo {
		return runHTTP(ds, qs)
	}
	return nil
}

func heapNow() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// measure checks every query's answer, then times a batched loop for the
// mean and single calls for the percentiles (which include ~30 ns of timer).
func measure(name string, qs []authztest.Query, check func(*authztest.Query) bool) result {
	for i := range qs {
		if got := check(&qs[i]); got != qs[i].Want {
			fmt.Fprintf(os.Stderr, "%s: wrong answer for %+v: %v\n", name, qs[i], got)
			os.Exit(2)
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	mallocs := ms.Mallocs
	n := 0
	start := time.Now()
	for time.Since(start) < 2*time.Second || n < len(qs) {
		for i := range qs {
			check(&qs[i])
		}
		n += len(qs)
		if n >= 5_000_000 {
			break
		}
	}
	mean := time.Since(start) / time.Duration(n)
	runtime.ReadMemStats(&ms)
	allocs := float64(ms.Mallocs-mallocs) / float64(n)
	samples := make([]time.Duration, 0, min(len(qs), 50_000))
	for i := 0; i < cap(samples); i++ {
		t := time.Now()
		check(&qs[i%len(qs)])
		samples = append(samples, time.Since(t))
	}
	slices.Sort(samples)
	return result{name: name, mean: mean, p50: samples[len(samples)/2], p99: samples[len(samples)*99/100], allocs: allocs}
}

func newOPA(ds *authztest.Dataset) (func(*authztest.Query) bool, error) {
	assignments := map[string]any{}
	for u, tenants := range ds.Held {
		tm := map[string]any{}
		for t, roles := range tenants {
			rs := make([]any, len(roles))
			for i, r := range roles {
				rs[i] = r
			}
			tm[t] = rs
		}
		assignments[u] = tm
	}
	grants := map[string]any{}
	for role, perms := range ds.Grants {
		rm := map[string]any{}
		for p := range perms {
			res, act, _ := strings.Cut(p, ":")
			am, _ := rm[res].(map[string]any)
			if am == nil {
				am = map[string]any{}
				rm[res] = am
			}
			am[act] = true
		}
		grants[role] = rm
	}
	store := inmem.NewFromObject(map[string]any{"assignments": assignments, "grants": grants})
	pq, err := rego.New(
		rego.Query("data.authz.allow"),
		rego.Module("authz.rego", `package authz
default allow := false
allow if {
	some role in data.assignments[input.user][input.tenant]
	data.grants[role][input.resource][input.action]
}`),
		rego.Store(store),
	).PrepareForEval(context.Background())
	if err != nil {
		return nil, fmt.Errorf("opa: %w", err)
	}
	return func(q *authztest.Query) bool {
		rs, err := pq.Eval(context.Background(), rego.EvalInput(map[string]any{"user": q.User, "tenant": q.Tenant, "resource": q.Resource, "action": q.Action}))
		if err != nil || len(rs) != 1 {
			panic(fmt.Sprint("opa eval: ", err))
		}
		return rs[0].Expressions[0].Value == true
	}, nil
}

func newCasbin(ds *authztest.Dataset) (func(*authztest.Query) bool, error) {
	m, err := model.NewModelFromString(`[request_definition]
r = sub, dom, obj, act
[policy_definition]
p = sub, obj, act
[role_definition]
g = _, _, _
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = r.obj == p.obj && r.act == p.act && g(r.sub, p.sub, r.dom)`)
	if err != nil {
		return nil, err
	}
	en, err := casbin.NewEnforcer(m)
	if err != nil {
		return nil, err
	}
	var ps, gs [][]string
	for role, perms := range ds.Grants {
		for p := range perms {
			res, act, _ := strings.Cut(p, ":")
			ps = append(ps, []string{role, res, act})
		}
	}
	for _, a := range ds.Data.Assignments {
		gs = append(gs, []string{a.User, a.Role, a.Tenant})
	}
	if _, err := en.AddPolicies(ps); err != nil {
		return nil, err
	}
	if _, err := en.AddGroupingPolicies(gs); err != nil {
		return nil, err
	}
	return func(q *authztest.Query) bool {
		ok, err := en.Enforce(q.User, q.Tenant, q.Resource, q.Action)
		if err != nil {
			panic(err)
		}
		return ok
	}, nil
}

// runHTTP loads the data set into a real server (embedded SQLite), then
// measures POST /v1/allowed with an environment key over loopback.
func runHTTP(ds *authztest.Dataset, qs []authztest.Query) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "pdpbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := config.Default()
	cfg.DataDir = dir
	a, err := app.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	defer a.Close()
	res, err := a.Init(ctx, app.DefaultInitOptions())
	if err != nil {
		return err
	}
	envID := res.Bootstrap.Environments[0].ID
	fmt.Printf("\nloading dataset M into the server (SQLite, one transaction per write, as the API does)...\n")
	start := time.Now()
	if err := load(ctx, a.Facts, envID, ds); err != nil {
		return err
	}
	fmt.Printf("  %v\n", time.Since(start).Round(time.Second))
	a.Facts.Engines.Forget(envID)
	heap0 := heapNow()
	start = time.Now()
	if _, err := a.Facts.Engines.Get(ctx, envID); err != nil {
		return err
	}
	fmt.Printf("engine load from the database (100k assignments): %v, heap %.1f MB\n", time.Since(start).Round(time.Millisecond), float64(heapNow()-heap0)/(1<<20))

	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	body := new(bytes.Buffer)
	_ = json.NewEncoder(body).Encode(map[string]any{"name": "bench", "level": "environment", "project": "default", "environment": "development", "scopes": []string{"check:access"},
		"rate_limit_per_hour": 100_000_000}) // limited (the limiter runs), but not within this run
	req, _ := http.NewRequest("POST", srv.URL+"/v1/api-keys", body)
	req.Header.Set("Authorization", "Bearer "+res.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	var created struct{ Data struct{ Token string } }
	_ = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	key := created.Data.Token

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	one := func(q *authztest.Query) (time.Duration, error) {
		b, _ := json.Marshal(map[string]any{"user": q.User, "action": q.Action, "resource": map[string]any{"type": q.Resource, "tenant": q.Tenant}})
		r, _ := http.NewRequest("POST", srv.URL+"/v1/allowed", bytes.NewReader(b))
		r.Header.Set("Authorization", "Bearer "+key)
		r.Header.Set("Content-Type", "application/json")
		t := time.Now()
		resp, err := client.Do(r)
		if err != nil {
			return 0, err
		}
		var out struct{ Data struct{ Allow bool } }
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		d := time.Since(t)
		if err != nil || resp.StatusCode != 200 {
			return 0, fmt.Errorf("status %d: %v", resp.StatusCode, err)
		}
		if out.Data.Allow != q.Want {
			return 0, fmt.Errorf("wrong answer over HTTP for %+v", q)
		}
		return d, nil
	}
	for i := 0; i < 200; i++ { // warm-up
		if _, err := one(&qs[i]); err != nil {
			return err
		}
	}
	report := func(label string, workers, n int) error {
		lat := make([]time.Duration, n)
		var wg sync.WaitGroup
		var firstErr error
		var mu sync.Mutex
		start := time.Now()
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; i < n; i += workers {
					d, err := one(&qs[(i+1000)%len(qs)])
					if err != nil {
						mu.Lock()
						firstErr = err
						mu.Unlock()
						return
					}
					lat[i] = d
				}
			}(w)
		}
		wg.Wait()
		if firstErr != nil {
			return firstErr
		}
		el := time.Since(start)
		slices.Sort(lat)
		fmt.Printf("%-28s p50 %8v  p99 %8v  %8.0f checks/s\n", label, lat[n/2].Round(time.Microsecond), lat[n*99/100].Round(time.Microsecond), float64(n)/el.Seconds())
		return nil
	}
	fmt.Println("\nHTTP POST /v1/allowed on loopback through the whole stack: key verification, rate limiter, API log written to SQLite\n(client and server share the 2 cores):")
	if err := report("sequential, 5,000 checks", 1, 5000); err != nil {
		return err
	}
	return report("4 clients, 5,000 checks", 4, 5000)
}

func load(ctx context.Context, svc *facts.Service, envID string, ds *authztest.Dataset) error {
	for _, r := range ds.Data.Resources {
		if _, err := svc.CreateResource(ctx, envID, facts.ResourceInput{Key: r.Key, Actions: r.Actions}); err != nil {
			return err
		}
	}
	for _, r := range ds.Data.Roles {
		if _, err := svc.CreateRole(ctx, envID, facts.RoleInput{Key: r.Key, Permissions: r.Permissions}); err != nil {
			return err
		}
	}
	for _, u := range ds.Data.Users {
		if _, err := svc.CreateUser(ctx, envID, facts.UserInput{Key: u.Key, Email: u.Email}); err != nil {
			return err
		}
	}
	for _, t := range ds.Data.Tenants {
		if _, err := svc.CreateTenant(ctx, envID, facts.TenantInput{Key: t.Key, Name: t.Name}); err != nil {
			return err
		}
	}
	for _, a := range ds.Data.Assignments {
		if _, err := svc.Assign(ctx, envID, facts.AssignInput{User: a.User, Role: a.Role, Tenant: a.Tenant}); err != nil {
			return err
		}
	}
	return nil
}
