// Package webhook delivers Gatehouse's events to the HTTP endpoints an
// organization registers: subscriptions, the secrets that sign each
// delivery (X-Signature, plus the Standard Webhooks headers),
// delivery with retries and backoff, the record of every attempt, replays,
// and the guard that keeps deliveries away from private networks.
//
// Events are written by the capability that causes them, in its own
// transaction (see package event); the store turns each into one delivery
// per subscribed endpoint and enqueues it in that same transaction.
package webhook

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/gatehouse-dev/gatehouse/internal/telemetry"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/event"
	"github.com/google/uuid"
)

// Endpoint is a registered receiver of events.
type Endpoint struct {
	ID          string
	OrgID       string
	ProjectID   string // "" : every project
	EnvID       string // "" : every environment (of ProjectID)
	URL         string
	Description string
	Events      []string // event types, or ["*"] for all
	Enabled     bool
	Secret      string
	// PreviousSecret keeps signing until PreviousSecretExpiresAt (after a
	// rotation).
	PreviousSecret          string
	PreviousSecretExpiresAt *time.Time
	// FailingSince is the first failed attempt since the last success.
	FailingSince   *time.Time
	LastSuccessAt  *time.Time
	LastFailureAt  *time.Time
	DisabledAt     *time.Time
	DisabledReason string
	CreatedBy      string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Subscribed reports whether the endpoint receives events of type t.
func (e *Endpoint) Subscribed(t string) bool {
	return slices.Contains(e.Events, event.All) || slices.Contains(e.Events, t)
}

// Covers reports whether an event of project projectID and environment
// envID is in the endpoint's reach ("" ids: an organization-wide event).
func (e *Endpoint) Covers(projectID, envID string) bool {
	if e.ProjectID != "" && e.ProjectID != projectID {
		return false
	}
	return e.EnvID == "" || e.EnvID == envID
}

// Secrets returns the secrets that sign deliveries at now: the current one
// and, during a rotation's grace period, the previous one.
func (e *Endpoint) Secrets(now time.Time) (current, previous string) {
	if e.PreviousSecret != "" && e.PreviousSecretExpiresAt != nil && now.Before(*e.PreviousSecretExpiresAt) {
		return e.Secret, e.PreviousSecret
	}
	return e.Secret, ""
}

// Delivery statuses.
const (
	StatusPending   = "pending"   // waiting for its first or next attempt
	StatusSucceeded = "succeeded" // the endpoint answered 2xx
	StatusFailed    = "failed"    // every attempt failed, or the endpoint was disabled meanwhile
	StatusCancelled = "cancelled" // the endpoint was disabled before it was sent
)

// Delivery is one event sent (or to be sent) to one endpoint.
type Delivery struct {
	ID             string
	EndpointID     string
	EventID        string
	OrgID          string
	EventType      string
	Status         string
	Attempts       int
	LastStatusCode int
	LastError      string
	NextAttemptAt  *time.Time
	ReplayOf       string // the delivery this one replays by hand
	CreatedAt      time.Time
	UpdatedAt      time.Time
	DeliveredAt    *time.Time
}

// Attempt is one HTTP request of a delivery.
type Attempt struct {
	ID                string
	DeliveryID        string
	Attempt           int
	StartedAt         time.Time
	Duration          time.Duration
	StatusCode        int // 0: no response (connection error, timeout, refused by the guard)
	Error             string
	RequestHeaders    map[string]string
	ResponseHeaders   map[string]string
	ResponseBody      string
	ResponseTruncated bool
}

// StoredEvent is an event as the outbox keeps it: its body is fixed when it
// happens, so every attempt and replay sends the same bytes.
type StoredEvent struct {
	ID        string
	OrgID     string
	ProjectID string
	EnvID     string
	Type      string
	Payload   []byte
	CreatedAt time.Time
}

// EndpointFilter narrows a list of endpoints.
type EndpointFilter struct {
	OrgID     string
	ProjectID string // a project key's reach
	EnvID     string // an environment key's reach
	Enabled   *bool
}

// DeliveryFilter narrows a list of deliveries.
type DeliveryFilter struct {
	OrgID      string
	EndpointID string
	Status     string
	EventType  string
	Since      *time.Time
}

// Store persists endpoints, events, deliveries and attempts.
type Store interface {
	InWebhookTx(ctx context.Context, fn func(Store) error) error
	CreateEndpoint(ctx context.Context, e *Endpoint) error
	GetEndpoint(ctx context.Context, orgID, id string) (*Endpoint, error)
	ListEndpoints(ctx context.Context, f EndpointFilter, page gatehouse.PageRequest) (gatehouse.Page[Endpoint], error)
	UpdateEndpoint(ctx context.Context, e *Endpoint) error
	DeleteEndpoint(ctx context.Context, orgID, id string) error
	// RecordAudit writes an audit entry in the transaction.
	RecordAudit(ctx context.Context, e audit.AuditEntry) error

	GetEvent(ctx context.Context, id string) (*StoredEvent, error)
	// CreateDeliveries stores new deliveries and enqueues them.
	CreateDeliveries(ctx context.Context, ds []Delivery) error
	GetDelivery(ctx context.Context, orgID, id string) (*Delivery, error)
	// DeliveriesOfEvent lists the deliveries of one event.
	DeliveriesOfEvent(ctx context.Context, eventID string) ([]Delivery, error)
	// DeliveryByID reads a delivery whatever its organization (the worker).
	DeliveryByID(ctx context.Context, id string) (*Delivery, error)
	ListDeliveries(ctx context.Context, f DeliveryFilter, page gatehouse.PageRequest) (gatehouse.Page[Delivery], error)
	UpdateDelivery(ctx context.Context, d *Delivery) error
	// FailedDeliveries lists up to limit failed deliveries of an endpoint
	// created since a time, oldest first.
	FailedDeliveries(ctx context.Context, endpointID string, since time.Time, limit int) ([]Delivery, error)
	CreateAttempt(ctx context.Context, a *Attempt) error
	ListAttempts(ctx context.Context, deliveryID string) ([]Attempt, error)

	Emit(ctx context.Context, events ...event.Event) error
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// NewSecret returns a random signing secret: "whsec_" and 32 bytes in
// base64, the Standard Webhooks form.
func NewSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return "whsec_" + base64.StdEncoding.EncodeToString(b[:])
}

// EndpointInput is what a caller gives to register an endpoint.
type EndpointInput struct {
	URL         string
	Description string
	Events      []string
	Enabled     *bool
	ProjectID   string
	EnvID       string
}

// EndpointPatch lists the fields to change; nil: unchanged.
type EndpointPatch struct {
	URL, Description *string
	Events           *[]string
	Enabled          *bool
}

func validEvents(events []string) ([]string, error) {
	if len(events) == 0 {
		return nil, gatehouse.FieldError("events", "required_field_missing", "subscribe to at least one event type (GET /v1/webhooks/event-types), or \"*\" for all")
	}
	out := []string{}
	for _, e := range events {
		if e != event.All && !event.Known(e) {
			return nil, gatehouse.FieldError("events", "invalid_value", "unknown event type %q (GET /v1/webhooks/event-types lists them)", e)
		}
		if e == event.WebhookTest {
			return nil, gatehouse.FieldError("events", "invalid_value", "%s is only sent by hand (POST /v1/webhooks/{webhook}/test); it cannot be subscribed to", e)
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	if slices.Contains(out, event.All) {
		return []string{event.All}, nil
	}
	slices.Sort(out)
	return out, nil
}

func validText(field, v string, max int) error {
	if len(v) > max {
		return gatehouse.FieldError(field, "too_long", "%s must be at most %d characters", field, max)
	}
	return nil
}

// validURL checks an endpoint URL and, when its host is an IP address or
// localhost, that the guard lets deliveries reach it. Host names are checked
// again at every delivery, after they resolve.
func (s *Service) validURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", gatehouse.FieldError("url", "invalid_format", "url must be an absolute http:// or https:// URL")
	}
	if len(raw) > 2000 {
		return "", gatehouse.FieldError("url", "too_long", "url must be at most 2000 characters")
	}
	if u.User != nil {
		return "", gatehouse.FieldError("url", "invalid_format", "url must not carry credentials; authenticate deliveries with the signature")
	}
	if err := s.Guard.CheckHost(u.Hostname()); err != nil {
		return "", gatehouse.FieldError("url", "not_allowed", "%v", err)
	}
	return raw, nil
}

// Options tune delivery.
type Options struct {
	// Schedule is the wait before each retry: attempt n+1 comes
	// Schedule[n-1] after attempt n fails (with ±10% jitter). Its length
	// plus one is the number of attempts.
	Schedule []time.Duration
	// DisableAfter disables an endpoint whose attempts all failed for this
	// long (and one that answers 410 Gone at once).
	DisableAfter time.Duration
	// Timeout bounds one attempt.
	Timeout time.Duration
	// MaxResponseBytes is how much of a response body an attempt records.
	MaxResponseBytes int
	// Now is the clock (nil: the wall clock).
	Now func() time.Time
}

// DefaultSchedule is the Standard Webhooks example: 10 attempts over
// about 75 hours (immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
// 14 h, 20 h and 24 h later).
func DefaultSchedule() []time.Duration {
	return []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour,
		10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 24 * time.Hour}
}

// DefaultOptions are the delivery defaults.
func DefaultOptions() Options {
	return Options{Schedule: DefaultSchedule(), DisableAfter: 5 * 24 * time.Hour, Timeout: 15 * time.Second, MaxResponseBytes: 4096}
}

// MaxGracePeriod bounds how long a rotated secret keeps signing.
const MaxGracePeriod = 7 * 24 * time.Hour

// Service manages endpoints and delivers events.
type Service struct {
	Store Store
	Guard *Guard
	Opt   Options
	Now   func() time.Time
	// Tracing, when set, traces each delivery attempt and sends its trace
	// context (traceparent) to the endpoint.
	Tracing *telemetry.Tracing
	// client sends deliveries (through the guard).
	client httpDoer
}

// NewService returns a Service; guard decides which addresses deliveries
// may reach.
func NewService(st Store, guard *Guard, opt Options) *Service {
	d := DefaultOptions()
	if len(opt.Schedule) == 0 {
		opt.Schedule = d.Schedule
	}
	if opt.DisableAfter <= 0 {
		opt.DisableAfter = d.DisableAfter
	}
	if opt.Timeout <= 0 {
		opt.Timeout = d.Timeout
	}
	if opt.MaxResponseBytes <= 0 {
		opt.MaxResponseBytes = d.MaxResponseBytes
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Service{Store: st, Guard: guard, Opt: opt, Now: opt.Now, client: guard.Client(opt.Timeout)}
}

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

// Create registers an endpoint on behalf of p: within p's reach (a project
// key's endpoints are of its project, an environment key's of its
// environment). The secret is in the returned endpoint.
func (s *Service) Create(ctx context.Context, p *auth.Principal, in EndpointInput) (*Endpoint, error) {
	u, err := s.validURL(in.URL)
	if err != nil {
		return nil, err
	}
	events, err := validEvents(in.Events)
	if err != nil {
		return nil, err
	}
	if err := validText("description", in.Description, 2000); err != nil {
		return nil, err
	}
	switch p.Level {
	case auth.LevelProject:
		if in.ProjectID == "" {
			in.ProjectID = p.ProjectID
		}
	case auth.LevelEnvironment:
		if in.ProjectID == "" && in.EnvID == "" {
			in.ProjectID, in.EnvID = p.ProjectID, p.EnvironmentID
		}
	}
	if in.EnvID != "" && !p.CanReachEnvironment(in.ProjectID, in.EnvID) || in.EnvID == "" && in.ProjectID != "" && !p.CanManageProject(in.ProjectID) ||
		in.ProjectID == "" && !p.IsOrganization() {
		return nil, gatehouse.Errorf(gatehouse.CodeForbidden, "a %s key can only register webhooks for its own %s", p.Level, p.Level)
	}
	now := s.now()
	e := &Endpoint{ID: newID(), OrgID: p.OrgID, ProjectID: in.ProjectID, EnvID: in.EnvID, URL: u, Description: in.Description,
		Events: events, Enabled: in.Enabled == nil || *in.Enabled, Secret: NewSecret(), CreatedBy: p.Actor(), CreatedAt: now, UpdatedAt: now}
	if err := s.audited(ctx, "webhook.created", nil, e, func(tx Store) error { return tx.CreateEndpoint(ctx, e) }); err != nil {
		return nil, err
	}
	return e, nil
}

// audited runs write in a transaction with the audit entry of action on
// endpoint before → after (either may be nil). The entry never holds the
// endpoint's secrets.
func (s *Service) audited(ctx context.Context, action string, before, after *Endpoint, write func(Store) error) error {
	e := after
	if e == nil {
		e = before
	}
	entry := audit.AuditEntry{OrganizationID: e.OrgID, ProjectID: e.ProjectID, EnvironmentID: e.EnvID, Time: s.now(), Action: action,
		ObjectType: "webhook", ObjectID: e.ID, ObjectKey: e.URL, Before: before.auditDoc(), After: after.auditDoc()}
	return s.Store.InWebhookTx(ctx, func(tx Store) error {
		if err := write(tx); err != nil {
			return err
		}
		return tx.RecordAudit(ctx, entry)
	})
}

// auditDoc is e as the audit trail records it: never its secrets.
func (e *Endpoint) auditDoc() json.RawMessage {
	if e == nil {
		return nil
	}
	doc, _ := json.Marshal(map[string]any{"id": e.ID, "url": e.URL, "description": e.Description, "events": e.Events, "enabled": e.Enabled,
		"project_id": e.ProjectID, "environment_id": e.EnvID, "disabled_reason": e.DisabledReason, "updated_at": e.UpdatedAt})
	return doc
}

// Reachable reports whether p may see and manage endpoint e.
func Reachable(p *auth.Principal, e *Endpoint) bool {
	switch p.Level {
	case auth.LevelOrganization:
		return e.OrgID == p.OrgID
	case auth.LevelProject:
		return e.OrgID == p.OrgID && e.ProjectID == p.ProjectID
	}
	return e.OrgID == p.OrgID && e.EnvID == p.EnvironmentID
}

// Get returns endpoint id if p can reach it (NOT_FOUND otherwise).
// List lists the endpoints p can see (a project or environment key: its
// own project's or environment's).
func (s *Service) List(ctx context.Context, p *auth.Principal, f EndpointFilter, page gatehouse.PageRequest) (gatehouse.Page[Endpoint], error) {
	f.OrgID, f.ProjectID, f.EnvID = p.OrgID, p.ProjectID, p.EnvironmentID
	return s.Store.ListEndpoints(ctx, f, page)
}

// DeliveryByID is delivery id of p's organization.
func (s *Service) DeliveryByID(ctx context.Context, p *auth.Principal, id string) (*Delivery, error) {
	return s.Store.GetDelivery(ctx, p.OrgID, id)
}

func (s *Service) Get(ctx context.Context, p *auth.Principal, id string) (*Endpoint, error) {
	e, err := s.Store.GetEndpoint(ctx, p.OrgID, id)
	if err != nil {
		return nil, err
	}
	if !Reachable(p, e) {
		return nil, gatehouse.Errorf(gatehouse.CodeNotFound, "webhook %q not found", id)
	}
	return e, nil
}

// Update changes an endpoint. Enabling it again clears its failure record.
func (s *Service) Update(ctx context.Context, p *auth.Principal, id string, patch EndpointPatch) (*Endpoint, error) {
	e, err := s.Get(ctx, p, id)
	if err != nil {
		return nil, err
	}
	before := *e
	if patch.URL != nil {
		if e.URL, err = s.validURL(*patch.URL); err != nil {
			return nil, err
		}
	}
	if patch.Description != nil {
		if err := validText("description", *patch.Description, 2000); err != nil {
			return nil, err
		}
		e.Description = *patch.Description
	}
	if patch.Events != nil {
		if e.Events, err = validEvents(*patch.Events); err != nil {
			return nil, err
		}
	}
	if patch.Enabled != nil && *patch.Enabled != e.Enabled {
		e.Enabled = *patch.Enabled
		if e.Enabled {
			e.DisabledAt, e.DisabledReason, e.FailingSince = nil, "", nil
		} else {
			now := s.now()
			e.DisabledAt, e.DisabledReason = &now, "disabled by hand"
		}
	}
	e.UpdatedAt = s.now()
	return e, s.audited(ctx, "webhook.updated", &before, e, func(tx Store) error { return tx.UpdateEndpoint(ctx, e) })
}

// Delete removes an endpoint with its deliveries.
func (s *Service) Delete(ctx context.Context, p *auth.Principal, id string) error {
	e, err := s.Get(ctx, p, id)
	if err != nil {
		return err
	}
	return s.audited(ctx, "webhook.deleted", e, nil, func(tx Store) error { return tx.DeleteEndpoint(ctx, p.OrgID, e.ID) })
}

// DefaultGracePeriod is how long a rotated secret keeps signing by default.
const DefaultGracePeriod = 24 * time.Hour

// RotateSecret gives the endpoint a new secret; the old one keeps signing
// for grace (none when 0).
func (s *Service) RotateSecret(ctx context.Context, p *auth.Principal, id string, grace time.Duration) (*Endpoint, error) {
	if grace < 0 || grace > MaxGracePeriod {
		return nil, gatehouse.FieldError("grace_period_seconds", "out_of_range", "grace_period_seconds must be between 0 and %d", int(MaxGracePeriod/time.Second))
	}
	e, err := s.Get(ctx, p, id)
	if err != nil {
		return nil, err
	}
	before := *e
	now := s.now()
	e.PreviousSecret, e.PreviousSecretExpiresAt = "", nil
	if grace > 0 {
		until := now.Add(grace)
		e.PreviousSecret, e.PreviousSecretExpiresAt = e.Secret, &until
	}
	e.Secret = NewSecret()
	e.UpdatedAt = now
	return e, s.audited(ctx, "webhook.secret_rotated", &before, e, func(tx Store) error { return tx.UpdateEndpoint(ctx, e) })
}

// Test sends a webhook.test event to the endpoint alone and returns its
// delivery id.
func (s *Service) Test(ctx context.Context, p *auth.Principal, id string) (string, error) {
	e, err := s.Get(ctx, p, id)
	if err != nil {
		return "", err
	}
	if !e.Enabled {
		return "", gatehouse.Errorf(gatehouse.CodeConflict, "webhook %s is disabled; enable it first", e.ID)
	}
	ev := event.Event{ID: newID(), Type: event.WebhookTest, OrgID: e.OrgID, ProjectID: e.ProjectID, EnvID: e.EnvID, OccurredAt: s.now(), Only: e.ID,
		Data: map[string]any{"webhook_id": e.ID, "message": "A test event sent by hand from Gatehouse."}}
	var delivery string
	err = s.Store.InWebhookTx(ctx, func(tx Store) error {
		if err := tx.Emit(ctx, ev); err != nil {
			return err
		}
		ds, err := tx.DeliveriesOfEvent(ctx, ev.ID)
		if err != nil {
			return err
		}
		if len(ds) != 1 {
			return fmt.Errorf("webhook test: %d deliveries recorded, want 1", len(ds))
		}
		delivery = ds[0].ID
		return nil
	})
	return delivery, err
}

// Deliveries lists an endpoint's deliveries.
func (s *Service) Deliveries(ctx context.Context, p *auth.Principal, f DeliveryFilter, page gatehouse.PageRequest) (gatehouse.Page[Delivery], error) {
	e, err := s.Get(ctx, p, f.EndpointID)
	if err != nil {
		return gatehouse.Page[Delivery]{}, err
	}
	f.OrgID, f.EndpointID = p.OrgID, e.ID
	return s.Store.ListDeliveries(ctx, f, page)
}

// Delivery returns one delivery of an endpoint, with its attempts and event.
func (s *Service) Delivery(ctx context.Context, p *auth.Principal, endpointID, id string) (*Delivery, []Attempt, *StoredEvent, error) {
	e, err := s.Get(ctx, p, endpointID)
	if err != nil {
		return nil, nil, nil, err
	}
	d, err := s.Store.GetDelivery(ctx, p.OrgID, id)
	if err != nil {
		return nil, nil, nil, err
	}
	if d.EndpointID != e.ID {
		return nil, nil, nil, gatehouse.Errorf(gatehouse.CodeNotFound, "delivery %q not found", id)
	}
	attempts, err := s.Store.ListAttempts(ctx, d.ID)
	if err != nil {
		return nil, nil, nil, err
	}
	ev, err := s.Store.GetEvent(ctx, d.EventID)
	if err != nil {
		return nil, nil, nil, err
	}
	return d, attempts, ev, nil
}

// Replay sends a delivery's event again as a new delivery, now.
func (s *Service) Replay(ctx context.Context, p *auth.Principal, endpointID, id string) (*Delivery, error) {
	d, _, _, err := s.Delivery(ctx, p, endpointID, id)
	if err != nil {
		return nil, err
	}
	now := s.now()
	nd := Delivery{ID: newID(), EndpointID: d.EndpointID, EventID: d.EventID, OrgID: d.OrgID, EventType: d.EventType,
		Status: StatusPending, ReplayOf: d.ID, CreatedAt: now, UpdatedAt: now}
	if err := s.Store.InWebhookTx(ctx, func(tx Store) error { return tx.CreateDeliveries(ctx, []Delivery{nd}) }); err != nil {
		return nil, err
	}
	return &nd, nil
}

// MaxRecover bounds how many failed deliveries one recover call replays.
const MaxRecover = 10000

// Recover replays every failed delivery of an endpoint created since a
// time (at most MaxRecover), and returns how many.
func (s *Service) Recover(ctx context.Context, p *auth.Principal, endpointID string, since time.Time) (int, error) {
	e, err := s.Get(ctx, p, endpointID)
	if err != nil {
		return 0, err
	}
	failed, err := s.Store.FailedDeliveries(ctx, e.ID, since, MaxRecover)
	if err != nil {
		return 0, err
	}
	now := s.now()
	out := make([]Delivery, len(failed))
	for i, d := range failed {
		out[i] = Delivery{ID: newID(), EndpointID: d.EndpointID, EventID: d.EventID, OrgID: d.OrgID, EventType: d.EventType,
			Status: StatusPending, ReplayOf: d.ID, CreatedAt: now, UpdatedAt: now}
	}
	return len(out), s.Store.InWebhookTx(ctx, func(tx Store) error { return tx.CreateDeliveries(ctx, out) })
}
