package storetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// NewPostgres returns the URL of a new PostgreSQL database, dropped when
// tb ends, holding the main schema exactly as store.OpenPostgres migrates
// an empty one: a copy of a template database migrated once per server and
// version of the migrations (store.MigrationsDigest), so that each test
// does not run every migration again. (The log schema and the job queue's
// tables are not in it: db.Logs and db.MigrateQueue add them.)
func NewPostgres(tb testing.TB) string {
	tb.Helper()
	return pgtest.NewDatabaseFrom(tb, "main_"+store.MigrationsDigest(), func(ctx context.Context, url string) error {
		db, err := store.OpenPostgres(ctx, url)
		if err != nil {
			return err
		}
		return db.Close()
	})
}

// NewSQLite returns the path of a new SQLite database file in tb's
// temporary folder, exactly as store.OpenSQLite creates and migrates it: a
// copy of a file this process migrated once.
func NewSQLite(tb testing.TB) string {
	tb.Helper()
	return sqliteCopy(tb, &mainFile, "main.db", func(ctx context.Context, path string) (*store.DB, error) {
		return store.OpenSQLite(ctx, path)
	})
}

// NewLogSQLite returns the path of a new SQLite log database file in tb's
// temporary folder, exactly as store.OpenLogSQLite creates and migrates it:
// a copy of a file this process migrated once.
func NewLogSQLite(tb testing.TB) string {
	tb.Helper()
	return sqliteCopy(tb, &logFile, "logs.db", store.OpenLogSQLite)
}

// migratedFile is the content of a migrated SQLite file, made once.
type migratedFile struct {
	once sync.Once
	data []byte
	err  error
}

var mainFile, logFile migratedFile

func sqliteCopy(tb testing.TB, f *migratedFile, name string, open func(context.Context, string) (*store.DB, error)) string {
	tb.Helper()
	f.once.Do(func() { f.data, f.err = migrateFile(name, open) })
	if f.err != nil {
		tb.Fatalf("migrated SQLite file %s: %v", name, f.err)
	}
	path := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(path, f.data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// migrateFile creates and migrates a database with open in a folder of its
// own and returns the file's bytes once it is closed (which checkpoints
// its write-ahead log into it and removes the log).
func migrateFile(name string, open func(context.Context, string) (*store.DB, error)) ([]byte, error) {
	dir, err := os.MkdirTemp("", "gatehouse-storetest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, name)
	db, err := open(context.Background(), path)
	if err != nil {
		return nil, err
	}
	if err := db.Close(); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
		return nil, fmt.Errorf("%s-wal is left after closing (%d bytes): the file alone is not the database", name, fi.Size())
	}
	return os.ReadFile(path)
}
