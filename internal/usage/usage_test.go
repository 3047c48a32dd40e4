package usage

import (
	"sync"
	"testing"
	"time"
)

// Totals only grow: a take moves checks out of the cells without losing
// them, and a returned take is not counted twice.
func TestMeterTotals(t *testing.T) {
	m := NewMeter()
	a := m.Counts(Cell{EnvID: "e1", KeyID: "k1"})
	b := m.Counts(Cell{EnvID: "e2", KeyID: "k2"})
	a.Add(true)
	a.Add(false)
	b.AddN(3, 5)
	want := func(step string, allowed, denied int64) {
		t.Helper()
		if ga, gd := m.Totals(); ga != allowed || gd != denied {
			t.Fatalf("%s: totals %d allowed, %d denied; want %d, %d", step, ga, gd, allowed, denied)
		}
	}
	want("counted", 4, 3)
	rows := m.Take(time.Now())
	if len(rows) != 2 {
		t.Fatalf("take: %d rows, want 2", len(rows))
	}
	want("taken", 4, 3)
	a.Add(true)
	want("after take", 5, 3)
	m.Return(rows)
	want("returned", 5, 3)
	if rows := m.Take(time.Now()); len(rows) != 2 {
		t.Fatalf("second take: %d rows, want 2", len(rows))
	}
	want("taken again", 5, 3)
}

// The gate admits PerOrg queries of an organization at once, each
// organization on its own; a query that leaves (even twice) frees one
// place.
func TestGate(t *testing.T) {
	g := NewGate(2)
	a1, ok1 := g.Enter("a")
	a2, ok2 := g.Enter("a")
	if !ok1 || !ok2 {
		t.Fatal("the first two queries were refused")
	}
	if _, ok := g.Enter("a"); ok {
		t.Fatal("a third query of a was admitted")
	}
	b1, ok := g.Enter("b")
	if !ok {
		t.Fatal("b was refused for a's queries")
	}
	a1()
	a1() // a second leave frees nothing more
	if got := g.InFlight("a"); got != 1 {
		t.Fatalf("a in flight: %d, want 1", got)
	}
	a3, ok := g.Enter("a")
	if !ok {
		t.Fatal("a place freed by leave was not given")
	}
	if _, ok := g.Enter("a"); ok {
		t.Fatal("a went past 2 after a leave")
	}
	a2()
	a3()
	b1()
	if g.InFlight("a") != 0 || g.InFlight("b") != 0 || len(g.inFlight) != 0 {
		t.Fatalf("left behind: %v", g.inFlight)
	}
	if NewGate(0).PerOrg() != 1 {
		t.Fatal("a gate of 0 admits nothing")
	}
}

// Concurrent entries never admit more than the bound at once.
func TestGateConcurrent(t *testing.T) {
	g := NewGate(3)
	var wg sync.WaitGroup
	var mu sync.Mutex
	cur, peak, admitted := 0, 0, 0
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				leave, ok := g.Enter("o")
				if !ok {
					continue
				}
				mu.Lock()
				cur++
				admitted++
				peak = max(peak, cur)
				mu.Unlock()
				mu.Lock()
				cur--
				mu.Unlock()
				leave()
			}
		}()
	}
	wg.Wait()
	if peak > 3 || admitted == 0 || g.InFlight("o") != 0 {
		t.Fatalf("peak %d (bound 3), admitted %d, left %d", peak, admitted, g.InFlight("o"))
	}
}
