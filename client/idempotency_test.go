package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/client"
)

// A POST under WithIdempotencyKey carries the key on every try, and is
// tried again after a lost connection and a 409 in_progress; a POST
// without a key is not tried again after a lost connection; a GET never
// carries the key.
func TestIdempotencyKeyRetries(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string // method and key of each request
	var script []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.Header.Get("Idempotency-Key"))
		step := "ok"
		if len(script) > 0 {
			step, script = script[0], script[1:]
		}
		mu.Unlock()
		switch step {
		case "drop": // the connection lost before an answer
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		case "running":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusConflict)
			w.Write([]byte(`{"error":{"code":"CONFLICT","message":"still in progress","details":{"field":"Idempotency-Key","reason":"in_progress"}}}`))
		default:
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"data":{"written":1}}`))
		}
	}))
	t.Cleanup(srv.Close)
	c := client.New(srv.URL, "gh_test", client.WithRetries(3))
	run := func(ctx context.Context, steps ...string) ([]string, error) {
		mu.Lock()
		seen, script = nil, steps
		mu.Unlock()
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_, err := c.UploadDecisions(ctx, []client.UploadedDecision{{Time: time.Now(), User: "u", Action: "read", ResourceType: "doc", Tenant: "t"}})
		mu.Lock()
		defer mu.Unlock()
		return seen, err
	}
	keyed := client.WithIdempotencyKey(context.Background(), "upload-1")
	if seen, err := run(keyed, "drop", "running"); err != nil || len(seen) != 3 || seen[0] != "POST upload-1" || seen[2] != "POST upload-1" {
		t.Fatalf("a keyed POST after a lost connection and a running first try: %v, requests %q", err, seen)
	}
	if seen, err := run(context.Background(), "drop"); err == nil || len(seen) != 1 || seen[0] != "POST " {
		t.Fatalf("a POST without a key after a lost connection: %v, requests %q; want the error, no retry", err, seen)
	}
	if seen, err := run(context.Background(), "running"); err == nil || len(seen) != 1 {
		t.Fatalf("a 409 of a POST without a key: %v, requests %q; want the error, no retry", err, seen)
	}
	mu.Lock()
	seen = nil
	mu.Unlock()
	if _, err := c.Snapshot(keyed); err != nil {
		t.Logf("snapshot: %v", err) // the answer's shape is not this test's
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != "GET " {
		t.Fatalf("a GET under a keyed context: requests %q; want no Idempotency-Key", seen)
	}
}
