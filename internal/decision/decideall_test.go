package decision_test

import (
	"reflect"
	"testing"

	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

// DecideAll answers a bulk call exactly as Decide answers each of its
// checks: tenant roles, instance roles, denials of every kind, in any
// order (its answers share one string and one slice of steps).
func TestDecideAllMatchesDecide(t *testing.T) {
	d := authz.Data{Users: []authz.User{{Key: "ada"}, {Key: "bob"}}, Tenants: []authz.Tenant{{Key: "default"}, {Key: "acme"}},
		Resources:     []authz.Resource{{Key: "doc", Actions: []string{"read", "write"}}},
		Roles:         []authz.Role{{Key: "reader", Permissions: []string{"doc:read"}}},
		ResourceRoles: []authz.ResourceRole{{Resource: "doc", Key: "editor", Permissions: []string{"read", "write"}}},
		Instances:     []authz.Instance{{Resource: "doc", Key: "d1", Tenant: "acme"}},
		Assignments: []authz.Assignment{{User: "ada", Role: "reader", Tenant: "default"}, {User: "bob", Role: "reader", Tenant: "acme"},
			{User: "bob", Role: "editor", Tenant: "acme", ResourceInstance: "doc:d1"}}}
	e := authz.New()
	if err := e.Load(d); err != nil {
		t.Fatal(err)
	}
	check := func(user, action, typ, key, tenant string) decision.CheckRequest {
		return decision.CheckRequest{User: decision.CheckUser{Key: user}, Action: action, Resource: decision.CheckResource{Type: typ, Key: key, Tenant: tenant}}
	}
	checks := []decision.CheckRequest{
		check("ada", "read", "doc", "", ""),          // tenant role, default tenant
		check("ada", "write", "doc", "", ""),         // not granted
		check("bob", "write", "doc", "d1", ""),       // instance role
		check("bob", "read", "doc", "", "acme"),      // tenant role in acme
		check("carol", "read", "doc", "", ""),        // unknown user
		check("ada", "read", "doc", "", "nowhere"),   // unknown tenant
		check("ada", "read", "folder", "", ""),       // unknown resource
		check("ada", "read", "doc", "d1", "default"), // instance in another tenant
		check("ada", "read", "doc", "", "default"),   // tenant role again, after others
	}
	out := make([]decision.CheckResult, len(checks))
	decision.DecideAll(e, checks, out)
	allowed := 0
	for i := range checks {
		want := decision.Decide(e, &checks[i])
		if !reflect.DeepEqual(out[i], want) {
			t.Errorf("check %d:\n got %+v\nwant %+v", i, out[i], want)
		}
		if out[i].Allow {
			allowed++
		}
	}
	if allowed != 4 {
		t.Errorf("%d allowed, want 4 (the cases above lost their meaning)", allowed)
	}
}
