package fine

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/client/authz/authztest"
)

// ABAC is the ABAC data set (10 user and 10 resource attributes, 20
// condition sets, 50 set rules) with checks answered by authztest's model.
type ABAC struct {
	DS      *authztest.ABACDataset
	Checks  []authztest.FineQuery
	Allowed int
}

var (
	abacOnce sync.Once
	abacSet  *ABAC
)

// LoadABAC generates the data set (5000 users, 20000 instances of each of
// 3 types) and n checks, once.
func LoadABAC(n int) *ABAC {
	abacOnce.Do(func() { abacSet = NewABAC(5000, 20000, n) })
	return abacSet
}

// NewABAC generates the data set with users users and perType instances
// of each type, and n checks.
func NewABAC(users, perType, n int) *ABAC {
	ds := authztest.GenerateABAC(Seed, users, perType)
	a := &ABAC{DS: ds, Checks: ds.Queries(n, Seed+2)}
	for _, q := range a.Checks {
		if q.Want {
			a.Allowed++
		}
	}
	return a
}

// VerifyGatehouse checks every check against the engine.
func (a *ABAC) VerifyGatehouse(e *authz.Engine) error {
	for i := range a.Checks {
		q := &a.Checks[i]
		if got := e.Decide(&q.Request).Allow; got != q.Want {
			return fmt.Errorf("gatehouse: check %+v = %v, want %v", q.Request, got, q.Want)
		}
	}
	return nil
}

// OPA is the data set as rego (one rule per set rule, one per condition
// node) and data, prepared once.
type OPA struct {
	Rego   string
	Query  rego.PreparedEvalQuery
	Inputs []map[string]any // one per check, as a caller would build it
}

// regoPrelude resolves the tenant and the attributes as model.go says and
// defines the comparisons of CompileConditions.
const regoPrelude = `package abac

default allow := false

held if {
	input.key != ""
	data.instances[input.resource][input.key]
}

tenant := t if {
	held
	t := data.instances[input.resource][input.key].tenant
	input.tenant in {"", t}
}

tenant := input.tenant if {
	not held
	input.tenant != ""
}

tenant := "default" if {
	not held
	input.tenant == ""
}

user_attr(n) := v if {
	v := input.user_attributes[n]
} else := v if {
	v := data.users[input.user][n]
}

res_attr(n) := v if {
	v := input.resource_attributes[n]
} else := v if {
	held
	v := data.instances[input.resource][input.key].attrs[n]
}

rkey := input.key if input.key != ""

scalar(x) if is_number(x)
scalar(x) if is_string(x)
scalar(x) if is_boolean(x)

same(a, b) if {
	scalar(a)
	a == b
}

has(list, b) if {
	some x in list
	same(x, b)
}

cmp("equals", a, b) if same(a, b)
cmp("not-equals", a, b) if {
	scalar(a)
	type_name(a) == type_name(b)
	a != b
}
cmp("in", a, b) if {
	is_array(b)
	scalar(a)
	has(b, a)
}
cmp("not-in", a, b) if {
	is_array(b)
	scalar(a)
	not has(b, a)
}
cmp("contains", a, b) if {
	is_array(a)
	has(a, b)
}
cmp("contains", a, b) if {
	is_string(a)
	is_string(b)
	contains(a, b)
}
cmp("not-contains", a, b) if {
	is_array(a)
	not has(a, b)
}
cmp("not-contains", a, b) if {
	is_string(a)
	is_string(b)
	not contains(a, b)
}
cmp("greater-than", a, b) if {
	is_number(a)
	is_number(b)
	a > b
}
cmp("greater-than-equals", a, b) if {
	is_number(a)
	is_number(b)
	a >= b
}
cmp("less-than", a, b) if {
	is_number(a)
	is_number(b)
	a < b
}
cmp("less-than-equals", a, b) if {
	is_number(a)
	is_number(b)
	a <= b
}
cmp("before", a, b) if {
	is_string(a)
	is_string(b)
	time.parse_rfc3339_ns(a) < time.parse_rfc3339_ns(b)
}
cmp("after", a, b) if {
	is_string(a)
	is_string(b)
	time.parse_rfc3339_ns(a) > time.parse_rfc3339_ns(b)
}
`

// regoGen writes the rules of the condition trees.
type regoGen struct {
	b strings.Builder
	n int
}

func (g *regoGen) rule() string {
	g.n++
	name := "c" + strconv.Itoa(g.n)
	fmt.Fprintf(&g.b, "\ndefault %s := false\n", name)
	return name
}

// path is the rego expression of an attribute path ("user.dept").
func regoPath(p string) (string, error) {
	scope, name, ok := strings.Cut(p, ".")
	if !ok || strings.Contains(name, ".") {
		return "", fmt.Errorf("path %q not translated", p)
	}
	q := strconv.Quote(name)
	switch scope + "." + name {
	case "user.key":
		return "input.user", nil
	case "resource.key":
		return "rkey", nil
	case "resource.type":
		return "input.resource", nil
	case "tenant.key":
		return "tenant", nil
	}
	switch scope {
	case "user":
		return "user_attr(" + q + ")", nil
	case "resource":
		return "res_attr(" + q + ")", nil
	case "tenant":
		return "data.tenants[tenant][" + q + "]", nil
	case "context":
		return "input.context[" + q + "]", nil
	}
	return "", fmt.Errorf("path %q not translated", p)
}

// node returns the name of a rule true when the condition n holds.
func (g *regoGen) node(n any) (string, error) {
	name := g.rule()
	obj, ok := n.(map[string]any)
	if n == nil || ok && len(obj) == 0 {
		fmt.Fprintf(&g.b, "%s := true\n", name)
		return name, nil
	}
	if !ok {
		return name, nil // malformed: false
	}
	var body []string
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := obj[k]
		switch k {
		case "allOf", "anyOf":
			list, ok := v.([]any)
			if !ok {
				body = append(body, "false")
				continue
			}
			var subs []string
			for _, c := range list {
				s, err := g.node(c)
				if err != nil {
					return "", err
				}
				subs = append(subs, s)
			}
			if k == "allOf" {
				body = append(body, subs...)
				continue
			}
			any := g.rule()
			for _, s := range subs {
				fmt.Fprintf(&g.b, "%s if %s\n", any, s)
			}
			body = append(body, any)
		case "not":
			s, err := g.node(v)
			if err != nil {
				return "", err
			}
			body = append(body, "not "+s)
		default:
			ops, ok := v.(map[string]any)
			if !ok || len(ops) == 0 {
				body = append(body, "false")
				continue
			}
			a, err := regoPath(k)
			if err != nil {
				return "", err
			}
			cmp := g.rule()
			var cb []string
			cb = append(cb, "a := "+a, "a != null")
			opKeys := make([]string, 0, len(ops))
			for op := range ops {
				opKeys = append(opKeys, op)
			}
			sort.Strings(opKeys)
			for i, op := range opKeys {
				operand := ops[op]
				b := fmt.Sprintf("b%d", i)
				if ref, isRef := operand.(map[string]any); isRef {
					p, _ := ref["ref"].(string)
					expr, err := regoPath(p)
					if len(ref) != 1 || err != nil {
						cb = append(cb, "false")
						continue
					}
					cb = append(cb, b+" := "+expr, b+" != null")
				} else {
					lit, err := json.Marshal(operand)
					if err != nil {
						return "", err
					}
					cb = append(cb, b+" := "+string(lit))
				}
				cb = append(cb, fmt.Sprintf("cmp(%q, a, %s)", op, b))
			}
			fmt.Fprintf(&g.b, "%s if {\n\t%s\n}\n", cmp, strings.Join(cb, "\n\t"))
			body = append(body, cmp)
		}
	}
	fmt.Fprintf(&g.b, "%s if {\n\t%s\n}\n", name, strings.Join(body, "\n\t"))
	return name, nil
}

// RegoOf translates the data set's condition sets and set rules to rego.
func RegoOf(d *authz.Data) (string, error) {
	g := &regoGen{}
	g.b.WriteString(regoPrelude)
	sets := map[string]string{}
	typeOf := map[string]string{}
	for _, cs := range d.ConditionSets {
		var doc any
		if err := json.Unmarshal(cs.Conditions, &doc); err != nil {
			return "", err
		}
		fmt.Fprintf(&g.b, "\n# condition set %s\n", cs.Key)
		name, err := g.node(doc)
		if err != nil {
			return "", err
		}
		sets[cs.Key] = name
		typeOf[cs.Key] = cs.Resource
	}
	for _, sr := range d.SetRules {
		fmt.Fprintf(&g.b, "\n# %s × %s × %s\nallow if {\n\tinput.resource == %q\n\tinput.action == %q\n\tdata.tenants[tenant]\n\t%s\n\t%s\n}\n",
			sr.UserSet, sr.Action, sr.ResourceSet, typeOf[sr.ResourceSet], sr.Action, sets[sr.UserSet], sets[sr.ResourceSet])
	}
	return g.b.String(), nil
}

// jsonValue turns Go values into what encoding/json gives back (float64,
// []any, map[string]any), the input OPA reads.
func jsonValue(v any) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	return out, json.Unmarshal(raw, &out)
}

// RegoData is the stored data the rego of RegoOf reads: data.users[key]
// (attributes), data.tenants[key] (attributes) and
// data.instances[type][key] ({tenant, attrs}), as encoding/json gives it.
func RegoData(d *authz.Data) (map[string]any, error) {
	users := map[string]any{}
	for _, u := range d.Users {
		users[u.Key] = u.Attributes
	}
	tenants := map[string]any{}
	for _, t := range d.Tenants {
		attrs := t.Attributes
		if attrs == nil {
			attrs = map[string]any{}
		}
		tenants[t.Key] = attrs
	}
	instances := map[string]map[string]any{}
	for _, in := range d.Instances {
		if instances[in.Resource] == nil {
			instances[in.Resource] = map[string]any{}
		}
		t := in.Tenant
		if t == "" {
			t = authz.DefaultTenant
		}
		instances[in.Resource][in.Key] = map[string]any{"tenant": t, "attrs": in.Attributes}
	}
	data, err := jsonValue(map[string]any{"users": users, "tenants": tenants, "instances": instances})
	if err != nil {
		return nil, err
	}
	return data.(map[string]any), nil
}

// RegoInput is the input of one check for the rego of RegoOf.
func RegoInput(r *authz.Request) (map[string]any, error) {
	in, err := jsonValue(map[string]any{
		"user": r.User, "user_attributes": orEmpty(r.UserAttributes), "action": r.Action, "resource": r.Resource,
		"key": r.Key, "tenant": r.Tenant, "resource_attributes": orEmpty(r.ResourceAttributes), "context": orEmpty(r.Context),
	})
	if err != nil {
		return nil, err
	}
	return in.(map[string]any), nil
}

// NewOPA translates the data set, loads its data and prepares the query.
func NewOPA(ctx context.Context, a *ABAC) (*OPA, error) {
	d := &a.DS.Data
	src, err := RegoOf(d)
	if err != nil {
		return nil, err
	}
	data, err := RegoData(d)
	if err != nil {
		return nil, err
	}
	pq, err := rego.New(
		rego.Query("data.abac.allow"),
		rego.Module("abac.rego", src),
		rego.Store(inmem.NewFromObject(data)),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, src)
	}
	o := &OPA{Rego: src, Query: pq}
	for i := range a.Checks {
		in, err := RegoInput(&a.Checks[i].Request)
		if err != nil {
			return nil, err
		}
		o.Inputs = append(o.Inputs, in)
	}
	return o, nil
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// Check evaluates the prepared query on input i.
func (o *OPA) Check(ctx context.Context, i int) (bool, error) {
	rs, err := o.Query.Eval(ctx, rego.EvalInput(o.Inputs[i]))
	if err != nil {
		return false, err
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return false, fmt.Errorf("opa: %d results", len(rs))
	}
	allow, _ := rs[0].Expressions[0].Value.(bool)
	return allow, nil
}

// Verify checks every check against OPA.
func (o *OPA) Verify(ctx context.Context, a *ABAC) error {
	for i := range a.Checks {
		got, err := o.Check(ctx, i)
		if err != nil {
			return err
		}
		if got != a.Checks[i].Want {
			return fmt.Errorf("opa: check %+v = %v, want %v", a.Checks[i].Request, got, a.Checks[i].Want)
		}
	}
	return nil
}
