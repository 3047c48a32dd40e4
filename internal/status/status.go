// Package status is the instance's status page: the state of each component
// (API, checks, database, Redis, queue, webhooks), sampled every minute into
// daily buckets from which the uptime over 90 days is computed, and the
// incidents that the instance operator posts, updates and resolves. Status
// changes are webhook events (status.*), delivered to the endpoints of every
// organization that subscribed to them by name.
//
// Everything here is public: no tenant data, no secrets, no error text that
// could name a host or a DSN (a component's note is one of a few fixed
// phrases).
package status

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/event"
	"github.com/google/uuid"
)

// Components, in the order the page shows them.
const (
	API      = "api"
	Checks   = "checks"
	Database = "database"
	Redis    = "redis"
	Queue    = "queue"
	Webhooks = "webhooks"
)

// Components lists every component name.
func Components() []string { return []string{API, Checks, Database, Redis, Queue, Webhooks} }

// Titles are the components' names as people read them.
var Titles = map[string]string{API: "API", Checks: "Permission checks", Database: "Database", Redis: "Redis (shared rate limits)",
	Queue: "Background jobs", Webhooks: "Webhook deliveries"}

// States of a component.
const (
	Operational = "operational"
	Degraded    = "degraded"
	Down        = "down"
)

// Window is how far back uptime is kept and shown (daily buckets), and how
// long resolved incidents are kept.
const Window = 90

// Reading is one component's state as one probe saw it. Note is a fixed,
// public phrase (never an error's text).
type Reading struct {
	Component string
	State     string
	Note      string
}

// Component is a component's current state as last sampled.
type Component struct {
	Name      string
	State     string
	Note      string
	Since     time.Time // when it entered State
	CheckedAt time.Time // the last sample
}

// Day is one component's samples of one UTC day.
type Day struct {
	Component string
	Day       string // YYYY-MM-DD, UTC
	Up        int64  // operational samples
	Degraded  int64
	Down      int64
}

// Total is the number of samples of the day.
func (d Day) Total() int64 { return d.Up + d.Degraded + d.Down }

// Uptime is the fraction of samples in which the component was not down
// (degraded counts as up: it answered, more slowly or with less), or -1 for a
// day without samples.
func (d Day) Uptime() float64 {
	if d.Total() == 0 {
		return -1
	}
	return float64(d.Up+d.Degraded) / float64(d.Total())
}

// Uptime over days: the fraction of all their samples that were up, so a
// partial day (today, or the first day the instance ran) weighs by the
// samples it has; -1 when there is none.
func Uptime(days []Day) float64 {
	var up, total int64
	for _, d := range days {
		up += d.Up + d.Degraded
		total += d.Total()
	}
	if total == 0 {
		return -1
	}
	return float64(up) / float64(total)
}

// DayOf is the bucket of t.
func DayOf(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// Impact of an incident.
const (
	ImpactNone     = "none"
	ImpactMinor    = "minor"
	ImpactMajor    = "major"
	ImpactCritical = "critical"
)

// Incident statuses; resolved ends it.
const (
	Investigating = "investigating"
	Identified    = "identified"
	Monitoring    = "monitoring"
	Resolved      = "resolved"
)

// Incident is something the operator tells the instance's users about.
type Incident struct {
	ID         string
	Title      string
	Impact     string
	Status     string
	Components []string
	CreatedBy  string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	ResolvedAt *time.Time
	// Updates, oldest first (the first is the incident's opening message).
	Updates []Update
}

// Update is one message posted on an incident.
type Update struct {
	ID         string
	IncidentID string
	Status     string
	Body       string
	CreatedBy  string
	CreatedAt  time.Time
}

// IncidentFilter selects incidents.
type IncidentFilter struct {
	// Open: only unresolved (true), only resolved (false), or both (nil).
	Open *bool
}

// Store persists the status page.
type Store interface {
	InStatusTx(ctx context.Context, fn func(Store) error) error
	StatusComponents(ctx context.Context) ([]Component, error)
	PutStatusComponent(ctx context.Context, c Component) error
	AddStatusSamples(ctx context.Context, d Day) error
	StatusDays(ctx context.Context, since string) ([]Day, error)
	PruneStatus(ctx context.Context, beforeDay string, resolvedBefore time.Time) (int64, error)
	CreateIncident(ctx context.Context, in *Incident) error
	UpdateIncident(ctx context.Context, in *Incident) error
	AddIncidentUpdate(ctx context.Context, u *Update) error
	// Incident returns an incident with its updates.
	Incident(ctx context.Context, id string) (*Incident, error)
	Incidents(ctx context.Context, f IncidentFilter, page gatehouse.PageRequest) (gatehouse.Page[Incident], error)
	// OperatorOrganization is the id of the instance's first organization
	// (the one `init` made), deleted or not; "" on an empty instance.
	OperatorOrganization(ctx context.Context) (string, error)
	// EmitStatus records ev once for every organization with an enabled,
	// organization-wide endpoint subscribed to ev.Type by name, and
	// delivers it to those endpoints.
	EmitStatus(ctx context.Context, ev event.Event) error
}

// Service is the status page's rules.
type Service struct {
	st  Store
	now func() time.Time
	// Stale: an operational state not sampled for this long shows as
	// degraded (no node samples, or none reaches the database); at least
	// five minutes.
	Stale time.Duration
}

// NewService returns the status service over st; now is the clock (nil:
// time.Now).
func NewService(st Store, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{st: st, now: now, Stale: 5 * time.Minute}
}

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// ---- the operator

// IsOperator reports whether orgID is the instance operator's organization:
// the instance's first organization (made by `init`, "the operator's own").
// Deleting it never hands the role to another organization while it can
// still be restored.
func (s *Service) IsOperator(ctx context.Context, orgID string) (bool, error) {
	op, err := s.st.OperatorOrganization(ctx)
	if err != nil {
		return false, err
	}
	return op != "" && op == orgID, nil
}

// ---- incidents

// NewIncident is what opens an incident.
type NewIncident struct {
	Title      string
	Body       string
	Impact     string
	Status     string // default investigating
	Components []string
}

func validImpact(v string) error {
	switch v {
	case ImpactNone, ImpactMinor, ImpactMajor, ImpactCritical:
		return nil
	}
	return gatehouse.FieldError("impact", "invalid_value", "impact must be none, minor, major or critical")
}

func validStatus(v string, allowResolved bool) error {
	switch v {
	case Investigating, Identified, Monitoring:
		return nil
	case Resolved:
		if allowResolved {
			return nil
		}
	}
	if allowResolved {
		return gatehouse.FieldError("status", "invalid_value", "status must be investigating, identified, monitoring or resolved")
	}
	return gatehouse.FieldError("status", "invalid_value", "status must be investigating, identified or monitoring (resolve an incident with …/resolve)")
}

func validComponents(cs []string) ([]string, error) {
	out := []string{}
	for _, c := range cs {
		c = strings.TrimSpace(c)
		if !slices.Contains(Components(), c) {
			return nil, gatehouse.FieldError("components", "invalid_value", "unknown component %q: want %s", c, strings.Join(Components(), ", "))
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}

func validText(field, v string, max int) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", gatehouse.FieldError(field, "required_field_missing", "%s is required", field)
	}
	if utf8.RuneCountInString(v) > max { // characters, as the API's schema counts (maxLength)
		return "", gatehouse.FieldError(field, "too_long", "%s is longer than %d characters", field, max)
	}
	return v, nil
}

// CreateIncident opens an incident with its first message (by actor) and
// emits status.incident_created.
func (s *Service) CreateIncident(ctx context.Context, actor string, in NewIncident) (*Incident, error) {
	title, err := validText("title", in.Title, 200)
	if err != nil {
		return nil, err
	}
	body, err := validText("body", in.Body, 10000)
	if err != nil {
		return nil, err
	}
	if in.Impact == "" {
		in.Impact = ImpactMinor
	}
	if err := validImpact(in.Impact); err != nil {
		return nil, err
	}
	if in.Status == "" {
		in.Status = Investigating
	}
	if err := validStatus(in.Status, false); err != nil {
		return nil, err
	}
	comps, err := validComponents(in.Components)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	inc := &Incident{ID: newID(), Title: title, Impact: in.Impact, Status: in.Status, Components: comps, CreatedBy: actor, CreatedAt: now, UpdatedAt: now}
	u := Update{ID: newID(), IncidentID: inc.ID, Status: in.Status, Body: body, CreatedBy: actor, CreatedAt: now}
	inc.Updates = []Update{u}
	err = s.st.InStatusTx(ctx, func(tx Store) error {
		if err := tx.CreateIncident(ctx, inc); err != nil {
			return err
		}
		if err := tx.AddIncidentUpdate(ctx, &u); err != nil {
			return err
		}
		return tx.EmitStatus(ctx, event.Event{Type: event.StatusIncidentCreated, OccurredAt: now, Data: IncidentData(inc)})
	})
	if err != nil {
		return nil, err
	}
	return inc, nil
}

// UpdateIn is a message posted on an incident; Status "resolved" resolves
// it, Impact and Components (when set) change it.
type UpdateIn struct {
	Body       string
	Status     string // "": unchanged
	Impact     string // "": unchanged
	Components *[]string
}

// PostUpdate adds a message to an open incident (a resolved one is a
// conflict) and emits status.incident_updated, or status.incident_resolved
// when it resolves it.
func (s *Service) PostUpdate(ctx context.Context, actor, id string, in UpdateIn) (*Incident, error) {
	body, err := validText("body", in.Body, 10000)
	if err != nil {
		return nil, err
	}
	if in.Status != "" {
		if err := validStatus(in.Status, true); err != nil {
			return nil, err
		}
	}
	if in.Impact != "" {
		if err := validImpact(in.Impact); err != nil {
			return nil, err
		}
	}
	var comps []string
	if in.Components != nil {
		if comps, err = validComponents(*in.Components); err != nil {
			return nil, err
		}
	}
	var inc *Incident
	err = s.st.InStatusTx(ctx, func(tx Store) error {
		inc, err = tx.Incident(ctx, id)
		if err != nil {
			return err
		}
		if inc.Status == Resolved {
			return gatehouse.Errorf(gatehouse.CodeConflict, "incident %s is resolved: open a new one", id)
		}
		now := s.clock()
		if in.Status != "" {
			inc.Status = in.Status
		}
		if in.Impact != "" {
			inc.Impact = in.Impact
		}
		if in.Components != nil {
			inc.Components = comps
		}
		inc.UpdatedAt = now
		typ := event.StatusIncidentUpdated
		if inc.Status == Resolved {
			inc.ResolvedAt = &now
			typ = event.StatusIncidentResolved
		}
		u := Update{ID: newID(), IncidentID: inc.ID, Status: inc.Status, Body: body, CreatedBy: actor, CreatedAt: now}
		if err := tx.UpdateIncident(ctx, inc); err != nil {
			return err
		}
		if err := tx.AddIncidentUpdate(ctx, &u); err != nil {
			return err
		}
		inc.Updates = append(inc.Updates, u)
		return tx.EmitStatus(ctx, event.Event{Type: typ, OccurredAt: now, Data: IncidentData(inc)})
	})
	if err != nil {
		return nil, err
	}
	return inc, nil
}

// Resolve resolves an open incident with a closing message.
func (s *Service) Resolve(ctx context.Context, actor, id, body string) (*Incident, error) {
	if strings.TrimSpace(body) == "" {
		body = "This incident has been resolved."
	}
	return s.PostUpdate(ctx, actor, id, UpdateIn{Body: body, Status: Resolved})
}

// Incident returns an incident with its updates.
func (s *Service) Incident(ctx context.Context, id string) (*Incident, error) {
	return s.st.Incident(ctx, id)
}

// Incidents lists incidents, newest first, each with its updates.
func (s *Service) Incidents(ctx context.Context, f IncidentFilter, page gatehouse.PageRequest) (gatehouse.Page[Incident], error) {
	return s.st.Incidents(ctx, f, page)
}

// ---- the page

// ComponentView is a component on the page.
type ComponentView struct {
	Component
	Title  string
	Uptime float64 // over the window; -1: no samples
	Days   []Day   // Window days, oldest first, today last (empty ones without samples)
}

// Overview is the whole status page.
type Overview struct {
	// State is the worst current component state.
	State      string
	Components []ComponentView
	Open       []Incident
	Recent     []Incident // resolved within the window, newest first
	UpdatedAt  time.Time  // the last sample
}

// Overview builds the page at the current time.
func (s *Service) Overview(ctx context.Context) (*Overview, error) {
	now := s.clock()
	first := now.AddDate(0, 0, -(Window - 1))
	comps, err := s.st.StatusComponents(ctx)
	if err != nil {
		return nil, err
	}
	days, err := s.st.StatusDays(ctx, DayOf(first))
	if err != nil {
		return nil, err
	}
	byComp := map[string]map[string]Day{}
	for _, d := range days {
		if byComp[d.Component] == nil {
			byComp[d.Component] = map[string]Day{}
		}
		byComp[d.Component][d.Day] = d
	}
	o := &Overview{State: Operational}
	for _, name := range Components() {
		i := slices.IndexFunc(comps, func(c Component) bool { return c.Name == name })
		if i < 0 {
			continue // never sampled (Redis on an instance without it)
		}
		c := comps[i]
		if c.CheckedAt.After(o.UpdatedAt) {
			o.UpdatedAt = c.CheckedAt
		}
		if now.Sub(c.CheckedAt) > max(s.Stale, 5*time.Minute) && c.State == Operational {
			c.State, c.Note = Degraded, "not checked since "+c.CheckedAt.Format(time.RFC3339)
		}
		v := ComponentView{Component: c, Title: Titles[name]}
		for t := first; !t.After(now); t = t.AddDate(0, 0, 1) {
			d, ok := byComp[name][DayOf(t)]
			if !ok {
				d = Day{Component: name, Day: DayOf(t)}
			}
			v.Days = append(v.Days, d)
		}
		v.Uptime = Uptime(v.Days)
		o.Components = append(o.Components, v)
		o.State = worse(o.State, c.State)
	}
	open := true
	op, err := s.st.Incidents(ctx, IncidentFilter{Open: &open}, gatehouse.PageRequest{Page: 1, PerPage: 100})
	if err != nil {
		return nil, err
	}
	o.Open = op.Items
	closed := false
	rec, err := s.st.Incidents(ctx, IncidentFilter{Open: &closed}, gatehouse.PageRequest{Page: 1, PerPage: 20})
	if err != nil {
		return nil, err
	}
	for _, in := range rec.Items {
		if in.ResolvedAt != nil && in.ResolvedAt.After(first) {
			o.Recent = append(o.Recent, in)
		}
	}
	return o, nil
}

func rank(state string) int {
	switch state {
	case Operational:
		return 0
	case Degraded:
		return 1
	}
	return 2
}

func worse(a, b string) string {
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// ---- events

// ComponentChange is the data of status.component_changed.
type ComponentChange struct {
	Component string    `json:"component"`
	State     string    `json:"state" enum:"operational,degraded,down"`
	Previous  string    `json:"previous_state" enum:"operational,degraded,down"`
	Note      string    `json:"note,omitempty"`
	Since     time.Time `json:"since"`
}

// IncidentOut is an incident as the API answers and webhooks carry it.
type IncidentOut struct {
	ID         string      `json:"id"`
	Title      string      `json:"title"`
	Impact     string      `json:"impact" enum:"none,minor,major,critical"`
	Status     string      `json:"status" enum:"investigating,identified,monitoring,resolved"`
	Components []string    `json:"components"`
	CreatedAt  time.Time   `json:"created_at"`
	UpdatedAt  time.Time   `json:"updated_at"`
	ResolvedAt *time.Time  `json:"resolved_at,omitempty"`
	Updates    []UpdateOut `json:"updates"`
}

// UpdateOut is one message of an incident.
type UpdateOut struct {
	ID        string    `json:"id"`
	Status    string    `json:"status" enum:"investigating,identified,monitoring,resolved"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
}

// IncidentData is the public form of in (who posted it is not shown: the
// page is public).
func IncidentData(in *Incident) IncidentOut {
	out := IncidentOut{ID: in.ID, Title: in.Title, Impact: in.Impact, Status: in.Status, Components: in.Components,
		CreatedAt: in.CreatedAt, UpdatedAt: in.UpdatedAt, ResolvedAt: in.ResolvedAt, Updates: []UpdateOut{}}
	if out.Components == nil {
		out.Components = []string{}
	}
	for _, u := range in.Updates {
		out.Updates = append(out.Updates, UpdateOut{ID: u.ID, Status: u.Status, Body: u.Body, CreatedAt: u.CreatedAt})
	}
	return out
}
