package pdp_test

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/pdp"
)

// TestPDPReloadsWhenFarBehind: a PDP whose saved
// position is further behind than the server's backlog is told to reset
// and loads the snapshot instead of a replay, and then follows as before.
func TestPDPReloadsWhenFarBehind(t *testing.T) {
	t.Parallel()
	cfg := sqliteConfig(t)
	cfg.PDPStreamBacklog = 3
	w := newWorld(t, cfg)
	dir := t.TempDir()
	r := startPDP(t, testConfig(w.n.url, w.envKey, dir))
	r.waitState(t, pdp.StateSynced)
	r.stop(t)
	// More changes than the backlog while the PDP is away.
	for _, u := range []string{"carol", "dave", "erin", "frank"} {
		mustCall(t, 201, "POST", w.n.url+"/v1/users", w.envKey, map[string]any{"key": u})
	}
	mustCall(t, 201, "POST", w.n.url+"/v1/role-assignments", w.envKey, map[string]any{"user": "frank", "role": "reader", "tenant": "acme"})

	r2 := startPDP(t, testConfig(w.n.url, w.envKey, dir))
	waitFor(t, "the server's snapshot", func() bool {
		_, st := r2.health(t)
		return st["snapshot_source"] == "server" && st["state"] == pdp.StateSynced
	})
	if allow, _ := r2.check(t, "frank", "read", "acme"); !allow {
		t.Fatal("the reloaded PDP misses frank's role")
	}
	mustCall(t, 201, "POST", w.n.url+"/v1/role-assignments", w.envKey, map[string]any{"user": "erin", "role": "reader", "tenant": "acme"})
	waitFor(t, "a later change", func() bool { allow, _ := r2.check(t, "erin", "read", "acme"); return allow })
}
