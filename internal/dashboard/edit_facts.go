package dashboard

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// The pages of one user, tenant or tenant role, each edited in place
// through the v1 API's PATCH as the member, and the confirmation pages of
// their deletes (and of a resource type's).

func (x *dash) editRoutes(mux *http.ServeMux) {
	a := x.authed
	mux.HandleFunc("GET /users/{item}", a(x.user))
	mux.HandleFunc("POST /users/{item}", a(x.updateUser))
	mux.HandleFunc("GET /users/{item}/delete", a(x.confirmDeleteUser))
	mux.HandleFunc("GET /tenants/{item}", a(x.tenant))
	mux.HandleFunc("POST /tenants/{item}", a(x.updateTenant))
	mux.HandleFunc("GET /tenants/{item}/delete", a(x.confirmDeleteTenant))
	mux.HandleFunc("GET /roles/{item}", a(x.role))
	mux.HandleFunc("POST /roles/{item}", a(x.updateRole))
	mux.HandleFunc("GET /roles/{item}/delete", a(x.confirmDeleteRole))
	mux.HandleFunc("POST /resources/{resource}", a(x.updateResource))
	mux.HandleFunc("GET /resources/{item}/delete", a(x.confirmDeleteResource))
	mux.HandleFunc("GET /resources/{resource}/roles/{role}/delete", a(x.confirmDeleteResourceRole))
	mux.HandleFunc("GET /resources/{resource}/relations/{relation}/delete", a(x.confirmDeleteRelation))
	mux.HandleFunc("GET /instances/{instance}/delete", a(x.confirmDeleteInstance))
	mux.HandleFunc("GET /condition-sets/{set}/delete", a(x.confirmDeleteConditionSet))
	mux.HandleFunc("GET /keys/{key}", a(x.key))
	mux.HandleFunc("POST /keys/{key}", a(x.updateKey))
	mux.HandleFunc("POST /webhooks/{webhook}", a(x.updateWebhook))
	mux.HandleFunc("GET /webhooks/{webhook}/delete", a(x.confirmDeleteWebhook))
	mux.HandleFunc("GET /members/{member}/delete", a(x.confirmDeleteMember))
	mux.HandleFunc("GET /projects/{project}/delete", a(x.confirmDeleteProject))
	mux.HandleFunc("GET /projects/{project}/environments/{environment}/delete", a(x.confirmDeleteEnvironment))
}

// inUse reports a refusal because something still refers to the thing
// deleted or changed (the API's 409 with reason in_use).
func inUse(err error) bool {
	var e *client.Error
	return errors.As(err, &e) && e.Status == http.StatusConflict && e.Details["reason"] == "in_use"
}

// inUseText is the API's message of a refusal because something uses the
// thing, without its advice to repeat the call with ?cascade=true (the
// page offers that itself).
func inUseText(err error) string {
	msg := errText(err)
	if i := strings.Index(msg, ": remove those references first"); i > 0 {
		return msg[:i] + "."
	}
	return msg
}

// deleted ends a delete posted from a list or a confirmation page: done,
// to list with flash; refused because something uses it, back to the
// confirmation page (confirm), which then offers to remove those too;
// otherwise back where the form was, with the API's message.
func (x *dash) deleted(w http.ResponseWriter, r *http.Request, err error, list, confirm, flash string) {
	switch {
	case err == nil:
		x.redirect(w, r, list, flash)
	case inUse(err) && confirm != "":
		x.redirect(w, r, confirm+"?cascade=1", "⚠ Not deleted: "+inUseText(err)+" Deleting it below takes those with it.")
	default:
		x.redirect(w, r, back(r, list), "⚠ "+formError(err))
	}
}

// ---- a user

type userData struct {
	User   *client.User
	Manage bool
	Form   *form
	Rows   []string // the attribute rows
	// Tenant and Instance count the user's roles (nil: not known).
	Tenant, Instance *int
	More             *userMore // roles, permissions, decisions, changes (user_more.go)
}

func (x *dash) user(w http.ResponseWriter, r *http.Request, v *viewer) {
	x.renderUser(w, r, v, http.StatusOK, "", nil, 0)
}

// renderUser draws a user's page; f is a submitted form with rows
// attribute rows (nil: the form starts from the user).
func (x *dash) renderUser(w http.ResponseWriter, r *http.Request, v *viewer, st int, errMsg string, f *form, rows int) {
	d := &userData{Manage: v.can(gatehouse.ScopeManageUser), Form: f}
	p := &page{Title: "User", Section: "users", Error: errMsg, Data: d}
	if x.noEnv(w, r, v, "user", p) {
		return
	}
	ctx, c := apiContext(r), v.env()
	u, err := c.Users.Get(ctx, r.PathValue("item"))
	if err != nil {
		x.fail(w, r, statusOf(err), errText(err))
		return
	}
	d.User, p.Title = u, "User "+u.Key
	if d.Form == nil {
		d.Form = emptyForm()
		d.Form.Values["email"], d.Form.Values["first_name"], d.Form.Values["last_name"] = u.Email, u.FirstName, u.LastName
		rows = fillAttrs(d.Form, u.Attributes)
	}
	d.Rows = rowNumbers(rows)
	if v.can(gatehouse.ScopeViewRoleAssignment) {
		one := client.ListOptions{PerPage: 1}
		d.Tenant = total(c.RoleAssignments.List(ctx, &client.AssignmentFilter{ListOptions: one, User: u.Key, Kind: "tenant"}))
		d.Instance = total(c.RoleAssignments.List(ctx, &client.AssignmentFilter{ListOptions: one, User: u.Key, Kind: "instance"}))
	}
	d.More = x.userMoreOf(r, v, u)
	x.render(w, r, st, "user", p)
}

func (x *dash) updateUser(w http.ResponseWriter, r *http.Request, v *viewer) {
	_ = r.ParseForm()
	rows := attrRowsOf(r)
	f := newForm(r, append([]string{"email", "first_name", "last_name"}, attrNames(rows)...)...)
	attrs := attributes(f, rows)
	if f.Failed() {
		x.renderUser(w, r, v, http.StatusBadRequest, "Not saved: check the marked fields.", f, rows)
		return
	}
	first, last := f.Val("first_name"), f.Val("last_name")
	patch := client.UserPatch{FirstName: &first, LastName: &last}
	if r.Form.Has("attr_rows") { // a form without the attribute rows leaves them as they are
		patch.Attributes = &attrs
	}
	// An email the API stored before it checked emails stays until changed.
	if email := f.Val("email"); email != strings.TrimSpace(r.FormValue("current_email")) {
		patch.Email = &email
	}
	u, err := v.env().Users.Update(apiContext(r), r.PathValue("item"), patch)
	if err != nil {
		msg := f.apiError(err, map[string]string{"email": "email", "first_name": "first_name", "last_name": "last_name", "attributes": "attr_key_0"})
		x.renderUser(w, r, v, statusOf(err), msg, f, rows)
		return
	}
	x.redirect(w, r, "/users/"+url.PathEscape(u.Key), "User "+u.Key+" saved.")
}

func (x *dash) confirmDeleteUser(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx, c := apiContext(r), v.env()
	u, err := c.Users.Get(ctx, r.PathValue("item"))
	if err != nil {
		x.fail(w, r, statusOf(err), errText(err))
		return
	}
	esc := url.PathEscape(u.Key)
	d := &confirmData{What: "user " + u.Key, Action: "/users/" + esc + "/delete", Back: "/users/" + esc,
		Note: "Checks about " + u.Key + " are denied from then on; a user made again with this key starts without roles."}
	x.countAssignments(r, v, d, &client.AssignmentFilter{User: u.Key}, "/assignments?user="+url.QueryEscape(u.Key))
	x.confirm(w, r, "users", d, "")
}

// countAssignments adds the role assignments f selects to d: in tenants,
// and on resource instances.
func (x *dash) countAssignments(r *http.Request, v *viewer, d *confirmData, f *client.AssignmentFilter, link string) {
	if !v.can(gatehouse.ScopeViewRoleAssignment) {
		d.Unknown = append(d.Unknown, "its role assignments (your role cannot see them)")
		return
	}
	ctx, c := apiContext(r), v.env()
	for _, k := range []struct{ kind, one, text string }{{"tenant", "role assignment in a tenant", "role assignments in tenants"},
		{"instance", "role on a resource instance", "roles on resource instances"}} {
		g := *f
		g.ListOptions, g.Kind = client.ListOptions{PerPage: 1}, k.kind
		n := total(c.RoleAssignments.List(ctx, &g))
		if n == nil {
			d.Unknown = append(d.Unknown, k.text)
			continue
		}
		d.add(cascadeItem{Count: *n, One: k.one, Text: k.text, Link: link + "&kind=" + k.kind})
	}
}

// ---- a tenant

type tenantData struct {
	Tenant *client.Tenant
	Manage bool
	Form   *form
	Rows   []string
	// Assignments and Instances count what is in it (nil: not known).
	Assignments, Instances *int
}

func (x *dash) tenant(w http.ResponseWriter, r *http.Request, v *viewer) {
	x.renderTenant(w, r, v, http.StatusOK, "", nil, 0)
}

func (x *dash) renderTenant(w http.ResponseWriter, r *http.Request, v *viewer, st int, errMsg string, f *form, rows int) {
	d := &tenantData{Manage: v.can(gatehouse.ScopeManageTenant), Form: f}
	p := &page{Title: "Tenant", Section: "tenants", Error: errMsg, Data: d}
	if x.noEnv(w, r, v, "tenant", p) {
		return
	}
	ctx, c := apiContext(r), v.env()
	t, err := c.Tenants.Get(ctx, r.PathValue("item"))
	if err != nil {
		x.fail(w, r, statusOf(err), errText(err))
		return
	}
	d.Tenant, p.Title = t, "Tenant "+t.Key
	if d.Form == nil {
		d.Form = emptyForm()
		d.Form.Values["name"], d.Form.Values["description"] = t.Name, t.Description
		rows = fillAttrs(d.Form, t.Attributes)
	}
	d.Rows = rowNumbers(rows)
	if v.can(gatehouse.ScopeViewRoleAssignment) {
		d.Assignments = total(c.RoleAssignments.List(ctx, &client.AssignmentFilter{ListOptions: client.ListOptions{PerPage: 1}, Tenant: t.Key}))
	}
	if v.can(gatehouse.ScopeViewResource) {
		d.Instances = total(c.ResourceInstances.List(ctx, &client.InstanceListOptions{ListOptions: client.ListOptions{PerPage: 1}, Tenant: t.Key}))
	}
	x.render(w, r, st, "tenant", p)
}

func (x *dash) updateTenant(w http.ResponseWriter, r *http.Request, v *viewer) {
	_ = r.ParseForm()
	rows := attrRowsOf(r)
	f := newForm(r, append([]string{"name", "description"}, attrNames(rows)...)...)
	attrs := attributes(f, rows)
	if f.Failed() {
		x.renderTenant(w, r, v, http.StatusBadRequest, "Not saved: check the marked fields.", f, rows)
		return
	}
	key := r.PathValue("item")
	name, desc := f.Val("name"), f.Val("description")
	if name == "" {
		name = key // as when it was created without one
	}
	patch := client.TenantPatch{Name: &name, Description: &desc}
	if r.Form.Has("attr_rows") {
		patch.Attributes = &attrs
	}
	t, err := v.env().Tenants.Update(apiContext(r), key, patch)
	if err != nil {
		msg := f.apiError(err, map[string]string{"name": "name", "description": "description", "attributes": "attr_key_0"})
		x.renderTenant(w, r, v, statusOf(err), msg, f, rows)
		return
	}
	x.redirect(w, r, "/tenants/"+url.PathEscape(t.Key), "Tenant "+t.Key+" saved.")
}

func (x *dash) confirmDeleteTenant(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx, c := apiContext(r), v.env()
	t, err := c.Tenants.Get(ctx, r.PathValue("item"))
	if err != nil {
		x.fail(w, r, statusOf(err), errText(err))
		return
	}
	esc, q := url.PathEscape(t.Key), url.QueryEscape(t.Key)
	d := &confirmData{What: "tenant " + t.Key, Action: "/tenants/" + esc + "/delete", Back: "/tenants/" + esc}
	if t.Key == authz.DefaultTenant {
		d.Note = "Every environment has a default tenant: it comes back, empty, the next time one is needed."
	}
	if v.can(gatehouse.ScopeViewResource) {
		if n := total(c.ResourceInstances.List(ctx, &client.InstanceListOptions{ListOptions: client.ListOptions{PerPage: 1}, Tenant: t.Key})); n != nil {
			d.add(cascadeItem{Count: *n, One: "resource instance in it, with its relationships", Text: "resource instances in it, with their relationships", Link: "/instances?tenant=" + q})
		}
	} else {
		d.Unknown = append(d.Unknown, "its resource instances (your role cannot see them)")
	}
	x.countAssignments(r, v, d, &client.AssignmentFilter{Tenant: t.Key}, "/assignments?tenant="+q)
	x.confirm(w, r, "tenants", d, "")
}

// ---- a tenant role

type roleData struct {
	Role        *client.Role
	Manage      bool
	Form        *form
	Rows        []string
	Permissions []string      // every "resource:action" to choose from
	Roles       []client.Role // the other roles: what it may extend
	Checked     map[string]bool
	Holders     *int // its assignments (nil: not known)
	// Derived are the resource roles derived from it ("document#editor").
	Derived []string
}

func (x *dash) role(w http.ResponseWriter, r *http.Request, v *viewer) {
	x.renderRole(w, r, v, http.StatusOK, "", nil, nil, 0)
}

func (x *dash) renderRole(w http.ResponseWriter, r *http.Request, v *viewer, st int, errMsg string, f *form, checked map[string]bool, rows int) {
	d := &roleData{Manage: v.can(gatehouse.ScopeManageRole), Form: f, Checked: checked}
	p := &page{Title: "Role", Section: "roles", Error: errMsg, Data: d}
	if x.noEnv(w, r, v, "role", p) {
		return
	}
	ctx, c := apiContext(r), v.env()
	role, err := c.Roles.Get(ctx, r.PathValue("item"))
	if err != nil {
		x.fail(w, r, statusOf(err), errText(err))
		return
	}
	d.Role, p.Title = role, "Role "+role.Key
	d.Permissions = x.permissionChoices(r, v)
	for _, held := range role.Permissions { // shown even if its action is gone
		if !slices.Contains(d.Permissions, held) {
			d.Permissions = append(d.Permissions, held)
		}
	}
	all, err := choices(c.Roles.All(ctx, nil))
	if err != nil && p.Error == "" {
		p.Error = errText(err)
	}
	for _, o := range all {
		if o.Key != role.Key {
			d.Roles = append(d.Roles, o)
		}
	}
	if d.Form == nil {
		d.Form = emptyForm()
		d.Form.Values["name"], d.Form.Values["description"] = role.Name, role.Description
		rows = fillAttrs(d.Form, role.Attributes)
		d.Checked = map[string]bool{}
		for _, p := range role.Permissions {
			d.Checked["permissions:"+p] = true
		}
		for _, e := range role.Extends {
			d.Checked["extends:"+e] = true
		}
	}
	d.Rows = rowNumbers(rows)
	if v.can(gatehouse.ScopeViewRoleAssignment) {
		d.Holders = total(c.RoleAssignments.List(ctx, &client.AssignmentFilter{ListOptions: client.ListOptions{PerPage: 1}, Role: role.Key, Kind: "tenant"}))
	}
	if s, err := x.loadSchema(r, v); err == nil {
		for _, rr := range s.allResourceRoles() {
			if slices.ContainsFunc(rr.GrantedTo, func(g client.Derivation) bool { return g.OnResource == authz.TenantResource && g.Role == role.Key }) {
				d.Derived = append(d.Derived, rr.Resource+"#"+rr.Key)
			}
		}
	}
	x.render(w, r, st, "role", p)
}

func (x *dash) updateRole(w http.ResponseWriter, r *http.Request, v *viewer) {
	_ = r.ParseForm()
	rows := attrRowsOf(r)
	f := newForm(r, append([]string{"name", "description"}, attrNames(rows)...)...)
	perms, ext := r.Form["permissions"], r.Form["extends"]
	checked := map[string]bool{}
	for _, p := range perms {
		checked["permissions:"+p] = true
	}
	for _, e := range ext {
		checked["extends:"+e] = true
	}
	attrs := attributes(f, rows)
	if f.Failed() {
		x.renderRole(w, r, v, http.StatusBadRequest, "Not saved: check the marked fields.", f, checked, rows)
		return
	}
	key := r.PathValue("item")
	if perms == nil {
		perms = []string{}
	}
	if ext == nil {
		ext = []string{}
	}
	name, desc := f.Val("name"), f.Val("description")
	if name == "" {
		name = key
	}
	patch := client.RolePatch{Name: &name, Description: &desc, Permissions: &perms, Extends: &ext}
	if r.Form.Has("attr_rows") {
		patch.Attributes = &attrs
	}
	role, err := v.env().Roles.Update(apiContext(r), key, patch)
	if err != nil {
		msg := f.apiError(err, map[string]string{"name": "name", "description": "description", "permissions": "permissions", "extends": "extends", "attributes": "attr_key_0"})
		x.renderRole(w, r, v, statusOf(err), msg, f, checked, rows)
		return
	}
	x.redirect(w, r, "/roles/"+url.PathEscape(role.Key), "Role "+role.Key+" saved.")
}

func (x *dash) confirmDeleteRole(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx, c := apiContext(r), v.env()
	role, err := c.Roles.Get(ctx, r.PathValue("item"))
	if err != nil {
		x.fail(w, r, statusOf(err), errText(err))
		return
	}
	esc := url.PathEscape(role.Key)
	d := &confirmData{What: "role " + role.Key, Action: "/roles/" + esc + "/delete", Back: "/roles/" + esc,
		Note: "Whoever holds it loses what it grants at once."}
	if v.can(gatehouse.ScopeViewRoleAssignment) {
		if n := total(c.RoleAssignments.List(ctx, &client.AssignmentFilter{ListOptions: client.ListOptions{PerPage: 1}, Role: role.Key, Kind: "tenant"})); n != nil {
			d.add(cascadeItem{Count: *n, One: "assignment of it (who holds it, in which tenant)", Text: "assignments of it (who holds it, in which tenant)", Link: "/assignments?role=" + url.QueryEscape(role.Key) + "&kind=tenant"})
		} else {
			d.Unknown = append(d.Unknown, "its assignments")
		}
	} else {
		d.Unknown = append(d.Unknown, "its assignments (your role cannot see them)")
	}
	var extending []string
	for o, err := range c.Roles.All(ctx, nil) {
		if err != nil {
			d.Unknown = append(d.Unknown, "the roles extending it")
			break
		}
		if slices.Contains(o.Extends, role.Key) {
			extending = append(extending, o.Key)
		}
	}
	d.add(cascadeItem{Count: len(extending), One: "role extending it, which stops granting what it grants", Text: "roles extending it, which stop granting what it grants", Names: someNames(extending)})
	if s, err := x.loadSchema(r, v); err == nil {
		var derived []string
		for _, rr := range s.allResourceRoles() {
			if slices.ContainsFunc(rr.GrantedTo, func(g client.Derivation) bool { return g.OnResource == authz.TenantResource && g.Role == role.Key }) {
				derived = append(derived, rr.Resource+"#"+rr.Key)
			}
		}
		d.add(cascadeItem{Count: len(derived), One: "resource role derived from it, which loses that derivation", Text: "resource roles derived from it, which lose that derivation", Names: someNames(derived)})
	} else {
		d.Unknown = append(d.Unknown, "the resource roles derived from it")
	}
	d.Cascade = len(d.Items) > 0 || r.URL.Query().Get("cascade") != ""
	x.confirm(w, r, "roles", d, "")
}

// ---- the schema: every resource type with its roles and relations

type schema struct {
	Resources []client.Resource
	Roles     map[string][]client.ResourceRole // by resource type
	Relations map[string][]client.Relation
}

// loadSchema reads every resource type with its roles and relations (the
// schema is small; the client pages through it).
func (x *dash) loadSchema(r *http.Request, v *viewer) (*schema, error) {
	ctx, c := apiContext(r), v.env()
	s := &schema{Roles: map[string][]client.ResourceRole{}, Relations: map[string][]client.Relation{}}
	var err error
	if s.Resources, err = choices(c.Resources.All(ctx, nil)); err != nil {
		return nil, err
	}
	for _, res := range s.Resources {
		if s.Roles[res.Key], err = choices(c.ResourceRoles.All(ctx, res.Key, nil)); err != nil {
			return nil, err
		}
		if s.Relations[res.Key], err = choices(c.Relations.All(ctx, res.Key, nil)); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *schema) allResourceRoles() []client.ResourceRole {
	var out []client.ResourceRole
	for _, res := range s.Resources {
		out = append(out, s.Roles[res.Key]...)
	}
	return out
}

func (s *schema) allRelations() []client.Relation {
	var out []client.Relation
	for _, res := range s.Resources {
		out = append(out, s.Relations[res.Key]...)
	}
	return out
}
