package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

// LogStore persists the log database's records: the decision log and the
// API request log.
type LogStore struct {
	db *DB

	mu    sync.Mutex
	stmts map[string]*sql.Stmt // full-size multi-row INSERTs, prepared once
}

// LogStore returns the log data access methods over db, a database opened
// with OpenLogSQLite or DB.Logs.
func (db *DB) LogStore() *LogStore { return &LogStore{db: db, stmts: map[string]*sql.Stmt{}} }

// rowsQuery is a multi-row INSERT of rows rows of ncol columns.
func (s *LogStore) rowsQuery(table, cols string, rows, ncol int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + table + " (" + cols + ") VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		s.db.writeRow(&b, i, ncol)
	}
	return b.String()
}

// fullInsert returns the prepared INSERT of full rows into table, preparing
// it the first time: parsing a statement of thousands of parameters costs
// as much as a fifth of the write. Call it before beginning the
// transaction (SQLite's writer has one connection).
func (s *LogStore) fullInsert(ctx context.Context, table, cols string, full, ncol int) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if stmt := s.stmts[table]; stmt != nil {
		return stmt, nil
	}
	stmt, err := s.db.write.PrepareContext(ctx, s.rowsQuery(table, cols, full, ncol))
	if err != nil {
		return nil, fmt.Errorf("prepare %s insert: %w", table, err)
	}
	s.stmts[table] = stmt
	return stmt, nil
}

// insertRows inserts rows rows in tx, with the prepared statement when the
// batch is full-size.
func (s *LogStore) insertRows(ctx context.Context, tx *sql.Tx, full *sql.Stmt, table, cols string, rows, ncol, fullRows int, args []any) error {
	if rows == fullRows {
		_, err := tx.StmtContext(ctx, full).ExecContext(ctx, args...)
		return err
	}
	_, err := tx.ExecContext(ctx, s.rowsQuery(table, cols, rows, ncol), args...)
	return err
}

const decisionCols = "id, org_id, project_id, env_id, created_at, source, request_id, key_id, user_key, action, resource_type, resource_key, tenant, allow, reason, role"

// decisionRows is how many entries one INSERT carries (16 parameters each,
// well under both engines' limits).
const decisionRows = 500

// WriteDecisions inserts entries in one transaction.
func (s *LogStore) WriteDecisions(ctx context.Context, entries []decision.Entry) error {
	full, err := s.fullInsert(ctx, "decision_log", decisionCols, decisionRows, 16)
	if err != nil {
		return err
	}
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", formatError(err))
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for len(entries) > 0 {
		n := min(len(entries), decisionRows)
		args := make([]any, 0, n*16)
		for _, e := range entries[:n] {
			args = append(args, e.ID, e.OrganizationID, e.ProjectID, e.EnvironmentID, micros(e.Time), e.Source, e.RequestID, e.KeyID,
				e.User, e.Action, e.ResourceType, e.ResourceKey, e.Tenant, e.Allow, e.Reason, e.Role)
		}
		if err := s.insertRows(ctx, tx, full, "decision_log", decisionCols, n, 16, decisionRows, args); err != nil {
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
