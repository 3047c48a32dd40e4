package authz_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// The check path's per-user layout (tenant indexes packed two to a word, a
// linear scan up to 16 tenants and a binary search beyond, role words past
// the first 64 roles) answers like a plain model, through assignments and
// removals in any order, for users holding roles in 1 to 40 tenants.
func TestCheckLayoutAgreesWithModel(t *testing.T) {
	for _, tc := range []struct {
		name           string
		roles, tenants int
	}{
		{"few roles", 5, 40},
		{"more than 64 roles", 70, 40},
		{"one tenant", 3, 1},
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
			check := func(step int) {
				t.Helper()
				for ti := 0; ti < tc.tenants; ti++ {
					tk := fmt.Sprintf("t%d", ti)
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
			check(0)
			for step := 1; step <= 300; step++ {
				a := authz.Assignment{User: "u", Tenant: fmt.Sprintf("t%d", rng.IntN(tc.tenants)), Role: fmt.Sprintf("r%d", rng.IntN(tc.roles))}
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
				if step%20 == 0 {
					check(step)
				}
			}
			check(-1)
		})
	}
}
