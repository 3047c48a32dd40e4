package fine

import (
	"context"
	"testing"
	"time"
)

// BenchmarkSpiceDBFullScale (a probe, run once: -bench SpiceDBFullScale
// -benchtime 1x, about 2 minutes) times 30 verified SpiceDB checks (embedded and
// server without the dispatch cache) and the 10k list at scale 1, where a
// full benchmark would not finish in bounded time.
func BenchmarkSpiceDBFullScale(b *testing.B) {
	t := b
	ctx := context.Background()
	r := LoadReBAC(1, 1000)
	s, err := NewSpiceDB(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t.Logf("loaded %d in %v", r.Relationships(), s.Load)
	for _, c := range []struct {
		name string
		f    func(i int) (bool, error)
	}{
		{"embedded", func(i int) (bool, error) { return s.Check(ctx, &r.Checks[i].Request) }},
		{"grpc", func(i int) (bool, error) { return s.CheckGRPC(ctx, &r.Checks[i].Request) }},
	} {
		var worst time.Duration
		start := time.Now()
		n := 0
		for i := 0; i < 30; i++ {
			t0 := time.Now()
			ok, err := c.f(i)
			if err != nil || ok != r.Checks[i].Want {
				t.Fatalf("%s %d: %v %v want %v", c.name, i, ok, err, r.Checks[i].Want)
			}
			worst = max(worst, time.Since(t0))
			n++
		}
		t.Logf("%s: %d checks, mean %v, worst %v", c.name, n, time.Since(start)/time.Duration(n), worst)
	}
	t0 := time.Now()
	got, err := s.List(ctx, &r.Lists[1])
	t.Logf("list: %d (want %d) %v in %v", len(got), len(r.Lists[1].Want), err, time.Since(t0))
}
