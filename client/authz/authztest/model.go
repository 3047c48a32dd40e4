package authztest

import (
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// Model is a deliberately naive reference for the fine-grained rules of
// authz (model.go's package comment): it shares no code with the engine,
// computes which roles a user holds on which instances by a plain fixpoint
// over every fact (instance assignments, tenant derivations, extends,
// subject-set tuples, derivations along tuples) and interprets condition
// JSON afresh at every check. It is meant to be obviously right, not fast:
// a user's facts are computed on first use and cached.
type Model struct {
	users       map[string]authz.User
	tenants     map[string]authz.Tenant
	actions     map[string]map[string]bool // type → its actions
	tenantRoles map[string]authz.Role
	resRoles    map[string]map[string]authz.ResourceRole // type → key → role
	relations   map[string]map[string]authz.Relation     // type → key → relation
	instances   map[string]authz.Instance                // "type:key" → instance
	tuples      []authz.Tuple                            // the valid ones
	tupleSet    map[authz.Tuple]bool
	condSets    map[string]authz.ConditionSet
	setRules    []authz.SetRule
	tenantAsg   map[string][]authz.Assignment // user → tenant assignments
	instAsg     map[string][]authz.Assignment // user → instance assignments
	bySubject   map[string][]authz.Tuple      // tuple subject ("S:s" or "S:s#r") → tuples
	ofType      map[string][]authz.Instance   // type → instances

	facts  map[string]map[fact]bool       // user → what it holds on instances
	onInst map[string]map[string][]string // user → instance → roles held there
}

// fact: a user holds role on instance ("type:key").
type fact struct{ role, inst string }

// NewModel builds a model of d. Facts that do not fit the data (a tuple
// naming a missing instance or an undeclared relation, an assignment of a
// missing role) are ignored, as if the engine had refused them.
func NewModel(d authz.Data) *Model {
	m := &Model{
		users: map[string]authz.User{}, tenants: map[string]authz.Tenant{}, actions: map[string]map[string]bool{},
		tenantRoles: map[string]authz.Role{}, resRoles: map[string]map[string]authz.ResourceRole{},
		relations: map[string]map[string]authz.Relation{}, instances: map[string]authz.Instance{},
		tupleSet: map[authz.Tuple]bool{}, condSets: map[string]authz.ConditionSet{},
		tenantAsg: map[string][]authz.Assignment{}, instAsg: map[string][]authz.Assignment{},
		bySubject: map[string][]authz.Tuple{}, ofType: map[string][]authz.Instance{},
		facts: map[string]map[fact]bool{}, onInst: map[string]map[string][]string{},
	}
	for _, u := range d.Users {
		m.users[u.Key] = u
	}
	for _, t := range d.Tenants {
		m.tenants[t.Key] = t
	}
	for _, r := range d.Resources {
		m.actions[r.Key] = map[string]bool{}
		for _, a := range r.Actions {
			m.actions[r.Key][a] = true
		}
	}
	for _, r := range d.Roles {
		m.tenantRoles[r.Key] = r
	}
	for _, r := range d.ResourceRoles {
		if m.resRoles[r.Resource] == nil {
			m.resRoles[r.Resource] = map[string]authz.ResourceRole{}
		}
		m.resRoles[r.Resource][r.Key] = r
	}
	for _, r := range d.Relations {
		if m.relations[r.Resource] == nil {
			m.relations[r.Resource] = map[string]authz.Relation{}
		}
		m.relations[r.Resource][r.Key] = r
	}
	for _, in := range d.Instances {
		if in.Tenant == "" {
			in.Tenant = authz.DefaultTenant
		}
		m.instances[in.Resource+":"+in.Key] = in
	}
	for _, k := range sortedKeys(m.instances) {
		in := m.instances[k]
		m.ofType[in.Resource] = append(m.ofType[in.Resource], in)
	}
	for _, t := range d.Tuples {
		if !m.tupleFits(t) || m.tupleSet[t] {
			continue
		}
		m.tupleSet[t] = true
		m.tuples = append(m.tuples, t)
		m.bySubject[t.Subject] = append(m.bySubject[t.Subject], t)
	}
	for _, c := range d.ConditionSets {
		m.condSets[c.Key] = c
	}
	m.setRules = append(m.setRules, d.SetRules...)
	for _, a := range d.Assignments {
		if a.Tenant == "" {
			a.Tenant = authz.DefaultTenant
		}
		if a.ResourceInstance != "" {
			m.instAsg[a.User] = append(m.instAsg[a.User], a)
		} else {
			m.tenantAsg[a.User] = append(m.tenantAsg[a.User], a)
		}
	}
	return m
}

// tupleFits says whether t relates two instances that exist by a relation
// declared on the object's type for the subject's type, or gives a role of
// the object's type to the holders of a role of the subject's type.
func (m *Model) tupleFits(t authz.Tuple) bool {
	subj, subjRole, isSet := strings.Cut(t.Subject, "#")
	s, ok1 := m.instances[subj]
	o, ok2 := m.instances[t.Object]
	if !ok1 || !ok2 {
		return false
	}
	if isSet {
		_, r1 := m.resRoles[s.Resource][subjRole]
		_, r2 := m.resRoles[o.Resource][t.Relation]
		return r1 && r2
	}
	rel, ok := m.relations[o.Resource][t.Relation]
	return ok && rel.Subject == s.Resource
}

// tenantRolesOf is the set of tenant roles user holds in tenant, extends
// included.
func (m *Model) tenantRolesOf(user, tenant string) map[string]bool {
	out := map[string]bool{}
	var add func(string)
	add = func(r string) {
		if out[r] {
			return
		}
		if _, ok := m.tenantRoles[r]; !ok {
			return
		}
		out[r] = true
		for _, x := range m.tenantRoles[r].Extends {
			add(x)
		}
	}
	if _, ok := m.users[user]; !ok {
		return out
	}
	if _, ok := m.tenants[tenant]; !ok {
		return out
	}
	for _, a := range m.tenantAsg[user] {
		if a.Tenant == tenant {
			add(a.Role)
		}
	}
	return out
}

// factsOf computes, by a fixpoint, every (role, instance) user holds.
func (m *Model) factsOf(user string) map[fact]bool {
	if f, ok := m.facts[user]; ok {
		return f
	}
	held := map[fact]bool{}
	var work []fact
	add := func(f fact) {
		if held[f] {
			return
		}
		in, ok := m.instances[f.inst]
		if !ok {
			return
		}
		if _, ok := m.resRoles[in.Resource][f.role]; !ok {
			return
		}
		held[f] = true
		work = append(work, f)
	}
	if _, ok := m.users[user]; ok {
		// Rule 2: instance assignments.
		for _, a := range m.instAsg[user] {
			add(fact{a.Role, a.ResourceInstance}) // the tenant is the instance's, whatever a.Tenant says
		}
		// Rule 4 with TenantResource: tenant roles hold roles on every
		// instance of the type in the tenant.
		byTenant := map[string]map[string]bool{}
		for typ, roles := range m.resRoles {
			for _, rr := range roles {
				for _, d := range rr.GrantedTo {
					if d.OnResource != authz.TenantResource {
						continue
					}
					for _, in := range m.ofType[typ] {
						if byTenant[in.Tenant] == nil {
							byTenant[in.Tenant] = m.tenantRolesOf(user, in.Tenant)
						}
						if byTenant[in.Tenant][d.Role] {
							add(fact{rr.Key, in.Resource + ":" + in.Key})
						}
					}
				}
			}
		}
	}
	for len(work) > 0 {
		f := work[len(work)-1]
		work = work[:len(work)-1]
		in := m.instances[f.inst]
		// Extends.
		for _, x := range m.resRoles[in.Resource][f.role].Extends {
			add(fact{x, f.inst})
		}
		// Rule 3: subject-set tuples.
		for _, t := range m.bySubject[f.inst+"#"+f.role] {
			add(fact{t.Relation, t.Object})
		}
		// Rule 4: derivations along plain tuples.
		for _, t := range m.bySubject[f.inst] {
			obj := m.instances[t.Object]
			for _, rr := range m.resRoles[obj.Resource] {
				for _, d := range rr.GrantedTo {
					if d.OnResource == in.Resource && d.Role == f.role && d.LinkedByRelation == t.Relation {
						add(fact{rr.Key, t.Object})
					}
				}
			}
		}
	}
	on := map[string][]string{}
	for f := range held {
		on[f.inst] = append(on[f.inst], f.role)
	}
	m.facts[user], m.onInst[user] = held, on
	return held
}

// forget drops the facts cached for user (large data sets answer queries
// user by user).
func (m *Model) forget(user string) {
	delete(m.facts, user)
	delete(m.onInst, user)
}

// Holds says whether user holds role on instance ("type:key"), directly or
// derived.
func (m *Model) Holds(user, role, instance string) bool {
	return m.factsOf(user)[fact{role, instance}]
}

// checkTenant returns the tenant a check is decided in, whether the
// instance is held, and false when the check is denied outright (a held
// instance checked in another tenant).
func (m *Model) checkTenant(r authz.Request) (tenant string, in *authz.Instance, ok bool) {
	if r.Key != "" {
		if x, held := m.instances[r.Resource+":"+r.Key]; held {
			if r.Tenant != "" && r.Tenant != x.Tenant {
				return "", nil, false
			}
			return x.Tenant, &x, true
		}
	}
	if r.Tenant == "" {
		return authz.DefaultTenant, nil, true
	}
	return r.Tenant, nil, true
}

// Allowed decides r by the rules of model.go.
func (m *Model) Allowed(r authz.Request) bool {
	if !m.actions[r.Resource][r.Action] {
		return false
	}
	tenant, in, ok := m.checkTenant(r)
	if !ok {
		return false
	}
	if m.tenantRoleGrants(r.User, tenant, r.Resource, r.Action) != "" {
		return true
	}
	if in != nil && m.instanceRoleGrants(r.User, r.Resource+":"+r.Key, r.Action) != "" {
		return true
	}
	us, _ := m.setRuleGrants(r, tenant, in)
	return us != ""
}

// tenantRoleGrants returns a tenant role of user in tenant granting
// resource:action, or "".
func (m *Model) tenantRoleGrants(user, tenant, resource, action string) string {
	held := m.tenantRolesOf(user, tenant)
	keys := sortedKeys(held)
	for _, k := range keys {
		for _, p := range m.tenantRoles[k].Permissions {
			if p == resource+":"+action {
				return k
			}
		}
	}
	return ""
}

// instanceRoleGrants returns a role user holds on inst granting action, or "".
func (m *Model) instanceRoleGrants(user, inst, action string) string {
	typ, _, _ := strings.Cut(inst, ":")
	var found []string
	m.factsOf(user)
	for _, role := range m.onInst[user][inst] {
		for _, p := range m.resRoles[typ][role].Permissions {
			if p == action {
				found = append(found, role)
			}
		}
	}
	if len(found) == 0 {
		return ""
	}
	sort.Strings(found)
	return found[0]
}

// setRuleGrants returns the user set and resource set of a set rule
// granting r, or "".
func (m *Model) setRuleGrants(r authz.Request, tenant string, in *authz.Instance) (string, string) {
	if _, ok := m.tenants[tenant]; !ok {
		// Assumed, not in model.go: attribute rules need the check's
		// tenant to exist, as tenant roles do (the engine does so).
		return "", ""
	}
	env := &condEnv{m: m, r: r, tenant: tenant, in: in}
	for _, sr := range m.setRules {
		if sr.Action != r.Action {
			continue
		}
		us, ok1 := m.condSets[sr.UserSet]
		rs, ok2 := m.condSets[sr.ResourceSet]
		if !ok1 || !ok2 || us.Type != authz.UserSet || rs.Type != authz.ResourceSet || rs.Resource != r.Resource {
			continue
		}
		if env.eval(us.Conditions) && env.eval(rs.Conditions) {
			return sr.UserSet, sr.ResourceSet
		}
	}
	return "", ""
}

// Resources lists, sorted, the keys of the instances of type r.Resource
// (in r.Tenant, every tenant when "") on which r.User may do r.Action.
func (m *Model) Resources(r authz.Request) []string {
	out := []string{}
	for _, in := range m.ofType[r.Resource] {
		if r.Tenant != "" && in.Tenant != r.Tenant {
			continue
		}
		q := r
		q.Key, q.Tenant = in.Key, ""
		if m.Allowed(q) {
			out = append(out, in.Key)
		}
	}
	sort.Strings(out)
	return out
}

// Users lists, sorted, the keys of the stored users who may do r.Action on
// r.Resource:r.Key (on the type in r.Tenant when r.Key is "").
func (m *Model) Users(r authz.Request) []string {
	out := []string{}
	for k := range m.users {
		q := r
		q.User = k
		if m.Allowed(q) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Grant says which rule the model finds granting r: the Via and role (user
// set) and resource set, as a Decision names them. A check several rules
// grant reports the first of tenant role, instance role, set rule.
func (m *Model) Grant(r authz.Request) (via authz.Via, role, set string) {
	if !m.actions[r.Resource][r.Action] {
		return authz.ViaNone, "", ""
	}
	tenant, in, ok := m.checkTenant(r)
	if !ok {
		return authz.ViaNone, "", ""
	}
	if k := m.tenantRoleGrants(r.User, tenant, r.Resource, r.Action); k != "" {
		return authz.ViaTenantRole, k, ""
	}
	if in != nil {
		if k := m.instanceRoleGrants(r.User, r.Resource+":"+r.Key, r.Action); k != "" {
			return authz.ViaInstanceRole, k, ""
		}
	}
	us, rs := m.setRuleGrants(r, tenant, in)
	if us != "" {
		return authz.ViaSetRule, us, rs
	}
	return authz.ViaNone, "", ""
}

// GrantedBy says whether the rule a Decision names (via, role, set) does
// grant r in the model: a check several rules grant may be explained by
// any of them.
func (m *Model) GrantedBy(r authz.Request, via authz.Via, role, set string) bool {
	if !m.actions[r.Resource][r.Action] {
		return false
	}
	tenant, in, ok := m.checkTenant(r)
	if !ok {
		return false
	}
	switch via {
	case authz.ViaTenantRole: // role, or a role it extends, grants the permission
		if !m.tenantRolesOf(r.User, tenant)[role] {
			return false
		}
		for k := range m.tenantRoles {
			if tenantExtends(m, role, k) && slices.Contains(m.tenantRoles[k].Permissions, r.Resource+":"+r.Action) {
				return true
			}
		}
	case authz.ViaInstanceRole:
		if in == nil || !m.Holds(r.User, role, r.Resource+":"+r.Key) {
			return false
		}
		for k, rr := range m.resRoles[r.Resource] {
			if resourceExtends(m, r.Resource, role, k) && slices.Contains(rr.Permissions, r.Action) {
				return true
			}
		}
	case authz.ViaSetRule:
		if _, ok := m.tenants[tenant]; !ok {
			return false
		}
		env := &condEnv{m: m, r: r, tenant: tenant, in: in}
		us, ok1 := m.condSets[role]
		rs, ok2 := m.condSets[set]
		if !ok1 || !ok2 || us.Type != authz.UserSet || rs.Type != authz.ResourceSet || rs.Resource != r.Resource {
			return false
		}
		for _, sr := range m.setRules {
			if sr.UserSet == role && sr.ResourceSet == set && sr.Action == r.Action {
				return env.eval(us.Conditions) && env.eval(rs.Conditions)
			}
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// --- The condition interpreter: Permit's condition JSON, read afresh at
// every check.

type condEnv struct {
	m      *Model
	r      authz.Request
	tenant string
	in     *authz.Instance // the held instance checked, if any
}

// lookup resolves an attribute path ("user.dept"); ok is false when the
// attribute is missing.
func (e *condEnv) lookup(path string) (any, bool) {
	scope, name, found := strings.Cut(path, ".")
	if !found {
		return nil, false
	}
	name, rest, _ := strings.Cut(name, ".")
	var v any
	ok := false
	switch scope {
	case "user":
		if name == "key" {
			return e.r.User, true
		}
		if v, ok = e.r.UserAttributes[name]; !ok {
			if u, held := e.m.users[e.r.User]; held {
				v, ok = u.Attributes[name]
			}
		}
	case "resource":
		switch name {
		case "key":
			return e.r.Key, e.r.Key != ""
		case "type":
			return e.r.Resource, true
		}
		if v, ok = e.r.ResourceAttributes[name]; !ok && e.in != nil {
			v, ok = e.in.Attributes[name]
		}
	case "tenant":
		if name == "key" {
			return e.tenant, true
		}
		if t, held := e.m.tenants[e.tenant]; held {
			v, ok = t.Attributes[name]
		}
	case "context":
		v, ok = e.r.Context[name]
	}
	for ok && len(rest) > 0 { // "user.address.city": into nested objects
		var field string
		field, rest, _ = strings.Cut(rest, ".")
		obj, isObj := v.(map[string]any)
		if !isObj {
			return nil, false
		}
		v, ok = obj[field]
	}
	if !ok || v == nil {
		return nil, false
	}
	return normalize(v), true
}

// eval evaluates a condition document; anything malformed is false.
func (e *condEnv) eval(raw json.RawMessage) bool {
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return false
	}
	return e.node(doc)
}

func (e *condEnv) node(n any) bool {
	if n == nil {
		return true // null matches everything
	}
	obj, ok := n.(map[string]any)
	if !ok {
		return false
	}
	for k, v := range obj { // several keys: all must hold
		if !e.entry(k, v) {
			return false
		}
	}
	return true
}

func (e *condEnv) entry(k string, v any) bool {
	switch k {
	case "allOf", "anyOf":
		list, ok := v.([]any)
		if !ok {
			return false
		}
		for _, c := range list {
			if e.node(c) != (k == "allOf") {
				return k != "allOf"
			}
		}
		return k == "allOf"
	case "not":
		return !e.node(v)
	}
	ops, ok := v.(map[string]any)
	if !ok || len(ops) == 0 {
		return false
	}
	attr, present := e.lookup(k)
	if !present {
		return false
	}
	for op, operand := range ops {
		if ref, isRef := operand.(map[string]any); isRef {
			path, _ := ref["ref"].(string)
			if len(ref) != 1 || path == "" {
				return false
			}
			val, ok := e.lookup(path)
			if !ok {
				return false
			}
			operand = val
		} else {
			operand = normalize(operand)
		}
		if !compare(op, attr, operand) {
			return false
		}
	}
	return true
}

// compare applies operator op to attribute value a and operand b (both
// normalized: float64, string, bool or []any).
func compare(op string, a, b any) bool {
	switch op {
	case "equals":
		return same(a, b)
	case "not-equals": // two scalars of different kinds are not equal
		return scalar(a) && scalar(b) && !same(a, b)
	case "in", "not-in":
		list, ok := b.([]any)
		if !ok || !scalar(a) {
			return false
		}
		found := false
		for _, x := range list {
			found = found || same(a, x)
		}
		return found == (op == "in")
	case "contains", "not-contains":
		var found bool
		switch av := a.(type) {
		case []any:
			for _, x := range av {
				found = found || same(x, b)
			}
		case string:
			bs, ok := b.(string)
			if !ok {
				return false
			}
			found = strings.Contains(av, bs)
		default:
			return false
		}
		return found == (op == "contains")
	case "greater-than", "greater-than-equals", "less-than", "less-than-equals":
		x, ok1 := a.(float64)
		y, ok2 := b.(float64)
		if !ok1 || !ok2 {
			return false
		}
		switch op {
		case "greater-than":
			return x > y
		case "greater-than-equals":
			return x >= y
		case "less-than":
			return x < y
		}
		return x <= y
	case "before", "after":
		as, ok1 := a.(string)
		bs, ok2 := b.(string)
		if !ok1 || !ok2 {
			return false
		}
		x, err1 := time.Parse(time.RFC3339, as)
		y, err2 := time.Parse(time.RFC3339, bs)
		if err1 != nil || err2 != nil {
			return false
		}
		if op == "before" {
			return x.Before(y)
		}
		return x.After(y)
	}
	return false
}

// same compares strings, numbers and booleans; values of different kinds,
// and lists, are never the same.
func same(a, b any) bool {
	switch a.(type) {
	case float64, string, bool:
		return a == b
	}
	return false
}

func scalar(v any) bool {
	switch v.(type) {
	case float64, string, bool:
		return true
	}
	return false
}

// normalize turns any Go number into float64 and any slice into []any.
func normalize(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return x.String()
		}
		return f
	case string, bool, float64:
		return x
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return float64(rv.Uint())
	case reflect.Float32, reflect.Float64:
		return rv.Float()
	case reflect.String:
		return rv.String()
	case reflect.Bool:
		return rv.Bool()
	case reflect.Slice, reflect.Array:
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = normalize(rv.Index(i).Interface())
		}
		return out
	}
	return other{}
}

// other is a value conditions cannot compare (an object).
type other struct{}

// resourceExtends says whether role from of type typ is, or extends
// (transitively), role to.
func resourceExtends(m *Model, typ, from, to string) bool {
	seen := map[string]bool{}
	var walk func(string) bool
	walk = func(k string) bool {
		if k == to {
			return true
		}
		if seen[k] {
			return false
		}
		seen[k] = true
		for _, x := range m.resRoles[typ][k].Extends {
			if walk(x) {
				return true
			}
		}
		return false
	}
	return walk(from)
}
