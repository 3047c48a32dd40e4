package tenancy

import (
	"context"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Who may reach what: every front door (the v1 API, the Permit-compatible
// one, the dashboard through the API) asks here, so that no tenant reads
// or changes another's data whichever door a call came through. Anything
// outside the caller's organization is NOT_FOUND, whether it exists or
// not; inside it, a project or environment beyond the caller's key is
// FORBIDDEN.

func forbidden(format string, args ...any) error {
	return gatehouse.Errorf(gatehouse.CodeForbidden, format, args...)
}

func verb(manage bool) string {
	if manage {
		return "change"
	}
	return "read"
}

// Project returns project ref (id or key) of p's organization when p may
// read it, or change it with manage.
func (s *Service) Project(ctx context.Context, p *auth.Principal, ref string, manage bool) (*Project, error) {
	proj, err := s.Store.GetProject(ctx, p.OrgID, ref)
	if err != nil {
		return nil, err
	}
	if manage && !p.CanManageProject(proj.ID) || !p.CanSeeProject(proj.ID) {
		return nil, forbidden("this %s key cannot %s project %q", p.Level, verb(manage), ref)
	}
	return proj, nil
}

// Environment returns environment envRef of project projRef when p may
// reach it (change it, with manage: that is managing its project).
func (s *Service) Environment(ctx context.Context, p *auth.Principal, projRef, envRef string, manage bool) (*Environment, error) {
	proj, err := s.Project(ctx, p, projRef, false)
	if err != nil {
		return nil, err
	}
	env, err := s.Store.GetEnvironment(ctx, p.OrgID, proj.ID, envRef)
	if err != nil {
		return nil, err
	}
	if !p.CanReachEnvironment(proj.ID, env.ID) || manage && !p.CanManageProject(proj.ID) {
		return nil, forbidden("this %s key cannot %s environment %q", p.Level, verb(manage), envRef)
	}
	return env, nil
}

// EnvironmentOf is the environment a call acts in: an environment key's
// own when projRef and envRef are empty, else the one they name (both are
// then needed).
func (s *Service) EnvironmentOf(ctx context.Context, p *auth.Principal, projRef, envRef string) (*Environment, error) {
	if projRef == "" && envRef == "" {
		if p.EnvironmentID == "" {
			return nil, gatehouse.FieldError("environment", "required_field_missing",
				"this %s key is not bound to an environment: pass ?project=…&environment=… or use an environment key", p.Level)
		}
		return s.Store.GetEnvironment(ctx, p.OrgID, p.ProjectID, p.EnvironmentID)
	}
	if projRef == "" || envRef == "" {
		return nil, gatehouse.FieldError("environment", "required_field_missing", "pass both project and environment")
	}
	return s.Environment(ctx, p, projRef, envRef, false)
}

// Projects lists the projects p can see (a project or environment key: its
// own).
func (s *Service) Projects(ctx context.Context, p *auth.Principal, f ProjectFilter, page gatehouse.PageRequest) (gatehouse.Page[Project], error) {
	f.OrgID, f.ID = p.OrgID, p.ProjectID
	return s.Store.ListProjects(ctx, f, page)
}

// Environments lists the environments of project proj that p can see (an
// environment key: its own).
func (s *Service) Environments(ctx context.Context, p *auth.Principal, proj *Project, f EnvironmentFilter, page gatehouse.PageRequest) (gatehouse.Page[Environment], error) {
	f.OrgID, f.ProjectID, f.ID = p.OrgID, proj.ID, p.EnvironmentID
	return s.Store.ListEnvironments(ctx, f, page)
}

// Organization is p's organization (as deleted, for the key of a deleted
// one, which may still read and restore it).
func (s *Service) Organization(ctx context.Context, p *auth.Principal) (*Organization, error) {
	if p.OrgDeleted {
		return s.Store.DeletedOrganization(ctx, p.OrgID)
	}
	return s.Store.GetOrganization(ctx, p.OrgID)
}

// Member is member id of p's organization.
func (s *Service) Member(ctx context.Context, p *auth.Principal, id string) (*Member, error) {
	return s.Store.GetMember(ctx, p.OrgID, id)
}

// Members lists the members of p's organization.
func (s *Service) Members(ctx context.Context, p *auth.Principal, f MemberFilter, page gatehouse.PageRequest) (gatehouse.Page[Member], error) {
	f.OrgID = p.OrgID
	return s.Store.ListMembers(ctx, f, page)
}

// EnvironmentIn is environment ref of project proj, whoever asks: the
// caller decides what may be done with it (a key's creation checks the
// creator's reach itself).
func (s *Service) EnvironmentIn(ctx context.Context, proj *Project, ref string) (*Environment, error) {
	return s.Store.GetEnvironment(ctx, proj.OrgID, proj.ID, ref)
}

// OrgLimit is organization orgID's hourly request limit: its override, else
// its tier's (the rate limiter's settings).
func (s *Service) OrgLimit(ctx context.Context, orgID string) (int, error) {
	o, err := s.Store.GetOrganization(ctx, orgID)
	if err != nil {
		return 0, err
	}
	if o.Settings.RateLimitPerHour != nil {
		return *o.Settings.RateLimitPerHour, nil
	}
	return TierLimit(o.Settings.Tier), nil
}

// EnvLimit is environment envID's hourly limit override (0: none) and
// whether it is a sandbox, which is not limited.
func (s *Service) EnvLimit(ctx context.Context, envID string) (int, bool, error) {
	e, err := s.Store.EnvironmentByID(ctx, envID)
	if err != nil {
		return 0, false, err
	}
	limit := 0
	if e.Settings.RateLimitPerHour != nil {
		limit = *e.Settings.RateLimitPerHour
	}
	return limit, e.Sandbox, nil
}
