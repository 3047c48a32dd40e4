package mailaddr

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"ada@acme.example", true},
		{"a.b+c@sub.acme.example", true},
		{"notanemail", false},
		{"", false},
		{"Ada <ada@acme.example>", false}, // a display name is not an address
		{" ada@acme.example", false},
		{"ada@acme.example\x00", false},
		{"ada@", false},
		{strings.Repeat("a", 250) + "@b.co", false}, // over 254
	} {
		err := Check("email", tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("Check(%q) = %v, want ok %v", tc.in, err, tc.ok)
		}
		if err != nil && gatehouse.ErrorCode(err) != gatehouse.CodeInvalidRequest {
			t.Errorf("Check(%q): code %s", tc.in, gatehouse.ErrorCode(err))
		}
	}
}
