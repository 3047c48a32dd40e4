package batch_test

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"github.com/gatehouse-dev/gatehouse/internal/batch"
	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

// stalled is a store whose writes wait until release is closed; entered
// has a value once a write has begun.
type stalled[T any] struct {
	entered chan struct{}
	release chan struct{}
	write   func(context.Context, []T) error
}

func newStalled[T any](write func(context.Context, []T) error) *stalled[T] {
	return &stalled[T]{entered: make(chan struct{}, 1), release: make(chan struct{}), write: write}
}

func (s *stalled[T]) Write(ctx context.Context, rs []T) error {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	<-s.release
	return s.write(ctx, rs)
}

// start runs w until the returned stop is called; stop returns once Run
// has.
func start[T any](w *batch.Writer[T]) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	return func() { cancel(); <-done }
}

// TestStalledStoreHoldsAtMostBuffer: the records being written count
// against Buffer (and MaxBytes) until they are written, so while the store
// stalls the writer holds at most that many (it held the batch taken plus
// a whole new queue: twice Buffer). Queued counts both.
func TestStalledStoreHoldsAtMostBuffer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opt  batch.Options[int]
	}{
		{"Buffer", batch.Options[int]{Buffer: 10, Batch: 4, FlushEvery: time.Hour}},
		{"MaxBytes", batch.Options[int]{MaxBytes: 10, Size: func(int) int { return 1 }, Batch: 4, FlushEvery: time.Hour}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tb := &table{}
			store := newStalled(tb.write)
			w := batch.New("test records", store.Write, quiet, tc.opt)
			stop := start(w)
			for i := range 4 {
				if !w.Add(i) {
					t.Fatalf("record %d dropped", i)
				}
			}
			<-store.entered // the writer took the full batch; the store stalls
			accepted := []int{0, 1, 2, 3}
			for i := 4; i < 30; i++ {
				if w.Add(i) {
					accepted = append(accepted, i)
				}
			}
			if st := w.Stats(); len(accepted) != 10 || st.Queued != 10 || st.Dropped != 20 || st.Accepted != 10 {
				t.Fatalf("accepted %v while the store stalled, stats %+v; want 10 held (4 being written, 6 waiting), 20 dropped", accepted, st)
			}
			close(store.release)
			stop()
			rows, _ := tb.snapshot()
			if st := w.Stats(); !slices.Equal(rows, accepted) || st.Queued != 0 || st.Written != 10 {
				t.Fatalf("written %v, stats %+v; want %v", rows, st, accepted)
			}
		})
	}
}

// TestShutdownWritesUntilEmpty: records added while Run writes its last
// batch are written too (Run looks again until the queue is empty); a
// record added after Run returned is dropped and counted, not left in
// memory unaccounted for.
func TestShutdownWritesUntilEmpty(t *testing.T) {
	t.Parallel()
	tb := &table{}
	store := newStalled(tb.write)
	w := batch.New("test records", store.Write, quiet, batch.Options[int]{FlushEvery: time.Hour})
	w.Add(1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	<-store.entered // Run is writing what was queued when it stopped
	if !w.Add(2) || !w.Add(3) {
		t.Fatal("a record added during shutdown's write was dropped")
	}
	close(store.release)
	<-done
	if w.Add(4) {
		t.Fatal("a record added after Run returned was accepted")
	}
	rows, _ := tb.snapshot()
	if st := w.Stats(); !slices.Equal(rows, []int{1, 2, 3}) || st.Accepted != 3 || st.Written != 3 || st.Dropped != 1 || st.Lost != 1 || st.Queued != 0 {
		t.Fatalf("written %v, stats %+v; want 1, 2, 3 written and the later one dropped", rows, st)
	}
}

// TestBufferBelowBatchIsWrittenWhenFull: when Buffer is smaller than Batch
// the queue is full before a batch's worth waits; it is written then,
// not after FlushEvery with everything meanwhile dropped.
func TestBufferBelowBatchIsWrittenWhenFull(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tb := &table{}
		w := batch.New("test records", tb.write, quiet, batch.Options[int]{Buffer: 3, Batch: 10, FlushEvery: time.Hour})
		stop := start(w)
		defer stop()
		for i := range 3 {
			w.Add(i)
		}
		synctest.Wait()
		if rows, _ := tb.snapshot(); !slices.Equal(rows, []int{0, 1, 2}) {
			t.Fatalf("written before FlushEvery: %v, want the full queue", rows)
		}
	})
}

// TestManyProducers: producers adding at once, through full queues and a
// shutdown in the middle, lose nothing they were told was accepted, write
// nothing twice, and keep each producer's order.
func TestManyProducers(t *testing.T) {
	t.Parallel()
	const producers, each = 8, 4000
	tb := &table{}
	w := batch.New("test records", tb.write, quiet, batch.Options[int]{Buffer: 64, Batch: 7, FlushEvery: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	accepted := make([][]int, producers)
	var wg sync.WaitGroup
	var stopOnce sync.Once
	for p := range producers {
		wg.Go(func() {
			for i := range each {
				if r := p*each + i; w.Add(r) {
					accepted[p] = append(accepted[p], r)
				}
				if i%64 == 0 {
					runtime.Gosched() // let the writer keep up now and then
				}
			}
			stopOnce.Do(cancel) // the writer stops while the others still add
		})
	}
	wg.Wait()
	<-done
	rows, _ := tb.snapshot()
	byProducer := make([][]int, producers)
	seen := make(map[int]bool, len(rows))
	for _, r := range rows {
		if seen[r] {
			t.Fatalf("record %d written twice", r)
		}
		seen[r] = true
		byProducer[r/each] = append(byProducer[r/each], r)
	}
	total := 0
	for p := range producers {
		if !slices.Equal(byProducer[p], accepted[p]) {
			t.Fatalf("producer %d: written %d records, accepted %d, or not in its order", p, len(byProducer[p]), len(accepted[p]))
		}
		total += len(accepted[p])
	}
	st := w.Stats()
	if st.Accepted != int64(total) || st.Written != int64(total) || st.Dropped != int64(producers*each-total) || st.Failed != 0 || st.Queued != 0 {
		t.Fatalf("stats %+v; %d accepted, %d dropped by Add", st, total, producers*each-total)
	}
	t.Logf("%d of %d written", total, producers*each)
}

// heapInUse is the live heap after a collection.
func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// TestBurstMemoryIsReleased: a burst that fills the queue while the store
// stalls holds its records; once they are written and FlushEvery has
// passed with the chunks unused, they go back to the collector but for the
// few kept for reuse.
func TestBurstMemoryIsReleased(t *testing.T) {
	// Not parallel: it reads the heap.
	const records, batchLen = 1 << 15, 1000
	chunk := int64(batchLen) * int64(unsafe.Sizeof(entry{}))
	store := newStalled(func(context.Context, []entry) error { return nil })
	w := batch.New("entries", store.Write, quiet, batch.Options[entry]{Buffer: records, Batch: batchLen, FlushEvery: 10 * time.Millisecond})
	base := heapInUse()
	stop := start(w)
	for i := range records {
		if !w.Add(entry{a: "burst"}) {
			t.Fatalf("record %d dropped", i)
		}
	}
	<-store.entered
	held := heapInUse() - base
	if held < records*int64(unsafe.Sizeof(entry{}))*9/10 {
		t.Fatalf("heap %d bytes over the idle writer's during the burst, want about %d", held, records*int64(unsafe.Sizeof(entry{})))
	}
	close(store.release)
	testwait.Until(t, 10*time.Second, "the burst written", func() bool { return w.Stats().Queued == 0 })
	// The kept chunks (4), and room for the collector's slack.
	var after int64
	testwait.Until(t, 10*time.Second, "the burst's chunks released", func() bool {
		after = heapInUse() - base
		return after <= 6*chunk
	})
	t.Logf("heap during the burst +%d KB, after +%d KB (a chunk is %d KB)", held>>10, after>>10, chunk>>10)
	stop()
	runtime.KeepAlive(w)
}

// TestSteadyLoadAllocatesNothing: under a load the writer keeps up with,
// the queue's chunks are reused: adding records allocates nothing (the
// writer's own per-batch context aside), where the queue used to regrow
// from nothing every time more than two batches had waited.
func TestSteadyLoadAllocatesNothing(t *testing.T) {
	// Not parallel: it reads the process's allocation counters.
	synctest.Test(t, func(t *testing.T) {
		const batchLen, rounds = 100, 50
		w := batch.New("entries", func(context.Context, []entry) error { return nil }, quiet, batch.Options[entry]{Batch: batchLen, FlushEvery: time.Hour})
		stop := start(w)
		round := func() {
			for range 3 * batchLen { // three batches wait before the writer runs
				w.Add(entry{a: "steady"})
			}
			synctest.Wait()
		}
		round() // the chunks are made
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range rounds {
			round()
		}
		runtime.ReadMemStats(&after)
		stop()
		perAdd := float64(after.TotalAlloc-before.TotalAlloc) / (rounds * 3 * batchLen)
		if perAdd > 16 {
			t.Fatalf("%.0f bytes allocated per record added under a steady load, want next to none", perAdd)
		}
		t.Logf("%.1f bytes allocated per record added", perAdd)
	})
}
