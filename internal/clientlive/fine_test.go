package clientlive_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// The README's Drive model through the SDK: roles and relations of
// resource types, instances, tuples (bulk too), a role on an instance, the
// check's path and the two lookups.
func TestFineGrainedModel(t *testing.T) {
	ctx := context.Background()
	c := env(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.Resources.Create(ctx, client.ResourceInput{Key: "folder", Actions: []string{"read", "write"}})
	must(err)
	_, err = c.Resources.Create(ctx, client.ResourceInput{Key: "document", Actions: []string{"read", "write"},
		Attributes: map[string]client.AttributeDef{"owner": {Type: "string"}}})
	must(err)
	_, err = c.Tenants.Create(ctx, client.TenantInput{Key: "acme"})
	must(err)
	for _, res := range []string{"folder", "document"} {
		rel, err := c.Relations.Create(ctx, res, client.RelationInput{Key: "parent", Subject: "folder"})
		if err != nil || rel.Resource != res || rel.Subject != "folder" {
			t.Fatalf("relation on %s: %+v %v", res, rel, err)
		}
		role, err := c.ResourceRoles.Create(ctx, res, client.ResourceRoleInput{Key: "editor", Permissions: []string{"read", "write"},
			GrantedTo: []client.Derivation{{Role: "editor", OnResource: "folder", LinkedByRelation: "parent"}}})
		if err != nil || role.Resource != res || len(role.GrantedTo) != 1 || role.GrantedTo[0].LinkedByRelation != "parent" {
			t.Fatalf("role on %s: %+v %v", res, role, err)
		}
	}
	got, err := c.ResourceRoles.Get(ctx, "document", "editor")
	if err != nil || !reflect.DeepEqual(got.Permissions, []string{"read", "write"}) {
		t.Fatalf("get role: %+v %v", got, err)
	}
	name := "Document editor"
	if r, err := c.ResourceRoles.Update(ctx, "document", "editor", client.ResourceRolePatch{Name: &name}); err != nil || r.Name != name || len(r.GrantedTo) != 1 {
		t.Fatalf("update role: %+v %v", r, err)
	}
	if rels, err := c.Relations.List(ctx, "document", nil); err != nil || len(rels.Items) != 1 || rels.Items[0].Key != "parent" {
		t.Fatalf("relations: %+v %v", rels, err)
	}
	if roles, err := c.ResourceRoles.List(ctx, "folder", &client.FineListOptions{Search: "edit"}); err != nil || len(roles.Items) != 1 {
		t.Fatalf("roles: %+v %v", roles, err)
	}

	for _, f := range []string{"root", "specs"} {
		_, err := c.ResourceInstances.Create(ctx, client.InstanceInput{Resource: "folder", Key: f, Tenant: "acme"})
		must(err)
	}
	d1, err := c.ResourceInstances.Create(ctx, client.InstanceInput{Resource: "document", Key: "d1", Tenant: "acme", Attributes: map[string]any{"owner": "ann"}})
	if err != nil || d1.Ref() != "document:d1" || d1.Tenant != "acme" || d1.Attributes["owner"] != "ann" {
		t.Fatalf("instance: %+v %v", d1, err)
	}
	attrs := map[string]any{"owner": "bob"}
	if i, err := c.ResourceInstances.Update(ctx, "document:d1", client.InstancePatch{Attributes: &attrs}); err != nil || i.Attributes["owner"] != "bob" {
		t.Fatalf("update instance: %+v %v", i, err)
	}
	if list, err := c.ResourceInstances.List(ctx, &client.InstanceListOptions{Resource: "folder", Tenant: "acme"}); err != nil || len(list.Items) != 2 {
		t.Fatalf("folders of acme: %+v %v", list, err)
	}
	ts, err := c.RelationshipTuples.CreateBulk(ctx, []client.Tuple{{Subject: "folder:root", Relation: "parent", Object: "folder:specs"},
		{Subject: "folder:specs", Relation: "parent", Object: "document:d1"}})
	if err != nil || len(ts) != 2 || ts[1].Object != "document:d1" || ts[1].ID == "" {
		t.Fatalf("bulk tuples: %+v %v", ts, err)
	}
	// A tuple closing a cycle is refused, naming the problem.
	if _, err := c.RelationshipTuples.Create(ctx, client.Tuple{Subject: "folder:specs", Relation: "parent", Object: "folder:root"}); client.ErrorCode(err) != client.CodeInvalidRequest {
		t.Fatalf("a cycle: %v", err)
	}
	if list, err := c.RelationshipTuples.List(ctx, &client.TupleFilter{Object: "document:d1"}); err != nil || len(list.Items) != 1 || list.Items[0].Subject != "folder:specs" {
		t.Fatalf("tuples of d1: %+v %v", list, err)
	}

	_, err = c.Users.Create(ctx, client.UserInput{Key: "bob"})
	must(err)
	a, err := c.RoleAssignments.AssignOnInstance(ctx, "bob", "editor", "folder:root")
	if err != nil || a.ResourceInstance != "folder:root" || a.Tenant != "acme" {
		t.Fatalf("assign on an instance: %+v %v", a, err)
	}
	if list, err := c.RoleAssignments.List(ctx, &client.AssignmentFilter{ResourceInstance: "folder:root"}); err != nil || len(list.Items) != 1 {
		t.Fatalf("assignments on folder:root: %+v %v", list, err)
	}
	if list, err := c.RoleAssignments.List(ctx, &client.AssignmentFilter{Kind: "tenant"}); err != nil || len(list.Items) != 0 {
		t.Fatalf("tenant assignments: %+v %v", list, err)
	}

	dec, err := c.Checks.Allowed(ctx, client.Check{User: "bob", Action: "write", Resource: client.CheckResource{Type: "document", Key: "d1"}})
	if err != nil || !dec.Allow || dec.Via != "instance_role" || dec.Role != "editor" || dec.Tenant != "acme" {
		t.Fatalf("bob writes d1: %+v %v", dec, err)
	}
	if len(dec.Path) == 0 || dec.Path[0] != (authz.Step{Kind: authz.StepInstanceRole, Subject: "user:bob", Relation: "editor", Object: "folder:root"}) {
		t.Fatalf("path: %+v", dec.Path)
	}
	last := dec.Path[len(dec.Path)-1]
	if last.Object != "document:d1" || last.Kind != authz.StepDerived || last.Rule == "" {
		t.Fatalf("the path ends with %+v", last)
	}
	keys, err := c.Checks.AllowedResources(ctx, client.ResourcesLookup{User: "bob", Action: "write", Type: "document"}, nil)
	if err != nil || !slices.Equal(keys.Items, []string{"d1"}) || keys.Meta.TotalItems != 1 {
		t.Fatalf("bob's documents: %+v %v", keys, err)
	}
	folders, err := c.Checks.AllowedResources(ctx, client.ResourcesLookup{User: "bob", Action: "read", Type: "folder", Tenant: "acme"}, &client.LookupOptions{PerPage: 1})
	if err != nil || !slices.Equal(folders.Items, []string{"root"}) || !folders.Meta.HasNext {
		t.Fatalf("bob's folders, one a page: %+v %v", folders, err)
	}
	users, err := c.Checks.AllowedUsers(ctx, client.UsersLookup{Action: "write", Resource: client.CheckResource{Type: "document", Key: "d1"}}, nil)
	if err != nil || !slices.Equal(users.Items, []string{"bob"}) {
		t.Fatalf("who writes d1: %+v %v", users, err)
	}
	perms, err := c.Checks.Permissions(ctx, client.PermissionsQuery{User: "bob", Instances: true, ResourceTypes: []string{"document"}})
	if err != nil || len(perms) != 1 || perms[0].Tenant != "acme" || len(perms[0].Instances) == 0 || perms[0].Instances[0].Resource != "document:d1" ||
		!slices.Contains(perms[0].Instances[0].Permissions, "document:write") {
		t.Fatalf("bob's permissions on documents: %+v %v", perms, err)
	}

	// Taking the tuple away takes the right away.
	must(c.RelationshipTuples.Delete(ctx, client.Tuple{Subject: "folder:specs", Relation: "parent", Object: "document:d1"}))
	if dec, err := c.Checks.Allowed(ctx, client.Check{User: "bob", Action: "write", Resource: client.CheckResource{Type: "document", Key: "d1"}}); err != nil || dec.Allow {
		t.Fatalf("after deleting the tuple: %+v %v", dec, err)
	}
	must(c.RelationshipTuples.DeleteBulk(ctx, []client.Tuple{{Subject: "folder:root", Relation: "parent", Object: "folder:specs"}}))
	if err := c.RelationshipTuples.DeleteBulk(ctx, []client.Tuple{{Subject: "folder:root", Relation: "parent", Object: "folder:specs"}}); !client.IsNotFound(err) {
		t.Fatalf("deleting a missing tuple: %v", err)
	}
	must(c.RoleAssignments.UnassignOnInstance(ctx, "bob", "editor", "folder:root"))
	// A role still used by another role's derivation is refused without cascade.
	if err := c.ResourceRoles.Delete(ctx, "folder", "editor", false); !client.IsConflict(err) {
		t.Fatalf("delete a role in use: %v", err)
	}
	must(c.ResourceRoles.Delete(ctx, "folder", "editor", true))
	must(c.Relations.Delete(ctx, "document", "parent", true))
	if _, err := c.Relations.Get(ctx, "document", "parent"); !client.IsNotFound(err) {
		t.Fatalf("a deleted relation: %v", err)
	}
	must(c.ResourceInstances.Delete(ctx, "document:d1"))
	if _, err := c.ResourceInstances.Get(ctx, "document:d1"); !client.IsNotFound(err) {
		t.Fatalf("a deleted instance: %v", err)
	}
}

// Condition sets and set rules, and a check that passes attributes inline.
func TestAttributeRules(t *testing.T) {
	ctx := context.Background()
	c := env(t)
	_, err := c.Resources.Create(ctx, client.ResourceInput{Key: "invoice", Actions: []string{"approve"},
		Attributes: map[string]client.AttributeDef{"amount": {Type: "number"}}})
	if err != nil {
		t.Fatal(err)
	}
	// A bad condition is refused, with the field named.
	_, err = c.ConditionSets.Create(ctx, client.ConditionSetInput{Key: "bad", Type: client.UserSet, Conditions: json.RawMessage(`{"user.dept":{"frobnicates":"x"}}`)})
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.Code != client.CodeInvalidRequest || apiErr.Details["field"] != "conditions" {
		t.Fatalf("a bad condition: %v", err)
	}
	us, err := c.ConditionSets.Create(ctx, client.ConditionSetInput{Key: "finance", Type: client.UserSet,
		Conditions: json.RawMessage(`{"allOf":[{"user.dept":{"equals":"finance"}}]}`)})
	if err != nil || us.Type != client.UserSet || !json.Valid(us.Conditions) {
		t.Fatalf("user set: %+v %v", us, err)
	}
	if _, err := c.ConditionSets.Create(ctx, client.ConditionSetInput{Key: "small", Type: client.ResourceSet, Resource: "invoice",
		Conditions: json.RawMessage(`{"resource.amount":{"less-than":1000}}`)}); err != nil {
		t.Fatal(err)
	}
	desc := "People of finance"
	if s, err := c.ConditionSets.Update(ctx, "finance", client.ConditionSetPatch{Description: &desc}); err != nil || s.Description != desc {
		t.Fatalf("update: %+v %v", s, err)
	}
	if list, err := c.ConditionSets.List(ctx, &client.ConditionSetFilter{Type: client.ResourceSet}); err != nil || len(list.Items) != 1 || list.Items[0].Resource != "invoice" {
		t.Fatalf("resource sets: %+v %v", list, err)
	}
	rule, err := c.SetRules.Create(ctx, client.SetRuleInput{UserSet: "finance", Action: "approve", ResourceSet: "small"})
	if err != nil || rule.ID == "" || rule.UserSet != "finance" {
		t.Fatalf("set rule: %+v %v", rule, err)
	}
	if _, err := c.Users.Create(ctx, client.UserInput{Key: "ann"}); err != nil {
		t.Fatal(err)
	}
	check := client.Check{User: "ann", UserAttributes: map[string]any{"dept": "finance"}, Action: "approve",
		Resource: client.CheckResource{Type: "invoice", Attributes: map[string]any{"amount": 50}}}
	dec, err := c.Checks.Allowed(ctx, check)
	if err != nil || !dec.Allow || dec.Via != "set_rule" || dec.ResourceSet != "small" || len(dec.Path) == 0 || dec.Path[len(dec.Path)-1].Kind != authz.StepSetRule {
		t.Fatalf("ann approves a small invoice: %+v %v", dec, err)
	}
	check.Resource.Attributes["amount"] = 5000
	if dec, err := c.Checks.Allowed(ctx, check); err != nil || dec.Allow {
		t.Fatalf("a large invoice: %+v %v", dec, err)
	}
	// The lookup of users counts attribute rules on stored attributes only.
	if _, err := c.Users.Update(ctx, "ann", client.UserPatch{Attributes: &map[string]any{"dept": "finance"}}); err != nil {
		t.Fatal(err)
	}
	users, err := c.Checks.AllowedUsers(ctx, client.UsersLookup{Action: "approve", Resource: client.CheckResource{Type: "invoice", Attributes: map[string]any{"amount": 5}}}, nil)
	if err != nil || !slices.Equal(users.Items, []string{"ann"}) {
		t.Fatalf("who approves: %+v %v", users, err)
	}
	if err := c.ConditionSets.Delete(ctx, "finance", false); !client.IsConflict(err) {
		t.Fatalf("delete a set in use: %v", err)
	}
	if err := c.SetRules.Delete(ctx, client.SetRuleInput{UserSet: "finance", Action: "approve", ResourceSet: "small"}); err != nil {
		t.Fatal(err)
	}
	r2, err := c.SetRules.Create(ctx, client.SetRuleInput{UserSet: "finance", Action: "approve", ResourceSet: "small"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetRules.DeleteByID(ctx, r2.ID); err != nil {
		t.Fatal(err)
	}
	if list, err := c.SetRules.List(ctx, nil); err != nil || len(list.Items) != 0 {
		t.Fatalf("set rules left: %+v %v", list, err)
	}
	if err := c.ConditionSets.Delete(ctx, "finance", false); err != nil {
		t.Fatal(err)
	}
}
