package usage

import (
	"sort"
	"sync"
	"time"
)

// CallCache keeps the settled buckets of API call counts, so that a usage
// read scans the API log only from where the last one stopped: a bucket
// that ended more than Settle ago gets no more calls (the log is written
// within seconds), and is kept for TTL. Each node has its own; entries are
// keyed by the caller (the organization, project, environment, width and
// grouping), so one key's reads never see another's.
type CallCache struct {
	// Settle is how long after a bucket's end its count is final;
	// TTL how long an entry is used before the log is read again in full
	// (so that pruned or late rows are seen eventually).
	Settle, TTL time.Duration
	Now         func() time.Time
	// MaxEntries bounds the cache; when full it starts again.
	MaxEntries int

	mu sync.Mutex
	m  map[string]*callEntry
}

type callEntry struct {
	from, until time.Time // the settled buckets cover [from, until)
	made        time.Time
	buckets     []CallBucket
}

// NewCallCache returns a cache with the defaults: buckets settle after 2
// minutes, entries last 10, at most 10,000 of them.
func NewCallCache() *CallCache {
	return &CallCache{Settle: 2 * time.Minute, TTL: 10 * time.Minute, Now: time.Now, MaxEntries: 10_000}
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
	e := c.m[key]
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
	if c.m == nil || len(c.m) >= c.MaxEntries {
		c.m = map[string]*callEntry{}
	}
	if e != nil && c.m[key] == e {
		if e.until.Equal(from) { // no other read moved it meanwhile
			e.buckets = append(e.buckets, settledNow...)
			e.until = maxTime(e.until, settled)
		}
	} else if e == nil {
		c.m[key] = &callEntry{from: since, until: maxTime(since, settled), made: now, buckets: settledNow}
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
