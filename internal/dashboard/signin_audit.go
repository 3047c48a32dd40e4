package dashboard

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// SignInFailuresPerMember is how many failed sign-ins an hour the audit
// trail records per member; beyond it they are counted, not written (the
// per-address limit, --sign-in-rate-limit, does not bound what many
// addresses write on one member).
const SignInFailuresPerMember = 20

// signInAuditQueue is how many failed sign-ins wait for the writer at
// most; beyond it they are counted, not written.
const signInAuditQueue = 256

// SignInAudit records failed sign-ins in the audit trail off the request
// path: the request only queues the failure (never waiting, so that a
// failure on a member answers as fast as one on an address nobody has,
// whatever holds the database's writer), and one writer (Run) writes
// them.
type SignInAudit struct {
	store   Store
	limiter *ratelimit.Limiter // nil: no per-member bound
	log     *slog.Logger

	mu     sync.RWMutex
	closed bool
	queue  chan tenancy.SignInFailure

	full, overMember, failed atomic.Int64
}

// NewSignInAudit returns the writer of failed sign-ins to st, bounded per
// member by limiter (nil: not bounded). Run writes what is queued.
func NewSignInAudit(st Store, limiter *ratelimit.Limiter, log *slog.Logger) *SignInAudit {
	return &SignInAudit{store: st, limiter: limiter, log: log, queue: make(chan tenancy.SignInFailure, signInAuditQueue)}
}

// SignInAuditStats are the failed sign-ins not recorded, by why.
type SignInAuditStats struct {
	// QueueFull: the writer was behind (or stopped); MemberLimit: the
	// member had SignInFailuresPerMember this hour; Failed: the database
	// refused the entry.
	QueueFull, MemberLimit, Failed int64
}

// Stats are the failures not recorded since the start.
func (a *SignInAudit) Stats() SignInAuditStats {
	return SignInAuditStats{QueueFull: a.full.Load(), MemberLimit: a.overMember.Load(), Failed: a.failed.Load()}
}

// add queues f for the writer without waiting: a full queue (or a stopped
// writer) drops it and counts it.
func (a *SignInAudit) add(f tenancy.SignInFailure) {
	if len(f.Members) == 0 {
		return
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		a.full.Add(1)
		return
	}
	select {
	case a.queue <- f:
	default:
		a.full.Add(1)
	}
}

// Run writes the queued failures until ctx ends, then those still queued
// (with ctx's values but not its end), and returns.
func (a *SignInAudit) Run(ctx context.Context) {
	wctx := context.WithoutCancel(ctx)
	for {
		select {
		case f := <-a.queue:
			a.write(wctx, f)
		case <-ctx.Done():
			a.mu.Lock() // no add is sending: none will after this
			a.closed = true
			a.mu.Unlock()
			for {
				select {
				case f := <-a.queue:
					a.write(wctx, f)
				default:
					if st := a.Stats(); st != (SignInAuditStats{}) {
						a.log.Info("dashboard: failed sign-ins not in the audit trail", "queue_full", st.QueueFull, "member_limit", st.MemberLimit, "failed", st.Failed)
					}
					return
				}
			}
		}
	}
}

func (a *SignInAudit) write(ctx context.Context, f tenancy.SignInFailure) {
	ms := f.Members[:0:0]
	for _, m := range f.Members {
		if a.limiter != nil && !a.limiter.TakeTarget(ctx, ratelimit.Target{Bucket: "member:signin_failed:" + m.ID, Limit: SignInFailuresPerMember}).Allowed {
			a.overMember.Add(1)
			continue
		}
		ms = append(ms, m)
	}
	if len(ms) == 0 {
		return
	}
	f.Members = ms
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second) // a stuck database does not hold a shutdown forever
	defer cancel()
	if err := a.store.RecordSignInFailure(ctx, f); err != nil {
		a.failed.Add(int64(len(ms)))
		a.log.Warn("dashboard: record a failed sign-in", "err", err)
	}
}
