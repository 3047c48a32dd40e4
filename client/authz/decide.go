package authz

import (
	"math/bits"
	"sort"
	"sync"
)

// walkBudget bounds the instances a check's walk up the tuples visits
// before it switches to a walk that remembers what it visited (graphs with
// many converging paths); ordinary trees never reach it.
const walkBudget = 4096

// Decide answers a check under every rule of the model (see model.go). It
// does not allocate on the common paths: a tenant role, a role held or
// derived on an instance, an attribute rule.
func (e *Engine) Decide(r *Request) Decision {
	e.mu.RLock()
	d := e.decide(r)
	e.mu.RUnlock()
	return d
}

// target is a check resolved against the engine.
type target struct {
	rr       *resourceRec
	bit      int
	inst     uint32
	haveInst bool
	tenant   string
	tr       *tenantRec
}

func (e *Engine) resolve(r *Request) (target, Reason, bool) {
	t := target{bit: -1, tenant: r.Tenant}
	t.rr = e.resources[r.Resource]
	if t.rr == nil {
		return t, UnknownResource, false
	}
	if b, ok := t.rr.actions[r.Action]; ok {
		t.bit = b
	} else {
		return t, UnknownAction, false
	}
	if r.Key != "" {
		if i, ok := t.rr.f.instances[r.Key]; ok {
			t.inst, t.haveInst = i, true
			it := e.tenantAt[e.inst[i].tenant]
			if t.tenant != "" && t.tenant != it {
				return t, WrongTenant, false
			}
			t.tenant = it
		}
	}
	if t.tenant == "" {
		t.tenant = DefaultTenant
	}
	t.tr = e.tenants[t.tenant]
	return t, 0, true
}

func (e *Engine) decide(r *Request) Decision {
	t, reason, ok := e.resolve(r)
	if !ok {
		if t.tenant == "" {
			t.tenant = DefaultTenant
		}
		return Decision{Reason: reason, Tenant: t.tenant}
	}
	x, userHolds := e.holds[r.User]
	at := -1
	if userHolds && t.tr != nil {
		at = x.w.find(t.tr.idx)
	}
	// rule 1: tenant roles
	if at >= 0 {
		if role, ok := e.tenantGrant(&x, at, t.bit); ok {
			return Decision{Allow: true, Reason: Granted, Role: role, Via: ViaTenantRole, Tenant: t.tenant}
		}
	}
	// rules 2–4: roles on the instance
	var ur *userRec
	if userHolds {
		ur = x.ur
	} else {
		ur = e.users[r.User]
	}
	if t.haveInst && ur != nil && (len(ur.inst) > 0 || len(t.rr.f.tenantD) > 0 || len(e.inst[t.inst].up) > 0) {
		if n := t.rr.f.grants[t.bit-t.rr.f.firstBit]; n != 0 {
			if bit, ok := e.holdsTop(ur, t.inst, n); ok {
				return Decision{Allow: true, Reason: Granted, Role: t.rr.f.roleAt[bit].def.Key, Via: ViaInstanceRole, Tenant: t.tenant}
			}
		}
	}
	// rule 5: attribute rules
	if rules := e.rulesByPerm[t.bit]; len(rules) > 0 && t.tr != nil {
		a := e.attrsFor(r, &t, ur)
		for _, sr := range rules {
			if sr.users.cond.match(&a) && sr.res.cond.match(&a) {
				return Decision{Allow: true, Reason: Granted, Role: sr.def.UserSet, Set: sr.def.ResourceSet, Via: ViaSetRule, Tenant: t.tenant}
			}
		}
	}
	d := Decision{Tenant: t.tenant}
	switch {
	case ur == nil:
		d.Reason = UnknownUser
	case t.tr == nil:
		d.Reason = UnknownTenant
	case at >= 0 || (t.haveInst && len(ur.inst) > 0):
		d.Reason = NotGranted
	default:
		d.Reason = NoRoleInTenant
	}
	return d
}

func (e *Engine) attrsFor(r *Request, t *target, ur *userRec) attrs {
	a := attrs{userKey: r.User, userInline: r.UserAttributes, resourceType: r.Resource, resourceKey: r.Key,
		resourceInline: r.ResourceAttributes, tenantKey: t.tenant, context: r.Context}
	if ur != nil {
		a.user = ur.u.Attributes
	}
	if t.haveInst {
		a.resource = e.inst[t.inst].attrs
	}
	if t.tr != nil {
		a.tenant = t.tr.t.Attributes
	}
	return a
}

// tenantGrant reports the tenant role, among those held at position at of
// x, that grants permission bit.
func (e *Engine) tenantGrant(x *holdIndex, at, bit int) (string, bool) {
	if m := x.w.lo(at) & e.permLo[bit]; m != 0 {
		return e.roleKey[bits.TrailingZeros64(m)], true
	}
	if e.roleWords > 1 {
		return e.tenantGrantHi(x, at, bit)
	}
	return "", false
}

// tenantGrantHi is tenantGrant for roles beyond the first 64.
func (e *Engine) tenantGrantHi(x *holdIndex, at, bit int) (string, bool) {
	grant := e.permRoles[bit]
	for i, w := range x.ur.his(at) {
		if i+1 < len(grant) {
			if m := w & grant[i+1]; m != 0 {
				return e.roleKey[64*(i+1)+bits.TrailingZeros64(m)], true
			}
		}
	}
	return "", false
}

// holdsTenantRole reports whether ur holds, in tenant t, the tenant role
// with index role or one extending it.
func (e *Engine) holdsTenantRole(ur *userRec, t uint32, role int) bool {
	at := ur.sets.find(t)
	if at < 0 || role >= len(e.roleImpliers) {
		return false
	}
	impl := e.roleImpliers[role]
	if ur.sets.lo(at)&impl[0] != 0 {
		return true
	}
	for i, w := range ur.his(at) {
		if i+1 < len(impl) && w&impl[i+1] != 0 {
			return true
		}
	}
	return false
}

// holdsTop is holdsOn for the checked instance itself: it also says which
// role of n the user holds there.
func (e *Engine) holdsTop(ur *userRec, o uint32, n uint64) (uint8, bool) {
	if m := ur.instMask(o) & n; m != 0 {
		return uint8(bits.TrailingZeros64(m)), true
	}
	in := &e.inst[o]
	f := &in.res.f
	for _, td := range f.tenantD {
		if n&(1<<td.target) != 0 && e.holdsTenantRole(ur, in.tenant, td.role) {
			return td.target, true
		}
	}
	budget := walkBudget
	for _, u := range in.up {
		if u.kind == edgeSubjectSet {
			if n&(1<<u.dst) != 0 {
				if ok, done := e.holdsOn(ur, u.subj, e.inst[u.subj].res.f.impliers[u.src], 1, &budget); ok || !done {
					if !done {
						return e.holdsExact(ur, o, n)
					}
					return u.dst, true
				}
			}
			continue
		}
		rel := f.relAt[u.rel]
		sf := &e.inst[u.subj].res.f
		for m := n; m != 0; m &= m - 1 {
			tb := uint8(bits.TrailingZeros64(m))
			var need uint64
			for _, d := range rel.derive {
				if d.target == tb {
					need |= sf.impliers[d.source]
				}
			}
			if need == 0 {
				continue
			}
			ok, done := e.holdsOn(ur, u.subj, need, 1, &budget)
			if !done {
				return e.holdsExact(ur, o, n)
			}
			if ok {
				return tb, true
			}
		}
	}
	return 0, false
}

// holdsOn reports whether ur holds a role of mask n on instance o; done is
// false when the walk ran out of budget (the answer is then unknown).
func (e *Engine) holdsOn(ur *userRec, o uint32, n uint64, depth int, budget *int) (ok, done bool) {
	if *budget--; *budget < 0 {
		return false, false
	}
	if ur.instMask(o)&n != 0 {
		return true, true
	}
	in := &e.inst[o]
	f := &in.res.f
	for _, td := range f.tenantD {
		if n&(1<<td.target) != 0 && e.holdsTenantRole(ur, in.tenant, td.role) {
			return true, true
		}
	}
	if depth > MaxDepth {
		return false, true
	}
	for _, u := range in.up {
		var need uint64
		if u.kind == edgeSubjectSet {
			if n&(1<<u.dst) != 0 {
				need = e.inst[u.subj].res.f.impliers[u.src]
			}
		} else {
			sf := &e.inst[u.subj].res.f
			for _, d := range f.relAt[u.rel].derive {
				if n&(1<<d.target) != 0 {
					need |= sf.impliers[d.source]
				}
			}
		}
		if need == 0 {
			continue
		}
		ok, done := e.holdsOn(ur, u.subj, need, depth+1, budget)
		if ok || !done {
			return ok, done
		}
	}
	return false, true
}

// holdsExact is holdsTop with a visited set: it never searches an instance
// twice for the same roles.
func (e *Engine) holdsExact(ur *userRec, o uint32, n uint64) (uint8, bool) {
	steps := e.pathTo(ur, o, n, map[uint32]uint64{})
	if steps == nil {
		return 0, false
	}
	return steps.role, true
}

// ---- paths

// found is a proof that a user holds role on an instance.
type found struct {
	role  uint8
	steps []Step
}

// pathTo finds how ur holds a role of n on o, remembering in seen the
// roles already searched at each instance.
func (e *Engine) pathTo(ur *userRec, o uint32, n uint64, seen map[uint32]uint64) *found {
	n &^= seen[o]
	if n == 0 {
		return nil
	}
	seen[o] |= n
	in := &e.inst[o]
	f := &in.res.f
	user, obj := "user:"+ur.u.Key, e.instanceRef(o)
	if m := ur.instMask(o) & n; m != 0 {
		b := uint8(bits.TrailingZeros64(m))
		// name the role actually assigned (it may imply b through extends)
		held := ur.instMask(o)
		assigned := b
		for hm := held; hm != 0; hm &= hm - 1 {
			hb := uint8(bits.TrailingZeros64(hm))
			if f.implied[hb]&(1<<b) != 0 {
				assigned = hb
				break
			}
		}
		return &found{role: b, steps: []Step{{Kind: StepInstanceRole, Subject: user, Relation: f.roleAt[assigned].def.Key, Object: obj}}}
	}
	for _, td := range f.tenantD {
		if n&(1<<td.target) != 0 && e.holdsTenantRole(ur, in.tenant, td.role) {
			tk, role := e.tenantAt[in.tenant], e.roleAt[td.role].def.Key
			held := role
			if at := ur.sets.find(in.tenant); at >= 0 {
				for _, r := range e.rolesIn(ur, at) {
					if e.roleImplies(r.index, td.role) {
						held = r.def.Key
						break
					}
				}
			}
			tgt := f.roleAt[td.target].def.Key
			return &found{role: td.target, steps: []Step{
				{Kind: StepTenantRole, Subject: user, Relation: held, Object: "tenant:" + tk},
				{Kind: StepDerived, Subject: user, Relation: tgt, Object: obj, Rule: TenantResource + "#" + role + " ⇒ " + in.res.r.Key + "#" + tgt},
			}}
		}
	}
	for _, u := range in.up {
		sf := &e.inst[u.subj].res.f
		subj := e.instanceRef(u.subj)
		if u.kind == edgeSubjectSet {
			if n&(1<<u.dst) == 0 {
				continue
			}
			if p := e.pathTo(ur, u.subj, sf.impliers[u.src], seen); p != nil {
				src, dst := sf.roleAt[u.src].def.Key, f.roleAt[u.dst].def.Key
				p.steps = append(p.steps,
					Step{Kind: StepTuple, Subject: subj + "#" + src, Relation: dst, Object: obj},
					Step{Kind: StepDerived, Subject: user, Relation: dst, Object: obj, Rule: subj + "#" + src + " ⇒ " + obj + "#" + dst})
				p.role = u.dst
				return p
			}
			continue
		}
		rel := f.relAt[u.rel]
		for _, d := range rel.derive {
			if n&(1<<d.target) == 0 {
				continue
			}
			if p := e.pathTo(ur, u.subj, sf.impliers[d.source], seen); p != nil {
				src, dst := sf.roleAt[d.source].def.Key, f.roleAt[d.target].def.Key
				p.steps = append(p.steps,
					Step{Kind: StepTuple, Subject: subj, Relation: rel.def.Key, Object: obj},
					Step{Kind: StepDerived, Subject: user, Relation: dst, Object: obj,
						Rule: e.inst[u.subj].res.r.Key + "#" + src + " ⇒ " + in.res.r.Key + "#" + dst + " by " + rel.def.Key})
				p.role = d.target
				return p
			}
		}
	}
	return nil
}

// roleImplies reports whether tenant role a is b or extends it.
func (e *Engine) roleImplies(a, b int) bool {
	impl := e.roleImpliers[b]
	return impl[a/64]&(1<<(a%64)) != 0
}

// Explain answers a check like Decide and, when it is allowed, gives the
// path that granted it: the tenant role; the role assignment, tuples and
// derivations that give the user a role on the instance; or the set rule.
func (e *Engine) Explain(r *Request) (Decision, []Step) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	d := e.decide(r)
	if !d.Allow {
		return d, nil
	}
	user := "user:" + r.User
	switch d.Via {
	case ViaTenantRole:
		t, _, _ := e.resolve(r)
		return d, []Step{{Kind: StepTenantRole, Subject: user, Relation: d.Role, Object: "tenant:" + t.tenant}}
	case ViaSetRule:
		obj := r.Resource
		if r.Key != "" {
			obj += ":" + r.Key
		}
		return d, []Step{{Kind: StepSetRule, Subject: user, Relation: r.Action, Object: obj, Rule: d.Role + " × " + r.Action + " × " + d.Set}}
	case ViaInstanceRole:
		t, _, _ := e.resolve(r)
		ur := e.users[r.User]
		n := t.rr.f.grants[t.bit-t.rr.f.firstBit]
		if p := e.pathTo(ur, t.inst, n, map[uint32]uint64{}); p != nil {
			return d, p.steps
		}
	}
	return d, nil
}

// ---- lookups

// ListResources lists the keys (sorted) of the instances of type
// r.Resource, in tenant r.Tenant (every tenant when it is empty), on which
// r.User may do r.Action. r.Key and r.ResourceAttributes are ignored.
func (e *Engine) ListResources(r *Request) []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	rr := e.resources[r.Resource]
	if rr == nil {
		return nil
	}
	bit, ok := rr.actions[r.Action]
	if !ok {
		return nil
	}
	want := -1
	if r.Tenant != "" {
		tr := e.tenants[r.Tenant]
		if tr == nil {
			return nil
		}
		want = int(tr.idx)
	}
	ur := e.users[r.User]
	// rule 1: every instance of the type in a tenant where a tenant role grants
	var byTenant []bool
	if ur != nil {
		grant := e.permRoles[bit]
		for at := range ur.sets.n() {
			hit := ur.sets.lo(at)&grant[0] != 0
			for w, v := range ur.his(at) {
				hit = hit || w+1 < len(grant) && v&grant[w+1] != 0
			}
			if hit {
				if byTenant == nil {
					byTenant = make([]bool, len(e.tenantAt))
				}
				byTenant[ur.sets.tenantAt(at)] = true
			}
		}
	}
	// rules 2–4: roles the user holds, carried down the tuples
	sc := e.scratch()
	defer sc.release()
	if ur != nil {
		e.reachDown(ur, sc)
	}
	n := rr.f.grants[bit-rr.f.firstBit]
	rules := e.rulesByPerm[bit]
	out := []string{}
	for _, i := range rr.f.order { // key order
		in := &e.inst[i]
		if want >= 0 && int(in.tenant) != want {
			continue
		}
		if byTenant != nil && byTenant[in.tenant] || sc.reached[i]&n != 0 || len(rules) > 0 && e.ruleAllows(r, ur, in, rules) {
			out = append(out, in.key)
		}
	}
	return out
}

// ruleAllows reports whether a set rule lets r.User do the rules' action
// on instance in (rule 5).
func (e *Engine) ruleAllows(r *Request, ur *userRec, in *instRec, rules []*setRule) bool {
	tk := e.tenantAt[in.tenant]
	a := attrs{userKey: r.User, userInline: r.UserAttributes, resourceType: in.res.r.Key, resourceKey: in.key,
		resource: in.attrs, tenantKey: tk, context: r.Context}
	if ur != nil {
		a.user = ur.u.Attributes
	}
	if tr := e.tenants[tk]; tr != nil {
		a.tenant = tr.t.Attributes
	}
	for _, sr := range rules {
		if sr.users.cond.match(&a) && sr.res.cond.match(&a) {
			return true
		}
	}
	return false
}

// scratch is the working memory of a lookup, indexed by instance: the roles
// reached on each (implied ones included), and which were touched, so that
// it is cleared cheaply for the next lookup.
type scratch struct {
	reached []uint64
	touched []uint32
	queue   []uint32
}

var scratches sync.Pool

func (e *Engine) scratch() *scratch {
	sc, _ := scratches.Get().(*scratch)
	if sc == nil {
		sc = &scratch{}
	}
	if len(sc.reached) < len(e.inst) {
		sc.reached = make([]uint64, len(e.inst)+len(e.inst)/8)
	}
	return sc
}

func (sc *scratch) release() {
	for _, i := range sc.touched {
		sc.reached[i] = 0
	}
	sc.touched, sc.queue = sc.touched[:0], sc.queue[:0]
	scratches.Put(sc)
}

// reachDown fills sc with every instance on which ur holds a role, with the
// mask of the roles (implied ones included): its assignments and tenant
// derivations, carried down the tuples by derivations and subject sets.
func (e *Engine) reachDown(ur *userRec, sc *scratch) {
	add := func(i uint32, m uint64) {
		f := &e.inst[i].res.f
		var full uint64
		for x := m; x != 0; x &= x - 1 {
			full |= f.implied[bits.TrailingZeros64(x)]
		}
		old := sc.reached[i]
		if old|full == old {
			return
		}
		if old == 0 {
			sc.touched = append(sc.touched, i)
		}
		sc.reached[i] = old | full
		sc.queue = append(sc.queue, i)
	}
	for _, h := range ur.inst {
		add(h.inst, h.mask)
	}
	for _, rr := range e.resources {
		for _, td := range rr.f.tenantD {
			for at := range ur.sets.n() {
				t := ur.sets.tenantAt(at)
				if !e.holdsTenantRole(ur, t, td.role) {
					continue
				}
				for _, inst := range rr.f.order {
					if e.inst[inst].tenant == t {
						add(inst, 1<<td.target)
					}
				}
			}
		}
	}
	for len(sc.queue) > 0 {
		i := sc.queue[len(sc.queue)-1]
		sc.queue = sc.queue[:len(sc.queue)-1]
		m := sc.reached[i]
		for _, d := range e.inst[i].down {
			var give uint64
			if d.kind == edgeSubjectSet {
				if m&(1<<d.src) != 0 {
					give = 1 << d.dst
				}
			} else {
				of := &e.inst[d.obj].res.f
				for _, dv := range of.relAt[d.rel].derive {
					if m&(1<<dv.source) != 0 {
						give |= 1 << dv.target
					}
				}
			}
			if give != 0 {
				add(d.obj, give)
			}
		}
	}
}

// ListUsers lists the keys (sorted) of the users the engine holds who may
// do r.Action on instance r.Resource:r.Key, or, with r.Key empty or an
// instance the engine does not hold, on any resource of the type in
// r.Tenant (with r.ResourceAttributes for attribute rules). r.User and
// r.UserAttributes are ignored.
func (e *Engine) ListUsers(r *Request) []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	q := *r
	q.User, q.UserAttributes = "", nil
	t, _, ok := e.resolve(&q)
	if !ok || t.tr == nil {
		return nil
	}
	allowed := map[*userRec]bool{}
	grant := e.permRoles[t.bit]
	type tenantNeed struct {
		tenant uint32
		role   int
	}
	var needs []tenantNeed
	if t.haveInst {
		up := e.reachUp(t.inst, t.rr.f.grants[t.bit-t.rr.f.firstBit])
		for i, n := range up {
			in := &e.inst[i]
			for _, h := range in.holders {
				if h.mask&n != 0 {
					allowed[h.user] = true
				}
			}
			for _, td := range in.res.f.tenantD {
				if n&(1<<td.target) != 0 {
					needs = append(needs, tenantNeed{in.tenant, td.role})
				}
			}
		}
	}
	rules := e.rulesByPerm[t.bit]
	var ra attrs
	if len(rules) > 0 {
		ra = e.attrsFor(&q, &t, nil)
	}
	for _, ur := range e.users {
		if allowed[ur] {
			continue
		}
		if at := ur.sets.find(t.tr.idx); at >= 0 {
			if ur.sets.lo(at)&grant[0] != 0 {
				allowed[ur] = true
				continue
			}
			hit := false
			for w, v := range ur.his(at) {
				if w+1 < len(grant) && v&grant[w+1] != 0 {
					hit = true
				}
			}
			if hit {
				allowed[ur] = true
				continue
			}
		}
		for _, nd := range needs {
			if e.holdsTenantRole(ur, nd.tenant, nd.role) {
				allowed[ur] = true
				break
			}
		}
		if allowed[ur] || len(rules) == 0 {
			continue
		}
		a := ra
		a.userKey, a.user = ur.u.Key, ur.u.Attributes
		for _, sr := range rules {
			if sr.users.cond.match(&a) && sr.res.cond.match(&a) {
				allowed[ur] = true
				break
			}
		}
	}
	out := make([]string, 0, len(allowed))
	for ur := range allowed {
		out = append(out, ur.u.Key)
	}
	sort.Strings(out)
	return out
}

// reachUp is every instance from which a role could derive one of n on o,
// with the mask of the roles that would.
func (e *Engine) reachUp(o uint32, n uint64) map[uint32]uint64 {
	reached := map[uint32]uint64{}
	type item struct {
		i uint32
		n uint64
	}
	queue := []item{{o, n}}
	for len(queue) > 0 {
		it := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		add := it.n &^ reached[it.i]
		if add == 0 {
			continue
		}
		reached[it.i] |= add
		in := &e.inst[it.i]
		for _, u := range in.up {
			var need uint64
			if u.kind == edgeSubjectSet {
				if add&(1<<u.dst) != 0 {
					need = e.inst[u.subj].res.f.impliers[u.src]
				}
			} else {
				sf := &e.inst[u.subj].res.f
				for _, d := range in.res.f.relAt[u.rel].derive {
					if add&(1<<d.target) != 0 {
						need |= sf.impliers[d.source]
					}
				}
			}
			if need != 0 {
				queue = append(queue, item{u.subj, need})
			}
		}
	}
	return reached
}

// InstancePermissions are what a user may do on one resource instance by
// the roles it holds there, assigned or derived (tenant roles are in
// TenantPermissions).
type InstancePermissions struct {
	Resource    string   `json:"resource"` // "document:d1"
	Tenant      string   `json:"tenant"`
	Roles       []string `json:"roles"`       // held there, with the roles they extend
	Permissions []string `json:"permissions"` // "document:read", sorted
}

// InstancePermissions lists, for each instance on which user holds a role
// (assigned, or derived through tuples and tenant roles), the roles and
// the permissions they grant; only in tenants, and of resource types
// types, when they are given. Sorted by instance.
func (e *Engine) InstancePermissions(user string, tenants, types []string) []InstancePermissions {
	e.mu.RLock()
	defer e.mu.RUnlock()
	ur := e.users[user]
	if ur == nil {
		return nil
	}
	var out []InstancePermissions
	sc := e.scratch()
	defer sc.release()
	e.reachDown(ur, sc)
	for _, i := range sc.touched {
		m := sc.reached[i]
		in := &e.inst[i]
		tk := e.tenantAt[in.tenant]
		if len(tenants) > 0 && !hasString(tenants, tk) || len(types) > 0 && !hasString(types, in.res.r.Key) {
			continue
		}
		f := &in.res.f
		ip := InstancePermissions{Resource: in.res.r.Key + ":" + in.key, Tenant: tk, Roles: []string{}, Permissions: []string{}}
		for x := m; x != 0; x &= x - 1 {
			ip.Roles = append(ip.Roles, f.roleAt[bits.TrailingZeros64(x)].def.Key)
		}
		for a, g := range f.grants {
			if g&m != 0 {
				ip.Permissions = append(ip.Permissions, e.permName[f.firstBit+a])
			}
		}
		sort.Strings(ip.Roles)
		sort.Strings(ip.Permissions)
		out = append(out, ip)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Resource < out[j].Resource })
	return out
}
