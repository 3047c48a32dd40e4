package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// auditEngines opens a fresh main database of each engine.
func auditEngines(t *testing.T) map[string]func(t *testing.T) *Store {
	return map[string]func(t *testing.T) *Store{
		"sqlite": func(t *testing.T) *Store {
			db, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "main.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db.Store()
		},
		"postgres": func(t *testing.T) *Store {
			db, err := OpenPostgres(context.Background(), pgtest.NewDatabase(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db.Store()
		},
	}
}

// TestAuditExportAcrossChunks: the export's keyset reads every entry once,
// in (timestamp, id) order, when chunks end inside runs of equal
// timestamps; the kinds-of-object filter holds across chunks. Not
// parallel: it shrinks the package's chunk size.
func TestAuditExportAcrossChunks(t *testing.T) {
	defer func(c int) { auditExportChunk = c }(auditExportChunk)
	auditExportChunk = 7
	for name, open := range auditEngines(t) {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			ctx := context.Background()
			base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
			// 4 timestamps with 11 entries each: every chunk of 7 ends
			// inside a run; half the entries are users, half roles.
			var want []string
			err := st.InTx(ctx, func(tx *Store) error {
				for i := 0; i < 44; i++ {
					typ := "user"
					if i%2 == 1 {
						typ = "role"
					}
					e := audit.AuditEntry{ID: fmt.Sprintf("e-%02d-%03d", i%4, 100-i), OrganizationID: "org-1", Time: base.Add(time.Duration(i%4) * time.Second),
						ActorType: audit.ActorSystem, Action: typ + ".created", ObjectType: typ}
					if err := tx.RecordAudit(ctx, e); err != nil {
						return err
					}
				}
				return tx.RecordAudit(ctx, audit.AuditEntry{ID: "other-org", OrganizationID: "org-2", Time: base, ActorType: audit.ActorSystem, Action: "user.created", ObjectType: "user"})
			})
			if err != nil {
				t.Fatal(err)
			}
			export := func(f audit.Filter) []audit.AuditEntry {
				var got []audit.AuditEntry
				if err := st.ExportAudit(ctx, f, func(e *audit.AuditEntry) error { got = append(got, *e); return nil }); err != nil {
					t.Fatal(err)
				}
				return got
			}
			got := export(audit.Filter{OrgID: "org-1"})
			if len(got) != 44 {
				t.Fatalf("exported %d entries, want 44", len(got))
			}
			seen := map[string]bool{}
			for i, e := range got {
				if seen[e.ID] {
					t.Fatalf("entry %s exported twice", e.ID)
				}
				seen[e.ID] = true
				if i > 0 {
					p := got[i-1]
					if e.Time.Before(p.Time) || (e.Time.Equal(p.Time) && e.ID <= p.ID) {
						t.Fatalf("entry %d (%s at %s) after %s at %s: out of order", i, e.ID, e.Time, p.ID, p.Time)
					}
				}
			}
			want = nil
			for _, e := range got {
				if e.ObjectType == "role" {
					want = append(want, e.ID)
				}
			}
			roles := export(audit.Filter{OrgID: "org-1", ObjectTypes: []string{"role", "member_role"}})
			if len(roles) != len(want) || len(roles) != 22 {
				t.Fatalf("roles only: %d entries, want 22", len(roles))
			}
			for i, e := range roles {
				if e.ID != want[i] {
					t.Fatalf("roles only: entry %d is %s, want %s", i, e.ID, want[i])
				}
			}
			if none := export(audit.Filter{OrgID: "org-1", ObjectTypes: []string{}}); len(none) != 0 {
				t.Fatalf("no kind of object: %d entries", len(none))
			}
		})
	}
}

// TestAuditDeleteInBatches: a purged organization's trail and old entries
// go in batches, every one of them, and nothing of another organization
// or newer.
func TestAuditDeleteInBatches(t *testing.T) {
	defer func(n int) { auditDeleteBatch = n }(auditDeleteBatch)
	auditDeleteBatch = 4
	for name, open := range auditEngines(t) {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			ctx := context.Background()
			old, now := time.Now().Add(-48*time.Hour), time.Now()
			for i := 0; i < 10; i++ {
				for _, org := range []string{"gone", "kept"} {
					for _, at := range []time.Time{old, now} {
						if err := st.RecordAudit(ctx, audit.AuditEntry{OrganizationID: org, Time: at, ActorType: audit.ActorSystem, Action: "user.created", ObjectType: "user"}); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			count := func(org string) int {
				var n int
				if err := st.db.read.QueryRowContext(ctx, "SELECT COUNT(*) FROM audit_events WHERE org_id = $1", org).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			if err := st.DeleteAuditOf(ctx, "gone"); err != nil {
				t.Fatal(err)
			}
			if g, k := count("gone"), count("kept"); g != 0 || k != 20 {
				t.Fatalf("after DeleteAuditOf: %d entries of the purged organization, %d of the other (want 0 and 20)", g, k)
			}
			n, err := st.PruneAudit(ctx, now.Add(-time.Hour))
			if err != nil || n != 10 || count("kept") != 10 {
				t.Fatalf("PruneAudit: %d, %v; %d left (want 10 deleted, 10 left)", n, err, count("kept"))
			}
		})
	}
}

// auditEnv creates an organization, project and environment for the
// bulk tests: the environment's id.
func auditEnv(t testing.TB, st *Store) string {
	t.Helper()
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	org := &tenancy.Organization{ID: tenancy.NewID(), Key: "acme", Name: "Acme", Settings: tenancy.DefaultOrgSettings(), CreatedAt: t0, UpdatedAt: t0}
	p := &tenancy.Project{ID: tenancy.NewID(), OrgID: org.ID, Key: "p", Name: "P", CreatedAt: t0, UpdatedAt: t0}
	env := &tenancy.Environment{ID: tenancy.NewID(), OrgID: org.ID, ProjectID: p.ID, Key: "e", Name: "e", Settings: tenancy.DefaultEnvSettings(), CreatedAt: t0, UpdatedAt: t0}
	for _, err := range []error{st.CreateOrganization(ctx, org), st.CreateProject(ctx, p), st.CreateEnvironment(ctx, env)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return env.ID
}

// userRows are n user rows keyed prefix0 … prefix(n-1).
func userRows(prefix string, n int) []facts.Row {
	rows := make([]facts.Row, n)
	for i := range rows {
		email := fmt.Sprintf("%s%d@example.com", prefix, i)
		rows[i] = facts.Row{Type: facts.KindUser, Key: fmt.Sprintf("%s%d", prefix, i), Email: &email}
	}
	return rows
}

// importRows applies rows to envID in one transaction as an import's
// batch does, then returns fail (nil: commit).
func importRows(ctx context.Context, st *Store, envID string, rows []facts.Row, fail error) error {
	svc := facts.NewService(st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return st.InFactsTx(ctx, envID, func(tx facts.Store) error {
		_, changes, rowErrs, err := svc.ApplyRowsTx(ctx, tx, envID, rows, facts.ApplyOptions{})
		if err != nil {
			return err
		}
		if len(rowErrs) > 0 {
			return fmt.Errorf("row errors: %+v", rowErrs[:1])
		}
		if err := svc.AppendTx(ctx, tx, envID, changes); err != nil {
			return err
		}
		return fail
	})
}

// TestAuditBatchedWrites: a transaction's entries are written by
// multi-row INSERTs, several when they outnumber auditBatchRows, and
// still commit with its changes or not at all: a bulk write that fails
// after entries were flushed mid-transaction leaves no entry, and an
// entry that cannot be written at commit time rolls the change back. Not
// parallel: it shrinks the package's batch size.
func TestAuditBatchedWrites(t *testing.T) {
	defer func(n int) { auditBatchRows = n }(auditBatchRows)
	auditBatchRows = 7
	for name, open := range auditEngines(t) {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			ctx := context.Background()
			envID := auditEnv(t, st)
			count := func(query string, args ...any) int {
				t.Helper()
				var n int
				if err := st.db.read.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			entries := func() int {
				return count("SELECT COUNT(*) FROM audit_events WHERE env_id = $1", envID)
			}
			users := func() int { return count("SELECT COUNT(*) FROM authz_users WHERE env_id = $1", envID) }

			// 25 users: three full INSERTs of 7 entries and one of 4.
			if err := importRows(ctx, st, envID, userRows("ok", 25), nil); err != nil {
				t.Fatal(err)
			}
			if u, e := users(), entries(); u != 25 || e != 25 {
				t.Fatalf("after a committed import of 25: %d users, %d entries", u, e)
			}
			if n := count("SELECT COUNT(DISTINCT object_key) FROM audit_events WHERE env_id = $1 AND action = 'user.created' AND object_key LIKE 'ok%'", envID); n != 25 {
				t.Fatalf("%d distinct user.created entries, want 25", n)
			}

			// A bulk write failing after 3 flushes: nothing of it stays.
			boom := errors.New("boom")
			if err := importRows(ctx, st, envID, userRows("gone", 23), boom); !errors.Is(err, boom) {
				t.Fatalf("failing import: %v", err)
			}
			if u, e := users(), entries(); u != 25 || e != 25 {
				t.Fatalf("after a failed import: %d users, %d entries (want 25 and 25)", u, e)
			}

			// An entry that cannot be written (a duplicate id) when the
			// transaction commits: the change it records rolls back too.
			err := st.InTx(ctx, func(tx *Store) error {
				if err := tx.InsertUsers(ctx, []*facts.User{{ID: tenancy.NewID(), EnvID: envID, Key: "late", Attributes: map[string]any{}}}); err != nil {
					return err
				}
				for i := 0; i < 2; i++ {
					if err := tx.RecordAudit(ctx, audit.AuditEntry{ID: "dup", OrganizationID: "o", EnvironmentID: envID, Action: "user.created", ObjectType: "user"}); err != nil {
						return err
					}
				}
				return nil
			})
			if gatehouse.ErrorCode(err) != gatehouse.CodeConflict {
				t.Fatalf("duplicate entry at commit: %v, want a conflict", err)
			}
			if u, e := users(), entries(); u != 25 || e != 25 {
				t.Fatalf("after a failed flush: %d users, %d entries (want 25 and 25)", u, e)
			}

			// Inside a transaction: never more than auditBatchRows held,
			// and each full batch already in the table (the transaction's
			// own view) before the commit: 21 of 25 with batches of 7.
			err = st.InTx(ctx, func(tx *Store) error {
				for i := range 25 {
					if err := tx.RecordAudit(ctx, audit.AuditEntry{ID: fmt.Sprintf("held-%d", i), OrganizationID: "o", EnvironmentID: envID, Action: "user.updated", ObjectType: "user"}); err != nil {
						return err
					}
					if tx.audit.n > auditBatchRows || tx.audit.n != (i+1)%auditBatchRows {
						t.Errorf("after %d entries, %d held (batches of %d)", i+1, tx.audit.n, auditBatchRows)
					}
				}
				var n int
				if err := tx.tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM audit_events WHERE env_id = $1 AND id LIKE 'held-%'", envID).Scan(&n); err != nil {
					return err
				}
				if n != 21 {
					t.Errorf("before the commit, %d of 25 entries in the table, want 21", n)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if e := entries(); e != 50 {
				t.Fatalf("after committing 25 more: %d entries, want 50", e)
			}
		})
	}
}

// BenchmarkAuditImport times an import's batch of GATEHOUSE_BENCH_AUDIT_ROWS
// new users (default 2,000) with its audit trail on, each entry written by
// its own INSERT ("single", as before batching) and by multi-row INSERTs
// at commit ("batched"), on SQLite and PostgreSQL, in one run:
//
//	go test ./internal/store -run XXX -bench AuditImport -benchmem
func BenchmarkAuditImport(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("GATEHOUSE_BENCH_AUDIT_ROWS")); err == nil && v > 0 {
		n = v
	}
	open := func(b *testing.B, engine string) *Store {
		// A fresh database per case: an import's batch slows down as the
		// tables grow (before PostgreSQL's autovacuum analyzes them), so a
		// shared one would favour whichever case runs first.
		var db *DB
		var err error
		if engine == "sqlite" {
			db, err = OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "main.db"))
		} else {
			db, err = OpenPostgres(context.Background(), pgtest.NewDatabase(b))
		}
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		return db.Store()
	}
	for _, e := range []string{"sqlite", "postgres"} {
		b.Run(e, func(b *testing.B) {
			for _, mode := range []struct {
				name string
				rows int
			}{{"single", 1}, {"batched", auditBatchRows}} {
				b.Run(mode.name, func(b *testing.B) {
					defer func(n int) { auditBatchRows = n }(auditBatchRows)
					auditBatchRows = mode.rows
					st := open(b, e)
					envID := auditEnv(b, st)
					ctx := context.Background()
					batch := 0
					for b.Loop() {
						b.StopTimer()
						rows := userRows(fmt.Sprintf("b%d-", batch), n)
						batch++
						b.StartTimer()
						if err := importRows(ctx, st, envID, rows, nil); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
				})
			}
		})
	}
}

// TestAuditSignOut: a sign-out is recorded only when the session was
// still live (as SessionOf decides: within its idle expiry and
// SessionMax), and the session is deleted either way; when the entry
// cannot be written, the session is deleted all the same and the error
// says the sign-out is not recorded.
func TestAuditSignOut(t *testing.T) {
	for name, open := range auditEngines(t) {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			ctx := context.Background()
			t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			org := &tenancy.Organization{ID: tenancy.NewID(), Key: "acme", Name: "Acme", Settings: tenancy.DefaultOrgSettings(), CreatedAt: t0, UpdatedAt: t0}
			m := &tenancy.Member{ID: tenancy.NewID(), OrgID: org.ID, Email: "ada@example.com", Name: "Ada", Role: "admin", CreatedAt: t0, UpdatedAt: t0}
			for _, err := range []error{st.CreateOrganization(ctx, org), st.CreateMember(ctx, m)} {
				if err != nil {
					t.Fatal(err)
				}
			}
			svc := tenancy.NewService(st, tenancy.WithClock(func() time.Time { return t0 }))
			signedOut := func() int {
				t.Helper()
				var n int
				if err := st.db.read.QueryRowContext(ctx, "SELECT COUNT(*) FROM audit_events WHERE action = 'member.signed_out' AND object_id = $1", m.ID).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			session := func(created, expires time.Time) string {
				t.Helper()
				token := tenancy.NewToken()
				if err := st.CreateSession(ctx, &tenancy.Session{TokenSHA256: tenancy.TokenHash(token), MemberID: m.ID, OrgID: org.ID,
					CreatedAt: created, LastSeenAt: created, ExpiresAt: expires}); err != nil {
					t.Fatal(err)
				}
				return token
			}
			gone := func(token string) bool {
				_, err := st.GetSession(ctx, tenancy.TokenHash(token))
				return gatehouse.ErrorCode(err) == gatehouse.CodeNotFound
			}
			for _, c := range []struct {
				name             string
				created, expires time.Time
				recorded         int
			}{
				{"live", t0.Add(-time.Hour), t0.Add(time.Hour), 1},
				{"idle expired", t0.Add(-13 * time.Hour), t0.Add(-time.Hour), 0},
				{"expiring now", t0.Add(-12 * time.Hour), t0, 0},
				{"past SessionMax", t0.Add(-tenancy.SessionMax - time.Minute), t0.Add(time.Hour), 0},
			} {
				before, token := signedOut(), session(c.created, c.expires)
				if err := svc.EndSession(ctx, st, token, "192.0.2.7"); err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				if !gone(token) {
					t.Errorf("%s: the session is still there", c.name)
				}
				if n := signedOut() - before; n != c.recorded {
					t.Errorf("%s: %d member.signed_out entries, want %d", c.name, n, c.recorded)
				}
			}

			// The entry cannot be written: the session goes all the same.
			stmts := []string{"CREATE TRIGGER no_sign_out BEFORE INSERT ON audit_events WHEN NEW.action = 'member.signed_out' BEGIN SELECT RAISE(ABORT, 'no sign-outs'); END"}
			if st.db.Engine == Postgres {
				stmts = []string{
					"CREATE FUNCTION no_sign_out() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.action = 'member.signed_out' THEN RAISE EXCEPTION 'no sign-outs'; END IF; RETURN NEW; END $$",
					"CREATE TRIGGER no_sign_out BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION no_sign_out()",
				}
			}
			for _, q := range stmts {
				if _, err := st.writer().ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			before, token := signedOut(), session(t0.Add(-time.Hour), t0.Add(time.Hour))
			if err := svc.EndSession(ctx, st, token, "192.0.2.7"); !errors.Is(err, tenancy.ErrSignOutNotRecorded) {
				t.Fatalf("sign-out with its entry refused: %v, want ErrSignOutNotRecorded", err)
			}
			if !gone(token) {
				t.Error("the session whose sign-out could not be recorded is still there")
			}
			if n := signedOut() - before; n != 0 {
				t.Errorf("%d member.signed_out entries", n)
			}
		})
	}
}

// auditChunks: a full batch in one INSERT, the rest in power-of-two
// parts, so that few statement shapes reach the database.
func TestAuditChunks(t *testing.T) {
	defer func(n int) { auditBatchRows = n }(auditBatchRows)
	auditBatchRows = 400
	for _, c := range []struct {
		n    int
		want []int
	}{
		{0, nil}, {1, []int{1}}, {400, []int{400}}, {399, []int{256, 128, 8, 4, 2, 1}}, {5, []int{4, 1}}, {64, []int{64}},
	} {
		if got := auditChunks(c.n); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("auditChunks(%d) = %v, want %v", c.n, got, c.want)
		}
	}
	shapes := map[int]bool{}
	for n := 1; n <= 400; n++ {
		for _, k := range auditChunks(n) {
			shapes[k] = true
		}
	}
	if len(shapes) > 10 {
		t.Errorf("%d INSERT shapes for 1 to 400 entries", len(shapes))
	}
}

// A transaction's entries are written once they hold auditBatchBytes of
// documents, however few; the partial flush's chunks write them all.
func TestAuditBatchBytes(t *testing.T) {
	defer func(n, b int) { auditBatchRows, auditBatchBytes = n, b }(auditBatchRows, auditBatchBytes)
	auditBatchRows, auditBatchBytes = 400, 1000
	for name, open := range auditEngines(t) {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			ctx := context.Background()
			envID := auditEnv(t, st)
			big := []byte(`{"name":"` + strings.Repeat("x", 400) + `"}`) // 411 bytes: the third entry flushes
			err := st.InTx(ctx, func(tx *Store) error {
				for i := range 11 {
					if err := tx.RecordAudit(ctx, audit.AuditEntry{ID: fmt.Sprintf("big-%d", i), OrganizationID: "o", EnvironmentID: envID, Action: "user.updated", ObjectType: "user", After: big}); err != nil {
						return err
					}
					if want := (i + 1) % 3; tx.audit.n != want {
						t.Errorf("after %d entries of %d bytes, %d held, want %d", i+1, len(big), tx.audit.n, want)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			var n int
			if err := st.db.read.QueryRowContext(ctx, "SELECT COUNT(*) FROM audit_events WHERE id LIKE 'big-%'").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 11 {
				t.Fatalf("%d entries, want 11", n)
			}
		})
	}
}
