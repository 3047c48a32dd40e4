package httpapi

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/status"
)

// StatusPage is the instance's status: public, with no tenant data.
type StatusPage struct {
	State      string               `json:"state" enum:"operational,degraded,down" doc:"The worst current state of any component."`
	UpdatedAt  *time.Time           `json:"updated_at,omitempty" doc:"When the components were last sampled (every minute)."`
	Components []StatusComponent    `json:"components"`
	Open       []status.IncidentOut `json:"open_incidents" doc:"Incidents not yet resolved, newest first."`
	Recent     []status.IncidentOut `json:"recent_incidents" doc:"Incidents resolved in the last 90 days (at most 20), newest first."`
}

// StatusComponent is one component of the status page.
type StatusComponent struct {
	Name      string      `json:"name" enum:"api,checks,database,redis,queue,webhooks"`
	Title     string      `json:"title"`
	State     string      `json:"state" enum:"operational,degraded,down"`
	Note      string      `json:"note,omitempty" doc:"Why it is not operational, in a fixed phrase."`
	Since     time.Time   `json:"since" doc:"When it entered its state."`
	CheckedAt time.Time   `json:"checked_at"`
	Uptime    *float64    `json:"uptime_90d" doc:"Fraction (0 to 1) of the samples of the last 90 days in which it was not down (degraded counts as up); null without samples."`
	Days      []StatusDay `json:"days" doc:"The last 90 UTC days, oldest first, today (partial) last."`
}

// StatusDay is a component's samples of one UTC day.
type StatusDay struct {
	Day      string   `json:"day" format:"date"`
	Uptime   *float64 `json:"uptime" doc:"Fraction of the day's samples not down; null for a day without samples."`
	Up       int64    `json:"operational"`
	Degraded int64    `json:"degraded"`
	Down     int64    `json:"down"`
}

func fraction(v float64) *float64 {
	if v < 0 {
		return nil
	}
	return &v
}

func incidentsOut(ins []status.Incident) []status.IncidentOut {
	out := []status.IncidentOut{}
	for i := range ins {
		out = append(out, status.IncidentData(&ins[i]))
	}
	return out
}

func (h *handlers) getStatus(ctx context.Context, _ *struct{}) (*Out[StatusPage], error) {
	o, err := h.Status.Overview(ctx)
	if err != nil {
		return nil, err
	}
	out := StatusPage{State: o.State, Components: []StatusComponent{}, Open: incidentsOut(o.Open), Recent: incidentsOut(o.Recent)}
	if !o.UpdatedAt.IsZero() {
		out.UpdatedAt = &o.UpdatedAt
	}
	for _, c := range o.Components {
		sc := StatusComponent{Name: c.Name, Title: c.Title, State: c.State, Note: c.Note, Since: c.Since, CheckedAt: c.CheckedAt,
			Uptime: fraction(c.Uptime), Days: []StatusDay{}}
		for _, d := range c.Days {
			sc.Days = append(sc.Days, StatusDay{Day: d.Day, Uptime: fraction(d.Uptime()), Up: d.Up, Degraded: d.Degraded, Down: d.Down})
		}
		out.Components = append(out.Components, sc)
	}
	return ok(ctx, out), nil
}

type listIncidentsIn struct {
	Page    int    `query:"page" default:"1" minimum:"1" maximum:"1000000" doc:"Page number, from 1."`
	PerPage int    `query:"per_page" default:"20" minimum:"1" maximum:"100" doc:"Items per page (max 100)."`
	State   string `query:"state" enum:"open,resolved" doc:"Only open or only resolved incidents; both when omitted."`
}

func (h *handlers) listIncidents(ctx context.Context, in *listIncidentsIn) (*ListOut[status.IncidentOut], error) {
	var f status.IncidentFilter
	if in.State != "" {
		open := in.State == "open"
		f.Open = &open
	}
	req := gatehouse.PageRequest{Page: in.Page, PerPage: in.PerPage}
	page, err := h.Status.Incidents(ctx, f, req)
	if err != nil {
		return nil, err
	}
	return list(ctx, page, req, status.IncidentData), nil
}

type IncidentPath struct {
	Incident string `path:"incident" doc:"Incident id."`
}

func (h *handlers) getIncident(ctx context.Context, in *IncidentPath) (*Out[status.IncidentOut], error) {
	inc, err := h.Status.Incident(ctx, in.Incident)
	if err != nil {
		return nil, err
	}
	return ok(ctx, status.IncidentData(inc)), nil
}

// operator refuses every caller but the instance operator: a key (or
// dashboard member) of the instance's first organization at organization
// level (the route asks manage:organization).
func (h *handlers) operator(ctx context.Context) (*auth.Principal, error) {
	p := principal(ctx)
	isOp, err := h.Status.IsOperator(ctx, p.OrgID)
	if err != nil {
		return nil, err
	}
	if !isOp {
		return nil, forbidden("only the instance operator posts incidents: an organization key with manage:organization of the instance's first organization (the one `gatehouse init` made)")
	}
	return p, nil
}

type createIncidentIn struct {
	Body struct {
		Title      string   `json:"title" minLength:"1" maxLength:"200"`
		Body       string   `json:"body" minLength:"1" maxLength:"10000" doc:"The first message: what is happening."`
		Impact     string   `json:"impact,omitempty" enum:"none,minor,major,critical" doc:"Default minor."`
		Status     string   `json:"status,omitempty" enum:"investigating,identified,monitoring" doc:"Default investigating."`
		Components []string `json:"components,omitempty" maxItems:"6" doc:"The components affected: api, checks, database, redis, queue, webhooks."`
	}
}

func (h *handlers) createIncident(ctx context.Context, in *createIncidentIn) (*Out[status.IncidentOut], error) {
	p, err := h.operator(ctx)
	if err != nil {
		return nil, err
	}
	inc, err := h.Status.CreateIncident(ctx, p.Actor(), status.NewIncident{Title: in.Body.Title, Body: in.Body.Body, Impact: in.Body.Impact,
		Status: in.Body.Status, Components: in.Body.Components})
	if err != nil {
		return nil, err
	}
	return ok(ctx, status.IncidentData(inc)), nil
}

type incidentUpdateIn struct {
	IncidentPath
	Body struct {
		Body       string    `json:"body" minLength:"1" maxLength:"10000"`
		Status     string    `json:"status,omitempty" enum:"investigating,identified,monitoring,resolved" doc:"The incident's new status; resolved resolves it. Unchanged when omitted."`
		Impact     string    `json:"impact,omitempty" enum:"none,minor,major,critical" doc:"Unchanged when omitted."`
		Components *[]string `json:"components,omitempty" maxItems:"6" doc:"Replaces the components affected when given."`
	}
}

func (h *handlers) postIncidentUpdate(ctx context.Context, in *incidentUpdateIn) (*Out[status.IncidentOut], error) {
	p, err := h.operator(ctx)
	if err != nil {
		return nil, err
	}
	inc, err := h.Status.PostUpdate(ctx, p.Actor(), in.Incident, status.UpdateIn{Body: in.Body.Body, Status: in.Body.Status,
		Impact: in.Body.Impact, Components: in.Body.Components})
	if err != nil {
		return nil, err
	}
	return ok(ctx, status.IncidentData(inc)), nil
}

type resolveIncidentIn struct {
	IncidentPath
	Body *struct {
		Body string `json:"body,omitempty" maxLength:"10000" doc:"The closing message; a standard one when omitted."`
	}
}

func (h *handlers) resolveIncident(ctx context.Context, in *resolveIncidentIn) (*Out[status.IncidentOut], error) {
	p, err := h.operator(ctx)
	if err != nil {
		return nil, err
	}
	body := ""
	if in.Body != nil {
		body = in.Body.Body
	}
	inc, err := h.Status.Resolve(ctx, p.Actor(), in.Incident, body)
	if err != nil {
		return nil, err
	}
	return ok(ctx, status.IncidentData(inc)), nil
}
