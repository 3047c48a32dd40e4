// Package mailaddr holds the one rule every email address Gatehouse
// accepts follows: a member's, a user's (created by the API or imported).
package mailaddr

import (
	"net/mail"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse"
)

// MaxLen bounds an address.
const MaxLen = 254

// Check returns a field error unless v is a bare address (no display
// name, no comments) of at most MaxLen bytes, as net/mail parses it.
func Check(field, v string) error {
	addr, err := mail.ParseAddress(v)
	if err != nil || addr.Address != v || len(v) > MaxLen {
		if len(v) > 64 { // quote the start only
			cut := 64
			for cut > 0 && !utf8.RuneStart(v[cut]) {
				cut--
			}
			v = v[:cut] + "…"
		}
		return gatehouse.FieldError(field, "invalid_format", "%s %q is not a valid address", field, v)
	}
	return nil
}
