package dashboard_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/datadirtest"
)

// site is a real Gatehouse behind a real listener, initialized.
type site struct {
	url, key, setup string
	a               *app.App
}

func newSite(t *testing.T) *site { t.Helper(); return newSiteWith(t, nil) }

func newSiteWith(t *testing.T, mod func(*config.Config)) *site {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	if mod != nil {
		mod(&cfg)
	}
	datadirtest.SeedConfig(t, cfg)
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Init(context.Background(), app.DefaultInitOptions())
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a.Handler())
	t.Cleanup(func() { ts.Close(); a.Close() })
	return &site{url: ts.URL, key: res.Token, setup: res.SetupPath, a: a}
}

func (s *site) api(t *testing.T, method, path, key string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	r, _ := http.NewRequest(method, s.url+path, rd)
	r.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
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
