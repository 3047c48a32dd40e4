package client

import (
	"context"
	"errors"
	"net/url"
	"time"
)

// UsageOptions choose a usage call's window: Since (default 24 hours
// before Until), Until (default now) and Interval, the bucket width
// ("minute", "hour" (default) or "day").
type UsageOptions struct {
	Since, Until time.Time
	Interval     string
	// GroupBy: for call usage "status" (default), "key" or
	// "status_and_key"; for check usage "key" or "" (none).
	GroupBy string
	// KeyID narrows check usage to one API key; call usage
	// (Logs.Usage) has no such filter and refuses it: group by "key".
	KeyID string
}

func (o *UsageOptions) values() url.Values {
	q := url.Values{}
	if o == nil {
		return q
	}
	if !o.Since.IsZero() {
		q.Set("since", o.Since.UTC().Format(time.RFC3339Nano))
	}
	if !o.Until.IsZero() {
		q.Set("until", o.Until.UTC().Format(time.RFC3339Nano))
	}
	set(q, "interval", o.Interval)
	set(q, "group_by", o.GroupBy)
	set(q, "key_id", o.KeyID)
	return q
}

// CheckUsage is the permission checks of one bucket (and key, grouped by
// key).
type CheckUsage struct {
	Start   time.Time `json:"start"`
	KeyID   string    `json:"key_id,omitempty"`
	Checks  int64     `json:"checks"`
	Allowed int64     `json:"allowed"`
	Denied  int64     `json:"denied"`
}

// CallUsage is the logged API calls of one bucket, status class and
// caller (each set when grouped by).
type CallUsage struct {
	Start  time.Time `json:"start"`
	Status string    `json:"status,omitempty"`
	KeyID  string    `json:"key_id,omitempty"`
	Calls  int64     `json:"calls"`
}

// WebhookUsage is the webhook deliveries created in one bucket, by their
// status now.
type WebhookUsage struct {
	Start     time.Time `json:"start"`
	Succeeded int64     `json:"succeeded"`
	Failed    int64     `json:"failed"`
	Pending   int64     `json:"pending"`
	Cancelled int64     `json:"cancelled"`
}

// CheckUsage is the environment's permission checks over time, oldest
// first; buckets without checks are left out.
func (d *Decisions) CheckUsage(ctx context.Context, o *UsageOptions) ([]CheckUsage, error) {
	out, err := get[[]CheckUsage](ctx, d.c, "/v1/usage/checks", d.c.envQuery(o.values()))
	if err != nil {
		return nil, err
	}
	return *out, nil
}

// Usage is the environment's logged API calls over time, oldest first;
// buckets without calls are left out.
func (l *Logs) Usage(ctx context.Context, o *UsageOptions) ([]CallUsage, error) {
	if o != nil && o.KeyID != "" {
		// /v1/usage/calls has no key_id: it would answer every key's calls.
		return nil, errors.New("gatehouse: call usage cannot be narrowed to one key (KeyID); set GroupBy \"key\" and pick the key's rows")
	}
	out, err := get[[]CallUsage](ctx, l.c, "/v1/usage/calls", l.c.envQuery(o.values()))
	if err != nil {
		return nil, err
	}
	return *out, nil
}

// Usage is the deliveries to the endpoints the caller reaches over time,
// oldest first; buckets without deliveries are left out.
func (w *Webhooks) Usage(ctx context.Context, o *UsageOptions) ([]WebhookUsage, error) {
	out, err := get[[]WebhookUsage](ctx, w.c, "/v1/usage/webhooks", o.values())
	if err != nil {
		return nil, err
	}
	return *out, nil
}
