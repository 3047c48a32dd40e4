package httpapi_test

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/gatehouse-dev/gatehouse/internal/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

// operation is one registered operation of the spec.
type operation struct {
	method, path string
	op           *huma.Operation
}

func (o operation) scope() string {
	s, _ := o.op.Extensions["x-required-scopes"].([]string)
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func (o operation) public() bool { return len(o.op.Security) == 0 }

func (o operation) isList() bool {
	for _, p := range o.op.Parameters {
		if p.Name == "page" {
			return true
		}
	}
	return false
}

func (o operation) hasBody() bool { return o.op.RequestBody != nil }

// takesQuery reports whether the operation declares query parameter name.
func (o operation) takesQuery(name string) bool {
	for _, p := range o.op.Parameters {
		if p.In == "query" && p.Name == name {
			return true
		}
	}
	return false
}

// takesFile reports whether the operation's body is a file, not JSON (an
// import): every JSON body is then a 415.
func (o operation) takesFile() bool {
	if o.op.RequestBody == nil {
		return false
	}
	_, json := o.op.RequestBody.Content["application/json"]
	return !json
}

func operations(s *server) []operation {
	var ops []operation
	for path, item := range s.app.OpenAPI.Paths {
		for method, op := range map[string]*huma.Operation{"GET": item.Get, "POST": item.Post, "PATCH": item.Patch, "PUT": item.Put, "DELETE": item.Delete} {
			if op != nil {
				ops = append(ops, operation{method: method, path: path, op: op})
			}
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].path+ops[i].method < ops[j].path+ops[j].method })
	return ops
}

// fill replaces the path parameters of path with the ids in ids.
func fill(path string, ids map[string]string) string {
	for k, v := range ids {
		path = strings.ReplaceAll(path, "{"+k+"}", v)
	}
	return path
}

// forge signs the claims of a real key with a key the server never made.
func forge(t *testing.T, token string) string { return apitest.Forge(t, token) }

// TestAuthMatrix runs every authenticated operation of the spec with no key,
// bad keys, an expired key, a revoked key, a key without the operation's
// scope and a mismatching organization header: each must be refused with
// the right status and code, and nothing may answer 500.
func TestAuthMatrix(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	keyID, _ := s.newKey("organization", []string{"view:project"}, nil)
	_, expiring := s.newKey("organization", []string{"view:organization", "view:project", "manage:api", "view:settings", "manage:settings",
		"view:member", "manage:member", "view:permission", "manage:permission", "manage:project", "manage:organization"},
		map[string]any{"expires_at": time.Now().Add(1500 * time.Millisecond).Format(time.RFC3339Nano)})
	revokedID, revoked := s.newKey("organization", []string{"view:project"}, nil)
	s.must(200, req{method: "POST", path: "/v1/api-keys/" + revokedID + "/revoke", key: s.key})
	_, settingsOnly := s.newKey("organization", []string{"view:settings"}, nil)
	_, orgOnly := s.newKey("organization", []string{"view:organization"}, nil)
	// Once the expiring key has expired (however long the set-up took).
	testwait.Until(t, 30*time.Second, "the expiring key being refused", func() bool {
		return s.do(req{method: "GET", path: "/v1/projects", key: expiring}).status == 401
	})

	ids := map[string]string{"organization": s.orgID, "project": s.projID, "environment": s.devID,
		"member": tenancyAdminID(t, s), "role": "viewer", "key": keyID}
	for _, op := range operations(s) {
		if op.public() {
			continue
		}
		path := fill(op.path, ids)
		t.Run(op.method+" "+op.path, func(t *testing.T) {
			wrong := settingsOnly
			if op.scope() == "view:settings" {
				wrong = orgOnly
			}
			cases := []struct {
				name   string
				key    string
				header map[string]string
				want   int
				code   string
			}{
				{"no key", "", nil, 401, "UNAUTHORIZED"},
				{"garbage key", "not-a-jwt", nil, 401, "UNAUTHORIZED"},
				{"forged key", forge(t, s.key), nil, 401, "UNAUTHORIZED"},
				{"expired key", expiring, nil, 401, "UNAUTHORIZED"},
				{"revoked key", revoked, nil, 401, "UNAUTHORIZED"},
				{"other organization header", s.key, map[string]string{"X-Organization-Id": "01a2052c-d605-7e39-a23b-ed443940e2de"}, 403, "FORBIDDEN"},
			}
			if op.scope() != "" {
				cases = append(cases, struct {
					name   string
					key    string
					header map[string]string
					want   int
					code   string
				}{"key without " + op.scope(), wrong, nil, 403, "FORBIDDEN"})
			}
			for _, tc := range cases {
				var body any
				if op.hasBody() {
					body = map[string]any{}
				}
				res := s.do(req{method: op.method, path: path, key: tc.key, header: tc.header, body: body})
				if res.status != tc.want || res.code() != tc.code {
					t.Errorf("%s: %d %s, want %d %s\n%s", tc.name, res.status, res.code(), tc.want, tc.code, res.raw)
				}
				if res.body["status"] != "error" || res.header.Get("X-Request-Id") == "" {
					t.Errorf("%s: not an error envelope with a request id: %s", tc.name, res.raw)
				}
			}
		})
	}
}

// tenancyAdminID returns the first member's id.
func tenancyAdminID(t *testing.T, s *server) string {
	t.Helper()
	res := s.must(200, req{method: "GET", path: "/v1/members?email=admin@example.com", key: s.key})
	return res.list()[0].(map[string]any)["id"].(string)
}

// TestOtherOrganization: with a valid key holding every scope, the ids of
// another organization are NOT_FOUND on every operation, and nothing of the
// other organization changes.
func TestOtherOrganization(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	b := s.otherOrg("Beta")
	s.must(201, req{method: "POST", path: "/v1/member-roles", key: b.key, body: map[string]any{"key": "b-role", "name": "B role", "scopes": []string{"view:project"}}})
	wh := s.must(201, req{method: "POST", path: "/v1/webhooks", key: b.key, body: map[string]any{"url": "https://hooks.beta.example/in", "events": []string{"*"}}}).data()
	dl := s.must(201, req{method: "POST", path: "/v1/webhooks/" + wh["id"].(string) + "/test", key: b.key}).data()
	job := s.must(201, req{method: "POST", path: "/v1/jobs?project=" + b.projID + "&environment=" + b.envID, key: b.key, body: map[string]any{"type": "export"}}).data()
	tasks := s.must(200, req{method: "GET", path: "/v1/jobs/" + job["id"].(string) + "/tasks", key: b.key}).list()
	ids := map[string]string{"organization": b.id, "project": b.projID, "environment": b.envID, "member": b.memberID, "role": "b-role", "key": b.keyID,
		"user": "u1", "tenant": "default", "resource": "doc", "webhook": wh["id"].(string), "delivery": dl["id"].(string),
		"job": job["id"].(string), "task": tasks[0].(map[string]any)["id"].(string),
		"instance": "doc:i1", "relation": "parent", "condition_set": "cs1", "set_rule": "01a2052c-d605-7e39-a23b-ed443940e2de",
		"incident": "01a2052c-d605-7e39-a23b-ed443940e2de"}
	for _, op := range operations(s) {
		if op.public() {
			continue
		}
		envScoped := false
		for _, p := range op.op.Parameters {
			envScoped = envScoped || p.Name == "environment" && p.In == "query"
		}
		if !strings.Contains(op.path, "{") && !envScoped {
			continue
		}
		path := fill(op.path, ids)
		if envScoped {
			path += "?project=" + b.projID + "&environment=" + b.envID
			if op.op.OperationID == "unassign-role" {
				path += "&user=u1&role=r1"
			}
			if op.op.OperationID == "delete-set-rule" {
				path += "&user_set=cs1&action=read&resource_set=cs2"
			}
		}
		var body any
		if op.hasBody() {
			body = validBodies[op.op.OperationID]
			if body == nil {
				body = map[string]any{}
			}
		}
		r := req{method: op.method, path: path, key: s.key, body: body}
		if op.takesFile() {
			r.body, r.header = `{"type":"user","key":"u1"}`, map[string]string{"Content-Type": "application/x-ndjson"}
		}
		res := s.do(r)
		if res.status != 404 || res.code() != "NOT_FOUND" {
			t.Errorf("%s %s with another organization's ids: %d, want 404\n%s", op.method, op.path, res.status, res.raw)
		}
	}
	// Lists never show the other organization's data.
	for _, path := range []string{"/v1/projects", "/v1/members", "/v1/api-keys", "/v1/organizations", "/v1/member-roles"} {
		res := s.must(200, req{method: "GET", path: path + "?per_page=100", key: s.key})
		for _, id := range []string{b.id, b.projID, b.memberID, b.keyID, "b-role"} {
			if strings.Contains(res.raw, id) {
				t.Errorf("GET %s shows another organization's %s", path, id)
			}
		}
	}
	// The other organization is intact and its key works.
	s.must(200, req{method: "GET", path: "/v1/projects/" + b.projID, key: b.key})
	s.must(200, req{method: "GET", path: "/v1/members/" + b.memberID, key: b.key})
	s.must(200, req{method: "GET", path: "/v1/organizations/" + b.id, key: b.key})
}

// validBodies are minimal valid bodies of the operations that require some.
var validBodies = map[string]any{
	"create-environment":              map[string]any{"name": "x"},
	"create-user":                     map[string]any{"key": "u1"},
	"create-tenant":                   map[string]any{"key": "t1"},
	"create-resource":                 map[string]any{"key": "doc", "actions": []string{"read"}},
	"create-role":                     map[string]any{"key": "r1"},
	"assign-role":                     map[string]any{"user": "u1", "role": "r1"},
	"check":                           map[string]any{"user": "u1", "action": "read", "resource": map[string]any{"type": "doc"}},
	"check-bulk":                      map[string]any{"checks": []any{map[string]any{"user": "u1", "action": "read", "resource": map[string]any{"type": "doc"}}}},
	"user-permissions":                map[string]any{"user": "u1"},
	"start-job":                       map[string]any{"type": "export"},
	"recover-webhook-deliveries":      map[string]any{"since": "2026-01-01T00:00:00Z"},
	"create-resource-role":            map[string]any{"key": "r1"},
	"create-relation":                 map[string]any{"key": "parent", "subject": "doc"},
	"create-resource-instance":        map[string]any{"resource": "doc", "key": "i1"},
	"create-relationship-tuple":       tupleBody,
	"delete-relationship-tuple":       tupleBody,
	"create-relationship-tuples-bulk": map[string]any{"tuples": []any{tupleBody}},
	"delete-relationship-tuples-bulk": map[string]any{"tuples": []any{tupleBody}},
	"create-condition-set":            map[string]any{"key": "cs1", "type": "userset", "conditions": map[string]any{"user.a": map[string]any{"equals": 1}}},
	"create-set-rule":                 map[string]any{"user_set": "cs1", "action": "read", "resource_set": "cs2"},
	"allowed-resources":               map[string]any{"user": "u1", "action": "read", "resource": map[string]any{"type": "doc"}},
	"allowed-users":                   map[string]any{"action": "read", "resource": map[string]any{"type": "doc", "key": "d1"}},
	"create-incident":                 map[string]any{"title": "x", "body": "y"},
	"post-incident-update":            map[string]any{"body": "y"},
}

var tupleBody = map[string]any{"subject": "doc:i1", "relation": "parent", "object": "doc:i2"}

// snapshot counts what the organization holds, to prove bad input changed
// nothing.
func snapshot(s *server) string {
	var parts []string
	for _, path := range []string{"/v1/projects", "/v1/projects/" + s.projID + "/environments", "/v1/members", "/v1/member-roles", "/v1/api-keys"} {
		res := s.must(200, req{method: "GET", path: path, key: s.key})
		parts = append(parts, fmt.Sprint(res.meta()["total_items"]))
	}
	res := s.must(200, req{method: "GET", path: "/v1/settings", key: s.key})
	parts = append(parts, fmt.Sprint(res.data()))
	res = s.must(200, req{method: "GET", path: "/v1/projects/" + s.projID, key: s.key})
	parts = append(parts, fmt.Sprint(res.data()["name"], res.data()["key"]))
	return strings.Join(parts, "|")
}

// TestBadInput sends malformed bodies and paging to every operation: each is
// a 400 (or 413/415) in the envelope, never a 500, and nothing changes. A
// query parameter the operation does not take is ignored instead (and
// listed in meta.ignored_params).
func TestBadInput(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	before := snapshot(s)
	ids := map[string]string{"organization": s.orgID, "project": s.projID, "environment": s.devID,
		"member": tenancyAdminID(t, s), "role": "viewer", "key": "01a2052c-d605-7e39-a23b-ed443940e2de"}
	bodies := []struct {
		name, body, ctype string
		want              int
	}{
		{"broken JSON", `{"name": `, "application/json", 400},
		{"not an object", `"hello"`, "application/json", 400},
		{"array", `[1,2]`, "application/json", 400},
		{"wrong types", `{"name": 5, "key": true, "scopes": "all", "tier": 3, "email": [], "level": {}}`, "application/json", 400},
		{"unknown field", `{"zzz_unknown": 1}`, "application/json", 400},
		{"form body", `name=x`, "application/x-www-form-urlencoded", 415},
		{"huge body", `{"name": "` + strings.Repeat("a", 2<<20) + `"}`, "application/json", 413},
	}
	paging := []string{"page=0", "page=-1", "page=abc", "per_page=0", "per_page=101", "per_page=1e9", "sort=nope", "order=up", "unknown_filter=1"}
	for _, op := range operations(s) {
		if op.public() {
			continue
		}
		path := fill(op.path, ids)
		if op.hasBody() {
			for _, b := range bodies {
				res := s.do(req{method: op.method, path: path, key: s.key, body: b.body, header: map[string]string{"Content-Type": b.ctype}})
				if op.takesFile() {
					b.want = http.StatusUnsupportedMediaType
				}
				if res.status != b.want || res.body["status"] != "error" {
					t.Errorf("%s %s %s: %d, want %d\n%.300s", op.method, op.path, b.name, res.status, b.want, res.raw)
				}
			}
		}
		if op.isList() {
			plain := s.do(req{method: op.method, path: path, key: s.key}).status
			for _, q := range paging {
				res := s.do(req{method: op.method, path: path + "?" + q, key: s.key})
				name, _, _ := strings.Cut(q, "=")
				if !op.takesQuery(name) {
					// A parameter the operation does not take is ignored
					// (and listed), whatever its value.
					if res.status != plain || fmt.Sprint(res.meta()["ignored_params"]) != "["+name+"]" {
						t.Errorf("%s %s?%s: %d, meta %v; want %d as without it, with ignored_params [%s]", op.method, op.path, q, res.status, res.meta(), plain, name)
					}
					continue
				}
				if res.status != 400 || res.code() != "INVALID_REQUEST" {
					t.Errorf("%s %s?%s: %d %s, want 400 INVALID_REQUEST", op.method, op.path, q, res.status, res.code())
				}
			}
		}
	}
	if after := snapshot(s); after != before {
		t.Fatalf("bad input changed state:\n before %s\n after  %s", before, after)
	}
}

// TestRoutingErrors: unknown routes and wrong methods answer in the envelope.
func TestRoutingErrors(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	tests := []struct {
		method, path string
		want         int
		code         string
	}{
		{"GET", "/v1/nope", 404, "NOT_FOUND"},
		{"GET", "/v1/projects/default/nope", 404, "NOT_FOUND"},
		{"PUT", "/v1/projects", 405, "METHOD_NOT_ALLOWED"},
		{"DELETE", "/v1/scopes", 405, "METHOD_NOT_ALLOWED"},
	}
	for _, tc := range tests {
		res := s.do(req{method: tc.method, path: tc.path, key: s.key})
		if res.status != tc.want || res.code() != tc.code {
			t.Errorf("%s %s: %d %s, want %d %s", tc.method, tc.path, res.status, res.code(), tc.want, tc.code)
		}
		if tc.want == 405 && res.header.Get("Allow") == "" {
			t.Errorf("%s %s: no Allow header", tc.method, tc.path)
		}
	}
	res := s.do(req{method: "GET", path: "/v1/me", key: s.key, header: map[string]string{"X-Request-Id": "my-trace-42"}})
	if res.header.Get("X-Request-Id") != "my-trace-42" || res.meta()["request_id"] != "my-trace-42" {
		t.Errorf("caller's request id not echoed: %v %v", res.header.Get("X-Request-Id"), res.meta())
	}
	res = s.do(req{method: "GET", path: "/v1/me", key: s.key, header: map[string]string{"X-Request-Id": "bad id with spaces"}})
	if id := res.header.Get("X-Request-Id"); id == "" || strings.Contains(id, " ") {
		t.Errorf("unsafe request id accepted: %q", id)
	}
	s.must(http.StatusOK, req{method: "GET", path: "/v1/me", key: s.key, header: map[string]string{"X-Organization-Id": s.orgID}})
}
