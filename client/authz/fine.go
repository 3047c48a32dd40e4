package authz

import (
	"fmt"
	"math/bits"
	"sort"
	"strings"
)

// The fine-grained part of the engine (see model.go for the rules).
//
// Instances are interned: each has an index into Engine.inst, and each
// resource type maps its instance keys to indexes. A relationship tuple is
// an edge kept twice, 8 bytes on its object (up: what it derives from) and 8
// on its subject (down: what derives from it). Roles of a resource type are
// bits of a uint64 (at most MaxResourceRoles per type); a user keeps, per
// instance it holds roles on, the mask of those roles, and each instance
// keeps its holders for the reverse lookups.
//
// A check on an instance asks "does the user hold one of the roles in mask
// N on instance o?", N being the roles whose permissions (with extends)
// include the action. It looks at the user's own roles on o, then at o's
// tenant derivations, then walks up o's tuples, turning N into the mask of
// roles on the subject that would derive a role in N. The tuple graph is
// acyclic and at most MaxDepth long (enforced at write time), so the walk
// ends; it keeps no visited set and allocates nothing unless a graph with
// many converging paths exhausts its budget, when an exact walk with a
// visited set takes over.

// resRole is a role of a resource type.
type resRole struct {
	def ResourceRole
	bit uint8
}

// relRec is a relation declared on a resource type.
type relRec struct {
	def   Relation
	index uint8
	// derive lists the derivations through this relation: holders of
	// source on the subject hold target here.
	derive []derivation
}

type derivation struct{ target, source uint8 }

// tenantDerivation: holders of the tenant role with index role, in an
// instance's tenant, hold target on the instance.
type tenantDerivation struct {
	target uint8
	role   int
}

// edge kinds.
const (
	edgeRelation   = 0 // a tuple through relation rel
	edgeSubjectSet = 1 // a tuple from a subject set: holders of role src on the subject hold role dst here
)

// upEdge is a tuple seen from its object.
type upEdge struct {
	subj uint32
	kind uint8
	rel  uint8 // relation index (edgeRelation)
	src  uint8 // subject's role bit (edgeSubjectSet)
	dst  uint8 // object's role bit (edgeSubjectSet)
}

// downEdge is a tuple seen from its subject.
type downEdge struct {
	obj  uint32
	kind uint8
	rel  uint8
	src  uint8
	dst  uint8
}

func (u upEdge) down(obj uint32) downEdge {
	return downEdge{obj: obj, kind: u.kind, rel: u.rel, src: u.src, dst: u.dst}
}

type holder struct {
	user *userRec
	mask uint64
}

type instRec struct {
	res     *resourceRec // nil for a free slot
	key     string
	tenant  uint32
	attrs   map[string]any
	up      []upEdge
	down    []downEdge
	holders []holder
}

// instHeld is the roles a user holds on one instance.
type instHeld struct {
	inst uint32
	mask uint64
}

// fine is what a resourceRec holds beyond its actions.
type fine struct {
	instances map[string]uint32
	order     []uint32 // the instances, sorted by key (lists answer in key order without sorting)
	roles     map[string]*resRole
	roleAt    [MaxResourceRoles]*resRole
	relations map[string]*relRec
	relAt     []*relRec
	// computed by recompute:
	implied  [MaxResourceRoles]uint64 // roles a role implies (itself and what it extends)
	impliers [MaxResourceRoles]uint64 // roles that imply a role
	grants   []uint64                 // by action (bit - firstBit): roles whose permissions include it
	firstBit int
	tenantD  []tenantDerivation
}

func newFine() fine {
	return fine{instances: map[string]uint32{}, roles: map[string]*resRole{}, relations: map[string]*relRec{}}
}

// condSet is a compiled condition set.
type condSet struct {
	def  ConditionSet
	cond *condition
}

type setRule struct {
	def        SetRule
	users, res *condSet
}

// ---- parsing references

// splitInstance splits "type:key".
func splitInstance(ref string) (typ, key string, ok bool) {
	typ, key, ok = strings.Cut(ref, ":")
	return typ, key, ok && typ != "" && key != ""
}

// splitSubject splits "type:key" or "type:key#role".
func splitSubject(ref string) (typ, key, role string, ok bool) {
	if i := strings.LastIndexByte(ref, '#'); i >= 0 {
		role, ref = ref[i+1:], ref[:i]
		if role == "" {
			return "", "", "", false
		}
	}
	typ, key, ok = splitInstance(ref)
	return typ, key, role, ok
}

// instance returns the index of instance typ:key.
func (e *Engine) instance(typ, key string) (uint32, *resourceRec, bool) {
	rr := e.resources[typ]
	if rr == nil {
		return 0, nil, false
	}
	i, ok := rr.f.instances[key]
	return i, rr, ok
}

func (e *Engine) instanceRef(i uint32) string {
	r := &e.inst[i]
	return r.res.r.Key + ":" + r.key
}

// ---- resource roles

// PutResourceRole adds or replaces a role of a resource type. It fails,
// changing nothing, when the type, an extended role or a derivation's role,
// type or relation does not exist, when extends would form a cycle, or when
// the type already has MaxResourceRoles roles.
func (e *Engine) PutResourceRole(r ResourceRole) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.putResourceRole(r)
}

func (e *Engine) putResourceRole(r ResourceRole) error {
	rr := e.resources[r.Resource]
	if rr == nil {
		return fmt.Errorf("%w: resource type %q", ErrNotFound, r.Resource)
	}
	if r.Key == "" {
		return fmt.Errorf("%w: a resource role needs a key", ErrInvalid)
	}
	r = cloneResourceRole(r)
	if old := rr.f.roles[r.Key]; old != nil {
		prev := old.def
		old.def = r
		if err := e.recompute(); err != nil {
			old.def = prev
			_ = e.recompute()
			return err
		}
		return nil
	}
	bit := -1
	for i, x := range rr.f.roleAt {
		if x == nil {
			bit = i
			break
		}
	}
	if bit < 0 {
		return fmt.Errorf("%w: resource type %q already has %d roles, the most it may have", ErrInvalid, r.Resource, MaxResourceRoles)
	}
	nr := &resRole{def: r, bit: uint8(bit)}
	rr.f.roles[r.Key], rr.f.roleAt[bit] = nr, nr
	if err := e.recompute(); err != nil {
		delete(rr.f.roles, r.Key)
		rr.f.roleAt[bit] = nil
		_ = e.recompute()
		return err
	}
	return nil
}

// DeleteResourceRole removes a role of a resource type with its
// assignments, the subject-set tuples naming it, the derivations from it
// and its place in other roles' extends.
func (e *Engine) DeleteResourceRole(resource, key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.deleteResourceRole(resource, key)
}

func (e *Engine) deleteResourceRole(resource, key string) {
	rr := e.resources[resource]
	if rr == nil || rr.f.roles[key] == nil {
		return
	}
	bit := rr.f.roles[key].bit
	mask := uint64(1) << bit
	n := 0
	for i := range e.inst {
		in := &e.inst[i]
		if in.res == nil {
			continue
		}
		if in.res == rr {
			for j := 0; j < len(in.holders); j++ {
				h := &in.holders[j]
				if h.mask&mask != 0 {
					e.setInstRoles(h.user, uint32(i), h.user.instMask(uint32(i))&^mask)
					j = -1 // holders changed under us: start again
				}
			}
			in.up = filterEdges(in.up, func(u upEdge) bool { return !(u.kind == edgeSubjectSet && u.dst == bit) })
		}
		in.up = filterEdges(in.up, func(u upEdge) bool {
			return !(u.kind == edgeSubjectSet && u.src == bit && e.inst[u.subj].res == rr)
		})
		n += len(in.up)
		in.down = filterEdges(in.down, func(d downEdge) bool {
			if d.kind != edgeSubjectSet {
				return true
			}
			if in.res == rr && d.src == bit {
				return false
			}
			return !(e.inst[d.obj].res == rr && d.dst == bit)
		})
	}
	e.nTuples = n
	delete(rr.f.roles, key)
	rr.f.roleAt[bit] = nil
	for _, other := range e.resources {
		for _, x := range other.f.roles {
			if other == rr {
				x.def.Extends = without(x.def.Extends, key)
			}
			x.def.GrantedTo = withoutDerivation(x.def.GrantedTo, func(d Derivation) bool { return d.OnResource == resource && d.Role == key })
		}
	}
	_ = e.recompute()
}

func withoutDerivation(ds []Derivation, drop func(Derivation) bool) []Derivation {
	out := ds[:0:0]
	for _, d := range ds {
		if !drop(d) {
			out = append(out, d)
		}
	}
	return out
}

// filterEdges keeps, in place, the edges keep accepts.
func filterEdges[E upEdge | downEdge](es []E, keep func(E) bool) []E {
	out := es[:0]
	for _, x := range es {
		if keep(x) {
			out = append(out, x)
		}
	}
	return out
}

// ---- relations

// PutRelation declares (or redeclares) a relation on a resource type.
// Redeclaring it with another subject type removes its tuples.
func (e *Engine) PutRelation(r Relation) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.putRelation(r)
}

func (e *Engine) putRelation(r Relation) error {
	rr, sr := e.resources[r.Resource], e.resources[r.Subject]
	switch {
	case r.Key == "":
		return fmt.Errorf("%w: a relation needs a key", ErrInvalid)
	case rr == nil:
		return fmt.Errorf("%w: resource type %q", ErrNotFound, r.Resource)
	case sr == nil:
		return fmt.Errorf("%w: resource type %q (the relation's subject)", ErrNotFound, r.Subject)
	}
	if old := rr.f.relations[r.Key]; old != nil {
		if old.def.Subject != r.Subject {
			e.dropRelationTuples(rr, old.index)
		}
		old.def = r
		return e.recompute()
	}
	idx := -1
	for i, x := range rr.f.relAt {
		if x == nil {
			idx = i
			break
		}
	}
	if idx < 0 {
		if len(rr.f.relAt) >= 255 {
			return fmt.Errorf("%w: resource type %q already has 255 relations", ErrInvalid, r.Resource)
		}
		idx = len(rr.f.relAt)
		rr.f.relAt = append(rr.f.relAt, nil)
	}
	nr := &relRec{def: r, index: uint8(idx)}
	rr.f.relations[r.Key], rr.f.relAt[idx] = nr, nr
	return e.recompute()
}

func (e *Engine) dropRelationTuples(rr *resourceRec, rel uint8) {
	for _, o := range rr.f.instances {
		in := &e.inst[o]
		for _, u := range in.up {
			if u.kind == edgeRelation && u.rel == rel {
				s := &e.inst[u.subj]
				s.down = filterEdges(s.down, func(d downEdge) bool { return !(d.obj == o && d.kind == edgeRelation && d.rel == rel) })
			}
		}
		before := len(in.up)
		in.up = filterEdges(in.up, func(u upEdge) bool { return !(u.kind == edgeRelation && u.rel == rel) })
		e.nTuples -= before - len(in.up)
	}
}

// DeleteRelation removes a relation of a resource type, its tuples and the
// derivations through it.
func (e *Engine) DeleteRelation(resource, key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.deleteRelation(resource, key)
}

func (e *Engine) deleteRelation(resource, key string) {
	rr := e.resources[resource]
	if rr == nil || rr.f.relations[key] == nil {
		return
	}
	rel := rr.f.relations[key]
	e.dropRelationTuples(rr, rel.index)
	delete(rr.f.relations, key)

	rr.f.relAt[rel.index] = nil
	for _, x := range rr.f.roles {
		x.def.GrantedTo = withoutDerivation(x.def.GrantedTo, func(d Derivation) bool { return d.LinkedByRelation == key && d.OnResource != TenantResource })
	}
	_ = e.recompute()
}

// ---- instances

// PutInstance adds or replaces a resource instance; it keeps its tuples and
// role assignments. Its type and tenant must exist.
func (e *Engine) PutInstance(in Instance) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.putInstance(in)
}

func (e *Engine) putInstance(in Instance) error {
	if in.Tenant == "" {
		in.Tenant = DefaultTenant
	}
	rr, tr := e.resources[in.Resource], e.tenants[in.Tenant]
	switch {
	case in.Key == "":
		return fmt.Errorf("%w: an instance needs a key", ErrInvalid)
	case rr == nil:
		return fmt.Errorf("%w: resource type %q", ErrNotFound, in.Resource)
	case tr == nil:
		return fmt.Errorf("%w: tenant %q", ErrNotFound, in.Tenant)
	}
	attrs := cloneMap(in.Attributes)
	if i, ok := rr.f.instances[in.Key]; ok {
		r := &e.inst[i]
		r.tenant, r.attrs = tr.idx, attrs
		return nil
	}
	var i uint32
	if n := len(e.freeInst); n > 0 {
		i, e.freeInst = e.freeInst[n-1], e.freeInst[:n-1]
	} else {
		i = uint32(len(e.inst))
		e.inst = append(e.inst, instRec{})
	}
	e.inst[i] = instRec{res: rr, key: in.Key, tenant: tr.idx, attrs: attrs}
	rr.f.instances[in.Key] = i
	if !e.loading { // Load sorts once at its end
		at := sort.Search(len(rr.f.order), func(k int) bool { return e.inst[rr.f.order[k]].key >= in.Key })
		rr.f.order = append(rr.f.order, 0)
		copy(rr.f.order[at+1:], rr.f.order[at:])
		rr.f.order[at] = i
	}
	e.nInst++
	return nil
}

// DeleteInstance removes an instance with its tuples and the role
// assignments on it.
func (e *Engine) DeleteInstance(resource, key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if i, _, ok := e.instance(resource, key); ok {
		e.deleteInstance(i)
	}
}

func (e *Engine) deleteInstance(i uint32) {
	in := &e.inst[i]
	for _, u := range in.up {
		s := &e.inst[u.subj]
		s.down = filterEdges(s.down, func(d downEdge) bool { return d.obj != i })
		e.nTuples--
	}
	for _, d := range in.down {
		o := &e.inst[d.obj]
		before := len(o.up)
		o.up = filterEdges(o.up, func(u upEdge) bool { return u.subj != i })
		e.nTuples -= before - len(o.up)
	}
	for len(in.holders) > 0 {
		h := in.holders[0]
		e.setInstRoles(h.user, i, 0)
	}
	delete(in.res.f.instances, in.key)
	order := in.res.f.order
	if at := sort.Search(len(order), func(k int) bool { return e.inst[order[k]].key >= in.key }); at < len(order) && order[at] == i {
		in.res.f.order = append(order[:at], order[at+1:]...)
	}
	e.inst[i] = instRec{}
	e.freeInst = append(e.freeInst, i)
	e.nInst--
}

// ---- instance role assignments

// instMask is the mask of roles r holds on instance i.
func (r *userRec) instMask(i uint32) uint64 {
	h := r.inst
	if len(h) <= 8 {
		for _, x := range h {
			if x.inst == i {
				return x.mask
			}
		}
		return 0
	}
	lo, hi := 0, len(h)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if h[m].inst < i {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(h) && h[lo].inst == i {
		return h[lo].mask
	}
	return 0
}

// setInstRoles sets the roles ur holds on instance i, keeping the
// instance's holders and the assignment count in step.
func (e *Engine) setInstRoles(ur *userRec, i uint32, mask uint64) {
	at := sort.Search(len(ur.inst), func(k int) bool { return ur.inst[k].inst >= i })
	var old uint64
	if at < len(ur.inst) && ur.inst[at].inst == i {
		old = ur.inst[at].mask
	}
	if old == mask {
		return
	}
	e.nAssign += bits.OnesCount64(mask) - bits.OnesCount64(old)
	in := &e.inst[i]
	switch {
	case old == 0:
		ur.inst = append(ur.inst, instHeld{})
		copy(ur.inst[at+1:], ur.inst[at:])
		ur.inst[at] = instHeld{inst: i, mask: mask}
		in.holders = append(in.holders, holder{user: ur, mask: mask})
	case mask == 0:
		ur.inst = append(ur.inst[:at], ur.inst[at+1:]...)
		for k := range in.holders {
			if in.holders[k].user == ur {
				in.holders = append(in.holders[:k], in.holders[k+1:]...)
				break
			}
		}
	default:
		ur.inst[at].mask = mask
		for k := range in.holders {
			if in.holders[k].user == ur {
				in.holders[k].mask = mask
				break
			}
		}
	}
}

// instanceAssignment resolves an assignment on an instance.
func (e *Engine) instanceAssignment(a Assignment) (*userRec, uint32, *resRole, error) {
	typ, key, ok := splitInstance(a.ResourceInstance)
	if !ok {
		return nil, 0, nil, fmt.Errorf("%w: resource instance %q is not \"type:key\"", ErrInvalid, a.ResourceInstance)
	}
	i, rr, ok := e.instance(typ, key)
	ur := e.users[a.User]
	switch {
	case ur == nil:
		return nil, 0, nil, fmt.Errorf("%w: user %q", ErrNotFound, a.User)
	case !ok:
		return nil, 0, nil, fmt.Errorf("%w: resource instance %q", ErrNotFound, a.ResourceInstance)
	}
	role := rr.f.roles[a.Role]
	if role == nil {
		return nil, 0, nil, fmt.Errorf("%w: role %q of resource type %q", ErrNotFound, a.Role, typ)
	}
	if a.Tenant != "" && a.Tenant != e.tenantAt[e.inst[i].tenant] {
		return nil, 0, nil, fmt.Errorf("%w: resource instance %q is in tenant %q, not %q", ErrInvalid, a.ResourceInstance, e.tenantAt[e.inst[i].tenant], a.Tenant)
	}
	return ur, i, role, nil
}

// ---- tuples

// resolvedTuple is a Tuple in the engine's terms.
type resolvedTuple struct {
	subj, obj uint32
	up        upEdge
}

func (e *Engine) resolveTuple(t Tuple) (resolvedTuple, error) {
	return e.resolveTupleIn(t, nil)
}

// resolveTupleIn is resolveTuple that also knows the instances g is to
// create (nil: none).
func (e *Engine) resolveTupleIn(t Tuple, g *overlay) (resolvedTuple, error) {
	var rt resolvedTuple
	st, sk, srole, ok := splitSubject(t.Subject)
	if !ok {
		return rt, fmt.Errorf("%w: tuple subject %q is not \"type:key\" or \"type:key#role\"", ErrInvalid, t.Subject)
	}
	ot, okey, ok := splitInstance(t.Object)
	if !ok {
		return rt, fmt.Errorf("%w: tuple object %q is not \"type:key\"", ErrInvalid, t.Object)
	}
	s, sr, ok := e.instanceIn(st, sk, g)
	if !ok {
		return rt, fmt.Errorf("%w: resource instance %q", ErrNotFound, st+":"+sk)
	}
	o, or, ok := e.instanceIn(ot, okey, g)
	if !ok {
		return rt, fmt.Errorf("%w: resource instance %q", ErrNotFound, t.Object)
	}
	rt.subj, rt.obj = s, o
	if srole != "" {
		src := sr.f.roles[srole]
		if src == nil {
			return rt, fmt.Errorf("%w: role %q of resource type %q (in subject %q)", ErrNotFound, srole, st, t.Subject)
		}
		dst := or.f.roles[t.Relation]
		if dst == nil {
			return rt, fmt.Errorf("%w: resource type %q has no role %q: a subject set %q gives a role of the object's type", ErrNotFound, ot, t.Relation, t.Subject)
		}
		rt.up = upEdge{subj: s, kind: edgeSubjectSet, src: src.bit, dst: dst.bit}
		return rt, nil
	}
	rel := or.f.relations[t.Relation]
	if rel == nil {
		return rt, fmt.Errorf("%w: resource type %q has no relation %q", ErrNotFound, ot, t.Relation)
	}
	if rel.def.Subject != st {
		return rt, fmt.Errorf("%w: relation %q of %q relates %q instances, not %q", ErrInvalid, t.Relation, ot, rel.def.Subject, st)
	}
	rt.up = upEdge{subj: s, kind: edgeRelation, rel: rel.index}
	return rt, nil
}

func (in *instRec) hasUp(u upEdge) bool {
	for _, x := range in.up {
		if x == u {
			return true
		}
	}
	return false
}

// ValidateTuple says what PutTuple would refuse (an unknown instance,
// relation or role, a cycle, a chain longer than MaxDepth), changing
// nothing.
func (e *Engine) ValidateTuple(t Tuple) error {
	_, err := e.ValidateTuples([]Tuple{t})
	return err
}

// ValidateTuples says what putting ts one after the other would refuse,
// changing nothing: the index of the first tuple refused and why (a cycle
// or an over-long chain may run through several of them). It holds only
// the read lock.
func (e *Engine) ValidateTuples(ts []Tuple) (int, error) {
	return e.ValidateTuplesCreating(ts, nil)
}

// ValidateTuplesCreating is ValidateTuples for a write that also creates
// the instances created names ("type:key" of a known resource type; none
// of them exists yet, so none has tuples): a cycle or an over-long chain
// through them is found too.
func (e *Engine) ValidateTuplesCreating(ts []Tuple, created []string) (int, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	g := &overlay{}
	for _, ref := range created {
		typ, key, ok := splitInstance(ref)
		if !ok || e.resources[typ] == nil {
			return -1, fmt.Errorf("%w: resource type of %q", ErrNotFound, ref)
		}
		if _, _, ok := e.instance(typ, key); ok {
			continue
		}
		if g.virt == nil {
			g.virt = map[string]uint32{}
		}
		if _, ok := g.virt[ref]; !ok {
			g.virt[ref] = uint32(len(e.inst) + len(g.virtRef))
			g.virtRef = append(g.virtRef, ref)
		}
	}
	for i, t := range ts {
		rt, err := e.resolveTupleIn(t, g)
		if err != nil {
			return i, err
		}
		if e.known(rt.obj) && e.inst[rt.obj].hasUp(rt.up) || g.has(rt) {
			continue
		}
		if err := e.checkEdge(rt, t, g); err != nil {
			return i, err
		}
		g.add(rt)
	}
	return -1, nil
}

// overlay holds edges being validated on top of the engine's, and the
// instances a write is to create (numbered after the engine's).
type overlay struct {
	up, down map[uint32][]uint32
	edges    map[resolvedTuple]bool
	virt     map[string]uint32 // "type:key" → number
	virtRef  []string          // number - len(e.inst) → "type:key"
}

// instanceIn is instance, also finding the instances g is to create.
func (e *Engine) instanceIn(typ, key string, g *overlay) (uint32, *resourceRec, bool) {
	i, rr, ok := e.instance(typ, key)
	if ok || g == nil || g.virt == nil {
		return i, rr, ok
	}
	i, ok = g.virt[typ+":"+key]
	return i, e.resources[typ], ok
}

// known says whether i is one of the engine's instances (not one an
// overlay is to create).
func (e *Engine) known(i uint32) bool { return int(i) < len(e.inst) }

// refIn is the "type:key" of instance i, of the engine or of g.
func (e *Engine) refIn(i uint32, g *overlay) string {
	if e.known(i) {
		return e.instanceRef(i)
	}
	return g.virtRef[int(i)-len(e.inst)]
}

func (g *overlay) has(rt resolvedTuple) bool { return g != nil && g.edges[rt] }

func (g *overlay) add(rt resolvedTuple) {
	if g.edges == nil {
		g.up, g.down, g.edges = map[uint32][]uint32{}, map[uint32][]uint32{}, map[resolvedTuple]bool{}
	}
	g.edges[rt] = true
	g.up[rt.obj] = append(g.up[rt.obj], rt.subj)
	g.down[rt.subj] = append(g.down[rt.subj], rt.obj)
}

// checkEdge refuses an edge subj → obj that closes a cycle or makes a chain
// longer than MaxDepth, counting the edges of g (nil: none) too.
func (e *Engine) checkEdge(rt resolvedTuple, t Tuple, g *overlay) error {
	if rt.subj == rt.obj {
		return fmt.Errorf("%w: tuple %s %s %s relates an instance to itself", ErrInvalid, t.Subject, t.Relation, t.Object)
	}
	if g == nil {
		g = &overlay{}
	}
	below := map[uint32]int{}
	h, cyc := e.height(rt.obj, rt.subj, below, g)
	if cyc {
		return fmt.Errorf("%w: tuple %s %s %s would close a cycle: %s already derives from %s", ErrInvalid, t.Subject, t.Relation, t.Object, e.refIn(rt.subj, g), t.Object)
	}
	above := map[uint32]int{}
	if d := e.depthAbove(rt.subj, above, g) + 1 + h; d > MaxDepth {
		return fmt.Errorf("%w: tuple %s %s %s would make a chain of %d tuples, more than %d", ErrInvalid, t.Subject, t.Relation, t.Object, d, MaxDepth)
	}
	return nil
}

// height is the longest chain of tuples below i; it reports whether target
// is below i (or is i).
func (e *Engine) height(i, target uint32, memo map[uint32]int, g *overlay) (int, bool) {
	if i == target {
		return 0, true
	}
	if h, ok := memo[i]; ok {
		return h, false
	}
	memo[i] = 0
	best := 0
	step := func(obj uint32) bool {
		h, cyc := e.height(obj, target, memo, g)
		if cyc {
			return true
		}
		best = max(best, h+1)
		return false
	}
	if e.known(i) {
		for _, d := range e.inst[i].down {
			if step(d.obj) {
				return 0, true
			}
		}
	}
	for _, obj := range g.down[i] {
		if step(obj) {
			return 0, true
		}
	}
	memo[i] = best
	return best, false
}

// depthAbove is the longest chain of tuples above i.
func (e *Engine) depthAbove(i uint32, memo map[uint32]int, g *overlay) int {
	if d, ok := memo[i]; ok {
		return d
	}
	memo[i] = 0
	best := 0
	if e.known(i) {
		for _, u := range e.inst[i].up {
			best = max(best, e.depthAbove(u.subj, memo, g)+1)
		}
	}
	for _, subj := range g.up[i] {
		best = max(best, e.depthAbove(subj, memo, g)+1)
	}
	memo[i] = best
	return best
}

// PutTuple adds a relationship tuple; adding one twice is a no-op. It
// fails, changing nothing, when an instance, the relation or a role does
// not exist, or when the tuple would close a cycle or make a chain longer
// than MaxDepth.
func (e *Engine) PutTuple(t Tuple) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.putTuple(t, true)
}

func (e *Engine) putTuple(t Tuple, check bool) error {
	rt, err := e.resolveTuple(t)
	if err != nil {
		return err
	}
	o := &e.inst[rt.obj]
	if o.hasUp(rt.up) {
		return nil
	}
	if check {
		if err := e.checkEdge(rt, t, nil); err != nil {
			return err
		}
	}
	o.up = append(o.up, rt.up)
	s := &e.inst[rt.subj]
	s.down = append(s.down, rt.up.down(rt.obj))
	e.nTuples++
	return nil
}

// DeleteTuple removes a relationship tuple; it reports whether there was
// one.
func (e *Engine) DeleteTuple(t Tuple) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	rt, err := e.resolveTuple(t)
	if err != nil {
		return false
	}
	o := &e.inst[rt.obj]
	if !o.hasUp(rt.up) {
		return false
	}
	o.up = filterEdges(o.up, func(u upEdge) bool { return u != rt.up })
	dn := rt.up.down(rt.obj)
	s := &e.inst[rt.subj]
	s.down = filterEdges(s.down, func(d downEdge) bool { return d != dn })
	e.nTuples--
	return true
}

// checkGraph verifies, after a bulk load, that the tuples form no cycle and
// no chain longer than MaxDepth (Kahn's algorithm over the whole graph).
func (e *Engine) checkGraph() error {
	indeg := make([]int32, len(e.inst))
	for i := range e.inst {
		indeg[i] = int32(len(e.inst[i].up))
	}
	depth := make([]int32, len(e.inst))
	queue := make([]uint32, 0, len(e.inst))
	for i := range e.inst {
		if e.inst[i].res != nil && indeg[i] == 0 {
			queue = append(queue, uint32(i))
		}
	}
	seen := 0
	for len(queue) > 0 {
		i := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		seen++
		for _, d := range e.inst[i].down {
			if depth[i]+1 > depth[d.obj] {
				depth[d.obj] = depth[i] + 1
				if depth[d.obj] > MaxDepth {
					return fmt.Errorf("%w: the tuples above %s make a chain longer than %d", ErrInvalid, e.instanceRef(d.obj), MaxDepth)
				}
			}
			if indeg[d.obj]--; indeg[d.obj] == 0 {
				queue = append(queue, d.obj)
			}
		}
	}
	if seen != e.nInst {
		for i := range e.inst {
			if e.inst[i].res != nil && indeg[i] > 0 {
				return fmt.Errorf("%w: the tuples around %s form a cycle", ErrInvalid, e.instanceRef(uint32(i)))
			}
		}
	}
	return nil
}

// ---- condition sets and set rules

// PutConditionSet adds or replaces a condition set; its conditions must
// compile, and a resource set's type must exist.
func (e *Engine) PutConditionSet(c ConditionSet) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.putConditionSet(c)
}

func (e *Engine) putConditionSet(c ConditionSet) error {
	switch {
	case c.Key == "":
		return fmt.Errorf("%w: a condition set needs a key", ErrInvalid)
	case c.Type != UserSet && c.Type != ResourceSet:
		return fmt.Errorf("%w: condition set %q: type must be %q or %q, not %q", ErrInvalid, c.Key, UserSet, ResourceSet, c.Type)
	case c.Type == ResourceSet && e.resources[c.Resource] == nil:
		return fmt.Errorf("%w: resource type %q (of resource set %q)", ErrNotFound, c.Resource, c.Key)
	case c.Type == UserSet && c.Resource != "":
		return fmt.Errorf("%w: user set %q names a resource type", ErrInvalid, c.Key)
	}
	cond, err := compileConditions(c.Conditions)
	if err != nil {
		return fmt.Errorf("condition set %q: %w", c.Key, err)
	}
	c.Conditions = append([]byte(nil), c.Conditions...)
	if old := e.condSets[c.Key]; old != nil {
		if old.def.Type != c.Type || old.def.Resource != c.Resource {
			if e.setRulesUsing(c.Key) > 0 {
				return fmt.Errorf("%w: condition set %q is used by set rules: its type and resource cannot change", ErrInvalid, c.Key)
			}
		}
		old.def, old.cond = c, cond
		return nil
	}
	e.condSets[c.Key] = &condSet{def: c, cond: cond}
	return nil
}

func (e *Engine) setRulesUsing(key string) int {
	n := 0
	for _, r := range e.setRules {
		if r.def.UserSet == key || r.def.ResourceSet == key {
			n++
		}
	}
	return n
}

// DeleteConditionSet removes a condition set and the set rules using it.
func (e *Engine) DeleteConditionSet(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.deleteConditionSet(key)
}

func (e *Engine) deleteConditionSet(key string) {
	if e.condSets[key] == nil {
		return
	}
	delete(e.condSets, key)
	out := e.setRules[:0]
	for _, r := range e.setRules {
		if r.def.UserSet != key && r.def.ResourceSet != key {
			out = append(out, r)
		}
	}
	e.setRules = out
	_ = e.recompute()
}

// PutSetRule adds a set rule; adding one twice is a no-op.
func (e *Engine) PutSetRule(r SetRule) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.putSetRule(r)
}

func (e *Engine) putSetRule(r SetRule) error {
	us, rs := e.condSets[r.UserSet], e.condSets[r.ResourceSet]
	switch {
	case us == nil:
		return fmt.Errorf("%w: user set %q", ErrNotFound, r.UserSet)
	case us.def.Type != UserSet:
		return fmt.Errorf("%w: %q is a %s, not a user set", ErrInvalid, r.UserSet, us.def.Type)
	case rs == nil:
		return fmt.Errorf("%w: resource set %q", ErrNotFound, r.ResourceSet)
	case rs.def.Type != ResourceSet:
		return fmt.Errorf("%w: %q is a %s, not a resource set", ErrInvalid, r.ResourceSet, rs.def.Type)
	}
	if rr := e.resources[rs.def.Resource]; rr == nil || !hasString(rr.r.Actions, r.Action) {
		return fmt.Errorf("%w: resource type %q has no action %q", ErrInvalid, rs.def.Resource, r.Action)
	}
	for _, x := range e.setRules {
		if x.def == r {
			return nil
		}
	}
	e.setRules = append(e.setRules, &setRule{def: r, users: us, res: rs})
	return e.recompute()
}

// DeleteSetRule removes a set rule; it reports whether there was one.
func (e *Engine) DeleteSetRule(r SetRule) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, x := range e.setRules {
		if x.def == r {
			e.setRules = append(e.setRules[:i], e.setRules[i+1:]...)
			_ = e.recompute()
			return true
		}
	}
	return false
}

func hasString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ---- recompute of the fine-grained rules (write lock held)

// recomputeFine computes, per resource type, each role's implied roles,
// each action's granting roles, the derivations by relation and from
// tenant roles, and each permission's set rules. It validates roles'
// extends (no cycle) and derivations.
func (e *Engine) recomputeFine(permBit func(res, act string) (int, bool)) error {
	for _, rr := range e.resources {
		f := &rr.f
		f.implied, f.impliers = [MaxResourceRoles]uint64{}, [MaxResourceRoles]uint64{}
		var state [MaxResourceRoles]uint8
		var visit func(r *resRole) (uint64, error)
		visit = func(r *resRole) (uint64, error) {
			switch state[r.bit] {
			case 1:
				return 0, fmt.Errorf("%w: role %q of resource type %q extends itself through a cycle", ErrInvalid, r.def.Key, rr.r.Key)
			case 2:
				return f.implied[r.bit], nil
			}
			state[r.bit] = 1
			m := uint64(1) << r.bit
			for _, p := range r.def.Extends {
				pr := f.roles[p]
				if pr == nil {
					return 0, fmt.Errorf("%w: role %q of resource type %q (extended by %q)", ErrNotFound, p, rr.r.Key, r.def.Key)
				}
				pm, err := visit(pr)
				if err != nil {
					return 0, err
				}
				m |= pm
			}
			state[r.bit] = 2
			f.implied[r.bit] = m
			return m, nil
		}
		for _, r := range f.roles {
			if _, err := visit(r); err != nil {
				return err
			}
		}
		for _, r := range f.roles {
			for m := f.implied[r.bit]; m != 0; m &= m - 1 {
				f.impliers[bits.TrailingZeros64(m)] |= 1 << r.bit
			}
		}
		f.grants = f.grants[:0]
		f.firstBit = -1
		for _, a := range rr.r.Actions {
			if b, ok := permBit(rr.r.Key, a); ok && f.firstBit < 0 {
				f.firstBit = b
			}
		}
		f.grants = make([]uint64, len(rr.actions))
		for _, r := range f.roles {
			for _, a := range r.def.Permissions {
				if b, ok := rr.actions[a]; ok {
					f.grants[b-f.firstBit] |= f.impliers[r.bit]
				}
			}
		}
		for _, rel := range f.relAt {
			if rel != nil {
				rel.derive = rel.derive[:0]
			}
		}
		f.tenantD = f.tenantD[:0]
	}
	// derivations (after every type's impliers are known)
	for _, rr := range e.resources {
		f := &rr.f
		for _, r := range f.roles {
			for _, d := range r.def.GrantedTo {
				if d.OnResource == TenantResource {
					tr := e.roles[d.Role]
					if tr == nil {
						return fmt.Errorf("%w: tenant role %q (in a derivation of %s#%s)", ErrNotFound, d.Role, rr.r.Key, r.def.Key)
					}
					f.tenantD = append(f.tenantD, tenantDerivation{target: r.bit, role: tr.index})
					continue
				}
				src := e.resources[d.OnResource]
				if src == nil {
					return fmt.Errorf("%w: resource type %q (in a derivation of %s#%s)", ErrNotFound, d.OnResource, rr.r.Key, r.def.Key)
				}
				sr := src.f.roles[d.Role]
				if sr == nil {
					return fmt.Errorf("%w: role %q of resource type %q (in a derivation of %s#%s)", ErrNotFound, d.Role, d.OnResource, rr.r.Key, r.def.Key)
				}
				rel := f.relations[d.LinkedByRelation]
				if rel == nil {
					return fmt.Errorf("%w: resource type %q has no relation %q (in a derivation of %s#%s)", ErrNotFound, rr.r.Key, d.LinkedByRelation, rr.r.Key, r.def.Key)
				}
				if rel.def.Subject != d.OnResource {
					return fmt.Errorf("%w: relation %q of %q relates %q instances, not %q (in a derivation of %s#%s)", ErrInvalid, d.LinkedByRelation, rr.r.Key, rel.def.Subject, d.OnResource, rr.r.Key, r.def.Key)
				}
				rel.derive = append(rel.derive, derivation{target: r.bit, source: sr.bit})
			}
		}
	}
	// set rules by permission
	e.rulesByPerm = make([][]*setRule, len(e.permName))
	for _, r := range e.setRules {
		if b, ok := permBit(r.res.def.Resource, r.def.Action); ok {
			e.rulesByPerm[b] = append(e.rulesByPerm[b], r)
		}
	}
	return nil
}

func cloneResourceRole(r ResourceRole) ResourceRole {
	r.Permissions = append([]string(nil), r.Permissions...)
	r.Extends = append([]string(nil), r.Extends...)
	r.GrantedTo = append([]Derivation(nil), r.GrantedTo...)
	return r
}

// fineData adds the fine-grained part to d, sorted (read lock held).
func (e *Engine) fineData(d *Data) {
	for _, rr := range e.resources {
		for _, r := range rr.f.roles {
			d.ResourceRoles = append(d.ResourceRoles, cloneResourceRole(r.def))
		}
		for _, rel := range rr.f.relations {
			d.Relations = append(d.Relations, rel.def)
		}
	}
	for i := range e.inst {
		in := &e.inst[i]
		if in.res == nil {
			continue
		}
		d.Instances = append(d.Instances, Instance{Resource: in.res.r.Key, Key: in.key, Tenant: e.tenantAt[in.tenant], Attributes: cloneMap(in.attrs)})
		obj := in.res.r.Key + ":" + in.key
		for _, u := range in.up {
			s := &e.inst[u.subj]
			subj := s.res.r.Key + ":" + s.key
			if u.kind == edgeSubjectSet {
				d.Tuples = append(d.Tuples, Tuple{Subject: subj + "#" + s.res.f.roleAt[u.src].def.Key, Relation: in.res.f.roleAt[u.dst].def.Key, Object: obj})
			} else {
				d.Tuples = append(d.Tuples, Tuple{Subject: subj, Relation: in.res.f.relAt[u.rel].def.Key, Object: obj})
			}
		}
	}
	for _, c := range e.condSets {
		cd := c.def
		cd.Conditions = append([]byte(nil), cd.Conditions...)
		d.ConditionSets = append(d.ConditionSets, cd)
	}
	for _, r := range e.setRules {
		d.SetRules = append(d.SetRules, r.def)
	}
	sort.Slice(d.ResourceRoles, func(i, j int) bool {
		a, b := d.ResourceRoles[i], d.ResourceRoles[j]
		return a.Resource < b.Resource || a.Resource == b.Resource && a.Key < b.Key
	})
	sort.Slice(d.Relations, func(i, j int) bool {
		a, b := d.Relations[i], d.Relations[j]
		return a.Resource < b.Resource || a.Resource == b.Resource && a.Key < b.Key
	})
	sort.Slice(d.Instances, func(i, j int) bool {
		a, b := d.Instances[i], d.Instances[j]
		return a.Resource < b.Resource || a.Resource == b.Resource && a.Key < b.Key
	})
	sort.Slice(d.Tuples, func(i, j int) bool {
		a, b := d.Tuples[i], d.Tuples[j]
		if a.Object != b.Object {
			return a.Object < b.Object
		}
		if a.Relation != b.Relation {
			return a.Relation < b.Relation
		}
		return a.Subject < b.Subject
	})
	sort.Slice(d.ConditionSets, func(i, j int) bool { return d.ConditionSets[i].Key < d.ConditionSets[j].Key })
	sort.Slice(d.SetRules, func(i, j int) bool {
		a, b := d.SetRules[i], d.SetRules[j]
		if a.UserSet != b.UserSet {
			return a.UserSet < b.UserSet
		}
		if a.Action != b.Action {
			return a.Action < b.Action
		}
		return a.ResourceSet < b.ResourceSet
	})
}
