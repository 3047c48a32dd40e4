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
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/datadirtest"
	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

// engines are the two configurations every durable-work test runs on.
func engines(t *testing.T) []struct {
	name string
	cfg  func(t *testing.T) config.Config
} {
	return []struct {
		name string
		cfg  func(t *testing.T) config.Config
	}{
		{"sqlite", func(t *testing.T) config.Config {
			c := config.Default()
			c.DataDir = t.TempDir()
			return c
		}},
		{"postgres", func(t *testing.T) config.Config {
			c := config.Default()
			c.DatabaseURL, c.SecretKey = datadirtest.Postgres(t), pgtest.SecretKey
			return c
		}},
	}
}

func post(t testing.TB, url, key, ctype, body string) (int, map[string]any) {
	t.Helper()
	r, _ := http.NewRequest("POST", url, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+key)
	r.Header.Set("Content-Type", ctype)
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

func waitJob(t *testing.T, base, key, id string) map[string]any {
	t.Helper()
	var j map[string]any
	// Ended, however long it takes while its rows keep being applied.
	testwait.Progress(t, 60*time.Second, "job "+id, func() (any, bool) {
		_, out := call(t, "GET", base+"/v1/jobs/"+id, key, "")
		j = out["data"].(map[string]any)
		st := j["status"]
		return fmt.Sprint(st, j["progress"]), st != "queued" && st != "running"
	})
	return j
}

const devQ = "?project=default&environment=development"

func TestWebhooksAndJobsOnBothEngines(t *testing.T) {
	t.Parallel()
	for _, eng := range engines(t) {
		t.Run(eng.name, func(t *testing.T) {
			cfg := eng.cfg(t)
			cfg.WebhookAllowNetworks = []string{"127.0.0.0/8"}
			a, base := start(t, cfg)
			res, err := a.Init(context.Background(), app.DefaultInitOptions())
			if err != nil {
				t.Fatal(err)
			}
			key := res.Token
			var mu sync.Mutex
			var got []map[string]any
			var secretMu sync.Mutex
			secret := ""
			rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				secretMu.Lock()
				sec := secret
				secretMu.Unlock()
				if _, err := client.VerifyWebhook(sec, r.Header, body, time.Minute); err != nil {
					http.Error(w, err.Error(), 400)
					return
				}
				var p map[string]any
				_ = json.Unmarshal(body, &p)
				mu.Lock()
				got = append(got, p)
				mu.Unlock()
			}))
			defer rc.Close()
			secretMu.Lock()
			st, wh := post(t, base+"/v1/webhooks", key, "application/json", `{"url":"`+rc.URL+`","events":["user.created","job.completed"]}`)
			if st != 201 {
				secretMu.Unlock()
				t.Fatalf("webhook %d %v", st, wh)
			}
			secret = wh["data"].(map[string]any)["secret"].(string)
			secretMu.Unlock()

			for _, c := range []string{`{"key":"document","actions":["read"]}`} {
				post(t, base+"/v1/resources"+devQ, key, "application/json", c)
			}
			post(t, base+"/v1/roles"+devQ, key, "application/json", `{"key":"viewer","permissions":["document:read"]}`)
			var file strings.Builder
			for i := 0; i < 30; i++ {
				fmt.Fprintf(&file, `{"type":"user","key":"u%d"}`+"\n"+`{"type":"role_assignment","user":"u%d","role":"viewer"}`+"\n", i, i)
			}
			st, out := post(t, base+"/v1/jobs/import"+devQ+"&batch_size=10&events=true", key, "application/x-ndjson", file.String())
			if st != 201 {
				t.Fatalf("import %d %v", st, out)
			}
			j := waitJob(t, base, key, out["data"].(map[string]any)["id"].(string))
			if j["status"] != "succeeded" || j["result"].(map[string]any)["created"] != 60.0 {
				t.Fatalf("import job %v", j)
			}
			_, chk := post(t, base+"/v1/allowed"+devQ, key, "application/json", `{"user":"u29","action":"read","resource":{"type":"document"}}`)
			if chk["data"].(map[string]any)["allow"] != true {
				t.Fatalf("check after import: %v", chk)
			}
			// Every user.created event and the job.completed arrive signed.
			testwait.Progress(t, 30*time.Second, "31 events delivered", func() (any, bool) {
				mu.Lock()
				defer mu.Unlock()
				return len(got), len(got) >= 31
			})
			// An export on this engine too.
			st, out = post(t, base+"/v1/jobs"+devQ, key, "application/json", `{"type":"export"}`)
			if st != 201 {
				t.Fatalf("export %d %v", st, out)
			}
			ex := waitJob(t, base, key, out["data"].(map[string]any)["id"].(string))
			r, _ := http.NewRequest("GET", base+ex["output_url"].(string), nil)
			r.Header.Set("Authorization", "Bearer "+key)
			hr, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(hr.Body)
			hr.Body.Close()
			// 1 resource, 1 role, the default tenant, 30 users, 30 assignments.
			if n := strings.Count(string(raw), "\n"); n != 63 {
				t.Errorf("export has %d lines, want 63", n)
			}
		})
	}
}

// A job goes on after a graceful restart of the server.
func TestJobResumesAfterRestart(t *testing.T) {
	t.Parallel()
	for _, eng := range engines(t) {
		t.Run(eng.name, func(t *testing.T) {
			cfg := eng.cfg(t)
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			a, err := app.New(context.Background(), cfg, log)
			if err != nil {
				t.Fatal(err)
			}
			res, err := a.Init(context.Background(), app.DefaultInitOptions())
			if err != nil {
				t.Fatal(err)
			}
			ts := httptest.NewServer(a.Handler())
			var file strings.Builder
			const n = 600
			for i := 0; i < n; i++ {
				fmt.Fprintf(&file, `{"type":"user","key":"u%d"}`+"\n", i)
			}
			st, out := post(t, ts.URL+"/v1/jobs/import"+devQ+"&batch_size=10", res.Token, "application/x-ndjson", file.String())
			if st != 201 {
				t.Fatalf("import %d %v", st, out)
			}
			id := out["data"].(map[string]any)["id"].(string)
			var done float64
			for done == 0 {
				_, out := call(t, "GET", ts.URL+"/v1/jobs/"+id, res.Token, "")
				done = out["data"].(map[string]any)["progress"].(map[string]any)["done_items"].(float64)
			}
			ts.Close()
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			a2, base := start(t, cfg)
			_ = a2
			j := waitJob(t, base, res.Token, id)
			if j["status"] != "succeeded" || j["progress"].(map[string]any)["done_items"] != float64(n) {
				t.Fatalf("after the restart: %v", j)
			}
			_, list := call(t, "GET", base+"/v1/users"+devQ+"&per_page=1", res.Token, "")
			if got := list["meta"].(map[string]any)["total_items"]; got != float64(n) {
				t.Errorf("%v users, want %d", got, n)
			}
			t.Logf("stopped at %v of %d rows", done, n)
		})
	}
}
