package authz_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// driveData is a Google-Drive-like model: folders nest, documents sit in
// folders, teams hold members, and roles flow down the tree.
func driveData() authz.Data {
	return authz.Data{
		Users:   []authz.User{{Key: "ada"}, {Key: "bob"}, {Key: "cy"}, {Key: "dee", Attributes: map[string]any{"department": "finance", "limit": 1000}}},
		Tenants: []authz.Tenant{{Key: "default"}, {Key: "acme"}, {Key: "globex"}},
		Resources: []authz.Resource{
			{Key: "team", Actions: []string{"read"}},
			{Key: "folder", Actions: []string{"read", "write"}},
			{Key: "document", Actions: []string{"read", "write", "delete"}},
			{Key: "invoice", Actions: []string{"read", "approve"}},
		},
		Roles: []authz.Role{{Key: "admin", Permissions: []string{"team:read"}}, {Key: "member"}},
		Relations: []authz.Relation{
			{Resource: "folder", Key: "parent", Subject: "folder"},
			{Resource: "document", Key: "parent", Subject: "folder"},
		},
		ResourceRoles: []authz.ResourceRole{
			{Resource: "team", Key: "member", Permissions: []string{"read"}},
			{Resource: "folder", Key: "viewer", Permissions: []string{"read"},
				GrantedTo: []authz.Derivation{{Role: "viewer", OnResource: "folder", LinkedByRelation: "parent"}}},
			{Resource: "folder", Key: "editor", Permissions: []string{"write"}, Extends: []string{"viewer"},
				GrantedTo: []authz.Derivation{{Role: "editor", OnResource: "folder", LinkedByRelation: "parent"}, {Role: "admin", OnResource: authz.TenantResource}}},
			{Resource: "document", Key: "viewer", Permissions: []string{"read"},
				GrantedTo: []authz.Derivation{{Role: "viewer", OnResource: "folder", LinkedByRelation: "parent"}}},
			{Resource: "document", Key: "editor", Permissions: []string{"write"}, Extends: []string{"viewer"},
				GrantedTo: []authz.Derivation{{Role: "editor", OnResource: "folder", LinkedByRelation: "parent"}}},
			{Resource: "document", Key: "owner", Permissions: []string{"delete"}, Extends: []string{"editor"}},
		},
		Instances: []authz.Instance{
			{Resource: "team", Key: "eng", Tenant: "acme"},
			{Resource: "folder", Key: "root", Tenant: "acme"},
			{Resource: "folder", Key: "specs", Tenant: "acme"},
			{Resource: "folder", Key: "drafts", Tenant: "acme"},
			{Resource: "document", Key: "d1", Tenant: "acme"},
			{Resource: "document", Key: "d2", Tenant: "acme"},
			{Resource: "document", Key: "g1", Tenant: "globex"},
			{Resource: "invoice", Key: "small", Tenant: "acme", Attributes: map[string]any{"amount": 250}},
			{Resource: "invoice", Key: "big", Tenant: "acme", Attributes: map[string]any{"amount": 25000}},
		},
		Tuples: []authz.Tuple{
			{Subject: "folder:root", Relation: "parent", Object: "folder:specs"},
			{Subject: "folder:specs", Relation: "parent", Object: "folder:drafts"},
			{Subject: "folder:drafts", Relation: "parent", Object: "document:d1"},
			{Subject: "folder:root", Relation: "parent", Object: "document:d2"},
			{Subject: "team:eng#member", Relation: "viewer", Object: "folder:specs"},
		},
		Assignments: []authz.Assignment{
			{User: "ada", Role: "editor", ResourceInstance: "folder:root"},
			{User: "bob", Role: "member", ResourceInstance: "team:eng"},
			{User: "cy", Role: "admin", Tenant: "acme"},
			{User: "dee", Role: "owner", ResourceInstance: "document:g1"},
		},
		ConditionSets: []authz.ConditionSet{
			{Key: "finance", Type: authz.UserSet, Conditions: json.RawMessage(`{"allOf":[{"user.department":{"equals":"finance"}}]}`)},
			{Key: "within-limit", Type: authz.ResourceSet, Resource: "invoice", Conditions: json.RawMessage(`{"allOf":[{"resource.amount":{"less-than-equals":{"ref":"user.limit"}}}]}`)},
		},
		SetRules: []authz.SetRule{{UserSet: "finance", Action: "approve", ResourceSet: "within-limit"}},
	}
}

func driveEngine(t *testing.T) *authz.Engine {
	t.Helper()
	e := authz.New()
	if err := e.Load(driveData()); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestDecideFineGrained(t *testing.T) {
	e := driveEngine(t)
	tests := []struct {
		name                        string
		user, action, resource, key string
		tenant                      string
		userAttrs                   map[string]any
		allow                       bool
		via                         authz.Via
		role                        string
		reason                      authz.Reason
	}{
		{"assigned on the instance", "ada", "write", "folder", "root", "", nil, true, authz.ViaInstanceRole, "editor", authz.Granted},
		{"derived two folders down", "ada", "write", "folder", "drafts", "", nil, true, authz.ViaInstanceRole, "editor", authz.Granted},
		{"derived to a document three deep", "ada", "write", "document", "d1", "", nil, true, authz.ViaInstanceRole, "editor", authz.Granted},
		{"extends: editor reads", "ada", "read", "document", "d1", "", nil, true, authz.ViaInstanceRole, "viewer", authz.Granted},
		{"owner only by assignment", "ada", "delete", "document", "d1", "", nil, false, 0, "", authz.NotGranted},
		{"team members see below the team's folder", "bob", "read", "document", "d1", "", nil, true, authz.ViaInstanceRole, "viewer", authz.Granted},
		{"team members do not see above it", "bob", "read", "document", "d2", "", nil, false, 0, "", authz.NotGranted},
		{"team members do not write", "bob", "write", "document", "d1", "", nil, false, 0, "", authz.NotGranted},
		{"tenant admin is editor of every folder", "cy", "write", "folder", "specs", "", nil, true, authz.ViaInstanceRole, "editor", authz.Granted},
		{"and so of the documents in them", "cy", "write", "document", "d1", "", nil, true, authz.ViaInstanceRole, "editor", authz.Granted},
		{"tenant role by RBAC", "cy", "read", "team", "eng", "", nil, true, authz.ViaTenantRole, "admin", authz.Granted},
		{"not in another tenant", "cy", "write", "document", "g1", "", nil, false, 0, "", authz.NoRoleInTenant},
		{"instance in another tenant than named", "ada", "write", "folder", "root", "globex", nil, false, 0, "", authz.WrongTenant},
		{"unknown instance falls back to RBAC", "ada", "write", "document", "nope", "acme", nil, false, 0, "", authz.NoRoleInTenant},
		{"ABAC within the limit", "dee", "approve", "invoice", "small", "", nil, true, authz.ViaSetRule, "finance", authz.Granted},
		{"ABAC over the limit", "dee", "approve", "invoice", "big", "", nil, false, 0, "", authz.NotGranted},
		{"ABAC inline attributes win", "dee", "approve", "invoice", "big", "", map[string]any{"limit": 30000}, true, authz.ViaSetRule, "finance", authz.Granted},
		{"ABAC inline attributes deny", "dee", "approve", "invoice", "small", "", map[string]any{"department": "sales"}, false, 0, "", authz.NotGranted},
		{"ABAC for a user the engine does not hold", "zed", "approve", "invoice", "small", "", map[string]any{"department": "finance", "limit": 300}, true, authz.ViaSetRule, "finance", authz.Granted},
		{"unknown user without attributes", "zed", "read", "document", "d1", "", nil, false, 0, "", authz.UnknownUser},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &authz.Request{User: tt.user, UserAttributes: tt.userAttrs, Action: tt.action, Resource: tt.resource, Key: tt.key, Tenant: tt.tenant}
			d := e.Decide(r)
			if d.Allow != tt.allow || d.Via != tt.via || d.Role != tt.role || d.Reason != tt.reason {
				t.Fatalf("Decide = %+v, want allow %v via %v role %q reason %v", d, tt.allow, tt.via, tt.role, tt.reason)
			}
			d2, path := e.Explain(r)
			if d2 != d {
				t.Fatalf("Explain decided %+v, Decide %+v", d2, d)
			}
			if d.Allow && len(path) == 0 {
				t.Fatalf("allowed without a path")
			}
			if !d.Allow && path != nil {
				t.Fatalf("denied with a path %v", path)
			}
		})
	}
}

func TestExplainPath(t *testing.T) {
	e := driveEngine(t)
	_, path := e.Explain(&authz.Request{User: "bob", Action: "read", Resource: "document", Key: "d1"})
	want := []authz.Step{
		{Kind: authz.StepInstanceRole, Subject: "user:bob", Relation: "member", Object: "team:eng"},
		{Kind: authz.StepTuple, Subject: "team:eng#member", Relation: "viewer", Object: "folder:specs"},
		{Kind: authz.StepDerived, Subject: "user:bob", Relation: "viewer", Object: "folder:specs", Rule: "team:eng#member ⇒ folder:specs#viewer"},
		{Kind: authz.StepTuple, Subject: "folder:specs", Relation: "parent", Object: "folder:drafts"},
		{Kind: authz.StepDerived, Subject: "user:bob", Relation: "viewer", Object: "folder:drafts", Rule: "folder#viewer ⇒ folder#viewer by parent"},
		{Kind: authz.StepTuple, Subject: "folder:drafts", Relation: "parent", Object: "document:d1"},
		{Kind: authz.StepDerived, Subject: "user:bob", Relation: "viewer", Object: "document:d1", Rule: "folder#viewer ⇒ document#viewer by parent"},
	}
	if !reflect.DeepEqual(path, want) {
		t.Fatalf("path:\n%+v\nwant\n%+v", path, want)
	}
	_, path = e.Explain(&authz.Request{User: "cy", Action: "write", Resource: "folder", Key: "root"})
	if len(path) != 2 || path[0].Kind != authz.StepTenantRole || path[0].Relation != "admin" || path[1].Kind != authz.StepDerived {
		t.Fatalf("tenant derivation path: %+v", path)
	}
	_, path = e.Explain(&authz.Request{User: "dee", Action: "approve", Resource: "invoice", Key: "small"})
	if len(path) != 1 || path[0].Kind != authz.StepSetRule || path[0].Rule != "finance × approve × within-limit" {
		t.Fatalf("set rule path: %+v", path)
	}
}

func TestListResourcesAndUsers(t *testing.T) {
	e := driveEngine(t)
	lists := []struct {
		user, action, resource, tenant string
		want                           []string
	}{
		{"ada", "write", "document", "", []string{"d1", "d2"}},
		{"ada", "write", "folder", "acme", []string{"drafts", "root", "specs"}},
		{"bob", "read", "document", "", []string{"d1"}},
		{"bob", "read", "folder", "", []string{"drafts", "specs"}},
		{"cy", "write", "document", "", []string{"d1", "d2"}},
		{"cy", "write", "document", "globex", []string{}},
		{"dee", "approve", "invoice", "", []string{"small"}},
		{"dee", "delete", "document", "", []string{"g1"}},
	}
	for _, l := range lists {
		got := e.ListResources(&authz.Request{User: l.user, Action: l.action, Resource: l.resource, Tenant: l.tenant})
		if !reflect.DeepEqual(got, l.want) {
			t.Errorf("ListResources(%s %s %s %q) = %v, want %v", l.user, l.action, l.resource, l.tenant, got, l.want)
		}
	}
	users := []struct {
		action, resource, key string
		want                  []string
	}{
		{"read", "document", "d1", []string{"ada", "bob", "cy"}},
		{"write", "document", "d1", []string{"ada", "cy"}},
		{"read", "document", "d2", []string{"ada", "cy"}},
		{"delete", "document", "g1", []string{"dee"}},
		{"approve", "invoice", "small", []string{"dee"}},
		{"approve", "invoice", "big", []string{}},
	}
	for _, u := range users {
		got := e.ListUsers(&authz.Request{Action: u.action, Resource: u.resource, Key: u.key})
		if !reflect.DeepEqual(got, u.want) {
			t.Errorf("ListUsers(%s %s:%s) = %v, want %v", u.action, u.resource, u.key, got, u.want)
		}
	}
}

func TestTupleWritesRefused(t *testing.T) {
	e := driveEngine(t)
	for _, tc := range []struct {
		tuple authz.Tuple
		err   error
	}{
		{authz.Tuple{Subject: "folder:drafts", Relation: "parent", Object: "folder:root"}, authz.ErrInvalid}, // cycle
		{authz.Tuple{Subject: "folder:root", Relation: "parent", Object: "folder:root"}, authz.ErrInvalid},   // self
		{authz.Tuple{Subject: "team:eng", Relation: "parent", Object: "document:d1"}, authz.ErrInvalid},      // wrong subject type
		{authz.Tuple{Subject: "folder:nope", Relation: "parent", Object: "document:d1"}, authz.ErrNotFound},
		{authz.Tuple{Subject: "folder:root", Relation: "owner", Object: "document:d1"}, authz.ErrNotFound},
		{authz.Tuple{Subject: "team:eng#boss", Relation: "viewer", Object: "folder:root"}, authz.ErrNotFound},
		{authz.Tuple{Subject: "folder:root", Relation: "parent", Object: "document"}, authz.ErrInvalid},
	} {
		if err := e.ValidateTuple(tc.tuple); !errors.Is(err, tc.err) {
			t.Errorf("ValidateTuple(%+v) = %v, want %v", tc.tuple, err, tc.err)
		}
		if err := e.PutTuple(tc.tuple); !errors.Is(err, tc.err) {
			t.Errorf("PutTuple(%+v) = %v, want %v", tc.tuple, err, tc.err)
		}
	}
	// a chain longer than MaxDepth
	long := authz.New()
	d := authz.Data{Tenants: []authz.Tenant{{Key: "default"}}, Resources: []authz.Resource{{Key: "folder", Actions: []string{"read"}}},
		Relations: []authz.Relation{{Resource: "folder", Key: "parent", Subject: "folder"}}}
	for i := 0; i <= authz.MaxDepth+1; i++ {
		d.Instances = append(d.Instances, authz.Instance{Resource: "folder", Key: string(rune('a'+i%26)) + string(rune('0'+i/26))})
	}
	if err := long.Load(d); err != nil {
		t.Fatal(err)
	}
	var err error
	for i := 0; i < authz.MaxDepth+1 && err == nil; i++ {
		err = long.PutTuple(authz.Tuple{Subject: "folder:" + d.Instances[i].Key, Relation: "parent", Object: "folder:" + d.Instances[i+1].Key})
		if i < authz.MaxDepth && err != nil {
			t.Fatalf("tuple %d refused: %v", i, err)
		}
	}
	if !errors.Is(err, authz.ErrInvalid) {
		t.Fatalf("tuple %d made a chain longer than %d: %v", authz.MaxDepth+1, authz.MaxDepth, err)
	}
	// a cycle in loaded data is refused too
	bad := driveData()
	bad.Tuples = append(bad.Tuples, authz.Tuple{Subject: "folder:drafts", Relation: "parent", Object: "folder:root"})
	if err := authz.New().Load(bad); !errors.Is(err, authz.ErrInvalid) {
		t.Fatalf("Load with a cycle = %v", err)
	}
}

func TestFineCascades(t *testing.T) {
	e := driveEngine(t)
	e.DeleteInstance("folder", "specs")
	if e.Decide(&authz.Request{User: "ada", Action: "write", Resource: "document", Key: "d1"}).Allow {
		t.Fatal("d1 still reached through a deleted folder")
	}
	e.DeleteResourceRole("team", "member")
	if got := e.Data().Tuples; len(got) != 2 {
		t.Fatalf("tuples after deletes: %+v", got)
	}
	e.DeleteRole("admin")
	for _, r := range e.Data().ResourceRoles {
		for _, g := range r.GrantedTo {
			if g.OnResource == authz.TenantResource {
				t.Fatalf("derivation from a deleted tenant role kept: %+v", r)
			}
		}
	}
	e.DeleteResource("folder")
	d := e.Data()
	for _, in := range d.Instances {
		if in.Resource == "folder" {
			t.Fatalf("instance of a deleted type kept: %+v", in)
		}
	}
	if len(d.Tuples) != 0 || len(d.Relations) != 0 {
		t.Fatalf("tuples %v relations %v after deleting folder", d.Tuples, d.Relations)
	}
	e.DeleteConditionSet("finance")
	if len(e.Data().SetRules) != 0 {
		t.Fatal("set rule kept after its user set was deleted")
	}
	s := e.Stats()
	if s.Instances != len(e.Data().Instances) || s.Tuples != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestFineDataRoundTrip(t *testing.T) {
	e := driveEngine(t)
	d := e.Data()
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var back authz.Data
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	e2 := authz.New()
	if err := e2.Load(back); err != nil {
		t.Fatal(err)
	}
	b2, err := json.Marshal(e2.Data())
	if err != nil {
		t.Fatal(err)
	}
	if string(b2) != string(b) {
		t.Fatalf("data changed through JSON and Load:\n%s\n%s", b, b2)
	}
}

func TestFineChecksDoNotAllocate(t *testing.T) {
	e := driveEngine(t)
	for _, r := range []*authz.Request{
		{User: "bob", Action: "read", Resource: "document", Key: "d1"},
		{User: "ada", Action: "write", Resource: "document", Key: "d1"},
		{User: "cy", Action: "write", Resource: "document", Key: "d1"},
		{User: "dee", Action: "approve", Resource: "invoice", Key: "small"},
		{User: "bob", Action: "read", Resource: "document", Key: "d2"},
	} {
		if n := testing.AllocsPerRun(200, func() { e.Decide(r) }); n != 0 {
			t.Errorf("Decide(%+v) allocates %.0f times", r, n)
		}
	}
}

func TestInstancePermissions(t *testing.T) {
	e := driveEngine(t)
	got := e.InstancePermissions("bob", nil, []string{"document"})
	want := []authz.InstancePermissions{{Resource: "document:d1", Tenant: "acme", Roles: []string{"viewer"}, Permissions: []string{"document:read"}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("bob's documents: %+v", got)
	}
	got = e.InstancePermissions("ada", []string{"acme"}, []string{"folder"})
	if len(got) != 3 || got[0].Resource != "folder:drafts" || !reflect.DeepEqual(got[0].Permissions, []string{"folder:read", "folder:write"}) || !reflect.DeepEqual(got[0].Roles, []string{"editor", "viewer"}) {
		t.Fatalf("ada's folders: %+v", got)
	}
	if got := e.InstancePermissions("nobody", nil, nil); got != nil {
		t.Fatalf("unknown user: %+v", got)
	}
}

func TestValidateTuplesTogether(t *testing.T) {
	e := driveEngine(t)
	before := e.Data()
	// each alone is fine; together they close a cycle
	batch := []authz.Tuple{
		{Subject: "folder:root", Relation: "parent", Object: "document:d2"}, // already there: skipped
		{Subject: "folder:drafts", Relation: "parent", Object: "folder:other"},
		{Subject: "folder:other", Relation: "parent", Object: "folder:root"},
	}
	if err := e.PutInstance(authz.Instance{Resource: "folder", Key: "other", Tenant: "acme"}); err != nil {
		t.Fatal(err)
	}
	for _, tu := range batch {
		if err := e.ValidateTuple(tu); err != nil {
			t.Fatalf("%+v alone: %v", tu, err)
		}
	}
	if i, err := e.ValidateTuples(batch); i != 2 || !errors.Is(err, authz.ErrInvalid) {
		t.Fatalf("batch: %d %v", i, err)
	}
	if i, err := e.ValidateTuples(batch[:2]); i != -1 || err != nil {
		t.Fatalf("first two: %d %v", i, err)
	}
	if i, err := e.ValidateTuples([]authz.Tuple{batch[1], {Subject: "folder:nope", Relation: "parent", Object: "folder:root"}}); i != 1 || !errors.Is(err, authz.ErrNotFound) {
		t.Fatalf("unknown instance second: %d %v", i, err)
	}
	after := e.Data()
	if len(after.Tuples) != len(before.Tuples) {
		t.Fatalf("validation changed the tuples: %d → %d", len(before.Tuples), len(after.Tuples))
	}
}

func TestValidateTuplesCreating(t *testing.T) {
	e := driveEngine(t)
	before := e.Data()
	// tuples naming instances the same write creates: fine alone and
	// together, unless they close a cycle or make an over-long chain
	ok := []authz.Tuple{
		{Subject: "folder:new1", Relation: "parent", Object: "document:new-doc"},
		{Subject: "folder:root", Relation: "parent", Object: "folder:new1"},
	}
	if i, err := e.ValidateTuplesCreating(ok, []string{"folder:new1", "document:new-doc"}); i != -1 || err != nil {
		t.Fatalf("new instances: %d %v", i, err)
	}
	if i, err := e.ValidateTuples(ok); i != 0 || !errors.Is(err, authz.ErrNotFound) {
		t.Fatalf("without creating them: %d %v", i, err)
	}
	cycle := []authz.Tuple{
		{Subject: "folder:a", Relation: "parent", Object: "folder:b"},
		{Subject: "folder:b", Relation: "parent", Object: "folder:a"},
	}
	if i, err := e.ValidateTuplesCreating(cycle, []string{"folder:a", "folder:b"}); i != 1 || !errors.Is(err, authz.ErrInvalid) || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("cycle through new instances: %d %v", i, err)
	}
	var chain []authz.Tuple
	var created []string
	for i := 0; i <= authz.MaxDepth; i++ {
		chain = append(chain, authz.Tuple{Subject: fmt.Sprintf("folder:c%d", i), Relation: "parent", Object: fmt.Sprintf("folder:c%d", i+1)})
		created = append(created, fmt.Sprintf("folder:c%d", i))
	}
	created = append(created, fmt.Sprintf("folder:c%d", authz.MaxDepth+1))
	if i, err := e.ValidateTuplesCreating(chain, created); i != authz.MaxDepth || !errors.Is(err, authz.ErrInvalid) {
		t.Fatalf("chain of %d new tuples: %d %v", len(chain), i, err)
	}
	if _, err := e.ValidateTuplesCreating(ok, []string{"nosuchtype:x"}); !errors.Is(err, authz.ErrNotFound) {
		t.Fatalf("unknown type: %v", err)
	}
	// an instance that already exists is not created again
	if i, err := e.ValidateTuplesCreating(ok[:1], []string{"folder:new1", "document:new-doc", "folder:root"}); i != -1 || err != nil {
		t.Fatalf("existing instance among the created: %d %v", i, err)
	}
	if after := e.Data(); len(after.Tuples) != len(before.Tuples) || len(after.Instances) != len(before.Instances) {
		t.Fatal("validation changed the engine")
	}
}
