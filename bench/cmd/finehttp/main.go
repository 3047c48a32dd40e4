// Command finehttp compares Gatehouse's fine-grained (ReBAC) check over
// HTTP with OpenFGA's and SpiceDB's, each as its real server on loopback,
// in one run (issue 15: "≥ 5× faster over HTTP"):
//
//   - Gatehouse: the server (app.New, served as `gatehouse serve` serves it)
//     in this process, embedded SQLite (and PostgreSQL with -pg), the data
//     set written through the public v1 API, checks by POST /v1/allowed
//     with an environment key (key check, rate limiter, API log: the
//     default configuration);
//   - OpenFGA: its binary built from the module cache, `openfga migrate`
//     and `openfga run` on a PostgreSQL database made for the run, the
//     model, tuples and checks over its HTTP API;
//   - SpiceDB: its binary built the same way, `spicedb serve` on the memory
//     datastore (with its dispatch cache, its default, and without) and on
//     PostgreSQL, schema, relationships and fully consistent checks over
//     its HTTP gateway.
//
// With -abac it compares the ABAC check (attribute rules: condition sets
// and set rules) instead, on fine.LoadABAC's data set:
//
//   - Gatehouse: the same server, the data set (users and instances with
//     their attributes, tenants, condition sets, set rules) written
//     through the v1 API; checked once as the data set asks (the server
//     reads the stored attributes) and once with every attribute inline;
//   - OPA: `opa run --server` on the rego of fine.RegoOf with the stored
//     attributes as data;
//   - Cerbos: `cerbos server` on the set rules translated to resource
//     policies with CEL conditions (fine.CerbosOf), each check carrying
//     the attributes, as Cerbos keeps no data.
//
// OPA and Cerbos are built once into the cache folder httpbench uses.
//
// Every engine answers every check of the data set first; a wrong answer
// stops the run. Then, in rounds that alternate the engines, the same
// load generator measures sequential checks (p50, p99), checks from 4
// clients at once (checks/s, p99) and the list of what the lister may
// read. Servers are stopped, databases dropped and the temporary
// directory removed at the end, also on error or interrupt.
//
//	cd bench && go run ./cmd/finehttp -pg     # the run in the README: about 10 min on 2 busy cores
//	cd bench && go run ./cmd/finehttp -openfga=false -spicedb-pg=false -rounds 1
//	cd bench && go run ./cmd/finehttp -abac   # ABAC: Gatehouse, OPA, Cerbos
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/bench/fine"
	"github.com/gatehouse-dev/gatehouse/client/authz/authztest"
)

type options struct {
	scale                          float64
	checks                         int
	load                           fine.HTTPLoad
	rounds                         int
	workers                        int
	fgaBatch, spiceBatch           int
	pg                             bool
	pgAdmin                        string
	openfga, spicedb               bool
	spiceNoCache, spicePG          bool
	openfgaBin, spicedbBin         string
	keepLogs                       bool
	cpuProfile                     string
	openfgaPkg, spicedbPkg         string
	openfgaVersion, spicedbVersion string
	// -abac
	abac, opa, cerbos, inline bool
	opaBin, cerbosBin, cache  string
}

func main() {
	var o options
	flag.Float64Var(&o.scale, "scale", 0.05, "ReBAC scale (1 = 5k users, 20k folders, 200k documents; 0.05 as in finebench's peers)")
	flag.IntVar(&o.checks, "checks", 1000, "checks generated (those naming a tenant are dropped)")
	flag.IntVar(&o.load.Seq, "seq", 2000, "sequential checks per engine and round")
	flag.IntVar(&o.load.Conc, "conc", 4000, "concurrent checks per engine and round")
	flag.IntVar(&o.load.Clients, "clients", 4, "concurrent clients")
	flag.IntVar(&o.load.Lists, "lists", 5, "list calls per engine and round (0: none)")
	flag.DurationVar(&o.load.MaxPhase, "phase-max", 30*time.Second, "a phase stops after this long even if its count is not reached")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each measures every engine in turn")
	flag.IntVar(&o.workers, "workers", 4, "clients writing the data set")
	flag.IntVar(&o.fgaBatch, "fga-batch", 100, "tuples per OpenFGA Write (its server's default maximum)")
	flag.IntVar(&o.spiceBatch, "spice-batch", 1000, "relationships per SpiceDB WriteRelationships (its default maximum)")
	flag.BoolVar(&o.pg, "pg", false, "also run Gatehouse on PostgreSQL")
	flag.StringVar(&o.pgAdmin, "pgurl", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL server on which databases are created for the run (and dropped)")
	flag.BoolVar(&o.openfga, "openfga", true, "measure OpenFGA (PostgreSQL)")
	flag.BoolVar(&o.spicedb, "spicedb", true, "measure SpiceDB (memory datastore, dispatch cache on: its default)")
	flag.BoolVar(&o.spiceNoCache, "spicedb-nocache", true, "also SpiceDB on memory without the dispatch cache")
	flag.BoolVar(&o.spicePG, "spicedb-pg", true, "also SpiceDB on PostgreSQL")
	flag.StringVar(&o.openfgaBin, "openfga-bin", "", "an openfga binary to use instead of building it")
	flag.StringVar(&o.spicedbBin, "spicedb-bin", "", "a spicedb binary to use instead of building it")
	flag.BoolVar(&o.keepLogs, "keep-logs", false, "keep the temporary directory (server logs) and print its path")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write CPU profiles of this process (Gatehouse's server and the clients) to `prefix`-load.pprof (Gatehouse's load) and prefix-measure.pprof (the rounds)")
	flag.BoolVar(&o.abac, "abac", false, "the ABAC data set (attribute rules) against OPA and Cerbos instead of ReBAC against OpenFGA and SpiceDB")
	flag.BoolVar(&o.opa, "opa", true, "with -abac: measure OPA's server")
	flag.BoolVar(&o.cerbos, "cerbos", true, "with -abac: measure Cerbos's server")
	flag.BoolVar(&o.inline, "inline", true, "with -abac: also measure Gatehouse with every attribute inline")
	flag.StringVar(&o.opaBin, "opa-bin", "", "with -abac: an opa binary to use instead of the cached build")
	flag.StringVar(&o.cerbosBin, "cerbos-bin", "", "with -abac: a cerbos binary to use instead of the cached build")
	flag.StringVar(&o.cache, "cache", fine.DefaultCacheDir(), "with -abac: folder of the built peers (as httpbench's), reused by later runs")
	timeout := flag.Duration("timeout", 45*time.Minute, "the whole run, builds included")
	flag.Parse()
	o.openfgaPkg = "github.com/openfga/openfga/cmd/openfga"
	o.spicedbPkg = "github.com/authzed/spicedb/cmd/spicedb"

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	err := run(ctx, &o)
	cancel()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "finehttp:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// workload is what every engine answers: the checks, and the list queries
// (none for ABAC).
type workload struct {
	title   string // the data set, for the report
	checks  []authztest.FineQuery
	allowed int
	lists   []fine.ListQuery
	list    *fine.ListQuery // the list measured (nil: none)
}

// setup is what both data sets' set-ups share.
type setup struct {
	o         *options
	cl        *fine.Cleanup
	tmp       string
	moduleDir string
	client    *http.Client
}

func run(ctx context.Context, o *options) (err error) {
	var cl fine.Cleanup
	defer cl.Run()
	tmp, err := os.MkdirTemp("", "finehttp-")
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
	moduleDir, err := os.Getwd()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(moduleDir, "fine", "httpload.go")); err != nil {
		return fmt.Errorf("run it from the bench module: cd bench && go run ./cmd/finehttp")
	}
	s := &setup{o: o, cl: &cl, tmp: tmp, moduleDir: moduleDir, client: fine.NewHTTPClient()}
	stopProfile, err := startProfile(o.cpuProfile, "load")
	if err != nil {
		return err
	}
	defer func() { stopProfile() }()
	var w *workload
	var engines []*fine.HTTPEngine
	if o.abac {
		w, engines, err = s.abac(ctx)
	} else {
		w, engines, err = s.rebac(ctx)
	}
	if err != nil {
		return err
	}

	for _, e := range engines {
		start := time.Now()
		if err := e.Verify(ctx, w.checks, w.lists); err != nil {
			return err
		}
		what := fmt.Sprintf("all %d checks", len(w.checks)-e.Excluded(len(w.checks)))
		if n := e.Excluded(len(w.checks)); n > 0 {
			what += fmt.Sprintf(" (%d left out)", n)
		}
		if e.List != nil {
			what += fmt.Sprintf(" and %d lists", len(w.lists))
		}
		logf("%s (%s): %s right (%v)", e.Name, e.Store, what, time.Since(start).Round(time.Millisecond))
	}
	runtime.GC()
	list := w.list
	if o.load.Lists == 0 {
		list = nil
	}
	stopProfile()
	if stopProfile, err = startProfile(o.cpuProfile, "measure"); err != nil {
		return err
	}
	for round := range o.rounds {
		for _, e := range engines {
			start := time.Now()
			if err := e.Round(ctx, w.checks, list, o.load, round*(o.load.Seq+o.load.Conc)); err != nil {
				return err
			}
			seq := slices.Clone(e.Stats.Seq)
			logf("round %d: %s (%s) in %v; sequential so far p50 %s p90 %s p99 %s p99.9 %s max %s", round+1, e.Name, e.Store, time.Since(start).Round(time.Millisecond),
				dur(fine.Quantile(seq, 0.5)), dur(fine.Quantile(seq, 0.9)), dur(fine.Quantile(seq, 0.99)), dur(fine.Quantile(seq, 0.999)), dur(seq[len(seq)-1]))
		}
	}
	stopProfile()
	report(o, w, engines)
	return nil
}

// newDB creates a PostgreSQL database for the run, dropped at the end.
func (s *setup) newDB(ctx context.Context, name string) (*fine.PGDatabase, error) {
	db, err := fine.CreatePGDatabase(ctx, s.o.pgAdmin, "finehttp_"+name+"_"+strconv.Itoa(os.Getpid()))
	if err != nil {
		return nil, err
	}
	s.cl.Add(func() {
		if err := db.Drop(); err != nil {
			logf("%v", err)
		}
	})
	return db, nil
}

// gatehouseStores are the datastores Gatehouse runs on.
func (s *setup) gatehouseStores() []string {
	if s.o.pg {
		return []string{"SQLite", "PostgreSQL"}
	}
	return []string{"SQLite"}
}

// startGatehouse starts a Gatehouse server on store (SQLite, or a
// PostgreSQL database made for the run), stopped at the end.
func (s *setup) startGatehouse(ctx context.Context, store string) (*fine.GatehouseHTTP, error) {
	dir := filepath.Join(s.tmp, "gatehouse-"+strings.ToLower(store))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	dbURL := ""
	if store == "PostgreSQL" {
		db, err := s.newDB(ctx, "gatehouse")
		if err != nil {
			return nil, err
		}
		dbURL = db.URL
	}
	g, err := fine.StartGatehouse(ctx, dir, dbURL, s.client)
	if err != nil {
		return nil, err
	}
	s.cl.Add(g.Close)
	logf("gatehouse (%s) on %s: loading through the v1 API, %d clients...", store, g.URL, s.o.workers)
	return g, nil
}

// rebac sets up the ReBAC comparison: Gatehouse, OpenFGA, SpiceDB.
func (s *setup) rebac(ctx context.Context) (*workload, []*fine.HTTPEngine, error) {
	o := s.o
	// Peers' binaries first: the slowest step on a cold build cache.
	ofgaBin, spiceBin := o.openfgaBin, o.spicedbBin
	build := func(bin *string, name, pkg string, version *string) error {
		start := time.Now()
		var err error
		if *bin == "" {
			logf("building %s (go build %s; minutes on a cold build cache)...", name, pkg)
			*bin, *version, err = fine.BuildBinary(ctx, s.moduleDir, s.tmp, name, pkg)
		} else {
			*version, err = fine.BinaryVersion(ctx, *bin, pkg)
		}
		if err == nil {
			logf("  %s %s ready in %v", name, *version, time.Since(start).Round(time.Second))
		}
		return err
	}
	if o.openfga {
		if err := build(&ofgaBin, "openfga", o.openfgaPkg, &o.openfgaVersion); err != nil {
			return nil, nil, err
		}
	}
	if o.spicedb {
		if err := build(&spiceBin, "spicedb", o.spicedbPkg, &o.spicedbVersion); err != nil {
			return nil, nil, err
		}
	}

	start := time.Now()
	r := fine.LoadReBAC(o.scale, o.checks)
	w := &workload{checks: r.Checks, allowed: r.Allowed, lists: r.Lists, list: &r.Lists[1], // the lister's
		title: fmt.Sprintf("ReBAC at scale %g: %d relationships", o.scale, r.Relationships())}
	logf("ReBAC scale %g: %d users, %d instances, %d tuples + %d instance role assignments = %d relationships; %d checks (%d allowed); list of %d documents for %q; generated in %v",
		o.scale, len(r.DS.Data.Users), len(r.DS.Data.Instances), len(r.DS.Data.Tuples), len(r.DS.Data.Assignments), r.Relationships(),
		len(r.Checks), r.Allowed, len(w.list.Want), w.list.User, time.Since(start).Round(time.Millisecond))

	var engines []*fine.HTTPEngine
	for _, store := range s.gatehouseStores() {
		g, err := s.startGatehouse(ctx, store)
		if err != nil {
			return nil, nil, err
		}
		start := time.Now()
		if err := g.Load(ctx, r, o.workers, logf); err != nil {
			return nil, nil, err
		}
		e := &fine.HTTPEngine{Name: "Gatehouse", Store: store, Check: g.Check, List: g.List, Load: time.Since(start)}
		logf("  loaded in %v (%d API calls)", e.Load.Round(time.Millisecond), g.Calls.Load())
		engines = append(engines, e)
	}

	// OpenFGA on PostgreSQL.
	if o.openfga {
		db, err := s.newDB(ctx, "openfga")
		if err != nil {
			return nil, nil, err
		}
		logf("openfga %s: migrate and run on database %s...", o.openfgaVersion, db.Name)
		f, err := fine.StartOpenFGA(ctx, ofgaBin, s.tmp, db.URL, s.client)
		if err != nil {
			return nil, nil, err
		}
		s.cl.Add(f.Proc.Stop)
		start := time.Now()
		if err := f.Setup(ctx, r, o.fgaBatch, o.workers); err != nil {
			return nil, nil, err
		}
		e := &fine.HTTPEngine{Name: "OpenFGA " + o.openfgaVersion, Store: "PostgreSQL", Check: f.Check, List: f.List, Load: time.Since(start)}
		logf("  %d tuples written in %v (%d per Write, %d clients)", r.Relationships(), e.Load.Round(time.Millisecond), o.fgaBatch, o.workers)
		engines = append(engines, e)
	}

	// SpiceDB.
	if o.spicedb {
		type variant struct {
			name, store string
			pg, cache   bool
		}
		vs := []variant{{"spicedb-memory", "memory", false, true}}
		if o.spiceNoCache {
			vs = append(vs, variant{"spicedb-memory-nocache", "memory, no dispatch cache", false, false})
		}
		if o.spicePG {
			vs = append(vs, variant{"spicedb-postgres", "PostgreSQL", true, true})
		}
		for _, v := range vs {
			dbURL := ""
			if v.pg {
				db, err := s.newDB(ctx, "spicedb")
				if err != nil {
					return nil, nil, err
				}
				dbURL = db.URL
			}
			logf("spicedb %s (%s): serve...", o.spicedbVersion, v.store)
			sp, err := fine.StartSpiceDB(ctx, spiceBin, s.tmp, v.name, dbURL, v.cache, s.client)
			if err != nil {
				return nil, nil, err
			}
			s.cl.Add(sp.Proc.Stop)
			start := time.Now()
			if err := sp.Setup(ctx, r, o.spiceBatch, o.workers); err != nil {
				return nil, nil, err
			}
			e := &fine.HTTPEngine{Name: "SpiceDB " + o.spicedbVersion, Store: v.store, Check: sp.Check, List: sp.List, Load: time.Since(start)}
			logf("  %d relationships written in %v (%d per call, %d clients)", r.Relationships(), e.Load.Round(time.Millisecond), o.spiceBatch, o.workers)
			engines = append(engines, e)
		}
	}
	return w, engines, nil
}

// abac sets up the ABAC comparison: Gatehouse (stored attributes, and
// inline), OPA, Cerbos.
func (s *setup) abac(ctx context.Context) (*workload, []*fine.HTTPEngine, error) {
	o := s.o
	b := &fine.Builder{ModuleDir: s.moduleDir, Cache: o.cache, Logf: logf}
	opaBin, cerbosBin := o.opaBin, o.cerbosBin
	var err error
	if o.opa && opaBin == "" {
		if opaBin, err = b.OPA(ctx); err != nil {
			return nil, nil, err
		}
	}
	if o.cerbos && cerbosBin == "" {
		if cerbosBin, err = b.Cerbos(ctx); err != nil {
			return nil, nil, err
		}
	}

	start := time.Now()
	a := fine.LoadABAC(o.checks)
	d := &a.DS.Data
	w := &workload{checks: a.Checks, allowed: a.Allowed,
		title: fmt.Sprintf("ABAC: %d users and %d instances with attributes, %d condition sets, %d set rules", len(d.Users), len(d.Instances), len(d.ConditionSets), len(d.SetRules))}
	logf("ABAC: %d users, %d instances (%d types), %d tenants, %d condition sets, %d set rules; %d checks (%d allowed); generated in %v",
		len(d.Users), len(d.Instances), len(d.Resources), len(d.Tenants), len(d.ConditionSets), len(d.SetRules), len(a.Checks), a.Allowed, time.Since(start).Round(time.Millisecond))
	x := fine.NewABACIndex(d)

	var engines []*fine.HTTPEngine
	for _, store := range s.gatehouseStores() {
		g, err := s.startGatehouse(ctx, store)
		if err != nil {
			return nil, nil, err
		}
		start := time.Now()
		if err := g.LoadABAC(ctx, a, o.workers, logf); err != nil {
			return nil, nil, err
		}
		load := time.Since(start)
		logf("  loaded in %v (%d API calls)", load.Round(time.Millisecond), g.Calls.Load())
		for _, inline := range []bool{false, true} {
			if inline && !o.inline {
				continue
			}
			e, err := g.ABACEngine(a, x, inline, store)
			if err != nil {
				return nil, nil, err
			}
			e.Load = load
			engines = append(engines, e)
		}
	}
	// A binary given by flag is named by its build information (Cerbos
	// built from a copy of its source says "(devel)").
	version := func(bin, flagged, pkg, pinned string) string {
		if flagged == "" {
			return pinned
		}
		if v, err := fine.BinaryVersion(ctx, bin, pkg); err == nil {
			return v
		}
		return "(" + bin + ")"
	}
	if o.opa {
		v := version(opaBin, o.opaBin, "github.com/open-policy-agent/opa", fine.OPAVersion)
		logf("opa %s: run --server...", v)
		e, p, err := fine.StartOPAABAC(ctx, opaBin, s.tmp, a, s.client)
		if err != nil {
			return nil, nil, err
		}
		s.cl.Add(p.Stop)
		e.Name = "OPA " + v
		logf("  ready in %v", e.Load.Round(time.Millisecond))
		engines = append(engines, e)
	}
	if o.cerbos {
		v := version(cerbosBin, o.cerbosBin, "github.com/cerbos/cerbos", fine.CerbosVersion)
		logf("cerbos %s: server...", v)
		e, p, err := fine.StartCerbosABAC(ctx, cerbosBin, s.tmp, a, x, s.client)
		if err != nil {
			return nil, nil, err
		}
		s.cl.Add(p.Stop)
		e.Name = "Cerbos " + v
		logf("  ready in %v; %s", e.Load.Round(time.Millisecond), e.Note)
		engines = append(engines, e)
	}
	return w, engines, nil
}

// startProfile starts a CPU profile to prefix-name.pprof (none without a
// prefix) and returns what stops it (idempotent).
func startProfile(prefix, name string) (func(), error) {
	if prefix == "" {
		return func() {}, nil
	}
	f, err := os.Create(prefix + "-" + name + ".pprof")
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			f.Close()
		})
	}, nil
}

func dur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.0f µs", float64(d)/1e3)
}

func ratio(x float64) string {
	switch {
	case x >= 10:
		return fmt.Sprintf("%.0f×", x)
	case x < 0.1:
		return fmt.Sprintf("%.2f×", x)
	}
	return fmt.Sprintf("%.1f×", x)
}

func report(o *options, w *workload, engines []*fine.HTTPEngine) {
	fmt.Printf("\n%s; %d distinct checks (%d allowed), cycled; %d rounds of %d sequential checks and %d checks from %d clients per engine; %s, %d CPUs.\n\n",
		w.title, len(w.checks), w.allowed, o.rounds, o.load.Seq, o.load.Conc, o.load.Clients, runtime.Version(), runtime.NumCPU())
	lists := w.list != nil
	listHead, listSep := "", ""
	if lists {
		listHead, listSep = fmt.Sprintf(" list %d docs p50 |", len(w.list.Want)), "---|"
	}
	fmt.Printf("| server | datastore | load | sequential p50 | p99 | %d clients checks/s | p99 |%s\n", o.load.Clients, listHead)
	fmt.Println("|---|---|---|---|---|---|---|" + listSep)
	for _, e := range engines {
		s := &e.Stats
		lst := ""
		if lists {
			lst = " – |"
			if len(s.List) > 0 {
				lst = " " + dur(fine.Quantile(s.List, 0.5)) + " |"
			}
		}
		fmt.Printf("| %s | %s | %.1f s | %s | %s | %.0f | %s |%s\n", e.Name, e.Store, e.Load.Seconds(),
			dur(fine.Quantile(s.Seq, 0.5)), dur(fine.Quantile(s.Seq, 0.99)), s.Throughput(), dur(fine.Quantile(s.Conc, 0.99)), lst)
	}
	for _, base := range engines {
		if base.Name != "Gatehouse" {
			continue
		}
		b := &base.Stats
		fmt.Printf("\nRatios to Gatehouse on %s (latency: peer ÷ Gatehouse; throughput: Gatehouse ÷ peer):\n\n", base.Store)
		listHead, listSep = "", ""
		if lists {
			listHead, listSep = " list p50 |", "---|"
		}
		fmt.Println("| server | datastore | sequential p50 | sequential p99 | checks/s | concurrent p99 |" + listHead)
		fmt.Println("|---|---|---|---|---|---|" + listSep)
		for _, e := range engines {
			if e == base {
				continue
			}
			s := &e.Stats
			lst := ""
			if lists {
				lst = " – |"
				if len(s.List) > 0 && len(b.List) > 0 {
					lst = " " + ratio(float64(fine.Quantile(s.List, 0.5))/float64(fine.Quantile(b.List, 0.5))) + " |"
				}
			}
			fmt.Printf("| %s | %s | **%s** | %s | **%s** | %s |%s\n", e.Name, e.Store,
				ratio(float64(fine.Quantile(s.Seq, 0.5))/float64(fine.Quantile(b.Seq, 0.5))),
				ratio(float64(fine.Quantile(s.Seq, 0.99))/float64(fine.Quantile(b.Seq, 0.99))),
				ratio(b.Throughput()/s.Throughput()),
				ratio(float64(fine.Quantile(s.Conc, 0.99))/float64(fine.Quantile(b.Conc, 0.99))),
				lst)
		}
	}
	fmt.Println()
	for _, e := range engines {
		fmt.Printf("%s (%s): %d sequential, %d concurrent checks, %d lists measured", e.Name, e.Store, len(e.Stats.Seq), len(e.Stats.Conc), len(e.Stats.List))
		if n := e.Excluded(len(w.checks)); n > 0 {
			fmt.Printf("; %d of the %d checks LEFT OUT", n, len(w.checks))
		}
		fmt.Println(".")
	}
	for _, e := range engines {
		if e.Note != "" {
			fmt.Printf("- %s\n", e.Note)
		}
	}
}
