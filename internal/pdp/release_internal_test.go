package pdp

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

// A large save returns memory at once, or, within releaseGap of the last
// release, when the gap is up: deferred, never dropped, one release for
// the saves in between.
func TestReleaseAfterSaveIsDeferredNotDropped(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	p := &PDP{freeOSMemory: func() { calls.Add(1) }}
	p.releaseAfter(100) // a small save: nothing to give back
	p.releaseAfter(2 << 20)
	testwait.Until(t, 10*time.Second, "the first release", func() bool { return calls.Load() == 1 })

	p.mu.Lock()
	p.released = time.Now().Add(-releaseGap + 3*time.Second) // the gap is up in 3 s
	p.mu.Unlock()
	p.releaseAfter(2 << 20)
	p.releaseAfter(2 << 20) // shares the pending release
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d releases within the gap, want the one before it", n)
	}
	testwait.Until(t, 20*time.Second, "the deferred release", func() bool { return calls.Load() >= 2 })
	p.mu.Lock()
	pending := p.releasing
	p.mu.Unlock()
	if n := calls.Load(); n != 2 || pending {
		t.Fatalf("%d releases (another pending: %v), want 2: the saves in the gap share one", n, pending)
	}
}
