package store_test

import (
	"context"
	"database/sql"
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

// TestInstanceAssignmentTenantKept: an assignment on a resource instance
// holds its instance's tenant (migration 00033, the column that lists of
// one tenant and the sort by tenant read) whatever tenant its writer gave,
// and follows its instance to another tenant; on PostgreSQL also when the
// move and an insert that read the instance before it run at once, in
// either order.
func TestInstanceAssignmentTenantKept(t *testing.T) {
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
		_, envs := newEnvironments(t, st, "insttenant", at, "e")
		env := envs[0]
		t1 := &facts.Tenant{ID: tenancy.NewID(), EnvID: env, Key: "t1", Name: "t1", CreatedAt: at, UpdatedAt: at}
		t2 := &facts.Tenant{ID: tenancy.NewID(), EnvID: env, Key: "t2", Name: "t2", CreatedAt: at, UpdatedAt: at}
		must(st.InsertTenants(ctx, []*facts.Tenant{t1, t2}))
		var users []*facts.User
		for i := range 4 {
			users = append(users, &facts.User{ID: tenancy.NewID(), EnvID: env, Key: fmt.Sprintf("u%d", i), CreatedAt: at, UpdatedAt: at})
		}
		must(st.InsertUsers(ctx, users))
		res := &facts.Resource{ID: tenancy.NewID(), EnvID: env, Key: "doc", Name: "Doc", Actions: []string{"read"}, Attributes: map[string]facts.AttributeDef{},
			Config: map[string]any{}, Status: "active", CreatedAt: at, UpdatedAt: at}
		must(st.CreateResource(ctx, res))
		role := &facts.ResourceRole{ID: tenancy.NewID(), EnvID: env, ResourceID: res.ID, Key: "reader", Name: "R", Permissions: []string{"read"},
			Extends: []string{}, Attributes: map[string]any{}, CreatedAt: at, UpdatedAt: at}
		must(st.CreateResourceRole(ctx, role))
		inst := &facts.Instance{ID: tenancy.NewID(), EnvID: env, ResourceID: res.ID, Key: "d1", TenantID: t1.ID, Attributes: map[string]any{}, CreatedAt: at, UpdatedAt: at}
		must(st.CreateInstance(ctx, inst))
		other := &facts.Instance{ID: tenancy.NewID(), EnvID: env, ResourceID: res.ID, Key: "d2", TenantID: t2.ID, Attributes: map[string]any{}, CreatedAt: at, UpdatedAt: at}
		must(st.CreateInstance(ctx, other))
		// An instance without assignments until the race below.
		third := &facts.Instance{ID: tenancy.NewID(), EnvID: env, ResourceID: res.ID, Key: "d3", TenantID: t2.ID, Attributes: map[string]any{}, CreatedAt: at, UpdatedAt: at}
		must(st.CreateInstance(ctx, third))

		// Assignments in the order they are made (the lists' order).
		made := 0
		assignment := func(user int, instance string, tenant string) facts.Assignment {
			made++
			return facts.Assignment{ID: tenancy.NewID(), EnvID: env, UserID: users[user].ID, RoleID: role.ID, InstanceID: instance, TenantID: tenant,
				CreatedAt: at.Add(time.Duration(made) * time.Millisecond)}
		}
		// Given another tenant, or none, each stores its instance's.
		a0 := assignment(0, inst.ID, t2.ID)
		must(st.CreateInstanceAssignment(ctx, &a0))
		_, err := st.InsertInstanceAssignments(ctx, []facts.Assignment{assignment(1, inst.ID, ""), assignment(1, other.ID, t1.ID), assignment(2, other.ID, t2.ID)})
		must(err)
		// tenantsOf returns the assignments on instances (user@instance)
		// ?tenant= lists in created_at order, the same through each read
		// (the tenant's index, the sorts by user and by tenant).
		tenantsOf := func(tenant string) []string {
			t.Helper()
			var keys []string
			for _, sort := range []string{"", "tenant", "user"} {
				page, err := st.ListAssignments(ctx, facts.AssignmentFilter{EnvID: env, Kind: facts.AssignmentsOnInstances, Tenant: tenant},
					gatehouse.PageRequest{Page: 1, PerPage: 50, Sort: sort, CountUpTo: gatehouse.TotalCap})
				must(err)
				var got []string
				for _, a := range page.Items {
					if a.Tenant != tenant {
						t.Fatalf("?tenant=%s&sort=%s lists %s's assignment on %s in tenant %s", tenant, sort, a.User, a.ResourceInstance, a.Tenant)
					}
					got = append(got, a.User+"@"+a.ResourceInstance)
				}
				if sort == "user" { // by user, then created_at
					want := slices.Clone(keys)
					slices.SortStableFunc(want, func(a, b string) int {
						ua, _, _ := strings.Cut(a, "@")
						ub, _, _ := strings.Cut(b, "@")
						return strings.Compare(ua, ub)
					})
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Fatalf("?tenant=%s lists %v sorted by user, want %v", tenant, got, want)
					}
				} else if keys != nil && fmt.Sprint(got) != fmt.Sprint(keys) {
					t.Fatalf("?tenant=%s lists %v sorted by %q, %v by created_at", tenant, got, sort, keys)
				}
				if keys == nil {
					keys = got
				}
				if page.Total != len(got) {
					t.Fatalf("?tenant=%s&sort=%s: total %d, %d rows", tenant, sort, page.Total, len(got))
				}
			}
			return keys
		}
		check := func(want1, want2 string) {
			t.Helper()
			checkInstanceAssignmentTenants(t, db, env)
			if got := fmt.Sprint(tenantsOf("t1")); got != want1 {
				t.Errorf("t1's assignments on instances: %s, want %s", got, want1)
			}
			if got := fmt.Sprint(tenantsOf("t2")); got != want2 {
				t.Errorf("t2's assignments on instances: %s, want %s", got, want2)
			}
		}
		check("[u0@doc:d1 u1@doc:d1]", "[u1@doc:d2 u2@doc:d2]")

		// The instance moved: its assignments with it.
		inst.TenantID = t2.ID
		must(st.UpdateInstance(ctx, inst))
		check("[]", "[u0@doc:d1 u1@doc:d1 u1@doc:d2 u2@doc:d2]")
		checkMarks(t, db, env)

		if db.Engine != store.Postgres {
			return
		}
		// pidOf is the backend of a connection; waiting polls until it
		// waits for a lock another transaction holds.
		pidOf := func(q interface {
			QueryRowContext(context.Context, string, ...any) *sql.Row
		}) int {
			var pid int
			must(q.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid))
			return pid
		}
		waiting := func(pid int, done <-chan error) {
			t.Helper()
			deadline := time.Now().Add(time.Minute)
			for {
				var w sql.NullString
				must(db.Writer().QueryRowContext(ctx, "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", pid).Scan(&w))
				if w.String == "Lock" {
					return
				}
				select {
				case err := <-done:
					t.Fatalf("the second writer ended (%v) before it waited for the first", err)
				default:
				}
				if time.Now().After(deadline) {
					t.Fatal("the second writer never waited for the first")
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		insertSQL := "INSERT INTO authz_instance_assignments (id, env_id, user_id, role_id, instance_id, tenant_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
		insert := func(q interface {
			ExecContext(context.Context, string, ...any) (sql.Result, error)
		}, a facts.Assignment) error {
			_, err := q.ExecContext(ctx, insertSQL, a.ID, a.EnvID, a.UserID, a.RoleID, a.InstanceID, a.TenantID, a.CreatedAt.UnixMicro())
			return err
		}
		move := func(q interface {
			ExecContext(context.Context, string, ...any) (sql.Result, error)
		}, instance, tenant string) error {
			_, err := q.ExecContext(ctx, "UPDATE authz_instances SET tenant_id = $1 WHERE id = $2", tenant, instance)
			return err
		}
		// race: an insert that read the instance in t2 commits after a
		// move to t1 began: the move finds its row once it holds the
		// environment (with the instance's first assignment, and with
		// assignments the move updates before it waits).
		race := func(instance string, user int) {
			t.Helper()
			txA, err := db.Writer().BeginTx(ctx, nil)
			must(err)
			defer txA.Rollback()
			must(insert(txA, assignment(user, instance, t2.ID)))
			txB, err := db.Writer().BeginTx(ctx, nil)
			must(err)
			defer txB.Rollback()
			pidB := pidOf(txB)
			moved := make(chan error, 1)
			go func() { moved <- move(txB, instance, t1.ID) }()
			waiting(pidB, moved)
			must(txA.Commit())
			must(<-moved)
			must(txB.Commit())
		}
		race(third.ID, 3)
		check("[u3@doc:d3]", "[u0@doc:d1 u1@doc:d1 u1@doc:d2 u2@doc:d2]")
		race(inst.ID, 3)
		check("[u0@doc:d1 u1@doc:d1 u3@doc:d3 u3@doc:d1]", "[u1@doc:d2 u2@doc:d2]")

		// A move to t2 holds the environment; an insert that read the
		// instance in t1 before it waits, then stores t2.
		txB, err := db.Writer().BeginTx(ctx, nil)
		must(err)
		defer txB.Rollback()
		must(move(txB, inst.ID, t2.ID))
		conn, err := db.Writer().Conn(ctx)
		must(err)
		defer conn.Close()
		pidA := pidOf(conn)
		inserted := make(chan error, 1)
		go func() { inserted <- insert(conn, assignment(2, inst.ID, t1.ID)) }()
		waiting(pidA, inserted)
		must(txB.Commit())
		must(<-inserted)
		check("[u3@doc:d3]", "[u0@doc:d1 u1@doc:d1 u1@doc:d2 u2@doc:d2 u3@doc:d1 u2@doc:d1]")
		checkMarks(t, db, env)
	})
}

// ci: norace
// TestInstanceAssignmentTenantMigration: migration 00033 gives the
// assignments on instances already there (an upgrade) their instances'
// tenants, on both engines: undone, an instance moved to another tenant
// while it is, and done again, the lists of each tenant and the sort by
// tenant read through its index equal a walk.
func TestInstanceAssignmentTenantMigration(t *testing.T) {
	t.Parallel()
	onMarkedEngines(t, "tenantup", func(t *testing.T, db *store.DB, st *store.Store, m *marksEnv) {
		ctx := context.Background()
		_, insts := seedInstanceRoles(t, st, m)
		runMigration(t, db, "00033_instance_assignment_tenant.sql", "Down")
		insts[0].TenantID = m.tenants[4]
		if err := st.UpdateInstance(ctx, insts[0]); err != nil {
			t.Fatal(err)
		}
		runMigration(t, db, "00033_instance_assignment_tenant.sql", "Up")
		checkMarks(t, db, m.env)
		// Rows put wrong by hand, and the statement docs/operations.md
		// gives to put them right.
		for _, q := range []string{
			"UPDATE authz_instance_assignments SET tenant_id = $1 WHERE instance_id = $2",
			"UPDATE authz_instance_assignments SET tenant_id = (SELECT tenant_id FROM authz_instances i WHERE i.id = instance_id) WHERE tenant_id <> (SELECT tenant_id FROM authz_instances i WHERE i.id = instance_id)",
		} {
			var args []any
			if strings.Contains(q, "$1") {
				args = []any{m.tenants[1], insts[0].ID}
			}
			if _, err := db.Writer().ExecContext(ctx, q, args...); err != nil {
				t.Fatal(err)
			}
		}
		checkInstanceAssignmentTenants(t, db, m.env)
		f := facts.AssignmentFilter{EnvID: m.env, Kind: facts.AssignmentsOnInstances}
		for _, tenant := range []string{"t-0", "t-4"} {
			for _, sort := range []string{"", "tenant", "user"} {
				f.Tenant = tenant
				p := gatehouse.PageRequest{Page: 2, PerPage: 20, Sort: sort, CountUpTo: gatehouse.TotalCap}
				got, err := store.WithoutAnchors(st).ListAssignments(ctx, f, p)
				if err != nil {
					t.Fatal(err)
				}
				f.Tenant = ""
				want, err := store.WithoutMarks(store.WithoutAnchors(st)).ListAssignments(ctx, f, gatehouse.PageRequest{PerPage: 5000, Sort: sort, CountUpTo: gatehouse.TotalCap})
				if err != nil {
					t.Fatal(err)
				}
				want.Items = slices.DeleteFunc(want.Items, func(a facts.Assignment) bool { return a.Tenant != tenant })
				if got.Total != len(want.Items) || len(want.Items) < 40 {
					t.Fatalf("?tenant=%s&sort=%s: total %d, %d rows of the tenant in the whole list", tenant, sort, got.Total, len(want.Items))
				}
				if fmt.Sprint(got.Items) != fmt.Sprint(want.Items[20:min(40, len(want.Items))]) {
					t.Fatalf("?tenant=%s&sort=%s, page 2:\n%v\nthe whole list's rows of the tenant:\n%v", tenant, sort, got.Items, want.Items[20:40])
				}
			}
		}
	})
}
