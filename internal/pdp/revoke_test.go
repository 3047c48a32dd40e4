package pdp_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/pdp"
)

// revokeEnvKey revokes the world's environment key (the one its PDPs
// use, the only environment key it makes).
func (w *world) revokeEnvKey(t *testing.T) {
	t.Helper()
	out := mustCall(t, 200, "GET", w.n.url+"/v1/api-keys?level=environment&status=active", w.orgKey, nil)
	keys := out["data"].([]any)
	if len(keys) != 1 {
		t.Fatalf("want the one environment key, got %v", keys)
	}
	mustCall(t, 200, "POST", w.n.url+"/v1/api-keys/"+keys[0].(map[string]any)["id"].(string)+"/revoke", w.orgKey, nil)
}

// TestPDPStopsAnsweringForARevokedKey: once the server
// says the PDP's key is revoked, the PDP refuses checks that present it
// (after --revoked-grace, by default at once) and says so on /healthz;
// while the server is merely unreachable it keeps answering (see
// TestPDPOutlivesTheServer), and a revoked PDP restarted from its disk
// snapshot refuses too.
func TestPDPStopsAnsweringForARevokedKey(t *testing.T) {
	t.Parallel()
	w := newWorld(t, sqliteConfig(t))
	dir := t.TempDir()
	r := startPDP(t, testConfig(w.n.url, w.envKey, dir))
	r.waitState(t, pdp.StateSynced)
	// A second PDP on the same key with a grace keeps answering meanwhile.
	graceCfg := testConfig(w.n.url, w.envKey, t.TempDir())
	graceCfg.RevokedGrace = time.Hour
	g := startPDP(t, graceCfg)
	g.waitState(t, pdp.StateSynced)
	if allow, _ := r.check(t, "alice", "read", "acme"); !allow {
		t.Fatal("alice cannot read before the revocation")
	}

	w.revokeEnvKey(t)
	took := waitFor(t, "the PDP to refuse checks", func() bool {
		status, _ := call(t, "POST", r.url+"/v1/allowed", r.key,
			map[string]any{"user": "alice", "action": "read", "resource": map[string]any{"type": "document", "tenant": "acme"}})
		return status == 401
	})
	t.Logf("the PDP refused checks %s after the revocation", took)
	for _, path := range []string{"/v1/allowed", "/v1/allowed/bulk", "/v1/user-permissions", "/allowed"} {
		status, out := call(t, "POST", r.url+path, r.key, map[string]any{"user": "alice", "action": "read",
			"resource": map[string]any{"type": "document", "tenant": "acme"}, "checks": []any{}})
		if status != 401 || !strings.Contains(fmt.Sprint(out), "API key revoked") {
			t.Errorf("%s with the revoked key: %d %v", path, status, out)
		}
	}
	status, st := r.health(t)
	if status != 503 || st["state"] != pdp.StateRevoked || st["serving"] != false || st["revoked_at"] == nil {
		t.Fatalf("healthz of a revoked PDP: %d %v", status, st)
	}

	// With an hour's grace: revoked, still answering.
	g.waitState(t, pdp.StateRevoked)
	if allow, _ := g.check(t, "alice", "read", "acme"); !allow {
		t.Fatal("the PDP with a grace stopped answering at once")
	}
	if status, st := g.health(t); status != 200 || st["serving"] != true || st["refusing_checks_at"] == nil {
		t.Fatalf("healthz during the grace: %d %v", status, st)
	}

	// Restarted from its disk snapshot: refuses as soon as the server says so.
	r.stop(t)
	r2 := startPDP(t, testConfig(w.n.url, w.envKey, dir))
	r2.waitState(t, pdp.StateRevoked)
	if status, _ := call(t, "POST", r2.url+"/v1/allowed", r2.key,
		map[string]any{"user": "alice", "action": "read", "resource": map[string]any{"type": "document", "tenant": "acme"}}); status != 401 {
		t.Fatalf("the restarted PDP answered %d for a revoked key", status)
	}
}
