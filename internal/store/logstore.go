package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"
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
	stmts map[string]*sql.Stmt // multi-row INSERTs by table and row count, prepared once

	// logScanOnly: CallUsage counts the API log alone (SetCallRollup).
	logScanOnly atomic.Bool
	// callSeeks counts the deep pages of the API log found through the
	// call counts (callseek.go), for tests.
	callSeeks atomic.Int64
	// decisionSeeks counts the decision log's deep pages found so.
	decisionSeeks atomic.Int64
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

// prepared returns the prepared INSERT of rows rows into table, preparing
// it the first time: parsing a statement of thousands of parameters costs
// as much as a fifth of the write. Call it before beginning the
// transaction (SQLite's writer has one connection).
func (s *LogStore) prepared(ctx context.Context, table, cols string, rows, ncol int) (*sql.Stmt, error) {
	key := fmt.Sprintf("%s/%d", table, rows)
	s.mu.Lock()
	defer s.mu.Unlock()
	if stmt := s.stmts[key]; stmt != nil {
		return stmt, nil
	}
	stmt, err := s.db.write.PrepareContext(ctx, s.rowsQuery(table, cols, rows, ncol))
	if err != nil {
		return nil, fmt.Errorf("prepare %s insert: %w", table, err)
	}
	s.stmts[key] = stmt
	return stmt, nil
}

// insertSizes splits n rows into the row counts of the INSERTs that write
// them: as many of rowsPer as fit, then, on SQLite, the rest as powers of
// two (at most log2(rowsPer) statements, all prepared once: a batch of the
// background writers is seldom full, and parsing a statement of its size
// anew for every batch cost more than the statements it saves), or, on
// PostgreSQL, the rest in one INSERT (a batch of the API log's writer is
// one INSERT there, see apiLogRowsPostgres).
func (s *LogStore) insertSizes(n, rowsPer int) []int {
	var sizes []int
	for ; n >= rowsPer; n -= rowsPer {
		sizes = append(sizes, rowsPer)
	}
	if n == 0 {
		return sizes
	}
	if s.db.Engine != SQLite {
		return append(sizes, n)
	}
	for p := 1 << (bits.Len(uint(n)) - 1); p > 0; p >>= 1 {
		if n&p != 0 {
			sizes = append(sizes, p)
		}
	}
	return sizes
}

// insertAll writes items into table in one transaction, rowsPer rows of
// ncol columns per INSERT at most (see insertSizes); row appends an item's
// values. then, when set, runs in the same transaction after the inserts
// (so what it writes is committed with the rows or not at all).
func insertAll[T any](ctx context.Context, s *LogStore, table, cols string, ncol, rowsPer int, items []T, row func([]any, *T) []any,
	then func(ctx context.Context, tx *sql.Tx) error) error {
	sizes := s.insertSizes(len(items), rowsPer)
	stmts := make([]*sql.Stmt, len(sizes))
	for i, n := range sizes {
		if n == rowsPer || s.db.Engine == SQLite {
			stmt, err := s.prepared(ctx, table, cols, n, ncol)
			if err != nil {
				return err
			}
			stmts[i] = stmt
		}
	}
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", formatError(err))
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	args := make([]any, 0, min(len(items), rowsPer)*ncol)
	for i, n := range sizes {
		args = args[:0]
		for j := range items[:n] {
			args = row(args, &items[j])
		}
		if stmts[i] != nil {
			_, err = tx.StmtContext(ctx, stmts[i]).ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, s.rowsQuery(table, cols, n, ncol), args...)
		}
		if err != nil {
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

// lists is the querier of the log lists' reads: the read pool, or (a
// test's) one that reports each statement to db.logReads first.
func (s *LogStore) lists() querier {
	if s.db.logReads != nil {
		return recordedReads{s.db.read, s.db.logReads}
	}
	return s.db.read
}

// recordedReads reports each statement to seen before running it on q.
type recordedReads struct {
	q    querier
	seen func(query string, args []any)
}

func (r recordedReads) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	r.seen(query, args)
	return r.q.ExecContext(ctx, query, args...)
}

func (r recordedReads) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	r.seen(query, args)
	return r.q.QueryContext(ctx, query, args...)
}

func (r recordedReads) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	r.seen(query, args)
	return r.q.QueryRowContext(ctx, query, args...)
}
