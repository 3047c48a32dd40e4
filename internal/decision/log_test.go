package decision_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// memSink keeps what it is given; it can be slowed down or made to fail.
type memSink struct {
	mu      sync.Mutex
	got     []decision.Entry
	batches int
	block   chan struct{} // when set, writes wait for it
	fail    atomic.Int32  // the next n writes fail
}

func (m *memSink) WriteDecisions(_ context.Context, es []decision.Entry) error {
	if m.block != nil {
		<-m.block
	}
	if m.fail.Load() > 0 {
		m.fail.Add(-1)
		return errors.New("disk full")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.got = append(m.got, es...)
	m.batches++
	return nil
}

func (m *memSink) len() int { m.mu.Lock(); defer m.mu.Unlock(); return len(m.got) }

func full(context.Context, string) (decision.Policy, error) {
	return decision.Policy{Mode: decision.ModeFull}, nil
}

// Everything queued before shutdown is written, in batches, with ids.
func TestRecorderDrainsOnShutdown(t *testing.T) {
	sink := &memSink{}
	r := decision.NewRecorder(sink, full, quiet, decision.Options{Batch: 100, FlushEvery: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	for range 2500 {
		if !r.Record(decision.Entry{User: "u"}) {
			t.Fatal("dropped with room in the queue")
		}
	}
	cancel()
	<-done
	if n := sink.len(); n != 2500 {
		t.Fatalf("written %d of 2500", n)
	}
	if st := r.Stats(); st.Written != 2500 || st.Dropped != 0 || st.Queued != 0 {
		t.Fatalf("stats %+v", st)
	}
	ids := map[string]bool{}
	for _, e := range sink.got {
		ids[e.ID] = true
	}
	if len(ids) != 2500 {
		t.Fatalf("%d distinct ids for 2500 entries", len(ids))
	}
}

// A full queue drops and counts instead of blocking the check path.
func TestRecorderNeverBlocks(t *testing.T) {
	sink := &memSink{block: make(chan struct{})}
	r := decision.NewRecorder(sink, full, quiet, decision.Options{Buffer: 10, Batch: 1, FlushEvery: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	start := time.Now()
	for range 1000 {
		r.Record(decision.Entry{})
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Record blocked: %s for 1000 entries", d)
	}
	if st := r.Stats(); st.Dropped < 900 {
		t.Fatalf("stats %+v: the queue of 10 should have dropped most", st)
	}
	close(sink.block)
	cancel()
	<-done
}

// A failing sink is retried; a sink that keeps failing loses the batch and
// says so in the counters. In a synctest bubble: the retries' backoff
// passes in the bubble's time, at once.
func TestRecorderRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &memSink{}
		sink.fail.Store(2)
		r := decision.NewRecorder(sink, full, quiet, decision.Options{FlushEvery: time.Millisecond})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { r.Run(ctx); close(done) }()
		r.Record(decision.Entry{User: "a"})
		untilFake(t, time.Minute, "written after two failures", func() bool { return sink.len() == 1 })
		sink.fail.Store(100)
		r.Record(decision.Entry{User: "b"})
		untilFake(t, time.Hour, "given up", func() bool { return r.Stats().Failed == 1 })
		if st := r.Stats(); st.Failed != 1 || st.Written != 1 {
			t.Fatalf("stats %+v", st)
		}
		cancel()
		<-done
	})
}

// untilFake waits, in a synctest bubble, until cond holds, and fails t if
// it has not within d of the bubble's time (which passes whenever every
// goroutine of the bubble waits, taking no real time).
func untilFake(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		synctest.Wait()
		time.Sleep(time.Millisecond)
	}
}

// Policies are read once, answered from memory, refreshed in the
// background after the TTL, replaced at once by SetPolicy. In a synctest
// bubble: the TTL passes in the bubble's time.
func TestRecorderPolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var reads atomic.Int32
		mode := atomic.Value{}
		mode.Store(decision.ModeOff)
		src := func(_ context.Context, env string) (decision.Policy, error) {
			reads.Add(1)
			if env == "gone" {
				return decision.Policy{}, gatehouse.Errorf(gatehouse.CodeNotFound, "no such environment")
			}
			return decision.Policy{Mode: mode.Load().(string), SampleRate: 0.5}, nil
		}
		r := decision.NewRecorder(&memSink{}, src, quiet, decision.Options{PolicyTTL: 50 * time.Millisecond})
		ctx := context.Background()
		for range 100 {
			if r.Sampled(ctx, "e1") {
				t.Fatal("off but sampled")
			}
		}
		if n := reads.Load(); n != 1 {
			t.Fatalf("%d reads for 100 checks", n)
		}
		mode.Store(decision.ModeFull)
		time.Sleep(40 * time.Millisecond) // within the TTL: still the old policy
		if m := r.Policy(ctx, "e1").Mode; m != decision.ModeOff || reads.Load() != 1 {
			t.Fatalf("policy %s after %d reads, within its TTL", m, reads.Load())
		}
		time.Sleep(20 * time.Millisecond) // past the TTL
		r.Policy(ctx, "e1")               // starts the refresh
		untilFake(t, time.Second, "the policy refreshed", func() bool { return r.Policy(ctx, "e1").Mode == decision.ModeFull })
		r.SetPolicy("e1", decision.Policy{Mode: decision.ModeOff})
		if r.Sampled(ctx, "e1") {
			t.Fatal("SetPolicy not applied at once")
		}
		if p := r.Policy(ctx, "gone"); p.Mode != decision.ModeOff {
			t.Fatalf("unreadable policy: %+v", p)
		}
	})
}

func TestPolicySample(t *testing.T) {
	tests := []struct {
		p        decision.Policy
		min, max int
	}{
		{decision.Policy{Mode: decision.ModeOff, SampleRate: 1}, 0, 0},
		{decision.Policy{Mode: decision.ModeFull}, 10000, 10000},
		{decision.Policy{Mode: decision.ModeSampled, SampleRate: 0}, 0, 0},
		{decision.Policy{Mode: decision.ModeSampled, SampleRate: 1}, 10000, 10000},
		{decision.Policy{Mode: decision.ModeSampled, SampleRate: 0.1}, 800, 1200}, // mean 1000, sd 30
	}
	for _, tc := range tests {
		n := 0
		for range 10000 {
			if tc.p.Sample() {
				n++
			}
		}
		if n < tc.min || n > tc.max {
			t.Errorf("%+v: %d of 10000, want %d..%d", tc.p, n, tc.min, tc.max)
		}
	}
}

// BenchmarkRecord is the check path's cost of recording: the policy lookup
// and the hand-off to the queue (a draining writer runs beside it).
func BenchmarkRecord(b *testing.B) {
	r := decision.NewRecorder(&discard{}, full, quiet, decision.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	e := decision.Entry{OrganizationID: "o", ProjectID: "p", EnvironmentID: "e", User: "alice", Action: "read", ResourceType: "document",
		Tenant: "default", Allow: true, Reason: "granted", Role: "reader"}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if r.Sampled(ctx, "e") {
			e.Time = time.Now()
			r.Record(e)
		}
	}
	b.StopTimer()
	cancel()
	<-done
	b.ReportMetric(float64(r.Stats().Dropped), "dropped")
}

// BenchmarkRecordOff is the cost when the environment records nothing.
func BenchmarkRecordOff(b *testing.B) {
	r := decision.NewRecorder(&discard{}, func(context.Context, string) (decision.Policy, error) {
		return decision.Policy{Mode: decision.ModeOff}, nil
	}, quiet, decision.Options{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if r.Sampled(ctx, "e") {
			b.Fatal("sampled while off")
		}
	}
}

type discard struct{}

func (discard) WriteDecisions(context.Context, []decision.Entry) error { return nil }
