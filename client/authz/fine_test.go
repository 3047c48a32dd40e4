package authz_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/client/authz/authztest"
)

var fineSeeds = []uint64{1, 2, 3, 4, 5, 6}

// reqString renders a request for a failure message (and a reproduction).
func reqString(r authz.Request) string {
	b, _ := json.Marshal(r)
	return string(b)
}

// disagreements collects up to a few failures per test and counts the rest.
type disagreements struct {
	t     *testing.T
	n     int
	limit int
}

func (d *disagreements) add(format string, args ...any) {
	d.t.Helper()
	d.n++
	if d.n <= d.limit {
		d.t.Errorf(format, args...)
	}
}

func (d *disagreements) done(what string) {
	d.t.Helper()
	if d.n > d.limit {
		d.t.Errorf("%s: %d disagreements in all", what, d.n)
	}
}

func loadEngine(t *testing.T, d authz.Data) *authz.Engine {
	t.Helper()
	e := authz.New()
	if err := e.Load(d); err != nil {
		t.Fatalf("Load: %v", err)
	}
	return e
}

// compareWithModel checks e against m on every request: the decision, the
// rule the decision names, the path Explain gives, and (for every lookup-th
// request) both lookups.
func compareWithModel(t *testing.T, e *authz.Engine, m *authztest.Model, reqs []authz.Request, lookup int) {
	t.Helper()
	dis := &disagreements{t: t, limit: 8}
	allowed := 0
	steps := map[string]int{}
	for i, r := range reqs {
		before := reqString(r)
		d := e.Decide(&r)
		want := m.Allowed(r)
		if reqString(r) != before {
			dis.add("Decide changed its request: %s became %s", before, reqString(r))
		}
		if d.Allow != want {
			dis.add("Decide(%s).Allow = %v (%+v), model says %v", before, d.Allow, d, want)
			continue
		}
		if !d.Allow {
			if xd, path := e.Explain(&r); xd.Allow || len(path) > 0 {
				dis.add("Explain(%s) = %+v, %d steps, for a denied check", before, xd, len(path))
			}
			continue
		}
		allowed++
		if !m.GrantedBy(r, d.Via, d.Role, d.Set) {
			dis.add("Decide(%s) = %+v: the model finds no such grant", before, d)
		}
		xd, path := e.Explain(&r)
		for _, s := range path {
			steps[s.Kind]++
		}
		if !xd.Allow {
			dis.add("Explain(%s) denies what Decide allows", before)
		} else if err := m.ValidPath(r, path); err != nil {
			p, _ := json.Marshal(path)
			dis.add("Explain(%s): path %s is no proof: %v", before, p, err)
		}
		_ = i
	}
	for i, r := range reqs {
		if lookup == 0 || i%lookup != 0 {
			continue
		}
		lr := r
		lr.Key, lr.ResourceAttributes = "", nil
		if got, want := e.ListResources(&lr), m.Resources(lr); !equalLists(got, want) {
			dis.add("ListResources(%s) = %v, model says %v", reqString(lr), got, want)
		}
		lu := r
		lu.User, lu.UserAttributes = "", nil
		if got, want := e.ListUsers(&lu), m.Users(lu); !equalLists(got, want) {
			dis.add("ListUsers(%s) = %v, model says %v", reqString(lu), got, want)
		}
	}
	dis.done("engine versus model")
	t.Logf("%d requests, %d allowed; steps of their paths: %v", len(reqs), allowed, steps)
}

func equalLists(a, b []string) bool { return len(a) == len(b) && (len(a) == 0 || slices.Equal(a, b)) }

func TestFineAgreesWithModel(t *testing.T) {
	for _, seed := range fineSeeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			ds := authztest.GenerateFine(seed, authztest.SmallFine)
			e := loadEngine(t, ds.Data)
			compareWithModel(t, e, authztest.NewModel(ds.Data), ds.Requests, 3)
			// The model of what the engine reports holding answers the same.
			compareWithModel(t, e, authztest.NewModel(e.Data()), ds.Requests[:300], 0)
		})
	}
}

// compareEngines checks that two engines answer every request alike.
func compareEngines(t *testing.T, a, b *authz.Engine, reqs []authz.Request) {
	t.Helper()
	dis := &disagreements{t: t, limit: 8}
	for _, r := range reqs {
		r1, r2 := r, r
		if x, y := a.Decide(&r1), b.Decide(&r2); x.Allow != y.Allow {
			dis.add("Decide(%s): replayed engine %+v, fresh engine %+v", reqString(r), x, y)
		}
		lr := r
		lr.Key, lr.ResourceAttributes = "", nil
		l1, l2 := lr, lr
		if x, y := a.ListResources(&l1), b.ListResources(&l2); !equalLists(x, y) {
			dis.add("ListResources(%s): replayed engine %v, fresh engine %v", reqString(lr), x, y)
		}
		lu := r
		lu.User, lu.UserAttributes = "", nil
		u1, u2 := lu, lu
		if x, y := a.ListUsers(&u1), b.ListUsers(&u2); !equalLists(x, y) {
			dis.add("ListUsers(%s): replayed engine %v, fresh engine %v", reqString(lu), x, y)
		}
	}
	dis.done("replayed versus fresh")
}

// TestFineReplayEqualsFreshLoad applies a random change sequence to an
// engine (skipping the changes it refuses), then loads what it holds into a
// fresh engine: both answer alike, hold the same data, and agree with the
// model of that data, at checkpoints along the way and at the end.
func TestFineReplayEqualsFreshLoad(t *testing.T) {
	for _, seed := range fineSeeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			ds := authztest.GenerateFine(seed, authztest.SmallFine)
			e := loadEngine(t, ds.Data)
			mirror := authztest.CloneData(ds.Data) // the accepted changes, applied by the model's own ApplyChange
			refused := map[string]int{}
			applied := map[string]int{}
			check := func(step int) {
				t.Helper()
				d := e.Data()
				fresh := loadEngine(t, d)
				if d2 := fresh.Data(); !reflect.DeepEqual(normalizeData(d), normalizeData(d2)) {
					a, _ := json.Marshal(d)
					b, _ := json.Marshal(d2)
					t.Fatalf("after %d changes: Data() of the fresh engine differs:\n%s\n%s", step, a, b)
				}
				reqs := ds.Requests
				if step < len(ds.Changes) {
					reqs = reqs[:200]
				}
				compareEngines(t, e, fresh, reqs)
				compareWithModel(t, e, authztest.NewModel(d), reqs, 4)
				// The cascades: the engine agrees with the model of the
				// data as the model's own replay leaves it.
				compareWithModel(t, e, authztest.NewModel(mirror), reqs, 4)
			}
			for i, c := range ds.Changes {
				if err := e.Apply(c); err != nil {
					refused[c.Op]++
					continue
				}
				applied[c.Op]++
				if err := authztest.ApplyChange(&mirror, c); err != nil {
					t.Fatal(err)
				}
				if (i+1)%100 == 0 && i+1 < len(ds.Changes) {
					check(i + 1)
				}
			}
			check(len(ds.Changes))
			t.Logf("applied %v; refused %v", applied, refused)
			total := 0
			for _, n := range refused {
				total += n
			}
			if total > len(ds.Changes)/2 {
				t.Errorf("%d of %d changes refused: the generator or the engine is off (%v)", total, len(ds.Changes), refused)
			}
		})
	}
}

// normalizeData maps nil and empty slices and maps alike, for comparing
// Data values.
func normalizeData(d authz.Data) string {
	b, _ := json.Marshal(d)
	var v any
	_ = json.Unmarshal(b, &v)
	var clean func(any) any
	clean = func(x any) any {
		switch y := x.(type) {
		case map[string]any:
			out := map[string]any{}
			for k, v := range y {
				v = clean(v)
				if v == nil {
					continue
				}
				out[k] = v
			}
			if len(out) == 0 {
				return nil
			}
			return out
		case []any:
			if len(y) == 0 {
				return nil
			}
			for i := range y {
				y[i] = clean(y[i])
			}
		}
		return x
	}
	b, _ = json.Marshal(clean(v))
	return string(b)
}

// --- Hand-written scenarios.

type fineCase struct {
	name  string
	req   authz.Request
	allow bool
	via   authz.Via
	role  string
}

func runCases(t *testing.T, e *authz.Engine, d authz.Data, cases []fineCase) {
	t.Helper()
	m := authztest.NewModel(d)
	for _, tc := range cases {
		r := tc.req
		got := e.Decide(&r)
		if got.Allow != tc.allow || (tc.allow && (got.Via != tc.via || (tc.role != "" && got.Role != tc.role))) {
			t.Errorf("%s: Decide(%s) = %+v, want allow=%v via %s role %q", tc.name, reqString(tc.req), got, tc.allow, tc.via, tc.role)
		}
		if m.Allowed(tc.req) != tc.allow {
			t.Errorf("%s: the model says %v, want %v", tc.name, !tc.allow, tc.allow)
		}
		if tc.allow {
			if _, path := e.Explain(&r); m.ValidPath(tc.req, path) != nil {
				t.Errorf("%s: Explain path %+v: %v", tc.name, path, m.ValidPath(tc.req, path))
			}
		}
	}
}

func gdriveData() authz.Data {
	byParent := func(role string) []authz.Derivation {
		return []authz.Derivation{{Role: role, OnResource: "folder", LinkedByRelation: "parent"}}
	}
	return authz.Data{
		Users:   []authz.User{{Key: "ada"}, {Key: "bob"}, {Key: "cy"}, {Key: "dan"}},
		Tenants: []authz.Tenant{{Key: authz.DefaultTenant}, {Key: "acme"}},
		Resources: []authz.Resource{
			{Key: "team", Actions: []string{"read"}},
			{Key: "folder", Actions: []string{"read", "write"}},
			{Key: "document", Actions: []string{"read", "write", "comment"}},
		},
		ResourceRoles: []authz.ResourceRole{
			{Resource: "team", Key: "member", Permissions: []string{"read"}},
			{Resource: "team", Key: "lead", Permissions: []string{}, Extends: []string{"member"}},
			{Resource: "folder", Key: "viewer", Permissions: []string{"read"}, GrantedTo: byParent("viewer")},
			{Resource: "folder", Key: "editor", Permissions: []string{"write"}, Extends: []string{"viewer"}, GrantedTo: byParent("editor")},
			{Resource: "document", Key: "viewer", Permissions: []string{"read"}, GrantedTo: byParent("viewer")},
			{Resource: "document", Key: "commenter", Permissions: []string{"comment"}, Extends: []string{"viewer"}},
			{Resource: "document", Key: "editor", Permissions: []string{"write"}, Extends: []string{"commenter"}, GrantedTo: byParent("editor")},
		},
		Relations: []authz.Relation{
			{Resource: "folder", Key: "parent", Subject: "folder"},
			{Resource: "document", Key: "parent", Subject: "folder"},
		},
		Instances: []authz.Instance{
			{Resource: "team", Key: "eng", Tenant: "acme"},
			{Resource: "folder", Key: "root", Tenant: "acme"},
			{Resource: "folder", Key: "sub", Tenant: "acme"},
			{Resource: "folder", Key: "leaf", Tenant: "acme"},
			{Resource: "folder", Key: "other", Tenant: "acme"},
			{Resource: "document", Key: "plan", Tenant: "acme"},
			{Resource: "document", Key: "memo", Tenant: "acme"},
		},
		Tuples: []authz.Tuple{
			{Subject: "folder:root", Relation: "parent", Object: "folder:sub"},
			{Subject: "folder:sub", Relation: "parent", Object: "folder:leaf"},
			{Subject: "folder:leaf", Relation: "parent", Object: "document:plan"},
			{Subject: "folder:other", Relation: "parent", Object: "document:memo"},
			{Subject: "team:eng#member", Relation: "editor", Object: "folder:root"},
		},
		Assignments: []authz.Assignment{
			{User: "ada", Role: "lead", Tenant: "acme", ResourceInstance: "team:eng"},
			{User: "bob", Role: "viewer", Tenant: "acme", ResourceInstance: "folder:sub"},
			{User: "cy", Role: "editor", Tenant: "acme", ResourceInstance: "document:memo"},
		},
	}
}

// TestDriveFolderTree: a team grant on the root folder reaches a document
// three folders down; a viewer of a middle folder reads below it only.
func TestDriveFolderTree(t *testing.T) {
	d := gdriveData()
	e := loadEngine(t, d)
	q := func(user, action, typ, key string) authz.Request {
		return authz.Request{User: user, Action: action, Resource: typ, Key: key}
	}
	inst := authz.ViaInstanceRole
	runCases(t, e, d, []fineCase{
		{"lead of the team (extends member) edits a document under the granted root", q("ada", "write", "document", "plan"), true, inst, "editor"},
		{"and comments on it (editor extends commenter)", q("ada", "comment", "document", "plan"), true, inst, ""},
		{"and writes the middle folder", q("ada", "write", "folder", "sub"), true, inst, "editor"},
		{"but not a folder outside the tree", q("ada", "read", "folder", "other"), false, 0, ""},
		{"nor a document outside it", q("ada", "read", "document", "memo"), false, 0, ""},
		{"viewer of sub reads the document below", q("bob", "read", "document", "plan"), true, inst, "viewer"},
		{"but cannot write it", q("bob", "write", "document", "plan"), false, 0, ""},
		{"nor comment (viewer does not extend commenter)", q("bob", "comment", "document", "plan"), false, 0, ""},
		{"nor read the root above", q("bob", "read", "folder", "root"), false, 0, ""},
		{"direct editor of memo", q("cy", "write", "document", "memo"), true, inst, "editor"},
		{"reads memo through extends", q("cy", "read", "document", "memo"), true, inst, ""},
		{"but not its folder", q("cy", "read", "folder", "other"), false, 0, ""},
		{"no grant", q("dan", "read", "document", "plan"), false, 0, ""},
		{"in the instance's tenant, named", authz.Request{User: "ada", Action: "write", Resource: "document", Key: "plan", Tenant: "acme"}, true, inst, ""},
		{"in another tenant", authz.Request{User: "ada", Action: "write", Resource: "document", Key: "plan", Tenant: authz.DefaultTenant}, false, 0, ""},
		{"an unknown instance: instance roles do not apply", q("ada", "read", "document", "nope"), false, 0, ""},
		{"the type: instance roles do not apply", q("ada", "read", "document", ""), false, 0, ""},
		{"unknown action", q("ada", "fly", "document", "plan"), false, 0, ""},
	})
	r := authz.Request{User: "ada", Action: "write", Resource: "document"}
	if got := e.ListResources(&r); !slices.Equal(got, []string{"plan"}) {
		t.Errorf("ListResources(ada, write, document) = %v, want [plan]", got)
	}
	r = authz.Request{User: "bob", Action: "read", Resource: "folder", Tenant: "acme"}
	if got := e.ListResources(&r); !slices.Equal(got, []string{"leaf", "sub"}) {
		t.Errorf("ListResources(bob, read, folder) = %v, want [leaf sub]", got)
	}
	r = authz.Request{Action: "read", Resource: "document", Key: "plan"}
	if got := e.ListUsers(&r); !slices.Equal(got, []string{"ada", "bob"}) {
		t.Errorf("ListUsers(read, document:plan) = %v, want [ada bob]", got)
	}
	// The path for ada names the team grant and the chain of parents.
	r = authz.Request{User: "ada", Action: "write", Resource: "document", Key: "plan"}
	_, path := e.Explain(&r)
	var tuples []string
	for _, s := range path {
		if s.Kind == authz.StepTuple {
			tuples = append(tuples, s.Subject+" "+s.Relation+" "+s.Object)
		}
	}
	for _, want := range []string{"team:eng#member editor folder:root", "folder:root parent folder:sub", "folder:sub parent folder:leaf", "folder:leaf parent document:plan"} {
		if !slices.Contains(tuples, want) {
			t.Errorf("Explain(ada write plan) lacks tuple %q: %+v", want, path)
		}
	}
	// Removing the team grant takes the whole tree away from ada.
	if !e.DeleteTuple(authz.Tuple{Subject: "team:eng#member", Relation: "editor", Object: "folder:root"}) {
		t.Fatal("DeleteTuple of the team grant: not found")
	}
	if e.Decide(&r).Allow {
		t.Error("ada still writes plan after the team grant is gone")
	}
	// Deleting the middle folder cuts bob off (its tuples go with it).
	e.DeleteInstance("folder", "sub")
	r = authz.Request{User: "bob", Action: "read", Resource: "document", Key: "plan"}
	if e.Decide(&r).Allow {
		t.Error("bob still reads plan after folder sub is deleted")
	}
}

// TestFinanceApprover: approvers approve invoices whose amount is under
// their own limit (a reference to a user attribute).
func TestFinanceApprover(t *testing.T) {
	d := authz.Data{
		Users: []authz.User{
			{Key: "ada", Attributes: map[string]any{"title": "approver", "limit": 1000}},
			{Key: "bob", Attributes: map[string]any{"title": "approver", "limit": 100.0}},
			{Key: "cy", Attributes: map[string]any{"title": "clerk", "limit": int64(5000)}},
			{Key: "dan", Attributes: map[string]any{"title": "approver"}}, // no limit
		},
		Tenants:   []authz.Tenant{{Key: authz.DefaultTenant}, {Key: "acme", Attributes: map[string]any{"plan": "pro"}}},
		Resources: []authz.Resource{{Key: "invoice", Actions: []string{"read", "approve"}}},
		Instances: []authz.Instance{
			{Resource: "invoice", Key: "big", Tenant: "acme", Attributes: map[string]any{"amount": 500}},
			{Resource: "invoice", Key: "small", Tenant: "acme", Attributes: map[string]any{"amount": 50.5}},
			{Resource: "invoice", Key: "free", Tenant: "acme"},
		},
		ConditionSets: []authz.ConditionSet{
			{Key: "approvers", Type: authz.UserSet, Conditions: json.RawMessage(`{"user.title": {"equals": "approver"}}`)},
			{Key: "under-limit", Type: authz.ResourceSet, Resource: "invoice", Conditions: json.RawMessage(
				`{"allOf": [{"resource.amount": {"less-than": {"ref": "user.limit"}}}, {"tenant.plan": {"in": ["pro", "enterprise"]}}]}`)},
		},
		SetRules: []authz.SetRule{{UserSet: "approvers", Action: "approve", ResourceSet: "under-limit"}},
	}
	e := loadEngine(t, d)
	set := authz.ViaSetRule
	q := func(user, key string) authz.Request {
		return authz.Request{User: user, Action: "approve", Resource: "invoice", Key: key}
	}
	runCases(t, e, d, []fineCase{
		{"limit 1000 approves 500", q("ada", "big"), true, set, "approvers"},
		{"limit 100 does not approve 500", q("bob", "big"), false, 0, ""},
		{"limit 100.0 approves 50.5", q("bob", "small"), true, set, "approvers"},
		{"a clerk does not approve", q("cy", "small"), false, 0, ""},
		{"no limit: the comparison is false", q("dan", "small"), false, 0, ""},
		{"no amount: the comparison is false", q("ada", "free"), false, 0, ""},
		{"read is not granted by the rule", authz.Request{User: "ada", Action: "read", Resource: "invoice", Key: "big"}, false, 0, ""},
		{"an inline limit replaces the stored one", authz.Request{User: "bob", UserAttributes: map[string]any{"limit": 501}, Action: "approve", Resource: "invoice", Key: "big"}, true, set, ""},
		{"an inline amount replaces the stored one", authz.Request{User: "ada", Action: "approve", Resource: "invoice", Key: "big", ResourceAttributes: map[string]any{"amount": 1000}}, false, 0, ""},
		{"a user the engine does not hold, by inline attributes", authz.Request{User: "zed", UserAttributes: map[string]any{"title": "approver", "limit": float32(600)},
			Action: "approve", Resource: "invoice", Key: "new", Tenant: "acme", ResourceAttributes: map[string]any{"amount": uint8(200)}}, true, set, ""},
		{"an unknown invoice in a tenant without the plan", authz.Request{User: "ada", Action: "approve", Resource: "invoice", Key: "new",
			ResourceAttributes: map[string]any{"amount": 1}}, false, 0, ""},
		{"a held invoice checked in another tenant", authz.Request{User: "ada", Action: "approve", Resource: "invoice", Key: "big", Tenant: authz.DefaultTenant}, false, 0, ""},
	})
	r := q("ada", "big")
	if d := e.Decide(&r); d.Set != "under-limit" {
		t.Errorf("Decide(ada approve big).Set = %q, want under-limit", d.Set)
	}
	r = authz.Request{User: "ada", Action: "approve", Resource: "invoice", Tenant: "acme"}
	if got := e.ListResources(&r); !slices.Equal(got, []string{"big", "small"}) {
		t.Errorf("ListResources(ada approve invoice) = %v, want [big small]", got)
	}
	r = authz.Request{Action: "approve", Resource: "invoice", Key: "small"}
	if got := e.ListUsers(&r); !slices.Equal(got, []string{"ada", "bob"}) {
		t.Errorf("ListUsers(approve invoice:small) = %v, want [ada bob]", got)
	}
	// Deleting the user set removes the rule.
	e.DeleteConditionSet("approvers")
	if r := q("ada", "big"); e.Decide(&r).Allow {
		t.Error("ada still approves after the user set is deleted")
	}
	for _, sr := range e.Data().SetRules {
		t.Errorf("set rule %+v survives its user set", sr)
	}
}

// TestTenantDerivation: admins of a tenant view every document of the
// tenant; owner extends admin, so owners do too; editor extends viewer, so
// a derived editor views.
func TestTenantDerivation(t *testing.T) {
	d := authz.Data{
		Users:     []authz.User{{Key: "ada"}, {Key: "bob"}, {Key: "cy"}},
		Tenants:   []authz.Tenant{{Key: authz.DefaultTenant}, {Key: "acme"}, {Key: "globex"}},
		Resources: []authz.Resource{{Key: "document", Actions: []string{"read", "write"}}},
		Roles: []authz.Role{
			{Key: "admin", Permissions: []string{}},
			{Key: "owner", Permissions: []string{}, Extends: []string{"admin"}},
			{Key: "writer", Permissions: []string{}},
		},
		ResourceRoles: []authz.ResourceRole{
			{Resource: "document", Key: "viewer", Permissions: []string{"read"}, GrantedTo: []authz.Derivation{{Role: "admin", OnResource: authz.TenantResource}}},
			{Resource: "document", Key: "editor", Permissions: []string{"write"}, Extends: []string{"viewer"}, GrantedTo: []authz.Derivation{{Role: "writer", OnResource: authz.TenantResource}}},
		},
		Instances: []authz.Instance{
			{Resource: "document", Key: "a1", Tenant: "acme"},
			{Resource: "document", Key: "a2", Tenant: "acme"},
			{Resource: "document", Key: "g1", Tenant: "globex"},
		},
		Assignments: []authz.Assignment{
			{User: "ada", Role: "admin", Tenant: "acme"},
			{User: "bob", Role: "owner", Tenant: "globex"},
			{User: "cy", Role: "writer", Tenant: "acme"},
		},
	}
	e := loadEngine(t, d)
	q := func(user, action, key string) authz.Request {
		return authz.Request{User: user, Action: action, Resource: "document", Key: key}
	}
	inst := authz.ViaInstanceRole
	runCases(t, e, d, []fineCase{
		{"admin of acme views an acme document", q("ada", "read", "a1"), true, inst, "viewer"},
		{"but not a globex one", q("ada", "read", "g1"), false, 0, ""},
		{"nor writes", q("ada", "write", "a2"), false, 0, ""},
		{"owner extends admin", q("bob", "read", "g1"), true, inst, "viewer"},
		{"owner of globex, not of acme", q("bob", "read", "a1"), false, 0, ""},
		{"a derived editor writes", q("cy", "write", "a2"), true, inst, "editor"},
		{"and reads by extends", q("cy", "read", "a2"), true, inst, ""},
		{"the type: no instance, no derivation", q("ada", "read", ""), false, 0, ""},
	})
	r := authz.Request{User: "ada", Action: "read", Resource: "document"}
	if got := e.ListResources(&r); !slices.Equal(got, []string{"a1", "a2"}) {
		t.Errorf("ListResources(ada read) = %v, want [a1 a2]", got)
	}
	// Deleting the tenant role removes the derivation from it.
	e.DeleteRole("admin")
	if r := q("ada", "read", "a1"); e.Decide(&r).Allow {
		t.Error("ada still reads a1 after the admin role is deleted")
	}
	for _, rr := range e.Data().ResourceRoles {
		for _, g := range rr.GrantedTo {
			if g.Role == "admin" {
				t.Errorf("derivation %+v of %s survives the tenant role", g, rr.Key)
			}
		}
	}
}

// TestTupleCycleAndDepthRefused: a tuple closing a cycle, or making a chain
// longer than MaxDepth, is refused with ErrInvalid, by PutTuple, Apply and
// Load alike, and changes nothing.
func TestTupleCycleAndDepthRefused(t *testing.T) {
	d := authz.Data{
		Users:         []authz.User{{Key: "ada"}},
		Tenants:       []authz.Tenant{{Key: authz.DefaultTenant}},
		Resources:     []authz.Resource{{Key: "folder", Actions: []string{"read"}}},
		ResourceRoles: []authz.ResourceRole{{Resource: "folder", Key: "viewer", Permissions: []string{"read"}, GrantedTo: []authz.Derivation{{Role: "viewer", OnResource: "folder", LinkedByRelation: "parent"}}}},
		Relations:     []authz.Relation{{Resource: "folder", Key: "parent", Subject: "folder"}},
		Assignments:   []authz.Assignment{{User: "ada", Role: "viewer", ResourceInstance: "folder:f0"}},
	}
	f := func(i int) string { return fmt.Sprintf("folder:f%d", i) }
	for i := 0; i <= authz.MaxDepth+2; i++ {
		d.Instances = append(d.Instances, authz.Instance{Resource: "folder", Key: fmt.Sprintf("f%d", i)})
	}
	// A chain of MaxDepth tuples f0 → f1 → … → f32 is fine.
	for i := 0; i < authz.MaxDepth; i++ {
		d.Tuples = append(d.Tuples, authz.Tuple{Subject: f(i), Relation: "parent", Object: f(i + 1)})
	}
	e := loadEngine(t, d)
	deep := authz.Request{User: "ada", Action: "read", Resource: "folder", Key: fmt.Sprintf("f%d", authz.MaxDepth)}
	if !e.Decide(&deep).Allow {
		t.Fatalf("viewer of f0 does not read f%d at the end of a chain of %d tuples", authz.MaxDepth, authz.MaxDepth)
	}
	refuse := func(name string, tu authz.Tuple) {
		t.Helper()
		before := e.Data()
		if err := e.PutTuple(tu); !errors.Is(err, authz.ErrInvalid) {
			t.Errorf("%s: PutTuple(%+v) = %v, want ErrInvalid", name, tu, err)
		}
		raw, _ := json.Marshal(tu)
		if err := e.Apply(authz.Change{Op: authz.OpPutTuple, Data: raw}); !errors.Is(err, authz.ErrInvalid) {
			t.Errorf("%s: Apply(put_tuple %s) = %v, want ErrInvalid", name, raw, err)
		}
		if !reflect.DeepEqual(before, e.Data()) {
			t.Errorf("%s: a refused tuple changed the data", name)
		}
		bad := before
		bad.Tuples = append(slices.Clone(before.Tuples), tu)
		if err := authz.New().Load(bad); !errors.Is(err, authz.ErrInvalid) {
			t.Errorf("%s: Load with it = %v, want ErrInvalid", name, err)
		}
	}
	refuse("self loop", authz.Tuple{Subject: f(3), Relation: "parent", Object: f(3)})
	refuse("back edge", authz.Tuple{Subject: f(5), Relation: "parent", Object: f(2)})
	refuse("closing the whole chain", authz.Tuple{Subject: f(authz.MaxDepth), Relation: "parent", Object: f(0)})
	refuse("one longer than MaxDepth at the end", authz.Tuple{Subject: f(authz.MaxDepth), Relation: "parent", Object: f(authz.MaxDepth + 1)})
	refuse("one longer than MaxDepth at the start", authz.Tuple{Subject: f(authz.MaxDepth + 1), Relation: "parent", Object: f(0)})
	refuse("a subject set to itself", authz.Tuple{Subject: f(7) + "#viewer", Relation: "viewer", Object: f(7)})
	refuse("a cycle through a subject set", authz.Tuple{Subject: f(5) + "#viewer", Relation: "viewer", Object: f(2)})
	refuse("a subject set one longer than MaxDepth", authz.Tuple{Subject: f(authz.MaxDepth) + "#viewer", Relation: "viewer", Object: f(authz.MaxDepth + 1)})
	// A side branch that stays short is fine, and so is a diamond.
	if err := e.PutTuple(authz.Tuple{Subject: f(2), Relation: "parent", Object: f(authz.MaxDepth + 1)}); err != nil {
		t.Errorf("short side branch: %v", err)
	}
	if err := e.PutTuple(authz.Tuple{Subject: f(0), Relation: "parent", Object: f(2)}); err != nil {
		t.Errorf("diamond (a shortcut f0 → f2): %v", err)
	}
	// After a cut in the middle, the halves may be joined the other way.
	if !e.DeleteTuple(authz.Tuple{Subject: f(10), Relation: "parent", Object: f(11)}) {
		t.Fatal("DeleteTuple f10 → f11: not found")
	}
	if err := e.PutTuple(authz.Tuple{Subject: f(authz.MaxDepth), Relation: "parent", Object: f(authz.MaxDepth + 2)}); err != nil {
		t.Errorf("a chain shortened by a deletion refuses a new end: %v", err)
	}
	if e.Decide(&deep).Allow {
		t.Errorf("f%d is still reached after the chain is cut", authz.MaxDepth)
	}
	if strings.Contains(fmt.Sprint(e.Data().Tuples), "f10 parent folder:f11") {
		t.Error("the deleted tuple is still in Data")
	}
}

// TestNotEqualsOfAnotherKindIsFalse: CompileConditions documents that a
// comparison whose attribute is of another type is false, not-equals
// included (the randomized test found the engine granting here).
func TestNotEqualsOfAnotherKindIsTrue(t *testing.T) {
	d := authz.Data{
		Users:     []authz.User{{Key: "ada", Attributes: map[string]any{"level": 2, "dept": "eng"}}},
		Tenants:   []authz.Tenant{{Key: authz.DefaultTenant}},
		Resources: []authz.Resource{{Key: "doc", Actions: []string{"read"}}},
		ConditionSets: []authz.ConditionSet{
			{Key: "all", Type: authz.ResourceSet, Resource: "doc", Conditions: json.RawMessage(`{}`)},
		},
	}
	for _, cond := range []string{`{"user.level": {"not-equals": "five"}}`, `{"user.dept": {"not-equals": 5}}`, `{"user.dept": {"not-equals": true}}`} {
		d.ConditionSets = append(d.ConditionSets[:1], authz.ConditionSet{Key: "u", Type: authz.UserSet, Conditions: json.RawMessage(cond)})
		d.SetRules = []authz.SetRule{{UserSet: "u", Action: "read", ResourceSet: "all"}}
		e := loadEngine(t, d)
		r := authz.Request{User: "ada", Action: "read", Resource: "doc"}
		if got := e.Decide(&r); !got.Allow {
			t.Errorf("%s: denied (%+v); two scalars of different types are not equal", cond, got)
		}
		if !authztest.NewModel(d).Allowed(r) {
			t.Errorf("%s: the model denies", cond)
		}
	}
}

// TestReBACDataset: the engine answers the ReBAC benchmark queries (at a
// hundredth of the full size) as the model does, with valid paths, and
// lists what the model lists.
func TestReBACDataset(t *testing.T) {
	ds := authztest.GenerateReBAC(1, authztest.ReBACFull.Scale(0.01))
	e := loadEngine(t, ds.Data)
	qs := ds.Queries(3000, 2)
	m := authztest.NewModel(ds.Data)
	var reqs []authz.Request
	for _, q := range qs {
		r := q.Request
		if got := e.Decide(&r); got.Allow != q.Want {
			t.Errorf("Decide(%s) = %+v, want %v", reqString(q.Request), got, q.Want)
		}
		reqs = append(reqs, q.Request)
	}
	compareWithModel(t, e, m, reqs[:600], 6)
}

// TestABACDataset: the same for the attribute-rules benchmark data set.
func TestABACDataset(t *testing.T) {
	ds := authztest.GenerateABAC(1, 200, 300)
	e := loadEngine(t, ds.Data)
	qs := ds.Queries(3000, 2)
	var reqs []authz.Request
	for _, q := range qs {
		r := q.Request
		if got := e.Decide(&r); got.Allow != q.Want {
			t.Errorf("Decide(%s) = %+v, want %v", reqString(q.Request), got, q.Want)
		}
		reqs = append(reqs, q.Request)
	}
	compareWithModel(t, e, authztest.NewModel(ds.Data), reqs[:600], 10)
}

// TestInstancePermissionsAgreeWithModel: the roles InstancePermissions
// reports on each instance are exactly those the model finds the user
// holding there, for every user of generated data sets.
func TestInstancePermissionsAgreeWithModel(t *testing.T) {
	for _, seed := range fineSeeds {
		ds := authztest.GenerateFine(seed, authztest.SmallFine)
		e := loadEngine(t, ds.Data)
		m := authztest.NewModel(ds.Data)
		dis := &disagreements{t: t, limit: 8}
		for _, u := range ds.Data.Users {
			got := map[string]bool{}
			for _, ip := range e.InstancePermissions(u.Key, nil, nil) {
				for _, r := range ip.Roles {
					got[ip.Resource+"#"+r] = true
				}
			}
			for _, in := range ds.Data.Instances {
				ref := in.Resource + ":" + in.Key
				for _, rr := range ds.Data.ResourceRoles {
					if rr.Resource != in.Resource {
						continue
					}
					if want := m.Holds(u.Key, rr.Key, ref); want != got[ref+"#"+rr.Key] {
						dis.add("seed %d: %s holds %s on %s: engine %v, model %v", seed, u.Key, rr.Key, ref, got[ref+"#"+rr.Key], want)
					}
				}
			}
		}
		dis.done("instance permissions")
	}
}
