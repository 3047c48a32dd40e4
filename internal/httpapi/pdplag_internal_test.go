package httpapi

import (
	"testing"
	"time"
)

// ci: race
// TestPDPLags: a stream behind its environment's feed reports the
// positions between what it was sent and the node's head, and the time
// since it was last current; a current one reports 0; a key's streams
// report the worst; a closed stream is no longer reported.
func TestPDPLags(t *testing.T) {
	t.Parallel()
	r := NewPDPStreams(PDPLimits{})
	now := time.Now()
	heads := map[string]int64{"env_a": 120, "env_b": 40}
	head := func(env string) (int64, bool) { h, ok := heads[env]; return h, ok }

	behind, err := r.open("key_1", "env_a")
	if err != nil {
		t.Fatal(err)
	}
	behind.pos.Store(100)
	behind.current.Store(now.Add(-3 * time.Second).UnixNano())
	current, err := r.open("key_1", "env_a")
	if err != nil {
		t.Fatal(err)
	}
	current.pos.Store(120)
	other, err := r.open("key_2", "env_b")
	if err != nil {
		t.Fatal(err)
	}
	other.pos.Store(40)
	unloaded, err := r.open("key_3", "env_gone") // its engine is not loaded here
	if err != nil {
		t.Fatal(err)
	}
	unloaded.pos.Store(1)

	lags := r.Lags(now, head)
	for _, tc := range []struct {
		key       string
		positions int64
		seconds   float64
	}{{"key_1", 20, 3}, {"key_2", 0, 0}, {"key_3", 0, 0}} {
		l, ok := lags[tc.key]
		if !ok || l.Positions != tc.positions || l.Seconds < tc.seconds || (tc.seconds == 0 && l.Seconds != 0) || l.Seconds > tc.seconds+1 {
			t.Errorf("%s: %+v (present %v), want %d positions and about %vs", tc.key, l, ok, tc.positions, tc.seconds)
		}
	}
	if r.Open() != 4 {
		t.Errorf("open streams %d, want 4", r.Open())
	}
	for _, s := range []*pdpStream{behind, current, other, unloaded} {
		r.close(s)
	}
	if lags := r.Lags(now, head); len(lags) != 0 || r.Open() != 0 {
		t.Errorf("after closing: %v, %d open", lags, r.Open())
	}
}
