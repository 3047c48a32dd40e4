package batch_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/batch"
)

// BenchmarkAdd is the hot path's cost of handing a record the size of a
// decision log entry to a writer (default options) while its writer runs
// and a store takes everything at once. Producers run in parallel:
// "steady" ones yield after each record, as request handlers do (they wait
// on the network), so the writer keeps up; "overload" ones never do, and
// outrun the writer (dropped/op says how often).
func BenchmarkAdd(b *testing.B) {
	for _, bc := range []struct {
		name  string
		yield bool
	}{{"steady", true}, {"overload", false}} {
		b.Run(bc.name, func(b *testing.B) {
			w := batch.New("entries", func(context.Context, []entry) error { return nil }, quiet, batch.Options[entry]{})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); w.Run(ctx) }()
			e := entry{a: "org", b: "project", c: "environment", d: "alice"}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					w.Add(e)
					if bc.yield {
						runtime.Gosched()
					}
				}
			})
			b.StopTimer()
			cancel()
			<-done
			b.ReportMetric(float64(w.Stats().Dropped)/float64(b.N), "dropped/op")
		})
	}
}
