package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/testwait"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

// openAll opens url as a node does: the main schema, the log schema and
// the queue's.
func openAll(ctx context.Context, url string) (*store.DB, error) {
	db, err := store.OpenPostgres(ctx, url)
	if err != nil {
		return nil, err
	}
	if _, err := db.Logs(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.MigrateQueue(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Nodes started together on an empty PostgreSQL database take turns to
// migrate it: every one starts, and each migration is applied once. With
// goose's version tables already there (a first start that stopped right
// after making them), nothing else staggers the nodes.
func TestConcurrentMigrationsPostgres(t *testing.T) {
	t.Parallel()
	for _, versionTables := range []bool{false, true} {
		t.Run(fmt.Sprintf("version tables %v", versionTables), func(t *testing.T) {
			t.Parallel()
			url := pgtest.NewDatabase(t)
			conn, err := sql.Open("pgx", url)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if versionTables {
				for _, table := range []string{"goose_db_version", "goose_log_version"} {
					// A provider needs a migration; GetDBVersion applies none.
					fsys := fstest.MapFS{"00001_none.sql": {Data: []byte("-- +goose Up\nSELECT 1;\n")}}
					p, err := goose.NewProvider(goose.DialectPostgres, conn, fsys, goose.WithTableName(table))
					if err != nil {
						t.Fatal(err)
					}
					if _, err := p.GetDBVersion(context.Background()); err != nil { // creates the table
						t.Fatal(err)
					}
				}
			}
			const nodes = 6
			var wg sync.WaitGroup
			errs := make([]error, nodes)
			start := make(chan struct{})
			for i := range nodes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					db, err := openAll(context.Background(), url)
					if err == nil {
						err = db.Close()
					}
					errs[i] = err
				}()
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("node %d: %v", i, err)
				}
			}
			for _, q := range []string{
				"SELECT COUNT(*), COUNT(DISTINCT version_id), COUNT(*) FILTER (WHERE is_applied) FROM goose_db_version",
				"SELECT COUNT(*), COUNT(DISTINCT version_id), COUNT(*) FILTER (WHERE is_applied) FROM goose_log_version",
				"SELECT COUNT(*), COUNT(DISTINCT version), COUNT(*) FROM river_migration",
			} {
				var rows, distinct, applied int
				if err := conn.QueryRow(q).Scan(&rows, &distinct, &applied); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
				if rows < 2 || rows != distinct || rows != applied {
					t.Errorf("%s: %d rows, %d versions, %d applied: want every version applied once", q, rows, distinct, applied)
				}
			}
			// The migration lock was given back: one more node starts at once.
			db, err := openAll(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
		})
	}
}

// schemaTooNew checks that err refuses a newer schema by saying so.
func schemaTooNew(t *testing.T, err error, schema string) {
	t.Helper()
	var tooNew *store.SchemaTooNewError
	if !errors.As(err, &tooNew) {
		t.Fatalf("opened a %s schema a newer build migrated: err = %v", schema, err)
	}
	if tooNew.Schema != schema || tooNew.Version <= tooNew.Build {
		t.Fatalf("refusal: %+v", tooNew)
	}
	if msg := err.Error(); !strings.Contains(msg, "newer than this build's") || !strings.Contains(msg, "upgrade this node") {
		t.Fatalf("refusal does not say what to do: %s", msg)
	}
}

// ci: norace
// A node of an older build refuses a database a newer one migrated (main,
// log and queue schemas), on PostgreSQL.
func TestNewerSchemaRefusedPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, c := range []struct{ schema, bump string }{
		{"database", "INSERT INTO goose_db_version (version_id, is_applied) SELECT MAX(version_id) + 1, true FROM goose_db_version"},
		{"log database", "INSERT INTO goose_log_version (version_id, is_applied) SELECT MAX(version_id) + 1, true FROM goose_log_version"},
		{"job queue", "INSERT INTO river_migration (line, version) SELECT line, MAX(version) + 1 FROM river_migration GROUP BY line"},
	} {
		t.Run(c.schema, func(t *testing.T) {
			t.Parallel()
			url := pgtest.NewDatabase(t)
			db, err := openAll(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Writer().ExecContext(ctx, c.bump); err != nil {
				t.Fatal(err)
			}
			db.Close()
			db, err = openAll(ctx, url)
			if err == nil {
				db.Close()
			}
			schemaTooNew(t, err, c.schema)
		})
	}
}

// ci: norace
// The same on the embedded default: each schema is checked.
func TestNewerSchemaRefusedSQLite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("database", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "test.db")
		db, err := store.OpenSQLite(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Writer().ExecContext(ctx, "INSERT INTO goose_db_version (version_id, is_applied) SELECT MAX(version_id) + 1, 1 FROM goose_db_version"); err != nil {
			t.Fatal(err)
		}
		db.Close()
		db, err = store.OpenSQLite(ctx, path)
		if err == nil {
			db.Close()
		}
		schemaTooNew(t, err, "database")
	})
	t.Run("log database", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "logs.db")
		db, err := store.OpenLogSQLite(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Writer().ExecContext(ctx, "INSERT INTO goose_log_version (version_id, is_applied) SELECT MAX(version_id) + 1, 1 FROM goose_log_version"); err != nil {
			t.Fatal(err)
		}
		db.Close()
		db, err = store.OpenLogSQLite(ctx, path)
		if err == nil {
			db.Close()
		}
		schemaTooNew(t, err, "log database")
	})
	t.Run("job queue", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "test.db")
		db, err := store.OpenSQLite(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.MigrateQueue(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Writer().ExecContext(ctx, "INSERT INTO river_migration (line, version) SELECT line, MAX(version) + 1 FROM river_migration GROUP BY line"); err != nil {
			t.Fatal(err)
		}
		db.Close()
		db, err = store.OpenSQLite(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		schemaTooNew(t, db.MigrateQueue(ctx), "job queue")
	})
}

// Two nodes on one PostgreSQL database never hold the same lock at once;
// a lock comes free when its holder lets go or its connection dies (a
// crashed node); other names are independent.
func TestTryLockPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	a, err := store.OpenPostgres(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := store.OpenPostgres(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	unlockA, ok, err := a.TryLock(ctx, "sweep")
	if err != nil || !ok {
		t.Fatalf("first holder: ok=%v err=%v", ok, err)
	}
	for _, db := range []*store.DB{b, a} {
		if _, ok, err := db.TryLock(ctx, "sweep"); err != nil || ok {
			t.Fatalf("a second holder got the lock: ok=%v err=%v", ok, err)
		}
	}
	unlockOther, ok, err := b.TryLock(ctx, "another sweep")
	if err != nil || !ok {
		t.Fatalf("another name: ok=%v err=%v", ok, err)
	}
	unlockOther()
	unlockA()
	unlockB, ok, err := b.TryLock(ctx, "sweep")
	if err != nil || !ok {
		t.Fatalf("after the holder let go: ok=%v err=%v", ok, err)
	}
	if _, ok, _ := a.TryLock(ctx, "sweep"); ok {
		t.Fatal("both nodes hold the lock")
	}

	// B's node dies: its sessions end, and the lock with them.
	var killed int
	if err := a.Writer().QueryRowContext(ctx, `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Fatalf("%d sessions held advisory locks, want 1", killed)
	}
	testwait.Until(t, 10*time.Second, "the dead holder's lock coming free", func() bool {
		unlock, ok, err := a.TryLock(ctx, "sweep")
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			unlock()
		}
		return ok
	})
	unlockB() // its connection is gone already: a no-op
}

// On the embedded default one process owns the database: every lock is
// granted.
func TestTryLockSQLite(t *testing.T) {
	t.Parallel()
	db, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for range 2 {
		unlock, ok, err := db.TryLock(context.Background(), "sweep")
		if err != nil || !ok {
			t.Fatalf("ok=%v err=%v", ok, err)
		}
		defer unlock()
	}
}
