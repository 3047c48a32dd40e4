package authz_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// The per-user layout of role sets (tenant indexes packed two to a word, a
// linear scan up to 16 tenants and a binary search beyond, role words past
// the first 64 roles kept aside) answers like a plain model, through
// assignments and removals in any order, deleted roles and tenants, and a
// Load of what the engine holds (with every assignment given twice), for
// users holding roles in 1 to 40 tenants.
func TestCheckLayoutAgreesWithModel(t *testing.T) {
	for _, tc := range []struct {
		name           string
		roles, tenants int
		straddle       bool // assign mostly roles 64-69: sets with roles only beyond the first 64, or on both sides; checked at every step
	}{
		{"few roles", 5, 40, false},
		{"more than 64 roles", 70, 40, false},
		{"roles on both sides of 64", 70, 6, true},
		{"one tenant", 3, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, uint64(tc.roles)))
			e := authz.New()
			e.PutResource(authz.Resource{Key: "doc", Actions: []string{"a", "b", "c"}})
			perms := []string{"doc:a", "doc:b", "doc:c"}
			grants := map[string]string{} // role → permission
			for i := 0; i < tc.roles; i++ {
				k := fmt.Sprintf("r%d", i)
				grants[k] = perms[rng.IntN(len(perms))]
				if err := e.PutRole(authz.Role{Key: k, Permissions: []string{grants[k]}}); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i < tc.tenants; i++ {
				e.PutTenant(authz.Tenant{Key: fmt.Sprintf("t%d", i)})
			}
			e.PutUser(authz.User{Key: "u"})
			held := map[[2]string]bool{} // (tenant, role)
			deletedTenant := map[string]bool{}
			checkEngine := func(e *authz.Engine, step int) {
				t.Helper()
				if got := e.Stats().Assignments; got != len(held) {
					t.Fatalf("step %d: %d assignments, want %d", step, got, len(held))
				}
				var want []string // tenants with roles, sorted as Permissions sorts them
				for ti := 0; ti < tc.tenants; ti++ {
					tk := fmt.Sprintf("t%d", ti)
					n := 0
					for ri := 0; ri < tc.roles; ri++ {
						if held[[2]string{tk, fmt.Sprintf("r%d", ri)}] {
							n++
						}
					}
					if n > 0 {
						want = append(want, tk)
					}
				}
				slices.Sort(want)
				var got []string
				for _, tp := range e.Permissions("u", nil) {
					got = append(got, tp.Tenant)
					for _, rk := range tp.Roles {
						if !held[[2]string{tp.Tenant, rk}] {
							t.Fatalf("step %d: Permissions lists %s in %s, not held", step, rk, tp.Tenant)
						}
					}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("step %d: Permissions lists tenants %v, want %v", step, got, want)
				}
				for ti := 0; ti < tc.tenants; ti++ {
					tk := fmt.Sprintf("t%d", ti)
					if deletedTenant[tk] {
						continue
					}
					for _, p := range perms {
						want := false
						for ri := 0; ri < tc.roles; ri++ {
							rk := fmt.Sprintf("r%d", ri)
							want = want || held[[2]string{tk, rk}] && grants[rk] == p
						}
						d := e.Check("u", p[len("doc:"):], "doc", tk)
						if d.Allow != want {
							t.Fatalf("step %d: u %s in %s: got %+v, want allow=%v", step, p, tk, d, want)
						}
						if d.Allow && grants[d.Role] != p {
							t.Fatalf("step %d: granted by %q, which does not grant %s", step, d.Role, p)
						}
					}
				}
			}
			check := func(step int) {
				t.Helper()
				checkEngine(e, step)
				// what the engine holds, loaded into a fresh one with every
				// assignment twice and in another order
				d := e.Data()
				d.Assignments = append(d.Assignments, d.Assignments...)
				rng.Shuffle(len(d.Assignments), func(i, j int) { d.Assignments[i], d.Assignments[j] = d.Assignments[j], d.Assignments[i] })
				fresh := authz.New()
				if err := fresh.Load(d); err != nil {
					t.Fatal(err)
				}
				checkEngine(fresh, step)
			}
			check(0)
			for step := 1; step <= 300; step++ {
				ri := rng.IntN(tc.roles)
				if tc.straddle && rng.IntN(8) != 0 {
					ri = 64 + rng.IntN(6)
				}
				a := authz.Assignment{User: "u", Tenant: fmt.Sprintf("t%d", rng.IntN(tc.tenants)), Role: fmt.Sprintf("r%d", ri)}
				key := [2]string{a.Tenant, a.Role}
				if held[key] && rng.IntN(3) == 0 {
					if !e.Unassign(a) {
						t.Fatalf("step %d: unassign %+v found nothing", step, a)
					}
					delete(held, key)
				} else {
					if err := e.Assign(a); err != nil {
						t.Fatal(err)
					}
					held[key] = true
				}
				if step%20 == 0 || tc.straddle {
					check(step)
				}
			}
			check(-1)
			// deleting a role clears it everywhere (the last role beyond the
			// first 64, when there are more), and a tenant takes its roles
			drop := fmt.Sprintf("r%d", tc.roles-1)
			e.DeleteRole(drop)
			delete(grants, drop)
			for k := range held {
				if k[1] == drop {
					delete(held, k)
				}
			}
			tc.roles--
			check(-2)
			e.DeleteTenant("t0")
			deletedTenant["t0"] = true
			for k := range held {
				if k[0] == "t0" {
					delete(held, k)
				}
			}
			check(-3)
		})
	}
}
