package store_test

import (
	"os/exec"
	"strings"
	"testing"
)

// modernc.org/sqlite works only with the exact modernc.org/libc its go.mod
// names; another dependency bumping libc gives obscure crashes. When you
// upgrade sqlite, add its pairing here (from its go.mod).
var libcFor = map[string]string{
	"v1.61.1": "v1.79.0",
}

func TestSQLiteLibcPairing(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Path}} {{.Version}}", "modernc.org/sqlite", "modernc.org/libc").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -m: %v\n%s", err, out)
	}
	versions := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if path, v, ok := strings.Cut(line, " "); ok {
			versions[path] = v
		}
	}
	sqlite, libc := versions["modernc.org/sqlite"], versions["modernc.org/libc"]
	want, known := libcFor[sqlite]
	if !known {
		t.Fatalf("modernc.org/sqlite %q has no known libc pairing: add it to libcFor", sqlite)
	}
	if libc != want {
		t.Fatalf("modernc.org/sqlite %s needs modernc.org/libc %s, the build selects %s", sqlite, want, libc)
	}
}
