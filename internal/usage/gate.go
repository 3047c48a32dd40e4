package usage

import (
	"context"
	"sync"
	"time"
)

// DefaultQueriesPerOrg is how many usage queries one organization may
// have running on a node at once.
const DefaultQueriesPerOrg = 2

// DefaultGateWait is how long a query beyond the bound waits for a place
// before it is refused: usage queries take milliseconds to a few seconds,
// so a second tab or member loading the usage page waits its turn instead
// of failing.
const DefaultGateWait = 2 * time.Second

// Gate bounds the usage queries in flight per organization on this node,
// so that one organization asking for many wide windows at once cannot
// take the log database's readers from the others. A query beyond the
// bound waits up to Wait for a place, then is refused: the caller is told
// to come back (429).
type Gate struct {
	perOrg int
	wait   time.Duration

	mu   sync.Mutex
	orgs map[string]*gateOrg
}

// gateOrg is one organization's queries: in flight, waiting, and a channel
// closed (and replaced) whenever a place frees.
type gateOrg struct {
	inFlight, waiting int
	freed             chan struct{}
}

// NewGate returns a gate of perOrg queries per organization (at least 1),
// where a query beyond them waits up to wait for a place (0: refused at
// once).
func NewGate(perOrg int, wait time.Duration) *Gate {
	return &Gate{perOrg: max(perOrg, 1), wait: max(wait, 0), orgs: map[string]*gateOrg{}}
}

// PerOrg is the bound.
func (g *Gate) PerOrg() int { return g.perOrg }

// Enter admits one query of orgID, waiting for a place up to the gate's
// wait or until ctx ends: ok false when none freed by then. Call leave
// when the query is over (once).
func (g *Gate) Enter(ctx context.Context, orgID string) (leave func(), ok bool) {
	var timer *time.Timer
	expired := false
	g.mu.Lock()
	defer g.mu.Unlock()
	for {
		o := g.orgs[orgID]
		if o == nil {
			o = &gateOrg{freed: make(chan struct{})}
			g.orgs[orgID] = o
		}
		if o.inFlight < g.perOrg {
			o.inFlight++
			return g.leave(orgID), true
		}
		if g.wait <= 0 || expired || ctx.Err() != nil {
			return nil, false
		}
		if timer == nil {
			timer = time.NewTimer(g.wait)
			defer timer.Stop()
		}
		o.waiting++
		freed := o.freed
		g.mu.Unlock()
		select {
		case <-freed: // a place freed: try for it
		case <-ctx.Done():
		case <-timer.C:
			expired = true // one last look: a place freed just now is taken
		}
		g.mu.Lock()
		o.waiting--
	}
}

// leave is the leave func of an admitted query of orgID.
func (g *Gate) leave(orgID string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			o := g.orgs[orgID]
			o.inFlight--
			close(o.freed) // wake the waiting: one of them takes the place
			o.freed = make(chan struct{})
			g.tidy(orgID, o)
		})
	}
}

// tidy forgets an organization without queries (g.mu held).
func (g *Gate) tidy(orgID string, o *gateOrg) {
	if o.inFlight <= 0 && o.waiting <= 0 && g.orgs[orgID] == o {
		delete(g.orgs, orgID)
	}
}

// InFlight is how many of orgID's queries are running.
func (g *Gate) InFlight(orgID string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if o := g.orgs[orgID]; o != nil {
		return o.inFlight
	}
	return 0
}

// Waiting is how many of orgID's queries wait for a place.
func (g *Gate) Waiting(orgID string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if o := g.orgs[orgID]; o != nil {
		return o.waiting
	}
	return 0
}
