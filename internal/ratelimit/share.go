package ratelimit

import (
	"hash/maphash"
	"sync"
)

// shares is what a node knows of each bucket on its own. While the shared
// store answers it holds each bucket's theoretical arrival time from the
// store's last answer; while the store does not, the node spends its own
// share of each bucket from that state and counts what it let through, to
// tell the store when it answers again.
//
// Why the stored state fits a share: GCRA's state, read as "time until the
// bucket is full again" (tat - now), means the same fraction used whatever
// the limit: a bucket of limit L with R requests left and one of limit L/N
// in the same state has R/N left. So a node that falls back starts from
// its share of what was left at its last answer, not from a full bucket.
type shares struct {
	seed   maphash.Seed
	shards [64]shareShard
}

type shareShard struct {
	mu sync.Mutex
	m  map[string]shareEntry
	_  [48]byte // keep shards on separate cache lines
}

type shareEntry struct {
	tat     int64 // nanoseconds, this node's clock
	limit   int   // the bucket's whole limit, for the charge
	pending int   // let through on this node's share, not yet charged
}

func newShares() *shares {
	s := &shares{seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].m = map[string]shareEntry{}
	}
	return s
}

func (s *shares) shard(bucket string) *shareShard {
	return &s.shards[maphash.String(s.seed, bucket)%uint64(len(s.shards))]
}

// observe records the store's answer on bucket: its theoretical arrival
// time (answers arrive in any order; the state only moves forward).
func (s *shares) observe(bucket string, tat int64) {
	sh := s.shard(bucket)
	sh.mu.Lock()
	if e := sh.m[bucket]; tat > e.tat {
		e.tat = tat
		sh.m[bucket] = e
	}
	sh.mu.Unlock()
}

// take spends one request of this node's share (share per Period) of
// bucket, whose whole limit is limit, at now.
func (s *shares) take(bucket string, limit, share int, now int64, count bool) Result {
	sh := s.shard(bucket)
	sh.mu.Lock()
	e := sh.m[bucket]
	res, tat := gcra(e.tat, now, share)
	e.tat = tat
	if res.Allowed && count {
		e.pending++
		e.limit = limit
	}
	sh.m[bucket] = e
	sh.mu.Unlock()
	return res
}

// drain returns what was let through and not yet charged, and forgets it.
func (s *shares) drain() []Charge {
	var out []Charge
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for k, e := range sh.m {
			if e.pending > 0 {
				out = append(out, Charge{Bucket: k, Limit: e.limit, N: e.pending})
				e.pending = 0
				sh.m[k] = e
			}
		}
		sh.mu.Unlock()
	}
	return out
}

// undrain gives back charges the store did not take.
func (s *shares) undrain(charges []Charge) {
	for _, c := range charges {
		sh := s.shard(c.Bucket)
		sh.mu.Lock()
		e := sh.m[c.Bucket]
		e.pending += c.N
		e.limit = c.Limit
		sh.m[c.Bucket] = e
		sh.mu.Unlock()
	}
}

// sweep forgets buckets that are full again and owe the store nothing.
func (s *shares) sweep(now int64) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for k, e := range sh.m {
			if e.tat <= now && e.pending == 0 {
				delete(sh.m, k)
			}
		}
		sh.mu.Unlock()
	}
}

// len is the number of buckets held.
func (s *shares) len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}
