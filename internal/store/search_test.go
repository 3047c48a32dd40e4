package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// ci: norace
// TestSearchIndexMatchesScan: ?search= on users, tenants and resource
// instances (also filtered by resource type or tenant) read through
// the trigram indexes (migration 00032) gives, page by page, what reading
// every row of the environment gives, for terms of every kind (short,
// rare, common, in another environment only, across two columns, with
// LIKE's and FTS5's special characters, other cases, non-ASCII), every
// sort, both orders, by number and by cursor, with the rows read through
// the index up to 10,000 and (as loaded) up to 5 rows (more are read in
// the list's order), after updates and deletes (on SQLite the index kept by
// triggers, FTS5's integrity check) and, on SQLite, after a VACUUM.
func TestSearchIndexMatchesScan(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		db := openSQLite(t)
		searchMatchesScan(t, db, true)
		store.SetSearchIndexedMax(db, 5)
		searchMatchesScan(t, db, false)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		db := openPostgres(t, storetest.NewPostgres(t))
		if !store.SearchIndexed(db) {
			t.Fatal("PostgreSQL has no search index: is the pg_trgm extension available (postgresql-contrib)?")
		}
		searchMatchesScan(t, db, true)
		store.SetSearchIndexedMax(db, 5)
		searchMatchesScan(t, db, false)
	})
}

// searchMatchesScan compares the lists as loaded and, when full, after
// writes (and on SQLite a VACUUM) too.
func searchMatchesScan(t *testing.T, db *store.DB, full bool) {
	ctx := context.Background()
	st := db.Store()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	org, envs := newEnvironments(t, st, "search", at, "e", "other")
	env, other := envs[0], envs[1]

	names := []struct{ first, last string }{{"Alice", "Martin"}, {"Zoë", "Ærø"}, {"Bob", "O'Hara"}, {"", ""}, {"ALICIA", "marTINEZ"}}
	specials := []string{"100%_off", `quo"te`, `back\slash`, "under_score", "per%cent", "tab\tbed", "x\x1fy"}
	var users []*facts.User
	for i := range 240 {
		n := names[i%len(names)]
		email := fmt.Sprintf("user%03d@example.com", (i*37)%240)
		if i%9 == 0 {
			email = fmt.Sprintf("User%03d@Example.ORG", i)
		}
		key := fmt.Sprintf("u-%03d", (i*7)%240)
		if i%30 == 3 && i/30 < len(specials) {
			key = specials[i/30]
		}
		users = append(users, &facts.User{ID: tenancy.NewID(), EnvID: env, Key: key, Email: email, FirstName: n.first, LastName: n.last,
			CreatedAt: at.Add(time.Duration(i/3) * time.Millisecond), UpdatedAt: at.Add(time.Duration((i*11)%240) * time.Millisecond)})
	}
	users = append(users, &facts.User{ID: tenancy.NewID(), EnvID: other, Key: "elsewhere-only", Email: "alice@elsewhere.test", FirstName: "Alice", CreatedAt: at, UpdatedAt: at})
	must(st.InsertUsers(ctx, users))
	var tenants []*facts.Tenant
	for i := range 60 {
		tenants = append(tenants, &facts.Tenant{ID: tenancy.NewID(), EnvID: env, Key: fmt.Sprintf("t-%02d", (i*7)%60), Name: []string{"Acme Corp", "ACME Labs", "Zoë's Café", "Globex", "100% Pure"}[i%5],
			CreatedAt: at.Add(time.Duration(i/2) * time.Millisecond), UpdatedAt: at})
	}
	must(st.InsertTenants(ctx, tenants))
	var resources []*facts.Resource
	for _, k := range []string{"document", "folder"} {
		r := &facts.Resource{ID: tenancy.NewID(), EnvID: env, Key: k, Name: k, Actions: []string{"read"}, Attributes: map[string]facts.AttributeDef{}, CreatedAt: at, UpdatedAt: at}
		must(st.CreateResource(ctx, r))
		resources = append(resources, r)
	}
	var instances []*facts.Instance
	for i := range 150 {
		key := []string{fmt.Sprintf("doc-%03d", (i*7)%150), fmt.Sprintf("Report-%d_Q%d", i, i%4), fmt.Sprintf("alice-notes-%d", i), fmt.Sprintf("100%%-done-%d", i)}[i%4]
		instances = append(instances, &facts.Instance{ID: tenancy.NewID(), EnvID: env, ResourceID: resources[i%2].ID, Key: key, TenantID: tenants[i%7].ID, Attributes: map[string]any{},
			CreatedAt: at.Add(time.Duration(i/2) * time.Millisecond), UpdatedAt: at.Add(time.Duration((i*13)%150) * time.Millisecond)})
	}
	must(st.InsertInstances(ctx, instances))

	terms := []string{"a", "al", "ali", "ALICE", "alic", "doc-0", "report-1", "_q2", "notes-14", "100%-", "-done", "example", "EXAMPLE.COM", "example.org", "u-0", "u-123", "user017@",
		"nobody", "elsewhere", "alice@else", "u-017user", "martin", "marTINez", "zoë", "ZOË", "ærø", "o'hara", "'",
		"100%", "%", "_off", "_", "per%c", `quo"te`, `"`, `back\slash`, `\`, "tab\tb", "x\x1fy", "\x1f", "acme", "ACME L", "café", "corp"}

	compare := func(when string) {
		t.Helper()
		for _, term := range terms {
			for _, o := range []struct {
				sort string
				desc bool
			}{{"", false}, {"", true}, {"key", false}, {"email", true}, {"updated_at", false}} {
				req := gatehouse.PageRequest{PerPage: 23, Sort: o.sort, Desc: o.desc, CountUpTo: 50}
				f := facts.Filter{EnvID: env, Search: term}
				got := walkUsers(t, st, f, req)
				want := walkUsers(t, store.WithoutSearchIndex(st), f, req)
				if !slices.Equal(got, want) {
					t.Fatalf("%s: users ?search=%q sort=%q desc=%v: through the index %q, reading every row %q", when, term, o.sort, o.desc, got, want)
				}
			}
			for _, o := range []struct {
				sort             string
				resource, tenant string
			}{{"", "", ""}, {"key", "", ""}, {"tenant", "document", ""}, {"", "", tenants[1].Key}} {
				req := gatehouse.PageRequest{PerPage: 17, Sort: o.sort, CountUpTo: 30}
				f := facts.FineFilter{EnvID: env, Search: term, Resource: o.resource, Tenant: o.tenant}
				got := walkInstances(t, st, f, req)
				want := walkInstances(t, store.WithoutSearchIndex(st), f, req)
				if !slices.Equal(got, want) {
					t.Fatalf("%s: instances ?search=%q sort=%q resource=%q tenant=%q: through the index %q, reading every row %q", when, term, o.sort, o.resource, o.tenant, got, want)
				}
			}
			for _, sort := range []string{"", "name"} {
				req := gatehouse.PageRequest{PerPage: 11, Sort: sort, CountUpTo: 20}
				f := facts.Filter{EnvID: env, Search: term}
				got := walkTenants(t, st, f, req)
				want := walkTenants(t, store.WithoutSearchIndex(st), f, req)
				if !slices.Equal(got, want) {
					t.Fatalf("%s: tenants ?search=%q sort=%q: through the index %q, reading every row %q", when, term, sort, got, want)
				}
			}
		}
		must(store.SearchIndexIntact(ctx, db))
	}
	compare("as loaded")
	if !full {
		return
	}

	// What a few terms find, whatever the path: the index must neither
	// lose rows nor find a term across two columns or environments.
	for _, c := range []struct {
		term string
		want int
	}{{"ALICE", 48}, {"alic", 96}, {"alice@", 0}, {"elsewhere", 0}, {"u-017user", 0}, {"100%", 1}, {"%", 2}, {`quo"te`, 1}, {"x\x1fy", 1}} {
		page, err := st.ListUsers(ctx, facts.Filter{EnvID: env, Search: c.term}, gatehouse.PageRequest{PerPage: 100})
		must(err)
		if page.Total != c.want {
			t.Errorf("users ?search=%q: %d, want %d", c.term, page.Total, c.want)
		}
	}

	// Writes through the store keep the index: new emails and names
	// found, old ones not, deleted rows gone.
	u := users[5]
	u.Email, u.FirstName, u.UpdatedAt = "renamed.person@newmail.test", "Quentin", at.Add(time.Hour)
	must(st.UpdateUser(ctx, u))
	must(st.DeleteUser(ctx, env, users[6].ID))
	must(st.DeleteInstance(ctx, env, instances[2].ID))
	inst := &facts.Instance{ID: tenancy.NewID(), EnvID: env, ResourceID: resources[0].ID, Key: "fresh-alice-doc", TenantID: tenants[0].ID, Attributes: map[string]any{}, CreatedAt: at.Add(time.Hour), UpdatedAt: at.Add(time.Hour)}
	must(st.CreateInstance(ctx, inst))
	tn := tenants[2]
	tn.Name = "Initech"
	must(st.UpdateTenant(ctx, tn))
	must(st.DeleteTenant(ctx, env, tenants[3].ID))
	must(st.CreateUser(ctx, &facts.User{ID: tenancy.NewID(), EnvID: env, Key: "late-alice", Email: "late@example.com", FirstName: "Alice", CreatedAt: at.Add(time.Hour), UpdatedAt: at.Add(time.Hour)}))
	terms = append(terms, "newmail", "quentin", "initech", "late-al", "fresh-al")
	compare("after writes")
	for term, want := range map[string]int{"newmail": 1, "QUENTIN": 1, "initech": 1, "late-al": 1} {
		n := 0
		if term == "initech" {
			page, err := st.ListTenants(ctx, facts.Filter{EnvID: env, Search: term}, gatehouse.PageRequest{})
			must(err)
			n = page.Total
		} else {
			page, err := st.ListUsers(ctx, facts.Filter{EnvID: env, Search: term}, gatehouse.PageRequest{})
			must(err)
			n = page.Total
		}
		if n != want {
			t.Errorf("after writes, ?search=%q: %d, want %d", term, n, want)
		}
	}

	if db.Engine == store.SQLite {
		// VACUUM keeps the rowids the index is keyed by.
		_, err := db.Writer().ExecContext(ctx, "VACUUM")
		must(err)
		compare("after VACUUM")
	}

	// Deleting the other environment (its rows cascade) leaves the index
	// whole.
	must(st.DeleteEnvironment(ctx, org, other))
	must(store.SearchIndexIntact(ctx, db))
}

// walkUsers reads every page of f by number, then by cursor, and returns
// the keys in order (the two must agree) and the count.
func walkUsers(t *testing.T, st *store.Store, f facts.Filter, req gatehouse.PageRequest) []string {
	t.Helper()
	return walkList(t, func(r gatehouse.PageRequest) (gatehouse.Page[facts.User], error) {
		return st.ListUsers(context.Background(), f, r)
	},
		func(u facts.User) string { return u.Key }, req)
}

func walkInstances(t *testing.T, st *store.Store, f facts.FineFilter, req gatehouse.PageRequest) []string {
	t.Helper()
	return walkList(t, func(r gatehouse.PageRequest) (gatehouse.Page[facts.Instance], error) {
		return st.ListInstances(context.Background(), f, r)
	},
		func(x facts.Instance) string { return x.Resource + ":" + x.Key }, req)
}

func walkTenants(t *testing.T, st *store.Store, f facts.Filter, req gatehouse.PageRequest) []string {
	t.Helper()
	return walkList(t, func(r gatehouse.PageRequest) (gatehouse.Page[facts.Tenant], error) {
		return st.ListTenants(context.Background(), f, r)
	},
		func(x facts.Tenant) string { return x.Key }, req)
}

func walkList[T any](t *testing.T, list func(gatehouse.PageRequest) (gatehouse.Page[T], error), key func(T) string, req gatehouse.PageRequest) []string {
	t.Helper()
	var byNumber []string
	total := -1
	for n := 1; ; n++ {
		r := req
		r.Page = n
		page, err := list(r)
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			total = page.Total
		}
		for _, x := range page.Items {
			byNumber = append(byNumber, key(x))
		}
		if len(page.Items) < req.PerPage {
			break
		}
	}
	var byCursor []string
	r := req
	r.Cursor = store.StartCursor
	for {
		page, err := list(r)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range page.Items {
			byCursor = append(byCursor, key(x))
		}
		if page.NextCursor == "" {
			break
		}
		r.Cursor = page.NextCursor
	}
	if !slices.Equal(byNumber, byCursor) {
		t.Fatalf("by number %q, by cursor %q", byNumber, byCursor)
	}
	want := min(len(byNumber), req.CountUpTo)
	if req.CountUpTo == 0 {
		want = len(byNumber)
	}
	if total != want {
		t.Fatalf("count %d, want %d (%d rows)", total, want, len(byNumber))
	}
	return append(byNumber, fmt.Sprintf("(%d)", total))
}

// TestSearchCursorAcrossPaths: a cursor of a search read through the
// index still reads its next page once so many rows hold the term that
// the list reads it in order (the cursor is bound to the search, not to
// how its rows are read), and the other way round.
func TestSearchCursorAcrossPaths(t *testing.T) {
	onEachEngine(t, func(t *testing.T, open func(t *testing.T) *store.DB) {
		ctx := context.Background()
		db := open(t)
		store.SetSearchIndexedMax(db, 5)
		st := db.Store()
		at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
		o := &tenancy.Organization{ID: tenancy.NewID(), Key: "paths", Name: "paths", Settings: tenancy.DefaultOrgSettings(), CreatedAt: at, UpdatedAt: at}
		must(t, st.CreateOrganization(ctx, o))
		p := &tenancy.Project{ID: tenancy.NewID(), OrgID: o.ID, Key: "p", Name: "p", CreatedAt: at, UpdatedAt: at}
		must(t, st.CreateProject(ctx, p))
		e := &tenancy.Environment{ID: tenancy.NewID(), OrgID: o.ID, ProjectID: p.ID, Key: "e", Name: "e", Settings: tenancy.DefaultEnvSettings(), CreatedAt: at, UpdatedAt: at}
		must(t, st.CreateEnvironment(ctx, e))
		var users []*facts.User
		for i := range 200 {
			users = append(users, &facts.User{ID: tenancy.NewID(), EnvID: e.ID, Key: fmt.Sprintf("u-%03d", i), Email: fmt.Sprintf("u%03d@example.com", i), CreatedAt: at.Add(time.Duration(i) * time.Millisecond), UpdatedAt: at})
		}
		for i := range 4 {
			users[i*40].FirstName = "Rhiannon"
		}
		must(t, st.InsertUsers(ctx, users))
		f := facts.Filter{EnvID: e.ID, Search: "rhiannon"}
		first, err := st.ListUsers(ctx, f, gatehouse.PageRequest{Cursor: store.StartCursor, PerPage: 2})
		must(t, err)
		if got := keysOf(first.Items); !slices.Equal(got, []string{"u-000", "u-040"}) || first.NextCursor == "" {
			t.Fatalf("first page %q, next cursor %q", got, first.NextCursor)
		}
		// Four more users named so: 8 rows hold the term, more than
		// the 5 read through the index.
		for i := range 4 {
			must(t, st.CreateUser(ctx, &facts.User{ID: tenancy.NewID(), EnvID: e.ID, Key: fmt.Sprintf("late-%d", i), FirstName: "RHIANNON", CreatedAt: at.Add(time.Hour + time.Duration(i)), UpdatedAt: at}))
		}
		var rest []string
		for cur := first.NextCursor; cur != ""; {
			page, err := st.ListUsers(ctx, f, gatehouse.PageRequest{Cursor: cur, PerPage: 2})
			must(t, err)
			rest = append(rest, keysOf(page.Items)...)
			cur = page.NextCursor
		}
		if want := []string{"u-080", "u-120", "late-0", "late-1", "late-2", "late-3"}; !slices.Equal(rest, want) {
			t.Fatalf("after the first page: %q, want %q", rest, want)
		}
		// And back: a cursor taken in order, followed after deletes
		// leave few enough rows to read through the index.
		second, err := st.ListUsers(ctx, f, gatehouse.PageRequest{Cursor: store.StartCursor, PerPage: 3})
		must(t, err)
		if second.NextCursor == "" {
			t.Fatal("no next cursor")
		}
		for _, u := range users[:200:200] {
			if u.FirstName != "" && u.Key != "u-000" {
				must(t, st.DeleteUser(ctx, e.ID, u.ID))
			}
		}
		page, err := st.ListUsers(ctx, f, gatehouse.PageRequest{Cursor: second.NextCursor, PerPage: 10})
		must(t, err)
		if got, want := keysOf(page.Items), []string{"late-0", "late-1", "late-2", "late-3"}; !slices.Equal(got, want) {
			t.Fatalf("after deletes: %q, want %q", got, want)
		}
	})
}

func keysOf(us []facts.User) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.Key)
	}
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestSearchRefusesNulAndInvalidUTF8: a search term with a NUL or bytes
// that are not UTF-8 is refused with a field error (a 4xx) by every list
// that searches, on both engines: PostgreSQL refuses both in text and
// SQLite's FTS5 ends its query at a NUL ("unterminated string").
func TestSearchRefusesNulAndInvalidUTF8(t *testing.T) {
	onEachEngine(t, func(t *testing.T, open func(t *testing.T) *store.DB) {
		ctx := context.Background()
		st := open(t).Store()
		env := tenancy.NewID()
		for _, term := range []string{"ab\x00cd", "\x00\x00\x00", "\xff\xfe\xfd", "ok\xc3"} {
			f, ff := facts.Filter{EnvID: env, Search: term}, facts.FineFilter{EnvID: env, Search: term}
			req := gatehouse.PageRequest{}
			for name, list := range map[string]func() error{
				"users":          func() error { _, err := st.ListUsers(ctx, f, req); return err },
				"tenants":        func() error { _, err := st.ListTenants(ctx, f, req); return err },
				"roles":          func() error { _, err := st.ListRoles(ctx, f, req); return err },
				"resources":      func() error { _, err := st.ListResources(ctx, f, req); return err },
				"instances":      func() error { _, err := st.ListInstances(ctx, ff, req); return err },
				"resource roles": func() error { _, err := st.ListResourceRoles(ctx, ff, req); return err },
				"relations":      func() error { _, err := st.ListRelations(ctx, ff, req); return err },
				"condition sets": func() error { _, err := st.ListConditionSets(ctx, ff, req); return err },
				"users by cursor": func() error {
					_, err := st.ListUsers(ctx, f, gatehouse.PageRequest{Cursor: store.StartCursor})
					return err
				},
			} {
				var ge *gatehouse.Error
				if err := list(); !errors.As(err, &ge) || ge.Code != gatehouse.CodeInvalidRequest || ge.Details["field"] != "search" {
					t.Errorf("%s ?search=%q: %v, want an invalid request about search", name, term, err)
				}
			}
		}
	})
}

// onEachEngine runs fn on SQLite and on PostgreSQL, in parallel; open
// gives a fresh database of the engine.
func onEachEngine(t *testing.T, fn func(t *testing.T, open func(t *testing.T) *store.DB)) {
	t.Parallel()
	for _, c := range []struct {
		name string
		open func(t *testing.T) *store.DB
	}{{"sqlite", openSQLite}, {"postgres", openPostgresDB}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			fn(t, c.open)
		})
	}
}

// newEnvironments creates an organization (its key name and a new id),
// a project and environments of the given keys in it, created at at, and
// returns the organization's id and the environments'.
func newEnvironments(t *testing.T, st *store.Store, name string, at time.Time, keys ...string) (string, []string) {
	t.Helper()
	ctx := context.Background()
	o := &tenancy.Organization{ID: tenancy.NewID(), Key: name + "-" + tenancy.NewID(), Name: name, Settings: tenancy.DefaultOrgSettings(), CreatedAt: at, UpdatedAt: at}
	if err := st.CreateOrganization(ctx, o); err != nil {
		t.Fatal(err)
	}
	p := &tenancy.Project{ID: tenancy.NewID(), OrgID: o.ID, Key: "p", Name: "p", CreatedAt: at, UpdatedAt: at}
	if err := st.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	var envs []string
	for _, k := range keys {
		e := &tenancy.Environment{ID: tenancy.NewID(), OrgID: o.ID, ProjectID: p.ID, Key: k, Name: k, Settings: tenancy.DefaultEnvSettings(), CreatedAt: at, UpdatedAt: at}
		if err := st.CreateEnvironment(ctx, e); err != nil {
			t.Fatal(err)
		}
		envs = append(envs, e.ID)
	}
	return o.ID, envs
}
