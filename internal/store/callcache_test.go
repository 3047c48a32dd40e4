package store_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apilog"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
)

// The call cache over the real log: every read equals a full read of the
// log, while a read after the first scans only from the settled buckets'
// end; an entry of another key or a window before the cached one reads in
// full.
func TestCallCacheMatchesTheLog(t *testing.T) {
	t.Parallel()
	db, err := store.OpenLogSQLite(context.Background(), storetest.NewLogSQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, ctx := db.LogStore(), context.Background()
	t0 := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	now := t0.Add(10*time.Hour + 30*time.Minute)
	cache := usage.NewCallCache()
	cache.Now = func() time.Time { return now }
	cache.TTL = 2 * time.Hour
	n := 0
	write := func(at time.Time, status int, key string) {
		t.Helper()
		n++
		if err := st.WriteAPILog(ctx, []apilog.Call{{ID: fmt.Sprintf("cc-%d", n), Time: at, OrganizationID: "o", ActorID: key, Status: status}}); err != nil {
			t.Fatal(err)
		}
	}
	for h := range 10 {
		write(t0.Add(time.Duration(h)*time.Hour+time.Minute), 200, "k1")
		write(t0.Add(time.Duration(h)*time.Hour+2*time.Minute), 404, "k2")
	}
	f, by, width := apilog.Filter{OrgID: "o"}, usage.CallGrouping{Status: true, Key: true}, time.Hour
	var scanned []time.Time
	read := func(key string, since time.Time) {
		t.Helper()
		got, err := cache.Get(key, since, now, width, func(from time.Time) ([]usage.CallBucket, error) {
			scanned = append(scanned, from)
			return st.CallUsage(ctx, f, from, now, width, by)
		})
		if err != nil {
			t.Fatal(err)
		}
		want, err := st.CallUsage(ctx, f, since, now, width, by)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("since %v: cached %+v\nwant %+v", since, got, want)
		}
	}
	read("a", t0)
	read("a", t0)                           // scans from the settled end: 10:00 (10:30 less 2 minutes, in hours)
	write(now.Add(-time.Minute), 500, "k1") // the open bucket
	read("a", t0.Add(3*time.Hour))
	now = now.Add(time.Hour) // 11:30: 10:00–11:00 has settled
	write(now.Add(-10*time.Minute), 200, "k3")
	read("a", t0.Add(3*time.Hour))
	read("a", t0.Add(4*time.Hour))
	read("a", t0.Add(2*time.Hour)) // earlier than the last read, still within the entry
	read("b", t0)                  // another key
	want := []time.Time{t0, t0.Add(10 * time.Hour), t0.Add(10 * time.Hour), t0.Add(10 * time.Hour), t0.Add(11 * time.Hour), t0.Add(11 * time.Hour), t0}
	if !reflect.DeepEqual(scanned, want) {
		t.Errorf("scanned from %v, want %v", scanned, want)
	}
	// After the TTL the log is read in full again.
	now = now.Add(2 * time.Hour)
	scanned = nil
	read("a", t0)
	if len(scanned) != 1 || !scanned[0].Equal(t0) {
		t.Errorf("after the TTL: scanned from %v", scanned)
	}
}

// The call cache's budget: past MaxBuckets the least recently used entry
// is dropped (not every entry), and an entry over MaxEntryBuckets is not
// kept at all.
func TestCallCacheBudget(t *testing.T) {
	t.Parallel()
	db, err := store.OpenLogSQLite(context.Background(), storetest.NewLogSQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, ctx := db.LogStore(), context.Background()
	t0 := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	now := t0.Add(10*time.Hour + 30*time.Minute)
	for h := range 10 {
		calls := []apilog.Call{
			{ID: fmt.Sprintf("cb-%d-a", h), Time: t0.Add(time.Duration(h)*time.Hour + time.Minute), OrganizationID: "o", ActorID: "k1", Status: 200},
			{ID: fmt.Sprintf("cb-%d-b", h), Time: t0.Add(time.Duration(h)*time.Hour + 2*time.Minute), OrganizationID: "o", ActorID: "k2", Status: 200},
		}
		if err := st.WriteAPILog(ctx, calls); err != nil {
			t.Fatal(err)
		}
	}
	cache := usage.NewCallCache()
	cache.Now = func() time.Time { return now }
	cache.MaxBuckets, cache.MaxEntryBuckets = 25, 15
	// Grouped by status: 10 settled buckets an entry; by status and key: 20.
	var scanned time.Time
	read := func(key string, by usage.CallGrouping) {
		t.Helper()
		got, err := cache.Get(key, t0, now, time.Hour, func(from time.Time) ([]usage.CallBucket, error) {
			scanned = from
			return st.CallUsage(ctx, apilog.Filter{OrgID: "o"}, from, now, time.Hour, by)
		})
		if err != nil {
			t.Fatal(err)
		}
		want, err := st.CallUsage(ctx, apilog.Filter{OrgID: "o"}, t0, now, time.Hour, by)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: cached %+v\nwant %+v", key, got, want)
		}
	}
	status, both := usage.CallGrouping{Status: true}, usage.CallGrouping{Status: true, Key: true}
	settled := t0.Add(10 * time.Hour)
	read("a", status)
	read("b", status)
	if e, b := cache.Len(); e != 2 || b != 20 {
		t.Fatalf("after a and b: %d entries, %d buckets", e, b)
	}
	read("a", status) // a is now the most recently used
	if !scanned.Equal(settled) {
		t.Fatalf("a again scanned from %v", scanned)
	}
	read("c", status) // 30 buckets > 25: b goes, a stays
	if e, b := cache.Len(); e != 2 || b != 20 {
		t.Fatalf("after c: %d entries, %d buckets", e, b)
	}
	read("a", status)
	if !scanned.Equal(settled) {
		t.Errorf("a was dropped: scanned from %v", scanned)
	}
	read("b", status)
	if !scanned.Equal(t0) {
		t.Errorf("b was kept: scanned from %v", scanned)
	}
	// 20 buckets > MaxEntryBuckets: not kept, nor does it evict others.
	entries, buckets := cache.Len()
	read("big", both)
	read("big", both)
	if !scanned.Equal(t0) {
		t.Errorf("an entry over MaxEntryBuckets was kept: scanned from %v", scanned)
	}
	if e, b := cache.Len(); e != entries || b != buckets {
		t.Errorf("after the big entry: %d entries, %d buckets; want %d, %d", e, b, entries, buckets)
	}
}

// A late row (a long request's, logged at its end with its start's time)
// in a bucket the cache holds as settled is counted once the entry's TTL
// has passed: at most 2 minutes after it was written by default.
func TestCallCacheLateRow(t *testing.T) {
	t.Parallel()
	db, err := store.OpenLogSQLite(context.Background(), storetest.NewLogSQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, ctx := db.LogStore(), context.Background()
	t0 := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	now := t0.Add(2 * time.Hour)
	write := func(id string, at time.Time) {
		t.Helper()
		if err := st.WriteAPILog(ctx, []apilog.Call{{ID: id, Time: at, OrganizationID: "o", ActorID: "k", Status: 200}}); err != nil {
			t.Fatal(err)
		}
	}
	write("early", t0.Add(10*time.Minute))
	cache := usage.NewCallCache()
	cache.Now = func() time.Time { return now }
	f, by := apilog.Filter{OrgID: "o"}, usage.CallGrouping{Status: true}
	total := func() int64 {
		t.Helper()
		got, err := cache.Get("a", t0, now, time.Minute, func(from time.Time) ([]usage.CallBucket, error) {
			return st.CallUsage(ctx, f, from, now, time.Minute, by)
		})
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, b := range got {
			n += b.Calls
		}
		return n
	}
	if n := total(); n != 1 {
		t.Fatalf("first read: %d calls", n)
	}
	// A stream opened at 0:30 ends now and its row is written now.
	write("late", t0.Add(30*time.Minute))
	now = now.Add(2*time.Minute + time.Second)
	if n := total(); n != 2 {
		t.Fatalf("the late row, over 2 minutes after its write: %d calls, want 2", n)
	}
}

// An empty window counts nothing, on both engines, without an error: a
// window whose since is its until (or after it), and the call cache
// polling "the last full hour", whose second read scans from the settled
// end, which is until itself.
func TestCallUsageEmptyWindow(t *testing.T) {
	t.Parallel()
	for name, open := range logEngines {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st, ctx := open(t).LogStore(), context.Background()
			t0 := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
			now := t0.Add(10*time.Hour + 30*time.Minute)
			for h := range 10 {
				if err := st.WriteAPILog(ctx, []apilog.Call{{ID: fmt.Sprintf("ew-%d", h), Time: t0.Add(time.Duration(h)*time.Hour + time.Minute),
					OrganizationID: "o", ActorID: "k1", Status: 200}}); err != nil {
					t.Fatal(err)
				}
			}
			f, by := apilog.Filter{OrgID: "o"}, usage.CallGrouping{Status: true, Key: true}
			for _, w := range []time.Duration{time.Minute, time.Hour, 24 * time.Hour} {
				for _, until := range []time.Time{t0.Add(5 * time.Hour), t0.Add(4 * time.Hour)} {
					got, err := st.CallUsage(ctx, f, t0.Add(5*time.Hour), until, w, by)
					if err != nil || len(got) != 0 {
						t.Fatalf("since 05:00 until %v by %v: %+v, %v; want nothing", until, w, got, err)
					}
				}
			}
			cache := usage.NewCallCache()
			cache.Now = func() time.Time { return now }
			until := now.Truncate(time.Hour) // the last full hour: 10:00, the settled end too
			for i := range 3 {
				got, err := cache.Get("k", t0, until, time.Hour, func(from time.Time) ([]usage.CallBucket, error) {
					return st.CallUsage(ctx, f, from, until, time.Hour, by)
				})
				if err != nil || len(got) != 10 {
					t.Fatalf("read %d of the last full hours: %d buckets, %v; want 10", i+1, len(got), err)
				}
			}
			if full, partial := cache.Scans(); full != 1 || partial != 2 {
				t.Fatalf("scans: %d full, %d partial; want 1 and 2", full, partial)
			}
		})
	}
}
