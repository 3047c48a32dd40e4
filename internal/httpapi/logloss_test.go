package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apilog"
	"github.com/gatehouse-dev/gatehouse/internal/batch"
	"github.com/gatehouse-dev/gatehouse/internal/httpapi"
	"github.com/gatehouse-dev/gatehouse/internal/testserver"
)

// TestAPILogKeepsCallsWithBadText: calls whose user agent, path, query or
// body are not valid UTF-8 or hold a NUL are logged (their text made valid)
// on both engines, and so is another organization's call made beside them
// (on PostgreSQL one such call used to cost the whole batch, every
// tenant's entries in it). /readyz counts no lost entry.
func TestAPILogKeepsCallsWithBadText(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			s := newEngineServer(t, engine)
			beta := s.otherOrg("Beta")
			calls := []struct {
				id, key, method, path, body, agent string
				status                             int
				wantAgent, wantPath                string
			}{
				{"bad-agent", s.key, "GET", "/v1/me", "", "agent\xff\xfe/1", 200, "agent\uFFFD/1", "/v1/me"},
				{"bad-path", s.key, "GET", "/v1/projects/a%FFb", "", "curl/8", 400, "curl/8", "/v1/projects/a%FFb"},
				{"bad-query", s.key, "GET", "/v1/members?email=a%00b", "", "curl/8", 400, "curl/8", "/v1/members?email=a%00b"},
				{"bad-body", s.key, "POST", "/v1/projects", "{\"name\":\"a\xffb\\u0000\"}", "curl/8", 400, "curl/8", "/v1/projects"},
				{"other-tenant", beta.key, "GET", "/v1/me", "", "curl/8", 200, "curl/8", "/v1/me"},
			}
			for _, c := range calls {
				var body io.Reader
				if c.body != "" {
					body = strings.NewReader(c.body)
				}
				r, err := http.NewRequest(c.method, s.url+c.path, body)
				if err != nil {
					t.Fatal(err)
				}
				r.Header.Set("Authorization", "Bearer "+c.key)
				r.Header.Set("User-Agent", c.agent)
				r.Header.Set("X-Request-Id", c.id)
				r.Header.Set("Content-Type", "application/json")
				res, err := http.DefaultClient.Do(r)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != c.status {
					t.Fatalf("%s: status %d, want %d", c.id, res.StatusCode, c.status)
				}
			}
			for _, c := range calls {
				var entry map[string]any
				testserver.Eventually(t, c.id+" in the API log", 10*time.Second, func() bool {
					list := s.must(200, req{method: "GET", path: "/v1/logs?request_id=" + c.id, key: c.key}).list()
					if len(list) == 1 {
						entry = list[0].(map[string]any)
					}
					return entry != nil
				})
				if entry["user_agent"] != c.wantAgent || entry["path"] != c.wantPath || int(entry["status"].(float64)) != c.status {
					t.Errorf("%s logged as %v", c.id, entry)
				}
			}
			ready := s.must(200, req{method: "GET", path: "/readyz"}).data()
			if ready["api_log_lost"] != 0.0 || ready["decision_log_lost"] != 0.0 {
				t.Fatalf("readyz: %v; want nothing lost", ready)
			}
		})
	}
}

// ci: race
// TestReadyzCountsLostLogEntries: an API log entry that is lost (here: its
// queue is full) is counted on /readyz, which stays ready; /healthz does
// not carry the counters.
func TestReadyzCountsLostLogEntries(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	d := s.app.Deps()
	// A queue of one that nobody writes: the second call's entry is lost.
	d.APILog = batch.New("API log", d.APILogStore.WriteAPILog, d.Log, batch.Options[apilog.Call]{Buffer: 1})
	h, _ := httpapi.New(d)
	get := func(path string) (int, map[string]any) {
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("Authorization", "Bearer "+s.key)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var body struct {
			Data map[string]any `json:"data"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s: %v\n%s", path, err, w.Body)
		}
		return w.Code, body.Data
	}
	for range 2 {
		if code, _ := get("/v1/me"); code != 200 {
			t.Fatalf("/v1/me: %d", code)
		}
	}
	code, ready := get("/readyz")
	if code != 200 || ready["status"] != "ready" || ready["api_log_lost"] != 1.0 || ready["decision_log_lost"] != 0.0 {
		t.Fatalf("readyz: %d %v; want ready with api_log_lost 1", code, ready)
	}
	if d.APILog.Lost() != 1 {
		t.Fatalf("Lost() = %d, want 1", d.APILog.Lost())
	}
	if _, health := get("/healthz"); health["api_log_lost"] != nil {
		t.Fatalf("healthz carries the log counters: %v", health)
	}
}
