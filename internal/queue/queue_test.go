package queue_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/queue"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

// calls records what the handlers were given.
type calls struct {
	mu         sync.Mutex
	deliveries map[string]int
	tasks      map[string]int
	sweeps     int
}

func (c *calls) count(m *map[string]int, id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return (*m)[id]
}

// newQueue opens a migrated SQLite database and a queue over it (not
// started) whose handlers record their calls; deliver, when set, decides
// each delivery's outcome.
func newQueue(t *testing.T, deliver func(id string, n int) queue.Outcome) (*queue.Queue, *sql.DB, *calls) {
	t.Helper()
	ctx := context.Background()
	db, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := queue.Migrate(ctx, queue.SQLite, db.Writer()); err != nil {
		t.Fatal(err)
	}
	c := &calls{deliveries: map[string]int{}, tasks: map[string]int{}}
	q, err := queue.New(queue.Options{Engine: queue.SQLite, DB: db.Writer(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, queue.Handlers{
		Deliver: func(_ context.Context, id string) (queue.Outcome, error) {
			c.mu.Lock()
			c.deliveries[id]++
			n := c.deliveries[id]
			c.mu.Unlock()
			if deliver != nil {
				return deliver(id, n), nil
			}
			return queue.Outcome{}, nil
		},
		RunTask: func(_ context.Context, id string) error {
			c.mu.Lock()
			c.tasks[id]++
			c.mu.Unlock()
			return nil
		},
		Sweep: func(context.Context) error {
			c.mu.Lock()
			c.sweeps++
			c.mu.Unlock()
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return q, db.Writer(), c
}

func start(t *testing.T, q *queue.Queue) {
	t.Helper()
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := q.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
}

// inTx runs f in a transaction of db and commits it, or rolls it back when
// commit is false.
func inTx(t *testing.T, db *sql.DB, commit bool, f func(tx *sql.Tx) error) {
	t.Helper()
	tx, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		t.Fatal(err)
	}
	if !commit {
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func jobsOf(t *testing.T, db *sql.DB, kind string) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM river_job WHERE kind = ?", kind).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Work exists exactly when the transaction that enqueued it commits.
func TestWorkExistsOnlyWithItsTransaction(t *testing.T) {
	t.Parallel()
	q, db, c := newQueue(t, nil)
	ctx := context.Background()
	inTx(t, db, false, func(tx *sql.Tx) error { return q.EnqueueTask(ctx, tx, "rolled-back") })
	if n := jobsOf(t, db, queue.KindTask); n != 0 {
		t.Fatalf("%d tasks after a rollback", n)
	}
	inTx(t, db, true, func(tx *sql.Tx) error {
		if err := q.EnqueueTask(ctx, tx, "t1"); err != nil {
			return err
		}
		return q.EnqueueDeliveries(ctx, tx, []string{"d1", "d2"})
	})
	if n, m := jobsOf(t, db, queue.KindTask), jobsOf(t, db, queue.KindDelivery); n != 1 || m != 2 {
		t.Fatalf("%d tasks and %d deliveries after a commit, want 1 and 2", n, m)
	}
	if err := q.InsertTx(ctx, nil); err != nil { // nothing to enqueue: no transaction needed
		t.Fatalf("empty insert: %v", err)
	}
	start(t, q)
	testwait.Until(t, 30*time.Second, "the work done", func() bool {
		return c.count(&c.tasks, "t1") == 1 && c.count(&c.deliveries, "d1") == 1 && c.count(&c.deliveries, "d2") == 1
	})
	testwait.Until(t, 30*time.Second, "the sweep run on start", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.sweeps > 0
	})
	if n := c.count(&c.tasks, "rolled-back"); n != 0 {
		t.Fatalf("the rolled-back task ran %d times", n)
	}
}

// A delivery asking to run again after a while (a webhook retry) does.
func TestOutcomeAfterRunsAgain(t *testing.T) {
	t.Parallel()
	q, db, c := newQueue(t, func(_ string, n int) queue.Outcome {
		if n < 3 {
			return queue.Outcome{After: 10 * time.Millisecond}
		}
		return queue.Outcome{}
	})
	inTx(t, db, true, func(tx *sql.Tx) error { return q.EnqueueDeliveries(context.Background(), tx, []string{"d"}) })
	start(t, q)
	testwait.Progress(t, 30*time.Second, "three attempts", func() (any, bool) {
		n := c.count(&c.deliveries, "d")
		return n, n >= 3
	})
	// Finished: the job is completed, not scheduled again.
	testwait.Until(t, 30*time.Second, "the delivery's job completed", func() bool {
		var state string
		if err := db.QueryRow("SELECT state FROM river_job WHERE kind = ?", queue.KindDelivery).Scan(&state); err != nil {
			t.Fatal(err)
		}
		return state == "completed"
	})
	if n := c.count(&c.deliveries, "d"); n != 3 {
		t.Fatalf("%d attempts, want 3", n)
	}
}

// On SQLite, work a killed process left running is taken up at once when
// the queue starts again (not after River's rescue delay, over a minute).
func TestStartResumesInterruptedWork(t *testing.T) {
	t.Parallel()
	q, db, c := newQueue(t, nil)
	inTx(t, db, true, func(tx *sql.Tx) error { return q.EnqueueTask(context.Background(), tx, "interrupted") })
	// What a process killed while running it leaves behind.
	if _, err := db.Exec("UPDATE river_job SET state = 'running', attempt = 1, attempted_at = datetime('now', 'subsec') WHERE kind = ?", queue.KindTask); err != nil {
		t.Fatal(err)
	}
	start(t, q)
	testwait.Until(t, 30*time.Second, "the interrupted task run", func() bool { return c.count(&c.tasks, "interrupted") == 1 })
}

func TestUnknownEngine(t *testing.T) {
	t.Parallel()
	if err := queue.Migrate(context.Background(), "oracle", nil); err == nil {
		t.Fatal("Migrate accepted an unknown engine")
	}
	if _, err := queue.New(queue.Options{Engine: "oracle"}, queue.Handlers{}); err == nil {
		t.Fatal("New accepted an unknown engine")
	}
}
