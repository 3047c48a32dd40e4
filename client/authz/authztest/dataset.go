// Package authztest builds deterministic RBAC-with-tenants data sets and
// query streams, with the expected answer of every query computed
// independently of the engine. Benchmarks (here and in bench/) and tests use
// it to compare engines on the same data.
package authztest

import (
	"fmt"
	"math/rand/v2"

	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// Shape sizes a data set.
type Shape struct {
	Users, Tenants, Roles, ResourceTypes, ActionsPerType, PermissionsPerRole, Assignments int
}

// Medium is the benchmark data set the peer comparisons use ("dataset M":
// 10k users, 1k tenants, 20 roles, 50 resource types, 100k assignments).
var Medium = Shape{Users: 10_000, Tenants: 1_000, Roles: 20, ResourceTypes: 50, ActionsPerType: 4, PermissionsPerRole: 20, Assignments: 100_000}

// Small is dataset S of the same note.
var Small = Shape{Users: 1_000, Tenants: 100, Roles: 20, ResourceTypes: 10, ActionsPerType: 4, PermissionsPerRole: 8, Assignments: 10_000}

// Query is one check with its expected answer.
type Query struct {
	User, Action, Resource, Tenant string
	Want                           bool
}

// Dataset is generated data plus the independent expectation model.
type Dataset struct {
	Data authz.Data
	// Grants maps role → "resource:action" → true.
	Grants map[string]map[string]bool
	// Held maps user → tenant → roles.
	Held map[string]map[string][]string
}

// UserKey, TenantKey, RoleKey, ResourceKey and ActionKey name the i-th item.
func UserKey(i int) string     { return fmt.Sprintf("user-%d", i) }
func TenantKey(i int) string   { return fmt.Sprintf("tenant-%d", i) }
func RoleKey(i int) string     { return fmt.Sprintf("role-%d", i) }
func ResourceKey(i int) string { return fmt.Sprintf("type-%d", i) }
func ActionKey(i int) string   { return fmt.Sprintf("action-%d", i) }

// Generate builds a data set of shape s from seed.
func Generate(s Shape, seed uint64) *Dataset {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	ds := &Dataset{Grants: map[string]map[string]bool{}, Held: map[string]map[string][]string{}}
	for i := 0; i < s.Users; i++ {
		ds.Data.Users = append(ds.Data.Users, authz.User{Key: UserKey(i), Email: UserKey(i) + "@example.com"})
	}
	for i := 0; i < s.Tenants; i++ {
		ds.Data.Tenants = append(ds.Data.Tenants, authz.Tenant{Key: TenantKey(i), Name: TenantKey(i)})
	}
	for i := 0; i < s.ResourceTypes; i++ {
		r := authz.Resource{Key: ResourceKey(i)}
		for a := 0; a < s.ActionsPerType; a++ {
			r.Actions = append(r.Actions, ActionKey(a))
		}
		ds.Data.Resources = append(ds.Data.Resources, r)
	}
	for i := 0; i < s.Roles; i++ {
		r := authz.Role{Key: RoleKey(i)}
		g := map[string]bool{}
		for len(g) < s.PermissionsPerRole && len(g) < s.ResourceTypes*s.ActionsPerType {
			p := ResourceKey(rng.IntN(s.ResourceTypes)) + ":" + ActionKey(rng.IntN(s.ActionsPerType))
			if !g[p] {
				g[p] = true
				r.Permissions = append(r.Permissions, p)
			}
		}
		ds.Grants[r.Key] = g
		ds.Data.Roles = append(ds.Data.Roles, r)
	}
	seen := map[[3]int]bool{}
	for len(ds.Data.Assignments) < s.Assignments {
		u, t, r := rng.IntN(s.Users), rng.IntN(s.Tenants), rng.IntN(s.Roles)
		if seen[[3]int{u, t, r}] {
			continue
		}
		seen[[3]int{u, t, r}] = true
		a := authz.Assignment{User: UserKey(u), Role: RoleKey(r), Tenant: TenantKey(t)}
		ds.Data.Assignments = append(ds.Data.Assignments, a)
		if ds.Held[a.User] == nil {
			ds.Held[a.User] = map[string][]string{}
		}
		ds.Held[a.User][a.Tenant] = append(ds.Held[a.User][a.Tenant], a.Role)
	}
	return ds
}

// Expect answers a check from the generator's own model.
func (ds *Dataset) Expect(user, action, resource, tenant string) bool {
	for _, r := range ds.Held[user][tenant] {
		if ds.Grants[r][resource+":"+action] {
			return true
		}
	}
	return false
}

// Queries returns n deterministic checks: half on a (user, tenant) pair that
// holds an assignment, half on a random pair, each with its expected answer.
func (ds *Dataset) Queries(s Shape, n int, seed uint64) []Query {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	out := make([]Query, n)
	for i := range out {
		var u, t string
		if i%2 == 0 {
			a := ds.Data.Assignments[rng.IntN(len(ds.Data.Assignments))]
			u, t = a.User, a.Tenant
		} else {
			u, t = UserKey(rng.IntN(s.Users)), TenantKey(rng.IntN(s.Tenants))
		}
		res, act := ResourceKey(rng.IntN(s.ResourceTypes)), ActionKey(rng.IntN(s.ActionsPerType))
		out[i] = Query{User: u, Action: act, Resource: res, Tenant: t, Want: ds.Expect(u, act, res, t)}
	}
	return out
}
