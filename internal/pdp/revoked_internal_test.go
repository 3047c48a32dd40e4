package pdp

import (
	"errors"
	"testing"
)

// What the PDP takes for "the server revoked the key" (it then stops
// answering for it) and what for a server it merely cannot use.
func TestRevokedKey(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&apiError{Status: 401, Code: "UNAUTHORIZED", Message: "API key revoked"}, true},
		{&apiError{Status: 401, Code: "UNAUTHORIZED", Message: "API key expired"}, true},
		{&apiError{Status: 401, Code: "UNAUTHORIZED", Message: "API key revoked: its project or environment was deleted (it works again if that is restored)"}, true},
		{&apiError{Status: 401, Code: "ORGANIZATION_DELETED", Message: "this API key's organization was deleted"}, true},
		{&apiError{Status: 401, Code: "UNAUTHORIZED", Message: "invalid API key"}, false},
		{&apiError{Status: 503, Code: "SERVICE_UNAVAILABLE", Message: "cannot verify API keys right now"}, false},
		{errors.New("dial tcp: connection refused"), false},
	} {
		if got := revokedKey(tc.err); got != tc.want {
			t.Errorf("revokedKey(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
