package httpapi

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// Project is the wire form of a project.
type Project struct {
	ID          string    `json:"id"`
	Key         string    `json:"key"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	tenancy.Tombstone
}

func projectOut(p *tenancy.Project) Project {
	return Project{ID: p.ID, Key: p.Key, Name: p.Name, Description: p.Description, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, Tombstone: p.Tombstone}
}

// Environment is the wire form of an environment.
type Environment struct {
	ID          string    `json:"id"`
	ProjectID   string    `json:"project_id"`
	Key         string    `json:"key"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Sandbox     bool      `json:"sandbox" doc:"A sandbox is not rate limited and its data is reset daily."`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	tenancy.Tombstone
}

func envOut(e *tenancy.Environment) Environment {
	return Environment{ID: e.ID, ProjectID: e.ProjectID, Key: e.Key, Name: e.Name, Description: e.Description,
		Sandbox: e.Sandbox, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt, Tombstone: e.Tombstone}
}

type ProjectPath struct {
	Project string `path:"project" doc:"Project id or key."`
}

type EnvPath struct {
	ProjectPath
	Environment string `path:"environment" doc:"Environment id or key."`
}

// project loads a project of the caller's organization. manage asks for the
// right to change it; otherwise reading is enough (tenancy decides).
func (h *handlers) project(ctx context.Context, ref string, manage bool) (*tenancy.Project, *auth.Principal, error) {
	p := principal(ctx)
	proj, err := h.Tenancy.Project(ctx, p, ref, manage)
	return proj, p, err
}

// environment loads an environment the caller can reach.
func (h *handlers) environment(ctx context.Context, in EnvPath, manage bool) (*tenancy.Environment, error) {
	return h.Tenancy.Environment(ctx, principal(ctx), in.Project, in.Environment, manage)
}

// DeletedQuery lists deleted items (restorable until their purge_after)
// instead of live ones.
type DeletedQuery struct {
	Deleted bool `query:"deleted" doc:"List the deleted ones instead, which POST …/restore brings back until their purge_after."`
}

type listProjectsIn struct {
	PageQuery
	DeletedQuery
	Sort string `query:"sort" default:"created_at" enum:"created_at,updated_at,name,key" doc:"Field to sort by."`
	Key  string `query:"key" doc:"Only the project with this key."`
}

func (h *handlers) listProjects(ctx context.Context, in *listProjectsIn) (*ListOut[Project], error) {
	req := in.request(in.Sort)
	page, err := h.Tenancy.Projects(ctx, principal(ctx), tenancy.ProjectFilter{Key: in.Key, Deleted: in.Deleted}, req)
	if err != nil {
		return nil, err
	}
	return list(ctx, page, req, projectOut), nil
}

type createProjectIn struct {
	Body struct {
		Key         string `json:"key,omitempty" doc:"URL-safe key (a-z, 0-9, '-', '_'); derived from the name when omitted."`
		Name        string `json:"name" minLength:"1" maxLength:"200"`
		Description string `json:"description,omitempty" maxLength:"2000"`
	}
}

func (h *handlers) createProject(ctx context.Context, in *createProjectIn) (*Out[Project], error) {
	proj, _, err := h.Tenancy.CreateProject(ctx, principal(ctx).OrgID, tenancy.NewProjectInput{Key: in.Body.Key, Name: in.Body.Name, Description: in.Body.Description})
	if err != nil {
		return nil, err
	}
	return ok(ctx, projectOut(proj)), nil
}

func (h *handlers) getProject(ctx context.Context, in *ProjectPath) (*Out[Project], error) {
	proj, _, err := h.project(ctx, in.Project, false)
	if err != nil {
		return nil, err
	}
	return ok(ctx, projectOut(proj)), nil
}

type updateProjectIn struct {
	ProjectPath
	Body struct {
		Key         *string `json:"key,omitempty"`
		Name        *string `json:"name,omitempty" minLength:"1" maxLength:"200"`
		Description *string `json:"description,omitempty" maxLength:"2000"`
	}
}

func (h *handlers) updateProject(ctx context.Context, in *updateProjectIn) (*Out[Project], error) {
	proj, _, err := h.project(ctx, in.Project, true)
	if err != nil {
		return nil, err
	}
	proj, err = h.Tenancy.UpdateProject(ctx, proj, in.Body.Key, in.Body.Name, in.Body.Description)
	if err != nil {
		return nil, err
	}
	return ok(ctx, projectOut(proj)), nil
}

func (h *handlers) deleteProject(ctx context.Context, in *ProjectPath) (*NoContent, error) {
	proj, _, err := h.project(ctx, in.Project, true)
	if err != nil {
		return nil, err
	}
	if err := h.Tenancy.DeleteProject(ctx, proj); err != nil {
		return nil, err
	}
	return &NoContent{}, nil
}

type listEnvsIn struct {
	ProjectPath
	PageQuery
	DeletedQuery
	Sort    string `query:"sort" default:"created_at" enum:"created_at,updated_at,name,key"`
	Key     string `query:"key" doc:"Only the environment with this key."`
	Sandbox string `query:"sandbox" enum:"true,false" doc:"Only sandbox (true) or non-sandbox (false) environments."`
}

func (h *handlers) listEnvironments(ctx context.Context, in *listEnvsIn) (*ListOut[Environment], error) {
	proj, p, err := h.project(ctx, in.Project, false)
	if err != nil {
		return nil, err
	}
	f := tenancy.EnvironmentFilter{Key: in.Key, Deleted: in.Deleted}
	if in.Sandbox != "" {
		b := in.Sandbox == "true"
		f.Sandbox = &b
	}
	req := in.request(in.Sort)
	page, err := h.Tenancy.Environments(ctx, p, proj, f, req)
	if err != nil {
		return nil, err
	}
	return list(ctx, page, req, envOut), nil
}

type createEnvIn struct {
	ProjectPath
	Body struct {
		Key         string `json:"key,omitempty" doc:"URL-safe key; derived from the name when omitted."`
		Name        string `json:"name" minLength:"1" maxLength:"200"`
		Description string `json:"description,omitempty" maxLength:"2000"`
		Sandbox     bool   `json:"sandbox,omitempty" doc:"Not rate limited; data reset daily."`
	}
}

func (h *handlers) createEnvironment(ctx context.Context, in *createEnvIn) (*Out[Environment], error) {
	proj, _, err := h.project(ctx, in.Project, true)
	if err != nil {
		return nil, err
	}
	env, err := h.Tenancy.CreateEnvironment(ctx, proj, tenancy.NewEnvironmentInput{Key: in.Body.Key, Name: in.Body.Name,
		Description: in.Body.Description, Sandbox: in.Body.Sandbox})
	if err != nil {
		return nil, err
	}
	return ok(ctx, envOut(env)), nil
}

func (h *handlers) getEnvironment(ctx context.Context, in *EnvPath) (*Out[Environment], error) {
	env, err := h.environment(ctx, *in, false)
	if err != nil {
		return nil, err
	}
	return ok(ctx, envOut(env)), nil
}

type updateEnvIn struct {
	EnvPath
	Body struct {
		Key         *string `json:"key,omitempty"`
		Name        *string `json:"name,omitempty" minLength:"1" maxLength:"200"`
		Description *string `json:"description,omitempty" maxLength:"2000"`
		Sandbox     *bool   `json:"sandbox,omitempty"`
	}
}

func (h *handlers) updateEnvironment(ctx context.Context, in *updateEnvIn) (*Out[Environment], error) {
	env, err := h.environment(ctx, in.EnvPath, true)
	if err != nil {
		return nil, err
	}
	env, err = h.Tenancy.UpdateEnvironment(ctx, env, tenancy.EnvironmentPatch{Key: in.Body.Key, Name: in.Body.Name,
		Description: in.Body.Description, Sandbox: in.Body.Sandbox})
	if err != nil {
		return nil, err
	}
	h.limitsChanged(env.ID) // sandbox environments are not limited
	return ok(ctx, envOut(env)), nil
}

func (h *handlers) deleteEnvironment(ctx context.Context, in *EnvPath) (*NoContent, error) {
	env, err := h.environment(ctx, *in, true)
	if err != nil {
		return nil, err
	}
	if err := h.Tenancy.DeleteEnvironment(ctx, env); err != nil {
		return nil, err
	}
	return &NoContent{}, nil
}

// RestoreProjectPath names a deleted project by id.
type RestoreProjectPath struct {
	Project string `path:"project" doc:"The deleted project's id (GET /v1/projects?deleted=true lists them)."`
}

func (h *handlers) restoreProject(ctx context.Context, in *RestoreProjectPath) (*Out[Project], error) {
	p := principal(ctx)
	proj, err := h.Tenancy.RestoreProject(ctx, p.OrgID, in.Project)
	if err != nil {
		return nil, err
	}
	return ok(ctx, projectOut(proj)), nil
}

// RestoreEnvPath names a deleted environment of a project by id.
type RestoreEnvPath struct {
	ProjectPath
	Environment string `path:"environment" doc:"The deleted environment's id (…/environments?deleted=true lists them)."`
}

func (h *handlers) restoreEnvironment(ctx context.Context, in *RestoreEnvPath) (*Out[Environment], error) {
	proj, _, err := h.project(ctx, in.Project, true)
	if err != nil {
		return nil, err
	}
	env, err := h.Tenancy.RestoreEnvironment(ctx, proj, in.Environment)
	if err != nil {
		return nil, err
	}
	return ok(ctx, envOut(env)), nil
}

// EnvSettings is the wire form of an environment's settings.
type EnvSettings struct {
	RateLimitPerHour      *int    `json:"rate_limit_per_hour" doc:"Overrides the organization's hourly limit for this environment's keys; null inherits it."`
	DecisionLog           string  `json:"decision_log" enum:"off,sampled,full" doc:"Which permission checks are recorded."`
	DecisionLogSampleRate float64 `json:"decision_log_sample_rate" doc:"Fraction of checks recorded when decision_log is sampled."`
	APILogChecks          bool    `json:"api_log_checks" doc:"Also record every permission check (POST /v1/allowed and the other check and lookup operations, Permit's /allowed) in the API log, a row each. Off by default: checks are counted per key and minute (GET /v1/usage/checks) and recorded in the decision log per decision_log; a log row per check costs about as much as the check itself on the server."`
}

func envSettingsOut(s tenancy.EnvSettings) EnvSettings {
	return EnvSettings{RateLimitPerHour: s.RateLimitPerHour, DecisionLog: s.DecisionLog, DecisionLogSampleRate: s.DecisionLogSampleRate,
		APILogChecks: s.APILogChecks}
}

func (h *handlers) getEnvSettings(ctx context.Context, in *EnvPath) (*Out[EnvSettings], error) {
	env, err := h.environment(ctx, *in, false)
	if err != nil {
		return nil, err
	}
	return ok(ctx, envSettingsOut(env.Settings)), nil
}

type updateEnvSettingsIn struct {
	EnvPath
	Body struct {
		RateLimitPerHour      *int     `json:"rate_limit_per_hour,omitempty" minimum:"0" doc:"0 removes the override."`
		DecisionLog           *string  `json:"decision_log,omitempty" enum:"off,sampled,full"`
		DecisionLogSampleRate *float64 `json:"decision_log_sample_rate,omitempty" minimum:"0" maximum:"1"`
		APILogChecks          *bool    `json:"api_log_checks,omitempty" doc:"Record permission checks in the API log too."`
	}
}

func (h *handlers) updateEnvSettings(ctx context.Context, in *updateEnvSettingsIn) (*Out[EnvSettings], error) {
	// An environment key may change its own environment's settings.
	env, err := h.environment(ctx, in.EnvPath, false)
	if err != nil {
		return nil, err
	}
	b := in.Body
	env, err = h.Tenancy.UpdateEnvSettings(ctx, env, func(s *tenancy.EnvSettings) {
		if b.RateLimitPerHour != nil {
			s.RateLimitPerHour = b.RateLimitPerHour
			if *b.RateLimitPerHour == 0 {
				s.RateLimitPerHour = nil
			}
		}
		if b.DecisionLog != nil {
			s.DecisionLog = *b.DecisionLog
		}
		if b.DecisionLogSampleRate != nil {
			s.DecisionLogSampleRate = *b.DecisionLogSampleRate
		}
		if b.APILogChecks != nil {
			s.APILogChecks = *b.APILogChecks
		}
	})
	if err != nil {
		return nil, err
	}
	h.limitsChanged(env.ID)
	if h.Decisions != nil { // other nodes pick the change up within the policy TTL
		h.Decisions.SetPolicy(env.ID, env.Settings.DecisionPolicy())
		h.Facts.Engines.Wake(env.ID) // this node's PDP streams send the new policy now
	}
	return ok(ctx, envSettingsOut(env.Settings)), nil
}
