package webhook

import (
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/event"
)

// Route is the fan-out rule: the endpoints of an organization that receive
// an event. An event addressed to one endpoint (a test delivery, a replay)
// goes to that endpoint whatever its state; any other event goes to every
// enabled endpoint subscribed to its type whose project and environment
// cover it. The store only persists what Route decides.
func Route(ev *event.Event, endpoints []Endpoint) []*Endpoint {
	var targets []*Endpoint
	for i := range endpoints {
		e := &endpoints[i]
		if ev.Only != "" {
			if e.ID == ev.Only {
				targets = append(targets, e)
			}
		} else if e.Enabled && e.Subscribed(ev.Type) && e.Covers(ev.ProjectID, ev.EnvID) {
			targets = append(targets, e)
		}
	}
	return targets
}

// Stamp gives an event about to be stored its id and time (now, when it
// has none), at the microsecond precision both databases keep.
func Stamp(ev *event.Event, newID func() string, now time.Time) {
	if ev.ID == "" {
		ev.ID = newID()
	}
	if ev.OccurredAt.IsZero() {
		ev.OccurredAt = now
	}
	ev.OccurredAt = ev.OccurredAt.UTC().Truncate(time.Microsecond)
}
