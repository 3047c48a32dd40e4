package client

import "time"

// LocalOption configures a LocalChecker.
type LocalOption func(*localOptions)

type localOptions struct {
	start              *Snapshot
	background         bool
	idle               time.Duration
	retryMin, retryMax time.Duration
	hooks              LocalHooks
}

// WithStartSnapshot starts the checker from a copy saved earlier (see
// LocalChecker.Copy) instead of loading the server's: it answers from s at
// once and follows the changes after s.Seq. A server that cannot replay
// from there (s is too old, or ahead of it) has the checker load its
// snapshot.
func WithStartSnapshot(s *Snapshot) LocalOption { return func(o *localOptions) { o.start = s } }

// WithBackgroundLoad has NewLocalChecker return at once, without waiting
// for the first load (which it would fail with): the checker loads in the
// background and retries until it can. Meanwhile Engine is nil and checks
// are denied, every user unknown.
func WithBackgroundLoad() LocalOption { return func(o *localOptions) { o.background = true } }

// WithStreamIdle is how long the change stream may stay silent (the server
// sends a heartbeat every 15 s) before the checker reconnects; 45 s by
// default.
func WithStreamIdle(d time.Duration) LocalOption {
	return func(o *localOptions) {
		if d > 0 {
			o.idle = d
		}
	}
}

// WithRetryWait bounds the wait between attempts once syncing failed: it
// doubles from least to most, with jitter (half to all of it), and starts
// over once a connection lasted. By default 1 s and 32 s.
func WithRetryWait(least, most time.Duration) LocalOption {
	return func(o *localOptions) {
		if least > 0 {
			o.retryMin = least
		}
		if most > 0 {
			o.retryMax = max(most, o.retryMin)
		}
	}
}

// WithHooks has the checker tell h what it does.
func WithHooks(h LocalHooks) LocalOption { return func(o *localOptions) { o.hooks = h } }

// LocalHooks let a program built on a LocalChecker (the standalone PDP:
// its state, its copy on disk, its settings) follow what the checker does.
// Every field is optional. They are called one at a time, from the
// checker's goroutine (and from NewLocalChecker for the first load), and
// must not block for long.
type LocalHooks struct {
	// Loaded is called with every snapshot loaded from the server before
	// the checker serves it; an error refuses it: syncing fails with that
	// error and is tried again.
	Loaded func(*Snapshot) error
	// Updated is called when the copy changed: with the entry applied, or
	// nil when a snapshot loaded from the server replaced it.
	Updated func(*FeedEntry)
	// Connected is called when the change stream is open.
	Connected func()
	// Synced is called when the checker has caught up with the server, at
	// feed position seq.
	Synced func(seq int64)
	// Reset is called when the server asks for a new snapshot (data is the
	// event's: {"reason": …}); the checker loads it next.
	Reset func(data string)
	// Event is called with the stream's events the checker does not
	// handle itself ("settings": the decision log policy); an error ends
	// the stream, which is opened again after a wait.
	Event func(StreamEvent) error
	// Failed is called when syncing failed with err; the checker tries
	// again after wait.
	Failed func(err error, wait time.Duration)
}
