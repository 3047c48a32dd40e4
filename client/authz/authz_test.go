package authz_test

import (
	"errors"
	"fmt"
	"os/exec"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/client/authz/authztest"
)

func docEngine(t *testing.T) *authz.Engine {
	t.Helper()
	e := authz.New()
	err := e.Load(authz.Data{
		Users:     []authz.User{{Key: "ada"}, {Key: "bob"}, {Key: "cy"}},
		Tenants:   []authz.Tenant{{Key: "default"}, {Key: "acme"}, {Key: "globex"}},
		Resources: []authz.Resource{{Key: "document", Actions: []string{"read", "write", "delete"}}, {Key: "invoice", Actions: []string{"read", "pay"}}},
		Roles: []authz.Role{
			{Key: "viewer", Permissions: []string{"document:read", "invoice:read"}},
			{Key: "editor", Permissions: []string{"document:write"}, Extends: []string{"viewer"}},
			{Key: "admin", Permissions: []string{"document:delete", "invoice:pay"}, Extends: []string{"editor"}},
		},
		Assignments: []authz.Assignment{
			{User: "ada", Role: "admin", Tenant: "acme"},
			{User: "bob", Role: "viewer", Tenant: "acme"},
			{User: "bob", Role: "editor", Tenant: "globex"},
			{User: "cy", Role: "viewer", Tenant: ""}, // default tenant
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestCheck(t *testing.T) {
	e := docEngine(t)
	tests := []struct {
		user, action, resource, tenant string
		allow                          bool
		reason                         authz.Reason
		role                           string
	}{
		{"ada", "delete", "document", "acme", true, authz.Granted, "admin"},
		{"ada", "read", "document", "acme", true, authz.Granted, "admin"}, // through editor → viewer
		{"ada", "read", "document", "globex", false, authz.NoRoleInTenant, ""},
		{"bob", "read", "invoice", "acme", true, authz.Granted, "viewer"},
		{"bob", "write", "document", "acme", false, authz.NotGranted, ""},
		{"bob", "write", "document", "globex", true, authz.Granted, "editor"},
		{"bob", "pay", "invoice", "globex", false, authz.NotGranted, ""},
		{"cy", "read", "document", "", true, authz.Granted, "viewer"},
		{"cy", "read", "document", "default", true, authz.Granted, "viewer"},
		{"zed", "read", "document", "acme", false, authz.UnknownUser, ""},
		{"ada", "read", "document", "initech", false, authz.UnknownTenant, ""},
		{"ada", "read", "spaceship", "acme", false, authz.UnknownResource, ""},
		{"ada", "fly", "document", "acme", false, authz.UnknownAction, ""},
	}
	for _, tc := range tests {
		d := e.Check(tc.user, tc.action, tc.resource, tc.tenant)
		if d.Allow != tc.allow || d.Reason != tc.reason || d.Role != tc.role {
			t.Errorf("Check(%s, %s, %s, %s) = %+v (%s), want allow=%v %s %q", tc.user, tc.action, tc.resource, tc.tenant,
				d, d.Explain(tc.user, tc.action, tc.resource, tc.tenant), tc.allow, tc.reason, tc.role)
		}
	}
}

func TestChanges(t *testing.T) {
	e := docEngine(t)
	if err := e.Assign(authz.Assignment{User: "bob", Role: "admin", Tenant: "acme"}); err != nil {
		t.Fatal(err)
	}
	if !e.Check("bob", "delete", "document", "acme").Allow {
		t.Fatal("new assignment not effective")
	}
	if !e.Unassign(authz.Assignment{User: "bob", Role: "admin", Tenant: "acme"}) || e.Check("bob", "delete", "document", "acme").Allow {
		t.Fatal("unassign not effective")
	}
	if e.Unassign(authz.Assignment{User: "bob", Role: "admin", Tenant: "acme"}) {
		t.Fatal("second unassign reported a removal")
	}
	for _, bad := range []authz.Assignment{{User: "nobody", Role: "viewer", Tenant: "acme"}, {User: "bob", Role: "ghost", Tenant: "acme"}, {User: "bob", Role: "viewer", Tenant: "nowhere"}} {
		if err := e.Assign(bad); !errors.Is(err, authz.ErrNotFound) {
			t.Errorf("Assign(%+v) = %v", bad, err)
		}
	}
	// A role change reaches every holder at once.
	if err := e.PutRole(authz.Role{Key: "viewer", Permissions: []string{"document:read", "invoice:pay"}}); err != nil {
		t.Fatal(err)
	}
	if !e.Check("bob", "pay", "invoice", "acme").Allow || e.Check("bob", "read", "invoice", "acme").Allow {
		t.Fatal("role update not effective")
	}
	if err := e.PutRole(authz.Role{Key: "viewer", Permissions: []string{"document:read"}, Extends: []string{"admin"}}); !errors.Is(err, authz.ErrInvalid) {
		t.Fatalf("cycle accepted: %v", err)
	}
	if !e.Check("bob", "pay", "invoice", "acme").Allow {
		t.Fatal("a refused role change altered the engine")
	}
	if err := e.PutRole(authz.Role{Key: "x", Extends: []string{"ghost"}}); !errors.Is(err, authz.ErrNotFound) {
		t.Fatalf("extends of a missing role accepted: %v", err)
	}
	// New actions become checkable; deleted types grant nothing.
	e.PutResource(authz.Resource{Key: "document", Actions: []string{"read", "write", "delete", "share"}})
	if d := e.Check("ada", "share", "document", "acme"); d.Allow || d.Reason != authz.NotGranted {
		t.Fatalf("share: %+v", d)
	}
	e.DeleteResource("invoice")
	if d := e.Check("bob", "pay", "invoice", "acme"); d.Allow || d.Reason != authz.UnknownResource {
		t.Fatalf("deleted resource: %+v", d)
	}
	// Deleting a user, tenant or role removes its assignments.
	e.DeleteUser("ada")
	e.DeleteTenant("globex")
	e.DeleteRole("viewer")
	st := e.Stats()
	if st.Assignments != 0 || st.Users != 2 || st.Tenants != 2 || st.Roles != 2 {
		t.Fatalf("stats after deletes: %+v (data %+v)", st, e.Data().Assignments)
	}
	if d := e.Check("cy", "read", "document", ""); d.Allow || d.Reason != authz.NoRoleInTenant {
		t.Fatalf("after role delete: %+v", d)
	}
	if d := e.Check("bob", "read", "document", "globex"); d.Allow || d.Reason != authz.UnknownTenant {
		t.Fatalf("deleted tenant: %+v", d)
	}
	e.PutTenant(authz.Tenant{Key: "globex"}) // back, without the assignments it had
	if d := e.Check("bob", "read", "document", "globex"); d.Allow || d.Reason != authz.NoRoleInTenant {
		t.Fatalf("tenant deleted and put again: %+v", d)
	}
	for _, r := range e.Data().Roles {
		if r.Key == "editor" && len(r.Extends) != 0 {
			t.Fatalf("deleted role still extended: %+v", r)
		}
	}
}

func TestPermissionsAndData(t *testing.T) {
	e := docEngine(t)
	got := e.Permissions("bob", nil)
	want := []authz.TenantPermissions{
		{Tenant: "acme", Roles: []string{"viewer"}, Permissions: []string{"document:read", "invoice:read"}},
		{Tenant: "globex", Roles: []string{"editor"}, Permissions: []string{"document:read", "document:write", "invoice:read"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Permissions = %+v", got)
	}
	if got := e.Permissions("bob", []string{"globex", "initech"}); len(got) != 1 || got[0].Tenant != "globex" {
		t.Fatalf("filtered: %+v", got)
	}
	// Data round-trips through Load.
	copyE := authz.New()
	if err := copyE.Load(e.Data()); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(copyE.Data(), e.Data()) {
		t.Fatal("Data/Load does not round-trip")
	}
}

// Permissions sorts its own copy of the tenants it is given: the caller's
// slice (LocalChecker.Permissions passes variadic arguments through) is
// left in its order, whether the copy fits on the stack or not.
func TestPermissionsLeavesTenantsAlone(t *testing.T) {
	e := docEngine(t)
	many := []string{"globex"}
	for i := 20; i > 0; i-- {
		many = append(many, fmt.Sprintf("t%02d", i))
	}
	many = append(many, "acme")
	for _, tenants := range [][]string{{"globex", "initech", "acme"}, many} {
		t.Run(fmt.Sprint(len(tenants)), func(t *testing.T) {
			before := slices.Clone(tenants)
			got := e.Permissions("bob", tenants)
			if len(got) != 2 || got[0].Tenant != "acme" || got[1].Tenant != "globex" {
				t.Fatalf("Permissions = %+v", got)
			}
			if !slices.Equal(tenants, before) {
				t.Fatalf("the caller's tenants became %v (were %v)", tenants, before)
			}
		})
	}
}

// The engine agrees with the generator's independent model on every query.
func TestAgreesWithModel(t *testing.T) {
	ds := authztest.Generate(authztest.Small, 1)
	e := authz.New()
	if err := e.Load(ds.Data); err != nil {
		t.Fatal(err)
	}
	allowed := 0
	for _, q := range ds.Queries(authztest.Small, 20_000, 2) {
		d := e.Check(q.User, q.Action, q.Resource, q.Tenant)
		if d.Allow != q.Want {
			t.Fatalf("%+v: engine says %+v", q, d)
		}
		if d.Allow {
			allowed++
		}
	}
	if allowed == 0 {
		t.Fatal("no query was allowed: the data set tests nothing")
	}
}

func TestConcurrentChecksAndWrites(t *testing.T) {
	e := docEngine(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 2000; i++ {
			_ = e.Assign(authz.Assignment{User: "cy", Role: "admin", Tenant: "acme"})
			e.Unassign(authz.Assignment{User: "cy", Role: "admin", Tenant: "acme"})
			e.PutUser(authz.User{Key: "cy"})
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		select {
		case <-done:
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("writer did not finish")
		}
		// the writer lays cy's role sets out anew (a tenant gained, then
		// lost) while these read them
		_ = e.Check("cy", "delete", "document", "acme")
		_ = e.Permissions("cy", nil)
		runtime.Gosched()
	}
}

// authz is embeddable: it imports only the standard library (not even the
// server's root vocabulary package: the module at client/ requires nothing).
func TestImportsOnlyTheStandardLibrary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep != "github.com/gatehouse-dev/gatehouse/client/authz" {
			t.Errorf("authz depends on %s", dep)
		}
	}
}
