package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// Snapshot is an environment's authorization data and the position of the
// change feed it corresponds to (GET /v1/pdp/snapshot; an environment key
// with check:access).
type Snapshot struct {
	OrganizationID string          `json:"organization_id"`
	ProjectID      string          `json:"project_id"`
	EnvironmentID  string          `json:"environment_id"`
	Seq            int64           `json:"seq"`
	DataFormat     int             `json:"data_format,omitempty"`
	DecisionLog    json.RawMessage `json:"decision_log,omitempty"`
	Data           authz.Data      `json:"data"`
}

// Snapshot loads the key's environment's snapshot.
func (c *Client) Snapshot(ctx context.Context) (*Snapshot, error) {
	return c.snapshot(ctx)
}

// StreamEvent is one Server-Sent Event.
type StreamEvent struct {
	Event string // change, synced, settings, reset
	ID    string
	Data  string
}

// Changes opens the key's environment's change stream (Server-Sent
// Events) after feed position since; read it with ReadEvents. "change"
// events carry a feed entry: {seq, op, data, created_at}, the op and data
// of an authz.Change.
func (c *Client) Changes(ctx context.Context, since int64) (io.ReadCloser, error) {
	res, err := c.send(ctx, request{method: http.MethodGet, path: "/v1/pdp/changes", query: map[string][]string{"since": {strconv.FormatInt(since, 10)}}, stream: true})
	if err != nil {
		return nil, err
	}
	return res.Body, nil
}

// ReadEvents reads Server-Sent Events from r and calls fn for each, until r
// ends (nil), fn returns an error (that error) or reading fails. line, if
// set, is called for every line read: a stream's heartbeats keep it alive.
func ReadEvents(r io.Reader, line func(), fn func(StreamEvent) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var ev StreamEvent
	var data strings.Builder
	for {
		text, err := br.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read the event stream: %w", err)
		}
		if line != nil {
			line()
		}
		text = strings.TrimRight(text, "\r\n")
		switch {
		case text == "":
			if ev.Event != "" || data.Len() > 0 {
				ev.Data = data.String()
				if err := fn(ev); err != nil {
					return err
				}
			}
			ev, data = StreamEvent{}, strings.Builder{}
		case strings.HasPrefix(text, ":"): // a comment: a heartbeat
		case strings.HasPrefix(text, "event:"):
			ev.Event = strings.TrimSpace(text[len("event:"):])
		case strings.HasPrefix(text, "id:"):
			ev.ID = strings.TrimSpace(text[len("id:"):])
		case strings.HasPrefix(text, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(text[len("data:"):], " "))
		}
	}
}

// FeedEntry is a "change" event of the stream: one entry of the change
// feed.
type FeedEntry = authz.FeedEntry

// LocalChecker answers permission checks in this process, with no network
// call per check, from a copy of the key's environment that follows every
// change as it happens (the server's change stream). It needs an
// environment key with check:access. Close it when done.
//
// It is the one follower of the change feed: the standalone PDP is a
// LocalChecker too, with a copy saved on disk (see the LocalOption
// functions).
type LocalChecker struct {
	c      *Client
	o      localOptions
	engine atomic.Pointer[authz.Engine] // nil until a copy is loaded
	empty  *authz.Engine                // answers checks meanwhile (everything is unknown)
	mu     sync.Mutex                   // serializes changing the copy; guards seq, needLoad, lastErr, updated
	seq    int64
	// needLoad is set when the copy must be loaded again (the server said
	// so, or a change did not apply).
	needLoad bool
	synced   atomic.Bool
	// lastErr is the last sync error (nil while in sync).
	lastErr error
	updated chan struct{} // closed and replaced at every applied change and on catching up
	cancel  context.CancelFunc
	done    chan struct{}
}

// NewLocalChecker loads the environment and starts following its changes.
// With WithStartSnapshot it starts from a saved copy instead of loading;
// with WithBackgroundLoad it returns at once and loads in the background.
func NewLocalChecker(ctx context.Context, c *Client, opts ...LocalOption) (*LocalChecker, error) {
	o := localOptions{idle: 45 * time.Second, retryMin: time.Second, retryMax: 32 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	l := &LocalChecker{c: c, o: o, empty: authz.New(), updated: make(chan struct{}), done: make(chan struct{})}
	switch {
	case o.start != nil:
		if err := l.install(o.start); err != nil {
			return nil, fmt.Errorf("gatehouse: load the saved environment: %w", err)
		}
	case !o.background:
		if err := l.load(ctx); err != nil {
			return nil, fmt.Errorf("gatehouse: load the environment: %w", err)
		}
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l.cancel = cancel
	go l.run(runCtx)
	return l, nil
}

// load loads the server's snapshot and serves it.
func (l *LocalChecker) load(ctx context.Context) error {
	s, err := l.c.Snapshot(ctx)
	if err != nil {
		return err
	}
	if h := l.o.hooks.Loaded; h != nil {
		if err := h(s); err != nil {
			return err
		}
	}
	if err := l.install(s); err != nil {
		return err
	}
	if h := l.o.hooks.Updated; h != nil {
		h(nil)
	}
	return nil
}

// install serves s in place of the current copy.
func (l *LocalChecker) install(s *Snapshot) error {
	if s.DataFormat > authz.DataFormat {
		return fmt.Errorf("the snapshot's data format is %d, newer than the %d this client understands: upgrade it to the server's version", s.DataFormat, authz.DataFormat)
	}
	e := authz.New()
	if err := e.Load(s.Data); err != nil {
		return fmt.Errorf("load the snapshot: %w", err)
	}
	l.mu.Lock()
	l.engine.Store(e)
	l.seq = s.Seq
	l.needLoad = false
	l.mu.Unlock()
	l.notify()
	return nil
}

func (l *LocalChecker) notify() {
	l.mu.Lock()
	close(l.updated)
	l.updated = make(chan struct{})
	l.mu.Unlock()
}

// run follows the change stream until closed: again at once when the
// server ended the stream or asked for a new snapshot, after a growing
// wait (with jitter) when syncing failed.
func (l *LocalChecker) run(ctx context.Context) {
	defer close(l.done)
	wait := l.o.retryMin
	for ctx.Err() == nil {
		started := time.Now()
		err := l.syncOnce(ctx)
		l.synced.Store(false)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > 5*time.Second {
			wait = l.o.retryMin // it worked for a while: start over
		}
		if err == nil {
			continue
		}
		l.mu.Lock()
		l.lastErr = err
		l.mu.Unlock()
		d := wait/2 + time.Duration(rand.Int64N(int64(wait)/2+1))
		if h := l.o.hooks.Failed; h != nil {
			h(err, d)
		}
		if sleep(ctx, d) != nil {
			return
		}
		wait = min(wait*2, l.o.retryMax)
	}
}

// syncOnce loads the environment if needed, then follows its changes until
// the stream ends: nil when the server ended it or asked for a new
// snapshot.
func (l *LocalChecker) syncOnce(ctx context.Context) error {
	l.mu.Lock()
	need := l.needLoad || l.engine.Load() == nil
	l.mu.Unlock()
	if need {
		if err := l.load(ctx); err != nil {
			return err
		}
	}
	return l.follow(ctx)
}

// errReset ends a stream whose server asked for a new snapshot.
var errReset = errors.New("the server asked for a new snapshot")

func (l *LocalChecker) follow(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l.mu.Lock()
	since := l.seq
	l.mu.Unlock()
	body, err := l.c.Changes(ctx, since)
	if err != nil {
		return fmt.Errorf("open the change stream: %w", err)
	}
	defer body.Close()
	if h := l.o.hooks.Connected; h != nil {
		h()
	}
	// A silent stream is a dead one: the server sends a heartbeat every 15 s.
	idle := time.AfterFunc(l.o.idle, cancel)
	defer idle.Stop()
	events := 0
	err = ReadEvents(body, func() { idle.Reset(l.o.idle) }, func(ev StreamEvent) error { events++; return l.event(ev) })
	switch {
	case errors.Is(err, errReset):
		return nil
	case err != nil && !idle.Stop(): // the idle timer fired and cut the stream
		return fmt.Errorf("the change stream was silent for %s", l.o.idle)
	case err == nil && events == 0:
		// The server sends where it stands first: a stream ended before
		// that is a failure (waited on), not a reconnection at once.
		return errors.New("the change stream ended before its first event")
	}
	return err // nil: the server ended the stream; reconnect from our position
}

// event handles one event of the change stream.
func (l *LocalChecker) event(ev StreamEvent) error {
	switch ev.Event {
	case "change":
		var fe FeedEntry
		if err := json.Unmarshal([]byte(ev.Data), &fe); err != nil {
			return fmt.Errorf("change event: %w", err)
		}
		l.mu.Lock()
		if fe.Seq <= l.seq {
			l.mu.Unlock()
			return nil // already applied
		}
		err := l.engine.Load().Apply(fe.Change)
		if err == nil {
			l.seq = fe.Seq
		} else {
			l.needLoad = true
		}
		l.mu.Unlock()
		if err != nil {
			return fmt.Errorf("change %d does not apply (%w): loading the environment again", fe.Seq, err)
		}
		if h := l.o.hooks.Updated; h != nil {
			h(&fe)
		}
		l.notify()
	case "synced":
		l.mu.Lock()
		l.lastErr = nil
		seq := l.seq
		l.mu.Unlock()
		if h := l.o.hooks.Synced; h != nil {
			h(seq)
		}
		// Synced only once its hook has run: a caller that sees Synced()
		// (a WaitUntil woken by an earlier change) sees what the hook did.
		l.synced.Store(true)
		l.notify() // waiters on Synced wake too
	case "reset":
		l.mu.Lock()
		l.needLoad = true
		l.mu.Unlock()
		if h := l.o.hooks.Reset; h != nil {
			h(ev.Data)
		}
		return errReset
	default:
		if h := l.o.hooks.Event; h != nil {
			return h(ev)
		}
	}
	return nil
}

// current is the copy checks are answered from.
func (l *LocalChecker) current() *authz.Engine {
	if e := l.engine.Load(); e != nil {
		return e
	}
	return l.empty
}

// Engine is the decision engine holding the checker's copy, nil until a
// copy is loaded (see WithBackgroundLoad). A reload replaces it: take it
// again for every use.
func (l *LocalChecker) Engine() *authz.Engine { return l.engine.Load() }

// Copy returns a copy of the checker's data and the feed position it
// corresponds to, consistent with each other (ok is false until a copy is
// loaded): what to save to start from later (WithStartSnapshot).
func (l *LocalChecker) Copy() (data authz.Data, seq int64, ok bool) {
	l.mu.Lock() // no change applies while the data is copied
	defer l.mu.Unlock()
	e := l.engine.Load()
	if e == nil {
		return authz.Data{}, 0, false
	}
	return e.Data(), l.seq, true
}

// Check answers whether user may do action on a resource of resourceType
// in tenant ("" : the default tenant), from memory.
func (l *LocalChecker) Check(user, action, resourceType, tenant string) authz.Decision {
	if tenant == "" {
		tenant = authz.DefaultTenant
	}
	return l.current().Check(user, action, resourceType, tenant)
}

// Allowed answers a check in the server's shape.
func (l *LocalChecker) Allowed(c Check) Decision {
	r := c.Request()
	d, path := l.current().Explain(&r)
	res := c.Resource.Type
	if c.Resource.Key != "" && d.Via != authz.ViaTenantRole {
		res += ":" + c.Resource.Key
	}
	return Decision{Allow: d.Allow, Reason: d.Reason.String(), Via: d.Via.String(), Role: d.Role, ResourceSet: d.Set, Tenant: d.Tenant,
		Explanation: d.Explain(c.User, c.Action, res, d.Tenant), Path: path}
}

// Decide answers a check under every rule (roles in tenants, roles on
// instances through relationship tuples, attribute rules), from memory,
// without allocating on the common paths.
func (l *LocalChecker) Decide(r *authz.Request) authz.Decision { return l.current().Decide(r) }

// ListResources lists the keys of the instances of r.Resource (in
// r.Tenant, every tenant when empty) on which r.User may do r.Action.
func (l *LocalChecker) ListResources(r *authz.Request) []string { return l.current().ListResources(r) }

// ListUsers lists the keys of the users who may do r.Action on instance
// r.Resource:r.Key.
func (l *LocalChecker) ListUsers(r *authz.Request) []string { return l.current().ListUsers(r) }

// Permissions lists what user may do per tenant.
func (l *LocalChecker) Permissions(user string, tenants ...string) []authz.TenantPermissions {
	return l.current().Permissions(user, tenants)
}

// Seq is the feed position the checker's copy is at.
func (l *LocalChecker) Seq() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq
}

// Synced reports whether the checker has caught up with the server and
// is following it.
func (l *LocalChecker) Synced() bool { return l.synced.Load() }

// Err is the last sync error (nil while in sync); checks keep being
// answered from the last copy meanwhile.
func (l *LocalChecker) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastErr
}

// WaitFor waits until the checker's copy is at feed position seq or
// later (a write's position: see Seq), or ctx ends.
func (l *LocalChecker) WaitFor(ctx context.Context, seq int64) error {
	for {
		l.mu.Lock()
		at, ch := l.seq, l.updated
		l.mu.Unlock()
		if at >= seq {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// WaitUntil waits until cond holds for the checker's copy (re-checked at
// every change and when the checker catches up), or ctx ends.
func (l *LocalChecker) WaitUntil(ctx context.Context, cond func(*LocalChecker) bool) error {
	for {
		l.mu.Lock()
		ch := l.updated
		l.mu.Unlock()
		if cond(l) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close stops following the changes.
func (l *LocalChecker) Close() error {
	l.cancel()
	<-l.done
	return nil
}
