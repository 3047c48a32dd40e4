package testwait_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

// recorder is a testing.TB that records a failure instead of ending the
// test, so the helpers' failures can be checked.
type recorder struct {
	testing.TB
	failed atomic.Bool
	msg    string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed.Store(true)
	r.msg = format
	// The helpers return after Fatalf only in this recorder; a real
	// testing.T would stop the goroutine.
	panic(r)
}

// run calls f with a recorder and reports whether it failed.
func run(t *testing.T, f func(tb testing.TB)) bool {
	r := &recorder{TB: t}
	func() {
		defer func() {
			if p := recover(); p != nil && p != any(r) {
				panic(p)
			}
		}()
		f(r)
	}()
	return r.failed.Load()
}

func TestUntil(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	go func() {
		for range 5 {
			n.Add(1)
		}
	}()
	if run(t, func(tb testing.TB) { testwait.Until(tb, 10*time.Second, "five", func() bool { return n.Load() == 5 }) }) {
		t.Fatal("Until failed on a condition that comes true")
	}
	if !run(t, func(tb testing.TB) { testwait.Until(tb, 20*time.Millisecond, "never", func() bool { return false }) }) {
		t.Fatal("Until did not fail on a condition that never holds")
	}
}

func TestProgress(t *testing.T) {
	t.Parallel()
	// Moving work is polled until done.
	steps := 0
	if run(t, func(tb testing.TB) {
		testwait.Progress(tb, 10*time.Second, "moving", func() (any, bool) {
			steps++
			return steps, steps == 50
		})
	}) || steps != 50 {
		t.Fatalf("Progress on work that keeps moving: failed, or stopped after %d steps", steps)
	}
	// Stuck work fails.
	if !run(t, func(tb testing.TB) {
		testwait.Progress(tb, 30*time.Millisecond, "stuck", func() (any, bool) { return "running", false })
	}) {
		t.Fatal("Progress did not fail on stuck work")
	}
}
