package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
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
