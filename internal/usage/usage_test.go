package usage

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testwait"
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
	ctx := context.Background()
	g := NewGate(2, 0)
	a1, ok1 := g.Enter(ctx, "a")
	a2, ok2 := g.Enter(ctx, "a")
	if !ok1 || !ok2 {
		t.Fatal("the first two queries were refused")
	}
	if _, ok := g.Enter(ctx, "a"); ok {
		t.Fatal("a third query of a was admitted")
	}
	b1, ok := g.Enter(ctx, "b")
	if !ok {
		t.Fatal("b was refused for a's queries")
	}
	a1()
	a1() // a second leave frees nothing more
	if got := g.InFlight("a"); got != 1 {
		t.Fatalf("a in flight: %d, want 1", got)
	}
	a3, ok := g.Enter(ctx, "a")
	if !ok {
		t.Fatal("a place freed by leave was not given")
	}
	if _, ok := g.Enter(ctx, "a"); ok {
		t.Fatal("a went past 2 after a leave")
	}
	a2()
	a3()
	b1()
	if g.InFlight("a") != 0 || g.InFlight("b") != 0 || len(g.orgs) != 0 {
		t.Fatalf("left behind: %v", g.orgs)
	}
	if NewGate(0, 0).PerOrg() != 1 {
		t.Fatal("a gate of 0 admits nothing")
	}
}

// Concurrent entries never admit more than the bound at once.
func TestGateConcurrent(t *testing.T) {
	ctx := context.Background()
	g := NewGate(3, 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	cur, peak, admitted := 0, 0, 0
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				leave, ok := g.Enter(ctx, "o")
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

// A query beyond the bound waits for a place: it gets the first one freed
// (one waiter a place), and is refused when its context ends or the
// gate's wait is over, leaving nothing behind.
func TestGateWaits(t *testing.T) {
	g := NewGate(1, time.Minute)
	ctx := context.Background()
	first, ok := g.Enter(ctx, "a")
	if !ok {
		t.Fatal("the first query was refused")
	}
	type result struct {
		leave func()
		ok    bool
	}
	enter := func(ctx context.Context) chan result {
		ch := make(chan result, 1)
		go func() {
			leave, ok := g.Enter(ctx, "a")
			ch <- result{leave, ok}
		}()
		return ch
	}
	w1, w2 := enter(ctx), enter(ctx)
	testwait.Until(t, 10*time.Second, "2 queries waiting", func() bool { return g.Waiting("a") == 2 })
	first()
	// One of the two gets the place; the other waits on.
	var admitted result
	select {
	case admitted = <-w1:
	case admitted = <-w2:
	}
	if !admitted.ok || g.InFlight("a") != 1 {
		t.Fatalf("after a place freed: admitted %v, %d in flight", admitted.ok, g.InFlight("a"))
	}
	testwait.Until(t, 10*time.Second, "the other still waiting", func() bool { return g.Waiting("a") == 1 })
	admitted.leave()
	var second result
	select {
	case second = <-w1:
	case second = <-w2:
	}
	if !second.ok {
		t.Fatal("the second waiter was refused a freed place")
	}

	// A waiter whose request ends is refused, and the place stays taken.
	cctx, cancel := context.WithCancel(ctx)
	w3 := enter(cctx)
	testwait.Until(t, 10*time.Second, "a query waiting", func() bool { return g.Waiting("a") == 1 })
	cancel()
	if r := <-w3; r.ok || g.InFlight("a") != 1 || g.Waiting("a") != 0 {
		t.Fatalf("a cancelled waiter: admitted %v, %d in flight, %d waiting", r.ok, g.InFlight("a"), g.Waiting("a"))
	}
	// Past the gate's wait: refused.
	short := NewGate(1, 30*time.Millisecond)
	leave, _ := short.Enter(ctx, "a")
	start := time.Now()
	if _, ok := short.Enter(ctx, "a"); ok || time.Since(start) < 30*time.Millisecond {
		t.Fatalf("past the wait: admitted %v after %v", ok, time.Since(start))
	}
	leave()
	second.leave()
	if len(g.orgs) != 0 || len(short.orgs) != 0 {
		t.Fatalf("left behind: %v %v", g.orgs, short.orgs)
	}
}
