package jobs

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The spool files a stopped process left are removed, and nothing else.
func TestRemoveSpools(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, name := range []string{"gatehouse-import-123.jsonl", "gatehouse-import-abc.jsonl", "gatehouse.db", "other.jsonl"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := &Service{Opt: Options{TempDir: dir}}
	n, err := s.RemoveSpools()
	if err != nil || n != 2 {
		t.Fatalf("removed %d, %v", n, err)
	}
	entries, _ := os.ReadDir(dir)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if !slices.Equal(left, []string{"gatehouse.db", "other.jsonl"}) {
		t.Errorf("left %v", left)
	}
	// The system's temporary folder is shared: left alone.
	if n, err := (&Service{}).RemoveSpools(); n != 0 || err != nil {
		t.Errorf("without a TempDir: %d, %v", n, err)
	}
}
