package store_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/pressly/goose/v3"
)

// TestLogMigrationUploadedBy: a log database from before
// uploaded_by_key_id keeps its decisions; the PDP decisions written then
// (whose key_id was always their uploader) get it, the server's stay empty.
func TestLogMigrationUploadedBy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "logs.db")
	old := fstest.MapFS{}
	for _, name := range []string{"00001_decisions.sql", "00002_api_log.sql"} {
		b, err := os.ReadFile(filepath.Join("logmigrations", "common", name))
		if err != nil {
			t.Fatal(err)
		}
		old[name] = &fstest.MapFile{Data: b}
	}
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, raw, old, goose.WithTableName("goose_log_version"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	const insert = `INSERT INTO decision_log (id, org_id, project_id, env_id, created_at, source, request_id, key_id, user_key, action,
		resource_type, resource_key, tenant, allow, reason, role) VALUES (?, 'o', 'p', 'e', ?, ?, '', ?, 'u', 'read', 'doc', '', 'default', false, 'unknown_user', '')`
	for _, row := range []struct {
		id, source, key string
		at              int64
	}{{"d1", "pdp", "pdp-key", 1}, {"d2", "api", "app-key", 2}} {
		if _, err := raw.ExecContext(ctx, insert, row.id, row.at, row.source, row.key); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()

	db, err := store.OpenLogSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	page, err := db.LogStore().ListDecisions(ctx, decision.Filter{OrgID: "o", EnvID: "e"}, gatehouse.PageRequest{Page: 1, PerPage: 10, Sort: "timestamp"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range page.Items {
		got[e.ID] = e.UploadedByKeyID
	}
	if len(got) != 2 || got["d1"] != "pdp-key" || got["d2"] != "" {
		t.Fatalf("uploaded_by_key_id after the migration: %v", got)
	}
}
