package httpapi

import (
	"context"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/audit"
)

// AuditFilterQuery are the filters of the audit trail.
type AuditFilterQuery struct {
	ActorType  string    `query:"actor_type" enum:"member,key,system" doc:"Only changes by members, by API keys or by the system."`
	Actor      string    `query:"actor" maxLength:"100" doc:"Only changes by this member or API key (its id)."`
	Action     string    `query:"action" maxLength:"100" pattern:"^[a-z_]+(\\.[a-z_]*)?$" doc:"Only this action (user.updated), or every action on a kind of object (user.)."`
	ObjectType string    `query:"object_type" maxLength:"100" pattern:"^[a-z_]+$" doc:"Only changes of this kind of object: user, tenant, resource, role, role_assignment, api_key, member, project, environment, organization, webhook…"`
	ObjectID   string    `query:"object_id" maxLength:"100" doc:"Only changes of this object (its id)."`
	Since      time.Time `query:"since" doc:"Only changes at or after this time (RFC 3339)."`
	Until      time.Time `query:"until" doc:"Only changes before this time (RFC 3339)."`
}

// filter confines the query to what the caller may see: its organization,
// for project and environment keys their project or environment, and the
// kinds of object its other scopes let it read (audit.VisibleTypes).
func (q AuditFilterQuery) filter(ctx context.Context) audit.Filter {
	p := principal(ctx)
	return audit.Filter{OrgID: p.OrgID, ProjectID: p.ProjectID, EnvID: p.EnvironmentID, ActorType: q.ActorType, ActorID: q.Actor,
		Action: q.Action, ObjectType: q.ObjectType, ObjectID: q.ObjectID, Since: q.Since, Until: q.Until, ObjectTypes: audit.VisibleTypes(p.Scopes)}
}

type listAuditIn struct {
	AuditFilterQuery
	Page    int    `query:"page" default:"1" minimum:"1" maximum:"1000000" doc:"Page number, from 1."`
	PerPage int    `query:"per_page" default:"20" minimum:"1" maximum:"100" doc:"Items per page (max 100)."`
	Cursor  string `query:"cursor" maxLength:"512" doc:"The meta.next_cursor of the previous page, to page by keyset instead of by page number (give one or the other). Send the same filters and order as that page; a cursor of another list, filter or environment is a 400. A page by cursor does not count the list: its meta.total_items and meta.total_pages are -1 and meta.page is 0."`
	Sort    string `query:"sort" default:"timestamp" enum:"timestamp"`
	Order   string `query:"order" default:"desc" enum:"asc,desc" doc:"Newest first by default."`
}

func (h *handlers) auditStore() (audit.Store, error) {
	if h.Audit == nil {
		return nil, gatehouse.Errorf(gatehouse.CodeServiceUnavailable, "the audit trail is not available on this server")
	}
	return h.Audit, nil
}

func (h *handlers) listAudit(ctx context.Context, in *listAuditIn) (*ListOut[audit.AuditEntry], error) {
	st, err := h.auditStore()
	if err != nil {
		return nil, err
	}
	req := gatehouse.PageRequest{Page: in.Page, PerPage: in.PerPage, Sort: in.Sort, Desc: in.Order == "desc", Cursor: in.Cursor, CountUpTo: gatehouse.TotalCap}
	page, err := st.ListAudit(ctx, in.filter(ctx), req)
	if err != nil {
		return nil, err
	}
	return list(ctx, page, req, func(e *audit.AuditEntry) audit.AuditEntry { return *e }), nil
}

type auditRef struct {
	ID string `path:"entry" maxLength:"100" doc:"Audit entry id."`
}

func (h *handlers) getAudit(ctx context.Context, in *auditRef) (*Out[audit.AuditEntry], error) {
	st, err := h.auditStore()
	if err != nil {
		return nil, err
	}
	e, err := st.GetAudit(ctx, AuditFilterQuery{}.filter(ctx), in.ID)
	if err != nil {
		return nil, err
	}
	return ok(ctx, *e), nil
}

type exportAuditIn struct {
	AuditFilterQuery
}

// exportAudit streams the matching entries, oldest first, as JSON Lines.
func (h *handlers) exportAudit(ctx context.Context, in *exportAuditIn) (*huma.StreamResponse, error) {
	st, err := h.auditStore()
	if err != nil {
		return nil, err
	}
	f := in.filter(ctx)
	if f.Until.IsZero() {
		f.Until = time.Now() // a fixed end: what arrives meanwhile is not included
	}
	return jsonLines(h.Log, "audit trail", "gatehouse-audit.jsonl", func(ctx context.Context, emit func(*audit.AuditEntry) error) error {
		return st.ExportAudit(ctx, f, emit)
	}), nil
}
