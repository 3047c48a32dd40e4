package app_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// Every environment has its default tenant from the transaction that
// creates it (no engine load needed), and environments an older version
// left without one get it at start.
func TestEnvironmentsStartWithTheirDefaultTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := app.New(ctx, cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Init(ctx, app.DefaultInitOptions())
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a.Handler())
	if status, out := call(t, "POST", ts.URL+"/v1/projects", res.Token, `{"name":"Shop"}`); status != 201 {
		t.Fatalf("create project: %d %v", status, out)
	}
	if status, out := call(t, "POST", ts.URL+"/v1/projects/shop/environments", res.Token, `{"name":"Staging"}`); status != 201 {
		t.Fatalf("create environment: %d %v", status, out)
	}
	ts.Close()
	all, err := a.Store.EnvironmentsWithoutTenant(ctx, "no-such-tenant")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 5 {
		t.Fatalf("%d environments, want 5 (2 of the set-up, 3 of the shop)", len(all))
	}
	missing, err := a.Store.EnvironmentsWithoutTenant(ctx, authz.DefaultTenant)
	if err != nil || len(missing) != 0 {
		t.Fatalf("environments without a default tenant: %v (%v)", missing, err)
	}

	// An environment of an older version, without one: fixed at start.
	def, err := a.Store.GetTenant(ctx, all[0], authz.DefaultTenant)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Store.DeleteTenant(ctx, all[0], def.ID); err != nil {
		t.Fatal(err)
	}
	a.Close()
	a, err = app.New(ctx, cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if missing, err := a.Store.EnvironmentsWithoutTenant(ctx, authz.DefaultTenant); err != nil || len(missing) != 0 {
		t.Fatalf("after a restart, environments without a default tenant: %v (%v)", missing, err)
	}
}
