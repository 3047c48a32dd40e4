package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

// LogStore persists the log database's records: the decision log (and, with
// issue 4, the API request log).
type LogStore struct{ db *DB }

// LogStore returns the log data access methods over db, a database opened
// with OpenLogSQLite or DB.Logs.
func (db *DB) LogStore() *LogStore { return &LogStore{db: db} }

const decisionCols = "id, org_id, project_id, env_id, created_at, source, request_id, key_id, user_key, action, resource_type, resource_key, tenant, allow, reason, role"

// decisionRows is how many entries one INSERT carries (16 parameters each,
// well under both engines' limits).
const decisionRows = 500

// WriteDecisions inserts entries in one transaction.
func (s *LogStore) WriteDecisions(ctx context.Context, entries []decision.Entry) error {
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", formatError(err))
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for len(entries) > 0 {
		n := min(len(entries), decisionRows)
		var b strings.Builder
		b.WriteString("INSERT INTO decision_log (" + decisionCols + ") VALUES ")
		args := make([]any, 0, n*16)
		for i, e := range entries[:n] {
			if i > 0 {
				b.WriteByte(',')
			}
			s.db.writeRow(&b, i, 16)
			args = append(args, e.ID, e.OrganizationID, e.ProjectID, e.EnvironmentID, micros(e.Time), e.Source, e.RequestID, e.KeyID,
				e.User, e.Action, e.ResourceType, e.ResourceKey, e.Tenant, e.Allow, e.Reason, e.Role)
		}
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("insert decisions: %w", formatError(err))
		}
		entries = entries[n:]
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit decisions: %w", formatError(err))
	}
	return nil
}

func scanDecision(sc scanner) (decision.Entry, error) {
	var e decision.Entry
	var at int64
	err := sc.Scan(&e.ID, &e.OrganizationID, &e.ProjectID, &e.EnvironmentID, &at, &e.Source, &e.RequestID, &e.KeyID,
		&e.User, &e.Action, &e.ResourceType, &e.ResourceKey, &e.Tenant, &e.Allow, &e.Reason, &e.Role)
	e.Time = fromMicros(at)
	return e, err
}

// ListDecisions lists one environment's decisions.
func (s *LogStore) ListDecisions(ctx context.Context, f decision.Filter, page gatehouse.PageRequest) (gatehouse.Page[decision.Entry], error) {
	var w where
	w.add("org_id = ?", f.OrgID)
	w.add("env_id = ?", f.EnvID)
	w.addIf(f.User != "", "user_key = ?", f.User)
	w.addIf(f.Action != "", "action = ?", f.Action)
	w.addIf(f.Resource != "", "resource_type = ?", f.Resource)
	w.addIf(f.Tenant != "", "tenant = ?", f.Tenant)
	w.addIf(f.Reason != "", "reason = ?", f.Reason)
	w.addIf(f.Role != "", "role = ?", f.Role)
	w.addIf(f.Source != "", "source = ?", f.Source)
	w.addIf(f.RequestID != "", "request_id = ?", f.RequestID)
	if f.Allow != nil {
		w.add("allow = ?", *f.Allow)
	}
	w.addIf(!f.Since.IsZero(), "created_at >= ?", micros(f.Since))
	w.addIf(!f.Until.IsZero(), "created_at < ?", micros(f.Until))
	return listPage(ctx, s.db.read, "decision_log", decisionCols, &w,
		map[string]string{"timestamp": "created_at", "user": "user_key"}, page, scanDecision)
}

// GetDecision returns one decision of an environment.
func (s *LogStore) GetDecision(ctx context.Context, orgID, envID, id string) (*decision.Entry, error) {
	return getOne(ctx, s.db.read, "decision", id, "SELECT "+decisionCols+" FROM decision_log WHERE org_id = $1 AND env_id = $2 AND id = $3",
		scanDecision, orgID, envID, id)
}

// PruneDecisions deletes an organization's decisions older than before and
// reports how many went.
func (s *LogStore) PruneDecisions(ctx context.Context, orgID string, before time.Time) (int64, error) {
	res, err := s.db.write.ExecContext(ctx, "DELETE FROM decision_log WHERE org_id = $1 AND created_at < $2", orgID, micros(before))
	if err != nil {
		return 0, fmt.Errorf("prune decisions: %w", formatError(err))
	}
	return res.RowsAffected()
}

// writeRow writes the placeholders of row i of a multi-row INSERT with ncol
// columns. SQLite gets anonymous "?" (bound by position: named "$n" are
// looked up one by one, quadratic in a statement of thousands); PostgreSQL
// gets "$n".
func (db *DB) writeRow(b *strings.Builder, i, ncol int) {
	b.WriteByte('(')
	for j := range ncol {
		if j > 0 {
			b.WriteByte(',')
		}
		if db.Engine == SQLite {
			b.WriteByte('?')
		} else {
			fmt.Fprintf(b, "$%d", i*ncol+j+1)
		}
	}
	b.WriteByte(')')
}
