package authz

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Attribute conditions (rule 5) are compiled once, when a ConditionSet is
// written, into a tree of condition nodes whose leaves hold their attribute
// references and literals already parsed; a check walks the tree and reads
// the attributes without decoding JSON and without allocating.

// Bounds of one condition tree: allOf/anyOf/not nest at most
// maxCondDepth deep, and a tree has at most maxCondLeaves comparisons.
const (
	maxCondDepth  = 32
	maxCondLeaves = 1000
	// maxCondNodes bounds allOf/anyOf/not nodes and empty conditions, so
	// that a tree of empty groups cannot grow without comparisons.
	maxCondNodes = 2 * maxCondLeaves
)

// attrs is what conditions read during one check.
type attrs struct {
	userKey                   string
	user, userInline          map[string]any // stored, and given in the request (inline wins)
	resourceType, resourceKey string
	resource, resourceInline  map[string]any
	tenantKey                 string
	tenant                    map[string]any
	context                   map[string]any
}

// condOp is what a condition node does.
type condOp uint8

const (
	opTrue condOp = iota // matches everything (empty conditions)
	opAll
	opAny
	opNot
	opEq
	opNe
	opIn
	opNotIn
	opContains
	opNotContains
	opGt
	opGe
	opLt
	opLe
	opBefore
	opAfter
)

var condOpNames = map[string]condOp{
	"equals":              opEq,
	"not-equals":          opNe,
	"in":                  opIn,
	"not-in":              opNotIn,
	"contains":            opContains,
	"not-contains":        opNotContains,
	"greater-than":        opGt,
	"greater-than-equals": opGe,
	"less-than":           opLt,
	"less-than-equals":    opLe,
	"before":              opBefore,
	"after":               opAfter,
}

// condition is one compiled node: a group (allOf, anyOf, not) over kids, or
// a comparison of the attribute attr with arg.
type condition struct {
	op   condOp
	kids []condition // allOf, anyOf; not has exactly one
	attr attrRef
	arg  operand
}

// attrRoot is whose attribute a reference reads.
type attrRoot uint8

const (
	rootUser attrRoot = iota
	rootResource
	rootTenant
	rootContext
)

var attrRoots = map[string]attrRoot{"user": rootUser, "resource": rootResource, "tenant": rootTenant, "context": rootContext}

// builtin is a reference to a value the engine knows, not an attribute.
type builtin uint8

const (
	notBuiltin  builtin = iota
	builtinKey          // user.key, resource.key, tenant.key
	builtinType         // resource.type
)

// attrRef is a parsed reference such as "user.address.city".
type attrRef struct {
	root    attrRoot
	builtin builtin
	name    string   // after the root: "address.city"
	path    []string // name split at its dots: ["address", "city"]
}

// operand is the right side of a comparison: another attribute (ref) or a
// literal (lit, or list and set for in/not-in).
type operand struct {
	ref  *attrRef
	lit  value
	list []value             // in, not-in: the literal array
	set  map[string]struct{} // in, not-in: the array's strings, when it has many
}

// inSetMin is the number of strings from which a literal in/not-in array
// is looked up in a set rather than scanned.
const inSetMin = 8

// kind is the type of a value as conditions see it.
type kind uint8

const (
	kNone   kind = iota // missing (or null)
	kString             // also what an RFC 3339 time is, until a time operator reads it
	kNum
	kBool
	kTime  // a time.Time from a Go caller, or a parsed literal
	kList  // []any or []string
	kOther // anything else: never equal to anything
)

// value is an attribute or literal, converted without allocating.
type value struct {
	kind kind
	b    bool
	s    string
	num  number
	sec  int64 // kTime: seconds since the Unix epoch
	nsec int32 // kTime
	list any   // kList: the []any or []string
}

func (v value) scalar() bool { return v.kind == kString || v.kind == kNum || v.kind == kBool }

// number is an exact integer or a float.
type number struct {
	isInt bool
	i     int64
	f     float64
}

// CompileConditions checks that raw is valid condition JSON, as a
// ConditionSet's Conditions; the error wraps ErrInvalid and says where and
// what is wrong.
//
// Conditions are {"allOf": [c, ...]} (all of them; true when empty),
// {"anyOf": [c, ...]} (any of them; false when empty), {"not": c}, or
// comparisons {"user.department": {"equals": "finance"}}; an object with
// several attributes, or an attribute with several operators, means all of
// them. null and {} match everything.
//
// Attributes are "user.x", "resource.x", "tenant.x" and "context.x", with
// "user.address.city" reaching into nested objects; "user.key",
// "resource.key", "resource.type" and "tenant.key" are the keys of the check.
// Attributes given in a check replace the stored ones of the same name.
//
// Operators: equals and not-equals (strings, numbers, booleans), in and
// not-in (the attribute equals an element of an array), contains and
// not-contains (a string attribute contains a substring, or an array
// attribute holds an element), greater-than, greater-than-equals, less-than,
// less-than-equals (numbers), before and after (RFC 3339 times). The
// operand is a literal or {"ref": "user.x"}, another attribute. A
// comparison whose attribute is missing is false (so its "not" is true), and
// so is one whose attribute is of a type the operator does not apply to;
// but two scalars of different types are not equal, so not-equals between
// them is true (as != is in OPA's Rego). Numbers compare by value whatever
// their Go type.
//
// Conditions nest at most 32 deep and hold at most 1000 comparisons.
func CompileConditions(raw json.RawMessage) error {
	_, err := compileConditions(raw)
	return err
}

// compileConditions compiles raw (see CompileConditions).
func compileConditions(raw json.RawMessage) (*condition, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return &condition{op: opTrue}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: conditions: not JSON: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: conditions: not JSON: data after the conditions", ErrInvalid)
	}
	if v == nil {
		return &condition{op: opTrue}, nil
	}
	var cc condCompiler
	c, err := cc.node(v, "", 1)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

type condCompiler struct {
	leaves, nodes int
}

func condErr(path, format string, args ...any) error {
	where := "conditions"
	if path != "" {
		where += " at " + path
	}
	return fmt.Errorf("%w: %s: %s", ErrInvalid, where, fmt.Sprintf(format, args...))
}

func joinPath(path, step string) string {
	if path == "" {
		return step
	}
	return path + "." + step
}

// node compiles one condition at path, depth levels deep.
func (cc *condCompiler) node(v any, path string, depth int) (condition, error) {
	if depth > maxCondDepth {
		return condition{}, condErr(path, "conditions nest deeper than %d", maxCondDepth)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return condition{}, condErr(path, "a condition is an object, got %s", describe(v))
	}
	if len(m) == 0 {
		return condition{op: opTrue}, cc.count(path, false)
	}
	for _, group := range [...]string{"allOf", "anyOf", "not"} {
		g, ok := m[group]
		if !ok {
			continue
		}
		if len(m) != 1 {
			return condition{}, condErr(path, "%q must be the only key of its object, got %s", group, keyList(m))
		}
		if err := cc.count(path, false); err != nil {
			return condition{}, err
		}
		if group == "not" {
			kid, err := cc.node(g, joinPath(path, "not"), depth+1)
			if err != nil {
				return condition{}, err
			}
			return condition{op: opNot, kids: []condition{kid}}, nil
		}
		list, ok := g.([]any)
		if !ok {
			return condition{}, condErr(path, "%q needs an array of conditions, got %s", group, describe(g))
		}
		c := condition{op: opAll, kids: make([]condition, len(list))}
		if group == "anyOf" {
			c.op = opAny
		}
		for i, e := range list {
			kid, err := cc.node(e, joinPath(path, fmt.Sprintf("%s[%d]", group, i)), depth+1)
			if err != nil {
				return condition{}, err
			}
			c.kids[i] = kid
		}
		return c, nil
	}
	// Comparisons: every key is an attribute, every attribute's value an
	// object of operators; all of them must hold.
	var leaves []condition
	for _, name := range sortedKeys(m) {
		ref, err := parseRef(name)
		if err != nil {
			return condition{}, condErr(path, "%v", err)
		}
		ops, ok := m[name].(map[string]any)
		if !ok {
			return condition{}, condErr(path, "%q needs an object of operators such as {\"equals\": ...}, got %s", name, describe(m[name]))
		}
		if len(ops) == 0 {
			return condition{}, condErr(path, "%q has no operator", name)
		}
		for _, opName := range sortedKeys(ops) {
			leaf, err := cc.compare(ref, name, opName, ops[opName], path)
			if err != nil {
				return condition{}, err
			}
			leaves = append(leaves, leaf)
		}
	}
	if len(leaves) == 1 {
		return leaves[0], nil
	}
	return condition{op: opAll, kids: leaves}, nil
}

// count counts a node (leaf: a comparison) against the bounds.
func (cc *condCompiler) count(path string, leaf bool) error {
	if leaf {
		cc.leaves++
		if cc.leaves > maxCondLeaves {
			return condErr(path, "more than %d comparisons", maxCondLeaves)
		}
		return nil
	}
	cc.nodes++
	if cc.nodes > maxCondNodes {
		return condErr(path, "more than %d groups and empty conditions", maxCondNodes)
	}
	return nil
}

// compare compiles the comparison {name: {opName: arg}}.
func (cc *condCompiler) compare(ref attrRef, name, opName string, arg any, path string) (condition, error) {
	if err := cc.count(path, true); err != nil {
		return condition{}, err
	}
	op, ok := condOpNames[opName]
	if !ok {
		return condition{}, condErr(path, "%q: unknown operator %q (known: %s)", name, opName, strings.Join(sortedKeys(condOpNames), ", "))
	}
	bad := func(need string) (condition, error) {
		return condition{}, condErr(path, "%q %s needs %s, got %s", name, opName, need, describe(arg))
	}
	c := condition{op: op, attr: ref}
	if m, ok := arg.(map[string]any); ok {
		r, isRef := m["ref"]
		if !isRef || len(m) != 1 {
			return bad(`a literal or {"ref": "user.x"}`)
		}
		s, ok := r.(string)
		if !ok {
			return condition{}, condErr(path, "%q %s: ref needs an attribute name, got %s", name, opName, describe(r))
		}
		other, err := parseRef(s)
		if err != nil {
			return condition{}, condErr(path, "%q %s: ref: %v", name, opName, err)
		}
		c.arg.ref = &other
		return c, nil
	}
	switch op {
	case opEq, opNe, opContains, opNotContains:
		v, ok := literal(arg)
		if !ok {
			return bad("a string, number or boolean")
		}
		c.arg.lit = v
	case opIn, opNotIn:
		list, ok := arg.([]any)
		if !ok {
			return bad("an array of strings, numbers or booleans")
		}
		c.arg.list = make([]value, 0, len(list))
		strs := 0
		for i, e := range list {
			v, ok := literal(e)
			if !ok {
				return condition{}, condErr(path, "%q %s: element %d needs a string, number or boolean, got %s", name, opName, i, describe(e))
			}
			if v.kind == kString {
				strs++
			}
			c.arg.list = append(c.arg.list, v)
		}
		if strs >= inSetMin {
			// Strings are looked up in the set, the rest scanned.
			c.arg.set = make(map[string]struct{}, strs)
			rest := c.arg.list[:0]
			for _, v := range c.arg.list {
				if v.kind == kString {
					c.arg.set[v.s] = struct{}{}
				} else {
					rest = append(rest, v)
				}
			}
			c.arg.list = rest
		}
	case opGt, opGe, opLt, opLe:
		v, ok := literal(arg)
		if !ok || v.kind != kNum {
			return bad("a number")
		}
		if math.IsNaN(v.num.f) {
			return bad("a number")
		}
		c.arg.lit = v
	case opBefore, opAfter:
		s, ok := arg.(string)
		if !ok {
			return bad("an RFC 3339 time such as \"2024-05-01T12:00:00Z\"")
		}
		sec, nsec, ok := parseTime(s)
		if !ok {
			return bad("an RFC 3339 time such as \"2024-05-01T12:00:00Z\"")
		}
		c.arg.lit = value{kind: kTime, sec: sec, nsec: nsec}
	}
	return c, nil
}

// literal converts a decoded JSON scalar.
func literal(v any) (value, bool) {
	switch t := v.(type) {
	case string:
		return value{kind: kString, s: t}, true
	case bool:
		return value{kind: kBool, b: t}, true
	case json.Number:
		n, ok := parseNumber(string(t))
		return value{kind: kNum, num: n}, ok
	}
	return value{}, false
}

// parseRef parses an attribute reference such as "user.address.city".
func parseRef(s string) (attrRef, error) {
	rootName, name, ok := strings.Cut(s, ".")
	root, known := attrRoots[rootName]
	if !known {
		return attrRef{}, fmt.Errorf("%q: unknown attribute %q (attributes start with user., resource., tenant. or context.)", s, rootName)
	}
	if !ok || name == "" {
		return attrRef{}, fmt.Errorf("%q: no attribute name after %q", s, rootName+".")
	}
	r := attrRef{root: root, name: name, path: strings.Split(name, ".")}
	for _, p := range r.path {
		if p == "" {
			return attrRef{}, fmt.Errorf("%q: empty attribute name between dots", s)
		}
	}
	switch {
	case root != rootContext && name == "key":
		r.builtin = builtinKey
	case root == rootResource && name == "type":
		r.builtin = builtinType
	case root != rootContext && (r.path[0] == "key" || root == rootResource && r.path[0] == "type"):
		return attrRef{}, fmt.Errorf("%q: %s.%s is a string, it has no attributes", s, rootName, r.path[0])
	}
	return r, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func keyList(m map[string]any) string {
	keys := sortedKeys(m)
	for i, k := range keys {
		keys[i] = strconv.Quote(k)
	}
	return strings.Join(keys, ", ")
}

// describe names a decoded JSON value's type (and value, if short) for an error.
func describe(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		if len(t) > 40 {
			t = t[:40] + "…"
		}
		return "string " + strconv.Quote(t)
	case bool:
		return "boolean " + strconv.FormatBool(t)
	case json.Number:
		s := string(t)
		if len(s) > 40 {
			s = s[:40] + "…"
		}
		return "number " + s
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// match reports whether the attributes a satisfy c. It does not allocate.
// A nil condition matches everything.
func (c *condition) match(a *attrs) bool {
	if c == nil {
		return true
	}
	switch c.op {
	case opTrue:
		return true
	case opAll:
		for i := range c.kids {
			if !c.kids[i].match(a) {
				return false
			}
		}
		return true
	case opAny:
		for i := range c.kids {
			if c.kids[i].match(a) {
				return true
			}
		}
		return false
	case opNot:
		return !c.kids[0].match(a)
	}
	x := a.lookup(&c.attr)
	if x.kind == kNone {
		return false
	}
	y := c.arg.lit
	if c.arg.ref != nil {
		if y = a.lookup(c.arg.ref); y.kind == kNone {
			return false
		}
	}
	switch c.op {
	case opEq:
		return equal(x, y)
	case opNe:
		return x.scalar() && y.scalar() && !equal(x, y)
	case opIn, opNotIn:
		if !x.scalar() {
			return false
		}
		in, ok := c.arg.has(x, y)
		return ok && in == (c.op == opIn)
	case opContains, opNotContains:
		in, ok := contains(x, y)
		return ok && in == (c.op == opContains)
	case opGt, opGe, opLt, opLe:
		if x.kind != kNum || y.kind != kNum {
			return false
		}
		r, ok := cmpNum(x.num, y.num)
		if !ok {
			return false
		}
		switch c.op {
		case opGt:
			return r > 0
		case opGe:
			return r >= 0
		case opLt:
			return r < 0
		default:
			return r <= 0
		}
	case opBefore, opAfter:
		xs, xn, ok := x.time()
		if !ok {
			return false
		}
		ys, yn, ok := y.time()
		if !ok {
			return false
		}
		r := cmp.Compare(xs, ys)
		if r == 0 {
			r = cmp.Compare(xn, yn)
		}
		if c.op == opBefore {
			return r < 0
		}
		return r > 0
	}
	return false
}

// has reports whether x is an element of the operand's array (the literal,
// or y, the referenced attribute); ok is false when y is not an array.
func (o *operand) has(x, y value) (in, ok bool) {
	if o.ref != nil {
		if y.kind != kList {
			return false, false
		}
		return contains(y, x)
	}
	if o.set != nil && x.kind == kString {
		_, in := o.set[x.s]
		return in, true
	}
	for _, e := range o.list {
		if equal(x, e) {
			return true, true
		}
	}
	return false, true
}

// contains reports whether the string x contains the string y, or the array
// x holds an element equal to y; ok is false for other types.
func contains(x, y value) (in, ok bool) {
	if !y.scalar() {
		return false, false
	}
	switch x.kind {
	case kString:
		if y.kind != kString {
			return false, false
		}
		return strings.Contains(x.s, y.s), true
	case kList:
		switch l := x.list.(type) {
		case []string:
			if y.kind != kString {
				return false, true
			}
			for _, e := range l {
				if e == y.s {
					return true, true
				}
			}
		case []any:
			for _, e := range l {
				if equal(toValue(e), y) {
					return true, true
				}
			}
		}
		return false, true
	}
	return false, false
}

// equal compares strings, booleans and numbers; other values are never equal.
func equal(x, y value) bool {
	if x.kind != y.kind {
		return false
	}
	switch x.kind {
	case kString:
		return x.s == y.s
	case kBool:
		return x.b == y.b
	case kNum:
		r, ok := cmpNum(x.num, y.num)
		return ok && r == 0
	}
	return false
}

// cmpNum compares two numbers exactly; ok is false if either is NaN.
func cmpNum(x, y number) (r int, ok bool) {
	switch {
	case x.isInt && y.isInt:
		return cmp.Compare(x.i, y.i), true
	case x.isInt:
		if math.IsNaN(y.f) {
			return 0, false
		}
		return cmpIntFloat(x.i, y.f), true
	case y.isInt:
		if math.IsNaN(x.f) {
			return 0, false
		}
		return -cmpIntFloat(y.i, x.f), true
	}
	if math.IsNaN(x.f) || math.IsNaN(y.f) {
		return 0, false
	}
	return cmp.Compare(x.f, y.f), true
}

// cmpIntFloat compares i with f (not NaN) exactly.
func cmpIntFloat(i int64, f float64) int {
	// Rounding is monotonic, so float64(i) < f implies i < f; when they are
	// equal, f is an integer within [-2^63, 2^63].
	fi := float64(i)
	switch {
	case fi < f:
		return -1
	case fi > f:
		return 1
	case f >= 1<<63:
		return -1
	}
	return cmp.Compare(i, int64(f))
}

// time reads v as an instant: a time.Time, or an RFC 3339 string.
func (v value) time() (sec int64, nsec int32, ok bool) {
	switch v.kind {
	case kTime:
		return v.sec, v.nsec, true
	case kString:
		return parseTime(v.s)
	}
	return 0, 0, false
}

// lookup reads the attribute r refers to; kind kNone if missing.
func (a *attrs) lookup(r *attrRef) value {
	switch r.root {
	case rootUser:
		if r.builtin == builtinKey {
			return keyValue(a.userKey)
		}
		return find(a.userInline, a.user, r)
	case rootResource:
		switch r.builtin {
		case builtinKey:
			return keyValue(a.resourceKey)
		case builtinType:
			return keyValue(a.resourceType)
		}
		return find(a.resourceInline, a.resource, r)
	case rootTenant:
		if r.builtin == builtinKey {
			return keyValue(a.tenantKey)
		}
		return find(nil, a.tenant, r)
	}
	return find(nil, a.context, r)
}

// keyValue is a key, missing when empty.
func keyValue(s string) value {
	if s == "" {
		return value{}
	}
	return value{kind: kString, s: s}
}

// find reads r in inline, else in stored: the first map that holds r's
// full name ("address.city") or its first name ("address") answers.
func find(inline, stored map[string]any, r *attrRef) value {
	if v, held := findIn(inline, r); held {
		return v
	}
	v, _ := findIn(stored, r)
	return v
}

func findIn(m map[string]any, r *attrRef) (v value, held bool) {
	if m == nil {
		return value{}, false
	}
	if x, ok := m[r.name]; ok {
		return toValue(x), true
	}
	if len(r.path) == 1 {
		return value{}, false
	}
	x, ok := m[r.path[0]]
	if !ok {
		return value{}, false
	}
	for _, p := range r.path[1:] {
		sub, ok := x.(map[string]any)
		if !ok {
			return value{}, true
		}
		if x, ok = sub[p]; !ok {
			return value{}, true
		}
	}
	return toValue(x), true
}

// toValue converts an attribute without allocating.
func toValue(x any) value {
	switch t := x.(type) {
	case nil:
		return value{}
	case string:
		return value{kind: kString, s: t}
	case bool:
		return value{kind: kBool, b: t}
	case float64:
		return value{kind: kNum, num: number{f: t}}
	case int:
		return value{kind: kNum, num: number{isInt: true, i: int64(t)}}
	case int64:
		return value{kind: kNum, num: number{isInt: true, i: t}}
	case int32:
		return value{kind: kNum, num: number{isInt: true, i: int64(t)}}
	case int16:
		return value{kind: kNum, num: number{isInt: true, i: int64(t)}}
	case int8:
		return value{kind: kNum, num: number{isInt: true, i: int64(t)}}
	case uint:
		return uintValue(uint64(t))
	case uint64:
		return uintValue(t)
	case uint32:
		return value{kind: kNum, num: number{isInt: true, i: int64(t)}}
	case uint16:
		return value{kind: kNum, num: number{isInt: true, i: int64(t)}}
	case uint8:
		return value{kind: kNum, num: number{isInt: true, i: int64(t)}}
	case float32:
		return value{kind: kNum, num: number{f: float64(t)}}
	case json.Number:
		n, ok := parseNumber(string(t))
		if !ok {
			return value{kind: kOther}
		}
		return value{kind: kNum, num: n}
	case time.Time:
		return value{kind: kTime, sec: t.Unix(), nsec: int32(t.Nanosecond())}
	case []any, []string:
		return value{kind: kList, list: x}
	}
	return value{kind: kOther}
}

func uintValue(u uint64) value {
	if u > math.MaxInt64 {
		return value{kind: kNum, num: number{f: float64(u)}}
	}
	return value{kind: kNum, num: number{isInt: true, i: int64(u)}}
}

// parseNumber parses a JSON number, exactly when it is an integer that fits
// an int64.
func parseNumber(s string) (number, bool) {
	if i, ok := parseInt(s); ok {
		return number{isInt: true, i: i}, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return number{}, false
	}
	return number{f: f}, true
}

// parseInt parses a decimal integer that fits an int64; unlike
// strconv.ParseInt it does not allocate when it fails (json.Number
// attributes reach it at check time).
func parseInt(s string) (int64, bool) {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	if s == "" || len(s) > 19 {
		return 0, false
	}
	var u uint64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		u = u*10 + uint64(s[i]-'0') // 19 digits fit a uint64
	}
	switch {
	case neg && u <= 1<<63:
		return int64(-u), true
	case !neg && u <= math.MaxInt64:
		return int64(u), true
	}
	return 0, false
}

// parseTime parses an RFC 3339 time ("2024-05-01T12:00:00Z",
// "2024-05-01T14:00:00.5+02:00") into seconds and nanoseconds since the
// Unix epoch without allocating (time.Parse allocates a zone for offsets).
func parseTime(s string) (sec int64, nsec int32, ok bool) {
	if len(s) < len("2006-01-02T15:04:05Z") ||
		s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
		return 0, 0, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	second, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59 {
		return 0, 0, false
	}
	if day > time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day() {
		return 0, 0, false
	}
	rest := s[19:]
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			if n <= 9 {
				nsec = nsec*10 + int32(rest[n]-'0')
			}
			n++
		}
		if n == 1 {
			return 0, 0, false
		}
		for i := n; i <= 9; i++ {
			nsec *= 10
		}
		rest = rest[n:]
	}
	offset := 0
	switch {
	case rest == "Z" || rest == "z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := digits(rest[1:3])
		om, ok2 := digits(rest[4:6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return 0, 0, false
		}
		offset = oh*3600 + om*60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, 0, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, second, 0, time.UTC)
	return t.Unix() - int64(offset), nsec, true
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}
