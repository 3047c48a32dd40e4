package dashboard_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
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

// Failed sign-ins and sign-outs are in the audit trail: a wrong password
// on the member it was for, with where from and the method only (never
// the password, never why); an unknown address nowhere; a sign-out as the
// member's. The Admin finds them on the audit page.
func TestSignInFailuresAndSignOutAudited(t *testing.T) {
	s, admin := adminSite(t, nil)
	const wrong, unknownPW = "Wr0ng-horse-battery-XYZZY", "nobody-s-secret-PLUGH"
	for _, f := range []url.Values{
		{"email": {" Admin@Example.com "}, "password": {wrong}},
		{"email": {"nobody@example.com"}, "password": {unknownPW}},
	} {
		res := admin.post("/signin", f)
		res.Body.Close()
		if res.StatusCode != 401 {
			t.Fatalf("sign in as %s: %d, want 401", f.Get("email"), res.StatusCode)
		}
	}
	// Another session of the Admin's, signed out.
	second := s.member(t, "admin@example.com", "correct horse battery")
	if res := second.post("/signout", nil); res.StatusCode != 303 {
		t.Fatalf("sign out: %d", res.StatusCode)
	}
	if _, body := second.get("/audit"); !strings.Contains(body, `id="signin"`) {
		t.Fatal("after signing out, the audit page is not the sign-in page")
	}
	// Signing out again (no session): nothing more to record.
	second.post("/signout", nil).Body.Close()

	entries, raw := trailOf(t, s, "admin@example.com")
	failed := withAction(entries, "member.sign_in_failed")
	if len(failed) != 1 {
		t.Fatalf("%d member.sign_in_failed entries, want 1 (none for the unknown address): %+v", len(failed), failed)
	}
	e := failed[0]
	if e.ObjectType != "member" || e.ObjectKey != "admin@example.com" || e.ObjectID == "" || e.ActorType != audit.ActorMember || e.ActorID != "" ||
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
