package store_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// runGooseSection runs a migration file's section on db in a transaction,
// as goose runs it.
func runGooseSection(t testing.TB, db *store.DB, path, section string) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.Writer().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx, gooseSection(t, path, section)); err != nil {
		t.Fatalf("%s %s: %v", path, section, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// gooseSection is the Up or Down section of a migration file of this
// package, as one script (goose's statement markers dropped).
func gooseSection(t testing.TB, path, section string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	up, down, ok := strings.Cut(s[strings.Index(s, "-- +goose Up"):], "-- +goose Down")
	if !ok {
		t.Fatalf("%s: no Down section", path)
	}
	s = up
	if section == "Down" {
		s = down
	}
	return strings.NewReplacer("-- +goose Up", "", "-- +goose StatementBegin", "", "-- +goose StatementEnd", "").Replace(s)
}

// runMigration runs the Up or Down section of db's engine's migration
// file name in one transaction.
func runMigration(t testing.TB, db *store.DB, name, section string) {
	t.Helper()
	ctx := context.Background()
	engine := "sqlite"
	if db.Engine == store.Postgres {
		engine = "postgres"
	}
	tx, err := db.Writer().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, gooseSection(t, "migrations/"+engine+"/"+name, section)); err != nil {
		t.Fatalf("%s %s: %v", name, section, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// ci: norace
// TestKeyMarkMigrationsCountExistingRows: migrations 00030 and 00031 make
// the key marks of the rows already there when they run (an upgrade).
// Both are undone, rows of every kind they count are written without
// their triggers, and both are done again: the marks are exact, on both
// engines, and stay exact through writes after.
func TestKeyMarkMigrationsCountExistingRows(t *testing.T) {
	t.Parallel()
	onMarkedEngines(t, "keymarksup", func(t *testing.T, db *store.DB, st *store.Store, m *marksEnv) {
		ctx := context.Background()
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		run := func(name, section string) { t.Helper(); runMigration(t, db, name, section) }
		run("00031_own_column_marks.sql", "Down")
		run("00030_instance_key_marks.sql", "Down")
		// Rows written while the migrations are not there: the users and
		// tenants of the environment, and assignments on instances.
		roles, insts := seedInstanceRoles(t, st, m)
		for i := range 40 {
			u := &facts.User{ID: tenancy.NewID(), EnvID: m.env, Key: "late-" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Email: "", CreatedAt: m.at, UpdatedAt: m.at}
			must(st.CreateUser(ctx, u))
		}
		run("00030_instance_key_marks.sql", "Up")
		run("00031_own_column_marks.sql", "Up")
		checkMarks(t, db, m.env)
		var n int
		must(db.Writer().QueryRowContext(ctx, "SELECT COUNT(*) FROM key_marks WHERE env_id = $1 AND sort IN ('i:user', 'i:role', 'i:tenant', 'u:key', 'u:email', 'u:updated_at', 't:key', 't:name', 't:updated_at')", m.env).Scan(&n))
		if n < 9 {
			t.Fatalf("%d key marks of the new sorts after the migrations: they did not count the rows there", n)
		}
		// Writes after: the triggers are back.
		must(st.DeleteInstance(ctx, m.env, insts[3].ID))
		must(st.DeleteResourceRole(ctx, m.env, roles[1]))
		must(st.DeleteUser(ctx, m.env, m.users[7].ID))
		checkMarks(t, db, m.env)
	})
}
