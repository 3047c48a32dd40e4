package httpapi_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apilog"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

// waitLogs waits until GET /v1/logs?query holds want calls.
func (s *server) waitLogs(key, query string, want int) []any {
	s.t.Helper()
	var res resp
	testwait.Until(s.t, 30*time.Second, fmt.Sprintf("logs?%s holding %d calls", query, want), func() bool {
		res = s.must(200, req{method: "GET", path: "/v1/logs?per_page=100&" + query, key: key})
		return int(res.meta()["total_items"].(float64)) >= want
	})
	if n := int(res.meta()["total_items"].(float64)); n > want {
		s.t.Fatalf("logs?%s: %d calls, want %d\n%s", query, n, want, res.raw)
	}
	return res.list()
}

// TestAPILog: calls of every outcome are recorded with who, what and how it
// went; secrets never reach the log; the organization sees only its own.
func TestAPILog(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.LogBodyBytes = 300
	s := newServerWith(t, cfg)
	keyID, key := s.newKey("organization", []string{"view:project", "manage:project", "manage:api", "view:log"}, nil)
	_, reader := s.newKey("organization", []string{"view:log"}, nil) // its own reads are logged too: keep them apart

	// A success whose response holds a token, a 403, a 404 on an unknown
	// route, a 400 with a long body, and a 401.
	created := s.must(201, req{method: "POST", path: "/v1/api-keys", key: key, header: map[string]string{"User-Agent": "logtest/1"},
		body: map[string]any{"name": "child", "level": "organization", "scopes": []string{"view:project"}}})
	token := created.data()["token"].(string)
	s.must(403, req{method: "GET", path: "/v1/members", key: key})
	s.must(404, req{method: "GET", path: "/v1/nowhere?x=1", key: key})
	long := strings.Repeat("x", 1000)
	s.must(400, req{method: "POST", path: "/v1/projects", key: key, body: map[string]any{"name": long, "password": "hunter2"}})
	s.must(401, req{method: "GET", path: "/v1/projects", key: "garbage"})

	calls := s.waitLogs(reader, "actor="+keyID+"&order=asc", 4)
	byPath := map[string]map[string]any{}
	for _, c := range calls {
		m := c.(map[string]any)
		byPath[m["method"].(string)+" "+m["path"].(string)] = m
	}
	create := byPath["POST /v1/api-keys"]
	if create == nil || create["status"] != float64(201) || create["route"] != "/v1/api-keys" || create["actor_type"] != "key" ||
		create["actor_name"] != "test organization" || create["organization_id"] != s.orgID || create["user_agent"] != "logtest/1" ||
		create["request_id"] != created.header.Get("X-Request-Id") || create["client_ip"] != "127.0.0.1" {
		t.Fatalf("create call: %v", create)
	}
	if c := byPath["GET /v1/members"]; c == nil || c["status"] != float64(403) || c["error_code"] != "FORBIDDEN" {
		t.Fatalf("403 call: %v", c)
	}
	if c := byPath["GET /v1/nowhere?x=1"]; c == nil || c["status"] != float64(404) || c["route"] != "" {
		t.Fatalf("404 call: %v", c)
	}

	// The full entry: request and response, secrets redacted.
	full := s.must(200, req{method: "GET", path: "/v1/logs/" + create["id"].(string), key: reader}).data()
	raw, _ := json.Marshal(full)
	if strings.Contains(string(raw), token) || strings.Contains(string(raw), key) || strings.Contains(string(raw), token[40:80]) {
		t.Fatalf("a key reached the log: %s", raw)
	}
	headers := full["request_headers"].(map[string]any)
	if headers["Authorization"] != apilog.Redacted || !strings.Contains(full["request_body"].(string), `"name":"child"`) ||
		full["response_body"] != apilog.DroppedBody { // cut at 300 bytes: a secret operation's body is dropped whole

		t.Fatalf("full entry: %s", raw)
	}
	bad := byPath["POST /v1/projects"]
	badFull := s.must(200, req{method: "GET", path: "/v1/logs/" + bad["id"].(string), key: reader}).data()
	if badFull["request_truncated"] != true || badFull["request_size"].(float64) < 1000 || strings.Contains(fmt.Sprint(badFull), "hunter2") ||
		len(badFull["request_body"].(string)) > 300 || badFull["error_code"] != "INVALID_REQUEST" {
		t.Fatalf("truncated entry: %v", badFull)
	}

	// Filters.
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"status=4xx&actor=" + keyID, 3},
		{"status=403", 1},
		{"method=POST&actor=" + keyID, 2},
		{"path=/v1/api-keys&actor=" + keyID, 1},
		{"request_id=" + created.header.Get("X-Request-Id"), 1},
		{"since=" + time.Now().Add(time.Hour).UTC().Format(time.RFC3339), 0},
	} {
		t.Run(tc.query, func(t *testing.T) { s.waitLogs(reader, tc.query, tc.want) })
	}
	s.must(400, req{method: "GET", path: "/v1/logs?status=6xx", key: reader})

	// The 401 is recorded, but belongs to no organization: no one lists it.
	// (The log is written in batches: wait for the 401's.)
	unattributed := func() int {
		n := 0
		if err := s.app.LogDB.LogStore().ExportAPILog(t.Context(), apilog.Filter{OrgID: ""}, func(c *apilog.Call) error {
			if c.Status == 401 {
				n++
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	testwait.Until(t, 30*time.Second, "the 401 in the API log", func() bool { return unattributed() >= 1 })
	if n := unattributed(); n != 1 {
		t.Fatalf("unattributed 401s: %d", n)
	}

	// Another organization sees none of it; an environment key only its own.
	b := s.otherOrg("Other")
	if res := s.must(200, req{method: "GET", path: "/v1/logs?per_page=100", key: b.key}); strings.Contains(res.raw, s.orgID) {
		t.Fatal("another organization sees this one's calls")
	}
	s.must(404, req{method: "GET", path: "/v1/logs/" + create["id"].(string), key: b.key})
	s.must(200, req{method: "GET", path: "/v1/logs/" + create["id"].(string), key: key})
	_, envKey := s.newKey("environment", []string{"view:log", "view:user"}, map[string]any{"project": s.projID, "environment": s.devID})
	s.must(200, req{method: "GET", path: "/v1/users", key: envKey})
	if c := s.waitLogs(envKey, "path=/v1/users", 1)[0].(map[string]any); c["environment_id"] != s.devID || c["project_id"] != s.projID {
		t.Fatalf("an environment key's call: %v", c)
	}
	s.waitLogs(envKey, "path=/v1/api-keys", 0) // the organization key's calls are not its business

	// Export: JSON Lines, oldest first, in full.
	r, _ := http.NewRequest("GET", s.url+"/v1/logs/export?actor="+keyID, nil)
	r.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("export: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	var lines []apilog.Call
	for sc.Scan() {
		var c apilog.Call
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		lines = append(lines, c)
	}
	if len(lines) < 4 || lines[0].Path != "/v1/api-keys" || lines[0].RequestHeaders["Authorization"] != apilog.Redacted {
		t.Fatalf("export: %d lines, first %+v", len(lines), lines)
	}
}
