package usage

import (
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
