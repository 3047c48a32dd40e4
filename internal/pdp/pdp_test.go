package pdp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/datadirtest"
	"github.com/gatehouse-dev/gatehouse/internal/pdp"
	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// node is a Gatehouse server answering on a real listener, stopped the way
// `gatehouse serve` stops.
type node struct {
	a      *app.App
	url    string
	addr   string
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func startNode(t *testing.T, cfg config.Config, addr string) *node {
	t.Helper()
	datadirtest.SeedConfig(t, cfg) // an empty SQLite data folder starts migrated
	a, err := app.New(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	for i := 0; ; i++ { // a restarted node takes its old port back
		ln, err = net.Listen("tcp", addr)
		if err == nil || i == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{a: a, url: "http://" + ln.Addr().String(), addr: ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { n.done <- a.Serve(ctx, ln) }()
	t.Cleanup(n.stop)
	return n
}

func (n *node) stop() {
	n.once.Do(func() {
		n.cancel()
		<-n.done
		n.a.Close()
	})
}

// rawBody is a request body sent byte for byte (not encoded as JSON).
type rawBody string

func call(t *testing.T, method, url, key string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if raw, ok := body.(rawBody); ok {
		rd = strings.NewReader(string(raw))
	} else if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	r, _ := http.NewRequest(method, url, rd)
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

func mustCall(t *testing.T, want int, method, url, key string, body any) map[string]any {
	t.Helper()
	status, out := call(t, method, url, key, body)
	if status != want {
		t.Fatalf("%s %s: %d, want %d: %v", method, url, status, want, out)
	}
	return out
}

func data(m map[string]any) map[string]any { d, _ := m["data"].(map[string]any); return d }

// world is a server with an initialized organization and an environment
// key for the development environment.
type world struct {
	n                     *node
	cfg                   config.Config
	orgKey, envKey, envID string
	projID                string
}

func newWorld(t *testing.T, cfg config.Config) *world {
	t.Helper()
	n := startNode(t, cfg, "127.0.0.1:0")
	res, err := n.a.Init(context.Background(), app.DefaultInitOptions())
	if err != nil {
		t.Fatal(err)
	}
	w := &world{n: n, cfg: cfg, orgKey: res.Token, projID: res.Bootstrap.Project.ID, envID: res.Bootstrap.Environments[0].ID}
	w.envKey = w.key(t, "environment")
	// A document type, a reader role and alice, a reader in tenant acme.
	for _, c := range []struct {
		path string
		body any
	}{
		{"/v1/resources", map[string]any{"key": "document", "actions": []string{"read", "write"}}},
		{"/v1/roles", map[string]any{"key": "reader", "permissions": []string{"document:read"}}},
		{"/v1/roles", map[string]any{"key": "writer", "permissions": []string{"document:write"}, "extends": []string{"reader"}}},
		{"/v1/tenants", map[string]any{"key": "acme"}},
		{"/v1/users", map[string]any{"key": "alice"}},
		{"/v1/users", map[string]any{"key": "bob"}},
		{"/v1/role-assignments", map[string]any{"user": "alice", "role": "reader", "tenant": "acme"}},
	} {
		mustCall(t, 201, "POST", n.url+c.path, w.envKey, c.body)
	}
	return w
}

// key creates a key of level (organization, project or environment) with
// the scopes a PDP and these tests need.
func (w *world) key(t *testing.T, level string) string {
	t.Helper()
	body := map[string]any{"name": "pdp " + level, "level": level, "scopes": []string{"check:access", "view:log", "manage:user", "manage:tenant",
		"manage:resource", "manage:role", "manage:role_assignment", "view:settings", "manage:settings"}}
	if level != "organization" {
		body["project"] = w.projID
	}
	if level == "environment" {
		body["environment"] = w.envID
	}
	out := mustCall(t, 201, "POST", w.n.url+"/v1/api-keys", w.orgKey, body)
	return data(out)["token"].(string)
}

// pdpRun is a running PDP.
type pdpRun struct {
	p      *pdp.PDP
	url    string
	key    string
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func testConfig(apiURL, key, dir string) pdp.Config {
	return pdp.Config{APIURL: apiURL, Key: key, DataDir: dir, Log: quiet,
		RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond, PersistEvery: 10 * time.Millisecond}
}

func startPDP(t *testing.T, cfg pdp.Config) *pdpRun {
	t.Helper()
	p, err := pdp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &pdpRun{p: p, url: "http://" + ln.Addr().String(), key: cfg.Key, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx, ln) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *pdpRun) stop(t *testing.T) {
	r.once.Do(func() {
		r.cancel()
		if err := <-r.done; err != nil {
			t.Errorf("pdp run: %v", err)
		}
	})
}

// check asks the PDP and returns allow and reason.
func (r *pdpRun) check(t *testing.T, user, action, tenant string) (bool, string) {
	t.Helper()
	out := mustCall(t, 200, "POST", r.url+"/v1/allowed", r.key,
		map[string]any{"user": user, "action": action, "resource": map[string]any{"type": "document", "tenant": tenant}})
	d := data(out)
	return d["allow"].(bool), d["reason"].(string)
}

func (r *pdpRun) health(t *testing.T) (int, map[string]any) {
	t.Helper()
	status, out := call(t, "GET", r.url+"/healthz", "", nil)
	sync, _ := out["sync"].(map[string]any)
	return status, sync
}

// waitFor polls cond every 2 ms and returns how long it took (the tests
// log it). It gives up after 30 s: a stuck PDP fails, and the package's
// servers and PDPs, which run side by side (t.Parallel), get the time a
// busy machine needs.
func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

func (r *pdpRun) waitState(t *testing.T, state string) {
	t.Helper()
	waitFor(t, "state "+state, func() bool { _, s := r.health(t); return s["state"] == state })
}

func sqliteConfig(t *testing.T) config.Config {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	return cfg
}

// TestPDPFollowsChanges: the PDP answers from the server's snapshot and
// sees every later write over one stream, within milliseconds, without
// reconnecting.
func TestPDPFollowsChanges(t *testing.T) {
	t.Parallel()
	w := newWorld(t, sqliteConfig(t))
	r := startPDP(t, testConfig(w.n.url, w.envKey, t.TempDir()))
	r.waitState(t, pdp.StateSynced)
	_, st := r.health(t)
	connected := st["connected_since"]

	tests := []struct {
		name          string
		write         func()
		user, action  string
		tenant        string
		allow         bool
		reason        string
		unchangedWait bool
	}{
		{"initial grant", func() {}, "alice", "read", "acme", true, "granted", false},
		{"no role yet", func() {}, "bob", "read", "acme", false, "no_role_in_tenant", false},
		{"assign", func() {
			mustCall(t, 201, "POST", w.n.url+"/v1/role-assignments", w.envKey, map[string]any{"user": "bob", "role": "writer", "tenant": "acme"})
		}, "bob", "read", "acme", true, "granted", false},
		{"role extended", func() {
			mustCall(t, 200, "PATCH", w.n.url+"/v1/roles/reader", w.envKey, map[string]any{"permissions": []string{"document:read", "document:write"}})
		}, "alice", "write", "acme", true, "granted", false},
		{"unassign", func() {
			mustCall(t, 204, "DELETE", w.n.url+"/v1/role-assignments?user=alice&role=reader&tenant=acme", w.envKey, nil)
		}, "alice", "read", "acme", false, "no_role_in_tenant", false},
		{"user deleted", func() {
			mustCall(t, 204, "DELETE", w.n.url+"/v1/users/bob", w.envKey, nil)
		}, "bob", "read", "acme", false, "unknown_user", false},
	}
	for _, tc := range tests {
		tc.write()
		took := waitFor(t, tc.name, func() bool {
			allow, reason := r.check(t, tc.user, tc.action, tc.tenant)
			return allow == tc.allow && reason == tc.reason
		})
		t.Logf("%s: visible on the PDP after %s", tc.name, took)
	}
	if _, st := r.health(t); st["connected_since"] != connected || st["state"] != pdp.StateSynced {
		t.Errorf("the PDP reconnected or lost sync while following changes: %v", st)
	}
}

// TestPDPOutlivesTheServer: with the server down the PDP keeps answering
// from its last good snapshot, also after its own restart (from disk), and
// catches up with what changed once the server is back.
func TestPDPOutlivesTheServer(t *testing.T) {
	t.Parallel()
	w := newWorld(t, sqliteConfig(t))
	dir := t.TempDir()
	r := startPDP(t, testConfig(w.n.url, w.envKey, dir))
	r.waitState(t, pdp.StateSynced)
	mustCall(t, 201, "POST", w.n.url+"/v1/role-assignments", w.envKey, map[string]any{"user": "bob", "role": "reader", "tenant": "acme"})
	waitFor(t, "bob's role", func() bool { allow, _ := r.check(t, "bob", "read", "acme"); return allow })

	before := time.Now().UTC()
	if _, st := r.health(t); !syncedSince(st, before) {
		t.Fatalf("synced, last_synced_at is not now: %v (asked at %s)", st["last_synced_at"], before)
	}
	w.n.stop()
	r.waitState(t, pdp.StateOffline)
	status, st := r.health(t)
	if status != 200 || st["serving"] != true {
		t.Fatalf("healthz with the server down: %d %v", status, st)
	}
	lastSynced, _ := st["last_synced_at"].(string)
	if !syncedSince(st, before) || lastSynced == "" {
		t.Fatalf("offline, last_synced_at should be when the server went away: %v", st)
	}
	if allow, _ := r.check(t, "bob", "read", "acme"); !allow {
		t.Fatal("the PDP forgot bob's role when the server went down")
	}

	// Restart the PDP while the server is down: it serves from disk.
	r.stop(t)
	if _, err := os.Stat(r.p.SnapshotPath()); err != nil {
		t.Fatalf("no snapshot on disk: %v", err)
	}
	r2 := startPDP(t, testConfig(w.n.url, w.envKey, dir))
	waitFor(t, "serving from disk", func() bool { status, _ := r2.health(t); return status == 200 })
	_, st = r2.health(t)
	if st["snapshot_source"] != "disk" || st["state"] == pdp.StateSynced {
		t.Fatalf("want a disk snapshot while offline, got %v", st)
	}
	// The restarted PDP says when its copy was last current: when the
	// server went away, not when the copy was saved at the stop.
	if got, _ := st["last_synced_at"].(string); !sameInstant(got, lastSynced) {
		t.Fatalf("restarted from disk: last_synced_at %q, want %q (when the server went away)", got, lastSynced)
	}
	for _, c := range []struct {
		user, action string
		allow        bool
	}{{"alice", "read", true}, {"bob", "read", true}, {"bob", "write", false}} {
		if allow, _ := r2.check(t, c.user, c.action, "acme"); allow != c.allow {
			t.Errorf("from disk: %s %s = %v, want %v", c.user, c.action, allow, c.allow)
		}
	}

	// The server comes back with a change made while the PDP was away.
	n2 := startNode(t, w.cfg, w.n.addr)
	mustCall(t, 204, "DELETE", n2.url+"/v1/role-assignments?user=bob&role=reader&tenant=acme", w.envKey, nil)
	r2.waitState(t, pdp.StateSynced)
	waitFor(t, "bob's unassignment", func() bool { allow, _ := r2.check(t, "bob", "read", "acme"); return !allow })
}

// TestPDPReloadsWhenAheadOfTheServer: a saved snapshot from a feed position
// the server never reached (its database was replaced) is thrown away for
// the server's.
func TestPDPReloadsWhenAheadOfTheServer(t *testing.T) {
	t.Parallel()
	w := newWorld(t, sqliteConfig(t))
	dir := t.TempDir()
	r := startPDP(t, testConfig(w.n.url, w.envKey, dir))
	r.waitState(t, pdp.StateSynced)
	r.stop(t)

	// Forge the saved snapshot: far ahead, and bob a reader.
	path := r.p.SnapshotPath()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var snap map[string]any
	if err := json.Unmarshal(b, &snap); err != nil {
		t.Fatal(err)
	}
	snap["seq"] = 1 << 40
	d := snap["data"].(map[string]any)
	d["assignments"] = append(d["assignments"].([]any), map[string]any{"user": "bob", "role": "reader", "tenant": "acme"})
	b, _ = json.Marshal(snap)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}

	r2 := startPDP(t, testConfig(w.n.url, w.envKey, dir))
	waitFor(t, "the server's snapshot", func() bool {
		_, st := r2.health(t)
		return st["snapshot_source"] == "server" && st["state"] == pdp.StateSynced
	})
	if allow, _ := r2.check(t, "bob", "read", "acme"); allow {
		t.Fatal("the PDP still serves the forged snapshot")
	}
}

// TestPDPNeedsAnEnvironmentKey: organization and project keys are refused
// with a clear message, by the PDP itself and by the server.
func TestPDPNeedsAnEnvironmentKey(t *testing.T) {
	t.Parallel()
	w := newWorld(t, sqliteConfig(t))
	for _, level := range []string{"organization", "project"} {
		key := w.key(t, level)
		_, err := pdp.New(testConfig(w.n.url, key, t.TempDir()))
		if err == nil || !strings.Contains(err.Error(), "environment-level API key") || !strings.Contains(err.Error(), level) {
			t.Errorf("%s key: pdp.New = %v, want a clear refusal", level, err)
		}
		for _, path := range []string{"/v1/pdp/snapshot", "/v1/pdp/changes"} {
			status, out := call(t, "GET", w.n.url+path, key, nil)
			msg := fmt.Sprint(out["error"])
			if status != 403 || !strings.Contains(msg, "environment-level API key") {
				t.Errorf("%s key on %s: %d %s", level, path, status, msg)
			}
		}
	}
	// A well-formed but revoked environment key: refused at start-up.
	id := ""
	out := mustCall(t, 200, "GET", w.n.url+"/v1/api-keys?level=environment", w.orgKey, nil)
	for _, k := range out["data"].([]any) {
		id = k.(map[string]any)["id"].(string)
	}
	mustCall(t, 200, "POST", w.n.url+"/v1/api-keys/"+id+"/revoke", w.orgKey, nil)
	p, err := pdp.New(testConfig(w.n.url, w.envKey, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = p.Run(ctx, ln)
	if err == nil || !strings.Contains(err.Error(), "refused the key") {
		t.Fatalf("Run with a revoked key and no snapshot: %v", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("Run kept retrying a refused key")
	}
}

// TestPDPAPI: the PDP's own API wants its key, validates input like the
// server, and answers bulk checks and user permissions.
func TestPDPAPI(t *testing.T) {
	t.Parallel()
	w := newWorld(t, sqliteConfig(t))
	r := startPDP(t, testConfig(w.n.url, w.envKey, t.TempDir()))
	r.waitState(t, pdp.StateSynced)
	check := map[string]any{"user": "alice", "action": "read", "resource": map[string]any{"type": "document", "tenant": "acme"}}
	tests := []struct {
		name, method, path, key string
		body                    any
		want                    int
		code                    string
	}{
		{"no key", "POST", "/v1/allowed", "", check, 401, "UNAUTHORIZED"},
		{"another key", "POST", "/v1/allowed", w.orgKey, check, 401, "UNAUTHORIZED"},
		{"missing user", "POST", "/v1/allowed", w.envKey, map[string]any{"action": "read", "resource": map[string]any{"type": "document"}}, 400, "INVALID_REQUEST"},
		{"broken JSON", "POST", "/v1/allowed", w.envKey, "{", 400, "INVALID_REQUEST"},
		// As the server: one value and nothing after it, no unknown field.
		{"a second value", "POST", "/v1/allowed", w.envKey, rawBody(`{"user":"alice","action":"read","resource":{"type":"document"}}{"user":"x"}`), 400, "INVALID_REQUEST"},
		{"garbage after", "POST", "/v1/allowed", w.envKey, rawBody(`{"user":"alice","action":"read","resource":{"type":"document"}} garbage`), 400, "INVALID_REQUEST"},
		{"a misspelt field", "POST", "/v1/allowed", w.envKey, rawBody(`{"user":"alice","action":"read","resource":{"type":"document","tenat":"acme"}}`), 400, "INVALID_REQUEST"},
		{"a misspelt field in bulk", "POST", "/v1/allowed/bulk", w.envKey, rawBody(`{"checks":[{"user":"alice","action":"read","resource":{"type":"document"},"contxt":{}}]}`), 400, "INVALID_REQUEST"},
		{"a NUL escape", "POST", "/v1/allowed", w.envKey, rawBody(`{"user":"ali\u0000ce","action":"read","resource":{"type":"document"}}`), 400, "INVALID_REQUEST"},
		{"invalid UTF-8", "POST", "/v1/allowed", w.envKey, rawBody("{\"user\":\"ali\xffce\",\"action\":\"read\",\"resource\":{\"type\":\"document\"}}"), 400, "INVALID_REQUEST"},
		{"an escaped backslash before u0000 is text", "POST", "/v1/allowed", w.envKey, rawBody(`{"user":"ali\\u0000ce","action":"read","resource":{"type":"document","tenant":"acme"}}`), 200, ""},
		{"trailing space", "POST", "/v1/allowed", w.envKey, rawBody(`{"user":"alice","action":"read","resource":{"type":"document","tenant":"acme"}}` + "\n "), 200, ""},
		{"empty bulk", "POST", "/v1/allowed/bulk", w.envKey, map[string]any{"checks": []any{}}, 400, "INVALID_REQUEST"},
		{"unknown route", "GET", "/v1/users", w.envKey, nil, 404, "NOT_FOUND"},
		{"check", "POST", "/v1/allowed", w.envKey, check, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, out := call(t, tc.method, r.url+tc.path, tc.key, tc.body)
			code := ""
			if e, ok := out["error"].(map[string]any); ok {
				code, _ = e["code"].(string)
			}
			if status != tc.want || code != tc.code {
				t.Fatalf("%d %s, want %d %s: %v", status, code, tc.want, tc.code, out)
			}
		})
	}
	out := mustCall(t, 200, "POST", r.url+"/v1/allowed/bulk", w.envKey, map[string]any{"checks": []any{check,
		map[string]any{"user": "alice", "action": "write", "resource": map[string]any{"type": "document", "tenant": "acme"}}}})
	results := out["data"].([]any)
	if len(results) != 2 || results[0].(map[string]any)["allow"] != true || results[1].(map[string]any)["allow"] != false {
		t.Fatalf("bulk: %v", results)
	}
	// A caller's request id is kept as the server keeps one: short and
	// plain; anything else gets a new id.
	for id, kept := range map[string]bool{"mine-1.a_b": true, "has space": false, strings.Repeat("x", 65): false, "ünï": false} {
		hr, _ := http.NewRequest("POST", r.url+"/v1/allowed", strings.NewReader(`{"user":"alice","action":"read","resource":{"type":"document"}}`))
		hr.Header.Set("Authorization", "Bearer "+w.envKey)
		hr.Header.Set("X-Request-Id", id)
		res, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if got := res.Header.Get("X-Request-Id"); (got == id) != kept || got == "" {
			t.Errorf("X-Request-Id %q: answered %q", id, got)
		}
	}
	// The same answers as the server's.
	srv := mustCall(t, 200, "POST", w.n.url+"/v1/user-permissions", w.envKey, map[string]any{"user": "alice"})
	mine := mustCall(t, 200, "POST", r.url+"/v1/user-permissions", w.envKey, map[string]any{"user": "alice"})
	if a, b := fmt.Sprint(srv["data"]), fmt.Sprint(mine["data"]); a != b || !strings.Contains(a, "document:read") {
		t.Fatalf("user permissions differ:\n server %s\n pdp    %s", a, b)
	}
}

// TestPDPUploadsDecisions: under a "full" decision log the PDP's checks
// reach the server's decision log, marked as PDP decisions.
func TestPDPUploadsDecisions(t *testing.T) {
	t.Parallel()
	w := newWorld(t, sqliteConfig(t))
	r := startPDP(t, testConfig(w.n.url, w.envKey, t.TempDir()))
	r.waitState(t, pdp.StateSynced)
	r.check(t, "alice", "read", "acme") // off: not recorded
	mustCall(t, 200, "PATCH", fmt.Sprintf("%s/v1/projects/%s/environments/%s/settings", w.n.url, w.projID, w.envID), w.orgKey,
		map[string]any{"decision_log": "full"})
	// The connected PDP hears of it at once.
	waitFor(t, "the new policy on the PDP", func() bool { _, st := r.health(t); return st["decision_log"] == "full" })
	r.check(t, "alice", "read", "acme")
	r.check(t, "bob", "read", "acme")
	// A restarted PDP gets it with its snapshot.
	r.stop(t)
	r2 := startPDP(t, testConfig(w.n.url, w.envKey, t.TempDir()))
	r2.waitState(t, pdp.StateSynced)
	if _, st := r2.health(t); st["decision_log"] != "full" {
		t.Fatalf("policy after restart: %v", st["decision_log"])
	}
	r2.check(t, "alice", "read", "acme")
	r2.check(t, "bob", "read", "acme")
	var list []any
	waitFor(t, "uploaded decisions", func() bool {
		out := mustCall(t, 200, "GET", w.n.url+"/v1/decisions?source=pdp&order=asc", w.envKey, nil)
		list, _ = out["data"].([]any)
		return len(list) == 4
	})
	first, second := list[2].(map[string]any), list[3].(map[string]any)
	if first["user"] != "alice" || first["allow"] != true || first["role"] != "reader" || second["user"] != "bob" || second["allow"] != false ||
		second["reason"] != "no_role_in_tenant" || first["source"] != "pdp" || first["environment_id"] != w.envID {
		t.Fatalf("recorded: %v / %v", first, second)
	}
}

// TestPDPFollowsEveryNode: on PostgreSQL a PDP connected to one node sees
// writes made on another.
func TestPDPFollowsEveryNode(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DatabaseURL, cfg.SecretKey = datadirtest.Postgres(t), pgtest.SecretKey
	w := newWorld(t, cfg)
	b := startNode(t, cfg, "127.0.0.1:0")
	r := startPDP(t, testConfig(w.n.url, w.envKey, t.TempDir()))
	r.waitState(t, pdp.StateSynced)
	waitFor(t, "node B's listener", b.a.KeyCacheHealthy)
	mustCall(t, 201, "POST", b.url+"/v1/role-assignments", w.envKey, map[string]any{"user": "bob", "role": "reader", "tenant": "acme"})
	took := waitFor(t, "node B's write on the PDP", func() bool { allow, _ := r.check(t, "bob", "read", "acme"); return allow })
	t.Logf("a write on node B reached the PDP (connected to node A) after %s", took)
}

// TestPDPFollowsJobs: a bulk import reaches the PDP as one batch change
// per task, and a replacing copy (which empties the environment first) as
// a reset, over the same stream.
func TestPDPFollowsJobs(t *testing.T) {
	t.Parallel()
	w := newWorld(t, sqliteConfig(t))
	r := startPDP(t, testConfig(w.n.url, w.envKey, t.TempDir()))
	r.waitState(t, pdp.StateSynced)
	var file strings.Builder
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&file, `{"type":"user","key":"imp%d"}`+"\n"+`{"type":"role_assignment","user":"imp%d","role":"writer","tenant":"acme"}`+"\n", i, i)
	}
	req, _ := http.NewRequest("POST", w.n.url+"/v1/jobs/import?batch_size=20", strings.NewReader(file.String()))
	req.Header.Set("Authorization", "Bearer "+w.orgKey)
	req.Header.Set("Content-Type", "application/x-ndjson")
	q := req.URL.Query()
	q.Set("project", w.projID)
	q.Set("environment", w.envID)
	req.URL.RawQuery = q.Encode()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 201 {
		t.Fatalf("import: %d", res.StatusCode)
	}
	took := waitFor(t, "imported assignments on the PDP", func() bool {
		a, _ := r.check(t, "imp0", "write", "acme")
		b, _ := r.check(t, "imp49", "read", "acme")
		return a && b
	})
	t.Logf("an import of 100 rows visible on the PDP after %s", took)
	// Copy the (empty) production environment over development: a reset.
	env := "?project=" + w.projID + "&environment=" + w.envID
	mustCall(t, 201, "POST", w.n.url+"/v1/jobs"+env, w.orgKey, map[string]any{"type": "environment_copy", "replace": true,
		"source": map[string]any{"project": "default", "environment": "production"}})
	waitFor(t, "the reset on the PDP", func() bool {
		allow, reason := r.check(t, "alice", "read", "acme")
		return !allow && reason == "unknown_resource" // everything is gone
	})
	if _, st := r.health(t); st["state"] != pdp.StateSynced {
		t.Errorf("after the jobs: %v", st)
	}
}

// syncedSince: the status's last_synced_at is at or after t.
func syncedSince(st map[string]any, t time.Time) bool {
	v, _ := st["last_synced_at"].(string)
	at, err := time.Parse(time.RFC3339Nano, v)
	return err == nil && !at.Before(t.Truncate(time.Microsecond))
}

func sameInstant(a, b string) bool {
	x, err1 := time.Parse(time.RFC3339Nano, a)
	y, err2 := time.Parse(time.RFC3339Nano, b)
	return err1 == nil && err2 == nil && x.Equal(y)
}

// TestPDPFailsOver: a PDP given several servers (--api-url a,b,c) follows
// the first that answers, and when that one stops, the next: it is
// synced again and sees a write made there.
func TestPDPFailsOver(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DatabaseURL, cfg.SecretKey = datadirtest.Postgres(t), pgtest.SecretKey
	w := newWorld(t, cfg)
	b := startNode(t, cfg, "127.0.0.1:0")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there
	r := startPDP(t, testConfig(dead+","+w.n.url+","+b.url, w.envKey, t.TempDir()))
	r.waitState(t, pdp.StateSynced)
	if _, st := r.health(t); st["server"] != w.n.url {
		t.Fatalf("following %v, want %s (the first that answers)", st["server"], w.n.url)
	}
	w.n.stop()
	waitFor(t, "the PDP following the next server", func() bool {
		_, st := r.health(t)
		return st["server"] == b.url && st["state"] == pdp.StateSynced
	})
	mustCall(t, 201, "POST", b.url+"/v1/role-assignments", w.envKey, map[string]any{"user": "bob", "role": "reader", "tenant": "acme"})
	waitFor(t, "a write on the next server on the PDP", func() bool { allow, _ := r.check(t, "bob", "read", "acme"); return allow })
	// A bad list is refused at start.
	if _, err := pdp.New(testConfig("http://ok.example, ftp://nope", w.envKey, t.TempDir())); err == nil || !strings.Contains(err.Error(), "ftp://nope") {
		t.Fatalf("a bad server in the list: %v", err)
	}
}
