// Package batch hands records from hot request paths to a background
// writer: Add never blocks (a full queue drops the record and counts it),
// Run writes in batches and, when its context ends, writes everything still
// queued before returning, so a graceful shutdown loses nothing.
package batch

import (
	"context"
	"log/slog"
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
}

// Writer queues records and writes them in batches.
type Writer[T any] struct {
	write func(context.Context, []T) error
	log   *slog.Logger
	what  string
	opt   Options[T]
	ch    chan T

	bytes                    atomic.Int64
	written, dropped, failed atomic.Int64
}

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
	return &Writer[T]{write: write, log: log, what: what, opt: opt, ch: make(chan T, opt.Buffer)}
}

// Add queues r without blocking. It reports false when r was dropped
// because the queue was full.
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
	select {
	case w.ch <- r:
		return true
	default:
		w.bytes.Add(-n)
		w.dropped.Add(1)
		return false
	}
}

// Stats are a writer's counters since it started.
type Stats struct {
	Written int64 `json:"written"`
	Dropped int64 `json:"dropped" doc:"Records dropped because the in-memory queue was full."`
	Failed  int64 `json:"failed" doc:"Records lost because the store refused them."`
	Queued  int   `json:"queued"`
}

// Stats returns the counters.
func (w *Writer[T]) Stats() Stats {
	return Stats{Written: w.written.Load(), Dropped: w.dropped.Load(), Failed: w.failed.Load(), Queued: len(w.ch)}
}

// Run writes queued records until ctx ends, then writes what is still
// queued and returns.
func (w *Writer[T]) Run(ctx context.Context) {
	tick := time.NewTicker(w.opt.FlushEvery)
	defer tick.Stop()
	batch := make([]T, 0, w.opt.Batch)
	take := func(r T) {
		if w.opt.MaxBytes > 0 && w.opt.Size != nil {
			w.bytes.Add(-int64(w.opt.Size(r)))
		}
		batch = append(batch, r)
		if len(batch) >= w.opt.Batch {
			w.flush(batch)
			batch = batch[:0]
		}
	}
	for {
		select {
		case r := <-w.ch:
			take(r)
		case <-tick.C:
			if len(batch) > 0 {
				w.flush(batch)
				batch = batch[:0]
			}
		case <-ctx.Done():
			for {
				select {
				case r := <-w.ch:
					take(r)
				default:
					if len(batch) > 0 {
						w.flush(batch)
					}
					return
				}
			}
		}
	}
}

// flush writes one batch, retrying when the store fails (after 100 ms,
// 400 ms and 1.6 s).
func (w *Writer[T]) flush(batch []T) {
	if w.opt.Prepare != nil {
		w.opt.Prepare(batch)
	}
	var err error
	wait := 100 * time.Millisecond
	for attempt := 0; attempt < 4; attempt++ {
		if attempt > 0 {
			time.Sleep(wait)
			wait *= 4
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = w.write(ctx, batch)
		cancel()
		if err == nil {
			w.written.Add(int64(len(batch)))
			return
		}
		if code := gatehouse.ErrorCode(err); code == gatehouse.CodeInvalidRequest || code == gatehouse.CodeForbidden || code == gatehouse.CodeUnauthorized {
			break // retrying cannot help
		}
	}
	w.failed.Add(int64(len(batch)))
	w.log.Error("write "+w.what+"; records lost", "records", len(batch), "err", err)
}
