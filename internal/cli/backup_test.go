package cli_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/cli"
	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

// TestBackupRestore: `gatehouse backup` copies a running server's
// databases; a new data folder holding the copies and the secret key
// serves the same data (a user made before the copy, the key) and not
// what came after it.
func TestBackupRestore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, err := run(t, nil, "init", "--output", "json", "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	key := strings.Split(strings.Split(out, `"api_key": "`)[1], `"`)[0]
	start := func(dataDir string) (string, func()) {
		addr := freeAddr(t)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- cli.Run(ctx, []string{"serve", "--addr", addr, "--data-dir", dataDir}, func(string) string { return "" }, strings.NewReader(""), io.Discard, io.Discard)
		}()
		testwait.Until(t, 60*time.Second, "serve", func() bool {
			res, err := http.Get("http://" + addr + "/healthz")
			if err != nil {
				return false
			}
			res.Body.Close()
			return res.StatusCode == 200
		})
		return "http://" + addr, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	}
	base, stop := start(dir)
	users, env := "/v1/users", "?project=default&environment=development"
	if code, body := call(t, "POST", base+users+env, key, `{"key":"before","email":"before@example.com"}`); code != 201 {
		t.Fatalf("create user: %d %s", code, body)
	}
	backup := filepath.Join(t.TempDir(), "copy")
	if out, err := run(t, nil, "backup", "--data-dir", dir, "--out", backup); err != nil || !strings.Contains(out, "secret key is not in the copy") {
		t.Fatalf("backup while serving: %v\n%s", err, out)
	}
	if _, err := run(t, nil, "backup", "--data-dir", dir, "--out", backup); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("backup over an existing copy: %v", err)
	}
	if code, body := call(t, "POST", base+users+env, key, `{"key":"after","email":"after@example.com"}`); code != 201 {
		t.Fatalf("create user: %d %s", code, body)
	}
	stop()
	for _, f := range []string{"gatehouse.db", "logs.db"} {
		if st, err := os.Stat(filepath.Join(backup, f)); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s in the copy: %v %v", f, st, err)
		}
	}

	restored := t.TempDir()
	for _, f := range []string{"gatehouse.db", "logs.db"} {
		copyFile(t, filepath.Join(backup, f), filepath.Join(restored, f))
	}
	copyFile(t, filepath.Join(dir, "secret.key"), filepath.Join(restored, "secret.key"))
	base, stop = start(restored)
	defer stop()
	if code, body := call(t, "GET", base+users+"/before"+env, key, ""); code != 200 {
		t.Errorf("restored: the user made before the copy: %d %s", code, body)
	}
	if code, body := call(t, "GET", base+users+"/after"+env, key, ""); code != 404 {
		t.Errorf("restored: the user made after the copy: %d %s", code, body)
	}
	if _, err := run(t, nil, "backup", "--database-url", "postgres://x@127.0.0.1:1/x", "--out", t.TempDir()); err == nil || !strings.Contains(err.Error(), "pg_dump") {
		t.Errorf("backup on PostgreSQL: %v", err)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
