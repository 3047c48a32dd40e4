// Package compat runs Permit.io's Go SDK, unchanged, against Gatehouse.
// It is its own module so that the SDK's dependencies stay out of
// Gatehouse's: go.mod pins permit-golang v1.2.8 and go.v114.mod v1.1.4
// (which sends the facts calls to the PDP's address; the PDP passes them
// on). test/permit/permit_test.go starts a server and a standalone PDP
// and runs this with:
//
//	GATEHOUSE_API_URL  the server (Permit's apiUrl)
//	GATEHOUSE_PDP_URL  the decision point (Permit's pdp URL)
//	PERMIT_TOKEN       an environment API key
//	RUN_ID             a prefix that keeps two runs' keys apart
package compat

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/permitio/permit-golang/pkg/config"
	"github.com/permitio/permit-golang/pkg/enforcement"
	permiterrors "github.com/permitio/permit-golang/pkg/errors"
	"github.com/permitio/permit-golang/pkg/models"
	"github.com/permitio/permit-golang/pkg/permit"
)

// cascadeDelete deletes /v2/schema/{proj}/{env}/<what>?cascade=true, which
// Permit's SDKs cannot spell, with the environment key.
func cascadeDelete(t *testing.T, what string) {
	t.Helper()
	api, token := os.Getenv("GATEHOUSE_API_URL"), os.Getenv("PERMIT_TOKEN")
	call := func(method, path string) *http.Response {
		req, err := http.NewRequest(method, api+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := call("GET", "/v2/api-key/scope")
	var scope struct {
		ProjectID     string `json:"project_id"`
		EnvironmentID string `json:"environment_id"`
	}
	err := json.NewDecoder(res.Body).Decode(&scope)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	res = call("DELETE", "/v2/schema/"+scope.ProjectID+"/"+scope.EnvironmentID+"/"+what+"?cascade=true")
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("cascade delete of %s: %d", what, res.StatusCode)
	}
}

func client(t *testing.T, token string) *permit.Client {
	t.Helper()
	api, pdp := os.Getenv("GATEHOUSE_API_URL"), os.Getenv("GATEHOUSE_PDP_URL")
	if api == "" || pdp == "" || os.Getenv("PERMIT_TOKEN") == "" {
		t.Fatal("set GATEHOUSE_API_URL, GATEHOUSE_PDP_URL and PERMIT_TOKEN (test/permit/permit_test.go does)")
	}
	return permit.New(config.NewConfigBuilder(token).WithApiUrl(api).WithPdpUrl(pdp).Build())
}

// eventually retries a decision while the PDP catches up with the server
// (it follows a change stream; Permit's PDP is eventually consistent too).
func eventually(t *testing.T, what string, want bool, check func() (bool, error)) {
	t.Helper()
	var got bool
	var err error
	for range 300 { // up to 15 s on a loaded machine; milliseconds normally
		if got, err = check(); err == nil && got == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: got %v (err %v), want %v", what, got, err, want)
}

func must[T any](t *testing.T, what string) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

func TestPermitGoSDK(t *testing.T) {
	ctx := context.Background()
	p := client(t, os.Getenv("PERMIT_TOKEN"))
	id := os.Getenv("RUN_ID") + "go"
	key := func(s string) string { return id + "-" + s }
	doc, viewer, editor := key("doc"), key("viewer"), key("editor")
	acme, globex := key("acme"), key("globex")
	alice, bob := key("alice"), key("bob")

	// Schema.
	res := must[*models.ResourceRead](t, "create resource")(p.Api.Resources.Create(ctx, *models.NewResourceCreate(doc, "Document",
		map[string]models.ActionBlockEditable{"read": {}, "write": {}, "delete": {}})))
	if res.Key != doc || res.Actions == nil || len(*res.Actions) != 3 {
		t.Fatalf("resource: %+v", res)
	}
	rc := models.NewRoleCreate(viewer, "Viewer")
	rc.SetPermissions([]string{doc + ":read"})
	rc.SetAttributes(map[string]string{"tier": "gold"})
	if v := must[*models.RoleRead](t, "create viewer")(p.Api.Roles.Create(ctx, *rc)); v.Attributes["tier"] != "gold" {
		t.Fatalf("viewer's attributes: %v", v.Attributes)
	}
	must[*models.RoleRead](t, "create editor")(p.Api.Roles.Create(ctx, *models.NewRoleCreate(editor, "Editor")))
	// Role attributes: kept, matched by the attribute filter of a list,
	// replaced by an update that gives them (the rest of the role stays).
	gold := must[[]models.RoleRead](t, "roles with tier gold")(p.Api.Roles.ListByAttributes(ctx, 1, 100, map[string]interface{}{"tier": "gold"}))
	if len(gold) != 1 || gold[0].Key != viewer {
		t.Fatalf("roles with tier gold: %+v", gold)
	}
	ru := models.NewRoleUpdate()
	ru.SetAttributes(map[string]string{"tier": "silver"})
	if v := must[*models.RoleRead](t, "update viewer's attributes")(p.Api.Roles.Update(ctx, viewer, *ru)); v.Attributes["tier"] != "silver" || !slices.Equal(v.Permissions, []string{doc + ":read"}) {
		t.Fatalf("viewer after an update of its attributes: %+v", v)
	}
	if gold := must[[]models.RoleRead](t, "roles with tier gold")(p.Api.Roles.ListByAttributes(ctx, 1, 100, map[string]interface{}{"tier": "gold"})); len(gold) != 0 {
		t.Fatalf("roles with tier gold after the update: %+v", gold)
	}
	if err := p.Api.Roles.AssignPermissions(ctx, editor, []string{doc + ":read", doc + ":write"}); err != nil {
		t.Fatalf("assign permissions: %v", err)
	}
	got := must[*models.RoleRead](t, "get editor")(p.Api.Roles.Get(ctx, editor))
	perms := slices.Clone(got.Permissions)
	sort.Strings(perms)
	if !slices.Equal(perms, []string{doc + ":read", doc + ":write"}) {
		t.Fatalf("editor permissions: %v", got.Permissions)
	}

	// Tenants and users.
	must[*models.TenantRead](t, "create acme")(p.Api.Tenants.Create(ctx, *models.NewTenantCreate(acme, "Acme")))
	must[*models.TenantRead](t, "create globex")(p.Api.Tenants.Create(ctx, *models.NewTenantCreate(globex, "Globex")))
	uc := models.NewUserCreate(alice)
	uc.SetEmail("alice@example.com")
	uc.SetFirstName("Alice")
	must[*models.UserRead](t, "create alice")(p.Api.Users.Create(ctx, *uc))
	// SyncUser: a GET (404), then a create; again, an update.
	bc := models.NewUserCreate(bob)
	bc.SetEmail("bob@example.com")
	must[*models.UserRead](t, "sync bob (new)")(p.SyncUser(ctx, *bc))
	bc.SetEmail("bob@new.example.com")
	u := must[*models.UserRead](t, "sync bob (again)")(p.SyncUser(ctx, *bc))
	if u.GetEmail() != "bob@new.example.com" {
		t.Fatalf("synced bob: %+v", u)
	}
	_, err := p.Api.Users.Get(ctx, key("nobody"))
	var pe permiterrors.PermitError
	if !errors.As(err, &pe) || pe.ErrorCode != permiterrors.NotFound {
		t.Fatalf("get a missing user: %v", err)
	}
	users := must[[]models.UserRead](t, "list users")(p.Api.Users.List(ctx, 1, 100))
	var mine []string
	for _, u := range users {
		if u.Key == alice || u.Key == bob {
			mine = append(mine, u.Key)
		}
	}
	if len(mine) != 2 {
		t.Fatalf("users list: %v", users)
	}

	// Role assignments.
	ra := must[*models.RoleAssignmentRead](t, "assign")(p.Api.Users.AssignRole(ctx, alice, editor, acme))
	if ra.Role != editor || ra.Tenant != acme || ra.User != alice {
		t.Fatalf("assignment: %+v", ra)
	}
	report := must[*models.BulkRoleAssignmentReport](t, "bulk assign")(p.Api.Roles.BulkAssignRole(ctx, []models.RoleAssignmentCreate{
		*models.NewRoleAssignmentCreate(viewer, globex, alice), *models.NewRoleAssignmentCreate(viewer, acme, bob)}))
	if report.AssignmentsCreated == nil || *report.AssignmentsCreated != 2 {
		t.Fatalf("bulk assign report: %+v", report)
	}
	assigned := must[[]models.RoleAssignmentRead](t, "assigned roles")(p.Api.Users.GetAssignedRoles(ctx, alice, acme, 1, 100))
	if len(assigned) != 1 || assigned[0].Role != editor {
		t.Fatalf("alice's roles in acme: %+v", assigned)
	}
	list := must[*[]models.RoleAssignmentRead](t, "list assignments")(p.Api.RoleAssignments.List(ctx, 1, 100, "", "", acme))
	if len(*list) != 2 {
		t.Fatalf("assignments in acme: %+v", *list)
	}
	if tenantUsers, ok := listTenantUsers(ctx, t, p, acme); ok && len(tenantUsers) != 2 {
		t.Fatalf("acme's users: %+v", tenantUsers)
	}

	// Decisions, from the PDP.
	user := func(k string) enforcement.User { return enforcement.UserBuilder(k).Build() }
	in := func(tenant string) enforcement.Resource {
		return enforcement.ResourceBuilder(doc).WithTenant(tenant).Build()
	}
	eventually(t, "alice may write in acme", true, func() (bool, error) { return p.Check(user(alice), "write", in(acme)) })
	eventually(t, "bob may read in acme", true, func() (bool, error) { return p.Check(user(bob), "read", in(acme)) })
	for _, c := range []struct {
		who, action, tenant string
	}{{alice, "delete", acme}, {alice, "write", globex}, {bob, "write", acme}, {alice, "read", "default"}} {
		if ok, err := p.Check(user(c.who), enforcement.Action(c.action), in(c.tenant)); err != nil || ok {
			t.Fatalf("%s %s in %s: %v %v, want a deny", c.who, c.action, c.tenant, ok, err)
		}
	}
	// BulkCheck: the SDK sends one request per tenant and puts the answers
	// back in order.
	bulk := must[[]bool](t, "bulk check")(p.BulkCheck(
		enforcement.CheckRequest{User: user(alice), Action: "read", Resource: in(globex)},
		enforcement.CheckRequest{User: user(bob), Action: "write", Resource: in(acme)},
		enforcement.CheckRequest{User: user(alice), Action: "write", Resource: in(acme)},
		enforcement.CheckRequest{User: user(bob), Action: "read", Resource: in(globex)}))
	if !slices.Equal(bulk, []bool{true, false, true, false}) {
		t.Fatalf("bulk check: %v", bulk)
	}
	up := must[enforcement.UserPermissions](t, "user permissions")(p.GetUserPermissions(user(alice)))
	acmePerms := slices.Clone(up["__tenant:"+acme].Permissions)
	sort.Strings(acmePerms)
	if !slices.Equal(acmePerms, []string{doc + ":read", doc + ":write"}) || up["__tenant:"+acme].Tenant.Key != acme ||
		!slices.Equal(up["__tenant:"+globex].Permissions, []string{doc + ":read"}) {
		t.Fatalf("user permissions: %+v", up)
	}
	tenants := must[[]enforcement.TenantDetails](t, "all tenants")(p.AllTenantsCheck(user(alice), "read", enforcement.ResourceBuilder(doc).Build()))
	var keys []string
	for _, td := range tenants {
		keys = append(keys, td.Key)
	}
	sort.Strings(keys)
	want := []string{acme, globex}
	sort.Strings(want)
	if !slices.Equal(keys, want) {
		t.Fatalf("tenants where alice may read: %v", keys)
	}

	// Unassign, and the decisions follow.
	if _, err := p.Api.Users.UnassignRole(ctx, alice, editor, acme); err != nil {
		t.Fatalf("unassign: %v", err)
	}
	eventually(t, "alice may not write after unassign", false, func() (bool, error) { return p.Check(user(alice), "write", in(acme)) })
	removed := must[*models.BulkRoleUnAssignmentReport](t, "bulk unassign")(p.Api.Roles.BulkUnAssignRole(ctx, []models.RoleAssignmentRemove{
		*models.NewRoleAssignmentRemove(viewer, acme, bob)}))
	if removed.AssignmentsRemoved == nil || *removed.AssignmentsRemoved != 1 {
		t.Fatalf("bulk unassign report: %+v", removed)
	}
	eventually(t, "bob may not read after bulk unassign", false, func() (bool, error) { return p.Check(user(bob), "read", in(acme)) })

	// Deletes.
	for what, del := range map[string]func() error{
		"user bob":      func() error { return p.Api.Users.Delete(ctx, bob) },
		"tenant globex": func() error { return p.Api.Tenants.Delete(ctx, globex) },
	} {
		if err := del(); err != nil {
			t.Fatalf("delete %s: %v", what, err)
		}
	}
	eventually(t, "no decision in a deleted tenant", false, func() (bool, error) { return p.Check(user(alice), "read", in(globex)) })
	// A role or a resource type still in use is refused (Permit would
	// cascade silently); ?cascade=true removes the references with it.
	if err := p.Api.Roles.Delete(ctx, viewer); err != nil { // nothing refers to it any more
		t.Fatalf("delete role: %v", err)
	}
	if err := p.Api.Users.Delete(ctx, alice); err != nil {
		t.Fatalf("delete alice: %v", err)
	}
	if err := p.Api.Resources.Delete(ctx, doc); err == nil { // the editor role's permissions name it
		t.Fatal("deleting a resource type still in use was not refused")
	}
	cascadeDelete(t, "resources/"+doc)
	if _, err := p.Api.Resources.Get(ctx, doc); !errors.As(err, &pe) || pe.ErrorCode != permiterrors.NotFound {
		t.Fatalf("deleted resource: %v", err)
	}
}

func TestPermitGoSDKRefusesABadKey(t *testing.T) {
	p := client(t, "not-a-key")
	if _, err := p.Api.Users.List(context.Background(), 1, 10); err == nil {
		t.Fatal("a bad key listed users")
	}
	if _, err := p.Check(enforcement.UserBuilder("x").Build(), "read", enforcement.ResourceBuilder("doc").Build()); err == nil {
		t.Fatal("a bad key got a decision from the PDP")
	}
}
