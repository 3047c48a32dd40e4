package decision

import "testing"

func TestUnknownField(t *testing.T) {
	// Not parallel: AllocsPerRun.
	for _, c := range []struct {
		body string
		bulk bool
		want string
	}{
		{`{"user":"ada","action":"read","resource":{"type":"doc"}}`, false, ""},
		{` { "user" : {"key":"ada","attributes":{"x":{"y":[1,"}",{"z":null}]}}} , "action":"read","resource":{"type":"doc","key":"d1","tenant":"t","attributes":{"tenat":1}},"context":{"a":[true,false]},"at_least":12 } `, false, ""},
		{`{"user":"ada","action":"read","resource":{"type":"doc","tenat":"acme"}}`, false, "resource.tenat"},
		{`{"user":"ada","action":"read","resource":{"type":"doc"},"surprise":1}`, false, "surprise"},
		{`{"user":{"key":"ada","nmae":"Ada"},"action":"read","resource":{"type":"doc"}}`, false, "user.nmae"},
		{`{"user":"ada","act\u0069on":"read","resource":{"type":"doc"},"r\u00e9source":{}}`, false, "résource"},
		{`{"user":"a\"b","action":"read","resource":{"type":"d\\"},"x\"":1}`, false, `x"`},
		{`{"checks":[{"user":"ada","action":"read","resource":{"type":"doc"}},{"user":"bob","action":"read","resource":{"type":"doc"}}],"at_least":3}`, true, ""},
		{`{"checks":[{"user":"ada","action":"read","resource":{"type":"doc"}} , {"user":"bob","action":"read","resource":{"type":"doc","tenat":"x"}}]}`, true, "checks[1].resource.tenat"},
		{`{"checks":[],"atleast":3}`, true, "atleast"},
		{`{"":0,"user":"ada","action":"read","resource":{"type":"doc","tenat":"x"}}`, false, `""`},
		{`{"":0,"checks":[]}`, true, `""`},
		{`{"user":"ada","action":"read","resource":{"":1,"type":"doc"}}`, false, `resource.""`},
		{`{"checks":[{"user":"ada","action":"read","resource":{"type":"doc"},"contxt":{}}]}`, true, "checks[0].contxt"},
	} {
		if got := UnknownField([]byte(c.body), c.bulk); got != c.want {
			t.Errorf("%s: %q, want %q", c.body, got, c.want)
		}
	}
	body := []byte(`{"user":{"key":"ada","attributes":{"a":1}},"action":"read","resource":{"type":"doc","key":"d","tenant":"t"},"context":{}}`)
	if n := testing.AllocsPerRun(100, func() { UnknownField(body, false) }); n != 0 {
		t.Errorf("%v allocations for a known body", n)
	}
}

// FuzzUnknownField: on any bytes (the server walks a body before it knows
// it is JSON) the walk ends, without a panic; on valid JSON a field it
// names is one the check's schema lacks.
func FuzzUnknownField(f *testing.F) {
	for _, s := range []string{`{"user":"ada","action":"read","resource":{"type":"doc","tenat":"x"}}`, `{"checks":[:]}`, `{"checks":[}]}`, `{"user":{]}`, `{"checks":[{"user":{"a":1}}`,
		`{"user":"\`, `[{]`, `{"checks":[1,2,{"x":[}]}`, `{:}`, `{"a"::,}`, ``, `"`, `{"user":{"key":"\"}}`} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, bulk bool) {
		UnknownField(body, bulk)
	})
}
