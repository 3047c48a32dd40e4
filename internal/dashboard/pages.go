package dashboard

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
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
	"github.com/gatehouse-dev/gatehouse/internal/audit"
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
		if f.remove != nil {
			mux.HandleFunc("POST /"+f.path+"/{item}/delete", a(func(w http.ResponseWriter, r *http.Request, v *viewer) { x.factDelete(w, r, v, f) }))
		}
	}
	mux.HandleFunc("POST /assignments/delete", a(x.unassign))
	x.fineRoutes(mux)
	x.editRoutes(mux)
	x.policyRoutes(mux) // policy editor, decision log, user page additions (policy.go)
	mux.HandleFunc("GET /check", a(x.check))
	mux.HandleFunc("POST /check", a(x.check))
	mux.HandleFunc("GET /keys", a(x.keys))
	mux.HandleFunc("POST /keys", a(x.createKey))
	mux.HandleFunc("POST /keys/{key}/revoke", a(x.revokeKey))
	mux.HandleFunc("GET /logs", a(x.logs))
	mux.HandleFunc("GET /logs/{log}", a(x.logEntry))
	x.auditRoutes(mux)
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
	mux.HandleFunc("GET /usage", a(x.usagePage))
	mux.HandleFunc("GET /search", a(x.search))
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
	// Provider names the OIDC provider to sign in with ("": none);
	// OIDCChoice: Orgs are for a sign-in with it.
	Provider   string
	OIDCChoice bool
}

type orgChoice struct{ ID, Name string }

// setupData is the password set-up page's.
type setupData struct{ Email string }

func (x *dash) signIn(w http.ResponseWriter, r *http.Request) {
	email, pw := strings.TrimSpace(r.FormValue("email")), r.FormValue("password")
	data := &signInData{Next: safeNext(r.FormValue("next")), Email: email}
	if x.Limiter != nil {
		// Never unlimited: with the shared store down, this node enforces its
		// share.
		if d := x.Limiter.TakeTarget(r.Context(), ratelimit.Target{Bucket: "ip:signin:" + signInClient(r), Limit: x.SignInLimit}); !d.Allowed {
			w.Header().Set("Retry-After", strconv.Itoa(int(d.RetryAfter.Seconds())+1))
			x.render(w, r, http.StatusTooManyRequests, "signin", &page{Title: "Sign in", Error: "Too many sign-in attempts from your address. Wait a few minutes and try again.", Data: data})
			return
		}
	}
	ms, tried, err := x.Tenancy.CheckSignIn(r.Context(), email, pw)
	if err != nil {
		x.Log.Error("dashboard: sign in", "err", err)
		x.render(w, r, 500, "signin", &page{Title: "Sign in", Error: "Something went wrong on our side. Try again.", Data: data})
		return
	}
	if org := r.FormValue("organization"); org != "" {
		// A choice among organizations: the attempt was for that one's
		// member only (none: an organization where the address is no
		// member's).
		notIn := func(m tenancy.Member) bool { return m.OrgID != org }
		ms, tried = slices.DeleteFunc(ms, notIn), slices.DeleteFunc(tried, notIn)
	}
	switch len(ms) {
	case 0:
		// In the trail of the members the password was checked for, if any
		// (never the password), written off the request path: the answer is
		// the same, and as fast, either way.
		x.SignInAudit.add(tenancy.SignInFailure{Members: tried, Method: tenancy.SignInPassword, ClientIP: clientIP(r),
			RequestID: audit.ActorFrom(r.Context()).RequestID})
		x.render(w, r, http.StatusUnauthorized, "signin", &page{Title: "Sign in", Error: "The email or the password is not right.", Data: data})
		return
	case 1:
	default: // the same email and password in several organizations
		for i := range ms {
			if o, err := x.Tenancy.OrganizationOf(r.Context(), &ms[i]); err == nil {
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
		if err := x.Tenancy.EndSession(r.Context(), x.Store, c.Value, clientIP(r)); err != nil {
			x.Log.Error("dashboard: sign out", "err", err)
			if !errors.Is(err, tenancy.ErrSignOutNotRecorded) {
				// The session may still be live: not signed out.
				x.render(w, r, 500, "signin", &page{Title: "Sign in", Error: "Something went wrong on our side and you may still be signed in. Try signing out again.",
					Data: &signInData{Next: "/"}})
				return
			}
		}
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
	m, err = x.Tenancy.UseSetupToken(audit.WithActor(r.Context(), audit.Actor{IP: clientIP(r)}), token, pw) // where from, for the audit trail
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
			if err := x.Tenancy.WorkIn(r.Context(), x.Store, v.session, e.ProjectID, e.EnvID); err != nil {
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
	x.deleted(w, r, err, "/projects", "", "Project deleted, with its environments: the API restores it for 7 days.")
}

func (x *dash) deleteEnvironment(w http.ResponseWriter, r *http.Request, v *viewer) {
	err := v.api.Environments.Delete(apiContext(r), r.PathValue("project"), r.PathValue("environment"))
	x.deleted(w, r, err, "/projects", "", "Environment deleted: the API restores it for 7 days.")
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
	// MailInvites: new setup links are mailed (--smtp-url).
	MailInvites bool
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
	x.inviteOrShow(w, r, v, m.ID, m.Email, "Member added.")
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
	x.deleted(w, r, err, "/members", "", "Member removed, with the keys they made.")
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

// factPage is one list of an environment's authorization data, read and
// written with c, the viewer's client of their environment.
type factPage struct {
	path, title  string
	filters      []string // query parameters passed through
	view, manage gatehouse.Scope
	// list reads a page of items: a slice of the client's type, or nil
	// when there are none.
	list   func(ctx context.Context, c *client.Client, o client.ListOptions, filters map[string]string) (any, client.PageMeta, error)
	create func(ctx context.Context, c *client.Client, r *http.Request) error
	// remove deletes an item by key, with what refers to it when cascade
	// (nil: items are not deleted one by one).
	remove func(ctx context.Context, c *client.Client, key string, cascade bool) error
}

// listed is a page's items for a template (nil when there are none).
func listed[T any](p *client.Page[T], err error) (any, client.PageMeta, error) {
	if err != nil {
		return nil, client.PageMeta{}, err
	}
	if len(p.Items) == 0 {
		return nil, p.Meta, nil
	}
	return p.Items, p.Meta, nil
}

func search(o client.ListOptions, filters map[string]string) *client.FactListOptions {
	return &client.FactListOptions{ListOptions: o, Search: filters["search"]}
}

var factPages = []factPage{
	{path: "users", title: "Users", filters: []string{"search"}, view: gatehouse.ScopeViewUser, manage: gatehouse.ScopeManageUser,
		list: func(ctx context.Context, c *client.Client, o client.ListOptions, f map[string]string) (any, client.PageMeta, error) {
			return listed(c.Users.List(ctx, search(o, f)))
		},
		create: func(ctx context.Context, c *client.Client, r *http.Request) error {
			_, err := c.Users.Create(ctx, client.UserInput{Key: r.FormValue("key"), Email: r.FormValue("email"),
				FirstName: r.FormValue("first_name"), LastName: r.FormValue("last_name")})
			return err
		},
		remove: func(ctx context.Context, c *client.Client, key string, _ bool) error { return c.Users.Delete(ctx, key) }},
	{path: "tenants", title: "Tenants", filters: []string{"search"}, view: gatehouse.ScopeViewTenant, manage: gatehouse.ScopeManageTenant,
		list: func(ctx context.Context, c *client.Client, o client.ListOptions, f map[string]string) (any, client.PageMeta, error) {
			return listed(c.Tenants.List(ctx, search(o, f)))
		},
		create: func(ctx context.Context, c *client.Client, r *http.Request) error {
			_, err := c.Tenants.Create(ctx, client.TenantInput{Key: r.FormValue("key"), Name: r.FormValue("name"), Description: r.FormValue("description")})
			return err
		},
		remove: func(ctx context.Context, c *client.Client, key string, _ bool) error {
			return c.Tenants.Delete(ctx, key)
		}},
	{path: "resources", title: "Resources", filters: []string{"search"}, view: gatehouse.ScopeViewResource, manage: gatehouse.ScopeManageResource,
		list: func(ctx context.Context, c *client.Client, o client.ListOptions, f map[string]string) (any, client.PageMeta, error) {
			return listed(c.Resources.List(ctx, search(o, f)))
		},
		create: func(ctx context.Context, c *client.Client, r *http.Request) error {
			_, err := c.Resources.Create(ctx, client.ResourceInput{Key: r.FormValue("key"), Name: r.FormValue("name"), Actions: splitList(r.FormValue("actions"))})
			return err
		},
		remove: func(ctx context.Context, c *client.Client, key string, cascade bool) error {
			if cascade {
				return c.Resources.DeleteCascade(ctx, key)
			}
			return c.Resources.Delete(ctx, key)
		}},
	{path: "roles", title: "Roles", filters: []string{"search"}, view: gatehouse.ScopeViewRole, manage: gatehouse.ScopeManageRole,
		list: func(ctx context.Context, c *client.Client, o client.ListOptions, f map[string]string) (any, client.PageMeta, error) {
			return listed(c.Roles.List(ctx, search(o, f)))
		},
		create: func(ctx context.Context, c *client.Client, r *http.Request) error {
			_ = r.ParseForm()
			_, err := c.Roles.Create(ctx, client.RoleInput{Key: r.FormValue("key"), Name: r.FormValue("name"),
				Permissions: r.Form["permissions"], Extends: r.Form["extends"]})
			return err
		},
		remove: func(ctx context.Context, c *client.Client, key string, cascade bool) error {
			if cascade {
				return c.Roles.DeleteCascade(ctx, key)
			}
			return c.Roles.Delete(ctx, key)
		}},
	{path: "assignments", title: "Role assignments", filters: []string{"user", "role", "tenant", "resource_instance", "kind"}, view: gatehouse.ScopeViewRoleAssignment,
		manage: gatehouse.ScopeManageRoleAssignment,
		list: func(ctx context.Context, c *client.Client, o client.ListOptions, f map[string]string) (any, client.PageMeta, error) {
			return listed(c.RoleAssignments.List(ctx, &client.AssignmentFilter{ListOptions: o, User: f["user"], Role: f["role"], Tenant: f["tenant"],
				ResourceInstance: f["resource_instance"], Kind: f["kind"]}))
		},
		create: func(ctx context.Context, c *client.Client, r *http.Request) error {
			_, err := c.RoleAssignments.Assign(ctx, r.FormValue("user"), r.FormValue("role"), r.FormValue("tenant"))
			return err
		}},
}

func splitList(s string) []string {
	out := []string{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
		out = append(out, f)
	}
	return out
}

// factData is a list page's: a page of items with its pager and filters,
// and what the create form offers.
type factData struct {
	Manage  bool
	Items   any
	Filters map[string]string
	Pager   *pager
	// Permissions ("resource:action"), Roles and Tenants to choose from.
	Permissions []string
	Roles       []client.Role
	Tenants     []client.Tenant
}

func (x *dash) factList(w http.ResponseWriter, r *http.Request, v *viewer, f factPage, errMsg string) {
	_, env := x.environments(r, v)
	d := &factData{Manage: v.can(f.manage)}
	p := &page{Title: f.title, Section: f.path, Error: errMsg, Data: d}
	if env == nil {
		p.Error = "There is no environment yet: create a project first."
		x.render(w, r, 200, f.path, p)
		return
	}
	ctx, c := apiContext(r), v.env()
	d.Filters = map[string]string{}
	for _, k := range f.filters {
		if val := strings.TrimSpace(r.URL.Query().Get(k)); val != "" {
			d.Filters[k] = val
		}
	}
	items, meta, err := f.list(ctx, c, client.ListOptions{Page: pageOf(r), PerPage: 20}, d.Filters)
	if p.Error == "" {
		p.Error = errText(err)
	}
	d.Items = items
	if err == nil {
		d.Pager = newPager(r, meta)
	}
	// What the create forms offer: every role; tenants are typed, with
	// the first ones suggested.
	switch f.path {
	case "roles":
		d.Permissions = x.permissionChoices(r, v)
		d.Roles, _ = choices(c.Roles.All(ctx, nil))
	case "assignments":
		d.Roles, _ = choices(c.Roles.All(ctx, nil))
		if tenants, err := c.Tenants.List(ctx, suggested); err == nil {
			d.Tenants = tenants.Items
		}
	}
	x.render(w, r, 200, f.path, p)
}

// permissionChoices are the "resource:action" pairs of the environment.
func (x *dash) permissionChoices(r *http.Request, v *viewer) []string {
	var out []string
	resources, err := choices(v.env().Resources.All(apiContext(r), nil))
	if err != nil {
		return nil
	}
	for _, res := range resources {
		for _, a := range res.Actions {
			out = append(out, res.Key+":"+a)
		}
	}
	return out
}

// pageOf is the page a list shows (?page=, else the first).
func pageOf(r *http.Request) int {
	if n, err := strconv.Atoi(r.URL.Query().Get("page")); err == nil && n > 0 {
		return n
	}
	return 1
}

// pager links the previous and next pages of a list.
type pager struct {
	Page, Pages, Total int
	Prev, Next         string
}

func newPager(r *http.Request, meta client.PageMeta) *pager {
	link := func(n int) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(n))
		return r.URL.Path + "?" + q.Encode()
	}
	p := &pager{Page: meta.Page, Pages: meta.TotalPages, Total: meta.TotalItems}
	if meta.HasPrevious {
		p.Prev = link(meta.Page - 1)
	}
	if meta.HasNext {
		p.Next = link(meta.Page + 1)
	}
	return p
}

func (x *dash) factCreate(w http.ResponseWriter, r *http.Request, v *viewer, f factPage) {
	if err := f.create(apiContext(r), v.env(), r); err != nil {
		w.Header().Set("X-Error", "1")
		x.factList(w, r, v, f, formError(err))
		return
	}
	x.redirect(w, r, "/"+f.path, strings.TrimSuffix(f.title, "s")+" created.")
}

func (x *dash) factDelete(w http.ResponseWriter, r *http.Request, v *viewer, f factPage) {
	key := r.PathValue("item")
	err := f.remove(apiContext(r), v.env(), key, r.FormValue("cascade") != "")
	what := map[string]string{"users": "User", "tenants": "Tenant", "resources": "Resource type", "roles": "Role"}[f.path]
	x.deleted(w, r, err, "/"+f.path, "/"+f.path+"/"+url.PathEscape(key)+"/delete", what+" "+key+" deleted.")
}

func (x *dash) unassign(w http.ResponseWriter, r *http.Request, v *viewer) {
	var err error
	if inst := r.FormValue("resource_instance"); inst != "" {
		err = v.env().RoleAssignments.UnassignOnInstance(apiContext(r), r.FormValue("user"), r.FormValue("role"), inst)
	} else {
		err = v.env().RoleAssignments.Unassign(apiContext(r), r.FormValue("user"), r.FormValue("role"), r.FormValue("tenant"))
	}
	x.act(w, r, err, "/assignments", "Role taken away.")
}

// ---- check playground

// checkData is the check playground's: the question, what to choose from,
// and the answer.
type checkData struct {
	User, Action, Resource, Key, Tenant string
	// UserAttributes, ResourceAttributes and Context are JSON objects as
	// typed (attribute rules).
	UserAttributes, ResourceAttributes, Context string
	Form                                        *form
	Users                                       []client.User
	Tenants                                     []client.Tenant
	Resources                                   []client.Resource
	Decision                                    *client.Decision
	// Permissions is everything the user may do, per tenant.
	Permissions []client.TenantPermissions
	// Allowed are the instances of the type the user may do the action on
	// (the first page of POST /v1/allowed/resources), AllowedTotal their
	// number.
	Allowed      []string
	AllowedTotal int
}

func (x *dash) check(w http.ResponseWriter, r *http.Request, v *viewer) {
	_, env := x.environments(r, v)
	f := newForm(r, "user", "action", "resource", "key", "tenant", "user_attributes", "resource_attributes", "context")
	d := &checkData{User: f.Val("user"), Action: f.Val("action"), Resource: f.Val("resource"), Key: f.Val("key"), Tenant: f.Val("tenant"),
		UserAttributes: f.Val("user_attributes"), ResourceAttributes: f.Val("resource_attributes"), Context: f.Val("context"), Form: f}
	p := &page{Title: "Check playground", Section: "check", Data: d}
	if env == nil {
		p.Error = "There is no environment yet: create a project first."
		x.render(w, r, 200, "check", p)
		return
	}
	ctx, c := apiContext(r), v.env()
	// Users and tenants are typed, the first ones suggested; every
	// resource type is a choice.
	if users, err := c.Users.List(ctx, suggested); err == nil {
		d.Users = users.Items
	}
	if tenants, err := c.Tenants.List(ctx, suggested); err == nil {
		d.Tenants = tenants.Items
	}
	d.Resources, _ = choices(c.Resources.All(ctx, nil))
	st := http.StatusOK
	if r.Method == http.MethodPost {
		check := client.Check{User: d.User, UserAttributes: f.object("user_attributes"), Action: d.Action,
			Resource: client.CheckResource{Type: d.Resource, Key: d.Key, Tenant: d.Tenant, Attributes: f.object("resource_attributes")},
			Context:  f.object("context")}
		if f.Failed() {
			p.Error, st = "Not checked: check the marked fields.", http.StatusBadRequest
			x.render(w, r, st, "check", p)
			return
		}
		dec, err := c.Checks.Allowed(ctx, check)
		if err != nil {
			p.Error, st = formError(err), statusOf(err)
		} else {
			d.Decision = dec
			if d.User != "" {
				if perms, err := c.Checks.UserPermissions(drawing(ctx), d.User); err == nil {
					d.Permissions = perms
				}
				if keys, err := c.Checks.AllowedResources(drawing(ctx), client.ResourcesLookup{User: d.User, UserAttributes: check.UserAttributes,
					Action: d.Action, Type: d.Resource, Tenant: d.Tenant, Context: check.Context}, &client.LookupOptions{PerPage: 50}); err == nil {
					d.Allowed, d.AllowedTotal = keys.Items, keys.Meta.TotalItems
				}
			}
		}
	}
	x.render(w, r, st, "check", p)
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
	// Region is the organization's region ("" none) and APIURL the URL to
	// give SDKs as apiUrl.
	Region, APIURL string
}

func (x *dash) keys(w http.ResponseWriter, r *http.Request, v *viewer) {
	x.renderKeys(w, r, v, 200, "", &keysData{})
}

func (x *dash) renderKeys(w http.ResponseWriter, r *http.Request, v *viewer, status int, errMsg string, d *keysData) {
	ctx := apiContext(r)
	d.Region, d.APIURL = x.Region, x.RegionURL
	if d.APIURL == "" {
		d.APIURL = x.base(r)
	}
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

// logsData is the API log page's.
type logsData struct {
	Calls   []client.Call
	Filters map[string]string
	Pager   *pager
}

func (x *dash) logs(w http.ResponseWriter, r *http.Request, v *viewer) {
	d := &logsData{Filters: map[string]string{}}
	for _, k := range []string{"status", "method", "path", "actor", "request_id", "page"} {
		if val := strings.TrimSpace(r.URL.Query().Get(k)); val != "" {
			d.Filters[k] = val
		}
	}
	f := &client.LogFilter{ListOptions: client.ListOptions{PerPage: 50, Page: pageOf(r)},
		Status: d.Filters["status"], Method: d.Filters["method"], Path: d.Filters["path"], Actor: d.Filters["actor"], RequestID: d.Filters["request_id"]}
	calls, err := v.api.Logs.List(apiContext(r), f)
	if err == nil {
		d.Calls, d.Pager = calls.Items, newPager(r, calls.Meta)
	}
	x.render(w, r, 200, "logs", &page{Title: "API log", Section: "logs", Error: errText(err), Data: d})
}

// logData is an API call's page: the call, with its bodies indented.
type logData struct {
	Call                          *client.Call
	RequestPretty, ResponsePretty string
}

func (x *dash) logEntry(w http.ResponseWriter, r *http.Request, v *viewer) {
	call, err := v.api.Logs.Get(apiContext(r), r.PathValue("log"))
	if err != nil {
		x.fail(w, r, statusOf(err), errText(err))
		return
	}
	x.render(w, r, 200, "log", &page{Title: "API call", Section: "logs",
		Data: &logData{Call: call, RequestPretty: prettyJSON(call.RequestBody), ResponsePretty: prettyJSON(call.ResponseBody)}})
}

// ---- webhooks

// webhooksData is the webhooks page's, with the secret of an endpoint
// registered just now.
type webhooksData struct {
	Webhooks []client.Webhook
	Events   []event.Info
	Secret   string
}

func (x *dash) webhooks(w http.ResponseWriter, r *http.Request, v *viewer) {
	x.renderWebhooks(w, r, v, 200, "", "")
}

func (x *dash) renderWebhooks(w http.ResponseWriter, r *http.Request, v *viewer, status int, errMsg, secret string) {
	d := &webhooksData{Events: event.Catalog(), Secret: secret}
	hooks, err := v.api.Webhooks.List(apiContext(r), &client.ListOptions{PerPage: 100})
	if err == nil {
		d.Webhooks = hooks.Items
	}
	if errMsg == "" {
		errMsg = errText(err)
	}
	x.render(w, r, status, "webhooks", &page{Title: "Webhooks", Section: "webhooks", Error: errMsg, Data: d})
}

func (x *dash) createWebhook(w http.ResponseWriter, r *http.Request, v *viewer) {
	_ = r.ParseForm()
	events := r.Form["events"]
	if r.FormValue("all") == "on" {
		events = []string{event.All}
	}
	hook, err := v.api.Webhooks.Create(apiContext(r), client.WebhookInput{URL: r.FormValue("url"), Events: events, Description: r.FormValue("description")})
	if err != nil {
		x.renderWebhooks(w, r, v, statusOf(err), formError(err), "")
		return
	}
	x.renderWebhooks(w, r, v, 200, "", hook.Secret)
}

// webhookData is an endpoint's page, with a secret made just now, and
// its edit form (Checked: the events ticked).
type webhookData struct {
	Webhook    *client.Webhook
	Deliveries []client.Delivery
	Secret     string
	Events     []event.Info
	Form       *form
	Checked    map[string]bool
}

func (x *dash) webhook(w http.ResponseWriter, r *http.Request, v *viewer) {
	x.renderWebhook(w, r, v, "", "")
}

func (x *dash) renderWebhook(w http.ResponseWriter, r *http.Request, v *viewer, errMsg, secret string) {
	x.renderWebhookPage(w, r, v, http.StatusOK, errMsg, secret, nil, nil)
}

// renderWebhookForm draws an endpoint's page with its edit form as
// submitted.
func (x *dash) renderWebhookForm(w http.ResponseWriter, r *http.Request, v *viewer, st int, errMsg string, f *form, checked map[string]bool) {
	x.renderWebhookPage(w, r, v, st, errMsg, "", f, checked)
}

func (x *dash) renderWebhookPage(w http.ResponseWriter, r *http.Request, v *viewer, st int, errMsg, secret string, f *form, checked map[string]bool) {
	ctx, id := apiContext(r), r.PathValue("webhook")
	hook, err := v.api.Webhooks.Get(ctx, id)
	if err != nil {
		x.fail(w, r, statusOf(err), errText(err))
		return
	}
	d := &webhookData{Webhook: hook, Secret: secret, Events: event.Catalog(), Form: f, Checked: checked}
	if d.Form == nil {
		d.Form, d.Checked = webhookForm(hook)
	}
	if ds, err := v.api.Webhooks.Deliveries(ctx, id, r.URL.Query().Get("status"), &client.ListOptions{PerPage: 25, Desc: true}); err == nil {
		d.Deliveries = ds.Items
	}
	x.render(w, r, st, "webhook", &page{Title: "Webhook", Section: "webhooks", Error: errMsg, Data: d})
}

func (x *dash) webhookAction(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx, id := apiContext(r), r.PathValue("webhook")
	here := "/webhooks/" + url.PathEscape(id)
	switch r.PathValue("action") {
	case "enable", "disable":
		_, err := v.api.Webhooks.SetEnabled(ctx, id, r.PathValue("action") == "enable")
		x.act(w, r, err, here, "Webhook "+r.PathValue("action")+"d.")
	case "test":
		_, err := v.api.Webhooks.Test(ctx, id)
		x.act(w, r, err, here, "Test event sent: it appears below in a moment.")
	case "rotate":
		hook, err := v.api.Webhooks.RotateSecret(ctx, id, 24*time.Hour)
		if err != nil {
			x.renderWebhook(w, r, v, formError(err), "")
			return
		}
		x.renderWebhook(w, r, v, "", hook.Secret)
	case "delete":
		x.deleted(w, r, v.api.Webhooks.Delete(ctx, id), "/webhooks", "", "Webhook deleted, with its deliveries.")
	default:
		x.notFound(w, r)
	}
}

// deliveryData is a delivery's page: the delivery, with its body indented.
type deliveryData struct {
	Delivery                 *client.Delivery
	PayloadPretty, WebhookID string
}

func (x *dash) delivery(w http.ResponseWriter, r *http.Request, v *viewer) {
	d, err := v.api.Webhooks.Delivery(apiContext(r), r.PathValue("webhook"), r.PathValue("delivery"))
	if err != nil {
		x.fail(w, r, statusOf(err), errText(err))
		return
	}
	payload := "null"
	if len(d.Payload) > 0 {
		payload = prettyJSON(string(d.Payload))
	}
	x.render(w, r, 200, "delivery", &page{Title: "Delivery", Section: "webhooks",
		Data: &deliveryData{Delivery: d, PayloadPretty: payload, WebhookID: r.PathValue("webhook")}})
}

func (x *dash) replay(w http.ResponseWriter, r *http.Request, v *viewer) {
	id := r.PathValue("webhook")
	_, err := v.api.Webhooks.Replay(apiContext(r), id, r.PathValue("delivery"))
	x.act(w, r, err, "/webhooks/"+url.PathEscape(id), "Replayed: a new delivery of the same event is on its way.")
}

// ---- jobs and tasks

// jobsData is the jobs page's; Refresh while one is still to end.
type jobsData struct {
	Jobs    []client.Job
	Refresh bool
}

func (x *dash) jobs(w http.ResponseWriter, r *http.Request, v *viewer) {
	x.renderJobs(w, r, v, 200, "")
}

func (x *dash) renderJobs(w http.ResponseWriter, r *http.Request, v *viewer, status int, errMsg string) {
	d := &jobsData{}
	jobs, err := v.api.Jobs.List(apiContext(r), &client.JobFilter{ListOptions: client.ListOptions{PerPage: 50, Desc: true}})
	if errMsg == "" {
		errMsg = errText(err)
	}
	if err == nil {
		d.Jobs = jobs.Items
	}
	for _, j := range d.Jobs {
		if j.Status == "queued" || j.Status == "running" {
			d.Refresh = true
		}
	}
	x.render(w, r, status, "jobs", &page{Title: "Jobs", Section: "jobs", Error: errMsg, Data: d})
}

func (x *dash) startExport(w http.ResponseWriter, r *http.Request, v *viewer) {
	job, err := v.env().Jobs.Export(apiContext(r))
	if err == nil {
		x.redirect(w, r, "/jobs/"+job.ID, "Export started.")
		return
	}
	x.renderJobs(w, r, v, statusOf(err), formError(err))
}

// startImport forwards the uploaded file to POST /v1/jobs/import, streamed.
func (x *dash) startImport(w http.ResponseWriter, r *http.Request, v *viewer) {
	mr, err := r.MultipartReader()
	if err != nil {
		x.renderJobs(w, r, v, 400, "Choose a file to import.")
		return
	}
	var opt client.ImportOptions
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
				opt.Type = t
			}
			continue
		}
		if part.FormName() != "file" {
			continue
		}
		if strings.EqualFold(filepath.Ext(part.FileName()), ".csv") {
			opt.Format = "csv"
		} else if mt, _, err := mime.ParseMediaType(part.Header.Get("Content-Type")); err == nil && mt == "text/csv" {
			opt.Format = "csv"
		}
		job, err := v.env().Jobs.Import(apiContext(r), part, opt)
		if err != nil {
			x.renderJobs(w, r, v, statusOf(err), importError(err))
			return
		}
		x.redirect(w, r, "/jobs/"+job.ID, "Import started: every row was checked; the batches are being applied.")
		return
	}
}

// importError is the message of a refused import, with its first bad rows.
func importError(err error) string {
	msg := formError(err)
	var e *client.Error
	if !errors.As(err, &e) {
		return msg
	}
	if errs, ok := e.Details["errors"].([]any); ok {
		for i, re := range errs {
			if i == 5 {
				msg += fmt.Sprintf(" … and %d more", len(errs)-5)
				break
			}
			row, _ := re.(map[string]any)
			msg += fmt.Sprintf(" · line %v: %v", row["line"], row["message"])
		}
	}
	return msg
}

// jobData is a job's page: the job, a page of its tasks, and Refresh
// while it is still to end.
type jobData struct {
	Job     *client.Job
	Tasks   []client.Task
	Pager   *pager
	Refresh bool
}

func (x *dash) job(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx, id := apiContext(r), r.PathValue("job")
	job, err := v.api.Jobs.Get(ctx, id)
	if err != nil {
		x.fail(w, r, statusOf(err), errText(err))
		return
	}
	d := &jobData{Job: job, Refresh: job.Status == "queued" || job.Status == "running"}
	if tasks, err := v.api.Jobs.Tasks(ctx, id, &client.ListOptions{PerPage: 100, Page: pageOf(r)}); err == nil {
		d.Tasks, d.Pager = tasks.Items, newPager(r, tasks.Meta)
	}
	x.render(w, r, 200, "job", &page{Title: "Job", Section: "jobs", Data: d})
}

func (x *dash) jobOutput(w http.ResponseWriter, r *http.Request, v *viewer) {
	out, err := v.api.Jobs.Download(apiContext(r), r.PathValue("job"))
	if err != nil {
		x.fail(w, r, statusOf(err), errText(err))
		return
	}
	defer out.Body.Close()
	w.Header().Set("Content-Type", "application/x-ndjson")
	if out.Filename != "" {
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", out.Filename))
	}
	_, _ = io.Copy(w, out.Body)
}

func (x *dash) cancelJob(w http.ResponseWriter, r *http.Request, v *viewer) {
	id := r.PathValue("job")
	_, err := v.api.Jobs.Cancel(apiContext(r), id)
	x.act(w, r, err, "/jobs/"+url.PathEscape(id), "Job cancelled.")
}

func (x *dash) retryTask(w http.ResponseWriter, r *http.Request, v *viewer) {
	_, err := v.api.Tasks.Retry(apiContext(r), r.PathValue("task"))
	x.act(w, r, err, "/jobs", "Task queued again.")
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
	if r.FormValue("api_log_checks_shown") != "" { // an unchecked box sends nothing
		patch["api_log_checks"] = r.FormValue("api_log_checks") != ""
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
	err := x.Tenancy.ChangePassword(audit.WithActor(r.Context(), audit.Actor{IP: clientIP(r)}), v.member.OrgID, v.member.ID, r.FormValue("current"), next)
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

// base is this server's address: the configured public URL, else as the
// browser sees it.
func (x *dash) base(r *http.Request) string {
	if x.PublicURL != "" {
		return strings.TrimRight(x.PublicURL, "/")
	}
	scheme := "http"
	if x.secure(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
