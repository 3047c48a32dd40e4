package store_test

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
		o := &tenancy.Organization{ID: tenancy.NewID(), Key: "filters-" + tenancy.NewID(), Name: "filters", Settings: tenancy.DefaultOrgSettings(), CreatedAt: at, UpdatedAt: at}
		must(st.CreateOrganization(ctx, o))
		p := &tenancy.Project{ID: tenancy.NewID(), OrgID: o.ID, Key: "p", Name: "p", CreatedAt: at, UpdatedAt: at}
		must(st.CreateProject(ctx, p))
		e := &tenancy.Environment{ID: tenancy.NewID(), OrgID: o.ID, ProjectID: p.ID, Key: "e", Name: "e", Settings: tenancy.DefaultEnvSettings(), CreatedAt: at, UpdatedAt: at}
		must(st.CreateEnvironment(ctx, e))
		env := e.ID

		// Keys in another order than the rows were created in.
		const nUsers, nRoles, nTenants = 260, 4, 6
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
							// By number, every page and the one past the end.
							for n := 1; n <= len(exp)/per+2; n++ {
								res, err := st.ListAssignments(ctx, f, gatehouse.PageRequest{Page: n, PerPage: per, Sort: sort, Desc: desc, CountUpTo: gatehouse.TotalCap})
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
							// By cursor, from the start to the end.
							var got []string
							req := gatehouse.PageRequest{PerPage: per, Sort: sort, Desc: desc, Cursor: store.StartCursor}
							for pages := 0; ; pages++ {
								res, err := st.ListAssignments(ctx, f, req)
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
						// The first page's cursor of each read, continued by
						// every other.
						for i, c := range firstCursor {
							for _, m := range modes {
								store.SetFilteredSortMax(db, m.most)
								res, err := st.ListAssignments(ctx, f, gatehouse.PageRequest{PerPage: per, Sort: sort, Desc: desc, Cursor: c})
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
		// shares its key with the tenant role.
		res := &facts.Resource{ID: tenancy.NewID(), EnvID: env, Key: "doc", Name: "doc", Actions: []string{"read"}, Attributes: map[string]facts.AttributeDef{}, CreatedAt: at, UpdatedAt: at}
		must(st.CreateResource(ctx, res))
		var rroles []*facts.ResourceRole
		for _, k := range []string{"r0", "r9"} {
			r := &facts.ResourceRole{ID: tenancy.NewID(), EnvID: env, ResourceID: res.ID, Key: k, Name: k, Permissions: []string{"read"}, Extends: []string{}, Attributes: map[string]any{}, CreatedAt: at, UpdatedAt: at}
			must(st.CreateResourceRole(ctx, r))
			rroles = append(rroles, r)
		}
		var insts []*facts.Instance
		for i := range 30 {
			insts = append(insts, &facts.Instance{ID: tenancy.NewID(), EnvID: env, ResourceID: res.ID, Key: fmt.Sprintf("i-%02d", (i*7)%30), TenantID: tenants[i%nTenants].ID, Attributes: map[string]any{}, CreatedAt: at, UpdatedAt: at})
			keyOf[insts[i].ID] = insts[i].Key
		}
		must(st.InsertInstances(ctx, insts))
		var ias []facts.Assignment
		for i := range 150 {
			for j := range 3 {
				inst := insts[(i+j*11)%len(insts)]
				ias = append(ias, facts.Assignment{ID: tenancy.NewID(), EnvID: env, UserID: users[i].ID, RoleID: rroles[(i+j)%2].ID, InstanceID: inst.ID,
					CreatedAt: at.Add(time.Duration((i*10+j*7919)%2600) * time.Microsecond)})
			}
		}
		in, err = st.InsertInstanceAssignments(ctx, ias)
		must(err)
		if len(in) != len(ias) {
			t.Fatalf("stored %d of %d assignments on instances", len(in), len(ias))
		}
		tenantOf := map[string]string{}
		for _, i := range insts {
			tenantOf[i.ID] = keyOf[i.TenantID]
		}
		for _, a := range ias {
			r := rroles[0].Key
			if a.RoleID == rroles[1].ID {
				r = rroles[1].Key
			}
			all = append(all, row{keyOf[a.UserID], r, tenantOf[a.InstanceID], "doc:" + keyOf[a.InstanceID], a.ID, a.CreatedAt.UnixMicro()})
		}
		more := append(filters, facts.AssignmentFilter{Role: "r9"}, facts.AssignmentFilter{ResourceInstance: "doc:i-03"}, facts.AssignmentFilter{ResourceInstance: "doc:i-03", User: "u-007"},
			facts.AssignmentFilter{ResourceInstance: "doc:i-03", Role: "r0"}, facts.AssignmentFilter{Role: "r9", Tenant: "t-1"})
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
