package storetest

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// testMemberOIDC: a member is linked to the first OpenID Connect identity
// it signs in with and to no other later; another organization's member
// is not reached; removing and re-adding the member forgets the link.
func testMemberOIDC(t *testing.T, st *store.Store) {
	ctx := context.Background()
	org, other := newOrg(t, st, "acme"), newOrg(t, st, "other")
	svc := tenancy.NewService(st)
	m, err := svc.CreateMember(ctx, org.ID, "kim@example.com", "", tenancy.RoleAdmin)
	must(t, err)
	if iss, sub, err := st.MemberOIDC(ctx, org.ID, m.ID); err != nil || iss != "" || sub != "" {
		t.Fatalf("a new member is linked: %q %q %v", iss, sub, err)
	}
	for _, tc := range []struct {
		iss, sub string
		want     bool
	}{
		{"https://idp.example", "sub-1", true},  // the first sign-in links
		{"https://idp.example", "sub-1", true},  // the same identity again
		{"https://idp.example", "sub-2", false}, // another subject
		{"https://other.example", "sub-1", false},
	} {
		ok, err := st.LinkMemberOIDC(ctx, org.ID, m.ID, tc.iss, tc.sub)
		if err != nil || ok != tc.want {
			t.Fatalf("link %s %s: %v %v, want %v", tc.iss, tc.sub, ok, err, tc.want)
		}
	}
	if iss, sub, err := st.MemberOIDC(ctx, org.ID, m.ID); err != nil || iss != "https://idp.example" || sub != "sub-1" {
		t.Fatalf("the first link did not stay: %q %q %v", iss, sub, err)
	}
	_, err = st.LinkMemberOIDC(ctx, other.ID, m.ID, "x", "y")
	wantCode(t, err, gatehouse.CodeNotFound)
	_, _, err = st.MemberOIDC(ctx, other.ID, m.ID)
	wantCode(t, err, gatehouse.CodeNotFound)

	// The link is in the audit trail, once (the later attempts changed
	// nothing), by the member, with the issuer and subject; the
	// organization's creation is there too.
	links := auditOf(t, st, audit.Filter{OrgID: org.ID, Action: "member.oidc_linked"})
	if len(links) != 1 || links[0].ObjectID != m.ID || links[0].ActorType != audit.ActorMember || links[0].ActorID != m.ID ||
		!strings.Contains(string(links[0].After), `"oidc_subject":"sub-1"`) || !strings.Contains(string(links[0].After), `"oidc_issuer":"https://idp.example"`) {
		t.Fatalf("member.oidc_linked entries: %+v", links)
	}
	if c := auditOf(t, st, audit.Filter{OrgID: org.ID, Action: "organization.created"}); len(c) != 1 || c[0].ObjectID != org.ID || c[0].ObjectKey != "acme" {
		t.Fatalf("organization.created entries: %+v", c)
	}
	if l := auditOf(t, st, audit.Filter{OrgID: other.ID, Action: "member.oidc_linked"}); len(l) != 0 {
		t.Fatalf("another organization's failed link left %+v", l)
	}

	// Removing and re-adding the member is how an Admin resets the link.
	must(t, st.DeleteMember(ctx, org.ID, m.ID))
	again, err := svc.CreateMember(ctx, org.ID, "kim@example.com", "", tenancy.RoleAdmin)
	must(t, err)
	if ok, err := st.LinkMemberOIDC(ctx, org.ID, again.ID, "https://idp.example", "sub-2"); err != nil || !ok {
		t.Fatalf("a re-added member links anew: %v %v", ok, err)
	}
	if links := auditOf(t, st, audit.Filter{OrgID: org.ID, Action: "member.oidc_linked"}); len(links) != 2 {
		t.Fatalf("after a new link: %d member.oidc_linked entries, want 2", len(links))
	}
}
