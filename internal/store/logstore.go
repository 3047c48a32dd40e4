package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// LogStore persists the log database's records: the decision log and the
// API request log.
type LogStore struct {
	db *DB

	mu    sync.Mutex
	stmts map[string]*sql.Stmt // full-size multi-row INSERTs, prepared once

	// logScanOnly: CallUsage counts the API log alone (SetCallRollup).
	logScanOnly atomic.Bool
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

// insertAll writes items into table in one transaction, rowsPer rows of
// ncol columns per INSERT; row appends an item's values. then, when set,
// runs in the same transaction after the inserts (so what it writes is
// committed with the rows or not at all).
func insertAll[T any](ctx context.Context, s *LogStore, table, cols string, ncol, rowsPer int, items []T, row func([]any, *T) []any,
	then func(ctx context.Context, tx *sql.Tx) error) error {
	full, err := s.fullInsert(ctx, table, cols, rowsPer, ncol)
	if err != nil {
		return err
	}
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", formatError(err))
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for len(items) > 0 {
		n := min(len(items), rowsPer)
		args := make([]any, 0, n*ncol)
		for i := range items[:n] {
			args = row(args, &items[i])
		}
		if err := s.insertRows(ctx, tx, full, table, cols, n, ncol, rowsPer, args); err != nil {
			return fmt.Errorf("insert into %s: %w", table, logWriteError(err))
		}
		items = items[n:]
	}
	if then != nil {
		if err := then(ctx, tx); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit %s: %w", table, logWriteError(err))
	}
	return nil
}

// logWriteError translates an error of a log write. The database refusing
// the rows themselves (bad data, a constraint, a value too large) becomes
// INVALID_REQUEST (CONFLICT for a duplicate id): retrying cannot help, and
// the batch writer then writes the batch row by row so that only the
// refused row is lost. Anything else (the database unavailable) stays an
// internal error, which the writer retries.
func logWriteError(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code != "23505" && len(pe.Code) == 5 {
		switch pe.Code[:2] {
		case "22", "23", "54": // data exception, integrity constraint, program limit (e.g. an index row too large)
			return gatehouse.Errorf(gatehouse.CodeInvalidRequest, "the log database refused the row: %s (SQLSTATE %s)", pe.Message, pe.Code)
		}
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_MISMATCH:
			if f := formatError(err); gatehouse.ErrorCode(f) == gatehouse.CodeConflict {
				return f
			}
			return gatehouse.Errorf(gatehouse.CodeInvalidRequest, "the log database refused the row: %s", se.Error())
		}
	}
	return formatError(err)
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
