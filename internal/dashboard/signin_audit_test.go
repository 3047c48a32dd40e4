package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/dashboard"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

// trailOf is every stored audit entry of the organization of member
// email, each as the JSON of all its stored columns.
func trailOf(t *testing.T, s *site, email string) (entries []audit.AuditEntry, raw string) {
	t.Helper()
	ctx := context.Background()
	ms, err := s.a.Store.MembersByEmail(ctx, email)
	if err != nil || len(ms) != 1 {
		t.Fatalf("members %s: %v %v", email, ms, err)
	}
	var b strings.Builder
	err = s.a.Store.ExportAudit(ctx, audit.Filter{OrgID: ms[0].OrgID}, func(e *audit.AuditEntry) error {
		entries = append(entries, *e)
		j, err := json.Marshal(e)
		b.Write(j)
		b.WriteByte('\n')
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return entries, b.String()
}

func withAction(es []audit.AuditEntry, action string) []audit.AuditEntry {
	var out []audit.AuditEntry
	for _, e := range es {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// failedOn is the member.sign_in_failed entries in the trail of member
// email's organization.
func failedOn(t *testing.T, s *site, email string) []audit.AuditEntry {
	t.Helper()
	es, _ := trailOf(t, s, email)
	return withAction(es, "member.sign_in_failed")
}

// Failed sign-ins and sign-outs are in the audit trail: a wrong password
// on the member it was for, with where from and the method only (never
// the password, never why); an unknown address, a member without a
// password and an organization the address is no member of nowhere; a
// sign-out as the member's. The Admin finds them on the audit page.
func TestSignInFailuresAndSignOutAudited(t *testing.T) {
	t.Parallel()
	s, admin := adminSite(t, nil)
	ctx := context.Background()
	// Another organization, whose Admin has no password yet.
	b, _, _, err := s.a.CreateOrganization(ctx, "Other Org", "other", "other@example.com", "Other", "")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := s.a.Store.MembersByEmail(ctx, "admin@example.com")
	if err != nil || len(ms) != 1 {
		t.Fatalf("members: %v %v", ms, err)
	}
	const wrong, unknownPW = "Wr0ng-horse-battery-XYZZY", "nobody-s-secret-PLUGH"
	for _, f := range []url.Values{
		{"email": {" Admin@Example.com "}, "password": {wrong}},
		{"email": {"nobody@example.com"}, "password": {unknownPW}},
		// An organization the address is no member of: nothing, on
		// no one.
		{"email": {"admin@example.com"}, "password": {wrong}, "organization": {b.Organization.ID}},
		// A member without a password: nothing was checked.
		{"email": {"other@example.com"}, "password": {wrong}},
		// The Admin's organization, chosen: on the Admin. The last one
		// queued: once it is written, those before are too.
		{"email": {"admin@example.com"}, "password": {wrong}, "organization": {ms[0].OrgID}},
	} {
		res := admin.post("/signin", f)
		res.Body.Close()
		if res.StatusCode != 401 {
			t.Fatalf("sign in as %s: %d, want 401", f.Get("email"), res.StatusCode)
		}
	}
	testwait.Until(t, 10*time.Second, "the failed sign-ins in the trail", func() bool { return len(failedOn(t, s, "admin@example.com")) >= 2 })
	if f := failedOn(t, s, "other@example.com"); len(f) != 0 {
		t.Fatalf("entries on the member without a password: %+v", f)
	}
	// Another session of the Admin's, signed out.
	second := s.member(t, "admin@example.com", "correct horse battery")
	res := second.post("/signout", nil)
	res.Body.Close()
	if res.StatusCode != 303 {
		t.Fatalf("sign out: %d", res.StatusCode)
	}
	if _, body := second.get("/audit"); !strings.Contains(body, `id="signin"`) {
		t.Fatal("after signing out, the audit page is not the sign-in page")
	}
	// Signing out again (no session): nothing more to record.
	second.post("/signout", nil).Body.Close()

	entries, raw := trailOf(t, s, "admin@example.com")
	failed := withAction(entries, "member.sign_in_failed")
	if len(failed) != 2 {
		t.Fatalf("%d member.sign_in_failed entries, want 2 (none for the unknown address nor the other organization): %+v", len(failed), failed)
	}
	e := failed[0]
	if e.ObjectType != "member" || e.ObjectKey != "admin@example.com" || e.ObjectID != ms[0].ID || e.ActorType != audit.ActorMember || e.ActorID != "" ||
		e.ActorName != "admin@example.com" || e.ClientIP != "127.0.0.1" || string(e.After) != `{"method":"password"}` || e.Before != nil {
		t.Fatalf("the failed sign-in's entry: %+v after %s", e, e.After)
	}
	out := withAction(entries, "member.signed_out")
	if len(out) != 1 || out[0].ActorID != e.ObjectID || out[0].ObjectID != e.ObjectID || out[0].ClientIP != "127.0.0.1" {
		t.Fatalf("member.signed_out entries: %+v", out)
	}
	for _, secret := range []string{wrong, unknownPW, "nobody@example.com", "correct horse battery"} {
		if strings.Contains(raw, secret) {
			t.Errorf("the stored trail holds %q", secret)
		}
	}

	_, body := admin.get("/audit")
	for _, action := range []string{"member.sign_in_failed", "member.signed_out"} {
		if e := auditEntry(body, action); !strings.Contains(e, "admin@example.com") || !strings.Contains(e, "from 127.0.0.1") {
			t.Errorf("%s is not on the audit page with who and where from: %q", action, e)
		}
	}
	if strings.Contains(body, wrong) || strings.Contains(body, "nobody@example.com") {
		t.Error("the audit page shows the password or the unknown address")
	}
}

// A failed sign-in on a member does not wait for the database's writer
// (on SQLite one connection, which an import may hold for long): the
// entry is written in the background, once the writer is free, so the
// answer takes as long as for an address nobody has.
func TestSignInFailureOffTheRequestPath(t *testing.T) {
	t.Parallel()
	s, _ := adminSite(t, nil)
	ctx := context.Background()
	c := &http.Client{Timeout: 15 * time.Second}
	err := s.a.Store.InTx(ctx, func(tx *store.Store) error {
		// The writer is this transaction's until it returns.
		if err := tx.DeleteSession(ctx, "no-such-session"); err != nil {
			return err
		}
		res, err := c.PostForm(s.url+"/signin", url.Values{"email": {"admin@example.com"}, "password": {"not the password"}})
		if err != nil {
			return fmt.Errorf("a failed sign-in while the writer is held: %w", err)
		}
		res.Body.Close()
		if res.StatusCode != 401 {
			return fmt.Errorf("a failed sign-in while the writer is held: %d, want 401", res.StatusCode)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 10*time.Second, "the failed sign-in in the trail", func() bool { return len(failedOn(t, s, "admin@example.com")) == 1 })
}

// droppedSignIns is gatehouse_audit_sign_in_failures_dropped_total for
// reason.
func droppedSignIns(t *testing.T, s *site, reason string) float64 {
	t.Helper()
	mfs, err := s.a.Metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "gatehouse_audit_sign_in_failures_dropped_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no gatehouse_audit_sign_in_failures_dropped_total{reason=%q}", reason)
	return 0
}

// signInFrom posts a sign-in to s's handler as if from remote (host:port).
func signInFrom(s *site, remote string, form url.Values) int {
	r := httptest.NewRequest("POST", "/signin", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.RemoteAddr = remote
	w := httptest.NewRecorder()
	s.a.Handler().ServeHTTP(w, r)
	return w.Code
}

// Failed sign-ins on one member are recorded up to
// SignInFailuresPerMember an hour, whatever the client addresses; the
// rest are counted, not written.
func TestSignInFailuresBoundedPerMember(t *testing.T) {
	t.Parallel()
	s, _ := adminSite(t, nil)
	n := dashboard.SignInFailuresPerMember + 3
	for i := range n {
		if st := signInFrom(s, fmt.Sprintf("10.0.%d.%d:4000", i/200, i%200+1), url.Values{"email": {"admin@example.com"}, "password": {"wrong"}}); st != 401 {
			t.Fatalf("attempt %d: %d, want 401", i, st)
		}
	}
	testwait.Until(t, 20*time.Second, "the failures beyond the member's bound counted", func() bool { return droppedSignIns(t, s, "member_limit") == 3 })
	if f := failedOn(t, s, "admin@example.com"); len(f) != dashboard.SignInFailuresPerMember {
		t.Fatalf("%d entries, want %d", len(f), dashboard.SignInFailuresPerMember)
	}
	if d := droppedSignIns(t, s, "queue_full"); d != 0 {
		t.Fatalf("%v dropped for a full queue", d)
	}
}

// The sign-in limit counts an IPv6 client by its /64: addresses of one
// /64 share a budget, another /64 has its own.
func TestSignInLimitIPv6Per64(t *testing.T) {
	t.Parallel()
	s, _ := adminSite(t, func(c *config.Config) { c.SignInRateLimit = 3 })
	form := url.Values{"email": {"nobody@example.com"}, "password": {"wrong"}}
	for i, want := range []struct {
		remote string
		status int
	}{
		{"[2001:db8:1:2::a]:4000", 401},
		{"[2001:db8:1:2::b]:4000", 401},
		{"[2001:db8:1:2:ffff::1]:4000", 401},
		{"[2001:db8:1:2::c]:4000", 429}, // the /64's fourth
		{"[2001:db8:1:3::a]:4000", 401}, // another /64
		{"192.0.2.1:4000", 401},
	} {
		if st := signInFrom(s, want.remote, form); st != want.status {
			t.Fatalf("attempt %d from %s: %d, want %d", i, want.remote, st, want.status)
		}
	}
}
