package httpapi

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

type listDecisionsIn struct {
	EnvQuery
	Page      int       `query:"page" default:"1" minimum:"1" maximum:"1000000" doc:"Page number, from 1."`
	PerPage   int       `query:"per_page" default:"20" minimum:"1" maximum:"100" doc:"Items per page (max 100)."`
	Cursor    string    `query:"cursor" maxLength:"512" doc:"The meta.next_cursor of the previous page, to page by keyset instead of by page number (give one or the other). Send the same filters, sort and order as that page; a cursor of another list, sort, filter or environment is a 400. A page by cursor does not count the list: its meta.total_items and meta.total_pages are -1 and meta.page is 0."`
	Sort      string    `query:"sort" default:"timestamp" enum:"timestamp,user"`
	Order     string    `query:"order" default:"desc" enum:"asc,desc" doc:"Sort direction; newest first by default."`
	User      string    `query:"user" doc:"Only checks of this user key."`
	Action    string    `query:"action"`
	Resource  string    `query:"resource" doc:"Only checks on this resource type."`
	Tenant    string    `query:"tenant"`
	Allow     string    `query:"allow" enum:"true,false" doc:"Only allowed (true) or denied (false) checks."`
	Reason    string    `query:"reason" enum:"granted,not_granted,no_role_in_tenant,unknown_user,unknown_tenant,unknown_resource,unknown_action,instance_in_other_tenant"`
	Role      string    `query:"role" doc:"Only checks granted by this role."`
	Source    string    `query:"source" enum:"api,pdp" doc:"api: answered by the server; pdp: by a standalone PDP."`
	RequestID string    `query:"request_id" doc:"Only the checks of this API request."`
	Since     time.Time `query:"since" doc:"Only checks at or after this time (RFC 3339)."`
	Until     time.Time `query:"until" doc:"Only checks before this time (RFC 3339)."`
}

// decisionLog returns the log and the environment a call reads it for.
func (h *handlers) decisionLog(ctx context.Context, q EnvQuery) (decision.Store, envRef, error) {
	if h.DecisionLog == nil {
		return nil, envRef{}, gatehouse.Errorf(gatehouse.CodeServiceUnavailable, "the decision log is not available on this server")
	}
	ref, err := h.envRefOf(ctx, q)
	return h.DecisionLog, ref, err
}

func (h *handlers) listDecisions(ctx context.Context, in *listDecisionsIn) (*ListOut[decision.Entry], error) {
	st, ref, err := h.decisionLog(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	f := decision.Filter{OrgID: ref.orgID, EnvID: ref.envID, User: in.User, Action: in.Action, Resource: in.Resource, Tenant: in.Tenant,
		Reason: in.Reason, Role: in.Role, Source: in.Source, RequestID: in.RequestID, Since: in.Since, Until: in.Until}
	if in.Allow != "" {
		allow := in.Allow == "true"
		f.Allow = &allow
	}
	req := gatehouse.PageRequest{Page: in.Page, PerPage: in.PerPage, Sort: in.Sort, Desc: in.Order == "desc", Cursor: in.Cursor, CountUpTo: gatehouse.TotalCap}
	page, err := st.ListDecisions(ctx, f, req)
	if err != nil {
		return nil, err
	}
	return list(ctx, page, req, func(e *decision.Entry) decision.Entry { return *e }), nil
}

type decisionRef struct {
	EnvQuery
	Decision string `path:"decision" doc:"Decision id."`
}

func (h *handlers) getDecision(ctx context.Context, in *decisionRef) (*Out[decision.Entry], error) {
	st, ref, err := h.decisionLog(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	e, err := st.GetDecision(ctx, ref.orgID, ref.envID, in.Decision)
	if err != nil {
		return nil, err
	}
	return ok(ctx, *e), nil
}
