package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/event"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Headers of a delivery.
const (
	// HeaderSignature is the documented signature header: hex HMAC-SHA256 of the body,
	// keyed with the endpoint's secret exactly as shown ("whsec_…"). During
	// a rotation's grace period it is signed with the previous secret, so
	// receivers that have not switched yet keep working; HeaderSignatureNew
	// then carries the signature with the new secret.
	HeaderSignature    = "X-Signature"
	HeaderSignatureNew = "X-Signature-New"
	// HeaderID is the event id: the same in every attempt and replay of an
	// event, so receivers can drop duplicates.
	HeaderID = "X-Webhook-Id"
	// HeaderTimestamp is the attempt's time (unix seconds): receivers can
	// refuse old deliveries (replays).
	HeaderTimestamp = "X-Webhook-Timestamp"
	HeaderEvent     = "X-Webhook-Event"
	HeaderDelivery  = "X-Webhook-Delivery"
	HeaderAttempt   = "X-Webhook-Attempt"

	// Standard Webhooks (standardwebhooks.com): the signature covers
	// "id.timestamp.body", keyed with the secret's base64 part decoded; the
	// list holds one signature per active secret.
	HeaderStdID        = "webhook-id"
	HeaderStdTimestamp = "webhook-timestamp"
	HeaderStdSignature = "webhook-signature"
)

// Sign returns the X-Signature of body: hex HMAC-SHA256 keyed with
// the secret string.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// StandardSign returns the Standard Webhooks signature ("v1,<base64>") of
// a message.
func StandardSign(secret, msgID string, ts int64, body []byte) string {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		key = []byte(secret)
	}
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%d.", msgID, ts)
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// headers builds the request headers of one attempt.
func headers(e *Endpoint, ev *StoredEvent, d *Delivery, attempt int, now time.Time) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Gatehouse-Webhooks/1")
	ts := now.Unix()
	cur, prev := e.Secrets(now)
	if prev != "" {
		h.Set(HeaderSignature, Sign(prev, ev.Payload))
		h.Set(HeaderSignatureNew, Sign(cur, ev.Payload))
	} else {
		h.Set(HeaderSignature, Sign(cur, ev.Payload))
	}
	h.Set(HeaderID, ev.ID)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderEvent, ev.Type)
	h.Set(HeaderDelivery, d.ID)
	h.Set(HeaderAttempt, strconv.Itoa(attempt))
	sigs := StandardSign(cur, ev.ID, ts, ev.Payload)
	if prev != "" {
		sigs += " " + StandardSign(prev, ev.ID, ts, ev.Payload)
	}
	h[HeaderStdID] = []string{ev.ID}
	h[HeaderStdTimestamp] = []string{strconv.FormatInt(ts, 10)}
	h[HeaderStdSignature] = []string{sigs}
	return h
}

// Deliver makes the next attempt of delivery id and records it. It
// returns how long to wait before the attempt after it (0: the delivery
// is finished: delivered, failed for good, cancelled or gone). An error
// means the attempt could not be recorded and should be run again.
func (s *Service) Deliver(ctx context.Context, id string) (time.Duration, error) {
	d, err := s.Store.DeliveryByID(ctx, id)
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
		return 0, nil // its endpoint or organization was deleted
	}
	if err != nil {
		return 0, err
	}
	if d.Status != StatusPending {
		return 0, nil // a duplicate run of a finished delivery
	}
	e, err := s.Store.GetEndpoint(ctx, d.OrgID, d.EndpointID)
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if !e.Enabled {
		d.Status, d.LastError, d.NextAttemptAt, d.UpdatedAt = StatusCancelled, "the endpoint is disabled", nil, s.now()
		return 0, s.Store.UpdateDelivery(ctx, d)
	}
	ev, err := s.Store.GetEvent(ctx, d.EventID)
	if err != nil {
		return 0, err
	}

	attempt := d.Attempts + 1
	start := s.now()
	h := headers(e, ev, d, attempt, start)
	ctx, span := s.Tracing.Start(ctx, "webhook delivery", trace.SpanKindClient,
		attribute.String("server.address", host(e.URL)), attribute.Int("gatehouse.webhook.attempt", attempt),
		attribute.String("gatehouse.webhook.event_type", d.EventType))
	defer span.End()
	s.Tracing.Inject(ctx, h) // the receiver's traces join the delivery's (traceparent)
	a := &Attempt{ID: newID(), DeliveryID: d.ID, Attempt: attempt, StartedAt: start, RequestHeaders: flatten(h, true)}
	retryAfter := s.send(ctx, e.URL, h, ev.Payload, a)
	a.Duration = s.Now().Sub(start)
	if a.StatusCode != 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", a.StatusCode))
	}
	if a.Error != "" {
		span.SetStatus(codes.Error, "the attempt failed")
	}
	return s.record(ctx, d, a, retryAfter)
}

// host is the endpoint's host (and port): the span's server.address,
// never its path or query, which may carry a token of the receiver's.
func host(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

// send makes the HTTP request and fills the attempt's outcome; it returns
// the receiver's Retry-After on 429 and 503.
func (s *Service) send(ctx context.Context, url string, h http.Header, body []byte, a *Attempt) time.Duration {
	ctx, cancel := context.WithTimeout(ctx, s.Opt.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		a.Error = err.Error()
		return 0
	}
	req.Header = h
	res, err := s.client.Do(req)
	if err != nil {
		a.Error = describe(err)
		return 0
	}
	defer res.Body.Close()
	a.StatusCode = res.StatusCode
	a.ResponseHeaders = flatten(res.Header, false)
	data, _ := io.ReadAll(io.LimitReader(res.Body, int64(s.Opt.MaxResponseBytes)+1))
	if len(data) > s.Opt.MaxResponseBytes {
		data, a.ResponseTruncated = data[:s.Opt.MaxResponseBytes], true
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20)) // let the connection be reused
	a.ResponseBody = strings.ToValidUTF8(string(data), "\uFFFD")
	if res.StatusCode < 200 || res.StatusCode > 299 {
		a.Error = "the endpoint answered " + res.Status
		if res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusServiceUnavailable {
			if secs, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && secs > 0 {
				return time.Duration(secs) * time.Second
			}
		}
	}
	return 0
}

func describe(err error) string {
	switch {
	case errors.Is(err, ErrBlocked):
		var msg string
		for e := err; e != nil; e = errors.Unwrap(e) {
			if strings.HasPrefix(e.Error(), ErrBlocked.Error()) {
				msg = e.Error()
			}
		}
		if msg != "" {
			return msg
		}
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	}
	return err.Error()
}

// maxRetryAfter caps a receiver's Retry-After.
const maxRetryAfter = 24 * time.Hour

// record stores attempt a and the delivery's and endpoint's new state in
// one transaction, disabling the endpoint (with a webhook.disabled event)
// when it has failed for too long or answered 410 Gone.
func (s *Service) record(ctx context.Context, d *Delivery, a *Attempt, retryAfter time.Duration) (time.Duration, error) {
	var wait time.Duration
	err := s.Store.InWebhookTx(ctx, func(tx Store) error {
		wait = 0
		e, err := tx.GetEndpoint(ctx, d.OrgID, d.EndpointID)
		if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
			return nil // deleted meanwhile: its deliveries are gone too
		}
		if err != nil {
			return err
		}
		if err := tx.CreateAttempt(ctx, a); err != nil {
			return err
		}
		now := s.now()
		d.Attempts, d.LastStatusCode, d.LastError, d.UpdatedAt = a.Attempt, a.StatusCode, a.Error, now
		ok := a.StatusCode >= 200 && a.StatusCode <= 299
		if ok {
			d.Status, d.NextAttemptAt, d.DeliveredAt = StatusSucceeded, nil, &now
			e.FailingSince, e.LastSuccessAt = nil, &now
		} else {
			if e.FailingSince == nil {
				e.FailingSince = &a.StartedAt
			}
			e.LastFailureAt = &now
			reason := ""
			switch {
			case a.StatusCode == http.StatusGone:
				reason = "the endpoint answered 410 Gone"
			case now.Sub(*e.FailingSince) >= s.Opt.DisableAfter:
				reason = fmt.Sprintf("every attempt failed for %s (since %s)", s.Opt.DisableAfter, e.FailingSince.Format(time.RFC3339))
			}
			switch {
			case reason != "" && e.Enabled:
				e.Enabled, e.DisabledAt, e.DisabledReason = false, &now, reason
				d.Status, d.NextAttemptAt = StatusFailed, nil
				if err := tx.Emit(ctx, event.Event{ID: newID(), Type: event.WebhookDisabled, OrgID: e.OrgID, ProjectID: e.ProjectID, EnvID: e.EnvID,
					OccurredAt: now, Data: disabledData(e)}); err != nil {
					return err
				}
			case !e.Enabled || a.Attempt > len(s.Opt.Schedule):
				d.Status, d.NextAttemptAt = StatusFailed, nil
			default:
				wait = jitter(s.Opt.Schedule[a.Attempt-1])
				if retryAfter > wait {
					wait = min(retryAfter, maxRetryAfter)
				}
				next := now.Add(wait)
				d.NextAttemptAt = &next
			}
		}
		e.UpdatedAt = now
		if err := tx.UpdateEndpoint(ctx, e); err != nil {
			return err
		}
		return tx.UpdateDelivery(ctx, d)
	})
	return wait, err
}

// disabledData is the data of a webhook.disabled event.
func disabledData(e *Endpoint) map[string]any {
	return map[string]any{"id": e.ID, "url": e.URL, "disabled_at": e.DisabledAt, "reason": e.DisabledReason,
		"failing_since": e.FailingSince}
}

// jitter spreads d by ±10% so that retries of many deliveries do not come
// in lockstep.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d + time.Duration((rand.Float64()*0.2-0.1)*float64(d))
}

// flatten turns headers into a map for the attempt record; the request's
// own headers are kept whole (they carry no secret: a signature does not
// reveal its key).
func flatten(h http.Header, request bool) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		if !request && len(out) >= 50 {
			break
		}
		out[k] = strings.Join(v, ", ")
	}
	return out
}
