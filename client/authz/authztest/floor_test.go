package authztest_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/client/authz/authztest"
)

// The floors answer like the engine: they are only worth comparing with
// when they compute the same thing.
func TestFloorsAgreeWithEngine(t *testing.T) {
	ds := authztest.Generate(authztest.Small, 3)
	e := authz.New()
	if err := e.Load(ds.Data); err != nil {
		t.Fatal(err)
	}
	floor, perms := authztest.NewFloor(ds), authztest.NewFloorPermissions(ds)
	nonEmpty := 0
	for i, q := range ds.Queries(authztest.Small, 5_000, 4) {
		if got := floor.Check(q.User, q.Action, q.Resource, q.Tenant); got != q.Want {
			t.Fatalf("floor check %+v = %v", q, got)
		}
		var tenants []string
		if i%3 == 1 {
			tenants = []string{q.Tenant, authztest.TenantKey(i % authztest.Small.Tenants)}
		}
		before := slices.Clone(tenants)
		want := e.Permissions(q.User, tenants)
		got := perms.Permissions(q.User, tenants)
		if !slices.Equal(tenants, before) {
			t.Fatalf("tenants %v became %v", before, tenants)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("permissions of %s in %v:\n floor  %+v\n engine %+v", q.User, tenants, got, want)
		}
		if len(want) > 0 {
			nonEmpty++
		}
	}
	if nonEmpty == 0 {
		t.Fatal("every answer was empty: the comparison tests nothing")
	}
}
