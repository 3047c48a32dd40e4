package authz

import (
	"fmt"
	"testing"
)

// explainSprintf is the sentence of each reason as fmt writes it: the
// reference AppendExplain must match byte for byte (clients and logs read
// these sentences).
func explainSprintf(d Decision, user, action, resource, tenant string) string {
	switch d.Reason {
	case Granted:
		switch d.Via {
		case ViaInstanceRole:
			return fmt.Sprintf("user %q holds role %q on %s, which grants %s", user, d.Role, resource, action)
		case ViaSetRule:
			return fmt.Sprintf("user %q is in user set %q and %s is in resource set %q, and a set rule lets that user set %s that resource set", user, d.Role, resource, d.Set, action)
		}
		return fmt.Sprintf("user %q has role %q in tenant %q, which grants %s:%s", user, d.Role, tenant, resource, action)
	case NotGranted:
		return fmt.Sprintf("no role of user %q in tenant %q grants %s:%s", user, tenant, resource, action)
	case NoRoleInTenant:
		return fmt.Sprintf("user %q has no role in tenant %q", user, tenant)
	case UnknownUser:
		return fmt.Sprintf("user %q does not exist", user)
	case UnknownTenant:
		return fmt.Sprintf("tenant %q does not exist", tenant)
	case UnknownResource:
		return fmt.Sprintf("resource type %q does not exist", resource)
	case UnknownAction:
		return fmt.Sprintf("resource type %q has no action %q", resource, action)
	case WrongTenant:
		return fmt.Sprintf("%s belongs to another tenant than %q", resource, tenant)
	}
	return d.Reason.String()
}

func TestAppendExplainMatchesSprintf(t *testing.T) {
	t.Parallel()
	names := []string{"ada", `we"ird\name`, "ünï", "tab\there", ""}
	reasons := []Reason{Granted, NotGranted, NoRoleInTenant, UnknownUser, UnknownTenant, UnknownResource, UnknownAction, WrongTenant, Reason(200)}
	vias := []Via{ViaTenantRole, ViaInstanceRole, ViaSetRule}
	for _, r := range reasons {
		for _, v := range vias {
			for _, n := range names {
				d := Decision{Reason: r, Via: v, Role: "ed" + n, Set: n + "set", Tenant: "t"}
				want := explainSprintf(d, n, "read"+n, "doc:"+n, "ten"+n)
				if got := string(d.AppendExplain([]byte("prefix:"), n, "read"+n, "doc:"+n, "ten"+n)); got != "prefix:"+want {
					t.Errorf("%v/%v/%q: got %q, want %q", r, v, n, got, want)
				}
				if got := d.Explain(n, "read"+n, "doc:"+n, "ten"+n); got != want {
					t.Errorf("Explain %v/%v/%q: got %q, want %q", r, v, n, got, want)
				}
			}
		}
	}
}

// TestAppendExplainDoesNotAllocate: the server's check path writes the
// sentence into its answer buffer.
func TestAppendExplainDoesNotAllocate(t *testing.T) {
	d := Decision{Reason: Granted, Role: "reader"}
	b := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { b = d.AppendExplain(b[:0], "ada", "read", "doc", "default") }); n != 0 {
		t.Errorf("AppendExplain allocates %v times with room in b", n)
	}
}
