// Package datadirtest gives a test's server migrated, empty databases: a
// data folder, or a PostgreSQL database, copied from one migrated once.
// Copying is much faster than migrating every test's databases anew (the
// main and log schemas and River's tables: about a second of SQLite under
// -race for each server a test starts, and goose parsing every migration
// file). Only tests import it.
package datadirtest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// template is the migrated, empty data folder, made once per test binary
// by app.New on the default configuration.
var template struct {
	once sync.Once
	dir  string
	err  error
}

// seed copies the template into dir when dir is empty (a folder that
// already holds anything is left as it is). The server then opens it as
// it would any data folder whose migrations have all run.
func seed(t testing.TB, dir string) {
	t.Helper()
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		return
	}
	template.once.Do(func() {
		template.dir, template.err = os.MkdirTemp("", "gatehouse-template-*")
		if template.err != nil {
			return
		}
		cfg := config.Default()
		cfg.DataDir = template.dir
		a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			template.err = err
			return
		}
		template.err = a.Close()
	})
	if template.err != nil {
		t.Fatalf("template data folder: %v", template.err)
	}
	entries, err := os.ReadDir(template.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".lock") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(template.dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// SeedConfig seeds cfg's data folder when cfg is a server on the embedded
// database (no DatabaseURL) with the data folder's own secret key (no
// SecretKey: the template's key file is copied with it) and an empty
// DataDir. Any other configuration is left to migrate as it would.
func SeedConfig(t testing.TB, cfg config.Config) {
	t.Helper()
	if cfg.DatabaseURL == "" && cfg.SecretKey == "" && cfg.DataDir != "" {
		seed(t, cfg.DataDir)
	}
}

// Postgres returns the URL of a new PostgreSQL database, dropped when tb
// ends, holding every schema a server migrates on start (the main and log
// schemas and River's tables) and nothing else: a copy of a template
// migrated once per server and version of the migrations, so that each
// test's server does not run them all again. Its rows are those of an
// empty database: no node has run on it.
func Postgres(tb testing.TB) string {
	tb.Helper()
	return pgtest.NewDatabaseFrom(tb, "full_"+store.MigrationsDigest(), func(ctx context.Context, url string) error {
		db, err := store.OpenPostgres(ctx, url)
		if err != nil {
			return err
		}
		logs, err := db.Logs(ctx)
		if err == nil {
			err = logs.Close()
		}
		if err == nil {
			err = db.MigrateQueue(ctx)
		}
		return errors.Join(err, db.Close())
	})
}
