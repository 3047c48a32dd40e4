package dashboard

import (
	"encoding/json"
	"iter"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/internal/audit"
)

// The audit trail page: who changed what, read through GET /v1/audit as
// the signed-in member (scope view:audit), each entry with its object's
// fields before and after, the changed ones marked.

func (x *dash) auditRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /audit", x.authed(x.auditTrail))
	mux.HandleFunc("GET /audit/export", x.authed(x.auditExport))
}

// auditFilter is the page's filter from the query.
func auditFilter(r *http.Request) (*client.AuditFilter, map[string]string) {
	fl := map[string]string{}
	for _, k := range []string{"actor_type", "action", "object_type", "object_id", "actor", "page"} {
		if val := strings.TrimSpace(r.URL.Query().Get(k)); val != "" {
			fl[k] = val
		}
	}
	return &client.AuditFilter{ActorType: fl["actor_type"], Action: fl["action"], ObjectType: fl["object_type"], ObjectID: fl["object_id"], Actor: fl["actor"]}, fl
}

// auditExport downloads the entries the page's filters select, newest
// first, as JSON Lines.
func (x *dash) auditExport(w http.ResponseWriter, r *http.Request, v *viewer) {
	if !v.can(gatehouse.ScopeViewAudit) {
		x.fail(w, r, http.StatusForbidden, "Reading the audit trail needs the view:audit scope (the Admin role has it).")
		return
	}
	f, _ := auditFilter(r)
	f.ListOptions = client.ListOptions{PerPage: 100}
	next, stop := iter.Pull2(v.api.Audit.All(apiContext(r), f))
	defer stop()
	e, err, ok := next()
	if err != nil {
		x.fail(w, r, statusOf(err), errText(err))
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", `attachment; filename="gatehouse-audit.jsonl"`)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for ok {
		if err != nil {
			x.Log.Error("dashboard: audit export", "err", err)
			_ = enc.Encode(map[string]any{"error": map[string]string{"message": "the export stopped before its end"}})
			return
		}
		if enc.Encode(e) != nil {
			return
		}
		e, err, ok = next()
	}
}

// auditObjectTypes are the kinds of object the page filters on.
var auditObjectTypes = []string{"user", "tenant", "resource", "role", "role_assignment", "resource_role", "resource_instance", "relationship_tuple",
	"condition_set", "set_rule", "api_key", "member", "webhook", "project", "environment", "organization"}

// auditRow is one entry as the page shows it.
type auditRow struct {
	client.AuditEntry
	Fields  []audit.Field
	Changed int
	Summary string // what the diff's toggle says
}

// auditData is the audit page's.
type auditData struct {
	Rows        []auditRow
	Filters     map[string]string
	ObjectTypes []string
	Pager       *pager
	Export      string // the download of what the filters select
}

func (x *dash) auditTrail(w http.ResponseWriter, r *http.Request, v *viewer) {
	if !v.can(gatehouse.ScopeViewAudit) {
		x.fail(w, r, http.StatusForbidden, "Reading the audit trail needs the view:audit scope (the Admin role has it).")
		return
	}
	f, filters := auditFilter(r)
	f.ListOptions = client.ListOptions{PerPage: 30, Page: pageOf(r)}
	d := &auditData{Filters: filters, ObjectTypes: auditObjectTypes, Export: "/audit/export"}
	q := r.URL.Query()
	q.Del("page")
	if len(q) > 0 {
		d.Export += "?" + q.Encode()
	}
	entries, err := v.api.Audit.List(apiContext(r), f)
	if err == nil {
		d.Pager = newPager(r, entries.Meta)
		for _, e := range entries.Items {
			row := auditRow{AuditEntry: e, Fields: audit.Diff(e.Before, e.After)}
			for _, fd := range row.Fields {
				if fd.Changed {
					row.Changed++
				}
			}
			row.Summary = auditSummary(&row)
			d.Rows = append(d.Rows, row)
		}
	}
	x.render(w, r, 200, "audit", &page{Title: "Audit trail", Section: "audit", Error: errText(err), Data: d})
}

func auditSummary(r *auditRow) string {
	plural := func(n int, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return strconv.Itoa(n) + " " + many
	}
	switch {
	case len(r.Before) > 0 && len(r.After) > 0:
		return plural(r.Changed, "field changed", "fields changed")
	case strings.HasSuffix(r.Action, ".created"):
		return "Created with " + plural(len(r.Fields), "field", "fields")
	case strings.HasSuffix(r.Action, ".deleted"):
		return "Deleted: what it was"
	}
	return "Details"
}
