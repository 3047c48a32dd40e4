package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// testMergedAssignmentPaging: the assignments of both kinds (one keyset
// over the tenant and the instance assignments, merged), by cursor and by
// page number, come in created_at then id order (computed here from what
// was written), ascending and descending, with created_at tied within and
// across the two tables, counted right by page number (also capped), and
// a walk by cursor keeps its order with assignments of both kinds added
// between pages.
func testMergedAssignmentPaging(t *testing.T, st *store.Store) {
	ctx := context.Background()
	org := newOrg(t, st, "merged")
	p := newProject(t, st, org, "p", now)
	env := newEnv(t, st, p, "a", false).ID
	role := &facts.Role{ID: tenancy.NewID(), EnvID: env, Key: "reader", Name: "R", Permissions: []string{}, Extends: []string{}, CreatedAt: now, UpdatedAt: now}
	must(t, st.CreateRole(ctx, role))
	tenant := &facts.Tenant{ID: tenancy.NewID(), EnvID: env, Key: "acme", Name: "Acme", CreatedAt: now, UpdatedAt: now}
	must(t, st.CreateTenant(ctx, tenant))
	res := &facts.Resource{ID: tenancy.NewID(), EnvID: env, Key: "doc", Name: "Doc", Actions: []string{"read"}, Attributes: map[string]facts.AttributeDef{},
		Config: map[string]any{}, Status: "active", CreatedAt: now, UpdatedAt: now}
	must(t, st.CreateResource(ctx, res))
	rrole := &facts.ResourceRole{ID: tenancy.NewID(), EnvID: env, ResourceID: res.ID, Key: "reader", Name: "R", Permissions: []string{"read"},
		Extends: []string{}, Attributes: map[string]any{}, CreatedAt: now, UpdatedAt: now}
	must(t, st.CreateResourceRole(ctx, rrole))
	inst := &facts.Instance{ID: tenancy.NewID(), EnvID: env, ResourceID: res.ID, Key: "d1", TenantID: tenant.ID, Attributes: map[string]any{}, CreatedAt: now, UpdatedAt: now}
	must(t, st.CreateInstance(ctx, inst))
	n := 0
	type written struct {
		id, user string
		at       time.Time
		inst     bool
	}
	var rows []written
	// add gives a new user a role of each kind at at (both tie).
	add := func(at time.Time) {
		n++
		u := &facts.User{ID: tenancy.NewID(), EnvID: env, Key: fmt.Sprintf("u%03d", n), Attributes: map[string]any{}, CreatedAt: now, UpdatedAt: now}
		must(t, st.CreateUser(ctx, u))
		ta := &facts.Assignment{ID: tenancy.NewID(), EnvID: env, UserID: u.ID, RoleID: role.ID, TenantID: tenant.ID, CreatedAt: at}
		must(t, st.CreateAssignment(ctx, ta))
		ia := &facts.Assignment{ID: tenancy.NewID(), EnvID: env, UserID: u.ID, RoleID: rrole.ID, InstanceID: inst.ID, TenantID: inst.TenantID, CreatedAt: at}
		must(t, st.CreateInstanceAssignment(ctx, ia))
		rows = append(rows, written{ta.ID, u.Key, at, false}, written{ia.ID, u.Key, at, true})
	}
	for i := range 20 {
		add(now.Add(time.Duration(i/3) * time.Second)) // three users, six rows an instant
	}
	// expected is the list's ids in its order, from what was written.
	expected := func(f facts.AssignmentFilter, desc bool) []string {
		var sel []written
		for _, r := range rows {
			if (r.inst || f.Kind != facts.AssignmentsOnInstances) && (f.User == "" || f.User == r.user) {
				sel = append(sel, r)
			}
		}
		slices.SortFunc(sel, func(a, b written) int {
			c := a.at.Compare(b.at)
			if c == 0 {
				c = strings.Compare(a.id, b.id)
			}
			if desc {
				return -c
			}
			return c
		})
		ids := make([]string, len(sel))
		for i, r := range sel {
			ids[i] = r.id
		}
		return ids
	}
	for _, desc := range []bool{false, true} {
		for _, f := range []facts.AssignmentFilter{
			{EnvID: env, Kind: facts.AllAssignments},
			{EnvID: env, Kind: facts.AllAssignments, Role: "reader"},
			{EnvID: env, Kind: facts.AllAssignments, Tenant: "acme"},
			{EnvID: env, Kind: facts.AllAssignments, User: "u004"},
			{EnvID: env, Kind: facts.AssignmentsOnInstances},
		} {
			name := fmt.Sprintf("%+v desc=%v", f, desc)
			want := expected(f, desc)
			byPage, err := st.ListAssignments(ctx, f, gatehouse.PageRequest{Page: 1, PerPage: 1000, Desc: desc})
			must(t, err)
			var got []string
			kinds := map[bool]bool{}
			for _, a := range byPage.Items {
				got = append(got, a.ID)
				kinds[a.InstanceID != ""] = true
			}
			if f.Kind == facts.AllAssignments && len(kinds) != 2 {
				t.Fatalf("%s: want both kinds of assignment in the list", name)
			}
			if !slices.Equal(got, want) || byPage.Total != len(want) || byPage.TotalCapped {
				t.Fatalf("%s: one page by number (total %d, capped %v)\n got %v\nwant %v (%d)", name, byPage.Total, byPage.TotalCapped, got, want, len(want))
			}
			// Page by page by number, each counted; and the count capped.
			got = nil
			for pg := 1; ; pg++ {
				p, err := st.ListAssignments(ctx, f, gatehouse.PageRequest{Page: pg, PerPage: 7, Desc: desc})
				must(t, err)
				if p.Total != len(want) {
					t.Fatalf("%s: page %d counts %d, want %d", name, pg, p.Total, len(want))
				}
				if len(p.Items) == 0 {
					break
				}
				for _, a := range p.Items {
					got = append(got, a.ID)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s: by page number\n got %v\nwant %v", name, got, want)
			}
			if p, err := st.ListAssignments(ctx, f, gatehouse.PageRequest{Page: 2, PerPage: 7, Desc: desc, CountUpTo: 10}); len(want) > 14 && (err != nil ||
				p.Total != 10 || !p.TotalCapped || len(p.Items) != 7 || p.Items[0].ID != want[7]) {
				t.Fatalf("%s: page 2 counted up to 10: %+v, %v", name, p, err)
			}
			list := func(cursor string) (gatehouse.Page[facts.Assignment], error) {
				return st.ListAssignments(ctx, f, gatehouse.PageRequest{PerPage: 7, Desc: desc, Cursor: cursor})
			}
			id := func(a *facts.Assignment) string { return a.ID }
			if got := walk(t, name, list, id, nil); !slices.Equal(got, want) {
				t.Fatalf("%s: by cursor\n got %v\nwant %v", name, got, want)
			}
			// Added between pages: at the end ascending (later), at the
			// start descending (before the cursor): the rows there were
			// keep their order either way.
			got = walk(t, name, list, id, func(int) { add(now.Add(time.Hour + time.Duration(n)*time.Second)) })
			if kept := keptOf(got, want); !slices.Equal(kept, want) {
				t.Fatalf("%s: with inserts between pages\n got %v\nwant %v", name, kept, want)
			}
		}
	}
	// A cursor of the merged list does not continue another filter, order
	// or environment, nor the list by page number's sorts.
	all := facts.AssignmentFilter{EnvID: env, Kind: facts.AllAssignments}
	first, err := st.ListAssignments(ctx, all, gatehouse.PageRequest{PerPage: 2, Cursor: store.StartCursor})
	must(t, err)
	refuseAssignmentPages(t, st, []assignmentPage{
		{facts.AssignmentFilter{EnvID: env, Kind: facts.AllAssignments, User: "u001"}, gatehouse.PageRequest{Cursor: first.NextCursor}},
		{all, gatehouse.PageRequest{Desc: true, Cursor: first.NextCursor}},
		{facts.AssignmentFilter{EnvID: newEnv(t, st, p, "b", false).ID, Kind: facts.AllAssignments}, gatehouse.PageRequest{Cursor: first.NextCursor}},
		{all, gatehouse.PageRequest{Cursor: first.NextCursor[1:]}},
		{all, gatehouse.PageRequest{Page: 2, Cursor: first.NextCursor}},
	})
}

// testUnknownSorts: a list refuses a sort its table lacks (users have no
// name, tenants, roles and resource types no email) with an invalid
// request naming the sorts it has, instead of failing in SQL.
func testUnknownSorts(t *testing.T, st *store.Store) {
	ctx := context.Background()
	org := newOrg(t, st, "sorts")
	env := newEnv(t, st, newProject(t, st, org, "p", now), "a", false).ID
	f := facts.Filter{EnvID: env}
	for _, c := range []struct {
		name, allowed string
		list          func(gatehouse.PageRequest) error
		sorts         []string
	}{
		{"users", "created_at, email, key, updated_at", func(p gatehouse.PageRequest) error { return errOf(st.ListUsers(ctx, f, p)) }, []string{"name", "bogus", "id; DROP TABLE x"}},
		{"tenants", "created_at, key, name, updated_at", func(p gatehouse.PageRequest) error { return errOf(st.ListTenants(ctx, f, p)) }, []string{"email", "bogus"}},
		{"roles", "created_at, key, name, updated_at", func(p gatehouse.PageRequest) error { return errOf(st.ListRoles(ctx, f, p)) }, []string{"email"}},
		{"resources", "created_at, key, name, updated_at", func(p gatehouse.PageRequest) error { return errOf(st.ListResources(ctx, f, p)) }, []string{"email"}},
		{"assignments", "created_at, role, tenant, user", func(p gatehouse.PageRequest) error {
			return errOf(st.ListAssignments(ctx, facts.AssignmentFilter{EnvID: env}, p))
		}, []string{"name", "email"}},
	} {
		for _, sort := range c.sorts {
			for _, cursor := range []string{"", store.StartCursor} {
				err := c.list(gatehouse.PageRequest{PerPage: 5, Sort: sort, Cursor: cursor})
				if gatehouse.ErrorCode(err) != gatehouse.CodeInvalidRequest || !strings.Contains(err.Error(), c.allowed) || !strings.Contains(err.Error(), fmt.Sprintf("%q", sort)) {
					t.Fatalf("%s by %q (cursor %q): want an invalid request naming %s, got %v", c.name, sort, cursor, c.allowed, err)
				}
			}
		}
		// The sorts it names work.
		for _, sort := range strings.Split(c.allowed, ", ") {
			must(t, c.list(gatehouse.PageRequest{PerPage: 5, Sort: sort}))
		}
	}
}
