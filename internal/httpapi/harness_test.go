package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/datadirtest"
	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
)

// server is a real Gatehouse (app.New over a temporary SQLite database)
// behind httptest, initialized with one organization.
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
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	return newServerWith(t, cfg)
}

// engineConfig is a server's configuration on engine ("sqlite" or
// "postgres": a fresh database of its own and the tests' secret key).
func engineConfig(t *testing.T, engine string) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	if engine == "postgres" {
		cfg.DatabaseURL, cfg.SecretKey = pgtest.NewDatabase(t), pgtest.SecretKey
	}
	return cfg
}

func newServerWith(t *testing.T, cfg config.Config) *server {
	t.Helper()
	datadirtest.SeedConfig(t, cfg)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	a, err := app.New(ctx, cfg, log)
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
	s := &server{t: t, app: a, url: ts.URL, orgID: res.Organization.ID, key: res.Token}
	if res.Created {
		s.projID = res.Bootstrap.Project.ID
		s.devID, s.prodID = res.Bootstrap.Environments[0].ID, res.Bootstrap.Environments[1].ID
	}
	return s
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// resp is a decoded response.
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

func (r resp) meta() map[string]any {
	m, _ := r.body["meta"].(map[string]any)
	return m
}

func (r resp) code() string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
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
		if err := json.Unmarshal(res.Raw, &out.body); err != nil {
			s.t.Fatalf("%s %s: response is not JSON: %v\n%s", r.method, r.path, err, res.Raw)
		}
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

// newKey creates a key through the API with the organization key.
func (s *server) newKey(level string, scopes []string, extra map[string]any) (id, token string) {
	s.t.Helper()
	body := map[string]any{"name": "test " + level, "level": level, "scopes": scopes}
	for k, v := range extra {
		body[k] = v
	}
	d := s.must(http.StatusCreated, req{method: "POST", path: "/v1/api-keys", key: s.key, body: body}).data()
	return d["id"].(string), d["token"].(string)
}

// otherOrg creates a second organization and returns its ids and key.
type orgIDs struct {
	id, key, projID, envID, memberID, keyID string
}

func (s *server) otherOrg(name string) orgIDs {
	s.t.Helper()
	d := s.must(http.StatusCreated, req{method: "POST", path: "/v1/organizations", key: s.key,
		body: map[string]any{"name": name, "admin_email": "boss@" + strings.ToLower(name) + ".example"}}).data()
	o := orgIDs{
		id:       d["organization"].(map[string]any)["id"].(string),
		projID:   d["project"].(map[string]any)["id"].(string),
		envID:    d["environments"].([]any)[0].(map[string]any)["id"].(string),
		memberID: d["admin"].(map[string]any)["id"].(string),
		keyID:    d["api_key"].(map[string]any)["id"].(string),
		key:      d["api_key"].(map[string]any)["token"].(string),
	}
	return o
}
