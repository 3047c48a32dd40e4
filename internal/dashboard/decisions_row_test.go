package dashboard

import (
	"net/url"
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/client"
)

// A recorded check is explained as its answer was, and links to the
// playground with its question.
func TestDecisionRowOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		e                 client.DecisionEntry
		explanation, play string
	}{
		{client.DecisionEntry{User: "ada", Action: "read", ResourceType: "doc", Tenant: "acme", Allow: true, Reason: "granted", Role: "viewer"},
			`user "ada" may read doc in tenant "acme", granted by "viewer" (a role in the tenant or a set rule's user set: the playground shows the path)`, "/check?action=read&resource=doc&tenant=acme&user=ada"},
		{client.DecisionEntry{User: "ada", Action: "read", ResourceType: "doc", Tenant: "acme", Allow: true, Reason: "granted", Role: "staff"},
			`user "ada" may read doc in tenant "acme", granted by "staff" (a role in the tenant or a set rule's user set: the playground shows the path)`, "/check?action=read&resource=doc&tenant=acme&user=ada"},
		{client.DecisionEntry{User: "ada", Action: "write", ResourceType: "doc", Tenant: "acme", Reason: "not_granted"},
			`no role of user "ada" in tenant "acme" grants doc:write`, "/check?action=write&resource=doc&tenant=acme&user=ada"},
		{client.DecisionEntry{User: "ada", Action: "write", ResourceType: "doc", ResourceKey: "d1", Tenant: "acme", Reason: "not_granted"},
			`nothing lets user "ada" write doc:d1: no role in tenant "acme", no role on the instance and no set rule grants doc:write`, "/check?action=write&key=d1&resource=doc&tenant=acme&user=ada"},
		{client.DecisionEntry{User: "ada", Action: "read", ResourceType: "doc", ResourceKey: "d1", Tenant: "acme", Reason: "instance_in_other_tenant"},
			`doc:d1 belongs to another tenant than "acme"`, "/check?action=read&key=d1&resource=doc&tenant=acme&user=ada"},
		{client.DecisionEntry{User: "ada", Action: "write", ResourceType: "doc", ResourceKey: "d1", Tenant: "acme", Allow: true, Reason: "granted", Role: "owner"},
			`user "ada" may write doc:d1, granted by "owner" in tenant "acme" (a tenant role, a role on the instance or a user set: the playground shows the path)`,
			"/check?action=write&key=d1&resource=doc&tenant=acme&user=ada"},
		{client.DecisionEntry{User: "../keys/k1/revoke?x=1#y", Action: "read", ResourceType: "doc", Reason: "unknown_user"}, `user "../keys/k1/revoke?x=1#y" does not exist`, "/check?action=read&resource=doc&user=..%2Fkeys%2Fk1%2Frevoke%3Fx%3D1%23y"},
		{client.DecisionEntry{User: "zed", Action: "read", ResourceType: "doc", Reason: "unknown_user"}, `user "zed" does not exist`, "/check?action=read&resource=doc&user=zed"},
		{client.DecisionEntry{User: "a&b", Action: "read", ResourceType: "doc", Reason: "some_future_reason"}, "some_future_reason", "/check?action=read&resource=doc&user=a%26b"},
	} {
		if !slices.Contains(decisionReasons, tc.e.Reason) && tc.e.Reason != "some_future_reason" {
			t.Errorf("the reason filter lacks %s", tc.e.Reason)
		}
		row := decisionRowOf(tc.e)
		if want := "/users/" + url.PathEscape(tc.e.User); row.UserLink != want {
			t.Errorf("%+v: the user's link is %q, want %q", tc.e, row.UserLink, want)
		}
		if row.Explanation != tc.explanation || row.Play != tc.play {
			t.Errorf("%+v:\n got %q %q\nwant %q %q", tc.e, row.Explanation, row.Play, tc.explanation, tc.play)
		}
	}
}
