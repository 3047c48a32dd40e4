package authz_test

import (
	"fmt"

	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// An application can answer checks in-process: load an environment's data
// (from a snapshot, GET /v1/pdp/snapshot, or built by hand) and ask.
func ExampleEngine_Check() {
	e := authz.New()
	err := e.Load(authz.Data{
		Users:     []authz.User{{Key: "ada"}, {Key: "bob"}},
		Tenants:   []authz.Tenant{{Key: authz.DefaultTenant}, {Key: "acme"}},
		Resources: []authz.Resource{{Key: "document", Actions: []string{"read", "write"}}},
		Roles: []authz.Role{
			{Key: "viewer", Permissions: []string{"document:read"}},
			{Key: "editor", Permissions: []string{"document:write"}, Extends: []string{"viewer"}},
		},
		Assignments: []authz.Assignment{{User: "ada", Role: "editor", Tenant: "acme"}},
	})
	if err != nil {
		panic(err)
	}
	for _, q := range []struct{ user, action, tenant string }{
		{"ada", "read", "acme"},  // through editor, which extends viewer
		{"ada", "write", "acme"}, // editor's own
		{"ada", "read", authz.DefaultTenant},
		{"bob", "read", "acme"},
	} {
		d := e.Check(q.user, q.action, "document", q.tenant)
		fmt.Printf("%s %s in %s: %v (%s)", q.user, q.action, q.tenant, d.Allow, d.Reason)
		if d.Role != "" {
			fmt.Print(" by ", d.Role)
		}
		fmt.Println()
	}
	// Output:
	// ada read in acme: true (granted) by editor
	// ada write in acme: true (granted) by editor
	// ada read in default: false (no_role_in_tenant)
	// bob read in acme: false (no_role_in_tenant)
}

// Changes apply in place while checks go on; Permissions says what a user
// may do per tenant.
func ExampleEngine_Permissions() {
	e := authz.New()
	_ = e.Load(authz.Data{
		Users:     []authz.User{{Key: "ada"}},
		Tenants:   []authz.Tenant{{Key: "acme"}},
		Resources: []authz.Resource{{Key: "invoice", Actions: []string{"read", "pay"}}},
		Roles:     []authz.Role{{Key: "accountant", Permissions: []string{"invoice:read", "invoice:pay"}}},
	})
	if err := e.Assign(authz.Assignment{User: "ada", Role: "accountant", Tenant: "acme"}); err != nil {
		panic(err)
	}
	for _, tp := range e.Permissions("ada", nil) {
		fmt.Println(tp.Tenant, tp.Roles, tp.Permissions)
	}
	// Output:
	// acme [accountant] [invoice:pay invoice:read]
}
