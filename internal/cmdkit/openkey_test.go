//go:build !windows

package cmdkit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenKeyFile: a key file others may read or change is named, with
// its mode and what to do; a private or group-readable one, a missing one
// and none at all are not.
func TestOpenKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, c := range []struct {
		mode os.FileMode
		open bool
	}{{0o600, false}, {0o640, false}, {0o644, true}, {0o602, true}} {
		path := filepath.Join(dir, "key-"+c.mode.String()+".pem")
		if err := os.WriteFile(path, []byte("key"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, c.mode); err != nil {
			t.Fatal(err)
		}
		got := OpenKeyFile(path)
		if (got != "") != c.open || c.open && !strings.Contains(got, "chmod 600") {
			t.Errorf("mode %04o: %q", c.mode, got)
		}
	}
	if OpenKeyFile("") != "" || OpenKeyFile(filepath.Join(dir, "missing")) != "" {
		t.Error("no file, or a missing one, reported open")
	}
}
