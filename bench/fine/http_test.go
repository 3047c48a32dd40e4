package fine

import (
	"context"
	"testing"
	"time"
)

// TestGatehouseHTTPSmall loads the ReBAC data set at 1/100 into a real
// server through the v1 API and verifies every check and list over HTTP,
// as cmd/finehttp does before measuring (the peers' binaries are not
// built here).
func TestGatehouseHTTPSmall(t *testing.T) {
	ctx := context.Background()
	r := LoadReBAC(0.01, 500)
	client := NewHTTPClient()
	g, err := StartGatehouse(ctx, t.TempDir(), "", client)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := g.Load(ctx, r, 4, t.Logf); err != nil {
		t.Fatal(err)
	}
	e := &HTTPEngine{Name: "Gatehouse", Store: "SQLite", Check: g.Check, List: g.List}
	if err := e.Verify(ctx, r.Checks, r.Lists); err != nil {
		t.Fatal(err)
	}
	if err := e.Round(ctx, r.Checks, &r.Lists[1], HTTPLoad{Seq: 50, Conc: 100, Clients: 4, Lists: 1, MaxPhase: time.Minute}, 0); err != nil {
		t.Fatal(err)
	}
	if len(e.Stats.Seq) != 50 || len(e.Stats.Conc) != 100 || len(e.Stats.List) != 1 {
		t.Fatalf("measured %d sequential, %d concurrent checks and %d lists, want 50, 100, 1", len(e.Stats.Seq), len(e.Stats.Conc), len(e.Stats.List))
	}
}

// TestGatehouseABACHTTPSmall loads a small ABAC data set (200 users, 300
// instances of each type) into a real server through the v1 API and
// verifies every check over HTTP, as sent with stored attributes and with
// every attribute inline, as cmd/finehttp -abac does before measuring.
func TestGatehouseABACHTTPSmall(t *testing.T) {
	ctx := context.Background()
	a := NewABAC(200, 300, 500)
	if a.Allowed == 0 || a.Allowed == len(a.Checks) {
		t.Fatalf("%d of %d checks allowed", a.Allowed, len(a.Checks))
	}
	client := NewHTTPClient()
	g, err := StartGatehouse(ctx, t.TempDir(), "", client)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := g.LoadABAC(ctx, a, 4, t.Logf); err != nil {
		t.Fatal(err)
	}
	x := NewABACIndex(&a.DS.Data)
	for _, inline := range []bool{false, true} {
		e, err := g.ABACEngine(a, x, inline, "SQLite")
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Verify(ctx, a.Checks, nil); err != nil {
			t.Fatal(err)
		}
	}
}
