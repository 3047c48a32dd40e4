package authz

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// condAttrs is the check every condition test reads, unless a case gives its own.
func condAttrs() *attrs {
	return &attrs{
		userKey: "ada",
		user: map[string]any{
			"department": "finance",
			"level":      float64(3), // as decoded from JSON
			"age":        int64(41),
			"admin":      true,
			"tags":       []any{"eu", "oncall", float64(7)},
			"groups":     []string{"auditors", "staff"},
			"address":    map[string]any{"city": "Lyon", "geo": map[string]any{"zip": "69001"}},
			"joined":     "2020-02-29T08:00:00Z",
			"limit":      float64(1000),
			"nothing":    nil,
			"bio":        "likes ledgers",
			"home.city":  "Paris", // a flat name with a dot wins over nesting
			"count32":    int32(5),
			"countU":     uint(5),
			"ratio":      float32(0.5),
			"big":        uint64(math.MaxUint64),
			"num":        json.Number("12"),
			"odd":        struct{}{},
		},
		userInline:   map[string]any{"level": 5, "address": map[string]any{"zip": "75001"}},
		resourceType: "invoice",
		resourceKey:  "inv-1",
		resource: map[string]any{
			"amount":   float64(250),
			"owner":    "ada",
			"currency": "EUR",
			"due":      time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
			"created":  "2024-04-01T09:30:00+02:00",
			"flags":    []any{},
			"stamp":    "not a time",
		},
		resourceInline: map[string]any{"currency": "USD"},
		tenantKey:      "acme",
		tenant:         map[string]any{"plan": "pro", "seats": 10},
		context:        map[string]any{"ip": "10.0.0.1", "now": "2024-05-01T12:00:00.000000001Z", "budget": 250, "region": "eu"},
	}
}

// condMatchCases are compiled and matched against condAttrs.
var condMatchCases = []struct {
	name string
	cond string
	want bool
}{
	// Empty conditions.
	{"null", `null`, true},
	{"empty", ``, true},
	{"empty object", `{}`, true},
	{"allOf empty", `{"allOf": []}`, true},
	{"anyOf empty", `{"anyOf": []}`, false},
	{"not empty", `{"not": {}}`, false},
	{"allOf of empty", `{"allOf": [{}]}`, true},

	// equals.
	{"equals string", `{"user.department": {"equals": "finance"}}`, true},
	{"equals string no", `{"user.department": {"equals": "sales"}}`, false},
	{"equals bool", `{"user.admin": {"equals": true}}`, true},
	{"equals bool no", `{"user.admin": {"equals": false}}`, false},
	{"equals float64 attr int literal", `{"resource.amount": {"equals": 250}}`, true},
	{"equals float literal", `{"resource.amount": {"equals": 250.0}}`, true},
	{"equals int64 attr", `{"user.age": {"equals": 41}}`, true},
	{"equals int32 attr", `{"user.count32": {"equals": 5}}`, true},
	{"equals uint attr", `{"user.countU": {"equals": 5}}`, true},
	{"equals float32 attr", `{"user.ratio": {"equals": 0.5}}`, true},
	{"equals json.Number attr", `{"user.num": {"equals": 12}}`, true},
	{"equals huge uint", `{"user.big": {"equals": 18446744073709551615}}`, true},
	{"equals int in a Go map", `{"tenant.seats": {"equals": 10}}`, true},
	{"equals type mismatch", `{"resource.amount": {"equals": "250"}}`, false},
	{"equals bool vs string", `{"user.admin": {"equals": "true"}}`, false},
	{"equals on an array", `{"user.tags": {"equals": "eu"}}`, false},
	{"equals on an unknown type", `{"user.odd": {"equals": "x"}}`, false},
	{"equals missing", `{"user.nope": {"equals": "x"}}`, false},
	{"equals null", `{"user.nothing": {"equals": "x"}}`, false},

	// not-equals.
	{"not-equals", `{"user.department": {"not-equals": "sales"}}`, true},
	{"not-equals same", `{"user.department": {"not-equals": "finance"}}`, false},
	{"not-equals other type", `{"resource.amount": {"not-equals": "250"}}`, true},
	{"not-equals numbers", `{"user.age": {"not-equals": 41.0}}`, false},
	{"not-equals missing", `{"user.nope": {"not-equals": "x"}}`, false},
	{"not-equals on an array", `{"user.tags": {"not-equals": "x"}}`, false},

	// in, not-in.
	{"in", `{"user.department": {"in": ["sales", "finance"]}}`, true},
	{"in no", `{"user.department": {"in": ["sales", "hr"]}}`, false},
	{"in empty", `{"user.department": {"in": []}}`, false},
	{"in numbers", `{"user.age": {"in": [40, 41.0]}}`, true},
	{"in mixed", `{"user.admin": {"in": ["x", 1, true]}}`, true},
	{"in many strings (set)", `{"user.department": {"in": ["a","b","c","d","e","f","g","h","finance", 3]}}`, true},
	{"in many strings, number", `{"user.level": {"in": ["a","b","c","d","e","f","g","h","i", 5]}}`, true},
	{"in many strings no", `{"user.department": {"in": ["a","b","c","d","e","f","g","h","i"]}}`, false},
	{"in missing", `{"user.nope": {"in": ["x"]}}`, false},
	{"in on an array", `{"user.tags": {"in": ["eu"]}}`, false},
	{"not-in", `{"user.department": {"not-in": ["sales", "hr"]}}`, true},
	{"not-in no", `{"user.department": {"not-in": ["finance"]}}`, false},
	{"not-in empty", `{"user.department": {"not-in": []}}`, true},
	{"not-in set", `{"user.department": {"not-in": ["a","b","c","d","e","f","g","h","finance"]}}`, false},
	{"not-in missing", `{"user.nope": {"not-in": ["x"]}}`, false},

	// contains, not-contains.
	{"contains substring", `{"user.bio": {"contains": "ledger"}}`, true},
	{"contains substring no", `{"user.bio": {"contains": "cats"}}`, false},
	{"contains []any", `{"user.tags": {"contains": "oncall"}}`, true},
	{"contains []any number", `{"user.tags": {"contains": 7}}`, true},
	{"contains []any no", `{"user.tags": {"contains": "us"}}`, false},
	{"contains []string", `{"user.groups": {"contains": "auditors"}}`, true},
	{"contains []string no", `{"user.groups": {"contains": "audit"}}`, false},
	{"contains []string number", `{"user.groups": {"contains": 1}}`, false},
	{"contains empty array", `{"resource.flags": {"contains": "x"}}`, false},
	{"contains string with number", `{"user.bio": {"contains": 1}}`, false},
	{"contains on a number", `{"user.level": {"contains": "5"}}`, false},
	{"contains missing", `{"user.nope": {"contains": "x"}}`, false},
	{"not-contains", `{"user.tags": {"not-contains": "us"}}`, true},
	{"not-contains no", `{"user.tags": {"not-contains": "eu"}}`, false},
	{"not-contains string", `{"user.bio": {"not-contains": "cats"}}`, true},
	{"not-contains []string", `{"user.groups": {"not-contains": "staff"}}`, false},
	{"not-contains empty array", `{"resource.flags": {"not-contains": "x"}}`, true},
	{"not-contains on a number", `{"user.level": {"not-contains": "5"}}`, false},
	{"not-contains missing", `{"user.nope": {"not-contains": "x"}}`, false},

	// greater/less.
	{"greater-than", `{"resource.amount": {"greater-than": 100}}`, true},
	{"greater-than equal", `{"resource.amount": {"greater-than": 250}}`, false},
	{"greater-than-equals equal", `{"resource.amount": {"greater-than-equals": 250}}`, true},
	{"greater-than-equals more", `{"resource.amount": {"greater-than-equals": 250.5}}`, false},
	{"less-than", `{"resource.amount": {"less-than": 250.5}}`, true},
	{"less-than equal", `{"resource.amount": {"less-than": 250}}`, false},
	{"less-than-equals", `{"resource.amount": {"less-than-equals": 250}}`, true},
	{"less-than-equals no", `{"resource.amount": {"less-than-equals": 249.99}}`, false},
	{"greater-than int64", `{"user.age": {"greater-than": 40.5}}`, true},
	{"greater-than negative", `{"user.age": {"greater-than": -1e300}}`, true},
	{"less-than huge", `{"user.age": {"less-than": 1e300}}`, true},
	{"greater-than int exact", `{"user.big": {"greater-than": 9223372036854775807}}`, true},
	{"greater-than on a string", `{"user.department": {"greater-than": 1}}`, false},
	{"less-than on a string", `{"user.department": {"less-than": 1}}`, false},
	{"greater-than missing", `{"user.nope": {"greater-than": 1}}`, false},
	{"not greater-than missing", `{"not": {"user.nope": {"greater-than": 1}}}`, true},

	// before/after.
	{"before time.Time", `{"resource.due": {"before": "2024-06-01T00:00:00Z"}}`, true},
	{"after time.Time", `{"resource.due": {"after": "2024-06-01T00:00:00Z"}}`, false},
	{"before same instant", `{"resource.due": {"before": "2024-05-01T12:00:00Z"}}`, false},
	{"before same instant, other zone", `{"resource.due": {"before": "2024-05-01T14:00:00.000000001+02:00"}}`, true},
	{"after string attr", `{"user.joined": {"after": "2020-02-28T23:59:59-09:00"}}`, false},
	{"after string attr offset", `{"user.joined": {"after": "2020-02-29T07:59:59.999Z"}}`, true},
	{"before string with offset", `{"resource.created": {"before": "2024-04-01T07:30:00.5Z"}}`, true},
	{"after string with offset", `{"resource.created": {"after": "2024-04-01T07:29:59Z"}}`, true},
	{"after nanoseconds", `{"context.now": {"after": "2024-05-01T12:00:00Z"}}`, true},
	{"before unparseable attr", `{"resource.stamp": {"before": "2030-01-01T00:00:00Z"}}`, false},
	{"after unparseable attr", `{"resource.stamp": {"after": "1970-01-01T00:00:00Z"}}`, false},
	{"before on a number", `{"resource.amount": {"before": "2030-01-01T00:00:00Z"}}`, false},
	{"before missing", `{"resource.nope": {"before": "2030-01-01T00:00:00Z"}}`, false},

	// Built-ins.
	{"user.key", `{"user.key": {"equals": "ada"}}`, true},
	{"resource.key", `{"resource.key": {"in": ["inv-1", "inv-2"]}}`, true},
	{"resource.type", `{"resource.type": {"equals": "invoice"}}`, true},
	{"tenant.key", `{"tenant.key": {"not-equals": "globex"}}`, true},
	{"context.key is an attribute", `{"context.key": {"equals": "x"}}`, false},

	// Inline beats stored; nesting.
	{"inline wins", `{"user.level": {"equals": 5}}`, true},
	{"stored hidden by inline", `{"user.level": {"equals": 3}}`, false},
	{"inline other name", `{"resource.currency": {"equals": "USD"}}`, true},
	{"stored read through", `{"resource.owner": {"equals": "ada"}}`, true},
	{"nested in inline", `{"user.address.zip": {"equals": "75001"}}`, true},
	{"inline object replaces stored one", `{"user.address.city": {"equals": "Lyon"}}`, false},
	{"nested not a map", `{"user.department.x": {"equals": "finance"}}`, false},
	{"deep nesting", `{"resource.a.b.c": {"equals": 1}}`, false},
	{"flat name with a dot", `{"user.home.city": {"equals": "Paris"}}`, true},
	{"tenant attr", `{"tenant.plan": {"equals": "pro"}}`, true},
	{"context attr", `{"context.ip": {"equals": "10.0.0.1"}}`, true},

	// References.
	{"ref equals", `{"resource.owner": {"equals": {"ref": "user.key"}}}`, true},
	{"ref not-equals", `{"resource.owner": {"not-equals": {"ref": "user.key"}}}`, false},
	{"ref numbers", `{"resource.amount": {"less-than-equals": {"ref": "context.budget"}}}`, true},
	{"ref numbers strict", `{"resource.amount": {"less-than": {"ref": "context.budget"}}}`, false},
	{"ref greater than inline", `{"user.limit": {"greater-than": {"ref": "user.level"}}}`, true},
	{"ref missing", `{"resource.owner": {"equals": {"ref": "user.nope"}}}`, false},
	{"ref missing not-equals", `{"resource.owner": {"not-equals": {"ref": "user.nope"}}}`, false},
	{"ref in array", `{"context.region": {"in": {"ref": "user.tags"}}}`, true},
	{"ref not-in array", `{"context.region": {"not-in": {"ref": "user.groups"}}}`, true},
	{"ref in a string is no array", `{"context.region": {"in": {"ref": "user.department"}}}`, false},
	{"ref not-in a string is no array", `{"context.region": {"not-in": {"ref": "user.department"}}}`, false},
	{"ref contains", `{"user.groups": {"contains": {"ref": "context.missing"}}}`, false},
	{"ref contains substring", `{"user.bio": {"contains": {"ref": "context.word"}}}`, false},
	{"ref times", `{"resource.due": {"before": {"ref": "context.now"}}}`, true},
	{"ref times reversed", `{"resource.due": {"after": {"ref": "context.now"}}}`, false},
	{"ref time not a time", `{"resource.due": {"after": {"ref": "resource.stamp"}}}`, false},

	// Groups.
	{"allOf", `{"allOf": [{"user.department": {"equals": "finance"}}, {"resource.amount": {"less-than": 1000}}]}`, true},
	{"allOf one false", `{"allOf": [{"user.department": {"equals": "finance"}}, {"resource.amount": {"less-than": 100}}]}`, false},
	{"anyOf", `{"anyOf": [{"user.department": {"equals": "sales"}}, {"resource.amount": {"less-than": 1000}}]}`, true},
	{"anyOf none", `{"anyOf": [{"user.department": {"equals": "sales"}}, {"resource.amount": {"less-than": 100}}]}`, false},
	{"not", `{"not": {"user.department": {"equals": "sales"}}}`, true},
	{"not not", `{"not": {"not": {"user.department": {"equals": "sales"}}}}`, false},
	{"several attributes mean all", `{"user.department": {"equals": "finance"}, "resource.amount": {"less-than": 100}}`, false},
	{"several attributes all true", `{"user.department": {"equals": "finance"}, "resource.amount": {"less-than": 1000}}`, true},
	{"several operators mean all", `{"resource.amount": {"greater-than": 100, "less-than": 200}}`, false},
	{"range", `{"resource.amount": {"greater-than": 100, "less-than": 300}}`, true},
	{"nested groups", `{"anyOf": [{"allOf": [{"user.admin": {"equals": false}}]}, {"not": {"anyOf": [{"tenant.plan": {"equals": "free"}}, {"context.ip": {"equals": "1.2.3.4"}}]}}]}`, true},
}

func TestConditionsMatch(t *testing.T) {
	cases := condMatchCases
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := compileConditions(json.RawMessage(tc.cond))
			if err != nil {
				t.Fatalf("compile %s: %v", tc.cond, err)
			}
			if got := c.match(condAttrs()); got != tc.want {
				t.Errorf("%s: match = %v, want %v", tc.cond, got, tc.want)
			}
		})
	}
}

func TestConditionsEmptyAttrs(t *testing.T) {
	// Nothing stored, nothing given: every comparison is false, its not true.
	var a attrs
	for _, cond := range []string{
		`{"user.key": {"equals": ""}}`,
		`{"resource.key": {"not-equals": "x"}}`,
		`{"resource.type": {"not-in": []}}`,
		`{"tenant.key": {"not-contains": "x"}}`,
		`{"context.x": {"not-equals": 1}}`,
		`{"user.x.y": {"not-equals": 1}}`,
		`{"resource.x": {"equals": {"ref": "resource.x"}}}`,
	} {
		c, err := compileConditions(json.RawMessage(cond))
		if err != nil {
			t.Fatalf("compile %s: %v", cond, err)
		}
		if c.match(&a) {
			t.Errorf("%s matches no attributes", cond)
		}
		not, err := compileConditions(json.RawMessage(`{"not": ` + cond + `}`))
		if err != nil {
			t.Fatal(err)
		}
		if !not.match(&a) {
			t.Errorf("not %s does not match no attributes", cond)
		}
	}
	var nilCond *condition
	if !nilCond.match(&a) {
		t.Error("a nil condition does not match")
	}
}

func TestConditionsInlineNull(t *testing.T) {
	// An inline null replaces the stored value: the attribute is missing.
	a := condAttrs()
	a.userInline = map[string]any{"department": nil}
	c, err := compileConditions(json.RawMessage(`{"user.department": {"equals": "finance"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.match(a) {
		t.Error("inline null did not hide the stored department")
	}
	a.userInline = nil
	if !c.match(a) {
		t.Error("stored department not read without inline attributes")
	}
}

// condErrorCases are conditions with the error they compile to ("": none).
func condErrorCases() []condErrorCase {
	deep := strings.Repeat(`{"not": `, maxCondDepth) + `{"user.a": {"equals": 1}}` + strings.Repeat(`}`, maxCondDepth)
	deepOK := strings.Repeat(`{"not": `, maxCondDepth-1) + `{"user.a": {"equals": 1}}` + strings.Repeat(`}`, maxCondDepth-1)
	leaf := `{"user.a": {"equals": 1}}`
	many := func(n int) string {
		return `{"anyOf": [` + strings.TrimSuffix(strings.Repeat(leaf+",", n), ",") + `]}`
	}
	return []condErrorCase{
		{deepOK, ""},
		{deep, "nest deeper than 32"},
		{many(maxCondLeaves), ""},
		{many(maxCondLeaves + 1), "more than 1000 comparisons"},
		{`{"anyOf": [` + strings.TrimSuffix(strings.Repeat(`{},`, maxCondNodes+1), ",") + `]}`, "more than 2000 groups"},
		{`{"allOf": [`, "not JSON"},
		{`{} {}`, "data after the conditions"},
		{`[]`, "a condition is an object, got an array"},
		{`"x"`, "a condition is an object, got string"},
		{`{"allOf": [null]}`, `at allOf[0]: a condition is an object, got null`},
		{`{"allOf": {}}`, `"allOf" needs an array of conditions, got an object`},
		{`{"anyOf": "x"}`, `"anyOf" needs an array`},
		{`{"not": []}`, `at not: a condition is an object, got an array`},
		{`{"allOf": [], "user.a": {"equals": 1}}`, `"allOf" must be the only key`},
		{`{"user.a": {"equals": 1}, "not": {}}`, `"not" must be the only key`},
		{`{"users.a": {"equals": 1}}`, `unknown attribute "users"`},
		{`{"department": {"equals": 1}}`, `unknown attribute "department"`},
		{`{"user": {"equals": 1}}`, `no attribute name after "user."`},
		{`{"user.": {"equals": 1}}`, `no attribute name`},
		{`{"user.a..b": {"equals": 1}}`, `empty attribute name between dots`},
		{`{"user.key.x": {"equals": 1}}`, `user.key is a string`},
		{`{"resource.type.x": {"equals": 1}}`, `resource.type is a string`},
		{`{"user.a": "finance"}`, `"user.a" needs an object of operators`},
		{`{"user.a": {}}`, `"user.a" has no operator`},
		{`{"anyOf": [{}, {"user.a": {"matches": "x"}}]}`, `at anyOf[1]: "user.a": unknown operator "matches"`},
		{`{"user.a": {"equals": null}}`, `equals needs a string, number or boolean, got null`},
		{`{"user.a": {"equals": [1]}}`, `equals needs a string, number or boolean, got an array`},
		{`{"user.a": {"not-equals": {"x": 1}}}`, `not-equals needs a literal or {"ref": "user.x"}, got an object`},
		{`{"user.a": {"contains": {}}}`, `contains needs a literal or {"ref"`},
		{`{"user.a": {"in": "x"}}`, `"user.a" in needs an array of strings, numbers or booleans, got string "x"`},
		{`{"user.a": {"not-in": 3}}`, `not-in needs an array`},
		{`{"user.a": {"in": ["x", [1]]}}`, `in: element 1 needs a string, number or boolean, got an array`},
		{`{"user.a": {"in": [null]}}`, `element 0 needs a string, number or boolean, got null`},
		{`{"user.a": {"greater-than": "abc"}}`, `"user.a" greater-than needs a number, got string "abc"`},
		{`{"user.a": {"less-than-equals": true}}`, `less-than-equals needs a number, got boolean true`},
		{`{"user.a": {"greater-than-equals": 1e999}}`, `needs a number, got number 1e999`},
		{`{"user.a": {"before": "yesterday"}}`, `before needs an RFC 3339 time`},
		{`{"user.a": {"after": 1714564800}}`, `after needs an RFC 3339 time`},
		{`{"user.a": {"after": "2024-02-30T00:00:00Z"}}`, `RFC 3339`},
		{`{"user.a": {"after": "2024-05-01T24:00:00Z"}}`, `RFC 3339`},
		{`{"user.a": {"after": "2024-05-01T12:00:00"}}`, `RFC 3339`},
		{`{"user.a": {"after": "2024-05-01T12:00:00.Z"}}`, `RFC 3339`},
		{`{"user.a": {"after": "2024-05-01 12:00:00Z"}}`, `RFC 3339`},
		{`{"user.a": {"equals": {"ref": 1}}}`, `equals: ref needs an attribute name, got number 1`},
		{`{"user.a": {"equals": {"ref": "session.x"}}}`, `equals: ref: "session.x": unknown attribute "session"`},
		{`{"user.a": {"equals": {"ref": "user.x", "b": 1}}}`, `needs a literal or {"ref"`},
		{`{"not": {"allOf": [{"user.a": {"equals": 1}}, {"user.b": {"greater-than": "x"}}]}}`, `at not.allOf[1]: "user.b" greater-than needs a number`},
	}
}

type condErrorCase struct {
	cond string
	want string // in the error; "" means it compiles
}

func TestConditionsCompileErrors(t *testing.T) {
	cases := condErrorCases()
	for _, tc := range cases {
		name := tc.cond
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			_, err := compileConditions(json.RawMessage(tc.cond))
			err2 := CompileConditions(json.RawMessage(tc.cond))
			if (err == nil) != (err2 == nil) {
				t.Fatalf("compileConditions says %v, CompileConditions %v", err, err2)
			}
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("compiled; want an error with %q", tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	for _, s := range []string{
		"2024-05-01T12:00:00Z",
		"2024-05-01t12:00:00z",
		"2024-02-29T23:59:59.999999999+05:30",
		"1969-12-31T23:59:59.5-08:00",
		"0001-01-01T00:00:00Z",
		"9999-12-31T23:59:59.123-23:59",
		"2024-05-01T12:00:00.1234567891234Z",
	} {
		want, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s))
		if err != nil {
			t.Fatal(err)
		}
		sec, nsec, ok := parseTime(s)
		if !ok || sec != want.Unix() || int(nsec) != want.Nanosecond() {
			t.Errorf("parseTime(%q) = %d, %d, %v; want %d, %d", s, sec, nsec, ok, want.Unix(), want.Nanosecond())
		}
	}
	for _, s := range []string{
		"", "2024-05-01", "2024-05-01T12:00:00", "2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z",
		"2024-00-01T00:00:00Z", "2024-05-00T00:00:00Z", "2024-05-01T12:60:00Z", "2024-05-01T12:00:60Z",
		"2024-05-01T12:00:00+0200", "2024-05-01T12:00:00+24:00", "2024-05-01T12:00:00ZZ", "2024-O5-01T12:00:00Z",
		"2024-05-01T12:00:00.Z", "+024-05-01T12:00:00Z",
	} {
		if _, _, ok := parseTime(s); ok {
			t.Errorf("parseTime(%q) accepted", s)
		}
	}
}

func TestCmpNum(t *testing.T) {
	i := func(n int64) number { return number{isInt: true, i: n} }
	f := func(x float64) number { return number{f: x} }
	cases := []struct {
		x, y number
		want int
		ok   bool
	}{
		{i(1), i(2), -1, true},
		{i(2), f(1.5), 1, true},
		{f(1.5), i(2), -1, true},
		{i(3), f(3), 0, true},
		{i(math.MaxInt64), f(1 << 63), -1, true}, // float64(MaxInt64) rounds to 2^63
		{i(1<<53 + 1), f(1 << 53), 1, true},      // float64(2^53+1) rounds to 2^53
		{f(1 << 53), i(1<<53 + 1), -1, true},
		{i(math.MinInt64), f(-(1 << 63)), 0, true},
		{i(0), f(math.NaN()), 0, false},
		{f(math.NaN()), i(0), 0, false},
		{f(math.NaN()), f(1), 0, false},
		{f(math.Inf(1)), i(math.MaxInt64), 1, true},
	}
	for _, tc := range cases {
		got, ok := cmpNum(tc.x, tc.y)
		if got != tc.want || ok != tc.ok {
			t.Errorf("cmpNum(%+v, %+v) = %d, %v; want %d, %v", tc.x, tc.y, got, ok, tc.want, tc.ok)
		}
	}
}

// allocCond reads every kind of attribute: nested, inline, built-in,
// referenced, numbers of several types, times with offsets, arrays, sets.
const allocCond = `{"allOf": [
	{"user.department": {"in": ["a","b","c","d","e","f","g","h","finance"]}},
	{"user.address.zip": {"equals": "75001"}},
	{"resource.owner": {"equals": {"ref": "user.key"}}},
	{"resource.amount": {"less-than-equals": {"ref": "context.budget"}}},
	{"user.age": {"greater-than": 40.5}},
	{"user.num": {"equals": 12}},
	{"user.tags": {"contains": 7}},
	{"user.groups": {"not-contains": "x"}},
	{"user.bio": {"contains": "ledger"}},
	{"resource.created": {"before": "2024-04-01T07:30:00.5Z"}},
	{"resource.due": {"after": {"ref": "user.joined"}}},
	{"context.region": {"in": {"ref": "user.tags"}}},
	{"not": {"user.nope": {"equals": 1}}},
	{"anyOf": [{"tenant.key": {"equals": "globex"}}, {"resource.type": {"not-in": ["x", 1]}}]}
]}`

func TestConditionsMatchAllocatesNothing(t *testing.T) {
	c, err := compileConditions(json.RawMessage(allocCond))
	if err != nil {
		t.Fatal(err)
	}
	a := condAttrs()
	if !c.match(a) {
		t.Fatal("allocCond does not match: it must walk every leaf")
	}
	if n := testing.AllocsPerRun(100, func() { c.match(a) }); n != 0 {
		t.Errorf("match allocates %v times per run", n)
	}
}

func BenchmarkConditionsMatch5(b *testing.B) {
	c, err := compileConditions(json.RawMessage(`{"allOf": [
		{"user.department": {"equals": "finance"}},
		{"resource.amount": {"less-than": 1000}},
		{"resource.owner": {"equals": {"ref": "user.key"}}},
		{"anyOf": [{"tenant.plan": {"in": ["pro", "enterprise"]}}, {"user.admin": {"equals": true}}]}
	]}`))
	if err != nil {
		b.Fatal(err)
	}
	a := condAttrs()
	if !c.match(a) {
		b.Fatal("does not match")
	}
	b.ReportAllocs()
	for b.Loop() {
		c.match(a)
	}
}

func TestParseNumber(t *testing.T) {
	cases := []struct {
		s  string
		n  number
		ok bool
	}{
		{"0", number{isInt: true}, true},
		{"-12", number{isInt: true, i: -12}, true},
		{"9223372036854775807", number{isInt: true, i: math.MaxInt64}, true},
		{"-9223372036854775808", number{isInt: true, i: math.MinInt64}, true},
		{"9223372036854775808", number{f: 1 << 63}, true},
		{"99999999999999999999", number{f: 1e20}, true},
		{"1.5", number{f: 1.5}, true},
		{"-2e3", number{f: -2000}, true},
		{"1e999", number{}, false},
		{"", number{}, false},
		{"-", number{}, false},
		{"x", number{}, false},
	}
	for _, tc := range cases {
		n, ok := parseNumber(tc.s)
		if n != tc.n || ok != tc.ok {
			t.Errorf("parseNumber(%q) = %+v, %v; want %+v, %v", tc.s, n, ok, tc.n, tc.ok)
		}
	}
	// A large integer attribute compares without allocating.
	a := &attrs{user: map[string]any{"n": json.Number("99999999999999999999")}}
	c, err := compileConditions(json.RawMessage(`{"user.n": {"greater-than": 9223372036854775807}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !c.match(a) {
		t.Error("1e20 is not greater than MaxInt64")
	}
	if n := testing.AllocsPerRun(100, func() { c.match(a) }); n != 0 {
		t.Errorf("match allocates %v times per run", n)
	}
}
