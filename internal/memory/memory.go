// Package memory sets the Go runtime's soft memory limit from a size
// setting (--memory-limit) and returns freed memory to the operating system
// after the large transients a node goes through rarely (building the
// engines at start, a large import), at most once a minute.
package memory

import (
	"fmt"
	"math"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// units are the suffixes a size may have, binary and decimal.
var units = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"B", 1},
}

// ParseSize reads a size in bytes: a whole number with an optional unit
// (B, KB, MB, GB, KiB, MiB, GiB), such as 100MiB. Empty, "0" and "off"
// are 0 (no limit).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" || t == "off" {
		return 0, nil
	}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is not a size: want a whole number of bytes with an optional unit (B, KB, MB, GB, KiB, MiB, GiB), such as 100MiB; 0 or off for no limit", s)
	}
	return n * mult, nil
}

// FormatSize writes n as ParseSize reads it: the largest binary unit that
// divides it, "" for 0.
func FormatSize(n int64) string {
	if n == 0 {
		return ""
	}
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// MinLimit is the least limit accepted: below it the collector would run
// all the time for a process that holds an engine.
const MinLimit = 16 << 20

// SetLimit sets the runtime's soft memory limit to limit bytes (the
// collector runs more often as the heap nears it; it is not a cap: a
// process that needs more gets more). 0 leaves the limit alone (GOMEMLIMIT
// from the environment, or none).
func SetLimit(limit int64) error {
	if limit == 0 {
		return nil
	}
	if limit < MinLimit {
		return fmt.Errorf("%s is below the least memory limit, %s", FormatSize(limit), FormatSize(MinLimit))
	}
	debug.SetMemoryLimit(limit)
	return nil
}

// ReleaseEvery is the least time between two Release calls that return
// memory.
const ReleaseEvery = time.Minute

var released struct {
	sync.Mutex
	at time.Time
}

// Release collects and returns the freed memory to the operating system,
// unless it did so less than ReleaseEvery ago; it reports whether it did.
// It stops the world for a collection (milliseconds at 100k assignments):
// call it after a rare large transient, never on a request's path.
func Release() bool {
	now := time.Now()
	released.Lock()
	due := released.at.IsZero() || now.Sub(released.at) >= ReleaseEvery
	if due {
		released.at = now
	}
	released.Unlock()
	if due {
		debug.FreeOSMemory()
	}
	return due
}

// SoonGap is the least time between a ReleaseSoon and the release before
// it.
const SoonGap = 5 * time.Second

// pending is set while a ReleaseSoon waits to run.
var pending atomic.Bool

// ReleaseSoon returns the freed memory to the operating system after a
// large transient that ends now and recurs with the load (a PDP's snapshot
// served): at once if the last release is SoonGap old, else once that much
// has passed since it; requests in between share one release. Unlike
// Release it never drops the request: the release that ran just before
// (the engines built at start, then the first PDP asking for its snapshot)
// could not return this transient's garbage, and the collector would keep
// it mapped as room to grow (at 1M assignments, hundreds of MB).
func ReleaseSoon() {
	if !pending.CompareAndSwap(false, true) {
		return
	}
	released.Lock()
	wait := time.Until(released.at.Add(SoonGap))
	released.Unlock()
	time.AfterFunc(max(wait, 0), func() {
		released.Lock()
		released.at = time.Now()
		released.Unlock()
		pending.Store(false) // a transient ending from now on needs a release of its own
		debug.FreeOSMemory()
	})
}
