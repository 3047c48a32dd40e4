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
	if err := e.Verify(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := e.Round(ctx, r, &r.Lists[1], HTTPLoad{Seq: 50, Conc: 100, Clients: 4, Lists: 1, MaxPhase: time.Minute}, 0); err != nil {
		t.Fatal(err)
	}
	if len(e.Stats.Seq) != 50 || len(e.Stats.Conc) != 100 || len(e.Stats.List) != 1 {
		t.Fatalf("measured %d sequential, %d concurrent checks and %d lists, want 50, 100, 1", len(e.Stats.Seq), len(e.Stats.Conc), len(e.Stats.List))
	}
}
