package fine

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/client/authz/authztest"
)

// Suite runs every comparison; the benchmarks of this package and
// cmd/finebench run the same code.
type Suite struct {
	Scale      float64 // Gatehouse (1 = 200k documents)
	FGAScale   float64 // OpenFGA, and Gatehouse again for the ratio
	SpiceScale float64 // SpiceDB, and Gatehouse again for the ratio
	Checks     int
	OpenFGA    bool
	SpiceDB    bool
	Log        io.Writer // progress: sizes, load times
}

// Run is called once per measurement; name is "op/engine/scale=s".
type Run func(name string, f func(b *testing.B))

func (s *Suite) logf(format string, args ...any) {
	if s.Log != nil {
		fmt.Fprintf(s.Log, format+"\n", args...)
	}
}

func benchChecks(b *testing.B, checks []authztest.FineQuery, check func(q *authz.Request) (bool, error)) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q := &checks[i%len(checks)]
		ok, err := check(&q.Request)
		if err != nil || ok != q.Want {
			b.Fatalf("%+v = %v %v, want %v", q.Request, ok, err, q.Want)
		}
	}
}

func benchList(b *testing.B, l *ListQuery, list func(l *ListQuery) ([]string, error)) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got, err := list(l)
		if err != nil || len(got) != len(l.Want) {
			b.Fatalf("list %s: %d keys (%v), want %d", l.User, len(got), err, len(l.Want))
		}
	}
}

// ReBAC measures checks and the list of the user who sees about 10k
// documents (at scale 1): Gatehouse at every scale, OpenFGA at FGAScale,
// SpiceDB at SpiceScale. Every engine's answers are verified first.
func (s *Suite) ReBAC(ctx context.Context, run Run) error {
	var scales []float64
	for _, sc := range []float64{s.FGAScale, s.SpiceScale, s.Scale} {
		if sc > 0 && !slices.Contains(scales, sc) {
			scales = append(scales, sc)
		}
	}
	for _, sc := range scales {
		start := time.Now()
		r := LoadReBAC(sc, s.Checks)
		name := fmt.Sprintf("scale=%g", sc)
		s.logf("ReBAC %s: %d relationships, %d checks (%d allowed), list of %d documents for %s; generated and answered by the model in %v",
			name, r.Relationships(), len(r.Checks), r.Allowed, len(r.Lists[1].Want), Lister, time.Since(start).Round(time.Millisecond))
		start = time.Now()
		e, err := r.Gatehouse()
		if err != nil {
			return err
		}
		s.logf("  gatehouse: loaded in %v", time.Since(start).Round(time.Millisecond))
		if err := r.VerifyGatehouse(e); err != nil {
			return err
		}
		listQ := &authz.Request{User: r.Lists[1].User, Resource: r.Lists[1].Resource, Action: r.Lists[1].Action}
		run("check/gatehouse/"+name, func(b *testing.B) {
			benchChecks(b, r.Checks, func(q *authz.Request) (bool, error) { return e.Decide(q).Allow, nil })
		})
		run("list/gatehouse/"+name, func(b *testing.B) {
			benchList(b, &r.Lists[1], func(*ListQuery) ([]string, error) { return e.ListResources(listQ), nil })
		})
		if s.OpenFGA && sc == s.FGAScale {
			start = time.Now()
			f, err := NewOpenFGA(ctx, r)
			if err != nil {
				return err
			}
			s.logf("  openfga: wrote %d tuples in %v", r.Relationships(), f.Load.Round(time.Millisecond))
			if err := f.Verify(ctx, r); err != nil {
				f.Close()
				return err
			}
			s.logf("  openfga: verified in %v", time.Since(start).Round(time.Millisecond))
			run("check/openfga/"+name, func(b *testing.B) {
				benchChecks(b, r.Checks, func(q *authz.Request) (bool, error) { return f.Check(ctx, q) })
			})
			run("list/openfga/"+name, func(b *testing.B) {
				benchList(b, &r.Lists[1], func(l *ListQuery) ([]string, error) { return f.List(ctx, l) })
			})
			f.Close()
		}
		if s.SpiceDB && sc == s.SpiceScale {
			start = time.Now()
			sp, err := NewSpiceDB(ctx, r)
			if err != nil {
				return err
			}
			s.logf("  spicedb: wrote %d relationships in %v", r.Relationships(), sp.Load.Round(time.Millisecond))
			if err := sp.Verify(ctx, r); err != nil {
				sp.Close()
				return err
			}
			s.logf("  spicedb: verified in %v", time.Since(start).Round(time.Millisecond))
			run("check/spicedb-embedded/"+name, func(b *testing.B) {
				benchChecks(b, r.Checks, func(q *authz.Request) (bool, error) { return sp.Check(ctx, q) })
			})
			run("check/spicedb-grpc/"+name, func(b *testing.B) {
				benchChecks(b, r.Checks, func(q *authz.Request) (bool, error) { return sp.CheckGRPC(ctx, q) })
			})
			run("check/spicedb-grpc-cached/"+name, func(b *testing.B) {
				benchChecks(b, r.Checks, func(q *authz.Request) (bool, error) { return sp.CheckCached(ctx, q) })
			})
			run("list/spicedb-grpc/"+name, func(b *testing.B) {
				benchList(b, &r.Lists[1], func(l *ListQuery) ([]string, error) { return sp.List(ctx, l) })
			})
			sp.Close()
		}
		runtime.GC()
	}
	return nil
}

// ABAC measures the ABAC checks on Gatehouse and OPA (prepared query).
func (s *Suite) ABAC(ctx context.Context, run Run) error {
	start := time.Now()
	a := LoadABAC(s.Checks)
	s.logf("ABAC: %d users, %d instances, %d condition sets, %d set rules, %d checks (%d allowed); generated in %v",
		len(a.DS.Data.Users), len(a.DS.Data.Instances), len(a.DS.Data.ConditionSets), len(a.DS.Data.SetRules), len(a.Checks), a.Allowed, time.Since(start).Round(time.Millisecond))
	e := authz.New()
	if err := e.Load(a.DS.Data); err != nil {
		return err
	}
	if err := a.VerifyGatehouse(e); err != nil {
		return err
	}
	o, err := NewOPA(ctx, a)
	if err != nil {
		return err
	}
	if err := o.Verify(ctx, a); err != nil {
		return err
	}
	run("abac/gatehouse", func(b *testing.B) {
		benchChecks(b, a.Checks, func(q *authz.Request) (bool, error) { return e.Decide(q).Allow, nil })
	})
	run("abac/opa", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			k := i % len(a.Checks)
			ok, err := o.Check(ctx, k)
			if err != nil || ok != a.Checks[k].Want {
				b.Fatalf("%+v = %v %v", a.Checks[k].Request, ok, err)
			}
		}
	})
	return nil
}

// MemoryResult is what the engine costs at about 1M relationships.
type MemoryResult struct {
	Tuples, Assignments int
	HeapBytes           uint64
	Load                time.Duration
}

// PerRelationship is heap bytes per tuple or assignment.
func (m MemoryResult) PerRelationship() float64 {
	return float64(m.HeapBytes) / float64(m.Tuples+m.Assignments)
}

// Memory loads the ReBAC data set at scale 3.125 (about 690k tuples and
// 312k instance role assignments) into an engine and measures the live
// heap it adds (HeapAlloc after a GC, the data set itself excluded) and
// the time of Load.
func Memory() (MemoryResult, error) {
	ds := authztest.GenerateReBAC(Seed, authztest.ReBACFull.Scale(3.125))
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	start := time.Now()
	e := authz.New()
	if err := e.Load(ds.Data); err != nil {
		return MemoryResult{}, err
	}
	load := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&m1)
	res := MemoryResult{Tuples: len(ds.Data.Tuples), Assignments: len(ds.Data.Assignments), Load: load}
	if m1.HeapAlloc > m0.HeapAlloc {
		res.HeapBytes = m1.HeapAlloc - m0.HeapAlloc
	}
	runtime.KeepAlive(e)
	runtime.KeepAlive(ds)
	return res, nil
}
