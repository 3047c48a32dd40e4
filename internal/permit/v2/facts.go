package permitv2

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// ---- Permit's wire shapes (permit-compat.md §4)

type pUserRole struct {
	Role   string `json:"role"`
	Tenant string `json:"tenant"`
}

type pAssociatedTenant struct {
	Tenant string   `json:"tenant"`
	Roles  []string `json:"roles"`
	Status string   `json:"status"`
}

type pUser struct {
	Key               string              `json:"key"`
	ID                string              `json:"id"`
	OrganizationID    string              `json:"organization_id"`
	ProjectID         string              `json:"project_id"`
	EnvironmentID     string              `json:"environment_id"`
	CreatedAt         time.Time           `json:"created_at"`
	UpdatedAt         time.Time           `json:"updated_at"`
	Email             string              `json:"email,omitempty"`
	FirstName         string              `json:"first_name,omitempty"`
	LastName          string              `json:"last_name,omitempty"`
	Attributes        map[string]any      `json:"attributes"`
	Roles             []pUserRole         `json:"roles"`
	AssociatedTenants []pAssociatedTenant `json:"associated_tenants"`
}

type pTenant struct {
	Key            string         `json:"key"`
	ID             string         `json:"id"`
	OrganizationID string         `json:"organization_id"`
	ProjectID      string         `json:"project_id"`
	EnvironmentID  string         `json:"environment_id"`
	CreatedAt      time.Time      `json:"created_at"`
	UpdatedAt      time.Time      `json:"updated_at"`
	LastActionAt   time.Time      `json:"last_action_at"`
	Name           string         `json:"name"`
	Description    string         `json:"description,omitempty"`
	Attributes     map[string]any `json:"attributes"`
}

// pAssignment has exactly the 13 fields Permit's Go SDK accepts.
type pAssignment struct {
	ID                 string    `json:"id"`
	User               string    `json:"user"`
	Role               string    `json:"role"`
	Tenant             string    `json:"tenant"`
	ResourceInstance   *string   `json:"resource_instance"`
	ResourceInstanceID *string   `json:"resource_instance_id"`
	UserID             string    `json:"user_id"`
	RoleID             string    `json:"role_id"`
	TenantID           string    `json:"tenant_id"`
	OrganizationID     string    `json:"organization_id"`
	ProjectID          string    `json:"project_id"`
	EnvironmentID      string    `json:"environment_id"`
	CreatedAt          time.Time `json:"created_at"`
}

type pAssignmentDetailed struct {
	ID     string         `json:"id"`
	Role   map[string]any `json:"role"`
	User   map[string]any `json:"user"`
	Tenant map[string]any `json:"tenant"`
	// ResourceInstance is set for a role on an instance.
	ResourceInstance map[string]any `json:"resource_instance,omitempty"`
	OrganizationID   string         `json:"organization_id"`
	ProjectID        string         `json:"project_id"`
	EnvironmentID    string         `json:"environment_id"`
	CreatedAt        time.Time      `json:"created_at"`
}

func pUserOf(env *tenancy.Environment, u *facts.User, as []facts.Assignment) pUser {
	out := pUser{Key: u.Key, ID: u.ID, OrganizationID: env.OrgID, ProjectID: env.ProjectID, EnvironmentID: env.ID,
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, Email: u.Email, FirstName: u.FirstName, LastName: u.LastName,
		Attributes: orEmptyMap(u.Attributes), Roles: []pUserRole{}, AssociatedTenants: []pAssociatedTenant{}}
	byTenant := map[string]int{}
	for _, a := range as {
		out.Roles = append(out.Roles, pUserRole{Role: a.Role, Tenant: a.Tenant})
		i, ok := byTenant[a.Tenant]
		if !ok {
			i = len(out.AssociatedTenants)
			byTenant[a.Tenant] = i
			out.AssociatedTenants = append(out.AssociatedTenants, pAssociatedTenant{Tenant: a.Tenant, Roles: []string{}, Status: "active"})
		}
		out.AssociatedTenants[i].Roles = append(out.AssociatedTenants[i].Roles, a.Role)
	}
	return out
}

func pTenantOf(env *tenancy.Environment, t *facts.Tenant) pTenant {
	return pTenant{Key: t.Key, ID: t.ID, OrganizationID: env.OrgID, ProjectID: env.ProjectID, EnvironmentID: env.ID,
		CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, LastActionAt: t.UpdatedAt, Name: t.Name, Description: t.Description,
		Attributes: orEmptyMap(t.Attributes)}
}

func pAssignmentOf(env *tenancy.Environment, a *facts.Assignment) pAssignment {
	out := pAssignment{ID: a.ID, User: a.User, Role: a.Role, Tenant: a.Tenant, UserID: a.UserID, RoleID: a.RoleID, TenantID: a.TenantID,
		OrganizationID: env.OrgID, ProjectID: env.ProjectID, EnvironmentID: env.ID, CreatedAt: a.CreatedAt}
	if a.ResourceInstance != "" {
		ri, id := a.ResourceInstance, a.InstanceID
		out.ResourceInstance, out.ResourceInstanceID = &ri, &id
	}
	return out
}

// ---- users

// assignmentsOf reads every assignment matching f (all pages).
func (s *server) assignmentsOf(c *call, f facts.AssignmentFilter) ([]facts.Assignment, error) {
	f.EnvID = c.env.ID
	var out []facts.Assignment
	for page := 1; ; page++ {
		p, err := s.Facts.Assignments(c.ctx, f, gatehouse.PageRequest{Page: page, PerPage: 100, Sort: "created_at"})
		if err != nil {
			return nil, err
		}
		out = append(out, p.Items...)
		if len(out) >= p.Total || len(p.Items) == 0 {
			return out, nil
		}
	}
}

func (s *server) userOut(c *call, u *facts.User) (pUser, error) {
	as, err := s.assignmentsOf(c, facts.AssignmentFilter{User: u.Key})
	if err != nil {
		return pUser{}, err
	}
	return pUserOf(c.env, u, as), nil
}

func (s *server) getUserRef(c *call, ref string) (*facts.User, error) {
	return byRef(ref, func(r string) (*facts.User, error) { return s.Facts.User(c.ctx, c.env.ID, r) })
}

func (s *server) listUsers(c *call) (int, any, error) {
	pg, err := pageOf(c.r)
	if err != nil {
		return 0, nil, err
	}
	search := c.r.URL.Query().Get("search")
	var users []facts.User
	var total int
	if roles := values(c.r, "role"); len(roles) > 0 {
		if err := pg.noCursor("the role filter"); err != nil {
			return 0, nil, err
		}
		// The users holding one of the roles, in any tenant.
		seen := map[string]bool{}
		var keys []string
		for _, role := range roles {
			as, err := s.assignmentsOf(c, facts.AssignmentFilter{Role: role})
			if err != nil {
				return 0, nil, err
			}
			for _, a := range as {
				if !seen[a.User] {
					seen[a.User] = true
					keys = append(keys, a.User)
				}
			}
		}
		all, err := s.usersByKey(c, keys, search)
		if err != nil {
			return 0, nil, err
		}
		total, users = len(all), window(all, pg)
	} else {
		p, err := s.Facts.Users(c.ctx, facts.Filter{EnvID: c.env.ID, Search: search}, pg.counted("created_at"))
		if err != nil {
			return 0, nil, err
		}
		total, users = p.Total, p.Items
		c.next(pg, p.NextCursor)
	}
	// The page's users' roles in one read, not one per user.
	ids := make([]string, len(users))
	for i := range users {
		ids[i] = users[i].ID
	}
	as, err := s.Facts.AssignmentsOfUsers(c.ctx, c.env.ID, ids)
	if err != nil {
		return 0, nil, err
	}
	byUser := make(map[string][]facts.Assignment, len(users))
	for _, a := range as {
		byUser[a.UserID] = append(byUser[a.UserID], a)
	}
	out := make([]pUser, 0, len(users))
	for i := range users {
		out = append(out, pUserOf(c.env, &users[i], byUser[users[i].ID]))
	}
	return http.StatusOK, paged(out, total, pg.perPage), nil
}

// usersByKey reads the users with keys (in order), keeping those whose
// key, email or names contain search.
func (s *server) usersByKey(c *call, keys []string, search string) ([]facts.User, error) {
	m, err := s.Facts.UsersByKey(c.ctx, c.env.ID, keys)
	if err != nil {
		return nil, err
	}
	needle := strings.ToLower(search)
	var out []facts.User
	for _, k := range keys {
		u := m[k]
		if u == nil {
			continue
		}
		if needle != "" && !strings.Contains(strings.ToLower(u.Key+"\x00"+u.Email+"\x00"+u.FirstName+"\x00"+u.LastName), needle) {
			continue
		}
		out = append(out, *u)
	}
	return out, nil
}

func (s *server) getUser(c *call) (int, any, error) {
	u, err := s.getUserRef(c, c.r.PathValue("user"))
	if err != nil {
		return 0, nil, err
	}
	out, err := s.userOut(c, u)
	return http.StatusOK, out, err
}

type pRoleAssignmentIn struct {
	User             string `json:"user"`
	Role             string `json:"role"`
	Tenant           string `json:"tenant"`
	ResourceInstance string `json:"resource_instance"`
}

func (a pRoleAssignmentIn) input() (facts.AssignInput, error) {
	if a.Role == "" {
		return facts.AssignInput{}, gatehouse.FieldError("role", "required_field_missing", "role is required")
	}
	return facts.AssignInput{User: a.User, Role: a.Role, Tenant: a.Tenant, ResourceInstance: a.ResourceInstance}, nil
}

type pUserIn struct {
	Key             string              `json:"key"`
	Email           *string             `json:"email"`
	FirstName       *string             `json:"first_name"`
	LastName        *string             `json:"last_name"`
	Attributes      *map[string]any     `json:"attributes"`
	RoleAssignments []pRoleAssignmentIn `json:"role_assignments"`
}

func (in pUserIn) facts() (facts.UserInput, []facts.AssignInput, error) {
	u := facts.UserInput{Key: in.Key, Email: deref(in.Email), FirstName: deref(in.FirstName), LastName: deref(in.LastName)}
	if in.Attributes != nil {
		u.Attributes = *in.Attributes
	}
	var as []facts.AssignInput
	for _, ra := range in.RoleAssignments {
		a, err := ra.input()
		if err != nil {
			return u, nil, err
		}
		as = append(as, a)
	}
	return u, as, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// pPutUser is POST /users (create; CONFLICT when the key exists) and
// PUT /users/{key} (create or replace: 201 when created, 200 when
// replaced; Permit's Node SDK reads the status).
func (s *server) putUser(mode facts.PutUserMode) handler {
	return func(c *call) (int, any, error) {
		var in pUserIn
		if err := c.body(s.maxBody, &in, false); err != nil {
			return 0, nil, err
		}
		if mode == facts.PutReplace {
			key := c.r.PathValue("user")
			if in.Key != "" && in.Key != key {
				return 0, nil, gatehouse.FieldError("key", "mismatch", "the body's key %q is not the path's %q", in.Key, key)
			}
			in.Key = key
		}
		u, as, err := in.facts()
		if err != nil {
			return 0, nil, err
		}
		// Roles on instances: their instance and tenant found (Permit's
		// undashed ids) before the user and all its roles are written in
		// one transaction.
		for i, a := range as {
			if a.ResourceInstance != "" {
				if as[i], err = s.instanceRefs(c, a, true); err != nil {
					return 0, nil, err
				}
			}
		}
		user, created, err := s.Facts.PutUser(c.ctx, c.env.ID, u, as, mode)
		if err != nil {
			return 0, nil, err
		}
		out, err := s.userOut(c, user)
		status := http.StatusOK
		if created && mode == facts.PutReplace {
			status = http.StatusCreated
		}
		return status, out, err
	}
}

func (s *server) updateUser(c *call) (int, any, error) {
	var in pUserIn
	if err := c.body(s.maxBody, &in, true); err != nil {
		return 0, nil, err
	}
	if len(in.RoleAssignments) > 0 {
		return 0, nil, gatehouse.FieldError("role_assignments", "unsupported", "assign roles with POST …/users/{user}/roles or …/role_assignments")
	}
	u, err := s.getUserRef(c, c.r.PathValue("user"))
	if err != nil {
		return 0, nil, err
	}
	u, err = s.Facts.UpdateUser(c.ctx, c.env.ID, u.ID, facts.UserPatch{Email: in.Email, FirstName: in.FirstName, LastName: in.LastName, Attributes: in.Attributes})
	if err != nil {
		return 0, nil, err
	}
	out, err := s.userOut(c, u)
	return http.StatusOK, out, err
}

func (s *server) deleteUser(c *call) (int, any, error) {
	u, err := s.getUserRef(c, c.r.PathValue("user"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.Facts.DeleteUser(c.ctx, c.env.ID, u.ID)
}

// pAssignment assigns (POST) or unassigns (DELETE) one role: the user
// from the path (…/users/{user}/roles) or from the body (…/role_assignments).
func (s *server) assignment(assign bool) handler {
	return func(c *call) (int, any, error) {
		var in pRoleAssignmentIn
		if err := c.body(s.maxBody, &in, false); err != nil {
			return 0, nil, err
		}
		if u := c.r.PathValue("user"); u != "" {
			in.User = u
		}
		if in.User == "" {
			return 0, nil, gatehouse.FieldError("user", "required_field_missing", "user is required")
		}
		a, err := in.input()
		if err != nil {
			return 0, nil, err
		}
		if a, err = s.refs(c, a, assign); err != nil {
			return 0, nil, err
		}
		if !assign {
			return http.StatusNoContent, nil, s.Facts.Unassign(c.ctx, c.env.ID, a)
		}
		as, err := s.Facts.Assign(c.ctx, c.env.ID, a)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, pAssignmentOf(c.env, as), nil
	}
}

// refs resolves an assignment's user, role and tenant to their ids, also
// when given as Permit's undashed ids. A role on a resource instance keeps
// its key (a role of the instance's type); an assignment (create) creates
// the instance in the tenant given when it does not exist, as Permit does.
func (s *server) refs(c *call, a facts.AssignInput, create bool) (facts.AssignInput, error) {
	u, err := s.getUserRef(c, a.User)
	if err != nil {
		return a, fieldNotFound(err, "user")
	}
	if a.ResourceInstance != "" {
		out, err := s.instanceRefs(c, a, create)
		out.User = u.ID
		return out, err
	}
	r, err := byRef(a.Role, func(x string) (*facts.Role, error) { return s.Facts.Role(c.ctx, c.env.ID, x) })
	if err != nil {
		return a, fieldNotFound(err, "role")
	}
	out := facts.AssignInput{User: u.ID, Role: r.ID}
	if a.Tenant != "" {
		t, err := s.getTenantRef(c, a.Tenant)
		if err != nil {
			return a, fieldNotFound(err, "tenant")
		}
		out.Tenant = t.ID
	}
	return out, nil
}

// instanceRefs resolves a role on an instance's tenant and instance to
// their ids (the user stays as given). An instance that does not exist is
// created, with create and a tenant, in the tenant given, in the write's
// own transaction, as Permit does.
func (s *server) instanceRefs(c *call, a facts.AssignInput, create bool) (facts.AssignInput, error) {
	out := facts.AssignInput{User: a.User, Role: a.Role, ResourceInstance: a.ResourceInstance}
	if a.Tenant != "" {
		t, err := s.getTenantRef(c, a.Tenant)
		if err != nil {
			return a, fieldNotFound(err, "tenant")
		}
		out.Tenant = t.ID
	}
	i, err := s.getInstanceRef(c, a.ResourceInstance)
	switch {
	case err == nil:
		out.ResourceInstance = i.ID
	case create && out.Tenant != "" && gatehouse.ErrorCode(err) == gatehouse.CodeNotFound && strings.Contains(a.ResourceInstance, ":"):
		out.CreateInstance = true
	default:
		return a, fieldNotFound(err, "resource_instance")
	}
	return out, nil
}

func fieldNotFound(err error, field string) error {
	var ge *gatehouse.Error
	if errors.As(err, &ge) && ge.Code == gatehouse.CodeNotFound {
		return &gatehouse.Error{Code: ge.Code, Message: ge.Message, Details: map[string]any{"field": field, "reason": "not_found"}}
	}
	return err
}

func (s *server) bulkUsers(replace bool) handler {
	return func(c *call) (int, any, error) {
		var in struct {
			Operations []pUserIn `json:"operations"`
		}
		if err := c.body(s.maxBody, &in, false); err != nil {
			return 0, nil, err
		}
		if len(in.Operations) == 0 || len(in.Operations) > 1000 {
			return 0, nil, gatehouse.FieldError("operations", "out_of_range", "send between 1 and 1000 users")
		}
		users := make([]facts.UserInput, len(in.Operations))
		for i, op := range in.Operations {
			u, as, err := op.facts()
			if err != nil {
				return 0, nil, err
			}
			if len(as) > 0 {
				return 0, nil, gatehouse.FieldError("role_assignments", "unsupported", "bulk user operations take no role assignments: use …/role_assignments/bulk")
			}
			users[i] = u
		}
		mode := facts.PutCreate
		if replace {
			mode = facts.PutReplace
		}
		created, replaced, err := s.Facts.PutUsers(c.ctx, c.env.ID, users, mode)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]int{"created": created, "replaced": replaced}, nil
	}
}

func (s *server) bulkDeleteUsers(c *call) (int, any, error) {
	var in struct {
		Idents []string `json:"idents"`
	}
	if err := c.body(s.maxBody, &in, false); err != nil {
		return 0, nil, err
	}
	if len(in.Idents) == 0 || len(in.Idents) > 1000 {
		return 0, nil, gatehouse.FieldError("idents", "out_of_range", "send between 1 and 1000 user keys or ids")
	}
	n, err := s.Facts.DeleteUsers(c.ctx, c.env.ID, in.Idents)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]int{"deleted": n}, nil
}

// ---- tenants

func (s *server) getTenantRef(c *call, ref string) (*facts.Tenant, error) {
	return byRef(ref, func(r string) (*facts.Tenant, error) { return s.Facts.Tenant(c.ctx, c.env.ID, r) })
}

// attrFilters are Permit's attr_<name>=<value> list filters.
func attrFilters(r *http.Request) map[string]string {
	out := map[string]string{}
	for k, v := range r.URL.Query() {
		if name, ok := strings.CutPrefix(k, "attr_"); ok && name != "" && len(v) > 0 {
			out[name] = v[0]
		}
	}
	return out
}

func attrsMatch(attrs map[string]any, want map[string]string) bool {
	for k, v := range want {
		got, ok := attrs[k]
		if !ok {
			return false
		}
		if s, isStr := got.(string); isStr {
			if s != v {
				return false
			}
			continue
		}
		if b, err := json.Marshal(got); err != nil || string(b) != v {
			return false
		}
	}
	return true
}

// filteredPage is page pg of a list (by created_at) and its total. With
// attr_<name> filters in the query, they are applied here, over every
// item of the list (the store does not index attributes), and a cursor is
// refused. Without them, a page by cursor hands on the next one's.
func filteredPage[T any](c *call, pg ppage, list func(gatehouse.PageRequest) (gatehouse.Page[T], error), attrs func(*T) map[string]any) ([]T, int, error) {
	want := attrFilters(c.r)
	if len(want) == 0 {
		p, err := list(pg.request("created_at"))
		if err != nil {
			return nil, 0, err
		}
		c.next(pg, p.NextCursor)
		return p.Items, p.Total, nil
	}
	var names []string
	for k := range want {
		names = append(names, "attr_"+k)
	}
	slices.Sort(names)
	if err := pg.noCursor("the attribute filter (" + strings.Join(names, ", ") + ")"); err != nil {
		return nil, 0, err
	}
	all, err := allPages(list)
	if err != nil {
		return nil, 0, err
	}
	var kept []T
	for i := range all {
		if attrsMatch(attrs(&all[i]), want) {
			kept = append(kept, all[i])
		}
	}
	return window(kept, pg), len(kept), nil
}

func (s *server) listTenants(c *call) (int, any, error) {
	pg, err := pageOf(c.r)
	if err != nil {
		return 0, nil, err
	}
	f := facts.Filter{EnvID: c.env.ID, Search: c.r.URL.Query().Get("search")}
	items, total, err := filteredPage(c, pg, func(p gatehouse.PageRequest) (gatehouse.Page[facts.Tenant], error) {
		return s.Facts.Tenants(c.ctx, f, p)
	}, func(t *facts.Tenant) map[string]any { return t.Attributes })
	if err != nil {
		return 0, nil, err
	}
	out := make([]pTenant, len(items))
	for i := range items {
		out[i] = pTenantOf(c.env, &items[i])
	}
	return http.StatusOK, listOrPaged(out, total, pg), nil
}

func (s *server) getTenant(c *call) (int, any, error) {
	t, err := s.getTenantRef(c, c.r.PathValue("tenant"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, pTenantOf(c.env, t), nil
}

type pTenantIn struct {
	Key         string          `json:"key"`
	Name        *string         `json:"name"`
	Description *string         `json:"description"`
	Attributes  *map[string]any `json:"attributes"`
}

func (s *server) createTenant(c *call) (int, any, error) {
	var in pTenantIn
	if err := c.body(s.maxBody, &in, false); err != nil {
		return 0, nil, err
	}
	ti := facts.TenantInput{Key: in.Key, Name: deref(in.Name), Description: deref(in.Description)}
	if in.Attributes != nil {
		ti.Attributes = *in.Attributes
	}
	t, err := s.Facts.CreateTenant(c.ctx, c.env.ID, ti)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, pTenantOf(c.env, t), nil
}

func (s *server) updateTenant(c *call) (int, any, error) {
	var in pTenantIn
	if err := c.body(s.maxBody, &in, true); err != nil {
		return 0, nil, err
	}
	t, err := s.getTenantRef(c, c.r.PathValue("tenant"))
	if err != nil {
		return 0, nil, err
	}
	t, err = s.Facts.UpdateTenant(c.ctx, c.env.ID, t.ID, facts.TenantPatch{Name: in.Name, Description: in.Description, Attributes: in.Attributes})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, pTenantOf(c.env, t), nil
}

func (s *server) deleteTenant(c *call) (int, any, error) {
	t, err := s.getTenantRef(c, c.r.PathValue("tenant"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.Facts.DeleteTenant(c.ctx, c.env.ID, t.ID)
}

// pTenantUsers lists the users holding a role in the tenant.
func (s *server) tenantUsers(c *call) (int, any, error) {
	pg, err := pageOf(c.r)
	if err != nil {
		return 0, nil, err
	}
	t, err := s.getTenantRef(c, c.r.PathValue("tenant"))
	if err != nil {
		return 0, nil, err
	}
	roles := values(c.r, "role")
	as, err := s.assignmentsOf(c, facts.AssignmentFilter{Tenant: t.Key})
	if err != nil {
		return 0, nil, err
	}
	seen := map[string]bool{}
	var keys []string
	for _, a := range as {
		if (len(roles) == 0 || slices.Contains(roles, a.Role)) && !seen[a.User] {
			seen[a.User] = true
			keys = append(keys, a.User)
		}
	}
	all, err := s.usersByKey(c, keys, c.r.URL.Query().Get("search"))
	if err != nil {
		return 0, nil, err
	}
	page := window(all, pg)
	out := make([]pUser, 0, len(page))
	for i := range page {
		u, err := s.userOut(c, &page[i])
		if err != nil {
			return 0, nil, err
		}
		out = append(out, u)
	}
	return http.StatusOK, paged(out, len(all), pg.perPage), nil
}

// pRemoveTenantUser takes every role of the user in the tenant.
func (s *server) removeTenantUser(c *call) (int, any, error) {
	t, err := s.getTenantRef(c, c.r.PathValue("tenant"))
	if err != nil {
		return 0, nil, err
	}
	u, err := s.getUserRef(c, c.r.PathValue("user"))
	if err != nil {
		return 0, nil, err
	}
	as, err := s.assignmentsOf(c, facts.AssignmentFilter{User: u.Key, Tenant: t.Key})
	if err != nil {
		return 0, nil, err
	}
	if len(as) == 0 {
		return 0, nil, gatehouse.Errorf(gatehouse.CodeNotFound, "user %q has no role in tenant %q", u.Key, t.Key)
	}
	in := make([]facts.AssignInput, len(as))
	for i, a := range as {
		in[i] = facts.AssignInput{User: a.UserID, Role: a.RoleID, Tenant: a.TenantID}
	}
	_, err = s.Facts.UnassignMany(c.ctx, c.env.ID, in)
	return http.StatusNoContent, nil, err
}

// ---- role assignments

func (s *server) listAssignments(c *call) (int, any, error) {
	pg, err := pageOf(c.r)
	if err != nil {
		return 0, nil, err
	}
	q := c.r.URL.Query()
	// Tenant roles and roles on instances: resource=__tenant keeps the
	// first, resource=<type> and resource_instance the second.
	kind, types := facts.AllAssignments, map[string]bool{}
	rs, insts := values(c.r, "resource"), values(c.r, "resource_instance")
	for _, r := range rs {
		types[r] = true
	}
	switch {
	case len(insts) > 0 || len(rs) > 0 && !types["__tenant"]:
		kind = facts.AssignmentsOnInstances
	case len(rs) == 1:
		kind = ""
	}
	for i, ref := range insts {
		if inst, err := s.getInstanceRef(c, ref); err == nil {
			insts[i] = inst.Ref()
		}
	}
	users, roles, tenants := values(c.r, "user"), values(c.r, "role"), values(c.r, "tenant")
	var items []facts.Assignment
	var total int
	if len(users) <= 1 && len(roles) <= 1 && len(tenants) <= 1 && len(insts) <= 1 && len(rs) <= 1 {
		f := facts.AssignmentFilter{EnvID: c.env.ID, User: first(users), Role: first(roles), Tenant: first(tenants), ResourceInstance: first(insts), Kind: kind}
		if f.User, err = keyOf(f.User, func(r string) (*facts.User, error) { return s.getUserRef(c, r) }, func(u *facts.User) string { return u.Key }); err != nil {
			return 0, nil, err
		}
		if f.Role, err = keyOf(f.Role, func(r string) (*facts.Role, error) { return s.getRoleRef(c, r) }, func(r *facts.Role) string { return r.Key }); err != nil {
			return 0, nil, err
		}
		if f.Tenant, err = keyOf(f.Tenant, func(r string) (*facts.Tenant, error) { return s.getTenantRef(c, r) }, func(t *facts.Tenant) string { return t.Key }); err != nil {
			return 0, nil, err
		}
		if len(rs) == 1 && kind == facts.AssignmentsOnInstances {
			// One resource type: filtered here.
			if err := pg.noCursor("the resource filter (one resource type)"); err != nil {
				return 0, nil, err
			}
			all, err := s.assignmentsOf(c, f)
			if err != nil {
				return 0, nil, err
			}
			var kept []facts.Assignment
			for _, a := range all {
				if typ, _, _ := strings.Cut(a.ResourceInstance, ":"); types[typ] {
					kept = append(kept, a)
				}
			}
			items, total = window(kept, pg), len(kept)
		} else {
			p, err := s.Facts.Assignments(c.ctx, f, pg.request("created_at"))
			if err != nil {
				return 0, nil, err
			}
			items, total = p.Items, p.Total
			c.next(pg, p.NextCursor)
		}
	} else {
		// Many values of a filter: any of them matches.
		if err := pg.noCursor("a filter given several values (user, role, tenant, resource or resource_instance repeated)"); err != nil {
			return 0, nil, err
		}
		all, err := s.assignmentsOf(c, facts.AssignmentFilter{Kind: kind})
		if err != nil {
			return 0, nil, err
		}
		var kept []facts.Assignment
		for _, a := range all {
			typ, _, _ := strings.Cut(a.ResourceInstance, ":")
			if a.ResourceInstance == "" {
				typ = "__tenant"
			}
			if (len(rs) == 0 || types[typ]) && (len(insts) == 0 || slices.Contains(insts, a.ResourceInstance) || slices.Contains(insts, a.InstanceID)) &&
				(len(users) == 0 || slices.Contains(users, a.User) || slices.Contains(users, a.UserID)) &&
				(len(roles) == 0 || slices.Contains(roles, a.Role) || slices.Contains(roles, a.RoleID)) &&
				(len(tenants) == 0 || slices.Contains(tenants, a.Tenant) || slices.Contains(tenants, a.TenantID)) {
				kept = append(kept, a)
			}
		}
		items, total = window(kept, pg), len(kept)
	}
	if q.Get("detailed") == "true" {
		out, err := s.detailed(c, items)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, listOrPaged(out, total, pg), nil
	}
	out := make([]pAssignment, len(items))
	for i := range items {
		out[i] = pAssignmentOf(c.env, &items[i])
	}
	return http.StatusOK, listOrPaged(out, total, pg), nil
}

// keyOf turns an id of a filter into its item's key (the store filters
// by key); an unknown ref stays as it is (the list is then empty).
func keyOf[T any](ref string, get func(string) (T, error), key func(T) string) (string, error) {
	if ref == "" {
		return "", nil
	}
	v, err := get(ref)
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
		return ref, nil
	}
	if err != nil {
		return "", err
	}
	return key(v), nil
}

func first(l []string) string {
	if len(l) == 0 {
		return ""
	}
	return l[0]
}

// memo returns m[id], reading it with get the first time.
func memo[T any](m map[string]*T, id string, get func() (*T, error)) (*T, error) {
	if v, ok := m[id]; ok {
		return v, nil
	}
	v, err := get()
	if err == nil {
		m[id] = v
	}
	return v, err
}

// detailed is the detailed=true form: users, roles and tenants nested.
func (s *server) detailed(c *call, items []facts.Assignment) ([]pAssignmentDetailed, error) {
	out := make([]pAssignmentDetailed, 0, len(items))
	users := map[string]*facts.User{}
	roles := map[string]*facts.Role{}
	tenants := map[string]*facts.Tenant{}
	for _, a := range items {
		u, err := memo(users, a.UserID, func() (*facts.User, error) { return s.Facts.User(c.ctx, c.env.ID, a.UserID) })
		if err != nil {
			return nil, err
		}
		var role map[string]any
		var inst map[string]any
		if a.ResourceInstance != "" {
			i, err := s.Facts.Instance(c.ctx, c.env.ID, a.InstanceID)
			if err != nil {
				return nil, err
			}
			r, err := s.Facts.ResourceRole(c.ctx, c.env.ID, i.ResourceID, a.RoleID)
			if err != nil {
				return nil, err
			}
			role = map[string]any{"id": r.ID, "key": r.Key, "name": r.Name, "permissions": orEmptyList(r.Permissions)}
			inst = map[string]any{"id": i.ID, "key": i.Key, "resource": i.Resource, "attributes": orEmptyMap(i.Attributes)}
		} else {
			r, err := memo(roles, a.RoleID, func() (*facts.Role, error) { return s.Facts.Role(c.ctx, c.env.ID, a.RoleID) })
			if err != nil {
				return nil, err
			}
			role = map[string]any{"id": r.ID, "key": r.Key, "name": r.Name, "permissions": orEmptyList(r.Permissions)}
		}
		t, err := memo(tenants, a.TenantID, func() (*facts.Tenant, error) { return s.Facts.Tenant(c.ctx, c.env.ID, a.TenantID) })
		if err != nil {
			return nil, err
		}
		out = append(out, pAssignmentDetailed{ID: a.ID, Role: role, ResourceInstance: inst,
			User:           map[string]any{"id": u.ID, "key": u.Key, "email": u.Email, "first_name": u.FirstName, "last_name": u.LastName, "attributes": orEmptyMap(u.Attributes)},
			Tenant:         map[string]any{"id": t.ID, "key": t.Key, "name": t.Name, "attributes": orEmptyMap(t.Attributes)},
			OrganizationID: c.env.OrgID, ProjectID: c.env.ProjectID, EnvironmentID: c.env.ID, CreatedAt: a.CreatedAt})
	}
	return out, nil
}

func (s *server) bulkIn(c *call) ([]facts.AssignInput, error) {
	var in []pRoleAssignmentIn
	if err := c.body(s.maxBody, &in, false); err != nil {
		return nil, err
	}
	if len(in) == 0 || len(in) > 1000 {
		return nil, gatehouse.FieldError("assignments", "out_of_range", "send between 1 and 1000 role assignments")
	}
	out := make([]facts.AssignInput, len(in))
	for i, a := range in {
		if a.User == "" {
			return nil, gatehouse.FieldError("user", "required_field_missing", "assignment %d: user is required", i)
		}
		x, err := a.input()
		if err != nil {
			return nil, err
		}
		out[i] = x
	}
	return out, nil
}

// pBulk assigns (POST) or unassigns (DELETE) many roles at once.
func (s *server) bulk(assign bool) handler {
	return func(c *call) (int, any, error) {
		in, err := s.bulkIn(c)
		if err != nil {
			return 0, nil, err
		}
		if assign {
			// instances that do not exist are created in the tenant
			// given, in the same transaction: all or nothing
			for i := range in {
				in[i].CreateInstance = in[i].ResourceInstance != "" && in[i].Tenant != ""
			}
			n, err := s.Facts.AssignMany(c.ctx, c.env.ID, in)
			return http.StatusOK, map[string]int{"assignments_created": n}, err
		}
		n, err := s.Facts.UnassignMany(c.ctx, c.env.ID, in)
		return http.StatusOK, map[string]int{"assignments_removed": n}, err
	}
}
