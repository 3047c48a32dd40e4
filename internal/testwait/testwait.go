// Package testwait lets tests wait for a state instead of for a length of
// time: a condition is polled (every few milliseconds, backing off to
// 50 ms) until it holds. Until gives up after a timeout; Progress gives up
// only when nothing has moved for a while, so a slow or busy machine gets
// the time it needs and a stuck program still fails.
package testwait

import (
	"fmt"
	"testing"
	"time"
)

// pause returns the next poll interval after d: 2 ms doubling up to 50 ms.
func pause(d time.Duration) time.Duration {
	switch {
	case d == 0:
		return 2 * time.Millisecond
	case d >= 25*time.Millisecond:
		return 50 * time.Millisecond
	}
	return 2 * d
}

// Until polls cond until it returns true, and fails t (naming what) if it
// has not within timeout.
func Until(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var d time.Duration
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		d = pause(d)
		time.Sleep(d)
	}
}

// Progress polls step until it reports done. step also reports how far
// the work has got (any comparable value, e.g. a count or a status); t
// fails (naming what and the last progress) when that value has not
// changed for idle.
func Progress(t testing.TB, idle time.Duration, what string, step func() (progress any, done bool)) {
	t.Helper()
	last, done := step()
	moved := time.Now()
	var d time.Duration
	for !done {
		if time.Since(moved) > idle {
			t.Fatalf("%s: no progress for %v (stuck at %v)", what, idle, last)
		}
		d = pause(d)
		time.Sleep(d)
		var now any
		now, done = step()
		if fmt.Sprint(now) != fmt.Sprint(last) {
			last, moved, d = now, time.Now(), 0
		}
	}
}
