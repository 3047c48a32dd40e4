package store_test

import (
	"context"
	"fmt"
	"math/rand"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

func openSQLite(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.OpenSQLite(context.Background(), storetest.NewSQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetSecrets(storetest.Ring(t))
	return db
}

func openPostgres(t *testing.T, url string) *store.DB {
	t.Helper()
	db, err := store.OpenPostgres(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetSecrets(storetest.Ring(t))
	return db
}

// ci: norace
// TestAnchoredPagesMatchSkips: random deep pages by number (users and
// role assignments of both kinds, every sort, both orders, 20, 50 or 100 a
// page, counted in full or capped, one to three pages in a row, so that a
// page follows one read just before it or before a write) interleaved with
// writes made by another node (a user's email changed, a user and an
// assignment added before the others, a user and assignments of both
// kinds added after every row, a user deleted with its assignments), each page compared with the same page read by a skip on
// the same node: rows, count and next cursor. On SQLite, and on three
// nodes of one PostgreSQL database (pages read on two of them, at random,
// so that a page often follows one another node read: they share the kept
// cursors).
func TestAnchoredPagesMatchSkips(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		db := openSQLite(t)
		anchoredMatchSkips(t, []*store.DB{db}, db)
	})
	t.Run("postgres three nodes", func(t *testing.T) {
		t.Parallel()
		url := storetest.NewPostgres(t)
		anchoredMatchSkips(t, []*store.DB{openPostgres(t, url), openPostgres(t, url)}, openPostgres(t, url))
	})
}

// anchoredMatchSkips reads pages on a node of readers taken at random (on
// PostgreSQL they share the kept cursors) and writes on writer.
func anchoredMatchSkips(t *testing.T, readers []*store.DB, writer *store.DB) {
	ctx := context.Background()
	a, w := readers[0].Store(), writer.Store()
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	o := &tenancy.Organization{ID: tenancy.NewID(), Key: "anchors", Name: "anchors", Settings: tenancy.DefaultOrgSettings(), CreatedAt: at, UpdatedAt: at}
	must(a.CreateOrganization(ctx, o))
	p := &tenancy.Project{ID: tenancy.NewID(), OrgID: o.ID, Key: "p", Name: "p", CreatedAt: at, UpdatedAt: at}
	must(a.CreateProject(ctx, p))
	e := &tenancy.Environment{ID: tenancy.NewID(), OrgID: o.ID, ProjectID: p.ID, Key: "e", Name: "e", Settings: tenancy.DefaultEnvSettings(), CreatedAt: at, UpdatedAt: at}
	must(a.CreateEnvironment(ctx, e))
	env := e.ID
	var roles, tenants []string
	for i := range 4 {
		r := &facts.Role{ID: tenancy.NewID(), EnvID: env, Key: fmt.Sprintf("role-%d", i), Name: "R", Permissions: []string{}, Extends: []string{}, CreatedAt: at, UpdatedAt: at}
		must(a.CreateRole(ctx, r))
		roles = append(roles, r.ID)
	}
	var ts []*facts.Tenant
	for i := range 5 {
		ts = append(ts, &facts.Tenant{ID: tenancy.NewID(), EnvID: env, Key: fmt.Sprintf("t-%d", i), Name: "T", CreatedAt: at, UpdatedAt: at})
		tenants = append(tenants, ts[i].ID)
	}
	must(a.InsertTenants(ctx, ts))
	var users []*facts.User
	for i := range 1300 {
		users = append(users, &facts.User{ID: tenancy.NewID(), EnvID: env, Key: fmt.Sprintf("u-%04d", (i*7)%1300), Email: fmt.Sprintf("m%04d@example.com", (i*13)%1300),
			CreatedAt: at.Add(time.Duration(i/4) * time.Millisecond), UpdatedAt: at})
	}
	must(a.InsertUsers(ctx, users))
	var as []facts.Assignment
	for i := range 1300 {
		as = append(as, facts.Assignment{ID: tenancy.NewID(), EnvID: env, UserID: users[i%130].ID, RoleID: roles[i%4], TenantID: tenants[(i/4)%5],
			CreatedAt: at.Add(time.Duration(i/3) * time.Millisecond)})
	}
	must(a.InTx(ctx, func(tx *store.Store) error { _, err := tx.InsertAssignments(ctx, as); return err }))
	res := &facts.Resource{ID: tenancy.NewID(), EnvID: env, Key: "doc", Name: "Doc", Actions: []string{"read"}, Attributes: map[string]facts.AttributeDef{},
		Config: map[string]any{}, Status: "active", CreatedAt: at, UpdatedAt: at}
	must(a.CreateResource(ctx, res))
	rr := &facts.ResourceRole{ID: tenancy.NewID(), EnvID: env, ResourceID: res.ID, Key: "role-1", Name: "R", Permissions: []string{"read"},
		Extends: []string{}, Attributes: map[string]any{}, CreatedAt: at, UpdatedAt: at}
	must(a.CreateResourceRole(ctx, rr))
	inst := &facts.Instance{ID: tenancy.NewID(), EnvID: env, ResourceID: res.ID, Key: "d1", TenantID: tenants[0], Attributes: map[string]any{}, CreatedAt: at, UpdatedAt: at}
	must(a.CreateInstance(ctx, inst))
	for i := range 200 {
		must(a.CreateInstanceAssignment(ctx, &facts.Assignment{ID: tenancy.NewID(), EnvID: env, UserID: users[i].ID, RoleID: rr.ID, InstanceID: inst.ID, TenantID: inst.TenantID,
			CreatedAt: at.Add(time.Duration(i*2) * time.Millisecond)}))
	}

	lists := []struct {
		name  string
		sorts []string
		list  func(st *store.Store, p gatehouse.PageRequest) (any, error)
	}{
		{"users", []string{"", "key", "email", "updated_at"}, func(st *store.Store, p gatehouse.PageRequest) (any, error) {
			return st.ListUsers(ctx, facts.Filter{EnvID: env}, p)
		}},
		{"tenant assignments", []string{"", "user", "role", "tenant"}, func(st *store.Store, p gatehouse.PageRequest) (any, error) {
			return st.ListAssignments(ctx, facts.AssignmentFilter{EnvID: env}, p)
		}},
		{"assignments of both kinds", []string{"", "user", "role", "tenant"}, func(st *store.Store, p gatehouse.PageRequest) (any, error) {
			return st.ListAssignments(ctx, facts.AssignmentFilter{EnvID: env, Kind: facts.AllAssignments}, p)
		}},
	}
	if len(readers) > 1 {
		// A page read on one node, the next on another: the second finds
		// the cursor the first kept.
		p := gatehouse.PageRequest{Page: 11, PerPage: 100, CountUpTo: gatehouse.TotalCap}
		_, err := readers[0].Store().ListUsers(ctx, facts.Filter{EnvID: env}, p)
		must(err)
		before, _ := readers[1].AnchorPages()
		p.Page = 12
		_, err = readers[1].Store().ListUsers(ctx, facts.Filter{EnvID: env}, p)
		must(err)
		if after, _ := readers[1].AnchorPages(); after != before+1 {
			t.Fatalf("page 12 on a second node after page 11 on the first: not read through the cursor the first kept")
		}
	}
	rng := rand.New(rand.NewSource(1))
	hits, writes := 0, 0
	// write makes one write on the writer node (writes numbers its keys and
	// times) and reports whether it only inserted rows after every other.
	write := func(kind int) (appended bool) {
		writes++
		i := rng.Intn(len(users))
		switch kind {
		case 0:
			u := *users[i]
			u.Email, u.UpdatedAt = fmt.Sprintf("z%d@example.com", writes), at.Add(time.Duration(writes)*time.Second)
			if err := w.UpdateUser(ctx, &u); err != nil && gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
				t.Fatal(err)
			}
		case 1:
			u := &facts.User{ID: tenancy.NewID(), EnvID: env, Key: fmt.Sprintf("n-%d", writes), Email: "n@example.com", CreatedAt: at.Add(-time.Duration(writes) * time.Second), UpdatedAt: at}
			must(w.CreateUser(ctx, u))
			must(w.CreateAssignment(ctx, &facts.Assignment{ID: tenancy.NewID(), EnvID: env, UserID: u.ID, RoleID: roles[0], TenantID: tenants[1], CreatedAt: at.Add(-time.Hour)}))
		case 2:
			if err := w.DeleteUser(ctx, env, users[i].ID); err != nil && gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
				t.Fatal(err)
			}
		case 3:
			// Inserts after every row: a list by created_at ascending
			// with a capped count keeps its cursors.
			late := at.Add(24*time.Hour + time.Duration(writes)*time.Second)
			u := &facts.User{ID: tenancy.NewID(), EnvID: env, Key: fmt.Sprintf("l-%d", writes), Email: "l@example.com", CreatedAt: late, UpdatedAt: late}
			must(w.CreateUser(ctx, u))
			must(w.CreateAssignment(ctx, &facts.Assignment{ID: tenancy.NewID(), EnvID: env, UserID: u.ID, RoleID: roles[1], TenantID: tenants[2], CreatedAt: late}))
			must(w.CreateInstanceAssignment(ctx, &facts.Assignment{ID: tenancy.NewID(), EnvID: env, UserID: u.ID, RoleID: rr.ID, InstanceID: inst.ID, TenantID: inst.TenantID, CreatedAt: late}))
			return true
		}
		return false
	}
	appendHits := 0
	for step := range 500 {
		if rng.Intn(12) == 0 {
			write(rng.Intn(4))
			continue
		}
		l := lists[rng.Intn(len(lists))]
		per := []int{20, 50, 100}[rng.Intn(3)]
		// Counted in full or capped (a count kept through inserts).
		sort := l.sorts[max(rng.Intn(len(l.sorts)+2)-2, 0)] // by created_at half the time
		p := gatehouse.PageRequest{PerPage: per, Sort: sort, Desc: rng.Intn(2) == 0, CountUpTo: []int{gatehouse.TotalCap, 500}[rng.Intn(2)]}
		// One to three pages in a row from the first deep page or one of
		// the next two: a page may follow one read before a write.
		first := 1000/per + 1 + rng.Intn(3)
		more := "" // the next cursor of the page before
		for n := first; n < first+1+rng.Intn(3); n++ {
			appended := false
			if n > first && rng.Intn(4) == 0 {
				// Between two pages of a walk; inserts after every row
				// more often than the rest.
				appended = write([]int{0, 1, 2, 3, 3, 3}[rng.Intn(6)])
			}
			p.Page = n
			reader := readers[rng.Intn(len(readers))]
			before, _ := reader.AnchorPages()
			got, err := l.list(reader.Store(), p)
			must(err)
			after, _ := reader.AnchorPages()
			hits += int(after - before)
			want, err := l.list(store.WithoutAnchors(reader.Store()), p)
			must(err)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("step %d, %s %+v: the page read through a kept cursor (%v) differs from the page read by a skip:\n%s\n%s", step, l.name, p, after > before, short(got), short(want))
			}
			if appended && more != "" && p.Sort == "" && !p.Desc && p.CountUpTo < gatehouse.TotalCap {
				// Capped, by created_at ascending: the inserts after
				// every row left the kept cursor where it was.
				if after == before {
					t.Fatalf("step %d, %s %+v: after inserts after every row, the page was not read through the cursor kept before them", step, l.name, p)
				}
				appendHits++
			}
			more = reflect.ValueOf(got).FieldByName("NextCursor").String()
		}
	}
	if hits < 100 || writes < 10 || appendHits < 3 {
		t.Fatalf("%d pages read through a kept cursor (%d of them after inserts after every row) and %d writes in between: the test did not exercise the kept cursors", hits, appendHits, writes)
	}
}

// short is v printed, cut to 400 bytes.
func short(v any) string {
	s := fmt.Sprintf("%+v", v)
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}

// TestFactTablesHaveVersionTriggers: every table of authorization data
// (authz_*, but the change feed) has the three triggers that change its
// environment's facts_versions value, on both engines: a table added or
// rebuilt without them would let a node serve a page through an outdated
// kept cursor.
func TestFactTablesHaveVersionTriggers(t *testing.T) {
	t.Parallel()
	for _, e := range []struct {
		name             string
		open             func(t *testing.T) *store.DB
		tables, triggers string
	}{
		{"sqlite", openSQLite,
			"SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'authz\\_%' ESCAPE '\\'",
			"SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = $1"},
		{"postgres", func(t *testing.T) *store.DB { return openPostgres(t, storetest.NewPostgres(t)) },
			"SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'authz\\_%'",
			"SELECT tgname FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal"},
	} {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			db := e.open(t)
			ctx := context.Background()
			names := func(query string, args ...any) []string {
				t.Helper()
				rows, err := db.Writer().QueryContext(ctx, query, args...)
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				var out []string
				for rows.Next() {
					var name string
					if err := rows.Scan(&name); err != nil {
						t.Fatal(err)
					}
					out = append(out, name)
				}
				if err := rows.Err(); err != nil {
					t.Fatal(err)
				}
				return out
			}
			tables := slices.DeleteFunc(names(e.tables), func(n string) bool { return n == "authz_changes" })
			if len(tables) < 12 {
				t.Fatalf("found %d fact tables: %v", len(tables), tables)
			}
			for _, table := range tables {
				have := names(e.triggers, table)
				for _, op := range []string{"ins", "upd", "del"} {
					if want := table + "_fv_" + op; !slices.Contains(have, want) {
						t.Errorf("%s has no trigger %s (it has %v)", table, want, have)
					}
				}
			}
		})
	}
}
