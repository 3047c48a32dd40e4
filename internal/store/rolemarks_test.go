package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/rand"
	"net/url"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

// ci: norace
// TestRoleMarkedPagesByUser: a deep page by number of one role's
// assignments sorted by user (?role=&sort=user, a role of more rows than
// are read whole and sorted) is found through that role's key marks
// (migration 00035) and is the page the walk over the users reads, at any
// depth, either order, counted in full or capped; through inserts one by
// one and in bulk (which split the marks they grow), deletes of
// assignments and users, a role deleted (its marks go with it) and a role
// made; and with counts gone wrong (made again).
func TestRoleMarkedPagesByUser(t *testing.T) {
	t.Parallel()
	onMarkedEngines(t, "rolemarks", func(t *testing.T, db *store.DB, st *store.Store, m *marksEnv) {
		ctx := context.Background()
		// Roles of more than 100 rows are walked by user, not sorted
		// whole: role-0 and role-1 (1,300 rows each), role-2 (400).
		store.SetFilteredSortMax(db, 100)
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
		roleKeys := []string{"role-0", "role-1", "role-2"}
		// page reads a page of role's assignments by user, through the
		// marks and by the walk, and fails t when they differ; it
		// reports whether the page came through the marks, and whether
		// it holds rows.
		kind := "" // the tenant assignments; then both kinds (below)
		pageRows := func(what, role string, p gatehouse.PageRequest) (marked, rows bool) {
			t.Helper()
			p.Sort = "user"
			f := facts.AssignmentFilter{EnvID: m.env, Role: role, Kind: kind}
			hits, _, _ := db.MarkPages()
			got, err := store.WithoutAnchors(st).ListAssignments(ctx, f, p)
			must(err)
			after, _, _ := db.MarkPages()
			want, err := store.WithoutMarks(store.WithoutAnchors(st)).ListAssignments(ctx, f, p)
			must(err)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s, %s %+v: the page found through the role's marks differs from the page the walk reads:\n%s\n%s", what, role, p, short(got), short(want))
			}
			return after > hits, len(got.Items) > 0
		}
		page := func(what, role string, p gatehouse.PageRequest) (marked bool) {
			t.Helper()
			marked, _ = pageRows(what, role, p)
			return marked
		}
		live := append([]*facts.User(nil), m.users...)
		// Deep pages holding rows, and those of them found through the
		// marks: all (a page past the end may be told by the count).
		marked, deep := 0, 0
		for step := range 240 {
			switch rng.Intn(8) {
			case 0: // one assignment anywhere in time, of a user anywhere in the sort
				a := &facts.Assignment{ID: tenancy.NewID(), EnvID: m.env, UserID: live[rng.Intn(len(live))].ID, RoleID: m.roles[rng.Intn(3)],
					TenantID: m.tenants[5+rng.Intn(1000)], CreatedAt: m.at.Add(time.Duration(rng.Intn(1200)-100) * time.Millisecond)}
				must(st.CreateAssignment(ctx, a))
			case 1: // a bulk insert: it splits the marks it grows
				var as []facts.Assignment
				for range 50 + rng.Intn(150) {
					as = append(as, facts.Assignment{ID: tenancy.NewID(), EnvID: m.env, UserID: live[rng.Intn(len(live))].ID, RoleID: m.roles[rng.Intn(3)],
						TenantID: m.tenants[5+rng.Intn(1000)], CreatedAt: m.at.Add(time.Duration(rng.Intn(1200)-100) * time.Millisecond)})
				}
				must(st.InTx(ctx, func(tx *store.Store) error { _, err := tx.InsertAssignments(ctx, as); return err }))
			case 2: // a user deleted takes their assignments
				i := rng.Intn(len(live))
				must(st.DeleteUser(ctx, m.env, live[i].ID))
				live = append(live[:i], live[i+1:]...)
			case 3: // an assignment deleted
				pg, err := st.ListAssignments(ctx, facts.AssignmentFilter{EnvID: m.env, Role: roleKeys[rng.Intn(3)]}, gatehouse.PageRequest{Page: 1 + rng.Intn(20), PerPage: 50})
				must(err)
				if len(pg.Items) > 0 {
					x := pg.Items[rng.Intn(len(pg.Items))]
					must(st.DeleteAssignment(ctx, m.env, x.UserID, x.RoleID, x.TenantID))
				}
			default:
				per := []int{20, 50, 100}[rng.Intn(3)]
				p := gatehouse.PageRequest{PerPage: per, Desc: rng.Intn(2) == 0, CountUpTo: []int{gatehouse.TotalCap, 500}[rng.Intn(2)]}
				p.Page = 1000/per + 1 + rng.Intn(1800/per) // deep, to past the end
				role := roleKeys[rng.Intn(3)]
				if hit, rows := pageRows(fmt.Sprintf("step %d", step), role, p); rows {
					deep++
					if hit {
						marked++
					}
				}
			}
			if step%60 == 0 {
				checkMarks(t, db, m.env)
			}
		}
		checkMarks(t, db, m.env)
		if _, _, splits := db.MarkPages(); marked < deep || deep < 10 || splits == 0 {
			t.Fatalf("%d of %d deep pages through the marks, %d splits: the test did not exercise the role's marks", marked, deep, splits)
		}

		// Counts gone wrong (as rows written with the triggers off leave
		// them): the page is still right, and the marks are made again.
		_, disagree, _ := db.MarkPages()
		if _, err := db.Writer().ExecContext(ctx, "UPDATE key_marks SET n = n + 3 WHERE env_id = $1 AND sort = $2", m.env, store.RoleUserSort(m.roles[1])); err != nil {
			t.Fatal(err)
		}
		page("with wrong counts", "role-1", gatehouse.PageRequest{Page: 60, PerPage: 20, CountUpTo: 500}) // (deep: 1,180 rows in)
		if _, d, _ := db.MarkPages(); d == disagree {
			t.Error("the wrong counts of the role's key marks went unnoticed")
		}
		checkMarks(t, db, m.env) // made again (in the background: checkMarks waits)

		// A role deleted takes its marks (checkMarks fails on a mark of a
		// role that is gone); a role made gets its own with its first
		// assignment.
		must(st.DeleteRole(ctx, m.env, m.roles[2]))
		checkMarks(t, db, m.env)
		r := &facts.Role{ID: tenancy.NewID(), EnvID: m.env, Key: "role-new", Name: "R", Permissions: []string{}, Extends: []string{}, CreatedAt: m.at, UpdatedAt: m.at}
		must(st.CreateRole(ctx, r))
		var as []facts.Assignment
		for i := range 1200 {
			as = append(as, facts.Assignment{ID: tenancy.NewID(), EnvID: m.env, UserID: live[(i*7)%len(live)].ID, RoleID: r.ID, TenantID: m.tenants[5+i%1000],
				CreatedAt: m.at.Add(time.Duration(rng.Intn(1000)) * time.Millisecond)})
		}
		must(st.InTx(ctx, func(tx *store.Store) error { _, err := tx.InsertAssignments(ctx, as); return err }))
		checkMarks(t, db, m.env)
		for _, desc := range []bool{false, true} {
			if !page("a new role", "role-new", gatehouse.PageRequest{Page: 56, PerPage: 20, Desc: desc, CountUpTo: gatehouse.TotalCap}) {
				t.Error("a deep page of a new role's assignments by user did not come through its marks")
			}
		}

		// Both kinds, in an environment with roles on instances: a role
		// that no assignment on an instance holds is its tenant
		// assignments, through its marks; one that a resource role of
		// the same key holds on instances is walked, both tables.
		kind = facts.AllAssignments
		for i := 0; len(live) < 1300; i++ { // (seedInstanceRoles assigns 1,300 users)
			u := &facts.User{ID: tenancy.NewID(), EnvID: m.env, Key: fmt.Sprintf("back-%d", i), CreatedAt: m.at, UpdatedAt: m.at}
			must(st.CreateUser(ctx, u))
			live = append(live, u)
		}
		m.users = live
		_, insts := seedInstanceRoles(t, st, m)
		shared := &facts.ResourceRole{ID: tenancy.NewID(), EnvID: m.env, ResourceID: insts[0].ResourceID, Key: "role-1", Name: "R", Permissions: []string{"read"},
			Extends: []string{}, Attributes: map[string]any{}, CreatedAt: m.at, UpdatedAt: m.at}
		must(st.CreateResourceRole(ctx, shared))
		as = nil
		for i := range 300 {
			in := insts[i%len(insts)]
			as = append(as, facts.Assignment{ID: tenancy.NewID(), EnvID: m.env, UserID: live[(i*11)%len(live)].ID, RoleID: shared.ID, InstanceID: in.ID, TenantID: in.TenantID,
				CreatedAt: m.at.Add(time.Duration(rng.Intn(1000)) * time.Millisecond)})
		}
		must(st.InTx(ctx, func(tx *store.Store) error { _, err := tx.InsertInstanceAssignments(ctx, as); return err }))
		for _, desc := range []bool{false, true} {
			for _, pg := range []int{11, 40, 56, 70} {
				p := gatehouse.PageRequest{Page: pg, PerPage: 20, Desc: desc, CountUpTo: []int{gatehouse.TotalCap, 500}[pg%2]}
				if marked := page("both kinds", "role-new", p); !marked && pg*20 < 1200 && pg > 50 {
					t.Errorf("both kinds of a role no assignment on an instance holds, page %d: not through its marks", pg)
				}
				page("both kinds, shared with a resource role", "role-1", p)
			}
		}
		checkMarks(t, db, m.env)

		// Both kinds sorted by tenant: a role no assignment on an
		// instance holds finds a deep page through its counts per tenant
		// (roleRowByTenant), the other walks; each page by number is the
		// slice of the list that its cursors walk.
		for _, role := range []string{"role-new", "role-1", "role-0"} {
			for _, desc := range []bool{false, true} {
				f := facts.AssignmentFilter{EnvID: m.env, Role: role, Kind: facts.AllAssignments}
				var walk []string
				p := gatehouse.PageRequest{PerPage: 100, Sort: "tenant", Desc: desc, Cursor: store.StartCursor}
				for {
					pg, err := st.ListAssignments(ctx, f, p)
					must(err)
					for _, a := range pg.Items {
						walk = append(walk, a.ID)
					}
					if pg.NextCursor == "" {
						break
					}
					p.Cursor = pg.NextCursor
				}
				for _, n := range []int{1, 50, 51, 52, 55, 60, 64, 65, 70} {
					pg, err := store.WithoutAnchors(st).ListAssignments(ctx, f, gatehouse.PageRequest{Page: n, PerPage: 20, Sort: "tenant", Desc: desc, CountUpTo: []int{gatehouse.TotalCap, 500}[n%2]})
					must(err)
					var got []string
					for _, a := range pg.Items {
						got = append(got, a.ID)
					}
					want := walk[min((n-1)*20, len(walk)):min(n*20, len(walk))]
					if !slices.Equal(got, want) && len(got)+len(want) > 0 {
						t.Fatalf("both kinds of %s by tenant (desc %v), page %d: %v, the cursors' walk has %v", role, desc, n, got, want)
					}
				}
			}
		}
	})
}

// ci: norace
// TestRoleUserKeyMarksMigration: migration 00035 makes the marks of the
// rows already there when it runs (an upgrade), and its triggers count the
// writes after it; undone, it leaves none of them.
func TestRoleUserKeyMarksMigration(t *testing.T) {
	t.Parallel()
	onMarkedEngines(t, "rolemarksup", func(t *testing.T, db *store.DB, st *store.Store, m *marksEnv) {
		ctx := context.Background()
		count := func() int {
			t.Helper()
			var n int
			if err := db.Writer().QueryRowContext(ctx, "SELECT COUNT(*) FROM key_marks WHERE env_id = $1 AND sort LIKE 'ru:%'", m.env).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		runMigration(t, db, "00035_role_user_key_marks.sql", "Down")
		if n := count(); n != 0 {
			t.Fatalf("%d role marks left after the migration was undone", n)
		}
		// Rows written while the migration is not there.
		var as []facts.Assignment
		for i := range 500 {
			as = append(as, facts.Assignment{ID: tenancy.NewID(), EnvID: m.env, UserID: m.users[(i*3)%1300].ID, RoleID: m.roles[3], TenantID: m.tenants[20+i],
				CreatedAt: m.at.Add(time.Duration(i) * time.Millisecond)})
		}
		if err := st.InTx(ctx, func(tx *store.Store) error { _, err := tx.InsertAssignments(ctx, as); return err }); err != nil {
			t.Fatal(err)
		}
		runMigration(t, db, "00035_role_user_key_marks.sql", "Up")
		// 1,300 + 1,300 + 400 + 500 rows, a mark every 1,024 of a role.
		if n := count(); n != 2+2+1+1 {
			t.Fatalf("%d role marks after the migration, want 6", n)
		}
		checkMarks(t, db, m.env)
		// Writes after it: the triggers count them.
		if err := st.DeleteUser(ctx, m.env, m.users[9].ID); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteRole(ctx, m.env, m.roles[3]); err != nil {
			t.Fatal(err)
		}
		checkMarks(t, db, m.env)
	})
}

// emptiedRole makes a role of m's environment, gives it an assignment and
// deletes it: its marks are left, counting none.
func emptiedRole(t *testing.T, st *store.Store, m *marksEnv) string {
	t.Helper()
	ctx := context.Background()
	r := &facts.Role{ID: tenancy.NewID(), EnvID: m.env, Key: "emptied", Name: "R", Permissions: []string{}, Extends: []string{}, CreatedAt: m.at, UpdatedAt: m.at}
	if err := st.CreateRole(ctx, r); err != nil {
		t.Fatal(err)
	}
	a := &facts.Assignment{ID: tenancy.NewID(), EnvID: m.env, UserID: m.users[0].ID, RoleID: r.ID, TenantID: m.tenants[0], CreatedAt: m.at}
	if err := st.CreateAssignment(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteAssignment(ctx, m.env, a.UserID, r.ID, a.TenantID); err != nil {
		t.Fatal(err)
	}
	return r.ID
}

// TestRoleDeletedBesideMarksUpkeep (PostgreSQL): a role deleted while the
// marks' upkeep holds its environment's facts_versions row and then
// rewrites the role's marks (as rebuildKeyMarks does) waits for it, and
// leaves no mark of the role: the delete's trigger takes that row before
// the marks. (It took the marks first: a deadlock, or a mark made again
// after the delete.)
func TestRoleDeletedBesideMarksUpkeep(t *testing.T) {
	t.Parallel()
	for _, rewrite := range []string{"delete", "delete-and-make"} {
		t.Run(rewrite, func(t *testing.T) {
			t.Parallel()
			db := openPostgres(t, storetest.NewPostgres(t))
			st := db.Store()
			m := seedMarksEnv(t, st, "roledel-"+rewrite)
			role := emptiedRole(t, st, m)
			sort := store.RoleUserSort(role)
			ctx := context.Background()
			tx, err := db.Writer().BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback() //nolint:errcheck // a no-op after Commit
			var one int
			if err := tx.QueryRowContext(ctx, "SELECT 1 FROM facts_versions WHERE env_id = $1 FOR UPDATE", m.env).Scan(&one); err != nil {
				t.Fatal(err)
			}
			if rewrite == "delete-and-make" {
				if _, err := tx.ExecContext(ctx, "DELETE FROM key_marks WHERE env_id = $1 AND sort = $2", m.env, sort); err != nil {
					t.Fatal(err)
				}
			}
			done := make(chan error, 1)
			go func() { done <- st.DeleteRole(ctx, m.env, role) }()
			// The delete is waiting on a lock (the facts_versions row).
			testwait.Until(t, 30*time.Second, "the role's delete to wait on a lock", func() bool {
				var n int
				if err := db.Writer().QueryRowContext(ctx, "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'").Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n > 0
			})
			if _, err := tx.ExecContext(ctx, "DELETE FROM key_marks WHERE env_id = $1 AND sort = $2", m.env, sort); err != nil {
				t.Fatalf("the upkeep's rewrite of the role's marks: %v", err)
			}
			if rewrite == "delete-and-make" {
				if _, err := tx.ExecContext(ctx, "INSERT INTO key_marks (env_id, sort, key, at, id, n) VALUES ($1, $2, '', $3, '', 0)", m.env, sort, int64(math.MinInt64)); err != nil {
					t.Fatal(err)
				}
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatalf("delete the role: %v", err)
			}
			checkMarks(t, db, m.env) // (no mark of a role that is gone)
		})
	}
}

// TestRoleMarksSplitUnderICUCollation (PostgreSQL): a bulk insert splits
// the roles' marks it grew in a database of an ICU collation too, where
// ';' sorts before ':' (the grown sorts were once found as the range
// ['ru:', 'ru;'), empty there: every deep page of a role then counted one
// mark of all its rows).
func TestRoleMarksSplitUnderICUCollation(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(storetest.NewPostgres(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/postgres"
	admin, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	name := fmt.Sprintf("gh_icu_%d", time.Now().UnixNano())
	if _, err := admin.Exec("CREATE DATABASE " + name + " TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"); err != nil {
		t.Fatalf("a database of an ICU collation: %v", err)
	}
	t.Cleanup(func() { _, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)") })
	var before bool
	if err := admin.QueryRow(`SELECT 'ru:a' < 'ru;' COLLATE "en-x-icu"`).Scan(&before); err != nil || before {
		t.Fatalf("the collation does not sort ';' before ':' (%v): the test shows nothing", err)
	}
	u.Path = "/" + name
	db := openPostgres(t, u.String())
	store.SetMarkSpan(db, 16, 64)
	st := db.Store()
	m := seedMarksEnv(t, st, "icu") // a bulk insert: 1,300 rows of role-0
	var most int
	if err := db.Writer().QueryRowContext(context.Background(), "SELECT MAX(n) FROM key_marks WHERE env_id = $1 AND sort = $2", m.env, store.RoleUserSort(m.roles[0])).Scan(&most); err != nil {
		t.Fatal(err)
	}
	if most > 64 {
		t.Fatalf("a mark of role-0 counts %d rows after the bulk insert (split at 64)", most)
	}
	checkMarks(t, db, m.env)
}
