package app_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/datadirtest"
	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

// TestEnginesAreBuiltBeforeReady: a node that starts on a database with
// environments builds their engines before /readyz says ready, so no
// check waits for a build; until then /readyz answers 503 saying so.
func TestEnginesAreBuiltBeforeReady(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DatabaseURL, cfg.SecretKey = datadirtest.Postgres(t), pgtest.SecretKey
	a, _ := start(t, cfg)
	res, err := a.Init(context.Background(), app.DefaultInitOptions())
	if err != nil {
		t.Fatal(err)
	}
	var envs []string
	for _, e := range res.Bootstrap.Environments {
		envs = append(envs, e.ID)
	}
	b, urlB := start(t, cfg)
	var status int
	var body map[string]any
	testwait.Until(t, 30*time.Second, "node B ready", func() bool {
		status, body = call(t, "GET", urlB+"/readyz", "", "")
		if status == http.StatusServiceUnavailable {
			if msg, _ := body["error"].(map[string]any)["message"].(string); msg == "" {
				t.Fatalf("503 without a message: %v", body)
			}
			return false
		}
		return true
	})
	if status != http.StatusOK || body["data"].(map[string]any)["checks"].(map[string]any)["engines"] != "ok" {
		t.Fatalf("readyz: %d %v", status, body)
	}
	done, built, total := b.Warm()
	if !done || built != total || int(total) < len(envs) {
		t.Fatalf("warm: done %v, %d of %d; %d environments", done, built, total, len(envs))
	}
	loaded := b.Facts.Engines.LoadedEnvironments()
	for _, id := range envs {
		if !slices.Contains(loaded, id) {
			t.Fatalf("environment %s not built at ready (no check asked yet): %v", id, loaded)
		}
	}
}
