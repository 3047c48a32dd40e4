package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
)

func start(t *testing.T, cfg config.Config) (*app.App, string) {
	t.Helper()
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a.Handler())
	t.Cleanup(func() { ts.Close(); a.Close() })
	return a, ts.URL
}

func call(t *testing.T, method, url, key, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, _ := http.NewRequest(method, url, rd)
	r.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// waitHealthy waits until a node's key cache listener is up.
func waitHealthy(t *testing.T, a *app.App) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !a.KeyCacheHealthy() {
		if time.Now().After(deadline) {
			t.Fatal("key cache listener did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// twoNodes starts two initialized server nodes on one fresh PostgreSQL
// database, both listening for invalidations.
func twoNodes(t *testing.T) (urlA, urlB string, res *app.InitResult) {
	t.Helper()
	cfg := config.Default()
	cfg.DatabaseURL = pgtest.NewDatabase(t)
	a, urlA := start(t, cfg)
	res, err := a.Init(context.Background(), app.DefaultInitOptions())
	if err != nil {
		t.Fatal(err)
	}
	b, urlB := start(t, cfg)
	waitHealthy(t, a)
	waitHealthy(t, b)
	return urlA, urlB, res
}

// TestRevocationReachesEveryNode runs two server nodes on one PostgreSQL
// database: a key revoked through node A is refused by node B on the very
// next request, although B had it cached.
func TestRevocationReachesEveryNode(t *testing.T) {
	urlA, urlB, res := twoNodes(t)
	for i := 0; i < 20; i++ {
		status, created := call(t, "POST", urlA+"/v1/api-keys", res.Token,
			fmt.Sprintf(`{"name":"k%d","level":"organization","scopes":["view:project"]}`, i))
		if status != 201 {
			t.Fatalf("create: %d %v", status, created)
		}
		d := created["data"].(map[string]any)
		token, id := d["token"].(string), d["id"].(string)
		for j := 0; j < 3; j++ { // cache it on B
			if status, _ := call(t, "GET", urlB+"/v1/projects", token, ""); status != 200 {
				t.Fatalf("node B refused a fresh key: %d", status)
			}
		}
		if status, _ := call(t, "POST", urlA+"/v1/api-keys/"+id+"/revoke", res.Token, ""); status != 200 {
			t.Fatalf("revoke: %d", status)
		}
		if status, body := call(t, "GET", urlB+"/v1/projects", token, ""); status != 401 {
			t.Fatalf("round %d: node B still accepts a revoked key: %d %v", i, status, body)
		}
	}
	// Rotation without grace ends the old key on every node too.
	status, created := call(t, "POST", urlA+"/v1/api-keys", res.Token, `{"name":"r","level":"organization","scopes":["view:project"]}`)
	if status != 201 {
		t.Fatal(status)
	}
	d := created["data"].(map[string]any)
	call(t, "GET", urlB+"/v1/projects", d["token"].(string), "")
	if status, _ := call(t, "POST", urlA+"/v1/api-keys/"+d["id"].(string)+"/rotate", res.Token, ""); status != 201 {
		t.Fatal(status)
	}
	if status, _ := call(t, "GET", urlB+"/v1/projects", d["token"].(string), ""); status != 401 {
		t.Fatalf("node B accepts a rotated-out key: %d", status)
	}
}

// TestFactsReachEveryNode: a role assignment written through node A is
// visible to checks on node B within 100 ms, and B's engine was loaded
// before the write.
func TestFactsReachEveryNode(t *testing.T) {
	urlA, urlB, res := twoNodes(t)
	q := "?project=default&environment=development"
	for _, body := range []string{`{"key":"doc","actions":["read"]}`} {
		if st, out := call(t, "POST", urlA+"/v1/resources"+q, res.Token, body); st != 201 {
			t.Fatalf("resource: %d %v", st, out)
		}
	}
	call(t, "POST", urlA+"/v1/roles"+q, res.Token, `{"key":"reader","permissions":["doc:read"]}`)
	check := `{"user":"u%d","action":"read","resource":{"type":"doc"}}`
	call(t, "POST", urlB+"/v1/allowed"+q, res.Token, fmt.Sprintf(check, 0)) // B loads the environment
	for i := 0; i < 10; i++ {
		call(t, "POST", urlA+"/v1/users"+q, res.Token, fmt.Sprintf(`{"key":"u%d"}`, i))
		if st, out := call(t, "POST", urlA+"/v1/role-assignments"+q, res.Token, fmt.Sprintf(`{"user":"u%d","role":"reader"}`, i)); st != 201 {
			t.Fatalf("assign: %d %v", st, out)
		}
		written := time.Now()
		for {
			_, out := call(t, "POST", urlB+"/v1/allowed"+q, res.Token, fmt.Sprintf(check, i))
			if out["data"].(map[string]any)["allow"] == true {
				break
			}
			if time.Since(written) > 100*time.Millisecond {
				t.Fatalf("round %d: node B did not see the assignment within 100 ms", i)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
}

// Log retention follows each organization's log_retention_days (30 by
// default).
func TestLogRetention(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	a, _ := start(t, cfg)
	res, err := a.Init(context.Background(), app.DefaultInitOptions())
	if err != nil {
		t.Fatal(err)
	}
	logs := a.LogDB.LogStore()
	now := time.Now()
	var entries []decision.Entry
	for i, age := range []int{40, 31, 29, 1} {
		entries = append(entries, decision.Entry{ID: fmt.Sprint("d", i), OrganizationID: res.Organization.ID, ProjectID: "p", EnvironmentID: "e",
			Time: now.AddDate(0, 0, -age), Source: decision.SourceAPI, User: "u", Action: "a", ResourceType: "r", Tenant: "default", Reason: "unknown_user"})
	}
	if err := logs.WriteDecisions(context.Background(), entries); err != nil {
		t.Fatal(err)
	}
	if err := a.PruneLogs(context.Background(), logs); err != nil {
		t.Fatal(err)
	}
	page, err := logs.ListDecisions(context.Background(), decision.Filter{OrgID: res.Organization.ID, EnvID: "e"}, gatehouse.PageRequest{Page: 1, PerPage: 10, Sort: "timestamp"})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 2 || page.Items[0].ID != "d2" || page.Items[1].ID != "d3" {
		t.Fatalf("after retention: %+v", page.Items)
	}
}
