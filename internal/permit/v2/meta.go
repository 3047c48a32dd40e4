package permitv2

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// What Permit keeps on a resource type and Gatehouse's resource has no
// field for (its urn, its actions' attributes, its action groups) is kept
// in the resource's config under metaKey, so that a Permit app's schema is
// accepted and echoed as given. The decision engine does not read it:
// action groups are expanded into their actions when a role names one.

const metaKey = facts.PermitConfigKey

type resourceMeta struct {
	URN              string                    `json:"urn,omitempty"`
	ActionAttributes map[string]map[string]any `json:"action_attributes,omitempty"`
	ActionGroups     map[string]actionGroup    `json:"action_groups,omitempty"`
}

type actionGroup struct {
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Attributes  map[string]any `json:"attributes,omitempty"`
	Actions     []string       `json:"actions"`
	CreatedAt   time.Time      `json:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
}

func metaOf(r *facts.Resource) resourceMeta {
	var m resourceMeta
	if raw, ok := r.Config[metaKey]; ok {
		if b, err := json.Marshal(raw); err == nil {
			_ = json.Unmarshal(b, &m)
		}
	}
	return m
}

func (m resourceMeta) empty() bool {
	return m.URN == "" && len(m.ActionAttributes) == 0 && len(m.ActionGroups) == 0
}

// withMeta returns config with m under metaKey (or without it when m is
// empty).
func withMeta(config map[string]any, m resourceMeta) map[string]any {
	out := map[string]any{}
	for k, v := range config {
		out[k] = v
	}
	delete(out, metaKey)
	if m.empty() {
		return out
	}
	var v map[string]any
	b, _ := json.Marshal(m)
	_ = json.Unmarshal(b, &v)
	out[metaKey] = v
	return out
}

// expandGroups replaces the action groups of res named by permissions
// ("group" or "resource:group") with their actions, in the same form.
func expandGroups(res *facts.Resource, perms []string) []string {
	groups := metaOf(res).ActionGroups
	if len(groups) == 0 {
		return perms
	}
	var out []string
	for _, p := range perms {
		prefix, name := "", p
		if pre, act, ok := strings.Cut(p, ":"); ok && pre == res.Key {
			prefix, name = pre+":", act
		}
		if g, ok := groups[name]; ok && !slices.Contains(res.Actions, name) {
			for _, a := range g.Actions {
				out = append(out, prefix+a)
			}
			continue
		}
		out = append(out, p)
	}
	return out
}

// expandRoleGroups expands the action groups a tenant role's permissions
// ("resource:group") name.
func (s *server) expandRoleGroups(c *call, perms []string) ([]string, error) {
	var out []string
	seen := map[string]*facts.Resource{}
	for _, p := range perms {
		typ, _, ok := strings.Cut(p, ":")
		if !ok {
			out = append(out, p)
			continue
		}
		r, err := memo(seen, typ, func() (*facts.Resource, error) { return s.Facts.Resource(c.ctx, c.env.ID, typ) })
		if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
			out = append(out, p) // the role's check names it
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, expandGroups(r, []string{p})...)
	}
	return out, nil
}

// ---- action groups

type pActionGroup struct {
	Key            string         `json:"key"`
	ID             string         `json:"id"`
	Name           string         `json:"name"`
	Description    string         `json:"description,omitempty"`
	Attributes     map[string]any `json:"attributes"`
	Actions        []string       `json:"actions"`
	ResourceID     string         `json:"resource_id"`
	OrganizationID string         `json:"organization_id"`
	ProjectID      string         `json:"project_id"`
	EnvironmentID  string         `json:"environment_id"`
	CreatedAt      time.Time      `json:"created_at"`
	UpdatedAt      time.Time      `json:"updated_at"`
}

func pActionGroupOf(env *tenancy.Environment, r *facts.Resource, key string, g actionGroup) pActionGroup {
	return pActionGroup{Key: key, ID: childID(r.ID, "action_group", key), Name: g.Name, Description: g.Description, Attributes: orEmptyMap(g.Attributes),
		Actions: orEmptyList(g.Actions), ResourceID: r.ID, OrganizationID: env.OrgID, ProjectID: env.ProjectID, EnvironmentID: env.ID,
		CreatedAt: g.CreatedAt, UpdatedAt: g.UpdatedAt}
}

func groupKeys(m map[string]actionGroup) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (s *server) listActionGroups(c *call) (int, any, error) {
	pg, err := pageOf(c.r)
	if err != nil {
		return 0, nil, err
	}
	r, err := s.resourcePath(c)
	if err != nil {
		return 0, nil, err
	}
	m := metaOf(r)
	want := attrFilters(c.r)
	var all []pActionGroup
	for _, k := range groupKeys(m.ActionGroups) {
		if g := m.ActionGroups[k]; attrsMatch(g.Attributes, want) {
			all = append(all, pActionGroupOf(c.env, r, k, g))
		}
	}
	return http.StatusOK, listOrPaged(window(all, pg), len(all), pg), nil
}

func (s *server) findActionGroup(c *call) (*facts.Resource, string, actionGroup, error) {
	r, err := s.resourcePath(c)
	if err != nil {
		return nil, "", actionGroup{}, err
	}
	ref := c.r.PathValue("group")
	for k, g := range metaOf(r).ActionGroups {
		if k == ref || childID(r.ID, "action_group", k) == ref || childID(r.ID, "action_group", k) == dashed(ref) {
			return r, k, g, nil
		}
	}
	return nil, "", actionGroup{}, gatehouse.Errorf(gatehouse.CodeNotFound, "resource %q has no action group %q", r.Key, ref)
}

func (s *server) getActionGroup(c *call) (int, any, error) {
	r, k, g, err := s.findActionGroup(c)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, pActionGroupOf(c.env, r, k, g), nil
}

type pActionGroupIn struct {
	Key         string         `json:"key"`
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Attributes  map[string]any `json:"attributes"`
	Actions     []string       `json:"actions"`
}

func (s *server) createActionGroup(c *call) (int, any, error) {
	var in pActionGroupIn
	if err := c.body(s.maxBody, &in, false); err != nil {
		return 0, nil, err
	}
	r, err := s.resourcePath(c)
	if err != nil {
		return 0, nil, err
	}
	if in.Key == "" {
		return 0, nil, gatehouse.FieldError("key", "required_field_missing", "key is required")
	}
	if in.Name == "" {
		in.Name = in.Key
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	g := actionGroup{Name: in.Name, Description: in.Description, Attributes: in.Attributes, Actions: in.Actions, CreatedAt: now, UpdatedAt: now}
	// Checked and written against the type as the write reads it.
	edit := func(r *facts.Resource) error {
		if slices.Contains(r.Actions, in.Key) {
			return gatehouse.FieldError("key", "already_exists", "resource %q has an action %q: a group may not share its key", r.Key, in.Key)
		}
		for _, a := range in.Actions {
			if !slices.Contains(r.Actions, a) {
				return gatehouse.FieldError("actions", "unknown_action", "resource %q has no action %q", r.Key, a)
			}
		}
		m := metaOf(r)
		if _, ok := m.ActionGroups[in.Key]; ok {
			return gatehouse.Errorf(gatehouse.CodeConflict, "resource %q already has action group %q", r.Key, in.Key)
		}
		if m.ActionGroups == nil {
			m.ActionGroups = map[string]actionGroup{}
		}
		m.ActionGroups[in.Key] = g
		r.Config = withMeta(r.Config, m)
		return nil
	}
	if r, err = s.Facts.UpdateResource(c.ctx, c.env.ID, r.ID, facts.ResourcePatch{Edit: edit}); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, pActionGroupOf(c.env, r, in.Key, g), nil
}

// updateActionGroup changes a group's name, description, attributes or
// actions. Roles that named it hold the actions it had then: a group is
// expanded when a role is written.
func (s *server) updateActionGroup(c *call) (int, any, error) {
	var in struct {
		Name        *string         `json:"name"`
		Description *string         `json:"description"`
		Attributes  *map[string]any `json:"attributes"`
		Actions     *[]string       `json:"actions"`
	}
	if err := c.body(s.maxBody, &in, true); err != nil {
		return 0, nil, err
	}
	r, k, _, err := s.findActionGroup(c)
	if err != nil {
		return 0, nil, err
	}
	var g actionGroup
	edit := func(r *facts.Resource) error {
		m := metaOf(r)
		var ok bool
		if g, ok = m.ActionGroups[k]; !ok {
			return gatehouse.Errorf(gatehouse.CodeNotFound, "resource %q has no action group %q", r.Key, k)
		}
		setIf(&g.Name, in.Name)
		setIf(&g.Description, in.Description)
		if in.Attributes != nil {
			g.Attributes = *in.Attributes
		}
		if in.Actions != nil {
			for _, a := range *in.Actions {
				if !slices.Contains(r.Actions, a) {
					return gatehouse.FieldError("actions", "unknown_action", "resource %q has no action %q", r.Key, a)
				}
			}
			g.Actions = *in.Actions
		}
		g.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
		m.ActionGroups[k] = g
		r.Config = withMeta(r.Config, m)
		return nil
	}
	if r, err = s.Facts.UpdateResource(c.ctx, c.env.ID, r.ID, facts.ResourcePatch{Edit: edit}); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, pActionGroupOf(c.env, r, k, g), nil
}

func setIf(dst *string, v *string) {
	if v != nil {
		*dst = *v
	}
}

func (s *server) deleteActionGroup(c *call) (int, any, error) {
	r, k, _, err := s.findActionGroup(c)
	if err != nil {
		return 0, nil, err
	}
	_, err = s.Facts.UpdateResource(c.ctx, c.env.ID, r.ID, facts.ResourcePatch{Edit: func(r *facts.Resource) error {
		m := metaOf(r)
		delete(m.ActionGroups, k)
		r.Config = withMeta(r.Config, m)
		return nil
	}})
	return http.StatusNoContent, nil, err
}
