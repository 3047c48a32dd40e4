package dashboard

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client"
)

// The policy editor (issue 18): per resource type, a matrix of roles ×
// actions. Each cell that a role grants itself is a small form that grants
// or revokes that one permission through the v1 API (PATCH of the role's
// permissions, as the member: add_permissions or remove_permissions, which
// the API applies in the write's transaction); app.js makes it optimistic,
// with an undo.
// Grants a role has through the roles it extends are shown, not
// toggleable, with the role they come from; for tenant roles, the actions
// a resource role derived from them gives on instances are shown too.
// Resource roles get the same matrix, one per resource type.

func (x *dash) policyRoutes(mux *http.ServeMux) {
	a := x.authed
	mux.HandleFunc("GET /policy", a(x.policy))
	mux.HandleFunc("POST /policy/roles/{role}", a(x.toggleRolePermission))
	mux.HandleFunc("POST /policy/resources/{resource}/roles/{role}", a(x.toggleResourceRolePermission))
	x.decisionRoutes(mux)
	x.userMoreRoutes(mux)
}

// policyData is the policy editor's.
type policyData struct {
	// Tables are the tenant roles × each resource type's actions;
	// ResourceTables each type's own roles × its actions.
	Tables, ResourceTables []policyTable
	// ManageRoles and ManageResources say whether the cells are forms.
	ManageRoles, ManageResources bool
	// Undo is the change just made without JavaScript, offered back.
	Undo *policyUndo
	// Problems are the parts that could not be read.
	Problems []string
}

type policyTable struct {
	ID, Resource string
	Actions      []string
	Rows         []policyRow
}

type policyRow struct {
	Role, Name string
	// Link is the role's page; Post the address of its cells' forms.
	Link, Post string
	Cells      []policyCell
}

// policyCell is one role × action.
type policyCell struct {
	Action string
	// Value is what the cell's form posts as the permission: resource:action
	// for a tenant role, the action for a resource role.
	Value string
	// Direct: the role grants it itself (the cell toggles it).
	Direct bool
	// From is the role it is inherited from (through extends), if any.
	From string
	// Derived names the resource role, derived from this tenant role, that
	// grants the action on the type's instances.
	Derived string
}

// policyUndo is a change made by a form without JavaScript: the page offers
// the opposite change.
type policyUndo struct {
	// Post is built from the keys (undoFor); Role names the role (and its
	// resource type) for the button.
	Post, Permission, Role string
	// Grant is what the undo does (the change was the opposite).
	Grant         bool
	env, resource string
}

// inheritedFrom returns, for every permission the roles key extends (and
// they, in turn) grant, the nearest role granting it. perms and extends
// are per role key; a cycle is walked once.
func inheritedFrom(key string, perms, extends map[string][]string) map[string]string {
	out := map[string]string{}
	seen := map[string]bool{key: true}
	queue := slices.Clone(extends[key])
	for len(queue) > 0 {
		r := queue[0]
		queue = queue[1:]
		if seen[r] {
			continue
		}
		seen[r] = true
		for _, p := range perms[r] {
			if _, ok := out[p]; !ok {
				out[p] = r
			}
		}
		queue = append(queue, extends[r]...)
	}
	return out
}

// closure is key and every role it extends, directly or not.
func closure(key string, extends map[string][]string) []string {
	out := []string{key}
	seen := map[string]bool{key: true}
	for i := 0; i < len(out); i++ {
		for _, e := range extends[out[i]] {
			if !seen[e] {
				seen[e] = true
				out = append(out, e)
			}
		}
	}
	return out
}

func (x *dash) policy(w http.ResponseWriter, r *http.Request, v *viewer) {
	if !v.can(gatehouse.ScopeViewResource) {
		x.fail(w, r, http.StatusForbidden, "Your role cannot see resource types (view:resource), which the policy editor is made of.")
		return
	}
	d := &policyData{ManageRoles: v.can(gatehouse.ScopeManageRole), ManageResources: v.can(gatehouse.ScopeManageResource)}
	p := &page{Title: "Policy editor", Section: "policy", Data: d}
	if x.noEnv(w, r, v, "policy", p) {
		return
	}
	d.Undo = x.undoOf(w, r, v.session.EnvID)
	ctx, c := apiContext(r), v.env()
	resources, err := choices(c.Resources.All(ctx, nil))
	if err != nil {
		x.fail(w, r, statusOf(err), errText(err))
		return
	}
	// Resource roles per type, for their own tables and for the tenant
	// roles they are derived from.
	resRoles := map[string][]client.ResourceRole{}
	for _, res := range resources {
		rr, err := choices(c.ResourceRoles.All(ctx, res.Key, nil))
		if err != nil {
			d.Problems = append(d.Problems, "the roles of "+res.Key+": "+errText(err))
			continue
		}
		resRoles[res.Key] = rr
	}
	var roles []client.Role
	if v.can(gatehouse.ScopeViewRole) {
		if roles, err = choices(c.Roles.All(ctx, nil)); err != nil {
			d.Problems = append(d.Problems, "the roles: "+errText(err))
		}
	} else {
		d.Problems = append(d.Problems, "the tenant roles (your role cannot see them: view:role)")
	}
	perms, extends := map[string][]string{}, map[string][]string{}
	for _, role := range roles {
		perms[role.Key], extends[role.Key] = role.Permissions, role.Extends
	}
	for _, res := range resources {
		// derived[tenant role][action] is the resource role of res derived
		// from that tenant role which grants the action.
		derived := map[string]map[string]string{}
		rrPerms, rrExt := map[string][]string{}, map[string][]string{}
		for _, rr := range resRoles[res.Key] {
			rrPerms[rr.Key], rrExt[rr.Key] = rr.Permissions, rr.Extends
		}
		for _, rr := range resRoles[res.Key] {
			actions := slices.Clone(rr.Permissions)
			for a := range inheritedFrom(rr.Key, rrPerms, rrExt) {
				actions = append(actions, a)
			}
			for _, g := range rr.GrantedTo {
				if g.OnResource != "__tenant" {
					continue
				}
				if derived[g.Role] == nil {
					derived[g.Role] = map[string]string{}
				}
				for _, a := range actions {
					if _, ok := derived[g.Role][a]; !ok {
						derived[g.Role][a] = rr.Key
					}
				}
			}
		}
		t := policyTable{ID: "policy-" + res.Key, Resource: res.Key, Actions: res.Actions}
		for _, role := range roles {
			from := inheritedFrom(role.Key, perms, extends)
			row := policyRow{Role: role.Key, Name: role.Name, Link: "/roles/" + url.PathEscape(role.Key), Post: "/policy/roles/" + url.PathEscape(role.Key)}
			for _, a := range res.Actions {
				perm := res.Key + ":" + a
				cell := policyCell{Action: a, Value: perm, Direct: slices.Contains(role.Permissions, perm), From: from[perm]}
				if !cell.Direct && cell.From == "" {
					for _, k := range closure(role.Key, extends) {
						if rr, ok := derived[k][a]; ok {
							cell.Derived = rr
							break
						}
					}
				}
				row.Cells = append(row.Cells, cell)
			}
			t.Rows = append(t.Rows, row)
		}
		d.Tables = append(d.Tables, t)
		if len(resRoles[res.Key]) == 0 {
			continue
		}
		rt := policyTable{ID: "policy-" + res.Key + "-roles", Resource: res.Key, Actions: res.Actions}
		for _, rr := range resRoles[res.Key] {
			from := inheritedFrom(rr.Key, rrPerms, rrExt)
			esc := url.PathEscape(res.Key) + "/roles/" + url.PathEscape(rr.Key)
			row := policyRow{Role: rr.Key, Name: rr.Name, Link: "/resources/" + esc, Post: "/policy/resources/" + esc}
			for _, a := range res.Actions {
				row.Cells = append(row.Cells, policyCell{Action: a, Value: a, Direct: slices.Contains(rr.Permissions, a), From: from[a]})
			}
			rt.Rows = append(rt.Rows, row)
		}
		d.ResourceTables = append(d.ResourceTables, rt)
	}
	x.render(w, r, http.StatusOK, "policy", p)
}

// undoCookie carries the change a form made without JavaScript to the page
// the form leads to, which offers the opposite change. It is set by the
// dashboard on the POST (HttpOnly, a minute, like the flash), never read
// from the address: a link cannot make the page draw a form.
const undoCookie = "gatehouse_policy_undo"

// policyKey is what a role's, a resource type's and an action's key may be
// (the API's key pattern); a permission is one or resource:action.
var policyKey = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@|+-]{0,254}$`)

// undoFor is the undo of a change, in env, of role (of resource, for a
// resource role), or nil if a value is not a key: the form's address is
// built here from the keys.
func undoFor(env, resource, role, perm string, grant bool) *policyUndo {
	if !policyKey.MatchString(role) || (resource != "" && !policyKey.MatchString(resource)) {
		return nil
	}
	res, action, ok := strings.Cut(perm, ":")
	switch {
	case resource == "" && (!ok || !policyKey.MatchString(res) || !policyKey.MatchString(action)):
		return nil
	case resource != "" && (ok || !policyKey.MatchString(perm)):
		return nil
	}
	u := &policyUndo{env: env, resource: resource, Role: role, Permission: perm, Grant: grant,
		Post: "/policy/roles/" + url.PathEscape(role)}
	if resource != "" {
		u.Role = role + " of " + resource
		u.Post = "/policy/resources/" + url.PathEscape(resource) + "/roles/" + url.PathEscape(role)
	}
	return u
}

// value is the undo as the cookie keeps it.
func (u *policyUndo) value() string {
	g := "0"
	if u.Grant {
		g = "1"
	}
	return url.Values{"e": {u.env}, "r": {u.resource}, "k": {u.role()}, "p": {u.Permission}, "g": {g}}.Encode()
}

func (u *policyUndo) role() string {
	if u.resource != "" {
		return strings.TrimSuffix(u.Role, " of "+u.resource)
	}
	return u.Role
}

// undoOf takes the undo the last form left for this page (once), if it
// was made in environment env; every value is checked again.
func (x *dash) undoOf(w http.ResponseWriter, r *http.Request, env string) *policyUndo {
	c, err := r.Cookie(undoCookie)
	if err != nil {
		return nil
	}
	http.SetCookie(w, x.cookie(r, undoCookie, "", -1))
	q, err := url.ParseQuery(c.Value)
	if err != nil || q.Get("e") != env || (q.Get("g") != "0" && q.Get("g") != "1") {
		return nil
	}
	return undoFor(env, q.Get("r"), q.Get("k"), q.Get("p"), q.Get("g") == "1")
}

// toggle is a cell's form: the permission and whether to grant or revoke it.
type toggle struct {
	permission string
	grant      bool
}

// toggleOf reads a cell's form; a bad one is answered (400) and nil.
func (x *dash) toggleOf(w http.ResponseWriter, r *http.Request, resourceRole bool) *toggle {
	perm := strings.TrimSpace(r.FormValue("permission"))
	g := r.FormValue("grant")
	msg := ""
	switch {
	case perm == "" || len(perm) > 512:
		msg = "Name the permission to grant or revoke."
	case !resourceRole && (strings.Count(perm, ":") != 1 || strings.HasPrefix(perm, ":") || strings.HasSuffix(perm, ":")):
		msg = "A permission is resource:action, e.g. document:read."
	case resourceRole && strings.Contains(perm, ":"):
		msg = "A resource role grants an action of its resource type, e.g. read."
	case g != "1" && g != "0":
		msg = "Say whether to grant (1) or revoke (0) the permission."
	}
	if msg != "" {
		x.policyAnswer(w, r, http.StatusBadRequest, false, msg)
		return nil
	}
	return &toggle{permission: perm, grant: g == "1"}
}

// changes reports whether t changes a role granting perms (granting what
// is granted, or revoking what is not, changes nothing).
func (t *toggle) changes(perms []string) bool { return slices.Contains(perms, t.permission) != t.grant }

// patch is the one-permission change as the API applies it, in the
// write's transaction (two cells changed at once both land).
func (t *toggle) patch() (add, remove []string) {
	if t.grant {
		return []string{t.permission}, nil
	}
	return nil, []string{t.permission}
}

// mayToggle answers 403 unless the viewer's role may change the roles
// (scope), before reading the form: even a change that would change
// nothing is refused.
func (x *dash) mayToggle(w http.ResponseWriter, r *http.Request, v *viewer, scope gatehouse.Scope) bool {
	if v.can(scope) {
		return true
	}
	x.policyAnswer(w, r, http.StatusForbidden, false, "Your role cannot change roles ("+string(scope)+").")
	return false
}

func (x *dash) toggleRolePermission(w http.ResponseWriter, r *http.Request, v *viewer) {
	if !x.mayToggle(w, r, v, gatehouse.ScopeManageRole) {
		return
	}
	t := x.toggleOf(w, r, false)
	if t == nil {
		return
	}
	ctx, c := apiContext(r), v.env()
	// Read first only to say whether the change changed something (the
	// PATCH applies it to the role as the write finds it).
	before, err := c.Roles.Get(ctx, r.PathValue("role"))
	if err != nil {
		x.policyAnswer(w, r, statusOf(err), false, errText(err))
		return
	}
	add, remove := t.patch()
	role, err := c.Roles.Update(ctx, before.ID, client.RolePatch{AddPermissions: add, RemovePermissions: remove})
	if err != nil {
		x.policyAnswer(w, r, statusOf(err), false, errText(err))
		return
	}
	x.policyDone(w, r, t, t.changes(before.Permissions), v.session.EnvID, "", role.Key, "policy-"+strings.SplitN(t.permission, ":", 2)[0])
}

func (x *dash) toggleResourceRolePermission(w http.ResponseWriter, r *http.Request, v *viewer) {
	if !x.mayToggle(w, r, v, gatehouse.ScopeManageResource) {
		return
	}
	t := x.toggleOf(w, r, true)
	if t == nil {
		return
	}
	ctx, c, res := apiContext(r), v.env(), r.PathValue("resource")
	before, err := c.ResourceRoles.Get(ctx, res, r.PathValue("role"))
	if err != nil {
		x.policyAnswer(w, r, statusOf(err), false, errText(err))
		return
	}
	add, remove := t.patch()
	role, err := c.ResourceRoles.Update(ctx, res, before.ID, client.ResourceRolePatch{AddPermissions: add, RemovePermissions: remove})
	if err != nil {
		x.policyAnswer(w, r, statusOf(err), false, errText(err))
		return
	}
	x.policyDone(w, r, t, t.changes(before.Permissions), v.session.EnvID, res, role.Key, "policy-"+res+"-roles")
}

// policyDone answers a cell's change made: JSON for the page's script, else
// back to the editor at the table, with the change offered to undo (in a
// cookie: the address carries nothing the page draws a form from).
func (x *dash) policyDone(w http.ResponseWriter, r *http.Request, t *toggle, changed bool, env, resource, role, table string) {
	what := "role " + role
	if resource != "" {
		what += " of " + resource
	}
	var msg string
	switch {
	case changed && t.grant:
		msg = "Granted " + t.permission + " to " + what + "."
	case changed:
		msg = "Revoked " + t.permission + " from " + what + "."
	case t.grant:
		msg = "No change: " + what + " already grants " + t.permission + "."
	default:
		msg = "No change: " + what + " does not grant " + t.permission + "."
	}
	if wantsJSON(r) {
		x.policyJSON(w, http.StatusOK, t.grant, changed, msg)
		return
	}
	if !changed {
		x.redirect(w, r, "/policy#"+table, msg)
		return
	}
	if u := undoFor(env, resource, role, t.permission, !t.grant); u != nil {
		http.SetCookie(w, x.cookie(r, undoCookie, u.value(), 60))
	}
	x.redirect(w, r, "/policy#"+table, msg)
}

// policyJSON is the answer to the page's script: changed says whether the
// change changed the role (only then does the page offer to undo it).
func (x *dash) policyJSON(w http.ResponseWriter, st int, granted, changed bool, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(st)
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": st < 300, "granted": granted, "changed": changed, "message": msg})
}

func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// policyAnswer answers a cell's form: JSON to the page's script; without
// it, a failure goes back to the editor with the message.
func (x *dash) policyAnswer(w http.ResponseWriter, r *http.Request, st int, granted bool, msg string) {
	if wantsJSON(r) {
		x.policyJSON(w, st, granted, false, msg)
		return
	}
	if st >= 300 {
		x.redirect(w, r, "/policy", "⚠ "+msg)
		return
	}
	x.redirect(w, r, "/policy", msg)
}
