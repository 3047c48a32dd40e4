package usage

import "sync"

// DefaultQueriesPerOrg is how many usage queries one organization may
// have running on a node at once.
const DefaultQueriesPerOrg = 2

// Gate bounds the usage queries in flight per organization on this node,
// so that one organization asking for many wide windows at once cannot
// take the log database's readers from the others. It refuses rather than
// queues: a caller beyond the bound is told to come back (429).
type Gate struct {
	perOrg int

	mu       sync.Mutex
	inFlight map[string]int
}

// NewGate returns a gate of perOrg queries per organization (at least 1).
func NewGate(perOrg int) *Gate {
	return &Gate{perOrg: max(perOrg, 1), inFlight: map[string]int{}}
}

// PerOrg is the bound.
func (g *Gate) PerOrg() int { return g.perOrg }

// Enter admits one query of orgID: ok false when the organization already
// has PerOrg running. Call leave when the query is over (once).
func (g *Gate) Enter(orgID string) (leave func(), ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.inFlight[orgID] >= g.perOrg {
		return nil, false
	}
	g.inFlight[orgID]++
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			if g.inFlight[orgID]--; g.inFlight[orgID] <= 0 {
				delete(g.inFlight, orgID)
			}
		})
	}, true
}

// InFlight is how many of orgID's queries are running.
func (g *Gate) InFlight(orgID string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inFlight[orgID]
}
