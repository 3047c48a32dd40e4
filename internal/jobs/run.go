package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/event"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/memory"
)

// errSkip ends a task's transaction without effect (a duplicate run).
var errSkip = errors.New("task already handled")

// errBadRows rolls back a batch that has rows that cannot be applied.
var errBadRows = errors.New("rows cannot be applied")

// releaseAfterItems is the size of a job after whose end the freed memory
// is returned to the operating system.
const releaseAfterItems = 10_000

// maxJobErrors is how many row errors a job's result lists.
const maxJobErrors = 100

// RunTask runs task id (the queue calls it), then goes on with the job's
// next tasks in this same run while its time budget lasts (half the job
// timeout), so that a job's tasks follow each other without waiting for
// the queue. It is safe to run twice: a task is claimed by one run only,
// and one that has ended is left alone. An error means "try again later"
// (the database failed); a task that errors MaxTaskAttempts times fails.
func (s *Service) RunTask(ctx context.Context, id string) error {
	deadline := time.Now().Add(s.Opt.Lease / 2)
	for id != "" {
		t, j, err := s.begin(ctx, id)
		if errors.Is(err, errSkip) {
			return nil
		}
		if err != nil {
			return err
		}
		started := time.Now()
		rctx, stop := s.heartbeat(ctx, t)
		err = s.run(audit.WithActor(rctx, jobActor(j)), t, j)
		lost := stop()
		if err != nil && !errors.Is(err, errSkip) {
			if lost {
				// Another node took the task over (this one looked stopped):
				// its run commits the task, this one nothing.
				s.Log.Warn("job task taken over by another node", "job_id", j.ID, "task_id", t.ID, "attempt", t.Attempts)
				return nil
			}
			return s.runFailed(ctx, t, j, err)
		}
		if t.jobEnded >= releaseAfterItems {
			// A large import's batches (parsed rows, engine changes)
			// left the heap's goal high: give the freed pages back once
			// (memory.Release runs at most once a minute).
			memory.Release()
		}
		id = ""
		if time.Now().Before(deadline) && ctx.Err() == nil && !s.stopping.Load() {
			if err := s.pause(ctx, time.Since(started)); err != nil {
				return nil // the next task has its own queue entry
			}
			if id, err = s.nextQueued(ctx, j.ID); err != nil {
				return nil // the next task has its own queue entry
			}
		}
	}
	return nil
}

// pause rests between two tasks of a run for Options.Pause times took (the
// last task's time), so that the API gets the writer and the CPU between
// batches.
func (s *Service) pause(ctx context.Context, took time.Duration) error {
	d := time.Duration(float64(took) * s.Opt.Pause)
	if d <= 0 {
		return nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// errLost cancels a run whose task another node has taken over.
var errLost = errors.New("the task was taken over by another node")

// heartbeat moves t's heartbeat on every Stale/3 while it runs, so that no
// other node takes it over. The run's context ends when the task turns
// out to be taken over (this node looked stopped, for longer than Stale).
// stop ends the heartbeat and reports whether the task was lost.
func (s *Service) heartbeat(ctx context.Context, t *Task) (run context.Context, stop func() (lost bool)) {
	run, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(max(s.Opt.Stale/3, time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-run.Done():
				return
			case <-tick.C:
			}
			ok, err := s.Store.TouchTask(run, t.ID, t.Attempts, s.now())
			switch {
			case err != nil && run.Err() == nil:
				s.Log.Warn("job task heartbeat", "task_id", t.ID, "err", err)
			case err == nil && !ok:
				// Ended by this run (its commit won the race with this
				// beat: harmless, the run is over) or taken over.
				cancel(errLost)
				return
			}
		}
	}()
	return run, func() bool {
		lost := errors.Is(context.Cause(run), errLost)
		cancel(nil)
		<-done
		return lost || errors.Is(context.Cause(run), errLost)
	}
}

// runFailed handles a task whose run returned an error.
func (s *Service) runFailed(ctx context.Context, t *Task, j *Job, err error) error {
	if ctx.Err() != nil {
		// Cut off (a shutdown that could not wait): free the task at once
		// for the queue's retry, instead of after its lease.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return errors.Join(err, s.release(fctx, t, "interrupted by a shutdown"))
	}
	s.Log.Warn("job task failed; it will be retried", "job_id", j.ID, "task_id", t.ID, "attempt", t.Attempts, "err", err)
	if t.Attempts >= s.Opt.MaxTaskAttempts {
		msg := fmt.Sprintf("gave up after %d attempts: %v", t.Attempts, err)
		err := s.Store.InJobTx(ctx, "", func(tx Tx) error {
			if err := s.stillRunning(ctx, tx, t); err != nil {
				return err
			}
			return s.finishTx(ctx, tx, t, StatusFailed, facts.BatchResult{}, nil, msg, "")
		})
		if errors.Is(err, errSkip) {
			return nil
		}
		return err
	}
	return errors.Join(err, s.release(ctx, t, err.Error()))
}

// release gives a task this run holds back to the queue's retry of the run.
func (s *Service) release(ctx context.Context, t *Task, why string) error {
	err := s.Store.InJobTx(ctx, "", func(tx Tx) error {
		if err := s.stillRunning(ctx, tx, t); err != nil {
			return err
		}
		cur, err := tx.TaskByID(ctx, t.ID)
		if err != nil {
			return err
		}
		cur.Status, cur.Error, cur.UpdatedAt = StatusQueued, why, s.now()
		return tx.UpdateTask(ctx, cur)
	})
	if errors.Is(err, errSkip) {
		return nil // no longer this run's
	}
	return err
}

// Stop tells runs in progress to end after their current task (a graceful
// shutdown): the rest of their jobs waits in the queue.
func (s *Service) Stop() { s.stopping.Store(true) }

// nextQueued returns the job's first queued task ("" when none).
func (s *Service) nextQueued(ctx context.Context, jobID string) (string, error) {
	t, err := s.Store.NextJobTask(ctx, jobID, "", StatusQueued)
	if err != nil || t == nil {
		return "", err
	}
	return t.ID, nil
}

// begin claims a queued task for this run (and marks its job running). A
// running task whose heartbeat is older than Options.Stale was left by a
// stopped node and is taken over; one with a recent heartbeat belongs to
// another run.
//
// Locks are taken in one order everywhere (the environment's, then the
// job's, then a task's), so that nodes working on one job never deadlock.
func (s *Service) begin(ctx context.Context, id string) (*Task, *Job, error) {
	var t *Task
	var j *Job
	err := s.Store.InJobTx(ctx, "", func(tx Tx) error {
		var err error
		if t, err = tx.TaskByID(ctx, id); gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
			return errSkip // its job or environment was deleted
		} else if err != nil {
			return err
		}
		if j, err = tx.LockJob(ctx, t.JobID); err != nil {
			return err
		}
		now := s.now()
		switch {
		case t.Status == StatusRunning && now.Sub(t.UpdatedAt) > s.Opt.Stale:
			// taken over below
		case t.Status != StatusQueued:
			return errSkip // ended, cancelled or being run
		case j.Status == StatusCancelled:
			t.Status, t.FinishedAt, t.UpdatedAt = StatusCancelled, &now, now
			if err := tx.UpdateTask(ctx, t); err != nil {
				return err
			}
			return errSkip
		}
		ok, err := tx.ClaimTask(ctx, t.ID, t.Status, t.Attempts, now)
		if err != nil {
			return err
		}
		if !ok {
			return errSkip // another run claimed it first
		}
		t.Status, t.Attempts, t.StartedAt, t.UpdatedAt = StatusRunning, t.Attempts+1, &now, now
		if j.Status == StatusQueued {
			j.Status, j.StartedAt, j.UpdatedAt = StatusRunning, &now, now
			return tx.UpdateJob(ctx, j)
		}
		return nil
	})
	return t, j, err
}

// stillRunning makes sure, inside tx, that this run still holds t (the task
// is running with the attempts it claimed), and keeps it: the task's row
// stays locked until tx ends, so no other node requeues or claims it while
// tx commits the task's result. A run whose task was taken over (its node
// looked stopped) gets errSkip: it must not apply the task a second time.
// It locks t's job first (see begin).
func (s *Service) stillRunning(ctx context.Context, tx Tx, t *Task) error {
	if _, err := tx.LockJob(ctx, t.JobID); err != nil {
		return err
	}
	ok, err := tx.TouchTask(ctx, t.ID, t.Attempts, s.now())
	if err != nil {
		return err
	}
	if !ok {
		return errSkip
	}
	return nil
}

// Requeue gives every task whose heartbeat is older than stale (all of
// them when stale is 0: at the start of the one process that owns an
// embedded database) back to the queue: their node stopped. Each task is
// requeued on its own, only if it still has the claim and heartbeat that
// were read (a live run that beat meanwhile keeps it).
func (s *Service) Requeue(ctx context.Context, stale time.Duration) (int, error) {
	before := s.now().Add(-stale)
	claims, err := s.Store.RunningTasks(ctx, before)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range claims {
		err := s.Store.InJobTx(ctx, "", func(tx Tx) error {
			ok, err := tx.RequeueTask(ctx, c.ID, c.Attempts, before, s.now())
			if err != nil || !ok {
				return err
			}
			n++
			return tx.EnqueueTask(ctx, c.ID)
		})
		if err != nil {
			return n, err
		}
	}
	if n > 0 {
		s.Log.Info("job tasks of a stopped node queued again", "tasks", n)
	}
	return n, nil
}

// TakeOver queues again the tasks whose node stopped (their heartbeat is
// older than Options.Stale), for any node to run. Run it every Stale/2.
func (s *Service) TakeOver(ctx context.Context) (int, error) {
	return s.Requeue(ctx, s.Opt.Stale)
}

func (s *Service) run(ctx context.Context, t *Task, j *Job) error {
	switch t.Kind {
	case KindRows:
		var in []lineRow
		if err := json.Unmarshal([]byte(t.Input), &in); err != nil {
			return s.failTask(ctx, t, fmt.Sprintf("the task's input is unreadable: %v", err))
		}
		rows := make([]facts.Row, len(in))
		for i, lr := range in {
			rows[i] = lr.Row
			rows[i].Line = lr.Line
		}
		return s.apply(ctx, t, j, rows)
	case KindCopy:
		rows, err := s.Facts.Store.ExportRows(ctx, t.Params.SourceEnvID, t.Params.Kind, t.Params.After, t.Params.Upto)
		if err != nil {
			return err
		}
		for i := range rows {
			rows[i].Line = int64(i + 1)
		}
		return s.apply(ctx, t, j, rows)
	case KindExport:
		rows, err := s.Facts.Store.ExportRows(ctx, t.EnvID, t.Params.Kind, t.Params.After, t.Params.Upto)
		if err != nil {
			return err
		}
		var b strings.Builder
		enc := json.NewEncoder(&b)
		for i := range rows {
			if err := enc.Encode(&rows[i]); err != nil {
				return err
			}
		}
		t.Items = int64(len(rows))
		return s.Store.InJobTx(ctx, "", func(tx Tx) error {
			if err := s.stillRunning(ctx, tx, t); err != nil {
				return err
			}
			return s.finishTx(ctx, tx, t, StatusSucceeded, facts.BatchResult{Unchanged: len(rows)}, nil, "", b.String())
		})
	case KindReset:
		err := s.Store.InJobTx(ctx, j.EnvID, func(tx Tx) error {
			if err := s.stillRunning(ctx, tx, t); err != nil {
				return err
			}
			changes, err := s.Facts.ResetTx(ctx, tx, j.EnvID)
			if err != nil {
				return err
			}
			if err := s.Facts.AppendTx(ctx, tx, j.EnvID, changes); err != nil {
				return err
			}
			if j.Type == TypeSandboxReset {
				// Its event is also its audit entry.
				if err := tx.Emit(ctx, event.Event{ID: newID(), Type: event.EnvironmentReset, OrgID: j.OrgID, ProjectID: j.ProjectID, EnvID: j.EnvID,
					OccurredAt: s.now(), Data: map[string]any{"environment_id": j.EnvID, "job_id": j.ID}}); err != nil {
					return err
				}
			} else {
				// An environment emptied by a job (a copy with replace): an
				// audit entry only, credited to the job's creator.
				if err := tx.AuditOnly(ctx, event.Event{ID: newID(), Type: AuditEnvironmentReplaced, OrgID: j.OrgID, ProjectID: j.ProjectID, EnvID: j.EnvID,
					OccurredAt: s.now(), Data: map[string]any{"id": j.EnvID, "job_id": j.ID, "job_type": j.Type,
						"source_environment_id": j.Params.SourceEnvID}}); err != nil {
					return err
				}
			}
			return s.finishTx(ctx, tx, t, StatusSucceeded, facts.BatchResult{}, nil, "", "")
		})
		if err == nil {
			s.Facts.Committed(ctx, j.EnvID)
		}
		return err
	}
	return s.failTask(ctx, t, fmt.Sprintf("unknown task kind %q", t.Kind))
}

// AuditEnvironmentReplaced is the audit entry of an environment a job
// emptied before filling it (an environment copy with replace).
const AuditEnvironmentReplaced = "environment.replaced"

// apply applies a batch of rows to the job's environment: all of them, or
// (when some cannot be applied) none, and the task fails with their line
// numbers.
func (s *Service) apply(ctx context.Context, t *Task, j *Job, rows []facts.Row) error {
	var bad []facts.RowError
	err := s.Store.InJobTx(ctx, j.EnvID, func(tx Tx) error {
		if err := s.stillRunning(ctx, tx, t); err != nil {
			return err
		}
		res, changes, rowErrs, err := s.Facts.ApplyRowsTx(ctx, tx, j.EnvID, rows, facts.ApplyOptions{Events: j.Params.Events})
		if err != nil {
			return err
		}
		if len(rowErrs) > 0 {
			bad = rowErrs
			return errBadRows
		}
		if err := s.Facts.AppendTx(ctx, tx, j.EnvID, changes); err != nil {
			return err
		}
		return s.finishTx(ctx, tx, t, StatusSucceeded, res, nil, "", "")
	})
	switch {
	case errors.Is(err, errBadRows):
		msg := fmt.Sprintf("%d row(s) cannot be applied; the batch (lines %d-%d) was not applied", len(bad), t.FirstLine, t.LastLine)
		if t.Kind == KindCopy {
			msg = fmt.Sprintf("%d item(s) cannot be copied; the batch was not applied", len(bad))
		}
		return s.Store.InJobTx(ctx, "", func(tx Tx) error {
			if err := s.stillRunning(ctx, tx, t); err != nil {
				return err
			}
			return s.finishTx(ctx, tx, t, StatusFailed, facts.BatchResult{}, bad, msg, "")
		})
	case err == nil:
		s.Facts.Committed(ctx, j.EnvID)
	}
	return err
}

func (s *Service) failTask(ctx context.Context, t *Task, msg string) error {
	return s.Store.InJobTx(ctx, "", func(tx Tx) error {
		if err := s.stillRunning(ctx, tx, t); err != nil {
			return err
		}
		return s.finishTx(ctx, tx, t, StatusFailed, facts.BatchResult{}, nil, msg, "")
	})
}

// finishTx ends task t in tx, moves its job's progress on, and enqueues the
// job's next task or, when none is left, ends the job (with its event).
func (s *Service) finishTx(ctx context.Context, tx Tx, t *Task, status string, res facts.BatchResult, rowErrs []facts.RowError, msg, output string) error {
	j, err := tx.LockJob(ctx, t.JobID)
	if err != nil {
		return err
	}
	now := s.now()
	t.Status, t.Result, t.Errors, t.Error, t.Output, t.FinishedAt, t.UpdatedAt = status, res, rowErrs, msg, output, &now, now
	if err := tx.UpdateTask(ctx, t); err != nil {
		return err
	}
	if status == StatusSucceeded {
		j.DoneItems += t.Items
	} else {
		j.FailedItems += t.Items
	}
	j.UpdatedAt = now
	if j.Status == StatusCancelled {
		return tx.UpdateJob(ctx, j)
	}
	busy, err := s.queueNext(ctx, tx, j.ID, t.ID)
	if err != nil {
		return err
	}
	if busy {
		return tx.UpdateJob(ctx, j) // other tasks are on their way
	}
	// Every task has ended: so has the job.
	var r Result
	ntasks := 0
	err = tx.EachJobTask(ctx, j.ID, func(o *Task) error {
		ntasks++
		if o.ID == t.ID {
			o = t
		}
		r.BatchResult = r.BatchResult.Add(o.Result)
		if o.Status == StatusFailed {
			r.FailedTasks++
			r.ErrorCount += len(o.Errors)
			for _, e := range o.Errors {
				if len(r.Errors) < maxJobErrors {
					r.Errors = append(r.Errors, e)
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	t.jobEnded = j.DoneItems + j.FailedItems
	j.Result, j.FinishedAt = r, &now
	j.Status, j.Error = StatusSucceeded, ""
	typ := event.JobCompleted
	if r.FailedTasks > 0 {
		j.Status, typ = StatusFailed, event.JobFailed
		j.Error = fmt.Sprintf("%d of %d task(s) failed", r.FailedTasks, ntasks)
	}
	if err := tx.UpdateJob(ctx, j); err != nil {
		return err
	}
	return s.emitJob(ctx, tx, j, typ)
}

// queueNext queues the job's next pending tasks, other than exceptID, and
// reports whether any task of the job is now queued or running. The tasks
// of one wave (see Task.Wave) are queued together, up to Options.InFlight
// at once, for several nodes to run; a wave starts once the one before it
// has ended. The job's tasks are looked up one at a time: a job may have
// millions.
func (s *Service) queueNext(ctx context.Context, tx Tx, jobID, exceptID string) (bool, error) {
	busy, err := tx.NextJobTask(ctx, jobID, exceptID, StatusQueued, StatusRunning)
	if err != nil {
		return false, err
	}
	inFlight := 0
	if busy != nil {
		if inFlight, err = tx.CountJobTasks(ctx, jobID, exceptID, StatusQueued, StatusRunning); err != nil {
			return false, err
		}
	}
	now := s.now()
	for inFlight < s.Opt.InFlight {
		next, err := tx.NextJobTask(ctx, jobID, exceptID, StatusPending)
		if err != nil {
			return false, err
		}
		if next == nil || (busy != nil && next.wave() != busy.wave()) {
			break
		}
		next.Status, next.UpdatedAt = StatusQueued, now
		if err := tx.UpdateTask(ctx, next); err != nil {
			return false, err
		}
		if err := tx.EnqueueTask(ctx, next.ID); err != nil {
			return false, err
		}
		if busy == nil {
			busy = next
		}
		inFlight++
	}
	return busy != nil, nil
}

// Sweep queues again the tasks a stopped node left running, and starts the
// daily reset of every sandbox environment that is due (the queue runs it
// every minute, on one node).
func (s *Service) Sweep(ctx context.Context) error {
	if _, err := s.TakeOver(ctx); err != nil {
		return err
	}
	now := s.now()
	cutoff := now.Add(-s.Opt.SandboxResetEvery)
	due, err := s.Store.SandboxesToReset(ctx, cutoff, now)
	if err != nil {
		return err
	}
	for _, t := range due {
		j := s.newJob(nil, t, TypeSandboxReset, Params{})
		err := s.createIf(ctx, j, each([]*Task{{Kind: KindReset}}), func(tx Tx) error {
			ok, err := tx.ClaimReset(ctx, t.EnvID, cutoff, now)
			if err == nil && !ok {
				err = errSkip // another node started it
			}
			return err
		})
		if errors.Is(err, errSkip) {
			continue
		}
		if err != nil {
			return err
		}
		s.Log.Info("sandbox reset started", "env_id", t.EnvID, "job_id", j.ID)
	}
	return nil
}

// jobActor is who the audit trail credits with a job's writes: the member
// or key that started it ("member:<id>", "key:<id>"), else the system.
func jobActor(j *Job) audit.Actor {
	typ, id, ok := strings.Cut(j.CreatedBy, ":")
	if !ok || (typ != audit.ActorMember && typ != audit.ActorKey) {
		return audit.Actor{Type: audit.ActorSystem, Name: j.CreatedBy}
	}
	return audit.Actor{Type: typ, ID: id, Name: "job " + j.ID}
}
