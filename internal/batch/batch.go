// Package batch hands records from hot request paths to a background
// writer: Add never blocks (a full queue drops the record and counts it),
// Run writes in batches and, when its context ends, writes everything still
// queued (and whatever is added meanwhile) before returning, so a graceful
// shutdown loses nothing; a record added after that is dropped and
// counted. Records being written still count against the queue's bounds.
// A batch the store refuses is written again record by record, so one
// record the store cannot take costs only itself, never the rest of its
// batch.
package batch

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// Options tune a Writer; zero values take the defaults.
type Options[T any] struct {
	Buffer     int           // records held before new ones are dropped (default 65,536)
	MaxBytes   int64         // bytes held (by Size) before new ones are dropped (default: no bound)
	Size       func(T) int   // a record's size for MaxBytes (by value: taking its address would move every record to the heap)
	Batch      int           // records written at once (default 1,000)
	FlushEvery time.Duration // longest a record waits in memory (default 200 ms)
	// Prepare runs on the writer goroutine before a batch is written (ids,
	// redaction: work kept off the request path).
	Prepare func([]T)
	// SplitRefusedOnly: a batch that still fails after its retries is
	// written record by record only when the store refused it; when the
	// store failed, the batch is lost whole. For a store that may have
	// taken a batch it reported failed (a server whose answer was lost),
	// where records written again one by one would be written twice.
	SplitRefusedOnly bool
}

// Writer queues records and writes them in batches.
//
// The queue is a list of chunks of Batch records (or Buffer, when that is
// smaller) that grows with what is waiting, up to Options.Buffer records,
// not a channel of that capacity: a channel's ring is allocated whole up
// front (65,536 decision entries are 17 MB of a node's and a PDP's
// resident memory, however quiet they are). A full chunk is written as one
// batch and then kept for reuse, so under steady load (and under a load the
// writer cannot keep up with) Add allocates nothing and the queue grows
// without copying what waits. Kept chunks that went unused for a whole
// FlushEvery go back to the collector but for keepFree: a burst's memory is
// released within two FlushEvery.
type Writer[T any] struct {
	write    func(context.Context, []T) error
	log      *slog.Logger
	what     string
	opt      Options[T]
	chunkLen int // records in a chunk: min(Batch, Buffer)

	mu     sync.Mutex
	chunks [][]T         // waiting records, oldest first, in chunks of chunkLen (all full but the last); guarded by mu
	queued int           // records in chunks; guarded by mu
	free   [][]T         // empty chunks kept for reuse; guarded by mu
	unused int           // fewest chunks in free since the last trim: so many went unused; guarded by mu
	closed bool          // Run has written its last: Add drops; guarded by mu
	full   chan struct{} // a chunk filled: a batch's worth is waiting (capacity 1)

	// pending are records Run has taken from the queue and not yet written
	// (or lost): they still count against Buffer, so a store that stalls
	// holds at most Buffer records in memory, not the queue taken plus a
	// new one.
	pending                            atomic.Int64
	bytes                              atomic.Int64
	accepted, written, dropped, failed atomic.Int64
}

// keepFree is how many empty chunks a writer keeps for reuse however long
// they go unused: enough for a steady load's queue and the batch being
// written, few enough that an idle writer holds little (4 chunks of 1,000
// decision entries are about 1 MB).
const keepFree = 4

// New returns a writer that writes with write; what names the records in
// logs. Start Run.
func New[T any](what string, write func(context.Context, []T) error, log *slog.Logger, opt Options[T]) *Writer[T] {
	if opt.Buffer <= 0 {
		opt.Buffer = 1 << 16
	}
	if opt.Batch <= 0 {
		opt.Batch = 1000
	}
	if opt.FlushEvery <= 0 {
		opt.FlushEvery = 200 * time.Millisecond
	}
	return &Writer[T]{write: write, log: log, what: what, opt: opt, chunkLen: min(opt.Batch, opt.Buffer), full: make(chan struct{}, 1)}
}

// Add queues r without blocking. It reports false when r was dropped
// because the queue was full (counting the records being written), or Run
// had already returned.
func (w *Writer[T]) Add(r T) bool {
	var n int64
	if w.opt.MaxBytes > 0 && w.opt.Size != nil {
		n = int64(w.opt.Size(r))
		if w.bytes.Add(n) > w.opt.MaxBytes {
			w.bytes.Add(-n)
			w.dropped.Add(1)
			return false
		}
	}
	w.mu.Lock()
	if w.closed || w.queued+int(w.pending.Load()) >= w.opt.Buffer {
		w.mu.Unlock()
		w.bytes.Add(-n)
		w.dropped.Add(1)
		return false
	}
	last := len(w.chunks) - 1
	if last < 0 || len(w.chunks[last]) == w.chunkLen {
		w.chunks = append(w.chunks, w.chunk())
		last++
	}
	w.chunks[last] = append(w.chunks[last], r) // within the chunk's capacity: never a copy
	w.queued++
	filled := len(w.chunks[last]) == w.chunkLen
	w.mu.Unlock()
	w.accepted.Add(1)
	if filled {
		select {
		case w.full <- struct{}{}:
		default:
		}
	}
	return true
}

// chunk returns an empty chunk, a kept one if there is one. w.mu is held.
func (w *Writer[T]) chunk() []T {
	if n := len(w.free); n > 0 {
		c := w.free[n-1]
		w.free[n-1] = nil
		w.free = w.free[:n-1]
		w.unused = min(w.unused, n-1)
		return c
	}
	return make([]T, 0, w.chunkLen)
}

// recycle keeps c, written and cleared, for reuse.
func (w *Writer[T]) recycle(c []T) {
	w.mu.Lock()
	w.free = append(w.free, c[:0])
	w.mu.Unlock()
}

// trim leaves to the collector the kept chunks that went unused since the
// last trim, but for keepFree. Run calls it every FlushEvery: a load that
// uses many chunks keeps them (a drained queue refills without
// allocating), a burst's are released once it has passed.
func (w *Writer[T]) trim() {
	w.mu.Lock()
	if drop := min(w.unused, len(w.free)-keepFree); drop > 0 {
		n := len(w.free) - drop
		clear(w.free[n:])
		w.free = w.free[:n]
	}
	w.unused = len(w.free)
	w.mu.Unlock()
}

// Stats are a writer's counters since it started.
type Stats struct {
	// Accepted records were queued; each ends Written or Failed.
	Accepted int64 `json:"accepted"`
	Written  int64 `json:"written"`
	Dropped  int64 `json:"dropped" doc:"Records dropped because the in-memory queue was full."`
	Failed   int64 `json:"failed" doc:"Records lost because the store refused them (alone, or was unavailable)."`
	Lost     int64 `json:"lost" doc:"Records that never reached the store: dropped plus failed."`
	Queued   int   `json:"queued" doc:"Records in memory: waiting, or being written."`
}

// Stats returns the counters.
func (w *Writer[T]) Stats() Stats {
	d, f := w.dropped.Load(), w.failed.Load()
	w.mu.Lock()
	queued := w.queued + int(w.pending.Load())
	w.mu.Unlock()
	return Stats{Accepted: w.accepted.Load(), Written: w.written.Load(), Dropped: d, Failed: f, Lost: d + f, Queued: queued}
}

// Lost is how many records never reached the store since the writer
// started: dropped on a full queue or refused by the store. It only grows
// (a counter for metrics and /readyz).
func (w *Writer[T]) Lost() uint64 { return uint64(w.dropped.Load() + w.failed.Load()) }

// Run writes queued records until ctx ends, then writes what is still
// queued, again until a look finds nothing (records added while the last
// were written are written too), and returns. Records added after that are
// dropped and counted: nothing is left in memory unaccounted for.
func (w *Writer[T]) Run(ctx context.Context) {
	tick := time.NewTicker(w.opt.FlushEvery)
	defer tick.Stop()
	var spine [][]T // the last list of chunks taken, reused for the next queue
	drain := func(last bool) int {
		w.mu.Lock()
		taken, took := w.chunks, w.queued
		w.chunks, w.queued = spine[:0], 0
		w.pending.Add(int64(took))
		if last && took == 0 {
			w.closed = true
		}
		w.mu.Unlock()
		for i, c := range taken {
			var size int64
			if w.opt.MaxBytes > 0 && w.opt.Size != nil {
				for _, r := range c {
					size += int64(w.opt.Size(r))
				}
			}
			w.flush(c[:len(c):len(c)])
			clear(c) // the records' strings and maps go to the collector
			// Only now is their memory free: a store that stalls keeps
			// them counted against Buffer and MaxBytes.
			w.bytes.Add(-size)
			w.pending.Add(-int64(len(c)))
			w.recycle(c)
			taken[i] = nil
		}
		spine = taken[:0]
		return took
	}
	for {
		select {
		case <-w.full:
			drain(false)
		case <-tick.C:
			drain(false)
			w.trim()
		case <-ctx.Done():
			for drain(true) > 0 {
			}
			return
		}
	}
}

// flush writes one batch, retrying when the store fails (after 100 ms,
// 400 ms and 1.6 s). When the batch still fails, its records are written
// one at a time: a record the store refuses is lost alone and the others
// are kept. The first record that fails for another reason (the store is
// unavailable, not the record wrong) ends that: the rest are lost with it
// instead of each waiting for its own timeout.
func (w *Writer[T]) flush(batch []T) {
	if w.opt.Prepare != nil {
		w.opt.Prepare(batch)
	}
	err := w.writeRetrying(batch)
	if err == nil {
		w.written.Add(int64(len(batch)))
		return
	}
	if len(batch) == 1 || (w.opt.SplitRefusedOnly && !refusal(err)) {
		w.failed.Add(int64(len(batch)))
		w.log.Error("write "+w.what+"; records lost", "records", len(batch), "err", err)
		return
	}
	w.log.Warn("write "+w.what+"; writing the batch record by record", "records", len(batch), "err", err)
	refused := 0
	for i := range batch {
		err := w.writeOnce(batch[i : i+1])
		if err == nil {
			w.written.Add(1)
			continue
		}
		if !refusal(err) {
			rest := len(batch) - i
			w.failed.Add(int64(rest))
			w.log.Error("write "+w.what+"; the store is unavailable, records lost", "records", rest, "refused_before", refused, "err", err)
			return
		}
		refused++
		w.failed.Add(1)
		w.log.Error("write "+w.what+"; the store refused a record, record lost", "record", i, "err", err)
	}
}

// writeRetrying writes batch, retrying errors that a retry may cure.
func (w *Writer[T]) writeRetrying(batch []T) error {
	var err error
	wait := 100 * time.Millisecond
	for attempt := 0; attempt < 4; attempt++ {
		if attempt > 0 {
			time.Sleep(wait)
			wait *= 4
		}
		if err = w.writeOnce(batch); err == nil || refusal(err) {
			return err // retrying cannot help a refusal
		}
	}
	return err
}

func (w *Writer[T]) writeOnce(batch []T) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return w.write(ctx, batch)
}

// refusal reports whether err says the store will never take the records
// (they are invalid or conflict with what is stored), as opposed to the
// store failing.
func refusal(err error) bool {
	switch gatehouse.ErrorCode(err) {
	case gatehouse.CodeInvalidRequest, gatehouse.CodeConflict, gatehouse.CodeForbidden, gatehouse.CodeUnauthorized:
		return true
	}
	return false
}
