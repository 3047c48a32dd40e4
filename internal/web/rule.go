package web

import (
	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Rule is who may call an operation. One rule row serves every API that
// offers the operation: the v1 route declares it, and Permit's twin of that
// route takes it by the v1 operation's id, so the two cannot drift.
type Rule struct {
	Scope   gatehouse.Scope // the gate checks it; "": any valid key
	OrgOnly bool            // an organization-level key
	Public  bool            // no key at all
}

// Admits refuses a caller the rule's level excludes (the scope is the
// gate's to check).
func (r Rule) Admits(p *auth.Principal) error {
	if r.OrgOnly && (p == nil || !p.IsOrganization()) {
		return gatehouse.Errorf(gatehouse.CodeForbidden, "this operation needs an organization-level API key")
	}
	return nil
}
