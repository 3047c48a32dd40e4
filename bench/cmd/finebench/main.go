// Command finebench compares Gatehouse's fine-grained engine with OpenFGA
// (its server package on the memory store), SpiceDB (memdb, checked
// through pkg/embedded and through its server on bufconn) and OPA
// (prepared rego), in process, on the ReBAC and ABAC data sets of
// authz/authztest, and prints the ratios side by side. Every engine's
// answers are verified against authztest's model before anything is
// timed.
//
//	cd bench && go run ./cmd/finebench                  # everything (~4 min on 2 busy cores)
//	cd bench && go run ./cmd/finebench -fgascale 0.02 -mem=false
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/bench/fine"
)

func main() {
	s := &fine.Suite{Log: os.Stderr}
	flag.Float64Var(&s.Scale, "scale", 1, "ReBAC scale for Gatehouse (1 = 5k users, 20k folders, 200k documents)")
	flag.Float64Var(&s.SpiceScale, "spicescale", 0.05, "ReBAC scale for SpiceDB (Gatehouse is measured there too)")
	flag.Float64Var(&s.FGAScale, "fgascale", 0.05, "ReBAC scale for OpenFGA, whose memory store scans all tuples on every read (Gatehouse is measured there too)")
	flag.IntVar(&s.Checks, "checks", 1000, "checks generated per data set")
	flag.BoolVar(&s.OpenFGA, "openfga", true, "measure OpenFGA")
	flag.BoolVar(&s.SpiceDB, "spicedb", true, "measure SpiceDB")
	abac := flag.Bool("abac", true, "measure the ABAC data set (Gatehouse, OPA)")
	mem := flag.Bool("mem", true, "measure the engine's heap and load time at 1M relationships")
	benchtime := flag.Duration("benchtime", time.Second, "time per measurement")
	flag.Parse()
	testing.Init()
	flag.Set("test.benchtime", benchtime.String())
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))

	ctx := context.Background()
	res := map[string]testing.BenchmarkResult{}
	var order []string
	run := func(name string, f func(b *testing.B)) {
		r := testing.Benchmark(f)
		if r.N == 0 {
			fmt.Fprintf(os.Stderr, "%s: failed\n", name)
			os.Exit(1)
		}
		res[name] = r
		order = append(order, name)
		fmt.Fprintf(os.Stderr, "  %-40s %12s/op %8d allocs/op %10d B/op\n", name, dur(float64(r.NsPerOp())), r.AllocsPerOp(), r.AllocedBytesPerOp())
	}
	if err := s.ReBAC(ctx, run); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *abac {
		if err := s.ABAC(ctx, run); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	var m fine.MemoryResult
	if *mem {
		var err error
		if m, err = fine.Memory(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}

	fmt.Println()
	fmt.Println("| measure | scale | Gatehouse | allocs | peer | peer time | peer allocs | peer ÷ Gatehouse |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	sort.SliceStable(order, func(i, j int) bool { return key(order[i]) < key(order[j]) })
	for _, name := range order {
		op, engine, sc := split(name)
		if engine == "gatehouse" {
			continue
		}
		g, ok := res[op+"/gatehouse"+suffix(sc)]
		if !ok {
			continue
		}
		p := res[name]
		fmt.Printf("| %s | %s | %s | %d | %s | %s | %d | **%.0f×** |\n", op, orDash(sc), dur(float64(g.NsPerOp())), g.AllocsPerOp(),
			engine, dur(float64(p.NsPerOp())), p.AllocsPerOp(), float64(p.NsPerOp())/float64(max(g.NsPerOp(), 1)))
	}
	fmt.Println("\nGatehouse alone:")
	fmt.Println()
	for _, name := range order {
		if op, engine, sc := split(name); engine == "gatehouse" {
			r := res[name]
			fmt.Printf("- %s at scale %s: %s/op, %d allocs/op\n", op, orDash(sc), dur(float64(r.NsPerOp())), r.AllocsPerOp())
		}
	}
	if *mem {
		fmt.Printf("\nGatehouse at %d relationships (%d tuples, %d instance role assignments): %.0f bytes of heap per relationship (%.1f MB), Load in %v.\n",
			m.Tuples+m.Assignments, m.Tuples, m.Assignments, m.PerRelationship(), float64(m.HeapBytes)/1e6, m.Load.Round(time.Millisecond))
	}
}

func split(name string) (op, engine, scale string) {
	parts := strings.Split(name, "/")
	op, engine = parts[0], parts[1]
	if len(parts) > 2 {
		scale = strings.TrimPrefix(parts[2], "scale=")
	}
	return
}

func suffix(scale string) string {
	if scale == "" {
		return ""
	}
	return "/scale=" + scale
}

func key(name string) string {
	op, _, sc := split(name)
	return op + " " + sc
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func dur(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}
