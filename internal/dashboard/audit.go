package dashboard

import (
	"net/http"
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
}

// auditObjectTypes are the kinds of object the page filters on.
var auditObjectTypes = []string{"user", "tenant", "resource", "role", "role_assignment", "resource_role", "resource_instance", "relationship_tuple",
	"condition_set", "set_rule", "api_key", "member", "webhook", "project", "environment", "organization"}

// auditRow is one entry as the page shows it.
type auditRow struct {
	client.AuditEntry
	Fields  []audit.Field
	Changed int
}

// auditData is the audit page's.
type auditData struct {
	Rows        []auditRow
	Filters     map[string]string
	ObjectTypes []string
	Pager       *pager
}

func (x *dash) auditTrail(w http.ResponseWriter, r *http.Request, v *viewer) {
	if !v.can(gatehouse.ScopeViewAudit) {
		x.fail(w, r, http.StatusForbidden, "Reading the audit trail needs the view:audit scope (the Admin role has it).")
		return
	}
	d := &auditData{Filters: map[string]string{}, ObjectTypes: auditObjectTypes}
	for _, k := range []string{"actor_type", "action", "object_type", "object_id", "actor", "page"} {
		if val := strings.TrimSpace(r.URL.Query().Get(k)); val != "" {
			d.Filters[k] = val
		}
	}
	f := &client.AuditFilter{ListOptions: client.ListOptions{PerPage: 30, Page: pageOf(r)}, ActorType: d.Filters["actor_type"],
		Action: d.Filters["action"], ObjectType: d.Filters["object_type"], ObjectID: d.Filters["object_id"], Actor: d.Filters["actor"]}
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
			d.Rows = append(d.Rows, row)
		}
	}
	x.render(w, r, 200, "audit", &page{Title: "Audit trail", Section: "audit", Error: errText(err), Data: d})
}
