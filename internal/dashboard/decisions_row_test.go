package dashboard

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/client"
)

// A recorded check is explained as its answer was, and links to the
// playground with its question.
func TestDecisionRowOf(t *testing.T) {
	for _, tc := range []struct {
		e                 client.DecisionEntry
		explanation, play string
	}{
		{client.DecisionEntry{User: "ada", Action: "read", ResourceType: "doc", Tenant: "acme", Allow: true, Reason: "granted", Role: "viewer"},
			`user "ada" has role "viewer" in tenant "acme", which grants doc:read`, "/check?action=read&resource=doc&tenant=acme&user=ada"},
		{client.DecisionEntry{User: "ada", Action: "write", ResourceType: "doc", ResourceKey: "d1", Tenant: "acme", Reason: "not_granted"},
			`no role of user "ada" in tenant "acme" grants doc:d1:write`, "/check?action=write&key=d1&resource=doc&tenant=acme&user=ada"},
		{client.DecisionEntry{User: "ada", Action: "write", ResourceType: "doc", ResourceKey: "d1", Tenant: "acme", Allow: true, Reason: "granted", Role: "owner"},
			`user "ada" may write doc:d1, granted by "owner" in tenant "acme" (a tenant role, a role on the instance or a user set: the playground shows the path)`,
			"/check?action=write&key=d1&resource=doc&tenant=acme&user=ada"},
		{client.DecisionEntry{User: "zed", Action: "read", ResourceType: "doc", Reason: "unknown_user"}, `user "zed" does not exist`, "/check?action=read&resource=doc&user=zed"},
		{client.DecisionEntry{User: "a&b", Action: "read", ResourceType: "doc", Reason: "some_future_reason"}, "some_future_reason", "/check?action=read&resource=doc&user=a%26b"},
	} {
		row := decisionRowOf(tc.e)
		if row.Explanation != tc.explanation || row.Play != tc.play {
			t.Errorf("%+v:\n got %q %q\nwant %q %q", tc.e, row.Explanation, row.Play, tc.explanation, tc.play)
		}
	}
}
