package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apilog"
)

// LogFilterQuery are the filters of the API log.
type LogFilterQuery struct {
	Actor     string    `query:"actor" doc:"Only calls by this API key id."`
	Status    string    `query:"status" pattern:"^([1-5][0-9][0-9]|[1-5]xx)$" doc:"A status (404) or a status class (4xx)."`
	Method    string    `query:"method" enum:"GET,POST,PATCH,PUT,DELETE,HEAD,OPTIONS"`
	Writes    bool      `query:"writes" doc:"Only calls that may change something: methods other than GET, HEAD and OPTIONS."`
	Path      string    `query:"path" maxLength:"2000" doc:"Only calls whose path starts with this, e.g. /v1/users."`
	RequestID string    `query:"request_id"`
	Since     time.Time `query:"since" doc:"Only calls at or after this time (RFC 3339)."`
	Until     time.Time `query:"until" doc:"Only calls before this time (RFC 3339)."`
}

// filter turns the query into a store filter confined to what the caller
// may see: its organization, and for project and environment keys their
// project or environment.
func (q LogFilterQuery) filter(ctx context.Context) apilog.Filter {
	p := principal(ctx)
	f := apilog.Filter{OrgID: p.OrgID, ProjectID: p.ProjectID, EnvID: p.EnvironmentID, Actor: q.Actor, Method: q.Method, Writes: q.Writes,
		PathPrefix: q.Path, RequestID: q.RequestID, Since: q.Since, Until: q.Until}
	if c, ok := strings.CutSuffix(q.Status, "xx"); ok {
		f.StatusClass, _ = strconv.Atoi(c)
	} else if q.Status != "" {
		f.Status, _ = strconv.Atoi(q.Status)
	}
	return f
}

type listLogsIn struct {
	LogFilterQuery
	Page    int    `query:"page" default:"1" minimum:"1" maximum:"1000000" doc:"Page number, from 1."`
	PerPage int    `query:"per_page" default:"20" minimum:"1" maximum:"100" doc:"Items per page (max 100)."`
	Cursor  string `query:"cursor" maxLength:"512" doc:"The meta.next_cursor of the previous page, to page by keyset instead of by page number (give one or the other). Send the same filters, sort and order as that page; a cursor of another list, sort, filter or environment is a 400. A page by cursor does not count the list: its meta.total_items and meta.total_pages are -1 and meta.page is 0."`
	Sort    string `query:"sort" default:"timestamp" enum:"timestamp,status,latency"`
	Order   string `query:"order" default:"desc" enum:"asc,desc" doc:"Sort direction; newest first by default."`
}

func (h *handlers) apiLog() (apilog.Store, error) {
	if h.APILogStore == nil {
		return nil, gatehouse.Errorf(gatehouse.CodeServiceUnavailable, "the API log is not available on this server")
	}
	return h.APILogStore, nil
}

func (h *handlers) listLogs(ctx context.Context, in *listLogsIn) (*ListOut[apilog.Call], error) {
	st, err := h.apiLog()
	if err != nil {
		return nil, err
	}
	req := gatehouse.PageRequest{Page: in.Page, PerPage: in.PerPage, Sort: in.Sort, Desc: in.Order == "desc", Cursor: in.Cursor, CountUpTo: gatehouse.TotalCap}
	page, err := st.ListAPILog(ctx, in.filter(ctx), req)
	if err != nil {
		return nil, err
	}
	return list(ctx, page, req, func(e *apilog.Call) apilog.Call { return *e }), nil
}

type logRef struct {
	ID string `path:"log" doc:"Log entry id."`
}

func (h *handlers) getLog(ctx context.Context, in *logRef) (*Out[apilog.Call], error) {
	st, err := h.apiLog()
	if err != nil {
		return nil, err
	}
	e, err := st.GetAPILog(ctx, LogFilterQuery{}.filter(ctx), in.ID)
	if err != nil {
		return nil, err
	}
	return ok(ctx, *e), nil
}

type exportLogsIn struct {
	LogFilterQuery
}

// exportLogs streams the matching entries, in full and oldest first, as
// JSON Lines.
func (h *handlers) exportLogs(ctx context.Context, in *exportLogsIn) (*huma.StreamResponse, error) {
	st, err := h.apiLog()
	if err != nil {
		return nil, err
	}
	f := in.filter(ctx)
	if f.Until.IsZero() {
		f.Until = time.Now() // a fixed end: what arrives meanwhile is not included
	}
	return jsonLines(h.Log, "api log", "gatehouse-api-log.jsonl", func(ctx context.Context, emit func(*apilog.Call) error) error {
		return st.ExportAPILog(ctx, f, emit)
	}), nil
}

// jsonLines streams what export emits as JSON Lines, in a file download
// named file. The status is sent before the first line: an export that
// fails on its way ends with a line that says it is cut (and the log says
// why).
func jsonLines[T any](log *slog.Logger, what, file string, export func(context.Context, func(*T) error) error) *huma.StreamResponse {
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		hctx.SetHeader("Content-Type", "application/x-ndjson")
		hctx.SetHeader("Content-Disposition", `attachment; filename="`+file+`"`)
		hctx.SetStatus(200)
		enc := json.NewEncoder(hctx.BodyWriter())
		enc.SetEscapeHTML(false)
		if err := export(hctx.Context(), func(e *T) error { return enc.Encode(e) }); err != nil && hctx.Context().Err() == nil {
			log.Error("export "+what, "request_id", RequestID(hctx.Context()), "err", err)
			_ = enc.Encode(map[string]any{"error": map[string]string{"code": gatehouse.CodeInternal, "message": "the export stopped before its end"}})
		}
	}}
}
