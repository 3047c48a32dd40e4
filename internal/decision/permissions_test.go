package decision_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

// User permissions with instances: per tenant, the instances where the
// user holds a role; past MaxInstancePermissions, a clear refusal instead
// of an unbounded answer.
func TestUserPermissionsInstances(t *testing.T) {
	build := func(n int) *authz.Engine {
		d := authz.Data{Users: []authz.User{{Key: "ada"}}, Tenants: []authz.Tenant{{Key: "default"}, {Key: "acme"}},
			Resources:     []authz.Resource{{Key: "doc", Actions: []string{"read"}}},
			ResourceRoles: []authz.ResourceRole{{Resource: "doc", Key: "viewer", Permissions: []string{"read"}}}}
		for i := range n {
			key := fmt.Sprintf("d%05d", i)
			d.Instances = append(d.Instances, authz.Instance{Resource: "doc", Key: key, Tenant: "acme"})
			d.Assignments = append(d.Assignments, authz.Assignment{User: "ada", Role: "viewer", Tenant: "acme", ResourceInstance: "doc:" + key})
		}
		e := authz.New()
		if err := e.Load(d); err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := build(3)
	out, err := decision.UserPermissions(e, &decision.UserPermissionsRequest{User: "ada", Instances: true})
	if err != nil || len(out) != 1 || out[0].Tenant != "acme" || len(out[0].Roles) != 0 || len(out[0].Instances) != 3 ||
		out[0].Instances[0].Resource != "doc:d00000" || out[0].Instances[0].Permissions[0] != "doc:read" {
		t.Fatalf("three instances: %+v %v", out, err)
	}
	if out, err := decision.UserPermissions(e, &decision.UserPermissionsRequest{User: "ada"}); err != nil || len(out) != 0 {
		t.Fatalf("without instances: %+v %v", out, err)
	}
	e = build(decision.MaxInstancePermissions + 1)
	if _, err := decision.UserPermissions(e, &decision.UserPermissionsRequest{User: "ada", Instances: true}); err == nil || !strings.Contains(err.Error(), "narrow") {
		t.Fatalf("past the bound: %v", err)
	}
	if _, err := decision.UserPermissions(e, &decision.UserPermissionsRequest{User: "ada", Instances: true, Tenants: []string{"default"}}); err != nil {
		t.Fatalf("narrowed to a tenant without them: %v", err)
	}
}
