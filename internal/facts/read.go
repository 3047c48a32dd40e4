package facts

import (
	"context"

	"github.com/gatehouse-dev/gatehouse"
)

// Reads of an environment's data. The front doors read through these, never
// the store: envID is an environment the caller was found to reach
// (tenancy.Service.Environment).

// User is user ref (id or key) of envID.
func (s *Service) User(ctx context.Context, envID, ref string) (*User, error) {
	return s.Store.GetUser(ctx, envID, ref)
}

// Users lists users; f.EnvID is the environment.
func (s *Service) Users(ctx context.Context, f Filter, page gatehouse.PageRequest) (gatehouse.Page[User], error) {
	return s.Store.ListUsers(ctx, f, page)
}

// UsersByKey returns the users of envID with these keys.
func (s *Service) UsersByKey(ctx context.Context, envID string, keys []string) (map[string]*User, error) {
	return s.Store.UsersByKey(ctx, envID, keys)
}

// AssignmentsOfUsers returns the tenant role assignments of envID's users
// with these ids, by user, then created_at and id.
func (s *Service) AssignmentsOfUsers(ctx context.Context, envID string, userIDs []string) ([]Assignment, error) {
	return s.Store.AssignmentsOfUsers(ctx, envID, userIDs)
}

// Tenant is tenant ref of envID.
func (s *Service) Tenant(ctx context.Context, envID, ref string) (*Tenant, error) {
	return s.Store.GetTenant(ctx, envID, ref)
}

// Tenants lists tenants.
func (s *Service) Tenants(ctx context.Context, f Filter, page gatehouse.PageRequest) (gatehouse.Page[Tenant], error) {
	return s.Store.ListTenants(ctx, f, page)
}

// Resource is resource type ref of envID.
func (s *Service) Resource(ctx context.Context, envID, ref string) (*Resource, error) {
	return s.Store.GetResource(ctx, envID, ref)
}

// Resources lists resource types.
func (s *Service) Resources(ctx context.Context, f Filter, page gatehouse.PageRequest) (gatehouse.Page[Resource], error) {
	return s.Store.ListResources(ctx, f, page)
}

// Role is role ref of envID.
func (s *Service) Role(ctx context.Context, envID, ref string) (*Role, error) {
	return s.Store.GetRole(ctx, envID, ref)
}

// Roles lists roles.
func (s *Service) Roles(ctx context.Context, f Filter, page gatehouse.PageRequest) (gatehouse.Page[Role], error) {
	return s.Store.ListRoles(ctx, f, page)
}

// Assignments lists role assignments.
func (s *Service) Assignments(ctx context.Context, f AssignmentFilter, page gatehouse.PageRequest) (gatehouse.Page[Assignment], error) {
	return s.Store.ListAssignments(ctx, f, page)
}
