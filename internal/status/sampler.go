package status

import (
	"context"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/event"
)

// Sampler records rounds of readings: each reading adds one sample to its
// component's bucket of the day, and a component whose state changed gets
// its new state and a status.component_changed event.
//
// Nodes sharing a database sample one at a time (the caller holds a
// cluster-wide lock for a round) and at most once per MinGap between them
// (a round finding a newer sample than that skips its readings), so each
// minute counts once whatever the number of nodes.
//
// When the database cannot be written (the outage the page must show), the
// node that sampled last keeps counting in memory (Hold): the buckets of at
// most Window days and the state changes it saw, which the next round that
// reaches the database stores, with the events at the times they happened.
type Sampler struct {
	svc *Service
	// MinGap is the least time between two rounds' samples.
	MinGap time.Duration

	mu         sync.Mutex
	held       map[[2]string]Day // (component, day) → samples not yet stored
	changes    []held            // state changes seen while the database was unreachable
	last       map[string]Component
	wasSampler bool
}

type held struct {
	from, to Component
}

// maxHeldChanges bounds the changes kept through an outage (a flapping
// component must not grow memory); the latest state is always kept.
const maxHeldChanges = 100

// NewSampler returns a sampler recording through svc.
func (s *Service) NewSampler(minGap time.Duration) *Sampler {
	return &Sampler{svc: s, MinGap: minGap, held: map[[2]string]Day{}, last: map[string]Component{}}
}

// WasSampler reports whether this node stored the last round it tried.
func (sm *Sampler) WasSampler() bool {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	return sm.wasSampler
}

// Held is the number of samples counted in memory, waiting for the
// database.
func (sm *Sampler) Held() int64 {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	var n int64
	for _, d := range sm.held {
		n += d.Total()
	}
	return n
}

// NotSampler notes that another node samples (this node did not get the
// lock): it must not count an outage it did not sample before.
func (sm *Sampler) NotSampler() {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	sm.wasSampler = false
}

func count(d *Day, state string) {
	switch state {
	case Operational:
		d.Up++
	case Degraded:
		d.Degraded++
	default:
		d.Down++
	}
}

// Hold counts readings in memory (the database cannot be written).
func (sm *Sampler) Hold(readings []Reading) {
	now := sm.svc.clock()
	sm.mu.Lock()
	defer sm.mu.Unlock()
	sm.hold(readings, now)
}

func (sm *Sampler) hold(readings []Reading, now time.Time) {
	day := DayOf(now)
	for _, r := range readings {
		k := [2]string{r.Component, day}
		d := sm.held[k]
		d.Component, d.Day = r.Component, day
		count(&d, r.State)
		sm.held[k] = d
		prev, known := sm.last[r.Component]
		next := Component{Name: r.Component, State: r.State, Note: r.Note, Since: now, CheckedAt: now}
		if known && prev.State == r.State {
			next.Since = prev.Since
		} else if known {
			if len(sm.changes) < maxHeldChanges {
				sm.changes = append(sm.changes, held{from: prev, to: next})
			}
		}
		sm.last[r.Component] = next
	}
	// Bounded: buckets older than the window are dropped.
	cut := DayOf(now.AddDate(0, 0, -Window))
	for k := range sm.held {
		if k[1] < cut {
			delete(sm.held, k)
		}
	}
}

// Round stores readings (and what was held through an outage). sampled is
// false when another node sampled less than MinGap ago (the readings are
// dropped). On an error the readings are held when this node was the
// sampler, and the error is returned.
func (sm *Sampler) Round(ctx context.Context, readings []Reading) (sampled bool, err error) {
	now := sm.svc.clock()
	sm.mu.Lock()
	defer sm.mu.Unlock()
	st := sm.svc.st
	err = st.InStatusTx(ctx, func(tx Store) error {
		sampled = false
		cur, err := tx.StatusComponents(ctx)
		if err != nil {
			return err
		}
		state := map[string]Component{}
		var latest time.Time
		for _, c := range cur {
			state[c.Name] = c
			if c.CheckedAt.After(latest) {
				latest = c.CheckedAt
			}
		}
		// What this node held through an outage, first.
		for _, d := range sm.held {
			if err := tx.AddStatusSamples(ctx, d); err != nil {
				return err
			}
		}
		for _, h := range sm.changes {
			if err := tx.EmitStatus(ctx, changeEvent(h.from, h.to)); err != nil {
				return err
			}
		}
		if len(sm.held) > 0 {
			for _, c := range sm.last {
				if err := tx.PutStatusComponent(ctx, c); err != nil {
					return err
				}
				state[c.Name] = c
			}
		}
		if !latest.IsZero() && now.Sub(latest) < sm.MinGap && len(sm.held) == 0 {
			return nil // another node sampled this minute
		}
		sampled = true
		day := DayOf(now)
		for _, r := range readings {
			d := Day{Component: r.Component, Day: day}
			count(&d, r.State)
			if err := tx.AddStatusSamples(ctx, d); err != nil {
				return err
			}
			prev, known := state[r.Component]
			next := Component{Name: r.Component, State: r.State, Note: r.Note, Since: now, CheckedAt: now}
			if known && prev.State == r.State {
				next.Since = prev.Since
			}
			if err := tx.PutStatusComponent(ctx, next); err != nil {
				return err
			}
			if known && prev.State != r.State {
				if err := tx.EmitStatus(ctx, changeEvent(prev, next)); err != nil {
					return err
				}
			}
			sm.last[r.Component] = next
		}
		return nil
	})
	if err != nil {
		if sm.wasSampler {
			sm.hold(readings, now)
		}
		return false, err
	}
	clear(sm.held)
	sm.changes = nil
	sm.wasSampler = true
	return sampled, nil
}

func changeEvent(from, to Component) event.Event {
	return event.Event{Type: event.StatusComponentChanged, OccurredAt: to.Since,
		Data: ComponentChange{Component: to.Name, State: to.State, Previous: from.State, Note: to.Note, Since: to.Since}}
}

// Prune drops daily buckets older than the window and incidents resolved
// before it: the storage stays bounded.
func (s *Service) Prune(ctx context.Context) (int64, error) {
	now := s.clock()
	return s.st.PruneStatus(ctx, DayOf(now.AddDate(0, 0, -Window)), now.AddDate(0, 0, -Window))
}
