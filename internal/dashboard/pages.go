package dashboard

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/internal/event"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

func (x *dash) routes(mux *http.ServeMux) {
	a := x.authed
	mux.HandleFunc("POST /env", a(x.switchEnv))
	mux.HandleFunc("GET /projects", a(x.projects))
	mux.HandleFunc("POST /projects", a(x.createProject))
	mux.HandleFunc("POST /projects/{project}/environments", a(x.createEnvironment))
	mux.HandleFunc("POST /projects/{project}/delete", a(x.deleteProject))
	mux.HandleFunc("POST /projects/{project}/environments/{environment}/delete", a(x.deleteEnvironment))
	mux.HandleFunc("GET /members", a(x.members))
	mux.HandleFunc("POST /members", a(x.addMember))
	mux.HandleFunc("POST /members/{member}/role", a(x.memberRole))
	mux.HandleFunc("POST /members/{member}/setup-link", a(x.memberSetupLink))
	mux.HandleFunc("POST /members/{member}/delete", a(x.deleteMember))
	mux.HandleFunc("GET /member-roles", a(x.memberRoles))
	mux.HandleFunc("POST /member-roles", a(x.createMemberRole))
	mux.HandleFunc("POST /member-roles/{role}/delete", a(x.deleteMemberRole))
	for _, f := range factPages {
		f := f
		mux.HandleFunc("GET /"+f.path, a(func(w http.ResponseWriter, r *http.Request, v *viewer) { x.factList(w, r, v, f, "") }))
		mux.HandleFunc("POST /"+f.path, a(func(w http.ResponseWriter, r *http.Request, v *viewer) { x.factCreate(w, r, v, f) }))
		mux.HandleFunc("POST /"+f.path+"/{item}/delete", a(func(w http.ResponseWriter, r *http.Request, v *viewer) { x.factDelete(w, r, v, f) }))
	}
	mux.HandleFunc("POST /assignments/delete", a(x.unassign))
	mux.HandleFunc("GET /check", a(x.check))
	mux.HandleFunc("POST /check", a(x.check))
	mux.HandleFunc("GET /keys", a(x.keys))
	mux.HandleFunc("POST /keys", a(x.createKey))
	mux.HandleFunc("POST /keys/{key}/revoke", a(x.revokeKey))
	mux.HandleFunc("GET /logs", a(x.logs))
	mux.HandleFunc("GET /logs/{log}", a(x.logEntry))
	mux.HandleFunc("GET /webhooks", a(x.webhooks))
	mux.HandleFunc("POST /webhooks", a(x.createWebhook))
	mux.HandleFunc("GET /webhooks/{webhook}", a(x.webhook))
	mux.HandleFunc("POST /webhooks/{webhook}/{action}", a(x.webhookAction))
	mux.HandleFunc("GET /webhooks/{webhook}/deliveries/{delivery}", a(x.delivery))
	mux.HandleFunc("POST /webhooks/{webhook}/deliveries/{delivery}/replay", a(x.replay))
	mux.HandleFunc("GET /jobs", a(x.jobs))
	mux.HandleFunc("POST /jobs/export", a(x.startExport))
	mux.HandleFunc("POST /jobs/import", a(x.startImport))
	mux.HandleFunc("GET /jobs/{job}", a(x.job))
	mux.HandleFunc("GET /jobs/{job}/output", a(x.jobOutput))
	mux.HandleFunc("POST /jobs/{job}/cancel", a(x.cancelJob))
	mux.HandleFunc("POST /tasks/{task}/retry", a(x.retryTask))
	mux.HandleFunc("GET /settings", a(x.settings))
	mux.HandleFunc("POST /settings/organization", a(x.saveOrgSettings))
	mux.HandleFunc("POST /settings/environment", a(x.saveEnvSettings))
	mux.HandleFunc("GET /account", a(x.account))
	mux.HandleFunc("POST /account/password", a(x.changePassword))
}

// back redirects to the page a form came from (same origin only).
func back(r *http.Request, def string) string {
	if ref, err := url.Parse(r.Referer()); err == nil && ref.Host == r.Host && strings.HasPrefix(ref.Path, "/") {
		return ref.RequestURI()
	}
	return def
}

// act runs an API write from a form: on success it redirects back with
// flash; on failure it redirects back with the API's message.
func (x *dash) act(w http.ResponseWriter, r *http.Request, err error, to, flash string) bool {
	if err != nil {
		x.redirect(w, r, back(r, to), "⚠ "+formError(err))
		return false
	}
	x.redirect(w, r, back(r, to), flash)
	return true
}

// actResult is act for an answer of x.call.
func (x *dash) actResult(w http.ResponseWriter, r *http.Request, res *result, to, flash string) bool {
	if !res.OK() {
		x.redirect(w, r, back(r, to), "⚠ "+resultError(res))
		return false
	}
	x.redirect(w, r, back(r, to), flash)
	return true
}

// ---- sign in, set up, sign out

func (x *dash) signInPage(w http.ResponseWriter, r *http.Request) {
	if v, _ := x.load(r); v != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	x.render(w, r, 200, "signin", &page{Title: "Sign in", Data: &signInData{Next: safeNext(r.URL.Query().Get("next"))}})
}

// safeNext returns next when it is a path on this site, else "/". It
// refuses anything a browser could read as another origin: a scheme or a
// host, "//" or "/\\" at the start, and control characters or backslashes
// anywhere (browsers drop tabs and newlines, so "/\t/evil.example" would
// become "//evil.example").
func safeNext(next string) string {
	for _, r := range next {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || strings.ContainsFunc(u.Path, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") || strings.HasPrefix(next, "//") {
		return "/"
	}
	return (&url.URL{Path: u.Path, RawQuery: u.RawQuery, Fragment: u.Fragment}).String()
}

// signInData is the sign-in page's: where to go next, and the
// organizations to choose from when the email and password are a member's
// in several.
type signInData struct {
	Next, Email, Password string
	Orgs                  []orgChoice
}

type orgChoice struct{ ID, Name string }

// setupData is the password set-up page's.
type setupData struct{ Email string }

func (x *dash) signIn(w http.ResponseWriter, r *http.Request) {
	email, pw := strings.TrimSpace(r.FormValue("email")), r.FormValue("password")
	data := &signInData{Next: safeNext(r.FormValue("next")), Email: email}
	if x.Limiter != nil {
		// Never unlimited: with the shared store down, this node limits alone.
		if d := x.Limiter.TakeGuarded(r.Context(), ratelimit.Target{Bucket: "ip:signin:" + clientIP(r), Limit: x.SignInLimit}); !d.Allowed {
			w.Header().Set("Retry-After", strconv.Itoa(int(d.RetryAfter.Seconds())+1))
			x.render(w, r, http.StatusTooManyRequests, "signin", &page{Title: "Sign in", Error: "Too many sign-in attempts from your address. Wait a few minutes and try again.", Data: data})
			return
		}
	}
	ms, err := x.Tenancy.Authenticate(r.Context(), email, pw)
	if err != nil {
		x.Log.Error("dashboard: sign in", "err", err)
		x.render(w, r, 500, "signin", &page{Title: "Sign in", Error: "Something went wrong on our side. Try again.", Data: data})
		return
	}
	if org := r.FormValue("organization"); org != "" {
		ms = slices.DeleteFunc(ms, func(m tenancy.Member) bool { return m.OrgID != org })
	}
	switch len(ms) {
	case 0:
		x.render(w, r, http.StatusUnauthorized, "signin", &page{Title: "Sign in", Error: "The email or the password is not right.", Data: data})
		return
	case 1:
	default: // the same email and password in several organizations
		for _, m := range ms {
			if o, err := x.Tenancy.Store.GetOrganization(r.Context(), m.OrgID); err == nil {
				data.Orgs = append(data.Orgs, orgChoice{ID: o.ID, Name: o.Name})
			}
		}
		data.Password = pw
		x.render(w, r, 200, "signin", &page{Title: "Choose an organization", Data: data})
		return
	}
	if err := x.startSession(w, r, &ms[0]); err != nil {
		x.Log.Error("dashboard: start session", "err", err)
		x.render(w, r, 500, "signin", &page{Title: "Sign in", Error: "Something went wrong on our side. Try again.", Data: data})
		return
	}
	http.Redirect(w, r, data.Next, http.StatusSeeOther)
}

func (x *dash) signOut(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil {
		_ = x.Store.DeleteSession(r.Context(), tenancy.TokenHash(c.Value))
	}
	http.SetCookie(w, x.cookie(r, cookieName, "", -1))
	x.redirect(w, r, "/signin", "You are signed out.")
}

func (x *dash) setupPage(w http.ResponseWriter, r *http.Request) {
	m, err := x.Tenancy.SetupMember(r.Context(), r.PathValue("token"))
	if err != nil {
		x.fail(w, r, http.StatusNotFound, gatehouse.ErrorMessage(err))
		return
	}
	x.render(w, r, 200, "setup", &page{Title: "Choose your password", Data: &setupData{Email: m.Email}})
}

func (x *dash) setup(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	m, err := x.Tenancy.SetupMember(r.Context(), token)
	if err != nil {
		x.fail(w, r, http.StatusNotFound, gatehouse.ErrorMessage(err))
		return
	}
	data := &setupData{Email: m.Email}
	pw := r.FormValue("password")
	if pw != r.FormValue("confirm") {
		x.render(w, r, 400, "setup", &page{Title: "Choose your password", Error: "The two passwords differ.", Data: data})
		return
	}
	m, err = x.Tenancy.UseSetupToken(r.Context(), token, pw)
	if err != nil {
		status := 400
		if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
			status = 404
		} else if gatehouse.ErrorCode(err) != gatehouse.CodeInvalidRequest {
			x.Log.Error("dashboard: setup", "err", err)
			status = 500
		}
		x.render(w, r, status, "setup", &page{Title: "Choose your password", Error: gatehouse.ErrorMessage(err), Data: data})
		return
	}
	if err := x.startSession(w, r, m); err != nil {
		x.fail(w, r, 500, "Your password is set, but signing you in failed: sign in now.")
		return
	}
	x.redirect(w, r, "/", "Welcome, "+m.Email+". Your password is set.")
}

// ---- overview and environment

// overviewData is the overview's: how many of each thing the viewer may
// see (nil: not known), and the latest API calls.
type overviewData struct {
	Counts counts
	Calls  []client.Call
}

type counts struct {
	Users, Tenants, Resources, Roles, Assignments, Keys, Calls *int
}

// total is a list's number of items, nil when the list failed.
func total[T any](p *client.Page[T], err error) *int {
	if err != nil {
		return nil
	}
	n := p.Meta.TotalItems
	return &n
}

func (x *dash) overview(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx := apiContext(r)
	d := &overviewData{}
	// The environment is only known once render picks it: pick it now.
	if _, env := x.environments(r, v); env != nil {
		c, one := v.env(), &client.FactListOptions{ListOptions: client.ListOptions{PerPage: 1}}
		if v.can(gatehouse.ScopeViewUser) {
			d.Counts.Users = total(c.Users.List(ctx, one))
		}
		if v.can(gatehouse.ScopeViewTenant) {
			d.Counts.Tenants = total(c.Tenants.List(ctx, one))
		}
		if v.can(gatehouse.ScopeViewResource) {
			d.Counts.Resources = total(c.Resources.List(ctx, one))
		}
		if v.can(gatehouse.ScopeViewRole) {
			d.Counts.Roles = total(c.Roles.List(ctx, one))
		}
		if v.can(gatehouse.ScopeViewRoleAssignment) {
			d.Counts.Assignments = total(c.RoleAssignments.List(ctx, &client.AssignmentFilter{ListOptions: one.ListOptions}))
		}
	}
	if v.can(gatehouse.ScopeManageAPI) {
		d.Counts.Keys = total(v.api.APIKeys.List(ctx, &client.APIKeyListOptions{ListOptions: client.ListOptions{PerPage: 1}, Status: "active"}))
	}
	if v.can(gatehouse.ScopeViewLog) {
		if calls, err := v.api.Logs.List(ctx, &client.LogFilter{ListOptions: client.ListOptions{PerPage: 5}}); err == nil {
			d.Calls, d.Counts.Calls = calls.Items, total(calls, nil)
		}
	}
	x.render(w, r, 200, "overview", &page{Title: "Overview", Section: "overview", Data: d})
}

func (x *dash) switchEnv(w http.ResponseWriter, r *http.Request, v *viewer) {
	envs, _ := x.environments(r, v)
	want := r.FormValue("environment")
	for _, e := range envs {
		if e.EnvID == want {
			v.session.ProjectID, v.session.EnvID = e.ProjectID, e.EnvID
			if err := x.Store.UpdateSession(r.Context(), v.session); err != nil {
				x.fail(w, r, 500, "Switching environments failed. Try again.")
				return
			}
			x.redirect(w, r, back(r, "/"), "Now working in "+e.ProjectName+" / "+e.EnvName+".")
			return
		}
	}
	x.redirect(w, r, back(r, "/"), "⚠ That environment is not yours to open.")
}

// ---- projects and environments

// projectsData is the projects page's: each project with its environments.
type projectsData struct{ Projects []projectRow }

type projectRow struct {
	client.Project
	Environments []client.Environment
}

func (x *dash) projects(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx := apiContext(r)
	d := &projectsData{}
	list, err := v.api.Projects.List(ctx, &client.ListOptions{PerPage: 100})
	if err == nil {
		for _, p := range list.Items {
			row := projectRow{Project: p}
			if envs, err := v.api.Environments.List(ctx, p.ID, &client.ListOptions{PerPage: 100}); err == nil {
				row.Environments = envs.Items
			}
			d.Projects = append(d.Projects, row)
		}
	}
	x.render(w, r, 200, "projects", &page{Title: "Projects", Section: "projects", Error: errText(err), Data: d})
}

func (x *dash) createProject(w http.ResponseWriter, r *http.Request, v *viewer) {
	_, err := v.api.Projects.Create(apiContext(r), client.ProjectInput{Name: r.FormValue("name"), Key: r.FormValue("key")})
	x.act(w, r, err, "/projects", "Project created: it has development and production environments.")
}

func (x *dash) createEnvironment(w http.ResponseWriter, r *http.Request, v *viewer) {
	sandbox := r.FormValue("sandbox") == "on"
	_, err := v.api.Environments.Create(apiContext(r), r.PathValue("project"),
		client.EnvironmentInput{Name: r.FormValue("name"), Key: r.FormValue("key"), Sandbox: &sandbox})
	x.act(w, r, err, "/projects", "Environment created.")
}

func (x *dash) deleteProject(w http.ResponseWriter, r *http.Request, v *viewer) {
	err := v.api.Projects.Delete(apiContext(r), r.PathValue("project"))
	x.act(w, r, err, "/projects", "Project deleted.")
}

func (x *dash) deleteEnvironment(w http.ResponseWriter, r *http.Request, v *viewer) {
	err := v.api.Environments.Delete(apiContext(r), r.PathValue("project"), r.PathValue("environment"))
	x.act(w, r, err, "/projects", "Environment deleted.")
}

// ---- members and member roles

// membersData is the members page's, with a setup link made just now.
type membersData struct {
	Members []client.Member
	Roles   []client.MemberRole
	// Link is a new setup link, shown once, for LinkEmail until
	// LinkExpires; Flash says what was done before it was made.
	Link, LinkEmail, Flash string
	LinkExpires            time.Time
}

func (x *dash) members(w http.ResponseWriter, r *http.Request, v *viewer) {
	x.renderMembers(w, r, v, 200, "", &membersData{})
}

func (x *dash) renderMembers(w http.ResponseWriter, r *http.Request, v *viewer, status int, errMsg string, d *membersData) {
	ctx := apiContext(r)
	members, err := v.api.Members.List(ctx, "", &client.ListOptions{PerPage: 100, Sort: "email"})
	if err == nil {
		d.Members = members.Items
	}
	d.Roles, _ = v.api.MemberRoles.List(ctx)
	if errMsg == "" {
		errMsg = errText(err)
	}
	x.render(w, r, status, "members", &page{Title: "Members", Section: "members", Error: errMsg, Data: d})
}

func (x *dash) addMember(w http.ResponseWriter, r *http.Request, v *viewer) {
	m, err := v.api.Members.Create(apiContext(r), client.MemberInput{Email: r.FormValue("email"), Name: r.FormValue("name"), Role: r.FormValue("role")})
	if err != nil {
		x.renderMembers(w, r, v, statusOf(err), formError(err), &membersData{})
		return
	}
	x.showSetupLink(w, r, v, m.ID, m.Email, "Member added.")
}

func (x *dash) memberSetupLink(w http.ResponseWriter, r *http.Request, v *viewer) {
	x.showSetupLink(w, r, v, r.PathValue("member"), r.FormValue("email"), "")
}

// showSetupLink makes a new setup link for a member and shows it once.
func (x *dash) showSetupLink(w http.ResponseWriter, r *http.Request, v *viewer, id, email, flash string) {
	link, err := v.api.Members.SetupLink(apiContext(r), id)
	if err != nil {
		x.renderMembers(w, r, v, statusOf(err), flashJoin(flash, formError(err)), &membersData{})
		return
	}
	x.renderMembers(w, r, v, 200, "", &membersData{Link: x.base(r) + link.Path, LinkEmail: email, LinkExpires: link.ExpiresAt, Flash: flash})
}

func flashJoin(a, b string) string {
	if a == "" {
		return b
	}
	return a + " " + b
}

func (x *dash) memberRole(w http.ResponseWriter, r *http.Request, v *viewer) {
	_, err := v.api.Members.SetRole(apiContext(r), r.PathValue("member"), r.FormValue("role"))
	x.act(w, r, err, "/members", "Role changed.")
}

func (x *dash) deleteMember(w http.ResponseWriter, r *http.Request, v *viewer) {
	err := v.api.Members.Delete(apiContext(r), r.PathValue("member"))
	x.act(w, r, err, "/members", "Member removed.")
}

// memberRolesData is the member roles page's: the roles, and the scopes a
// new one may hold.
type memberRolesData struct {
	Roles  []client.MemberRole
	Scopes []client.Scope
}

func (x *dash) memberRoles(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx := apiContext(r)
	roles, err := v.api.MemberRoles.List(ctx)
	scopes, _ := v.api.System.Scopes(ctx)
	x.render(w, r, 200, "member_roles", &page{Title: "Roles and permissions", Section: "member-roles", Error: errText(err),
		Data: &memberRolesData{Roles: roles, Scopes: scopes}})
}

func (x *dash) createMemberRole(w http.ResponseWriter, r *http.Request, v *viewer) {
	_ = r.ParseForm()
	_, err := v.api.MemberRoles.Create(apiContext(r), client.MemberRoleInput{Key: r.FormValue("key"), Name: r.FormValue("name"),
		Description: r.FormValue("description"), Scopes: r.Form["scopes"]})
	x.act(w, r, err, "/member-roles", "Role created.")
}

func (x *dash) deleteMemberRole(w http.ResponseWriter, r *http.Request, v *viewer) {
	err := v.api.MemberRoles.Delete(apiContext(r), r.PathValue("role"))
	x.act(w, r, err, "/member-roles", "Role deleted.")
}

// ---- an environment's authorization data

// factPage is one list of an environment's authorization data.
type factPage struct {
	path, title, api string
	filters          []string // query parameters passed through
	body             func(r *http.Request) map[string]any
	view, manage     gatehouse.Scope
}

var factPages = []factPage{
	{path: "users", title: "Users", api: "/v1/users", filters: []string{"search"}, view: gatehouse.ScopeViewUser, manage: gatehouse.ScopeManageUser,
		body: func(r *http.Request) map[string]any {
			return map[string]any{"key": r.FormValue("key"), "email": r.FormValue("email"), "first_name": r.FormValue("first_name"), "last_name": r.FormValue("last_name")}
		}},
	{path: "tenants", title: "Tenants", api: "/v1/tenants", filters: []string{"search"}, view: gatehouse.ScopeViewTenant, manage: gatehouse.ScopeManageTenant,
		body: func(r *http.Request) map[string]any {
			return map[string]any{"key": r.FormValue("key"), "name": r.FormValue("name"), "description": r.FormValue("description")}
		}},
	{path: "resources", title: "Resources", api: "/v1/resources", filters: []string{"search"}, view: gatehouse.ScopeViewResource, manage: gatehouse.ScopeManageResource,
		body: func(r *http.Request) map[string]any {
			return map[string]any{"key": r.FormValue("key"), "name": r.FormValue("name"), "actions": splitList(r.FormValue("actions"))}
		}},
	{path: "roles", title: "Roles", api: "/v1/roles", filters: []string{"search"}, view: gatehouse.ScopeViewRole, manage: gatehouse.ScopeManageRole,
		body: func(r *http.Request) map[string]any {
			_ = r.ParseForm()
			return map[string]any{"key": r.FormValue("key"), "name": r.FormValue("name"), "permissions": r.Form["permissions"], "extends": r.Form["extends"]}
		}},
	{path: "assignments", title: "Role assignments", api: "/v1/role-assignments", filters: []string{"user", "role", "tenant"}, view: gatehouse.ScopeViewRoleAssignment,
		manage: gatehouse.ScopeManageRoleAssignment,
		body: func(r *http.Request) map[string]any {
			return map[string]any{"user": r.FormValue("user"), "role": r.FormValue("role"), "tenant": r.FormValue("tenant")}
		}},
}

func splitList(s string) []string {
	out := []string{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
		out = append(out, f)
	}
	return out
}

func (x *dash) factList(w http.ResponseWriter, r *http.Request, v *viewer, f factPage, errMsg string) {
	_, env := x.environments(r, v)
	d := map[string]any{"manage": v.can(f.manage)}
	p := &page{Title: f.title, Section: f.path, Error: errMsg, Data: d}
	if env == nil {
		p.Error = "There is no environment yet: create a project first."
		x.render(w, r, 200, f.path, p)
		return
	}
	q := envQuery(v)
	pageNo := r.URL.Query().Get("page")
	if pageNo == "" {
		pageNo = "1"
	}
	q.Set("page", pageNo)
	q.Set("per_page", "20")
	filters := map[string]string{}
	for _, k := range f.filters {
		if val := strings.TrimSpace(r.URL.Query().Get(k)); val != "" {
			q.Set(k, val)
			filters[k] = val
		}
	}
	res := x.call(r, v, "GET", f.api, q, nil, "")
	if p.Error == "" {
		p.Error = res.Err()
	}
	d["items"], d["meta"], d["filters"] = res.List(), res.Meta, filters
	d["pager"] = pager(r, res.Meta)
	// What the create forms offer.
	switch f.path {
	case "roles":
		d["permissions"] = x.permissionChoices(r, v)
		d["roles"] = x.call(r, v, "GET", "/v1/roles", withPerPage(envQuery(v), "100"), nil, "").List()
	case "assignments":
		d["roles"] = x.call(r, v, "GET", "/v1/roles", withPerPage(envQuery(v), "100"), nil, "").List()
		d["tenants"] = x.call(r, v, "GET", "/v1/tenants", withPerPage(envQuery(v), "100"), nil, "").List()
	}
	x.render(w, r, 200, f.path, p)
}

func withPerPage(q url.Values, n string) url.Values {
	q.Set("per_page", n)
	return q
}

// permissionChoices are the "resource:action" pairs of the environment.
func (x *dash) permissionChoices(r *http.Request, v *viewer) []string {
	var out []string
	for _, it := range x.call(r, v, "GET", "/v1/resources", withPerPage(envQuery(v), "100"), nil, "").List() {
		res := it.(map[string]any)
		actions, _ := res["actions"].([]any)
		for _, a := range actions {
			out = append(out, str(res["key"])+":"+str(a))
		}
	}
	return out
}

// pager links the previous and next pages of a list.
func pager(r *http.Request, meta map[string]any) map[string]any {
	if meta == nil {
		return nil
	}
	link := func(n float64) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(int(n)))
		return r.URL.Path + "?" + q.Encode()
	}
	pg, _ := meta["page"].(float64)
	out := map[string]any{"page": meta["page"], "pages": meta["total_pages"], "total": meta["total_items"]}
	if meta["has_previous"] == true {
		out["prev"] = link(pg - 1)
	}
	if meta["has_next"] == true {
		out["next"] = link(pg + 1)
	}
	return out
}

func (x *dash) factCreate(w http.ResponseWriter, r *http.Request, v *viewer, f factPage) {
	res := x.call(r, v, "POST", f.api, envQuery(v), f.body(r), "")
	if !res.OK() {
		w.Header().Set("X-Error", "1")
		x.factList(w, r, v, f, resultError(res))
		return
	}
	x.redirect(w, r, "/"+f.path, strings.TrimSuffix(f.title, "s")+" created.")
}

func (x *dash) factDelete(w http.ResponseWriter, r *http.Request, v *viewer, f factPage) {
	res := x.call(r, v, "DELETE", f.api+"/"+url.PathEscape(r.PathValue("item")), envQuery(v), nil, "")
	x.actResult(w, r, res, "/"+f.path, "Deleted.")
}

func (x *dash) unassign(w http.ResponseWriter, r *http.Request, v *viewer) {
	q := envQuery(v)
	q.Set("user", r.FormValue("user"))
	q.Set("role", r.FormValue("role"))
	q.Set("tenant", r.FormValue("tenant"))
	res := x.call(r, v, "DELETE", "/v1/role-assignments", q, nil, "")
	x.actResult(w, r, res, "/assignments", "Role taken away.")
}

// ---- check playground

func (x *dash) check(w http.ResponseWriter, r *http.Request, v *viewer) {
	_, env := x.environments(r, v)
	d := map[string]any{"user": r.FormValue("user"), "action": r.FormValue("action"), "resource": r.FormValue("resource"), "tenant": r.FormValue("tenant")}
	p := &page{Title: "Check playground", Section: "check", Data: d}
	if env == nil {
		p.Error = "There is no environment yet: create a project first."
		x.render(w, r, 200, "check", p)
		return
	}
	q := withPerPage(envQuery(v), "100")
	d["users"] = x.call(r, v, "GET", "/v1/users", q, nil, "").List()
	d["tenants"] = x.call(r, v, "GET", "/v1/tenants", q, nil, "").List()
	d["resources"] = x.call(r, v, "GET", "/v1/resources", q, nil, "").List()
	if r.Method == http.MethodPost {
		body := map[string]any{"user": d["user"], "action": d["action"], "resource": map[string]any{"type": d["resource"], "tenant": d["tenant"]}}
		res := x.call(r, v, "POST", "/v1/allowed", envQuery(v), body, "")
		if res.OK() {
			d["decision"] = res.Map()
		} else {
			p.Error = resultError(res)
		}
		if u, _ := d["user"].(string); u != "" && res.OK() {
			perms := x.call(r, v, "POST", "/v1/user-permissions", envQuery(v), map[string]any{"user": u}, "")
			if perms.OK() {
				d["permissions"] = perms.Data
			}
		}
	}
	x.render(w, r, 200, "check", p)
}

// ---- API keys

// keysData is the API keys page's, with a key created just now.
type keysData struct {
	Keys []client.APIKey
	// Scopes are those the viewer holds: a new key may have them.
	Scopes []client.Scope
	Envs   []envChoice
	// Created is the new key; Token, shown once, and its Claims; Base is
	// this server's address, for the example.
	Created             *client.CreatedAPIKey
	Token, Claims, Base string
}

func (x *dash) keys(w http.ResponseWriter, r *http.Request, v *viewer) {
	x.renderKeys(w, r, v, 200, "", &keysData{})
}

func (x *dash) renderKeys(w http.ResponseWriter, r *http.Request, v *viewer, status int, errMsg string, d *keysData) {
	ctx := apiContext(r)
	keys, err := v.api.APIKeys.List(ctx, &client.APIKeyListOptions{ListOptions: client.ListOptions{PerPage: 50, Sort: "created_at", Desc: true},
		Status: r.URL.Query().Get("status")})
	if err == nil {
		d.Keys = keys.Items
	}
	scopes, _ := v.api.System.Scopes(ctx)
	for _, s := range scopes {
		if v.principal.Scopes.Has(gatehouse.Scope(s.Name)) {
			d.Scopes = append(d.Scopes, s)
		}
	}
	d.Envs, _ = x.environments(r, v)
	if errMsg == "" {
		errMsg = errText(err)
	}
	x.render(w, r, status, "keys", &page{Title: "API keys", Section: "keys", Error: errMsg, Data: d})
}

func (x *dash) createKey(w http.ResponseWriter, r *http.Request, v *viewer) {
	_ = r.ParseForm()
	in := client.APIKeyInput{Name: r.FormValue("name"), Level: r.FormValue("level"), Scopes: r.Form["scopes"]}
	if lvl := r.FormValue("level"); lvl != "organization" {
		if proj, env, ok := strings.Cut(r.FormValue("environment"), "/"); ok {
			in.Project = proj
			if lvl == "environment" {
				in.Environment = env
			}
		}
	}
	k, err := v.api.APIKeys.Create(apiContext(r), in)
	if err != nil {
		x.renderKeys(w, r, v, statusOf(err), formError(err), &keysData{})
		return
	}
	x.renderKeys(w, r, v, 200, "", &keysData{Created: k, Token: k.Token, Claims: decodeClaims(k.Token), Base: x.base(r)})
}

// decodeClaims pretty-prints the claims of a JWT (they are not secret:
// anyone with the token can read them).
func decodeClaims(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return ""
	}
	out, _ := json.MarshalIndent(m, "", "  ")
	return string(out)
}

func (x *dash) revokeKey(w http.ResponseWriter, r *http.Request, v *viewer) {
	_, err := v.api.APIKeys.Revoke(apiContext(r), r.PathValue("key"))
	x.act(w, r, err, "/keys", "Key revoked: it stops working on every node now.")
}

// ---- API log

func (x *dash) logs(w http.ResponseWriter, r *http.Request, v *viewer) {
	q := url.Values{"per_page": {"50"}, "page": {"1"}}
	filters := map[string]string{}
	for _, k := range []string{"status", "method", "path", "actor", "page"} {
		if val := strings.TrimSpace(r.URL.Query().Get(k)); val != "" {
			q.Set(k, val)
			filters[k] = val
		}
	}
	res := x.call(r, v, "GET", "/v1/logs", q, nil, "")
	x.render(w, r, 200, "logs", &page{Title: "API log", Section: "logs", Error: res.Err(),
		Data: map[string]any{"calls": res.List(), "filters": filters, "pager": pager(r, res.Meta)}})
}

func (x *dash) logEntry(w http.ResponseWriter, r *http.Request, v *viewer) {
	res := x.call(r, v, "GET", "/v1/logs/"+url.PathEscape(r.PathValue("log")), nil, nil, "")
	if !res.OK() {
		x.fail(w, r, res.Status, res.Err())
		return
	}
	call := res.Map()
	call["request_pretty"] = prettyJSON(str(call["request_body"]))
	call["response_pretty"] = prettyJSON(str(call["response_body"]))
	x.render(w, r, 200, "log", &page{Title: "API call", Section: "logs", Data: map[string]any{"call": call}})
}

// ---- webhooks

func (x *dash) webhooks(w http.ResponseWriter, r *http.Request, v *viewer) {
	x.renderWebhooks(w, r, v, 200, "", nil)
}

func (x *dash) renderWebhooks(w http.ResponseWriter, r *http.Request, v *viewer, status int, errMsg string, extra map[string]any) {
	res := x.call(r, v, "GET", "/v1/webhooks", url.Values{"per_page": {"100"}}, nil, "")
	d := map[string]any{"webhooks": res.List(), "events": event.Catalog()}
	for k, val := range extra {
		d[k] = val
	}
	if errMsg == "" {
		errMsg = res.Err()
	}
	x.render(w, r, status, "webhooks", &page{Title: "Webhooks", Section: "webhooks", Error: errMsg, Data: d})
}

func (x *dash) createWebhook(w http.ResponseWriter, r *http.Request, v *viewer) {
	_ = r.ParseForm()
	events := r.Form["events"]
	if r.FormValue("all") == "on" {
		events = []string{event.All}
	}
	res := x.call(r, v, "POST", "/v1/webhooks", nil, map[string]any{"url": r.FormValue("url"), "events": events, "description": r.FormValue("description")}, "")
	if !res.OK() {
		x.renderWebhooks(w, r, v, res.Status, resultError(res), nil)
		return
	}
	x.renderWebhooks(w, r, v, 200, "", map[string]any{"created": res.Map(), "secret": res.Map()["secret"]})
}

func (x *dash) webhook(w http.ResponseWriter, r *http.Request, v *viewer) {
	x.renderWebhook(w, r, v, "", nil)
}

func (x *dash) renderWebhook(w http.ResponseWriter, r *http.Request, v *viewer, errMsg string, extra map[string]any) {
	id := url.PathEscape(r.PathValue("webhook"))
	res := x.call(r, v, "GET", "/v1/webhooks/"+id, nil, nil, "")
	if !res.OK() {
		x.fail(w, r, res.Status, res.Err())
		return
	}
	q := url.Values{"per_page": {"25"}, "order": {"desc"}}
	if s := r.URL.Query().Get("status"); s != "" {
		q.Set("status", s)
	}
	ds := x.call(r, v, "GET", "/v1/webhooks/"+id+"/deliveries", q, nil, "")
	d := map[string]any{"webhook": res.Map(), "deliveries": ds.List()}
	for k, val := range extra {
		d[k] = val
	}
	x.render(w, r, 200, "webhook", &page{Title: "Webhook", Section: "webhooks", Error: errMsg, Data: d})
}

func (x *dash) webhookAction(w http.ResponseWriter, r *http.Request, v *viewer) {
	id := url.PathEscape(r.PathValue("webhook"))
	base := "/v1/webhooks/" + id
	switch r.PathValue("action") {
	case "enable", "disable":
		res := x.call(r, v, "PATCH", base, nil, map[string]any{"enabled": r.PathValue("action") == "enable"}, "")
		x.actResult(w, r, res, "/webhooks/"+id, "Webhook "+r.PathValue("action")+"d.")
	case "test":
		res := x.call(r, v, "POST", base+"/test", nil, nil, "")
		x.actResult(w, r, res, "/webhooks/"+id, "Test event sent: it appears below in a moment.")
	case "rotate":
		res := x.call(r, v, "POST", base+"/rotate-secret", nil, map[string]any{"grace_period_seconds": 86400}, "")
		if !res.OK() {
			x.renderWebhook(w, r, v, resultError(res), nil)
			return
		}
		x.renderWebhook(w, r, v, "", map[string]any{"secret": res.Map()["secret"]})
	case "delete":
		res := x.call(r, v, "DELETE", base, nil, nil, "")
		if res.OK() {
			x.redirect(w, r, "/webhooks", "Webhook deleted.")
			return
		}
		x.actResult(w, r, res, "/webhooks", "")
	default:
		x.notFound(w, r)
	}
}

func (x *dash) delivery(w http.ResponseWriter, r *http.Request, v *viewer) {
	res := x.call(r, v, "GET", "/v1/webhooks/"+url.PathEscape(r.PathValue("webhook"))+"/deliveries/"+url.PathEscape(r.PathValue("delivery")), nil, nil, "")
	if !res.OK() {
		x.fail(w, r, res.Status, res.Err())
		return
	}
	d := res.Map()
	payload, _ := json.MarshalIndent(d["payload"], "", "  ")
	d["payload_pretty"] = string(payload)
	x.render(w, r, 200, "delivery", &page{Title: "Delivery", Section: "webhooks", Data: map[string]any{"delivery": d, "webhook_id": r.PathValue("webhook")}})
}

func (x *dash) replay(w http.ResponseWriter, r *http.Request, v *viewer) {
	id := url.PathEscape(r.PathValue("webhook"))
	res := x.call(r, v, "POST", "/v1/webhooks/"+id+"/deliveries/"+url.PathEscape(r.PathValue("delivery"))+"/replay", nil, nil, "")
	x.actResult(w, r, res, "/webhooks/"+id, "Replayed: a new delivery of the same event is on its way.")
}

// ---- jobs and tasks

func (x *dash) jobs(w http.ResponseWriter, r *http.Request, v *viewer) {
	x.renderJobs(w, r, v, 200, "")
}

func (x *dash) renderJobs(w http.ResponseWriter, r *http.Request, v *viewer, status int, errMsg string) {
	res := x.call(r, v, "GET", "/v1/jobs", url.Values{"per_page": {"50"}, "order": {"desc"}}, nil, "")
	if errMsg == "" {
		errMsg = res.Err()
	}
	running := false
	for _, j := range res.List() {
		if st := str(j.(map[string]any)["status"]); st == "queued" || st == "running" {
			running = true
		}
	}
	x.render(w, r, status, "jobs", &page{Title: "Jobs", Section: "jobs", Error: errMsg, Data: map[string]any{"jobs": res.List(), "refresh": running}})
}

func (x *dash) startExport(w http.ResponseWriter, r *http.Request, v *viewer) {
	res := x.call(r, v, "POST", "/v1/jobs", envQuery(v), map[string]any{"type": "export"}, "")
	if res.OK() {
		x.redirect(w, r, "/jobs/"+str(res.Map()["id"]), "Export started.")
		return
	}
	x.renderJobs(w, r, v, res.Status, resultError(res))
}

// startImport forwards the uploaded file to POST /v1/jobs/import, streamed.
func (x *dash) startImport(w http.ResponseWriter, r *http.Request, v *viewer) {
	mr, err := r.MultipartReader()
	if err != nil {
		x.renderJobs(w, r, v, 400, "Choose a file to import.")
		return
	}
	q := envQuery(v)
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			x.renderJobs(w, r, v, 400, "Choose a file to import.")
			return
		}
		if err != nil {
			x.renderJobs(w, r, v, 400, "The upload was cut off: "+err.Error())
			return
		}
		if part.FormName() == "type" {
			b, _ := io.ReadAll(io.LimitReader(part, 100))
			if t := strings.TrimSpace(string(b)); t != "" {
				q.Set("type", t)
			}
			continue
		}
		if part.FormName() != "file" {
			continue
		}
		ctype := "application/x-ndjson"
		if strings.EqualFold(filepath.Ext(part.FileName()), ".csv") {
			ctype = "text/csv"
		} else if mt, _, err := mime.ParseMediaType(part.Header.Get("Content-Type")); err == nil && mt == "text/csv" {
			ctype = "text/csv"
		}
		res := x.call(r, v, "POST", "/v1/jobs/import", q, part, ctype)
		if !res.OK() {
			msg := resultError(res)
			if errs, ok := res.Details["errors"].([]any); ok {
				for i, e := range errs {
					if i == 5 {
						msg += fmt.Sprintf(" … and %d more", len(errs)-5)
						break
					}
					em := e.(map[string]any)
					msg += fmt.Sprintf(" · line %v: %v", em["line"], em["message"])
				}
			}
			x.renderJobs(w, r, v, res.Status, msg)
			return
		}
		x.redirect(w, r, "/jobs/"+str(res.Map()["id"]), "Import started: every row was checked; the batches are being applied.")
		return
	}
}

func (x *dash) job(w http.ResponseWriter, r *http.Request, v *viewer) {
	id := url.PathEscape(r.PathValue("job"))
	res := x.call(r, v, "GET", "/v1/jobs/"+id, nil, nil, "")
	if !res.OK() {
		x.fail(w, r, res.Status, res.Err())
		return
	}
	tasks := x.call(r, v, "GET", "/v1/jobs/"+id+"/tasks", url.Values{"per_page": {"100"}, "page": {pageOf(r)}}, nil, "")
	st := str(res.Map()["status"])
	x.render(w, r, 200, "job", &page{Title: "Job", Section: "jobs", Data: map[string]any{"job": res.Map(), "tasks": tasks.List(),
		"pager": pager(r, tasks.Meta), "refresh": st == "queued" || st == "running"}})
}

func pageOf(r *http.Request) string {
	if p := r.URL.Query().Get("page"); p != "" {
		return p
	}
	return "1"
}

func (x *dash) jobOutput(w http.ResponseWriter, r *http.Request, v *viewer) {
	res := x.call(r, v, "GET", "/v1/jobs/"+url.PathEscape(r.PathValue("job"))+"/output", nil, nil, "")
	if !res.OK() {
		x.fail(w, r, res.Status, res.Err())
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", res.Header.Get("Content-Disposition"))
	_, _ = w.Write(res.Raw)
}

func (x *dash) cancelJob(w http.ResponseWriter, r *http.Request, v *viewer) {
	id := url.PathEscape(r.PathValue("job"))
	res := x.call(r, v, "POST", "/v1/jobs/"+id+"/cancel", nil, nil, "")
	x.actResult(w, r, res, "/jobs/"+id, "Job cancelled.")
}

func (x *dash) retryTask(w http.ResponseWriter, r *http.Request, v *viewer) {
	res := x.call(r, v, "POST", "/v1/tasks/"+url.PathEscape(r.PathValue("task"))+"/retry", nil, nil, "")
	x.actResult(w, r, res, "/jobs", "Task queued again.")
}

// ---- settings and account

// settingsData is the settings page's: the organization's and the current
// environment's (nil when they could not be read), and whether the viewer
// may change them.
type settingsData struct {
	Org    *client.OrgSettings
	Env    *client.EnvSettings
	Manage bool
}

func (x *dash) settings(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx := apiContext(r)
	org, err := v.api.Settings.Organization(ctx)
	_, env := x.environments(r, v)
	d := &settingsData{Org: org, Manage: v.can(gatehouse.ScopeManageSettings)}
	if env != nil {
		d.Env, _ = v.api.Settings.Environment(ctx, env.ProjectID, env.EnvID)
	}
	x.render(w, r, 200, "settings", &page{Title: "Settings", Section: "settings", Error: errText(err), Data: d})
}

func (x *dash) saveOrgSettings(w http.ResponseWriter, r *http.Request, v *viewer) {
	patch := map[string]any{"tier": r.FormValue("tier")}
	if n, err := strconv.Atoi(r.FormValue("log_retention_days")); err == nil {
		patch["log_retention_days"] = n
	}
	_, err := v.api.Settings.UpdateOrganization(apiContext(r), patch)
	x.act(w, r, err, "/settings", "Organization settings saved.")
}

func (x *dash) saveEnvSettings(w http.ResponseWriter, r *http.Request, v *viewer) {
	patch := map[string]any{"decision_log": r.FormValue("decision_log")}
	if f, err := strconv.ParseFloat(r.FormValue("decision_log_sample_rate"), 64); err == nil {
		patch["decision_log_sample_rate"] = f
	}
	_, err := v.api.Settings.UpdateEnvironment(apiContext(r), v.session.ProjectID, v.session.EnvID, patch)
	x.act(w, r, err, "/settings", "Environment settings saved.")
}

func (x *dash) account(w http.ResponseWriter, r *http.Request, v *viewer) {
	x.render(w, r, 200, "account", &page{Title: "Your account", Section: "account"})
}

func (x *dash) changePassword(w http.ResponseWriter, r *http.Request, v *viewer) {
	next := r.FormValue("password")
	if next != r.FormValue("confirm") {
		x.render(w, r, 400, "account", &page{Title: "Your account", Section: "account", Error: "The two new passwords differ."})
		return
	}
	err := x.Tenancy.ChangePassword(r.Context(), v.member.OrgID, v.member.ID, r.FormValue("current"), next)
	if err != nil {
		status := 400
		if gatehouse.ErrorCode(err) != gatehouse.CodeInvalidRequest {
			x.Log.Error("dashboard: change password", "err", err)
			status = 500
		}
		x.render(w, r, status, "account", &page{Title: "Your account", Section: "account", Error: gatehouse.ErrorMessage(err)})
		return
	}
	// A new password ends every session: start this one again.
	if err := x.startSession(w, r, v.member); err != nil {
		x.redirect(w, r, "/signin", "Password changed: sign in again.")
		return
	}
	x.redirect(w, r, "/account", "Password changed. Your other sessions are signed out.")
}

// base is this server's address as the browser sees it.
func (x *dash) base(r *http.Request) string {
	scheme := "http"
	if x.secure(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
