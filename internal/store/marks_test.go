package store_test

import (
	"context"
	"fmt"
	"math/rand"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

var markedTables = []string{"authz_users", "authz_tenants", "authz_role_assignments", "authz_instance_assignments"}

// marksEnv is an environment of 1,300 users, 1,100 tenants and 3,000 role
// assignments (created at 4, 1 and 3 to a millisecond) of 4 roles in 5
// of the tenants.
type marksEnv struct {
	org, env       string
	roles, tenants []string
	users          []*facts.User
	at             time.Time
}

func seedMarksEnv(t *testing.T, st *store.Store, key string) *marksEnv {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	o := &tenancy.Organization{ID: tenancy.NewID(), Key: key, Name: key, Settings: tenancy.DefaultOrgSettings(), CreatedAt: at, UpdatedAt: at}
	must(st.CreateOrganization(ctx, o))
	p := &tenancy.Project{ID: tenancy.NewID(), OrgID: o.ID, Key: "p", Name: "p", CreatedAt: at, UpdatedAt: at}
	must(st.CreateProject(ctx, p))
	e := &tenancy.Environment{ID: tenancy.NewID(), OrgID: o.ID, ProjectID: p.ID, Key: "e", Name: "e", Settings: tenancy.DefaultEnvSettings(), CreatedAt: at, UpdatedAt: at}
	must(st.CreateEnvironment(ctx, e))
	m := &marksEnv{org: o.ID, env: e.ID, at: at}
	fillMarksEnv(t, st, m)
	return m
}

// seedMarksEnvIn fills m's environment again, as seedMarksEnv did, after
// a reset emptied it; it returns how many assignments it added.
func seedMarksEnvIn(t *testing.T, st *store.Store, m *marksEnv) int {
	t.Helper()
	m.roles, m.tenants, m.users = nil, nil, nil
	fillMarksEnv(t, st, m)
	return 3000
}

func fillMarksEnv(t *testing.T, st *store.Store, m *marksEnv) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	at := m.at
	for i := range 4 {
		r := &facts.Role{ID: tenancy.NewID(), EnvID: m.env, Key: fmt.Sprintf("role-%d", i), Name: "R", Permissions: []string{}, Extends: []string{}, CreatedAt: at, UpdatedAt: at}
		must(st.CreateRole(ctx, r))
		m.roles = append(m.roles, r.ID)
	}
	var ts []*facts.Tenant
	for i := range 1100 {
		ts = append(ts, &facts.Tenant{ID: tenancy.NewID(), EnvID: m.env, Key: fmt.Sprintf("t-%d", i), Name: "T", CreatedAt: at.Add(time.Duration(i) * time.Millisecond), UpdatedAt: at})
		m.tenants = append(m.tenants, ts[i].ID)
	}
	must(st.InsertTenants(ctx, ts))
	for i := range 1300 {
		m.users = append(m.users, &facts.User{ID: tenancy.NewID(), EnvID: m.env, Key: fmt.Sprintf("u-%04d", i), Email: fmt.Sprintf("m%04d@example.com", i),
			CreatedAt: at.Add(time.Duration(i/4) * time.Millisecond), UpdatedAt: at})
	}
	must(st.InsertUsers(ctx, m.users))
	var as []facts.Assignment
	for i := range 3000 {
		// Each (user, role, tenant) once: none is dropped as a duplicate.
		as = append(as, facts.Assignment{ID: tenancy.NewID(), EnvID: m.env, UserID: m.users[i%1300].ID, RoleID: m.roles[(i/1300)%4], TenantID: m.tenants[i%5],
			CreatedAt: at.Add(time.Duration(i/3) * time.Millisecond)})
	}
	must(st.InTx(ctx, func(tx *store.Store) error { _, err := tx.InsertAssignments(ctx, as); return err }))
}

// onMarkedEngines runs test on SQLite and on PostgreSQL, in parallel, each
// on a database whose marks split at 64 rows into marks of 16, seeded with
// a marksEnv (key names its organization).
func onMarkedEngines(t *testing.T, key string, test func(t *testing.T, db *store.DB, st *store.Store, m *marksEnv)) {
	for _, e := range []struct {
		name string
		open func(t *testing.T) *store.DB
	}{
		{"sqlite", openSQLite},
		{"postgres", func(t *testing.T) *store.DB { return openPostgres(t, storetest.NewPostgres(t)) }},
	} {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			db := e.open(t)
			store.SetMarkSpan(db, 16, 64)
			store.SetMergedKeyedDepth(db, 1000)
			st := db.Store()
			test(t, db, st, seedMarksEnv(t, st, key))
		})
	}
}

func checkMarks(t *testing.T, db *store.DB, env string) {
	t.Helper()
	for _, table := range markedTables {
		if err := store.MarksExact(context.Background(), db, table, env); err != nil {
			t.Fatal(err)
		}
	}
	sorts := []string{"user", "role", "tenant", "i:user", "i:role", "i:tenant", "u:key", "u:email", "u:updated_at", "t:key", "t:name", "t:updated_at"}
	for _, sort := range append(sorts, roleUserSorts(t, db, env)...) {
		if err := store.KeyMarksExact(context.Background(), db, sort, env); err != nil {
			t.Fatal(err)
		}
	}
	checkInstanceAssignmentTenants(t, db, env)
}

// roleUserSorts are the sorts of the key marks of env's roles' tenant
// assignments sorted by user (migration 00035), one per role; it fails t
// when a mark of such a sort is left of a role that is gone.
func roleUserSorts(t *testing.T, db *store.DB, env string) []string {
	t.Helper()
	ctx := context.Background()
	var orphans int
	if err := db.Writer().QueryRowContext(ctx, `SELECT COUNT(*) FROM key_marks m WHERE m.env_id = $1 AND m.sort LIKE 'ru:%'
		AND NOT EXISTS (SELECT 1 FROM authz_roles r WHERE r.env_id = m.env_id AND m.sort = 'ru:' || r.id)`, env).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if orphans > 0 {
		t.Fatalf("%d key marks of roles that are gone", orphans)
	}
	var sorts []string
	for _, id := range idsOf(t, db, "authz_roles", env) {
		sorts = append(sorts, store.RoleUserSort(id))
	}
	return sorts
}

// idsOf are the ids of env's rows of table (users, roles, tenants) in
// the order of their keys.
func idsOf(tb testing.TB, db *store.DB, table, env string) []string {
	tb.Helper()
	rows, err := db.Writer().QueryContext(context.Background(), "SELECT id FROM "+table+" WHERE env_id = $1 ORDER BY key", env)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return ids
}

// checkInstanceAssignmentTenants fails t when an assignment on an instance
// of env holds another tenant than its instance (migration 00033's
// column, which the lists of one tenant and the sort by tenant read).
func checkInstanceAssignmentTenants(t *testing.T, db *store.DB, env string) {
	t.Helper()
	var n int
	if err := db.Writer().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM authz_instance_assignments a JOIN authz_instances i ON i.id = a.instance_id
		WHERE a.env_id = $1 AND a.tenant_id <> i.tenant_id`, env).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d assignments on instances hold another tenant than their instance", n)
	}
}

// ci: norace
// TestMarkedPagesMatchSkips: a deep page by number found through the list
// marks is the page a skip reads, at any depth, either order, counted in
// full or capped, through inserts before and after the newest row,
// deletes (of users, which takes their assignments) and updates, and the
// marks' counts stay exact through them and through the splits the pages
// make.
func TestMarkedPagesMatchSkips(t *testing.T) {
	t.Parallel()
	onMarkedEngines(t, "marks", func(t *testing.T, db *store.DB, st *store.Store, m *marksEnv) {
		ctx := context.Background()
		checkMarks(t, db, m.env)
		seed := time.Now().UnixNano()
		t.Logf("seed %d", seed)
		rng := rand.New(rand.NewSource(seed))
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		live := append([]*facts.User(nil), m.users...)
		n := 0
		write := func() {
			n++
			// Anywhere in time: before the first row, among the rows,
			// after the newest.
			when := m.at.Add(time.Duration(rng.Intn(500)-50) * time.Millisecond)
			switch rng.Intn(7) {
			case 0:
				u := &facts.User{ID: tenancy.NewID(), EnvID: m.env, Key: fmt.Sprintf("n-%d", n), Email: fmt.Sprintf("z%d@example.com", rng.Intn(2000)), CreatedAt: when, UpdatedAt: when}
				must(st.CreateUser(ctx, u))
				live = append(live, u)
			case 5: // a tenant, anywhere in the sorts
				t := &facts.Tenant{ID: tenancy.NewID(), EnvID: m.env, Key: fmt.Sprintf("t-n%d", n), Name: fmt.Sprintf("N %d", rng.Intn(2000)), CreatedAt: when, UpdatedAt: when}
				must(st.CreateTenant(ctx, t))
			case 6: // a tenant renamed: it moves in the sorts by name and updated_at
				tn, err := st.GetTenant(ctx, m.env, fmt.Sprintf("t-%d", 5+rng.Intn(1000)))
				must(err)
				tn.Name, tn.UpdatedAt = fmt.Sprintf("R %d", rng.Intn(2000)), when
				must(st.UpdateTenant(ctx, tn))
			case 1:
				i := rng.Intn(len(live))
				must(st.DeleteUser(ctx, m.env, live[i].ID))
				live = append(live[:i], live[i+1:]...)
			case 2:
				var as []facts.Assignment
				for range 1 + rng.Intn(40) {
					as = append(as, facts.Assignment{ID: tenancy.NewID(), EnvID: m.env, UserID: live[rng.Intn(len(live))].ID, RoleID: m.roles[rng.Intn(4)],
						TenantID: m.tenants[rng.Intn(5)], CreatedAt: m.at.Add(time.Duration(rng.Intn(500)-50) * time.Millisecond)})
				}
				must(st.InTx(ctx, func(tx *store.Store) error { _, err := tx.InsertAssignments(ctx, as); return err }))
			case 3:
				a, err := st.ListAssignments(ctx, facts.AssignmentFilter{EnvID: m.env}, gatehouse.PageRequest{Page: 1 + rng.Intn(20), PerPage: 50})
				must(err)
				if len(a.Items) > 0 {
					x := a.Items[rng.Intn(len(a.Items))]
					must(st.DeleteAssignment(ctx, m.env, x.UserID, x.RoleID, x.TenantID))
				}
			case 4: // it moves in the sort by updated_at, and by email
				u := *live[rng.Intn(len(live))]
				u.FirstName, u.UpdatedAt = fmt.Sprint(n), when
				if rng.Intn(2) == 0 {
					u.Email = fmt.Sprintf("y%d@example.com", rng.Intn(2000))
				}
				must(st.UpdateUser(ctx, &u))
			}
		}
		users := func(sort string) func(st *store.Store, p gatehouse.PageRequest) (any, int, error) {
			return func(st *store.Store, p gatehouse.PageRequest) (any, int, error) {
				p.Sort = sort
				pg, err := st.ListUsers(ctx, facts.Filter{EnvID: m.env}, p)
				return pg, len(pg.Items), err
			}
		}
		tenants := func(sort string) func(st *store.Store, p gatehouse.PageRequest) (any, int, error) {
			return func(st *store.Store, p gatehouse.PageRequest) (any, int, error) {
				p.Sort = sort
				pg, err := st.ListTenants(ctx, facts.Filter{EnvID: m.env}, p)
				return pg, len(pg.Items), err
			}
		}
		// assignments lists f, sorted by sort ("" as the page asks).
		assignments := func(f facts.AssignmentFilter, sort string) func(st *store.Store, p gatehouse.PageRequest) (any, int, error) {
			return func(st *store.Store, p gatehouse.PageRequest) (any, int, error) {
				if sort != "" {
					p.Sort = sort
				}
				pg, err := st.ListAssignments(ctx, f, p)
				return pg, len(pg.Items), err
			}
		}
		lists := []struct {
			name string
			list func(st *store.Store, p gatehouse.PageRequest) (any, int, error)
		}{
			{"users", func(st *store.Store, p gatehouse.PageRequest) (any, int, error) {
				pg, err := st.ListUsers(ctx, facts.Filter{EnvID: m.env}, p)
				return pg, len(pg.Items), err
			}},
			{"assignments", assignments(facts.AssignmentFilter{EnvID: m.env}, "")},
			{"tenants", func(st *store.Store, p gatehouse.PageRequest) (any, int, error) {
				pg, err := st.ListTenants(ctx, facts.Filter{EnvID: m.env}, p)
				return pg, len(pg.Items), err
			}},
			// Sorted by the key of the user, role or tenant: through
			// the key marks.
			{"assignments by user", assignments(facts.AssignmentFilter{EnvID: m.env}, "user")},
			{"assignments by role", assignments(facts.AssignmentFilter{EnvID: m.env}, "role")},
			{"assignments by tenant", assignments(facts.AssignmentFilter{EnvID: m.env}, "tenant")},
			// Filtered by one role, tenant or user: through the key
			// marks of that sort (the key's run of them); by two, a skip.
			{"assignments of role-0", assignments(facts.AssignmentFilter{EnvID: m.env, Role: "role-0"}, "")},
			{"assignments of role-1", assignments(facts.AssignmentFilter{EnvID: m.env, Role: "role-1"}, "")},
			{"assignments in t-1", assignments(facts.AssignmentFilter{EnvID: m.env, Tenant: "t-1"}, "")},
			{"assignments of u-0007", assignments(facts.AssignmentFilter{EnvID: m.env, User: "u-0007"}, "")},
			{"assignments of role-1 by role", assignments(facts.AssignmentFilter{EnvID: m.env, Role: "role-1"}, "role")},
			{"assignments of role-0 by tenant", assignments(facts.AssignmentFilter{EnvID: m.env, Role: "role-0"}, "tenant")},
			{"assignments of role-0 in t-1", assignments(facts.AssignmentFilter{EnvID: m.env, Role: "role-0", Tenant: "t-1"}, "")},

			// Users and tenants sorted by a column of their own: through
			// their key marks.
			{"users by key", users("key")},
			{"users by email", users("email")},
			{"users by updated_at", users("updated_at")},
			{"tenants by key", tenants("key")},
			{"tenants by name", tenants("name")},
			{"tenants by updated_at", tenants("updated_at")},
		}
		hits, _, _ := db.MarkPages()
		empty, full, own := 0, 0, 0
		for step := range 300 {
			if rng.Intn(3) == 0 {
				write()
				continue
			}
			l := lists[rng.Intn(len(lists))]
			per := []int{20, 50, 100}[rng.Intn(3)]
			p := gatehouse.PageRequest{PerPage: per, Desc: rng.Intn(2) == 0, CountUpTo: []int{gatehouse.TotalCap, 500}[rng.Intn(2)]}
			if rng.Intn(2) == 0 && !strings.Contains(l.name, " by ") {
				p.Sort = "created_at"
			}
			p.Page = 1000/per + 1 + rng.Intn(2500/per) // deep, to past the end
			sortedOwn := strings.HasPrefix(l.name, "users by ") || strings.HasPrefix(l.name, "tenants by ")
			if sortedOwn {
				p.Page = 1000/per + 1 + rng.Intn(500/per) // 1,100-1,300 rows
			}
			got, items, err := l.list(store.WithoutAnchors(st), p)
			must(err)
			want, _, err := l.list(store.WithoutMarks(store.WithoutAnchors(st)), p)
			must(err)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("step %d, %s %+v: the page found through the marks differs from the page read by a skip:\n%s\n%s", step, l.name, p, short(got), short(want))
			}
			if items == 0 {
				empty++
			} else if strings.HasPrefix(l.name, "assignments") {
				full++
			} else if sortedOwn {
				own++
			}
			if step%100 == 0 {
				checkMarks(t, db, m.env)
			}
		}
		// A role and a tenant deleted take their assignments (before
		// they go, so that the key marks count them out).
		must(st.DeleteRole(ctx, m.env, m.roles[3]))
		must(st.DeleteTenant(ctx, m.env, m.tenants[4]))
		checkMarks(t, db, m.env)
		for _, l := range append(lists[1:2:2], lists[3:]...) {
			p := gatehouse.PageRequest{Page: 11 + rng.Intn(20), PerPage: 50, Desc: rng.Intn(2) == 0, CountUpTo: gatehouse.TotalCap}
			got, _, err := l.list(store.WithoutAnchors(st), p)
			must(err)
			want, _, err := l.list(store.WithoutMarks(store.WithoutAnchors(st)), p)
			must(err)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("after a role and a tenant were deleted, %s %+v: the page found through the marks differs from the page read by a skip:\n%s\n%s", l.name, p, short(got), short(want))
			}
		}
		checkMarks(t, db, m.env)
		after, disagree, splits := db.MarkPages()
		if after-hits < 100 || splits == 0 || disagree != 0 || empty == 0 || full < 20 || own < 10 {
			t.Fatalf("%d pages through the marks (%d empty, %d of assignments not, %d of users or tenants sorted not), %d splits, %d disagreements: the test did not exercise the marks, or they were wrong",
				after-hits, empty, full, own, splits, disagree)
		}

		// Counts gone wrong (as rows written with the triggers off
		// leave them): every mark of the users counts 3 rows more. The
		// page is still right, and the marks are counted again.
		if _, err := db.Writer().ExecContext(ctx, "UPDATE list_marks SET n = n + 3 WHERE env_id = $1 AND tbl = 'authz_users'", m.env); err != nil {
			t.Fatal(err)
		}
		p := gatehouse.PageRequest{Page: 60, PerPage: 20, CountUpTo: 100}
		got, _, err := lists[0].list(store.WithoutAnchors(st), p)
		must(err)
		want, _, err := lists[0].list(store.WithoutMarks(store.WithoutAnchors(st)), p)
		must(err)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("with wrong counts, the page found through the marks differs from the page read by a skip:\n%s\n%s", short(got), short(want))
		}
		if _, d, _ := db.MarkPages(); d == disagree {
			t.Error("the wrong counts went unnoticed")
		}
		checkMarks(t, db, m.env) // made again (in the background: checkMarks waits)
		// The same for the key marks a filtered list reads.
		_, disagree, _ = db.MarkPages()
		if _, err := db.Writer().ExecContext(ctx, "UPDATE key_marks SET n = n + 3 WHERE env_id = $1 AND sort = 'role'", m.env); err != nil {
			t.Fatal(err)
		}
		p = gatehouse.PageRequest{Page: 21, PerPage: 50, CountUpTo: 100}
		ofRole0 := lists[slices.IndexFunc(lists, func(l struct {
			name string
			list func(st *store.Store, p gatehouse.PageRequest) (any, int, error)
		}) bool {
			return l.name == "assignments of role-0"
		})]
		got, _, err = ofRole0.list(store.WithoutAnchors(st), p)
		must(err)
		want, _, err = ofRole0.list(store.WithoutMarks(store.WithoutAnchors(st)), p)
		must(err)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("with wrong counts, the page of role-0 found through the key marks differs from the page read by a skip:\n%s\n%s", short(got), short(want))
		}
		if _, d, _ := db.MarkPages(); d == disagree {
			t.Error("the wrong counts of the key marks went unnoticed")
		}
		checkMarks(t, db, m.env)
		// No marks at all for rows that are there, and a last mark
		// that counts too few: pages in the list and past its end
		// are still right, and the marks are made again.
		for _, q := range []string{"DELETE FROM list_marks WHERE env_id = $1 AND tbl = 'authz_users'",
			"UPDATE list_marks SET n = n - 5 WHERE env_id = $1 AND tbl = 'authz_users' AND at = (SELECT MAX(at) FROM list_marks WHERE env_id = $1 AND tbl = 'authz_users')"} {
			if _, err := db.Writer().ExecContext(ctx, q, m.env); err != nil {
				t.Fatal(err)
			}
			for _, page := range []int{60, 65, 70} {
				p := gatehouse.PageRequest{Page: page, PerPage: 20, CountUpTo: gatehouse.TotalCap}
				got, _, err := lists[0].list(store.WithoutAnchors(st), p)
				must(err)
				want, _, err := lists[0].list(store.WithoutMarks(store.WithoutAnchors(st)), p)
				must(err)
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("after %q, page %d found through the marks differs from the page read by a skip:\n%s\n%s", q, page, short(got), short(want))
				}
			}
			// Made again.
			checkMarks(t, db, m.env)
		}
	})
}

// TestMarksExactUnderConcurrentWrites: writers on two nodes inserting and
// deleting in one environment while pages split its marks leave every
// mark's count exact.
func TestMarksExactUnderConcurrentWrites(t *testing.T) {
	t.Parallel()
	for _, e := range []struct {
		name string
		open func(t *testing.T) []*store.DB
	}{
		{"sqlite", func(t *testing.T) []*store.DB { return []*store.DB{openSQLite(t)} }},
		{"postgres two nodes", func(t *testing.T) []*store.DB {
			url := storetest.NewPostgres(t)
			return []*store.DB{openPostgres(t, url), openPostgres(t, url)}
		}},
	} {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			dbs := e.open(t)
			for _, db := range dbs {
				store.SetMarkSpan(db, 4, 16)
			}
			ctx := context.Background()
			m := seedMarksEnv(t, dbs[0].Store(), "concurrent")
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					st := dbs[w%len(dbs)].Store()
					rng := rand.New(rand.NewSource(int64(w)))
					var mine []*facts.User // this writer's users, never deleted
					for i := range 40 {
						when := m.at.Add(time.Duration(rng.Intn(600)-50) * time.Millisecond)
						var err error
						switch rng.Intn(4) {
						case 0:
							var us []*facts.User
							for j := range 1 + rng.Intn(30) {
								us = append(us, &facts.User{ID: tenancy.NewID(), EnvID: m.env, Key: fmt.Sprintf("w%d-%d-%d", w, i, j), CreatedAt: when.Add(time.Duration(j) * time.Microsecond), UpdatedAt: when})
							}
							err = st.InsertUsers(ctx, us)
							if err == nil {
								mine = append(mine, us...)
							}
						case 3:
							// Assignments of this writer's users: counted in
							// the key marks of every sort.
							if len(mine) == 0 {
								continue
							}
							var as []facts.Assignment
							for j := range 1 + rng.Intn(30) {
								as = append(as, facts.Assignment{ID: tenancy.NewID(), EnvID: m.env, UserID: mine[rng.Intn(len(mine))].ID, RoleID: m.roles[rng.Intn(4)],
									TenantID: m.tenants[rng.Intn(5)], CreatedAt: when.Add(time.Duration(j) * time.Microsecond)})
							}
							err = st.InTx(ctx, func(tx *store.Store) error { _, err := tx.InsertAssignments(ctx, as); return err })
						case 1:
							err = st.DeleteUser(ctx, m.env, m.users[(w*300+i*7)%len(m.users)].ID)
							if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
								err = nil
							}
						case 2:
							// A deep page, which splits the mark it falls in.
							_, err = st.ListUsers(ctx, facts.Filter{EnvID: m.env}, gatehouse.PageRequest{Page: 50 + rng.Intn(20), PerPage: 20, Desc: rng.Intn(2) == 0, CountUpTo: gatehouse.TotalCap})
						}
						if err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 30 {
					table := []string{"authz_users", "key_marks:user", "key_marks:tenant"}[i%3]
					if err := dbs[len(dbs)-1].Store().SplitMarks(ctx, table, m.env); err != nil {
						errs <- err
						return
					}
				}
			}()
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			checkMarks(t, dbs[0], m.env)
		})
	}
}

// TestMarkedPageDoesNotWaitForWriters: a deep page whose mark wants a
// split is read at once while a writer holds the environment (an import's
// long transaction): the split waits in the background, not the page.
func TestMarkedPageDoesNotWaitForWriters(t *testing.T) {
	t.Parallel()
	onMarkedEngines(t, "nowait", func(t *testing.T, db *store.DB, st *store.Store, m *marksEnv) {
		ctx := context.Background()
		// Users one at a time after the newest: the last mark grows
		// past the split count.
		for i := range 100 {
			at := m.at.Add(time.Hour + time.Duration(i)*time.Millisecond)
			if err := st.CreateUser(ctx, &facts.User{ID: tenancy.NewID(), EnvID: m.env, Key: fmt.Sprintf("late-%d", i), CreatedAt: at, UpdatedAt: at}); err != nil {
				t.Fatal(err)
			}
		}
		holding, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
		go func() {
			done <- st.InTx(ctx, func(tx *store.Store) error {
				at := m.at.Add(2 * time.Hour)
				if err := tx.CreateUser(ctx, &facts.User{ID: tenancy.NewID(), EnvID: m.env, Key: "held", CreatedAt: at, UpdatedAt: at}); err != nil {
					return err
				}
				close(holding)
				<-release
				return nil
			})
		}()
		<-holding
		p := gatehouse.PageRequest{Page: 69, PerPage: 20, CountUpTo: gatehouse.TotalCap} // in the last mark
		quick, cancel := context.WithTimeout(ctx, 5*time.Second)
		got, err := store.WithoutAnchors(st).ListUsers(quick, facts.Filter{EnvID: m.env}, p)
		cancel()
		if err != nil {
			close(release)
			t.Fatalf("a deep page while a writer holds the environment: %v", err)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		want, err := store.WithoutMarks(store.WithoutAnchors(st)).ListUsers(ctx, facts.Filter{EnvID: m.env}, p)
		if err != nil {
			t.Fatal(err)
		}
		// The held user came after the page was read: compare the rows
		// the page held then.
		if len(got.Items) == 0 || !reflect.DeepEqual(got.Items, want.Items) {
			t.Fatalf("the page read while a writer held the environment:\n%s\n%s", short(got), short(want))
		}
		checkMarks(t, db, m.env)
	})
}

// TestMarksCompacted: after most rows are deleted, a deep page sets the
// marks' upkeep going, which merges the marks that count few rows or none,
// and the counts stay exact.
func TestMarksCompacted(t *testing.T) {
	t.Parallel()
	onMarkedEngines(t, "compact", func(t *testing.T, db *store.DB, st *store.Store, m *marksEnv) {
		ctx := context.Background()
		marks := func() int {
			var n int
			if err := db.Writer().QueryRowContext(ctx, "SELECT COUNT(*) FROM list_marks WHERE env_id = $1 AND tbl = 'authz_users'", m.env).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		before := marks()
		// In one statement (the triggers count each row as they do for
		// one at a time): users u-0000 to u-1249.
		if _, err := db.Writer().ExecContext(ctx, "DELETE FROM authz_users WHERE env_id = $1 AND key < 'u-1250'", m.env); err != nil {
			t.Fatal(err)
		}
		p := gatehouse.PageRequest{Page: 60, PerPage: 20, CountUpTo: gatehouse.TotalCap}
		got, err := store.WithoutAnchors(st).ListUsers(ctx, facts.Filter{EnvID: m.env}, p)
		if err != nil {
			t.Fatal(err)
		}
		if got.Total != 50 || len(got.Items) != 0 {
			t.Fatalf("past the end of 50 users: total %d, %d items", got.Total, len(got.Items))
		}
		checkMarks(t, db, m.env) // waits for the upkeep
		if after := marks(); before < 50 || after > 20 {
			t.Fatalf("%d marks before the deletes, %d after the upkeep: not compacted", before, after)
		}
	})
}

// ci: norace
// TestMergedMarkedPagesMatchSkips: a deep page by number of the
// assignments of both kinds (kind=all, the API's default, in an
// environment with roles on instances) or on instances only, found
// through both tables' list marks, is the page a skip of the union reads,
// at any depth, either order, counted in full or capped, through inserts
// anywhere in time and deletes in both tables, and the marks stay exact.
func TestMergedMarkedPagesMatchSkips(t *testing.T) {
	t.Parallel()
	onMarkedEngines(t, "merged", func(t *testing.T, db *store.DB, st *store.Store, m *marksEnv) {
		ctx := context.Background()
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		roles, insts := seedInstanceRoles(t, st, m)
		checkMarks(t, db, m.env)

		seed := time.Now().UnixNano()
		t.Logf("seed %d", seed)
		rng := rand.New(rand.NewSource(seed))
		live := append([]*facts.User(nil), m.users...)
		write := func() {
			when := m.at.Add(time.Duration(rng.Intn(1200)-50) * time.Millisecond)
			switch rng.Intn(4) {
			case 0: // one on an instance, anywhere in time
				err := st.CreateInstanceAssignment(ctx, &facts.Assignment{ID: tenancy.NewID(), EnvID: m.env, UserID: live[rng.Intn(len(live))].ID,
					RoleID: roles[rng.Intn(5)], InstanceID: insts[rng.Intn(50)].ID, CreatedAt: when})
				if gatehouse.ErrorCode(err) != gatehouse.CodeConflict {
					must(err)
				}
			case 1: // a tenant assignment
				err := st.CreateAssignment(ctx, &facts.Assignment{ID: tenancy.NewID(), EnvID: m.env, UserID: live[rng.Intn(len(live))].ID,
					RoleID: m.roles[rng.Intn(4)], TenantID: m.tenants[rng.Intn(5)], CreatedAt: when})
				if gatehouse.ErrorCode(err) != gatehouse.CodeConflict {
					must(err)
				}
			case 2: // one on an instance deleted
				a, err := st.ListAssignments(ctx, facts.AssignmentFilter{EnvID: m.env, Kind: facts.AssignmentsOnInstances}, gatehouse.PageRequest{Page: 1 + rng.Intn(20), PerPage: 50})
				must(err)
				if len(a.Items) > 0 {
					x := a.Items[rng.Intn(len(a.Items))]
					must(st.DeleteInstanceAssignment(ctx, m.env, x.UserID, x.RoleID, x.InstanceID))
				}
			case 3: // a user, with the assignments of both kinds
				i := rng.Intn(len(live))
				must(st.DeleteUser(ctx, m.env, live[i].ID))
				live = append(live[:i], live[i+1:]...)
			}
		}
		hits, _, _ := db.MarkPages()
		empty, full := 0, 0
		for step := range 240 {
			if rng.Intn(3) == 0 {
				write()
				continue
			}
			kind := facts.AllAssignments
			if rng.Intn(4) == 0 {
				kind = facts.AssignmentsOnInstances
			}
			per := []int{20, 50, 100}[rng.Intn(3)]
			p := gatehouse.PageRequest{PerPage: per, Desc: rng.Intn(2) == 0, CountUpTo: []int{gatehouse.TotalCap, 500}[rng.Intn(2)]}
			p.Page = 1000/per + 1 + rng.Intn(4000/per) // deep, to past the end
			f := facts.AssignmentFilter{EnvID: m.env, Kind: kind}
			got, err := store.WithoutAnchors(st).ListAssignments(ctx, f, p)
			must(err)
			want, err := store.WithoutMarks(store.WithoutAnchors(st)).ListAssignments(ctx, f, p)
			must(err)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("step %d, %s %+v: the page found through the marks differs from the page read by a skip:\n%s\n%s", step, kind, p, short(got), short(want))
			}
			if len(got.Items) == 0 {
				empty++
			} else if kind == facts.AllAssignments {
				full++
			}
		}
		checkMarks(t, db, m.env)
		after, disagree, _ := db.MarkPages()
		if after-hits < 80 || disagree != 0 || empty == 0 || full < 20 {
			t.Fatalf("%d pages through the marks (%d empty, %d of both kinds not), %d disagreements: the test did not exercise the marks, or they were wrong", after-hits, empty, full, disagree)
		}

		// Counts gone wrong on instances: the page is still right, and
		// the marks are counted again.
		if _, err := db.Writer().ExecContext(ctx, "UPDATE list_marks SET n = n + 2 WHERE env_id = $1 AND tbl = 'authz_instance_assignments'", m.env); err != nil {
			t.Fatal(err)
		}
		p := gatehouse.PageRequest{Page: 80, PerPage: 20, CountUpTo: gatehouse.TotalCap}
		f := facts.AssignmentFilter{EnvID: m.env, Kind: facts.AllAssignments}
		got, err := store.WithoutAnchors(st).ListAssignments(ctx, f, p)
		must(err)
		want, err := store.WithoutMarks(store.WithoutAnchors(st)).ListAssignments(ctx, f, p)
		must(err)
		if !reflect.DeepEqual(got, want) || len(got.Items) == 0 {
			t.Fatalf("with wrong counts, the page found through the marks differs from the page read by a skip:\n%s\n%s", short(got), short(want))
		}
		if _, d, _ := db.MarkPages(); d == disagree {
			t.Error("the wrong counts went unnoticed")
		}
		checkMarks(t, db, m.env)
	})
}

// ci: norace
// TestMergedKeyMarkedPagesMatchSkips: a deep page by number of the
// assignments of both kinds (or on instances only) sorted by the key of
// their user, role or tenant, found through both tables' key marks, is the
// page the walk over the keys reads, at any depth, either order, counted
// in full or capped, through inserts and deletes in both tables, users,
// resource roles, instances and tenants deleted with their assignments,
// and instances moved to another tenant; the marks stay exact.
func TestMergedKeyMarkedPagesMatchSkips(t *testing.T) {
	t.Parallel()
	onMarkedEngines(t, "mergedkeys", func(t *testing.T, db *store.DB, st *store.Store, m *marksEnv) {
		ctx := context.Background()
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		roles, insts := seedInstanceRoles(t, st, m)
		// A resource role of a tenant role's key, role-0, held on 1,200
		// instances of t-0: role-0's and t-0's lists of both kinds are
		// deep enough for pages found through the marks (2,000 rows).
		r0 := &facts.ResourceRole{ID: tenancy.NewID(), EnvID: m.env, ResourceID: insts[0].ResourceID, Key: "role-0", Name: "R", Permissions: []string{"read"},
			Extends: []string{}, Attributes: map[string]any{}, CreatedAt: m.at, UpdatedAt: m.at}
		must(st.CreateResourceRole(ctx, r0))
		roles = append(roles, r0.ID)
		var as []facts.Assignment
		for i := range 1200 {
			as = append(as, facts.Assignment{ID: tenancy.NewID(), EnvID: m.env, UserID: m.users[i].ID, RoleID: r0.ID, InstanceID: insts[(i%10)*5].ID, TenantID: insts[(i%10)*5].TenantID,
				CreatedAt: m.at.Add(time.Duration(i%900) * time.Millisecond)})
		}
		must(st.InTx(ctx, func(tx *store.Store) error { _, err := tx.InsertInstanceAssignments(ctx, as); return err }))
		checkMarks(t, db, m.env)

		seed := time.Now().UnixNano()
		t.Logf("seed %d", seed)
		rng := rand.New(rand.NewSource(seed))
		live := append([]*facts.User(nil), m.users...)
		liveRoles := append([]string(nil), roles[:5]...)
		tenants := append([]string(nil), m.tenants[:5]...)
		var moved, gone []string
		write := func() {
			when := m.at.Add(time.Duration(rng.Intn(1200)-50) * time.Millisecond)
			switch w := rng.Intn(20); {
			case w < 6: // one on an instance, anywhere in time
				err := st.CreateInstanceAssignment(ctx, &facts.Assignment{ID: tenancy.NewID(), EnvID: m.env, UserID: live[rng.Intn(len(live))].ID,
					RoleID: liveRoles[rng.Intn(len(liveRoles))], InstanceID: insts[rng.Intn(len(insts))].ID, CreatedAt: when})
				if gatehouse.ErrorCode(err) != gatehouse.CodeConflict {
					must(err)
				}
			case w < 9: // a tenant assignment
				err := st.CreateAssignment(ctx, &facts.Assignment{ID: tenancy.NewID(), EnvID: m.env, UserID: live[rng.Intn(len(live))].ID,
					RoleID: m.roles[rng.Intn(4)], TenantID: tenants[rng.Intn(len(tenants))], CreatedAt: when})
				if gatehouse.ErrorCode(err) != gatehouse.CodeConflict {
					must(err)
				}
			case w < 12: // one on an instance deleted
				a, err := st.ListAssignments(ctx, facts.AssignmentFilter{EnvID: m.env, Kind: facts.AssignmentsOnInstances}, gatehouse.PageRequest{Page: 1 + rng.Intn(20), PerPage: 50})
				must(err)
				if len(a.Items) > 0 {
					x := a.Items[rng.Intn(len(a.Items))]
					must(st.DeleteInstanceAssignment(ctx, m.env, x.UserID, x.RoleID, x.InstanceID))
				}
			case w < 14: // a user, with the assignments of both kinds
				i := rng.Intn(len(live))
				must(st.DeleteUser(ctx, m.env, live[i].ID))
				live = append(live[:i], live[i+1:]...)
			case w < 17: // an instance moved to another tenant, with its assignments
				in := insts[rng.Intn(len(insts))]
				in.TenantID = tenants[rng.Intn(len(tenants))]
				must(st.UpdateInstance(ctx, in))
				moved = append(moved, in.ID)
			case w < 18 && len(insts) > 20: // an instance deleted
				i := rng.Intn(len(insts))
				must(st.DeleteInstance(ctx, m.env, insts[i].ID))
				gone = append(gone, insts[i].ID)
				insts = append(insts[:i], insts[i+1:]...)
			case w < 19 && len(liveRoles) > 3: // a resource role deleted
				i := rng.Intn(len(liveRoles))
				must(st.DeleteResourceRole(ctx, m.env, liveRoles[i]))
				liveRoles = append(liveRoles[:i], liveRoles[i+1:]...)
			case w == 19 && len(tenants) > 4: // a tenant deleted, with its instances (not t-0: role-0's)
				i := 1 + rng.Intn(len(tenants)-1)
				must(st.DeleteTenant(ctx, m.env, tenants[i]))
				tenants = append(tenants[:i], tenants[i+1:]...)
				insts = slices.DeleteFunc(insts, func(in *facts.Instance) bool { return !slices.Contains(tenants, in.TenantID) })
			}
		}
		hits, _, _ := db.MarkPages()
		empty, full := 0, 0
		for step := range 200 {
			if step == 70 {
				// At least one instance moved and one deleted, whatever
				// the seed drew.
				in := insts[1]
				in.TenantID = tenants[len(tenants)-1]
				must(st.UpdateInstance(ctx, in))
				moved = append(moved, in.ID)
				must(st.DeleteInstance(ctx, m.env, insts[2].ID))
				gone = append(gone, insts[2].ID)
				insts = slices.Delete(insts, 2, 3)
			}
			if rng.Intn(3) == 0 {
				write()
				continue
			}
			kind := facts.AllAssignments
			if rng.Intn(4) == 0 {
				kind = facts.AssignmentsOnInstances
			}
			per := []int{20, 50, 100}[rng.Intn(3)]
			p := gatehouse.PageRequest{PerPage: per, Desc: rng.Intn(2) == 0, Sort: []string{"user", "role", "tenant"}[rng.Intn(3)], CountUpTo: []int{gatehouse.TotalCap, 500}[rng.Intn(2)]}
			p.Page = 1000/per + 1 + rng.Intn(3600/per) // deep, to past the end
			if kind == facts.AssignmentsOnInstances {
				p.Page = 1000/per + 1 + rng.Intn(700/per)
			}
			f := facts.AssignmentFilter{EnvID: m.env, Kind: kind}
			switch rng.Intn(3) {
			case 0: // one role's or tenant's, in created_at order
				f.Role, p.Sort = "role-0", []string{"", "created_at"}[rng.Intn(2)]
				if rng.Intn(2) == 0 {
					f.Role, f.Tenant = "", "t-0"
				}
				p.Page = 1000/per + 1 + rng.Intn(1300/per)
			case 1: // one user's: past the end
				f.User = live[rng.Intn(len(live))].Key
				p.Sort = ""
			}
			got, err := store.WithoutAnchors(st).ListAssignments(ctx, f, p)
			must(err)
			want, err := store.WithoutMarks(store.WithoutAnchors(st)).ListAssignments(ctx, f, p)
			must(err)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("step %d, %s %+v %+v: the page found through the key marks differs from the page read by a walk:\n%s\n%s", step, kind, f, p, short(got), short(want))
			}
			if len(got.Items) == 0 {
				empty++
			} else {
				full++
			}
		}
		checkMarks(t, db, m.env)
		after, disagree, _ := db.MarkPages()
		if after-hits < 60 || disagree != 0 || empty == 0 || full < 25 || len(moved) == 0 || len(gone) == 0 {
			t.Fatalf("%d pages through the marks (%d empty, %d not), %d disagreements, %d instances moved, %d deleted: the test did not exercise the marks, or they were wrong",
				after-hits, empty, full, disagree, len(moved), len(gone))
		}

		// Counts gone wrong on instances: the page is still right, and
		// the marks are counted again.
		if _, err := db.Writer().ExecContext(ctx, "UPDATE key_marks SET n = n + 2 WHERE env_id = $1 AND sort = 'i:user'", m.env); err != nil {
			t.Fatal(err)
		}
		p := gatehouse.PageRequest{Page: 80, PerPage: 20, Sort: "user", CountUpTo: gatehouse.TotalCap}
		f := facts.AssignmentFilter{EnvID: m.env, Kind: facts.AllAssignments}
		got, err := store.WithoutAnchors(st).ListAssignments(ctx, f, p)
		must(err)
		want, err := store.WithoutMarks(store.WithoutAnchors(st)).ListAssignments(ctx, f, p)
		must(err)
		if !reflect.DeepEqual(got, want) || len(got.Items) == 0 {
			t.Fatalf("with wrong counts, the page found through the key marks differs from the page read by a walk:\n%s\n%s", short(got), short(want))
		}
		if _, d, _ := db.MarkPages(); d == disagree {
			t.Error("the wrong counts went unnoticed")
		}
		checkMarks(t, db, m.env)
	})
}

// seedInstanceRoles adds to m's environment a resource type with 5 roles,
// 50 instances in m's first 5 tenants and 1,500 role assignments on them,
// interleaved in time with the tenant assignments (some at the same
// millisecond), in one bulk insert; it returns the roles' and the
// instances' ids.
func seedInstanceRoles(t *testing.T, st *store.Store, m *marksEnv) (roles []string, insts []*facts.Instance) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	res := &facts.Resource{ID: tenancy.NewID(), EnvID: m.env, Key: "doc", Name: "Doc", Actions: []string{"read"}, Attributes: map[string]facts.AttributeDef{},
		Config: map[string]any{}, Status: "active", CreatedAt: m.at, UpdatedAt: m.at}
	must(st.CreateResource(ctx, res))
	for i := range 5 {
		r := &facts.ResourceRole{ID: tenancy.NewID(), EnvID: m.env, ResourceID: res.ID, Key: fmt.Sprintf("doc-role-%d", i), Name: "R", Permissions: []string{"read"},
			Extends: []string{}, Attributes: map[string]any{}, CreatedAt: m.at, UpdatedAt: m.at}
		must(st.CreateResourceRole(ctx, r))
		roles = append(roles, r.ID)
	}
	for i := range 50 {
		insts = append(insts, &facts.Instance{ID: tenancy.NewID(), EnvID: m.env, ResourceID: res.ID, Key: fmt.Sprintf("d-%02d", i), TenantID: m.tenants[i%5],
			Attributes: map[string]any{}, CreatedAt: m.at, UpdatedAt: m.at})
	}
	must(st.InTx(ctx, func(tx *store.Store) error { return tx.InsertInstances(ctx, insts) }))
	// 1,500 on instances, interleaved in time with the 3,000 tenant
	// assignments (some at the same millisecond), in one bulk insert.
	var as []facts.Assignment
	for i := range 1500 {
		as = append(as, facts.Assignment{ID: tenancy.NewID(), EnvID: m.env, UserID: m.users[i%1300].ID, RoleID: roles[(i/1300)%5], InstanceID: insts[i%50].ID, TenantID: insts[i%50].TenantID,
			CreatedAt: m.at.Add(time.Duration(2*i/3) * time.Millisecond)})
	}
	must(st.InTx(ctx, func(tx *store.Store) error { _, err := tx.InsertInstanceAssignments(ctx, as); return err }))
	return roles, insts
}

// ci: norace
// TestMarkedEnvironmentDeleted: an environment whose users, roles and
// tenants hold assignments of both kinds is deleted, and purged after a
// soft delete, on both engines (on PostgreSQL a mark counted out twice in
// the deleting transaction would check its foreign key against the
// deleted environment), and its marks go with it.
func TestMarkedEnvironmentDeleted(t *testing.T) {
	t.Parallel()
	onMarkedEngines(t, "envdelete", func(t *testing.T, db *store.DB, st *store.Store, m *marksEnv) {
		ctx := context.Background()
		seedInstanceRoles(t, st, m)
		left := func(env string) int {
			var n, k int
			if err := db.Writer().QueryRowContext(ctx, "SELECT COUNT(*) FROM list_marks WHERE env_id = $1", env).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if err := db.Writer().QueryRowContext(ctx, "SELECT COUNT(*) FROM key_marks WHERE env_id = $1", env).Scan(&k); err != nil {
				t.Fatal(err)
			}
			return n + k
		}
		if left(m.env) == 0 {
			t.Fatal("no marks to delete")
		}
		if err := st.DeleteEnvironment(ctx, m.org, m.env); err != nil {
			t.Fatalf("delete an environment with marks: %v", err)
		}
		if n := left(m.env); n != 0 {
			t.Fatalf("%d marks left of a deleted environment", n)
		}
		// A second one, soft deleted and purged.
		m2 := seedMarksEnv(t, st, "envpurge")
		seedInstanceRoles(t, st, m2)
		now := time.Now()
		if err := st.SoftDeleteOrganization(ctx, m2.org, now, now.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := st.PurgeDeleted(ctx, now); err != nil {
			t.Fatalf("purge an environment with marks: %v", err)
		}
		if n := left(m2.env); n != 0 {
			t.Fatalf("%d marks left of a purged environment", n)
		}
	})
}

// TestMarksAgreeUnderWrites: deep pages through the marks of both kinds
// and by key, read while assignments are added, never find the marks
// wrong (the marks are checked against the rows in their own snapshot, not
// against a count made before a write), so they are not made again.
func TestMarksAgreeUnderWrites(t *testing.T) {
	t.Parallel()
	onMarkedEngines(t, "agree", func(t *testing.T, db *store.DB, st *store.Store, m *marksEnv) {
		ctx := context.Background()
		roles, insts := seedInstanceRoles(t, st, m)
		_, before, _ := db.MarkPages()
		stop := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					done <- nil
					return
				default:
				}
				at := m.at.Add(time.Duration(i%900) * time.Millisecond)
				var err error
				if i%2 == 0 {
					err = st.CreateAssignment(ctx, &facts.Assignment{ID: tenancy.NewID(), EnvID: m.env, UserID: m.users[(i*7)%1300].ID, RoleID: m.roles[i%4], TenantID: m.tenants[5+i%50], CreatedAt: at})
				} else {
					err = st.CreateInstanceAssignment(ctx, &facts.Assignment{ID: tenancy.NewID(), EnvID: m.env, UserID: m.users[(i*11)%1300].ID, RoleID: roles[i%5], InstanceID: insts[i%50].ID, CreatedAt: at})
				}
				if err != nil && gatehouse.ErrorCode(err) != gatehouse.CodeConflict {
					done <- err
					return
				}
			}
		}()
		for i := range 60 {
			p := gatehouse.PageRequest{Page: 60 + i%20, PerPage: 20, Desc: i%3 == 0, CountUpTo: gatehouse.TotalCap}
			f := facts.AssignmentFilter{EnvID: m.env, Kind: facts.AllAssignments}
			if i%2 == 1 {
				f.Kind, p.Sort = "", []string{"user", "role", "tenant"}[i%3]
			}
			if _, err := store.WithoutAnchors(st).ListAssignments(ctx, f, p); err != nil {
				t.Fatal(err)
			}
		}
		close(stop)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if _, after, _ := db.MarkPages(); after != before {
			t.Fatalf("%d deep pages read while assignments were added found the marks wrong", after-before)
		}
		checkMarks(t, db, m.env)
	})
}

// ci: norace
// TestKeyMarksKept: the key marks are split and merged as the list marks
// are. Assignments added one by one at the end of a role's run grow the
// mark at its end, which a deep page of that role's list counts on every
// page (to find where the role's run ends) though its row is elsewhere:
// the page has that mark split. Deletes of most of the rows leave marks
// nearly empty: a page has them merged.
func TestKeyMarksKept(t *testing.T) {
	t.Parallel()
	onMarkedEngines(t, "keykept", func(t *testing.T, db *store.DB, st *store.Store, m *marksEnv) {
		ctx := context.Background()
		largest := func() (n, count int) {
			if err := db.Writer().QueryRowContext(ctx, "SELECT COALESCE(MAX(n), 0), COUNT(*) FROM key_marks WHERE env_id = $1 AND sort = 'role'", m.env).Scan(&n, &count); err != nil {
				t.Fatal(err)
			}
			return n, count
		}
		late := m.at.Add(time.Hour)
		for i := range 600 {
			if err := st.CreateAssignment(ctx, &facts.Assignment{ID: tenancy.NewID(), EnvID: m.env, UserID: m.users[i].ID, RoleID: m.roles[1], TenantID: m.tenants[10], CreatedAt: late.Add(time.Duration(i) * time.Millisecond)}); err != nil {
				t.Fatal(err)
			}
		}
		if n, _ := largest(); n < 600 {
			t.Fatalf("the largest role mark counts %d rows: the 600 assignments added one by one did not grow one", n)
		}
		// Newest first, 1,000 rows in: the row is in an older mark.
		p := gatehouse.PageRequest{Page: 21, PerPage: 50, Desc: true, CountUpTo: gatehouse.TotalCap}
		f := facts.AssignmentFilter{EnvID: m.env, Role: "role-1"}
		got, err := store.WithoutAnchors(st).ListAssignments(ctx, f, p)
		if err != nil {
			t.Fatal(err)
		}
		want, err := store.WithoutMarks(store.WithoutAnchors(st)).ListAssignments(ctx, f, p)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("the page found through the marks differs from the page read by a skip:\n%s\n%s", short(got), short(want))
		}
		checkMarks(t, db, m.env) // waits for the upkeep
		if n, _ := largest(); n > 64 {
			t.Fatalf("after a deep page of role-1, its last mark still counts %d rows (split at 64)", n)
		}

		// Most users deleted (their assignments with them): a deep page of
		// the list sorted by role, past the end, has the marks merged.
		_, before := largest()
		if _, err := db.Writer().ExecContext(ctx, "DELETE FROM authz_users WHERE env_id = $1 AND key < 'u-1250'", m.env); err != nil {
			t.Fatal(err)
		}
		p = gatehouse.PageRequest{Page: 60, PerPage: 20, Sort: "role", CountUpTo: gatehouse.TotalCap}
		if _, err := store.WithoutAnchors(st).ListAssignments(ctx, facts.AssignmentFilter{EnvID: m.env}, p); err != nil {
			t.Fatal(err)
		}
		checkMarks(t, db, m.env)
		if _, after := largest(); before < 100 || after > 20 {
			t.Fatalf("%d role marks before the deletes, %d after the upkeep: not merged", before, after)
		}
	})
}

// ci: norace
// TestMarkedEnvironmentCleared: an environment emptied (a reset) drops the
// marks of its users and assignments before their rows, so that no row is
// counted out one by one; the marks are exact after it (none for rows that
// are gone, the tenants' counting the default tenant), and again after new
// rows, whose deep pages match the skip's.
func TestMarkedEnvironmentCleared(t *testing.T) {
	t.Parallel()
	onMarkedEngines(t, "envclear", func(t *testing.T, db *store.DB, st *store.Store, m *marksEnv) {
		ctx := context.Background()
		seedInstanceRoles(t, st, m)
		if err := st.InFactsTx(ctx, m.env, func(tx facts.Store) error { return tx.ClearEnvironment(ctx, m.env) }); err != nil {
			t.Fatal(err)
		}
		checkMarks(t, db, m.env)
		var left int
		if err := db.Writer().QueryRowContext(ctx, "SELECT (SELECT COUNT(*) FROM key_marks WHERE env_id = $1 AND sort NOT LIKE 't:%') + (SELECT COUNT(*) FROM list_marks WHERE env_id = $1 AND tbl <> 'authz_tenants')", m.env).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left != 0 {
			t.Fatalf("%d marks of users and assignments left after the environment was emptied", left)
		}
		// New rows after the reset.
		fresh := seedMarksEnvIn(t, st, m)
		checkMarks(t, db, m.env)
		for _, p := range []gatehouse.PageRequest{{Page: 25, PerPage: 50, CountUpTo: gatehouse.TotalCap}, {Page: 22, PerPage: 50, Desc: true, CountUpTo: 100}, {Page: 30, PerPage: 50, Sort: "role", CountUpTo: gatehouse.TotalCap}} {
			for _, f := range []facts.AssignmentFilter{{EnvID: m.env}, {EnvID: m.env, Role: "role-1"}} {
				if p.Sort != "" && f.Role != "" {
					continue
				}
				got, err := store.WithoutAnchors(st).ListAssignments(ctx, f, p)
				if err != nil {
					t.Fatal(err)
				}
				want, err := store.WithoutMarks(store.WithoutAnchors(st)).ListAssignments(ctx, f, p)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("after a reset and %d new assignments, %+v %+v: the page found through the marks differs from the skip's:\n%s\n%s", fresh, f, p, short(got), short(want))
				}
			}
		}
	})
}
