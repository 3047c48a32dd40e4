package fine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// The ABAC data set as Cerbos resource policies (cmd/finehttp -abac).
//
// Every set rule becomes a rule of the resource policy of its resource
// set's type: its action, EFFECT_ALLOW, any role, and a CEL condition that
// is the user set's conditions and the resource set's, translated. Cerbos
// stores no data, so each check carries what Gatehouse would read from its
// store (see CerbosRequest):
//
//   - user.<name> is request.principal.attr (P.attr): the user's stored
//     attributes with the check's own over them; user.key is P.id;
//   - resource.<name> is R.attr likewise; resource.type is R.kind;
//   - the rest rides in one reserved resource attribute, R.attr.gatehouse:
//     key (the check's resource key, when it names one), tenant (the
//     tenant Gatehouse resolves: the stored instance's, else the check's,
//     else default; absent when the check names another tenant than the
//     instance's or an unknown one), tenant_attributes and context.
//
// Each comparison is written so that CEL gives Gatehouse's answer
// (authz.CompileConditions) without raising an error: a missing attribute,
// or one of a type the operator does not apply to, makes it false (so its
// "not" true); scalars of different types are not equal. Attributes reach
// CEL as JSON values (numbers as doubles). What has no faithful
// translation is refused (CerbosOf reports the condition set) rather than
// approximated:
//
//   - nested attribute paths (user.address.city): Gatehouse reads
//     "address.city" or address → city, whichever the maps hold;
//   - integer literals beyond ±2^53 (Gatehouse compares integers exactly,
//     CEL as doubles); attribute values that large are not checked;
//   - conditions Gatehouse itself would refuse.
//
// Known remaining difference, absent from the data set: a string shaped
// like an RFC 3339 time that is not a date (2025-02-30T00:00:00Z, or year
// 0000) is no time to Gatehouse (the comparison is false) but makes CEL's
// timestamp() fail, which fails the whole Cerbos rule even under a "not".

// CerbosReserved is the resource attribute that carries the check's key,
// tenant, tenant attributes and context to Cerbos.
const CerbosReserved = "gatehouse"

// CerbosPolicies is the data set's condition sets and set rules as Cerbos
// resource policies, one JSON file per resource type with rules.
type CerbosPolicies struct {
	Files map[string][]byte // file name → policy
	// Untranslated maps a condition set with no faithful CEL translation
	// to the reason; its set rules are left out, and so are the checks
	// they could decide (see CerbosChecks).
	Untranslated map[string]string
	Rules        int // set rules translated
	// perms holds "type\x00action" of every set rule left out.
	perms map[string]bool
}

// CerbosOf translates the condition sets and set rules.
func CerbosOf(d *authz.Data) (*CerbosPolicies, error) {
	p := &CerbosPolicies{Files: map[string][]byte{}, Untranslated: map[string]string{}, perms: map[string]bool{}}
	exprs := map[string]string{}
	typeOf := map[string]string{}
	for _, cs := range d.ConditionSets {
		typeOf[cs.Key] = cs.Resource
		e, err := celConditions(cs.Conditions)
		if err != nil {
			p.Untranslated[cs.Key] = err.Error()
			continue
		}
		exprs[cs.Key] = e
	}
	type rule struct {
		Name      string   `json:"name"`
		Actions   []string `json:"actions"`
		Effect    string   `json:"effect"`
		Roles     []string `json:"roles"`
		Condition struct {
			Match struct {
				Expr string `json:"expr"`
			} `json:"match"`
		} `json:"condition"`
	}
	rules := map[string][]rule{}
	var types []string
	tenantKnown := fmt.Sprintf("%q in R.attr[%q]", "tenant", CerbosReserved)
	for i, sr := range d.SetRules {
		typ := typeOf[sr.ResourceSet]
		us, okU := exprs[sr.UserSet]
		rs, okR := exprs[sr.ResourceSet]
		if !okU || !okR {
			p.perms[typ+"\x00"+sr.Action] = true
			continue
		}
		r := rule{Name: "setrule" + strconv.Itoa(i), Actions: []string{sr.Action}, Effect: "EFFECT_ALLOW", Roles: []string{"*"}}
		r.Condition.Match.Expr = tenantKnown + " && (" + us + ") && (" + rs + ")"
		if rules[typ] == nil {
			types = append(types, typ)
		}
		rules[typ] = append(rules[typ], r)
		p.Rules++
	}
	sort.Strings(types)
	for i, typ := range types {
		doc := map[string]any{
			"apiVersion": "api.cerbos.dev/v1",
			"resourcePolicy": map[string]any{
				"version":  "default",
				"resource": typ,
				"rules":    rules[typ],
			},
		}
		b, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return nil, err
		}
		p.Files[fmt.Sprintf("type_%d.json", i)] = b
	}
	return p, nil
}

// Decides reports whether a left-out set rule could decide the check on
// (resource type, action).
func (p *CerbosPolicies) Decides(resource, action string) bool {
	return p.perms[resource+"\x00"+action]
}

// celConditions translates condition JSON (as authz.CompileConditions
// reads it) to one CEL expression.
func celConditions(raw json.RawMessage) (string, error) {
	if err := authz.CompileConditions(raw); err != nil {
		return "", err
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return "true", nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	return celNode(v)
}

func celNode(v any) (string, error) {
	if v == nil {
		return "true", nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return "", fmt.Errorf("a condition is an object, got %T", v)
	}
	if len(m) == 0 {
		return "true", nil
	}
	if n, ok := m["not"]; ok {
		s, err := celNode(n)
		if err != nil {
			return "", err
		}
		return "!(" + s + ")", nil
	}
	for group, join := range map[string]string{"allOf": " && ", "anyOf": " || "} {
		g, ok := m[group]
		if !ok {
			continue
		}
		list, _ := g.([]any)
		if len(list) == 0 {
			return strconv.FormatBool(group == "allOf"), nil
		}
		parts := make([]string, len(list))
		for i, c := range list {
			s, err := celNode(c)
			if err != nil {
				return "", err
			}
			parts[i] = "(" + s + ")"
		}
		return strings.Join(parts, join), nil
	}
	var parts []string
	for _, name := range sortedKeys(m) {
		ops, _ := m[name].(map[string]any)
		for _, op := range sortedKeys(ops) {
			s, err := celCompare(name, op, ops[op])
			if err != nil {
				return "", fmt.Errorf("%s %s: %w", name, op, err)
			}
			parts = append(parts, "("+s+")")
		}
	}
	return strings.Join(parts, " && "), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// celAttr is an attribute in CEL: has is true when it is present, val is
// its value.
type celAttr struct{ has, val string }

func celPath(path string) (celAttr, error) {
	root, name, _ := strings.Cut(path, ".")
	if strings.Contains(name, ".") {
		return celAttr{}, fmt.Errorf("nested attribute path %q not translated", path)
	}
	q := strconv.Quote(name)
	g := fmt.Sprintf("R.attr[%q]", CerbosReserved)
	in := func(m string) celAttr { return celAttr{q + " in " + m, m + "[" + q + "]"} }
	switch root + "." + name {
	case "user.key":
		return celAttr{"true", "P.id"}, nil
	case "resource.type":
		return celAttr{"true", "R.kind"}, nil
	case "resource.key":
		return in(g), nil // key is absent when the check names none
	case "tenant.key":
		return celAttr{`"tenant" in ` + g, g + `["tenant"]`}, nil
	}
	switch root {
	case "user":
		return in("P.attr"), nil
	case "resource":
		if name == CerbosReserved {
			return celAttr{}, fmt.Errorf("resource.%s is the attribute that carries the check's context to Cerbos", name)
		}
		return in("R.attr"), nil
	case "tenant":
		return in(g + `["tenant_attributes"]`), nil
	case "context":
		return in(g + `["context"]`), nil
	}
	return celAttr{}, fmt.Errorf("path %q not translated", path)
}

// celLiteral is a JSON scalar as a CEL literal and its CEL type.
func celLiteral(v any) (lit, typ string, err error) {
	switch t := v.(type) {
	case string:
		return strconv.Quote(t), "string", nil
	case bool:
		return strconv.FormatBool(t), "bool", nil
	case json.Number:
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return "", "", fmt.Errorf("number %s not translated", t)
		}
		if i, err := strconv.ParseInt(string(t), 10, 64); err == nil && (i > 1<<53 || i < -(1<<53)) || err != nil && f == math.Trunc(f) && math.Abs(f) > 1<<53 {
			return "", "", fmt.Errorf("integer %s beyond 2^53: CEL compares it as a double", t)
		}
		s := strconv.FormatFloat(f, 'g', -1, 64)
		if !strings.ContainsAny(s, ".e") {
			s += ".0"
		}
		return s, "double", nil
	}
	return "", "", fmt.Errorf("%T is not a scalar", v)
}

// rfc3339 is the shape of a time Gatehouse reads (case-insensitive T and
// Z, fractional seconds, an offset), years 0001 to 9999.
const rfc3339 = `^(000[1-9]|00[1-9][0-9]|0[1-9][0-9][0-9]|[1-9][0-9][0-9][0-9])-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`

func celScalar(x string) string {
	return fmt.Sprintf("(type(%[1]s) == string || type(%[1]s) == double || type(%[1]s) == bool)", x)
}

func celIsTime(x string) string {
	return fmt.Sprintf("type(%s) == string && %s.matches(%q)", x, x, rfc3339)
}

func celTime(x string) string { return "timestamp(" + x + ".upperAscii())" }

// celCompare translates {path: {op: arg}}.
func celCompare(path, op string, arg any) (string, error) {
	a, err := celPath(path)
	if err != nil {
		return "", err
	}
	A := a.val
	pre := a.has + " && "
	if m, ok := arg.(map[string]any); ok {
		ref, _ := m["ref"].(string)
		b, err := celPath(ref)
		if err != nil {
			return "", err
		}
		B := b.val
		pre += b.has + " && "
		sameScalar := fmt.Sprintf("type(%s) == type(%s) && %s == %s", A, B, A, B)
		switch op {
		case "equals":
			return pre + celScalar(A) + " && " + sameScalar, nil
		case "not-equals":
			return pre + celScalar(A) + " && " + celScalar(B) + " && !(" + sameScalar + ")", nil
		case "in", "not-in":
			neg := map[bool]string{true: "", false: "!"}[op == "in"]
			return fmt.Sprintf("%s%s && type(%s) == list && %s%s.exists(e, type(e) == type(%s) && e == %s)", pre, celScalar(A), B, neg, B, A, A), nil
		case "contains", "not-contains":
			neg := map[bool]string{true: "", false: "!"}[op == "contains"]
			return fmt.Sprintf("%s%s && ((type(%s) == string && type(%s) == string && %s%s.contains(%s)) || (type(%s) == list && %s%s.exists(e, type(e) == type(%s) && e == %s)))",
				pre, celScalar(B), A, B, neg, A, B, A, neg, A, B, B), nil
		case "greater-than", "greater-than-equals", "less-than", "less-than-equals":
			return fmt.Sprintf("%stype(%s) == double && type(%s) == double && %s %s %s", pre, A, B, A, celOps[op], B), nil
		case "before", "after":
			return fmt.Sprintf("%s%s && %s && %s %s %s", pre, celIsTime(A), celIsTime(B), celTime(A), celOps[op], celTime(B)), nil
		}
		return "", fmt.Errorf("operator %q not translated", op)
	}
	switch op {
	case "equals", "not-equals":
		lit, typ, err := celLiteral(arg)
		if err != nil {
			return "", err
		}
		eq := fmt.Sprintf("type(%s) == %s && %s == %s", A, typ, A, lit)
		if op == "equals" {
			return pre + eq, nil
		}
		return pre + celScalar(A) + " && !(" + eq + ")", nil
	case "in", "not-in":
		list, _ := arg.([]any)
		var alts []string
		for _, e := range list {
			lit, typ, err := celLiteral(e)
			if err != nil {
				return "", err
			}
			alts = append(alts, fmt.Sprintf("(type(%s) == %s && %s == %s)", A, typ, A, lit))
		}
		switch {
		case op == "in" && len(alts) == 0:
			return "false", nil
		case op == "in":
			return pre + celScalar(A) + " && (" + strings.Join(alts, " || ") + ")", nil
		case len(alts) == 0:
			return pre + celScalar(A), nil
		}
		return pre + celScalar(A) + " && !(" + strings.Join(alts, " || ") + ")", nil
	case "contains", "not-contains":
		lit, typ, err := celLiteral(arg)
		if err != nil {
			return "", err
		}
		neg := map[bool]string{true: "", false: "!"}[op == "contains"]
		inList := fmt.Sprintf("(type(%s) == list && %s%s.exists(e, type(e) == %s && e == %s))", A, neg, A, typ, lit)
		if typ != "string" {
			return pre + inList, nil // a string holds no number or boolean
		}
		return fmt.Sprintf("%s((type(%s) == string && %s%s.contains(%s)) || %s)", pre, A, neg, A, lit, inList), nil
	case "greater-than", "greater-than-equals", "less-than", "less-than-equals":
		lit, typ, err := celLiteral(arg)
		if err != nil || typ != "double" {
			return "", errors.Join(fmt.Errorf("%s needs a number", op), err)
		}
		return fmt.Sprintf("%stype(%s) == double && %s %s %s", pre, A, A, celOps[op], lit), nil
	case "before", "after":
		s, _ := arg.(string)
		t, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s))
		if err != nil {
			return "", fmt.Errorf("time %q: %w", s, err)
		}
		return fmt.Sprintf("%s%s && %s %s timestamp(%q)", pre, celIsTime(A), celTime(A), celOps[op], t.UTC().Format(time.RFC3339Nano)), nil
	}
	return "", fmt.Errorf("operator %q not translated", op)
}

var celOps = map[string]string{
	"greater-than": ">", "greater-than-equals": ">=", "less-than": "<", "less-than-equals": "<=",
	"before": "<", "after": ">",
}

// ABACIndex holds the data set's stored facts, which the harness sends
// with each check to Cerbos (it keeps none), and to Gatehouse when it
// measures inline attributes.
type ABACIndex struct {
	users     map[string]map[string]any
	instances map[string]*authz.Instance // "type\x00key"
	tenants   map[string]map[string]any
}

// NewABACIndex indexes the data set's users, instances and tenants.
func NewABACIndex(d *authz.Data) *ABACIndex {
	x := &ABACIndex{users: map[string]map[string]any{}, instances: map[string]*authz.Instance{}, tenants: map[string]map[string]any{}}
	for _, u := range d.Users {
		x.users[u.Key] = u.Attributes
	}
	for i := range d.Instances {
		in := &d.Instances[i]
		x.instances[in.Resource+"\x00"+in.Key] = in
	}
	for _, t := range d.Tenants {
		x.tenants[t.Key] = orEmpty(t.Attributes)
	}
	if x.tenants[authz.DefaultTenant] == nil {
		x.tenants[authz.DefaultTenant] = map[string]any{} // every environment has it
	}
	return x
}

// overlay is stored with inline over it, name by name (an inline null
// hides the stored value, as in Gatehouse).
func overlay(stored, inline map[string]any) map[string]any {
	out := make(map[string]any, len(stored)+len(inline))
	for k, v := range stored {
		out[k] = v
	}
	for k, v := range inline {
		out[k] = v
	}
	return out
}

// Attributes returns the user's and the resource's attributes as
// Gatehouse reads them for r: stored, with r's over them.
func (x *ABACIndex) Attributes(r *authz.Request) (user, resource map[string]any) {
	var stored map[string]any
	if in := x.instances[r.Resource+"\x00"+r.Key]; r.Key != "" && in != nil {
		stored = in.Attributes
	}
	return overlay(x.users[r.User], r.UserAttributes), overlay(stored, r.ResourceAttributes)
}

// tenant resolves the check's tenant as Gatehouse does; ok is false when
// the check names another tenant than its instance's or an unknown one.
func (x *ABACIndex) tenant(r *authz.Request) (string, bool) {
	t := r.Tenant
	if in := x.instances[r.Resource+"\x00"+r.Key]; r.Key != "" && in != nil {
		it := in.Tenant
		if it == "" {
			it = authz.DefaultTenant
		}
		if t != "" && t != it {
			return "", false
		}
		t = it
	}
	if t == "" {
		t = authz.DefaultTenant
	}
	_, ok := x.tenants[t]
	return t, ok
}

// CerbosRequest is the body of POST /api/check/resources for r: the user
// as principal (roles: "user"; the rules allow any role), the resource
// with its attributes and the reserved one. A resource with no key is
// sent with the id "-" (Cerbos requires one; the conditions read the key
// from the reserved attribute).
func (x *ABACIndex) CerbosRequest(r *authz.Request) (json.RawMessage, error) {
	user, res := x.Attributes(r)
	if _, clash := res[CerbosReserved]; clash {
		return nil, fmt.Errorf("the resource has an attribute %q, which carries the check's context to Cerbos", CerbosReserved)
	}
	g := map[string]any{"context": orEmpty(r.Context), "tenant_attributes": map[string]any{}}
	if r.Key != "" {
		g["key"] = r.Key
	}
	if t, ok := x.tenant(r); ok {
		g["tenant"] = t
		g["tenant_attributes"] = x.tenants[t]
	}
	res[CerbosReserved] = g
	id := r.Key
	if id == "" {
		id = "-"
	}
	return json.Marshal(map[string]any{
		"requestId": "abac",
		"principal": map[string]any{"id": r.User, "roles": []string{"user"}, "attr": user},
		"resources": []any{map[string]any{
			"actions":  []string{r.Action},
			"resource": map[string]any{"kind": r.Resource, "id": id, "attr": res},
		}},
	})
}
