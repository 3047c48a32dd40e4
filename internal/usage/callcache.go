package usage

import (
	"container/list"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// CallCache keeps the settled buckets of API call counts, so that a usage
// read scans the API log only from where the last one stopped: a bucket
// that ended more than Settle ago gets no more calls (the log is written
// within seconds), and is kept for TTL. Each node has its own; entries are
// keyed by the caller (the organization, project, environment, width and
// grouping), so one key's reads never see another's.
//
// A log row's time is its request's start but it is written at the end, so
// a long request (a PDP change stream, an export) or a retried log write
// lands in a bucket already settled here. Such a row is missed by this
// node's cached counts until the entry's TTL passes (2 minutes by default):
// a read sees every row written more than TTL before it, and nodes differ
// by at most the rows written within the last TTL.
type CallCache struct {
	// Settle is how long after a bucket's end its count is final;
	// TTL how long an entry is used before the log is read again in full
	// (so that pruned or late rows are seen eventually).
	Settle, TTL time.Duration
	Now         func() time.Time
	// MaxEntries and MaxBuckets bound the cache: the entries kept and the
	// buckets of all of them. Past either, the least recently used entries
	// are dropped. An entry of more than MaxEntryBuckets is not kept.
	MaxEntries, MaxBuckets, MaxEntryBuckets int

	full, partial atomic.Int64 // scans from since, and from a cached entry's end

	mu      sync.Mutex
	m       map[string]*list.Element // of *callEntry
	lru     list.List                // most recently used first
	buckets int                      // in all entries
}

type callEntry struct {
	key         string
	from, until time.Time // the settled buckets cover [from, until)
	made        time.Time
	buckets     []CallBucket
}

// NewCallCache returns a cache with the defaults: buckets settle after 2
// minutes, entries last 2; at most 10,000 entries and 500,000 buckets in
// all (some 50 MB), none of over 20,000 buckets.
func NewCallCache() *CallCache {
	return &CallCache{Settle: 2 * time.Minute, TTL: 2 * time.Minute, Now: time.Now,
		MaxEntries: 10_000, MaxBuckets: 500_000, MaxEntryBuckets: 20_000}
}

// Scans is how many reads scanned the log from their start (full) and
// from a cached entry's end (partial).
func (c *CallCache) Scans() (full, partial int64) { return c.full.Load(), c.partial.Load() }

// Len is the number of entries and of buckets in all of them.
func (c *CallCache) Len() (entries, buckets int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m), c.buckets
}

// entry is key's entry, marked as just used (c.mu held).
func (c *CallCache) entry(key string) *callEntry {
	el := c.m[key]
	if el == nil {
		return nil
	}
	c.lru.MoveToFront(el)
	return el.Value.(*callEntry)
}

// drop forgets key's entry (c.mu held).
func (c *CallCache) drop(key string) {
	if el := c.m[key]; el != nil {
		c.buckets -= len(el.Value.(*callEntry).buckets)
		c.lru.Remove(el)
		delete(c.m, key)
	}
}

// put keeps e, dropping the least recently used entries past the bounds
// (c.mu held); an entry over MaxEntryBuckets is not kept.
func (c *CallCache) put(e *callEntry) {
	c.drop(e.key)
	if c.MaxEntryBuckets > 0 && len(e.buckets) > c.MaxEntryBuckets {
		return
	}
	if c.m == nil {
		c.m = map[string]*list.Element{}
	}
	c.m[e.key] = c.lru.PushFront(e)
	c.buckets += len(e.buckets)
	for c.lru.Len() > 1 && ((c.MaxEntries > 0 && c.lru.Len() > c.MaxEntries) || (c.MaxBuckets > 0 && c.buckets > c.MaxBuckets)) {
		c.drop(c.lru.Back().Value.(*callEntry).key)
	}
	if c.MaxBuckets > 0 && c.buckets > c.MaxBuckets {
		c.drop(e.key)
	}
}

// Get returns the buckets of [since, until) of width (since on a bucket
// boundary), from the cache where settled and from scan(from) for the
// rest: scan reads [from, until) from the log.
func (c *CallCache) Get(key string, since, until time.Time, width time.Duration, scan func(from time.Time) ([]CallBucket, error)) ([]CallBucket, error) {
	if c == nil {
		return scan(since)
	}
	now := c.Now()
	settled := now.Add(-c.Settle).UTC().Truncate(width) // buckets before it are final
	if until.Before(settled) {
		return scan(since) // a window in the past: not what the cache is for
	}
	c.mu.Lock()
	e := c.entry(key)
	if e != nil && (now.Sub(e.made) > c.TTL || since.Before(e.from) || since.After(e.until)) {
		e = nil
	}
	var kept []CallBucket
	from := since
	if e != nil {
		for _, b := range e.buckets {
			if !b.Start.Before(since) {
				kept = append(kept, b)
			}
		}
		from = e.until
	}
	c.mu.Unlock()

	if e != nil {
		c.partial.Add(1)
	} else {
		c.full.Add(1)
	}
	fresh, err := scan(from)
	if err != nil {
		return nil, err
	}
	// Keep what has settled since.
	var settledNow []CallBucket
	for _, b := range fresh {
		if b.Start.Add(width).After(settled) {
			break // oldest first: the rest are not settled either
		}
		settledNow = append(settledNow, b)
	}
	c.mu.Lock()
	if el := c.m[key]; e != nil && el != nil && el.Value == e {
		if e.until.Equal(from) { // no other read moved it meanwhile
			grown := *e
			grown.buckets = append(e.buckets[:len(e.buckets):len(e.buckets)], settledNow...)
			grown.until = maxTime(e.until, settled)
			c.put(&grown)
		}
	} else if e == nil {
		c.put(&callEntry{key: key, from: since, until: maxTime(since, settled), made: now, buckets: settledNow})
	}
	c.mu.Unlock()
	out := append(kept[:len(kept):len(kept)], fresh...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
