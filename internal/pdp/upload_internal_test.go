package pdp

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

// An upload's answers as the recorder's batch writer sees them: a retry
// sends the same Idempotency-Key, another upload another; an upload still
// running on the server (409 in_progress) is worth retrying, a refusal is
// not; entries without ids go without a key.
const runningBody = `{"error":{"code":"CONFLICT","message":"still in progress","details":{"field":"Idempotency-Key","reason":"in_progress"}}}`

func TestUploaderAnswers(t *testing.T) {
	var mu sync.Mutex
	var keys []string
	status, body := 200, `{"data":{"written":1}}`
	running := 0 // answers of 409 in_progress before the next 200
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		st, b := status, body
		if running > 0 {
			st, b = 409, runningBody
			running--
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(st)
		fmt.Fprint(w, b)
	}))
	t.Cleanup(srv.Close)
	u := &uploader{p: &PDP{api: client.New(srv.URL, "key", client.WithRetries(0))}}
	ctx := context.Background()
	entry := func(id string) decision.Entry {
		return decision.Entry{ID: id, Time: time.Now(), User: "alice", Action: "read", ResourceType: "document", Tenant: "acme"}
	}
	a, b := []decision.Entry{entry("id-1"), entry("id-2")}, []decision.Entry{entry("id-3")}
	for _, es := range [][]decision.Entry{a, a, b, {entry("")}} {
		if err := u.WriteDecisions(ctx, es); err != nil {
			t.Fatal(err)
		}
	}
	if keys[0] == "" || keys[0] != keys[1] || keys[2] == "" || keys[2] == keys[0] || keys[3] != "" {
		t.Fatalf("Idempotency-Keys of an upload, its retry, another upload and one without ids: %q", keys)
	}
	// The first try still running for two answers: asked again, in
	// place, until it is done.
	mu.Lock()
	keys, running = nil, 2
	mu.Unlock()
	if err := u.WriteDecisions(ctx, a); err != nil {
		t.Fatalf("an upload whose first try was still running, then done: %v", err)
	}
	mu.Lock()
	if len(keys) < 3 || keys[0] == "" || keys[0] != keys[len(keys)-1] {
		t.Fatalf("keys of an upload asked again while running: %q", keys)
	}
	status, body = 409, runningBody
	mu.Unlock()
	// Still running when this write's time is up: worth a retry later.
	short, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	err := u.WriteDecisions(short, a)
	cancel()
	if err == nil || gatehouse.ErrorCode(err) == gatehouse.CodeConflict {
		t.Fatalf("an upload still running when its time is up: %v; want an error worth retrying", err)
	}
	for _, tc := range []struct {
		status  int
		body    string
		refusal bool
	}{
		{409, `{"error":{"code":"CONFLICT","message":"used for a different request","details":{"reason":"reused_with_different_request"}}}`, true},
		{400, `{"error":{"code":"INVALID_REQUEST","message":"bad"}}`, true},
		{500, `{"error":{"code":"INTERNAL","message":"oops"}}`, false},
	} {
		mu.Lock()
		status, body = tc.status, tc.body
		mu.Unlock()
		err := u.WriteDecisions(ctx, a)
		if err == nil {
			t.Fatalf("%d: no error", tc.status)
		}
		code := gatehouse.ErrorCode(err)
		refused := code == gatehouse.CodeInvalidRequest || code == gatehouse.CodeConflict
		if refused != tc.refusal {
			t.Errorf("%d %s: error %v (code %s): refusal %v, want %v", tc.status, tc.body, err, code, refused, tc.refusal)
		}
	}
}
