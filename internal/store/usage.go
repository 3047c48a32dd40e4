package store

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/usage"
)

// AddCheckUsage adds counted checks to their rows (one per key,
// environment and minute), in one transaction.
func (s *LogStore) AddCheckUsage(ctx context.Context, rows []usage.Row) error {
	if len(rows) == 0 {
		return nil
	}
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("add check usage: %w", err)
	}
	defer tx.Rollback()
	for _, r := range rows {
		if _, err := tx.ExecContext(ctx, `INSERT INTO check_usage (org_id, project_id, env_id, key_id, minute, allowed, denied)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (env_id, key_id, minute) DO UPDATE SET allowed = check_usage.allowed + excluded.allowed, denied = check_usage.denied + excluded.denied`,
			r.OrgID, r.ProjectID, r.EnvID, r.KeyID, micros(r.Minute), r.Allowed, r.Denied); err != nil {
			return fmt.Errorf("add check usage: %w", formatError(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("add check usage: %w", formatError(err))
	}
	return nil
}

// CheckUsage sums an environment's counted checks in [since, until) per
// bucket of width (a whole number of minutes), per key when byKey, only of
// keyID when set. Buckets without checks are left out; they come oldest
// first.
func (s *LogStore) CheckUsage(ctx context.Context, orgID, envID, keyID string, since, until time.Time, width time.Duration, byKey bool) ([]usage.Bucket, error) {
	w := width.Microseconds()
	if w <= 0 {
		return nil, fmt.Errorf("check usage: bucket width %v", width)
	}
	start := micros(since)
	keyCol := "''"
	if byKey {
		keyCol = "key_id"
	}
	q := "SELECT (minute - $4) / $5 AS b, " + keyCol + " AS k, SUM(allowed), SUM(denied) FROM check_usage" +
		" WHERE org_id = $1 AND env_id = $2 AND minute >= $4 AND minute < $3 AND ($6 = '' OR key_id = $6)" +
		" GROUP BY b, k ORDER BY b, k"
	rows, err := s.db.read.QueryContext(ctx, q, orgID, envID, micros(until), start, w, keyID)
	if err != nil {
		return nil, fmt.Errorf("check usage: %w", formatError(err))
	}
	defer rows.Close()
	var out []usage.Bucket
	for rows.Next() {
		var b usage.Bucket
		var n int64
		if err := rows.Scan(&n, &b.KeyID, &b.Allowed, &b.Denied); err != nil {
			return nil, fmt.Errorf("check usage: %w", err)
		}
		b.Start = fromMicros(start + n*w)
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("check usage: %w", err)
	}
	return out, nil
}

// PruneCheckUsage deletes an organization's counts older than before.
func (s *LogStore) PruneCheckUsage(ctx context.Context, orgID string, before time.Time) (int64, error) {
	res, err := s.db.write.ExecContext(ctx, "DELETE FROM check_usage WHERE org_id = $1 AND minute < $2", orgID, micros(before))
	if err != nil {
		return 0, fmt.Errorf("prune check usage: %w", formatError(err))
	}
	return res.RowsAffected()
}

// CallUsage counts an environment's logged API calls in [since, until) per
// bucket of width, grouped by status class ("2xx"…) or, with byKey, by the
// caller's id (an API key, or member:<id> for the dashboard). Buckets
// without calls are left out; they come oldest first.
//
// It reads the API log itself (there is no rollup of calls): the range
// scan follows the (org_id, env_id, created_at) index, so its cost is the
// calls of the window, not of the log.
func (s *LogStore) CallUsage(ctx context.Context, orgID, envID string, since, until time.Time, width time.Duration, byKey bool) ([]usage.CallBucket, error) {
	w := width.Microseconds()
	if w <= 0 {
		return nil, fmt.Errorf("call usage: bucket width %v", width)
	}
	start := micros(since)
	group := "(status / 100)"
	if byKey {
		group = "actor_id"
	}
	q := "SELECT (created_at - $3) / $5 AS b, " + group + " AS g, COUNT(*) FROM api_log" +
		" WHERE org_id = $1 AND env_id = $2 AND created_at >= $3 AND created_at < $4" +
		" GROUP BY b, g ORDER BY b, g"
	rows, err := s.db.read.QueryContext(ctx, q, orgID, envID, start, micros(until), w)
	if err != nil {
		return nil, fmt.Errorf("call usage: %w", formatError(err))
	}
	defer rows.Close()
	var out []usage.CallBucket
	for rows.Next() {
		var b usage.CallBucket
		var n int64
		var g any
		if err := rows.Scan(&n, &g, &b.Calls); err != nil {
			return nil, fmt.Errorf("call usage: %w", err)
		}
		switch v := g.(type) {
		case int64:
			b.Group = fmt.Sprintf("%dxx", v)
		case []byte:
			b.Group = string(v)
		case string:
			b.Group = v
		}
		b.Start = fromMicros(start + n*w)
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("call usage: %w", err)
	}
	return out, nil
}
