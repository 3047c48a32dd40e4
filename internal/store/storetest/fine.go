package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// testFineFeed writes every kind of fine-grained data, updates and deletes
// it (cascades included); after each write, the feed's new changes applied
// to an engine give the same data as a fresh load from the database, and
// the store answers the same on both engines.
func testFineFeed(t *testing.T, st *store.Store) {
	ctx := context.Background()
	svc, env := factsEnv(t, st)
	must(t, svc.EnsureDefaultTenant(ctx, env))
	replayed := authz.New()
	var last int64
	step := 0
	check := func(what string) {
		t.Helper()
		step++
		changes, err := st.ChangesSince(ctx, env, last, 10000)
		must(t, err)
		for _, c := range changes {
			if err := c.Apply(replayed); err != nil {
				t.Fatalf("step %d (%s): change %s %s does not apply: %v", step, what, c.Op, c.Data, err)
			}
			last = c.Seq
		}
		data, seq, err := st.LoadEnvironment(ctx, env)
		must(t, err)
		if seq != last {
			t.Fatalf("step %d (%s): load position %d, feed at %d", step, what, seq, last)
		}
		loaded := authz.New()
		if err := loaded.Load(data); err != nil {
			t.Fatalf("step %d (%s): fresh load: %v", step, what, err)
		}
		a, _ := json.Marshal(replayed.Data())
		b, _ := json.Marshal(loaded.Data())
		if string(a) != string(b) {
			t.Fatalf("step %d (%s): replayed feed differs from a fresh load:\nreplayed %s\nloaded   %s", step, what, a, b)
		}
	}
	ok := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		check(what)
	}

	ok("tenant", errOf(svc.CreateTenant(ctx, env, facts.TenantInput{Key: "acme"})))
	ok("tenant", errOf(svc.CreateTenant(ctx, env, facts.TenantInput{Key: "beta"})))
	ok("user", errOf(svc.CreateUser(ctx, env, facts.UserInput{Key: "ada"})))
	ok("user", errOf(svc.CreateUser(ctx, env, facts.UserInput{Key: "bob"})))
	ok("tenant role", errOf(svc.CreateRole(ctx, env, facts.RoleInput{Key: "admin"})))
	for _, r := range []facts.ResourceInput{{Key: "team", Actions: []string{"view"}}, {Key: "folder", Actions: []string{"read", "write"}}, {Key: "document", Actions: []string{"read", "write"}}} {
		ok("resource", errOf(svc.CreateResource(ctx, env, r)))
	}
	ok("role", errOf(svc.CreateResourceRole(ctx, env, "team", facts.ResourceRoleInput{Key: "member", Permissions: []string{"view"}})))
	ok("relation", errOf(svc.CreateRelation(ctx, env, "folder", facts.RelationInput{Key: "parent", Subject: "folder"})))
	ok("relation", errOf(svc.CreateRelation(ctx, env, "document", facts.RelationInput{Key: "parent", Subject: "folder"})))
	ok("role", errOf(svc.CreateResourceRole(ctx, env, "folder", facts.ResourceRoleInput{Key: "viewer", Permissions: []string{"read"}})))
	ok("role", errOf(svc.CreateResourceRole(ctx, env, "folder", facts.ResourceRoleInput{Key: "editor", Permissions: []string{"write"}, Extends: []string{"viewer"},
		GrantedTo: []authz.Derivation{{Role: "editor", OnResource: "folder", LinkedByRelation: "parent"}}})))
	ok("role", errOf(svc.CreateResourceRole(ctx, env, "document", facts.ResourceRoleInput{Key: "editor", Permissions: []string{"read", "write"},
		GrantedTo: []authz.Derivation{{Role: "editor", OnResource: "folder", LinkedByRelation: "parent"}, {Role: "admin", OnResource: authz.TenantResource}}})))
	_, err := svc.CreateResourceRole(ctx, env, "document", facts.ResourceRoleInput{Key: "editor"})
	wantCode(t, err, gatehouse.CodeConflict)
	ok("update role", errOf(svc.UpdateResourceRole(ctx, env, "folder", "viewer", facts.ResourceRolePatch{Name: ptr("Viewer")})))
	for _, i := range []facts.InstanceInput{{Resource: "team", Key: "t1", Tenant: "acme"}, {Resource: "folder", Key: "f1", Tenant: "acme"}, {Resource: "folder", Key: "f2", Tenant: "acme"},
		{Resource: "document", Key: "d1", Tenant: "acme", Attributes: map[string]any{"pages": 3.0}}, {Resource: "document", Key: "d2", Tenant: "beta"}} {
		ok("instance", errOf(svc.CreateInstance(ctx, env, i)))
	}
	_, err = svc.CreateInstance(ctx, env, facts.InstanceInput{Resource: "document", Key: "d1"})
	wantCode(t, err, gatehouse.CodeConflict)
	ok("update instance", errOf(svc.UpdateInstance(ctx, env, "document:d1", facts.InstancePatch{Attributes: &map[string]any{"pages": 4.0}})))
	ok("tuples", errOf(svc.CreateTuples(ctx, env, []facts.TupleInput{
		{Subject: "folder:f1", Relation: "parent", Object: "folder:f2"},
		{Subject: "folder:f2", Relation: "parent", Object: "document:d1"},
		{Subject: "team:t1#member", Relation: "editor", Object: "folder:f1"},
	})))
	_, err = svc.CreateTuples(ctx, env, []facts.TupleInput{{Subject: "folder:f2", Relation: "parent", Object: "folder:f1"}})
	wantCode(t, err, gatehouse.CodeInvalidRequest) // a cycle
	ok("assign on instance", errOf(svc.Assign(ctx, env, facts.AssignInput{User: "ada", Role: "member", ResourceInstance: "team:t1"})))
	ok("assign on instance", errOf(svc.Assign(ctx, env, facts.AssignInput{User: "bob", Role: "editor", ResourceInstance: "document:d2"})))
	ok("assign on instance", errOf(svc.Assign(ctx, env, facts.AssignInput{User: "bob", Role: "viewer", ResourceInstance: "folder:f1"})))
	ok("assign in tenant", errOf(svc.Assign(ctx, env, facts.AssignInput{User: "ada", Role: "admin", Tenant: "acme"})))
	// Assigning roles on instances the users already hold makes nothing
	// and fails nothing (on PostgreSQL the transaction goes on).
	if n, err := svc.AssignMany(ctx, env, []facts.AssignInput{{User: "bob", Role: "editor", ResourceInstance: "document:d2"}, {User: "ada", Role: "member", ResourceInstance: "team:t1"}}); err != nil || n != 0 {
		t.Fatalf("assign many held roles on instances: %d, %v", n, err)
	}
	ok("move an instance with an assignment", errOf(svc.UpdateInstance(ctx, env, "document:d2", facts.InstancePatch{Tenant: ptr("acme")})))
	ok("user set", errOf(svc.CreateConditionSet(ctx, env, facts.ConditionSetInput{Key: "finance", Type: authz.UserSet, Conditions: json.RawMessage(`{"user.department":{"equals":"finance"}}`)})))
	ok("resource set", errOf(svc.CreateConditionSet(ctx, env, facts.ConditionSetInput{Key: "short", Type: authz.ResourceSet, Resource: "document", Conditions: json.RawMessage(`{"resource.pages":{"less-than":10}}`)})))
	ok("set rule", errOf(svc.CreateSetRule(ctx, env, facts.SetRuleInput{UserSet: "finance", Action: "read", ResourceSet: "short"})))
	ok("set rule", errOf(svc.CreateSetRule(ctx, env, facts.SetRuleInput{UserSet: "finance", Action: "write", ResourceSet: "short"})))
	ok("update set", errOf(svc.UpdateConditionSet(ctx, env, "short", facts.ConditionSetPatch{Conditions: json.RawMessage(`{"resource.pages":{"less-than":5}}`)})))

	// The store's lists and filters, the same on both engines.
	count := func(what string, n int, want int) {
		t.Helper()
		if n != want {
			t.Fatalf("%s: %d, want %d", what, n, want)
		}
	}
	pg := gatehouse.PageRequest{Page: 1, PerPage: 10}
	insts, err := st.ListInstances(ctx, facts.FineFilter{EnvID: env, Resource: "folder"}, pg)
	must(t, err)
	count("folders", insts.Total, 2)
	insts, err = st.ListInstances(ctx, facts.FineFilter{EnvID: env, Tenant: "beta"}, pg)
	must(t, err)
	count("instances in beta", insts.Total, 0)
	tuples, err := st.ListTuples(ctx, facts.TupleFilter{EnvID: env, Subject: "team:t1#member"}, pg)
	must(t, err)
	count("subject-set tuples", tuples.Total, 1)
	tuples, err = st.ListTuples(ctx, facts.TupleFilter{EnvID: env, Relation: "parent"}, gatehouse.PageRequest{Page: 1, PerPage: 10, Sort: "relation", Desc: true})
	must(t, err)
	count("parent tuples", tuples.Total, 2)
	as, err := st.ListAssignments(ctx, facts.AssignmentFilter{EnvID: env, Kind: facts.AllAssignments}, gatehouse.PageRequest{Page: 1, PerPage: 10, Sort: "user"})
	must(t, err)
	count("all assignments", as.Total, 4)
	as, err = st.ListAssignments(ctx, facts.AssignmentFilter{EnvID: env}, pg)
	must(t, err)
	count("tenant assignments (the default)", as.Total, 1)
	as, err = st.ListAssignments(ctx, facts.AssignmentFilter{EnvID: env, ResourceInstance: "document:d2"}, pg)
	must(t, err)
	if as.Total != 1 || as.Items[0].Tenant != "acme" || as.Items[0].User != "bob" {
		t.Fatalf("assignment on document:d2: %+v", as.Items)
	}
	rules, err := st.ListSetRules(ctx, facts.SetRuleFilter{EnvID: env, Action: "write"}, pg)
	must(t, err)
	count("write rules", rules.Total, 1)
	sets, err := st.ListConditionSets(ctx, facts.FineFilter{EnvID: env, Type: authz.ResourceSet}, pg)
	must(t, err)
	if sets.Total != 1 || sets.Items[0].Resource != "document" || string(sets.Items[0].Conditions) != `{"resource.pages":{"less-than":5}}` {
		t.Fatalf("resource sets: %+v", sets.Items)
	}

	// Implicit instances (Permit's): created with the tuples or the
	// assignment that name them, in the same transaction, or not at all.
	_, err = svc.CreateTuples(ctx, env, []facts.TupleInput{
		{Subject: "folder:n1", Relation: "parent", Object: "document:n2", Tenant: "acme"},
		{Subject: "folder:n3", Relation: "parent", Object: "folder:n4", Tenant: "acme"},
		{Subject: "folder:n4", Relation: "parent", Object: "folder:n3", Tenant: "acme"}})
	wantCode(t, err, gatehouse.CodeInvalidRequest) // a cycle through new instances
	_, err = svc.Assign(ctx, env, facts.AssignInput{User: "ada", Role: "owner", ResourceInstance: "folder:n5", Tenant: "acme", CreateInstance: true})
	wantCode(t, err, gatehouse.CodeNotFound) // folder has no role owner
	insts, err = st.ListInstances(ctx, facts.FineFilter{EnvID: env, Resource: "folder"}, pg)
	must(t, err)
	count("folders after failed implicit writes", insts.Total, 2)
	ok("tuples with implicit instances", errOf(svc.CreateTuples(ctx, env, []facts.TupleInput{
		{Subject: "folder:n1", Relation: "parent", Object: "document:n2", Tenant: "acme"},
		{Subject: "folder:f1", Relation: "parent", Object: "folder:n1", Tenant: "acme"}})))
	ok("assign on an implicit instance", errOf(svc.Assign(ctx, env, facts.AssignInput{User: "ada", Role: "viewer", ResourceInstance: "folder:n5", Tenant: "acme", CreateInstance: true})))
	if i, err := svc.Instance(ctx, env, "folder:n5"); err != nil || i.Tenant != "acme" {
		t.Fatalf("the implicit instance: %+v %v", i, err)
	}
	ok("unassign", svc.Unassign(ctx, env, facts.AssignInput{User: "ada", Role: "viewer", ResourceInstance: "folder:n5"}))

	// Deletes and cascades.
	_, err = svc.UpdateResource(ctx, env, "document", facts.ResourcePatch{Actions: &[]string{"read"}})
	wantCode(t, err, gatehouse.CodeConflict)
	ok("remove an action (cascade)", errOf(svc.UpdateResource(ctx, env, "document", facts.ResourcePatch{Actions: &[]string{"read"}, Cascade: true})))
	rules, err = st.ListSetRules(ctx, facts.SetRuleFilter{EnvID: env}, pg)
	must(t, err)
	if rules.Total != 1 || rules.Items[0].Action != "read" {
		t.Fatalf("set rules after the write action went: %+v", rules.Items)
	}
	ok("delete set rule", svc.DeleteSetRule(ctx, env, rules.Items[0].ID, facts.SetRuleInput{}))
	wantCode(t, svc.DeleteSetRule(ctx, env, "", facts.SetRuleInput{UserSet: "finance", Action: "read", ResourceSet: "short"}), gatehouse.CodeNotFound)
	ok("set rule", errOf(svc.CreateSetRule(ctx, env, facts.SetRuleInput{UserSet: "finance", Action: "read", ResourceSet: "short"})))
	wantCode(t, svc.DeleteConditionSet(ctx, env, "finance", false), gatehouse.CodeConflict)
	ok("delete tuples", svc.DeleteTuples(ctx, env, []facts.TupleInput{{Subject: "folder:f1", Relation: "parent", Object: "folder:f2"}}))
	ok("unassign on instance", svc.Unassign(ctx, env, facts.AssignInput{User: "bob", Role: "viewer", ResourceInstance: "folder:f1"}))
	wantCode(t, svc.DeleteResourceRole(ctx, env, "team", "member", false), gatehouse.CodeConflict)
	ok("delete role (cascade)", svc.DeleteResourceRole(ctx, env, "team", "member", true))
	wantCode(t, svc.DeleteRelation(ctx, env, "folder", "parent", false), gatehouse.CodeConflict)
	ok("delete relation (cascade)", svc.DeleteRelation(ctx, env, "folder", "parent", true))
	ok("delete instance", svc.DeleteInstance(ctx, env, "folder:f2"))
	ok("instance in beta", errOf(svc.CreateInstance(ctx, env, facts.InstanceInput{Resource: "folder", Key: "f9", Tenant: "beta"})))
	ok("tuple from it", errOf(svc.CreateTuples(ctx, env, []facts.TupleInput{{Subject: "folder:f9", Relation: "parent", Object: "document:d1"}})))
	ok("delete tenant", svc.DeleteTenant(ctx, env, "beta"))
	wantCode(t, svc.DeleteRole(ctx, env, "admin", false), gatehouse.CodeConflict)
	ok("delete tenant role (cascade)", svc.DeleteRole(ctx, env, "admin", true))
	if as, err = st.ListAssignments(ctx, facts.AssignmentFilter{EnvID: env, User: "bob", Kind: facts.AllAssignments}, pg); err != nil || as.Total != 1 {
		t.Fatalf("bob's assignments before his delete: %+v %v", as.Items, err)
	}
	ok("delete user", svc.DeleteUser(ctx, env, "bob"))
	ok("delete set (cascade)", svc.DeleteConditionSet(ctx, env, "finance", true))
	wantCode(t, svc.DeleteResource(ctx, env, "folder", false), gatehouse.CodeConflict)
	ok("delete resource (cascade)", svc.DeleteResource(ctx, env, "folder", true))
	ok("delete resource (cascade)", svc.DeleteResource(ctx, env, "document", true))
	data, _, err := st.LoadEnvironment(ctx, env)
	must(t, err)
	if len(data.Instances) != 1 || len(data.Tuples) != 0 || len(data.ConditionSets) != 0 || len(data.Relations) != 0 || len(data.ResourceRoles) != 0 {
		t.Fatalf("left after the deletes: %s", fmt.Sprint(data.Instances, data.Tuples, data.ConditionSets, data.Relations, data.ResourceRoles))
	}
	must(t, st.InFactsTx(ctx, env, func(tx facts.Store) error { return tx.ClearEnvironment(ctx, env) }))
	if data, _, err = st.LoadEnvironment(ctx, env); err != nil || len(data.Instances) != 0 {
		t.Fatalf("after a clear: %v %v", data.Instances, err)
	}
}

func ptr[T any](v T) *T { return &v }

// testFineTwoNodes: a node whose engine missed another node's tuple (no
// notification) still refuses the tuple that would close a cycle with it,
// because a tuple write catches its engine up under the write lock.
func testFineTwoNodes(t *testing.T, st *store.Store) {
	ctx := context.Background()
	a, env := factsEnv(t, st)
	b := facts.NewService(st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	must(t, a.EnsureDefaultTenant(ctx, env))
	must(t, errOf(a.CreateResource(ctx, env, facts.ResourceInput{Key: "folder", Actions: []string{"read"}})))
	must(t, errOf(a.CreateRelation(ctx, env, "folder", facts.RelationInput{Key: "parent", Subject: "folder"})))
	for _, k := range []string{"f1", "f2", "f3"} {
		must(t, errOf(a.CreateInstance(ctx, env, facts.InstanceInput{Resource: "folder", Key: k})))
	}
	if _, err := b.Engines.Get(ctx, env); err != nil { // node b loads now, then hears nothing
		t.Fatal(err)
	}
	must(t, errOf(a.CreateTuples(ctx, env, []facts.TupleInput{{Subject: "folder:f1", Relation: "parent", Object: "folder:f2"}})))
	must(t, errOf(a.CreateTuples(ctx, env, []facts.TupleInput{{Subject: "folder:f2", Relation: "parent", Object: "folder:f3"}})))
	_, err := b.CreateTuples(ctx, env, []facts.TupleInput{{Subject: "folder:f3", Relation: "parent", Object: "folder:f1"}})
	wantCode(t, err, gatehouse.CodeInvalidRequest)
	if err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("the refusal does not name the cycle: %v", err)
	}
	// A chain longer than authz.MaxDepth is refused as well.
	for i := 0; i <= authz.MaxDepth; i++ {
		must(t, errOf(a.CreateInstance(ctx, env, facts.InstanceInput{Resource: "folder", Key: fmt.Sprintf("c%d", i)})))
	}
	var chain []facts.TupleInput
	for i := 0; i < authz.MaxDepth; i++ {
		chain = append(chain, facts.TupleInput{Subject: fmt.Sprintf("folder:c%d", i), Relation: "parent", Object: fmt.Sprintf("folder:c%d", i+1)})
	}
	_, err = b.CreateTuples(ctx, env, chain)
	must(t, err)
	_, err = b.CreateTuples(ctx, env, []facts.TupleInput{{Subject: "folder:f3", Relation: "parent", Object: "folder:c0"}})
	wantCode(t, err, gatehouse.CodeInvalidRequest)
}

// testFineLoadMany loads an environment whose tables take the loader
// several batches (it reads rows in batches of 1,024 beside the goroutine
// that resolves them): the engine holds every row, tuples and assignments
// naming the right instances; another environment's rows are not read;
// a tuple naming an instance of another environment fails the load, saying
// which, instead of hanging the reader.
func testFineLoadMany(t *testing.T, st *store.Store) {
	ctx := context.Background()
	svc, env := factsEnv(t, st)
	must(t, svc.EnsureDefaultTenant(ctx, env))
	for _, r := range []facts.ResourceInput{{Key: "folder", Actions: []string{"read"}}, {Key: "document", Actions: []string{"read"}}} {
		must(t, errOf(svc.CreateResource(ctx, env, r)))
	}
	must(t, errOf(svc.CreateRelation(ctx, env, "document", facts.RelationInput{Key: "parent", Subject: "folder"})))
	must(t, errOf(svc.CreateResourceRole(ctx, env, "folder", facts.ResourceRoleInput{Key: "viewer", Permissions: []string{"read"}})))
	must(t, errOf(svc.CreateResourceRole(ctx, env, "document", facts.ResourceRoleInput{Key: "viewer", Permissions: []string{"read"},
		GrantedTo: []authz.Derivation{{Role: "viewer", OnResource: "folder", LinkedByRelation: "parent"}}})))
	const folders, docs, users = 50, 3000, 1500
	var rows []facts.Row
	for i := 0; i < users; i++ {
		rows = append(rows, facts.Row{Type: facts.KindUser, Key: fmt.Sprintf("u%d", i)})
	}
	for i := 0; i < folders; i++ {
		rows = append(rows, facts.Row{Type: facts.KindInstance, Resource: "folder", Key: fmt.Sprintf("f%d", i)})
	}
	for i := 0; i < docs; i++ {
		attrs := json.RawMessage(nil)
		if i%2 == 0 {
			attrs = json.RawMessage(fmt.Sprintf(`{"n": %d}`, i))
		}
		rows = append(rows, facts.Row{Type: facts.KindInstance, Resource: "document", Key: fmt.Sprintf("d%d", i), Attributes: attrs},
			facts.Row{Type: facts.KindTuple, Subject: fmt.Sprintf("folder:f%d", i%folders), Relation: "parent", Object: fmt.Sprintf("document:d%d", i)})
	}
	for i := 0; i < users; i++ {
		rows = append(rows, facts.Row{Type: facts.KindRoleAssignment, User: fmt.Sprintf("u%d", i), Role: "viewer", ResourceInstance: fmt.Sprintf("folder:f%d", i%folders)})
	}
	must(t, st.InFactsTx(ctx, env, func(tx facts.Store) error {
		_, changes, rowErrs, err := svc.ApplyRowsTx(ctx, tx, env, rows, facts.ApplyOptions{})
		if err != nil {
			return err
		}
		if len(rowErrs) > 0 {
			return fmt.Errorf("row errors: %+v", rowErrs[:1])
		}
		return svc.AppendTx(ctx, tx, env, changes)
	}))
	// another environment with rows of its own
	other := newEnv(t, st, newProject(t, st, newOrg(t, st, "other"), "web", now), "dev", false).ID
	must(t, svc.EnsureDefaultTenant(ctx, other))
	must(t, errOf(svc.CreateResource(ctx, other, facts.ResourceInput{Key: "folder", Actions: []string{"read"}})))
	must(t, errOf(svc.CreateInstance(ctx, other, facts.InstanceInput{Resource: "folder", Key: "elsewhere"})))

	data, _, err := st.LoadEnvironment(ctx, env)
	must(t, err)
	if len(data.Users) != users || len(data.Instances) != folders+docs || len(data.Tuples) != docs || len(data.Assignments) != users {
		t.Fatalf("loaded %d users, %d instances, %d tuples, %d assignments", len(data.Users), len(data.Instances), len(data.Tuples), len(data.Assignments))
	}
	e := authz.New()
	must(t, e.Load(data))
	for _, c := range []struct {
		user, doc string
		want      bool
	}{{"u0", "d0", true}, {"u0", "d50", true}, {"u0", "d1", false}, {"u1499", "d2999", true}, {"u1499", "d2998", false}} {
		if got := e.Decide(&authz.Request{User: c.user, Action: "read", Resource: "document", Key: c.doc}).Allow; got != c.want {
			t.Fatalf("%s read document:%s = %v, want %v", c.user, c.doc, got, c.want)
		}
	}
	for _, in := range data.Instances {
		switch {
		case in.Resource != "document":
		case in.Key == "d10" && (len(in.Attributes) != 1 || in.Attributes["n"] != 10.0):
			t.Fatalf("document:d10 attributes %v", in.Attributes)
		case in.Key == "d11" && len(in.Attributes) != 0:
			t.Fatalf("document:d11 attributes %v", in.Attributes)
		}
	}

	// A tuple naming another environment's instance (the service never
	// writes one) fails the load.
	elsewhere, err := st.GetInstance(ctx, other, "folder:elsewhere")
	must(t, err)
	d0, err := st.GetInstance(ctx, env, "document:d0")
	must(t, err)
	must(t, st.InFactsTx(ctx, env, func(tx facts.Store) error {
		_, err := tx.InsertTuples(ctx, []facts.Tuple{{ID: tenancy.NewID(), EnvID: env, SubjectID: elsewhere.ID, Relation: "parent", ObjectID: d0.ID, CreatedAt: now}})
		return err
	}))
	if _, _, err := st.LoadEnvironment(ctx, env); err == nil || !strings.Contains(err.Error(), elsewhere.ID) {
		t.Fatalf("load with a tuple naming another environment's instance: %v", err)
	}
}
