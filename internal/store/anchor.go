package store

import (
	"container/list"
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// A deep page asked for by number costs a skip over every row before it
// (tens to hundreds of milliseconds at 1M rows), and clients that walk a
// list by number (Permit's SDKs, scripts that count pages) ask for the
// pages in order. So the server keeps, for a deep page it served, the
// cursor of the page after it (in the node's memory on SQLite, in the
// list_anchors table on PostgreSQL, where the nodes share them: see
// getAnchor), tagged with the environment's
// facts_versions value (migration 00023: triggers on every fact table set
// it to a new random number in the writing transaction). The next page by
// number is read through that cursor, as a page by cursor costs, when the
// value is the same before and after the read and the same as the kept
// cursor's: no write committed in between, so the row before that page is
// where the cursor says, and the page and its count are those a skip would
// give. Anything else (another value, no kept cursor, a cursor the list
// refuses) reads the page as before and keeps the cursor after it.
//
// A list sorted by created_at ascending (the default) goes further: a row
// inserted after every row of the environment, in (created_at, id) order,
// lands after every kept cursor and moves none of them, so such a list
// keeps using its cursors through inserts. Migration 00025 gives
// facts_versions a second value, vr, which every write but such an insert
// changes (deletes, updates, an insert before the environment's tail);
// while it stands, a kept cursor of the list is still at its offset. Only
// a capped count (more rows than the list counts) is kept through inserts,
// since inserts do not lower it; an exact count needs v unchanged.
//
// What it relies on: every table a wrapped list reads is a fact table
// with the triggers (TestFactTablesHaveVersionTriggers checks that every
// authz_ table has them), nothing writes them with triggers off, and a
// list sorted by created_at orders its rows by (created_at, id) of the
// fact table they come from, as the triggers compare them.

// anchorCap bounds the kept cursors of a node on SQLite (each a hash, a
// cursor and a count: about 200 bytes).
const anchorCap = 4096

type anchorKey struct {
	list   [sha256.Size]byte // the list, its filter, sort, order and count cap
	offset int               // the page's first row
}

type anchor struct {
	version int64 // facts_versions.v when it was read
	vr      int64 // facts_versions.vr then
	cursor  string
	total   int
	capped  bool
}

// anchorCache is a bounded map of anchors; the least recently used goes
// first.
type anchorCache struct {
	mu    sync.Mutex
	m     map[anchorKey]*list.Element // of anchorEntry
	lru   list.List                   // most recently used first
	hits  int64                       // pages served through a kept cursor
	stale int64                       // kept cursors found outdated by a write
}

type anchorEntry struct {
	key anchorKey
	a   anchor
}

func (c *anchorCache) get(k anchorKey) (anchor, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		return anchor{}, false
	}
	c.lru.MoveToFront(e)
	return e.Value.(*anchorEntry).a, true
}

func (c *anchorCache) put(k anchorKey, a anchor) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[anchorKey]*list.Element)
	}
	if e, ok := c.m[k]; ok {
		e.Value.(*anchorEntry).a = a
		c.lru.MoveToFront(e)
		return
	}
	if c.lru.Len() >= anchorCap {
		last := c.lru.Back()
		delete(c.m, last.Value.(*anchorEntry).key)
		c.lru.Remove(last)
	}
	c.m[k] = c.lru.PushFront(&anchorEntry{key: k, a: a})
}

func (c *anchorCache) count(hit bool) {
	c.mu.Lock()
	if hit {
		c.hits++
	} else {
		c.stale++
	}
	c.mu.Unlock()
}

// AnchorPages reports how many deep pages by number this database's node
// read through a kept cursor (hits), and how many kept cursors it found
// outdated by a write (stale).
func (db *DB) AnchorPages() (hits, stale int64) {
	db.anchors.mu.Lock()
	defer db.anchors.mu.Unlock()
	return db.anchors.hits, db.anchors.stale
}

// factsVersion is envID's facts_versions values: v, which every write
// changes, and vr, which every write but an insert after the tail changes
// (both 0 before its first write).
func (s *Store) factsVersion(ctx context.Context, envID string) (factsVer, error) {
	var v factsVer
	err := s.reader().QueryRowContext(ctx, "SELECT v, vr FROM facts_versions WHERE env_id = $1", envID).Scan(&v.v, &v.vr)
	if err == sql.ErrNoRows {
		return factsVer{}, nil
	}
	if err != nil {
		return factsVer{}, fmt.Errorf("read the environment's data version: %w", err)
	}
	return v, nil
}

type factsVer struct{ v, vr int64 }

// still reports whether a kept cursor read at a is at its offset in the
// list as it is at now: nothing was written since, or (appends, a list
// that inserts after the tail cannot change) only such inserts, and the
// kept count was capped.
func (a anchor) still(now factsVer, appends bool) bool {
	return a.version == now.v || appends && a.capped && a.vr == now.vr
}

// listKey hashes what shapes a page besides its offset: the list, its
// filter (a struct of strings and pointers to strings, each field
// quoted), sort, order and count cap. ok is false for a filter of another
// shape: that list is not anchored.
func listKey(list string, filter any, page gatehouse.PageRequest) (sum [sha256.Size]byte, ok bool) {
	h := sha256.New()
	fmt.Fprintf(h, "%q", list)
	v := reflect.ValueOf(filter)
	if v.Kind() != reflect.Struct {
		return sum, false
	}
	for i := range v.NumField() {
		f := v.Field(i)
		switch {
		case f.Kind() == reflect.String:
			fmt.Fprintf(h, " %q", f.String())
		case f.Kind() == reflect.Pointer && f.Type().Elem().Kind() == reflect.String:
			if f.IsNil() {
				fmt.Fprint(h, " nil")
			} else {
				fmt.Fprintf(h, " &%q", f.Elem().String())
			}
		default:
			return sum, false
		}
	}
	fmt.Fprintf(h, " %q %t %d", page.Sort, page.Desc, page.CountUpTo)
	h.Sum(sum[:0])
	return sum, true
}

// anchored reads a page of one of envID's fact lists with read: a deep
// page by number through the cursor kept from the page before it when the
// environment's data has not changed since (see the top of this file).
// list names the list; filter is everything besides the page that shapes
// it.
func anchored[T any](ctx context.Context, s *Store, list, envID string, filter any, page gatehouse.PageRequest,
	read func(gatehouse.PageRequest) (gatehouse.Page[T], error)) (gatehouse.Page[T], error) {
	off := page.Offset()
	if s.noAnchors || s.tx != nil || page.Cursor != "" || page.PerPage <= 0 || off < deepOffset {
		return read(page)
	}
	sum, ok := listKey(list, filter, page)
	if !ok {
		return read(page)
	}
	key := anchorKey{list: sum, offset: off}
	v0, err := s.factsVersion(ctx, envID)
	if err != nil {
		return read(page) // no cursor used or kept
	}
	// Sorted by created_at ascending, the list's rows are in the order
	// the triggers compare inserts with the tail.
	appends := !page.Desc && (page.Sort == "" || page.Sort == "created_at")
	var out gatehouse.Page[T]
	a, hit := s.getAnchor(ctx, envID, key)
	if hit && !a.still(v0, appends) {
		s.db.anchors.count(false)
		hit = false
	}
	if hit {
		p := page
		p.Page, p.Cursor = 1, a.cursor
		if out, err = read(p); err != nil {
			hit = false // refused or failed: read it by number below
		} else {
			out.Total, out.TotalCapped = a.total, a.capped
		}
	}
	if !hit {
		if out, err = read(page); err != nil {
			return out, err
		}
	}
	v1, err := s.factsVersion(ctx, envID)
	// The page stands if nothing was written while it was read, or only
	// inserts after the tail into a capped list sorted by created_at.
	stands := err == nil && anchor{version: v0.v, vr: v0.vr, capped: out.TotalCapped}.still(v1, appends)
	if !stands {
		if hit {
			// A write may have committed while the page was read through
			// the cursor: the page is read as if none were kept.
			s.db.anchors.count(false)
			return read(page)
		}
		return out, nil // right as read; its cursor is not kept
	}
	if hit {
		s.db.anchors.count(true)
	}
	if out.NextCursor != "" {
		// The next cursor is at off+PerPage as of v1 too (only inserts
		// after the tail came between, if any).
		s.putAnchor(ctx, envID, anchorKey{list: sum, offset: off + page.PerPage},
			anchor{version: v1.v, vr: v1.vr, cursor: out.NextCursor, total: out.Total, capped: out.TotalCapped})
	}
	return out, nil
}

// getAnchor is the cursor kept for key: in the node's memory on SQLite (one
// node), in list_anchors on PostgreSQL, where the nodes share them (a walk
// whose pages a load balancer spreads over the nodes). A cursor that
// cannot be read is no cursor: the page is read by a skip.
func (s *Store) getAnchor(ctx context.Context, envID string, key anchorKey) (anchor, bool) {
	if s.db.Engine != Postgres {
		return s.db.anchors.get(key)
	}
	var a anchor
	var total int64
	err := s.reader().QueryRowContext(ctx, "SELECT version, vr, cursor, total, capped FROM list_anchors WHERE env_id = $1 AND list_key = $2 AND page_offset = $3",
		envID, key.list[:], key.offset).Scan(&a.version, &a.vr, &a.cursor, &total, &a.capped)
	if err != nil {
		return anchor{}, false
	}
	a.total = int(total)
	return a, true
}

// putAnchor keeps a for key (see getAnchor). On PostgreSQL one put in 32
// also deletes the environment's rows of another version or older than an
// hour. A cursor that cannot be kept costs the next page a skip, nothing
// more.
func (s *Store) putAnchor(ctx context.Context, envID string, key anchorKey, a anchor) {
	if s.db.Engine != Postgres {
		s.db.anchors.put(key, a)
		return
	}
	now := time.Now()
	if _, err := s.writer().ExecContext(ctx, "INSERT INTO list_anchors (env_id, list_key, page_offset, version, vr, cursor, total, capped, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"+
		" ON CONFLICT (env_id, list_key, page_offset) DO UPDATE SET version = excluded.version, vr = excluded.vr, cursor = excluded.cursor, total = excluded.total, capped = excluded.capped, created_at = excluded.created_at",
		envID, key.list[:], key.offset, a.version, a.vr, a.cursor, a.total, a.capped, micros(now)); err != nil {
		return
	}
	if rand.IntN(32) == 0 {
		// Of another version and another vr: no rule takes them.
		_, _ = s.writer().ExecContext(ctx, "DELETE FROM list_anchors WHERE env_id = $1 AND ((version <> $2 AND vr <> $3) OR created_at < $4)", envID, a.version, a.vr, micros(now.Add(-time.Hour)))
	}
}
