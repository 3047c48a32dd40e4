package status_test

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/status"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func TestUptimeMath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		days []status.Day
		want float64
	}{
		{"no samples", nil, -1},
		{"a day without samples", []status.Day{{}}, -1},
		{"all up", []status.Day{{Up: 1440}}, 1},
		{"degraded counts as up", []status.Day{{Up: 10, Degraded: 10}}, 1},
		{"a full day with an hour down", []status.Day{{Up: 1380, Down: 60}}, 1380.0 / 1440},
		// A partial day weighs by the samples it has: today's 60 samples,
		// 30 down, next to a full day up.
		{"a partial day weighs by its samples", []status.Day{{Up: 1440}, {Up: 30, Down: 30}}, 1470.0 / 1500},
		{"days without samples do not count", []status.Day{{}, {Up: 3, Down: 1}, {}}, 0.75},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := status.Uptime(tc.days); math.Abs(got-tc.want) > 1e-12 {
				t.Fatalf("Uptime = %v, want %v", got, tc.want)
			}
		})
	}
	if got := (status.Day{Up: 1, Degraded: 1, Down: 2}).Uptime(); got != 0.5 {
		t.Fatalf("Day.Uptime = %v", got)
	}
}

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func openStore(t *testing.T) *store.Store {
	t.Helper()
	db, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db.Store()
}

func reading(c, state string) status.Reading { return status.Reading{Component: c, State: state} }

// TestSamplesBecomeDailyUptime: rounds of readings land in their UTC day's
// bucket; the page shows 90 days (today, partial, last), each day's uptime
// and the window's, counted by samples; another round within MinGap of the
// last is dropped; buckets older than the window are pruned.
func TestSamplesBecomeDailyUptime(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	c := &clock{t: time.Date(2026, 12, 1, 23, 58, 0, 0, time.UTC)}
	svc := status.NewService(st, c.now)
	sm := svc.NewSampler(45 * time.Second)
	ctx := context.Background()
	round := func(at time.Time, state string) bool {
		t.Helper()
		c.set(at)
		ok, err := sm.Round(ctx, []status.Reading{reading(status.Database, state)})
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	// Dec 1: two samples up (the instance started at 23:58).
	round(time.Date(2026, 12, 1, 23, 58, 0, 0, time.UTC), status.Operational)
	round(time.Date(2026, 12, 1, 23, 59, 0, 0, time.UTC), status.Operational)
	// Dec 2 so far (partial): 3 up, 1 degraded, 2 down.
	base := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	for i, s := range []string{status.Operational, status.Operational, status.Degraded, status.Down, status.Down, status.Operational} {
		if !round(base.Add(time.Duration(i)*time.Minute), s) {
			t.Fatalf("round %d skipped", i)
		}
	}
	if round(base.Add(5*time.Minute+10*time.Second), status.Down) {
		t.Fatal("a round 10 s after the last one was sampled")
	}
	o, err := svc.Overview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Components) != 1 || o.Components[0].Name != status.Database {
		t.Fatalf("components: %+v", o.Components)
	}
	db := o.Components[0]
	if len(db.Days) != status.Window || db.Days[len(db.Days)-1].Day != "2026-12-02" || db.Days[len(db.Days)-2].Day != "2026-12-01" {
		t.Fatalf("days: %d, last %+v", len(db.Days), db.Days[len(db.Days)-1])
	}
	today, yesterday := db.Days[len(db.Days)-1], db.Days[len(db.Days)-2]
	if today.Up != 3 || today.Degraded != 1 || today.Down != 2 || math.Abs(today.Uptime()-4.0/6) > 1e-12 {
		t.Fatalf("today: %+v uptime %v", today, today.Uptime())
	}
	if yesterday.Total() != 2 || yesterday.Uptime() != 1 || db.Days[0].Uptime() != -1 {
		t.Fatalf("yesterday %+v, first day %+v", yesterday, db.Days[0])
	}
	if math.Abs(db.Uptime-6.0/8) > 1e-12 {
		t.Fatalf("90-day uptime %v, want 6/8", db.Uptime)
	}
	if db.State != status.Operational || !db.Since.Equal(base.Add(5*time.Minute)) {
		t.Fatalf("current: %s since %s", db.State, db.Since)
	}
	if o.State != status.Operational {
		t.Fatalf("overall %s", o.State)
	}
	// 91 days later the buckets are pruned.
	c.set(base.AddDate(0, 0, status.Window+1))
	if n, err := svc.Prune(ctx); err != nil || n != 2 {
		t.Fatalf("prune: %d %v", n, err)
	}
}

// failing wraps a store whose transactions fail while down is set (the
// database unreachable), to show what the sampler holds through it.
type failing struct {
	status.Store
	mu   sync.Mutex
	down bool
}

var errUnreachable = errors.New("unreachable")

func (f *failing) InStatusTx(ctx context.Context, fn func(status.Store) error) error {
	f.mu.Lock()
	down := f.down
	f.mu.Unlock()
	if down {
		return errUnreachable
	}
	return f.Store.InStatusTx(ctx, fn)
}

// TestSamplerHoldsThroughAnOutage: rounds that cannot reach the database
// are counted in memory by the node that sampled last and stored with its
// state changes (and their events) when it answers again; a node that was
// not the sampler holds nothing.
func TestSamplerHoldsThroughAnOutage(t *testing.T) {
	t.Parallel()
	st := &failing{Store: openStore(t)}
	c := &clock{t: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}
	svc := status.NewService(st, c.now)
	sm := svc.NewSampler(45 * time.Second)
	ctx := context.Background()
	at := func(m int) { c.set(time.Date(2026, 12, 2, 10, m, 0, 0, time.UTC)) }
	if _, err := sm.Round(ctx, []status.Reading{reading(status.Database, status.Operational)}); err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	st.down = true
	st.mu.Unlock()
	for m := 1; m <= 3; m++ {
		at(m)
		if _, err := sm.Round(ctx, []status.Reading{reading(status.Database, status.Down)}); !errors.Is(err, errUnreachable) {
			t.Fatalf("round in the outage: %v", err)
		}
	}
	st.mu.Lock()
	st.down = false
	st.mu.Unlock()
	at(4)
	if _, err := sm.Round(ctx, []status.Reading{reading(status.Database, status.Operational)}); err != nil {
		t.Fatal(err)
	}
	o, err := svc.Overview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := o.Components[0].Days[status.Window-1]
	if d.Up != 2 || d.Down != 3 {
		t.Fatalf("today after the outage: %+v, want 2 up and 3 down", d)
	}
	if got := o.Components[0]; got.State != status.Operational || !got.Since.Equal(time.Date(2026, 12, 2, 10, 4, 0, 0, time.UTC)) {
		t.Fatalf("current %+v", got)
	}

	// Another node (never the sampler) holds nothing.
	other := svc.NewSampler(45 * time.Second)
	other.NotSampler()
	st.mu.Lock()
	st.down = true
	st.mu.Unlock()
	at(5)
	if _, err := other.Round(ctx, []status.Reading{reading(status.Database, status.Down)}); err == nil {
		t.Fatal("no error in the outage")
	}
	st.mu.Lock()
	st.down = false
	st.mu.Unlock()
	at(30)
	if _, err := other.Round(ctx, []status.Reading{reading(status.Database, status.Operational)}); err != nil {
		t.Fatal(err)
	}
	o, _ = svc.Overview(ctx)
	if d := o.Components[0].Days[status.Window-1]; d.Up != 3 || d.Down != 3 {
		t.Fatalf("the other node held what it did not sample: %+v", d)
	}
}

// TestIncidentRules: validation, the lifecycle, and no update on a
// resolved incident.
func TestIncidentRules(t *testing.T) {
	t.Parallel()
	svc := status.NewService(openStore(t), nil)
	ctx := context.Background()
	bad := []status.NewIncident{
		{Body: "b"},
		{Title: "t"},
		{Title: "t", Body: "b", Impact: "huge"},
		{Title: "t", Body: "b", Status: "resolved"},
		{Title: "t", Body: "b", Components: []string{"dns"}},
		{Title: strings.Repeat("é", 201), Body: "b"}, // 201 characters
	}
	for i, in := range bad {
		if _, err := svc.CreateIncident(ctx, "op", in); gatehouse.ErrorCode(err) != gatehouse.CodeInvalidRequest {
			t.Fatalf("bad input %d: %v", i, err)
		}
	}
	// The limit counts characters, as the API's schema does (200 of 2 bytes).
	long, err := svc.CreateIncident(ctx, "op", status.NewIncident{Title: strings.Repeat("é", 200), Body: "b"})
	if err != nil {
		t.Fatalf("200 characters: %v", err)
	}
	if _, err := svc.Resolve(ctx, "op", long.ID, ""); err != nil {
		t.Fatal(err)
	}
	in, err := svc.CreateIncident(ctx, "op", status.NewIncident{Title: "Slow checks", Body: "Looking.", Components: []string{"checks", "checks"}})
	if err != nil {
		t.Fatal(err)
	}
	if in.Impact != status.ImpactMinor || in.Status != status.Investigating || len(in.Components) != 1 || len(in.Updates) != 1 {
		t.Fatalf("created %+v", in)
	}
	if _, err := svc.PostUpdate(ctx, "op", in.ID, status.UpdateIn{Body: "Found it.", Status: status.Identified, Impact: status.ImpactMajor}); err != nil {
		t.Fatal(err)
	}
	r, err := svc.Resolve(ctx, "op", in.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != status.Resolved || r.ResolvedAt == nil || r.Impact != status.ImpactMajor || len(r.Updates) != 3 {
		t.Fatalf("resolved %+v", r)
	}
	if _, err := svc.Resolve(ctx, "op", in.ID, ""); gatehouse.ErrorCode(err) != gatehouse.CodeConflict {
		t.Fatalf("resolve twice: %v", err)
	}
	if _, err := svc.Incident(ctx, "not-an-id"); gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
		t.Fatalf("unknown id: %v", err)
	}
	open := true
	if p, err := svc.Incidents(ctx, status.IncidentFilter{Open: &open}, gatehouse.PageRequest{Page: 1, PerPage: 10}); err != nil || p.Total != 0 {
		t.Fatalf("open incidents: %+v %v", p, err)
	}
}
