package authz_test

import (
	"reflect"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/client/authz/authztest"
)

// mediumEngine loads dataset M and returns 100k distinct queries.
func mediumEngine(b *testing.B) (*authz.Engine, []authztest.Query) {
	b.Helper()
	ds := authztest.Generate(authztest.Medium, 1)
	e := authz.New()
	if err := e.Load(ds.Data); err != nil {
		b.Fatal(err)
	}
	return e, ds.Queries(authztest.Medium, 100_000, 2)
}

// BenchmarkCheck: dataset M (10k users, 1k tenants, 20 roles, 50 types × 4
// actions, 100k assignments), 100k distinct queries cycled.
func BenchmarkCheck(b *testing.B) {
	e, qs := mediumEngine(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		q := &qs[i%len(qs)]
		if e.Check(q.User, q.Action, q.Resource, q.Tenant).Allow != q.Want {
			b.Fatalf("wrong answer for %+v", q)
		}
		i++
	}
}

func BenchmarkCheckParallel(b *testing.B) {
	e, qs := mediumEngine(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			q := &qs[i%len(qs)]
			_ = e.Check(q.User, q.Action, q.Resource, q.Tenant)
			i++
		}
	})
}

// BenchmarkLoad reports the time and live heap to load dataset M (100k
// assignments) and the same shape ten times over in users and assignments
// (1M assignments, about ten per user as in M).
func BenchmarkLoad(b *testing.B) {
	large := authztest.Medium
	large.Users, large.Assignments = 100_000, 1_000_000
	for _, c := range []struct {
		name  string
		shape authztest.Shape
	}{{"assignments=100k", authztest.Medium}, {"assignments=1M", large}} {
		b.Run(c.name, func(b *testing.B) {
			ds := authztest.Generate(c.shape, 1)
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				start := time.Now()
				e := authz.New()
				if err := e.Load(ds.Data); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(time.Since(start).Milliseconds()), "load-ms")
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "heap-MB")
				runtime.KeepAlive(e)
			}
		})
	}
}

// BenchmarkFloorPlainMaps is the floor the engine is compared with: the
// same queries answered by interned user and tenant ids, one (user, tenant)
// map and one role mask, with no lock, no resource or action lookup and no
// reason. It is what "nothing but map lookups" costs on this machine.
func BenchmarkFloorPlainMaps(b *testing.B) {
	ds := authztest.Generate(authztest.Medium, 1)
	floor := authztest.NewFloor(ds)
	qs := ds.Queries(authztest.Medium, 100_000, 2)
	i := 0
	for b.Loop() {
		q := &qs[i%len(qs)]
		if floor.Check(q.User, q.Action, q.Resource, q.Tenant) != q.Want {
			b.Fatalf("floor answers %+v wrong", q)
		}
		i++
	}
}

// rebacEngine loads the ReBAC data set (authztest.ReBACFull: 5k users,
// 200 teams, 20k folders nested up to 6 deep, 200k documents, 100k role
// assignments on instances) and 2,000 queries answered by the model.
func rebacEngine(b *testing.B) (*authz.Engine, *authztest.ReBACDataset, []authztest.FineQuery) {
	b.Helper()
	ds := authztest.GenerateReBAC(1, authztest.ReBACFull)
	e := authz.New()
	if err := e.Load(ds.Data); err != nil {
		b.Fatal(err)
	}
	return e, ds, ds.Queries(2000, 2)
}

// BenchmarkReBACCheck: checks on document and folder instances of the
// ReBAC data set, every answer verified.
func BenchmarkReBACCheck(b *testing.B) {
	e, _, qs := rebacEngine(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		q := &qs[i%len(qs)]
		if e.Decide(&q.Request).Allow != q.Want {
			b.Fatalf("wrong answer for %+v", q.Request)
		}
		i++
	}
}

// BenchmarkReBACListResources: the documents a user may read, for users
// of the ReBAC data set in turn.
func BenchmarkReBACListResources(b *testing.B) {
	e, ds, _ := rebacEngine(b)
	b.ReportAllocs()
	i, n := 0, 0
	for b.Loop() {
		n += len(e.ListResources(&authz.Request{User: ds.Data.Users[i%len(ds.Data.Users)].Key, Action: "read", Resource: "document"}))
		i++
	}
	b.ReportMetric(float64(n)/float64(i), "docs/op")
}

// BenchmarkPermissions: dataset M, what a user may do in every tenant it
// holds roles in (about ten tenants, a role or two and some twenty
// permissions each), users of the query stream in turn.
func BenchmarkPermissions(b *testing.B) {
	e, qs := mediumEngine(b)
	b.ReportAllocs()
	i, n := 0, 0
	for b.Loop() {
		n += len(e.Permissions(qs[i%len(qs)].User, nil))
		i++
	}
	b.ReportMetric(float64(n)/float64(i), "tenants/op")
}

// BenchmarkFloorPermissions is BenchmarkPermissions' floor: the same
// answers computed from plain maps (authztest.FloorPermissions).
func BenchmarkFloorPermissions(b *testing.B) {
	ds := authztest.Generate(authztest.Medium, 1)
	floor := authztest.NewFloorPermissions(ds)
	qs := ds.Queries(authztest.Medium, 100_000, 2)
	b.ReportAllocs()
	i, n := 0, 0
	for b.Loop() {
		n += len(floor.Permissions(qs[i%len(qs)].User, nil))
		i++
	}
	b.ReportMetric(float64(n)/float64(i), "tenants/op")
}

// pairedBatch is how many checks BenchmarkCheckVsFloor answers with one
// side before the other (Permissions answers a sixteenth of it).
const pairedBatch = 128

// paired runs engine and floor on the same batches in turn and reports
// each side's median time per item and the median ratio: on a shared,
// noisy machine separate benchmarks drift apart between runs, and a batch
// the scheduler interrupts is one outlier among thousands rather than a
// shift of the mean. The side that runs first alternates (the second
// would otherwise find what the first touched in cache), and a ratio is
// taken over two batches, one in each order. The sides read their own
// copies of the queries and data. One op is one batch on each side.
func paired(b *testing.B, batch int, unit string, engine, floor func(i int)) {
	var es, fs, rs []float64
	run := func(f func(int), i int) float64 {
		start := time.Now()
		for j := 0; j < batch; j++ {
			f(i + j)
		}
		return float64(time.Since(start))
	}
	i, te, tf := 0, 0.0, 0.0
	for b.Loop() {
		var e, f float64
		if len(es)%2 == 0 {
			e = run(engine, i)
			f = run(floor, i)
		} else {
			f = run(floor, i)
			e = run(engine, i)
		}
		es, fs = append(es, e/float64(batch)), append(fs, f/float64(batch))
		te, tf = te+e, tf+f
		if len(es)%2 == 0 {
			rs = append(rs, te/tf)
			te, tf = 0, 0
		}
		i += batch
	}
	median := func(xs []float64) float64 {
		if len(xs) == 0 {
			return 0
		}
		slices.Sort(xs)
		return xs[len(xs)/2]
	}
	b.ReportMetric(median(es), "engine-ns/"+unit)
	b.ReportMetric(median(fs), "floor-ns/"+unit)
	b.ReportMetric(median(rs), "engine/floor")
}

// BenchmarkCheckVsFloor: BenchmarkCheck and BenchmarkFloorPlainMaps on the
// same queries, in alternating batches; every answer verified.
func BenchmarkCheckVsFloor(b *testing.B) {
	e, qs := mediumEngine(b)
	ds := authztest.Generate(authztest.Medium, 1)
	floor, fqs := authztest.NewFloor(ds), ds.Queries(authztest.Medium, len(qs), 2)
	paired(b, pairedBatch, "check", func(i int) {
		q := &qs[i%len(qs)]
		if e.Check(q.User, q.Action, q.Resource, q.Tenant).Allow != q.Want {
			b.Fatalf("wrong answer for %+v", q)
		}
	}, func(i int) {
		q := &fqs[i%len(fqs)]
		if floor.Check(q.User, q.Action, q.Resource, q.Tenant) != q.Want {
			b.Fatalf("floor answers %+v wrong", q)
		}
	})
}

// BenchmarkPermissionsVsFloor is BenchmarkCheckVsFloor for Permissions.
// Before timing, the engine and the floor must give equal answers for the
// first few thousand users of the query stream (TestFloorsAgreeWithEngine
// holds them to it on dataset S too).
func BenchmarkPermissionsVsFloor(b *testing.B) {
	e, qs := mediumEngine(b)
	ds := authztest.Generate(authztest.Medium, 1)
	floor, fqs := authztest.NewFloorPermissions(ds), ds.Queries(authztest.Medium, len(qs), 2)
	nonEmpty := 0
	for i := range 4000 {
		want, got := e.Permissions(qs[i].User, nil), floor.Permissions(fqs[i].User, nil)
		if !reflect.DeepEqual(got, want) {
			b.Fatalf("permissions of %s:\n floor  %+v\n engine %+v", qs[i].User, got, want)
		}
		if len(want) > 0 {
			nonEmpty++
		}
	}
	if nonEmpty == 0 {
		b.Fatal("every answer was empty: the comparison tests nothing")
	}
	n := 0
	paired(b, pairedBatch/16, "call", func(i int) {
		n += len(e.Permissions(qs[i%len(qs)].User, nil))
	}, func(i int) {
		n -= len(floor.Permissions(fqs[i%len(fqs)].User, nil))
	})
	if n != 0 {
		b.Fatalf("the engine and the floor list %d tenants apart", n)
	}
}
