// Command httpbench measures Gatehouse's check over HTTP side by side with
// its peers' real servers on dataset M (authztest.Medium: 10k users, 1k
// tenants, 20 roles, 50 resource types × 4 actions, 100k role
// assignments), all on loopback, with one load generator (issue 17):
//
//   - Gatehouse server: the binary built from this repository, `gatehouse
//     serve` with its default configuration on SQLite (API key, rate
//     limiter, API log), the data set imported through POST
//     /v1/jobs/import, then restarted so that its memory and start times
//     are a cold start on loaded data. Checks by POST /v1/allowed, Permit's
//     POST /allowed and POST /v1/allowed/bulk; and POST /v1/allowed again
//     with the environment's api_log_checks on during that engine's phases
//     only (-engines logged: what an API-log row per check costs);
//   - `gatehouse pdp` following that server, checked on its own HTTP API;
//   - the floor: net/http + encoding/json + precomputed maps, in a process
//     of its own (this binary with -floor-addr); and (-engines floorgh) the
//     same floor answering POST /v1/allowed with Gatehouse's headers and
//     envelope, to show what the answer's size costs apart from the
//     server's own work;
//   - OPA, OpenFGA on PostgreSQL (a database made for the run and dropped
//     after it), Cerbos and SpiceDB (memdb), each its real server built at
//     a pinned version into a cache folder outside the repository.
//
// Every engine answers every query once first, and every answer in the
// rounds is checked too: a wrong answer stops the run. Rounds interleave
// the engines (each round measures every engine in turn, starting one
// engine later than the round before). Every process started is stopped,
// and the database dropped, at the end, also on error or interrupt.
//
//	cd bench && go run ./cmd/httpbench
//	cd bench && go run ./cmd/httpbench -engines gatehouse,pdp,floor,opa -rounds 1 -duration 2s
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/bench/fine"
	"github.com/gatehouse-dev/gatehouse/client/authz/authztest"
)

var allEngines = []string{"gatehouse", "permit", "bulk", "logged", "pdp", "pdpbin", "floor", "floorgh", "opa", "openfga", "cerbos", "spicedb"}

type options struct {
	rounds   int
	duration time.Duration
	engines  map[string]bool
	queries  int
	clients  int
	bulk     int
	pgAdmin  string
	cache    string
	keepLogs bool
	scale    int
	memory   bool
	// cpuProfile: save the CPU profiles of Gatehouse's server (its first
	// engine, POST /v1/allowed) and PDP in the first round's phase with
	// several clients.
	cpuProfile bool
	release    bool // build Gatehouse's programs as released
}

func main() {
	var o options
	var engines string
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each measures every engine in turn")
	flag.DurationVar(&o.duration, "duration", 4*time.Second, "per engine and round: this long with one client in sequence, then this long with -clients clients")
	flag.StringVar(&engines, "engines", strings.Join(allEngines, ","), "engines to measure, of "+strings.Join(allEngines, ",")+" (the Gatehouse server is always measured: it is the 1 of the ratios)")
	flag.IntVar(&o.queries, "queries", 10_000, "distinct queries (authztest Queries, seed 2), cycled; every engine answers each once before the rounds")
	flag.IntVar(&o.clients, "clients", 4, "concurrent clients")
	flag.IntVar(&o.bulk, "bulk", 100, "checks per /v1/allowed/bulk call")
	flag.StringVar(&o.pgAdmin, "pgurl", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL server on which OpenFGA's database is created for the run (and dropped)")
	flag.StringVar(&o.cache, "cache", fine.DefaultCacheDir(), "folder of the built binaries, reused by later runs")
	flag.BoolVar(&o.keepLogs, "keep-logs", false, "keep the temporary folder (servers' logs and data) and print its path")
	flag.IntVar(&o.scale, "scale", 1, "dataset M with this many times its users, tenants and assignments (10: 1M assignments)")
	flag.BoolVar(&o.memory, "memory", false, "start Gatehouse's server and PDP with an admin listener and, once loaded and verified, save their heap profiles (inuse_space) and print their memory breakdown (/proc/PID/status, runtime.MemStats); implies -keep-logs")
	flag.BoolVar(&o.cpuProfile, "cpuprofile", false, "start Gatehouse's server and PDPs with an admin listener and save their CPU profiles during the first round's phase with -clients clients (server: POST /v1/allowed); implies -keep-logs")
	flag.BoolVar(&o.release, "release", false, "build the Gatehouse server and gatehouse-pdp as the Makefile's release and the Docker image do (CGO_ENABLED=0, -trimpath, -ldflags \"-s -w\"), not with a plain go build")
	floorAddr := flag.String("floor-addr", "", "internal: serve the floor on this address (the harness starts itself so)")
	timeout := flag.Duration("timeout", 60*time.Minute, "the whole run, builds included")
	flag.Parse()
	if *floorAddr != "" {
		if err := serveFloor(*floorAddr); err != nil {
			fmt.Fprintln(os.Stderr, "floor:", err)
			os.Exit(1)
		}
		return
	}
	o.engines = map[string]bool{"gatehouse": true}
	for _, e := range strings.Split(engines, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if !slices.Contains(allEngines, e) {
			fmt.Fprintf(os.Stderr, "httpbench: unknown engine %q (want some of %s)\n", e, strings.Join(allEngines, ","))
			os.Exit(2)
		}
		o.engines[e] = true
	}
	if o.memory || o.cpuProfile {
		o.keepLogs = true
	}
	if o.rounds < 1 || o.scale < 1 || o.duration <= 0 || o.queries < 100 || o.clients < 1 || o.bulk < 1 || o.bulk > 1000 {
		fmt.Fprintln(os.Stderr, "httpbench: want -rounds ≥ 1, -scale ≥ 1, -duration > 0, -queries ≥ 100, -clients ≥ 1, 1 ≤ -bulk ≤ 1000")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	err := run(ctx, &o)
	cancel()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "httpbench:", err)
		os.Exit(1)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func run(ctx context.Context, o *options) error {
	var cl fine.Cleanup
	defer cl.Run()
	moduleDir, err := os.Getwd()
	if err != nil {
		return err
	}
	if !exists(filepath.Join(moduleDir, "cmd", "httpbench")) || !exists(filepath.Join(moduleDir, "..", "cmd", "gatehouse")) {
		return fmt.Errorf("run it from the bench module: cd bench && go run ./cmd/httpbench")
	}
	tmp, err := os.MkdirTemp("", "httpbench-")
	if err != nil {
		return err
	}
	cl.Add(func() {
		if o.keepLogs {
			logf("logs kept in %s", tmp)
			return
		}
		if err := os.RemoveAll(tmp); err != nil {
			logf("remove %s: %v", tmp, err)
		}
	})

	// Binaries: Gatehouse from this repository; peers from the cache or
	// built into it. OPA and OpenFGA must build; Cerbos and SpiceDB are
	// skipped (with a message) when they cannot.
	b := &fine.Builder{ModuleDir: moduleDir, Cache: o.cache, Logf: logf, Release: o.release}
	ghBin, err := b.Gatehouse(ctx)
	if err != nil {
		return err
	}
	var skipped []string
	bins := map[string]string{}
	for _, p := range []struct {
		name     string
		optional bool
		build    func(context.Context) (string, error)
	}{
		{"opa", false, b.OPA},
		{"openfga", false, func(ctx context.Context) (string, error) {
			return b.FromModule(ctx, "openfga", fine.OpenFGAVersion, "github.com/openfga/openfga/cmd/openfga")
		}},
		{"cerbos", true, b.Cerbos},
		{"spicedb", true, func(ctx context.Context) (string, error) {
			return b.FromModule(ctx, "spicedb", fine.SpiceDBVersion, "github.com/authzed/spicedb/cmd/spicedb")
		}},
	} {
		if !o.engines[p.name] {
			continue
		}
		bin, err := p.build(ctx)
		if err != nil {
			if !p.optional || ctx.Err() != nil {
				return err
			}
			msg := fmt.Sprintf("%s SKIPPED: it could not be built: %v", p.name, firstLine(err))
			logf("%s", msg)
			skipped = append(skipped, msg)
			delete(o.engines, p.name)
			continue
		}
		bins[p.name] = bin
	}

	start := time.Now()
	shape := authztest.Medium
	shape.Users *= o.scale
	shape.Tenants *= o.scale
	shape.Assignments *= o.scale
	ds := authztest.Generate(shape, 1)
	qs := ds.Queries(shape, o.queries, 2)
	allowed := 0
	for _, q := range qs {
		if q.Want {
			allowed++
		}
	}
	m := newRBAC(ds)
	logf("dataset M×%d: %d users, %d tenants, %d roles, %d types × %d actions, %d assignments; %d queries (%.1f%% allowed); generated in %v",
		o.scale, shape.Users, shape.Tenants, shape.Roles, shape.ResourceTypes, shape.ActionsPerType, len(ds.Data.Assignments), len(qs),
		100*float64(allowed)/float64(len(qs)), time.Since(start).Round(time.Millisecond))

	client := fine.NewHTTPClient()
	var engines []*engine
	add := func(e *engine) {
		engines = append(engines, e)
		if e.proc != nil {
			cl.Add(e.proc.Stop)
		}
	}

	// Gatehouse: init, serve, import, stop; then the measured start.
	logf("gatehouse: init, serve, import the data set (POST /v1/jobs/import)...")
	g, err := initGatehouse(ctx, ghBin, tmp, client, o.memory || o.cpuProfile)
	if err != nil {
		return err
	}
	cl.Add(g.proc.Stop)
	t0 := time.Now()
	rows, err := g.importRows(ctx, ds, time.Duration(o.scale)*10*time.Minute)
	if err != nil {
		return err
	}
	load := time.Since(t0)
	logf("  %d rows imported in %v; restarting the server", rows, load.Round(time.Millisecond))
	g.proc.Stop()
	ready, first, err := g.start(ctx, "gatehouse")
	cl.Add(g.proc.Stop)
	if err != nil {
		return err
	}
	logf("  restarted: /readyz 200 after %v, first check 200 after %v", ready.Round(time.Millisecond), first.Round(time.Millisecond))
	ghEngines := g.engines(o.bulk)
	ghEngines[0].load, ghEngines[0].ready, ghEngines[0].first = load, ready, first
	ghEngines[0].note = fmt.Sprintf("Gatehouse server: load = one JSON Lines import of %d rows (POST /v1/jobs/import) until its job succeeded; ready and first check are from a restart on the loaded database", rows)
	engines = append(engines, ghEngines[0])
	if o.engines["permit"] {
		engines = append(engines, ghEngines[1])
	}
	if o.engines["bulk"] {
		engines = append(engines, ghEngines[2])
	}
	if o.engines["logged"] {
		engines = append(engines, g.loggedEngine())
	}
	for _, which := range []string{"pdp", "pdpbin"} {
		if !o.engines[which] {
			continue
		}
		bin := ""
		if which == "pdpbin" {
			if bin, err = b.GatehousePDP(ctx); err != nil {
				return err
			}
		}
		e, err := g.startPDP(ctx, bin)
		if err != nil {
			return err
		}
		add(e)
		logf("%s: /healthz 200 after %v, first check 200 after %v", e.name, e.ready.Round(time.Millisecond), e.first.Round(time.Millisecond))
	}
	if o.engines["floor"] || o.engines["floorgh"] {
		logf("floor: starting...")
		var as *gatehouseServer
		if o.engines["floorgh"] {
			as = g
		}
		e, same, err := startFloor(ctx, tmp, client, as)
		if err != nil {
			return err
		}
		if o.engines["floor"] {
			add(e)
		}
		if same != nil {
			add(same)
		}
	}
	if o.engines["opa"] {
		logf("opa: starting with the data...")
		e, err := startOPA(ctx, bins["opa"], tmp, m, client)
		if err != nil {
			return err
		}
		add(e)
		logf("  ready in %v", e.load.Round(time.Millisecond))
	}
	if o.engines["openfga"] {
		logf("openfga: database, migrate, serve, write %d tuples...", len(ds.Data.Assignments))
		db, err := fine.CreatePGDatabase(ctx, o.pgAdmin, "httpbench_openfga_"+strconv.Itoa(os.Getpid()))
		if err != nil {
			return err
		}
		cl.Add(func() {
			if err := db.Drop(); err != nil {
				logf("%v", err)
			}
		})
		e, err := startOpenFGA(ctx, bins["openfga"], tmp, db.URL, m, client)
		if err != nil {
			return err
		}
		add(e)
		logf("  loaded in %v", e.load.Round(time.Millisecond))
	}
	if o.engines["cerbos"] {
		logf("cerbos: policies, serve...")
		e, err := startCerbos(ctx, bins["cerbos"], tmp, m, client)
		if err != nil {
			return err
		}
		add(e)
		logf("  ready in %v", e.load.Round(time.Millisecond))
	}
	if o.engines["spicedb"] {
		logf("spicedb: serve (memdb), schema, write %d relationships...", len(ds.Data.Assignments))
		e, err := startSpiceDB(ctx, bins["spicedb"], tmp, m, client)
		if err != nil {
			return err
		}
		add(e)
		logf("  loaded in %v", e.load.Round(time.Millisecond))
	}

	// Every engine answers every query once.
	for _, e := range engines {
		t := time.Now()
		if err := e.verify(ctx, qs, o.clients); err != nil {
			return err
		}
		logf("verified %-50s %d answers right in %v", e.name, len(qs), time.Since(t).Round(time.Millisecond))
	}
	for _, e := range engines {
		if e.proc == nil {
			continue
		}
		if e.rss, err = memOf(e.proc.PID(), "VmRSS"); err != nil {
			return err
		}
		if e.anon, err = memOf(e.proc.PID(), "RssAnon"); err != nil {
			return err
		}
		if o.memory && e.adminURL != "" {
			if err := memoryReport(ctx, client, tmp, e); err != nil {
				return err
			}
		}
	}

	if o.cpuProfile {
		for _, e := range engines {
			switch {
			case e.adminURL == "":
			case strings.HasPrefix(e.name, "Gatehouse server"):
				e.profile = filepath.Join(tmp, "server.cpu.pb.gz")
			case strings.HasPrefix(e.name, "gatehouse pdp"):
				e.profile = filepath.Join(tmp, "pdp.cpu.pb.gz")
			case strings.HasPrefix(e.name, "gatehouse-pdp"):
				e.profile = filepath.Join(tmp, "gatehouse-pdp.cpu.pb.gz")
			}
		}
	}

	// Rounds: every engine in turn, each round starting one engine later.
	offset := 0
	for r := range o.rounds {
		for k := range engines {
			e := engines[(r+k)%len(engines)]
			res, next, err := e.measure(ctx, qs, offset, o.clients, o.duration)
			if err != nil {
				return err
			}
			offset = next
			e.rounds = append(e.rounds, res)
			logf("round %d %-50s seq p50 %9v p99 %9v (%6d) | %d clients %8.0f checks/s p99 %9v (%7d) CPU/check %v, generator %v", r+1, e.name,
				res.seqP50.Round(100*time.Nanosecond), res.seqP99.Round(100*time.Nanosecond), res.seqN, o.clients, res.concRate, res.concP99.Round(100*time.Nanosecond), res.concChecks,
				res.concCPU.Round(100*time.Nanosecond), res.genCPU.Round(100*time.Nanosecond))
		}
	}
	printTable(os.Stdout, o, engines, len(qs), allowed, skipped)
	return nil
}

// anonList names each process's RssAnon once.
func anonList(engines []*engine) string {
	var parts []string
	seen := map[int]bool{}
	for _, e := range engines {
		if e.proc == nil || seen[e.proc.PID()] {
			continue
		}
		seen[e.proc.PID()] = true
		parts = append(parts, fmt.Sprintf("%s %.0f MB", strings.TrimSpace(e.name), float64(e.anon)/1e6))
	}
	return strings.Join(parts, ", ")
}

// genList gives the load generator's CPU time per check for each engine.
func genList(engines []*engine) string {
	var parts []string
	for _, e := range engines {
		parts = append(parts, fmt.Sprintf("%s %s", strings.TrimSpace(e.name), fmtDur(e.median().genCPU)))
	}
	return strings.Join(parts, ", ")
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// loadAverage is /proc/loadavg's first three fields ("" elsewhere).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "–"
	case d < time.Millisecond:
		return fmt.Sprintf("%.1f µs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func ratio(v, base float64) string {
	if v <= 0 || base <= 0 {
		return ""
	}
	r := v / base
	switch {
	case r >= 100:
		return fmt.Sprintf(" (%.0f×)", r)
	case r >= 10:
		return fmt.Sprintf(" (%.1f×)", r)
	}
	return fmt.Sprintf(" (%.2f×)", r)
}

func printTable(w *os.File, o *options, engines []*engine, nq, allowed int, skipped []string) {
	base := engines[0]
	bm := base.median()
	fmt.Fprintf(w, "\n%s, go %s, %d CPUs (load average %s when the table was printed); dataset M%s, %d queries (%.1f%% allowed);\n",
		time.Now().Format("2006-01-02 15:04"), runtime.Version(), runtime.NumCPU(), loadAverage(), scaleName(o.scale), nq, 100*float64(allowed)/float64(nq))
	fmt.Fprintf(w, "%d interleaved rounds of %v in sequence + %v with %d clients per engine; medians over the rounds; every answer checked.\n",
		o.rounds, o.duration, o.duration, o.clients)
	build := "a plain go build"
	if o.release {
		build = "release builds (CGO_ENABLED=0, -trimpath, -ldflags \"-s -w\")"
	}
	fmt.Fprintf(w, "Gatehouse's programs: %s. In parentheses: engine ÷ Gatehouse server (the first row = 1). The load generator shares the cores with the servers.\n\n", build)
	fmt.Fprintln(w, "| engine | HTTP p50, 1 client | p99, 1 client | checks/s, "+strconv.Itoa(o.clients)+" clients | p99, "+strconv.Itoa(o.clients)+" clients | server CPU per check | RSS after load | load | start → ready | start → first check |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	for _, e := range engines {
		r := e.median()
		rss := "–"
		if e.rss > 0 {
			rss = fmt.Sprintf("%.0f MB%s", float64(e.rss)/1e6, ratio(float64(e.rss), float64(base.rss)))
		}
		fmt.Fprintf(w, "| %s | %s%s | %s%s | %.0f%s | %s%s | %s%s | %s | %s | %s%s | %s%s |\n", strings.TrimSpace(e.name),
			fmtDur(r.seqP50), ratio(float64(r.seqP50), float64(bm.seqP50)),
			fmtDur(r.seqP99), ratio(float64(r.seqP99), float64(bm.seqP99)),
			r.concRate, ratio(r.concRate, bm.concRate),
			fmtDur(r.concP99), ratio(float64(r.concP99), float64(bm.concP99)),
			fmtDur(r.concCPU), ratio(float64(r.concCPU), float64(bm.concCPU)),
			rss, fmtDur(e.load),
			fmtDur(e.ready), ratio(float64(e.ready), float64(base.ready)),
			fmtDur(e.first), ratio(float64(e.first), float64(base.first)))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "- server CPU per check: the server process's CPU time (user + system, /proc/PID/stat, 10 ms ticks) over the phase with %d clients ÷ the checks answered in it; the load generator's own: %s\n", o.clients, genList(engines))
	fmt.Fprintf(w, "- RSS: VmRSS of the server's process once loaded and every query answered once (RssAnon, memory that is not file pages: %s)\n", anonList(engines))
	for _, e := range engines {
		if e.note != "" {
			fmt.Fprintf(w, "- %s\n", e.note)
		}
	}
	for _, s := range skipped {
		fmt.Fprintf(w, "- %s\n", s)
	}
}
