package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/event"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
	"github.com/gatehouse-dev/gatehouse/internal/webhook"
	"github.com/google/uuid"
)

var _ webhook.Store = (*Store)(nil)

// Enqueuer puts background work on the queue in a transaction of this
// database (see package queue).
type Enqueuer interface {
	EnqueueDeliveries(ctx context.Context, tx *sql.Tx, ids []string) error
	EnqueueTask(ctx context.Context, tx *sql.Tx, id string) error
}

var errNoQueue = errors.New("store: a log database runs no background work (webhook deliveries, job tasks)")

// InWebhookTx runs fn in one transaction.
func (s *Store) InWebhookTx(ctx context.Context, fn func(webhook.Store) error) error {
	return s.InTx(ctx, func(tx *Store) error { return fn(tx) })
}

// Emit records events and, in the same transaction, one delivery for each
// endpoint webhook.Route sends each event to, and enqueues the deliveries.
// An event no endpoint wants is not stored.
func (s *Store) Emit(ctx context.Context, events ...event.Event) error {
	if len(events) == 0 {
		return nil
	}
	if s.tx == nil {
		return s.InTx(ctx, func(tx *Store) error { return tx.Emit(ctx, events...) })
	}
	endpoints := map[string][]webhook.Endpoint{} // org id → its endpoints
	var deliveries []string
	for _, ev := range events {
		if ev.OrgID == "" && ev.EnvID != "" {
			if err := s.tx.QueryRowContext(ctx, "SELECT org_id, project_id FROM environments WHERE id = $1", ev.EnvID).Scan(&ev.OrgID, &ev.ProjectID); err != nil {
				return fmt.Errorf("emit %s: environment %s: %w", ev.Type, ev.EnvID, err)
			}
		}
		if err := s.auditEvent(ctx, &ev); err != nil {
			return err
		}
		eps, ok := endpoints[ev.OrgID]
		if !ok {
			var err error
			eps, err = queryAll(ctx, s.tx, "SELECT "+endpointCols+" FROM webhook_endpoints WHERE org_id = $1", scanEndpoint, ev.OrgID)
			if err != nil {
				return err
			}
			endpoints[ev.OrgID] = eps
		}
		targets := webhook.Route(&ev, eps)
		if len(targets) == 0 {
			continue
		}
		webhook.Stamp(&ev, func() string { return uuid.Must(uuid.NewV7()).String() }, time.Now())
		body, err := ev.Body()
		if err != nil {
			return fmt.Errorf("emit %s: %w", ev.Type, err)
		}
		if err := exec(ctx, s.tx, "event", "INSERT INTO webhook_events (id, org_id, project_id, env_id, type, payload, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7)",
			ev.ID, ev.OrgID, ev.ProjectID, ev.EnvID, ev.Type, string(body), micros(ev.OccurredAt)); err != nil {
			return err
		}
		for _, e := range targets {
			id := uuid.Must(uuid.NewV7()).String()
			if err := s.insertDelivery(ctx, &webhook.Delivery{ID: id, EndpointID: e.ID, EventID: ev.ID, OrgID: ev.OrgID, EventType: ev.Type,
				Status: webhook.StatusPending, CreatedAt: ev.OccurredAt, UpdatedAt: ev.OccurredAt}); err != nil {
				return err
			}
			deliveries = append(deliveries, id)
		}
	}
	return s.enqueueDeliveries(ctx, deliveries)
}

func (s *Store) enqueueDeliveries(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	if s.db.queue == nil {
		return errNoQueue
	}
	return s.db.queue.EnqueueDeliveries(ctx, s.tx, ids)
}

// ---- endpoints

const endpointCols = "id, org_id, project_id, env_id, url, description, events, enabled, secret, previous_secret, previous_secret_expires_at, " +
	"failing_since, last_success_at, last_failure_at, disabled_at, disabled_reason, created_by, created_at, updated_at"

// endpointScanner reads endpoints, opening their sealed secrets.
func (s *Store) endpointScanner() func(sc scanner) (webhook.Endpoint, error) {
	return func(sc scanner) (webhook.Endpoint, error) {
		e, err := scanEndpoint(sc)
		if err != nil {
			return e, err
		}
		if e.Secret, err = s.open(e.Secret, "webhook_endpoints.secret:"+e.ID); err != nil {
			return e, err
		}
		e.PreviousSecret, err = s.open(e.PreviousSecret, "webhook_endpoints.previous_secret:"+e.ID)
		return e, err
	}
}

// sealedSecrets returns e's secrets sealed for storage.
func (s *Store) sealedSecrets(e *webhook.Endpoint) (secret, previous string, err error) {
	if secret, err = s.seal(e.Secret, "webhook_endpoints.secret:"+e.ID); err != nil {
		return "", "", err
	}
	previous, err = s.seal(e.PreviousSecret, "webhook_endpoints.previous_secret:"+e.ID)
	return secret, previous, err
}

func scanEndpoint(sc scanner) (webhook.Endpoint, error) {
	var e webhook.Endpoint
	var proj, env nullStringScan
	var events string
	var prevExp, failing, success, failure, disabled nullInt
	var c, u int64
	err := sc.Scan(&e.ID, &e.OrgID, &proj, &env, &e.URL, &e.Description, &events, &e.Enabled, &e.Secret, &e.PreviousSecret, &prevExp,
		&failing, &success, &failure, &disabled, &e.DisabledReason, &e.CreatedBy, &c, &u)
	e.ProjectID, e.EnvID, e.Events = proj.String, env.String, strings.Fields(events)
	e.PreviousSecretExpiresAt, e.FailingSince, e.LastSuccessAt = fromNullMicros(prevExp), fromNullMicros(failing), fromNullMicros(success)
	e.LastFailureAt, e.DisabledAt = fromNullMicros(failure), fromNullMicros(disabled)
	e.CreatedAt, e.UpdatedAt = fromMicros(c), fromMicros(u)
	return e, err
}

// CreateEndpoint stores a webhook endpoint.
func (s *Store) CreateEndpoint(ctx context.Context, e *webhook.Endpoint) error {
	secret, previous, err := s.sealedSecrets(e)
	if err != nil {
		return err
	}
	return exec(ctx, s.writer(), "webhook", "INSERT INTO webhook_endpoints ("+endpointCols+") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)",
		e.ID, e.OrgID, nullString(e.ProjectID), nullString(e.EnvID), e.URL, e.Description, strings.Join(e.Events, " "), e.Enabled, secret,
		previous, nullMicros(e.PreviousSecretExpiresAt), nullMicros(e.FailingSince), nullMicros(e.LastSuccessAt), nullMicros(e.LastFailureAt),
		nullMicros(e.DisabledAt), e.DisabledReason, e.CreatedBy, micros(e.CreatedAt), micros(e.UpdatedAt))
}

// GetEndpoint returns endpoint id of orgID.
func (s *Store) GetEndpoint(ctx context.Context, orgID, id string) (*webhook.Endpoint, error) {
	return getOne(ctx, s.reader(), "webhook", id, "SELECT "+endpointCols+" FROM webhook_endpoints WHERE org_id = $1 AND id = $2", s.endpointScanner(), orgID, id)
}

// ListEndpoints lists endpoints.
func (s *Store) ListEndpoints(ctx context.Context, f webhook.EndpointFilter, page gatehouse.PageRequest) (gatehouse.Page[webhook.Endpoint], error) {
	w := &where{}
	w.add("org_id = ?", f.OrgID)
	w.addIf(f.ProjectID != "", "project_id = ?", f.ProjectID)
	w.addIf(f.EnvID != "", "env_id = ?", f.EnvID)
	if f.Enabled != nil {
		w.add("enabled = ?", *f.Enabled)
	}
	return listPage(ctx, s.reader(), "webhook_endpoints", endpointCols, w, map[string]string{"created_at": "created_at", "updated_at": "updated_at", "url": "url"}, page, s.endpointScanner())
}

// UpdateEndpoint stores an endpoint's fields.
func (s *Store) UpdateEndpoint(ctx context.Context, e *webhook.Endpoint) error {
	secret, previous, err := s.sealedSecrets(e)
	if err != nil {
		return err
	}
	return execOne(ctx, s.writer(), "webhook", e.ID, `UPDATE webhook_endpoints SET url=$3, description=$4, events=$5, enabled=$6, secret=$7, previous_secret=$8,
		previous_secret_expires_at=$9, failing_since=$10, last_success_at=$11, last_failure_at=$12, disabled_at=$13, disabled_reason=$14, updated_at=$15
		WHERE org_id=$1 AND id=$2`,
		e.OrgID, e.ID, e.URL, e.Description, strings.Join(e.Events, " "), e.Enabled, secret, previous, nullMicros(e.PreviousSecretExpiresAt),
		nullMicros(e.FailingSince), nullMicros(e.LastSuccessAt), nullMicros(e.LastFailureAt), nullMicros(e.DisabledAt), e.DisabledReason, micros(e.UpdatedAt))
}

// DeleteEndpoint deletes an endpoint and its deliveries.
func (s *Store) DeleteEndpoint(ctx context.Context, orgID, id string) error {
	return execOne(ctx, s.writer(), "webhook", id, "DELETE FROM webhook_endpoints WHERE org_id = $1 AND id = $2", orgID, id)
}

// ---- events

// GetEvent returns a stored event.
func (s *Store) GetEvent(ctx context.Context, id string) (*webhook.StoredEvent, error) {
	return getOne(ctx, s.reader(), "event", id, "SELECT id, org_id, project_id, env_id, type, payload, created_at FROM webhook_events WHERE id = $1",
		func(sc scanner) (webhook.StoredEvent, error) {
			var e webhook.StoredEvent
			var payload string
			var c int64
			err := sc.Scan(&e.ID, &e.OrgID, &e.ProjectID, &e.EnvID, &e.Type, &payload, &c)
			e.Payload, e.CreatedAt = []byte(payload), fromMicros(c)
			return e, err
		}, id)
}

// ---- deliveries

const deliveryCols = "id, endpoint_id, event_id, org_id, event_type, status, attempts, last_status_code, last_error, next_attempt_at, replay_of, created_at, updated_at, delivered_at"

func scanDelivery(sc scanner) (webhook.Delivery, error) {
	var d webhook.Delivery
	var next, delivered nullInt
	var c, u int64
	err := sc.Scan(&d.ID, &d.EndpointID, &d.EventID, &d.OrgID, &d.EventType, &d.Status, &d.Attempts, &d.LastStatusCode, &d.LastError, &next, &d.ReplayOf, &c, &u, &delivered)
	d.NextAttemptAt, d.DeliveredAt, d.CreatedAt, d.UpdatedAt = fromNullMicros(next), fromNullMicros(delivered), fromMicros(c), fromMicros(u)
	return d, err
}

func (s *Store) insertDelivery(ctx context.Context, d *webhook.Delivery) error {
	return exec(ctx, s.writer(), "delivery", "INSERT INTO webhook_deliveries ("+deliveryCols+") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)",
		d.ID, d.EndpointID, d.EventID, d.OrgID, d.EventType, d.Status, d.Attempts, d.LastStatusCode, d.LastError, nullMicros(d.NextAttemptAt),
		d.ReplayOf, micros(d.CreatedAt), micros(d.UpdatedAt), nullMicros(d.DeliveredAt))
}

// CreateDeliveries stores new deliveries and enqueues them.
func (s *Store) CreateDeliveries(ctx context.Context, ds []webhook.Delivery) error {
	if s.tx == nil {
		return s.InTx(ctx, func(tx *Store) error { return tx.CreateDeliveries(ctx, ds) })
	}
	ids := make([]string, len(ds))
	for i := range ds {
		if err := s.insertDelivery(ctx, &ds[i]); err != nil {
			return err
		}
		ids[i] = ds[i].ID
	}
	return s.enqueueDeliveries(ctx, ids)
}

// GetDelivery returns delivery id of orgID.
func (s *Store) GetDelivery(ctx context.Context, orgID, id string) (*webhook.Delivery, error) {
	return getOne(ctx, s.reader(), "delivery", id, "SELECT "+deliveryCols+" FROM webhook_deliveries WHERE org_id = $1 AND id = $2", scanDelivery, orgID, id)
}

// DeliveryByID returns delivery id.
func (s *Store) DeliveryByID(ctx context.Context, id string) (*webhook.Delivery, error) {
	return getOne(ctx, s.reader(), "delivery", id, "SELECT "+deliveryCols+" FROM webhook_deliveries WHERE id = $1", scanDelivery, id)
}

// ListDeliveries lists deliveries.
func (s *Store) ListDeliveries(ctx context.Context, f webhook.DeliveryFilter, page gatehouse.PageRequest) (gatehouse.Page[webhook.Delivery], error) {
	w := &where{}
	w.add("org_id = ?", f.OrgID)
	w.addIf(f.EndpointID != "", "endpoint_id = ?", f.EndpointID)
	w.addIf(f.Status != "", "status = ?", f.Status)
	w.addIf(f.EventType != "", "event_type = ?", f.EventType)
	if f.Since != nil {
		w.add("created_at >= ?", micros(*f.Since))
	}
	return listPage(ctx, s.reader(), "webhook_deliveries", deliveryCols, w, map[string]string{"created_at": "created_at", "updated_at": "updated_at", "attempts": "attempts"}, page, scanDelivery)
}

// DeliveriesOfEvent lists the deliveries of one event.
func (s *Store) DeliveriesOfEvent(ctx context.Context, eventID string) ([]webhook.Delivery, error) {
	return queryAll(ctx, s.reader(), "SELECT "+deliveryCols+" FROM webhook_deliveries WHERE event_id = $1 ORDER BY created_at, id", scanDelivery, eventID)
}

// UpdateDelivery stores a delivery's state.
func (s *Store) UpdateDelivery(ctx context.Context, d *webhook.Delivery) error {
	return execOne(ctx, s.writer(), "delivery", d.ID, `UPDATE webhook_deliveries SET status=$2, attempts=$3, last_status_code=$4, last_error=$5,
		next_attempt_at=$6, updated_at=$7, delivered_at=$8 WHERE id=$1`,
		d.ID, d.Status, d.Attempts, d.LastStatusCode, d.LastError, nullMicros(d.NextAttemptAt), micros(d.UpdatedAt), nullMicros(d.DeliveredAt))
}

// FailedDeliveries lists failed deliveries of an endpoint since a time.
func (s *Store) FailedDeliveries(ctx context.Context, endpointID string, since time.Time, limit int) ([]webhook.Delivery, error) {
	return queryAll(ctx, s.reader(), "SELECT "+deliveryCols+" FROM webhook_deliveries WHERE endpoint_id = $1 AND status = $2 AND created_at >= $3 ORDER BY created_at, id LIMIT $4",
		scanDelivery, endpointID, webhook.StatusFailed, micros(since), limit)
}

// ---- attempts

const attemptCols = "id, delivery_id, attempt, started_at, duration_us, status_code, error, request_headers, response_headers, response_body, response_truncated"

// CreateAttempt records one attempt.
func (s *Store) CreateAttempt(ctx context.Context, a *webhook.Attempt) error {
	req, _ := json.Marshal(a.RequestHeaders)
	res, _ := json.Marshal(orEmptyMap(a.ResponseHeaders))
	return exec(ctx, s.writer(), "attempt", "INSERT INTO webhook_attempts ("+attemptCols+") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
		a.ID, a.DeliveryID, a.Attempt, micros(a.StartedAt), a.Duration.Microseconds(), a.StatusCode, a.Error, string(req), string(res), a.ResponseBody, a.ResponseTruncated)
}

func orEmptyMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// ListAttempts lists a delivery's attempts in order.
func (s *Store) ListAttempts(ctx context.Context, deliveryID string) ([]webhook.Attempt, error) {
	return queryAll(ctx, s.reader(), "SELECT "+attemptCols+" FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt, started_at", func(sc scanner) (webhook.Attempt, error) {
		var a webhook.Attempt
		var started, dur int64
		var req, res string
		err := sc.Scan(&a.ID, &a.DeliveryID, &a.Attempt, &started, &dur, &a.StatusCode, &a.Error, &req, &res, &a.ResponseBody, &a.ResponseTruncated)
		if err != nil {
			return a, err
		}
		a.StartedAt, a.Duration = fromMicros(started), time.Duration(dur)*time.Microsecond
		if err := json.Unmarshal([]byte(req), &a.RequestHeaders); err != nil {
			return a, err
		}
		return a, json.Unmarshal([]byte(res), &a.ResponseHeaders)
	}, deliveryID)
}

// PruneWebhookEvents deletes orgID's events (with their deliveries and
// attempts) older than before.
func (s *Store) PruneWebhookEvents(ctx context.Context, orgID string, before time.Time) (int64, error) {
	res, err := s.writer().ExecContext(ctx, "DELETE FROM webhook_events WHERE org_id = $1 AND created_at < $2", orgID, micros(before))
	if err != nil {
		return 0, fmt.Errorf("prune webhook events: %w", err)
	}
	return res.RowsAffected()
}

// DeliveryUsage counts the deliveries to f's endpoints created in [since,
// until) per bucket of width, by their status now. Buckets without
// deliveries are left out; they come oldest first. The scan follows the
// (endpoint_id, created_at) index.
func (s *Store) DeliveryUsage(ctx context.Context, f webhook.EndpointFilter, since, until time.Time, width time.Duration) ([]usage.DeliveryBucket, error) {
	w := width.Microseconds()
	if w <= 0 {
		return nil, fmt.Errorf("delivery usage: bucket width %v", width)
	}
	start := micros(since)
	q := "SELECT (d.created_at - $2) / $4 AS b, d.status, COUNT(*) FROM webhook_deliveries d" +
		" JOIN webhook_endpoints e ON e.id = d.endpoint_id" +
		" WHERE e.org_id = $1 AND d.created_at >= $2 AND d.created_at < $3 AND ($5 = '' OR e.project_id = $5) AND ($6 = '' OR e.env_id = $6)" +
		" GROUP BY b, d.status ORDER BY b"
	rows, err := s.reader().QueryContext(ctx, q, f.OrgID, start, micros(until), w, f.ProjectID, f.EnvID)
	if err != nil {
		return nil, fmt.Errorf("delivery usage: %w", formatError(err))
	}
	defer rows.Close()
	var out []usage.DeliveryBucket
	for rows.Next() {
		var n, count int64
		var status string
		if err := rows.Scan(&n, &status, &count); err != nil {
			return nil, fmt.Errorf("delivery usage: %w", err)
		}
		at := fromMicros(start + n*w)
		if len(out) == 0 || !out[len(out)-1].Start.Equal(at) {
			out = append(out, usage.DeliveryBucket{Start: at})
		}
		b := &out[len(out)-1]
		switch status {
		case webhook.StatusSucceeded:
			b.Succeeded += count
		case webhook.StatusFailed:
			b.Failed += count
		case webhook.StatusPending:
			b.Pending += count
		case webhook.StatusCancelled:
			b.Cancelled += count
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("delivery usage: %w", err)
	}
	return out, nil
}
