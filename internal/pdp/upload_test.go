package pdp_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/pdp"
)

// TestPDPUploadRetriedOnceWritten: an upload of decisions the server wrote
// but whose answer never reached the PDP (a proxy between them answers 502
// instead) is retried, and the retry gets the first answer again
// (Idempotent-Replayed) instead of writing the decisions twice.
func TestPDPUploadRetriedOnceWritten(t *testing.T) {
	t.Parallel()
	w := newWorld(t, sqliteConfig(t))
	target, err := url.Parse(w.n.url)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var uploads []string // each upload's outcome, as the proxy saw it
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1 // the change stream, as it comes
	rp.ModifyResponse = func(res *http.Response) error {
		if res.Request.Method != http.MethodPost || res.Request.URL.Path != "/v1/pdp/decisions" {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		uploads = append(uploads, fmt.Sprintf("%d replayed=%q key=%t", res.StatusCode, res.Header.Get("Idempotent-Replayed"),
			res.Request.Header.Get("Idempotency-Key") != ""))
		if len(uploads) == 1 {
			return fmt.Errorf("the answer is lost on the way back") // 502 to the PDP
		}
		return nil
	}
	rp.ErrorLog = log.New(io.Discard, "", 0)
	proxy := httptest.NewServer(rp)
	t.Cleanup(proxy.Close)

	mustCall(t, 200, "PATCH", fmt.Sprintf("%s/v1/projects/%s/environments/%s/settings", w.n.url, w.projID, w.envID), w.orgKey,
		map[string]any{"decision_log": "full"})
	r := startPDP(t, testConfig(proxy.URL, w.envKey, t.TempDir()))
	r.waitState(t, pdp.StateSynced)
	waitFor(t, "the full decision log on the PDP", func() bool { _, st := r.health(t); return st["decision_log"] == "full" })
	r.check(t, "alice", "read", "acme")
	r.check(t, "bob", "read", "acme")

	waitFor(t, "the upload retried after its lost answer", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(uploads) >= 2
	})
	var list []any
	waitFor(t, "the uploaded decisions", func() bool {
		out := mustCall(t, 200, "GET", w.n.url+"/v1/decisions?source=pdp", w.envKey, nil)
		list, _ = out["data"].([]any)
		return len(list) >= 2
	})
	mu.Lock()
	defer mu.Unlock()
	if len(list) != 2 {
		t.Fatalf("%d decisions in the log after a retried upload of 2 (uploads: %q)", len(list), uploads)
	}
	if uploads[0] != `200 replayed="" key=true` || uploads[1] != `200 replayed="true" key=true` {
		t.Fatalf("uploads: %q; want the first written and the retry answered with its answer", uploads)
	}
}
