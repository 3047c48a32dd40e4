package httpapi

import (
	"context"
	"encoding/json"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/event"
	"github.com/gatehouse-dev/gatehouse/internal/webhook"
)

// Webhook is the wire form of a webhook endpoint; its secret is shown only
// when it is created or rotated.
type Webhook struct {
	ID            string   `json:"id"`
	URL           string   `json:"url"`
	Description   string   `json:"description"`
	Events        []string `json:"events" doc:"Subscribed event types; [\"*\"] is every event."`
	Enabled       bool     `json:"enabled"`
	Status        string   `json:"status" enum:"enabled,failing,disabled" doc:"failing: its last attempts failed; disabled: no deliveries (disabled_reason says why)."`
	ProjectID     string   `json:"project_id,omitempty" doc:"Only events of this project (absent: the whole organization)."`
	EnvironmentID string   `json:"environment_id,omitempty" doc:"Only events of this environment."`
	// Health
	FailingSince   *time.Time `json:"failing_since,omitempty" doc:"First failed attempt since the last success."`
	LastSuccessAt  *time.Time `json:"last_success_at,omitempty"`
	LastFailureAt  *time.Time `json:"last_failure_at,omitempty"`
	DisabledAt     *time.Time `json:"disabled_at,omitempty"`
	DisabledReason string     `json:"disabled_reason,omitempty"`
	// PreviousSecretExpiresAt: until then the previous secret still signs
	// (in X-Signature; the new one in X-Signature-New).
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty" doc:"Until then the rotated-out secret still signs X-Signature (the new one signs X-Signature-New)."`
	CreatedBy               string     `json:"created_by"`
	CreatedAt               time.Time  `json:"created_at"`
	UpdatedAt               time.Time  `json:"updated_at"`
}

// WebhookWithSecret is an endpoint with its signing secret.
type WebhookWithSecret struct {
	Webhook
	Secret string `json:"secret" doc:"The signing secret. Shown only now: store it. X-Signature is hex HMAC-SHA256(secret, body)."`
}

func webhookOut(e *webhook.Endpoint, now time.Time) Webhook {
	w := Webhook{ID: e.ID, URL: e.URL, Description: e.Description, Events: e.Events, Enabled: e.Enabled, ProjectID: e.ProjectID,
		EnvironmentID: e.EnvID, FailingSince: e.FailingSince, LastSuccessAt: e.LastSuccessAt, LastFailureAt: e.LastFailureAt,
		DisabledAt: e.DisabledAt, DisabledReason: e.DisabledReason, CreatedBy: e.CreatedBy, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}
	switch {
	case !e.Enabled:
		w.Status = "disabled"
	case e.FailingSince != nil:
		w.Status = "failing"
	default:
		w.Status = "enabled"
	}
	if _, prev := e.Secrets(now); prev != "" {
		w.PreviousSecretExpiresAt = e.PreviousSecretExpiresAt
	}
	return w
}

// Delivery is the wire form of one event sent to one endpoint.
type Delivery struct {
	ID             string     `json:"id"`
	WebhookID      string     `json:"webhook_id"`
	EventID        string     `json:"event_id" doc:"The event's id: X-Webhook-Id and webhook-id of every attempt."`
	Event          string     `json:"event" doc:"The event type."`
	Status         string     `json:"status" enum:"pending,succeeded,failed,cancelled"`
	Attempts       int        `json:"attempts" doc:"Attempts made so far."`
	LastStatusCode int        `json:"last_status_code,omitempty" doc:"The HTTP status of the last attempt (absent: no response)."`
	LastError      string     `json:"last_error,omitempty"`
	NextAttemptAt  *time.Time `json:"next_attempt_at,omitempty"`
	ReplayOf       string     `json:"replay_of,omitempty" doc:"The delivery this one replays."`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	DeliveredAt    *time.Time `json:"delivered_at,omitempty"`
}

func deliveryOut(d *webhook.Delivery) Delivery {
	return Delivery{ID: d.ID, WebhookID: d.EndpointID, EventID: d.EventID, Event: d.EventType, Status: d.Status, Attempts: d.Attempts,
		LastStatusCode: d.LastStatusCode, LastError: d.LastError, NextAttemptAt: d.NextAttemptAt, ReplayOf: d.ReplayOf,
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, DeliveredAt: d.DeliveredAt}
}

// DeliveryAttempt is one HTTP request of a delivery.
type DeliveryAttempt struct {
	Attempt           int               `json:"attempt"`
	StartedAt         time.Time         `json:"started_at"`
	DurationMS        float64           `json:"duration_ms"`
	StatusCode        int               `json:"status_code,omitempty" doc:"Absent: no response (connection error, timeout, or refused by the network guard)."`
	Error             string            `json:"error,omitempty"`
	RequestHeaders    map[string]string `json:"request_headers"`
	ResponseHeaders   map[string]string `json:"response_headers"`
	ResponseBody      string            `json:"response_body"`
	ResponseTruncated bool              `json:"response_truncated"`
}

// DeliveryDetail is a delivery with the body it sends and every attempt.
type DeliveryDetail struct {
	Delivery
	Payload        map[string]any    `json:"payload" doc:"The request body every attempt sends: {id, event, timestamp, organization_id, project_id, environment_id, data}."`
	AttemptHistory []DeliveryAttempt `json:"attempt_history"`
}

type WebhookRef struct {
	Webhook string `path:"webhook" doc:"Webhook id."`
}

func (h *handlers) listEventTypes(ctx context.Context, _ *struct{}) (*Out[[]event.Info], error) {
	return ok(ctx, event.Catalog()), nil
}

type listWebhooksIn struct {
	PageQuery
	Sort    string `query:"sort" default:"created_at" enum:"created_at,updated_at,url"`
	Enabled string `query:"enabled" enum:"true,false" doc:"Only enabled (true) or disabled (false) endpoints."`
}

func (h *handlers) listWebhooks(ctx context.Context, in *listWebhooksIn) (*ListOut[Webhook], error) {
	p := principal(ctx)
	var f webhook.EndpointFilter
	if in.Enabled != "" {
		v := in.Enabled == "true"
		f.Enabled = &v
	}
	req := in.request(in.Sort)
	page, err := h.Webhooks.List(ctx, p, f, req)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	return list(ctx, page, req, func(e *webhook.Endpoint) Webhook { return webhookOut(e, now) }), nil
}

type createWebhookIn struct {
	Body struct {
		URL         string   `json:"url" minLength:"1" maxLength:"2000" doc:"Where events are POSTed (http or https). Private, loopback and link-local addresses are refused unless the operator allows them."`
		Events      []string `json:"events" minItems:"1" doc:"Event types from GET /v1/webhooks/event-types, or [\"*\"] for every event."`
		Description string   `json:"description,omitempty" maxLength:"2000"`
		Enabled     *bool    `json:"enabled,omitempty" doc:"Default true."`
		Project     string   `json:"project,omitempty" doc:"Project id or key: only this project's events (default: a project or environment key's own)."`
		Environment string   `json:"environment,omitempty" doc:"Environment id or key (with project): only this environment's events."`
	}
}

func (h *handlers) createWebhook(ctx context.Context, in *createWebhookIn) (*Out[WebhookWithSecret], error) {
	p := principal(ctx)
	b := in.Body
	wi := webhook.EndpointInput{URL: b.URL, Events: b.Events, Description: b.Description, Enabled: b.Enabled}
	switch {
	case b.Environment != "":
		if b.Project == "" {
			return nil, gatehouse.FieldError("project", "required_field_missing", "an environment needs its project")
		}
		env, err := h.environment(ctx, EnvPath{ProjectPath: ProjectPath{Project: b.Project}, Environment: b.Environment}, false)
		if err != nil {
			return nil, err
		}
		wi.ProjectID, wi.EnvID = env.ProjectID, env.ID
	case b.Project != "":
		proj, _, err := h.project(ctx, b.Project, false)
		if err != nil {
			return nil, err
		}
		wi.ProjectID = proj.ID
	}
	e, err := h.Webhooks.Create(ctx, p, wi)
	if err != nil {
		return nil, err
	}
	return ok(ctx, WebhookWithSecret{Webhook: webhookOut(e, time.Now()), Secret: e.Secret}), nil
}

func (h *handlers) getWebhook(ctx context.Context, in *WebhookRef) (*Out[Webhook], error) {
	e, err := h.Webhooks.Get(ctx, principal(ctx), in.Webhook)
	if err != nil {
		return nil, err
	}
	return ok(ctx, webhookOut(e, time.Now())), nil
}

type updateWebhookIn struct {
	WebhookRef
	Body struct {
		URL         *string   `json:"url,omitempty" maxLength:"2000"`
		Events      *[]string `json:"events,omitempty"`
		Description *string   `json:"description,omitempty" maxLength:"2000"`
		Enabled     *bool     `json:"enabled,omitempty" doc:"Enabling a disabled endpoint clears its failure record; pending deliveries are not resent (replay them)."`
	}
}

func (h *handlers) updateWebhook(ctx context.Context, in *updateWebhookIn) (*Out[Webhook], error) {
	b := in.Body
	e, err := h.Webhooks.Update(ctx, principal(ctx), in.Webhook, webhook.EndpointPatch{URL: b.URL, Events: b.Events, Description: b.Description, Enabled: b.Enabled})
	if err != nil {
		return nil, err
	}
	return ok(ctx, webhookOut(e, time.Now())), nil
}

func (h *handlers) deleteWebhook(ctx context.Context, in *WebhookRef) (*NoContent, error) {
	return &NoContent{}, h.Webhooks.Delete(ctx, principal(ctx), in.Webhook)
}

type rotateSecretIn struct {
	WebhookRef
	Body struct {
		GracePeriod *int `json:"grace_period_seconds,omitempty" minimum:"0" maximum:"604800" doc:"How long the old secret keeps signing (default 86400: a day; 0: it stops now)."`
	}
}

func (h *handlers) rotateWebhookSecret(ctx context.Context, in *rotateSecretIn) (*Out[WebhookWithSecret], error) {
	grace := webhook.DefaultGracePeriod
	if in.Body.GracePeriod != nil {
		grace = time.Duration(*in.Body.GracePeriod) * time.Second
	}
	e, err := h.Webhooks.RotateSecret(ctx, principal(ctx), in.Webhook, grace)
	if err != nil {
		return nil, err
	}
	return ok(ctx, WebhookWithSecret{Webhook: webhookOut(e, time.Now()), Secret: e.Secret}), nil
}

func (h *handlers) testWebhook(ctx context.Context, in *WebhookRef) (*Out[Delivery], error) {
	p := principal(ctx)
	id, err := h.Webhooks.Test(ctx, p, in.Webhook)
	if err != nil {
		return nil, err
	}
	d, err := h.Webhooks.DeliveryByID(ctx, p, id)
	if err != nil {
		return nil, err
	}
	return ok(ctx, deliveryOut(d)), nil
}

type listDeliveriesIn struct {
	WebhookRef
	PageQuery
	Sort   string    `query:"sort" default:"created_at" enum:"created_at,updated_at,attempts"`
	Status string    `query:"status" enum:"pending,succeeded,failed,cancelled"`
	Event  string    `query:"event" doc:"Only deliveries of this event type."`
	Since  time.Time `query:"since" doc:"Only deliveries created at or after this time (RFC 3339)."`
}

func (h *handlers) listDeliveries(ctx context.Context, in *listDeliveriesIn) (*ListOut[Delivery], error) {
	req := in.request(in.Sort)
	f := webhook.DeliveryFilter{EndpointID: in.Webhook, Status: in.Status, EventType: in.Event}
	if !in.Since.IsZero() {
		f.Since = &in.Since
	}
	page, err := h.Webhooks.Deliveries(ctx, principal(ctx), f, req)
	if err != nil {
		return nil, err
	}
	return list(ctx, page, req, deliveryOut), nil
}

type DeliveryRef struct {
	WebhookRef
	Delivery string `path:"delivery" doc:"Delivery id."`
}

func (h *handlers) getDelivery(ctx context.Context, in *DeliveryRef) (*Out[DeliveryDetail], error) {
	d, attempts, ev, err := h.Webhooks.Delivery(ctx, principal(ctx), in.Webhook, in.Delivery)
	if err != nil {
		return nil, err
	}
	out := DeliveryDetail{Delivery: deliveryOut(d), AttemptHistory: make([]DeliveryAttempt, len(attempts))}
	if err := json.Unmarshal(ev.Payload, &out.Payload); err != nil {
		return nil, err
	}
	for i, a := range attempts {
		out.AttemptHistory[i] = DeliveryAttempt{Attempt: a.Attempt, StartedAt: a.StartedAt, DurationMS: float64(a.Duration.Microseconds()) / 1000,
			StatusCode: a.StatusCode, Error: a.Error, RequestHeaders: a.RequestHeaders, ResponseHeaders: a.ResponseHeaders,
			ResponseBody: a.ResponseBody, ResponseTruncated: a.ResponseTruncated}
		if out.AttemptHistory[i].ResponseHeaders == nil {
			out.AttemptHistory[i].ResponseHeaders = map[string]string{}
		}
	}
	return ok(ctx, out), nil
}

func (h *handlers) replayDelivery(ctx context.Context, in *DeliveryRef) (*Out[Delivery], error) {
	d, err := h.Webhooks.Replay(ctx, principal(ctx), in.Webhook, in.Delivery)
	if err != nil {
		return nil, err
	}
	return ok(ctx, deliveryOut(d)), nil
}

type recoverIn struct {
	WebhookRef
	Body struct {
		Since time.Time `json:"since" doc:"Replay every failed delivery created at or after this time (at most 10,000)."`
	}
}

// Recovered says how many deliveries a recover call replayed.
type Recovered struct {
	Replayed int `json:"replayed"`
}

func (h *handlers) recoverDeliveries(ctx context.Context, in *recoverIn) (*Out[Recovered], error) {
	n, err := h.Webhooks.Recover(ctx, principal(ctx), in.Webhook, in.Body.Since)
	if err != nil {
		return nil, err
	}
	return ok(ctx, Recovered{Replayed: n}), nil
}
