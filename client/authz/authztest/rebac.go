package authztest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"

	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// ReBACShape sizes the ReBAC benchmark data set of issue 15.
type ReBACShape struct {
	Tenants, Users, Teams, Folders, Documents int
	Assignments                               int // instance role assignments, team memberships included
	TeamGrants                                int // subject-set tuples team:t#member editor|viewer folder:f
	Depth                                     int // folders nest at most this deep (a root is depth 1)
}

// ReBACFull is the benchmark data set: 5k users, 200 teams, 20k folders
// nested up to 6 deep, 200k documents, 100k instance role assignments.
var ReBACFull = ReBACShape{Tenants: 10, Users: 5_000, Teams: 200, Folders: 20_000, Documents: 200_000, Assignments: 100_000, TeamGrants: 1_000, Depth: 6}

// Scale returns s with every count multiplied by f (at least one of
// each; depth unchanged). Tests use ReBACFull.Scale(0.01).
func (s ReBACShape) Scale(f float64) ReBACShape {
	n := func(x int) int { return max(1, int(float64(x)*f)) }
	return ReBACShape{Tenants: n(s.Tenants), Users: n(s.Users), Teams: n(s.Teams), Folders: n(s.Folders), Documents: n(s.Documents),
		Assignments: n(s.Assignments), TeamGrants: n(s.TeamGrants), Depth: s.Depth}
}

// ReBACDataset is the generated data with the tree and the grants laid out
// for choosing queries.
type ReBACDataset struct {
	Shape ReBACShape
	Data  authz.Data

	folderParent []int               // folder index → parent folder index, -1 for a root
	docParent    []int               // document index → folder index
	onInstance   map[string][]string // "type:key" → users assigned a role there
	teamsOn      map[int][]int       // folder index → teams granted on it
	members      [][]string          // team index → member users
}

// Query is a fine-grained check with its expected answer.
type FineQuery struct {
	Request authz.Request
	Want    bool
}

// The ReBAC schema: team members; folder and document viewer and editor
// (editor extends viewer), folder roles derived from the parent folder's,
// document roles from the parent folder's.
func rebacSchema() ([]authz.Resource, []authz.ResourceRole, []authz.Relation) {
	resources := []authz.Resource{
		{Key: "team", Actions: []string{"read"}},
		{Key: "folder", Actions: []string{"read", "write", "share"}},
		{Key: "document", Actions: []string{"read", "write", "comment"}},
	}
	byParent := func(role string) []authz.Derivation {
		return []authz.Derivation{{Role: role, OnResource: "folder", LinkedByRelation: "parent"}}
	}
	roles := []authz.ResourceRole{
		{Resource: "team", Key: "member", Permissions: []string{"read"}},
		{Resource: "folder", Key: "viewer", Permissions: []string{"read"}, GrantedTo: byParent("viewer")},
		{Resource: "folder", Key: "editor", Permissions: []string{"write", "share"}, Extends: []string{"viewer"}, GrantedTo: byParent("editor")},
		{Resource: "document", Key: "viewer", Permissions: []string{"read", "comment"}, GrantedTo: byParent("viewer")},
		{Resource: "document", Key: "editor", Permissions: []string{"write"}, Extends: []string{"viewer"}, GrantedTo: byParent("editor")},
	}
	relations := []authz.Relation{
		{Resource: "folder", Key: "parent", Subject: "folder"},
		{Resource: "document", Key: "parent", Subject: "folder"},
	}
	return resources, roles, relations
}

// GenerateReBAC builds the ReBAC data set of shape s from seed. Folders are
// made in order, each child of an earlier folder of depth below s.Depth
// (or a root), in its parent's tenant; a document is in one folder; team
// members, team grants and direct assignments (30% on folders, 70% on
// documents) stay in one tenant.
func GenerateReBAC(seed uint64, s ReBACShape) *ReBACDataset {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	ds := &ReBACDataset{Shape: s, onInstance: map[string][]string{}, teamsOn: map[int][]int{}}
	d := &ds.Data
	d.Resources, d.ResourceRoles, d.Relations = rebacSchema()
	for i := 0; i < s.Tenants; i++ {
		d.Tenants = append(d.Tenants, authz.Tenant{Key: fmt.Sprintf("org%d", i)})
	}
	for i := 0; i < s.Users; i++ {
		d.Users = append(d.Users, authz.User{Key: fmt.Sprintf("user%d", i)})
	}
	tenantOf := func(i int) string { return d.Tenants[i%s.Tenants].Key }
	var teamTenant []int
	for i := 0; i < s.Teams; i++ {
		teamTenant = append(teamTenant, i%s.Tenants)
		d.Instances = append(d.Instances, authz.Instance{Resource: "team", Key: fmt.Sprintf("t%d", i), Tenant: tenantOf(i)})
	}
	depth := make([]int, s.Folders)
	folderTenant := make([]int, s.Folders)
	roots := max(1, s.Folders/100)
	for i := 0; i < s.Folders; i++ {
		p := -1
		folderTenant[i] = i % s.Tenants
		if i >= roots {
			p = rng.IntN(i)
			for depth[p] >= s.Depth {
				p = ds.folderParent[p]
			}
			depth[i] = depth[p] + 1
			folderTenant[i] = folderTenant[p]
		} else {
			depth[i] = 1
		}
		ds.folderParent = append(ds.folderParent, p)
		d.Instances = append(d.Instances, authz.Instance{Resource: "folder", Key: fmt.Sprintf("f%d", i), Tenant: tenantOf(folderTenant[i])})
		if p >= 0 {
			d.Tuples = append(d.Tuples, authz.Tuple{Subject: fmt.Sprintf("folder:f%d", p), Relation: "parent", Object: fmt.Sprintf("folder:f%d", i)})
		}
	}
	for i := 0; i < s.Documents; i++ {
		f := rng.IntN(s.Folders)
		ds.docParent = append(ds.docParent, f)
		d.Instances = append(d.Instances, authz.Instance{Resource: "document", Key: fmt.Sprintf("d%d", i), Tenant: tenantOf(folderTenant[f])})
		d.Tuples = append(d.Tuples, authz.Tuple{Subject: fmt.Sprintf("folder:f%d", f), Relation: "parent", Object: fmt.Sprintf("document:d%d", i)})
	}
	// Folders by tenant, to keep grants within one.
	foldersIn := make([][]int, s.Tenants)
	for i, t := range folderTenant {
		foldersIn[t] = append(foldersIn[t], i)
	}
	seenT := map[authz.Tuple]bool{}
	for i := 0; i < s.TeamGrants; i++ {
		team := rng.IntN(s.Teams)
		fs := foldersIn[teamTenant[team]]
		if len(fs) == 0 {
			continue
		}
		f := fs[rng.IntN(len(fs))]
		role := "viewer"
		if rng.IntN(3) == 0 {
			role = "editor"
		}
		t := authz.Tuple{Subject: fmt.Sprintf("team:t%d#member", team), Relation: role, Object: fmt.Sprintf("folder:f%d", f)}
		if !seenT[t] {
			seenT[t] = true
			d.Tuples = append(d.Tuples, t)
			ds.teamsOn[f] = append(ds.teamsOn[f], team)
		}
	}
	ds.members = make([][]string, s.Teams)
	seenA := map[authz.Assignment]bool{}
	assign := func(a authz.Assignment) {
		if !seenA[a] {
			seenA[a] = true
			d.Assignments = append(d.Assignments, a)
			ds.onInstance[a.ResourceInstance] = append(ds.onInstance[a.ResourceInstance], a.User)
		}
	}
	// Memberships: each user in about two teams (a tenth of the assignments).
	for i := 0; i < s.Assignments/10; i++ {
		u, team := d.Users[rng.IntN(s.Users)].Key, rng.IntN(s.Teams)
		a := authz.Assignment{User: u, Role: "member", Tenant: tenantOf(teamTenant[team]), ResourceInstance: fmt.Sprintf("team:t%d", team)}
		if !seenA[a] {
			ds.members[team] = append(ds.members[team], u)
		}
		assign(a)
	}
	for len(d.Assignments) < s.Assignments {
		u := d.Users[rng.IntN(s.Users)].Key
		role := "viewer"
		if rng.IntN(4) == 0 {
			role = "editor"
		}
		if rng.IntN(10) < 3 {
			f := rng.IntN(s.Folders)
			assign(authz.Assignment{User: u, Role: role, Tenant: tenantOf(folderTenant[f]), ResourceInstance: fmt.Sprintf("folder:f%d", f)})
		} else {
			doc := rng.IntN(s.Documents)
			assign(authz.Assignment{User: u, Role: role, Tenant: tenantOf(folderTenant[ds.docParent[doc]]), ResourceInstance: fmt.Sprintf("document:d%d", doc)})
		}
	}
	return ds
}

// candidates lists users with a grant on the folder f or an ancestor.
func (ds *ReBACDataset) candidates(f int) []string {
	var out []string
	for ; f >= 0; f = ds.folderParent[f] {
		out = append(out, ds.onInstance[fmt.Sprintf("folder:f%d", f)]...)
		for _, team := range ds.teamsOn[f] {
			out = append(out, ds.members[team]...)
		}
	}
	return out
}

// Queries returns n checks on documents and folders with their expected
// answers: half by a user with some grant on the instance or above it (so
// many are allowed), half by a random user; a few name the wrong tenant.
// The answers come from the naive Model (no cheaper expectation is needed),
// computed user by user so that its memory stays that of one user's facts:
// at ReBACFull, 2000 queries (about 1500 distinct users) take about 10 s on
// one core, 1 s of it generating the data.
func (ds *ReBACDataset) Queries(n int, seed uint64) []FineQuery {
	rng := rand.New(rand.NewPCG(seed, seed+11))
	s := ds.Shape
	out := make([]FineQuery, n)
	for i := range out {
		var r authz.Request
		var f int
		if rng.IntN(3) == 0 {
			f = rng.IntN(s.Folders)
			r = authz.Request{Resource: "folder", Key: fmt.Sprintf("f%d", f), Action: []string{"read", "write", "share"}[rng.IntN(3)]}
			r.User = pickOr(rng, ds.onInstance["folder:"+r.Key], "")
		} else {
			doc := rng.IntN(s.Documents)
			f = ds.docParent[doc]
			r = authz.Request{Resource: "document", Key: fmt.Sprintf("d%d", doc), Action: []string{"read", "write", "comment"}[rng.IntN(3)]}
			r.User = pickOr(rng, ds.onInstance["document:"+r.Key], "")
		}
		if c := ds.candidates(f); len(c) > 0 && (r.User == "" || rng.IntN(2) == 0) {
			r.User = c[rng.IntN(len(c))]
		}
		if r.User == "" || rng.IntN(2) == 0 {
			r.User = ds.Data.Users[rng.IntN(s.Users)].Key
		}
		if rng.IntN(20) == 0 {
			r.Tenant = ds.Data.Tenants[rng.IntN(s.Tenants)].Key
		}
		out[i].Request = r
	}
	answer(NewModel(ds.Data), out)
	return out
}

func pickOr(rng *rand.Rand, list []string, def string) string {
	if len(list) == 0 {
		return def
	}
	return list[rng.IntN(len(list))]
}

// answer fills in Want from m, user by user, forgetting each user's facts
// once its queries are answered.
func answer(m *Model, qs []FineQuery) {
	order := make([]int, len(qs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return qs[order[a]].Request.User < qs[order[b]].Request.User })
	for i, at := range order {
		qs[at].Want = m.Allowed(qs[at].Request)
		if i+1 == len(order) || qs[order[i+1]].Request.User != qs[at].Request.User {
			m.forget(qs[at].Request.User)
		}
	}
}

// ABACDataset is the attribute-rules benchmark data set: users and
// instances with 10 attributes each, 20 condition sets (10 user sets, 10
// resource sets over three types) and 50 set rules.
type ABACDataset struct {
	Data authz.Data
	g    *fineGen
}

var (
	abacUserAttrs     = []string{"dept", "level", "limit", "tags", "active", "joined", "region", "clearance", "title", "projects"}
	abacResourceAttrs = []string{"classification", "amount", "labels", "created", "owner", "dept", "region", "status", "priority", "project"}
	abacTypes         = []authz.Resource{
		{Key: "invoice", Actions: []string{"read", "approve", "pay"}},
		{Key: "report", Actions: []string{"read", "export"}},
		{Key: "record", Actions: []string{"read", "edit", "delete"}},
	}
)

// GenerateABAC builds the ABAC data set with users and instances (per
// type) counts from seed; the full benchmark uses 5000 and 20000.
func GenerateABAC(seed uint64, users, instancesPerType int) *ABACDataset {
	g := &fineGen{rng: rand.New(rand.NewPCG(seed, seed^0xabac)), s: FineShape{Users: users}, inst: map[string][]authz.Instance{}}
	ds := &ABACDataset{g: g}
	g.d = &ds.Data
	d := g.d
	g.tens = []string{authz.DefaultTenant, "eu", "us"}
	for _, t := range g.tens {
		d.Tenants = append(d.Tenants, authz.Tenant{Key: t, Attributes: g.tenantAttrs()})
	}
	d.Resources = append(d.Resources, abacTypes...)
	for i := 0; i < users; i++ {
		u := authz.User{Key: fmt.Sprintf("u%d", i), Attributes: map[string]any{}}
		g.users = append(g.users, u.Key)
		for _, a := range abacUserAttrs {
			if g.chance(0.85) {
				u.Attributes[a] = g.userAttr(a)
			}
		}
		d.Users = append(d.Users, u)
	}
	for _, t := range abacTypes {
		for i := 0; i < instancesPerType; i++ {
			in := authz.Instance{Resource: t.Key, Key: fmt.Sprintf("%s%d", t.Key, i), Tenant: g.pick(g.tens), Attributes: map[string]any{}}
			for _, a := range abacResourceAttrs {
				if g.chance(0.85) {
					in.Attributes[a] = g.resourceAttr(a)
				}
			}
			d.Instances = append(d.Instances, in)
			g.inst[t.Key] = append(g.inst[t.Key], in)
		}
	}
	var us, rs []authz.ConditionSet
	userPaths := []string{"context.zone", "context.risk", "tenant.tier"}
	for _, a := range abacUserAttrs {
		userPaths = append(userPaths, "user."+a)
	}
	resPaths := []string{"context.now", "tenant.seats", "resource.key"}
	for _, a := range abacResourceAttrs {
		resPaths = append(resPaths, "resource."+a)
	}
	for i := 0; i < 10; i++ {
		raw, _ := json.Marshal(g.condition(userPaths, 2))
		us = append(us, authz.ConditionSet{Key: fmt.Sprintf("users%d", i), Type: authz.UserSet, Conditions: raw})
		raw, _ = json.Marshal(g.condition(resPaths, 2))
		rs = append(rs, authz.ConditionSet{Key: fmt.Sprintf("things%d", i), Type: authz.ResourceSet, Resource: abacTypes[i%3].Key, Conditions: raw})
	}
	d.ConditionSets = append(us, rs...)
	seen := map[authz.SetRule]bool{}
	for len(d.SetRules) < 50 {
		r := rs[g.rng.IntN(len(rs))]
		sr := authz.SetRule{UserSet: us[g.rng.IntN(len(us))].Key, Action: g.pick(abacTypes[indexOfType(r.Resource)].Actions), ResourceSet: r.Key}
		if !seen[sr] {
			seen[sr] = true
			d.SetRules = append(d.SetRules, sr)
		}
	}
	return ds
}

func indexOfType(k string) int {
	for i, t := range abacTypes {
		if t.Key == k {
			return i
		}
	}
	return 0
}

// Queries returns n checks with their expected answers (from the Model):
// on stored instances, on unknown keys with inline resource attributes, on
// types; a third with inline user attributes, half with a context.
func (ds *ABACDataset) Queries(n int, seed uint64) []FineQuery {
	g := ds.g
	g.rng = rand.New(rand.NewPCG(seed, seed+5))
	out := make([]FineQuery, n)
	for i := range out {
		t := abacTypes[g.rng.IntN(len(abacTypes))]
		r := authz.Request{User: g.pick(g.users), Resource: t.Key, Action: g.pick(t.Actions)}
		switch g.rng.IntN(4) {
		case 0, 1:
			in := g.inst[t.Key][g.rng.IntN(len(g.inst[t.Key]))]
			r.Key = in.Key
		case 2:
			r.Key = "new"
			r.Tenant = g.pick(g.tens)
			r.ResourceAttributes = map[string]any{}
			for _, a := range abacResourceAttrs {
				if g.chance(0.7) {
					r.ResourceAttributes[a] = g.resourceAttr(a)
				}
			}
		default:
			r.Tenant = g.pick(g.tens)
		}
		if g.chance(0.3) {
			r.UserAttributes = map[string]any{}
			for _, a := range abacUserAttrs[:5] {
				if g.chance(0.5) {
					r.UserAttributes[a] = g.userAttr(a)
				}
			}
		}
		if g.chance(0.5) {
			r.Context = g.context()
		}
		out[i].Request = r
	}
	answer(NewModel(ds.Data), out)
	return out
}
