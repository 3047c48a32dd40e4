package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apilog"
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

// SetCallRollup says whether CallUsage reads whole hours and minutes from
// the call counts, and the API and decision logs' deep pages are found
// through their counts (on, the default), or the logs are read alone, as
// before the counts (off: benchmarks compare the two in one run).
func (s *LogStore) SetCallRollup(on bool) { s.logScanOnly.Store(!on) }

// CallUsage counts the logged API calls of an organization (narrowed to a
// project and environment when f names them) in [since, until) per bucket
// of width, grouped by status class ("2xx"…), by the caller's id (an API
// key or a member), or both. Buckets without calls are left out; they come
// oldest first. Only f's OrgID, ProjectID and EnvID apply.
//
// Whole hours are read from api_call_usage_hourly and whole minutes from
// api_call_usage, the counts the log's writer keeps with the rows; only
// the minute until falls in (the one not over yet) is counted from the API
// log itself. A window whose since or width is not whole hours reads no
// hourly counts, one not of whole minutes is counted from the log alone. The
// answer is the same either way: the counts are written in the rows'
// transaction and pruned with them.
func (s *LogStore) CallUsage(ctx context.Context, f apilog.Filter, since, until time.Time, width time.Duration, by usage.CallGrouping) ([]usage.CallBucket, error) {
	w := width.Microseconds()
	if w <= 0 {
		return nil, fmt.Errorf("call usage: bucket width %v", width)
	}
	start, end := micros(since), micros(until)
	if end <= start {
		return nil, nil // an empty window (the call cache's scan from its end can be one)
	}
	status, key, class := "0", "''", "0"
	if by.Status {
		status, class = "status / 100", "status_class"
	}
	if by.Key {
		key = "actor_id"
	}
	// Whole hours from the hourly counts, [start, hours); whole minutes
	// from the per-minute ones, [hours, minutes); the rest from the log.
	hours, minutes := start, start
	if !s.logScanOnly.Load() && start >= 0 {
		if w%hourMicros == 0 && start%hourMicros == 0 {
			hours = max(start, floorTo(end, hourMicros))
		}
		if w%minuteMicros == 0 && start%minuteMicros == 0 {
			minutes = max(hours, floorTo(end, minuteMicros))
		}
	}
	scope := &where{}
	scope.add("org_id = ?", f.OrgID)
	scope.addIf(f.ProjectID != "", "project_id = ?", f.ProjectID)
	scope.addIf(f.EnvID != "", "env_id = ?", f.EnvID)
	args := scope.args
	arg := func(v int64) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	cond := scope.sql()
	pStart, pWidth := arg(start), arg(w)
	var parts []string
	if hours > start {
		parts = append(parts, fmt.Sprintf("SELECT (hour - %s) / %s AS b, %s AS c, %s AS k, calls AS n FROM api_call_usage_hourly%s AND hour >= %s AND hour < %s",
			pStart, pWidth, class, key, cond, pStart, arg(hours)))
	}
	if minutes > hours {
		parts = append(parts, fmt.Sprintf("SELECT (minute - %s) / %s AS b, %s AS c, %s AS k, calls AS n FROM api_call_usage%s AND minute >= %s AND minute < %s",
			pStart, pWidth, class, key, cond, arg(hours), arg(minutes)))
	}
	if minutes < end {
		parts = append(parts, fmt.Sprintf("SELECT (created_at - %s) / %s AS b, %s AS c, %s AS k, COUNT(*) AS n FROM api_log%s AND created_at >= %s AND created_at < %s GROUP BY b, c, k",
			pStart, pWidth, status, key, cond, arg(minutes), arg(end)))
	}
	q := "SELECT b, c, k, SUM(n) FROM (" + strings.Join(parts, " UNION ALL ") + ") u GROUP BY b, c, k ORDER BY b, c, k"
	if len(parts) == 1 && minutes < end {
		q = parts[0] + " ORDER BY b, c, k" // the log alone, as before the counts
	}
	rows, err := s.db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("call usage: %w", formatError(err))
	}
	defer rows.Close()
	var out []usage.CallBucket
	for rows.Next() {
		var b usage.CallBucket
		var n, class int64
		if err := rows.Scan(&n, &class, &b.KeyID, &b.Calls); err != nil {
			return nil, fmt.Errorf("call usage: %w", err)
		}
		if by.Status {
			b.Status = fmt.Sprintf("%dxx", class)
		}
		b.Start = fromMicros(start + n*w)
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("call usage: %w", err)
	}
	return out, nil
}
