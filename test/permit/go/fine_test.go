//go:build !permit114

package compat

import (
	"context"
	"os"
	"slices"
	"sort"
	"testing"

	"github.com/permitio/permit-golang/pkg/enforcement"
	"github.com/permitio/permit-golang/pkg/models"
)

// TestPermitGoSDKFineGrained: Permit's Go SDK (v1.2.8, which has these
// APIs) builds a folder tree with an implicit grant and a finance rule,
// and gets decisions on instances and with attributes, the tenants where
// a check holds (AllTenantsCheck), a filtered list (FilterObjects) and the
// user's permissions on instances.
func TestPermitGoSDKFineGrained(t *testing.T) {
	ctx := context.Background()
	p := client(t, os.Getenv("PERMIT_TOKEN"))
	id := os.Getenv("RUN_ID") + "fg"
	key := func(s string) string { return id + "-" + s }
	folder, doc, ada, bob := key("folder"), key("doc"), key("ada"), key("bob")

	// Schema: folder and doc, doc's parent is a folder, a folder's editor
	// is editor of its docs.
	for _, r := range []string{folder, doc} {
		must[*models.ResourceRead](t, "create "+r)(p.Api.Resources.Create(ctx, *models.NewResourceCreate(r, r,
			map[string]models.ActionBlockEditable{"read": {}, "write": {}})))
	}
	rel := must[*models.RelationRead](t, "create relation")(p.Api.ResourceRelations.Create(ctx, doc, *models.NewRelationCreate("parent", "Parent", folder)))
	if rel.SubjectResource != folder {
		t.Fatalf("relation: %+v", rel)
	}
	for _, r := range []string{folder, doc} {
		rc := models.NewResourceRoleCreate("editor", "Editor")
		rc.SetPermissions([]string{"read", "write"})
		must[*models.ResourceRoleRead](t, "create "+r+"#editor")(p.Api.ResourceRoles.Create(ctx, r, *rc))
	}
	rc := models.NewResourceRoleCreate("viewer", "Viewer")
	rc.SetPermissions([]string{"read"})
	must[*models.ResourceRoleRead](t, "create doc#viewer")(p.Api.ResourceRoles.Create(ctx, doc, *rc))
	grant := must[*models.DerivedRoleRuleRead](t, "implicit grant")(p.Api.ImplicitGrants.Create(ctx, doc, "editor",
		*models.NewDerivedRoleRuleCreate("editor", folder, "parent")))
	if grant.OnResource != folder || grant.RoleId == "" {
		t.Fatalf("implicit grant: %+v", grant)
	}

	// Instances and tuples; users with roles on instances.
	for _, k := range []string{"d1", "d2"} {
		ic := models.NewResourceInstanceCreate(k, doc)
		ic.SetTenant("default")
		must[*models.ResourceInstanceRead](t, "create "+k)(p.Api.ResourceInstances.Create(ctx, *ic))
	}
	tc := models.NewRelationshipTupleCreate(folder+":f1", "parent", doc+":d1")
	tc.SetTenant("default") // f1 does not exist yet: made in this tenant
	must[*models.RelationshipTupleRead](t, "create tuple")(p.Api.RelationshipTuples.Create(ctx, *tc))
	must[*models.UserRead](t, "create ada")(p.Api.Users.Create(ctx, *models.NewUserCreate(ada)))
	bc := models.NewUserCreate(bob)
	bc.SetAttributes(map[string]interface{}{"dept": "finance"})
	must[*models.UserRead](t, "create bob")(p.Api.Users.Create(ctx, *bc))
	ra := must[*models.RoleAssignmentRead](t, "assign ada")(p.Api.Users.AssignResourceRole(ctx, ada, "editor", "default", folder+":f1"))
	if ra.ResourceInstance == nil || *ra.ResourceInstance != folder+":f1" {
		t.Fatalf("assignment on an instance: %+v", ra)
	}
	must[*models.RoleAssignmentRead](t, "assign bob")(p.Api.Users.AssignResourceRole(ctx, bob, "viewer", "default", doc+":d2"))

	user := func(k string) enforcement.User { return enforcement.UserBuilder(k).Build() }
	inst := func(k string) enforcement.Resource {
		return enforcement.ResourceBuilder(doc).WithKey(k).WithTenant("default").Build()
	}
	// The PDP applies the changes in order: wait for the last write (bob's
	// role), then every earlier one holds too.
	eventually(t, "viewer of d2 reads d2", true, func() (bool, error) { return p.Check(user(bob), "read", inst("d2")) })
	for _, c := range []struct {
		user, action, key string
		want              bool
	}{{ada, "write", "d1", true}, {ada, "write", "d2", false}, {bob, "write", "d2", false}, {bob, "read", "d1", false}} {
		if got, err := p.Check(user(c.user), enforcement.Action(c.action), inst(c.key)); err != nil || got != c.want {
			t.Fatalf("%s %s %s: %v (%v), want %v", c.user, c.action, c.key, got, err, c.want)
		}
	}
	// FilterObjects sends each resource's ID as the instance.
	f1 := enforcement.ResourceBuilder(doc).WithID("d1").WithTenant("default").Build()
	f2 := enforcement.ResourceBuilder(doc).WithID("d2").WithTenant("default").Build()
	kept, err := p.FilterObjects(user(ada), "read", nil, &f1, &f2)
	if err != nil || len(kept) != 1 || kept[0].GetID() != "d1" {
		t.Fatalf("FilterObjects: %v (%v)", kept, err)
	}
	tenants, err := p.AllTenantsCheck(user(ada), "write", inst("d1"))
	if err != nil || len(tenants) != 1 || tenants[0].Key != "default" {
		t.Fatalf("AllTenantsCheck: %+v (%v)", tenants, err)
	}
	perms, err := p.GetUserPermissions(user(ada), "default")
	if err != nil {
		t.Fatal(err)
	}
	var scopes []string
	for k := range perms {
		scopes = append(scopes, k)
	}
	sort.Strings(scopes)
	if !slices.Equal(scopes, []string{doc + ":d1", folder + ":f1"}) || perms[doc+":d1"].Resource == nil || perms[doc+":d1"].Resource.Key != "d1" {
		t.Fatalf("user permissions: %+v", perms)
	}

	// ABAC: finance users read docs under an amount.
	us := models.NewConditionSetCreate(key("finance"), "Finance")
	us.SetConditions(map[string]interface{}{"allOf": []interface{}{map[string]interface{}{"user.dept": map[string]interface{}{"equals": "finance"}}}})
	must[*models.ConditionSetRead](t, "user set")(p.Api.ConditionSets.Create(ctx, *us))
	rs := models.NewConditionSetCreate(key("small"), "Small")
	rs.SetType(models.RESOURCESET)
	rid := doc
	rs.SetResourceId(models.ResourceId{String: &rid})
	rs.SetConditions(map[string]interface{}{"allOf": []interface{}{map[string]interface{}{"resource.amount": map[string]interface{}{"less-than": 100}}}})
	must[*models.ConditionSetRead](t, "resource set")(p.Api.ConditionSets.Create(ctx, *rs))
	rules := must[[]models.ConditionSetRuleRead](t, "set rule")(p.Api.ConditionSets.AssignSetPermissions(ctx, key("finance"), doc+":write", key("small")))
	if len(rules) != 1 || rules[0].Permission != doc+":write" {
		t.Fatalf("set rule: %+v", rules)
	}
	small := enforcement.ResourceBuilder(doc).WithTenant("default").WithAttributes(map[string]interface{}{"amount": 10}).Build()
	big := enforcement.ResourceBuilder(doc).WithTenant("default").WithAttributes(map[string]interface{}{"amount": 1000}).Build()
	eventually(t, "finance writes a small doc", true, func() (bool, error) { return p.Check(user(bob), "write", small) })
	if got, err := p.Check(user(bob), "write", big); err != nil || got {
		t.Fatalf("finance writes a big doc: %v (%v)", got, err)
	}
	if got, err := p.Check(user(ada), "write", small); err != nil || got {
		t.Fatalf("not finance writes a small doc: %v (%v)", got, err)
	}
}
