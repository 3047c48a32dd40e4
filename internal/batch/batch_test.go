package batch_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/batch"
)

// table is a store in memory that writes a batch all or nothing, like a
// transaction: it refuses a batch holding a record it cannot take, or fails
// while it is down.
type table struct {
	mu     sync.Mutex
	rows   []int
	writes int
	refuse func(int) bool // records the store never takes
	down   int            // writes that fail as if the store were unreachable
}

func (tb *table) write(_ context.Context, rs []int) error {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.writes++
	if tb.down > 0 {
		tb.down--
		return errors.New("dial tcp 127.0.0.1:5432: connection refused")
	}
	for _, r := range rs {
		if tb.refuse != nil && tb.refuse(r) {
			return gatehouse.Errorf(gatehouse.CodeInvalidRequest, "record %d refused", r)
		}
	}
	tb.rows = append(tb.rows, rs...)
	return nil
}

func (tb *table) snapshot() ([]int, int) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return slices.Clone(tb.rows), tb.writes
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// run adds records to a writer over tb and stops it (which writes
// everything queued), returning the writer.
func run(t *testing.T, tb *table, records []int, opt batch.Options[int]) *batch.Writer[int] {
	t.Helper()
	w := batch.New("test records", tb.write, quiet, opt)
	for _, r := range records {
		if !w.Add(r) {
			t.Fatalf("record %d dropped", r)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Run drains the queue and returns
	w.Run(ctx)
	return w
}

// TestRefusedRecordCostsOnlyItself: a batch holding one record the store
// refuses (another tenant's, say) is written record by record: every other
// record is kept, the refused one alone is lost and counted.
func TestRefusedRecordCostsOnlyItself(t *testing.T) {
	t.Parallel()
	var records []int
	for i := range 250 {
		records = append(records, i)
	}
	tb := &table{refuse: func(r int) bool { return r == 42 || r == 177 }}
	w := run(t, tb, records, batch.Options[int]{Batch: 100})
	rows, _ := tb.snapshot()
	want := slices.DeleteFunc(slices.Clone(records), tb.refuse)
	slices.Sort(rows)
	if !slices.Equal(rows, want) {
		t.Fatalf("written %d records, want the %d others: %v", len(rows), len(want), rows)
	}
	st := w.Stats()
	if w.Lost() != 2 || st.Failed != 2 || st.Lost != 2 || st.Dropped != 0 || st.Written != 248 {
		t.Fatalf("Lost() %d, stats %+v; want 2 lost, 248 written", w.Lost(), st)
	}
}

// TestUnavailableStoreIsRetried: a store that is down for a moment is
// retried with the whole batch; nothing is lost and nothing is written
// twice. (synctest's clock: the writer's back-off waits take no time.)
func TestUnavailableStoreIsRetried(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tb := &table{down: 2}
		w := run(t, tb, []int{1, 2, 3}, batch.Options[int]{})
		rows, writes := tb.snapshot()
		if !slices.Equal(rows, []int{1, 2, 3}) || writes != 3 || w.Lost() != 0 {
			t.Fatalf("rows %v after %d writes, lost %d; want all three in the third write", rows, writes, w.Lost())
		}
	})
}

// TestUnavailableStoreIsNotTriedRecordByRecord: when the store stays down,
// the batch is lost after its retries and one record's try, not after a
// try (and a timeout) per record.
func TestUnavailableStoreIsNotTriedRecordByRecord(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tb := &table{down: 1 << 30}
		records := make([]int, 500)
		w := run(t, tb, records, batch.Options[int]{})
		_, writes := tb.snapshot()
		if writes != 4+1 || w.Lost() != 500 || w.Stats().Failed != 500 {
			t.Fatalf("%d writes, lost %d; want 4 tries of the batch and 1 of a record, 500 lost", writes, w.Lost())
		}
	})
}

// TestSplitRefusedOnly: with SplitRefusedOnly a batch the store failed
// (it may have taken it, its answer lost) is lost whole after its retries,
// never written again record by record; a refused batch still is.
func TestSplitRefusedOnly(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tb := &table{down: 4}
		w := run(t, tb, []int{1, 2, 3}, batch.Options[int]{SplitRefusedOnly: true})
		rows, writes := tb.snapshot()
		if len(rows) != 0 || writes != 4 || w.Lost() != 3 || w.Stats().Failed != 3 {
			t.Fatalf("rows %v after %d writes, lost %d; want 4 tries of the batch, none of a record, 3 lost", rows, writes, w.Lost())
		}
		tb = &table{refuse: func(r int) bool { return r == 2 }}
		w = run(t, tb, []int{1, 2, 3}, batch.Options[int]{SplitRefusedOnly: true})
		if rows, _ := tb.snapshot(); !slices.Equal(rows, []int{1, 3}) || w.Lost() != 1 {
			t.Fatalf("a refused batch: rows %v, lost %d; want 1 and 3 written record by record", rows, w.Lost())
		}
	})
}

// TestLostCountsDrops: a record dropped because the queue is full is lost
// too.
func TestLostCountsDrops(t *testing.T) {
	t.Parallel()
	tb := &table{}
	w := batch.New("test records", tb.write, quiet, batch.Options[int]{Buffer: 2})
	for i := range 5 {
		w.Add(i)
	}
	if st := w.Stats(); w.Lost() != 3 || st.Dropped != 3 || st.Lost != 3 || st.Queued != 2 {
		t.Fatalf("Lost() %d, stats %+v; want 3 dropped", w.Lost(), st)
	}
}

// entry is a record of a decision log entry's size.
type entry struct {
	a, b, c, d string
	m          map[string]any
	pad        [26]int64
}

// TestIdleWriterHoldsNoQueue: a writer's queue grows with what waits, so
// one with room for 65,536 large records holds next to nothing until
// records come (a channel of that capacity held 17 MB in every node and
// PDP).
func TestIdleWriterHoldsNoQueue(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	w := batch.New("entries", func(context.Context, []entry) error { return nil }, quiet, batch.Options[entry]{Buffer: 1 << 16})
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<10 {
		t.Fatalf("New allocated %d bytes for an empty queue", grew)
	}
	runtime.KeepAlive(w)
}

// TestFullBatchIsWrittenAtOnce: once a batch's worth of records waits it
// is written without waiting for FlushEvery; fewer wait for it.
func TestFullBatchIsWrittenAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb := &table{}
		w := batch.New("test records", tb.write, quiet, batch.Options[int]{Batch: 10, FlushEvery: time.Hour})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { defer close(done); w.Run(ctx) }()
		for i := range 25 {
			w.Add(i)
		}
		synctest.Wait()
		rows, _ := tb.snapshot()
		if len(rows) < 10 || len(rows) > 25 {
			t.Fatalf("written before FlushEvery: %d rows, want the full batches", len(rows))
		}
		// synctest's fake clock: the hour passes at once, when every
		// goroutine in the bubble is blocked (no real wait).
		time.Sleep(time.Hour)
		synctest.Wait()
		if rows, _ = tb.snapshot(); len(rows) != 25 || w.Stats().Queued != 0 {
			t.Fatalf("after FlushEvery: %d rows written, %d queued", len(rows), w.Stats().Queued)
		}
		for i := range 5 {
			w.Add(100 + i)
		}
		cancel()
		<-done
		if rows, _ = tb.snapshot(); len(rows) != 30 || !slices.Equal(rows[25:], []int{100, 101, 102, 103, 104}) {
			t.Fatalf("after stop: %v", rows)
		}
	})
}
