package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/bench/fine"
	"github.com/gatehouse-dev/gatehouse/client/authz/authztest"
)

// engine is one server measured over HTTP by the one load generator.
type engine struct {
	name  string
	batch int // checks per call: 1, or the size of a bulk call
	// check answers qs (len(qs) == batch) into out.
	check func(ctx context.Context, qs []authztest.Query, out []bool) error
	proc  *fine.Proc // the server process (RSS); nil: none of its own
	// adminURL serves /debug/pprof/ for -memory and -cpuprofile ("": none).
	adminURL string
	// profile, when set, is where the CPU profile of the process during
	// the next round's phase with several clients is saved (-cpuprofile).
	profile string
	note    string // printed under the table
	// before and after, when set, run around the engine's verification
	// and each of its measured phases (a setting switched for it alone).
	before, after func(ctx context.Context) error

	load         time.Duration // writing the data set (0: n/a)
	ready, first time.Duration // process start → ready, → first check answered (0: not measured)
	rss, anon    int64         // VmRSS and RssAnon in bytes, after loading and verification
	rounds       []roundResult
}

// roundResult is one engine's measurement in one round; latencies are per
// call divided by the checks it carried.
type roundResult struct {
	seqP50, seqP99   time.Duration
	concRate         float64 // checks/s
	concP99          time.Duration
	seqN, concChecks int
	// concCPU is the server process's CPU time (user and system) per check
	// in the phase with several clients, and genCPU the load generator's
	// (this process's); 0: not measured.
	concCPU, genCPU time.Duration
}

// call asks one call's worth of queries starting at i (cycling) and
// verifies every answer.
func (e *engine) call(ctx context.Context, qs []authztest.Query, i int, buf []authztest.Query, out []bool) (time.Duration, error) {
	for j := range buf {
		buf[j] = qs[(i+j)%len(qs)]
	}
	start := time.Now()
	err := e.check(ctx, buf, out)
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%s: check %+v: %w", e.name, buf[0], err)
	}
	for j := range buf {
		if out[j] != buf[j].Want {
			q := buf[j]
			return 0, fmt.Errorf("%s: WRONG ANSWER for user %s, action %s, resource %s, tenant %s: %v, want %v", e.name, q.User, q.Action, q.Resource, q.Tenant, out[j], q.Want)
		}
	}
	return d, nil
}

// verify asks every query once, on clients clients, and compares every
// answer with the data set's.
func (e *engine) verify(ctx context.Context, qs []authztest.Query, clients int) (err error) {
	if e.before != nil {
		if err := e.before(ctx); err != nil {
			return fmt.Errorf("%s: %w", e.name, err)
		}
		defer func() {
			if aerr := e.after(ctx); aerr != nil && err == nil {
				err = fmt.Errorf("%s: %w", e.name, aerr)
			}
		}()
	}
	return e.verifyAll(ctx, qs, clients)
}

func (e *engine) verifyAll(ctx context.Context, qs []authztest.Query, clients int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, clients)
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf, out := make([]authztest.Query, e.batch), make([]bool, e.batch)
			for {
				i := int(next.Add(int64(e.batch))) - e.batch
				if i >= len(qs) || ctx.Err() != nil {
					return
				}
				if _, err := e.call(ctx, qs, i, buf, out); err != nil {
					errs[w] = err
					next.Store(int64(len(qs)))
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}

// measure runs one round: one client in sequence for d, then clients
// clients at once for d. Queries start at offset and cycle; the offset
// after the round is returned.
func (e *engine) measure(ctx context.Context, qs []authztest.Query, offset, clients int, d time.Duration) (r roundResult, next int, err error) {
	if e.before != nil {
		if err := e.before(ctx); err != nil {
			return r, 0, fmt.Errorf("%s: %w", e.name, err)
		}
		defer func() {
			if aerr := e.after(ctx); aerr != nil && err == nil {
				err = fmt.Errorf("%s: %w", e.name, aerr)
			}
		}()
	}
	return e.measurePhases(ctx, qs, offset, clients, d)
}

func (e *engine) measurePhases(ctx context.Context, qs []authztest.Query, offset, clients int, d time.Duration) (roundResult, int, error) {
	var r roundResult
	buf, out := make([]authztest.Query, e.batch), make([]bool, e.batch)
	var seq []time.Duration
	start := time.Now()
	for i := offset; time.Since(start) < d; i += e.batch {
		lat, err := e.call(ctx, qs, i, buf, out)
		if err != nil {
			return r, 0, err
		}
		seq = append(seq, lat/time.Duration(e.batch))
		offset = i + e.batch
	}
	r.seqN = len(seq) * e.batch
	r.seqP50, r.seqP99 = quantile(seq, 0.5), quantile(seq, 0.99)

	var next atomic.Int64
	next.Store(int64(offset))
	var wg sync.WaitGroup
	lats := make([][]time.Duration, clients)
	errs := make([]error, clients)
	var stop atomic.Bool
	var cpu0 time.Duration
	if e.proc != nil {
		var err error
		if cpu0, err = cpuOf(e.proc.PID()); err != nil {
			return r, 0, err
		}
	}
	gen0 := selfCPU()
	var profiled chan error
	if e.profile != "" && e.adminURL != "" {
		profiled = make(chan error, 1)
		go func() { profiled <- saveCPUProfile(ctx, e.adminURL, e.profile, d) }()
	}
	start = time.Now()
	deadline := start.Add(d)
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf, out := make([]authztest.Query, e.batch), make([]bool, e.batch)
			for !stop.Load() && time.Now().Before(deadline) {
				i := int(next.Add(int64(e.batch))) - e.batch
				lat, err := e.call(ctx, qs, i, buf, out)
				if err != nil {
					errs[w] = err
					stop.Store(true)
					return
				}
				lats[w] = append(lats[w], lat/time.Duration(e.batch))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	gen1 := selfCPU()
	var cpu1 time.Duration
	if e.proc != nil {
		var err error
		if cpu1, err = cpuOf(e.proc.PID()); err != nil {
			return r, 0, err
		}
	}
	if profiled != nil {
		if err := <-profiled; err != nil {
			return r, 0, fmt.Errorf("%s: cpu profile: %w", e.name, err)
		}
		logf("CPU profile of %s with %d clients saved: go tool pprof -top %s", strings.TrimSpace(e.name), clients, e.profile)
		e.profile = "" // once
	}
	for _, err := range errs {
		if err != nil {
			return r, 0, err
		}
	}
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	r.concChecks = len(all) * e.batch
	r.concRate = float64(r.concChecks) / elapsed.Seconds()
	r.concP99 = quantile(all, 0.99)
	if r.concChecks > 0 {
		if e.proc != nil {
			r.concCPU = (cpu1 - cpu0) / time.Duration(r.concChecks)
		}
		r.genCPU = (gen1 - gen0) / time.Duration(r.concChecks)
	}
	return r, int(next.Load()) % len(qs), nil
}

// clockTicks is Linux's USER_HZ, the unit of /proc/PID/stat's CPU times:
// 100 on every architecture Go supports there.
const clockTicks = 100

// cpuOf is the CPU time (user and system) process pid has used so far,
// from /proc/PID/stat (Linux).
func cpuOf(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The fields after the command name (in parentheses, which may hold
	// spaces): state is field 3, utime 14 and stime 15.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected %q", pid, b)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// selfCPU is the CPU time this process (the load generator) has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// saveCPUProfile saves the CPU profile of the process serving adminURL's
// /debug/pprof/ over the next d (whole seconds, at least 1) to path.
func saveCPUProfile(ctx context.Context, adminURL, path string, d time.Duration) error {
	secs := max(1, int(d/time.Second))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, adminURL+"/debug/pprof/profile?seconds="+strconv.Itoa(secs), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(float64(len(ds))*q))]
}

// memOf reads a field of /proc/<pid>/status given in kB (VmRSS,
// RssAnon), in bytes (Linux).
func memOf(pid int, field string) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				n, err := strconv.ParseInt(f[0], 10, 64)
				return n * 1024, err
			}
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// medians of an engine's rounds.
func (e *engine) median() roundResult {
	med := func(f func(r roundResult) float64) float64 {
		vs := make([]float64, len(e.rounds))
		for i, r := range e.rounds {
			vs[i] = f(r)
		}
		slices.Sort(vs)
		if len(vs) == 0 {
			return 0
		}
		if len(vs)%2 == 1 {
			return vs[len(vs)/2]
		}
		return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
	}
	return roundResult{
		seqP50:   time.Duration(med(func(r roundResult) float64 { return float64(r.seqP50) })),
		seqP99:   time.Duration(med(func(r roundResult) float64 { return float64(r.seqP99) })),
		concRate: med(func(r roundResult) float64 { return r.concRate }),
		concP99:  time.Duration(med(func(r roundResult) float64 { return float64(r.concP99) })),
		concCPU:  time.Duration(med(func(r roundResult) float64 { return float64(r.concCPU) })),
		genCPU:   time.Duration(med(func(r roundResult) float64 { return float64(r.genCPU) })),
	}
}
