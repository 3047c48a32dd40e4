package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client"
)

// A user's page, beyond editing the user (issue 18): the roles they hold
// per tenant and on instances, given and taken away from here, what they
// may do in each tenant, the latest checks about them and the latest API
// calls that changed them. Each part shows when the viewer's role may read
// it; every change goes through the v1 API as the member.

func (x *dash) userMoreRoutes(mux *http.ServeMux) {
	a := x.authed
	mux.HandleFunc("POST /users/{item}/roles", a(x.assignUserRole))
	mux.HandleFunc("POST /users/{item}/roles/delete", a(x.unassignUserRole))
}

// userMore is the user page's part drawn by _user_more.html.
type userMore struct {
	Key string
	// Tenant are the user's roles in tenants by tenant; Instance those on
	// instances. TenantMore/InstanceMore: there are more than shown.
	Tenant                   []tenantRoles
	Instance                 []client.RoleAssignment
	TenantMore, InstanceMore bool
	ShowRoles                bool
	// Permissions are what the user may do per tenant (nil: not shown).
	Permissions     []client.TenantPermissions
	ShowPermissions bool
	// Decisions are the latest recorded checks about the user.
	Decisions     []decisionRow
	ShowDecisions bool
	// Calls are the latest API calls that changed the user.
	Calls     []client.Call
	ShowCalls bool
	// CallsError says why the calls could not be read.
	CallsError string
	// Assign: the viewer may give and take roles; Roles and Tenants are
	// the choices the form offers (tenants are typed, the first suggested).
	Assign  bool
	Roles   []client.Role
	Tenants []client.Tenant
	Check   bool
	// Settings: the viewer may read the settings (the decision log's).
	Settings bool
}

// tenantRoles are a user's roles in one tenant.
type tenantRoles struct {
	Tenant string
	Roles  []string
}

// userMoreRows bounds each list of the user's page.
const userMoreRows = 100

func (x *dash) userMoreOf(r *http.Request, v *viewer, u *client.User) *userMore {
	ctx, c := apiContext(r), v.env()
	m := &userMore{Key: u.Key, Check: v.can(gatehouse.ScopeCheckAccess), Settings: v.can(gatehouse.ScopeViewSettings)}
	if v.can(gatehouse.ScopeViewRoleAssignment) {
		m.ShowRoles = true
		// First pages by cursor: not counted (the page header counts them).
		if l, err := c.RoleAssignments.List(ctx, &client.AssignmentFilter{ListOptions: client.ListOptions{PerPage: userMoreRows, Cursor: "start"}, User: u.Key, Kind: "tenant"}); err == nil {
			m.TenantMore = l.Meta.NextCursor != ""
			slices.SortStableFunc(l.Items, func(a, b client.RoleAssignment) int { return strings.Compare(a.Tenant, b.Tenant) })
			for _, a := range l.Items {
				if n := len(m.Tenant); n > 0 && m.Tenant[n-1].Tenant == a.Tenant {
					m.Tenant[n-1].Roles = append(m.Tenant[n-1].Roles, a.Role)
				} else {
					m.Tenant = append(m.Tenant, tenantRoles{Tenant: a.Tenant, Roles: []string{a.Role}})
				}
			}
		}
		if l, err := c.RoleAssignments.List(ctx, &client.AssignmentFilter{ListOptions: client.ListOptions{PerPage: userMoreRows, Cursor: "start"}, User: u.Key, Kind: "instance"}); err == nil {
			m.Instance, m.InstanceMore = l.Items, l.Meta.NextCursor != ""
		}
	}
	if v.can(gatehouse.ScopeManageRoleAssignment) && v.can(gatehouse.ScopeViewRole) {
		m.Assign = true
		// Every role, page after page (roles are few; assignments many).
		m.Roles, _ = choices(c.Roles.All(ctx, &client.FactListOptions{ListOptions: client.ListOptions{PerPage: userMoreRows, Sort: "key"}}))
		if l, err := c.Tenants.List(ctx, suggested); err == nil {
			m.Tenants = l.Items
		}
	}
	if m.Check {
		if perms, err := c.Checks.UserPermissions(drawing(ctx), u.Key); err == nil {
			m.ShowPermissions, m.Permissions = true, perms
		}
	}
	if v.can(gatehouse.ScopeViewLog) {
		if l, err := c.Decisions.List(ctx, &client.DecisionFilter{ListOptions: client.ListOptions{PerPage: 10, Cursor: "start"}, User: u.Key}); err == nil {
			m.ShowDecisions = true
			for _, e := range l.Items {
				m.Decisions = append(m.Decisions, decisionRowOf(e))
			}
		}
		m.ShowCalls = true
		m.Calls, m.CallsError = x.userCalls(r, v, u)
	}
	return m
}

// userCallsSince bounds the user page's search of the API log.
const userCallsSince = 30 * 24 * time.Hour

// userCalls are the latest calls of this environment's API log that
// changed the user: writes (filtered by the API) to its address, by key
// or by id, in the last 30 days. The search goes by the log's
// (organization, time) index, newest first, bounded by the 30 days; the
// path is not indexed. A failed search is its message.
func (x *dash) userCalls(r *http.Request, v *viewer, u *client.User) ([]client.Call, string) {
	ctx := apiContext(r)
	here := x.envRefs(ctx, v)
	since := time.Now().Add(-userCallsSince)
	var out []client.Call
	refs := []string{u.Key}
	if u.ID != u.Key {
		refs = append(refs, u.ID)
	}
	for _, ref := range refs {
		prefix := "/v1/users/" + url.PathEscape(ref)
		l, err := v.api.Logs.List(ctx, &client.LogFilter{ListOptions: client.ListOptions{PerPage: 50, Cursor: "start"}, Path: prefix, Writes: true, Since: since})
		if err != nil {
			return nil, "The API log could not be read: " + errText(err)
		}
		for _, call := range l.Items {
			path, _, _ := strings.Cut(call.Path, "?")
			if (path != prefix && !strings.HasPrefix(path, prefix+"/")) || !here.acted(call) {
				continue
			}
			out = append(out, call)
		}
	}
	slices.SortFunc(out, func(a, b client.Call) int { return b.Time.Compare(a.Time) })
	return out[:min(len(out), 10)], ""
}

// envRefs are the ids and keys of the session's project and environment.
type envRefs struct{ projectID, projectKey, envID, envKey string }

func (x *dash) envRefs(ctx context.Context, v *viewer) envRefs {
	e := envRefs{projectID: v.session.ProjectID, envID: v.session.EnvID}
	if p, err := v.api.Projects.Get(ctx, e.projectID); err == nil {
		e.projectKey = p.Key
	}
	if en, err := v.api.Environments.Get(ctx, e.projectID, e.envID); err == nil {
		e.envKey = en.Key
	}
	return e
}

// acted reports whether call acted on this environment: the API log keeps
// the environment of the caller's key (none for a member's or an
// organization or project key), else the call's project and environment
// are those of its query. A call that cannot be attributed is not.
func (e envRefs) acted(call client.Call) bool {
	if call.EnvironmentID != "" {
		return call.EnvironmentID == e.envID
	}
	_, rawQuery, _ := strings.Cut(call.Path, "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil || e.envID == "" {
		return false
	}
	env, project := q.Get("environment"), q.Get("project")
	if env == e.envID {
		return project == "" || project == e.projectID || project == e.projectKey
	}
	if call.ProjectID != "" && project == "" {
		project = call.ProjectID
	}
	return env != "" && env == e.envKey && project != "" && (project == e.projectID || project == e.projectKey)
}

func (x *dash) assignUserRole(w http.ResponseWriter, r *http.Request, v *viewer) {
	key := r.PathValue("item")
	role, tenant := strings.TrimSpace(r.FormValue("role")), strings.TrimSpace(r.FormValue("tenant"))
	to := "/users/" + url.PathEscape(key) + "#roles"
	if role == "" {
		x.redirect(w, r, to, "⚠ Choose the role to give.")
		return
	}
	_, err := v.env().RoleAssignments.Assign(apiContext(r), key, role, tenant)
	if err != nil {
		x.redirect(w, r, to, "⚠ "+formError(err))
		return
	}
	in := tenant
	if in == "" {
		in = "the default tenant"
	}
	x.redirect(w, r, to, "Gave "+key+" role "+role+" in "+in+".")
}

func (x *dash) unassignUserRole(w http.ResponseWriter, r *http.Request, v *viewer) {
	key := r.PathValue("item")
	role, tenant, inst := r.FormValue("role"), r.FormValue("tenant"), r.FormValue("resource_instance")
	to := "/users/" + url.PathEscape(key) + "#roles"
	if role == "" {
		x.redirect(w, r, to, "⚠ Name the role to take away.")
		return
	}
	var err error
	where := "in " + tenant
	if inst != "" {
		err = v.env().RoleAssignments.UnassignOnInstance(apiContext(r), key, role, inst)
		where = "on " + inst
	} else {
		err = v.env().RoleAssignments.Unassign(apiContext(r), key, role, tenant)
	}
	if err != nil {
		x.redirect(w, r, to, "⚠ "+formError(err))
		return
	}
	x.redirect(w, r, to, "Took role "+role+" "+where+" from "+key+".")
}
