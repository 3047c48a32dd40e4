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

// testDeepPages: a page asked for by number deep in a list (past the
// offset from which the store seeks to the row before it instead of
// skipping rows) holds exactly the rows a cursor walk sees at those
// positions, for every sort and both directions; a page past the end is
// empty and still counts the list.
func testDeepPages(t *testing.T, st *store.Store) {
	ctx := context.Background()
	org := newOrg(t, st, "deep")
	p := newProject(t, st, org, "p", now)
	env := newEnv(t, st, p, "e", false).ID
	other := newEnv(t, st, p, "other", false).ID

	// 1,300 assignments of 130 users over 7 roles and 11 tenants;
	// created_at repeats every 4 assignments so ties break on id. Another
	// environment holds rows that must never show.
	const nUsers, nRoles, nTenants = 130, 7, 11
	var roles, tenants []string
	for i := 0; i < nRoles; i++ {
		r := &facts.Role{ID: tenancy.NewID(), EnvID: env, Key: fmt.Sprintf("role-%d", i), Name: "R", Permissions: []string{}, Extends: []string{}, CreatedAt: now, UpdatedAt: now}
		must(t, st.CreateRole(ctx, r))
		roles = append(roles, r.ID)
	}
	var ts []*facts.Tenant
	for i := 0; i < nTenants; i++ {
		ts = append(ts, &facts.Tenant{ID: tenancy.NewID(), EnvID: env, Key: fmt.Sprintf("t-%02d", (i*5)%nTenants), Name: "T", CreatedAt: now, UpdatedAt: now})
		tenants = append(tenants, ts[i].ID)
	}
	must(t, st.InsertTenants(ctx, ts))
	var us []*facts.User
	for i := 0; i < nUsers; i++ {
		at := now.Add(time.Duration(i/3) * time.Second)
		us = append(us, &facts.User{ID: tenancy.NewID(), EnvID: env, Key: fmt.Sprintf("u-%03d", (i*7)%nUsers), Email: fmt.Sprintf("m%03d@example.com", (i*11)%nUsers), CreatedAt: at, UpdatedAt: at})
	}
	us = append(us, &facts.User{ID: tenancy.NewID(), EnvID: other, Key: "elsewhere", Email: "e@example.com", CreatedAt: now, UpdatedAt: now})
	must(t, st.InsertUsers(ctx, us))
	var as []facts.Assignment
	for i := 0; i < nUsers*10; i++ {
		u := i / 10
		as = append(as, facts.Assignment{ID: tenancy.NewID(), EnvID: env, UserID: us[u].ID, RoleID: roles[(u+i)%nRoles],
			TenantID: tenants[(u*3+i)%nTenants], CreatedAt: now.Add(time.Duration(i/4) * time.Millisecond)})
	}
	must(t, st.InTx(ctx, func(tx *store.Store) error {
		in, err := tx.InsertAssignments(ctx, as)
		if err == nil && len(in) != len(as) {
			err = fmt.Errorf("%d of %d assignments stored", len(in), len(as))
		}
		return err
	}))

	const perPage = 20
	check := func(t *testing.T, what string, total int, list func(gatehouse.PageRequest) ([]string, int, string, error)) {
		t.Helper()
		var walked []string
		cursor := store.StartCursor
		for {
			ids, _, next, err := list(gatehouse.PageRequest{PerPage: perPage, Cursor: cursor})
			if err != nil {
				t.Fatalf("%s: cursor walk: %v", what, err)
			}
			walked = append(walked, ids...)
			if next == "" {
				break
			}
			cursor = next
		}
		if len(walked) != total {
			t.Fatalf("%s: the cursor walk saw %d rows, want %d", what, len(walked), total)
		}
		last := (total + perPage - 1) / perPage
		// Shallow pages (plain OFFSET), the first deep ones, the last
		// and the one past the end.
		for _, n := range []int{2, 49, 50, 51, 52, 53, last - 1, last, last + 1} {
			ids, count, next, err := list(gatehouse.PageRequest{Page: n, PerPage: perPage})
			if err != nil {
				t.Fatalf("%s: page %d: %v", what, n, err)
			}
			if count != total {
				t.Errorf("%s: page %d counted %d, want %d", what, n, count, total)
			}
			from := min((n-1)*perPage, total)
			want := walked[from:min(from+perPage, total)]
			if fmt.Sprint(ids) != fmt.Sprint(want) {
				t.Errorf("%s: page %d is %v,\nthe cursor walk has %v", what, n, ids, want)
			}
			if (n < last) != (next != "") {
				t.Errorf("%s: page %d of %d: next cursor %q", what, n, last, next)
			}
		}
	}
	for _, sort := range []string{"", "user", "role", "tenant"} {
		for _, desc := range []bool{false, true} {
			what := fmt.Sprintf("assignments by %q desc=%v", sort, desc)
			t.Run(what, func(t *testing.T) {
				check(t, what, len(as), func(p gatehouse.PageRequest) ([]string, int, string, error) {
					p.Sort, p.Desc = sort, desc
					res, err := st.ListAssignments(ctx, facts.AssignmentFilter{EnvID: env}, p)
					var ids []string
					for _, a := range res.Items {
						if a.EnvID != env {
							t.Fatalf("%s: an assignment of another environment: %+v", what, a)
						}
						ids = append(ids, a.ID)
					}
					return ids, res.Total, res.NextCursor, err
				})
			})
		}
	}
	// The users (a plain list, sorted by created_at, key or email): 1,200
	// more, so that pages from 50 on are deep.
	more := make([]*facts.User, 0, 1200)
	for i := 0; i < 1200; i++ {
		at := now.Add(time.Duration(i/5) * time.Second)
		more = append(more, &facts.User{ID: tenancy.NewID(), EnvID: env, Key: fmt.Sprintf("v-%04d", (i*13)%1200), Email: fmt.Sprintf("n%04d@example.com", (i*17)%1200), CreatedAt: at, UpdatedAt: at})
	}
	must(t, st.InsertUsers(ctx, more))
	for _, sort := range []string{"", "key", "email"} {
		for _, desc := range []bool{false, true} {
			what := fmt.Sprintf("users by %q desc=%v", sort, desc)
			t.Run(what, func(t *testing.T) {
				check(t, what, nUsers+len(more), func(p gatehouse.PageRequest) ([]string, int, string, error) {
					p.Sort, p.Desc = sort, desc
					res, err := st.ListUsers(ctx, facts.Filter{EnvID: env}, p)
					var ids []string
					for _, u := range res.Items {
						ids = append(ids, u.ID)
					}
					return ids, res.Total, res.NextCursor, err
				})
			})
		}
	}
}
