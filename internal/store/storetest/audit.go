package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/event"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// auditOf lists every entry of f, oldest first.
func auditOf(t *testing.T, st *store.Store, f audit.Filter) []audit.AuditEntry {
	t.Helper()
	p, err := st.ListAudit(context.Background(), f, gatehouse.PageRequest{Page: 1, PerPage: 1000, Sort: "timestamp"})
	must(t, err)
	return p.Items
}

// testAudit: a write and its audit entry commit together or not at all;
// the entry names the actor on the context and holds the object before
// and after; sign-ins and setup links are recorded without their tokens;
// filters keep environments and organizations apart; paging by cursor
// walks every entry once; retention deletes only what is older.
func testAudit(t *testing.T, db *store.DB) {
	st := db.Store()
	org := newOrg(t, st, "acme")
	beta := newOrg(t, st, "beta")
	proj := newProject(t, st, org, "app", now)
	dev, prod := newEnv(t, st, proj, "dev", false), newEnv(t, st, proj, "prod", false)
	svc := facts.NewService(st, slog.New(slog.NewTextHandler(io.Discard, nil)))

	ada := audit.Actor{Type: audit.ActorMember, ID: "m-ada", Name: "ada@acme.example", IP: "203.0.113.7", RequestID: "req-1"}
	ctx := audit.WithActor(context.Background(), ada)
	u, err := svc.CreateUser(ctx, dev.ID, facts.UserInput{Key: "alice", FirstName: "Alice"})
	must(t, err)
	name := "Alicia"
	_, err = svc.UpdateUser(ctx, dev.ID, "alice", facts.UserPatch{FirstName: &name})
	must(t, err)
	// A failed write: no entry.
	_, err = svc.CreateUser(ctx, dev.ID, facts.UserInput{Key: "alice"})
	wantCode(t, err, gatehouse.CodeConflict)
	// An entry emitted in a transaction that then rolls back: none either.
	boom := errors.New("boom")
	err = st.InTx(ctx, func(tx *store.Store) error {
		if err := tx.Emit(ctx, event.Event{ID: tenancy.NewID(), Type: event.TenantCreated, EnvID: dev.ID, OccurredAt: now, Data: map[string]string{"id": "t1", "key": "ghost"}}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("rolled back transaction: %v", err)
	}
	// Without an actor on the context: the system.
	_, err = svc.CreateUser(context.Background(), prod.ID, facts.UserInput{Key: "bob"})
	must(t, err)

	var entries []audit.AuditEntry
	for _, e := range auditOf(t, st, audit.Filter{OrgID: org.ID}) {
		if e.Action != "organization.created" { // newOrg's
			entries = append(entries, e)
		}
	}
	if len(entries) != 3 {
		t.Fatalf("%d entries, want 3: %+v", len(entries), entries)
	}
	for _, e := range entries {
		if e.ObjectKey == "ghost" {
			t.Fatalf("a rolled-back change was recorded: %+v", e)
		}
	}
	up := auditOf(t, st, audit.Filter{OrgID: org.ID, Action: event.UserUpdated})
	if len(up) != 1 {
		t.Fatalf("user.updated entries: %+v", up)
	}
	e := up[0]
	if e.ActorType != audit.ActorMember || e.ActorID != "m-ada" || e.ActorName != "ada@acme.example" || e.ClientIP != "203.0.113.7" || e.RequestID != "req-1" ||
		e.ObjectType != "user" || e.ObjectID != u.ID || e.ObjectKey != "alice" || e.EnvironmentID != dev.ID || e.ProjectID != proj.ID {
		t.Fatalf("user.updated entry: %+v", e)
	}
	var before, after map[string]any
	must(t, json.Unmarshal(e.Before, &before))
	must(t, json.Unmarshal(e.After, &after))
	if before["first_name"] != "Alice" || after["first_name"] != "Alicia" {
		t.Fatalf("before %v, after %v", before, after)
	}
	diff := audit.Diff(e.Before, e.After)
	var changed []string
	for _, f := range diff {
		if f.Changed {
			changed = append(changed, f.Name)
		}
	}
	if strings.Join(changed, ",") != "first_name,updated_at" {
		t.Fatalf("changed fields %v", changed)
	}
	if sys := auditOf(t, st, audit.Filter{OrgID: org.ID, ActorType: audit.ActorSystem, ObjectType: "user"}); len(sys) != 1 || sys[0].ObjectKey != "bob" {
		t.Fatalf("system entries: %+v", sys)
	}

	// Isolation: per environment, per organization.
	if l := auditOf(t, st, audit.Filter{OrgID: org.ID, EnvID: prod.ID}); len(l) != 1 || l[0].ObjectKey != "bob" {
		t.Fatalf("prod's entries: %+v", l)
	}
	if l := auditOf(t, st, audit.Filter{OrgID: beta.ID, ObjectType: "user"}); len(l) != 0 { // beta's own: its creation
		t.Fatalf("beta sees %d entries of acme", len(l))
	}
	if _, err := st.GetAudit(context.Background(), audit.Filter{OrgID: beta.ID}, e.ID); gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
		t.Fatalf("beta reads acme's entry: %v", err)
	}

	// Sign-ins and setup links, without their tokens or the password.
	tsvc := tenancy.NewService(st)
	m, err := tsvc.CreateMember(ctx, org.ID, "bob@acme.example", "Bob", tenancy.RoleViewer)
	must(t, err)
	link, err := tsvc.NewSetupToken(ctx, m, "member:m-ada")
	must(t, err)
	_, err = tsvc.UseSetupToken(context.Background(), link, "correct horse battery")
	must(t, err)
	sess := &tenancy.Session{TokenSHA256: tenancy.TokenHash("session-token"), MemberID: m.ID, OrgID: org.ID, ClientIP: "198.51.100.9",
		UserAgent: "test", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
	must(t, st.CreateSession(context.Background(), sess))
	signedIn := auditOf(t, st, audit.Filter{OrgID: org.ID, Action: "member.signed_in"})
	if len(signedIn) != 1 || signedIn[0].ActorType != audit.ActorMember || signedIn[0].ActorID != m.ID || signedIn[0].ActorName != "bob@acme.example" ||
		signedIn[0].ClientIP != "198.51.100.9" || signedIn[0].ObjectID != m.ID {
		t.Fatalf("sign-in entries: %+v", signedIn)
	}
	if l := auditOf(t, st, audit.Filter{OrgID: org.ID, Action: "member.setup_link_created"}); len(l) != 1 || l[0].ActorID != "m-ada" || l[0].ObjectID != m.ID {
		t.Fatalf("setup link entries: %+v", l)
	}
	if l := auditOf(t, st, audit.Filter{OrgID: org.ID, Action: "member.setup_link_used"}); len(l) != 1 || l[0].ActorID != m.ID {
		t.Fatalf("setup link use entries: %+v", l)
	}
	hash, err := st.MemberPasswordHash(context.Background(), org.ID, m.ID)
	must(t, err)
	var all strings.Builder
	must(t, st.ExportAudit(context.Background(), audit.Filter{OrgID: org.ID}, func(e *audit.AuditEntry) error {
		b, err := json.Marshal(e)
		all.Write(b)
		return err
	}))
	for _, secret := range []string{link, tenancy.TokenHash(link), "session-token", sess.TokenSHA256, hash, "correct horse battery"} {
		if strings.Contains(all.String(), secret) {
			t.Fatalf("a secret (%q) reached the audit trail", secret)
		}
	}

	// Paging by cursor: every entry once, newest first.
	for i := range 7 {
		must(t, st.RecordAudit(ctx, audit.AuditEntry{OrganizationID: org.ID, Time: now.Add(time.Duration(i) * time.Second), Action: "test.paged", ObjectType: "test"}))
	}
	f := audit.Filter{OrgID: org.ID}
	seen := walk(t, "audit", func(cursor string) (gatehouse.Page[audit.AuditEntry], error) {
		return st.ListAudit(context.Background(), f, gatehouse.PageRequest{PerPage: 3, Sort: "timestamp", Desc: true, Cursor: cursor})
	}, func(e *audit.AuditEntry) string { return e.ID }, nil)
	if total := len(auditOf(t, st, f)); len(seen) != total {
		t.Fatalf("paging saw %d entries of %d", len(seen), total)
	}

	// Retention: entries older than the cut go, newer stay.
	old := now.Add(-400 * 24 * time.Hour)
	must(t, st.RecordAudit(ctx, audit.AuditEntry{OrganizationID: org.ID, Time: old, Action: "test.old", ObjectType: "test"}))
	must(t, st.RecordAudit(ctx, audit.AuditEntry{OrganizationID: beta.ID, Time: old, Action: "test.old", ObjectType: "test"}))
	keep := len(auditOf(t, st, f)) - 1
	n, err := st.PruneAudit(context.Background(), now.Add(-365*24*time.Hour))
	must(t, err)
	if n != 2 || len(auditOf(t, st, f)) != keep || len(auditOf(t, st, audit.Filter{OrgID: org.ID, Action: "test.old"})) != 0 {
		t.Fatalf("prune deleted %d, %d left of %d", n, len(auditOf(t, st, f)), keep)
	}
}
