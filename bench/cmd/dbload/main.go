// Command dbload measures how long a node takes to build an environment's
// decision engine from the database at about 1M relationships (issue 15:
// "load of 1M tuples from the database under 5 s"). For each backend it
// writes the ReBAC data set of authz/authztest (scale 3.125: 689,997
// tuples and 312,500 instance role assignments) into a fresh database with
// the store's bulk inserts, verifies the engine the server builds from it
// against authztest's model, then times a cold Engines.Forget +
// Engines.Get and its heap. The databases are removed afterwards.
//
//	cd bench && go run ./cmd/dbload                       # SQLite and PostgreSQL
//	cd bench && go run ./cmd/dbload -backends sqlite -scale 0.1
//	cd bench && go run ./cmd/dbload -cpuprofile /tmp/load.prof   # profile of the cold loads
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/bench/fine"
)

func main() {
	backends := flag.String("backends", "sqlite,postgres", "comma-separated: sqlite, postgres (on GATEHOUSE_TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres)")
	scale := flag.Float64("scale", 3.125, "ReBAC scale (3.125 ≈ 1M relationships)")
	checks := flag.Int("checks", 500, "checks verified on the loaded engine")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := run(*backends, *scale, *checks, *cpuprofile); err != nil {
		fmt.Fprintln(os.Stderr, "dbload:", err)
		os.Exit(1)
	}
}

func run(backends string, scale float64, checks int, cpuprofile string) error {
	ctx := context.Background()
	fmt.Fprintf(os.Stderr, "go %s, %d CPUs\n", runtime.Version(), runtime.NumCPU())
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var out []fine.DBLoadResult
	for _, b := range strings.Split(backends, ",") {
		res, err := fine.DBLoad(ctx, strings.TrimSpace(b), scale, checks, os.Stderr)
		if err != nil {
			return err
		}
		out = append(out, res)
	}
	fmt.Println()
	fmt.Println("| backend | relationships | populate | cold Engines.Get | its CPU time | read (LoadEnvironment) | build (Engine.Load) | engine heap | B/relationship | peak heap during Get | allocated by Get |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range out {
		fmt.Printf("| %s | %d | %v | **%v** | %v | %v | %v | %.0f MB | %.0f | +%.0f MB | %.0f MB |\n", r.Backend, r.Tuples+r.Assignments,
			r.Populate.Round(100*time.Millisecond), r.Get.Round(10*time.Millisecond), r.GetCPU.Round(10*time.Millisecond), r.Read.Round(10*time.Millisecond), r.Build.Round(10*time.Millisecond),
			float64(r.HeapBytes)/1e6, r.PerRelationship(), float64(r.PeakBytes)/1e6, float64(r.AllocBytes)/1e6)
	}
	return nil
}
