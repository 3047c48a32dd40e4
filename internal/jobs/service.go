package jobs

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/event"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
)

// kindScopes are the scopes that read and write each kind of row.
var kindScopes = map[string][2]gatehouse.Scope{
	facts.KindResource:       {gatehouse.ScopeViewResource, gatehouse.ScopeManageResource},
	facts.KindRole:           {gatehouse.ScopeViewRole, gatehouse.ScopeManageRole},
	facts.KindTenant:         {gatehouse.ScopeViewTenant, gatehouse.ScopeManageTenant},
	facts.KindUser:           {gatehouse.ScopeViewUser, gatehouse.ScopeManageUser},
	facts.KindRoleAssignment: {gatehouse.ScopeViewRoleAssignment, gatehouse.ScopeManageRoleAssignment},
	// the fine-grained model, as its endpoints: a resource type's roles,
	// relations, instances and tuples are the resource scopes', attribute
	// rules the role scopes'
	facts.KindRelation:     {gatehouse.ScopeViewResource, gatehouse.ScopeManageResource},
	facts.KindResourceRole: {gatehouse.ScopeViewResource, gatehouse.ScopeManageResource},
	facts.KindInstance:     {gatehouse.ScopeViewResource, gatehouse.ScopeManageResource},
	facts.KindTuple:        {gatehouse.ScopeViewResource, gatehouse.ScopeManageResource},
	facts.KindConditionSet: {gatehouse.ScopeViewRole, gatehouse.ScopeManageRole},
	facts.KindSetRule:      {gatehouse.ScopeViewRole, gatehouse.ScopeManageRole},
}

// needScopes fails unless p holds, for each kind, its view (write false)
// or manage (write true) scope: a job never does more than its key may.
func needScopes(p *auth.Principal, kinds []string, write bool) error {
	for _, k := range kinds {
		sc := kindScopes[k][0]
		if write {
			sc = kindScopes[k][1]
		}
		if !p.Scopes.Has(sc) {
			return gatehouse.Errorf(gatehouse.CodeForbidden, "this API key lacks the %s scope that this job needs", sc)
		}
	}
	return nil
}

func reach(p *auth.Principal, j *Job) bool {
	return j.OrgID == p.OrgID && p.CanReachEnvironment(j.ProjectID, j.EnvID)
}

// Get returns job id if p can reach it.
func (s *Service) Get(ctx context.Context, p *auth.Principal, id string) (*Job, error) {
	j, err := s.Store.GetJob(ctx, p.OrgID, id)
	if err != nil {
		return nil, err
	}
	if !reach(p, j) {
		return nil, gatehouse.Errorf(gatehouse.CodeNotFound, "job %q not found", id)
	}
	return j, nil
}

// List lists the jobs p can reach (f's environment, if any, is p's to
// choose; a project or environment key sees only its own).
func (s *Service) List(ctx context.Context, p *auth.Principal, f JobFilter, page gatehouse.PageRequest) (gatehouse.Page[Job], error) {
	f.OrgID = p.OrgID
	if p.ProjectID != "" {
		f.ProjectID = p.ProjectID
	}
	if p.EnvironmentID != "" {
		f.EnvID = p.EnvironmentID
	}
	return s.Store.ListJobs(ctx, f, page)
}

// GetTask returns task id if p can reach its job.
func (s *Service) GetTask(ctx context.Context, p *auth.Principal, id string) (*Task, *Job, error) {
	t, err := s.Store.GetTask(ctx, p.OrgID, id)
	if err != nil {
		return nil, nil, err
	}
	j, err := s.Get(ctx, p, t.JobID)
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
		return nil, nil, gatehouse.Errorf(gatehouse.CodeNotFound, "task %q not found", id)
	}
	if err != nil {
		return nil, nil, err
	}
	return t, j, nil
}

// ListTasks lists the tasks p can reach.
func (s *Service) ListTasks(ctx context.Context, p *auth.Principal, f TaskFilter, page gatehouse.PageRequest) (gatehouse.Page[Task], error) {
	if f.JobID != "" {
		if _, err := s.Get(ctx, p, f.JobID); err != nil {
			return gatehouse.Page[Task]{}, err
		}
	}
	f.OrgID = p.OrgID
	if p.ProjectID != "" {
		f.ProjectID = p.ProjectID
	}
	if p.EnvironmentID != "" {
		f.EnvID = p.EnvironmentID
	}
	return s.Store.ListTasks(ctx, f, page)
}

// create stores a job and its tasks and enqueues the first task, in one
// transaction. tasks come from next, which returns nil at the end.
func (s *Service) create(ctx context.Context, j *Job, next func() (*Task, error)) error {
	return s.createIf(ctx, j, next, nil)
}

// createIf is create, in a transaction that first runs prep (which may
// return errSkip to create nothing).
func (s *Service) createIf(ctx context.Context, j *Job, next func() (*Task, error), prep func(Tx) error) error {
	return s.Store.InJobTx(ctx, "", func(tx Tx) error {
		if prep != nil {
			if err := prep(tx); err != nil {
				return err
			}
		}
		if err := tx.CreateJob(ctx, j); err != nil {
			return err
		}
		seq, wave := 0, 0
		for {
			t, err := next()
			if err != nil {
				return err
			}
			if t == nil {
				break
			}
			seq++
			if !t.parallel || seq == 1 {
				wave = seq
			}
			t.ID, t.JobID, t.OrgID, t.EnvID, t.Seq, t.Wave, t.Status = newID(), j.ID, j.OrgID, j.EnvID, seq, wave, StatusPending
			t.CreatedAt, t.UpdatedAt = j.CreatedAt, j.CreatedAt
			// The first wave starts at once (up to InFlight of its tasks).
			start := wave == 1 && seq <= s.Opt.InFlight
			if start {
				t.Status = StatusQueued
			}
			if err := tx.CreateTask(ctx, t); err != nil {
				return err
			}
			if start {
				if err := tx.EnqueueTask(ctx, t.ID); err != nil {
					return err
				}
			}
		}
		if seq == 0 {
			return gatehouse.Errorf(gatehouse.CodeInvalidRequest, "the job has nothing to do")
		}
		j.TotalTasks = seq
		return tx.UpdateJob(ctx, j)
	})
}

func (s *Service) newJob(p *auth.Principal, t Target, typ string, params Params) *Job {
	now := s.now()
	return &Job{ID: newID(), OrgID: t.OrgID, ProjectID: t.ProjectID, EnvID: t.EnvID, Type: typ, Status: StatusQueued, Params: params,
		CreatedBy: createdBy(p), CreatedAt: now, UpdatedAt: now}
}

func createdBy(p *auth.Principal) string {
	if p == nil {
		return "scheduler"
	}
	return p.Actor()
}

// ImportInput is an upload to import.
type ImportInput struct {
	// Format is jsonl or csv.
	Format string
	// RowType is the type of rows that name none (csv: of every row):
	// user, tenant or role_assignment (resource and role too in JSON Lines).
	RowType   string
	BatchSize int
	Events    bool
	Body      io.Reader
}

// spoolPattern names an upload's spool file.
const spoolPattern = "gatehouse-import-*.jsonl"

// Import checks every row of an upload, then creates the job that applies
// it batch by batch. A file with bad rows is refused whole (400, with line
// numbers); nothing is created.
//
// The upload is read as it arrives, one row at a time, and its batches are
// written to a spool file on this node's disk (Options.TempDir) while the
// rest is checked. Once every row is good, the batches are stored as the
// job's tasks, in the database, in one transaction; the spool is then
// removed. So a task's rows live in the database, where any node (of a
// PostgreSQL deployment) can run it, and the spool only ever serves the
// one request that made it.
func (s *Service) Import(ctx context.Context, p *auth.Principal, t Target, in ImportInput) (*Job, error) {
	in.RowType = NormalizeRowType(in.RowType)
	if in.BatchSize == 0 {
		in.BatchSize = s.Opt.BatchSize
	}
	if in.BatchSize < 1 || in.BatchSize > MaxBatchSize {
		return nil, gatehouse.FieldError("batch_size", "out_of_range", "batch_size must be between 1 and %d", MaxBatchSize)
	}
	if s.Opt.TempDir != "" {
		if err := os.MkdirAll(s.Opt.TempDir, 0o700); err != nil {
			return nil, fmt.Errorf("import: spool: %w", err)
		}
	}
	spool, err := os.CreateTemp(s.Opt.TempDir, spoolPattern)
	if err != nil {
		return nil, fmt.Errorf("import: spool: %w", err)
	}
	defer func() { spool.Close(); os.Remove(spool.Name()) }()
	sum, err := s.parse(in, spool)
	if err != nil {
		return nil, err
	}
	kinds := make([]string, 0, len(sum.kinds))
	for k := range sum.kinds {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	if err := needScopes(p, kinds, true); err != nil {
		return nil, err
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("import: spool: %w", err)
	}
	j := s.newJob(p, t, TypeImport, Params{Format: in.Format, RowType: in.RowType, BatchSize: in.BatchSize, Events: in.Events, Kinds: kinds})
	j.TotalItems = sum.rows
	rd := bufio.NewReaderSize(spool, 1<<20)
	prevAssignments := false
	err = s.create(ctx, j, func() (*Task, error) {
		line, err := rd.ReadString('\n')
		if err == io.EOF && line == "" {
			return nil, nil
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("import: spool: %w", err)
		}
		var b spooledBatch
		if err := json.Unmarshal([]byte(line), &b); err != nil {
			return nil, fmt.Errorf("import: spool: %w", err)
		}
		// Batches of role assignments only are independent of each other
		// (what they refer to comes in earlier batches; an assignment that
		// exists is left alone): they may run at the same time. Any other
		// batch waits for the ones before it, and they for it.
		t := &Task{Kind: KindRows, Input: string(b.Rows), Items: b.Count, FirstLine: b.First, LastLine: b.Last,
			parallel: b.Assignments && prevAssignments}
		prevAssignments = b.Assignments
		return t, nil
	})
	if err != nil {
		return nil, err
	}
	return j, nil
}

// RemoveSpools removes the spool files that a stopped process left in
// Options.TempDir (none when it is the system's temporary folder, which
// other processes share). Call it at the start of the one process that
// owns an embedded database.
func (s *Service) RemoveSpools() (int, error) {
	if s.Opt.TempDir == "" {
		return 0, nil
	}
	names, err := filepath.Glob(filepath.Join(s.Opt.TempDir, spoolPattern))
	if err != nil {
		return 0, fmt.Errorf("import spools: %w", err)
	}
	n := 0
	for _, name := range names {
		if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("import spools: %w", err)
		}
		n++
	}
	return n, nil
}

// StartInput asks for a job that is not an import.
type StartInput struct {
	Type string
	// Source is the environment a copy reads (same organization).
	Source *Target
	// Replace empties the target before a copy.
	Replace bool
}

// Start creates an export, environment copy or sandbox reset job.
func (s *Service) Start(ctx context.Context, p *auth.Principal, t Target, in StartInput) (*Job, error) {
	switch in.Type {
	case TypeExport:
		if err := needScopes(p, facts.Kinds, false); err != nil {
			return nil, err
		}
		j := s.newJob(p, t, TypeExport, Params{})
		tasks, total, err := s.plan(ctx, t.EnvID, KindExport, "")
		if err != nil {
			return nil, err
		}
		j.TotalItems = total
		return j, s.create(ctx, j, each(tasks))
	case TypeEnvironmentCopy:
		if in.Source == nil {
			return nil, gatehouse.FieldError("source", "required_field_missing", "an environment_copy job needs source: {project, environment}")
		}
		src := *in.Source
		if src.OrgID != t.OrgID || !p.CanReachEnvironment(src.ProjectID, src.EnvID) {
			return nil, gatehouse.Errorf(gatehouse.CodeNotFound, "source environment not found")
		}
		if src.EnvID == t.EnvID {
			return nil, gatehouse.FieldError("source", "invalid_value", "an environment cannot be copied into itself")
		}
		if err := needScopes(p, facts.Kinds, false); err != nil {
			return nil, err
		}
		if err := needScopes(p, facts.Kinds, true); err != nil {
			return nil, err
		}
		j := s.newJob(p, t, TypeEnvironmentCopy, Params{SourceEnvID: src.EnvID, SourceProjectID: src.ProjectID, Replace: in.Replace})
		tasks, total, err := s.plan(ctx, src.EnvID, KindCopy, src.EnvID)
		if err != nil {
			return nil, err
		}
		if in.Replace {
			tasks = append([]*Task{{Kind: KindReset}}, tasks...)
		}
		j.TotalItems = total
		return j, s.create(ctx, j, each(tasks))
	case TypeSandboxReset:
		if !t.Sandbox {
			return nil, gatehouse.FieldError("type", "invalid_value", "only a sandbox environment can be reset (its data is reset daily anyway)")
		}
		if err := needScopes(p, facts.Kinds, true); err != nil {
			return nil, err
		}
		j := s.newJob(p, t, TypeSandboxReset, Params{})
		return j, s.create(ctx, j, each([]*Task{{Kind: KindReset}}))
	case TypeImport:
		return nil, gatehouse.FieldError("type", "invalid_value", "an import is started by uploading its file: POST /v1/jobs/import")
	}
	return nil, gatehouse.FieldError("type", "invalid_value", "type must be export, environment_copy or sandbox_reset")
}

func each(tasks []*Task) func() (*Task, error) {
	i := 0
	return func() (*Task, error) {
		if i == len(tasks) {
			return nil, nil
		}
		i++
		return tasks[i-1], nil
	}
}

// plan splits envID's items, kind by kind, into id ranges of
// ExportBatch items: one task each.
func (s *Service) plan(ctx context.Context, envID, taskKind, sourceEnvID string) ([]*Task, int64, error) {
	var tasks []*Task
	var total int64
	for _, kind := range facts.Kinds {
		n, err := s.Facts.Store.CountRows(ctx, envID, kind)
		if err != nil {
			return nil, 0, err
		}
		if n == 0 {
			continue
		}
		total += int64(n)
		bounds, err := s.Facts.Store.IDBoundaries(ctx, envID, kind, s.Opt.ExportBatch)
		if err != nil {
			return nil, 0, err
		}
		if kind == facts.KindRole || kind == facts.KindResourceRole {
			bounds = nil // roles may extend or derive from each other: one task
		}
		after := ""
		left := int64(n)
		// Ranges of one kind are independent (an export's are reads; a
		// copy's refer only to kinds copied before): they may run at the
		// same time. An export's parts are read in order whatever the order
		// they ran in.
		first := true
		parallel := func() bool {
			p := taskKind == KindExport && len(tasks) > 0 || !first
			first = false
			return p
		}
		for _, b := range bounds {
			size := min(int64(s.Opt.ExportBatch), left)
			tasks = append(tasks, &Task{Kind: taskKind, Items: size, Params: TaskParams{Kind: kind, After: after, Upto: b, SourceEnvID: sourceEnvID},
				parallel: parallel()})
			after, left = b, left-size
		}
		if left > 0 || len(bounds) == 0 {
			tasks = append(tasks, &Task{Kind: taskKind, Items: left, Params: TaskParams{Kind: kind, After: after, SourceEnvID: sourceEnvID},
				parallel: parallel()})
		} else {
			tasks[len(tasks)-1].Params.Upto = "" // items added since planning go in the last range
		}
	}
	if len(tasks) == 0 && taskKind == KindExport {
		// An empty environment still exports (to nothing).
		tasks = append(tasks, &Task{Kind: taskKind, Params: TaskParams{Kind: facts.KindResource}})
	}
	return tasks, total, nil
}

// Cancel stops a job: tasks not started are cancelled; a task running now
// finishes its batch (applied whole) and nothing runs after it.
func (s *Service) Cancel(ctx context.Context, p *auth.Principal, id string) (*Job, error) {
	var j *Job
	err := s.Store.InJobTx(ctx, "", func(tx Tx) error {
		var err error
		if j, err = tx.GetJob(ctx, p.OrgID, id); err != nil {
			return err
		}
		if !reach(p, j) {
			return gatehouse.Errorf(gatehouse.CodeNotFound, "job %q not found", id)
		}
		if j, err = tx.LockJob(ctx, j.ID); err != nil { // before its tasks (see begin)
			return err
		}
		if j.Finished() {
			return gatehouse.Errorf(gatehouse.CodeConflict, "job %s has already %s", j.ID, j.Status)
		}
		now := s.now()
		if _, err := tx.CancelJobTasks(ctx, j.ID, now); err != nil {
			return err
		}
		j.Status, j.FinishedAt, j.UpdatedAt = StatusCancelled, &now, now
		if err := tx.UpdateJob(ctx, j); err != nil {
			return err
		}
		return s.emitJob(ctx, tx, j, event.JobCancelled)
	})
	return j, err
}

// RetryTask runs a failed task again, alone; its job is running again
// until the task ends.
func (s *Service) RetryTask(ctx context.Context, p *auth.Principal, id string) (*Task, error) {
	t, j, err := s.GetTask(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if err := s.needJobScopes(p, j); err != nil {
		return nil, err
	}
	err = s.Store.InJobTx(ctx, "", func(tx Tx) error {
		if j, err = tx.LockJob(ctx, j.ID); err != nil { // before its task (see begin)
			return err
		}
		if t, err = tx.TaskByID(ctx, id); err != nil {
			return err
		}
		if t.Status != StatusFailed {
			return gatehouse.Errorf(gatehouse.CodeConflict, "task %s is %s: only a failed task can be retried", t.ID, t.Status)
		}
		if j.Status == StatusCancelled {
			return gatehouse.Errorf(gatehouse.CodeConflict, "job %s was cancelled", j.ID)
		}
		now := s.now()
		t.Status, t.Attempts, t.Errors, t.Error, t.FinishedAt, t.UpdatedAt = StatusQueued, 0, nil, "", nil, now
		if err := tx.UpdateTask(ctx, t); err != nil {
			return err
		}
		j.FailedItems -= t.Items
		j.Status, j.FinishedAt, j.UpdatedAt = StatusRunning, nil, now
		if err := tx.UpdateJob(ctx, j); err != nil {
			return err
		}
		return tx.EnqueueTask(ctx, t.ID)
	})
	return t, err
}

// needJobScopes checks p may do what job j does (retrying a task of it).
func (s *Service) needJobScopes(p *auth.Principal, j *Job) error {
	switch j.Type {
	case TypeExport:
		return needScopes(p, facts.Kinds, false)
	case TypeImport:
		return needScopes(p, j.Params.Kinds, true)
	default:
		return needScopes(p, facts.Kinds, true)
	}
}

// Output returns export job id when p may read its output: the job has
// succeeded and p holds the view scopes of every kind of item in it.
func (s *Service) Output(ctx context.Context, p *auth.Principal, id string) (*Job, error) {
	j, err := s.Get(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if j.Type != TypeExport {
		return nil, gatehouse.Errorf(gatehouse.CodeNotFound, "job %s is a %s: only exports have an output", j.ID, j.Type)
	}
	if err := needScopes(p, facts.Kinds, false); err != nil {
		return nil, err
	}
	if j.Status != StatusSucceeded {
		return nil, gatehouse.Errorf(gatehouse.CodeConflict, "job %s is %s: its output is ready once it has succeeded", j.ID, j.Status)
	}
	return j, nil
}

// WriteOutput writes the JSON Lines of export j (see Output) to w.
func (s *Service) WriteOutput(ctx context.Context, j *Job, w io.Writer) error {
	return s.Store.TaskOutputs(ctx, j.ID, func(out string) error {
		_, err := io.WriteString(w, out)
		return err
	})
}

// jobData is the data of a job event.
func jobData(j *Job) map[string]any {
	return map[string]any{"id": j.ID, "type": j.Type, "status": j.Status, "total_items": j.TotalItems, "done_items": j.DoneItems,
		"failed_items": j.FailedItems, "result": j.Result, "started_at": j.StartedAt, "finished_at": j.FinishedAt}
}

func (s *Service) emitJob(ctx context.Context, tx Tx, j *Job, typ string) error {
	return tx.Emit(ctx, event.Event{ID: newID(), Type: typ, OrgID: j.OrgID, ProjectID: j.ProjectID, EnvID: j.EnvID, OccurredAt: s.now(), Data: jobData(j)})
}
