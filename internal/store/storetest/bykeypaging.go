package storetest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// testByKeyAssignmentPaging: the assignments of both kinds sorted by the
// key of their user, role or tenant (then created_at and id), unfiltered,
// come in the order computed here from what was written, by one page, page
// by page by number (each counted, and capped), and by cursor (also with
// assignments added between pages), ascending and descending, of both
// kinds and on instances only. The data has what the key walk must get
// right: users, roles and tenants holding nothing, a role key naming a
// tenant role and resource roles of two types, created_at tied within a
// key and across the tables, and more users than a batch of keys.
func testByKeyAssignmentPaging(t *testing.T, st *store.Store) {
	ctx := context.Background()
	org := newOrg(t, st, "bykey")
	p := newProject(t, st, org, "p", now)
	env := newEnv(t, st, p, "a", false).ID
	type written struct {
		id, user, role, tenant string
		at                     time.Time
		inst                   bool
	}
	var rows []written
	roles := map[string]*facts.Role{}
	for _, k := range []string{"admin", "editor", "unused"} { // "reader" is on instances only, "admin" on both
		r := &facts.Role{ID: tenancy.NewID(), EnvID: env, Key: k, Name: k, Permissions: []string{}, Extends: []string{}, CreatedAt: now, UpdatedAt: now}
		must(t, st.CreateRole(ctx, r))
		roles[k] = r
	}
	tenants := map[string]*facts.Tenant{}
	for _, k := range []string{"ta", "tb", "tc", "tz"} { // tz holds nothing
		tn := &facts.Tenant{ID: tenancy.NewID(), EnvID: env, Key: k, Name: k, CreatedAt: now, UpdatedAt: now}
		must(t, st.CreateTenant(ctx, tn))
		tenants[k] = tn
	}
	type instRole struct {
		inst *facts.Instance
		role *facts.ResourceRole
		key  string
	}
	var irs []instRole
	for _, typ := range []string{"doc", "folder"} {
		res := &facts.Resource{ID: tenancy.NewID(), EnvID: env, Key: typ, Name: typ, Actions: []string{"read"}, Attributes: map[string]facts.AttributeDef{},
			Config: map[string]any{}, Status: "active", CreatedAt: now, UpdatedAt: now}
		must(t, st.CreateResource(ctx, res))
		for _, rk := range []string{"admin", "reader"} {
			rr := &facts.ResourceRole{ID: tenancy.NewID(), EnvID: env, ResourceID: res.ID, Key: rk, Name: rk, Permissions: []string{"read"},
				Extends: []string{}, Attributes: map[string]any{}, CreatedAt: now, UpdatedAt: now}
			must(t, st.CreateResourceRole(ctx, rr))
			for _, tk := range []string{"ta", "tc"} {
				in := &facts.Instance{ID: tenancy.NewID(), EnvID: env, ResourceID: res.ID, Key: rk + "-" + tk, TenantID: tenants[tk].ID, Attributes: map[string]any{}, CreatedAt: now, UpdatedAt: now}
				must(t, st.CreateInstance(ctx, in))
				irs = append(irs, instRole{in, rr, tk})
			}
		}
	}
	n := 0
	// add makes a user (every fifth holds nothing) with one to three
	// assignments of either kind, all at at.
	add := func(at time.Time) {
		n++
		u := &facts.User{ID: tenancy.NewID(), EnvID: env, Key: fmt.Sprintf("u%03d", n), Attributes: map[string]any{}, CreatedAt: now, UpdatedAt: now}
		must(t, st.CreateUser(ctx, u))
		if n%5 == 0 {
			return
		}
		for j := range n%3 + 1 {
			if (n+j)%2 == 0 {
				rk, tk := []string{"admin", "editor"}[j%2], []string{"ta", "tb", "tc"}[(n+j)%3]
				a := &facts.Assignment{ID: tenancy.NewID(), EnvID: env, UserID: u.ID, RoleID: roles[rk].ID, TenantID: tenants[tk].ID, CreatedAt: at}
				must(t, st.CreateAssignment(ctx, a))
				rows = append(rows, written{a.ID, u.Key, rk, tk, at, false})
			} else {
				ir := irs[(n*3+j)%len(irs)]
				a := &facts.Assignment{ID: tenancy.NewID(), EnvID: env, UserID: u.ID, RoleID: ir.role.ID, InstanceID: ir.inst.ID, TenantID: ir.inst.TenantID, CreatedAt: at}
				must(t, st.CreateInstanceAssignment(ctx, a))
				rows = append(rows, written{a.ID, u.Key, ir.role.Key, ir.key, at, true})
			}
		}
	}
	for i := range 45 {
		add(now.Add(time.Duration(i%4) * time.Second)) // created_at tied, and not in key order
	}
	keyOf := map[string]func(written) string{
		"user":   func(r written) string { return r.user },
		"role":   func(r written) string { return r.role },
		"tenant": func(r written) string { return r.tenant },
	}
	expected := func(f facts.AssignmentFilter, sort string, desc bool) []string {
		var sel []written
		for _, r := range rows {
			if r.inst || f.Kind != facts.AssignmentsOnInstances {
				sel = append(sel, r)
			}
		}
		slices.SortFunc(sel, func(a, b written) int {
			c := cmp.Or(cmp.Compare(keyOf[sort](a), keyOf[sort](b)), a.at.Compare(b.at), cmp.Compare(a.id, b.id))
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
	for _, sort := range []string{"user", "role", "tenant"} {
		for _, desc := range []bool{false, true} {
			for _, f := range []facts.AssignmentFilter{{EnvID: env, Kind: facts.AllAssignments}, {EnvID: env, Kind: facts.AssignmentsOnInstances}} {
				name := fmt.Sprintf("sort=%s desc=%v kind=%s", sort, desc, f.Kind)
				want := expected(f, sort, desc)
				one, err := st.ListAssignments(ctx, f, gatehouse.PageRequest{Page: 1, PerPage: 1000, Sort: sort, Desc: desc})
				must(t, err)
				if got := assignmentIDs(one.Items); !slices.Equal(got, want) || one.Total != len(want) || one.TotalCapped || one.NextCursor != "" {
					t.Fatalf("%s: one page by number (total %d, capped %v, next %q)\n got %v\nwant %v (%d)", name, one.Total, one.TotalCapped, one.NextCursor, got, want, len(want))
				}
				for _, per := range []int{1, 4, 7} {
					var got []string
					for pg := 1; ; pg++ {
						p, err := st.ListAssignments(ctx, f, gatehouse.PageRequest{Page: pg, PerPage: per, Sort: sort, Desc: desc})
						must(t, err)
						if p.Total != len(want) {
							t.Fatalf("%s: page %d of %d counts %d, want %d", name, pg, per, p.Total, len(want))
						}
						if len(p.Items) == 0 {
							break
						}
						got = append(got, assignmentIDs(p.Items)...)
					}
					if !slices.Equal(got, want) {
						t.Fatalf("%s: by page number, %d a page\n got %v\nwant %v", name, per, got, want)
					}
				}
				if p, err := st.ListAssignments(ctx, f, gatehouse.PageRequest{Page: 2, PerPage: 7, Sort: sort, Desc: desc, CountUpTo: 10}); err != nil ||
					p.Total != 10 || !p.TotalCapped || len(p.Items) != 7 || p.Items[0].ID != want[7] {
					t.Fatalf("%s: page 2 counted up to 10: %+v, %v", name, p, err)
				}
				list := func(cursor string) (gatehouse.Page[facts.Assignment], error) {
					return st.ListAssignments(ctx, f, gatehouse.PageRequest{PerPage: 4, Sort: sort, Desc: desc, Cursor: cursor})
				}
				id := func(a *facts.Assignment) string { return a.ID }
				if got := walk(t, name, list, id, nil); !slices.Equal(got, want) {
					t.Fatalf("%s: by cursor\n got %v\nwant %v", name, got, want)
				}
				// New users and assignments between pages: the rows there
				// were keep their order.
				got := walk(t, name, list, id, func(pg int) {
					if pg <= 2 {
						add(now.Add(time.Hour))
					}
				})
				if kept := keptOf(got, want); !slices.Equal(kept, want) {
					t.Fatalf("%s: with inserts between pages\n got %v\nwant %v", name, kept, want)
				}
				want = expected(f, sort, desc) // with what was added
				if got := walk(t, name, list, id, nil); !slices.Equal(got, want) {
					t.Fatalf("%s: by cursor after the inserts\n got %v\nwant %v", name, got, want)
				}
			}
		}
	}
	// A cursor continues its own list only.
	all := facts.AssignmentFilter{EnvID: env, Kind: facts.AllAssignments}
	first, err := st.ListAssignments(ctx, all, gatehouse.PageRequest{PerPage: 2, Sort: "user", Cursor: store.StartCursor})
	must(t, err)
	refuseAssignmentPages(t, st, []assignmentPage{
		{all, gatehouse.PageRequest{Sort: "role", Cursor: first.NextCursor}},
		{all, gatehouse.PageRequest{Sort: "user", Desc: true, Cursor: first.NextCursor}},
		{all, gatehouse.PageRequest{Cursor: first.NextCursor}},
		{facts.AssignmentFilter{EnvID: env, Kind: facts.AssignmentsOnInstances}, gatehouse.PageRequest{Sort: "user", Cursor: first.NextCursor}},
		{facts.AssignmentFilter{EnvID: newEnv(t, st, p, "b", false).ID, Kind: facts.AllAssignments}, gatehouse.PageRequest{Sort: "user", Cursor: first.NextCursor}},
		{all, gatehouse.PageRequest{Sort: "user", Cursor: first.NextCursor[1:]}},
		{all, gatehouse.PageRequest{Page: 2, Sort: "user", Cursor: first.NextCursor}},
	})
}

// keptOf is got without what want lacks (rows added during a walk).
func keptOf(got, want []string) []string {
	var kept []string
	for _, g := range got {
		if slices.Contains(want, g) {
			kept = append(kept, g)
		}
	}
	return kept
}

// assignmentPage is a page of an assignment list asked for.
type assignmentPage struct {
	f    facts.AssignmentFilter
	page gatehouse.PageRequest
}

// refuseAssignmentPages fails unless every page asked for is refused as
// an invalid request (a cursor of another list, a malformed one).
func refuseAssignmentPages(t *testing.T, st *store.Store, pages []assignmentPage) {
	t.Helper()
	for _, c := range pages {
		_, err := st.ListAssignments(context.Background(), c.f, c.page)
		if gatehouse.ErrorCode(err) != gatehouse.CodeInvalidRequest {
			t.Fatalf("%+v %+v: want an invalid request, got %v", c.f, c.page, err)
		}
	}
}

func assignmentIDs(as []facts.Assignment) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.ID
	}
	return out
}
