package fine

import (
	"context"
	"flag"
	"io"
	"os"
	"testing"

	"github.com/gatehouse-dev/gatehouse/client/authz"
)

var (
	scale      = flag.Float64("fine.scale", 1, "scale of the ReBAC data set for Gatehouse (1 = 200k documents)")
	fgaScale   = flag.Float64("fine.fgascale", 0.05, "scale of the ReBAC data set for OpenFGA (its memory store scans every tuple on each read)")
	spiceScale = flag.Float64("fine.spicescale", 0.05, "scale of the ReBAC data set for SpiceDB (at 1 its checks take longer than the run may)")
	nChecks    = flag.Int("fine.checks", 1000, "checks generated (ReBAC drops those naming a tenant)")
)

// TestReBACSmall verifies every engine on the data set at 1/100.
func TestReBACSmall(t *testing.T) {
	ctx := context.Background()
	r := LoadReBAC(0.01, 500)
	t.Logf("scale 0.01: %d relationships, %d checks (%d allowed), lists of %d and %d documents", r.Relationships(), len(r.Checks), r.Allowed, len(r.Lists[0].Want), len(r.Lists[1].Want))
	e, err := r.Gatehouse()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.VerifyGatehouse(e); err != nil {
		t.Fatal(err)
	}
	f, err := NewOpenFGA(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Verify(ctx, r); err != nil {
		t.Fatal(err)
	}
	s, err := NewSpiceDB(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Verify(ctx, r); err != nil {
		t.Fatal(err)
	}
}

// TestABAC verifies Gatehouse and OPA on the ABAC data set.
func TestABAC(t *testing.T) {
	ctx := context.Background()
	a := LoadABAC(2000)
	e := authz.New()
	if err := e.Load(a.DS.Data); err != nil {
		t.Fatal(err)
	}
	if err := a.VerifyGatehouse(e); err != nil {
		t.Fatal(err)
	}
	o, err := NewOPA(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Verify(ctx, a); err != nil {
		t.Fatal(err)
	}
}

func suite() *Suite {
	return &Suite{Scale: *scale, FGAScale: *fgaScale, SpiceScale: *spiceScale, Checks: *nChecks, OpenFGA: true, SpiceDB: true, Log: os.Stderr}
}

func BenchmarkReBAC(b *testing.B) {
	if err := suite().ReBAC(context.Background(), func(name string, f func(*testing.B)) { b.Run(name, f) }); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkABAC(b *testing.B) {
	if err := suite().ABAC(context.Background(), func(name string, f func(*testing.B)) { b.Run(name, f) }); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkReBACMemory1M loads about 1M relationships once per iteration
// and reports the engine's heap per relationship and the load time.
func BenchmarkReBACMemory1M(b *testing.B) {
	for i := 0; i < b.N; i++ {
		m, err := Memory()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(m.PerRelationship(), "B/rel")
		b.ReportMetric(float64(m.Tuples+m.Assignments), "rels")
		b.ReportMetric(m.Load.Seconds(), "load-s")
	}
}

// BenchmarkReBACDBLoad1M writes about 1M relationships into SQLite (a
// temporary directory) and PostgreSQL (a database created on
// GATEHOUSE_TEST_DATABASE_URL, default 127.0.0.1:5432, and dropped), and
// reports the cold build of the environment's engine from each
// (Engines.Forget, Engines.Get). Populating takes a minute or two per
// backend; run it with -benchtime 1x.
func BenchmarkReBACDBLoad1M(b *testing.B) {
	for _, backend := range []string{BackendSQLite, BackendPostgres} {
		b.Run(backend, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				res, err := DBLoad(context.Background(), backend, 3.125, 200, io.Discard)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(res.Get.Seconds(), "get-s")
				b.ReportMetric(res.GetCPU.Seconds(), "get-cpu-s")
				b.ReportMetric(res.Read.Seconds(), "read-s")
				b.ReportMetric(res.Build.Seconds(), "build-s")
				b.ReportMetric(res.PerRelationship(), "B/rel")
				b.ReportMetric(float64(res.PeakBytes)/1e6, "peak-MB")
				b.ReportMetric(float64(res.Tuples+res.Assignments), "rels")
			}
		})
	}
}
