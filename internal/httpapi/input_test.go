package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"
)

// newEngineServer is newServer on the named engine: "sqlite" (a temporary
// data folder) or "postgres" (a fresh database; see internal/pgtest).
func newEngineServer(t *testing.T, engine string) *server {
	t.Helper()
	return newServerWith(t, engineConfig(t, engine))
}

// badText are the ways a text can be wrong: the same in a path or a query
// (percent-encoded) and in a JSON string (as JSON writes it, or raw bytes).
var badText = []struct {
	name, url, json, reason string
}{
	{"NUL", "x%00y", `x\u0000y`, "nul_character"},
	{"invalid UTF-8", "x%FFy", "x\xffy", "invalid_utf8"},
	{"raw NUL byte", "", "x\x00y", "nul_character"},
}

// inputCase is one request with one bad text in one place.
type inputCase struct {
	name, method, path, body string
	key                      string
	location, field          string // what the refusal must name
	permit                   bool   // answered in Permit's shape
}

// TestBadTextRefused walks every operation (v1 from its spec, the
// Permit-compatible /v2 from its spec, and the root decision endpoints)
// with a NUL character, then invalid UTF-8, in each path parameter, each
// query parameter and each string field of its JSON body, on SQLite and on
// PostgreSQL. Each must be refused as invalid input naming the part at
// fault (v1: 400 INVALID_REQUEST; Permit's routes: their 422
// INVALID_INPUT), never a 500, and nothing may change.
func TestBadTextRefused(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			s := newEngineServer(t, engine)
			cases := badTextCases(t, s)
			t.Logf("%d cases", len(cases))
			before := snapshot(s)
			failures := map[string][]string{} // by status, for the report of a failing run
			for _, c := range cases {
				res := doText(t, s, c)
				if msg := refusedAsBadText(res, c); msg != "" {
					failures[fmt.Sprint(res.status)] = append(failures[fmt.Sprint(res.status)], c.name)
					t.Errorf("%s: %s\n%.400s", c.name, msg, res.raw)
				}
			}
			if len(failures) > 0 {
				var statuses []string
				for st, names := range failures {
					statuses = append(statuses, fmt.Sprintf("%s: %d cases", st, len(names)))
				}
				sort.Strings(statuses)
				t.Logf("%d of %d cases not refused as bad text: %s", len(failures), len(cases), strings.Join(statuses, ", "))
			}
			if after := snapshot(s); after != before {
				t.Fatalf("bad text changed state:\n before %s\n after  %s", before, after)
			}
			if len(cases) < 1000 {
				t.Fatalf("only %d cases: the walk missed operations", len(cases))
			}
		})
	}
}

// refusedAsBadText returns what is wrong with res as the answer to c ("" when
// nothing).
func refusedAsBadText(res resp, c inputCase) string {
	var loc, field, code string
	want := 400
	if c.permit {
		want = 422
		code, _ = res.body["error_code"].(string)
		info, _ := res.body["additional_info"].(map[string]any)
		loc, _ = info["location"].(string)
		field, _ = info["field"].(string)
		if code != "INVALID_INPUT" {
			return fmt.Sprintf("%d %s, want %d INVALID_INPUT", res.status, code, want)
		}
	} else {
		e, _ := res.body["error"].(map[string]any)
		d, _ := e["details"].(map[string]any)
		loc, _ = d["location"].(string)
		field, _ = d["field"].(string)
		if code = res.code(); code != "INVALID_REQUEST" {
			return fmt.Sprintf("%d %s, want %d INVALID_REQUEST", res.status, code, want)
		}
	}
	if res.status != want {
		return fmt.Sprintf("status %d, want %d", res.status, want)
	}
	if loc != c.location || (c.field != "" && field != c.field) {
		return fmt.Sprintf("names %s %q, want %s %q", loc, field, c.location, c.field)
	}
	return ""
}

// doText sends c as it is (its body's bytes untouched) and decodes any
// JSON answer (a list is not an error body: its fields stay empty).
func doText(t *testing.T, s *server, c inputCase) resp {
	t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	hr, err := http.NewRequest(c.method, s.url+c.path, body)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		hr.Header.Set("Authorization", "Bearer "+c.key)
	}
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode, header: res.Header, raw: string(raw)}
	var v any
	if json.Unmarshal(raw, &v) == nil {
		out.body, _ = v.(map[string]any)
	}
	return out
}

var pathParamRE = regexp.MustCompile(`\{([a-z_]+)\}`)

// badTextCases builds the cases for every operation of s.
func badTextCases(t *testing.T, s *server) []inputCase {
	t.Helper()
	envKeyID, envKey := s.newKey("environment", []string{"check:access", "manage:user", "manage:tenant", "manage:resource", "manage:role", "manage:role_assignment"},
		map[string]any{"project": s.projID, "environment": s.devID})
	s.must(201, req{method: "POST", path: "/v1/resources", key: envKey, body: map[string]any{"key": "doc", "actions": []string{"read"}}})
	s.must(201, req{method: "POST", path: "/v1/roles", key: envKey, body: map[string]any{"key": "r1", "permissions": []string{"doc:read"}}})
	s.must(201, req{method: "POST", path: "/v1/users", key: envKey, body: map[string]any{"key": "u1"}})
	s.must(201, req{method: "POST", path: "/v1/tenants", key: envKey, body: map[string]any{"key": "t1"}})
	wh := s.must(201, req{method: "POST", path: "/v1/webhooks", key: s.key, body: map[string]any{"url": "https://hooks.example/in", "events": []string{"*"}}}).data()
	dl := s.must(201, req{method: "POST", path: "/v1/webhooks/" + wh["id"].(string) + "/test", key: s.key}).data()
	ids := map[string]string{"organization": s.orgID, "project": s.projID, "environment": s.devID, "member": tenancyAdminID(t, s),
		"role": "viewer", "key": envKeyID, "user": "u1", "tenant": "t1", "resource": "doc", "webhook": wh["id"].(string),
		"delivery": dl["id"].(string), "job": "01a2052c-d605-7e39-a23b-ed443940e2de", "task": "01a2052c-d605-7e39-a23b-ed443940e2de",
		"decision": "01a2052c-d605-7e39-a23b-ed443940e2de", "log": "01a2052c-d605-7e39-a23b-ed443940e2de", "id": "1",
		// Permit's names
		"proj": s.projID, "env": s.devID, "parent": "r1", "action": "read", "set": "s1"}
	envQuery := map[string]string{"project": s.projID, "environment": s.devID}

	var cases []inputCase
	add := func(c inputCase) { cases = append(cases, c) }

	// pathCases puts each bad text in each path parameter of path.
	pathCases := func(name, method, path string, body, key string, permit bool, query string) {
		for _, m := range pathParamRE.FindAllStringSubmatch(path, -1) {
			for _, b := range badText {
				if b.url == "" {
					continue
				}
				p := fillWith(path, ids, m[1], ids[m[1]]+b.url)
				add(inputCase{name: fmt.Sprintf("%s: %s in path parameter %s", name, b.name, m[1]), method: method, path: p + query,
					body: body, key: key, location: "path", permit: permit})
			}
		}
	}
	// queryCases puts each bad text in each of params.
	queryCases := func(name, method, path string, params []string, fixed map[string]string, body, key string, permit bool) {
		for _, param := range params {
			// A bad %-escape or a ;, which Go's parser would drop without a
			// word, only in a query.
			for _, b := range append(badText[:len(badText):len(badText)], struct{ name, url, json, reason string }{"bad percent-encoding", "x%zzy", "", "invalid_escape"},
				struct{ name, url, json, reason string }{"a semicolon", "x;y", "", "invalid_separator"}) {
				if b.url == "" {
					continue
				}
				q := url.Values{}
				for k, v := range fixed {
					if k != param {
						q.Set(k, v)
					}
				}
				raw := q.Encode()
				if raw != "" {
					raw += "&"
				}
				raw += url.QueryEscape(param) + "=" + b.url
				add(inputCase{name: fmt.Sprintf("%s: %s in query parameter %s", name, b.name, param), method: method, path: fillWith(path, ids, "", "") + "?" + raw,
					body: body, key: key, location: "query", field: param, permit: permit})
			}
		}
	}
	// bodyCases puts a NUL in each string field of base, and each other bad
	// text in the first (the scan does not depend on the field).
	bodyCases := func(name, method, path, query string, base map[string]any, fields []string, key string, permit bool) {
		for i, f := range fields {
			for j, b := range badText {
				if i > 0 && j > 0 {
					continue
				}
				add(inputCase{name: fmt.Sprintf("%s: %s in body field %s", name, b.name, f), method: method, path: fillWith(path, ids, "", "") + query,
					body: bodyWith(t, base, f, b.json), key: key, location: "body", field: f, permit: permit})
			}
		}
	}

	// v1, from its spec.
	for _, op := range operations(s) {
		name := op.method + " " + op.path
		var query []string
		fixed := map[string]string{}
		for _, p := range op.op.Parameters {
			if p.In == "query" {
				query = append(query, p.Name)
				if v, ok := envQuery[p.Name]; ok {
					fixed[p.Name] = v
				}
			}
		}
		fixedQuery := ""
		if len(fixed) > 0 {
			q := url.Values{}
			for k, v := range fixed {
				q.Set(k, v)
			}
			fixedQuery = "?" + q.Encode()
		}
		body := ""
		if op.hasBody() && !op.takesFile() {
			body = "{}"
			if v, ok := validBodies[op.op.OperationID]; ok {
				data, _ := json.Marshal(v)
				body = string(data)
			}
		}
		pathCases(name, op.method, op.path, body, s.key, false, fixedQuery)
		queryCases(name, op.method, op.path, query, fixed, body, s.key, false)
		if body != "" {
			base := map[string]any{}
			_ = json.Unmarshal([]byte(body), &base)
			fields := stringFields(s, op.op)
			if len(fields) == 0 {
				fields = []string{"name"}
			}
			bodyCases(name, op.method, op.path, fixedQuery, base, fields, s.key, false)
		}
	}

	// /v2, from its spec.
	spec := s.must(200, req{method: "GET", path: "/v2/openapi.json"})
	paths, _ := spec.body["paths"].(map[string]any)
	var v2 []string
	for p := range paths {
		v2 = append(v2, p)
	}
	sort.Strings(v2)
	decisionBodies := map[string]map[string]any{
		"/allowed":             {"user": map[string]any{"key": "u1"}, "action": "read", "resource": map[string]any{"type": "doc", "tenant": "t1"}},
		"/allowed/bulk":        {"checks": []any{map[string]any{"user": map[string]any{"key": "u1"}, "action": "read", "resource": map[string]any{"type": "doc"}}}},
		"/allowed/all-tenants": {"user": map[string]any{"key": "u1"}, "action": "read", "resource": map[string]any{"type": "doc"}},
		"/user-permissions":    {"user": map[string]any{"key": "u1"}, "tenants": []string{"t1"}},
	}
	for _, path := range v2 {
		item, _ := paths[path].(map[string]any)
		for method, v := range item {
			method = strings.ToUpper(method)
			op, _ := v.(map[string]any)
			name := method + " " + path
			key := s.key
			if !strings.HasPrefix(path, "/v2/") { // the decision endpoints: an environment key
				key = envKey
			}
			if _, ok := op["security"]; !ok {
				key = ""
			}
			body := ""
			base := map[string]any{"key": "k1", "name": "N", "email": "a@example.com", "role": "r1", "tenant": "t1", "user": "u1", "description": "d"}
			if db, ok := decisionBodies[path]; ok {
				base = db
			}
			if _, ok := op["requestBody"]; ok {
				data, _ := json.Marshal(base)
				body = string(data)
			}
			pathCases(name, method, path, body, key, true, "")
			if method == "GET" {
				queryCases(name, method, path, []string{"search", "page", "per_page", "role", "tenant", "user"}, nil, body, key, true)
			} else {
				queryCases(name, method, path, []string{"x"}, nil, body, key, true)
			}
			if body != "" {
				var fields []string
				for f, v := range base {
					if _, ok := v.(string); ok {
						fields = append(fields, f)
					}
				}
				if _, ok := decisionBodies[path]; ok {
					fields = append(fields, "action")
				}
				sort.Strings(fields)
				fields = slicesCompact(fields)
				if path == "/allowed/bulk" {
					base = decisionBodies[path]
					fields = nil
					for _, b := range badText {
						bad := fmt.Sprintf(`{"checks":[{"user":{"key":"%s"},"action":"read","resource":{"type":"doc"}}]}`, b.json)
						add(inputCase{name: name + ": " + b.name + " in a nested field", method: method, path: path, body: bad, key: key,
							location: "body", field: "checks[0].user.key", permit: true})
					}
				}
				bodyCases(name, method, path, "", base, fields, key, true)
			}
		}
	}
	return cases
}

func slicesCompact(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// fillWith is fill with one parameter given its own (already escaped) value.
func fillWith(path string, ids map[string]string, param, value string) string {
	return pathParamRE.ReplaceAllStringFunc(path, func(m string) string {
		name := m[1 : len(m)-1]
		if name == param {
			return value
		}
		return url.PathEscape(ids[name])
	})
}

// bodyWith returns base as JSON with field set to text, written into the
// JSON text as is (an escape stays an escape, a raw byte stays raw).
func bodyWith(t *testing.T, base map[string]any, field, text string) string {
	t.Helper()
	m := map[string]any{}
	for k, v := range base {
		m[k] = v
	}
	m[field] = "@@BAD@@"
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Replace(string(data), "@@BAD@@", text, 1)
}

// stringFields lists the string properties of op's JSON body.
func stringFields(s *server, op *huma.Operation) []string {
	if op.RequestBody == nil || op.RequestBody.Content["application/json"] == nil {
		return nil
	}
	schema := op.RequestBody.Content["application/json"].Schema
	if schema != nil && schema.Ref != "" {
		schema = s.app.OpenAPI.Components.Schemas.Map()[strings.TrimPrefix(schema.Ref, "#/components/schemas/")]
	}
	if schema == nil {
		return nil
	}
	var out []string
	for name, p := range schema.Properties {
		if p.Type == "string" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}
