package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Target is the bucket a request spends from and its limit per hour; a
// Limit of 0 means not limited (a sandbox environment).
type Target struct {
	Bucket string
	Limit  int
}

// Resolver says which bucket a caller spends from.
type Resolver func(ctx context.Context, p *auth.Principal) (Target, error)

// Options configure a Limiter.
type Options struct {
	// FailOpen chooses how this node rounds its share while the store is
	// down: up (open: every node lets at least one request of a bucket
	// through, so N nodes may pass up to N-1 more than the limit) or down
	// (closed: the nodes together never pass more than the limit; a limit
	// below the node count is refused with 503). It also chooses what
	// happens when a caller's limit cannot be read: let through (open) or
	// refused with 503 (closed).
	FailOpen bool
	// Nodes is how many nodes share the store, assumed until they have been
	// counted through it (default 1).
	Nodes int
	// Node names this node among the live ones (default: host name and a
	// random suffix).
	Node string
	// Heartbeat is how often this node says it is alive and counts the live
	// nodes (default 3 s); NodeTTL is how long a node stays counted after
	// its last heartbeat (default 10 s).
	Heartbeat, NodeTTL time.Duration
	// Probe is how often a node deciding on its own share asks whether the
	// store answers again (default 100 ms).
	Probe time.Duration
	// Log receives the outages (at most every 10 s) and recoveries.
	Log *slog.Logger
}

// Limiter decides on requests: it resolves the caller's bucket and asks the
// store.
//
// When a shared store (Redis) fails or does not answer within its timeout,
// that request and every following one, until the store answers again,
// are decided on this node's share of the limit: an in-memory GCRA bucket
// of limit/N, N the live nodes last counted through the store (Options.Nodes
// until then). A node's share starts from the bucket's state at its last
// answer from the store, so what was spent before the outage stays spent.
// The requests let through on the share are charged to the store as soon
// as it takes them (at once when it is merely slow, else when it answers
// again, before this node asks it anything else), so what was spent during
// the outage stays spent too, and the charges' answers (the buckets as the
// other nodes left them) tighten this node's shares. Run probes the store
// while it is down, charges it, and counts the nodes while it is up.
//
// The trade-off: while every node decides on its share and N is right, the
// nodes together pass at most the limit. A node counts a bucket as it was at
// its own last answer: what other nodes passed since then can be passed
// again, up to 1/N of it per node. A node that starts during an outage, or
// an outage that begins before the nodes have counted a new one (up to one
// heartbeat), uses the remembered or configured N. A node that cannot reach
// the store at all while the others can (a partition) passes its share on
// top of what they pass; when it merely times out (a slow store, a starved
// node), its charges reach the store within the store's delay, and only
// what the others pass meanwhile can overshoot. A request whose call timed
// out may have been counted by the store as well as on the share: counted
// twice, it makes the bucket stricter, never looser.
type Limiter struct {
	store   Store
	shared  Shared // nil: the store is this process's alone
	resolve Resolver
	// checks resolves permission checks' buckets (nil: as resolve).
	checks Resolver
	opt    Options
	log    *slog.Logger

	local    *shares
	fallback atomic.Bool
	// gate orders decisions on the share and the way back to the store: a
	// decision on the share holds it for reading, leaving the fallback for
	// writing; so a decision either sees the fallback over (and asks the
	// store) or is counted before the last charge.
	gate  sync.RWMutex
	nodes atomic.Int64 // live nodes last counted through the store; 0: not yet

	mu        sync.Mutex
	lastErr   error
	since     time.Time
	fallbacks int64

	// kick wakes the charger: a request was let through on the share.
	kick chan struct{}
	// charging serializes charges: a probe that finds the store answering
	// again charges after any charge in flight has ended (counted, or
	// given back to be charged again), never while its requests are
	// neither in the store nor in the local share.
	charging sync.Mutex

	onShare atomic.Int64 // decisions made on the share
	// counts are the decisions on limited requests and the store's
	// failures, for the metrics (Counts).
	allowed, refused, failures atomic.Int64
	logged                     atomic.Int64 // unix nanos of the last outage logged
	resolveLogged              atomic.Int64
}

// Counts are a limiter's decisions since it was made.
type Counts struct {
	// Allowed and Refused count decisions on requests a limit applied
	// to (whatever decided: the store, this node's share, or the fail
	// mode when it could not decide).
	Allowed, Refused int64
	// StoreFailures counts the calls to the store (or to the settings
	// naming the limit) that failed.
	StoreFailures int64
}

// Counts returns the decisions and failures counted so far.
func (l *Limiter) Counts() Counts {
	return Counts{Allowed: l.allowed.Load(), Refused: l.refused.Load(), StoreFailures: l.failures.Load()}
}

// count counts d, when a limit applied to it.
func (l *Limiter) count(d Decision) Decision {
	if !d.Limited && !d.Undecided {
		return d
	}
	if d.Allowed {
		l.allowed.Add(1)
	} else {
		l.refused.Add(1)
	}
	return d
}

// NewLimiter returns a limiter; Run must run for it to count the nodes and
// to come back to the store after an outage.
func NewLimiter(store Store, resolve Resolver, opt Options) *Limiter {
	if opt.Nodes < 1 {
		opt.Nodes = 1
	}
	if opt.Node == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		host, _ := os.Hostname()
		opt.Node = host + "-" + hex.EncodeToString(b[:])
	}
	if opt.Heartbeat <= 0 {
		opt.Heartbeat = 3 * time.Second
	}
	if opt.NodeTTL <= 0 {
		opt.NodeTTL = 10 * time.Second
	}
	if opt.Probe <= 0 {
		opt.Probe = 100 * time.Millisecond
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	l := &Limiter{store: store, resolve: resolve, opt: opt, log: opt.Log, local: newShares(), kick: make(chan struct{}, 1)}
	l.shared, _ = store.(Shared)
	return l
}

// Decision is what the middleware needs.
type Decision struct {
	Result
	Limited bool // false: no limit applies (no headers)
	// OnShare is set when this node decided alone, on its share of the
	// limit (the store is down); Result then describes the share.
	OnShare bool
	// Undecided is set when the limiter could not decide: the caller's
	// limit could not be read, or (fail-closed) this node's share is zero.
	// Allowed then follows the fail-open setting.
	Undecided bool
}

// Take spends one request of p's bucket.
func (l *Limiter) Take(ctx context.Context, p *auth.Principal) Decision {
	t, err := l.resolve(ctx, p)
	if err != nil {
		return l.undecided(err)
	}
	return l.TakeTarget(ctx, t)
}

// undecided is the decision when a caller's limit cannot be read.
func (l *Limiter) undecided(err error) Decision {
	if now := time.Now().UnixNano(); now-l.resolveLogged.Load() > int64(10*time.Second) {
		l.resolveLogged.Store(now)
		l.log.Error("cannot read a caller's rate limit", "fail_open", l.opt.FailOpen, "err", err)
	}
	l.failures.Add(1)
	return l.count(Decision{Result: Result{Allowed: l.opt.FailOpen, RetryAfter: time.Second}, Undecided: true})
}

// ResolveChecks gives permission checks a resolver of their own (a budget
// apart from the API calls'); set before the limiter is used.
func (l *Limiter) ResolveChecks(r Resolver) { l.checks = r }

// TakeCheck spends one request of p's bucket for permission checks (see
// ResolveChecks; without one, Take's).
func (l *Limiter) TakeCheck(ctx context.Context, p *auth.Principal) Decision {
	if l.checks == nil {
		return l.Take(ctx, p)
	}
	t, err := l.checks(ctx, p)
	if err != nil {
		return l.undecided(err)
	}
	return l.TakeTarget(ctx, t)
}

// LimitOf returns the hourly limit p spends from (0: not limited).
func (l *Limiter) LimitOf(ctx context.Context, p *auth.Principal) (int, error) {
	t, err := l.resolve(ctx, p)
	return t.Limit, err
}

// TakeAnonymous spends one request of a client address's bucket: calls
// without a valid key (a limit of 0 or less: not limited).
func (l *Limiter) TakeAnonymous(ctx context.Context, ip string, limit int) Decision {
	return l.TakeTarget(ctx, Target{Bucket: "ip:" + ip, Limit: limit})
}

// TakeTarget spends one request of t's bucket.
func (l *Limiter) TakeTarget(ctx context.Context, t Target) Decision {
	return l.count(l.takeTarget(ctx, t))
}

func (l *Limiter) takeTarget(ctx context.Context, t Target) Decision {
	if t.Limit <= 0 {
		return Decision{Result: Result{Allowed: true}}
	}
	for {
		if !l.fallback.Load() {
			res, err := l.store.Take(ctx, t.Bucket, t.Limit)
			if err == nil {
				if l.shared != nil {
					l.local.observe(t.Bucket, res.Reset.UnixNano())
				}
				return Decision{Result: res, Limited: true}
			}
			if ctx.Err() != nil {
				// The caller is gone (its connection closed): that says
				// nothing of the store.
				return Decision{Result: Result{Limit: t.Limit, RetryAfter: time.Second}, Undecided: true}
			}
			l.fail(err)
		}
		if d, ok := l.takeShare(t); ok {
			return d
		}
		// The store answers again: ask it.
	}
}

// takeShare decides on this node's share; false when the fallback ended.
func (l *Limiter) takeShare(t Target) (Decision, bool) {
	l.gate.RLock()
	defer l.gate.RUnlock()
	if !l.fallback.Load() {
		return Decision{}, false
	}
	share := l.shareOf(t.Limit)
	if share == 0 {
		return Decision{Result: Result{Allowed: false, Limit: t.Limit, RetryAfter: time.Second}, Undecided: true}, true
	}
	l.onShare.Add(1)
	res := l.local.take(t.Bucket, t.Limit, share, time.Now().UnixNano(), l.shared != nil)
	if res.Allowed && l.shared != nil {
		select {
		case l.kick <- struct{}{}:
		default: // a kick is pending already
		}
	}
	return Decision{Result: res, Limited: true, OnShare: true}, true
}

// shareOf is this node's share of limit: limit/N, rounded up when failing
// open, down when failing closed.
func (l *Limiter) shareOf(limit int) int {
	n := l.Nodes()
	if l.opt.FailOpen {
		return (limit + n - 1) / n
	}
	return limit / n
}

// Nodes is the N of the shares: the live nodes last counted through the
// store, else Options.Nodes.
func (l *Limiter) Nodes() int {
	if n := l.nodes.Load(); n > 0 {
		return int(n)
	}
	return l.opt.Nodes
}

// fail records a failure of the store and decides on the share from now
// on.
func (l *Limiter) fail(err error) {
	l.failures.Add(1)
	l.mu.Lock()
	l.lastErr = err
	began := !l.fallback.Load()
	if began {
		l.since = time.Now()
		l.fallbacks++
		l.fallback.Store(true)
	}
	l.mu.Unlock()
	// Say it when it begins, then at most every 10 s.
	now := time.Now().UnixNano()
	if last := l.logged.Load(); (began || now-last > int64(10*time.Second)) && l.logged.CompareAndSwap(last, now) {
		l.log.Error("rate limit store unavailable; this node enforces its share of each limit until it answers",
			"nodes", l.Nodes(), "fail", l.failMode(), "err", err)
	}
}

func (l *Limiter) failMode() string {
	if l.opt.FailOpen {
		return "open"
	}
	return "closed"
}

// Run counts the live nodes through a shared store (every Heartbeat), and
// while the store is down probes it (every Probe) and comes back to it,
// until ctx ends; then this node leaves the count. Meanwhile it charges the
// store with what this node let through on its share as soon as it can.
func (l *Limiter) Run(ctx context.Context) {
	if l.shared != nil {
		done := make(chan struct{})
		go func() { defer close(done); l.runCharger(ctx) }()
		defer func() { <-done }()
		l.heartbeat(ctx)
	}
	beat := time.NewTicker(l.opt.Heartbeat)
	defer beat.Stop()
	probe := time.NewTicker(l.opt.Probe)
	defer probe.Stop()
	sweep := time.NewTicker(time.Minute)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			if l.shared != nil && !l.fallback.Load() {
				lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
				_ = l.shared.Leave(lctx, l.opt.Node)
				cancel()
			}
			return
		case <-beat.C:
			if l.shared != nil && !l.fallback.Load() {
				l.heartbeat(ctx)
			}
		case <-probe.C:
			if l.fallback.Load() {
				l.probe(ctx)
			}
		case <-sweep.C:
			l.local.sweep(time.Now().UnixNano())
		}
	}
}

// runCharger charges the store with the requests let through on the share
// as they come: when the store is merely slow (or only this node's calls
// timed out), the charges reach it, so the other nodes count them, and
// their answers (the buckets as the other nodes left them) tighten this
// node's shares. After a failed charge it waits a Probe before trying again
// (the probe charges too, when the store answers again).
func (l *Limiter) runCharger(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.kick:
		}
		if err := l.charge(ctx); err != nil && ctx.Err() == nil {
			t := time.NewTimer(l.opt.Probe)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// heartbeat says this node is alive and remembers how many are; a failure
// is the store's failure.
func (l *Limiter) heartbeat(ctx context.Context) {
	n, err := l.shared.Heartbeat(ctx, l.opt.Node, l.opt.NodeTTL)
	if err != nil {
		if ctx.Err() == nil {
			l.fail(err)
		}
		return
	}
	l.nodes.Store(int64(n))
}

// probe asks the store whether it answers; when it does, charges it with
// what this node let through on its share and decides through it again.
func (l *Limiter) probe(ctx context.Context) {
	err := l.store.Ping(ctx)
	if err == nil && l.shared != nil {
		// Charged while this node still decides on its share: the store
		// counts them before this node's next request reaches it.
		err = l.charge(ctx)
	}
	if err != nil {
		l.mu.Lock()
		l.lastErr = err
		l.mu.Unlock()
		return
	}
	l.gate.Lock()
	l.fallback.Store(false)
	l.gate.Unlock()
	if l.shared != nil {
		// Decisions on the share made while the first charge ran.
		if err := l.charge(ctx); err != nil {
			l.fail(err)
			return
		}
		l.heartbeat(ctx)
	}
	l.mu.Lock()
	since := l.since
	if !l.fallback.Load() {
		l.lastErr = nil
	}
	l.mu.Unlock()
	if !l.fallback.Load() {
		l.log.Info("rate limit store available again", "down_for", time.Since(since).Round(time.Millisecond).String())
	}
}

// charge tells the store what this node let through on its share, and
// takes in the buckets' state after it; what the store did not take is
// kept for the next time.
func (l *Limiter) charge(ctx context.Context) error {
	l.charging.Lock()
	defer l.charging.Unlock()
	all := l.local.drain()
	const batch = 256
	for i := 0; i < len(all); i += batch {
		part := all[i:min(i+batch, len(all))]
		if err := l.shared.Charge(ctx, part); err != nil {
			// A batch that failed may have been counted (a timeout): counted
			// again, its requests are refused sooner, never let through.
			l.local.undrain(all[i:])
			return err
		}
		now := time.Now().UnixNano()
		for _, c := range part {
			l.local.observe(c.Bucket, now+int64(c.Full))
		}
	}
	return nil
}

// Status is the limiter's state.
type Status struct {
	// OnShare: the store failed at Since (last error Err) and this node
	// decides alone on its share, 1/Nodes of each limit.
	OnShare bool
	Since   time.Time
	Err     error
	// Nodes is the N of the shares; Counted says it was counted through
	// the store (else it is Options.Nodes).
	Nodes   int
	Counted bool
	// Fallbacks is how many times the store failed since this limiter
	// started; Decisions on the share, how many were made on it.
	Fallbacks, DecisionsOnShare int64
}

// Status reports the limiter's state.
func (l *Limiter) Status() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := Status{OnShare: l.fallback.Load(), Nodes: l.Nodes(), Counted: l.nodes.Load() > 0,
		Fallbacks: l.fallbacks, DecisionsOnShare: l.onShare.Load()}
	if st.OnShare {
		st.Since, st.Err = l.since, l.lastErr
	}
	return st
}

// Health reports the store's state: nil when it answers. Otherwise the
// error says since when it does not and how this node limits meanwhile.
func (l *Limiter) Health(ctx context.Context) error {
	if !l.fallback.Load() {
		err := l.store.Ping(ctx)
		if err == nil {
			return nil
		}
		l.fail(err)
	}
	st := l.Status()
	counted := "configured (--rate-limit-nodes), not counted yet"
	if st.Counted {
		counted = "last counted through the store"
	}
	rounding := "rounded up (fail-open)"
	if !l.opt.FailOpen {
		rounding = "rounded down (fail-closed)"
	}
	return fmt.Errorf("unreachable since %s (%v); this node enforces 1/%d of each limit (%d nodes %s), %s",
		st.Since.UTC().Format(time.RFC3339), st.Err, st.Nodes, st.Nodes, counted, rounding)
}
