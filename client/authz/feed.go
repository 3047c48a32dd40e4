package authz

import "time"

// FeedEntry is one entry of an environment's change feed: a Change at a
// position of the feed. The server records it, its change stream sends it
// (a "change" event's data: {seq, op, data, created_at}), and standalone
// decision points and in-process checkers apply it.
type FeedEntry struct {
	// Seq is the entry's position in the feed: positions only grow.
	Seq int64 `json:"seq"`
	Change
	CreatedAt time.Time `json:"created_at"`
}

// Apply applies the entry's change to e (see Engine.Apply).
func (f FeedEntry) Apply(e *Engine) error { return e.Apply(f.Change) }
