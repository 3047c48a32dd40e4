package client

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Logs is the API log: every external call.
type Logs struct{ c *Client }

// LogFilter narrows the API log.
type LogFilter struct {
	ListOptions
	Actor     string // key id
	Status    string // "404" or "4xx"
	Method    string
	Writes    bool   // only methods other than GET, HEAD and OPTIONS
	Path      string // prefix
	RequestID string
	Since     time.Time
	Until     time.Time
}

func (f *LogFilter) values() url.Values {
	if f == nil {
		return url.Values{}
	}
	q := f.ListOptions.values()
	for k, v := range map[string]string{"actor": f.Actor, "status": f.Status, "method": f.Method, "path": f.Path, "request_id": f.RequestID} {
		set(q, k, v)
	}
	if f.Writes {
		q.Set("writes", "true")
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.UTC().Format(time.RFC3339Nano))
	}
	return q
}

// List lists calls, newest first.
func (l *Logs) List(ctx context.Context, f *LogFilter) (*Page[Call], error) {
	return list[Call](ctx, l.c, "/v1/logs", f.values())
}

// All iterates over every call matching f.
func (l *Logs) All(ctx context.Context, f *LogFilter) iter.Seq2[Call, error] {
	return all[Call](ctx, l.c, "/v1/logs", f.values())
}

// Get returns one call with its request and response.
func (l *Logs) Get(ctx context.Context, id string) (*Call, error) {
	return get[Call](ctx, l.c, "/v1/logs/"+seg(id), nil)
}

// Audit is the audit trail: who changed what, when and from where.
type Audit struct{ c *Client }

// AuditFilter narrows the audit trail.
type AuditFilter struct {
	ListOptions
	ActorType  string // member, key or system
	Actor      string // a member's or key's id
	Action     string // user.updated, or every action on a kind of object: user.
	ObjectType string
	ObjectID   string
	Since      time.Time
	Until      time.Time
}

func (f *AuditFilter) values() url.Values {
	if f == nil {
		return url.Values{}
	}
	q := f.ListOptions.values()
	for k, v := range map[string]string{"actor_type": f.ActorType, "actor": f.Actor, "action": f.Action, "object_type": f.ObjectType, "object_id": f.ObjectID} {
		set(q, k, v)
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.UTC().Format(time.RFC3339Nano))
	}
	return q
}

// List lists entries, newest first.
func (a *Audit) List(ctx context.Context, f *AuditFilter) (*Page[AuditEntry], error) {
	return list[AuditEntry](ctx, a.c, "/v1/audit", f.values())
}

// All iterates over every entry matching f.
func (a *Audit) All(ctx context.Context, f *AuditFilter) iter.Seq2[AuditEntry, error] {
	return all[AuditEntry](ctx, a.c, "/v1/audit", f.values())
}

// Get returns one entry.
func (a *Audit) Get(ctx context.Context, id string) (*AuditEntry, error) {
	return get[AuditEntry](ctx, a.c, "/v1/audit/"+seg(id), nil)
}

// Webhooks are the endpoints that receive events.
type Webhooks struct{ c *Client }

// WebhookInput registers an endpoint.
type WebhookInput struct {
	URL         string   `json:"url"`
	Events      []string `json:"events"` // event types, or ["*"]
	Description string   `json:"description,omitempty"`
	Enabled     *bool    `json:"enabled,omitempty"`
	Project     string   `json:"project,omitempty"`
	Environment string   `json:"environment,omitempty"`
}

// List lists endpoints.
func (w *Webhooks) List(ctx context.Context, opt *ListOptions) (*Page[Webhook], error) {
	return list[Webhook](ctx, w.c, "/v1/webhooks", opt.values())
}

// Create registers an endpoint; its Secret is set, once.
func (w *Webhooks) Create(ctx context.Context, in WebhookInput) (*Webhook, error) {
	return write[Webhook](ctx, w.c, http.MethodPost, "/v1/webhooks", nil, in)
}

// Get returns an endpoint.
func (w *Webhooks) Get(ctx context.Context, id string) (*Webhook, error) {
	return get[Webhook](ctx, w.c, "/v1/webhooks/"+seg(id), nil)
}

// WebhookPatch changes an endpoint (nil fields stay).
type WebhookPatch struct {
	URL         *string   `json:"url,omitempty"`
	Events      *[]string `json:"events,omitempty"` // event types, or ["*"]
	Description *string   `json:"description,omitempty"`
	Enabled     *bool     `json:"enabled,omitempty"`
}

// Update changes an endpoint.
func (w *Webhooks) Update(ctx context.Context, id string, p WebhookPatch) (*Webhook, error) {
	return write[Webhook](ctx, w.c, http.MethodPatch, "/v1/webhooks/"+seg(id), nil, p)
}

// SetEnabled enables or disables an endpoint.
func (w *Webhooks) SetEnabled(ctx context.Context, id string, enabled bool) (*Webhook, error) {
	return write[Webhook](ctx, w.c, http.MethodPatch, "/v1/webhooks/"+seg(id), nil, map[string]bool{"enabled": enabled})
}

// Delete deletes an endpoint.
func (w *Webhooks) Delete(ctx context.Context, id string) error {
	return del(ctx, w.c, "/v1/webhooks/"+seg(id), nil)
}

// RotateSecret gives the endpoint a new secret (in the answer's Secret);
// the old one keeps signing for grace.
func (w *Webhooks) RotateSecret(ctx context.Context, id string, grace time.Duration) (*Webhook, error) {
	return write[Webhook](ctx, w.c, http.MethodPost, "/v1/webhooks/"+seg(id)+"/rotate-secret", nil, map[string]int{"grace_period_seconds": int(grace / time.Second)})
}

// Test sends a webhook.test event to the endpoint now.
func (w *Webhooks) Test(ctx context.Context, id string) (*Delivery, error) {
	return write[Delivery](ctx, w.c, http.MethodPost, "/v1/webhooks/"+seg(id)+"/test", nil, nil)
}

// Deliveries lists an endpoint's deliveries (status: pending, succeeded,
// failed, cancelled; "" for all).
func (w *Webhooks) Deliveries(ctx context.Context, id, status string, opt *ListOptions) (*Page[Delivery], error) {
	q := opt.values()
	set(q, "status", status)
	return list[Delivery](ctx, w.c, "/v1/webhooks/"+seg(id)+"/deliveries", q)
}

// Delivery returns one delivery with its body and every attempt.
func (w *Webhooks) Delivery(ctx context.Context, id, delivery string) (*Delivery, error) {
	return get[Delivery](ctx, w.c, "/v1/webhooks/"+seg(id)+"/deliveries/"+seg(delivery), nil)
}

// Replay sends a delivery's event again, as a new delivery.
func (w *Webhooks) Replay(ctx context.Context, id, delivery string) (*Delivery, error) {
	return write[Delivery](ctx, w.c, http.MethodPost, "/v1/webhooks/"+seg(id)+"/deliveries/"+seg(delivery)+"/replay", nil, nil)
}

// Event is the body of a webhook delivery.
type Event struct {
	ID             string          `json:"id"`
	Event          string          `json:"event"`
	Timestamp      time.Time       `json:"timestamp"`
	OrganizationID string          `json:"organization_id"`
	ProjectID      string          `json:"project_id,omitempty"`
	EnvironmentID  string          `json:"environment_id,omitempty"`
	Data           json.RawMessage `json:"data"`
}

// ErrWebhookSignature is wrapped by VerifyWebhook's errors.
var ErrWebhookSignature = errors.New("gatehouse: webhook not verified")

// VerifyWebhook checks a delivery's signature (X-Signature is
// hex HMAC-SHA256 of the raw body, keyed with the endpoint's secret; during
// a secret rotation X-Signature-New carries the new secret's), refuses one
// whose X-Webhook-Timestamp is further than tolerance from now (a replay;
// 0 means five minutes), and returns the event. Pass the body exactly as
// received.
func VerifyWebhook(secret string, h http.Header, body []byte, tolerance time.Duration) (*Event, error) {
	if tolerance <= 0 {
		tolerance = 5 * time.Minute
	}
	ts, err := strconv.ParseInt(h.Get("X-Webhook-Timestamp"), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: missing or malformed X-Webhook-Timestamp", ErrWebhookSignature)
	}
	if d := time.Since(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return nil, fmt.Errorf("%w: the timestamp is %s off (a replay?)", ErrWebhookSignature, d.Round(time.Second))
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	want := hex.EncodeToString(m.Sum(nil))
	ok := false
	for _, name := range []string{"X-Signature", "X-Signature-New"} {
		if got := h.Get(name); got != "" && hmac.Equal([]byte(got), []byte(want)) {
			ok = true
		}
	}
	if !ok {
		return nil, fmt.Errorf("%w: the signature does not match", ErrWebhookSignature)
	}
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return nil, fmt.Errorf("%w: the body is not an event: %v", ErrWebhookSignature, err)
	}
	return &ev, nil
}

// Jobs run long work in the background.
type Jobs struct{ c *Client }

// ImportOptions tune an import.
type ImportOptions struct {
	// Format is "jsonl" (default) or "csv".
	Format string
	// Type is the type of CSV rows (users, tenants, role_assignments), or of
	// JSON Lines rows without one.
	Type      string
	BatchSize int
	// Events sends a webhook event per changed item.
	Events bool
}

// Import uploads a file (JSON Lines or CSV), streamed. Every row is
// checked first: a file with bad rows is refused with an *Error whose
// Details["errors"] list them with their line numbers.
func (j *Jobs) Import(ctx context.Context, file io.Reader, opt ImportOptions) (*Job, error) {
	q := j.c.envQuery(nil)
	set(q, "type", opt.Type)
	if opt.BatchSize > 0 {
		q.Set("batch_size", strconv.Itoa(opt.BatchSize))
	}
	if opt.Events {
		q.Set("events", "true")
	}
	ctype := "application/x-ndjson"
	if opt.Format == "csv" {
		ctype = "text/csv"
	}
	var out Job
	if err := j.c.do(ctx, request{method: http.MethodPost, path: "/v1/jobs/import", query: q, raw: file, ctype: ctype}, &out, nil); err != nil {
		return nil, err
	}
	return &out, nil
}

// Export starts an export of the environment.
func (j *Jobs) Export(ctx context.Context) (*Job, error) {
	return write[Job](ctx, j.c, http.MethodPost, "/v1/jobs", j.c.envQuery(nil), map[string]string{"type": "export"})
}

// Copy starts a copy of the environment project/environment into this
// client's environment (replace empties it first).
func (j *Jobs) Copy(ctx context.Context, project, environment string, replace bool) (*Job, error) {
	return write[Job](ctx, j.c, http.MethodPost, "/v1/jobs", j.c.envQuery(nil), map[string]any{"type": "environment_copy",
		"source": map[string]string{"project": project, "environment": environment}, "replace": replace})
}

// ResetSandbox starts the reset of a sandbox environment.
func (j *Jobs) ResetSandbox(ctx context.Context) (*Job, error) {
	return write[Job](ctx, j.c, http.MethodPost, "/v1/jobs", j.c.envQuery(nil), map[string]string{"type": "sandbox_reset"})
}

// JobFilter narrows the job list.
type JobFilter struct {
	ListOptions
	Status, Type string
}

// List lists jobs.
func (j *Jobs) List(ctx context.Context, f *JobFilter) (*Page[Job], error) {
	q := url.Values{}
	if f != nil {
		q = f.ListOptions.values()
		set(q, "status", f.Status)
		set(q, "type", f.Type)
	}
	return list[Job](ctx, j.c, "/v1/jobs", q)
}

// Get returns a job and its progress.
func (j *Jobs) Get(ctx context.Context, id string) (*Job, error) {
	return get[Job](ctx, j.c, "/v1/jobs/"+seg(id), nil)
}

// Cancel cancels a job.
func (j *Jobs) Cancel(ctx context.Context, id string) (*Job, error) {
	return write[Job](ctx, j.c, http.MethodPost, "/v1/jobs/"+seg(id)+"/cancel", nil, nil)
}

// Tasks lists a job's tasks in order.
func (j *Jobs) Tasks(ctx context.Context, id string, opt *ListOptions) (*Page[Task], error) {
	return list[Task](ctx, j.c, "/v1/jobs/"+seg(id)+"/tasks", opt.values())
}

// Wait polls job id every interval (0: half a second) until it has ended,
// calling progress (if set) after each poll, and returns it.
func (j *Jobs) Wait(ctx context.Context, id string, interval time.Duration, progress func(*Job)) (*Job, error) {
	if interval <= 0 {
		interval = 500 * time.Millisecond
	}
	for {
		job, err := j.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if progress != nil {
			progress(job)
		}
		if job.Ended() {
			return job, nil
		}
		if err := sleep(ctx, interval); err != nil {
			return job, err
		}
	}
}

// Output streams a succeeded export's JSON Lines to w.
func (j *Jobs) Output(ctx context.Context, id string, w io.Writer) error {
	res, err := j.c.send(ctx, request{method: http.MethodGet, path: "/v1/jobs/" + seg(id) + "/output"})
	if err != nil {
		return err
	}
	defer res.Body.Close()
	_, err = io.Copy(w, res.Body)
	return err
}

// Tasks are the steps of jobs.
type Tasks struct{ c *Client }

// Get returns a task with its row errors.
func (t *Tasks) Get(ctx context.Context, id string) (*Task, error) {
	return get[Task](ctx, t.c, "/v1/tasks/"+seg(id), nil)
}

// Retry runs a failed task again, alone.
func (t *Tasks) Retry(ctx context.Context, id string) (*Task, error) {
	return write[Task](ctx, t.c, http.MethodPost, "/v1/tasks/"+seg(id)+"/retry", nil, nil)
}
