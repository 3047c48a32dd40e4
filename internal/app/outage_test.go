package app_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/datadirtest"
	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/internal/testwait"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// TestChecksGoOnThroughADatabaseOutage: with PostgreSQL unreachable (the
// connections through a proxy cut), checks with keys the node verified
// before keep answering, correctly, from memory (v1 and Permit's /allowed);
// writes answer 503 with Retry-After, never 500; an unknown key is 503
// (it cannot be verified), not 401; when the database is back, writes work
// again by themselves.
func TestChecksGoOnThroughADatabaseOutage(t *testing.T) {
	t.Parallel()
	proxy := pgtest.NewProxy(t)
	cfg := config.Default()
	cfg.DatabaseURL, cfg.SecretKey = proxy.URL(datadirtest.Postgres(t)), pgtest.SecretKey
	a, url := start(t, cfg)
	res, err := a.Init(context.Background(), app.DefaultInitOptions())
	if err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, a)
	q := "?project=default&environment=development"
	for _, c := range [][2]string{
		{"/v1/resources", `{"key":"doc","actions":["read","write"]}`},
		{"/v1/roles", `{"key":"reader","permissions":["doc:read"]}`},
		{"/v1/users", `{"key":"ada"}`},
		{"/v1/role-assignments", `{"user":"ada","role":"reader"}`},
	} {
		if st, out := call(t, "POST", url+c[0]+q, res.Token, c[1]); st != 201 {
			t.Fatalf("%s: %d %v", c[0], st, out)
		}
	}
	st, out := call(t, "POST", url+"/v1/api-keys", res.Token,
		`{"name":"checks","level":"environment","project":"default","environment":"development","scopes":["check:access","manage:user"]}`)
	if st != 201 {
		t.Fatalf("environment key: %d %v", st, out)
	}
	envKey := out["data"].(map[string]any)["token"].(string)
	st, out = call(t, "POST", url+"/v1/api-keys", res.Token,
		`{"name":"unseen","level":"environment","project":"default","environment":"development","scopes":["check:access"]}`)
	if st != 201 {
		t.Fatalf("environment key: %d %v", st, out)
	}
	unseenKey := out["data"].(map[string]any)["token"].(string) // never used before the outage
	checks := []struct {
		path, body string
		allow      bool
	}{
		{"/v1/allowed", `{"user":"ada","action":"read","resource":{"type":"doc"}}`, true},
		{"/v1/allowed", `{"user":"ada","action":"write","resource":{"type":"doc"}}`, false},
		{"/v1/allowed", `{"user":"bob","action":"read","resource":{"type":"doc"}}`, false},
		{"/allowed", `{"user":"ada","action":"read","resource":"doc"}`, true},
		{"/allowed", `{"user":{"key":"ada"},"action":"write","resource":"doc"}`, false},
	}
	runChecks := func(when string) {
		t.Helper()
		for _, c := range checks {
			st, out := call(t, "POST", url+c.path, envKey, c.body)
			var allow any
			if d, ok := out["data"].(map[string]any); ok {
				allow = d["allow"]
			} else {
				allow = out["allow"]
			}
			if st != 200 || allow != c.allow {
				t.Fatalf("%s: %s %s: %d %v, want allow=%v", when, c.path, c.body, st, out, c.allow)
			}
		}
	}
	runChecks("before the outage")
	if st, out := call(t, "GET", url+"/readyz", "", ""); st != 200 || out["data"].(map[string]any)["checks"].(map[string]any)["key_cache_listener"] != "ok" {
		t.Fatalf("readyz before the outage: %d %v", st, out)
	}

	proxy.Cut()
	// Writes in the outage: 503 with Retry-After, never a 500. (The first
	// may still find a pooled connection; every one answers 503.)
	for i := 0; i < 3; i++ {
		r, _ := http.NewRequest("POST", url+"/v1/users", strings.NewReader(fmt.Sprintf(`{"key":"w%d"}`, i)))
		r.Header.Set("Authorization", "Bearer "+envKey)
		r.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("a write in the outage: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	outageStart := a.Keys.OutageAnswers()
	for round := 0; round < 20; round++ {
		runChecks(fmt.Sprintf("round %d of the outage", round))
	}
	if a.Keys.OutageAnswers() == outageStart {
		t.Fatal("no verification was answered from memory during the outage")
	}
	// A key the node never verified cannot be verified now: 503, not 401;
	// one whose signature does not verify is 401 as ever.
	if st, out := call(t, "POST", url+"/v1/allowed", unseenKey, checks[0].body); st != 503 {
		t.Fatalf("a key first seen in the outage: %d %v", st, out)
	}
	if st, out := call(t, "POST", url+"/v1/allowed", envKey[:len(envKey)-2]+"xx", checks[0].body); st != 401 {
		t.Fatalf("a forged key in the outage: %d %v", st, out)
	}
	// Degraded, not unready: the node still answers checks, and a load
	// balancer must not drain every node at once.
	if st, out := call(t, "GET", url+"/readyz", "", ""); st != 200 || out["data"].(map[string]any)["status"] != "degraded" ||
		!strings.HasPrefix(fmt.Sprint(out["data"].(map[string]any)["checks"].(map[string]any)["database"]), "unreachable") {
		t.Fatalf("/readyz with the database unreachable: %d %v", st, out)
	}

	proxy.Restore()
	testwait.Until(t, 60*time.Second, "writes working again after the outage", func() bool {
		st, _ := call(t, "POST", url+"/v1/users", envKey, `{"key":"after"}`)
		return st == 201
	})
	runChecks("after the outage")
}

// TestUnconfirmedRevocationSaysSo: a live node that does not acknowledge a
// revocation (here a node that crashed moments ago: its heartbeat is fresh,
// nothing of it listens) makes the revoke answer say so in
// meta.unconfirmed_nodes instead of a silent 200.
func TestUnconfirmedRevocationSaysSo(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DatabaseURL, cfg.SecretKey = datadirtest.Postgres(t), pgtest.SecretKey
	a, url := start(t, cfg)
	res, err := a.Init(context.Background(), app.DefaultInitOptions())
	if err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, a)
	revoke := func() map[string]any {
		t.Helper()
		st, out := call(t, "POST", url+"/v1/api-keys", res.Token, `{"name":"k","level":"organization","scopes":["view:project"]}`)
		if st != 201 {
			t.Fatalf("create: %d %v", st, out)
		}
		st, out = call(t, "POST", url+"/v1/api-keys/"+out["data"].(map[string]any)["id"].(string)+"/revoke", res.Token, "")
		if st != 200 {
			t.Fatalf("revoke: %d %v", st, out)
		}
		return out["meta"].(map[string]any)
	}
	if m := revoke(); m["unconfirmed_nodes"] != nil {
		t.Fatalf("every node confirmed, yet: %v", m)
	}
	db, err := sql.Open("pgx", cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO cache_nodes (node_id, seen_seq, heartbeat_at)
		VALUES ('crashed-node', 0, (extract(epoch from clock_timestamp()) * 1000000)::bigint)`); err != nil {
		t.Fatal(err)
	}
	if m := revoke(); m["unconfirmed_nodes"] != float64(1) {
		t.Fatalf("a node did not confirm, the answer says: %v", m)
	}
}
