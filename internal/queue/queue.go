// Package queue runs Gatehouse's durable background work (webhook
// deliveries, job tasks, the daily sandbox sweep) on River, in the same
// database as the data: riversqlite on the embedded default, database/sql
// over pgx on PostgreSQL. Work is enqueued with InsertTx in the transaction
// of the change that causes it, so it exists exactly when the change does.
package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

// Engines (the same names as the store's).
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Kinds of River jobs.
const (
	KindDelivery = "webhook_delivery"
	KindTask     = "job_task"
	KindSweep    = "sandbox_sweep"
)

// DeliveryArgs: deliver one webhook delivery (an event to one endpoint).
type DeliveryArgs struct {
	DeliveryID string `json:"delivery_id"`
}

// Kind implements river.JobArgs.
func (DeliveryArgs) Kind() string { return KindDelivery }

// TaskArgs: run one task of a job.
type TaskArgs struct {
	TaskID string `json:"task_id"`
}

// Kind implements river.JobArgs.
func (TaskArgs) Kind() string { return KindTask }

// QueueTasks is the River queue of job tasks: its own number of workers
// (Options.TaskWorkers) bounds the share of the node that background jobs
// take, apart from webhook deliveries.
const QueueTasks = "job_tasks"

// InsertOpts puts tasks on their own queue.
func (TaskArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: QueueTasks} }

// SweepArgs: requeue tasks a stopped node left, start due sandbox resets.
type SweepArgs struct{}

// Kind implements river.JobArgs.
func (SweepArgs) Kind() string { return KindSweep }

// Outcome is what a handler asks of the queue after one run.
type Outcome struct {
	// After, when positive, runs the work again after this long (a webhook
	// retry). Zero: the work is finished.
	After time.Duration
}

// Handlers do the work; the queue only schedules it. An error that is not
// a *Permanent is retried by River with its backoff (a database hiccup);
// the handlers' own retry schedule goes through Outcome.After.
type Handlers struct {
	Deliver func(ctx context.Context, deliveryID string) (Outcome, error)
	RunTask func(ctx context.Context, taskID string) error
	Sweep   func(ctx context.Context) error
	// DeliveryTimeout bounds one delivery attempt.
	DeliveryTimeout time.Duration
}

// Options configure the queue.
type Options struct {
	Engine string
	// DB is the writer pool of the main database (on SQLite its single
	// connection, which River then shares with every other writer).
	DB *sql.DB
	// JobTimeout bounds one run of a task. (A crashed node's task is taken
	// over by the jobs' heartbeats long before River rescues its run, after
	// about JobTimeout + 1 min: that run then finds the task done.)
	JobTimeout time.Duration
	// SweepEvery is how often the sweep runs (zero: every minute): it
	// requeues tasks a stopped node left and starts due sandbox resets.
	SweepEvery time.Duration
	// Workers is how many deliveries and sweeps run at once on this node.
	Workers int
	// TaskWorkers is how many job tasks run at once on this node (zero: 1).
	TaskWorkers int
	Log         *slog.Logger
}

// Queue is a River client over the main database that works off what is
// enqueued (by it or by an Inserter).
type Queue struct {
	*Inserter
	client *river.Client[*sql.Tx]
	engine string
	db     *sql.DB
	log    *slog.Logger
}

// maxAttempts is how often River tries a job that keeps failing; it is
// recorded with the job when it is enqueued.
const maxAttempts = 25

// Inserter enqueues work in transactions of the main database: the work
// exists only if the transaction commits. It runs nothing: the node's
// Queue polls the table and works it off, so the store can own an
// Inserter from the moment it opens the database, before anything that
// does the work is built.
type Inserter struct {
	client *river.Client[*sql.Tx]
}

// NewInserter returns an Inserter over the main database's writer pool.
func NewInserter(engine string, db *sql.DB, log *slog.Logger) (*Inserter, error) {
	drv, err := driverFor(engine, db)
	if err != nil {
		return nil, err
	}
	c, err := river.NewClient(drv, &river.Config{MaxAttempts: maxAttempts,
		Logger: slog.New(quiet{log.Handler(), slog.LevelWarn}).With("component", "queue")})
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	return &Inserter{client: c}, nil
}

func driverFor(engine string, db *sql.DB) (riverdriver.Driver[*sql.Tx], error) {
	switch engine {
	case SQLite:
		return riversqlite.New(db), nil
	case Postgres:
		return riverdatabasesql.New(db), nil
	}
	return nil, fmt.Errorf("queue: unknown engine %q", engine)
}

// Migrate creates or upgrades River's tables.
func Migrate(ctx context.Context, engine string, db *sql.DB) error {
	m, err := migrator(engine, db)
	if err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("queue migrations: %w", err)
	}
	return nil
}

// Versions are the newest migration of River's tables in db (0 before the
// first) and the newest this build knows: a database a newer River
// migrated has a current above latest.
func Versions(ctx context.Context, engine string, db *sql.DB) (current, latest int, err error) {
	m, err := migrator(engine, db)
	if err != nil {
		return 0, 0, err
	}
	all := m.AllVersions()
	if len(all) > 0 {
		latest = all[len(all)-1].Version
	}
	existing, err := m.ExistingVersions(ctx)
	if err != nil {
		// River refuses versions it does not know: read the newest as is.
		var v sql.NullInt64
		if qerr := db.QueryRowContext(ctx, "SELECT MAX(version) FROM river_migration WHERE line = 'main'").Scan(&v); qerr != nil {
			return 0, latest, fmt.Errorf("queue migrations: %w", err)
		}
		return int(v.Int64), latest, nil
	}
	if len(existing) > 0 {
		current = existing[len(existing)-1].Version
	}
	return current, latest, nil
}

func migrator(engine string, db *sql.DB) (*rivermigrate.Migrator[*sql.Tx], error) {
	drv, err := driverFor(engine, db)
	if err != nil {
		return nil, err
	}
	m, err := rivermigrate.New(drv, &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, fmt.Errorf("queue migrations: %w", err)
	}
	return m, nil
}

// New builds the queue (it inserts at once; it works after Start).
func New(opt Options, h Handlers) (*Queue, error) {
	drv, err := driverFor(opt.Engine, opt.DB)
	if err != nil {
		return nil, err
	}
	if opt.JobTimeout <= 0 {
		opt.JobTimeout = 2 * time.Minute
	}
	if opt.SweepEvery <= 0 {
		opt.SweepEvery = time.Minute
	}
	if opt.Workers <= 0 {
		opt.Workers = 8
	}
	if opt.TaskWorkers <= 0 {
		opt.TaskWorkers = 1
	}
	if h.DeliveryTimeout <= 0 {
		h.DeliveryTimeout = 30 * time.Second
	}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &deliveryWorker{h: h}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &taskWorker{h: h}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &sweepWorker{h: h}); err != nil {
		return nil, err
	}
	cfg := &river.Config{
		// database/sql drivers have no LISTEN: River polls, often enough
		// that work starts within a fraction of a second.
		PollOnly:             true,
		FetchPollInterval:    200 * time.Millisecond,
		FetchCooldown:        50 * time.Millisecond,
		JobTimeout:           opt.JobTimeout,
		RescueStuckJobsAfter: opt.JobTimeout + time.Minute,
		MaxAttempts:          maxAttempts,
		// Tasks enqueued before they had a queue of their own are worked
		// off by the default queue.
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: opt.Workers}, QueueTasks: {MaxWorkers: opt.TaskWorkers}},
		Workers: workers,
		Logger:  slog.New(quiet{opt.Log.Handler(), slog.LevelWarn}).With("component", "queue"),
		PeriodicJobs: []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(opt.SweepEvery),
			func() (river.JobArgs, *river.InsertOpts) { return SweepArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true})},
		// Finished River jobs are only bookkeeping: Gatehouse keeps its own
		// records of deliveries and tasks.
		CompletedJobRetentionPeriod: time.Hour,
	}
	c, err := river.NewClient(drv, cfg)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	return &Queue{Inserter: &Inserter{client: c}, client: c, engine: opt.Engine, db: opt.DB, log: opt.Log}, nil
}

// InsertTx enqueues work in tx: it runs only if tx commits.
func (q *Inserter) InsertTx(ctx context.Context, tx *sql.Tx, args ...river.JobArgs) error {
	if len(args) == 0 {
		return nil
	}
	params := make([]river.InsertManyParams, len(args))
	for i, a := range args {
		params[i] = river.InsertManyParams{Args: a}
	}
	if _, err := q.client.InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("enqueue: %w", err)
	}
	return nil
}

// Start starts working. On SQLite, where one process owns the database
// (the data folder is locked), work a killed process left running is made
// available again at once instead of after the rescue delay.
func (q *Queue) Start(ctx context.Context) error {
	if q.engine == SQLite {
		// scheduled_at in River's own SQLite format (what its inserts write).
		res, err := q.db.ExecContext(ctx, "UPDATE river_job SET state = 'available', scheduled_at = datetime('now', 'subsec') WHERE state = 'running'")
		if err != nil {
			return fmt.Errorf("queue: resume interrupted work: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			q.log.Info("resuming work interrupted by the last stop", "jobs", n)
		}
	}
	return q.client.Start(ctx)
}

// Stop stops fetching and waits for the work in progress, up to ctx.
func (q *Queue) Stop(ctx context.Context) error {
	err := q.client.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return q.client.StopAndCancel(context.WithoutCancel(ctx))
	}
	return err
}

type deliveryWorker struct {
	river.WorkerDefaults[DeliveryArgs]
	h Handlers
}

func (w *deliveryWorker) Timeout(*river.Job[DeliveryArgs]) time.Duration {
	return w.h.DeliveryTimeout + 10*time.Second
}

func (w *deliveryWorker) Work(ctx context.Context, j *river.Job[DeliveryArgs]) error {
	out, err := w.h.Deliver(ctx, j.Args.DeliveryID)
	if err != nil {
		return err
	}
	if out.After > 0 {
		return river.JobSnooze(out.After)
	}
	return nil
}

type taskWorker struct {
	river.WorkerDefaults[TaskArgs]
	h Handlers
}

func (w *taskWorker) Work(ctx context.Context, j *river.Job[TaskArgs]) error {
	return w.h.RunTask(ctx, j.Args.TaskID)
}

type sweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	h Handlers
}

func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[SweepArgs]) error { return w.h.Sweep(ctx) }

// EnqueueDeliveries enqueues webhook deliveries in tx.
func (q *Inserter) EnqueueDeliveries(ctx context.Context, tx *sql.Tx, ids []string) error {
	args := make([]river.JobArgs, len(ids))
	for i, id := range ids {
		args[i] = DeliveryArgs{DeliveryID: id}
	}
	return q.InsertTx(ctx, tx, args...)
}

// EnqueueTask enqueues a job task in tx.
func (q *Inserter) EnqueueTask(ctx context.Context, tx *sql.Tx, id string) error {
	return q.InsertTx(ctx, tx, TaskArgs{TaskID: id})
}

// quiet passes on River's records from min up: its INFO lines (producer
// counts every few seconds) are noise in a server log.
type quiet struct {
	slog.Handler
	min slog.Level
}

func (q quiet) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= q.min && q.Handler.Enabled(ctx, l)
}

func (q quiet) WithAttrs(attrs []slog.Attr) slog.Handler {
	return quiet{q.Handler.WithAttrs(attrs), q.min}
}

func (q quiet) WithGroup(name string) slog.Handler { return quiet{q.Handler.WithGroup(name), q.min} }
