package permitv2

import (
	"net/http"
	"slices"
	"sort"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
	"github.com/google/uuid"
)

// ---- roles

type pRole struct {
	Key            string            `json:"key"`
	ID             string            `json:"id"`
	Name           string            `json:"name"`
	Description    string            `json:"description,omitempty"`
	Permissions    []string          `json:"permissions"`
	Extends        []string          `json:"extends"`
	Attributes     map[string]string `json:"attributes"`
	GrantedTo      *struct{}         `json:"granted_to,omitempty"`
	OrganizationID string            `json:"organization_id"`
	ProjectID      string            `json:"project_id"`
	EnvironmentID  string            `json:"environment_id"`
	CreatedAt      time.Time         `json:"created_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
}

func pRoleOf(env *tenancy.Environment, r *facts.Role) pRole {
	return pRole{Key: r.Key, ID: r.ID, Name: r.Name, Description: r.Description, Permissions: orEmptyList(r.Permissions),
		Extends: orEmptyList(r.Extends), Attributes: map[string]string{}, OrganizationID: env.OrgID, ProjectID: env.ProjectID,
		EnvironmentID: env.ID, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

type pRoleIn struct {
	Key         string         `json:"key"`
	Name        *string        `json:"name"`
	Description *string        `json:"description"`
	Permissions *[]string      `json:"permissions"`
	Extends     *[]string      `json:"extends"`
	Attributes  map[string]any `json:"attributes"`
	GrantedTo   map[string]any `json:"granted_to"`
}

func (in pRoleIn) check() error {
	if len(in.Attributes) > 0 {
		return unsupported("attributes", "role attributes")
	}
	if len(in.GrantedTo) > 0 {
		return unsupported("granted_to", "roles granted through relations (ReBAC)")
	}
	return nil
}

func (s *server) getRoleRef(c *call, ref string) (*facts.Role, error) {
	return byRef(ref, func(r string) (*facts.Role, error) { return s.Facts.Role(c.ctx, c.env.ID, r) })
}

func (s *server) listRoles(c *call) (int, any, error) {
	pg, err := pageOf(c.r)
	if err != nil {
		return 0, nil, err
	}
	p, err := s.Facts.Roles(c.ctx, facts.Filter{EnvID: c.env.ID, Search: c.r.URL.Query().Get("search")}, pg.request("created_at"))
	if err != nil {
		return 0, nil, err
	}
	out := make([]pRole, len(p.Items))
	for i := range p.Items {
		out[i] = pRoleOf(c.env, &p.Items[i])
	}
	return http.StatusOK, listOrPaged(out, p.Total, pg), nil
}

func (s *server) getRole(c *call) (int, any, error) {
	r, err := s.getRoleRef(c, c.r.PathValue("role"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, pRoleOf(c.env, r), nil
}

func (s *server) createRole(c *call) (int, any, error) {
	var in pRoleIn
	if err := c.body(s.maxBody, &in, false); err != nil {
		return 0, nil, err
	}
	if err := in.check(); err != nil {
		return 0, nil, err
	}
	ri := facts.RoleInput{Key: in.Key, Name: deref(in.Name), Description: deref(in.Description)}
	if in.Permissions != nil {
		ri.Permissions = *in.Permissions
	}
	if in.Extends != nil {
		ri.Extends = *in.Extends
	}
	r, err := s.Facts.CreateRole(c.ctx, c.env.ID, ri)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, pRoleOf(c.env, r), nil
}

func (s *server) updateRole(c *call) (int, any, error) {
	var in pRoleIn
	if err := c.body(s.maxBody, &in, true); err != nil {
		return 0, nil, err
	}
	if err := in.check(); err != nil {
		return 0, nil, err
	}
	r, err := s.getRoleRef(c, c.r.PathValue("role"))
	if err != nil {
		return 0, nil, err
	}
	r, err = s.Facts.UpdateRole(c.ctx, c.env.ID, r.ID, facts.RolePatch{Name: in.Name, Description: in.Description, Permissions: in.Permissions, Extends: in.Extends})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, pRoleOf(c.env, r), nil
}

func (s *server) deleteRole(c *call) (int, any, error) {
	r, err := s.getRoleRef(c, c.r.PathValue("role"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.Facts.DeleteRole(c.ctx, c.env.ID, r.ID, c.cascade())
}

// pRolePermissions adds (POST) or removes (DELETE) permissions.
func (s *server) rolePermissions(add bool) handler {
	return func(c *call) (int, any, error) {
		var in struct {
			Permissions []string `json:"permissions"`
		}
		if err := c.body(s.maxBody, &in, false); err != nil {
			return 0, nil, err
		}
		r, err := s.getRoleRef(c, c.r.PathValue("role"))
		if err != nil {
			return 0, nil, err
		}
		p := facts.RolePatch{RemovePermissions: in.Permissions}
		if add {
			p = facts.RolePatch{AddPermissions: in.Permissions}
		}
		r, err = s.Facts.UpdateRole(c.ctx, c.env.ID, r.ID, p)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, pRoleOf(c.env, r), nil
	}
}

// pRoleParent makes the role extend (PUT) or stop extending (DELETE)
// another.
func (s *server) roleParent(add bool) handler {
	return func(c *call) (int, any, error) {
		r, err := s.getRoleRef(c, c.r.PathValue("role"))
		if err != nil {
			return 0, nil, err
		}
		parent, err := s.getRoleRef(c, c.r.PathValue("parent"))
		if err != nil {
			return 0, nil, fieldNotFound(err, "parent")
		}
		p := facts.RolePatch{RemoveExtends: []string{parent.Key}}
		if add {
			p = facts.RolePatch{AddExtends: []string{parent.Key}}
		}
		r, err = s.Facts.UpdateRole(c.ctx, c.env.ID, r.ID, p)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, pRoleOf(c.env, r), nil
	}
}

// ---- resources

type pAction struct {
	ID          string         `json:"id"`
	Key         string         `json:"key"`
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Attributes  map[string]any `json:"attributes,omitempty"`
}

type pActionRead struct {
	pAction
	PermissionName string    `json:"permission_name"`
	ResourceID     string    `json:"resource_id"`
	OrganizationID string    `json:"organization_id"`
	ProjectID      string    `json:"project_id"`
	EnvironmentID  string    `json:"environment_id"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

type pAttribute struct {
	ID          string `json:"id"`
	Key         string `json:"key"`
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
}

type pResource struct {
	Key            string                `json:"key"`
	ID             string                `json:"id"`
	Name           string                `json:"name"`
	Description    string                `json:"description,omitempty"`
	Actions        map[string]pAction    `json:"actions"`
	Attributes     map[string]pAttribute `json:"attributes"`
	Roles          map[string]any        `json:"roles"`
	Relations      map[string]any        `json:"relations"`
	ActionGroups   map[string]any        `json:"action_groups"`
	OrganizationID string                `json:"organization_id"`
	ProjectID      string                `json:"project_id"`
	EnvironmentID  string                `json:"environment_id"`
	CreatedAt      time.Time             `json:"created_at"`
	UpdatedAt      time.Time             `json:"updated_at"`
}

// childID is a stable id of a resource type's action or attribute.
func childID(resourceID, kind, key string) string {
	ns, err := uuid.Parse(resourceID)
	if err != nil {
		ns = uuid.NameSpaceURL
	}
	return uuid.NewSHA1(ns, []byte(kind+":"+key)).String()
}

func pActionOf(r *facts.Resource, action string) pAction {
	return pAction{ID: childID(r.ID, "action", action), Key: action, Name: action, Attributes: map[string]any{}}
}

func pResourceOf(env *tenancy.Environment, r *facts.Resource) pResource {
	out := pResource{Key: r.Key, ID: r.ID, Name: r.Name, Description: r.Description, Actions: map[string]pAction{},
		Attributes: map[string]pAttribute{}, Roles: map[string]any{}, Relations: map[string]any{}, ActionGroups: map[string]any{},
		OrganizationID: env.OrgID, ProjectID: env.ProjectID, EnvironmentID: env.ID, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	for _, a := range r.Actions {
		out.Actions[a] = pActionOf(r, a)
	}
	for k, d := range r.Attributes {
		out.Attributes[k] = pAttribute{ID: childID(r.ID, "attribute", k), Key: k, Type: d.Type, Description: d.Description}
	}
	return out
}

func pActionReadOf(env *tenancy.Environment, r *facts.Resource, action string) pActionRead {
	return pActionRead{pAction: pActionOf(r, action), PermissionName: r.Key + ":" + action, ResourceID: r.ID,
		OrganizationID: env.OrgID, ProjectID: env.ProjectID, EnvironmentID: env.ID, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

type pActionIn struct {
	Key         string         `json:"key"`
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Attributes  map[string]any `json:"attributes"`
}

type pResourceIn struct {
	Key          string                         `json:"key"`
	Name         *string                        `json:"name"`
	Description  *string                        `json:"description"`
	URN          string                         `json:"urn"`
	Actions      *map[string]pActionIn          `json:"actions"`
	Attributes   *map[string]facts.AttributeDef `json:"attributes"`
	Roles        map[string]any                 `json:"roles"`
	Relations    map[string]any                 `json:"relations"`
	ActionGroups map[string]any                 `json:"action_groups"`
}

func (in pResourceIn) check() error {
	switch {
	case len(in.Roles) > 0:
		return unsupported("roles", "resource roles (ReBAC)")
	case len(in.Relations) > 0:
		return unsupported("relations", "resource relations (ReBAC)")
	case len(in.ActionGroups) > 0:
		return unsupported("action_groups", "action groups")
	case in.URN != "":
		return unsupported("urn", "resource URNs")
	}
	if in.Actions != nil {
		for k, a := range *in.Actions {
			if len(a.Attributes) > 0 {
				return unsupported("actions."+k+".attributes", "action attributes")
			}
		}
	}
	return nil
}

// actions lists the action keys of a Permit actions object, sorted.
func actionKeys(m map[string]pActionIn) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (s *server) getResourceRef(c *call, ref string) (*facts.Resource, error) {
	return byRef(ref, func(r string) (*facts.Resource, error) { return s.Facts.Resource(c.ctx, c.env.ID, r) })
}

func (s *server) listResources(c *call) (int, any, error) {
	pg, err := pageOf(c.r)
	if err != nil {
		return 0, nil, err
	}
	p, err := s.Facts.Resources(c.ctx, facts.Filter{EnvID: c.env.ID, Search: c.r.URL.Query().Get("search")}, pg.request("created_at"))
	if err != nil {
		return 0, nil, err
	}
	out := make([]pResource, len(p.Items))
	for i := range p.Items {
		out[i] = pResourceOf(c.env, &p.Items[i])
	}
	return http.StatusOK, listOrPaged(out, p.Total, pg), nil
}

func (s *server) getResource(c *call) (int, any, error) {
	r, err := s.getResourceRef(c, c.r.PathValue("resource"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, pResourceOf(c.env, r), nil
}

func (s *server) createResource(c *call) (int, any, error) {
	var in pResourceIn
	if err := c.body(s.maxBody, &in, false); err != nil {
		return 0, nil, err
	}
	if err := in.check(); err != nil {
		return 0, nil, err
	}
	if in.Key == "" {
		return 0, nil, gatehouse.FieldError("key", "required_field_missing", "key is required")
	}
	if in.Actions == nil {
		return 0, nil, gatehouse.FieldError("actions", "required_field_missing", "actions is required")
	}
	ri := facts.ResourceInput{Key: in.Key, Name: deref(in.Name), Description: deref(in.Description), Actions: actionKeys(*in.Actions)}
	if in.Attributes != nil {
		ri.Attributes = *in.Attributes
	}
	r, err := s.Facts.CreateResource(c.ctx, c.env.ID, ri)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, pResourceOf(c.env, r), nil
}

// pUpdateResource is PATCH (the fields given) or PUT (name and actions
// required; attributes and description replaced).
func (s *server) updateResource(replace bool) handler {
	return func(c *call) (int, any, error) {
		var in pResourceIn
		if err := c.body(s.maxBody, &in, !replace); err != nil {
			return 0, nil, err
		}
		if err := in.check(); err != nil {
			return 0, nil, err
		}
		if replace && (in.Name == nil || in.Actions == nil) {
			return 0, nil, gatehouse.FieldError("actions", "required_field_missing", "a replacement needs name and actions")
		}
		r, err := s.getResourceRef(c, c.r.PathValue("resource"))
		if err != nil {
			return 0, nil, err
		}
		p := facts.ResourcePatch{Name: in.Name, Description: in.Description, Cascade: c.cascade()}
		if in.Actions != nil {
			keys := actionKeys(*in.Actions)
			p.Actions = &keys
		}
		if in.Attributes != nil {
			p.Attributes = in.Attributes
		}
		if replace {
			if p.Description == nil {
				empty := ""
				p.Description = &empty
			}
			if p.Attributes == nil {
				none := map[string]facts.AttributeDef{}
				p.Attributes = &none
			}
		}
		r, err = s.Facts.UpdateResource(c.ctx, c.env.ID, r.ID, p)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, pResourceOf(c.env, r), nil
	}
}

func (s *server) deleteResource(c *call) (int, any, error) {
	r, err := s.getResourceRef(c, c.r.PathValue("resource"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.Facts.DeleteResource(c.ctx, c.env.ID, r.ID, c.cascade())
}

func (s *server) listActions(c *call) (int, any, error) {
	pg, err := pageOf(c.r)
	if err != nil {
		return 0, nil, err
	}
	r, err := s.getResourceRef(c, c.r.PathValue("resource"))
	if err != nil {
		return 0, nil, err
	}
	all := make([]pActionRead, len(r.Actions))
	for i, a := range r.Actions {
		all[i] = pActionReadOf(c.env, r, a)
	}
	return http.StatusOK, listOrPaged(window(all, pg), len(all), pg), nil
}

func (s *server) findAction(c *call) (*facts.Resource, string, error) {
	r, err := s.getResourceRef(c, c.r.PathValue("resource"))
	if err != nil {
		return nil, "", err
	}
	ref := c.r.PathValue("action")
	for _, a := range r.Actions {
		if a == ref || childID(r.ID, "action", a) == ref || childID(r.ID, "action", a) == dashed(ref) {
			return r, a, nil
		}
	}
	return nil, "", gatehouse.Errorf(gatehouse.CodeNotFound, "resource %q has no action %q", r.Key, ref)
}

// pGetAction answers GET and PATCH (an action has nothing to change but
// its name and description, which Gatehouse does not keep).
func (s *server) getAction(c *call) (int, any, error) {
	r, a, err := s.findAction(c)
	if err != nil {
		return 0, nil, err
	}
	if c.r.Method == http.MethodPatch {
		var in pActionIn
		if err := c.body(s.maxBody, &in, true); err != nil {
			return 0, nil, err
		}
		if len(in.Attributes) > 0 {
			return 0, nil, unsupported("attributes", "action attributes")
		}
	}
	return http.StatusOK, pActionReadOf(c.env, r, a), nil
}

func (s *server) createAction(c *call) (int, any, error) {
	var in pActionIn
	if err := c.body(s.maxBody, &in, false); err != nil {
		return 0, nil, err
	}
	if len(in.Attributes) > 0 {
		return 0, nil, unsupported("attributes", "action attributes")
	}
	r, err := s.getResourceRef(c, c.r.PathValue("resource"))
	if err != nil {
		return 0, nil, err
	}
	if slices.Contains(r.Actions, in.Key) {
		return 0, nil, gatehouse.Errorf(gatehouse.CodeConflict, "resource %q already has action %q", r.Key, in.Key)
	}
	actions := append(slices.Clone(r.Actions), in.Key)
	r, err = s.Facts.UpdateResource(c.ctx, c.env.ID, r.ID, facts.ResourcePatch{Actions: &actions, Cascade: c.cascade()})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, pActionReadOf(c.env, r, in.Key), nil
}

func (s *server) deleteAction(c *call) (int, any, error) {
	r, a, err := s.findAction(c)
	if err != nil {
		return 0, nil, err
	}
	actions := slices.DeleteFunc(slices.Clone(r.Actions), func(x string) bool { return x == a })
	_, err = s.Facts.UpdateResource(c.ctx, c.env.ID, r.ID, facts.ResourcePatch{Actions: &actions, Cascade: c.cascade()})
	return http.StatusNoContent, nil, err
}
