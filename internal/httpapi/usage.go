package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apilog"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
	"github.com/gatehouse-dev/gatehouse/internal/web"
	"github.com/gatehouse-dev/gatehouse/internal/webhook"
)

// UsageStore reads counted checks and the API log's calls over time.
type UsageStore interface {
	CheckUsage(ctx context.Context, orgID, envID, keyID string, since, until time.Time, width time.Duration, byKey bool) ([]usage.Bucket, error)
	CallUsage(ctx context.Context, f apilog.Filter, since, until time.Time, width time.Duration, by usage.CallGrouping) ([]usage.CallBucket, error)
}

// WebhookUsageStore reads webhook deliveries over time.
type WebhookUsageStore interface {
	DeliveryUsage(ctx context.Context, f webhook.EndpointFilter, since, until time.Time, width time.Duration) ([]usage.DeliveryBucket, error)
}

type checkUsageIn struct {
	EnvQuery
	Since    time.Time `query:"since" doc:"Start (RFC 3339); default: 24 hours before until."`
	Until    time.Time `query:"until" doc:"End, exclusive (RFC 3339); default: now."`
	Interval string    `query:"interval" default:"hour" enum:"minute,hour,day" doc:"Bucket width."`
	KeyID    string    `query:"key_id" doc:"Only this API key's checks."`
	GroupBy  string    `query:"group_by" enum:"key" doc:"key: a bucket per key."`
}

// CheckUsage is the checks of one bucket.
type CheckUsage struct {
	Start   time.Time `json:"start" doc:"The bucket's start; it spans interval."`
	KeyID   string    `json:"key_id,omitempty" doc:"With group_by=key: the API key (member:<id> for the dashboard's playground)."`
	Checks  int64     `json:"checks"`
	Allowed int64     `json:"allowed"`
	Denied  int64     `json:"denied"`
}

var usageWidths = map[string]time.Duration{"minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}

// maxUsageBuckets bounds one answer (e.g. 31 days of hours, a week of
// minutes).
const maxUsageBuckets = 10_080

// usageMaxSpan bounds a usage call's window per interval, so that no call
// scans more than a bounded stretch of the log: a week of minutes, 31 days
// of hours, 90 days of days (longer than the API log is kept by default).
var usageMaxSpan = map[string]time.Duration{"minute": 7 * 24 * time.Hour, "hour": 31 * 24 * time.Hour, "day": 90 * 24 * time.Hour}

// usageMaxGroups bounds the rows of one answer (tests lower it): a window
// with more groups (e.g. minutes by status and key over a week of many
// keys) is refused rather than held in memory whole.
var usageMaxGroups atomic.Int64

func init() { usageMaxGroups.Store(50_000) }

func tooManyGroups(n int) error {
	if limit := usageMaxGroups.Load(); int64(n) > limit {
		return gatehouse.FieldError("group_by", "out_of_range", "more than %d rows in this window; narrow since/until, widen interval or group less", limit)
	}
	return nil
}

// usageTimeout bounds one usage query (nanoseconds; tests shorten it).
var usageTimeout atomic.Int64

func init() { usageTimeout.Store(int64(10 * time.Second)) }

// usageRetryAfter is the Retry-After (seconds) of a usage query refused
// for the organization's bound: queries take milliseconds to a few seconds.
const usageRetryAfter = 1

// usageQuery runs a usage query of orgID under usageTimeout: one that runs
// longer is ended and answered 503 with what to do, not an internal error.
// Beyond the organization's bound of queries in flight on this node (the
// gate), it waits briefly for a place (usage.DefaultGateWait), then is
// refused with the documented rate-limit body (429, error.retry_after and
// Retry-After).
func usageQuery[T any](ctx context.Context, gate *usage.Gate, orgID string, q func(ctx context.Context) (T, error)) (T, error) {
	if gate != nil {
		leave, ok := gate.Enter(ctx, orgID)
		if !ok {
			var zero T
			e := web.NewAPIError(ctx, http.StatusTooManyRequests, gatehouse.CodeRateLimitExceeded,
				fmt.Sprintf("this organization already has %d usage queries running on this server, the most it may run at once: retry in %d second (or make fewer usage calls at a time)", gate.PerOrg(), usageRetryAfter))
			e.Err.RetryAfter = usageRetryAfter
			e.Err.Details = map[string]any{"limit": gate.PerOrg()}
			return zero, huma.ErrorWithHeaders(e, http.Header{"Retry-After": {strconv.Itoa(usageRetryAfter)}})
		}
		defer leave()
	}
	d := time.Duration(usageTimeout.Load())
	qctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	v, err := q(qctx)
	if err != nil && ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || qctx.Err() != nil) {
		var zero T
		return zero, gatehouse.Errorf(gatehouse.CodeServiceUnavailable, "the usage query took longer than %v and was stopped; narrow since/until, widen interval or group less", d)
	}
	return v, err
}

func (h *handlers) checkUsage(ctx context.Context, in *checkUsageIn) (*Out[[]CheckUsage], error) {
	if h.UsageStore == nil {
		return nil, gatehouse.Errorf(gatehouse.CodeServiceUnavailable, "check usage is not available on this server")
	}
	ref, err := h.envRefOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	since, until, width, err := usageWindow(in.Since, in.Until, in.Interval)
	if err != nil {
		return nil, err
	}
	rows, err := usageQuery(ctx, h.UsageGate, ref.orgID, func(ctx context.Context) ([]usage.Bucket, error) {
		return h.UsageStore.CheckUsage(ctx, ref.orgID, ref.envID, in.KeyID, since, until, width, in.GroupBy == "key")
	})
	if err != nil {
		return nil, err
	}
	if err := tooManyGroups(len(rows)); err != nil {
		return nil, err
	}
	out := make([]CheckUsage, len(rows))
	for i, r := range rows {
		out[i] = CheckUsage{Start: r.Start, KeyID: r.KeyID, Checks: r.Allowed + r.Denied, Allowed: r.Allowed, Denied: r.Denied}
	}
	return ok(ctx, out), nil
}

// usageWindow checks a usage call's window: since defaults to 24 hours
// before until (default now) and is moved back to a whole interval (UTC).
func usageWindow(since, until time.Time, interval string) (time.Time, time.Time, time.Duration, error) {
	width := usageWidths[interval]
	if width == 0 {
		width = time.Hour
	}
	if until.IsZero() {
		until = time.Now()
	}
	if since.IsZero() {
		since = until.Add(-24 * time.Hour)
	}
	since = since.UTC().Truncate(width)
	if !until.After(since) {
		return since, until, width, gatehouse.FieldError("until", "out_of_range", "until must be after since")
	}
	if interval == "" {
		interval = "hour"
	}
	if span, limit := until.Sub(since), usageMaxSpan[interval]; limit > 0 && span > limit {
		return since, until, width, gatehouse.FieldError("since", "out_of_range", "with interval=%s a window spans at most %d days: %.1f days asked; narrow since/until or widen interval", interval, int(limit/(24*time.Hour)), span.Hours()/24)
	}
	if n := until.Sub(since) / width; n > maxUsageBuckets {
		return since, until, width, gatehouse.FieldError("since", "out_of_range", "at most %d buckets a call: %d %ss asked; narrow since/until or widen interval", maxUsageBuckets, n, interval)
	}
	return since, until, width, nil
}

type callUsageIn struct {
	Project     string    `query:"project" doc:"Project id or key: with environment, only that environment's calls."`
	Environment string    `query:"environment" doc:"Environment id or key (with project). Default: every call the caller's key reaches, as GET /v1/logs lists them (calls of organization keys belong to no environment)."`
	Since       time.Time `query:"since" doc:"Start (RFC 3339); default: 24 hours before until."`
	Until       time.Time `query:"until" doc:"End, exclusive (RFC 3339); default: now."`
	Interval    string    `query:"interval" default:"hour" enum:"minute,hour,day" doc:"Bucket width."`
	GroupBy     string    `query:"group_by" default:"status" enum:"status,key,status_and_key" doc:"status: a bucket per status class (2xx, 4xx…); key: a bucket per caller; status_and_key: a bucket per both."`
}

// CallUsage is the logged API calls of one bucket and group.
type CallUsage struct {
	Start  time.Time `json:"start" doc:"The bucket's start; it spans interval."`
	Status string    `json:"status,omitempty" doc:"Grouped by status: the status class, e.g. 2xx."`
	KeyID  string    `json:"key_id,omitempty" doc:"Grouped by key: the caller (an API key's id, or a member's id for the dashboard's calls)."`
	Calls  int64     `json:"calls"`
}

func (h *handlers) callUsage(ctx context.Context, in *callUsageIn) (*Out[[]CallUsage], error) {
	if h.UsageStore == nil {
		return nil, gatehouse.Errorf(gatehouse.CodeServiceUnavailable, "API call usage is not available on this server")
	}
	// The caller's reach, as GET /v1/logs lists it; narrowed to one
	// environment when the call names it.
	p := principal(ctx)
	f := apilog.Filter{OrgID: p.OrgID, ProjectID: p.ProjectID, EnvID: p.EnvironmentID}
	if in.Project != "" || in.Environment != "" {
		ref, err := h.envRefOf(ctx, EnvQuery{Project: in.Project, Environment: in.Environment})
		if err != nil {
			return nil, err
		}
		f.ProjectID, f.EnvID = ref.projectID, ref.envID
	}
	since, until, width, err := usageWindow(in.Since, in.Until, in.Interval)
	if err != nil {
		return nil, err
	}
	by := usage.CallGrouping{Status: in.GroupBy != "key", Key: in.GroupBy != "status"}
	key := fmt.Sprintf("%s|%s|%s|%d|%t|%t", f.OrgID, f.ProjectID, f.EnvID, width, by.Status, by.Key)
	rows, err := usageQuery(ctx, h.UsageGate, f.OrgID, func(ctx context.Context) ([]usage.CallBucket, error) {
		return h.CallCache.Get(key, since, until, width, func(from time.Time) ([]usage.CallBucket, error) {
			return h.UsageStore.CallUsage(ctx, f, from, until, width, by)
		})
	})
	if err != nil {
		return nil, err
	}
	if err := tooManyGroups(len(rows)); err != nil {
		return nil, err
	}
	out := make([]CallUsage, len(rows))
	for i, r := range rows {
		out[i] = CallUsage{Start: r.Start, Status: r.Status, KeyID: r.KeyID, Calls: r.Calls}
	}
	return ok(ctx, out), nil
}

type webhookUsageIn struct {
	Since    time.Time `query:"since" doc:"Start (RFC 3339); default: 24 hours before until."`
	Until    time.Time `query:"until" doc:"End, exclusive (RFC 3339); default: now."`
	Interval string    `query:"interval" default:"hour" enum:"minute,hour,day" doc:"Bucket width."`
}

// WebhookUsage is the deliveries created in one bucket, by their status now.
type WebhookUsage struct {
	Start     time.Time `json:"start" doc:"The bucket's start; it spans interval."`
	Succeeded int64     `json:"succeeded"`
	Failed    int64     `json:"failed"`
	Pending   int64     `json:"pending"`
	Cancelled int64     `json:"cancelled"`
}

func (h *handlers) webhookUsage(ctx context.Context, in *webhookUsageIn) (*Out[[]WebhookUsage], error) {
	if h.WebhookUsage == nil {
		return nil, gatehouse.Errorf(gatehouse.CodeServiceUnavailable, "webhook usage is not available on this server")
	}
	since, until, width, err := usageWindow(in.Since, in.Until, in.Interval)
	if err != nil {
		return nil, err
	}
	// The endpoints the caller reaches, as GET /v1/webhooks lists them.
	p := principal(ctx)
	rows, err := usageQuery(ctx, h.UsageGate, p.OrgID, func(ctx context.Context) ([]usage.DeliveryBucket, error) {
		return h.WebhookUsage.DeliveryUsage(ctx, webhook.EndpointFilter{OrgID: p.OrgID, ProjectID: p.ProjectID, EnvID: p.EnvironmentID}, since, until, width)
	})
	if err != nil {
		return nil, err
	}
	out := make([]WebhookUsage, len(rows))
	for i, r := range rows {
		out[i] = WebhookUsage{Start: r.Start, Succeeded: r.Succeeded, Failed: r.Failed, Pending: r.Pending, Cancelled: r.Cancelled}
	}
	return ok(ctx, out), nil
}
