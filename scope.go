package gatehouse

import "strings"

// Scope is a platform permission, written "verb:object" (e.g. "view:user").
// Members hold scopes through their role; API keys carry a subset of the
// scopes of whoever created them. The catalog below is the only list.
type Scope string

// Platform scopes.
const (
	ScopeViewOrganization   Scope = "view:organization"
	ScopeManageOrganization Scope = "manage:organization"
	ScopeViewProject        Scope = "view:project"
	ScopeManageProject      Scope = "manage:project"
	ScopeViewMember         Scope = "view:member"
	ScopeManageMember       Scope = "manage:member"
	ScopeViewPermission     Scope = "view:permission"
	ScopeManagePermission   Scope = "manage:permission"
	ScopeManageAPI          Scope = "manage:api"
	ScopeViewSettings       Scope = "view:settings"
	ScopeManageSettings     Scope = "manage:settings"

	// Authorization data of an environment (users, tenants, resources,
	// roles, role assignments) and the permission checks answered from it.
	ScopeViewUser             Scope = "view:user"
	ScopeManageUser           Scope = "manage:user"
	ScopeViewTenant           Scope = "view:tenant"
	ScopeManageTenant         Scope = "manage:tenant"
	ScopeViewResource         Scope = "view:resource"
	ScopeManageResource       Scope = "manage:resource"
	ScopeViewRole             Scope = "view:role"
	ScopeManageRole           Scope = "manage:role"
	ScopeViewRoleAssignment   Scope = "view:role_assignment"
	ScopeManageRoleAssignment Scope = "manage:role_assignment"
	ScopeCheckAccess          Scope = "check:access"
	ScopeViewLog              Scope = "view:log"

	// Webhooks and background jobs.
	ScopeViewWebhook   Scope = "view:webhook"
	ScopeManageWebhook Scope = "manage:webhook"
	ScopeViewJob       Scope = "view:job"
	ScopeManageJob     Scope = "manage:job"

	// The audit trail: who changed what.
	ScopeViewAudit Scope = "view:audit"
)

// ScopeInfo describes one scope of the catalog.
type ScopeInfo struct {
	Name        Scope  `json:"name" doc:"The scope, as it appears in an API key's scopes claim."`
	Description string `json:"description"`
	// AdminOnly scopes are held only by the built-in Admin role: a custom
	// role cannot include them (managing permissions is the Admin's alone).
	AdminOnly bool `json:"admin_only" doc:"Only the built-in Admin role holds this scope; custom roles cannot include it."`
}

var catalog = []ScopeInfo{
	{ScopeViewOrganization, "Read the organization.", false},
	{ScopeManageOrganization, "Update or delete the organization, and create new organizations.", false},
	{ScopeViewProject, "Read projects and their environments.", false},
	{ScopeManageProject, "Create, update and delete projects and environments.", false},
	{ScopeViewMember, "List the organization's members.", false},
	{ScopeManageMember, "Invite, update and remove members.", false},
	{ScopeViewPermission, "Read member roles and the permissions they grant.", true},
	{ScopeManagePermission, "Create, change and delete member roles, and change a member's role.", true},
	{ScopeManageAPI, "Create, list, rotate and revoke API keys.", false},
	{ScopeViewSettings, "Read organization and environment settings.", false},
	{ScopeManageSettings, "Change organization and environment settings.", false},
	{ScopeViewUser, "Read an environment's users.", false},
	{ScopeManageUser, "Create, update and delete an environment's users.", false},
	{ScopeViewTenant, "Read an environment's tenants.", false},
	{ScopeManageTenant, "Create, update and delete an environment's tenants.", false},
	{ScopeViewResource, "Read an environment's resource types and their actions.", false},
	{ScopeManageResource, "Create, update and delete resource types and their actions.", false},
	{ScopeViewRole, "Read an environment's roles and their permissions.", false},
	{ScopeManageRole, "Create, update and delete an environment's roles.", false},
	{ScopeViewRoleAssignment, "Read role assignments.", false},
	{ScopeManageRoleAssignment, "Assign and unassign roles.", false},
	{ScopeCheckAccess, "Ask permission checks (allowed, bulk, user permissions), read the environment snapshot and its changes (a PDP), upload a PDP's decisions.", false},
	{ScopeViewLog, "Read the decision log (and the API request log).", false},
	{ScopeViewWebhook, "List webhook endpoints, their deliveries and attempts.", false},
	{ScopeManageWebhook, "Register, change, delete and test webhook endpoints, rotate their secrets, replay deliveries.", false},
	{ScopeViewJob, "List jobs and tasks and follow their progress.", false},
	{ScopeManageJob, "Start and cancel jobs (imports, exports, environment copies, sandbox resets) and retry failed tasks; each job also needs the scopes of the data it touches.", false},
	{ScopeViewAudit, "Read and export the audit trail: who changed what, when, from where, with each object before and after; only the entries of the kinds of object the caller's other scopes can read (the Admin sees all).", false},
}

// Catalog returns every scope, in a stable order. The slice is a copy.
func Catalog() []ScopeInfo { return append([]ScopeInfo(nil), catalog...) }

// AllScopes returns the name of every scope in the catalog.
func AllScopes() []Scope {
	out := make([]Scope, len(catalog))
	for i, s := range catalog {
		out[i] = s.Name
	}
	return out
}

// LookupScope reports whether s is in the catalog, and its description.
func LookupScope(s Scope) (ScopeInfo, bool) {
	for _, info := range catalog {
		if info.Name == s {
			return info, true
		}
	}
	return ScopeInfo{}, false
}

// ScopeSet is a set of catalog scopes as a bitmask, so that checking a scope
// on the request path costs one AND.
type ScopeSet uint64

func init() {
	if len(catalog) > 64 {
		panic("gatehouse: scope catalog outgrew ScopeSet")
	}
}

func scopeBit(s Scope) (ScopeSet, bool) {
	for i, info := range catalog {
		if info.Name == s {
			return 1 << uint(i), true
		}
	}
	return 0, false
}

// NewScopeSet builds a set from scope names; it returns an INVALID_REQUEST
// error naming the first scope that is not in the catalog.
func NewScopeSet(scopes []Scope) (ScopeSet, error) {
	var set ScopeSet
	for _, s := range scopes {
		bit, ok := scopeBit(s)
		if !ok {
			return 0, FieldError("scopes", "unknown_scope", "unknown scope %q (GET /v1/scopes lists them)", s)
		}
		set |= bit
	}
	return set, nil
}

// MustScopeSet is NewScopeSet for scopes known at compile time.
func MustScopeSet(scopes ...Scope) ScopeSet {
	set, err := NewScopeSet(scopes)
	if err != nil {
		panic(err)
	}
	return set
}

// Has reports whether the set holds s.
func (set ScopeSet) Has(s Scope) bool {
	bit, ok := scopeBit(s)
	return ok && set&bit != 0
}

// Contains reports whether every scope of other is in set.
func (set ScopeSet) Contains(other ScopeSet) bool { return other&^set == 0 }

// Scopes lists the set's scopes in catalog order.
func (set ScopeSet) Scopes() []Scope {
	out := []Scope{}
	for i, info := range catalog {
		if set&(1<<uint(i)) != 0 {
			out = append(out, info.Name)
		}
	}
	return out
}

// String joins the scopes with spaces, as in an OAuth scope string.
func (set ScopeSet) String() string {
	names := set.Scopes()
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = string(n)
	}
	return strings.Join(parts, " ")
}

// AdminOnlyScopes is the set of scopes only the Admin role may hold.
func AdminOnlyScopes() ScopeSet {
	var set ScopeSet
	for i, info := range catalog {
		if info.AdminOnly {
			set |= 1 << uint(i)
		}
	}
	return set
}
