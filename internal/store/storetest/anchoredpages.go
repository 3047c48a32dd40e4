package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// testAnchoredPages: a deep page by number that follows one this node
// served is read through the cursor it kept, and is the page a skip would
// read: the same rows and count. A write to any of the environment's
// facts (an assignment added by a bulk insert, one deleted, a user
// updated, a tenant added), another list, filter, sort or environment, and
// a page whose predecessor was never read are all read without it, and
// right.
func testAnchoredPages(t *testing.T, db *store.DB) {
	ctx := context.Background()
	st := db.Store()
	org := newOrg(t, st, "anchor")
	p := newProject(t, st, org, "p", now)
	env := newEnv(t, st, p, "e", false).ID
	other := newEnv(t, st, p, "other", false).ID

	// 1,250 assignments of 125 users (two environments with the same
	// keys), so that pages 11 to 13 of 100 are deep.
	seed := func(env string) (users []*facts.User, roles, tenants []string) {
		for i := 0; i < 5; i++ {
			r := &facts.Role{ID: tenancy.NewID(), EnvID: env, Key: fmt.Sprintf("role-%d", i), Name: "R", Permissions: []string{}, Extends: []string{}, CreatedAt: now, UpdatedAt: now}
			must(t, st.CreateRole(ctx, r))
			roles = append(roles, r.ID)
		}
		var ts []*facts.Tenant
		for i := 0; i < 7; i++ {
			ts = append(ts, &facts.Tenant{ID: tenancy.NewID(), EnvID: env, Key: fmt.Sprintf("t-%d", i), Name: "T", CreatedAt: now, UpdatedAt: now})
			tenants = append(tenants, ts[i].ID)
		}
		must(t, st.InsertTenants(ctx, ts))
		for i := 0; i < 125; i++ {
			users = append(users, &facts.User{ID: tenancy.NewID(), EnvID: env, Key: fmt.Sprintf("u-%03d", (i*7)%125), Email: fmt.Sprintf("m%03d@example.com", i),
				CreatedAt: now, UpdatedAt: now})
		}
		must(t, st.InsertUsers(ctx, users))
		var as []facts.Assignment
		for i := 0; i < 1250; i++ {
			u := i / 10
			as = append(as, facts.Assignment{ID: tenancy.NewID(), EnvID: env, UserID: users[u].ID, RoleID: roles[(u+i)%5],
				TenantID: tenants[(u*3+i)%7], CreatedAt: now.Add(time.Duration(i/3) * time.Millisecond)})
		}
		must(t, st.InTx(ctx, func(tx *store.Store) error { _, err := tx.InsertAssignments(ctx, as); return err }))
		return users, roles, tenants
	}
	users, roles, tenants := seed(env)
	seed(other)

	type listed struct {
		ids   []string
		total int
	}
	list := func(env string, pr gatehouse.PageRequest) listed {
		t.Helper()
		res, err := st.ListAssignments(ctx, facts.AssignmentFilter{EnvID: env}, pr)
		if err != nil {
			t.Fatalf("list %s by %q (desc %v), page %d: %v", env, pr.Sort, pr.Desc, pr.Page, err)
		}
		out := listed{total: res.Total}
		for _, a := range res.Items {
			if a.EnvID != env {
				t.Fatalf("an assignment of another environment: %+v", a)
			}
			out.ids = append(out.ids, a.ID)
		}
		return out
	}
	// truth is the list in order o read by cursor from its start, the
	// reference.
	truth := func(env string, o gatehouse.PageRequest) []string {
		t.Helper()
		var ids []string
		o.PerPage, o.Cursor = 100, store.StartCursor
		for o.Cursor != "" {
			res, err := st.ListAssignments(ctx, facts.AssignmentFilter{EnvID: env}, o)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range res.Items {
				ids = append(ids, a.ID)
			}
			o.Cursor = res.NextCursor
		}
		return ids
	}
	// page reads page n (of 100) in order o by number, checks it against
	// the truth, and reports whether it was read through a kept cursor.
	page := func(env string, o gatehouse.PageRequest, n int, want []string) bool {
		t.Helper()
		hits, _ := db.AnchorPages()
		o.Page, o.PerPage, o.CountUpTo = n, 100, gatehouse.TotalCap
		got := list(env, o)
		from := min((n-1)*100, len(want))
		if exp := want[from:min(from+100, len(want))]; fmt.Sprint(got.ids) != fmt.Sprint(exp) {
			i := 0
			for i < min(len(got.ids), len(exp)) && got.ids[i] == exp[i] {
				i++
			}
			t.Fatalf("%s by %q (desc %v), page %d: %d rows, want %d; they differ from row %d of the page", env, o.Sort, o.Desc, n, len(got.ids), len(exp), i)
		}
		if got.total != len(want) {
			t.Fatalf("%s by %q (desc %v), page %d: counted %d, want %d", env, o.Sort, o.Desc, n, got.total, len(want))
		}
		after, _ := db.AnchorPages()
		return after > hits
	}
	expect := func(what string, got, want bool) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: read through a kept cursor = %v, want %v", what, got, want)
		}
	}

	byTime := gatehouse.PageRequest{}
	want := truth(env, byTime)
	expect("page 11, the first deep page read", page(env, byTime, 11, want), false)
	expect("page 12 after 11", page(env, byTime, 12, want), true)
	expect("page 13 after 12", page(env, byTime, 13, want), true)
	expect("page 14, past the end, after 13 (the last)", page(env, byTime, 14, want), false)
	expect("page 12 again", page(env, byTime, 12, want), true)
	expect("page 12 of the other environment", page(other, byTime, 12, truth(other, byTime)), false)
	for _, o := range []gatehouse.PageRequest{{Desc: true}, {Sort: "user"}, {Sort: "tenant", Desc: true}} {
		w := truth(env, o)
		expect(fmt.Sprintf("page 12 by %q (desc %v) after pages of another order", o.Sort, o.Desc), page(env, o, 12, w), false)
		expect(fmt.Sprintf("page 13 by %q (desc %v) after 12", o.Sort, o.Desc), page(env, o, 13, w), true)
	}

	// Each write below moves the list or not; either way the kept cursor
	// of page 12 is not used after it, and the page is right.
	writes := []struct {
		what  string
		write func()
	}{
		{"an assignment inserted in bulk before every other", func() {
			a := facts.Assignment{ID: tenancy.NewID(), EnvID: env, UserID: users[3].ID, RoleID: roles[4], TenantID: tenants[6], CreatedAt: now.Add(-time.Hour)}
			must(t, st.InTx(ctx, func(tx *store.Store) error { _, err := tx.InsertAssignments(ctx, []facts.Assignment{a}); return err }))
		}},
		{"an assignment deleted", func() {
			res, err := st.ListAssignments(ctx, facts.AssignmentFilter{EnvID: env}, gatehouse.PageRequest{Page: 2, PerPage: 1})
			must(t, err)
			a := res.Items[0]
			must(t, st.DeleteAssignment(ctx, env, a.UserID, a.RoleID, a.TenantID))
		}},
		{"a user's name changed", func() {
			u, err := st.GetUser(ctx, env, users[5].ID)
			must(t, err)
			u.FirstName, u.UpdatedAt = "Renamed", now.Add(time.Minute)
			must(t, st.UpdateUser(ctx, u))
		}},
		{"a tenant added", func() {
			must(t, st.CreateTenant(ctx, &facts.Tenant{ID: tenancy.NewID(), EnvID: env, Key: "t-new", Name: "T", CreatedAt: now, UpdatedAt: now}))
		}},
	}
	for _, w := range writes {
		expect("page 11 before "+w.what, page(env, byTime, 11, want), false)
		expect("page 12 before "+w.what, page(env, byTime, 12, want), true)
		w.write()
		want = truth(env, byTime)
		_, stale := db.AnchorPages()
		expect("page 12 after "+w.what, page(env, byTime, 12, want), false)
		if _, got := db.AnchorPages(); got != stale+1 {
			t.Fatalf("after %s: stale kept cursors %d, want %d", w.what, got, stale+1)
		}
		expect("page 13 after "+w.what+" and page 12", page(env, byTime, 13, want), true)
	}
	if len(want) != 1250 {
		t.Fatalf("the environment holds %d assignments, want 1250", len(want))
	}
}

// testAnchoredAppends: a list sorted by created_at ascending whose count is
// capped keeps reading its deep pages through kept cursors across inserts
// after every row of the environment (they land after every kept cursor),
// and only those: an insert before the environment's newest row, a delete,
// an update, or a list in another order is read by a skip after the write.
// Every page is the one the list read from its start by cursor gives.
func testAnchoredAppends(t *testing.T, db *store.DB) {
	ctx := context.Background()
	st := db.Store()
	org := newOrg(t, st, "appends")
	p := newProject(t, st, org, "p", now)
	env := newEnv(t, st, p, "e", false).ID

	var users, roles, tenants []string
	for i := range 3 {
		r := &facts.Role{ID: tenancy.NewID(), EnvID: env, Key: fmt.Sprintf("role-%d", i), Name: "R", Permissions: []string{}, Extends: []string{}, CreatedAt: now, UpdatedAt: now}
		must(t, st.CreateRole(ctx, r))
		roles = append(roles, r.ID)
		tn := &facts.Tenant{ID: tenancy.NewID(), EnvID: env, Key: fmt.Sprintf("t-%d", i), Name: "T", CreatedAt: now, UpdatedAt: now}
		must(t, st.CreateTenant(ctx, tn))
		tenants = append(tenants, tn.ID)
	}
	var us []*facts.User
	for i := range 500 {
		us = append(us, &facts.User{ID: tenancy.NewID(), EnvID: env, Key: fmt.Sprintf("u-%03d", i), CreatedAt: now, UpdatedAt: now})
		users = append(users, us[i].ID)
	}
	must(t, st.InsertUsers(ctx, us))
	// at is the time of the next assignment inserted after the others.
	at := now.Add(time.Second)
	insert := func(user, role, tenant int, created time.Time, id ...string) {
		t.Helper()
		a := facts.Assignment{ID: tenancy.NewID(), EnvID: env, UserID: users[user], RoleID: roles[role], TenantID: tenants[tenant], CreatedAt: created}
		if len(id) > 0 {
			a.ID = id[0]
		}
		must(t, st.InTx(ctx, func(tx *store.Store) error { _, err := tx.InsertAssignments(ctx, []facts.Assignment{a}); return err }))
	}
	var as []facts.Assignment
	for i := range 1300 {
		as = append(as, facts.Assignment{ID: tenancy.NewID(), EnvID: env, UserID: users[i%500], RoleID: roles[(i/500)%3], TenantID: tenants[i%3],
			CreatedAt: now.Add(time.Duration(i/2) * time.Millisecond)})
	}
	must(t, st.InTx(ctx, func(tx *store.Store) error { _, err := tx.InsertAssignments(ctx, as); return err }))

	truth := func(o gatehouse.PageRequest) []string {
		t.Helper()
		var ids []string
		o.PerPage, o.Cursor = 100, store.StartCursor
		for o.Cursor != "" {
			res, err := st.ListAssignments(ctx, facts.AssignmentFilter{EnvID: env}, o)
			must(t, err)
			for _, a := range res.Items {
				ids = append(ids, a.ID)
			}
			o.Cursor = res.NextCursor
		}
		return ids
	}
	// page reads page n of 100, counting up to upTo (1,000: the count is
	// capped), checks it, and reports whether a kept cursor read it.
	upTo := 1000
	page := func(o gatehouse.PageRequest, n int) bool {
		t.Helper()
		want := truth(o)
		hits, _ := db.AnchorPages()
		o.Page, o.PerPage, o.CountUpTo = n, 100, upTo
		res, err := st.ListAssignments(ctx, facts.AssignmentFilter{EnvID: env}, o)
		must(t, err)
		var got []string
		for _, a := range res.Items {
			got = append(got, a.ID)
		}
		from := min((n-1)*100, len(want))
		if exp := want[from:min(from+100, len(want))]; fmt.Sprint(got) != fmt.Sprint(exp) {
			t.Fatalf("by %q (desc %v), page %d: %d rows, not the %d read by cursor", o.Sort, o.Desc, n, len(got), len(exp))
		}
		if wantTotal, capped := min(len(want), upTo), len(want) > upTo; res.Total != wantTotal || res.TotalCapped != capped {
			t.Fatalf("by %q (desc %v), page %d: counted %d (capped %v), want %d (capped %v)", o.Sort, o.Desc, n, res.Total, res.TotalCapped, wantTotal, capped)
		}
		after, _ := db.AnchorPages()
		return after > hits
	}
	expect := func(what string, got, want bool) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: read through a kept cursor = %v, want %v", what, got, want)
		}
	}

	byTime := gatehouse.PageRequest{}
	// Inserts after every row: the walk goes on through its cursors.
	for _, w := range []struct {
		what  string
		write func()
	}{
		{"an assignment inserted after every row", func() { insert(7, 1, 2, at); at = at.Add(time.Millisecond) }},
		{"a tenant created after every row", func() {
			must(t, st.CreateTenant(ctx, &facts.Tenant{ID: tenancy.NewID(), EnvID: env, Key: "t-new", Name: "T", CreatedAt: at, UpdatedAt: at}))
			at = at.Add(time.Millisecond)
		}},
		{"two assignments inserted after every row", func() {
			insert(8, 0, 0, at)
			insert(9, 0, 1, at.Add(time.Millisecond))
			at = at.Add(2 * time.Millisecond)
		}},
	} {
		expect("page 11 before "+w.what, page(byTime, 11), false)
		expect("page 12 before "+w.what, page(byTime, 12), true)
		w.write()
		_, stale := db.AnchorPages()
		expect("page 13 after "+w.what, page(byTime, 13), true)
		if _, got := db.AnchorPages(); got != stale {
			t.Fatalf("after %s: %d kept cursors counted outdated, want none", w.what, got-stale)
		}
	}
	// Any other write: the next page is read by a skip, counted outdated,
	// and the page after it through its cursor again.
	for _, w := range []struct {
		what  string
		write func()
	}{
		{"an assignment inserted before the newest row", func() { insert(10, 2, 1, now.Add(-time.Hour)) }},
		{"an assignment inserted at the newest row's time, with a smaller id", func() {
			insert(11, 2, 1, at.Add(-time.Millisecond), "00000000-0000-7000-8000-000000000000")
		}},
		{"an assignment deleted", func() { must(t, st.DeleteAssignment(ctx, env, users[7], roles[1], tenants[2])) }},
		{"a user updated", func() {
			u, err := st.GetUser(ctx, env, users[5])
			must(t, err)
			u.FirstName, u.UpdatedAt = "Renamed", at
			must(t, st.UpdateUser(ctx, u))
		}},
	} {
		expect("page 11 before "+w.what, page(byTime, 11), false)
		expect("page 12 before "+w.what, page(byTime, 12), true)
		w.write()
		_, stale := db.AnchorPages()
		expect("page 13 after "+w.what, page(byTime, 13), false)
		if _, got := db.AnchorPages(); got != stale+1 {
			t.Fatalf("after %s: %d kept cursors counted outdated, want 1", w.what, got-stale)
		}
		expect("page 14 after "+w.what+" and 13", page(byTime, 14), true)
	}
	// Newest first, an insert after every row comes first and moves every
	// row: the kept cursor is not used.
	desc := gatehouse.PageRequest{Desc: true}
	expect("newest first, page 11", page(desc, 11), false)
	expect("newest first, page 12 after 11", page(desc, 12), true)
	insert(12, 1, 1, at)
	at = at.Add(time.Millisecond)
	expect("newest first, page 13 after an insert after every row", page(desc, 13), false)

	// Counted in full, the count of the kept cursor's page would be one
	// short after an insert: it is not used.
	upTo = 10_000
	expect("counted in full, page 11", page(byTime, 11), false)
	expect("counted in full, page 12 after 11", page(byTime, 12), true)
	insert(13, 1, 1, at)
	expect("counted in full, page 13 after an insert after every row", page(byTime, 13), false)
}
