package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// StatusPage is the instance's status page (GET /v1/status): public, no
// key needed.
type StatusPage struct {
	State      string            `json:"state"` // operational, degraded or down: the worst component's
	UpdatedAt  *time.Time        `json:"updated_at,omitempty"`
	Components []StatusComponent `json:"components"`
	Open       []Incident        `json:"open_incidents"`
	Recent     []Incident        `json:"recent_incidents"`
}

// StatusComponent is one component of the status page.
type StatusComponent struct {
	Name      string      `json:"name"`
	Title     string      `json:"title"`
	State     string      `json:"state"`
	Note      string      `json:"note,omitempty"`
	Since     time.Time   `json:"since"`
	CheckedAt time.Time   `json:"checked_at"`
	Uptime    *float64    `json:"uptime_90d"` // nil without samples
	Days      []StatusDay `json:"days"`
}

// StatusDay is a component's samples of one UTC day.
type StatusDay struct {
	Day         string   `json:"day"`
	Uptime      *float64 `json:"uptime"` // nil for a day without samples
	Operational int64    `json:"operational"`
	Degraded    int64    `json:"degraded"`
	Down        int64    `json:"down"`
}

// Incident is an incident of the status page with its updates.
type Incident struct {
	ID         string           `json:"id"`
	Title      string           `json:"title"`
	Impact     string           `json:"impact"`
	Status     string           `json:"status"`
	Components []string         `json:"components"`
	CreatedAt  time.Time        `json:"created_at"`
	UpdatedAt  time.Time        `json:"updated_at"`
	ResolvedAt *time.Time       `json:"resolved_at,omitempty"`
	Updates    []IncidentUpdate `json:"updates"`
}

// IncidentUpdate is one message of an incident.
type IncidentUpdate struct {
	ID        string    `json:"id"`
	Status    string    `json:"status"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
}

// IncidentInput opens an incident.
type IncidentInput struct {
	Title      string   `json:"title"`
	Body       string   `json:"body"`
	Impact     string   `json:"impact,omitempty"` // none, minor (default), major or critical
	Status     string   `json:"status,omitempty"` // investigating (default), identified or monitoring
	Components []string `json:"components,omitempty"`
}

// IncidentUpdateInput is a message posted on an open incident.
type IncidentUpdateInput struct {
	Body       string    `json:"body"`
	Status     string    `json:"status,omitempty"` // resolved resolves it
	Impact     string    `json:"impact,omitempty"`
	Components *[]string `json:"components,omitempty"`
}

// IncidentFilter narrows the incident list.
type IncidentFilter struct {
	Page, PerPage int
	State         string // open or resolved; "" both
}

// Status is the instance's status page and its incidents; writing
// incidents needs the instance operator's key.
type Status struct{ c *Client }

// Get returns the status page.
func (s *Status) Get(ctx context.Context) (*StatusPage, error) {
	return get[StatusPage](ctx, s.c, "/v1/status", nil)
}

// Incidents lists incidents, newest first.
func (s *Status) Incidents(ctx context.Context, f *IncidentFilter) (*Page[Incident], error) {
	q := url.Values{}
	if f != nil {
		if f.Page > 0 {
			q.Set("page", strconv.Itoa(f.Page))
		}
		if f.PerPage > 0 {
			q.Set("per_page", strconv.Itoa(f.PerPage))
		}
		set(q, "state", f.State)
	}
	return list[Incident](ctx, s.c, "/v1/status/incidents", q)
}

// Incident returns an incident with its updates.
func (s *Status) Incident(ctx context.Context, id string) (*Incident, error) {
	return get[Incident](ctx, s.c, "/v1/status/incidents/"+seg(id), nil)
}

// CreateIncident opens an incident.
func (s *Status) CreateIncident(ctx context.Context, in IncidentInput) (*Incident, error) {
	return write[Incident](ctx, s.c, http.MethodPost, "/v1/status/incidents", nil, in)
}

// PostUpdate posts a message on an open incident.
func (s *Status) PostUpdate(ctx context.Context, id string, in IncidentUpdateInput) (*Incident, error) {
	return write[Incident](ctx, s.c, http.MethodPost, "/v1/status/incidents/"+seg(id)+"/updates", nil, in)
}

// Resolve resolves an incident with a closing message ("": a standard one).
func (s *Status) Resolve(ctx context.Context, id, body string) (*Incident, error) {
	var in struct {
		Body string `json:"body,omitempty"`
	}
	in.Body = body
	return write[Incident](ctx, s.c, http.MethodPost, "/v1/status/incidents/"+seg(id)+"/resolve", nil, in)
}
