package dashboard

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// At its stop the writer of failed sign-ins writes what is still queued,
// then refuses (and counts) what comes after; a full queue drops and
// counts without waiting.
func TestSignInAuditDrainsAtStop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "main.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st := db.Store()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	org := &tenancy.Organization{ID: tenancy.NewID(), Key: "acme", Name: "Acme", Settings: tenancy.DefaultOrgSettings(), CreatedAt: t0, UpdatedAt: t0}
	m := tenancy.Member{ID: tenancy.NewID(), OrgID: org.ID, Email: "ada@example.com", Name: "Ada", Role: "admin", CreatedAt: t0, UpdatedAt: t0}
	for _, err := range []error{st.CreateOrganization(ctx, org), st.CreateMember(ctx, &m)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	a := NewSignInAudit(st, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	f := tenancy.SignInFailure{Members: []tenancy.Member{m}, Method: tenancy.SignInPassword, ClientIP: "192.0.2.1"}
	for range signInAuditQueue + 2 {
		a.add(f) // nobody writes yet: the last 2 find the queue full
	}
	if s := a.Stats(); s.QueueFull != 2 {
		t.Fatalf("%+v, want 2 dropped for a full queue", s)
	}
	stopped, stop := context.WithCancel(ctx)
	stop()
	a.Run(stopped) // stopped already: writes the queue, then returns
	a.add(f)
	if s := a.Stats(); s.QueueFull != 3 || s.Failed != 0 {
		t.Fatalf("%+v, want 3 dropped (one after the stop), none failed", s)
	}
	var n int
	err = st.ExportAudit(ctx, audit.Filter{OrgID: org.ID}, func(e *audit.AuditEntry) error {
		if e.Action == "member.sign_in_failed" {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != signInAuditQueue {
		t.Fatalf("%d entries written, want the %d queued", n, signInAuditQueue)
	}
}
