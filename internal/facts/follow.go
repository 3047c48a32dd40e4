package facts

import (
	"context"
	"fmt"
)

// Following a feed: what a follower of an environment's change feed (a
// standalone PDP or an SDK's in-process checker, through the change
// stream) is sent, from which position, and when it must load a snapshot
// instead of being replayed what it missed.

// DefaultBacklog is the most entries a resuming follower is replayed when
// FollowOptions.Backlog is 0; a follower further behind is reset.
const DefaultBacklog = 10_000

// followBatch is how many entries a follower is sent per read of the feed.
const followBatch = 500

// Kinds of FeedEvent: the change stream's event names.
const (
	// FeedChange carries the next entry of the feed (Entry).
	FeedChange = "change"
	// FeedSynced says that every entry up to Seq was sent: the follower is
	// current. It is sent once per catching up, not while idle.
	FeedSynced = "synced"
	// FeedReset says that the follower must load a new snapshot (Reason);
	// it is the last event of a follow.
	FeedReset = "reset"
)

// OpFeedCompacted is the op of the feed entry marking where the feed was
// compacted (the store's FeedCompacted): a follower before it is reset, an
// engine before it reloaded.
const OpFeedCompacted = "feed_compacted"

// FeedEvent is one event a follower is sent.
type FeedEvent struct {
	Kind   string
	Entry  Change // FeedChange
	Seq    int64  // FeedSynced
	Reason string // FeedReset
}

// FollowOptions say where a follower stands.
type FollowOptions struct {
	// Since is the position the follower holds: the seq of the snapshot it
	// loaded or of the last entry it applied. It is used when Resume is
	// set; otherwise the follow starts at the feed's current position (a
	// new follower has just loaded a snapshot: nothing to replay).
	Since  int64
	Resume bool
	// Backlog is the most entries a resuming follower is replayed; one
	// further behind is reset. DefaultBacklog when 0.
	Backlog int
}

// Follower is one follower of an environment's feed, positioned by
// Service.Follow. It is used by one goroutine.
type Follower struct {
	// Wait, if set, is called whenever the follower has caught up, in
	// place of waiting for the feed to move or ctx to end. moved is closed
	// when the feed may have moved. Wait returns nil to read the feed
	// again, or an error to end the follow with it.
	Wait func(ctx context.Context, moved <-chan struct{}) error
	// Between, if set, is called between the batches of a long replay: a
	// chance to end it early with an error.
	Between func(ctx context.Context) error

	svc   *Service
	envID string
	since int64
	reset string
}

// Follow positions a follower of envID's feed: it loads the environment's
// engine (this node's catch-ups then wake the follower up), reads the
// feed's position and decides whether the follower is replayed what it
// missed or must load a snapshot (see Reset). Errors come from here, before
// anything is sent; Run sends the events.
func (s *Service) Follow(ctx context.Context, envID string, o FollowOptions) (*Follower, error) {
	if o.Backlog <= 0 {
		o.Backlog = DefaultBacklog
	}
	if _, err := s.Engines.Get(ctx, envID); err != nil {
		return nil, fmt.Errorf("follow the feed of %s: %w", envID, err)
	}
	latest, err := s.Store.FeedPosition(ctx, envID)
	if err != nil {
		return nil, fmt.Errorf("follow the feed of %s: %w", envID, err)
	}
	f := &Follower{svc: s, envID: envID, since: o.Since}
	if !o.Resume {
		f.since = latest
	}
	switch {
	case f.since > latest:
		f.reset = fmt.Sprintf("position %d is ahead of the feed (%d): the database was replaced", f.since, latest)
	case latest-f.since > int64(o.Backlog):
		// Far behind: reload the snapshot rather than replay history. The
		// positions are not dense (other environments share the
		// sequence), so count what is really there, stopping past the
		// backlog.
		n := o.Backlog + 1
		if bc, ok := s.Store.(backlogCounter); ok {
			if n, err = bc.CountChangesSince(ctx, envID, f.since, o.Backlog+1); err != nil {
				return nil, fmt.Errorf("follow the feed of %s: %w", envID, err)
			}
		}
		if n > o.Backlog {
			f.reset = fmt.Sprintf("position %d is more than %d changes behind the feed: load the snapshot (GET /v1/pdp/snapshot) and follow from its seq", f.since, o.Backlog)
		}
	}
	return f, nil
}

// backlogCounter counts an environment's feed entries after a position, no
// further than limit: a store that has it spares a long replay's estimate.
type backlogCounter interface {
	CountChangesSince(ctx context.Context, envID string, seq int64, limit int) (int, error)
}

// Reset is why the follower must load a new snapshot rather than be
// replayed ("" when it need not): Run then sends only that reset.
func (f *Follower) Reset() string { return f.reset }

// Since is the follower's position: the last entry sent (or where it
// started).
func (f *Follower) Since() int64 { return f.since }

// Run sends the follower its events: the entries after its position in
// order, a FeedSynced each time it has caught up, then waits for the feed
// to move (see Wait) and goes on. It returns nil after a
// reset, ctx's error when ctx ends, the error of fn, Wait or Between that
// ended the follow, or the error reading the feed.
func (f *Follower) Run(ctx context.Context, fn func(FeedEvent) error) error {
	if f.reset != "" {
		return fn(FeedEvent{Kind: FeedReset, Reason: f.reset})
	}
	synced := int64(-1)
	for {
		// Take the signal before reading, so that no movement is missed.
		moved := f.svc.Engines.Moved(f.envID)
		changes, err := f.svc.Store.ChangesSince(ctx, f.envID, f.since, followBatch)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("read the feed of %s after %d: %w", f.envID, f.since, err)
		}
		for _, c := range changes {
			if c.Op == OpFeedCompacted {
				return fn(FeedEvent{Kind: FeedReset, Reason: fmt.Sprintf("the feed was compacted past position %d: load the snapshot (GET /v1/pdp/snapshot) and follow from its seq", f.since)})
			}
			if err := fn(FeedEvent{Kind: FeedChange, Entry: c}); err != nil {
				return err
			}
			f.since = c.Seq
		}
		if len(changes) == followBatch {
			if f.Between != nil {
				if err := f.Between(ctx); err != nil {
					return err
				}
			}
			continue
		}
		if f.since != synced {
			if err := fn(FeedEvent{Kind: FeedSynced, Seq: f.since}); err != nil {
				return err
			}
			synced = f.since
		}
		if f.Wait != nil {
			if err := f.Wait(ctx, moved); err != nil {
				return err
			}
			continue
		}
		select {
		case <-moved:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
