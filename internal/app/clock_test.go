package app_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// TestOneClock: the services New builds read the time from Config.Now.
func TestOneClock(t *testing.T) {
	t.Parallel()
	at := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Now = func() time.Time { return at }
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	res, err := a.Init(context.Background(), app.DefaultInitOptions())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Organization.CreatedAt.Equal(at) || !res.Key.CreatedAt.Equal(at) {
		t.Fatalf("organization made at %v, its key at %v; want %v", res.Organization.CreatedAt, res.Key.CreatedAt, at)
	}
	for _, now := range []func() time.Time{a.Tenancy.Now, a.Facts.Now, a.Webhooks.Now, a.Jobs.Now} {
		if got := now(); !got.Equal(at) {
			t.Fatalf("a service reads %v, want %v", got, at)
		}
	}
}
