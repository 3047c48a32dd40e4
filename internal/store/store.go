// Package store persists Gatehouse's data in SQLite (the embedded default)
// or PostgreSQL. One set of SQL statements serves both engines (both accept
// $1 placeholders); each engine has its own migrations and its errors are
// translated into gatehouse error codes in one place (formatError).
package store

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"go.opentelemetry.io/otel/trace"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/queue"
	"github.com/gatehouse-dev/gatehouse/internal/secretkey"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations
var migrations embed.FS

//go:embed logmigrations
var logMigrations embed.FS

// migrationSet is one schema's migrations and the table goose keeps its
// version in; the log database has its own set.
type migrationSet struct {
	fs    embed.FS
	dir   string
	table string
	// name names the schema in messages.
	name string
}

var (
	mainSchema = migrationSet{fs: migrations, dir: "migrations", table: "goose_db_version", name: "database"}
	logSchema  = migrationSet{fs: logMigrations, dir: "logmigrations", table: "goose_log_version", name: "log database"}
)

// Engines.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// DB is an open database: a writer and a reader pool. On SQLite the writer
// is a single connection (no SQLITE_BUSY between our own writers) and the
// readers run beside it thanks to WAL; on PostgreSQL both are one pool.
type DB struct {
	Engine string
	URL    string // the PostgreSQL URL, for LISTEN connections
	write  *sql.DB
	read   *sql.DB
	// shared: the pools belong to another DB (the PostgreSQL log schema
	// lives in the main database).
	shared bool
	// queue enqueues background work (webhook deliveries, job tasks) in
	// the transactions that cause it; the node's queue.Queue works it off.
	// Nil on a log database.
	queue Enqueuer
	// lock is held while an embedded database is open.
	lock *os.File
	// secrets seals and opens the secrets the store keeps (secrets.go).
	secrets *secretkey.Ring
	// tracer, when set, traces the Store's statements (Trace).
	tracer trace.Tracer
	// anchors are the cursors kept for deep pages by number (anchor.go).
	anchors anchorCache
	marks   markStats
	// searchIndexed: PostgreSQL has the trigram indexes of users' and
	// tenants' search (search.go; pg_trgm may be missing).
	searchIndexed bool
	// searchIndexedMax, when not 0, replaces searchIndexedMax (tests).
	searchIndexedMax int
	// filteredSortMax, when set, replaces filteredSortMax (filters.go)
	// for this database's lists (a test's).
	filteredSortMax int
	// logReads, when set, is told the statements of the log lists' reads
	// (a test's, which explains their plans).
	logReads func(query string, args []any)
}

// Writer is the pool that writes the main database (on SQLite its single
// connection): the queue shares it, so its work is enqueued in our
// transactions.
func (db *DB) Writer() *sql.DB { return db.write }

// OpenSQLite opens (creating if needed) the SQLite database at path and
// migrates it. One process at a time may have it open.
func OpenSQLite(ctx context.Context, path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	lock, err := lockFile(path + ".lock")
	if err != nil {
		return nil, err
	}
	db, err := openSQLite(ctx, path, mainSchema)
	if err != nil {
		lock.Close()
		return nil, err
	}
	db.lock = lock
	if err := db.openQueue(); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// OpenLogSQLite opens (creating if needed) the SQLite log database at path:
// a file of its own, so that log writes never contend with the main data.
func OpenLogSQLite(ctx context.Context, path string) (*DB, error) {
	return openSQLite(ctx, path, logSchema)
}

// Logs returns the log database of a PostgreSQL database: the same
// database and pools, tables of their own, migrated separately.
func (db *DB) Logs(ctx context.Context) (*DB, error) {
	if db.Engine != Postgres {
		return nil, errors.New("store: the SQLite log database is a file of its own: use OpenLogSQLite")
	}
	logs := &DB{Engine: Postgres, URL: db.URL, write: db.write, read: db.read, shared: true}
	if err := logs.migrate(ctx, logSchema); err != nil {
		return nil, err
	}
	return logs, nil
}

func openSQLite(ctx context.Context, path string, schema migrationSet) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if err := createPrivate(path); err != nil {
		return nil, err
	}
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_txlock=immediate"
	write, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetConnMaxLifetime(0)
	read, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	read.SetMaxOpenConns(16)
	read.SetMaxIdleConns(16)
	db := &DB{Engine: SQLite, write: write, read: read}
	if on, err := db.setAutoVacuum(ctx, path); err != nil {
		// A full disk or another process holding the file: the node runs
		// unconverted (free space is reused, the file does not shrink).
		slog.Warn("could not put the database in incremental auto-vacuum mode; its file will not shrink after retention", "path", path, "err", err)
	} else if !on {
		slog.Warn("this database file predates incremental auto-vacuum and is too big to convert at start-up: space freed by retention is reused but the file does not shrink (stop the node and run VACUUM on it with the sqlite3 shell, after PRAGMA auto_vacuum = INCREMENTAL, to convert it)", "path", path)
	}
	if err := db.migrate(ctx, schema); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// PostgresOptions tune a PostgreSQL database's pool.
type PostgresOptions struct {
	// MaxConns bounds the pool (0: 20). The LISTEN connection of the
	// node's broadcaster and the one of a held cluster lock (TryLock) are
	// not in the pool.
	MaxConns int
}

// OpenPostgres connects to url and migrates the database.
func OpenPostgres(ctx context.Context, url string, opts ...PostgresOptions) (*DB, error) {
	maxConns := 20
	for _, o := range opts {
		if o.MaxConns > 0 {
			maxConns = o.MaxConns
		}
	}
	pool, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	pool.SetMaxOpenConns(maxConns)
	pool.SetMaxIdleConns(min(maxConns, 10))
	pool.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.PingContext(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	db := &DB{Engine: Postgres, URL: url, write: pool, read: pool}
	if err := db.migrate(ctx, mainSchema); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.checkSearchIndexes(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.openQueue(); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// openQueue gives the main database the queue's inserter (its tables are
// migrated by MigrateQueue).
func (db *DB) openQueue() error {
	q, err := queue.NewInserter(db.Engine, db.write, slog.Default())
	if err != nil {
		return fmt.Errorf("queue inserter: %w", err)
	}
	db.queue = q
	return nil
}

// migrate brings schema up to this build's version. On PostgreSQL the
// nodes take turns (an advisory lock), so that nodes started together on an
// empty database do not run the same migrations at once. A database a newer
// build migrated is refused: this build's queries may not fit its schema.
func (db *DB) migrate(ctx context.Context, schema migrationSet) error {
	dialect := goose.DialectSQLite3
	if db.Engine == Postgres {
		dialect = goose.DialectPostgres
	}
	sub, err := engineMigrations(schema.fs, schema.dir, db.Engine)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	p, err := goose.NewProvider(dialect, db.write, sub, goose.WithTableName(schema.table))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	unlock, err := db.waitLock(ctx, lockMigrate)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", db.Engine, err)
	}
	defer unlock()
	current, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: schema version: %w", db.Engine, err)
	}
	var latest int64
	if sources := p.ListSources(); len(sources) > 0 {
		latest = sources[len(sources)-1].Version
	}
	if current > latest {
		return &SchemaTooNewError{Schema: schema.name, Version: current, Build: latest}
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate %s: %w", db.Engine, err)
	}
	return nil
}

// MigrateQueue creates or upgrades the job queue's tables (River's), in
// turn with the other nodes like every migration, and refuses tables a
// newer build migrated.
func (db *DB) MigrateQueue(ctx context.Context) error {
	unlock, err := db.waitLock(ctx, lockMigrate)
	if err != nil {
		return fmt.Errorf("queue migrations: %w", err)
	}
	defer unlock()
	current, latest, err := queue.Versions(ctx, db.Engine, db.write)
	if err != nil {
		return err
	}
	if current > latest {
		return &SchemaTooNewError{Schema: "job queue", Version: int64(current), Build: int64(latest)}
	}
	return queue.Migrate(ctx, db.Engine, db.write)
}

// SchemaTooNewError refuses a database whose schema a newer build
// migrated: upgrade this node.
type SchemaTooNewError struct {
	Schema  string // "database", "log database" or "job queue"
	Version int64  // the database's
	Build   int64  // the newest this build knows
}

func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf("the %s schema is at version %d, newer than this build's %d: a newer Gatehouse migrated it; upgrade this node (see Rolling upgrades in the README)",
		e.Schema, e.Version, e.Build)
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.read.PingContext(ctx) }

// Close closes both pools (unless they belong to another DB).
func (db *DB) Close() error {
	if db.shared {
		return nil
	}
	// The list marks' upkeep in flight ends first (its statements fail
	// once the pools close).
	db.marks.close()
	err := db.write.Close()
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	if db.lock != nil {
		err = errors.Join(err, db.lock.Close())
	}
	return err
}

// Store returns the data access methods over db.
func (db *DB) Store() *Store { return &Store{db: db} }

type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Store implements the Store interfaces of the capability packages. A Store
// from InTx runs every call in that transaction.
type Store struct {
	db *DB
	tx *sql.Tx
	// before holds, in a transaction, the first state of each object the
	// transaction read (by id): the "before" of its audit entries.
	before map[string]json.RawMessage
	// envOrgs caches, in a transaction, each environment's organization
	// and project as the audit entries of its rows need them (an import
	// writes many).
	envOrgs map[string][2]string
	// pending holds, by id, copies of the objects a batch read (an
	// import's rows) as it read them: marshalled into before only for
	// those the transaction writes (see beforeOf).
	pending map[string]any
	// audit holds, in a transaction, the audit entries recorded and not
	// yet written (see RecordAudit and flushAudit).
	audit *auditBuf
	// noAnchors: deep pages by number are read by a skip, never through a
	// kept cursor (anchor.go; tests and benchmarks compare the two).
	noAnchors bool
	// noMarks: deep pages by number find their first row by a skip,
	// never through list_marks (marks.go; tests and benchmarks compare).
	noMarks bool
	// noSearchIndex: ?search= reads every row of the environment, never
	// through a trigram index (search.go; tests compare the two).
	noSearchIndex bool
}

func (s *Store) reader() querier {
	if s.tx != nil {
		return s.db.traced(s.tx)
	}
	return s.db.traced(s.db.read)
}

func (s *Store) writer() querier {
	if s.tx != nil {
		return s.db.traced(s.tx)
	}
	return s.db.traced(s.db.write)
}

// InTx runs fn in one transaction, committed when fn returns nil.
func (s *Store) InTx(ctx context.Context, fn func(*Store) error) error {
	if s.tx != nil {
		return fn(s)
	}
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", formatError(err))
	}
	in := &Store{db: s.db, tx: tx, before: map[string]json.RawMessage{}, audit: &auditBuf{}}
	err = fn(in)
	if err == nil {
		// The transaction's audit entries, with its changes or not at all.
		err = in.flushAudit(ctx)
	}
	if err != nil {
		if rbErr := tx.Rollback(); rbErr != nil {
			return errors.Join(err, fmt.Errorf("rollback: %w", rbErr))
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", formatError(err))
	}
	return nil
}

// formatError translates driver errors into gatehouse errors: unique and
// foreign-key violations become CONFLICT. Other errors pass through.
func formatError(err error) error {
	if err == nil {
		return nil
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return alreadyExists(conflictTarget(se.Error()))
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return gatehouse.Errorf(gatehouse.CodeConflict, "a referenced item does not exist or is still in use")
		}
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return alreadyExists(conflictTarget(pe.ConstraintName))
		case "23503":
			return gatehouse.Errorf(gatehouse.CodeConflict, "a referenced item does not exist or is still in use")
		case "22021", "22P05": // invalid UTF-8, a NUL: refused before here, and a 400 if not
			return gatehouse.Errorf(gatehouse.CodeInvalidRequest, "text must be valid UTF-8 without NUL characters")
		}
	}
	return err
}

// alreadyExists is a unique violation as the store reports it before the
// write that hit it names the field and value (see duplicate): the
// reason already_exists tells it from a foreign-key CONFLICT.
func alreadyExists(target string) error {
	return &gatehouse.Error{Code: gatehouse.CodeConflict, Message: "already exists: " + target,
		Details: map[string]any{"reason": "already_exists"}}
}

// isDuplicate reports whether err is a unique violation.
func isDuplicate(err error) bool {
	var e *gatehouse.Error
	return errors.As(err, &e) && e.Code == gatehouse.CodeConflict && e.Details["reason"] == "already_exists"
}

// duplicate rewrites a unique violation of a write into one naming what
// already has value in field (`a user with key "ada" already exists`,
// details {field, value, reason: already_exists}); any other error passes.
func duplicate(err error, what, field, value string) error {
	return conflictOn(err, field, value, "%s with %s %q already exists", what, field, value)
}

// conflictTarget names the field of a unique violation in client terms.
func conflictTarget(detail string) string {
	switch {
	case strings.Contains(detail, "email"):
		return "a member with this email"
	case strings.Contains(detail, "key"):
		return "an item with this key"
	}
	return "an item with the same identity"
}

func notFound(what, id string) error {
	return gatehouse.Errorf(gatehouse.CodeNotFound, "%s %q not found", what, id)
}

// Time is stored as microseconds since the Unix epoch in both engines.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// scopes are stored space-separated; a scope no longer in the catalog is
// dropped when read.
func scopesText(set gatehouse.ScopeSet) string { return set.String() }

func parseScopes(text string) gatehouse.ScopeSet {
	var set gatehouse.ScopeSet
	for _, f := range strings.Fields(text) {
		if s, err := gatehouse.NewScopeSet([]gatehouse.Scope{gatehouse.Scope(f)}); err == nil {
			set |= s
		}
	}
	return set
}

// nullStringScan and nullInt are the nullable scan targets.
type (
	nullStringScan = sql.NullString
	nullInt        = sql.NullInt64
)
