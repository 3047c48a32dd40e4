package pdp_test

import (
	"fmt"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/pdp"
)

// TestPDPReadsYourWrites: a check or lookup on a PDP that passes the
// revision a write answered sees that write at once, round after round,
// without the caller polling; a revision the environment never reached is
// a 409 after a bounded wait.
func TestPDPReadsYourWrites(t *testing.T) {
	t.Parallel()
	w := newWorld(t, sqliteConfig(t))
	r := startPDP(t, testConfig(w.n.url, w.envKey, t.TempDir()))
	r.waitState(t, pdp.StateSynced)
	var last int64
	for i := 0; i < 20; i++ {
		user := fmt.Sprintf("u%d", i)
		mustCall(t, 201, "POST", w.n.url+"/v1/users", w.envKey, map[string]any{"key": user})
		out := mustCall(t, 201, "POST", w.n.url+"/v1/role-assignments", w.envKey, map[string]any{"user": user, "role": "reader", "tenant": "acme"})
		rev, _ := out["meta"].(map[string]any)["revision"].(float64)
		if int64(rev) <= last {
			t.Fatalf("round %d: revision %v after %d", i, rev, last)
		}
		last = int64(rev)
		d := data(mustCall(t, 200, "POST", r.url+"/v1/allowed", r.key,
			map[string]any{"user": user, "action": "read", "resource": map[string]any{"type": "document", "tenant": "acme"}, "at_least": last}))
		if d["allow"] != true {
			t.Fatalf("round %d: the PDP with at_least %d: %v", i, last, d)
		}
		l := mustCall(t, 200, "POST", r.url+"/v1/allowed/users", r.key,
			map[string]any{"action": "read", "resource": map[string]any{"type": "document", "tenant": "acme"}, "at_least": last})
		if users, _ := l["data"].([]any); len(users) != i+2 { // alice and u0…ui
			t.Fatalf("round %d: users %v", i, l)
		}
	}
	status, out := call(t, "POST", r.url+"/v1/allowed", r.key,
		map[string]any{"user": "u1", "action": "read", "resource": map[string]any{"type": "document", "tenant": "acme"}, "at_least": last + 1_000_000})
	if status != 409 || fmt.Sprint(out["error"].(map[string]any)["details"].(map[string]any)["reason"]) != "revision_not_reached" {
		t.Fatalf("a revision from the future: %d %v", status, out)
	}
}
