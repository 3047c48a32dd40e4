package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/authz"
)

// Snapshot is an environment's authorization data and the position of the
// change feed it corresponds to (GET /v1/pdp/snapshot; an environment key
// with check:access).
type Snapshot struct {
	OrganizationID string          `json:"organization_id"`
	ProjectID      string          `json:"project_id"`
	EnvironmentID  string          `json:"environment_id"`
	Seq            int64           `json:"seq"`
	DecisionLog    json.RawMessage `json:"decision_log,omitempty"`
	Data           authz.Data      `json:"data"`
}

// Snapshot loads the key's environment's snapshot.
func (c *Client) Snapshot(ctx context.Context) (*Snapshot, error) {
	return get[Snapshot](ctx, c, "/v1/pdp/snapshot", nil)
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
	res, err := c.send(ctx, request{method: http.MethodGet, path: "/v1/pdp/changes", query: map[string][]string{"since": {strconv.FormatInt(since, 10)}}})
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
type LocalChecker struct {
	c      *Client
	engine atomic.Pointer[authz.Engine]
	mu     sync.Mutex // serializes applying changes; guards seq, lastErr
	seq    int64
	synced atomic.Bool
	// lastErr is the last sync error (nil while in sync).
	lastErr error
	updated chan struct{} // closed and replaced at every applied change and on catching up
	cancel  context.CancelFunc
	done    chan struct{}
}

// NewLocalChecker loads the environment and starts following its changes.
func NewLocalChecker(ctx context.Context, c *Client) (*LocalChecker, error) {
	l := &LocalChecker{c: c, updated: make(chan struct{}), done: make(chan struct{})}
	if err := l.load(ctx); err != nil {
		return nil, fmt.Errorf("gatehouse: load the environment: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l.cancel = cancel
	go l.run(runCtx)
	return l, nil
}

func (l *LocalChecker) load(ctx context.Context) error {
	s, err := l.c.Snapshot(ctx)
	if err != nil {
		return err
	}
	e := authz.New()
	if err := e.Load(s.Data); err != nil {
		return err
	}
	l.mu.Lock()
	l.engine.Store(e)
	l.seq = s.Seq
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

// run follows the change stream, reconnecting with backoff, until closed.
func (l *LocalChecker) run(ctx context.Context) {
	defer close(l.done)
	fails := 0
	for ctx.Err() == nil {
		err := l.follow(ctx)
		l.synced.Store(false)
		if ctx.Err() != nil {
			return
		}
		l.mu.Lock()
		l.lastErr = err
		l.mu.Unlock()
		if errors.Is(err, errReload) {
			if lerr := l.load(ctx); lerr == nil {
				fails = 0
				continue
			}
		}
		fails = min(fails+1, 6)
		if sleep(ctx, backoff(fails)) != nil {
			return
		}
	}
}

var errReload = errors.New("the environment must be loaded again")

func (l *LocalChecker) follow(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l.mu.Lock()
	since := l.seq
	l.mu.Unlock()
	body, err := l.c.Changes(ctx, since)
	if err != nil {
		return err
	}
	defer body.Close()
	idle := time.AfterFunc(45*time.Second, cancel) // heartbeats come every 15 s
	defer idle.Stop()
	return ReadEvents(body, func() { idle.Reset(45 * time.Second) }, func(ev StreamEvent) error {
		switch ev.Event {
		case "change":
			var fe FeedEntry
			if err := json.Unmarshal([]byte(ev.Data), &fe); err != nil {
				return fmt.Errorf("change event: %w", err)
			}
			l.mu.Lock()
			if fe.Seq <= l.seq {
				l.mu.Unlock()
				return nil
			}
			err := l.engine.Load().Apply(fe.Change)
			if err == nil {
				l.seq = fe.Seq
			}
			l.mu.Unlock()
			if err != nil {
				return fmt.Errorf("%w: %v", errReload, err)
			}
			l.notify()
		case "synced":
			l.synced.Store(true)
			l.mu.Lock()
			l.lastErr = nil
			l.mu.Unlock()
			l.notify() // waiters on Synced wake too
		case "reset":
			return errReload
		}
		return nil
	})
}

// Check answers whether user may do action on a resource of resourceType
// in tenant ("" : the default tenant), from memory.
func (l *LocalChecker) Check(user, action, resourceType, tenant string) authz.Decision {
	if tenant == "" {
		tenant = authz.DefaultTenant
	}
	return l.engine.Load().Check(user, action, resourceType, tenant)
}

// Allowed answers a check in the server's shape.
func (l *LocalChecker) Allowed(c Check) Decision {
	tenant := c.Resource.Tenant
	if tenant == "" {
		tenant = authz.DefaultTenant
	}
	d := l.Check(c.User, c.Action, c.Resource.Type, tenant)
	return Decision{Allow: d.Allow, Reason: d.Reason.String(), Role: d.Role, Tenant: tenant,
		Explanation: d.Explain(c.User, c.Action, c.Resource.Type, tenant)}
}

// Permissions lists what user may do per tenant.
func (l *LocalChecker) Permissions(user string, tenants ...string) []authz.TenantPermissions {
	return l.engine.Load().Permissions(user, tenants)
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
