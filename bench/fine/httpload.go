package fine

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/client/authz/authztest"
)

// HTTPEngine is one server measured over HTTP: its check and list calls.
type HTTPEngine struct {
	Name  string // e.g. "OpenFGA v1.22.1"
	Store string // its datastore, e.g. "PostgreSQL"
	Check func(ctx context.Context, q *authz.Request) (bool, error)
	// CheckAt, when set, is used instead of Check: it answers check i of
	// the check list (a request body built before anything is timed).
	CheckAt func(ctx context.Context, i int) (bool, error)
	// Only, when set, lists the checks this engine answers (indexes into
	// the check list); the others are left out of its verification and
	// measurement (see Excluded).
	Only []int
	List func(ctx context.Context, l *ListQuery) ([]string, error) // nil: not measured
	Load time.Duration                                             // writing the data set over its API
	// Note says what is particular about how it runs (one line).
	Note  string
	Stats HTTPStats
}

// Excluded is the number of the n checks this engine leaves out.
func (e *HTTPEngine) Excluded(n int) int {
	if e.Only == nil {
		return 0
	}
	return n - len(e.Only)
}

// HTTPStats accumulates an engine's measurements over rounds.
type HTTPStats struct {
	Seq      []time.Duration // sequential checks, one client
	Conc     []time.Duration // checks of the concurrent clients
	ConcTime time.Duration   // wall time of the concurrent phases
	List     []time.Duration
	ListLen  int
}

// HTTPLoad sizes one round of measurement.
type HTTPLoad struct {
	Seq      int           // sequential checks per round
	Conc     int           // checks per round, shared by Clients clients
	Clients  int           // concurrent clients
	Lists    int           // list calls per round
	MaxPhase time.Duration // a phase ends at its count or after this long
}

// wrong is the error of a wrong answer: every one aborts the run.
func wrong(e *HTTPEngine, q *authz.Request, got, want bool) error {
	return fmt.Errorf("%s: WRONG ANSWER for %s %s %s:%s: %v, want %v", e.Name, q.User, q.Action, q.Resource, q.Key, got, want)
}

// checkOne asks the engine's i-th check (cycling over those it answers)
// and compares the answer with the expected one.
func (e *HTTPEngine) checkOne(ctx context.Context, checks []authztest.FineQuery, i int) (time.Duration, error) {
	if e.Only != nil {
		i = e.Only[i%len(e.Only)]
	} else {
		i %= len(checks)
	}
	q := &checks[i]
	start := time.Now()
	var got bool
	var err error
	if e.CheckAt != nil {
		got, err = e.CheckAt(ctx, i)
	} else {
		got, err = e.Check(ctx, &q.Request)
	}
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%s: check %+v: %w", e.Name, q.Request, err)
	}
	if got != q.Want {
		return 0, wrong(e, &q.Request, got, q.Want)
	}
	return d, nil
}

// answered is the number of checks the engine answers.
func (e *HTTPEngine) answered(checks []authztest.FineQuery) int {
	if e.Only != nil {
		return len(e.Only)
	}
	return len(checks)
}

// Verify asks every check and list query once (which also warms the
// engine and the connection) and compares every answer with the expected
// one.
func (e *HTTPEngine) Verify(ctx context.Context, checks []authztest.FineQuery, lists []ListQuery) error {
	if e.Only != nil && len(e.Only) == 0 {
		return fmt.Errorf("%s: answers none of the %d checks", e.Name, len(checks))
	}
	for i := range e.answered(checks) {
		if _, err := e.checkOne(ctx, checks, i); err != nil {
			return err
		}
	}
	if e.List == nil {
		return nil
	}
	for i := range lists {
		if err := e.listOne(ctx, &lists[i]); err != nil {
			return err
		}
	}
	return nil
}

func (e *HTTPEngine) listOne(ctx context.Context, l *ListQuery) error {
	got, err := e.List(ctx, l)
	if err != nil {
		return fmt.Errorf("%s: list %s %s %s: %w", e.Name, l.User, l.Action, l.Resource, err)
	}
	if !slices.Equal(got, l.Want) {
		return fmt.Errorf("%s: WRONG LIST for %s %s %s: %d keys, want %d", e.Name, l.User, l.Action, l.Resource, len(got), len(l.Want))
	}
	return nil
}

// Round measures one round: o.Seq sequential checks, then o.Conc checks
// by o.Clients clients at once, then o.Lists lists of the list query
// l (when the engine lists). Checks start at offset in the engine's
// checks and cycle.
func (e *HTTPEngine) Round(ctx context.Context, checks []authztest.FineQuery, l *ListQuery, o HTTPLoad, offset int) error {
	start := time.Now()
	for i := 0; i < o.Seq && (i < 10 || time.Since(start) < o.MaxPhase); i++ {
		d, err := e.checkOne(ctx, checks, offset+i)
		if err != nil {
			return err
		}
		e.Stats.Seq = append(e.Stats.Seq, d)
	}
	var (
		next  atomic.Int64
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
		lats  = make([][]time.Duration, o.Clients)
	)
	start = time.Now()
	for w := range o.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= o.Conc || i >= 10*o.Clients && time.Since(start) >= o.MaxPhase {
					return
				}
				d, err := e.checkOne(ctx, checks, offset+o.Seq+i)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					next.Store(int64(o.Conc)) // stop the others
					return
				}
				lats[w] = append(lats[w], d)
			}
		}()
	}
	wg.Wait()
	e.Stats.ConcTime += time.Since(start)
	if first != nil {
		return first
	}
	for _, ls := range lats {
		e.Stats.Conc = append(e.Stats.Conc, ls...)
	}
	if e.List == nil || l == nil {
		return nil
	}
	e.Stats.ListLen = len(l.Want)
	start = time.Now()
	for i := 0; i < o.Lists && (i < 1 || time.Since(start) < o.MaxPhase); i++ {
		t := time.Now()
		if err := e.listOne(ctx, l); err != nil {
			return err
		}
		e.Stats.List = append(e.Stats.List, time.Since(t))
	}
	return nil
}

// Quantile returns the q-quantile (0..1) of ds (sorted in place).
func Quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(float64(len(ds))*q))]
}

// Throughput is the concurrent phases' checks per second.
func (s *HTTPStats) Throughput() float64 {
	if s.ConcTime <= 0 {
		return 0
	}
	return float64(len(s.Conc)) / s.ConcTime.Seconds()
}
