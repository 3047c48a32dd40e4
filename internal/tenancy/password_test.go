package tenancy

import (
	"fmt"
	"strings"
	"testing"
)

func TestPasswords(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %s", h)
	}
	h2, _ := HashPassword("correct horse battery")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	tests := []struct {
		hash, pw string
		ok       bool
	}{
		{h, "correct horse battery", true},
		{h, "correct horse batterY", false},
		{h, "", false},
		{"", "correct horse battery", false},
		{"$argon2id$v=19$m=0,t=2,p=1$c2FsdA$a2V5", "x", false},
		{"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdA$a2V5", "x", false}, // a hash asking for 95 GiB is refused
		{"$bcrypt$whatever", "x", false},
		{strings.Replace(h, "t=2", "t=1", 1), "correct horse battery", false},
	}
	for i, tc := range tests {
		if got := CheckPassword(tc.hash, tc.pw); got != tc.ok {
			t.Errorf("%d: CheckPassword = %v, want %v", i, got, tc.ok)
		}
	}
	for _, tc := range []struct {
		pw string
		ok bool
	}{{"short", false}, {"ten chars!", true}, {strings.Repeat("x", 257), false}, {"ünïcödé pässwörd", true}} {
		if err := ValidatePassword(tc.pw); (err == nil) != tc.ok {
			t.Errorf("ValidatePassword(%q) = %v", tc.pw, err)
		}
	}
}

func TestTokens(t *testing.T) {
	a, b := NewToken(), NewToken()
	if a == b || len(a) < 40 || strings.ContainsAny(a, "+/=") {
		t.Errorf("tokens %q %q", a, b)
	}
	if TokenHash(a) == TokenHash(b) || TokenHash(a) != TokenHash(a) || len(TokenHash(a)) != 64 {
		t.Error("token hashes")
	}
}

// The placeholder checked for unknown emails is a real hash of the current
// parameters (made once, on first use), so an unknown email costs what a
// known one does.
func TestDummyHashIsARealHash(t *testing.T) {
	h := dummyHash()
	if h == "" || h != dummyHash() {
		t.Fatalf("dummy hash %q, then %q", h, dummyHash())
	}
	if !CheckPassword(h, "no member has this email") || CheckPassword(h, "another") {
		t.Fatal("the dummy hash does not check as a hash")
	}
	if !strings.Contains(h, fmt.Sprintf("m=%d,t=%d,p=%d", argonMemory, argonTime, argonThreads)) {
		t.Fatalf("dummy hash %q is not of the current parameters", h)
	}
}
