package ratelimit

import (
	"context"
	"log/slog"
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

// Limiter decides on requests: it resolves the caller's bucket and asks the
// store. When the store fails it lets the request through (fail open, the
// default) or refuses it (fail closed), and reports the failure on Health.
type Limiter struct {
	store    Store
	resolve  Resolver
	failOpen bool
	log      *slog.Logger

	mu      sync.Mutex
	lastErr error
	logged  atomic.Int64 // unix nanos of the last failure logged
	// downUntil: after a store failure, decisions skip the store for a
	// second instead of each paying for a failing round trip.
	downUntil atomic.Int64
	// local limits what must never go unlimited (sign-in attempts) while
	// the store is down: this process's own buckets.
	local   *Memory
	sweptAt atomic.Int64
	// counts are the decisions on limited requests and the store's
	// failures, for the metrics (Counts).
	allowed, refused, failures atomic.Int64
}

// Counts are a limiter's decisions since it was made.
type Counts struct {
	// Allowed and Refused count decisions on requests a limit applied
	// to (whatever decided: the store, or the fail mode while it is down).
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
	if !d.Limited && !d.StoreDown {
		return d
	}
	if d.Allowed {
		l.allowed.Add(1)
	} else {
		l.refused.Add(1)
	}
	return d
}

// NewLimiter returns a limiter.
func NewLimiter(store Store, resolve Resolver, failOpen bool, log *slog.Logger) *Limiter {
	return &Limiter{store: store, resolve: resolve, failOpen: failOpen, log: log, local: NewMemory()}
}

// TakeGuarded spends one request of t's bucket like TakeTarget, but never
// lets a request through unlimited: while the store is down, this process
// enforces the limit on its own buckets (whatever the fail-open setting),
// so guessing passwords stays bounded during a Redis outage.
func (l *Limiter) TakeGuarded(ctx context.Context, t Target) Decision {
	d := l.takeTarget(ctx, t)
	if !d.StoreDown {
		return l.count(d)
	}
	if now := time.Now().UnixNano(); now-l.sweptAt.Load() > int64(time.Minute) {
		l.sweptAt.Store(now)
		l.local.Sweep()
	}
	res, _ := l.local.Take(ctx, t.Bucket, t.Limit) // memory never fails
	return l.count(Decision{Result: res, Limited: true, StoreDown: true})
}

// Decision is what the middleware needs.
type Decision struct {
	Result
	Limited bool // false: no limit applies (no headers)
	// StoreDown is set when the store failed; Allowed then follows the
	// fail-open setting.
	StoreDown bool
}

// Take spends one request of p's bucket.
func (l *Limiter) Take(ctx context.Context, p *auth.Principal) Decision {
	t, err := l.resolve(ctx, p)
	if err != nil {
		l.failed(err)
		return l.count(Decision{Result: Result{Allowed: l.failOpen}, StoreDown: true})
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
	if time.Now().UnixNano() < l.downUntil.Load() {
		return Decision{Result: Result{Allowed: l.failOpen, Limit: t.Limit, RetryAfter: time.Second}, StoreDown: true}
	}
	res, err := l.store.Take(ctx, t.Bucket, t.Limit)
	if err != nil {
		l.downUntil.Store(time.Now().Add(time.Second).UnixNano())
		l.failed(err)
		return Decision{Result: Result{Allowed: l.failOpen, Limit: t.Limit, Remaining: 0, RetryAfter: time.Second}, StoreDown: true}
	}
	l.recovered()
	return Decision{Result: res, Limited: true}
}

func (l *Limiter) failed(err error) {
	l.failures.Add(1)
	l.mu.Lock()
	l.lastErr = err
	l.mu.Unlock()
	// Say it at most every 10 s, not on every request.
	now := time.Now().UnixNano()
	if last := l.logged.Load(); now-last > int64(10*time.Second) && l.logged.CompareAndSwap(last, now) {
		mode := "fail-open: requests are let through unlimited"
		if !l.failOpen {
			mode = "fail-closed: requests are refused"
		}
		l.log.Error("rate limit store unavailable; "+mode, "err", err)
	}
}

func (l *Limiter) recovered() {
	l.mu.Lock()
	had := l.lastErr != nil
	l.lastErr = nil
	l.mu.Unlock()
	if had {
		l.log.Info("rate limit store available again")
	}
}

// Health reports the store's state: nil when it answers.
func (l *Limiter) Health(ctx context.Context) error {
	if err := l.store.Ping(ctx); err != nil {
		l.failed(err)
		return err
	}
	return nil
}

// FailOpen reports the setting.
func (l *Limiter) FailOpen() bool { return l.failOpen }
