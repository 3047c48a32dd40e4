package store_test

import (
	"cmp"
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

// ci: norace
// TestFilteredAssignmentListsMatch: the role assignments filtered by two
// or three keys, or by one and sorted by another's key (filters.go), page
// by page by number (through the deep-page path too: one role holds 1,560
// of the 2,600 rows) and by cursor, both orders, equal the rows chosen and
// sorted here, whichever read the store chooses: filters read whole and
// sorted (up to 10,000 rows, and up to 300), or the keys walked in order;
// and a cursor of one read continues in the other.
func TestFilteredAssignmentListsMatch(t *testing.T) {
	onEachEngine(t, func(t *testing.T, open func(t *testing.T) *store.DB) {
		db := open(t)
		st := db.Store()
		ctx := context.Background()
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
		// Two environments of the same keys and rows: no list of one may
		// show a row of the other.
		_, envs := newEnvironments(t, st, "filters", at, "e", "other")
		env := envs[0]
		lst := store.WithoutAnchors(st) // every deep page by number read as it is, not from a kept cursor

		// Keys in another order than the rows were created in.
		const nUsers, nRoles, nTenants = 260, 4, 6
		populate := func(env string) ([]*facts.User, []*facts.Role, []*facts.Tenant, []facts.Assignment) {
			var users []*facts.User
			for i := range nUsers {
				users = append(users, &facts.User{ID: tenancy.NewID(), EnvID: env, Key: fmt.Sprintf("u-%03d", (i*7)%nUsers), CreatedAt: at, UpdatedAt: at})
			}
			must(st.InsertUsers(ctx, users))
			var roles []*facts.Role
			for i := range nRoles {
				r := &facts.Role{ID: tenancy.NewID(), EnvID: env, Key: fmt.Sprintf("r%d", (i*3)%nRoles), Name: "r", Permissions: []string{}, Extends: []string{}, CreatedAt: at, UpdatedAt: at}
				must(st.CreateRole(ctx, r))
				roles = append(roles, r)
			}
			var tenants []*facts.Tenant
			for i := range nTenants {
				tenants = append(tenants, &facts.Tenant{ID: tenancy.NewID(), EnvID: env, Key: fmt.Sprintf("t-%d", (i*5)%nTenants), Name: "t", CreatedAt: at, UpdatedAt: at})
			}
			must(st.InsertTenants(ctx, tenants))
			// Each user: roles[0] in every tenant (1,560 rows in all), then
			// four more of the other roles; two rows of a user at a time
			// share a created_at (ties broken by id).
			var as []facts.Assignment
			for i := range nUsers {
				for j := range 10 {
					r, tn := roles[0], tenants[j%nTenants]
					if j >= nTenants {
						r, tn = roles[1+(i+j)%(nRoles-1)], tenants[(i+j)%nTenants]
					}
					as = append(as, facts.Assignment{ID: tenancy.NewID(), EnvID: env, UserID: users[i].ID, RoleID: r.ID, TenantID: tn.ID,
						CreatedAt: at.Add(time.Duration((i*10+j/2*7919)%2600) * time.Microsecond)})
				}
			}
			in, err := st.InsertAssignments(ctx, as)
			must(err)
			if len(in) != len(as) {
				t.Fatalf("stored %d of %d assignments", len(in), len(as))
			}
			return users, roles, tenants, as
		}
		users, roles, tenants, as := populate(env)
		otherUsers, _, otherTenants, _ := populate(envs[1])
		keyOf := map[string]string{}
		for _, u := range users {
			keyOf[u.ID] = u.Key
		}
		for _, r := range roles {
			keyOf[r.ID] = r.Key
		}
		for _, tn := range tenants {
			keyOf[tn.ID] = tn.Key
		}
		type row struct {
			user, role, tenant, instance, id string
			at                               int64
		}
		var all []row
		for _, a := range as {
			all = append(all, row{keyOf[a.UserID], keyOf[a.RoleID], keyOf[a.TenantID], "", a.ID, a.CreatedAt.UnixMicro()})
		}
		want := func(f facts.AssignmentFilter, sort string, desc bool) []string {
			var rs []row
			for _, r := range all {
				kind := f.Kind == facts.AllAssignments || (f.Kind == "") == (r.instance == "")
				if kind && (f.User == "" || f.User == r.user) && (f.Role == "" || f.Role == r.role) && (f.Tenant == "" || f.Tenant == r.tenant) &&
					(f.ResourceInstance == "" || f.ResourceInstance == r.instance) {
					rs = append(rs, r)
				}
			}
			slices.SortFunc(rs, func(a, b row) int {
				c := 0
				switch sort {
				case "user":
					c = cmp.Compare(a.user, b.user)
				case "role":
					c = cmp.Compare(a.role, b.role)
				case "tenant":
					c = cmp.Compare(a.tenant, b.tenant)
				}
				c = cmp.Or(c, cmp.Compare(a.at, b.at), cmp.Compare(a.id, b.id))
				if desc {
					c = -c
				}
				return c
			})
			ids := []string{}
			for _, r := range rs {
				ids = append(ids, r.id)
			}
			return ids
		}
		idsOf := func(p gatehouse.Page[facts.Assignment]) []string {
			ids := []string{}
			for _, a := range p.Items {
				ids = append(ids, a.ID)
			}
			return ids
		}

		filters := []facts.AssignmentFilter{
			{Role: "r0"}, {Role: "r2"}, {Tenant: "t-3"}, {User: "u-007"},
			{User: "u-007", Role: "r0"}, {Role: "r0", Tenant: "t-3"}, {Role: "r1", Tenant: "t-4"}, {User: "u-100", Tenant: "t-1"},
			{User: "u-100", Role: "r0", Tenant: "t-1"}, {User: "nobody", Role: "r0"}, {Role: "r0", Tenant: "nowhere"},
		}
		modes := []struct {
			name string
			most int // store.SetFilteredSortMax
		}{{"read whole", 0}, {"walked", -1}, {"read whole up to 300", 300}}
		const per = 100
		check := func(kind string, filters []facts.AssignmentFilter) {
			t.Helper()
			for _, f := range filters {
				f.EnvID, f.Kind = env, kind
				for _, sort := range []string{"", "user", "role", "tenant"} {
					for _, desc := range []bool{false, true} {
						exp := want(f, sort, desc)
						var firstCursor []string
						for _, m := range modes {
							store.SetFilteredSortMax(db, m.most)
							what := fmt.Sprintf("%s: kind=%q user=%q role=%q tenant=%q instance=%q sort=%q desc=%v", m.name, kind, f.User, f.Role, f.Tenant, f.ResourceInstance, sort, desc)
							// By number: the first pages, the middle one, those
							// from offset 1,000 on (the deep-page paths), the
							// last and the one past it (the cursor walk below
							// reads every row).
							last := (len(exp) + per - 1) / per
							for _, n := range slices.Compact(slices.Sorted(slices.Values([]int{1, 2, max(last/2, 1), 11, 12, max(last-1, 1), max(last, 1), last + 1}))) {
								if n > last+1 {
									continue
								}
								res, err := lst.ListAssignments(ctx, f, gatehouse.PageRequest{Page: n, PerPage: per, Sort: sort, Desc: desc, CountUpTo: gatehouse.TotalCap})
								if err != nil {
									t.Fatalf("%s: page %d: %v", what, n, err)
								}
								lo, hi := min((n-1)*per, len(exp)), min(n*per, len(exp))
								if got := idsOf(res); !slices.Equal(got, exp[lo:hi]) {
									t.Fatalf("%s: page %d: %d rows, want %d; first difference at row %d", what, n, len(got), hi-lo, firstDiff(got, exp[lo:hi]))
								}
								if res.Total != len(exp) {
									t.Fatalf("%s: page %d: total %d, want %d", what, n, res.Total, len(exp))
								}
							}
							// Counted up to 50, and not capped.
							for _, upTo := range []int{50, 0} {
								res, err := lst.ListAssignments(ctx, f, gatehouse.PageRequest{Page: 1, PerPage: per, Sort: sort, Desc: desc, CountUpTo: upTo})
								if err != nil {
									t.Fatalf("%s: counted up to %d: %v", what, upTo, err)
								}
								total, capped := len(exp), false
								if upTo > 0 && total > upTo {
									total, capped = upTo, true
								}
								if res.Total != total || res.TotalCapped != capped {
									t.Fatalf("%s: counted up to %d: total %d (capped %v), want %d (%v)", what, upTo, res.Total, res.TotalCapped, total, capped)
								}
							}
							// By cursor, from the start to the end.
							var got []string
							req := gatehouse.PageRequest{PerPage: per, Sort: sort, Desc: desc, Cursor: store.StartCursor}
							for pages := 0; ; pages++ {
								res, err := lst.ListAssignments(ctx, f, req)
								if err != nil {
									t.Fatalf("%s: cursor page %d: %v", what, pages, err)
								}
								got = append(got, idsOf(res)...)
								if pages == 0 && res.NextCursor != "" {
									firstCursor = append(firstCursor, res.NextCursor)
								}
								if res.NextCursor == "" {
									break
								}
								if pages > len(exp)/per+1 {
									t.Fatalf("%s: more pages than rows", what)
								}
								req.Cursor = res.NextCursor
							}
							if !slices.Equal(got, exp) && !(len(got) == 0 && len(exp) == 0) {
								t.Fatalf("%s: by cursor %d rows, want %d; first difference at row %d", what, len(got), len(exp), firstDiff(got, exp))
							}
						}
						// The cursor refused by another list: other filters,
						// kind, sort or order, or with a page number.
						if len(firstCursor) > 0 {
							c := firstCursor[0]
							other := f
							other.User = "u-001"
							otherKind := f
							otherKind.Kind = map[string]string{"": facts.AssignmentsOnInstances, facts.AllAssignments: facts.AssignmentsOnInstances, facts.AssignmentsOnInstances: facts.AllAssignments}[kind]
							otherSort := map[string]string{"": "user", "user": "tenant", "role": "user", "tenant": "role"}[sort]
							for _, r := range []struct {
								f facts.AssignmentFilter
								p gatehouse.PageRequest
							}{
								{other, gatehouse.PageRequest{PerPage: per, Sort: sort, Desc: desc, Cursor: c}},
								{otherKind, gatehouse.PageRequest{PerPage: per, Sort: sort, Desc: desc, Cursor: c}},
								{f, gatehouse.PageRequest{PerPage: per, Sort: otherSort, Desc: desc, Cursor: c}},
								{f, gatehouse.PageRequest{PerPage: per, Sort: sort, Desc: !desc, Cursor: c}},
								{f, gatehouse.PageRequest{Page: 2, PerPage: per, Sort: sort, Desc: desc, Cursor: c}},
								// Rewritten by a client: a number for a key.
								{f, gatehouse.PageRequest{PerPage: per, Sort: cmp.Or(sort, "user"), Desc: desc, Cursor: store.ReKeyCursor(c, 5)}},
							} {
								if _, err := lst.ListAssignments(ctx, r.f, r.p); err == nil || !strings.Contains(err.Error(), "cursor") {
									t.Fatalf("kind=%q user=%q role=%q tenant=%q sort=%q desc=%v: a cursor of this list taken by kind=%q user=%q sort=%q desc=%v page=%d: %v, want a refusal",
										kind, f.User, f.Role, f.Tenant, sort, desc, r.f.Kind, r.f.User, r.p.Sort, r.p.Desc, r.p.Page, err)
								}
							}
						}
						// The first page's cursor of each read, continued by
						// every other.
						for i, c := range firstCursor {
							for _, m := range modes {
								store.SetFilteredSortMax(db, m.most)
								res, err := lst.ListAssignments(ctx, f, gatehouse.PageRequest{PerPage: per, Sort: sort, Desc: desc, Cursor: c})
								if err != nil {
									t.Fatalf("%s: cursor of read %d: %v", m.name, i, err)
								}
								if got := idsOf(res); !slices.Equal(got, exp[per:min(2*per, len(exp))]) {
									t.Fatalf("%s: kind=%q user=%q role=%q tenant=%q sort=%q desc=%v: the cursor of read %d continues with %d rows, want %d", m.name, kind, f.User, f.Role, f.Tenant, sort, desc, i, len(got), min(2*per, len(exp))-per)
								}
							}
						}
					}
				}
			}
		}
		check("", filters)

		// Roles on instances join: the lists of both kinds, and of
		// instances only, are read from both tables. Resource role r0
		// shares its key with the tenant role, and with a role of a
		// second resource type (one key, two roles: a list of both).
		populateInstances := func(env string, users []*facts.User, tenants []*facts.Tenant) []row {
			var rows []row
			roleKey := map[string]string{}
			for ri, rk := range []struct {
				res   string
				roles []string
			}{{"doc", []string{"r0", "r9"}}, {"folder", []string{"r0"}}} {
				res := &facts.Resource{ID: tenancy.NewID(), EnvID: env, Key: rk.res, Name: rk.res, Actions: []string{"read"}, Attributes: map[string]facts.AttributeDef{}, CreatedAt: at, UpdatedAt: at}
				must(st.CreateResource(ctx, res))
				var rroles []*facts.ResourceRole
				for _, k := range rk.roles {
					r := &facts.ResourceRole{ID: tenancy.NewID(), EnvID: env, ResourceID: res.ID, Key: k, Name: k, Permissions: []string{"read"}, Extends: []string{}, Attributes: map[string]any{}, CreatedAt: at, UpdatedAt: at}
					must(st.CreateResourceRole(ctx, r))
					rroles = append(rroles, r)
					roleKey[r.ID] = k
				}
				var insts []*facts.Instance
				instKey, tenantOf := map[string]string{}, map[string]string{}
				nInst := 30 / (ri + 1)
				for i := range nInst {
					insts = append(insts, &facts.Instance{ID: tenancy.NewID(), EnvID: env, ResourceID: res.ID, Key: fmt.Sprintf("i-%02d", (i*7)%nInst), TenantID: tenants[i%nTenants].ID, Attributes: map[string]any{}, CreatedAt: at, UpdatedAt: at})
					instKey[insts[i].ID], tenantOf[insts[i].ID] = rk.res+":"+insts[i].Key, tenants[i%nTenants].Key
				}
				must(st.InsertInstances(ctx, insts))
				var ias []facts.Assignment
				for i := range 150 / (ri + 1) {
					for j := range 3 {
						inst := insts[(i+j*11)%len(insts)]
						ias = append(ias, facts.Assignment{ID: tenancy.NewID(), EnvID: env, UserID: users[i].ID, RoleID: rroles[(i+j)%len(rroles)].ID, InstanceID: inst.ID, TenantID: inst.TenantID,
							CreatedAt: at.Add(time.Duration((i*10+j*7919+ri*13)%2600) * time.Microsecond)})
					}
				}
				in, err := st.InsertInstanceAssignments(ctx, ias)
				must(err)
				if len(in) != len(ias) {
					t.Fatalf("stored %d of %d assignments on instances", len(in), len(ias))
				}
				for _, a := range ias {
					rows = append(rows, row{keyOf[a.UserID], roleKey[a.RoleID], tenantOf[a.InstanceID], instKey[a.InstanceID], a.ID, a.CreatedAt.UnixMicro()})
				}
			}
			return rows
		}
		all = append(all, populateInstances(env, users, tenants)...)
		populateInstances(envs[1], otherUsers, otherTenants)
		more := append(filters, facts.AssignmentFilter{Role: "r9"}, facts.AssignmentFilter{ResourceInstance: "doc:i-03"}, facts.AssignmentFilter{ResourceInstance: "doc:i-03", User: "u-007"},
			facts.AssignmentFilter{ResourceInstance: "doc:i-03", Role: "r0"}, facts.AssignmentFilter{Role: "r9", Tenant: "t-1"}, facts.AssignmentFilter{ResourceInstance: "folder:i-03"})
		check(facts.AllAssignments, more)
		check(facts.AssignmentsOnInstances, more)
	})
}

// firstDiff is the first index at which a and b differ.
func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestRewrittenCursorKeyRefused: a cursor whose key a client rewrote to
// another type (a number for a list sorted by key, text for one sorted by
// a time) is a malformed cursor on both engines, never a server error;
// a users list here, the generic list read.
func TestRewrittenCursorKeyRefused(t *testing.T) {
	onEachEngine(t, func(t *testing.T, open func(t *testing.T) *store.DB) {
		db := open(t)
		st := db.Store()
		ctx := context.Background()
		at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
		_, envs := newEnvironments(t, st, "rekey", at, "e")
		var users []*facts.User
		for i := range 5 {
			users = append(users, &facts.User{ID: tenancy.NewID(), EnvID: envs[0], Key: fmt.Sprintf("u-%d", i), CreatedAt: at.Add(time.Duration(i) * time.Second), UpdatedAt: at})
		}
		if err := st.InsertUsers(ctx, users); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			sort string
			key  any
		}{{"key", int64(5)}, {"created_at", "x"}, {"updated_at", "x"}} {
			first, err := st.ListUsers(ctx, facts.Filter{EnvID: envs[0]}, gatehouse.PageRequest{PerPage: 2, Sort: c.sort, Cursor: store.StartCursor})
			if err != nil || first.NextCursor == "" {
				t.Fatalf("sort=%s: first page: %v (cursor %q)", c.sort, err, first.NextCursor)
			}
			_, err = st.ListUsers(ctx, facts.Filter{EnvID: envs[0]}, gatehouse.PageRequest{PerPage: 2, Sort: c.sort, Cursor: store.ReKeyCursor(first.NextCursor, c.key)})
			if db.Engine == store.Postgres && (err == nil || gatehouse.ErrorCode(err) != gatehouse.CodeInvalidRequest || !strings.Contains(err.Error(), "cursor")) {
				t.Fatalf("sort=%s, key rewritten to %v: %v, want a malformed cursor", c.sort, c.key, err)
			}
			if db.Engine == store.SQLite && err != nil && gatehouse.ErrorCode(err) != gatehouse.CodeInvalidRequest {
				t.Fatalf("sort=%s, key rewritten to %v: %v, want a page or a malformed cursor", c.sort, c.key, err)
			}
		}
	})
}
