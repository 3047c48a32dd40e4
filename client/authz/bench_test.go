package authz_test

import (
	"runtime"
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
