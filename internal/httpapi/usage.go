package httpapi

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
)

// UsageStore reads counted checks.
type UsageStore interface {
	CheckUsage(ctx context.Context, orgID, envID, keyID string, since, until time.Time, width time.Duration, byKey bool) ([]usage.Bucket, error)
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

func (h *handlers) checkUsage(ctx context.Context, in *checkUsageIn) (*Out[[]CheckUsage], error) {
	if h.UsageStore == nil {
		return nil, gatehouse.Errorf(gatehouse.CodeServiceUnavailable, "check usage is not available on this server")
	}
	ref, err := h.envRefOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	width := usageWidths[in.Interval]
	until := in.Until
	if until.IsZero() {
		until = time.Now()
	}
	since := in.Since
	if since.IsZero() {
		since = until.Add(-24 * time.Hour)
	}
	// Buckets start on whole intervals (UTC).
	since = since.UTC().Truncate(width)
	if !until.After(since) {
		return nil, gatehouse.FieldError("until", "out_of_range", "until must be after since")
	}
	if n := until.Sub(since) / width; n > maxUsageBuckets {
		return nil, gatehouse.FieldError("since", "out_of_range", "at most %d buckets a call: %d %ss asked; narrow since/until or widen interval", maxUsageBuckets, n, in.Interval)
	}
	rows, err := h.UsageStore.CheckUsage(ctx, ref.orgID, ref.envID, in.KeyID, since, until, width, in.GroupBy == "key")
	if err != nil {
		return nil, err
	}
	out := make([]CheckUsage, len(rows))
	for i, r := range rows {
		out[i] = CheckUsage{Start: r.Start, KeyID: r.KeyID, Checks: r.Allowed + r.Denied, Allowed: r.Allowed, Denied: r.Denied}
	}
	return ok(ctx, out), nil
}
