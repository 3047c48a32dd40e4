package secretkey_test

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/secretkey"
)

func TestParse(t *testing.T) {
	k, err := secretkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	raw := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name, text string
		ok         bool
	}{
		{"encoded", k.Encode(), true},
		{"with a newline", k.Encode() + "\n", true},
		{"hex", raw, true},
		{"url base64 unpadded", strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(k.Encode()), "="), true},
		{"too short", "c2hvcnQ=", false},
		{"not a key", "swordfish", false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := secretkey.Parse(tc.text)
			if (err == nil) != tc.ok {
				t.Fatalf("Parse(%q) = %v", tc.text, err)
			}
			if tc.ok && tc.name != "hex" && got.ID() != k.ID() {
				t.Errorf("parsed key has id %s, want %s", got.ID(), k.ID())
			}
		})
	}
	if _, err := hex.DecodeString(raw); err != nil {
		t.Fatal(err)
	}
}

func TestSealOpen(t *testing.T) {
	a, _ := secretkey.Generate()
	b, _ := secretkey.Generate()
	ra, _ := secretkey.NewRing(a)
	rb, _ := secretkey.NewRing(b)
	both, _ := secretkey.NewRing(b, a)

	sealed := ra.SealString("whsec_top", "t.c:1")
	if !secretkey.IsSealed(sealed) || strings.Contains(sealed, "whsec_top") || secretkey.SealedBy(sealed) != a.ID() {
		t.Fatalf("sealed as %q", sealed)
	}
	if again := ra.SealString("whsec_top", "t.c:1"); again == sealed {
		t.Error("sealing is deterministic: equal secrets would show")
	}
	if got, err := ra.OpenString(sealed, "t.c:1"); err != nil || got != "whsec_top" {
		t.Errorf("open: %q, %v", got, err)
	}
	if got, err := both.OpenString(sealed, "t.c:1"); err != nil || got != "whsec_top" {
		t.Errorf("a ring with the older key: %q, %v", got, err)
	}
	if _, err := ra.OpenString(sealed, "t.c:2"); err == nil {
		t.Error("a value opened for another row")
	}
	if _, err := rb.OpenString(sealed, "t.c:1"); !errors.Is(err, secretkey.ErrUnknownKey) {
		t.Errorf("a ring without the key: %v", err)
	}
	tampered := sealed[:len(sealed)-2] + "AA"
	if _, err := ra.OpenString(tampered, "t.c:1"); err == nil {
		t.Error("a tampered value opened")
	}
	if s := ra.SealString("", "x"); s != "" {
		t.Errorf("empty sealed as %q", s)
	}
}

func TestLoadEmbeddedDefault(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	src := secretkey.Source{DataDir: dir, Create: true}
	r1, notes, err := secretkey.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "created") {
		t.Errorf("notes %v", notes)
	}
	st, err := os.Stat(src.DefaultFile())
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	r2, _, err := secretkey.Load(src)
	if err != nil || r2.Primary().ID() != r1.Primary().ID() {
		t.Fatalf("second load: %v", err)
	}
	if err := os.Chmod(src.DefaultFile(), 0o644); err != nil {
		t.Fatal(err)
	}
	_, notes, err = secretkey.Load(src)
	if st, _ := os.Stat(src.DefaultFile()); err != nil || st.Mode().Perm() != 0o600 || len(notes) == 0 {
		t.Errorf("an open key file was not repaired: %v %v", notes, err)
	}
	if _, _, err := secretkey.Load(secretkey.Source{DataDir: t.TempDir()}); err == nil {
		t.Error("a missing key file was made without Create")
	}
	if _, _, err := secretkey.Load(secretkey.Source{}); !errors.Is(err, secretkey.ErrNoKey) {
		t.Errorf("no source: %v", err)
	}
}
