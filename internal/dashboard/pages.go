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

	"github.com/gatehouse-dev/gatehouse"
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
func (x *dash) act(w http.ResponseWriter, r *http.Request, res *result, to, flash string) bool {
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
	x.render(w, r, 200, "signin", &page{Title: "Sign in", Data: map[string]any{"next": safeNext(r.URL.Query().Get("next"))}})
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

func (x *dash) signIn(w http.ResponseWriter, r *http.Request) {
	email, pw := strings.TrimSpace(r.FormValue("email")), r.FormValue("password")
	data := map[string]any{"next": safeNext(r.FormValue("next")), "email": email}
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
		var orgs []map[string]string
		for _, m := range ms {
			if o, err := x.Tenancy.Store.GetOrganization(r.Context(), m.OrgID); err == nil {
				orgs = append(orgs, map[string]string{"id": o.ID, "name": o.Name})
			}
		}
		data["orgs"], data["password"] = orgs, pw
		x.render(w, r, 200, "signin", &page{Title: "Choose an organization", Data: data})
		return
	}
	if err := x.startSession(w, r, &ms[0]); err != nil {
		x.Log.Error("dashboard: start session", "err", err)
		x.render(w, r, 500, "signin", &page{Title: "Sign in", Error: "Something went wrong on our side. Try again.", Data: data})
		return
	}
	http.Redirect(w, r, data["next"].(string), http.StatusSeeOther)
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
	x.render(w, r, 200, "setup", &page{Title: "Choose your password", Data: map[string]any{"email": m.Email}})
}

func (x *dash) setup(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	m, err := x.Tenancy.SetupMember(r.Context(), token)
	if err != nil {
		x.fail(w, r, http.StatusNotFound, gatehouse.ErrorMessage(err))
		return
	}
	data := map[string]any{"email": m.Email}
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

func (x *dash) overview(w http.ResponseWriter, r *http.Request, v *viewer) {
	d := map[string]any{}
	p := &page{Title: "Overview", Section: "overview", Data: d}
	x.render(w, r, 200, "overview", x.withCounts(r, v, p))
}

func (x *dash) withCounts(r *http.Request, v *viewer, p *page) *page {
	// The environment is only known once render picks it: pick it now.
	_, env := x.environments(r, v)
	counts := map[string]any{}
	if env != nil {
		for _, c := range []struct {
			name, path string
			scope      gatehouse.Scope
		}{{"users", "/v1/users", gatehouse.ScopeViewUser}, {"tenants", "/v1/tenants", gatehouse.ScopeViewTenant},
			{"resources", "/v1/resources", gatehouse.ScopeViewResource}, {"roles", "/v1/roles", gatehouse.ScopeViewRole},
			{"assignments", "/v1/role-assignments", gatehouse.ScopeViewRoleAssignment}} {
			if !v.can(c.scope) {
				continue
			}
			q := envQuery(v)
			q.Set("per_page", "1")
			if res := x.call(r, v, "GET", c.path, q, nil, ""); res.OK() {
				counts[c.name] = res.Meta["total_items"]
			}
		}
	}
	if v.can(gatehouse.ScopeManageAPI) {
		if res := x.call(r, v, "GET", "/v1/api-keys", url.Values{"per_page": {"1"}, "status": {"active"}}, nil, ""); res.OK() {
			counts["keys"] = res.Meta["total_items"]
		}
	}
	if v.can(gatehouse.ScopeViewLog) {
		if res := x.call(r, v, "GET", "/v1/logs", url.Values{"per_page": {"5"}}, nil, ""); res.OK() {
			p.Data["calls"] = res.List()
			counts["calls"] = res.Meta["total_items"]
		}
	}
	p.Data["counts"] = counts
	return p
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

func (x *dash) projects(w http.ResponseWriter, r *http.Request, v *viewer) {
	res := x.call(r, v, "GET", "/v1/projects", url.Values{"per_page": {"100"}}, nil, "")
	var projects []map[string]any
	for _, it := range res.List() {
		pm := it.(map[string]any)
		envs := x.call(r, v, "GET", "/v1/projects/"+str(pm["id"])+"/environments", url.Values{"per_page": {"100"}}, nil, "")
		pm["environments"] = envs.List()
		projects = append(projects, pm)
	}
	x.render(w, r, 200, "projects", &page{Title: "Projects", Section: "projects", Error: res.Err(), Data: map[string]any{"projects": projects}})
}

func (x *dash) createProject(w http.ResponseWriter, r *http.Request, v *viewer) {
	res := x.call(r, v, "POST", "/v1/projects", nil, map[string]any{"name": r.FormValue("name"), "key": r.FormValue("key")}, "")
	x.act(w, r, res, "/projects", "Project created: it has development and production environments.")
}

func (x *dash) createEnvironment(w http.ResponseWriter, r *http.Request, v *viewer) {
	body := map[string]any{"name": r.FormValue("name"), "key": r.FormValue("key"), "sandbox": r.FormValue("sandbox") == "on"}
	res := x.call(r, v, "POST", "/v1/projects/"+url.PathEscape(r.PathValue("project"))+"/environments", nil, body, "")
	x.act(w, r, res, "/projects", "Environment created.")
}

func (x *dash) deleteProject(w http.ResponseWriter, r *http.Request, v *viewer) {
	res := x.call(r, v, "DELETE", "/v1/projects/"+url.PathEscape(r.PathValue("project")), nil, nil, "")
	x.act(w, r, res, "/projects", "Project deleted.")
}

func (x *dash) deleteEnvironment(w http.ResponseWriter, r *http.Request, v *viewer) {
	res := x.call(r, v, "DELETE", "/v1/projects/"+url.PathEscape(r.PathValue("project"))+"/environments/"+url.PathEscape(r.PathValue("environment")), nil, nil, "")
	x.act(w, r, res, "/projects", "Environment deleted.")
}

// ---- members and member roles

func (x *dash) members(w http.ResponseWriter, r *http.Request, v *viewer) {
	x.renderMembers(w, r, v, 200, "", nil)
}

func (x *dash) renderMembers(w http.ResponseWriter, r *http.Request, v *viewer, status int, errMsg string, extra map[string]any) {
	res := x.call(r, v, "GET", "/v1/members", url.Values{"per_page": {"100"}, "sort": {"email"}}, nil, "")
	roles := x.call(r, v, "GET", "/v1/member-roles", nil, nil, "")
	d := map[string]any{"members": res.List(), "roles": roles.List()}
	for k, val := range extra {
		d[k] = val
	}
	if errMsg == "" {
		errMsg = res.Err()
	}
	x.render(w, r, status, "members", &page{Title: "Members", Section: "members", Error: errMsg, Data: d})
}

func (x *dash) addMember(w http.ResponseWriter, r *http.Request, v *viewer) {
	res := x.call(r, v, "POST", "/v1/members", nil, map[string]any{"email": r.FormValue("email"), "name": r.FormValue("name"), "role": r.FormValue("role")}, "")
	if !res.OK() {
		x.renderMembers(w, r, v, res.Status, resultError(res), nil)
		return
	}
	x.showSetupLink(w, r, v, str(res.Map()["id"]), str(res.Map()["email"]), "Member added.")
}

func (x *dash) memberSetupLink(w http.ResponseWriter, r *http.Request, v *viewer) {
	x.showSetupLink(w, r, v, r.PathValue("member"), r.FormValue("email"), "")
}

// showSetupLink makes a new setup link for a member and shows it once.
func (x *dash) showSetupLink(w http.ResponseWriter, r *http.Request, v *viewer, id, email, flash string) {
	res := x.call(r, v, "POST", "/v1/members/"+url.PathEscape(id)+"/setup-link", nil, nil, "")
	if !res.OK() {
		x.renderMembers(w, r, v, res.Status, flashJoin(flash, resultError(res)), nil)
		return
	}
	link := x.base(r) + str(res.Map()["path"])
	x.renderMembers(w, r, v, 200, "", map[string]any{"link": link, "link_email": email, "link_expires": res.Map()["expires_at"], "flash": flash})
}

func flashJoin(a, b string) string {
	if a == "" {
		return b
	}
	return a + " " + b
}

func (x *dash) memberRole(w http.ResponseWriter, r *http.Request, v *viewer) {
	res := x.call(r, v, "PATCH", "/v1/members/"+url.PathEscape(r.PathValue("member")), nil, map[string]any{"role": r.FormValue("role")}, "")
	x.act(w, r, res, "/members", "Role changed.")
}

func (x *dash) deleteMember(w http.ResponseWriter, r *http.Request, v *viewer) {
	res := x.call(r, v, "DELETE", "/v1/members/"+url.PathEscape(r.PathValue("member")), nil, nil, "")
	x.act(w, r, res, "/members", "Member removed.")
}

func (x *dash) memberRoles(w http.ResponseWriter, r *http.Request, v *viewer) {
	roles := x.call(r, v, "GET", "/v1/member-roles", nil, nil, "")
	scopes := x.call(r, v, "GET", "/v1/scopes", nil, nil, "")
	x.render(w, r, 200, "member_roles", &page{Title: "Roles and permissions", Section: "member-roles", Error: roles.Err(),
		Data: map[string]any{"roles": roles.List(), "scopes": scopes.List()}})
}

func (x *dash) createMemberRole(w http.ResponseWriter, r *http.Request, v *viewer) {
	_ = r.ParseForm()
	body := map[string]any{"key": r.FormValue("key"), "name": r.FormValue("name"), "description": r.FormValue("description"), "scopes": r.Form["scopes"]}
	res := x.call(r, v, "POST", "/v1/member-roles", nil, body, "")
	x.act(w, r, res, "/member-roles", "Role created.")
}

func (x *dash) deleteMemberRole(w http.ResponseWriter, r *http.Request, v *viewer) {
	res := x.call(r, v, "DELETE", "/v1/member-roles/"+url.PathEscape(r.PathValue("role")), nil, nil, "")
	x.act(w, r, res, "/member-roles", "Role deleted.")
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
	p := &page{Title: f.title, Section: f.path, Error: errMsg, Data: map[string]any{"manage": v.can(f.manage)}}
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
	p.Data["items"], p.Data["meta"], p.Data["filters"] = res.List(), res.Meta, filters
	p.Data["pager"] = pager(r, res.Meta)
	// What the create forms offer.
	switch f.path {
	case "roles":
		p.Data["permissions"] = x.permissionChoices(r, v)
		p.Data["roles"] = x.call(r, v, "GET", "/v1/roles", withPerPage(envQuery(v), "100"), nil, "").List()
	case "assignments":
		p.Data["roles"] = x.call(r, v, "GET", "/v1/roles", withPerPage(envQuery(v), "100"), nil, "").List()
		p.Data["tenants"] = x.call(r, v, "GET", "/v1/tenants", withPerPage(envQuery(v), "100"), nil, "").List()
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
	x.act(w, r, res, "/"+f.path, "Deleted.")
}

func (x *dash) unassign(w http.ResponseWriter, r *http.Request, v *viewer) {
	q := envQuery(v)
	q.Set("user", r.FormValue("user"))
	q.Set("role", r.FormValue("role"))
	q.Set("tenant", r.FormValue("tenant"))
	res := x.call(r, v, "DELETE", "/v1/role-assignments", q, nil, "")
	x.act(w, r, res, "/assignments", "Role taken away.")
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

func (x *dash) keys(w http.ResponseWriter, r *http.Request, v *viewer) {
	x.renderKeys(w, r, v, 200, "", nil)
}

func (x *dash) renderKeys(w http.ResponseWriter, r *http.Request, v *viewer, status int, errMsg string, extra map[string]any) {
	q := url.Values{"per_page": {"50"}, "sort": {"created_at"}, "order": {"desc"}}
	if s := r.URL.Query().Get("status"); s != "" {
		q.Set("status", s)
	}
	res := x.call(r, v, "GET", "/v1/api-keys", q, nil, "")
	scopes := x.call(r, v, "GET", "/v1/scopes", nil, nil, "")
	var held []any
	for _, s := range scopes.List() {
		if v.principal.Scopes.Has(gatehouse.Scope(str(s.(map[string]any)["name"]))) {
			held = append(held, s)
		}
	}
	envs, _ := x.environments(r, v)
	d := map[string]any{"keys": res.List(), "scopes": held, "envs": envs}
	for k, val := range extra {
		d[k] = val
	}
	if errMsg == "" {
		errMsg = res.Err()
	}
	x.render(w, r, status, "keys", &page{Title: "API keys", Section: "keys", Error: errMsg, Data: d})
}

func (x *dash) createKey(w http.ResponseWriter, r *http.Request, v *viewer) {
	_ = r.ParseForm()
	body := map[string]any{"name": r.FormValue("name"), "level": r.FormValue("level"), "scopes": r.Form["scopes"]}
	if lvl := r.FormValue("level"); lvl != "organization" {
		if proj, env, ok := strings.Cut(r.FormValue("environment"), "/"); ok {
			body["project"] = proj
			if lvl == "environment" {
				body["environment"] = env
			}
		}
	}
	res := x.call(r, v, "POST", "/v1/api-keys", nil, body, "")
	if !res.OK() {
		x.renderKeys(w, r, v, res.Status, resultError(res), nil)
		return
	}
	token := str(res.Map()["token"])
	x.renderKeys(w, r, v, 200, "", map[string]any{"created": res.Map(), "token": token, "claims": decodeClaims(token), "base": x.base(r)})
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
	res := x.call(r, v, "POST", "/v1/api-keys/"+url.PathEscape(r.PathValue("key"))+"/revoke", nil, nil, "")
	x.act(w, r, res, "/keys", "Key revoked: it stops working on every node now.")
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

// prettyJSON indents a JSON body; anything else is returned as is.
func prettyJSON(s string) string {
	var v any
	if json.Unmarshal([]byte(s), &v) != nil {
		return s
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return s
	}
	return string(out)
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
		x.act(w, r, res, "/webhooks/"+id, "Webhook "+r.PathValue("action")+"d.")
	case "test":
		res := x.call(r, v, "POST", base+"/test", nil, nil, "")
		x.act(w, r, res, "/webhooks/"+id, "Test event sent: it appears below in a moment.")
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
		x.act(w, r, res, "/webhooks", "")
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
	x.act(w, r, res, "/webhooks/"+id, "Replayed: a new delivery of the same event is on its way.")
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
	x.act(w, r, res, "/jobs/"+id, "Job cancelled.")
}

func (x *dash) retryTask(w http.ResponseWriter, r *http.Request, v *viewer) {
	res := x.call(r, v, "POST", "/v1/tasks/"+url.PathEscape(r.PathValue("task"))+"/retry", nil, nil, "")
	x.act(w, r, res, "/jobs", "Task queued again.")
}

// ---- settings and account

func (x *dash) settings(w http.ResponseWriter, r *http.Request, v *viewer) {
	org := x.call(r, v, "GET", "/v1/settings", nil, nil, "")
	_, env := x.environments(r, v)
	d := map[string]any{"org": org.Map(), "manage": v.can(gatehouse.ScopeManageSettings)}
	if env != nil {
		es := x.call(r, v, "GET", "/v1/projects/"+env.ProjectID+"/environments/"+env.EnvID+"/settings", nil, nil, "")
		d["env"] = es.Map()
	}
	x.render(w, r, 200, "settings", &page{Title: "Settings", Section: "settings", Error: org.Err(), Data: d})
}

func (x *dash) saveOrgSettings(w http.ResponseWriter, r *http.Request, v *viewer) {
	body := map[string]any{"tier": r.FormValue("tier")}
	if n, err := strconv.Atoi(r.FormValue("log_retention_days")); err == nil {
		body["log_retention_days"] = n
	}
	res := x.call(r, v, "PATCH", "/v1/settings", nil, body, "")
	x.act(w, r, res, "/settings", "Organization settings saved.")
}

func (x *dash) saveEnvSettings(w http.ResponseWriter, r *http.Request, v *viewer) {
	body := map[string]any{"decision_log": r.FormValue("decision_log")}
	if f, err := strconv.ParseFloat(r.FormValue("decision_log_sample_rate"), 64); err == nil {
		body["decision_log_sample_rate"] = f
	}
	res := x.call(r, v, "PATCH", "/v1/projects/"+url.PathEscape(v.session.ProjectID)+"/environments/"+url.PathEscape(v.session.EnvID)+"/settings", nil, body, "")
	x.act(w, r, res, "/settings", "Environment settings saved.")
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
