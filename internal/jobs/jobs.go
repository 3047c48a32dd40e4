// Package jobs runs long work in the background: bulk imports of users,
// tenants and role assignments, exports of an environment, copies of one
// environment into another, and the daily reset of sandbox environments.
//
// A job is split into tasks, each a unit of work on the queue (see package
// queue), that run one after another, or several at a time on any nodes
// when they do not depend on each other (Task.Wave). A task's effect, its status, the
// job's progress and the enqueueing of the next task commit in one
// transaction, so a crash never half-applies a batch and never loses the
// rest of a job: after a restart the interrupted task runs again and the
// job goes on.
package jobs

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/event"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/google/uuid"
)

// Job types.
const (
	TypeImport          = "import"
	TypeExport          = "export"
	TypeEnvironmentCopy = "environment_copy"
	TypeSandboxReset    = "sandbox_reset"
)

// Job statuses.
const (
	StatusQueued    = "queued"
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
	// StatusPending is a task's status until the tasks before it are done.
	StatusPending = "pending"
)

// Task kinds.
const (
	KindRows   = "rows"   // apply a batch of imported rows
	KindExport = "export" // read a range of one kind of item
	KindCopy   = "copy"   // read a range from the source, apply it here
	KindReset  = "reset"  // empty the environment
)

// Params are a job's settings.
type Params struct {
	Format    string `json:"format,omitempty"`     // import: jsonl or csv
	RowType   string `json:"row_type,omitempty"`   // import: the type of rows without one (csv: all)
	BatchSize int    `json:"batch_size,omitempty"` // import: rows per task
	Events    bool   `json:"events,omitempty"`     // import: emit an event per changed item
	// Kinds are the kinds of rows an import holds (their manage: scopes
	// are needed to retry its tasks too).
	Kinds []string `json:"kinds,omitempty"`
	// SourceEnvID and SourceProjectID: the environment a copy reads.
	SourceEnvID     string `json:"source_environment_id,omitempty"`
	SourceProjectID string `json:"source_project_id,omitempty"`
	Replace         bool   `json:"replace,omitempty"` // copy: empty the target first
}

// Result sums up a finished (or running) job.
type Result struct {
	facts.BatchResult
	FailedTasks int `json:"failed_tasks"`
	// Errors are the first row errors of the failed tasks.
	Errors []facts.RowError `json:"errors,omitempty"`
	// ErrorCount counts every row error of the failed tasks.
	ErrorCount int `json:"error_count"`
}

// Job is long work and its progress.
type Job struct {
	ID          string
	OrgID       string
	ProjectID   string
	EnvID       string
	Type        string
	Status      string
	Params      Params
	TotalTasks  int
	TotalItems  int64
	DoneItems   int64
	FailedItems int64
	Result      Result
	Error       string
	CreatedBy   string
	CreatedAt   time.Time
	StartedAt   *time.Time
	FinishedAt  *time.Time
	UpdatedAt   time.Time
}

// Finished reports whether the job has ended.
func (j *Job) Finished() bool {
	return j.Status == StatusSucceeded || j.Status == StatusFailed || j.Status == StatusCancelled
}

// TaskParams are a task's settings.
type TaskParams struct {
	Kind        string `json:"kind,omitempty"`  // export, copy: the row kind
	After       string `json:"after,omitempty"` // export, copy: ids in (after, upto]
	Upto        string `json:"upto,omitempty"`
	SourceEnvID string `json:"source_environment_id,omitempty"` // copy
}

// Task is one step of a job.
type Task struct {
	ID       string
	JobID    string
	OrgID    string
	EnvID    string
	Seq      int
	Kind     string
	Status   string
	Attempts int
	Params   TaskParams
	// Input is an import batch: a JSON array of {line, row}.
	Input     string
	Items     int64
	FirstLine int64
	LastLine  int64
	Result    facts.BatchResult
	Errors    []facts.RowError
	Error     string
	// Output is an export task's part of the export (JSON Lines).
	Output     string
	CreatedAt  time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
	// UpdatedAt is also a running task's heartbeat: the node that runs it
	// moves it on every Options.Stale/3.
	UpdatedAt time.Time
	// Wave: the tasks of a job that may run at the same time share one,
	// the seq of its first task (0: the task's own seq).
	Wave int

	// jobEnded, set by the commit that ends the task's job: the items of
	// the whole job (a large one's transient is given back after it).
	jobEnded int64

	// parallel, when a job is created: the task may run alongside the
	// task before it (it joins that task's wave).
	parallel bool
}

// wave is t's wave (see Task.Wave).
func (t *Task) wave() int {
	if t.Wave == 0 {
		return t.Seq
	}
	return t.Wave
}

// TaskClaim names a run of a task: the task and its attempts when claimed.
type TaskClaim struct {
	ID       string
	Attempts int
}

// Target is the environment a job works on.
type Target struct {
	OrgID, ProjectID, EnvID string
	Sandbox                 bool
}

// JobFilter narrows a job list.
type JobFilter struct {
	OrgID, ProjectID, EnvID string
	Status, Type            string
}

// TaskFilter narrows a task list.
type TaskFilter struct {
	OrgID, ProjectID, EnvID string
	JobID, Status           string
}

// Store persists jobs and tasks.
type Store interface {
	// InJobTx runs fn in one transaction; with envID, the transaction holds
	// that environment's write lock (see facts.Store.InFactsTx).
	InJobTx(ctx context.Context, envID string, fn func(Tx) error) error

	CreateJob(ctx context.Context, j *Job) error
	GetJob(ctx context.Context, orgID, id string) (*Job, error)
	JobByID(ctx context.Context, id string) (*Job, error)
	ListJobs(ctx context.Context, f JobFilter, page gatehouse.PageRequest) (gatehouse.Page[Job], error)
	UpdateJob(ctx context.Context, j *Job) error

	CreateTask(ctx context.Context, t *Task) error
	GetTask(ctx context.Context, orgID, id string) (*Task, error)
	TaskByID(ctx context.Context, id string) (*Task, error)
	// ListTasks lists tasks without their input and output.
	ListTasks(ctx context.Context, f TaskFilter, page gatehouse.PageRequest) (gatehouse.Page[Task], error)
	// NextJobTask returns the job's first task (in order), other than
	// exceptID, whose status is one of statuses; nil when none.
	NextJobTask(ctx context.Context, jobID, exceptID string, statuses ...string) (*Task, error)
	// EachJobTask calls fn with each task of a job in order, without input
	// and output, one at a time; fn must not use the store.
	EachJobTask(ctx context.Context, jobID string, fn func(*Task) error) error
	// CancelJobTasks cancels the job's pending and queued tasks.
	CancelJobTasks(ctx context.Context, jobID string, now time.Time) (int64, error)
	UpdateTask(ctx context.Context, t *Task) error
	// TaskOutputs calls fn with each task's output, in task order.
	TaskOutputs(ctx context.Context, jobID string, fn func(string) error) error
	// EnqueueTask puts a task on the queue (in the transaction).
	EnqueueTask(ctx context.Context, id string) error
	// ClaimTask marks task id running, its attempts one more, if it still
	// has the given status and attempts; it reports whether it did.
	ClaimTask(ctx context.Context, id, status string, attempts int, now time.Time) (bool, error)
	// TouchTask records a heartbeat of task id if it is still running with
	// attempts, and reports whether it is; in a transaction the task stays
	// locked until the end (no other node requeues or claims it meanwhile).
	TouchTask(ctx context.Context, id string, attempts int, now time.Time) (bool, error)
	// RunningTasks lists the running tasks whose last heartbeat is not
	// after before.
	RunningTasks(ctx context.Context, before time.Time) ([]TaskClaim, error)
	// RequeueTask queues task id again if it is still running with attempts
	// and its last heartbeat is not after before; it reports whether it did.
	RequeueTask(ctx context.Context, id string, attempts int, before, now time.Time) (bool, error)
	// LockJob returns job id, locked until the transaction ends.
	LockJob(ctx context.Context, id string) (*Job, error)
	// CountJobTasks counts a job's tasks, other than exceptID, whose status
	// is one of statuses.
	CountJobTasks(ctx context.Context, jobID, exceptID string, statuses ...string) (int, error)

	// SandboxesToReset lists sandbox environments last reset before cutoff;
	// a sandbox never reset starts its clock instead (it is not listed).
	SandboxesToReset(ctx context.Context, cutoff, now time.Time) ([]Target, error)
	// ClaimReset sets envID's reset time to now if it is still before
	// cutoff, and reports whether it did (one node wins).
	ClaimReset(ctx context.Context, envID string, cutoff, now time.Time) (bool, error)

	Emit(ctx context.Context, events ...event.Event) error
}

// Tx is a Store in a transaction, which also reaches the environment's
// authorization data.
type Tx interface {
	Store
	facts.Store
}

// Options tune the service.
type Options struct {
	// BatchSize is the default number of rows per import task.
	BatchSize int
	// ExportBatch is the number of items per export or copy task.
	ExportBatch int
	// MaxImportBytes bounds an uploaded file.
	MaxImportBytes int64
	// MaxImportRows bounds the rows of one import.
	MaxImportRows int
	// TempDir holds an upload's spool while it is checked, before its
	// batches are stored as tasks ("": the system's temporary folder).
	TempDir string
	// MaxTaskAttempts is how often a task that errors (not a bad row: a
	// database failure) is tried before it fails.
	MaxTaskAttempts int
	// SandboxResetEvery is how often sandbox environments are reset.
	SandboxResetEvery time.Duration
	// Lease is how long a run may hold a task: the queue's job timeout.
	Lease time.Duration
	// Stale: a running task whose heartbeat is older than this was left by
	// a stopped node, and another node takes it over (zero:
	// DefaultStale(Lease)). The node running a task moves its heartbeat on
	// every Stale/3; TakeOver should run every Stale/2.
	Stale time.Duration
	// InFlight bounds the tasks of one job that are queued or running at
	// once, on all nodes together, when its tasks are independent (see
	// Task.Wave; zero: 4).
	InFlight int
	// Pause is the rest a run takes between two tasks, as a share of the
	// time the last one took (0.5: half as long; zero: none): what the
	// writer's lock (SQLite has one) and the CPU give the API between
	// batches.
	Pause float64
	// Now is the clock (nil: the wall clock).
	Now func() time.Time

	// maxBatchBytes overrides MaxBatchBytes (tests).
	maxBatchBytes int
}

// Limits of imports. An import reads its file as it arrives and keeps at
// most one row and one batch of it in memory, so what it holds is bounded
// by these, whatever the file's size (--max-import-bytes, 1 GiB by
// default). A row or cell over its limit is refused with its line number,
// without being held.
const (
	// MaxBatchSize bounds the rows of a batch (a task): batch_size.
	MaxBatchSize     = 10000
	DefaultBatchSize = 5000
	// MaxBatchBytes bounds a batch's rows, as JSON: a batch ends at
	// batch_size rows or once it holds this much, whichever comes first.
	MaxBatchBytes = 4 << 20
	// MaxRowBytes bounds one row: a line of JSON Lines, or a CSV record
	// (all its lines, when quoted cells span lines). Its line end is not
	// counted.
	MaxRowBytes = 1 << 20
	// MaxCellBytes bounds one cell of a CSV row (the attributes cell is
	// the only one that may be long: email and names are at most 254
	// characters).
	MaxCellBytes = 256 << 10
	// MaxColumns bounds the cells of a CSV row.
	MaxColumns = 32
	// DefaultMaxRows bounds the rows of one import.
	DefaultMaxRows = 5_000_000
)

// DefaultOptions are the service's defaults.
func DefaultOptions() Options {
	return Options{BatchSize: DefaultBatchSize, ExportBatch: 10000, MaxImportBytes: 1 << 30, MaxImportRows: DefaultMaxRows,
		MaxTaskAttempts: 5, SandboxResetEvery: 24 * time.Hour, Lease: 2 * time.Minute, InFlight: 4}
}

// DefaultStale is the heartbeat age after which a running task is taken
// over: a quarter of the lease, between 1 s and 30 s.
func DefaultStale(lease time.Duration) time.Duration {
	return min(max(lease/4, time.Second), 30*time.Second)
}

// Service creates, runs and reports jobs.
type Service struct {
	Store Store
	Facts *facts.Service
	Opt   Options
	Log   *slog.Logger
	Now   func() time.Time

	stopping atomic.Bool
}

// NewService returns a Service.
func NewService(st Store, f *facts.Service, log *slog.Logger, opt Options) *Service {
	d := DefaultOptions()
	if opt.BatchSize <= 0 {
		opt.BatchSize = d.BatchSize
	}
	if opt.ExportBatch <= 0 {
		opt.ExportBatch = d.ExportBatch
	}
	if opt.MaxImportBytes <= 0 {
		opt.MaxImportBytes = d.MaxImportBytes
	}
	if opt.MaxImportRows <= 0 {
		opt.MaxImportRows = d.MaxImportRows
	}
	if opt.MaxTaskAttempts <= 0 {
		opt.MaxTaskAttempts = d.MaxTaskAttempts
	}
	if opt.SandboxResetEvery <= 0 {
		opt.SandboxResetEvery = d.SandboxResetEvery
	}
	if opt.Lease <= 0 {
		opt.Lease = d.Lease
	}
	if opt.Stale <= 0 {
		opt.Stale = DefaultStale(opt.Lease)
	}
	if opt.InFlight <= 0 {
		opt.InFlight = d.InFlight
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Service{Store: st, Facts: f, Opt: opt, Log: log, Now: opt.Now}
}

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

func newID() string { return uuid.Must(uuid.NewV7()).String() }
