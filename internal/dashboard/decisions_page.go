package dashboard

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// The decision log (issue 18): the recorded checks of the environment,
// filtered as GET /v1/decisions filters them, each with its explanation;
// a denied one links to the playground with its question filled in.

func (x *dash) decisionRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /decisions", x.authed(x.decisions))
}

// decisionFilters are the filters the page takes, as GET /v1/decisions
// names them.
var decisionFilters = []string{"user", "action", "resource", "tenant", "allow", "reason", "source", "role"}

// decisionReasons are the reasons a recorded check may have (the API's enum).
var decisionReasons = []string{"granted", "not_granted", "no_role_in_tenant", "unknown_user", "unknown_tenant", "unknown_resource", "unknown_action", "instance_in_other_tenant"}

type decisionsData struct {
	Items   []decisionRow
	Filters map[string]string
	Reasons []string
	// Next is the address of the next (older) page, "" on the last; First
	// that of the first when this is not it.
	Next, First string
	// LogMode is the environment's decision_log setting ("" unknown).
	LogMode string
	// Check: the viewer may use the playground.
	Check bool
}

// decisionRow is a recorded check with its explanation and, denied, the
// playground's address with it filled in.
type decisionRow struct {
	client.DecisionEntry
	// UserLink is the user's page, its key escaped here (the log's values
	// are whatever a check named).
	Explanation, Play, UserLink string
}

// reasonOf is the engine's reason named s (ok false: a name it does not
// know).
func reasonOf(s string) (authz.Reason, bool) {
	for r := authz.Granted; r <= authz.WrongTenant; r++ {
		if r.String() == s {
			return r, true
		}
	}
	return 0, false
}

// decisionRowOf explains e as the check's answer did.
func decisionRowOf(e client.DecisionEntry) decisionRow {
	row := decisionRow{DecisionEntry: e, UserLink: "/users/" + url.PathEscape(e.User)}
	res := e.ResourceType
	if e.ResourceKey != "" {
		res += ":" + e.ResourceKey
	}
	reason, ok := reasonOf(e.Reason)
	switch {
	// The log does not keep how a check was granted (a tenant role, a role
	// on the instance, a set rule's user set) nor, for a denied check on an
	// instance, all that was looked at: say only what it keeps.
	case ok && reason == authz.Granted && e.ResourceKey != "":
		row.Explanation = fmt.Sprintf("user %q may %s %s, granted by %q in tenant %q (a tenant role, a role on the instance or a user set: the playground shows the path)",
			e.User, e.Action, res, e.Role, e.Tenant)
	case ok && reason == authz.Granted:
		row.Explanation = fmt.Sprintf("user %q may %s %s in tenant %q, granted by %q (a role in the tenant or a set rule's user set: the playground shows the path)",
			e.User, e.Action, res, e.Tenant, e.Role)
	case ok && reason == authz.NotGranted && e.ResourceKey != "":
		row.Explanation = fmt.Sprintf("nothing lets user %q %s %s: no role in tenant %q, no role on the instance and no set rule grants %s:%s",
			e.User, e.Action, res, e.Tenant, e.ResourceType, e.Action)
	case ok:
		d := authz.Decision{Allow: e.Allow, Reason: reason, Role: e.Role, Tenant: e.Tenant}
		row.Explanation = d.Explain(e.User, e.Action, res, e.Tenant)
	default:
		row.Explanation = e.Reason
	}
	q := url.Values{"user": {e.User}, "action": {e.Action}, "resource": {e.ResourceType}}
	if e.ResourceKey != "" {
		q.Set("key", e.ResourceKey)
	}
	if e.Tenant != "" {
		q.Set("tenant", e.Tenant)
	}
	row.Play = "/check?" + q.Encode()
	return row
}

func (x *dash) decisions(w http.ResponseWriter, r *http.Request, v *viewer) {
	if !v.can(gatehouse.ScopeViewLog) {
		x.fail(w, r, http.StatusForbidden, "Your role cannot read the decision log (view:log).")
		return
	}
	d := &decisionsData{Filters: map[string]string{}, Reasons: decisionReasons, Check: v.can(gatehouse.ScopeCheckAccess)}
	p := &page{Title: "Decisions", Section: "decisions", Data: d}
	if x.noEnv(w, r, v, "decisions", p) {
		return
	}
	q := r.URL.Query()
	for _, k := range decisionFilters {
		if val := strings.TrimSpace(q.Get(k)); val != "" {
			d.Filters[k] = val
		}
	}
	f := &client.DecisionFilter{ListOptions: client.ListOptions{PerPage: 50, Cursor: "start"},
		User: d.Filters["user"], Action: d.Filters["action"], Resource: d.Filters["resource"], Tenant: d.Filters["tenant"],
		Reason: d.Filters["reason"], Role: d.Filters["role"], Source: d.Filters["source"]}
	switch d.Filters["allow"] {
	case "true", "false":
		allow := d.Filters["allow"] == "true"
		f.Allow = &allow
	case "":
	default:
		x.render(w, r, http.StatusBadRequest, "decisions", &page{Title: "Decisions", Section: "decisions", Data: d, Error: "allow is true (allowed) or false (denied)."})
		return
	}
	if c := q.Get("cursor"); c != "" {
		f.Cursor = c
		d.First = firstPage(r)
	}
	ctx := apiContext(r)
	if v.can(gatehouse.ScopeViewSettings) {
		if s, err := v.api.Settings.Environment(ctx, v.session.ProjectID, v.session.EnvID); err == nil {
			d.LogMode = s.DecisionLog
		}
	}
	list, err := v.env().Decisions.List(ctx, f)
	if err != nil {
		p.Error = formError(err)
		x.render(w, r, statusOf(err), "decisions", p)
		return
	}
	for _, e := range list.Items {
		d.Items = append(d.Items, decisionRowOf(e))
	}
	if list.Meta.NextCursor != "" {
		nq := r.URL.Query()
		nq.Set("cursor", list.Meta.NextCursor)
		d.Next = r.URL.Path + "?" + nq.Encode()
	}
	x.render(w, r, http.StatusOK, "decisions", p)
}

// firstPage is r's address without its cursor.
func firstPage(r *http.Request) string {
	q := r.URL.Query()
	q.Del("cursor")
	if len(q) == 0 {
		return r.URL.Path
	}
	return r.URL.Path + "?" + q.Encode()
}
