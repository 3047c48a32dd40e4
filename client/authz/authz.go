// Package authz is Gatehouse's decision engine: users, tenants, resource
// types with their actions, roles (sets of "resource:action" permissions
// that may extend other roles) and tenant-scoped role assignments, held in
// memory and answering "may user U do action A on a resource of type R in
// tenant T?" without I/O and without allocating.
//
// It imports only the standard library, so an application can embed it and
// answer checks in-process from a snapshot it synced from Gatehouse.
package authz

import (
	"cmp"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// DefaultTenant is the tenant used when a check names none.
const DefaultTenant = "default"

// User is a subject of checks.
type User struct {
	Key        string         `json:"key"`
	Email      string         `json:"email,omitempty"`
	FirstName  string         `json:"first_name,omitempty"`
	LastName   string         `json:"last_name,omitempty"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

// Tenant is an isolated part of the application's data (a customer, a team).
type Tenant struct {
	Key        string         `json:"key"`
	Name       string         `json:"name,omitempty"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

// Resource is a resource type and the actions that can be done on it.
type Resource struct {
	Key     string   `json:"key"`
	Name    string   `json:"name,omitempty"`
	Actions []string `json:"actions"`
}

// Role is a named set of permissions ("document:read"); it also holds every
// permission of the roles it extends.
type Role struct {
	Key         string   `json:"key"`
	Name        string   `json:"name,omitempty"`
	Permissions []string `json:"permissions"`
	Extends     []string `json:"extends,omitempty"`
}

// Assignment gives a user a role in a tenant, or, with ResourceInstance
// ("document:d1"), a role of that instance's resource type on that instance
// (Tenant is then the instance's).
type Assignment struct {
	User             string `json:"user"`
	Role             string `json:"role"`
	Tenant           string `json:"tenant"`
	ResourceInstance string `json:"resource_instance,omitempty"`
}

// Data is everything an engine holds; it is what a snapshot serializes.
type Data struct {
	Users       []User       `json:"users"`
	Tenants     []Tenant     `json:"tenants"`
	Resources   []Resource   `json:"resources"`
	Roles       []Role       `json:"roles"`
	Assignments []Assignment `json:"assignments"`

	ResourceRoles []ResourceRole `json:"resource_roles,omitempty"`
	Relations     []Relation     `json:"relations,omitempty"`
	Instances     []Instance     `json:"instances,omitempty"`
	Tuples        []Tuple        `json:"tuples,omitempty"`
	ConditionSets []ConditionSet `json:"condition_sets,omitempty"`
	SetRules      []SetRule      `json:"set_rules,omitempty"`
}

// Reason says why a check was decided the way it was.
type Reason uint8

// Reasons.
const (
	Granted         Reason = iota // a role the user holds in the tenant grants the permission
	NotGranted                    // the user holds roles in the tenant, none grants it
	NoRoleInTenant                // the user holds no role in the tenant
	UnknownUser                   // no such user
	UnknownTenant                 // no such tenant
	UnknownResource               // no such resource type
	UnknownAction                 // the resource type has no such action
	WrongTenant                   // the instance checked belongs to another tenant than the one the check names
)

var reasonText = [...]string{
	Granted:         "granted",
	NotGranted:      "not_granted",
	NoRoleInTenant:  "no_role_in_tenant",
	UnknownUser:     "unknown_user",
	UnknownTenant:   "unknown_tenant",
	UnknownResource: "unknown_resource",
	UnknownAction:   "unknown_action",
	WrongTenant:     "instance_in_other_tenant",
}

func (r Reason) String() string {
	if int(r) < len(reasonText) {
		return reasonText[r]
	}
	return fmt.Sprintf("reason(%d)", r)
}

// Decision is the answer to a check.
type Decision struct {
	Allow  bool
	Reason Reason
	// Via is the kind of rule that granted the check.
	Via Via
	// Role is the role that granted the permission, when allowed: a tenant
	// role, a role on the instance, or (Via ViaSetRule) the user set.
	Role string
	// Set is the resource set of the set rule that granted the check.
	Set string
	// Tenant is the tenant the check was decided in: the one it named (the
	// default tenant when it named none), or its instance's.
	Tenant string
}

// Explain renders the decision for people.
func (d Decision) Explain(user, action, resource, tenant string) string {
	return string(d.AppendExplain(nil, user, action, resource, tenant))
}

// AppendExplain appends Explain's sentence to b (without allocating when b
// has room).
func (d Decision) AppendExplain(b []byte, user, action, resource, tenant string) []byte {
	q := strconv.AppendQuote
	switch d.Reason {
	case Granted:
		switch d.Via {
		case ViaInstanceRole:
			b = q(append(b, "user "...), user)
			b = q(append(b, " holds role "...), d.Role)
			return append(append(append(append(b, " on "...), resource...), ", which grants "...), action...)
		case ViaSetRule:
			b = q(append(b, "user "...), user)
			b = q(append(b, " is in user set "...), d.Role)
			b = append(append(b, " and "...), resource...)
			b = q(append(b, " is in resource set "...), d.Set)
			return append(append(append(b, ", and a set rule lets that user set "...), action...), " that resource set"...)
		}
		b = q(append(b, "user "...), user)
		b = q(append(b, " has role "...), d.Role)
		b = q(append(b, " in tenant "...), tenant)
		return append(append(append(append(b, ", which grants "...), resource...), ':'), action...)
	case NotGranted:
		b = q(append(b, "no role of user "...), user)
		b = q(append(b, " in tenant "...), tenant)
		return append(append(append(append(b, " grants "...), resource...), ':'), action...)
	case NoRoleInTenant:
		b = q(append(b, "user "...), user)
		return q(append(b, " has no role in tenant "...), tenant)
	case UnknownUser:
		return append(q(append(b, "user "...), user), " does not exist"...)
	case UnknownTenant:
		return append(q(append(b, "tenant "...), tenant), " does not exist"...)
	case UnknownResource:
		return append(q(append(b, "resource type "...), resource), " does not exist"...)
	case UnknownAction:
		b = q(append(b, "resource type "...), resource)
		return q(append(b, " has no action "...), action)
	case WrongTenant:
		return q(append(append(b, resource...), " belongs to another tenant than "...), tenant)
	}
	return append(b, d.Reason.String()...)
}

type role struct {
	def   Role
	index int      // bit of this role in a role set
	perms []uint64 // effective permissions (with extended roles), one bit per permission
	// ranked is perms with bits numbered in the order of the permission
	// names (Engine.permByRank), for Permissions
	ranked []uint64
}

// roleSets is a user's role sets, one per tenant it holds roles in, kept
// once and laid out for the check path in one allocation (one or two cache
// lines for most users): s[:k] hold the tenant indexes, sorted, two to a
// word (low half first; an odd count is padded with noTenant), and s[k:]
// the first word of each role set (roles 0-63), in the same order (k =
// (n+1)/2 for n tenants). Role words beyond the first (more than 64 roles)
// are in userRec.hi. A set is never empty: a tenant whose last role goes
// is removed.
//
// The engine's writes change a role word in place and lay the slice out
// anew when a tenant comes or goes; the check path reads the same slice
// through Engine.holds, under the read lock.
type roleSets []uint64

// noTenant pads the last tenant word of a roleSets; no tenant has that
// index.
const noTenant = ^uint32(0)

// makeRoleSets lays out n role sets: tenant(i) and lo(i) give the i-th
// tenant index (sorted) and its first role word.
func makeRoleSets(n int, tenant func(int) uint32, lo func(int) uint64) roleSets {
	if n == 0 {
		return nil
	}
	k := (n + 1) / 2
	s := make(roleSets, k+n)
	if n%2 == 1 {
		s[k-1] = uint64(noTenant) << 32
	}
	for i := range n {
		s[i>>1] |= uint64(tenant(i)) << (32 * (i & 1))
		s[k+i] = lo(i)
	}
	return s
}

// n is the number of tenants: len(s) is n + (n+1)/2.
func (s roleSets) n() int { return 2 * len(s) / 3 }

// tenantAt is the index of the i-th tenant.
func (s roleSets) tenantAt(i int) uint32 { return uint32(s[i>>1] >> (32 * (i & 1))) }

// lo is the first word of the role set at position at.
func (s roleSets) lo(at int) uint64 { return s[len(s)-s.n()+at] }

// find returns the position of tenant t, or -1.
func (s roleSets) find(t uint32) int {
	n := 2 * len(s) / 3
	k := len(s) - n
	if n <= 16 {
		for j, v := range s[:k] {
			if uint32(v) == t {
				return 2 * j
			}
			if uint32(v>>32) == t {
				return 2*j + 1
			}
		}
		return -1
	}
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.tenantAt(m) < t {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < n && s.tenantAt(lo) == t {
		return lo
	}
	return -1
}

// insert returns s with an empty role set for tenant t (not in s) at its
// place in the order, and that place.
func (s roleSets) insert(t uint32) (roleSets, int) {
	n := s.n()
	at := sort.Search(n, func(i int) bool { return s.tenantAt(i) > t })
	return makeRoleSets(n+1, func(i int) uint32 {
		switch {
		case i < at:
			return s.tenantAt(i)
		case i == at:
			return t
		}
		return s.tenantAt(i - 1)
	}, func(i int) uint64 {
		switch {
		case i < at:
			return s.lo(i)
		case i == at:
			return 0
		}
		return s.lo(i - 1)
	}), at
}

// remove returns s without the role set at position at.
func (s roleSets) remove(at int) roleSets {
	skip := func(i int) int {
		if i >= at {
			return i + 1
		}
		return i
	}
	return makeRoleSets(s.n()-1, func(i int) uint32 { return s.tenantAt(skip(i)) }, func(i int) uint64 { return s.lo(skip(i)) })
}

type userRec struct {
	u    User
	sets roleSets // roles in tenants; Engine.holds shares it
	// hi holds, by tenant index, the role words beyond the first of the
	// tenants where a role beyond the first 64 is held; nil when there
	// are none (almost always)
	hi   map[uint32][]uint64
	inst []instHeld // roles on instances, sorted by instance
}

// his is the role words beyond the first of the role set at position at.
func (r *userRec) his(at int) []uint64 {
	if r.hi == nil {
		return nil
	}
	return r.hi[r.sets.tenantAt(at)]
}

// count is the number of roles in the role set at position at.
func (r *userRec) count(at int) int {
	n := bits.OnesCount64(r.sets.lo(at))
	for _, w := range r.his(at) {
		n += bits.OnesCount64(w)
	}
	return n
}

// words calls f with each word of the role set at position at: the first,
// then those in hi.
func (r *userRec) words(at int) func(func(int, uint64) bool) {
	return func(yield func(int, uint64) bool) {
		if !yield(0, r.sets.lo(at)) {
			return
		}
		for i, w := range r.his(at) {
			if !yield(i+1, w) {
				return
			}
		}
	}
}

// setRole sets or clears role index in tenant t and reports whether that
// changed anything. A tenant is added for its first role and removed with
// its last (the caller then calls Engine.sync).
func (r *userRec) setRole(t uint32, index int, on bool) bool {
	at := r.sets.find(t)
	if at < 0 {
		if !on {
			return false
		}
		r.sets, at = r.sets.insert(t)
	}
	var word *uint64
	if index < 64 {
		word = &r.sets[len(r.sets)-r.sets.n()+at]
	} else {
		w := index/64 - 1
		hi := r.his(at)
		if len(hi) <= w {
			if !on {
				return false
			}
			hi = append(hi, make([]uint64, w+1-len(hi))...)
			if r.hi == nil {
				r.hi = map[uint32][]uint64{}
			}
			r.hi[t] = hi
		}
		word = &hi[w]
	}
	mask := uint64(1) << (index % 64)
	if (*word&mask != 0) == on {
		return false
	}
	*word ^= mask
	if !on && r.sets.lo(at) == 0 && allZero(r.his(at)) {
		r.dropTenant(at)
	}
	return true
}

// dropTenant removes the role set at position at.
func (r *userRec) dropTenant(at int) {
	if r.hi != nil {
		delete(r.hi, r.sets.tenantAt(at))
		if len(r.hi) == 0 {
			r.hi = nil
		}
	}
	r.sets = r.sets.remove(at)
}

// holdIndex is what the check path finds by user key: the user's role
// sets (the userRec's own slice) and the user.
type holdIndex struct {
	w  roleSets
	ur *userRec
}

type tenantRec struct {
	t   Tenant
	idx uint32
}

type resourceRec struct {
	r       Resource
	actions map[string]int // action → permission bit
	f       fine           // instances, roles, relations (fine.go)
}

// Engine holds one environment's authorization data. It is safe for
// concurrent use: checks share a read lock, changes take the write lock.
//
// Each user keeps, per tenant it has roles in, the set of those roles as a
// bitmask; each permission keeps the mask of the roles that grant it (with
// role inheritance folded in). A check is three map lookups, a binary search
// in the user's few tenants and an AND.
type Engine struct {
	mu         sync.RWMutex
	users      map[string]*userRec
	holds      map[string]holdIndex // user key → its role sets, laid out for the check path
	loading    bool                 // Load defers building holds to its end
	tenants    map[string]*tenantRec
	tenantIdx  map[string]uint32 // tenant key → tenants[key].idx, for the check path
	tenantAt   []string          // tenant index → key; "" once deleted
	resources  map[string]*resourceRec
	permName   []string // permission bit → "resource:action"
	permByRank []string // permName sorted
	roles      map[string]*role
	roleAt     []*role // by index; nil where a role was deleted
	permRoles  [][]uint64
	permLo     []uint64 // permission bit → permRoles[bit][0], flat for the check path
	roleKey    []string // role index → key ("" where deleted), for the check path
	roleWords  int      // words of a role set: len(permRoles[bit])
	nAssign    int

	// fine-grained (fine.go)
	roleImpliers [][]uint64 // tenant role index → the tenant roles implying it (itself and those extending it)
	inst         []instRec  // by instance index
	freeInst     []uint32
	nInst        int
	nTuples      int
	condSets     map[string]*condSet
	setRules     []*setRule
	rulesByPerm  [][]*setRule // permission bit → set rules
}

// New returns an empty engine.
func New() *Engine {
	e := &Engine{}
	e.users, e.tenants, e.resources, e.roles = map[string]*userRec{}, map[string]*tenantRec{}, map[string]*resourceRec{}, map[string]*role{}
	e.tenantIdx = map[string]uint32{}
	e.holds = map[string]holdIndex{}
	e.condSets = map[string]*condSet{}
	return e
}

// Check decides whether user may do action on a resource of type resource
// in tenant ("" means DefaultTenant). It does not allocate.
func (e *Engine) Check(user, action, resource, tenant string) Decision {
	if tenant == "" {
		tenant = DefaultTenant
	}
	e.mu.RLock()
	bit := -1
	rr := e.resources[resource]
	if rr != nil {
		if b, ok := rr.actions[action]; ok {
			bit = b
		}
	}
	x, userHolds := e.holds[user]
	ti, tenantOK := e.tenantIdx[tenant]
	at := -1
	if userHolds && tenantOK {
		at = x.w.find(ti)
	}
	if at >= 0 && bit >= 0 {
		if m := x.w.lo(at) & e.permLo[bit]; m != 0 {
			d := Decision{Allow: true, Reason: Granted, Via: ViaTenantRole, Role: e.roleKey[bits.TrailingZeros64(m)], Tenant: tenant}
			e.mu.RUnlock()
			return d
		}
		if e.roleWords > 1 { // more than 64 role slots: the other words
			if role, ok := e.tenantGrantHi(&x, at, bit); ok {
				d := Decision{Allow: true, Reason: Granted, Via: ViaTenantRole, Role: role, Tenant: tenant}
				e.mu.RUnlock()
				return d
			}
		}
	}
	if bit >= 0 && len(e.rulesByPerm[bit]) > 0 {
		// attribute rules: the whole decision (no allocation either)
		r := Request{User: user, Action: action, Resource: resource, Tenant: tenant}
		d := e.decide(&r)
		e.mu.RUnlock()
		return d
	}
	d := Decision{Tenant: tenant}
	switch {
	case rr == nil:
		d.Reason = UnknownResource
	case bit < 0:
		d.Reason = UnknownAction
	case !userHolds && e.users[user] == nil:
		d.Reason = UnknownUser
	case !tenantOK:
		d.Reason = UnknownTenant
	case at >= 0:
		d.Reason = NotGranted
	default:
		d.Reason = NoRoleInTenant
	}
	e.mu.RUnlock()
	return d
}

// Errors of changes that do not fit the model.
var (
	ErrNotFound = errors.New("not found")
	ErrInvalid  = errors.New("invalid")
)

// Load replaces everything the engine holds with d.
func (e *Engine) Load(d Data) error {
	n := New()
	n.loading = true
	keys := internKeys(d.Users)
	for i, u := range d.Users {
		u.Key = keys[i]
		n.putUser(u)
	}
	for _, t := range d.Tenants {
		n.putTenant(t)
	}
	for _, r := range d.Resources {
		n.resources[r.Key] = &resourceRec{r: cloneResource(r), f: newFine()}
	}
	for _, r := range d.Roles {
		n.addRole(r)
	}
	if err := n.recompute(); err != nil {
		return err
	}
	for _, r := range d.Relations {
		if err := n.putRelation(r); err != nil {
			return err
		}
	}
	// roles of resource types may derive from each other in any order:
	// declare them all, then validate once
	for _, r := range d.ResourceRoles {
		rr := n.resources[r.Resource]
		if rr == nil {
			return fmt.Errorf("%w: resource type %q (of role %q)", ErrNotFound, r.Resource, r.Key)
		}
		if rr.f.roles[r.Key] != nil {
			continue
		}
		bit := len(rr.f.roles)
		if bit >= MaxResourceRoles {
			return fmt.Errorf("%w: resource type %q has more than %d roles", ErrInvalid, r.Resource, MaxResourceRoles)
		}
		nr := &resRole{def: cloneResourceRole(r), bit: uint8(bit)}
		rr.f.roles[r.Key], rr.f.roleAt[bit] = nr, nr
	}
	if err := n.recompute(); err != nil {
		return err
	}
	n.inst = make([]instRec, 0, len(d.Instances))
	perType := map[string]int{}
	for _, in := range d.Instances {
		perType[in.Resource]++
	}
	for k, c := range perType {
		if rr := n.resources[k]; rr != nil {
			rr.f.instances = make(map[string]uint32, c)
		}
	}
	for _, in := range d.Instances {
		if err := n.putInstance(in); err != nil {
			return err
		}
	}
	for _, c := range d.ConditionSets {
		if err := n.putConditionSet(c); err != nil {
			return err
		}
	}
	for _, r := range d.SetRules {
		if err := n.putSetRule(r); err != nil {
			return err
		}
	}
	if err := n.loadAssignments(d.Assignments); err != nil {
		return err
	}
	for _, t := range d.Tuples {
		if err := n.putTuple(t, false); err != nil {
			return err
		}
	}
	if err := n.checkGraph(); err != nil {
		return err
	}
	for _, rr := range n.resources {
		rr.f.order = sortedInstances(rr.f.instances)
	}
	n.loading = false
	holders := 0
	for _, ur := range n.users {
		if len(ur.sets) > 0 {
			holders++
		}
	}
	n.holds = make(map[string]holdIndex, holders)
	for _, ur := range n.users {
		n.sync(ur)
	}
	e.mu.Lock()
	e.users, e.holds, e.tenants, e.tenantIdx, e.tenantAt, e.resources, e.permName, e.permByRank = n.users, n.holds, n.tenants, n.tenantIdx, n.tenantAt, n.resources, n.permName, n.permByRank
	e.roles, e.roleAt, e.permRoles, e.nAssign = n.roles, n.roleAt, n.permRoles, n.nAssign
	e.permLo, e.roleKey, e.roleWords = n.permLo, n.roleKey, n.roleWords
	e.roleImpliers, e.inst, e.freeInst, e.nInst, e.nTuples = n.roleImpliers, n.inst, n.freeInst, n.nInst, n.nTuples
	e.condSets, e.setRules, e.rulesByPerm = n.condSets, n.setRules, n.rulesByPerm
	e.mu.Unlock()
	return nil
}

// loadAssignments makes the assignments of a Load (write lock held or
// the engine not yet shared). Roles on instances are assigned one by one;
// tenant roles are gathered by user and each user's role sets laid out
// once, at their final size (assigning them one by one would lay a user's
// sets out anew for each new tenant). The first assignment that names
// what does not exist fails the load, as Assign would.
func (e *Engine) loadAssignments(as []Assignment) error {
	type pending struct{ user, tenant, role uint32 }
	var (
		byUser = make(map[*userRec]uint32, len(e.users))
		users  []*userRec
		count  []int32
		ps     = make([]pending, 0, len(as))
	)
	for _, a := range as {
		if a.ResourceInstance != "" {
			if err := e.assignLocked(a); err != nil {
				return err
			}
			continue
		}
		ur, tr, r, err := e.tenantAssignment(a)
		if err != nil {
			return err
		}
		u, ok := byUser[ur]
		if !ok {
			u = uint32(len(users))
			byUser[ur] = u
			users, count = append(users, ur), append(count, 0)
		}
		count[u]++
		ps = append(ps, pending{u, tr.idx, uint32(r.index)})
	}
	// group by user (a counting sort), then each user's by tenant and role
	type tr struct{ tenant, role uint32 }
	start := make([]int, len(users)+1)
	for u, c := range count {
		start[u+1] = start[u] + int(c)
	}
	grouped := make([]tr, len(ps))
	next := slices.Clone(start[:len(users)])
	for _, p := range ps {
		grouped[next[p.user]] = tr{p.tenant, p.role}
		next[p.user]++
	}
	ps = nil
	var ts []uint32 // one user's tenants and first role words, reused
	var los []uint64
	for u, ur := range users {
		g := grouped[start[u]:start[u+1]]
		slices.SortFunc(g, func(a, b tr) int {
			if a.tenant != b.tenant {
				return cmp.Compare(a.tenant, b.tenant)
			}
			return cmp.Compare(a.role, b.role)
		})
		g = slices.Compact(g) // an assignment made twice is one
		e.nAssign += len(g)
		tenants := 0
		for i := range g {
			if i == 0 || g[i].tenant != g[i-1].tenant {
				tenants++
			}
		}
		ts, los = ts[:0], los[:0]
		for i := range g {
			if i == 0 || g[i].tenant != g[i-1].tenant {
				ts, los = append(ts, g[i].tenant), append(los, 0)
			}
			if g[i].role < 64 {
				los[len(los)-1] |= 1 << g[i].role
				continue
			}
			if ur.hi == nil {
				ur.hi = map[uint32][]uint64{}
			}
			w := int(g[i].role/64) - 1
			hi := ur.hi[g[i].tenant]
			if len(hi) <= w {
				hi = append(hi, make([]uint64, w+1-len(hi))...)
			}
			hi[w] |= 1 << (g[i].role % 64)
			ur.hi[g[i].tenant] = hi
		}
		ur.sets = makeRoleSets(tenants, func(i int) uint32 { return ts[i] }, func(i int) uint64 { return los[i] })
	}
	return nil
}

// internKeys copies the users' keys into one string and returns them as
// slices of it: the check path compares the key it looks up with the
// stored one, and stored keys side by side (about 10 bytes a user) stay in
// cache where keys allocated one by one, wherever the decoder put them,
// miss it.
//
// A key handed out keeps that string alive, every user's key with it:
// Data returns copies (strings.Clone, about a tenth more allocations on
// dataset M) so that a snapshot does not pin it; the keys ListUsers
// returns are slices of it, and pin one Load's keys (about 10 bytes a
// user) while they are held.
func internKeys(users []User) []string {
	size := 0
	for i := range users {
		size += len(users[i].Key)
	}
	var b strings.Builder
	b.Grow(size)
	for i := range users {
		b.WriteString(users[i].Key)
	}
	all := b.String()
	keys := make([]string, len(users))
	at := 0
	for i := range users {
		keys[i] = all[at : at+len(users[i].Key)]
		at += len(users[i].Key)
	}
	return keys
}

// sortedInstances lists the instances of one type (key → index) in key
// order. The keys are sorted beside their indexes: comparing through the
// instance records would touch a record (a cache miss) per comparison.
func sortedInstances(instances map[string]uint32) []uint32 {
	type keyed struct {
		key string
		i   uint32
	}
	ks := make([]keyed, 0, len(instances))
	for k, i := range instances {
		ks = append(ks, keyed{k, i})
	}
	slices.SortFunc(ks, func(a, b keyed) int { return strings.Compare(a.key, b.key) })
	order := make([]uint32, len(ks))
	for j := range ks {
		order[j] = ks[j].i
	}
	return order
}

// PutUser adds or replaces a user; the user keeps its roles.
func (e *Engine) PutUser(u User) {
	e.mu.Lock()
	e.putUser(u)
	e.mu.Unlock()
}

func (e *Engine) putUser(u User) {
	u.Attributes = cloneMap(u.Attributes)
	if r := e.users[u.Key]; r != nil {
		r.u = u
		return
	}
	e.users[u.Key] = &userRec{u: u}
}

// DeleteUser removes a user and its assignments.
func (e *Engine) DeleteUser(key string) {
	e.mu.Lock()
	if r := e.users[key]; r != nil {
		for at := range r.sets.n() {
			e.nAssign -= r.count(at)
		}
		for len(r.inst) > 0 {
			e.setInstRoles(r, r.inst[0].inst, 0)
		}
		delete(e.users, key)
		delete(e.holds, key)
	}
	e.mu.Unlock()
}

// sync publishes ur's role sets to the check path (write lock held): the
// check path's entry shares the userRec's slice, and a change that lays
// the sets out anew (a tenant added or removed) must give it the new one.
// Every change of a user's role sets calls it.
func (e *Engine) sync(ur *userRec) {
	if e.loading {
		return
	}
	if len(ur.sets) == 0 {
		delete(e.holds, ur.u.Key)
		return
	}
	e.holds[ur.u.Key] = holdIndex{w: ur.sets, ur: ur}
}

// PutTenant adds or replaces a tenant.
func (e *Engine) PutTenant(t Tenant) {
	e.mu.Lock()
	e.putTenant(t)
	e.mu.Unlock()
}

func (e *Engine) putTenant(t Tenant) {
	t.Attributes = cloneMap(t.Attributes)
	if r := e.tenants[t.Key]; r != nil {
		r.t = t
		return
	}
	e.tenants[t.Key] = &tenantRec{t: t, idx: uint32(len(e.tenantAt))}
	e.tenantIdx[t.Key] = uint32(len(e.tenantAt))
	e.tenantAt = append(e.tenantAt, t.Key)
}

// DeleteTenant removes a tenant and the assignments in it.
func (e *Engine) DeleteTenant(key string) {
	e.mu.Lock()
	if tr := e.tenants[key]; tr != nil {
		for i := range e.inst {
			if e.inst[i].res != nil && e.inst[i].tenant == tr.idx {
				e.deleteInstance(uint32(i))
			}
		}
		for _, ur := range e.users {
			if at := ur.sets.find(tr.idx); at >= 0 {
				e.nAssign -= ur.count(at)
				ur.dropTenant(at)
				e.sync(ur)
			}
		}
		e.tenantAt[tr.idx] = ""
		delete(e.tenants, key)
		delete(e.tenantIdx, key)
	}
	e.mu.Unlock()
}

// PutResource adds or replaces a resource type.
func (e *Engine) PutResource(r Resource) {
	e.mu.Lock()
	if rr := e.resources[r.Key]; rr != nil {
		rr.r = cloneResource(r)
	} else {
		e.resources[r.Key] = &resourceRec{r: cloneResource(r), f: newFine()}
	}
	_ = e.recompute() // actions cannot make roles invalid
	e.mu.Unlock()
}

// DeleteResource removes a resource type with its instances, its roles,
// its relations, the relations of other types to it, and its resource
// sets; tenant roles keep their permission strings for it, which grant
// nothing until it exists again.
func (e *Engine) DeleteResource(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	rr := e.resources[key]
	if rr == nil {
		return
	}
	for _, i := range rr.f.instances {
		e.deleteInstance(i)
	}
	for _, other := range e.resources {
		for _, rel := range other.f.relations {
			if rel.def.Subject == key && other != rr {
				e.deleteRelation(other.r.Key, rel.def.Key)
			}
		}
	}
	for k := range rr.f.roles {
		e.deleteResourceRole(key, k)
	}
	for k, c := range e.condSets {
		if c.def.Type == ResourceSet && c.def.Resource == key {
			e.deleteConditionSet(k)
		}
	}
	delete(e.resources, key)
	_ = e.recompute()
}

func (e *Engine) addRole(r Role) *role {
	nr := &role{def: cloneRole(r), index: len(e.roleAt)}
	for i, x := range e.roleAt { // reuse the slot of a deleted role
		if x == nil {
			nr.index = i
			break
		}
	}
	if nr.index == len(e.roleAt) {
		e.roleAt = append(e.roleAt, nr)
	} else {
		e.roleAt[nr.index] = nr
	}
	e.roles[r.Key] = nr
	return nr
}

// PutRole adds or replaces a role. It fails, changing nothing, when the
// role's extends would form a cycle or name a role that does not exist.
func (e *Engine) PutRole(r Role) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if existing := e.roles[r.Key]; existing != nil {
		old := existing.def
		existing.def = cloneRole(r)
		if err := e.recompute(); err != nil {
			existing.def = old
			_ = e.recompute()
			return err
		}
		return nil
	}
	nr := e.addRole(r)
	if err := e.recompute(); err != nil {
		delete(e.roles, r.Key)
		e.roleAt[nr.index] = nil
		_ = e.recompute()
		return err
	}
	return nil
}

// DeleteRole removes a role, its assignments, and its place in the extends
// of other roles.
func (e *Engine) DeleteRole(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.roles[key]
	if r == nil {
		return
	}
	for _, ur := range e.users {
		changed := false
		for at := ur.sets.n() - 1; at >= 0; at-- { // from the end: a tenant left empty goes
			if ur.setRole(ur.sets.tenantAt(at), r.index, false) {
				e.nAssign--
				changed = true
			}
		}
		if changed {
			e.sync(ur)
		}
	}
	delete(e.roles, key)
	e.roleAt[r.index] = nil
	for _, other := range e.roles {
		other.def.Extends = without(other.def.Extends, key)
	}
	for _, rr := range e.resources {
		for _, x := range rr.f.roles {
			x.def.GrantedTo = withoutDerivation(x.def.GrantedTo, func(d Derivation) bool { return d.OnResource == TenantResource && d.Role == key })
		}
	}
	_ = e.recompute()
}

// Assign gives a user a role in a tenant. The user, role and tenant must
// exist; assigning twice is a no-op.
func (e *Engine) Assign(a Assignment) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.assignLocked(a)
}

func (e *Engine) assignLocked(a Assignment) error {
	if a.ResourceInstance != "" {
		ur, i, role, err := e.instanceAssignment(a)
		if err != nil {
			return err
		}
		e.setInstRoles(ur, i, ur.instMask(i)|1<<role.bit)
		return nil
	}
	ur, tr, r, err := e.tenantAssignment(a)
	if err != nil {
		return err
	}
	if ur.setRole(tr.idx, r.index, true) {
		e.nAssign++
		e.sync(ur)
	}
	return nil
}

// tenantAssignment resolves the user, tenant (DefaultTenant when none)
// and role of a's tenant role; what does not exist is ErrNotFound.
func (e *Engine) tenantAssignment(a Assignment) (*userRec, *tenantRec, *role, error) {
	if a.Tenant == "" {
		a.Tenant = DefaultTenant
	}
	ur, tr, r := e.users[a.User], e.tenants[a.Tenant], e.roles[a.Role]
	switch {
	case ur == nil:
		return nil, nil, nil, fmt.Errorf("%w: user %q", ErrNotFound, a.User)
	case tr == nil:
		return nil, nil, nil, fmt.Errorf("%w: tenant %q", ErrNotFound, a.Tenant)
	case r == nil:
		return nil, nil, nil, fmt.Errorf("%w: role %q", ErrNotFound, a.Role)
	}
	return ur, tr, r, nil
}

// Unassign removes a role assignment; it reports whether there was one.
func (e *Engine) Unassign(a Assignment) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if a.ResourceInstance != "" {
		ur, i, role, err := e.instanceAssignment(a)
		if err != nil || ur.instMask(i)&(1<<role.bit) == 0 {
			return false
		}
		e.setInstRoles(ur, i, ur.instMask(i)&^(1<<role.bit))
		return true
	}
	ur, tr, r, err := e.tenantAssignment(a)
	if err != nil {
		return false
	}
	if !ur.setRole(tr.idx, r.index, false) {
		return false
	}
	e.nAssign--
	e.sync(ur)
	return true
}

// rolesIn lists the roles of ur's role set at position at.
func (e *Engine) rolesIn(ur *userRec, at int) []*role {
	var out []*role
	for i, w := range ur.words(at) {
		for w != 0 {
			b := bits.TrailingZeros64(w)
			out = append(out, e.roleAt[64*i+b])
			w &^= 1 << b
		}
	}
	return out
}

func allZero(ws []uint64) bool {
	for _, w := range ws {
		if w != 0 {
			return false
		}
	}
	return true
}

// recompute numbers every permission and computes each role's effective
// permission bits and each permission's granting roles (write lock held).
func (e *Engine) recompute() error {
	keys := make([]string, 0, len(e.resources))
	for k := range e.resources {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	type pk struct{ res, act string }
	perms := map[pk]int{}
	var names []string
	for _, k := range keys {
		rr := e.resources[k]
		rr.actions = map[string]int{}
		for _, a := range rr.r.Actions {
			if _, dup := rr.actions[a]; !dup {
				rr.actions[a] = len(names)
				perms[pk{k, a}] = len(names)
				names = append(names, k+":"+a)
			}
		}
	}
	words := max((len(names)+63)/64, 1)
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	effective := map[string][]uint64{}
	var visit func(key string) ([]uint64, error)
	visit = func(key string) ([]uint64, error) {
		switch state[key] {
		case visiting:
			return nil, fmt.Errorf("%w: role %q extends itself through a cycle", ErrInvalid, key)
		case done:
			return effective[key], nil
		}
		r := e.roles[key]
		if r == nil {
			return nil, fmt.Errorf("%w: role %q", ErrNotFound, key)
		}
		state[key] = visiting
		b := make([]uint64, words)
		for _, p := range r.def.Permissions {
			res, act, _ := strings.Cut(p, ":")
			if bit, ok := perms[pk{res, act}]; ok {
				b[bit>>6] |= 1 << (bit & 63)
			}
		}
		for _, parent := range r.def.Extends {
			pb, err := visit(parent)
			if err != nil {
				return nil, err
			}
			for i := range b {
				b[i] |= pb[i]
			}
		}
		state[key] = done
		effective[key] = b
		return b, nil
	}
	for k := range e.roles {
		if _, err := visit(k); err != nil {
			return err
		}
	}
	roleWords := max((len(e.roleAt)+63)/64, 1)
	permRoles := make([][]uint64, len(names))
	for i := range permRoles {
		permRoles[i] = make([]uint64, roleWords)
	}
	for k, r := range e.roles {
		r.perms = effective[k]
		for bit := range names {
			if r.perms[bit>>6]&(1<<(bit&63)) != 0 {
				permRoles[bit][r.index/64] |= 1 << (r.index % 64)
			}
		}
	}
	e.permName, e.permRoles = names, permRoles
	e.permLo = make([]uint64, len(names))
	for bit := range permRoles {
		e.permLo[bit] = permRoles[bit][0]
	}
	e.roleWords = roleWords
	rank := make([]int, len(names))
	for i := range rank {
		rank[i] = i
	}
	slices.SortFunc(rank, func(a, b int) int { return strings.Compare(names[a], names[b]) })
	e.permByRank = make([]string, len(names))
	bitRank := make([]int, len(names))
	for r, bit := range rank {
		e.permByRank[r], bitRank[bit] = names[bit], r
	}
	for _, r := range e.roles {
		r.ranked = make([]uint64, len(names)/64+1)
		for bit := range names {
			if r.perms[bit>>6]&(1<<(bit&63)) != 0 {
				r.ranked[bitRank[bit]>>6] |= 1 << (bitRank[bit] & 63)
			}
		}
	}
	e.roleKey = make([]string, len(e.roleAt))
	for i, r := range e.roleAt {
		if r != nil {
			e.roleKey[i] = r.def.Key
		}
	}
	e.roleImpliers = make([][]uint64, len(e.roleAt))
	for i := range e.roleImpliers {
		e.roleImpliers[i] = make([]uint64, roleWords)
	}
	var mark func(r *role, implied int, seen map[string]bool)
	mark = func(r *role, implied int, seen map[string]bool) {
		e.roleImpliers[implied][r.index/64] |= 1 << (r.index % 64)
		// every role extending r implies what r implies
		for _, o := range e.roles {
			if !seen[o.def.Key] && hasString(o.def.Extends, r.def.Key) {
				seen[o.def.Key] = true
				mark(o, implied, seen)
			}
		}
	}
	for _, r := range e.roles {
		mark(r, r.index, map[string]bool{r.def.Key: true})
	}
	return e.recomputeFine(func(res, act string) (int, bool) {
		b, ok := perms[pk{res, act}]
		return b, ok
	})
}

// TenantPermissions are what a user may do in one tenant.
type TenantPermissions struct {
	Tenant      string   `json:"tenant"`
	Roles       []string `json:"roles"`
	Permissions []string `json:"permissions"` // "resource:action", sorted
}

// Permissions lists what user may do in each of tenants, or in every tenant
// where the user holds a role when tenants is empty. Tenants without roles
// are left out.
//
// The caller's tenants are not modified. The answer takes two
// allocations whatever its size (the answer, and one array its roles and
// permissions share; the tenant list, sorted, is on the stack up to 16
// tenants): permissions are ORed as bitsets over the sorted permission
// names (role.ranked) and read out in order, and the roles of a tenant
// are sorted (a few keys).
func (e *Engine) Permissions(user string, tenants []string) []TenantPermissions {
	e.mu.RLock()
	defer e.mu.RUnlock()
	ur := e.users[user]
	if ur == nil {
		return nil
	}
	// The tenant list is sorted, so it is the engine's own: built here, or
	// a copy of the caller's (whose slice is left as it was); on the stack
	// when small.
	var tbuf [16]string
	if len(tenants) == 0 {
		nt := ur.sets.n()
		if nt == 0 {
			return nil
		}
		if nt <= len(tbuf) {
			tenants = tbuf[:nt]
		} else {
			tenants = make([]string, nt)
		}
		for i := range nt {
			tenants[i] = e.tenantAt[ur.sets.tenantAt(i)]
		}
	} else if len(tenants) <= len(tbuf) {
		tenants = append(tbuf[:0], tenants...)
	} else {
		tenants = slices.Clone(tenants)
	}
	slices.Sort(tenants)
	words := len(e.permByRank)/64 + 1
	var buf [8]uint64
	seen := buf[:0]
	if words <= len(buf) {
		seen = buf[:words]
	} else {
		seen = make([]uint64, words)
	}
	// first pass: count, to allocate once
	nt, ns := 0, 0
	for _, tk := range tenants {
		at := e.heldIn(ur, tk)
		if at < 0 {
			continue
		}
		nt++
		ns += ur.count(at) + e.rankedPerms(ur, at, seen)
	}
	if nt == 0 {
		return nil
	}
	out := make([]TenantPermissions, 0, nt)
	strs := make([]string, 0, ns)
	for _, tk := range tenants {
		at := e.heldIn(ur, tk)
		if at < 0 {
			continue
		}
		tp := TenantPermissions{Tenant: tk}
		from := len(strs)
		for i, w := range ur.words(at) {
			for ; w != 0; w &= w - 1 {
				strs = append(strs, e.roleKey[64*i+bits.TrailingZeros64(w)])
			}
		}
		tp.Roles = strs[from:len(strs):len(strs)]
		slices.Sort(tp.Roles)
		from = len(strs)
		e.rankedPerms(ur, at, seen)
		for i, w := range seen {
			for ; w != 0; w &= w - 1 {
				strs = append(strs, e.permByRank[64*i+bits.TrailingZeros64(w)])
			}
		}
		if len(strs) > from {
			tp.Permissions = strs[from:len(strs):len(strs)]
		}
		out = append(out, tp)
	}
	return out
}

// heldIn returns the position of ur's role set in tenant tk, or -1.
func (e *Engine) heldIn(ur *userRec, tk string) int {
	tr := e.tenants[tk]
	if tr == nil {
		return -1
	}
	return ur.sets.find(tr.idx)
}

// rankedPerms sets seen to the permissions of the roles in ur's role set
// at position at, as bits of permission ranks (permByRank), and returns
// how many there are.
func (e *Engine) rankedPerms(ur *userRec, at int, seen []uint64) int {
	clear(seen)
	for i, w := range ur.words(at) {
		for ; w != 0; w &= w - 1 {
			for j, p := range e.roleAt[64*i+bits.TrailingZeros64(w)].ranked {
				seen[j] |= p
			}
		}
	}
	n := 0
	for _, w := range seen {
		n += bits.OnesCount64(w)
	}
	return n
}

// Data returns a copy of everything the engine holds, sorted by key.
func (e *Engine) Data() Data {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var d Data
	for _, ur := range e.users {
		cu := ur.u
		cu.Key = strings.Clone(cu.Key) // not a slice of the engine's one string of keys (internKeys)
		cu.Attributes = cloneMap(cu.Attributes)
		d.Users = append(d.Users, cu)
		for at := range ur.sets.n() {
			for _, r := range e.rolesIn(ur, at) {
				d.Assignments = append(d.Assignments, Assignment{User: cu.Key, Role: r.def.Key, Tenant: e.tenantAt[ur.sets.tenantAt(at)]})
			}
		}
		for _, h := range ur.inst {
			in := &e.inst[h.inst]
			for m := h.mask; m != 0; m &= m - 1 {
				d.Assignments = append(d.Assignments, Assignment{User: cu.Key, Role: in.res.f.roleAt[bits.TrailingZeros64(m)].def.Key,
					Tenant: e.tenantAt[in.tenant], ResourceInstance: in.res.r.Key + ":" + in.key})
			}
		}
	}
	e.fineData(&d)
	for _, tr := range e.tenants {
		ct := tr.t
		ct.Attributes = cloneMap(ct.Attributes)
		d.Tenants = append(d.Tenants, ct)
	}
	for _, rr := range e.resources {
		d.Resources = append(d.Resources, cloneResource(rr.r))
	}
	for _, r := range e.roles {
		d.Roles = append(d.Roles, cloneRole(r.def))
	}
	sort.Slice(d.Users, func(i, j int) bool { return d.Users[i].Key < d.Users[j].Key })
	sort.Slice(d.Tenants, func(i, j int) bool { return d.Tenants[i].Key < d.Tenants[j].Key })
	sort.Slice(d.Resources, func(i, j int) bool { return d.Resources[i].Key < d.Resources[j].Key })
	sort.Slice(d.Roles, func(i, j int) bool { return d.Roles[i].Key < d.Roles[j].Key })
	sort.Slice(d.Assignments, func(i, j int) bool {
		a, b := d.Assignments[i], d.Assignments[j]
		if a.User != b.User {
			return a.User < b.User
		}
		if a.Tenant != b.Tenant {
			return a.Tenant < b.Tenant
		}
		if a.ResourceInstance != b.ResourceInstance {
			return a.ResourceInstance < b.ResourceInstance
		}
		return a.Role < b.Role
	})
	return d
}

// Stats counts what the engine holds.
type Stats struct {
	Users       int `json:"users"`
	Tenants     int `json:"tenants"`
	Resources   int `json:"resources"`
	Roles       int `json:"roles"`
	Assignments int `json:"assignments"`
	Permissions int `json:"permissions"`
	Instances   int `json:"instances"`
	Tuples      int `json:"tuples"`
}

// Tenant returns the tenant with key (its attributes are shared: do not
// modify them).
func (e *Engine) Tenant(key string) (Tenant, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	tr := e.tenants[key]
	if tr == nil {
		return Tenant{}, false
	}
	return tr.t, true
}

// TenantKeys lists the keys of the tenants, sorted.
func (e *Engine) TenantKeys() []string {
	e.mu.RLock()
	out := make([]string, 0, len(e.tenants))
	for k := range e.tenants {
		out = append(out, k)
	}
	e.mu.RUnlock()
	sort.Strings(out)
	return out
}

// Stats returns the engine's counts.
func (e *Engine) Stats() Stats {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return Stats{Users: len(e.users), Tenants: len(e.tenants), Resources: len(e.resources), Roles: len(e.roles),
		Assignments: e.nAssign, Permissions: len(e.permName), Instances: e.nInst, Tuples: e.nTuples}
}

func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func cloneResource(r Resource) Resource {
	r.Actions = append([]string(nil), r.Actions...)
	return r
}

func cloneRole(r Role) Role {
	r.Permissions = append([]string(nil), r.Permissions...)
	r.Extends = append([]string(nil), r.Extends...)
	return r
}

func without(list []string, s string) []string {
	out := list[:0:0]
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}
