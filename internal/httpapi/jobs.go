package httpapi

import (
	"context"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/jobs"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// Job is the wire form of a job.
type Job struct {
	ID            string      `json:"id"`
	Type          string      `json:"type" enum:"import,export,environment_copy,sandbox_reset"`
	Status        string      `json:"status" enum:"queued,running,succeeded,failed,cancelled"`
	ProjectID     string      `json:"project_id"`
	EnvironmentID string      `json:"environment_id" doc:"The environment the job works on (a copy's target)."`
	Params        jobs.Params `json:"params"`
	Progress      JobProgress `json:"progress"`
	Result        jobs.Result `json:"result"`
	Error         string      `json:"error,omitempty"`
	OutputURL     string      `json:"output_url,omitempty" doc:"An export's JSON Lines, once it has succeeded."`
	CreatedBy     string      `json:"created_by" doc:"key:<id>, or scheduler for the daily sandbox reset."`
	CreatedAt     time.Time   `json:"created_at"`
	StartedAt     *time.Time  `json:"started_at,omitempty"`
	FinishedAt    *time.Time  `json:"finished_at,omitempty"`
	UpdatedAt     time.Time   `json:"updated_at"`
}

// JobProgress says how far a job is.
type JobProgress struct {
	TotalItems  int64   `json:"total_items"`
	DoneItems   int64   `json:"done_items"`
	FailedItems int64   `json:"failed_items"`
	TotalTasks  int     `json:"total_tasks"`
	Percent     float64 `json:"percent" doc:"(done + failed) / total, 0-100."`
}

func jobOut(j *jobs.Job) Job {
	out := Job{ID: j.ID, Type: j.Type, Status: j.Status, ProjectID: j.ProjectID, EnvironmentID: j.EnvID, Params: j.Params, Result: j.Result,
		Error: j.Error, CreatedBy: j.CreatedBy, CreatedAt: j.CreatedAt, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt, UpdatedAt: j.UpdatedAt,
		Progress: JobProgress{TotalItems: j.TotalItems, DoneItems: j.DoneItems, FailedItems: j.FailedItems, TotalTasks: j.TotalTasks}}
	if j.TotalItems > 0 {
		out.Progress.Percent = float64(j.DoneItems+j.FailedItems) * 100 / float64(j.TotalItems)
	} else if j.Finished() {
		out.Progress.Percent = 100
	}
	if j.Type == jobs.TypeExport && j.Status == jobs.StatusSucceeded {
		out.OutputURL = "/v1/jobs/" + j.ID + "/output"
	}
	return out
}

// Task is the wire form of a job's task.
type Task struct {
	ID         string            `json:"id"`
	JobID      string            `json:"job_id"`
	Seq        int               `json:"seq" doc:"The task's place in its job (tasks run in this order)."`
	Kind       string            `json:"kind" enum:"rows,export,copy,reset"`
	Status     string            `json:"status" enum:"pending,queued,running,succeeded,failed,cancelled"`
	Attempts   int               `json:"attempts"`
	Items      int64             `json:"items"`
	FirstLine  int64             `json:"first_line,omitempty" doc:"An import batch: its first line in the file."`
	LastLine   int64             `json:"last_line,omitempty"`
	RowKind    string            `json:"row_kind,omitempty" doc:"An export or copy task: the kind of item it reads."`
	Result     facts.BatchResult `json:"result"`
	Errors     []facts.RowError  `json:"errors" doc:"Rows that could not be applied (the batch was then not applied at all)."`
	Error      string            `json:"error,omitempty"`
	CreatedAt  time.Time         `json:"created_at"`
	StartedAt  *time.Time        `json:"started_at,omitempty"`
	FinishedAt *time.Time        `json:"finished_at,omitempty"`
	UpdatedAt  time.Time         `json:"updated_at"`
}

func taskOut(t *jobs.Task) Task {
	errs := t.Errors
	if errs == nil {
		errs = []facts.RowError{}
	}
	return Task{ID: t.ID, JobID: t.JobID, Seq: t.Seq, Kind: t.Kind, Status: t.Status, Attempts: t.Attempts, Items: t.Items,
		FirstLine: t.FirstLine, LastLine: t.LastLine, RowKind: t.Params.Kind, Result: t.Result, Errors: errs, Error: t.Error,
		CreatedAt: t.CreatedAt, StartedAt: t.StartedAt, FinishedAt: t.FinishedAt, UpdatedAt: t.UpdatedAt}
}

func target(env *tenancy.Environment) jobs.Target {
	return jobs.Target{OrgID: env.OrgID, ProjectID: env.ProjectID, EnvID: env.ID, Sandbox: env.Sandbox}
}

type listJobsIn struct {
	PageQuery
	Project     string `query:"project" doc:"With environment: only this environment's jobs."`
	Environment string `query:"environment"`
	Sort        string `query:"sort" default:"created_at" enum:"created_at,updated_at,status,type"`
	Status      string `query:"status" enum:"queued,running,succeeded,failed,cancelled"`
	Type        string `query:"type" enum:"import,export,environment_copy,sandbox_reset"`
}

func (h *handlers) listJobs(ctx context.Context, in *listJobsIn) (*ListOut[Job], error) {
	f := jobs.JobFilter{Status: in.Status, Type: in.Type}
	if in.Project != "" || in.Environment != "" {
		env, err := h.envOf(ctx, EnvQuery{Project: in.Project, Environment: in.Environment})
		if err != nil {
			return nil, err
		}
		f.EnvID = env.ID
	}
	req := in.request(in.Sort)
	page, err := h.Jobs.List(ctx, principal(ctx), f, req)
	if err != nil {
		return nil, err
	}
	return list(ctx, page, req, jobOut), nil
}

// CopySource is the environment an environment_copy job reads from (into
// the target environment).
type CopySource struct {
	Project     string `json:"project" minLength:"1" doc:"Project id or key."`
	Environment string `json:"environment" minLength:"1" doc:"Environment id or key."`
}

type startJobIn struct {
	EnvQuery
	Body struct {
		Type    string      `json:"type" enum:"export,environment_copy,sandbox_reset" doc:"An import is started by uploading its file to POST /v1/jobs/import."`
		Source  *CopySource `json:"source,omitempty"`
		Replace bool        `json:"replace,omitempty" doc:"environment_copy: empty the target first (otherwise items are merged: created or updated, none deleted)."`
	}
}

func (h *handlers) startJob(ctx context.Context, in *startJobIn) (*Out[Job], error) {
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	si := jobs.StartInput{Type: in.Body.Type, Replace: in.Body.Replace}
	if s := in.Body.Source; s != nil {
		src, err := h.environment(ctx, EnvPath{ProjectPath: ProjectPath{Project: s.Project}, Environment: s.Environment}, false)
		if err != nil {
			return nil, err
		}
		t := target(src)
		si.Source = &t
	}
	j, err := h.Jobs.Start(ctx, principal(ctx), target(env), si)
	if err != nil {
		return nil, err
	}
	return ok(ctx, jobOut(j)), nil
}

type importJobIn struct {
	EnvQuery
	Type        string `query:"type" enum:"users,tenants,role_assignments,user,tenant,role_assignment,resources,roles,resource,role,relations,relation,resource_roles,resource_role,resource_instances,resource_instance,relationship_tuples,relationship_tuple,condition_sets,condition_set,set_rules,set_rule" doc:"The type of every row of a CSV file (required for CSV), or of JSON Lines rows without a type field."`
	Format      string `query:"format" enum:"jsonl,csv" doc:"Overrides the format the Content-Type says."`
	BatchSize   int    `query:"batch_size" minimum:"0" maximum:"10000" doc:"Rows per task (default 5,000): each batch is applied whole or not at all."`
	Events      bool   `query:"events" doc:"Send a webhook event for every item created or changed (off by default: an import would send one per row)."`
	ContentType string `header:"Content-Type"`
	body        io.Reader
	rc          *http.ResponseController
}

// Resolve takes the body unread: huma does not buffer it, the import
// streams it.
func (in *importJobIn) Resolve(ctx huma.Context) []error {
	in.body = ctx.BodyReader()
	_, w := humago.Unwrap(ctx)
	in.rc = http.NewResponseController(w)
	return nil
}

func (h *handlers) importJob(ctx context.Context, in *importJobIn) (*Out[Job], error) {
	format := in.Format
	if format == "" {
		mt, _, _ := mime.ParseMediaType(in.ContentType)
		switch mt {
		case "application/x-ndjson", "application/jsonl", "application/json-lines", "application/x-jsonlines":
			format = jobs.FormatJSONL
		case "text/csv":
			format = jobs.FormatCSV
		default:
			return nil, gatehouse.Errorf(gatehouse.CodeUnsupportedMediaType, "send JSON Lines (Content-Type: application/x-ndjson) or CSV (Content-Type: text/csv); got %q", in.ContentType)
		}
	}
	env, err := h.envOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	// A large upload may take longer than the server's read timeout, and
	// the answer comes once all of it is read and checked: past the
	// server's write timeout too.
	_ = in.rc.SetReadDeadline(time.Now().Add(time.Hour))
	_ = in.rc.SetWriteDeadline(time.Now().Add(time.Hour))
	j, err := h.Jobs.Import(ctx, principal(ctx), target(env), jobs.ImportInput{Format: format, RowType: in.Type, BatchSize: in.BatchSize, Events: in.Events, Body: in.body})
	if err != nil {
		return nil, err
	}
	return ok(ctx, jobOut(j)), nil
}

type JobRef struct {
	Job string `path:"job" doc:"Job id."`
}

func (h *handlers) getJob(ctx context.Context, in *JobRef) (*Out[Job], error) {
	j, err := h.Jobs.Get(ctx, principal(ctx), in.Job)
	if err != nil {
		return nil, err
	}
	return ok(ctx, jobOut(j)), nil
}

func (h *handlers) cancelJob(ctx context.Context, in *JobRef) (*Out[Job], error) {
	j, err := h.Jobs.Cancel(ctx, principal(ctx), in.Job)
	if err != nil {
		return nil, err
	}
	return ok(ctx, jobOut(j)), nil
}

func (h *handlers) jobOutput(ctx context.Context, in *JobRef) (*huma.StreamResponse, error) {
	j, err := h.Jobs.Output(ctx, principal(ctx), in.Job)
	if err != nil {
		return nil, err
	}
	log := h.Log
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		hctx.SetHeader("Content-Type", "application/x-ndjson")
		hctx.SetHeader("Content-Disposition", `attachment; filename="gatehouse-export-`+j.ID+`.jsonl"`)
		hctx.SetStatus(http.StatusOK)
		if err := h.Jobs.WriteOutput(hctx.Context(), j, hctx.BodyWriter()); err != nil && hctx.Context().Err() == nil {
			log.Error("export output", "request_id", RequestID(hctx.Context()), "job_id", j.ID, "err", err)
			_, _ = io.WriteString(hctx.BodyWriter(), `{"error":{"code":"INTERNAL_ERROR","message":"the output stopped before its end"}}`+"\n")
		}
	}}, nil
}

type listTasksIn struct {
	PageQuery
	Sort   string `query:"sort" default:"created_at" enum:"created_at,updated_at,seq,status"`
	Job    string `query:"job" doc:"Only this job's tasks."`
	Status string `query:"status" enum:"pending,queued,running,succeeded,failed,cancelled"`
}

func (h *handlers) listTasks(ctx context.Context, in *listTasksIn) (*ListOut[Task], error) {
	req := in.request(in.Sort)
	page, err := h.Jobs.ListTasks(ctx, principal(ctx), jobs.TaskFilter{JobID: in.Job, Status: in.Status}, req)
	if err != nil {
		return nil, err
	}
	return list(ctx, page, req, taskOut), nil
}

type jobTasksIn struct {
	JobRef
	PageQuery
	Status string `query:"status" enum:"pending,queued,running,succeeded,failed,cancelled"`
}

func (h *handlers) jobTasks(ctx context.Context, in *jobTasksIn) (*ListOut[Task], error) {
	req := in.request("seq")
	page, err := h.Jobs.ListTasks(ctx, principal(ctx), jobs.TaskFilter{JobID: in.Job, Status: in.Status}, req)
	if err != nil {
		return nil, err
	}
	return list(ctx, page, req, taskOut), nil
}

type TaskRef struct {
	Task string `path:"task" doc:"Task id."`
}

func (h *handlers) getTask(ctx context.Context, in *TaskRef) (*Out[Task], error) {
	t, _, err := h.Jobs.GetTask(ctx, principal(ctx), in.Task)
	if err != nil {
		return nil, err
	}
	return ok(ctx, taskOut(t)), nil
}

func (h *handlers) retryTask(ctx context.Context, in *TaskRef) (*Out[Task], error) {
	t, err := h.Jobs.RetryTask(ctx, principal(ctx), in.Task)
	if err != nil {
		return nil, err
	}
	return ok(ctx, taskOut(t)), nil
}
