// Package ratelimit limits requests per hour with GCRA (the generic cell
// rate algorithm) over one of two stores with the same semantics: memory,
// for a single node, and Redis, shared by many nodes.
//
// Why GCRA: it keeps one number per bucket (the theoretical arrival time),
// so a decision is one read-modify-write, atomic in a mutex or a Redis
// script; it has no window edges (a sliding-window log costs memory per
// request, a fixed window allows twice the limit across an edge); and its
// state gives everything the X-RateLimit headers need. With a burst equal to
// the limit, a fresh bucket accepts exactly `limit` requests at once, then
// one more every period/limit.
package ratelimit

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"time"
)

// Period is the window limits are expressed in: limits are per hour.
const Period = time.Hour

// Result is one decision.
type Result struct {
	Allowed    bool
	Limit      int
	Remaining  int           // requests that would be accepted right now
	Reset      time.Time     // when the bucket is full again
	RetryAfter time.Duration // when denied: how long until one request is accepted
}

// Store makes GCRA decisions on buckets.
type Store interface {
	// Take spends one request of bucket, whose limit is limit per Period.
	Take(ctx context.Context, bucket string, limit int) (Result, error)
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
}

// Shared is a store that many nodes share (Redis). A Limiter over one
// counts the live nodes through it, to know its share of each limit when
// the store cannot be reached, and tells it afterwards what it let through
// meanwhile.
type Shared interface {
	Store
	// Heartbeat records node alive for ttl and returns how many nodes are
	// alive (node included).
	Heartbeat(ctx context.Context, node string, ttl time.Duration) (int, error)
	// Leave forgets node at once (it is stopping).
	Leave(ctx context.Context, node string) error
	// Charge counts requests let through without the store against their
	// buckets, whether or not the buckets allow them now, and sets each
	// charge's Full.
	Charge(ctx context.Context, charges []Charge) error
}

// Charge is N requests of a bucket whose limit is Limit; Full is set by
// the store: how long until the bucket is full again, after the charge.
type Charge struct {
	Bucket string
	Limit  int
	N      int
	Full   time.Duration
}

// gcra decides on a bucket whose theoretical arrival time is tat (0 when
// new), at now; all in nanoseconds. It returns the result and the new tat
// (unchanged when denied).
func gcra(tat, now int64, limit int) (Result, int64) {
	period := int64(Period)
	interval := period / int64(limit)
	if tat < now {
		tat = now
	}
	next := tat + interval
	allowAt := next - period
	if now < allowAt {
		return Result{Allowed: false, Limit: limit, Remaining: 0, Reset: time.Unix(0, tat), RetryAfter: time.Duration(allowAt - now)}, tat
	}
	remaining := int((period - (next - now)) / interval)
	return Result{Allowed: true, Limit: limit, Remaining: remaining, Reset: time.Unix(0, next)}, next
}

// Memory is the single-node store: buckets in sharded maps.
type Memory struct {
	seed   maphash.Seed
	shards [64]memShard
	now    func() time.Time
}

type memShard struct {
	mu  sync.Mutex
	tat map[string]int64
	_   [40]byte // keep shards on separate cache lines
}

// NewMemory returns an empty memory store.
func NewMemory() *Memory {
	m := &Memory{seed: maphash.MakeSeed(), now: time.Now}
	for i := range m.shards {
		m.shards[i].tat = map[string]int64{}
	}
	return m
}

// Take implements Store.
func (m *Memory) Take(_ context.Context, bucket string, limit int) (Result, error) {
	if limit <= 0 {
		return Result{}, errors.New("ratelimit: limit must be positive")
	}
	s := &m.shards[maphash.String(m.seed, bucket)%uint64(len(m.shards))]
	now := m.now().UnixNano()
	s.mu.Lock()
	res, tat := gcra(s.tat[bucket], now, limit)
	s.tat[bucket] = tat
	s.mu.Unlock()
	return res, nil
}

// Ping implements Store.
func (m *Memory) Ping(context.Context) error { return nil }

// Sweep forgets buckets that are full again (their state equals a new
// bucket's), so memory follows the active buckets.
func (m *Memory) Sweep() {
	now := m.now().UnixNano()
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for k, tat := range s.tat {
			if tat <= now {
				delete(s.tat, k)
			}
		}
		s.mu.Unlock()
	}
}

// Len is the number of buckets held.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.tat)
		s.mu.Unlock()
	}
	return n
}
