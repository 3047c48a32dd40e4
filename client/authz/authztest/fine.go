package authztest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// FineShape sizes a random fine-grained data set (GenerateFine).
type FineShape struct {
	Users, Tenants, Teams, Folders, Documents, Tickets int
	InstanceAssignments, TenantAssignments             int
	SubjectSetTuples                                   int
	UserSets, ResourceSets, SetRules                   int
	Requests, Changes                                  int
}

// SmallFine is the shape of the randomized engine-versus-model tests: small
// enough that every lookup can be checked against the naive model.
var SmallFine = FineShape{
	Users: 12, Tenants: 3, Teams: 3, Folders: 12, Documents: 20, Tickets: 5,
	InstanceAssignments: 45, TenantAssignments: 10, SubjectSetTuples: 10,
	UserSets: 5, ResourceSets: 6, SetRules: 8, Requests: 1500, Changes: 300,
}

// FineDataset is a random fine-grained data set, random checks on it and a
// random sequence of changes to replay on it.
type FineDataset struct {
	Data     authz.Data
	Requests []authz.Request
	Changes  []authz.Change
}

// The fixed skeleton of a fine data set: the types and their actions, the
// roles each type may define, the relations. Permissions, extends and
// derivations are random.
var (
	fineTypes = []authz.Resource{
		{Key: "team", Actions: []string{"read", "manage"}},
		{Key: "folder", Actions: []string{"read", "write", "share", "delete"}},
		{Key: "document", Actions: []string{"read", "write", "comment", "delete"}},
		{Key: "ticket", Actions: []string{"view", "resolve"}},
	}
	fineRoles = map[string][]string{
		"team":     {"member", "lead"},
		"folder":   {"viewer", "editor", "owner"},
		"document": {"viewer", "commenter", "editor"},
		"ticket":   {"watcher", "assignee"},
	}
	fineRelations = []authz.Relation{
		{Resource: "folder", Key: "parent", Subject: "folder"},
		{Resource: "document", Key: "parent", Subject: "folder"},
		{Resource: "document", Key: "owner_team", Subject: "team"},
		{Resource: "ticket", Key: "project", Subject: "folder"},
	}
	fineTenantRoles = []string{"admin", "member", "guest", "auditor"}
	depts           = []string{"eng", "finance", "sales", "legal"}
	classes         = []string{"public", "internal", "secret"}
	tagPool         = []string{"a", "b", "c", "d"}
)

type fineGen struct {
	rng   *rand.Rand
	s     FineShape
	d     *authz.Data
	users []string
	tens  []string
	inst  map[string][]authz.Instance // type → instances
}

func (g *fineGen) pick(list []string) string { return list[g.rng.IntN(len(list))] }
func (g *fineGen) chance(p float64) bool     { return g.rng.Float64() < p }

// GenerateFine builds a random fine-grained data set of shape s from seed,
// with s.Requests checks and s.Changes changes.
func GenerateFine(seed uint64, s FineShape) *FineDataset {
	g := &fineGen{rng: rand.New(rand.NewPCG(seed, seed*0x9e3779b97f4a7c15+7)), s: s, inst: map[string][]authz.Instance{}}
	ds := &FineDataset{}
	g.d = &ds.Data
	d := g.d
	g.tens = []string{authz.DefaultTenant}
	for i := 1; i < max(s.Tenants, 1); i++ {
		g.tens = append(g.tens, fmt.Sprintf("t%d", i))
	}
	for _, t := range g.tens {
		d.Tenants = append(d.Tenants, authz.Tenant{Key: t, Attributes: g.tenantAttrs()})
	}
	for i := 0; i < s.Users; i++ {
		g.users = append(g.users, fmt.Sprintf("u%d", i))
		d.Users = append(d.Users, authz.User{Key: g.users[i], Attributes: g.userAttrs()})
	}
	d.Resources = append(d.Resources, fineTypes...)
	for i, k := range fineTenantRoles {
		d.Roles = append(d.Roles, g.tenantRole(k, fineTenantRoles[:i]))
	}
	for _, t := range fineTypes {
		for i, k := range fineRoles[t.Key] {
			d.ResourceRoles = append(d.ResourceRoles, g.resourceRole(t.Key, k, fineRoles[t.Key][:i]))
		}
	}
	d.Relations = append(d.Relations, fineRelations...)

	// Instances and the tuples between them: a folder's parents come before
	// it (acyclic), and related instances share a tenant.
	for i := 0; i < s.Teams; i++ {
		g.addInstance("team", fmt.Sprintf("tm%d", i), g.pick(g.tens))
	}
	for i := 0; i < s.Folders; i++ {
		key := fmt.Sprintf("f%d", i)
		tenant := g.pick(g.tens)
		var parents []string
		if i > 0 && g.chance(0.8) {
			p := g.inst["folder"][g.rng.IntN(i)]
			tenant = p.Tenant
			parents = append(parents, p.Key)
			if g.chance(0.15) {
				if q := g.inst["folder"][g.rng.IntN(i)]; q.Tenant == tenant && q.Key != p.Key {
					parents = append(parents, q.Key)
				}
			}
		}
		g.addInstance("folder", key, tenant)
		for _, p := range parents {
			d.Tuples = append(d.Tuples, authz.Tuple{Subject: "folder:" + p, Relation: "parent", Object: "folder:" + key})
		}
	}
	for i := 0; i < s.Documents; i++ {
		key := fmt.Sprintf("d%d", i)
		tenant := g.pick(g.tens)
		var tuples []authz.Tuple
		if len(g.inst["folder"]) > 0 && g.chance(0.85) {
			p := g.inst["folder"][g.rng.IntN(len(g.inst["folder"]))]
			tenant = p.Tenant
			tuples = append(tuples, authz.Tuple{Subject: "folder:" + p.Key, Relation: "parent", Object: "document:" + key})
		}
		if g.chance(0.3) {
			if t, ok := g.instanceIn("team", tenant); ok {
				tuples = append(tuples, authz.Tuple{Subject: "team:" + t.Key, Relation: "owner_team", Object: "document:" + key})
			}
		}
		g.addInstance("document", key, tenant)
		d.Tuples = append(d.Tuples, tuples...)
	}
	for i := 0; i < s.Tickets; i++ {
		key := fmt.Sprintf("k%d", i)
		tenant := g.pick(g.tens)
		g.addInstance("ticket", key, tenant)
		if f, ok := g.instanceIn("folder", tenant); ok && g.chance(0.6) {
			d.Tuples = append(d.Tuples, authz.Tuple{Subject: "folder:" + f.Key, Relation: "project", Object: "ticket:" + key})
		}
	}
	for i := 0; i < s.SubjectSetTuples; i++ {
		if t, ok := g.subjectSetTuple(); ok && !slices.Contains(d.Tuples, t) {
			d.Tuples = append(d.Tuples, t)
		}
	}
	seen := map[authz.Assignment]bool{}
	for i := 0; i < s.InstanceAssignments; i++ {
		if a, ok := g.instanceAssignment(); ok && !seen[a] {
			seen[a] = true
			d.Assignments = append(d.Assignments, a)
		}
	}
	for i := 0; i < s.TenantAssignments; i++ {
		a := authz.Assignment{User: g.pick(g.users), Role: g.pick(fineTenantRoles), Tenant: g.pick(g.tens)}
		if !seen[a] {
			seen[a] = true
			d.Assignments = append(d.Assignments, a)
		}
	}
	var userSets, resSets []authz.ConditionSet
	for i := 0; i < s.UserSets; i++ {
		userSets = append(userSets, g.userSet(fmt.Sprintf("us%d", i)))
	}
	for i := 0; i < s.ResourceSets; i++ {
		resSets = append(resSets, g.resourceSet(fmt.Sprintf("rs%d", i)))
	}
	d.ConditionSets = append(append(d.ConditionSets, userSets...), resSets...)
	seenRule := map[authz.SetRule]bool{}
	for i := 0; i < s.SetRules && len(userSets) > 0 && len(resSets) > 0; i++ {
		sr := g.setRule(userSets, resSets)
		if !seenRule[sr] {
			seenRule[sr] = true
			d.SetRules = append(d.SetRules, sr)
		}
	}
	for i := 0; i < s.Requests; i++ {
		ds.Requests = append(ds.Requests, g.request())
	}
	ds.Changes = g.changes(s.Changes)
	return ds
}

func (g *fineGen) addInstance(typ, key, tenant string) {
	in := authz.Instance{Resource: typ, Key: key, Tenant: tenant, Attributes: g.resourceAttrs()}
	if tenant == authz.DefaultTenant && g.chance(0.5) {
		in.Tenant = "" // the default tenant, spelled either way
	}
	g.d.Instances = append(g.d.Instances, in)
	in.Tenant = tenant
	g.inst[typ] = append(g.inst[typ], in)
}

// instanceIn picks an instance of typ in tenant.
func (g *fineGen) instanceIn(typ, tenant string) (authz.Instance, bool) {
	var in []authz.Instance
	for _, x := range g.inst[typ] {
		if x.Tenant == tenant {
			in = append(in, x)
		}
	}
	if len(in) == 0 {
		return authz.Instance{}, false
	}
	return in[g.rng.IntN(len(in))], true
}

func (g *fineGen) anyInstance() (authz.Instance, bool) {
	typ := fineTypes[g.rng.IntN(len(fineTypes))].Key
	if len(g.inst[typ]) == 0 {
		return authz.Instance{}, false
	}
	return g.inst[typ][g.rng.IntN(len(g.inst[typ]))], true
}

// subjectSetTuple: holders of a team or folder role get a role on a folder
// or document of the same tenant.
func (g *fineGen) subjectSetTuple() (authz.Tuple, bool) {
	subjType := "team"
	if g.chance(0.3) {
		subjType = "folder"
	}
	objType := "folder"
	if subjType == "folder" || g.chance(0.4) {
		objType = "document"
	}
	if len(g.inst[subjType]) == 0 {
		return authz.Tuple{}, false
	}
	s := g.inst[subjType][g.rng.IntN(len(g.inst[subjType]))]
	o, ok := g.instanceIn(objType, s.Tenant)
	if !ok {
		return authz.Tuple{}, false
	}
	return authz.Tuple{Subject: subjType + ":" + s.Key + "#" + g.pick(fineRoles[subjType]), Relation: g.pick(fineRoles[objType]), Object: objType + ":" + o.Key}, true
}

func (g *fineGen) instanceAssignment() (authz.Assignment, bool) {
	in, ok := g.anyInstance()
	if !ok {
		return authz.Assignment{}, false
	}
	return authz.Assignment{User: g.pick(g.users), Role: g.pick(fineRoles[in.Resource]), Tenant: in.Tenant, ResourceInstance: in.Resource + ":" + in.Key}, true
}

func (g *fineGen) tenantRole(key string, earlier []string) authz.Role {
	r := authz.Role{Key: key, Permissions: []string{}}
	for _, t := range fineTypes {
		for _, a := range t.Actions {
			if g.chance(0.15) {
				r.Permissions = append(r.Permissions, t.Key+":"+a)
			}
		}
	}
	for _, e := range earlier {
		if g.chance(0.3) {
			r.Extends = append(r.Extends, e)
		}
	}
	return r
}

// resourceRole builds role key of typ with random permissions, extends of
// earlier roles and derivations: from roles of the subject type of each of
// typ's relations (folder from parent folder: recursive), and from tenant
// roles.
func (g *fineGen) resourceRole(typ, key string, earlier []string) authz.ResourceRole {
	r := authz.ResourceRole{Resource: typ, Key: key, Permissions: []string{}}
	for _, t := range fineTypes {
		if t.Key != typ {
			continue
		}
		for _, a := range t.Actions {
			if g.chance(0.4) {
				r.Permissions = append(r.Permissions, a)
			}
		}
		if len(r.Permissions) == 0 {
			r.Permissions = append(r.Permissions, g.pick(t.Actions))
		}
	}
	for _, e := range earlier {
		if g.chance(0.4) {
			r.Extends = append(r.Extends, e)
		}
	}
	for _, rel := range fineRelations {
		if rel.Resource == typ && g.chance(0.6) {
			r.GrantedTo = append(r.GrantedTo, authz.Derivation{Role: g.pick(fineRoles[rel.Subject]), OnResource: rel.Subject, LinkedByRelation: rel.Key})
		}
	}
	if g.chance(0.25) {
		r.GrantedTo = append(r.GrantedTo, authz.Derivation{Role: g.pick(fineTenantRoles), OnResource: authz.TenantResource})
	}
	return r
}

// Attribute values. Each attribute has one kind; values of numbers are
// generated as several Go types, as callers pass them.
func (g *fineGen) number(lo, hi int) any {
	n := lo + g.rng.IntN(hi-lo+1)
	switch g.rng.IntN(4) {
	case 0:
		return n
	case 1:
		return int64(n)
	case 2:
		return float64(n) + 0.5
	}
	return float64(n)
}

func (g *fineGen) when() string {
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	t := base.Add(time.Duration(g.rng.IntN(730*24)) * time.Hour)
	if g.chance(0.3) {
		return t.In(time.FixedZone("x", 2*3600)).Format(time.RFC3339) // same instant, another zone
	}
	return t.Format(time.RFC3339)
}

func (g *fineGen) tags() any {
	var out []string
	for _, t := range tagPool {
		if g.chance(0.4) {
			out = append(out, t)
		}
	}
	if g.chance(0.5) {
		l := make([]any, len(out))
		for i := range out {
			l[i] = out[i]
		}
		return l
	}
	if out == nil {
		out = []string{}
	}
	return out
}

func (g *fineGen) userAttr(name string) any {
	switch name {
	case "dept":
		return g.pick(depts)
	case "level":
		return g.number(1, 5)
	case "limit":
		return g.number(0, 1000)
	case "tags":
		return g.tags()
	case "active":
		return g.chance(0.6)
	case "region":
		return g.pick([]string{"eu", "us", "apac"})
	case "clearance":
		return g.number(0, 5)
	case "title":
		return g.pick([]string{"clerk", "manager", "director"})
	case "projects":
		return g.tags()
	}
	return g.when() // joined
}

var userAttrNames = []string{"dept", "level", "limit", "tags", "active", "joined"}
var resourceAttrNames = []string{"classification", "amount", "labels", "created", "owner", "dept"}

func (g *fineGen) userAttrs() map[string]any {
	m := map[string]any{}
	for _, n := range userAttrNames {
		if g.chance(0.7) {
			m[n] = g.userAttr(n)
		}
	}
	return m
}

func (g *fineGen) resourceAttr(name string) any {
	switch name {
	case "classification":
		return g.pick(classes)
	case "amount":
		return g.number(0, 1200)
	case "labels":
		return g.tags()
	case "created":
		return g.when()
	case "owner":
		return fmt.Sprintf("u%d", g.rng.IntN(max(g.s.Users, 1)+2))
	case "region":
		return g.pick([]string{"eu", "us", "apac"})
	case "status":
		return g.pick([]string{"draft", "open", "closed"})
	case "priority":
		return g.number(0, 5)
	case "project":
		return g.pick(tagPool)
	}
	return g.pick(depts)
}

func (g *fineGen) resourceAttrs() map[string]any {
	m := map[string]any{}
	for _, n := range resourceAttrNames {
		if g.chance(0.6) {
			m[n] = g.resourceAttr(n)
		}
	}
	return m
}

func (g *fineGen) tenantAttrs() map[string]any {
	m := map[string]any{}
	if g.chance(0.8) {
		m["tier"] = g.pick([]string{"gold", "silver"})
	}
	if g.chance(0.8) {
		m["seats"] = g.number(1, 50)
	}
	return m
}

func (g *fineGen) context() map[string]any {
	m := map[string]any{}
	if g.chance(0.7) {
		m["zone"] = g.pick([]string{"corp", "home"})
	}
	if g.chance(0.7) {
		m["risk"] = g.number(0, 10)
	}
	if g.chance(0.5) {
		m["now"] = g.when()
	}
	return m
}

// comparison builds {path: {op: operand}} fitting the attribute's kind.
func (g *fineGen) comparison(path string) map[string]any {
	var op string
	var operand any
	kind := map[string]string{
		"user.dept": "enum", "user.level": "num", "user.limit": "num", "user.tags": "list", "user.active": "bool", "user.joined": "time",
		"resource.classification": "class", "resource.amount": "num", "resource.labels": "list", "resource.created": "time",
		"resource.owner": "owner", "resource.dept": "enum", "tenant.tier": "tier", "tenant.seats": "num",
		"context.zone": "zone", "context.risk": "num", "context.now": "time",
		"user.region": "region", "user.clearance": "num", "user.title": "title", "user.projects": "list",
		"resource.region": "region", "resource.status": "status", "resource.priority": "num", "resource.project": "proj",
		"user.key": "owner", "resource.key": "rkey", "tenant.key": "tkey", "resource.type": "type",
	}[path]
	values := map[string][]string{
		"enum": append(slices.Clone(depts), "nobody"), "class": classes, "tier": {"gold", "silver", "bronze"}, "zone": {"corp", "home"},
		"owner": {"u0", "u1", "u2", "u3", "ghost"}, "rkey": {"f0", "f1", "d0", "d1", "d2", "k0", "tm0"},
		"tkey":   append(slices.Clone(g.tens), "nowhere"),
		"region": {"eu", "us", "apac"}, "title": {"clerk", "manager", "director"}, "status": {"draft", "open", "closed"}, "proj": tagPool, "type": {"folder", "document", "ticket", "team"},
	}
	switch kind {
	case "num":
		op = g.pick([]string{"equals", "not-equals", "greater-than", "greater-than-equals", "less-than", "less-than-equals"})
		operand = float64(g.rng.IntN(12)) * 100
		if path == "user.level" || path == "context.risk" || path == "tenant.seats" || path == "user.clearance" || path == "resource.priority" {
			operand = float64(g.rng.IntN(6))
		}
	case "list":
		op = g.pick([]string{"contains", "not-contains"})
		operand = g.pick(tagPool)
	case "bool":
		op = g.pick([]string{"equals", "not-equals"})
		operand = g.chance(0.5)
	case "time":
		op = g.pick([]string{"before", "after"})
		operand = g.when()
	default:
		vs := values[kind]
		switch g.rng.IntN(4) {
		case 0:
			op, operand = "equals", g.pick(vs)
		case 1:
			op, operand = "not-equals", g.pick(vs)
		case 2:
			op, operand = "in", []any{g.pick(vs), g.pick(vs)}
		default:
			op, operand = "not-in", []any{g.pick(vs)}
		}
	}
	// References to another attribute of the same kind.
	if g.chance(0.25) {
		refs := map[string][]string{
			"resource.amount": {"user.limit"}, "resource.owner": {"user.key"}, "resource.dept": {"user.dept"},
			"user.dept": {"resource.dept"}, "user.limit": {"resource.amount"}, "resource.created": {"context.now", "user.joined"},
			"context.now": {"resource.created"}, "user.level": {"context.risk"},
			"resource.region": {"user.region"}, "resource.priority": {"user.clearance"}, "user.clearance": {"resource.priority"},
		}[path]
		if len(refs) > 0 {
			switch kind {
			case "num":
				op = g.pick([]string{"less-than", "less-than-equals", "greater-than", "equals"})
			case "time":
				op = g.pick([]string{"before", "after"})
			default:
				op = g.pick([]string{"equals", "not-equals"})
			}
			operand = map[string]any{"ref": g.pick(refs)}
		}
	}
	switch op {
	case "equals", "not-equals", "contains", "not-contains":
		if _, isRef := operand.(map[string]any); !isRef && g.chance(0.05) {
			// An operand of another kind: the comparison is false.
			if kind == "num" {
				operand = "five"
			} else {
				operand = 5.0
			}
		}
	}
	return map[string]any{path: map[string]any{op: operand}}
}

// condition builds a random condition tree over paths.
func (g *fineGen) condition(paths []string, depth int) any {
	if depth <= 0 || g.chance(0.4) {
		c := g.comparison(g.pick(paths))
		if g.chance(0.15) {
			return map[string]any{"not": c}
		}
		return c
	}
	n := g.rng.IntN(4) // 0: an empty list now and then
	var list []any
	for i := 0; i < n; i++ {
		list = append(list, g.condition(paths, depth-1))
	}
	if list == nil {
		list = []any{}
	}
	var c any = map[string]any{g.pick([]string{"allOf", "anyOf"}): list}
	if g.chance(0.15) {
		c = map[string]any{"not": c}
	}
	return c
}

func (g *fineGen) userSet(key string) authz.ConditionSet {
	paths := []string{"user.dept", "user.level", "user.limit", "user.tags", "user.active", "user.joined", "user.key", "context.zone", "context.risk", "tenant.tier", "tenant.key"}
	raw, _ := json.Marshal(g.condition(paths, 2))
	return authz.ConditionSet{Key: key, Type: authz.UserSet, Conditions: raw}
}

func (g *fineGen) resourceSet(key string) authz.ConditionSet {
	typ := g.pick([]string{"folder", "document", "document", "ticket"})
	paths := []string{"resource.classification", "resource.amount", "resource.labels", "resource.created", "resource.owner", "resource.dept", "resource.key", "resource.type", "tenant.tier", "tenant.seats", "context.now"}
	raw, _ := json.Marshal(g.condition(paths, 2))
	return authz.ConditionSet{Key: key, Type: authz.ResourceSet, Resource: typ, Conditions: raw}
}

func (g *fineGen) setRule(us, rs []authz.ConditionSet) authz.SetRule {
	u, r := us[g.rng.IntN(len(us))], rs[g.rng.IntN(len(rs))]
	var actions []string
	for _, t := range fineTypes {
		if t.Key == r.Resource {
			actions = t.Actions
		}
	}
	return authz.SetRule{UserSet: u.Key, Action: g.pick(actions), ResourceSet: r.Key}
}

// request builds a random check: a known or unknown user, an action of the
// type or not, a held instance, an unknown key or none, in the instance's
// tenant, another one or none, with inline attributes and context now and
// then.
func (g *fineGen) request() authz.Request {
	t := fineTypes[g.rng.IntN(len(fineTypes))]
	r := authz.Request{User: g.pick(g.users), Resource: t.Key, Action: g.pick(t.Actions)}
	if g.chance(0.1) {
		r.User = "ghost"
	}
	if g.chance(0.05) {
		r.Action = "fly"
	}
	switch x := g.rng.IntN(20); {
	case x < 13 && len(g.inst[t.Key]) > 0:
		in := g.inst[t.Key][g.rng.IntN(len(g.inst[t.Key]))]
		r.Key = in.Key
		switch y := g.rng.IntN(10); {
		case y < 4:
		case y < 8:
			r.Tenant = in.Tenant
		default:
			r.Tenant = g.pick(g.tens)
		}
	case x < 16:
		r.Key = "nokey"
		r.Tenant = g.pick(append([]string{""}, g.tens...))
	default:
		r.Tenant = g.pick(append([]string{"", "nowhere"}, g.tens...))
	}
	if g.chance(0.3) {
		r.UserAttributes = map[string]any{}
		for _, n := range userAttrNames {
			if g.chance(0.4) {
				r.UserAttributes[n] = g.userAttr(n)
			}
		}
	}
	if g.chance(0.3) {
		r.ResourceAttributes = map[string]any{}
		for _, n := range resourceAttrNames {
			if g.chance(0.4) {
				r.ResourceAttributes[n] = g.resourceAttr(n)
			}
		}
	}
	if g.chance(0.5) {
		r.Context = g.context()
	}
	return r
}

// --- Changes.

func change(op string, v any) authz.Change {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return authz.Change{Op: op, Data: raw}
}

type resKey struct {
	Resource string `json:"resource"`
	Key      string `json:"key"`
}

// changes builds n random changes of every kind, mostly on what the data
// set holds (as generated, or put by an earlier change), some bound to be
// refused (a tuple closing a cycle, an assignment of an unknown user).
func (g *fineGen) changes(n int) []authz.Change {
	d := g.d
	tuples := slices.Clone(d.Tuples)
	var sets []authz.ConditionSet
	sets = append(sets, d.ConditionSets...)
	rules := slices.Clone(d.SetRules)
	asg := slices.Clone(d.Assignments)
	var out []authz.Change
	for len(out) < n {
		switch g.rng.IntN(26) {
		case 0:
			key := g.pick(g.users)
			if g.chance(0.3) {
				key = fmt.Sprintf("u%d", len(g.users))
				g.users = append(g.users, key)
			}
			out = append(out, change(authz.OpPutUser, authz.User{Key: key, Attributes: g.userAttrs()}))
		case 1:
			out = append(out, change(authz.OpDeleteUser, authz.KeyRef{Key: g.pick(g.users)}))
		case 2:
			key := g.pick(g.tens)
			if g.chance(0.3) {
				key = fmt.Sprintf("t%d", len(g.tens))
				g.tens = append(g.tens, key)
			}
			out = append(out, change(authz.OpPutTenant, authz.Tenant{Key: key, Attributes: g.tenantAttrs()}))
		case 3:
			if g.chance(0.3) {
				out = append(out, change(authz.OpDeleteTenant, authz.KeyRef{Key: g.pick(g.tens[1:])}))
			}
		case 4:
			t := fineTypes[g.rng.IntN(len(fineTypes))]
			if g.chance(0.5) {
				t.Actions = append(slices.Clone(t.Actions), "archive")
			}
			out = append(out, change(authz.OpPutResource, t))
		case 5:
			if g.chance(0.15) {
				out = append(out, change(authz.OpDeleteResource, authz.KeyRef{Key: g.pick([]string{"ticket", "team"})}))
			}
		case 6:
			i := g.rng.IntN(len(fineTenantRoles))
			out = append(out, change(authz.OpPutRole, g.tenantRole(fineTenantRoles[i], fineTenantRoles[:i])))
		case 7:
			if g.chance(0.3) {
				out = append(out, change(authz.OpDeleteRole, authz.KeyRef{Key: g.pick(fineTenantRoles)}))
			}
		case 8, 9:
			a, ok := g.instanceAssignment()
			if g.chance(0.4) || !ok {
				a = authz.Assignment{User: g.pick(g.users), Role: g.pick(fineTenantRoles), Tenant: g.pick(g.tens)}
			}
			asg = append(asg, a)
			out = append(out, change(authz.OpAssign, a))
		case 10:
			if len(asg) > 0 {
				out = append(out, change(authz.OpUnassign, asg[g.rng.IntN(len(asg))]))
			}
		case 11:
			t := fineTypes[g.rng.IntN(len(fineTypes))].Key
			roles := fineRoles[t]
			i := g.rng.IntN(len(roles))
			out = append(out, change(authz.OpPutResourceRole, g.resourceRole(t, roles[i], roles[:i])))
		case 12:
			if g.chance(0.4) {
				t := fineTypes[g.rng.IntN(len(fineTypes))].Key
				out = append(out, change(authz.OpDeleteResourceRole, resKey{t, g.pick(fineRoles[t])}))
			}
		case 13:
			out = append(out, change(authz.OpPutRelation, fineRelations[g.rng.IntN(len(fineRelations))]))
		case 14:
			if g.chance(0.3) {
				rel := fineRelations[g.rng.IntN(len(fineRelations))]
				out = append(out, change(authz.OpDeleteRelation, resKey{rel.Resource, rel.Key}))
			}
		case 15, 16:
			if in, ok := g.anyInstance(); ok && g.chance(0.6) {
				in.Attributes = g.resourceAttrs()
				out = append(out, change(authz.OpPutInstance, in))
			} else {
				typ := fineTypes[g.rng.IntN(len(fineTypes))].Key
				key := fmt.Sprintf("n%d", len(out))
				tenant := g.pick(g.tens)
				g.addInstance(typ, key, tenant)
				out = append(out, change(authz.OpPutInstance, g.d.Instances[len(g.d.Instances)-1]))
				g.d.Instances = g.d.Instances[:len(g.d.Instances)-1] // only a change, not data
			}
		case 17:
			if in, ok := g.anyInstance(); ok && g.chance(0.5) {
				out = append(out, change(authz.OpDeleteInstance, resKey{in.Resource, in.Key}))
				g.inst[in.Resource] = slices.DeleteFunc(g.inst[in.Resource], func(x authz.Instance) bool { return x.Key == in.Key })
			}
		case 18, 19, 20:
			t, ok := g.randomTuple()
			if ok {
				tuples = append(tuples, t)
				out = append(out, change(authz.OpPutTuple, t))
			}
		case 21:
			if len(tuples) > 0 {
				out = append(out, change(authz.OpDeleteTuple, tuples[g.rng.IntN(len(tuples))]))
			}
		case 22:
			var cs authz.ConditionSet
			key := fmt.Sprintf("c%d", len(out))
			if len(sets) > 0 && g.chance(0.5) {
				key = sets[g.rng.IntN(len(sets))].Key
			}
			if g.chance(0.5) {
				cs = g.userSet(key)
			} else {
				cs = g.resourceSet(key)
			}
			sets = append(sets, cs)
			out = append(out, change(authz.OpPutConditionSet, cs))
		case 23:
			if len(sets) > 0 && g.chance(0.5) {
				out = append(out, change(authz.OpDeleteConditionSet, authz.KeyRef{Key: sets[g.rng.IntN(len(sets))].Key}))
			}
		case 24:
			var us, rs []authz.ConditionSet
			for _, c := range sets {
				if c.Type == authz.UserSet {
					us = append(us, c)
				} else {
					rs = append(rs, c)
				}
			}
			if len(us) > 0 && len(rs) > 0 {
				sr := g.setRule(us, rs)
				rules = append(rules, sr)
				out = append(out, change(authz.OpPutSetRule, sr))
			}
		case 25:
			if len(rules) > 0 {
				out = append(out, change(authz.OpDeleteSetRule, rules[g.rng.IntN(len(rules))]))
			}
		}
	}
	return out
}

// randomTuple: a parent between two folders in either direction (some
// close a cycle and must be refused), a document's parent, a subject-set
// grant, or now and then a tuple of an undeclared relation.
func (g *fineGen) randomTuple() (authz.Tuple, bool) {
	switch g.rng.IntN(5) {
	case 0, 1:
		fs := g.inst["folder"]
		if len(fs) < 2 {
			return authz.Tuple{}, false
		}
		a, b := fs[g.rng.IntN(len(fs))], fs[g.rng.IntN(len(fs))]
		return authz.Tuple{Subject: "folder:" + a.Key, Relation: "parent", Object: "folder:" + b.Key}, true
	case 2:
		f, ok1 := g.anyOf("folder")
		d, ok2 := g.anyOf("document")
		return authz.Tuple{Subject: "folder:" + f.Key, Relation: "parent", Object: "document:" + d.Key}, ok1 && ok2
	case 3:
		return g.subjectSetTuple()
	}
	d, ok := g.anyOf("document")
	return authz.Tuple{Subject: "document:" + d.Key, Relation: "sibling", Object: "document:" + d.Key}, ok
}

func (g *fineGen) anyOf(typ string) (authz.Instance, bool) {
	if len(g.inst[typ]) == 0 {
		return authz.Instance{}, false
	}
	return g.inst[typ][g.rng.IntN(len(g.inst[typ]))], true
}
