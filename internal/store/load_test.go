package store

import (
	"strings"
	"testing"

	"github.com/google/uuid"
)

// The loader keys canonical UUIDs by their bytes and any other id by its
// text: two different ids never share a key, and every id finds its value.
func TestIDMap(t *testing.T) {
	m := newIDMap[int](0)
	var ids []string
	for i := 0; i < 100; i++ {
		ids = append(ids, uuid.Must(uuid.NewV7()).String())
	}
	u := ids[0]
	odd := []string{
		strings.ToUpper(u),                     // the same UUID in capitals: another id to the database
		u[:8] + u[9:] + "-",                    // dashes elsewhere
		"x" + u[1:],                            // not hex
		u[:35],                                 // too short
		"{" + u + "}",                          // braces
		"urn:uuid:" + u,                        // a URN
		"custom-id-7",                          // not a UUID at all
		"",                                     // empty
		"00000000-0000-0000-0000-00000000000g", // one bad digit at the end
	}
	ids = append(ids, odd...)
	for i, id := range ids {
		m.put(id, i)
	}
	if len(m.uuids) != 100 || len(m.other) != len(odd) {
		t.Fatalf("%d ids keyed as UUIDs, %d as text; want 100 and %d", len(m.uuids), len(m.other), len(odd))
	}
	for i, id := range ids {
		if v, ok := m.get(id); !ok || v != i {
			t.Fatalf("get(%q) = %d, %v; want %d", id, v, ok, i)
		}
	}
	if _, err := m.lookup("resource instance", uuid.Must(uuid.NewV7()).String()); err == nil || !strings.Contains(err.Error(), "resource instance") {
		t.Fatalf("lookup of an unknown id: %v", err)
	}
	k, ok := parseUUID("0123abcd-4567-89ef-0123-456789abcdef")
	if !ok || k != (uuidKey{0x01, 0x23, 0xab, 0xcd, 0x45, 0x67, 0x89, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}) {
		t.Fatalf("parseUUID = %x, %v", k, ok)
	}
}

func TestEngineAttrs(t *testing.T) {
	for _, text := range []string{"{}", "null"} {
		if a, err := engineAttrs(text); err != nil || a != nil {
			t.Fatalf("engineAttrs(%s) = %v, %v; want nil", text, a, err)
		}
	}
	if a, err := engineAttrs(`{"pages": 3}`); err != nil || a["pages"] != 3.0 {
		t.Fatalf("engineAttrs: %v, %v", a, err)
	}
	if _, err := engineAttrs(`[1]`); err == nil {
		t.Fatal("engineAttrs accepted an array")
	}
}
