package store_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// BenchmarkListPages times list pages of a large environment (issue 16
// point 12): GATEHOUSE_LIST_ASSIGNMENTS role assignments (default 1M) of
// a tenth as many users, over 1,000 tenants and 20 roles (half of them of
// role-00), on SQLite and
// on PostgreSQL. The load (through the bulk insert paths) is outside the
// timing; it takes minutes, so the benchmark runs only when asked for:
//
//	go test ./internal/store -run XXX -bench ListPages -benchtime 20x -timeout 60m
//
// Each page is 20 items (the default) in the list's order, as the API
// asks for it: "page1" is page=1 (counted up to gatehouse.TotalCap),
// "start" is cursor=start (not counted), "cursor" continues from a
// cursor taken half-way through the list, "page-mid" is the page half-way
// through by number (asked for again and again: read by a skip each time)
// and "page-walk" the pages from there on by number, each the one after
// the page before (read through the cursor the store kept); in the default
// order "page-walk-appends" is the same walk with a user and an assignment
// added before each page, after every row (untimed), as on a live system. On PostgreSQL every case runs
// again under "vacuumed/" after the VACUUM (ANALYZE) that autovacuum
// makes after a bulk load. Then n/10 roles on instances join the
// environment and "merged/" times kind=all by cursor (one keyset over both
// assignment tables) from the start and from half-way, unfiltered and by
// user, role and tenant, then by page number (each beside "-union", the
// same page read from the sorted union of both tables), also sorted by the
// key of the user, role or tenant. "filtered/" (in both parts) times
// lists with two filters, or filtered by one key and sorted by another's.
// With GATEHOUSE_LIST_EXPLAIN=1 PostgreSQL's plans
// of the merged reads are logged (-v) and a sequential scan fails.
func BenchmarkListPages(b *testing.B) {
	n := benchSize(b, "GATEHOUSE_LIST_ASSIGNMENTS", 1_000_000, 1000)
	onBenchEngines(b, func(b *testing.B, db *store.DB) {
		db.SetSecrets(storetest.Ring(b))
		st := db.Store()
		start := time.Now()
		env, mid := loadBig(b, db, n)
		b.Logf("%s: loaded %d assignments and %d users in %s", db.Engine, n, n/10, time.Since(start).Round(time.Second))
		ctx := context.Background()
		deep := func(list func(gatehouse.PageRequest) (string, error), mid int, sort string, desc bool) string {
			// A cursor half-way through: the page at that offset (slow,
			// untimed) hands it out.
			c, err := list(gatehouse.PageRequest{Page: mid, PerPage: 20, Sort: sort, Desc: desc})
			if err != nil || c == "" {
				b.Fatalf("cursor at page %d: %q, %v", mid, c, err)
			}
			return c
		}
		// As an import does when it ends, split the marks the load
		// counted on the first (marks.go).
		start = time.Now()
		for _, table := range []string{"authz_users", "authz_tenants", "authz_role_assignments"} {
			if err := st.SplitMarks(ctx, table, env); err != nil {
				b.Fatal(err)
			}
		}
		b.Logf("%s: split the list marks in %s", db.Engine, time.Since(start).Round(time.Millisecond))
		// The lists read through lst: st, or (skipping) st without kept
		// cursors or list marks, so that a page-mid case is a skip
		// every time, or (marked) st without kept cursors, so that it
		// is found through the marks every time.
		lst := st
		// timer is the running case's benchmark (set by run below),
		// whose timer untimed work stops: not this engine's b.
		var timer *testing.B
		skipping := func(list func(gatehouse.PageRequest) (string, error)) func(gatehouse.PageRequest) (string, error) {
			return func(p gatehouse.PageRequest) (string, error) {
				lst = store.WithoutMarks(store.WithoutAnchors(st))
				defer func() { lst = st }()
				return list(p)
			}
		}
		marked := func(list func(gatehouse.PageRequest) (string, error)) func(gatehouse.PageRequest) (string, error) {
			return func(p gatehouse.PageRequest) (string, error) {
				lst = store.WithoutAnchors(st)
				defer func() { lst = st }()
				return list(p)
			}
		}
		// deleteOne deletes (untimed) an assignment from the first
		// tenth of the list: every row after it moves up one.
		deleteOne := func() {
			timer.StopTimer()
			defer timer.StartTimer()
			var u, r, t string
			if err := db.Writer().QueryRowContext(ctx, fmt.Sprintf("SELECT user_id, role_id, tenant_id FROM authz_role_assignments WHERE env_id = $1 ORDER BY created_at, id LIMIT 1 OFFSET %d", rand.IntN(max(n/10, 1))), env).Scan(&u, &r, &t); err != nil {
				b.Fatal(err)
			}
			if err := st.DeleteAssignment(ctx, env, u, r, t); err != nil {
				b.Fatal(err)
			}
		}
		as := func(f facts.AssignmentFilter) func(gatehouse.PageRequest) (string, error) {
			f.EnvID, f.Kind = env, facts.AllAssignments // the API's default
			return func(p gatehouse.PageRequest) (string, error) {
				res, err := lst.ListAssignments(ctx, f, p)
				if err == nil && len(res.Items) == 0 {
					err = fmt.Errorf("empty page")
				}
				return res.NextCursor, err
			}
		}
		users := func(p gatehouse.PageRequest) (string, error) {
			res, err := lst.ListUsers(ctx, facts.Filter{EnvID: env}, p)
			if err == nil && len(res.Items) == 0 {
				err = fmt.Errorf("empty page")
			}
			return res.NextCursor, err
		}
		type tc struct {
			name string
			list func(gatehouse.PageRequest) (string, error)
			req  func() gatehouse.PageRequest
		}
		var cases []tc
		var appendRole, appendTenant string
		appended := 0
		appendOne := func() {
			if appendRole == "" {
				for q, dst := range map[string]*string{"SELECT id FROM authz_roles WHERE env_id = $1 ORDER BY key LIMIT 1": &appendRole,
					"SELECT id FROM authz_tenants WHERE env_id = $1 ORDER BY key LIMIT 1": &appendTenant} {
					if err := db.Writer().QueryRowContext(ctx, q, env).Scan(dst); err != nil {
						b.Fatal(err)
					}
				}
			}
			appended++
			now := time.Now()
			u := &facts.User{ID: tenancy.NewID(), EnvID: env, Key: fmt.Sprintf("walker-%d", appended), CreatedAt: now, UpdatedAt: now}
			if err := st.CreateUser(ctx, u); err != nil {
				b.Fatal(err)
			}
			if err := st.CreateAssignment(ctx, &facts.Assignment{ID: tenancy.NewID(), EnvID: env, UserID: u.ID, RoleID: appendRole, TenantID: appendTenant, CreatedAt: now}); err != nil {
				b.Fatal(err)
			}
		}
		// walk reads the pages from mid on by number, one page further
		// each time, as a client walking the list does: the page before
		// mid is read untimed, and each timed page follows the one
		// before it (the store's kept cursor: anchor.go).
		// With appends, a user and an assignment are added (untimed)
		// before each page, after every row, as on a live system.
		walk := func(name string, list func(gatehouse.PageRequest) (string, error), mid int, sort string, desc, appends bool) tc {
			var next int
			mid = max(mid, 1000/20+2) // the page before it deep too
			req := gatehouse.PageRequest{PerPage: 20, Sort: sort, Desc: desc, CountUpTo: gatehouse.TotalCap}
			suffix := "/page-walk"
			if appends {
				suffix = "/page-walk-appends"
			}
			return tc{name + suffix, func(p gatehouse.PageRequest) (string, error) {
				if appends {
					timer.StopTimer()
					appendOne()
					timer.StartTimer()
				}
				p.Page = next
				if next++; next == mid+40 {
					next = mid // back to a page whose cursor is kept, not past the end
				}
				return list(p)
			}, func() gatehouse.PageRequest {
				p := req
				p.Page = mid - 1
				if _, err := list(p); err != nil {
					b.Fatalf("%s: page %d: %v", name, mid-1, err)
				}
				next = mid
				return req
			}}
		}
		page := func(name string, list func(gatehouse.PageRequest) (string, error), mid int, sort string, desc bool) {
			cases = append(cases, tc{name + "/page1", list, func() gatehouse.PageRequest {
				return gatehouse.PageRequest{Page: 1, PerPage: 20, Sort: sort, Desc: desc, CountUpTo: gatehouse.TotalCap}
			}})
			cases = append(cases, tc{name + "/start", list, func() gatehouse.PageRequest {
				return gatehouse.PageRequest{PerPage: 20, Sort: sort, Desc: desc, Cursor: store.StartCursor}
			}})
			// Page number mid, half-way through: read through the row
			// before it (the store's deep-page path), counted up to
			// TotalCap as the API counts.
			cases = append(cases, tc{name + "/page-mid", skipping(list), func() gatehouse.PageRequest {
				return gatehouse.PageRequest{Page: mid, PerPage: 20, Sort: sort, Desc: desc, CountUpTo: gatehouse.TotalCap}
			}})
			// The same page read by plain OFFSET (the store before the
			// deep-page path), for the ratio.
			cases = append(cases, tc{name + "/page-mid-offset", func(p gatehouse.PageRequest) (string, error) {
				defer store.SetDeepOffset(math.MaxInt)()
				return skipping(list)(p)
			}, func() gatehouse.PageRequest {
				return gatehouse.PageRequest{Page: mid, PerPage: 20, Sort: sort, Desc: desc, CountUpTo: gatehouse.TotalCap}
			}})
			if sort == "" || strings.HasPrefix(name, "assignments-by-") {
				// The same page found through the list marks (the
				// default order, or the key marks of a sort by key),
				// and after a delete before it.
				cases = append(cases, tc{name + "/page-mid-marked", marked(list), func() gatehouse.PageRequest {
					return gatehouse.PageRequest{Page: mid, PerPage: 20, Sort: sort, Desc: desc, CountUpTo: gatehouse.TotalCap}
				}})
				cases = append(cases, tc{name + "/page-mid-marked-after-delete", func(p gatehouse.PageRequest) (string, error) {
					deleteOne()
					return marked(list)(p)
				}, func() gatehouse.PageRequest {
					return gatehouse.PageRequest{Page: mid, PerPage: 20, Sort: sort, Desc: desc, CountUpTo: gatehouse.TotalCap}
				}})
			}
			cases = append(cases, walk(name, list, mid, sort, desc, false))
			if sort == "" && !desc {
				cases = append(cases, walk(name, list, mid, sort, desc, true))
			}
			var cur string
			cases = append(cases, tc{name + "/cursor", list, func() gatehouse.PageRequest {
				if cur == "" {
					cur = deep(list, mid, sort, desc)
				}
				return gatehouse.PageRequest{PerPage: 20, Sort: sort, Desc: desc, Cursor: cur}
			}})
		}
		// filtered is the lists with two filters, or filtered by one
		// key and sorted by another's (filters.go): page 1 (counted
		// up to TotalCap) and, for the longer lists, a page by number
		// further in and a cursor page half-way to it.
		filtered := func() []tc {
			var out []tc
			for _, c := range []struct {
				name string
				f    facts.AssignmentFilter
				sort string
				page int
			}{
				// (Pages scaled to n, so that a small run's lists hold
				// them; 0: not at this n.)
				{"role-00-in-t-0420", facts.AssignmentFilter{Role: "role-00", Tenant: "t-0420"}, "", max(n/50_000, 1)},
				{"role-07-in-t-0420", facts.AssignmentFilter{Role: "role-07", Tenant: "t-0420"}, "", min(n/200_000, 1)},
				{"of-u-000500-role-00", facts.AssignmentFilter{User: "u-000500", Role: "role-00"}, "", 1},
				{"of-u-000500-by-role", facts.AssignmentFilter{User: "u-000500"}, "role", 1},
				{"in-t-0420-by-user", facts.AssignmentFilter{Tenant: "t-0420"}, "user", n / 25_000},
				{"in-t-0420-by-role", facts.AssignmentFilter{Tenant: "t-0420"}, "role", n / 25_000},
				{"of-role-07-by-user", facts.AssignmentFilter{Role: "role-07"}, "user", n / 1000},
				{"of-role-00-by-user", facts.AssignmentFilter{Role: "role-00"}, "user", n / 80},
				{"of-role-00-by-tenant", facts.AssignmentFilter{Role: "role-00"}, "tenant", n / 80},
			} {
				if c.page == 0 {
					continue
				}
				list := as(c.f)
				req := func(p int) func() gatehouse.PageRequest {
					return func() gatehouse.PageRequest {
						return gatehouse.PageRequest{Page: p, PerPage: 20, Sort: c.sort, CountUpTo: gatehouse.TotalCap}
					}
				}
				out = append(out, tc{"filtered/" + c.name + "/page1", list, req(1)})
				if c.page <= 1 {
					continue // a page or two of rows
				}
				out = append(out, tc{"filtered/" + c.name + fmt.Sprintf("/page%d", c.page), skipping(list), req(c.page)})
				if (c.sort == "user" || c.sort == "tenant") && c.f.Role != "" && c.f.User == "" && c.f.Tenant == "" {
					// The same page as a node reads it: by user through
					// the role's key marks (migration 00035); both kinds
					// by tenant through the role's counts per tenant.
					out = append(out, tc{"filtered/" + c.name + fmt.Sprintf("/page%d-marked", c.page), marked(list), req(c.page)})
				}
				var cur string
				out = append(out, tc{"filtered/" + c.name + "/cursor", list, func() gatehouse.PageRequest {
					if cur == "" {
						cur = deep(list, max(c.page/2, 1), c.sort, false)
					}
					return gatehouse.PageRequest{PerPage: 20, Sort: c.sort, Cursor: cur}
				}})
			}
			return out
		}
		cases = append(cases, filtered()...)
		page("assignments", as(facts.AssignmentFilter{}), mid, "", false)
		page("assignments-desc", as(facts.AssignmentFilter{}), mid, "", true)
		for _, s := range []string{"user", "role", "tenant"} {
			page("assignments-by-"+s, as(facts.AssignmentFilter{}), mid, s, false)
		}
		page("assignments-by-role-desc", as(facts.AssignmentFilter{}), mid, "role", true)
		first := func() gatehouse.PageRequest { return gatehouse.PageRequest{PerPage: 20, Cursor: store.StartCursor} }
		page1 := func() gatehouse.PageRequest {
			return gatehouse.PageRequest{Page: 1, PerPage: 20, CountUpTo: gatehouse.TotalCap}
		}
		cases = append(cases,
			tc{"assignments-of-user/start", as(facts.AssignmentFilter{User: "u-000500"}), first},
			tc{"assignments-of-role/start", as(facts.AssignmentFilter{Role: "role-07"}), first},
			tc{"assignments-in-tenant/start", as(facts.AssignmentFilter{Tenant: "t-0420"}), first},
			tc{"assignments-of-user/page1", as(facts.AssignmentFilter{User: "u-000500"}), page1},
			tc{"assignments-of-role/page1", as(facts.AssignmentFilter{Role: "role-07"}), page1},
			tc{"assignments-in-tenant/page1", as(facts.AssignmentFilter{Tenant: "t-0420"}), page1},
		)
		var roleCur string
		cases = append(cases, tc{"assignments-of-role/cursor", as(facts.AssignmentFilter{Role: "role-07"}), func() gatehouse.PageRequest {
			if roleCur == "" {
				c, err := as(facts.AssignmentFilter{Role: "role-07"})(gatehouse.PageRequest{Page: mid / 20, PerPage: 20})
				if err != nil {
					b.Fatal(err)
				}
				roleCur = c
			}
			return gatehouse.PageRequest{PerPage: 20, Cursor: roleCur}
		}})
		// One role's half of the list, filtered by it: through the
		// key marks of the sort by role.
		page("assignments-of-role-00", as(facts.AssignmentFilter{Role: "role-00"}), mid/2, "", false)
		page("assignments-of-role-00-desc", as(facts.AssignmentFilter{Role: "role-00"}), mid/2, "", true)
		page("users", users, mid/10, "", false)
		page("users-by-key", users, mid/10, "key", false)
		page("users-by-email", users, mid/10, "email", true)
		run := func(prefix string) {
			for _, c := range cases {
				b.Run(prefix+c.name, func(b *testing.B) {
					timer = b
					req := c.req()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						if _, err := c.list(req); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
				})
			}
		}
		run("")
		if db.Engine == store.Postgres {
			// Right after a bulk load no page of the new rows is marked
			// all-visible, so a count reads every row's heap entry instead
			// of the index alone. PostgreSQL's autovacuum vacuums a table
			// after a bulk insert (13 and later); the same cases again
			// after that vacuum, run here instead of waited for, are the
			// steady state.
			start := time.Now()
			if _, err := db.Writer().ExecContext(ctx, "VACUUM (ANALYZE) authz_role_assignments, authz_users, authz_roles, authz_tenants"); err != nil {
				b.Fatal(err)
			}
			b.Logf("postgres: VACUUM (ANALYZE) took %s", time.Since(start).Round(time.Millisecond))
			run("vacuumed/")
		}
		// Roles on instances join the environment: kind=all by created_at
		// is then one keyset over both tables, merged (by cursor).
		start = time.Now()
		nInst, t0 := loadInstanceRoles(b, db, env, n)
		b.Logf("%s: loaded %d assignments on instances in %s", db.Engine, nInst, time.Since(start).Round(time.Second))
		midAt := t0.Add(time.Duration(n/2) * time.Microsecond * 10)
		if db.Engine == store.Postgres && os.Getenv("GATEHOUSE_LIST_EXPLAIN") != "" {
			explainMerged(b, db, env, midAt)
		}
		merged := func(f facts.AssignmentFilter, desc bool, deep bool) tc {
			list := as(f)
			f.EnvID, f.Kind = env, facts.AllAssignments
			return tc{"", list, func() gatehouse.PageRequest {
				if !deep {
					return gatehouse.PageRequest{PerPage: 20, Desc: desc, Cursor: store.StartCursor}
				}
				return gatehouse.PageRequest{PerPage: 20, Desc: desc, Cursor: store.MergedCursorAt(f, desc, midAt)}
			}}
		}
		cases = nil
		for _, m := range []struct {
			name       string
			f          facts.AssignmentFilter
			desc, deep bool
		}{
			{"kind-all/start", facts.AssignmentFilter{}, false, false},
			{"kind-all/cursor", facts.AssignmentFilter{}, false, true},
			{"kind-all-desc/cursor", facts.AssignmentFilter{}, true, true},
			{"kind-all-of-user/start", facts.AssignmentFilter{User: "u-000500"}, false, false},
			{"kind-all-of-role/cursor", facts.AssignmentFilter{Role: "role-07"}, false, true},
			{"kind-all-in-tenant/cursor", facts.AssignmentFilter{Tenant: "t-0420"}, false, true},
		} {
			c := merged(m.f, m.desc, m.deep)
			c.name = m.name
			cases = append(cases, c)
		}
		// By page number, counted up to TotalCap as the API counts: the
		// merged read, and (-union) the same page from the union of both
		// tables sorted, as the store read pages by number before.
		for _, m := range []struct {
			name string
			f    facts.AssignmentFilter
			page int
			desc bool
			sort string
		}{
			{"kind-all/page1", facts.AssignmentFilter{}, 1, false, ""},
			{"kind-all-desc/page10", facts.AssignmentFilter{}, 10, true, ""},
			{"kind-all-of-user/page1", facts.AssignmentFilter{User: "u-000500"}, 1, false, ""},
			{"kind-all-in-tenant/page1", facts.AssignmentFilter{Tenant: "t-0420"}, 1, false, ""},
			{"kind-all/page-mid", facts.AssignmentFilter{}, mid, false, ""},
			{"kind-all-by-user/page1", facts.AssignmentFilter{}, 1, false, "user"},
			{"kind-all-by-role-desc/page10", facts.AssignmentFilter{}, 10, true, "role"},
			{"kind-all-by-tenant/page1", facts.AssignmentFilter{}, 1, false, "tenant"},
			{"kind-all-by-user/page-mid", facts.AssignmentFilter{}, mid, false, "user"},
		} {
			req := func() gatehouse.PageRequest {
				return gatehouse.PageRequest{Page: m.page, PerPage: 20, Desc: m.desc, Sort: m.sort, CountUpTo: gatehouse.TotalCap}
			}
			anchored := as(m.f)
			if m.page == mid {
				cases = append(cases, walk(strings.TrimSuffix(m.name, "/page-mid"), anchored, mid, m.sort, m.desc, false))
			}
			list := skipping(anchored)
			cases = append(cases, tc{m.name, list, req}, tc{m.name + "-union", func(p gatehouse.PageRequest) (string, error) {
				defer store.SetMergedByNumber(false)()
				return list(p)
			}, req})
		}
		// Page mid found through both tables' list marks
		// (mergedmarks.go), either way, and after a delete before it;
		// kind-all/page-mid above is the same page by a skip.
		for _, desc := range []bool{false, true} {
			name := "kind-all"
			if desc {
				name += "-desc"
			}
			req := func() gatehouse.PageRequest {
				return gatehouse.PageRequest{Page: mid, PerPage: 20, Desc: desc, CountUpTo: gatehouse.TotalCap}
			}
			list := marked(as(facts.AssignmentFilter{}))
			cases = append(cases, tc{name + "/page-mid-marked", list, req}, tc{name + "/page-mid-skip", skipping(as(facts.AssignmentFilter{})), req})
			if !desc {
				cases = append(cases, tc{name + "/page-mid-marked-after-delete", func(p gatehouse.PageRequest) (string, error) {
					deleteOne()
					return list(p)
				}, req})
			}
		}
		// Page mid of both kinds sorted by key, found through both
		// tables' key marks (keymerge.go); kind-all-by-user/page-mid
		// above is the same page by the walk over the keys.
		for _, m := range []struct {
			name, sort string
			desc       bool
		}{{"kind-all-by-user", "user", false}, {"kind-all-by-role-desc", "role", true}, {"kind-all-by-tenant", "tenant", false}} {
			req := func() gatehouse.PageRequest {
				return gatehouse.PageRequest{Page: mid, PerPage: 20, Desc: m.desc, Sort: m.sort, CountUpTo: gatehouse.TotalCap}
			}
			list := marked(as(facts.AssignmentFilter{}))
			cases = append(cases, tc{m.name + "/page-mid-marked", list, req}, tc{m.name + "/page-mid-marked-after-delete", func(p gatehouse.PageRequest) (string, error) {
				deleteOne()
				return list(p)
			}, req})
		}
		// Deep pages of one role's assignments of both kinds: of
		// role-07 (a tenant role and a resource role: about 46,000
		// rows at 1M), page 1,000, by the skip (above the depth from
		// which the marks are read, 50,000), and of role-00 (half of
		// the tenant assignments), page 12,500, through both tables'
		// key marks (keymerge.go) and by a skip.
		// deepAt is page p, or 51 (past deepOffset's 1,000 rows) when p
		// is less and the list is long enough (not in a small run).
		deepAt := func(p int) int {
			if n >= 100_000 {
				return max(p, 51)
			}
			return max(p, 1)
		}
		for _, desc := range []bool{false, true} {
			d := ""
			if desc {
				d = "-desc"
			}
			for _, r := range []struct {
				role string
				page int
			}{{"role-07", deepAt(n / 1000)}, {"role-00", deepAt(n / 80)}} {
				req := func() gatehouse.PageRequest {
					return gatehouse.PageRequest{Page: r.page, PerPage: 20, Desc: desc, CountUpTo: gatehouse.TotalCap}
				}
				list := as(facts.AssignmentFilter{Role: r.role})
				cases = append(cases, tc{"kind-all-of-" + r.role + d + "/page-deep", marked(list), req}, tc{"kind-all-of-" + r.role + d + "/page-deep-skip", skipping(list), req})
			}
		}
		cases = append(cases, filtered()...)
		run("merged/")
		hits, stale := db.AnchorPages()
		b.Logf("%s: %d pages by number read through a kept cursor, %d kept cursors outdated", db.Engine, hits, stale)
	})
}

// explainMerged fails unless PostgreSQL reads a merged page (the reads of
// listMergedAssignments half-way through the list, both orders, and the
// instance side under a tenant filter) by index, and logs the plans.
func explainMerged(b *testing.B, db *store.DB, env string, at time.Time) {
	ctx := context.Background()
	var tenant string
	if err := db.Writer().QueryRowContext(ctx, "SELECT id FROM authz_tenants WHERE env_id = $1 AND key = 't-0420'", env).Scan(&tenant); err != nil {
		b.Fatal(err)
	}
	k := at.UnixMicro()
	const inst = "JOIN authz_users u ON u.id = a.user_id JOIN authz_resource_roles rr ON rr.id = a.role_id JOIN authz_instances i ON i.id = a.instance_id" +
		" JOIN authz_resources res ON res.id = i.resource_id JOIN authz_tenants t ON t.id = i.tenant_id"
	const ten = "JOIN authz_users u ON u.id = a.user_id JOIN authz_roles r ON r.id = a.role_id JOIN authz_tenants t ON t.id = a.tenant_id"
	for _, q := range []struct {
		name, table, cond, joins, dir string
		args                          []any
	}{
		{"instances", "authz_instance_assignments", "a.env_id = $1 AND a.created_at >= $2 AND (a.created_at > $2 OR a.id > '0')", inst, "", []any{env, k}},
		{"instances desc", "authz_instance_assignments", "a.env_id = $1 AND a.created_at <= $2 AND (a.created_at < $2 OR a.id < 'g')", inst, " DESC", []any{env, k}},
		{"tenant roles", "authz_role_assignments", "a.env_id = $1 AND a.created_at >= $2 AND (a.created_at > $2 OR a.id > '0')", ten, "", []any{env, k}},
		{"instances of a tenant", "authz_instance_assignments", "a.instance_id IN (SELECT id FROM authz_instances WHERE tenant_id = $1) AND a.created_at >= $2 AND (a.created_at > $2 OR a.id > '0')", inst, "", []any{tenant, k}},
	} {
		query := fmt.Sprintf("EXPLAIN (ANALYZE, BUFFERS) SELECT a.id, u.key, t.key FROM (SELECT * FROM %s a WHERE %s ORDER BY a.created_at%s, a.id%s LIMIT 21) a %s ORDER BY a.created_at%s, a.id%s",
			q.table, q.cond, q.dir, q.dir, q.joins, q.dir, q.dir)
		rows, err := db.Writer().QueryContext(ctx, query, q.args...)
		if err != nil {
			b.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				b.Fatal(err)
			}
			plan = append(plan, line)
		}
		rows.Close()
		text := strings.Join(plan, "\n")
		b.Logf("postgres plan, %s:\n%s", q.name, text)
		if strings.Contains(text, "Seq Scan on "+q.table) {
			b.Errorf("%s: a sequential scan of %s", q.name, q.table)
		}
	}
}

// loadInstanceRoles adds to env n/10 role assignments on instances (of
// n/100 instances of one resource type with 5 roles, each of a user of
// loadBig in one of its tenants), their created_at interleaved with the
// tenant assignments' over the whole list, and returns their number and
// loadBig's first instant.
func loadInstanceRoles(b *testing.B, db *store.DB, env string, n int) (int, time.Time) {
	ctx := context.Background()
	st := db.Store()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	res := &facts.Resource{ID: tenancy.NewID(), EnvID: env, Key: "doc", Name: "Doc", Actions: []string{"read"}, Attributes: map[string]facts.AttributeDef{},
		Config: map[string]any{}, Status: "active", CreatedAt: t0, UpdatedAt: t0}
	if err := st.CreateResource(ctx, res); err != nil {
		b.Fatal(err)
	}
	var roleIDs []string
	for i := 0; i < 5; i++ {
		r := &facts.ResourceRole{ID: tenancy.NewID(), EnvID: env, ResourceID: res.ID, Key: fmt.Sprintf("role-%02d", i+5), Name: "R", Permissions: []string{"read"},
			Extends: []string{}, Attributes: map[string]any{}, CreatedAt: t0, UpdatedAt: t0}
		if err := st.CreateResourceRole(ctx, r); err != nil {
			b.Fatal(err)
		}
		roleIDs = append(roleIDs, r.ID)
	}
	read := func(query string, args ...any) []string {
		rows, err := db.Writer().QueryContext(ctx, query, args...)
		if err != nil {
			b.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				b.Fatal(err)
			}
			out = append(out, id)
		}
		return out
	}
	tenantIDs := read("SELECT id FROM authz_tenants WHERE env_id = $1 ORDER BY key", env)
	userIDs := read("SELECT id FROM authz_users WHERE env_id = $1 ORDER BY key", env)
	nInst, nAs := max(n/100, 10), n/10
	var insts []*facts.Instance
	for i := 0; i < nInst; i++ {
		insts = append(insts, &facts.Instance{ID: tenancy.NewID(), EnvID: env, ResourceID: res.ID, Key: fmt.Sprintf("d-%06d", i), TenantID: tenantIDs[i%len(tenantIDs)],
			Attributes: map[string]any{}, CreatedAt: t0, UpdatedAt: t0})
	}
	if err := st.InTx(ctx, func(tx *store.Store) error { return tx.InsertInstances(ctx, insts) }); err != nil {
		b.Fatal(err)
	}
	const batch = 20_000
	for from := 0; from < nAs; from += batch {
		as := make([]facts.Assignment, 0, batch)
		for i := from; i < min(from+batch, nAs); i++ {
			// Between the tenant assignments 10i+4 and 10i+5 of loadBig.
			as = append(as, facts.Assignment{ID: tenancy.NewID(), EnvID: env, UserID: userIDs[i%len(userIDs)], RoleID: roleIDs[i%len(roleIDs)],
				InstanceID: insts[i%nInst].ID, TenantID: insts[i%nInst].TenantID, CreatedAt: t0.Add(time.Duration(10*i+4)*time.Microsecond*10 + 5*time.Microsecond)})
		}
		if err := st.InTx(ctx, func(tx *store.Store) error {
			in, err := tx.InsertInstanceAssignments(ctx, as)
			if err == nil && len(in) != len(as) {
				err = fmt.Errorf("%d of %d assignments on instances stored", len(in), len(as))
			}
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
	if db.Engine == store.Postgres {
		if _, err := db.Writer().ExecContext(ctx, "VACUUM (ANALYZE) authz_instance_assignments, authz_instances, authz_resource_roles"); err != nil {
			b.Fatal(err)
		}
	}
	return nAs, t0
}

// loadBig stores n assignments of n/10 users (10 each, over 1,000 tenants
// and 20 roles) in a new environment and returns it with the page number
// half-way through the assignments (20 a page).
func loadBig(b *testing.B, db *store.DB, n int) (string, int) {
	ctx := context.Background()
	st := db.Store()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	org := &tenancy.Organization{ID: tenancy.NewID(), Key: "bench", Name: "Bench", Settings: tenancy.DefaultOrgSettings(), CreatedAt: t0, UpdatedAt: t0}
	p := &tenancy.Project{ID: tenancy.NewID(), OrgID: org.ID, Key: "p", Name: "P", CreatedAt: t0, UpdatedAt: t0}
	env := &tenancy.Environment{ID: tenancy.NewID(), OrgID: org.ID, ProjectID: p.ID, Key: "e", Name: "e", Settings: tenancy.DefaultEnvSettings(), CreatedAt: t0, UpdatedAt: t0}
	for _, err := range []error{st.CreateOrganization(ctx, org), st.CreateProject(ctx, p), st.CreateEnvironment(ctx, env)} {
		if err != nil {
			b.Fatal(err)
		}
	}
	const tenants, roles = 1000, 20
	nUsers := n / 10
	var roleIDs, tenantIDs []string
	for i := 0; i < roles; i++ {
		r := &facts.Role{ID: tenancy.NewID(), EnvID: env.ID, Key: fmt.Sprintf("role-%02d", i), Name: fmt.Sprintf("Role %d", i), Permissions: []string{}, Extends: []string{}, CreatedAt: t0, UpdatedAt: t0}
		if err := st.CreateRole(ctx, r); err != nil {
			b.Fatal(err)
		}
		roleIDs = append(roleIDs, r.ID)
	}
	var ts []*facts.Tenant
	for i := 0; i < tenants; i++ {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		ts = append(ts, &facts.Tenant{ID: tenancy.NewID(), EnvID: env.ID, Key: fmt.Sprintf("t-%04d", i), Name: fmt.Sprintf("Tenant %d", i), CreatedAt: at, UpdatedAt: at})
		tenantIDs = append(tenantIDs, ts[i].ID)
	}
	if err := st.InsertTenants(ctx, ts); err != nil {
		b.Fatal(err)
	}
	const batch = 20_000
	userIDs := make([]string, nUsers)
	for from := 0; from < nUsers; from += batch {
		var us []*facts.User
		for i := from; i < min(from+batch, nUsers); i++ {
			at := t0.Add(time.Duration(i) * time.Millisecond)
			userIDs[i] = tenancy.NewID()
			us = append(us, &facts.User{ID: userIDs[i], EnvID: env.ID, Key: fmt.Sprintf("u-%06d", i), Email: fmt.Sprintf("u%06d@example.com", (i*7919)%nUsers), CreatedAt: at, UpdatedAt: at})
		}
		if err := st.InTx(ctx, func(tx *store.Store) error { return tx.InsertUsers(ctx, us) }); err != nil {
			b.Fatal(err)
		}
	}
	for from := 0; from < n; from += batch {
		as := make([]facts.Assignment, 0, batch)
		for i := from; i < min(from+batch, n); i++ {
			u := i / 10
			// The ten assignments of a user: ten tenants; the first five
			// of role-00 (half of all: a role nearly everyone holds, a
			// filtered list of n/2), the others of the other roles in turn.
			role := roleIDs[0]
			if i%10 >= 5 {
				role = roleIDs[1+(u+i)%(roles-1)]
			}
			as = append(as, facts.Assignment{ID: tenancy.NewID(), EnvID: env.ID, UserID: userIDs[u], RoleID: role,
				TenantID: tenantIDs[(u*37+i%10*101)%tenants], CreatedAt: t0.Add(time.Duration(i) * time.Microsecond * 10)})
		}
		if err := st.InTx(ctx, func(tx *store.Store) error {
			in, err := tx.InsertAssignments(ctx, as)
			if err == nil && len(in) != len(as) {
				err = fmt.Errorf("%d of %d assignments stored", len(in), len(as))
			}
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
	// PostgreSQL's autovacuum would analyze the tables soon after such a
	// load; do it now. SQLite keeps no statistics unless asked (the server
	// never does), so it plans without.
	if db.Engine == store.Postgres {
		if _, err := db.Writer().ExecContext(ctx, "ANALYZE"); err != nil {
			b.Fatal(err)
		}
	}
	return env.ID, n / 20 / 2
}

// BenchmarkListUsersSorted times deep pages of GET /v1/users sorted by
// key, email or updated_at (issue 16 point 12) at GATEHOUSE_LIST_USERS
// users (default 1M) in one environment, stored through InsertUsers (their
// emails and updated_at in another order than their keys and created_at):
// page mid (half-way) and page last, either way, through the users' key
// marks (migration 00031) and by the skip over the sort's index beside
// them. Only with -bench: the load takes minutes on each engine.
func BenchmarkListUsersSorted(b *testing.B) {
	n := benchSize(b, "GATEHOUSE_LIST_USERS", 1_000_000, 2000)
	onBenchEngines(b, func(b *testing.B, db *store.DB) {
		ctx := context.Background()
		db.SetSecrets(storetest.Ring(b))
		st := db.Store()
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		org := &tenancy.Organization{ID: tenancy.NewID(), Key: "bench", Name: "Bench", Settings: tenancy.DefaultOrgSettings(), CreatedAt: t0, UpdatedAt: t0}
		p := &tenancy.Project{ID: tenancy.NewID(), OrgID: org.ID, Key: "p", Name: "P", CreatedAt: t0, UpdatedAt: t0}
		env := &tenancy.Environment{ID: tenancy.NewID(), OrgID: org.ID, ProjectID: p.ID, Key: "e", Name: "e", Settings: tenancy.DefaultEnvSettings(), CreatedAt: t0, UpdatedAt: t0}
		for _, err := range []error{st.CreateOrganization(ctx, org), st.CreateProject(ctx, p), st.CreateEnvironment(ctx, env)} {
			if err != nil {
				b.Fatal(err)
			}
		}
		start := time.Now()
		const batch = 20_000
		for from := 0; from < n; from += batch {
			var us []*facts.User
			for i := from; i < min(from+batch, n); i++ {
				at := t0.Add(time.Duration(i) * time.Millisecond)
				us = append(us, &facts.User{ID: tenancy.NewID(), EnvID: env.ID, Key: fmt.Sprintf("u-%07d", i), Email: fmt.Sprintf("u%07d@example.com", (i*7919)%n),
					CreatedAt: at, UpdatedAt: t0.Add(time.Duration((i*104729)%n) * time.Millisecond)})
			}
			if err := st.InTx(ctx, func(tx *store.Store) error { return tx.InsertUsers(ctx, us) }); err != nil {
				b.Fatal(err)
			}
		}
		b.Logf("%s: loaded %d users in %s", db.Engine, n, time.Since(start).Round(time.Second))
		if db.Engine == store.Postgres {
			if _, err := db.Writer().ExecContext(ctx, "VACUUM (ANALYZE) authz_users"); err != nil {
				b.Fatal(err)
			}
		}
		last := (n + 19) / 20
		for _, sort := range []string{"key", "email", "updated_at"} {
			for _, desc := range []bool{false, true} {
				for _, pg := range []struct {
					name string
					page int
				}{{"page-mid", last / 2}, {"page-last", last}} {
					for _, v := range []struct {
						name string
						st   *store.Store
					}{{"", store.WithoutAnchors(st)}, {"-skip", store.WithoutMarks(store.WithoutAnchors(st))}} {
						name := sort
						if desc {
							name += "-desc"
						}
						b.Run(name+"/"+pg.name+v.name, func(b *testing.B) {
							for range b.N {
								res, err := v.st.ListUsers(ctx, facts.Filter{EnvID: env.ID}, gatehouse.PageRequest{Page: pg.page, PerPage: 20, Sort: sort, Desc: desc, CountUpTo: gatehouse.TotalCap})
								if err == nil && len(res.Items) == 0 {
									err = fmt.Errorf("empty page")
								}
								if err != nil {
									b.Fatal(err)
								}
							}
							b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
						})
					}
				}
			}
		}
		// ?search= (a case-insensitive substring of the key, email,
		// first or last name), sorted by created_at and by key: a term
		// one user holds, one that a hundred, ten thousand or a
		// hundred thousand users hold (consecutive keys, half-way
		// through the list), one nobody holds, one every user holds
		// (page 1 and half-way) and a two-letter one (too short for
		// the index).
		for _, c := range []struct {
			name, search string
			page, want   int
		}{
			{"one", fmt.Sprintf("U-%07d", n*7/9), 1, 1},
			{"hundred", fmt.Sprintf("u-%05d", n/2/100), 1, 20},
			{"ten-thousand", fmt.Sprintf("u-%03d", n/2/10_000), 1, 20},
			{"hundred-thousand", fmt.Sprintf("u-%02d", n/2/100_000), 1, 20},
			{"none", "nobody", 1, 0},
			{"all", "EXAMPLE.com", 1, 20},
			{"all-mid", "example.com", last / 2, 20},
			{"two-letters", "u-", 1, 20},
		} {
			for _, sort := range []string{"created_at", "key"} {
				for _, v := range []struct {
					name string
					st   *store.Store
				}{{"", store.WithoutAnchors(st)}, {"-scan", store.WithoutSearchIndex(store.WithoutAnchors(st))}} {
					if v.name == "-scan" && c.name == "all-mid" {
						continue // the same read either way: a skip
					}
					b.Run("search-"+c.name+"/"+sort+v.name, func(b *testing.B) {
						for range b.N {
							res, err := v.st.ListUsers(ctx, facts.Filter{EnvID: env.ID, Search: c.search}, gatehouse.PageRequest{Page: c.page, PerPage: 20, Sort: sort, CountUpTo: gatehouse.TotalCap})
							if err == nil && len(res.Items) != c.want {
								err = fmt.Errorf("search %q page %d: %d users, want %d", c.search, c.page, len(res.Items), c.want)
							}
							if err != nil {
								b.Fatal(err)
							}
						}
						b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
					})
				}
			}
		}
	})
}

// benchSize is the number the environment variable name holds (at least
// least), or def when it is not set.
func benchSize(b *testing.B, name string, def, least int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < least {
		b.Fatalf("%s=%q: want a number >= %d", name, v, least)
	}
	return n
}

// onBenchEngines runs fn as a benchmark of each engine ("sqlite",
// "postgres"), each on a new database, closed after.
func onBenchEngines(b *testing.B, fn func(b *testing.B, db *store.DB)) {
	for _, e := range []struct {
		name string
		open func(b *testing.B) (*store.DB, error)
	}{
		{store.SQLite, func(b *testing.B) (*store.DB, error) {
			return store.OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
		}},
		{store.Postgres, func(b *testing.B) (*store.DB, error) {
			return store.OpenPostgres(context.Background(), pgtest.NewDatabase(b))
		}},
	} {
		b.Run(e.name, func(b *testing.B) {
			db, err := e.open(b)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			fn(b, db)
		})
	}
}
