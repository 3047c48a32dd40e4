package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/jobs"
	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/internal/queue"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

// Several nodes on one database: on PostgreSQL each node opens the
// database itself (as separate processes do); SQLite has one process, whose
// Services and queues share its database.
type cluster struct {
	engine string
	// stale is the nodes' Stale: 2 s on PostgreSQL (with 1 s, a heartbeat
	// of a live node came late on a machine at load 15, and its task was
	// taken over); on SQLite the nodes' queues, heartbeats and batches
	// share one writer (a heartbeat waited over a second for it under the
	// race detector), so 4 s.
	stale  time.Duration
	url    string // PostgreSQL
	shared *store.DB
	target jobs.Target
}

func newCluster(t *testing.T, engine string) *cluster {
	t.Helper()
	c := &cluster{engine: engine, stale: 2 * time.Second}
	if engine == "sqlite" {
		c.stale = 4 * time.Second
	}
	ctx := context.Background()
	var first *store.DB
	var err error
	if engine == "postgres" {
		c.url = pgtest.NewDatabase(t)
		first, err = store.OpenPostgres(ctx, c.url)
	} else {
		first, err = store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
		c.shared = first
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Close() })
	if err := first.MigrateQueue(ctx); err != nil {
		t.Fatal(err)
	}
	st := first.Store()
	now := time.Now().UTC()
	o := &tenancy.Organization{ID: tenancy.NewID(), Key: "acme", Name: "Acme", Settings: tenancy.DefaultOrgSettings(), CreatedAt: now, UpdatedAt: now}
	p := &tenancy.Project{ID: tenancy.NewID(), OrgID: o.ID, Key: "web", Name: "Web", CreatedAt: now, UpdatedAt: now}
	e := &tenancy.Environment{ID: tenancy.NewID(), OrgID: o.ID, ProjectID: p.ID, Key: "dev", Name: "dev", Settings: tenancy.DefaultEnvSettings(), CreatedAt: now, UpdatedAt: now}
	for _, err := range []error{st.CreateOrganization(ctx, o), st.CreateProject(ctx, p), st.CreateEnvironment(ctx, e)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	c.target = jobs.Target{OrgID: o.ID, ProjectID: p.ID, EnvID: e.ID}
	return c
}

// node is one Service with its own queue, and what it did.
type node struct {
	db      *store.DB
	svc     *jobs.Service
	st      *countingStore
	q       *queue.Queue
	sweeps  atomic.Int64
	stopped chan struct{}
}

// countingStore is the real store, counting the task claims this node won
// and, when slow is set, taking that long before each write of an
// environment's data (a slow but live node).
type countingStore struct {
	*store.Store
	claims atomic.Int64
	slow   atomic.Int64 // nanoseconds
	// crashOn, when set, makes the node stop for good right after it
	// claims a task crashOn accepts: it never writes again (no heartbeat,
	// no result), as a killed process.
	crashOn func(*jobs.Task) bool
	crashed atomic.Value // the task's id
	dead    atomic.Bool
}

var errCrashed = errors.New("this node has crashed")

func (c *countingStore) TouchTask(ctx context.Context, id string, attempts int, now time.Time) (bool, error) {
	if c.dead.Load() {
		return false, errCrashed
	}
	return c.Store.TouchTask(ctx, id, attempts, now)
}

func (c *countingStore) InJobTx(ctx context.Context, envID string, fn func(jobs.Tx) error) error {
	if c.dead.Load() {
		return errCrashed
	}
	if d := time.Duration(c.slow.Load()); envID != "" && d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return c.Store.InJobTx(ctx, envID, func(tx jobs.Tx) error { return fn(countingTx{tx, c}) })
}

type countingTx struct {
	jobs.Tx
	c *countingStore
}

func (t countingTx) ClaimTask(ctx context.Context, id, status string, attempts int, now time.Time) (bool, error) {
	ok, err := t.Tx.ClaimTask(ctx, id, status, attempts, now)
	if !ok || err != nil {
		return ok, err
	}
	t.c.claims.Add(1)
	if t.c.crashOn != nil {
		task, err := t.Tx.TaskByID(ctx, id)
		if err != nil {
			return false, err
		}
		if t.c.crashOn(task) {
			t.c.crashed.Store(id)
			t.c.dead.Store(true) // once this claim commits
		}
	}
	return true, nil
}

// startNode starts a node: its Service, its queue (not yet working) and
// its take-over loop (every Stale/2, as the server's).
func (c *cluster) startNode(t *testing.T) *node {
	t.Helper()
	ctx := context.Background()
	db := c.shared
	if db == nil {
		var err error
		if db, err = store.OpenPostgres(ctx, c.url); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
	}
	var w io.Writer = io.Discard
	if os.Getenv("JOBS_TEST_LOG") != "" {
		w = os.Stderr
	}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n := &node{db: db, st: &countingStore{Store: db.Store()}, stopped: make(chan struct{})}
	f := facts.NewService(db.Store(), log)
	n.svc = jobs.NewService(n.st, f, log, jobs.Options{Lease: time.Minute, Stale: c.stale, Pause: 0.5})
	var err error
	n.q, err = queue.New(queue.Options{Engine: db.Engine, DB: db.Writer(), JobTimeout: time.Minute, TaskWorkers: 2, Log: log}, queue.Handlers{
		Deliver: func(context.Context, string) (queue.Outcome, error) { return queue.Outcome{}, nil },
		RunTask: n.svc.RunTask,
		Sweep:   func(context.Context) error { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	bg, stop := context.WithCancel(ctx)
	go func() {
		defer close(n.stopped)
		for {
			select {
			case <-bg.Done():
				return
			case <-time.After(c.stale / 2):
			}
			if n.st.dead.Load() {
				return
			}
			if _, err := n.svc.TakeOver(bg); err != nil && bg.Err() == nil {
				t.Errorf("take over: %v", err)
			}
			n.sweeps.Add(1)
		}
	}()
	t.Cleanup(func() {
		stop()
		<-n.stopped
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = n.q.Stop(sctx)
	})
	return n
}

func (n *node) work(t *testing.T) {
	t.Helper()
	if err := n.q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// importFile: a role, two tenants, users users and each user assigned
// the role in both tenants (rows: 3 + 3×users). With a batch size of 10
// the users' batches run one after another, the assignments' at once.
func importFile(users int) string {
	var b strings.Builder
	b.WriteString(`{"type":"role","key":"viewer"}` + "\n" + `{"type":"tenant","key":"t0"}` + "\n" + `{"type":"tenant","key":"t1"}` + "\n")
	for u := 0; u < users; u++ {
		fmt.Fprintf(&b, `{"type":"user","key":"u%d"}`+"\n", u)
	}
	for tn := 0; tn < 2; tn++ {
		for u := 0; u < users; u++ {
			fmt.Fprintf(&b, `{"type":"role_assignment","user":"u%d","role":"viewer","tenant":"t%d"}`+"\n", u, tn)
		}
	}
	return b.String()
}

func (c *cluster) startImport(t *testing.T, n *node, users int) *jobs.Job {
	t.Helper()
	all, err := gatehouse.NewScopeSet(gatehouse.AllScopes())
	if err != nil {
		t.Fatal(err)
	}
	p := &auth.Principal{Level: auth.LevelOrganization, OrgID: c.target.OrgID, KeyID: "test", Scopes: all}
	j, err := n.svc.Import(context.Background(), p, c.target, jobs.ImportInput{Format: "jsonl", BatchSize: 10, Body: strings.NewReader(importFile(users))})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// wantExact waits for job id to end and checks that every row was applied
// once: nothing lost, nothing applied twice.
func (c *cluster) wantExact(t *testing.T, n *node, id string, users int) *jobs.Job {
	t.Helper()
	ctx := context.Background()
	var j *jobs.Job
	testwait.Until(t, 60*time.Second, "the job ends", func() bool {
		var err error
		if j, err = n.db.Store().JobByID(ctx, id); err != nil {
			t.Fatal(err)
		}
		return j.Finished()
	})
	rows := int64(3 + 3*users)
	want := facts.BatchResult{Created: int(rows)}
	if j.Status != jobs.StatusSucceeded || j.DoneItems != rows || j.FailedItems != 0 || j.Result.BatchResult != want {
		t.Fatalf("job %s: done %d, failed %d, result %+v (%s), want %d rows created", j.Status, j.DoneItems, j.FailedItems, j.Result, j.Error, rows)
	}
	for kind, want := range map[string]int{facts.KindUser: users, facts.KindTenant: 2, facts.KindRole: 1, facts.KindRoleAssignment: 2 * users} {
		got, err := n.db.Store().CountRows(ctx, c.target.EnvID, kind)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%d %s rows, want %d", got, kind, want)
		}
	}
	return j
}

func forEngines(t *testing.T, fn func(t *testing.T, c *cluster)) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			fn(t, newCluster(t, engine))
		})
	}
}

// A node that claimed a task and stopped (it never beats again) holds the
// job up for seconds, not for the job timeout: another node takes the task
// over once its heartbeat is Stale old, and the job ends with every row
// applied once.
func TestCrashedNodeTaskTakenOver(t *testing.T) {
	t.Parallel()
	forEngines(t, func(t *testing.T, c *cluster) {
		ctx := context.Background()
		live := c.startNode(t)
		const users = 30
		j := c.startImport(t, live, users)
		first, err := live.db.Store().NextJobTask(ctx, j.ID, "", jobs.StatusQueued)
		if err != nil || first == nil {
			t.Fatalf("first task: %v %v", first, err)
		}
		// The crashed node: it claimed the first task, then died.
		crashedAt := time.Now()
		if ok, err := live.db.Store().ClaimTask(ctx, first.ID, jobs.StatusQueued, 0, crashedAt.UTC()); err != nil || !ok {
			t.Fatalf("claim: %v %v", ok, err)
		}
		live.work(t)
		var took time.Duration
		testwait.Until(t, 20*time.Second, "the abandoned task is taken over", func() bool {
			cur, err := live.db.Store().TaskByID(ctx, first.ID)
			if err != nil {
				t.Fatal(err)
			}
			took = time.Since(crashedAt)
			return cur.Attempts == 2
		})
		// Stale, then at most one take-over round (Stale/2) and a queue poll.
		if limit := c.stale + c.stale/2 + 2*time.Second; took > limit {
			t.Errorf("taken over after %v, want within %v", took, limit)
		}
		c.wantExact(t, live, j.ID, users)
		t.Logf("taken over %v after the crash", took.Round(time.Millisecond))
	})
}

// A slow node that is alive keeps its task: its heartbeats keep the other
// nodes from taking it over, however long past Stale it runs.
func TestSlowLiveNodeKeepsItsTask(t *testing.T) {
	t.Parallel()
	forEngines(t, func(t *testing.T, c *cluster) {
		ctx := context.Background()
		slow := c.startNode(t)
		other := c.startNode(t) // takes over, had the slow node stopped
		const users = 5
		slow.st.slow.Store(int64(2 * c.stale)) // each batch: twice Stale before it applies
		j := c.startImport(t, slow, users)
		first, err := slow.db.Store().NextJobTask(ctx, j.ID, "", jobs.StatusQueued)
		if err != nil || first == nil {
			t.Fatalf("first task: %v %v", first, err)
		}
		slow.work(t)
		testwait.Until(t, 10*time.Second, "the slow node runs the first task", func() bool {
			cur, err := slow.db.Store().TaskByID(ctx, first.ID)
			if err != nil {
				t.Fatal(err)
			}
			return cur.Status == jobs.StatusRunning
		})
		other.work(t)
		sweeps := other.sweeps.Load()
		testwait.Until(t, 30*time.Second, "the first task ends", func() bool {
			cur, err := slow.db.Store().TaskByID(ctx, first.ID)
			if err != nil {
				t.Fatal(err)
			}
			return cur.FinishedAt != nil
		})
		cur, err := slow.db.Store().TaskByID(ctx, first.ID)
		if err != nil {
			t.Fatal(err)
		}
		if cur.Attempts != 1 || cur.Status != jobs.StatusSucceeded {
			t.Errorf("the slow node's task: attempts %d, %s; want 1, succeeded (never taken over)", cur.Attempts, cur.Status)
		}
		if n := other.sweeps.Load() - sweeps; n < 1 {
			t.Errorf("the other node did not look for stopped tasks while the task ran")
		}
		slow.st.slow.Store(0)
		c.wantExact(t, slow, j.ID, users)
	})
}

// Two nodes share one job's tasks: the assignments' batches (independent
// of each other) run on both, and every row is applied once, also when one
// of them is taken over from a third node that crashed with it.
func TestNodesShareAJob(t *testing.T) {
	t.Parallel()
	forEngines(t, func(t *testing.T, c *cluster) {
		ctx := context.Background()
		a, b := c.startNode(t), c.startNode(t)
		users := 150 // 30 batches of assignments
		if c.engine == "sqlite" {
			users = 60 // its nodes share one writer, and slowly under the race detector
		}
		j := c.startImport(t, a, users)
		// A third node claims the second batch of assignments and crashes.
		crash := c.startNode(t)
		crash.st.crashOn = func(task *jobs.Task) bool { return task.Wave != task.Seq }
		crash.work(t) // alone at first, so that it gets that far
		testwait.Until(t, 60*time.Second, "the third node crashes", func() bool { return crash.st.dead.Load() })
		crashed := crash.st.crashed.Load().(string)
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := crash.q.Stop(sctx); err != nil { // the process is gone
			t.Fatal(err)
		}
		// Node a takes its time over each batch: node b, started once a
		// runs one, has its share to run meanwhile.
		a.st.slow.Store(int64(300 * time.Millisecond))
		a.work(t)
		testwait.Until(t, 30*time.Second, "node a claims a task", func() bool { return a.st.claims.Load() > 0 })
		b.work(t)
		c.wantExact(t, a, j.ID, users)
		if a.st.claims.Load() == 0 || b.st.claims.Load() == 0 {
			t.Errorf("claims: node a %d, node b %d; want both to run tasks", a.st.claims.Load(), b.st.claims.Load())
		}
		got, err := a.db.Store().TaskByID(ctx, crashed)
		if err != nil {
			t.Fatal(err)
		}
		// Taken over at least once (on a loaded machine a live taker's beat
		// can also lag past Stale and be taken over in turn: the counts above
		// stay exact).
		if got.Attempts < 2 || got.Status != jobs.StatusSucceeded {
			t.Errorf("the stopped node's task: attempts %d, %s; want 2 or more, succeeded", got.Attempts, got.Status)
		}
		t.Logf("tasks run by node a: %d, node b: %d", a.st.claims.Load(), b.st.claims.Load())
	})
}
