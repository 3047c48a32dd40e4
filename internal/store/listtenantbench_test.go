package store_test

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

// BenchmarkListBigTenantInstances times the lists of one tenant's role
// assignments on resource instances when that tenant holds half of them
// (issue 16 point 12): GATEHOUSE_LIST_INSTANCE_ASSIGNMENTS assignments on
// instances (default 1M) over a tenth as many instances, half of the
// instances in tenant t-big and the rest over 99 tenants, beside a tenth
// as many tenant assignments (1% of them in t-big), on SQLite and on
// PostgreSQL. ?tenant= on the assignments on instances (kind=instance),
// and on both kinds (kind=all), page 1 and half-way by number and by
// cursor; sorted by user; and the assignments on instances sorted by
// tenant, half-way through t-big. Only with -bench (the load takes a few
// minutes):
//
//	go test ./internal/store -run XXX -bench ListBigTenantInstances -benchtime 5x -timeout 60m
func BenchmarkListBigTenantInstances(b *testing.B) {
	n := benchSize(b, "GATEHOUSE_LIST_INSTANCE_ASSIGNMENTS", 1_000_000, 1000)
	onBenchEngines(b, func(b *testing.B, db *store.DB) {
		start := time.Now()
		env := loadBigTenantInstances(b, db, n)
		b.Logf("%s: loaded %d assignments on instances in %s", db.Engine, n, time.Since(start).Round(time.Second))
		st := db.Store()
		ctx := context.Background()
		list := func(f facts.AssignmentFilter, p gatehouse.PageRequest) (string, error) {
			f.EnvID = env
			page, err := store.WithoutAnchors(st).ListAssignments(ctx, f, p)
			if err == nil && len(page.Items) == 0 {
				err = fmt.Errorf("%+v %+v: an empty page", f, p)
			}
			return page.NextCursor, err
		}
		big := facts.AssignmentFilter{Kind: facts.AssignmentsOnInstances, Tenant: "t-big"}
		bigAll := facts.AssignmentFilter{Kind: facts.AllAssignments, Tenant: "t-big"}
		byNumber := func(p int, sort string) func() gatehouse.PageRequest {
			return func() gatehouse.PageRequest {
				return gatehouse.PageRequest{Page: p, PerPage: 20, Sort: sort, CountUpTo: gatehouse.TotalCap}
			}
		}
		cursorAt := func(f facts.AssignmentFilter, p int) func() gatehouse.PageRequest {
			var cur string
			return func() gatehouse.PageRequest {
				if cur == "" {
					var err error
					if cur, err = list(f, gatehouse.PageRequest{Page: p, PerPage: 20}); err != nil || cur == "" {
						b.Fatalf("a cursor at page %d: %q, %v", p, cur, err)
					}
				}
				return gatehouse.PageRequest{PerPage: 20, Cursor: cur}
			}
		}
		half := n / 2 / 20 / 2 // half-way through t-big's n/2
		for _, c := range []struct {
			name string
			f    facts.AssignmentFilter
			req  func() gatehouse.PageRequest
		}{
			{"instances-in-t-big/page1", big, byNumber(1, "")},
			{fmt.Sprintf("instances-in-t-big/page%d", half), big, byNumber(half, "")},
			{"instances-in-t-big/cursor", big, cursorAt(big, half)},
			{"instances-in-t-big-by-user/page1", big, byNumber(1, "user")},
			{"instances-in-t-007/page1", facts.AssignmentFilter{Kind: facts.AssignmentsOnInstances, Tenant: "t-007"}, byNumber(1, "")},
			{fmt.Sprintf("instances-by-tenant/page%d", 3*half), facts.AssignmentFilter{Kind: facts.AssignmentsOnInstances}, byNumber(3*half, "tenant")},
			{"all-in-t-big/page1", bigAll, byNumber(1, "")},
			{fmt.Sprintf("all-in-t-big/page%d", half), bigAll, byNumber(half, "")},
			{"all-in-t-big/cursor", bigAll, cursorAt(bigAll, half)},
		} {
			b.Run(c.name, func(b *testing.B) {
				req := c.req()
				b.ResetTimer()
				for range b.N {
					if _, err := list(c.f, req); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
			})
		}
	})
}

// loadBigTenantInstances stores, in a new environment, n assignments on
// n/10 instances of n/10 users (tenants t-000 to t-098 and t-big, which
// holds every other instance) and n/10 tenant assignments (one a user,
// in the 100 tenants in turn), through the bulk inserts, and returns the
// environment's id.
func loadBigTenantInstances(b testing.TB, db *store.DB, n int) string {
	ctx := context.Background()
	st := db.Store()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	must := func(err error) {
		b.Helper()
		if err != nil {
			b.Fatal(err)
		}
	}
	org := &tenancy.Organization{ID: tenancy.NewID(), Key: "bench", Name: "Bench", Settings: tenancy.DefaultOrgSettings(), CreatedAt: t0, UpdatedAt: t0}
	p := &tenancy.Project{ID: tenancy.NewID(), OrgID: org.ID, Key: "p", Name: "P", CreatedAt: t0, UpdatedAt: t0}
	env := &tenancy.Environment{ID: tenancy.NewID(), OrgID: org.ID, ProjectID: p.ID, Key: "e", Name: "e", Settings: tenancy.DefaultEnvSettings(), CreatedAt: t0, UpdatedAt: t0}
	must(st.CreateOrganization(ctx, org))
	must(st.CreateProject(ctx, p))
	must(st.CreateEnvironment(ctx, env))
	var tenants []*facts.Tenant
	for i := range 100 {
		key := fmt.Sprintf("t-%03d", i)
		if i == 99 {
			key = "t-big"
		}
		tenants = append(tenants, &facts.Tenant{ID: tenancy.NewID(), EnvID: env.ID, Key: key, Name: key, CreatedAt: t0, UpdatedAt: t0})
	}
	must(st.InsertTenants(ctx, tenants))
	role := &facts.Role{ID: tenancy.NewID(), EnvID: env.ID, Key: "member", Name: "Member", Permissions: []string{}, Extends: []string{}, CreatedAt: t0, UpdatedAt: t0}
	must(st.CreateRole(ctx, role))
	res := &facts.Resource{ID: tenancy.NewID(), EnvID: env.ID, Key: "doc", Name: "Doc", Actions: []string{"read"}, Attributes: map[string]facts.AttributeDef{},
		Config: map[string]any{}, Status: "active", CreatedAt: t0, UpdatedAt: t0}
	must(st.CreateResource(ctx, res))
	var roleIDs []string
	for i := range 5 {
		r := &facts.ResourceRole{ID: tenancy.NewID(), EnvID: env.ID, ResourceID: res.ID, Key: fmt.Sprintf("doc-%d", i), Name: "R", Permissions: []string{"read"},
			Extends: []string{}, Attributes: map[string]any{}, CreatedAt: t0, UpdatedAt: t0}
		must(st.CreateResourceRole(ctx, r))
		roleIDs = append(roleIDs, r.ID)
	}
	const batch = 20_000
	nUsers, nInst := n/10, n/10
	users := make([]*facts.User, nUsers)
	for i := range users {
		users[i] = &facts.User{ID: tenancy.NewID(), EnvID: env.ID, Key: fmt.Sprintf("u-%06d", i), CreatedAt: t0, UpdatedAt: t0}
	}
	insts := make([]*facts.Instance, nInst)
	for i := range insts {
		tn := tenants[99] // every other instance in t-big
		if i%2 == 1 {
			tn = tenants[(i/2)%99]
		}
		insts[i] = &facts.Instance{ID: tenancy.NewID(), EnvID: env.ID, ResourceID: res.ID, Key: fmt.Sprintf("d-%06d", i), TenantID: tn.ID,
			Attributes: map[string]any{}, CreatedAt: t0, UpdatedAt: t0}
	}
	for from := 0; from < nUsers; from += batch {
		must(st.InTx(ctx, func(tx *store.Store) error {
			if err := tx.InsertUsers(ctx, users[from:min(from+batch, nUsers)]); err != nil {
				return err
			}
			return tx.InsertInstances(ctx, insts[from:min(from+batch, nInst)])
		}))
	}
	var as []facts.Assignment
	flush := func(insert func(tx *store.Store, as []facts.Assignment) (map[string]bool, error)) {
		must(st.InTx(ctx, func(tx *store.Store) error {
			in, err := insert(tx, as)
			if err == nil && len(in) != len(as) {
				err = fmt.Errorf("%d of %d assignments stored", len(in), len(as))
			}
			return err
		}))
		as = as[:0]
	}
	for i := range nUsers {
		tn := tenants[i%100]
		as = append(as, facts.Assignment{ID: tenancy.NewID(), EnvID: env.ID, UserID: users[i].ID, RoleID: role.ID, TenantID: tn.ID,
			CreatedAt: t0.Add(time.Duration(i) * 100 * time.Microsecond)})
		if len(as) == batch || i == nUsers-1 {
			flush(func(tx *store.Store, as []facts.Assignment) (map[string]bool, error) {
				return tx.InsertAssignments(ctx, as)
			})
		}
	}
	for i := range n {
		// Assignment i on instance i%nInst: each instance's ten spread
		// over the whole list's time, t-big's every other row.
		in := insts[i%nInst]
		as = append(as, facts.Assignment{ID: tenancy.NewID(), EnvID: env.ID, UserID: users[(i*7+i/nInst)%nUsers].ID, RoleID: roleIDs[i/nInst%5], InstanceID: in.ID, TenantID: in.TenantID,
			CreatedAt: t0.Add(time.Duration(i)*10*time.Microsecond + 5*time.Microsecond)})
		if len(as) == batch || i == n-1 {
			flush(func(tx *store.Store, as []facts.Assignment) (map[string]bool, error) {
				return tx.InsertInstanceAssignments(ctx, as)
			})
		}
	}
	if db.Engine == store.Postgres {
		_, err := db.Writer().ExecContext(ctx, "VACUUM (ANALYZE) authz_instance_assignments, authz_instances, authz_role_assignments, authz_users, authz_tenants")
		must(err)
	}
	return env.ID
}
