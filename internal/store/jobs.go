package store

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/jobs"
)

var _ jobs.Tx = (*Store)(nil)

// InJobTx runs fn in one transaction; with envID it holds that
// environment's write lock.
func (s *Store) InJobTx(ctx context.Context, envID string, fn func(jobs.Tx) error) error {
	if envID == "" {
		return s.InTx(ctx, func(tx *Store) error { return fn(tx) })
	}
	return s.InFactsTx(ctx, envID, func(tx facts.Store) error { return fn(tx.(*Store)) })
}

const jobCols = "id, org_id, project_id, env_id, type, status, params, total_tasks, total_items, done_items, failed_items, result, error, created_by, created_at, started_at, finished_at, updated_at"

func scanJob(sc scanner) (jobs.Job, error) {
	var j jobs.Job
	var params, result string
	var started, finished nullInt
	var c, u int64
	if err := sc.Scan(&j.ID, &j.OrgID, &j.ProjectID, &j.EnvID, &j.Type, &j.Status, &params, &j.TotalTasks, &j.TotalItems, &j.DoneItems, &j.FailedItems,
		&result, &j.Error, &j.CreatedBy, &c, &started, &finished, &u); err != nil {
		return j, err
	}
	j.CreatedAt, j.UpdatedAt, j.StartedAt, j.FinishedAt = fromMicros(c), fromMicros(u), fromNullMicros(started), fromNullMicros(finished)
	if err := json.Unmarshal([]byte(params), &j.Params); err != nil {
		return j, fmt.Errorf("job params: %w", err)
	}
	if err := json.Unmarshal([]byte(result), &j.Result); err != nil {
		return j, fmt.Errorf("job result: %w", err)
	}
	return j, nil
}

// CreateJob stores a job.
// Its audit entry (job.created) is written in the same transaction.
func (s *Store) CreateJob(ctx context.Context, j *jobs.Job) error {
	if s.tx == nil {
		return s.InTx(ctx, func(tx *Store) error { return tx.CreateJob(ctx, j) })
	}
	if err := exec(ctx, s.writer(), "job", "INSERT INTO jobs ("+jobCols+") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)",
		j.ID, j.OrgID, j.ProjectID, j.EnvID, j.Type, j.Status, mustJSON(j.Params), j.TotalTasks, j.TotalItems, j.DoneItems, j.FailedItems,
		mustJSON(j.Result), j.Error, j.CreatedBy, micros(j.CreatedAt), nullMicros(j.StartedAt), nullMicros(j.FinishedAt), micros(j.UpdatedAt)); err != nil {
		return err
	}
	after, err := json.Marshal(map[string]any{"id": j.ID, "type": j.Type, "environment_id": j.EnvID, "params": j.Params, "created_by": j.CreatedBy})
	if err != nil {
		return err
	}
	return s.RecordAudit(ctx, audit.AuditEntry{OrganizationID: j.OrgID, ProjectID: j.ProjectID, EnvironmentID: j.EnvID, Time: j.CreatedAt,
		Action: "job.created", ObjectType: "job", ObjectID: j.ID, ObjectKey: j.Type, After: after})
}

// GetJob returns job id of orgID.
func (s *Store) GetJob(ctx context.Context, orgID, id string) (*jobs.Job, error) {
	return getOne(ctx, s.reader(), "job", id, "SELECT "+jobCols+" FROM jobs WHERE org_id = $1 AND id = $2", scanJob, orgID, id)
}

// JobByID returns job id.
func (s *Store) JobByID(ctx context.Context, id string) (*jobs.Job, error) {
	return getOne(ctx, s.reader(), "job", id, "SELECT "+jobCols+" FROM jobs WHERE id = $1", scanJob, id)
}

// ListJobs lists jobs.
func (s *Store) ListJobs(ctx context.Context, f jobs.JobFilter, page gatehouse.PageRequest) (gatehouse.Page[jobs.Job], error) {
	w := &where{}
	w.add("org_id = ?", f.OrgID)
	w.addIf(f.ProjectID != "", "project_id = ?", f.ProjectID)
	w.addIf(f.EnvID != "", "env_id = ?", f.EnvID)
	w.addIf(f.Status != "", "status = ?", f.Status)
	w.addIf(f.Type != "", "type = ?", f.Type)
	return listPage(ctx, s.reader(), "jobs", jobCols, w, map[string]string{"created_at": "created_at", "updated_at": "updated_at", "status": "status", "type": "type"}, page, scanJob)
}

// UpdateJob stores a job's state.
func (s *Store) UpdateJob(ctx context.Context, j *jobs.Job) error {
	return execOne(ctx, s.writer(), "job", j.ID, `UPDATE jobs SET status=$2, total_tasks=$3, total_items=$4, done_items=$5, failed_items=$6, result=$7,
		error=$8, started_at=$9, finished_at=$10, updated_at=$11 WHERE id=$1`,
		j.ID, j.Status, j.TotalTasks, j.TotalItems, j.DoneItems, j.FailedItems, mustJSON(j.Result), j.Error,
		nullMicros(j.StartedAt), nullMicros(j.FinishedAt), micros(j.UpdatedAt))
}

const taskLightCols = "id, job_id, org_id, env_id, seq, kind, status, attempts, params, items, first_line, last_line, result, errors, error, created_at, started_at, finished_at, updated_at, wave"

func scanTaskLight(sc scanner) (jobs.Task, error) {
	var t jobs.Task
	var params, result, errs string
	var started, finished nullInt
	var c, u int64
	if err := sc.Scan(&t.ID, &t.JobID, &t.OrgID, &t.EnvID, &t.Seq, &t.Kind, &t.Status, &t.Attempts, &params, &t.Items, &t.FirstLine, &t.LastLine,
		&result, &errs, &t.Error, &c, &started, &finished, &u, &t.Wave); err != nil {
		return t, err
	}
	t.CreatedAt, t.UpdatedAt, t.StartedAt, t.FinishedAt = fromMicros(c), fromMicros(u), fromNullMicros(started), fromNullMicros(finished)
	if err := json.Unmarshal([]byte(params), &t.Params); err != nil {
		return t, fmt.Errorf("task params: %w", err)
	}
	if err := json.Unmarshal([]byte(result), &t.Result); err != nil {
		return t, fmt.Errorf("task result: %w", err)
	}
	if err := json.Unmarshal([]byte(errs), &t.Errors); err != nil {
		return t, fmt.Errorf("task errors: %w", err)
	}
	return t, nil
}

func scanTaskFull(sc scanner) (jobs.Task, error) {
	var input, output string
	t, err := scanTaskLight(scannerFunc(func(dest ...any) error { return sc.Scan(append(dest, &input, &output)...) }))
	t.Input, t.Output = input, output
	return t, err
}

type scannerFunc func(dest ...any) error

func (f scannerFunc) Scan(dest ...any) error { return f(dest...) }

func errorsJSON(errs []facts.RowError) string {
	if errs == nil {
		return "[]"
	}
	return mustJSON(errs)
}

// CreateTask stores a task.
func (s *Store) CreateTask(ctx context.Context, t *jobs.Task) error {
	return exec(ctx, s.writer(), "task", "INSERT INTO job_tasks ("+taskLightCols+", input, output) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22)",
		t.ID, t.JobID, t.OrgID, t.EnvID, t.Seq, t.Kind, t.Status, t.Attempts, mustJSON(t.Params), t.Items, t.FirstLine, t.LastLine,
		mustJSON(t.Result), errorsJSON(t.Errors), t.Error, micros(t.CreatedAt), nullMicros(t.StartedAt), nullMicros(t.FinishedAt), micros(t.UpdatedAt), t.Wave, t.Input, t.Output)
}

// GetTask returns task id of orgID, without its input and output.
func (s *Store) GetTask(ctx context.Context, orgID, id string) (*jobs.Task, error) {
	return getOne(ctx, s.reader(), "task", id, "SELECT "+taskLightCols+" FROM job_tasks WHERE org_id = $1 AND id = $2", scanTaskLight, orgID, id)
}

// TaskByID returns task id with its input.
func (s *Store) TaskByID(ctx context.Context, id string) (*jobs.Task, error) {
	return getOne(ctx, s.reader(), "task", id, "SELECT "+taskLightCols+", input, '' FROM job_tasks WHERE id = $1", scanTaskFull, id)
}

// ListTasks lists tasks without input and output.
func (s *Store) ListTasks(ctx context.Context, f jobs.TaskFilter, page gatehouse.PageRequest) (gatehouse.Page[jobs.Task], error) {
	w := &where{}
	w.add("org_id = ?", f.OrgID)
	w.addIf(f.JobID != "", "job_id = ?", f.JobID)
	w.addIf(f.EnvID != "", "env_id = ?", f.EnvID)
	w.addIf(f.ProjectID != "", "env_id IN (SELECT id FROM environments WHERE project_id = ?)", f.ProjectID)
	w.addIf(f.Status != "", "status = ?", f.Status)
	return listPage(ctx, s.reader(), "job_tasks", taskLightCols, w, map[string]string{"created_at": "created_at", "seq": "seq", "status": "status", "updated_at": "updated_at"}, page, scanTaskLight)
}

// NextJobTask returns a job's first task (in seq order), other than
// exceptID, whose status is one of statuses; nil when there is none. It
// reads one task per status through index job_tasks_status, however many
// tasks the job has (a query of all statuses at once would walk the job's
// tasks in seq order instead).
func (s *Store) NextJobTask(ctx context.Context, jobID, exceptID string, statuses ...string) (*jobs.Task, error) {
	var first *jobs.Task
	for _, st := range statuses {
		t, err := getOne(ctx, s.reader(), "task", jobID, "SELECT "+taskLightCols+" FROM job_tasks WHERE status = $1 AND job_id = $2 AND id <> $3 ORDER BY seq LIMIT 1",
			scanTaskLight, st, jobID, exceptID)
		if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		if first == nil || t.Seq < first.Seq {
			first = t
		}
	}
	return first, nil
}

// EachJobTask calls fn with each task of a job in order, without input and
// output, one at a time (a job may have millions). fn must not use the
// store: the tasks are read as it runs.
func (s *Store) EachJobTask(ctx context.Context, jobID string, fn func(*jobs.Task) error) error {
	rows, err := s.reader().QueryContext(ctx, "SELECT "+taskLightCols+" FROM job_tasks WHERE job_id = $1 ORDER BY seq", jobID)
	if err != nil {
		return fmt.Errorf("job tasks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		t, err := scanTaskLight(rows)
		if err != nil {
			return fmt.Errorf("job tasks: %w", err)
		}
		if err := fn(&t); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("job tasks: %w", err)
	}
	return nil
}

// CancelJobTasks marks a job's pending and queued tasks cancelled (their
// input dropped), in one statement, and returns how many.
func (s *Store) CancelJobTasks(ctx context.Context, jobID string, now time.Time) (int64, error) {
	res, err := s.writer().ExecContext(ctx, "UPDATE job_tasks SET status = $1, finished_at = $2, updated_at = $2, input = '' WHERE job_id = $3 AND status IN ($4, $5)",
		jobs.StatusCancelled, micros(now), jobID, jobs.StatusPending, jobs.StatusQueued)
	if err != nil {
		return 0, fmt.Errorf("cancel tasks: %w", err)
	}
	return res.RowsAffected()
}

// UpdateTask stores a task's state (and its output, when it has one). The
// input of a task that succeeded or was cancelled is dropped: it never
// runs again (only a failed task is retried), and an import's batches
// would otherwise keep the whole file in the database until the job is
// pruned.
func (s *Store) UpdateTask(ctx context.Context, t *jobs.Task) error {
	return execOne(ctx, s.writer(), "task", t.ID, `UPDATE job_tasks SET status=$2, attempts=$3, items=$4, result=$5, errors=$6, error=$7,
		started_at=$8, finished_at=$9, updated_at=$10, output=CASE WHEN $11 = '' THEN output ELSE $11 END,
		input=CASE WHEN $2 IN ('`+jobs.StatusSucceeded+`', '`+jobs.StatusCancelled+`') THEN '' ELSE input END WHERE id=$1`,
		t.ID, t.Status, t.Attempts, t.Items, mustJSON(t.Result), errorsJSON(t.Errors), t.Error,
		nullMicros(t.StartedAt), nullMicros(t.FinishedAt), micros(t.UpdatedAt), t.Output)
}

// TaskOutputs calls fn with each task's output of a job, in order.
func (s *Store) TaskOutputs(ctx context.Context, jobID string, fn func(string) error) error {
	var seqs []int
	rows, err := s.reader().QueryContext(ctx, "SELECT seq FROM job_tasks WHERE job_id = $1 ORDER BY seq", jobID)
	if err != nil {
		return fmt.Errorf("task outputs: %w", err)
	}
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return fmt.Errorf("task outputs: %w", err)
		}
		seqs = append(seqs, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("task outputs: %w", err)
	}
	for _, n := range seqs { // one at a time: outputs can be large
		var out string
		if err := s.reader().QueryRowContext(ctx, "SELECT output FROM job_tasks WHERE job_id = $1 AND seq = $2", jobID, n).Scan(&out); err != nil {
			return fmt.Errorf("task output: %w", err)
		}
		if err := fn(out); err != nil {
			return err
		}
	}
	return nil
}

// EnqueueTask puts task id on the queue, in the transaction.
func (s *Store) EnqueueTask(ctx context.Context, id string) error {
	if s.tx == nil {
		return s.InTx(ctx, func(tx *Store) error { return tx.EnqueueTask(ctx, id) })
	}
	if s.db.queue == nil {
		return errNoQueue
	}
	return s.db.queue.EnqueueTask(ctx, s.tx, id)
}

// SandboxesToReset lists sandbox environments last reset before cutoff. A
// sandbox never reset has its clock started at now instead.
func (s *Store) SandboxesToReset(ctx context.Context, cutoff, now time.Time) ([]jobs.Target, error) {
	if err := exec(ctx, s.writer(), "environment", "UPDATE environments SET reset_at = $1 WHERE sandbox AND reset_at IS NULL", micros(now)); err != nil {
		return nil, err
	}
	return queryAll(ctx, s.reader(), "SELECT org_id, project_id, id FROM environments WHERE sandbox AND reset_at < $1 AND deleted_at IS NULL ORDER BY reset_at", func(sc scanner) (jobs.Target, error) {
		t := jobs.Target{Sandbox: true}
		return t, sc.Scan(&t.OrgID, &t.ProjectID, &t.EnvID)
	}, micros(cutoff))
}

// ClaimReset sets envID's reset time to now if it is before cutoff.
func (s *Store) ClaimReset(ctx context.Context, envID string, cutoff, now time.Time) (bool, error) {
	res, err := s.writer().ExecContext(ctx, "UPDATE environments SET reset_at = $1 WHERE id = $2 AND sandbox AND reset_at < $3", micros(now), envID, micros(cutoff))
	if err != nil {
		return false, fmt.Errorf("claim reset: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// PruneJobs deletes orgID's finished jobs (with their tasks) older than
// before.
func (s *Store) PruneJobs(ctx context.Context, orgID string, before time.Time) (int64, error) {
	res, err := s.writer().ExecContext(ctx, "DELETE FROM jobs WHERE org_id = $1 AND finished_at IS NOT NULL AND finished_at < $2", orgID, micros(before))
	if err != nil {
		return 0, fmt.Errorf("prune jobs: %w", err)
	}
	return res.RowsAffected()
}

// ClaimTask marks task id running if it still has status and attempts.
func (s *Store) ClaimTask(ctx context.Context, id, status string, attempts int, now time.Time) (bool, error) {
	res, err := s.writer().ExecContext(ctx, "UPDATE job_tasks SET status = $1, attempts = attempts + 1, started_at = $2, updated_at = $2 WHERE id = $3 AND status = $4 AND attempts = $5",
		jobs.StatusRunning, micros(now), id, status, attempts)
	if err != nil {
		return false, fmt.Errorf("claim task: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// TouchTask records a heartbeat of task id (its updated_at) if it is still
// running with attempts, and reports whether it is. In a transaction it
// also holds the task's row until the end (PostgreSQL's row lock; SQLite
// has one writer), so that no other node requeues or claims the task
// while the transaction that finishes it commits.
func (s *Store) TouchTask(ctx context.Context, id string, attempts int, now time.Time) (bool, error) {
	res, err := s.writer().ExecContext(ctx, "UPDATE job_tasks SET updated_at = $1 WHERE id = $2 AND status = $3 AND attempts = $4",
		micros(now), id, jobs.StatusRunning, attempts)
	if err != nil {
		return false, fmt.Errorf("task heartbeat: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// RequeueTask queues task id again if it is still running with attempts
// and its last heartbeat is not after before; it reports whether it did.
func (s *Store) RequeueTask(ctx context.Context, id string, attempts int, before, now time.Time) (bool, error) {
	res, err := s.writer().ExecContext(ctx, "UPDATE job_tasks SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4 AND attempts = $5 AND updated_at <= $6",
		jobs.StatusQueued, micros(now), id, jobs.StatusRunning, attempts, micros(before))
	if err != nil {
		return false, fmt.Errorf("requeue task: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// LockJob returns job id, locked until the transaction ends (PostgreSQL's
// row lock; SQLite has one writer): the tasks of a job that finish at the
// same time on several nodes update its progress one after another.
func (s *Store) LockJob(ctx context.Context, id string) (*jobs.Job, error) {
	q := "SELECT " + jobCols + " FROM jobs WHERE id = $1"
	if s.tx != nil && s.db.Engine == Postgres {
		q += " FOR UPDATE"
	}
	return getOne(ctx, s.writer(), "job", id, q, scanJob, id)
}

// CountJobTasks counts a job's tasks, other than exceptID, whose status is
// one of statuses (through index job_tasks_status).
func (s *Store) CountJobTasks(ctx context.Context, jobID, exceptID string, statuses ...string) (int, error) {
	total := 0
	for _, st := range statuses {
		var n int
		if err := s.reader().QueryRowContext(ctx, "SELECT COUNT(*) FROM job_tasks WHERE status = $1 AND job_id = $2 AND id <> $3", st, jobID, exceptID).Scan(&n); err != nil {
			return 0, fmt.Errorf("count tasks: %w", err)
		}
		total += n
	}
	return total, nil
}

// RunningTasks lists the running tasks whose last heartbeat (updated_at)
// is not after before, with their attempts.
func (s *Store) RunningTasks(ctx context.Context, before time.Time) ([]jobs.TaskClaim, error) {
	rows, err := s.reader().QueryContext(ctx, "SELECT id, attempts FROM job_tasks WHERE status = $1 AND updated_at <= $2 ORDER BY job_id, seq", jobs.StatusRunning, micros(before))
	if err != nil {
		return nil, fmt.Errorf("running tasks: %w", err)
	}
	defer rows.Close()
	var out []jobs.TaskClaim
	for rows.Next() {
		var c jobs.TaskClaim
		if err := rows.Scan(&c.ID, &c.Attempts); err != nil {
			return nil, fmt.Errorf("running tasks: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
