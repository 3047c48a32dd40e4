package permitv2_test

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
)

// permitOp is one operation of the served /v2 spec with its rules.
type permitOp struct {
	method, path string
	scope        string
	orgOnly      bool
	twin         string
}

func permitOps(t *testing.T, s *server) []permitOp {
	t.Helper()
	raw := s.must(200, req{method: "GET", path: "/v2/openapi.json"}).raw
	var spec struct {
		Paths map[string]map[string]struct {
			Scopes  []string `json:"x-required-scopes"`
			OrgOnly bool     `json:"x-organization-key-only"`
			Twin    string   `json:"x-v1-operation"`
		} `json:"paths"`
	}
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		t.Fatal(err)
	}
	var ops []permitOp
	for path, item := range spec.Paths {
		if !strings.HasPrefix(path, "/v2/") {
			continue // the decision endpoints have their own tests
		}
		for method, op := range item {
			o := permitOp{method: strings.ToUpper(method), path: path, orgOnly: op.OrgOnly, twin: op.Twin}
			if len(op.Scopes) > 0 {
				o.scope = op.Scopes[0]
			}
			ops = append(ops, o)
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].path+ops[i].method < ops[j].path+ops[j].method })
	return ops
}

// Every Permit-compatible operation enforces exactly its v1
// twin's rules: the twin's scope, and an organization key where v1 needs
// one (a project key deleting its own project through /v2 included). Bad,
// revoked and forged keys, a wrong organization header and another
// organization's or environment's ids are refused as on v1.
func TestPermitAuthMatrix(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	v1 := map[string]operation{}
	for _, op := range v1Operations(s) {
		v1[op.op.OperationID] = op
	}
	revokedID, revoked := s.newKey("organization", []string{"view:project"}, nil)
	s.must(200, req{method: "POST", path: "/v1/api-keys/" + revokedID + "/revoke", key: s.key})
	_, settingsOnly := s.newKey("organization", []string{"view:settings"}, nil)
	_, orgOnly := s.newKey("organization", []string{"view:organization"}, nil)
	all := []string{}
	for _, sc := range gatehouse.AllScopes() {
		all = append(all, string(sc))
	}
	_, projectKey := s.newKey("project", all, map[string]any{"project": s.projID})
	b := s.otherOrg("Beta")

	ids := map[string]string{"proj": s.projID, "env": s.devID, "user": "u1", "tenant": "default", "role": "r1", "parent": "r2", "resource": "doc", "action": "read"}
	otherIDs := map[string]string{"proj": b.projID, "env": b.envID, "user": "u1", "tenant": "default", "role": "r1", "parent": "r2", "resource": "doc", "action": "read"}
	ops := permitOps(t, s)
	if len(ops) < 50 {
		t.Fatalf("the /v2 spec lists %d operations", len(ops))
	}
	for _, op := range ops {
		t.Run(op.method+" "+op.path, func(t *testing.T) {
			twin, ok := v1[op.twin]
			if !ok {
				t.Fatalf("x-v1-operation %q is not a v1 operation", op.twin)
			}
			if twin.scope() != op.scope || (twin.op.Extensions["x-required-scopes"] == nil) {
				t.Errorf("scope %q, its v1 twin %s needs %q", op.scope, op.twin, twin.scope())
			}
			if strings.Contains(twin.op.Description, "Needs an organization-level key.") != op.orgOnly {
				t.Errorf("organization-key rule %v differs from v1 %s", op.orgOnly, op.twin)
			}
			path := op.path
			for k, v := range ids {
				path = strings.ReplaceAll(path, "{"+k+"}", v)
			}
			wrong := settingsOnly
			if op.scope == "view:settings" {
				wrong = orgOnly
			}
			type tc struct {
				name   string
				key    string
				path   string
				header map[string]string
				want   int
			}
			cases := []tc{
				{"no key", "", path, nil, 401},
				{"garbage key", "not-a-jwt", path, nil, 401},
				{"forged key", forge(t, s.key), path, nil, 401},
				{"revoked key", revoked, path, nil, 401},
				{"other organization header", s.key, path, map[string]string{"X-Organization-Id": b.id}, 403},
			}
			if op.scope != "" {
				cases = append(cases, tc{"key without " + op.scope, wrong, path, nil, 403})
			}
			if op.orgOnly {
				cases = append(cases, tc{"project key holding every scope", projectKey, path, nil, 403})
			}
			if strings.Contains(op.path, "{proj}") {
				other := op.path
				for k, v := range otherIDs {
					other = strings.ReplaceAll(other, "{"+k+"}", v)
				}
				cases = append(cases, tc{"another organization's ids", s.key, other, nil, 404})
			}
			if strings.Contains(op.path, "{env}") && !op.orgOnly {
				cases = append(cases, tc{"another environment's ids with a project key", projectKey, strings.Replace(path, s.devID, b.envID, 1), nil, 404})
			}
			for _, c := range cases {
				var body any
				if op.method != "GET" {
					body = map[string]any{}
				}
				res := s.do(req{method: op.method, path: c.path, key: c.key, header: c.header, body: body})
				if res.status != c.want {
					t.Errorf("%s: %d, want %d\n%.300s", c.name, res.status, c.want, res.raw)
				}
				if res.status >= 500 {
					t.Errorf("%s: a server error", c.name)
				}
			}
		})
	}
	// The reviewer's reproduction: a project key cannot delete its project.
	if res := s.do(req{method: "DELETE", path: "/v2/projects/" + s.projID, key: projectKey}); res.status != 403 {
		t.Fatalf("DELETE /v2/projects/{proj} with a project key: %d\n%s", res.status, res.raw)
	}
	s.must(200, req{method: "GET", path: "/v1/projects/" + s.projID, key: s.key})
}
