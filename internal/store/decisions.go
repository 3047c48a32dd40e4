package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apilog"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

const decisionCols = "id, org_id, project_id, env_id, created_at, source, request_id, key_id, user_key, action, resource_type, resource_key, tenant, allow, reason, role, uploaded_by_key_id"

// decisionRows is how many entries one INSERT carries (17 parameters each,
// well under both engines' limits) on SQLite; decisionRowsPostgres on
// PostgreSQL, where a batch of the decision writer (1,000, as a PDP's
// upload at most) is one INSERT, so that the trigger counting the
// decisions runs once per transaction and locks the counts' rows in key
// order (as the API log's, apiLogRowsPostgres).
const decisionRows, decisionRowsPostgres = 500, 1000

// WriteDecisions inserts entries in one transaction; their text is made
// valid UTF-8 without NUL bytes on the way. The decisions are counted per
// minute, hour and day (decisionLevels) in the same transaction: by the
// database on PostgreSQL (statement triggers, log migration 00011), by
// this writer on SQLite.
func (s *LogStore) WriteDecisions(ctx context.Context, entries []decision.Entry) error {
	rows := decisionRows
	var count func(ctx context.Context, tx *sql.Tx) error
	if s.db.Engine == Postgres {
		rows = decisionRowsPostgres
	} else {
		count = func(ctx context.Context, tx *sql.Tx) error { return s.addDecisionCounts(ctx, tx, entries) }
	}
	return insertAll(ctx, s, "decision_log", decisionCols, 17, rows, entries, func(args []any, e *decision.Entry) []any {
		// A decision carries what a caller sent (user, resource, tenant
		// keys): make it text the database accepts (no NUL, valid UTF-8).
		t := apilog.CleanText
		return append(args, t(e.ID), t(e.OrganizationID), t(e.ProjectID), t(e.EnvironmentID), micros(e.Time), t(e.Source), t(e.RequestID), t(e.KeyID),
			t(e.User), t(e.Action), t(e.ResourceType), t(e.ResourceKey), t(e.Tenant), e.Allow, t(e.Reason), t(e.Role), t(e.UploadedByKeyID))
	}, count)
}

// addDecisionCounts adds entries to the per-minute, hour and day counts in
// tx (SQLite: on PostgreSQL the triggers count), summed per cell first and
// written in key order.
func (s *LogStore) addDecisionCounts(ctx context.Context, tx *sql.Tx, entries []decision.Entry) error {
	type cell struct {
		org, env string
		bucket   int64
		allow    bool
	}
	for _, l := range decisionLevels {
		counts := map[cell]int64{}
		for i := range entries {
			e := &entries[i]
			counts[cell{apilog.CleanText(e.OrganizationID), apilog.CleanText(e.EnvironmentID), floorTo(micros(e.Time), l.unit), e.Allow}]++
		}
		cells := make([]cell, 0, len(counts))
		for c := range counts {
			cells = append(cells, c)
		}
		slices.SortFunc(cells, func(a, b cell) int {
			return cmp.Or(strings.Compare(a.org, b.org), strings.Compare(a.env, b.env), cmp.Compare(a.bucket, b.bucket), boolCompare(a.allow, b.allow))
		})
		args := make([]any, 0, len(cells)*5)
		for _, c := range cells {
			args = append(args, c.org, c.env, c.bucket, c.allow, counts[c])
		}
		if err := s.addCounts(ctx, tx, l.table, "org_id, env_id, "+l.col+", allow, decisions", "org_id, env_id, "+l.col+", allow", "decisions", 5, args); err != nil {
			return fmt.Errorf("count decisions: %w", logWriteError(err))
		}
	}
	return nil
}

func boolCompare(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

func scanDecision(sc scanner) (decision.Entry, error) {
	var e decision.Entry
	var at int64
	err := sc.Scan(&e.ID, &e.OrganizationID, &e.ProjectID, &e.EnvironmentID, &at, &e.Source, &e.RequestID, &e.KeyID,
		&e.User, &e.Action, &e.ResourceType, &e.ResourceKey, &e.Tenant, &e.Allow, &e.Reason, &e.Role, &e.UploadedByKeyID)
	e.Time = fromMicros(at)
	return e, err
}

// ListDecisions lists one environment's decisions.
func (s *LogStore) ListDecisions(ctx context.Context, f decision.Filter, page gatehouse.PageRequest) (gatehouse.Page[decision.Entry], error) {
	env := func(w *where) {
		w.add("org_id = ?", f.OrgID)
		w.add("env_id = ?", f.EnvID)
	}
	var allow any
	if f.Allow != nil {
		allow = *f.Allow
	}
	// The filters in the order of how few rows they hold as a rule.
	filters := []logFilter{
		eqFilter("request_id", f.RequestID, f.RequestID != ""), eqFilter("user_key", f.User, f.User != ""), eqFilter("tenant", f.Tenant, f.Tenant != ""),
		eqFilter("role", f.Role, f.Role != ""), eqFilter("resource_type", f.Resource, f.Resource != ""), eqFilter("reason", f.Reason, f.Reason != ""),
		eqFilter("action", f.Action, f.Action != ""), eqFilter("source", f.Source, f.Source != ""), eqFilter("allow", allow, f.Allow != nil)}
	rest := func(w *where) {
		w.addIf(!f.Since.IsZero(), "created_at >= ?", micros(f.Since))
		w.addIf(!f.Until.IsZero(), "created_at < ?", micros(f.Until))
	}
	// Plainly, in the order the list's cursors have been bound to.
	plain := &where{}
	env(plain)
	plain.addIf(f.User != "", "user_key = ?", f.User)
	plain.addIf(f.Action != "", "action = ?", f.Action)
	plain.addIf(f.Resource != "", "resource_type = ?", f.Resource)
	plain.addIf(f.Tenant != "", "tenant = ?", f.Tenant)
	plain.addIf(f.Reason != "", "reason = ?", f.Reason)
	plain.addIf(f.Role != "", "role = ?", f.Role)
	plain.addIf(f.Source != "", "source = ?", f.Source)
	plain.addIf(f.RequestID != "", "request_id = ?", f.RequestID)
	plain.addIf(f.Allow != nil, "allow = ?", allow)
	rest(plain)
	sortCol := ""
	if page.Sort == "user" {
		sortCol = "user_key"
	}
	if page.Sort == "timestamp" {
		// The time order is the list's default (created_at): so named,
		// listRows reads a deep page's first row through the decision
		// counts (decisionSeek).
		page.Sort = ""
	}
	count, w, err := s.logWheres(ctx, "decision_log", env, filters, rest, page.Sort, sortCol, plain)
	if err != nil {
		return gatehouse.Page[decision.Entry]{}, fmt.Errorf("list decisions: %w", err)
	}
	return listRows(ctx, s.lists(), listQuery{what: "decision_log", cols: decisionCols, from: "decision_log", idCol: "id", countWhere: count,
		marks:    s.decisionSeek(f, page.Sort),
		sortable: map[string]string{"timestamp": "created_at", "user": "user_key"}}, w, page, scanDecision)
}

// GetDecision returns one decision of an environment.
func (s *LogStore) GetDecision(ctx context.Context, orgID, envID, id string) (*decision.Entry, error) {
	return getOne(ctx, s.db.read, "decision", id, "SELECT "+decisionCols+" FROM decision_log WHERE org_id = $1 AND env_id = $2 AND id = $3",
		scanDecision, orgID, envID, id)
}

// PruneDecisions deletes an organization's decisions older than before and
// reports how many went; their counts go with them in the same
// transaction: on SQLite the buckets that end by before go whole and the
// rows deleted from the bucket before falls in are taken off its count (a
// count left at 0 goes); on PostgreSQL a trigger takes the deleted rows off
// (whichever version deletes them), and the counts left at 0 go.
func (s *LogStore) PruneDecisions(ctx context.Context, orgID string, before time.Time) (int64, error) {
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("prune decisions: %w", formatError(err))
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	cut := micros(before)
	// The counts are keyed by environment, then bucket: each environment's
	// buckets are a range of their keys.
	envs, err := queryStrings(ctx, tx, "SELECT DISTINCT env_id FROM decision_days WHERE org_id = $1", orgID)
	if err != nil {
		return 0, fmt.Errorf("prune decision counts: %w", formatError(err))
	}
	if s.db.Engine == SQLite {
		for _, env := range envs {
			for _, l := range decisionLevels {
				b := floorTo(cut, l.unit)
				if cut > b {
					q := fmt.Sprintf(`UPDATE %[1]s SET decisions = %[1]s.decisions - d.n FROM (
SELECT allow, COUNT(*) AS n FROM decision_log WHERE org_id = $1 AND env_id = $2 AND created_at >= $3 AND created_at < $4 GROUP BY allow) d
WHERE %[1]s.org_id = $1 AND %[1]s.env_id = $2 AND %[1]s.%[2]s = $3 AND %[1]s.allow = d.allow`, l.table, l.col)
					if _, err := tx.ExecContext(ctx, q, orgID, env, b, cut); err != nil {
						return 0, fmt.Errorf("prune decision counts: %w", formatError(err))
					}
				}
				if _, err := tx.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE org_id = $1 AND env_id = $2 AND %s < $3", l.table, l.col), orgID, env, b); err != nil {
					return 0, fmt.Errorf("prune decision counts: %w", formatError(err))
				}
			}
		}
	}
	res, err := tx.ExecContext(ctx, "DELETE FROM decision_log WHERE org_id = $1 AND created_at < $2", orgID, cut)
	if err != nil {
		return 0, fmt.Errorf("prune decisions: %w", formatError(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune decisions: %w", err)
	}
	// The counts the rows' deletion left at 0 (on PostgreSQL the trigger
	// took them off) go, up to the bucket the cut falls in.
	for _, env := range envs {
		for _, l := range decisionLevels {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE org_id = $1 AND env_id = $2 AND %s <= $3 AND decisions <= 0", l.table, l.col),
				orgID, env, floorTo(cut, l.unit)); err != nil {
				return 0, fmt.Errorf("prune decision counts: %w", formatError(err))
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("prune decisions: %w", formatError(err))
	}
	return n, nil
}

// queryStrings reads a one-column query's text values.
func queryStrings(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
