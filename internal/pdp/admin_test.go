package pdp_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/pdp"
)

// TestAdminHandlerServesProfiles: a PDP's admin listener answers the
// runtime's profiles (a heap profile to see where its memory goes) and
// nothing of the PDP's API. /debug/pprof/cmdline is not served: the
// process's arguments may hold its API key (--key).
func TestAdminHandlerServesProfiles(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(pdp.AdminHandler())
	defer srv.Close()
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/debug/pprof/heap?gc=1", http.StatusOK},
		{"/debug/pprof/goroutine?debug=1", http.StatusOK},
		{"/", http.StatusOK},
		{"/debug/pprof/cmdline", http.StatusNotFound},
		{"/v1/allowed", http.StatusNotFound},
		{"/healthz", http.StatusNotFound},
	} {
		resp, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want || (tc.want == http.StatusOK && len(b) == 0) || strings.Contains(string(b), os.Args[0]) {
			t.Fatalf("GET %s: %d (%d bytes), want %d", tc.path, resp.StatusCode, len(b), tc.want)
		}
	}
}
