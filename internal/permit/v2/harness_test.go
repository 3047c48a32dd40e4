package permitv2_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/gatehouse-dev/gatehouse/internal/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/datadirtest"
)

// server is a real Gatehouse (app.New over a temporary SQLite database)
// behind httptest, initialized with one organization: the Permit API is
// tested as it is served, with v1 beside it.
type server struct {
	t      *testing.T
	app    *app.App
	url    string
	orgID  string
	key    string // organization key holding every scope
	projID string
	devID  string
	prodID string
}

func newServer(t *testing.T) *server {
	t.Helper()
	return newServerWith(t, nil)
}

// newServerWith is newServer with its configuration changed by set (nil:
// none), e.g. to run on PostgreSQL.
func newServerWith(t *testing.T, set func(*config.Config)) *server {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	if set != nil {
		set(&cfg)
	}
	datadirtest.SeedConfig(t, cfg)
	ctx := context.Background()
	a, err := app.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	res, err := a.Init(ctx, app.DefaultInitOptions())
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a.Handler())
	t.Cleanup(ts.Close)
	return &server{t: t, app: a, url: ts.URL, orgID: res.Organization.ID, key: res.Token, projID: res.Bootstrap.Project.ID,
		devID: res.Bootstrap.Environments[0].ID, prodID: res.Bootstrap.Environments[1].ID}
}

// resp is an answer; body is decoded when it is a JSON object.
type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r resp) data() map[string]any {
	d, _ := r.body["data"].(map[string]any)
	return d
}

func (r resp) list() []any {
	d, _ := r.body["data"].([]any)
	return d
}

// req is one request; body may be a string (sent as is) or a value (JSON).
type req struct {
	method, path, key string
	body              any
	header            map[string]string
}

func (s *server) do(r req) resp {
	s.t.Helper()
	res := apitest.Do(s.t, s.url, apitest.Request{Method: r.method, Path: r.path, Key: r.key, Body: r.body, Header: r.header})
	out := resp{status: res.Status, header: res.Header, raw: string(res.Raw)}
	if res.IsJSON() {
		_ = json.Unmarshal(res.Raw, &out.body) // a Permit list is an array: body stays nil
	}
	return out
}

// must does r and fails unless it answers want.
func (s *server) must(want int, r req) resp {
	s.t.Helper()
	res := s.do(r)
	if res.status != want {
		s.t.Fatalf("%s %s: status %d, want %d\n%s", r.method, r.path, res.status, want, res.raw)
	}
	return res
}

// newKey creates a key through v1 with the organization key.
func (s *server) newKey(level string, scopes []string, extra map[string]any) (id, token string) {
	s.t.Helper()
	body := map[string]any{"name": "test " + level, "level": level, "scopes": scopes}
	for k, v := range extra {
		body[k] = v
	}
	d := s.must(http.StatusCreated, req{method: "POST", path: "/v1/api-keys", key: s.key, body: body}).data()
	return d["id"].(string), d["token"].(string)
}

// orgIDs are a second organization's ids and key.
type orgIDs struct {
	id, key, projID, envID string
}

func (s *server) otherOrg(name string) orgIDs {
	s.t.Helper()
	d := s.must(http.StatusCreated, req{method: "POST", path: "/v1/organizations", key: s.key,
		body: map[string]any{"name": name, "admin_email": "boss@" + strings.ToLower(name) + ".example"}}).data()
	return orgIDs{
		id:     d["organization"].(map[string]any)["id"].(string),
		projID: d["project"].(map[string]any)["id"].(string),
		envID:  d["environments"].([]any)[0].(map[string]any)["id"].(string),
		key:    d["api_key"].(map[string]any)["token"].(string),
	}
}

// operation is one registered v1 operation.
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

// v1Operations are the operations of the v1 spec the server serves.
func v1Operations(s *server) []operation {
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

// forge signs the claims of a real key with a key the server never made.
func forge(t *testing.T, token string) string { return apitest.Forge(t, token) }
