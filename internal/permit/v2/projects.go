package permitv2

import (
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// ---- the key's scope, projects and environments

func (s *server) scope(c *call) (int, any, error) {
	out := map[string]any{"organization_id": c.p.OrgID, "project_id": nil, "environment_id": nil}
	if c.p.ProjectID != "" {
		out["project_id"] = c.p.ProjectID
	}
	if c.p.EnvironmentID != "" {
		out["environment_id"] = c.p.EnvironmentID
	}
	return http.StatusOK, out, nil
}

type pProject struct {
	Key            string         `json:"key"`
	ID             string         `json:"id"`
	OrganizationID string         `json:"organization_id"`
	Name           string         `json:"name"`
	Description    string         `json:"description,omitempty"`
	Settings       map[string]any `json:"settings"`
	CreatedAt      time.Time      `json:"created_at"`
	UpdatedAt      time.Time      `json:"updated_at"`
}

type pEnvironment struct {
	Key            string    `json:"key"`
	ID             string    `json:"id"`
	OrganizationID string    `json:"organization_id"`
	ProjectID      string    `json:"project_id"`
	Name           string    `json:"name"`
	Description    string    `json:"description,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

func pProjectOf(orgID string, p *tenancy.Project) pProject {
	return pProject{Key: p.Key, ID: p.ID, OrganizationID: orgID, Name: p.Name, Description: p.Description, Settings: map[string]any{},
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

func pEnvOf(orgID string, e *tenancy.Environment) pEnvironment {
	return pEnvironment{Key: e.Key, ID: e.ID, OrganizationID: orgID, ProjectID: e.ProjectID, Name: e.Name, Description: e.Description,
		CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}
}

// projRef is the path's project, also as Permit's undashed id.
func (s *server) projRef(c *call) string {
	ref := c.r.PathValue("proj")
	if dashed(ref) == ref {
		return ref
	}
	if _, err := s.Tenancy.Project(c.ctx, c.p, ref, false); gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
		return dashed(ref)
	}
	return ref
}

// envRef is the path's project and environment, also as Permit's
// undashed ids.
func (s *server) envRef(c *call) (proj, env string) {
	proj = s.projRef(c)
	env = c.r.PathValue("env")
	if dashed(env) != env {
		if p, err := s.Tenancy.Project(c.ctx, c.p, proj, false); err == nil {
			if _, err := s.Tenancy.EnvironmentIn(c.ctx, p, env); gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
				env = dashed(env)
			}
		}
	}
	return proj, env
}

// environment is the path's environment the caller can reach (manage: to
// change it).
func (s *server) environment(c *call, manage bool) (*tenancy.Environment, error) {
	proj, env := s.envRef(c)
	return s.Tenancy.Environment(c.ctx, c.p, proj, env, manage)
}

func (s *server) listProjects(c *call) (int, any, error) {
	pg, err := pageOf(c.r)
	if err != nil {
		return 0, nil, err
	}
	page, err := s.Tenancy.Projects(c.ctx, c.p, tenancy.ProjectFilter{}, pg.request("created_at"))
	if err != nil {
		return 0, nil, err
	}
	items := make([]pProject, len(page.Items))
	for i := range page.Items {
		items[i] = pProjectOf(c.p.OrgID, &page.Items[i])
	}
	return http.StatusOK, items, nil
}

type pNamedIn struct {
	Key         string  `json:"key"`
	Name        *string `json:"name"`
	Description *string `json:"description"`
}

// orKey is a new item's name: the one given, or its key.
func (in pNamedIn) orKey() string {
	if name := deref(in.Name); name != "" {
		return name
	}
	return in.Key
}

// createProject makes a project with its environments, each with its
// default tenant from the start (as v1 does).
func (s *server) createProject(c *call) (int, any, error) {
	if !c.p.IsOrganization() {
		return 0, nil, gatehouse.Errorf(gatehouse.CodeForbidden, "creating a project needs an organization-level key")
	}
	var in pNamedIn
	if err := c.body(s.maxBody, &in, false); err != nil {
		return 0, nil, err
	}
	proj, _, err := s.Tenancy.CreateProject(c.ctx, c.p.OrgID, tenancy.NewProjectInput{Key: in.Key, Name: in.orKey(), Description: deref(in.Description)})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, pProjectOf(c.p.OrgID, proj), nil
}

func (s *server) getProject(c *call) (int, any, error) {
	proj, err := s.Tenancy.Project(c.ctx, c.p, s.projRef(c), false)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, pProjectOf(c.p.OrgID, proj), nil
}

func (s *server) updateProject(c *call) (int, any, error) {
	var in pNamedIn
	if err := c.body(s.maxBody, &in, true); err != nil {
		return 0, nil, err
	}
	proj, err := s.Tenancy.Project(c.ctx, c.p, s.projRef(c), true)
	if err != nil {
		return 0, nil, err
	}
	var key *string
	if in.Key != "" {
		key = &in.Key
	}
	proj, err = s.Tenancy.UpdateProject(c.ctx, proj, key, in.Name, in.Description)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, pProjectOf(c.p.OrgID, proj), nil
}

// deleteProject deletes a project; every node forgets the keys it held
// (as v1 does).
func (s *server) deleteProject(c *call) (int, any, error) {
	proj, err := s.Tenancy.Project(c.ctx, c.p, s.projRef(c), true)
	if err != nil {
		return 0, nil, err
	}
	if err := s.Tenancy.DeleteProject(c.ctx, proj); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

func (s *server) listEnvs(c *call) (int, any, error) {
	pg, err := pageOf(c.r)
	if err != nil {
		return 0, nil, err
	}
	proj, err := s.Tenancy.Project(c.ctx, c.p, s.projRef(c), false)
	if err != nil {
		return 0, nil, err
	}
	page, err := s.Tenancy.Environments(c.ctx, c.p, proj, tenancy.EnvironmentFilter{}, pg.request("created_at"))
	if err != nil {
		return 0, nil, err
	}
	items := make([]pEnvironment, len(page.Items))
	for i := range page.Items {
		items[i] = pEnvOf(c.p.OrgID, &page.Items[i])
	}
	return http.StatusOK, items, nil
}

// createEnv makes an environment with its default tenant from the start
// (as v1 does).
func (s *server) createEnv(c *call) (int, any, error) {
	var in pNamedIn
	if err := c.body(s.maxBody, &in, false); err != nil {
		return 0, nil, err
	}
	proj, err := s.Tenancy.Project(c.ctx, c.p, s.projRef(c), true)
	if err != nil {
		return 0, nil, err
	}
	env, err := s.Tenancy.CreateEnvironment(c.ctx, proj, tenancy.NewEnvironmentInput{Key: in.Key, Name: in.orKey(), Description: deref(in.Description)})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, pEnvOf(c.p.OrgID, env), nil
}

func (s *server) getEnv(c *call) (int, any, error) {
	env, err := s.environment(c, false)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, pEnvOf(c.p.OrgID, env), nil
}

func (s *server) updateEnv(c *call) (int, any, error) {
	var in pNamedIn
	if err := c.body(s.maxBody, &in, true); err != nil {
		return 0, nil, err
	}
	env, err := s.environment(c, true)
	if err != nil {
		return 0, nil, err
	}
	patch := tenancy.EnvironmentPatch{Name: in.Name, Description: in.Description}
	if in.Key != "" {
		patch.Key = &in.Key
	}
	env, err = s.Tenancy.UpdateEnvironment(c.ctx, env, patch)
	if err != nil {
		return 0, nil, err
	}
	s.limitsChanged(env.ID)
	return http.StatusOK, pEnvOf(c.p.OrgID, env), nil
}

// deleteEnv deletes an environment (tenancy tells the key cache, the
// engines and the decision log).
func (s *server) deleteEnv(c *call) (int, any, error) {
	env, err := s.environment(c, true)
	if err != nil {
		return 0, nil, err
	}
	if err := s.Tenancy.DeleteEnvironment(c.ctx, env); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}
