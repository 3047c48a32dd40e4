package cli_test

import (
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
)

// ci: race
// TestServeAdminListener: `serve --admin-addr` answers Prometheus metrics
// and pprof on that address, and neither on the public one; a taken admin
// port ends the run before anything is created.
func TestServeAdminListener(t *testing.T) {
	t.Parallel()
	admin := freeAddr(t)
	base := serve(t, map[string]string{"GATEHOUSE_DATA_DIR": t.TempDir()}, "--admin-addr", admin)
	body := func(url string) (int, string) {
		t.Helper()
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if status, text := body("http://" + admin + "/metrics"); status != http.StatusOK ||
		!strings.Contains(text, "gatehouse_http_requests_total") || !strings.Contains(text, "go_goroutines") {
		t.Fatalf("admin /metrics: %d %.300s", status, text)
	}
	if status, text := body("http://" + admin + "/debug/pprof/"); status != http.StatusOK || !strings.Contains(text, "goroutine") {
		t.Fatalf("admin /debug/pprof/: %d %.300s", status, text)
	}
	for _, p := range []string{"/metrics", "/debug/pprof/"} {
		if status, _ := body(base + p); status != http.StatusNotFound {
			t.Errorf("public %s: %d, want 404", p, status)
		}
	}

	dir := t.TempDir()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	out, err := run(t, map[string]string{"GATEHOUSE_DATA_DIR": dir}, "serve", "--addr", freeAddr(t), "--admin-addr", taken.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "admin listen") {
		t.Fatalf("serve on a taken admin port: %v\n%s", err, out)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("serve on a taken admin port wrote %d files in the data folder", len(entries))
	}
}
