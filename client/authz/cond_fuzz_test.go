package authz

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzCompileConditions: compiling arbitrary bytes never panics, fails only
// with ErrInvalid, and what compiles can be matched without panicking and
// without allocating.
func FuzzCompileConditions(f *testing.F) {
	for _, tc := range condMatchCases {
		f.Add([]byte(tc.cond))
	}
	for _, tc := range condErrorCases() {
		if len(tc.cond) < 4096 {
			f.Add([]byte(tc.cond))
		}
	}
	f.Add([]byte(allocCond))
	a := condAttrs()
	var empty attrs
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := compileConditions(json.RawMessage(raw))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			if c != nil {
				t.Fatalf("error %v with a condition", err)
			}
			return
		}
		if c == nil {
			t.Fatal("no condition and no error")
		}
		if CompileConditions(json.RawMessage(raw)) != nil {
			t.Fatal("CompileConditions disagrees with compileConditions")
		}
		c.match(&empty)
		if n := testing.AllocsPerRun(1, func() { c.match(a) }); n != 0 {
			t.Fatalf("match of %s allocates %v times", raw, n)
		}
	})
}
