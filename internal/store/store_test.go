package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

func TestSQLite(t *testing.T) {
	t.Parallel()
	storetest.Run(t, openSQLite)
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	storetest.Run(t, openPostgresDB)
}

// ci: norace
func TestSQLiteLong(t *testing.T) {
	t.Parallel()
	storetest.RunLong(t, openSQLite)
}

// ci: norace
func TestPostgresLong(t *testing.T) {
	t.Parallel()
	storetest.RunLong(t, openPostgresDB)
}

// openPostgresDB opens a fresh PostgreSQL database.
func openPostgresDB(t *testing.T) *store.DB { return openPostgres(t, storetest.NewPostgres(t)) }

// Opening twice must not re-run or break migrations.
func TestReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "test.db")
	for i := 0; i < 2; i++ {
		db, err := store.OpenSQLite(context.Background(), path)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		db.Close()
	}
}
