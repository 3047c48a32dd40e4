package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apilog"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// BenchmarkListLogs times pages of the API log (GET /v1/logs) and of the
// decision log (GET /v1/decisions) at GATEHOUSE_LIST_LOGS rows of each
// (default 1M, in one organization; the decisions in one environment),
// with each documented filter and sort, on the SQLite log database and on
// PostgreSQL (VACUUM ANALYZE after the load, as autovacuum does soon
// after an insert-only table grows). The load is outside the timing:
//
//	go test ./internal/store -run XXX -bench ListLogs -benchtime 5x -timeout 60m
//	GATEHOUSE_LIST_LOGS=20000 go test ./internal/store -run XXX -bench ListLogs -benchtime 3x   # quick
//
// Pages are 20 rows as the API asks for them: newest first unless the
// case says otherwise, page=1 counted up to gatehouse.TotalCap
// ("page1"), a page by number half-way through the list ("deep"), a
// page by cursor from there ("cursor").
func BenchmarkListLogs(b *testing.B) {
	n := benchSize(b, "GATEHOUSE_LIST_LOGS", 1_000_000, 1000)
	for _, engine := range []string{store.SQLite, store.Postgres} {
		b.Run(engine, func(b *testing.B) {
			ctx := context.Background()
			db := openLogDB(b, engine)
			st := db.LogStore()
			t0 := time.Now().Add(-30 * 24 * time.Hour).Truncate(time.Hour)
			start := time.Now()
			shape := loadLogs(b, st, n, t0)
			if engine == store.Postgres {
				for _, q := range []string{"VACUUM ANALYZE api_log", "VACUUM ANALYZE decision_log"} {
					if _, err := db.Writer().ExecContext(ctx, q); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.Logf("%s: %d API log rows and %d decisions loaded in %v", engine, n, n, time.Since(start).Round(time.Second))

			type tc struct {
				name string
				list func(p gatehouse.PageRequest) (gatehouse.Page[struct{}], error)
				req  gatehouse.PageRequest
				rows int // the list's rows, for the deep page (0: no deep page)
			}
			calls := func(f apilog.Filter) func(p gatehouse.PageRequest) (gatehouse.Page[struct{}], error) {
				f.OrgID = "org1"
				return func(p gatehouse.PageRequest) (gatehouse.Page[struct{}], error) {
					res, err := st.ListAPILog(ctx, f, p)
					return gatehouse.Page[struct{}]{Total: res.Total, NextCursor: res.NextCursor, Items: make([]struct{}, len(res.Items))}, err
				}
			}
			// The same lists read without the call and decision counts
			// (SetCallRollup): deep pages by number skip every row before
			// them, as before the counts were read for them.
			skipping := db.LogStore()
			skipping.SetCallRollup(false)
			skipped := func(f apilog.Filter) func(p gatehouse.PageRequest) (gatehouse.Page[struct{}], error) {
				f.OrgID = "org1"
				return func(p gatehouse.PageRequest) (gatehouse.Page[struct{}], error) {
					res, err := skipping.ListAPILog(ctx, f, p)
					return gatehouse.Page[struct{}]{Total: res.Total, NextCursor: res.NextCursor, Items: make([]struct{}, len(res.Items))}, err
				}
			}
			decisions := func(f decision.Filter) func(p gatehouse.PageRequest) (gatehouse.Page[struct{}], error) {
				f.OrgID, f.EnvID = "org1", "e1"
				return func(p gatehouse.PageRequest) (gatehouse.Page[struct{}], error) {
					res, err := st.ListDecisions(ctx, f, p)
					return gatehouse.Page[struct{}]{Total: res.Total, NextCursor: res.NextCursor, Items: make([]struct{}, len(res.Items))}, err
				}
			}
			skippedDecisions := func(f decision.Filter) func(p gatehouse.PageRequest) (gatehouse.Page[struct{}], error) {
				f.OrgID, f.EnvID = "org1", "e1"
				return func(p gatehouse.PageRequest) (gatehouse.Page[struct{}], error) {
					res, err := skipping.ListDecisions(ctx, f, p)
					return gatehouse.Page[struct{}]{Total: res.Total, NextCursor: res.NextCursor, Items: make([]struct{}, len(res.Items))}, err
				}
			}
			desc := gatehouse.PageRequest{PerPage: 20, Sort: "timestamp", Desc: true}
			sorted := func(sort string, d bool) gatehouse.PageRequest {
				return gatehouse.PageRequest{PerPage: 20, Sort: sort, Desc: d}
			}
			day := t0.Add(15 * 24 * time.Hour)
			no := false
			cases := []tc{
				{"logs/all", calls(apilog.Filter{}), desc, n},
				{"logs/all-skipped", skipped(apilog.Filter{}), desc, n},
				{"logs/all-oldest-first", calls(apilog.Filter{}), sorted("timestamp", false), n},
				{"logs/all-oldest-first-skipped", skipped(apilog.Filter{}), sorted("timestamp", false), n},
				{"logs/env-e1-2xx", calls(apilog.Filter{EnvID: "e1", StatusClass: 2}), desc, shape.e1class2},
				{"logs/env-e1-2xx-skipped", skipped(apilog.Filter{EnvID: "e1", StatusClass: 2}), desc, shape.e1class2},
				{"logs/env-e3-skipped", skipped(apilog.Filter{EnvID: "e3"}), desc, shape.env3},
				{"logs/env-e3", calls(apilog.Filter{EnvID: "e3"}), desc, shape.env3},
				{"logs/project-p2", calls(apilog.Filter{ProjectID: "p2"}), desc, shape.project2},
				{"logs/actor-busy", calls(apilog.Filter{Actor: shape.busyActor}), desc, shape.busy},
				{"logs/actor-rare", calls(apilog.Filter{Actor: shape.rareActor}), desc, 0},
				{"logs/env-e1-actor-rare", calls(apilog.Filter{EnvID: "e1", Actor: shape.rareActor}), desc, 0},
				{"logs/status-500", calls(apilog.Filter{Status: 500}), desc, 0},
				{"logs/status-4xx", calls(apilog.Filter{StatusClass: 4}), desc, shape.class4},
				{"logs/env-e1-status-5xx", calls(apilog.Filter{EnvID: "e1", StatusClass: 5}), desc, 0},
				{"logs/method-DELETE", calls(apilog.Filter{Method: "DELETE"}), desc, shape.deletes},
				{"logs/writes", calls(apilog.Filter{Writes: true}), desc, shape.writes},
				{"logs/path-users", calls(apilog.Filter{PathPrefix: "/v1/users"}), desc, shape.users},
				{"logs/path-rare", calls(apilog.Filter{PathPrefix: "/v1/webhooks/"}), desc, 0},
				{"logs/path-one-user", calls(apilog.Filter{PathPrefix: "/v1/users/u-00042"}), desc, 0},
				{"logs/path-ten-tenants", calls(apilog.Filter{PathPrefix: "/v1/tenants/t-04"}), desc, 0},
				{"logs/actor-rare-path-users", calls(apilog.Filter{Actor: shape.rareActor, PathPrefix: "/v1/users"}), desc, 0},
				{"logs/path-rare-by-latency", calls(apilog.Filter{PathPrefix: "/v1/webhooks/"}), sorted("latency", true), 0},
				{"logs/request-id", calls(apilog.Filter{RequestID: shape.requestID}), desc, 0},
				{"logs/one-day", calls(apilog.Filter{Since: day, Until: day.Add(24 * time.Hour)}), desc, n / 30},
				{"logs/by-latency", calls(apilog.Filter{}), sorted("latency", true), n},
				{"logs/by-status", calls(apilog.Filter{}), sorted("status", false), n},
				{"logs/env-e1-by-latency", calls(apilog.Filter{EnvID: "e1"}), sorted("latency", true), 0},
				{"decisions/all", decisions(decision.Filter{}), desc, n},
				{"decisions/all-skipped", skippedDecisions(decision.Filter{}), desc, n},
				{"decisions/all-oldest-first", decisions(decision.Filter{}), sorted("timestamp", false), n},
				{"decisions/all-oldest-first-skipped", skippedDecisions(decision.Filter{}), sorted("timestamp", false), n},
				{"decisions/user", decisions(decision.Filter{User: "u-00042"}), desc, 0},
				{"decisions/by-user", decisions(decision.Filter{}), sorted("user", false), n},
				{"decisions/denied", decisions(decision.Filter{Allow: &no}), desc, shape.denied},
				{"decisions/denied-skipped", skippedDecisions(decision.Filter{Allow: &no}), desc, shape.denied},
				{"decisions/user-denied", decisions(decision.Filter{User: "u-00042", Allow: &no}), desc, 0},
				{"decisions/action", decisions(decision.Filter{Action: "delete"}), desc, n / 4},
				{"decisions/resource", decisions(decision.Filter{Resource: "type-07"}), desc, n / 20},
				{"decisions/tenant", decisions(decision.Filter{Tenant: "t-042"}), desc, 0},
				{"decisions/reason", decisions(decision.Filter{Reason: "unknown_user"}), desc, 0},
				{"decisions/role", decisions(decision.Filter{Role: "role-3"}), desc, 0},
				{"decisions/source-pdp", decisions(decision.Filter{Source: "pdp"}), desc, n / 10},
				{"decisions/request-id", decisions(decision.Filter{RequestID: shape.decisionRequestID}), desc, 0},
				{"decisions/one-day", decisions(decision.Filter{Since: day, Until: day.Add(24 * time.Hour)}), desc, n / 30},
			}
			for _, c := range cases {
				page1 := c.req
				page1.Page, page1.CountUpTo = 1, gatehouse.TotalCap
				runs := []struct {
					name string
					req  func() gatehouse.PageRequest
				}{{"page1", func() gatehouse.PageRequest { return page1 }}}
				if c.rows >= 2_000 {
					deep := page1
					deep.Page = c.rows / 2 / 20
					var cursor string
					runs = append(runs, struct {
						name string
						req  func() gatehouse.PageRequest
					}{"deep", func() gatehouse.PageRequest { return deep }}, struct {
						name string
						req  func() gatehouse.PageRequest
					}{"cursor", func() gatehouse.PageRequest {
						if cursor == "" {
							// The cursor of the page before the deep one.
							before := deep
							before.Page--
							res, err := c.list(before)
							if err != nil || res.NextCursor == "" {
								b.Fatalf("%s: no cursor half-way: %v", c.name, err)
							}
							cursor = res.NextCursor
						}
						p := c.req
						p.Cursor = cursor
						return p
					}})
				}
				for _, r := range runs {
					b.Run(c.name+"/"+r.name, func(b *testing.B) {
						req := r.req()
						res, err := c.list(req)
						if err != nil {
							b.Fatal(err)
						}
						if len(res.Items) == 0 && n >= 100_000 { // (a small run's rare filters may hold nothing)
							b.Fatalf("an empty page: %+v", req)
						}
						for b.Loop() {
							if _, err := c.list(req); err != nil {
								b.Fatal(err)
							}
						}
						b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
					})
				}
			}
		})
	}
}

// logShape is what loadLogs wrote: how many rows some filters hold, and
// values to filter by.
type logShape struct {
	env3, project2, busy, class4, deletes, writes, users, denied int
	e1class2                                                     int
	busyActor, rareActor, requestID, decisionRequestID           string
}

// loadLogs writes n API log calls of organization org1 (projects p1 with
// environments e1 and e2, p2 with e3, and a tenth without environment:
// organization keys and the dashboard) and n decisions of e1, spread over
// 30 days from t0 in time order, as a busy month of one organization.
func loadLogs(b *testing.B, st *store.LogStore, n int, t0 time.Time) logShape {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	step := 30 * 24 * time.Hour / time.Duration(n)
	var sh logShape
	actors := make([]string, 100)
	for i := range actors {
		actors[i] = fmt.Sprintf("01a20583-ec90-795c-81f0-%012d", i)
	}
	sh.busyActor, sh.rareActor = actors[0], actors[99]
	const batch = 1000
	calls := make([]apilog.Call, 0, batch)
	for i := range n {
		c := apilog.Call{ID: fmt.Sprintf("01a2%012d-%016x", i, rng.Uint64()), OrganizationID: "org1", Time: t0.Add(time.Duration(i) * step),
			RequestID: fmt.Sprintf("%024x", rng.Uint64()), ActorType: "key", ActorName: "ci", ClientIP: "10.0.0.1", UserAgent: "Go-http-client/1.1",
			RequestHeaders: map[string]string{"Content-Type": "application/json"}, LatencyMicros: 50 + rng.Int64N(50_000)}
		switch e := rng.IntN(10); {
		case e < 4:
			c.ProjectID, c.EnvironmentID = "p1", "e1"
		case e < 7:
			c.ProjectID, c.EnvironmentID = "p1", "e2"
		case e < 9:
			c.ProjectID, c.EnvironmentID = "p2", "e3"
			sh.env3++
			sh.project2++
		}
		// Actor 0 makes a third of the calls, 99 one in 10,000, the rest
		// share what is left.
		switch a := rng.IntN(10_000); {
		case a < 3_333:
			c.ActorID = actors[0]
			sh.busy++
		case a == 3_333:
			c.ActorID = actors[99]
		default:
			c.ActorID = actors[1+a%98]
		}
		switch m := rng.IntN(100); {
		case m < 70:
			c.Method = "GET"
		case m < 90:
			c.Method = "POST"
		case m < 95:
			c.Method = "PATCH"
		case m < 99:
			c.Method = "DELETE"
			sh.deletes++
		default:
			c.Method = "PUT"
		}
		if c.Method != "GET" {
			sh.writes++
		}
		switch p := rng.IntN(1000); {
		case p < 500:
			c.Route, c.Path = "/v1/allowed", "/v1/allowed"
		case p < 700:
			c.Route, c.Path = "/v1/users/{user}", fmt.Sprintf("/v1/users/u-%05d", rng.IntN(10_000))
			sh.users++
		case p < 850:
			c.Route, c.Path = "/v1/role-assignments", "/v1/role-assignments"
		case p < 999:
			c.Route, c.Path = "/v1/tenants/{tenant}", fmt.Sprintf("/v1/tenants/t-%03d", rng.IntN(100))
		default:
			c.Route, c.Path = "/v1/webhooks/{webhook}", "/v1/webhooks/wh-1"
		}
		switch s := rng.IntN(1000); {
		case s < 800:
			c.Status = 200
		case s < 900:
			c.Status = 201
		case s < 940:
			c.Status = 400
		case s < 970:
			c.Status = 404
		case s < 990:
			c.Status = 429
		case s < 999:
			c.Status = 503
		default:
			c.Status = 500
		}
		if c.Status >= 400 && c.Status < 500 {
			sh.class4++
		}
		if c.EnvironmentID == "e1" && c.Status/100 == 2 {
			sh.e1class2++
		}
		if i == n/3 {
			sh.requestID = c.RequestID
		}
		calls = append(calls, c)
		if len(calls) == batch || i == n-1 {
			if err := st.WriteAPILog(ctx, calls); err != nil {
				b.Fatal(err)
			}
			calls = calls[:0]
		}
	}
	entries := make([]decision.Entry, 0, batch)
	reasons := []string{"granted", "not_granted", "no_role_in_tenant", "unknown_user"}
	for i := range n {
		e := decision.Entry{ID: fmt.Sprintf("01a3%012d-%016x", i, rng.Uint64()), OrganizationID: "org1", ProjectID: "p1", EnvironmentID: "e1",
			Time: t0.Add(time.Duration(i) * step), Source: decision.SourceAPI, RequestID: fmt.Sprintf("%024x", rng.Uint64()), KeyID: "k1",
			User: fmt.Sprintf("u-%05d", rng.IntN(10_000)), Action: []string{"read", "write", "update", "delete"}[rng.IntN(4)],
			ResourceType: fmt.Sprintf("type-%02d", rng.IntN(20)), Tenant: fmt.Sprintf("t-%03d", rng.IntN(1000))}
		if rng.IntN(10) == 0 {
			e.Source = decision.SourcePDP
		}
		if rng.IntN(10) == 0 {
			e.Allow, e.Reason, e.Role = true, "granted", fmt.Sprintf("role-%d", rng.IntN(20))
		} else {
			e.Reason = reasons[1+rng.IntN(3)]
			sh.denied++
		}
		if i == n/3 {
			sh.decisionRequestID = e.RequestID
		}
		entries = append(entries, e)
		if len(entries) == batch || i == n-1 {
			if err := st.WriteDecisions(ctx, entries); err != nil {
				b.Fatal(err)
			}
			entries = entries[:0]
		}
	}
	return sh
}
