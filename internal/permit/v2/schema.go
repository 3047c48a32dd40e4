package permitv2

import (
	"encoding/json"
	"net/http"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
	"github.com/google/uuid"
)

// ---- roles

type pRole struct {
	Key            string         `json:"key"`
	ID             string         `json:"id"`
	Name           string         `json:"name"`
	Description    string         `json:"description,omitempty"`
	Permissions    []string       `json:"permissions"`
	Extends        []string       `json:"extends"`
	Attributes     map[string]any `json:"attributes"`
	GrantedTo      *struct{}      `json:"granted_to,omitempty"`
	OrganizationID string         `json:"organization_id"`
	ProjectID      string         `json:"project_id"`
	EnvironmentID  string         `json:"environment_id"`
	CreatedAt      time.Time      `json:"created_at"`
	UpdatedAt      time.Time      `json:"updated_at"`
}

func pRoleOf(env *tenancy.Environment, r *facts.Role) pRole {
	return pRole{Key: r.Key, ID: r.ID, Name: r.Name, Description: r.Description, Permissions: orEmptyList(r.Permissions),
		Extends: orEmptyList(r.Extends), Attributes: orEmptyMap(r.Attributes), OrganizationID: env.OrgID, ProjectID: env.ProjectID,
		EnvironmentID: env.ID, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

type pRoleIn struct {
	Key         string          `json:"key"`
	Name        *string         `json:"name"`
	Description *string         `json:"description"`
	Permissions *[]string       `json:"permissions"`
	Extends     *[]string       `json:"extends"`
	Attributes  *map[string]any `json:"attributes"` // free metadata; nil: unchanged
	GrantedTo   map[string]any  `json:"granted_to"`
}

func (in pRoleIn) check() error {
	if len(in.GrantedTo) > 0 {
		return notImplemented("tenant roles granted through relations (granted_to on a tenant role; implicit grants on a resource role work)")
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
	f := facts.Filter{EnvID: c.env.ID, Search: c.r.URL.Query().Get("search")}
	items, total, err := filteredPage(c, pg, func(p gatehouse.PageRequest) (gatehouse.Page[facts.Role], error) {
		return s.Facts.Roles(c.ctx, f, p)
	}, func(r *facts.Role) map[string]any { return r.Attributes })
	if err != nil {
		return 0, nil, err
	}
	out := make([]pRole, len(items))
	for i := range items {
		out[i] = pRoleOf(c.env, &items[i])
	}
	return http.StatusOK, listOrPaged(out, total, pg), nil
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
	if in.Attributes != nil {
		ri.Attributes = *in.Attributes
	}
	if in.Permissions != nil {
		perms, err := s.expandRoleGroups(c, *in.Permissions)
		if err != nil {
			return 0, nil, err
		}
		ri.Permissions = perms
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
	if in.Permissions != nil {
		perms, err := s.expandRoleGroups(c, *in.Permissions)
		if err != nil {
			return 0, nil, err
		}
		in.Permissions = &perms
	}
	r, err = s.Facts.UpdateRole(c.ctx, c.env.ID, r.ID, facts.RolePatch{Name: in.Name, Description: in.Description, Permissions: in.Permissions, Extends: in.Extends,
		Attributes: in.Attributes})
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
		if in.Permissions, err = s.expandRoleGroups(c, in.Permissions); err != nil {
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
	Attributes  map[string]any `json:"attributes"`
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

type pRelationBlock struct {
	ResourceID string `json:"resource_id"`
	Resource   string `json:"resource"`
}

type pResource struct {
	Key            string                    `json:"key"`
	ID             string                    `json:"id"`
	Name           string                    `json:"name"`
	URN            string                    `json:"urn,omitempty"`
	Description    string                    `json:"description,omitempty"`
	Actions        map[string]pAction        `json:"actions"`
	Attributes     map[string]pAttribute     `json:"attributes"`
	Roles          map[string]any            `json:"roles"`
	Relations      map[string]pRelationBlock `json:"relations"`
	ActionGroups   map[string][]string       `json:"action_groups"`
	OrganizationID string                    `json:"organization_id"`
	ProjectID      string                    `json:"project_id"`
	EnvironmentID  string                    `json:"environment_id"`
	CreatedAt      time.Time                 `json:"created_at"`
	UpdatedAt      time.Time                 `json:"updated_at"`
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
	attrs := metaOf(r).ActionAttributes[action]
	return pAction{ID: childID(r.ID, "action", action), Key: action, Name: action, Attributes: orEmptyMap(attrs)}
}

// pResourceOf is a resource type without its roles and relations (see
// resourceOut).
func pResourceOf(env *tenancy.Environment, r *facts.Resource) pResource {
	m := metaOf(r)
	out := pResource{Key: r.Key, ID: r.ID, Name: r.Name, URN: m.URN, Description: r.Description, Actions: map[string]pAction{},
		Attributes: map[string]pAttribute{}, Roles: map[string]any{}, Relations: map[string]pRelationBlock{}, ActionGroups: map[string][]string{},
		OrganizationID: env.OrgID, ProjectID: env.ProjectID, EnvironmentID: env.ID, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	for _, a := range r.Actions {
		out.Actions[a] = pActionOf(r, a)
	}
	for k, d := range r.Attributes {
		out.Attributes[k] = pAttribute{ID: childID(r.ID, "attribute", k), Key: k, Type: d.Type, Description: d.Description}
	}
	for k, g := range m.ActionGroups {
		out.ActionGroups[k] = orEmptyList(g.Actions)
	}
	return out
}

// resourceOut is a resource type with its roles and relations.
func (s *server) resourceOut(c *call, r *facts.Resource) (pResource, error) {
	out := pResourceOf(c.env, r)
	roles, err := allPages(func(p gatehouse.PageRequest) (gatehouse.Page[facts.ResourceRole], error) {
		return s.Facts.ResourceRoles(c.ctx, c.env.ID, r.ID, facts.FineFilter{}, p)
	})
	if err != nil {
		return out, err
	}
	for i := range roles {
		out.Roles[roles[i].Key] = s.pResourceRoleOf(c, r, &roles[i])
	}
	rels, err := allPages(func(p gatehouse.PageRequest) (gatehouse.Page[facts.Relation], error) {
		return s.Facts.Relations(c.ctx, c.env.ID, r.ID, facts.FineFilter{}, p)
	})
	if err != nil {
		return out, err
	}
	for _, rel := range rels {
		out.Relations[rel.Key] = pRelationBlock{ResourceID: rel.SubjectID, Resource: rel.Subject}
	}
	return out, nil
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
	URN          *string                        `json:"urn"`
	Actions      *map[string]pActionIn          `json:"actions"`
	Attributes   *map[string]facts.AttributeDef `json:"attributes"`
	Roles        map[string]pResourceRoleIn     `json:"roles"`
	Relations    map[string]json.RawMessage     `json:"relations"`
	ActionGroups map[string]json.RawMessage     `json:"action_groups"`
}

// meta is the Permit-only part of a resource given in, over old.
func (in pResourceIn) meta(old resourceMeta, now time.Time) (resourceMeta, error) {
	m := old
	if in.URN != nil {
		m.URN = *in.URN
	}
	if in.Actions != nil {
		m.ActionAttributes = nil
		for k, a := range *in.Actions {
			if len(a.Attributes) > 0 {
				if m.ActionAttributes == nil {
					m.ActionAttributes = map[string]map[string]any{}
				}
				m.ActionAttributes[k] = a.Attributes
			}
		}
	}
	if in.ActionGroups != nil {
		m.ActionGroups = map[string]actionGroup{}
		for k, raw := range in.ActionGroups {
			g := actionGroup{Name: k, CreatedAt: now, UpdatedAt: now}
			if err := json.Unmarshal(raw, &g.Actions); err != nil { // {"group": ["a", "b"]}, as read
				if err := json.Unmarshal(raw, &g); err != nil {
					return m, gatehouse.FieldError("action_groups", "type_error", "action group %q must be a list of actions or {name, actions}", k)
				}
			}
			if old, ok := old.ActionGroups[k]; ok {
				g.CreatedAt = old.CreatedAt
			}
			m.ActionGroups[k] = g
		}
	}
	return m, nil
}

// checkGroups refuses action groups naming actions the resource lacks.
func checkGroups(m resourceMeta, actions []string) error {
	for k, g := range m.ActionGroups {
		if slices.Contains(actions, k) {
			return gatehouse.FieldError("action_groups", "already_exists", "action group %q has the key of an action", k)
		}
		for _, a := range g.Actions {
			if !slices.Contains(actions, a) {
				return gatehouse.FieldError("action_groups", "unknown_action", "action group %q names %q, which is not an action of the resource", k, a)
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

// rolesRelations are the relations a resource body names (a relation: its
// subjects' resource type, "relation": "folder", or {"subject_resource":
// ...}) and its roles, to create or change, worked out from the type as
// it stands in the write's transaction (action groups expanded).
func rolesRelations(in pResourceIn) (facts.ResourceChildren, error) {
	var rels []facts.RelationInput
	for _, k := range sortedKeys(in.Relations) {
		subject, err := relationSubject(k, in.Relations[k])
		if err != nil {
			return nil, err
		}
		rels = append(rels, facts.RelationInput{Key: k, Subject: subject})
	}
	keys := sortedKeys(in.Roles)
	for _, k := range keys {
		ri := in.Roles[k]
		ri.Key = k
		if err := ri.check(); err != nil {
			return nil, err
		}
	}
	return func(r *facts.Resource) ([]facts.RelationInput, []facts.ResourceRoleUpsert, error) {
		roles := make([]facts.ResourceRoleUpsert, 0, len(keys))
		for _, k := range keys {
			ri := in.Roles[k]
			ri.Key = k
			p := facts.ResourceRolePatch{Name: ri.Name, Description: ri.Description, Extends: ri.Extends, Attributes: ri.Attributes}
			if ri.Permissions != nil {
				perms := expandGroups(r, *ri.Permissions)
				p.Permissions = &perms
			}
			if ri.GrantedTo != nil {
				ds := derivations(ri.GrantedTo.UsersWithRole)
				p.GrantedTo = &ds
			}
			roles = append(roles, facts.ResourceRoleUpsert{Key: k, Create: resourceRoleInput(r, ri), Patch: p})
		}
		return rels, roles, nil
	}, nil
}

// relationSubject is the subjects' resource type a body's relation names.
func relationSubject(k string, raw json.RawMessage) (string, error) {
	var subject string
	if err := json.Unmarshal(raw, &subject); err == nil {
		return subject, nil
	}
	var o struct {
		SubjectResource string `json:"subject_resource"`
		Resource        string `json:"resource"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return "", gatehouse.FieldError("relations", "type_error", "relation %q must name its subjects' resource type", k)
	}
	return first(nonEmpty(o.SubjectResource, o.Resource)), nil
}

// checkRelationSubjects refuses, before anything is written, a body whose
// relations name resource types that do not exist (the body's own type
// may: a folder's parent is a folder).
func (s *server) checkRelationSubjects(c *call, in pResourceIn) error {
	for _, k := range sortedKeys(in.Relations) {
		subject, err := relationSubject(k, in.Relations[k])
		if err != nil {
			return err
		}
		if subject == in.Key && in.Key != "" {
			continue
		}
		if _, err := s.getResourceRef(c, subject); err != nil {
			return fieldNotFound(err, "relations."+k)
		}
	}
	return nil
}

func sortedKeys[T any](m map[string]T) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func nonEmpty(vs ...string) []string {
	var out []string
	for _, v := range vs {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

func (s *server) getResourceRef(c *call, ref string) (*facts.Resource, error) {
	return byRef(ref, func(r string) (*facts.Resource, error) { return s.Facts.Resource(c.ctx, c.env.ID, r) })
}

// globMatch reports whether s matches pattern, where * stands for any
// run of characters (case-insensitive).
func globMatch(pattern, s string) bool {
	ok, err := path.Match(strings.ToLower(pattern), strings.ToLower(s))
	return err == nil && ok
}

func (s *server) listResources(c *call) (int, any, error) {
	pg, err := pageOf(c.r)
	if err != nil {
		return 0, nil, err
	}
	search := c.r.URL.Query().Get("search")
	var items []facts.Resource
	var total int
	if strings.Contains(search, "*") {
		// A wildcard search ("doc*", "*"): matched here on key and name.
		all, err := allPages(func(p gatehouse.PageRequest) (gatehouse.Page[facts.Resource], error) {
			return s.Facts.Resources(c.ctx, facts.Filter{EnvID: c.env.ID}, p)
		})
		if err != nil {
			return 0, nil, err
		}
		var kept []facts.Resource
		for _, r := range all {
			if globMatch(search, r.Key) || globMatch(search, r.Name) {
				kept = append(kept, r)
			}
		}
		total, items = len(kept), window(kept, pg)
	} else {
		p, err := s.Facts.Resources(c.ctx, facts.Filter{EnvID: c.env.ID, Search: search}, pg.request("created_at"))
		if err != nil {
			return 0, nil, err
		}
		total, items = p.Total, p.Items
	}
	out := make([]pResource, len(items))
	for i := range items {
		if out[i], err = s.resourceOut(c, &items[i]); err != nil {
			return 0, nil, err
		}
	}
	return http.StatusOK, listOrPaged(out, total, pg), nil
}

func (s *server) getResource(c *call) (int, any, error) {
	r, err := s.getResourceRef(c, c.r.PathValue("resource"))
	if err != nil {
		return 0, nil, err
	}
	out, err := s.resourceOut(c, r)
	return http.StatusOK, out, err
}

func (s *server) createResource(c *call) (int, any, error) {
	var in pResourceIn
	if err := c.body(s.maxBody, &in, false); err != nil {
		return 0, nil, err
	}
	if in.Key == "" {
		return 0, nil, gatehouse.FieldError("key", "required_field_missing", "key is required")
	}
	if in.Actions == nil {
		return 0, nil, gatehouse.FieldError("actions", "required_field_missing", "actions is required")
	}
	m, err := in.meta(resourceMeta{}, time.Now().UTC().Truncate(time.Microsecond))
	if err != nil {
		return 0, nil, err
	}
	ri := facts.ResourceInput{Key: in.Key, Name: deref(in.Name), Description: deref(in.Description), Actions: actionKeys(*in.Actions)}
	if err := checkGroups(m, ri.Actions); err != nil {
		return 0, nil, err
	}
	if !m.empty() {
		ri.Config = withMeta(nil, m)
	}
	if in.Attributes != nil {
		ri.Attributes = *in.Attributes
	}
	if err := s.checkRelationSubjects(c, in); err != nil {
		return 0, nil, err
	}
	// The type, its relations and its roles in one write: a role that
	// fails leaves no type behind.
	var rels []facts.RelationInput
	for _, k := range sortedKeys(in.Relations) {
		subject, err := relationSubject(k, in.Relations[k])
		if err != nil {
			return 0, nil, err
		}
		rels = append(rels, facts.RelationInput{Key: k, Subject: subject})
	}
	var roles []facts.ResourceRoleInput
	planned := &facts.Resource{Key: ri.Key, Actions: ri.Actions, Config: ri.Config}
	for _, k := range sortedKeys(in.Roles) {
		rin := in.Roles[k]
		rin.Key = k
		if err := rin.check(); err != nil {
			return 0, nil, err
		}
		roles = append(roles, resourceRoleInput(planned, rin))
	}
	r, err := s.Facts.CreateResourceWith(c.ctx, c.env.ID, ri, rels, roles)
	if err != nil {
		return 0, nil, err
	}
	out, err := s.resourceOut(c, r)
	return http.StatusOK, out, err
}

// pUpdateResource is PATCH (the fields given) or PUT (name and actions
// required; attributes and description replaced).
func (s *server) updateResource(replace bool) handler {
	return func(c *call) (int, any, error) {
		var in pResourceIn
		if err := c.body(s.maxBody, &in, !replace); err != nil {
			return 0, nil, err
		}
		if replace && (in.Name == nil || in.Actions == nil) {
			return 0, nil, gatehouse.FieldError("actions", "required_field_missing", "a replacement needs name and actions")
		}
		r, err := s.getResourceRef(c, c.r.PathValue("resource"))
		if err != nil {
			return 0, nil, err
		}
		if err := s.checkRelationSubjects(c, in); err != nil {
			return 0, nil, err
		}
		children, err := rolesRelations(in)
		if err != nil {
			return 0, nil, err
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
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
		// The Permit-only details (urn, action attributes, action groups)
		// from the type as the write reads it, not as read before it.
		p.Edit = func(cur *facts.Resource) error {
			old := metaOf(cur)
			if replace {
				old = resourceMeta{ActionGroups: old.ActionGroups}
			}
			m, err := in.meta(old, now)
			if err != nil {
				return err
			}
			if err := checkGroups(m, cur.Actions); err != nil {
				return err
			}
			cur.Config = withMeta(cur.Config, m)
			return nil
		}
		// The type, its relations and its roles in one write: a role that
		// fails leaves the type as it was.
		if r, err = s.Facts.UpdateResourceWith(c.ctx, c.env.ID, r.ID, p, children); err != nil {
			return 0, nil, err
		}
		out, err := s.resourceOut(c, r)
		return http.StatusOK, out, err
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
	want := attrFilters(c.r)
	all := make([]pActionRead, 0, len(r.Actions))
	for _, a := range r.Actions {
		if ar := pActionReadOf(c.env, r, a); attrsMatch(ar.Attributes, want) {
			all = append(all, ar)
		}
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

// setActionAttributes keeps an action's attributes (nil: unchanged).
func (s *server) setActionAttributes(c *call, r *facts.Resource, action string, attrs map[string]any) (*facts.Resource, error) {
	if attrs == nil {
		return r, nil
	}
	return s.Facts.UpdateResource(c.ctx, c.env.ID, r.ID, facts.ResourcePatch{Edit: func(r *facts.Resource) error {
		if !slices.Contains(r.Actions, action) {
			return gatehouse.Errorf(gatehouse.CodeNotFound, "resource %q has no action %q", r.Key, action)
		}
		r.Config = withActionAttributes(r, action, attrs)
		return nil
	}})
}

// withActionAttributes is r's config with an action's attributes set (none:
// removed).
func withActionAttributes(r *facts.Resource, action string, attrs map[string]any) map[string]any {
	m := metaOf(r)
	if m.ActionAttributes == nil {
		m.ActionAttributes = map[string]map[string]any{}
	}
	m.ActionAttributes[action] = attrs
	if len(attrs) == 0 {
		delete(m.ActionAttributes, action)
	}
	return withMeta(r.Config, m)
}

// pGetAction answers GET and PATCH (of an action, Gatehouse keeps its
// attributes; not its name and description).
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
		if r, err = s.setActionAttributes(c, r, a, in.Attributes); err != nil {
			return 0, nil, err
		}
	}
	return http.StatusOK, pActionReadOf(c.env, r, a), nil
}

func (s *server) createAction(c *call) (int, any, error) {
	var in pActionIn
	if err := c.body(s.maxBody, &in, false); err != nil {
		return 0, nil, err
	}
	r, err := s.getResourceRef(c, c.r.PathValue("resource"))
	if err != nil {
		return 0, nil, err
	}
	// The action and its attributes in one write, checked against the
	// type as the write reads it.
	p := facts.ResourcePatch{Cascade: c.cascade(), Edit: func(r *facts.Resource) error {
		if slices.Contains(r.Actions, in.Key) {
			return gatehouse.Errorf(gatehouse.CodeConflict, "resource %q already has action %q", r.Key, in.Key)
		}
		if _, ok := metaOf(r).ActionGroups[in.Key]; ok {
			return gatehouse.FieldError("key", "already_exists", "resource %q has an action group %q: an action may not share its key", r.Key, in.Key)
		}
		r.Actions = append(slices.Clone(r.Actions), in.Key)
		if in.Attributes != nil {
			r.Config = withActionAttributes(r, in.Key, in.Attributes)
		}
		return nil
	}}
	if r, err = s.Facts.UpdateResource(c.ctx, c.env.ID, r.ID, p); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, pActionReadOf(c.env, r, in.Key), nil
}

func (s *server) deleteAction(c *call) (int, any, error) {
	r, a, err := s.findAction(c)
	if err != nil {
		return 0, nil, err
	}
	_, err = s.Facts.UpdateResource(c.ctx, c.env.ID, r.ID, facts.ResourcePatch{Cascade: c.cascade(), Edit: func(r *facts.Resource) error {
		for k, g := range metaOf(r).ActionGroups {
			if slices.Contains(g.Actions, a) {
				return &gatehouse.Error{Code: gatehouse.CodeConflict, Message: "action " + a + " is in action group " + k + ": remove it from the group first",
					Details: map[string]any{"field": "action", "reason": "in_use"}}
			}
		}
		r.Actions = slices.DeleteFunc(slices.Clone(r.Actions), func(x string) bool { return x == a })
		m := metaOf(r)
		delete(m.ActionAttributes, a)
		r.Config = withMeta(r.Config, m)
		return nil
	}})
	return http.StatusNoContent, nil, err
}
