package httpapi

import (
	"net/http"
	"reflect"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apilog"
)

// addRoutes registers every operation of the API. This file is the whole
// surface at a glance.
func addRoutes(g *registrar, h *handlers) {
	const (
		get, post, patch, del = http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete
		created, noContent    = http.StatusCreated, http.StatusNoContent
	)
	// System
	add(g, route{id: "healthz", method: get, path: "/healthz", tag: "System", public: true, summary: "Liveness: the process is up", desc: "Answers 200 while the process runs; it checks nothing else."}, h.healthz)
	add(g, route{id: "readyz", method: get, path: "/readyz", tag: "System", public: true, summary: "Readiness: the database answers",
		desc: "Answers 503 SERVICE_UNAVAILABLE when a dependency is down."}, h.readyz)
	add(g, route{id: "jwks", method: get, path: "/.well-known/jwks.json", tag: "System", public: true, summary: "Public keys that verify API keys (JWKS)", desc: "A JSON Web Key Set (RFC 7517) of Ed25519 keys: verify an API key's signature offline with it."}, h.jwks)
	add(g, route{id: "list-scopes", method: get, path: "/v1/scopes", tag: "System", summary: "The scope catalog: every permission a member or key can hold"}, h.listScopes)
	add(g, route{id: "get-me", method: get, path: "/v1/me", tag: "System", summary: "The calling key: level, organization, project, environment and scopes"}, h.me)

	// Status page: public reads; incidents written by the instance operator.
	const operatorNote = " Only the instance operator: an organization-level key (or Admin) of the instance's first organization, the one `gatehouse init` made, holding manage:organization; any other caller gets 403."
	add(g, route{id: "get-status", method: get, path: "/v1/status", tag: "Status", public: true, anonLimited: true, summary: "The status page: each component's state, 90-day uptime and incidents",
		desc: "Public, no key needed. Components (api, checks, database, redis when configured, queue, webhooks) are sampled every minute by one node; uptime is the fraction of samples in which a component was not down, per UTC day and over 90 days. The same page in HTML is at /status."}, h.getStatus)
	add(g, route{id: "list-incidents", method: get, path: "/v1/status/incidents", tag: "Status", public: true, anonLimited: true, summary: "List the status page's incidents, newest first",
		desc: "Public, like the status page. Resolved incidents are kept 90 days."}, h.listIncidents)
	add(g, route{id: "get-incident", method: get, path: "/v1/status/incidents/{incident}", tag: "Status", public: true, anonLimited: true, summary: "Get an incident with its updates",
		desc: "Public, like the status page: the incident with every update posted on it."}, h.getIncident)
	add(g, route{id: "create-incident", method: post, path: "/v1/status/incidents", tag: "Status", scope: gatehouse.ScopeManageOrganization, orgOnly: true, status: created,
		summary: "Open an incident on the status page", desc: "Emits status.incident_created." + operatorNote}, h.createIncident)
	add(g, route{id: "post-incident-update", method: post, path: "/v1/status/incidents/{incident}/updates", tag: "Status", scope: gatehouse.ScopeManageOrganization, orgOnly: true, status: created,
		summary: "Post an update on an open incident", desc: "status resolved resolves it. Emits status.incident_updated (or status.incident_resolved). A resolved incident is a 409." + operatorNote}, h.postIncidentUpdate)
	add(g, route{id: "resolve-incident", method: post, path: "/v1/status/incidents/{incident}/resolve", tag: "Status", scope: gatehouse.ScopeManageOrganization, orgOnly: true,
		summary: "Resolve an incident", desc: "Emits status.incident_resolved. A resolved incident is a 409." + operatorNote}, h.resolveIncident)

	// Organizations
	add(g, route{id: "list-organizations", method: get, path: "/v1/organizations", tag: "Organizations", scope: gatehouse.ScopeViewOrganization,
		summary: "List organizations", desc: "A key sees exactly one organization: its own."}, h.listOrganizations)
	add(g, route{id: "create-organization", secrets: apilog.Secrets{Response: []apilog.SecretPath{"data.api_key.token"}}, method: post, path: "/v1/organizations", tag: "Organizations", scope: gatehouse.ScopeManageOrganization, orgOnly: true, status: created,
		summary: "Create an organization", desc: "Creates a new organization with its first Admin member, a default project with development and production environments, and an organization API key holding every scope. The key's token is in the response and is shown only once."}, h.createOrganization)
	add(g, route{id: "get-organization", method: get, path: "/v1/organizations/{organization}", tag: "Organizations", scope: gatehouse.ScopeViewOrganization, allowDeleted: true,
		summary: "Get an organization", desc: "A deleted organization's keys get it with deleted_at and purge_after."}, h.getOrganization)
	add(g, route{id: "update-organization", method: patch, path: "/v1/organizations/{organization}", tag: "Organizations", scope: gatehouse.ScopeManageOrganization, orgOnly: true, summary: "Rename an organization"}, h.updateOrganization)
	add(g, route{id: "delete-organization", method: del, path: "/v1/organizations/{organization}", tag: "Organizations", scope: gatehouse.ScopeManageOrganization, orgOnly: true, status: noContent,
		summary: "Delete an organization",
		desc:    "Deletes the organization and everything in it: its keys answer ORGANIZATION_DELETED and its members cannot sign in. It can be restored (POST …/restore) until purge_after (the grace period, 7 days by default), then it is purged for good. The last organization of an instance cannot be deleted (409)."}, h.deleteOrganization)
	add(g, route{id: "restore-organization", method: post, path: "/v1/organizations/{organization}/restore", tag: "Organizations", scope: gatehouse.ScopeManageOrganization, orgOnly: true, allowDeleted: true,
		summary: "Restore a deleted organization", desc: "Brings back the organization with everything deleted with it; its keys work again. Call it with the organization's own key (a deleted organization's keys may call only this and GET …/{organization})."}, h.restoreOrganization)

	// Projects and environments
	add(g, route{id: "list-projects", method: get, path: "/v1/projects", tag: "Projects", scope: gatehouse.ScopeViewProject, summary: "List projects"}, h.listProjects)
	add(g, route{id: "create-project", method: post, path: "/v1/projects", tag: "Projects", scope: gatehouse.ScopeManageProject, orgOnly: true, status: created, summary: "Create a project",
		desc: "The project starts with development and production environments."}, h.createProject)
	add(g, route{id: "get-project", method: get, path: "/v1/projects/{project}", tag: "Projects", scope: gatehouse.ScopeViewProject, summary: "Get a project by id or key"}, h.getProject)
	add(g, route{id: "update-project", method: patch, path: "/v1/projects/{project}", tag: "Projects", scope: gatehouse.ScopeManageProject, summary: "Update a project"}, h.updateProject)
	add(g, route{id: "delete-project", method: del, path: "/v1/projects/{project}", tag: "Projects", scope: gatehouse.ScopeManageProject, orgOnly: true, status: noContent,
		summary: "Delete a project", desc: "Deletes the project with its environments; their API keys stop working. It can be restored (POST /v1/projects/{project}/restore) until purge_after (7 days by default), then it is purged for good."}, h.deleteProject)
	add(g, route{id: "restore-project", method: post, path: "/v1/projects/{project}/restore", tag: "Projects", scope: gatehouse.ScopeManageProject, orgOnly: true,
		summary: "Restore a deleted project", desc: "Brings back the project with the environments deleted with it; their keys work again. GET /v1/projects?deleted=true lists the deleted ones."}, h.restoreProject)
	add(g, route{id: "list-environments", method: get, path: "/v1/projects/{project}/environments", tag: "Projects", scope: gatehouse.ScopeViewProject, summary: "List a project's environments"}, h.listEnvironments)
	add(g, route{id: "create-environment", method: post, path: "/v1/projects/{project}/environments", tag: "Projects", scope: gatehouse.ScopeManageProject, status: created, summary: "Create an environment"}, h.createEnvironment)
	add(g, route{id: "get-environment", method: get, path: "/v1/projects/{project}/environments/{environment}", tag: "Projects", scope: gatehouse.ScopeViewProject, summary: "Get an environment by id or key"}, h.getEnvironment)
	add(g, route{id: "update-environment", method: patch, path: "/v1/projects/{project}/environments/{environment}", tag: "Projects", scope: gatehouse.ScopeManageProject, summary: "Update an environment"}, h.updateEnvironment)
	add(g, route{id: "delete-environment", method: del, path: "/v1/projects/{project}/environments/{environment}", tag: "Projects", scope: gatehouse.ScopeManageProject, status: noContent,
		summary: "Delete an environment", desc: "Deletes the environment; its API keys stop working. It can be restored (POST …/restore) until purge_after (7 days by default), then it is purged for good."}, h.deleteEnvironment)
	add(g, route{id: "restore-environment", method: post, path: "/v1/projects/{project}/environments/{environment}/restore", tag: "Projects", scope: gatehouse.ScopeManageProject,
		summary: "Restore a deleted environment", desc: "Brings back the environment; its keys work again. GET …/environments?deleted=true lists the deleted ones."}, h.restoreEnvironment)

	// Settings
	add(g, route{id: "get-settings", method: get, path: "/v1/settings", tag: "Settings", scope: gatehouse.ScopeViewSettings, orgOnly: true, summary: "Get the organization's settings"}, h.getOrgSettings)
	add(g, route{id: "update-settings", method: patch, path: "/v1/settings", tag: "Settings", scope: gatehouse.ScopeManageSettings, orgOnly: true, summary: "Change the organization's settings"}, h.updateOrgSettings)
	add(g, route{id: "get-environment-settings", method: get, path: "/v1/projects/{project}/environments/{environment}/settings", tag: "Settings", scope: gatehouse.ScopeViewSettings, summary: "Get an environment's settings"}, h.getEnvSettings)
	add(g, route{id: "update-environment-settings", method: patch, path: "/v1/projects/{project}/environments/{environment}/settings", tag: "Settings", scope: gatehouse.ScopeManageSettings, summary: "Change an environment's settings"}, h.updateEnvSettings)

	// Members and member roles
	add(g, route{id: "list-members", method: get, path: "/v1/members", tag: "Members", scope: gatehouse.ScopeViewMember, orgOnly: true, summary: "List members"}, h.listMembers)
	add(g, route{id: "create-member", method: post, path: "/v1/members", tag: "Members", scope: gatehouse.ScopeManageMember, orgOnly: true, status: created,
		summary: "Add a member", desc: "Giving a role other than viewer also needs `manage:permission` (the Admin role)."}, h.createMember)
	add(g, route{id: "get-member", method: get, path: "/v1/members/{member}", tag: "Members", scope: gatehouse.ScopeViewMember, orgOnly: true, summary: "Get a member"}, h.getMember)
	add(g, route{id: "update-member", method: patch, path: "/v1/members/{member}", tag: "Members", scope: gatehouse.ScopeManageMember, orgOnly: true,
		summary: "Update a member", desc: "Changing a member's role also needs `manage:permission` (the Admin role); the last Admin keeps the role. Keys the member made with scopes their new role lacks are revoked (revoked_reason creator_lost_scope)."}, h.updateMember)
	add(g, route{id: "delete-member", method: del, path: "/v1/members/{member}", tag: "Members", scope: gatehouse.ScopeManageMember, orgOnly: true, status: noContent, summary: "Remove a member",
		desc: "The keys the member made are revoked with them (api_key.revoked, revoked_reason creator_removed). A member whose role holds a scope the caller lacks (an Admin, say) needs `manage:permission`; the last Admin cannot be removed."}, h.deleteMember)
	add(g, route{id: "member-setup-link", secrets: apilog.Secrets{Response: []apilog.SecretPath{"data.path"}}, method: post, path: "/v1/members/{member}/setup-link", tag: "Members", scope: gatehouse.ScopeManageMember, orgOnly: true, status: created,
		summary: "Make a one-time link with which a member chooses a dashboard password",
		desc:    "The link works once, for 7 days; an earlier link of the member stops working. The member's current password keeps working until the link is used. A member whose role holds a scope the caller lacks (an Admin, say) needs the caller to hold `manage:permission` (the Admin role)."}, h.memberSetupLink)
	add(g, route{id: "list-member-roles", method: get, path: "/v1/member-roles", tag: "Members", scope: gatehouse.ScopeViewPermission, orgOnly: true,
		summary: "List member roles and their permissions", desc: "Built-in roles (admin, developer, viewer) come first."}, h.listRoles)
	add(g, route{id: "create-member-role", method: post, path: "/v1/member-roles", tag: "Members", scope: gatehouse.ScopeManagePermission, orgOnly: true, status: created, summary: "Create a custom member role"}, h.createRole)
	add(g, route{id: "get-member-role", method: get, path: "/v1/member-roles/{role}", tag: "Members", scope: gatehouse.ScopeViewPermission, orgOnly: true, summary: "Get a member role"}, h.getRole)
	add(g, route{id: "update-member-role", method: patch, path: "/v1/member-roles/{role}", tag: "Members", scope: gatehouse.ScopeManagePermission, orgOnly: true, summary: "Change a custom member role"}, h.updateRole)
	add(g, route{id: "delete-member-role", method: del, path: "/v1/member-roles/{role}", tag: "Members", scope: gatehouse.ScopeManagePermission, orgOnly: true, status: noContent, summary: "Delete a custom member role"}, h.deleteRole)

	// Authorization data of an environment. An environment key implies its
	// environment; other keys pass ?project=…&environment=….
	const envNote = "An environment key acts on its environment; an organization or project key passes ?project=…&environment=…."
	add(g, route{id: "list-users", method: get, path: "/v1/users", tag: "Users", scope: gatehouse.ScopeViewUser, summary: "List users", desc: envNote}, h.listUsers)
	add(g, route{id: "create-user", method: post, path: "/v1/users", tag: "Users", scope: gatehouse.ScopeManageUser, status: created, summary: "Create a user", desc: envNote}, h.createUser)
	add(g, route{id: "get-user", method: get, path: "/v1/users/{user}", tag: "Users", scope: gatehouse.ScopeViewUser, summary: "Get a user by id or key", desc: envNote}, h.getUser)
	add(g, route{id: "update-user", method: patch, path: "/v1/users/{user}", tag: "Users", scope: gatehouse.ScopeManageUser, summary: "Update a user", desc: envNote}, h.updateUser)
	add(g, route{id: "delete-user", method: del, path: "/v1/users/{user}", tag: "Users", scope: gatehouse.ScopeManageUser, status: noContent, summary: "Delete a user and its role assignments", desc: envNote}, h.deleteUser)
	add(g, route{id: "list-tenants", method: get, path: "/v1/tenants", tag: "Tenants", scope: gatehouse.ScopeViewTenant, summary: "List tenants", desc: envNote + " Every environment has a \"default\" tenant."}, h.listTenants)
	add(g, route{id: "create-tenant", method: post, path: "/v1/tenants", tag: "Tenants", scope: gatehouse.ScopeManageTenant, status: created, summary: "Create a tenant", desc: envNote}, h.createTenant)
	add(g, route{id: "get-tenant", method: get, path: "/v1/tenants/{tenant}", tag: "Tenants", scope: gatehouse.ScopeViewTenant, summary: "Get a tenant by id or key", desc: envNote}, h.getTenant)
	add(g, route{id: "update-tenant", method: patch, path: "/v1/tenants/{tenant}", tag: "Tenants", scope: gatehouse.ScopeManageTenant, summary: "Update a tenant", desc: envNote}, h.updateTenant)
	add(g, route{id: "delete-tenant", method: del, path: "/v1/tenants/{tenant}", tag: "Tenants", scope: gatehouse.ScopeManageTenant, status: noContent, summary: "Delete a tenant and the role assignments in it", desc: envNote}, h.deleteTenant)
	add(g, route{id: "list-resources", method: get, path: "/v1/resources", tag: "Resources", scope: gatehouse.ScopeViewResource, summary: "List resource types", desc: envNote}, h.listResources)
	add(g, route{id: "create-resource", method: post, path: "/v1/resources", tag: "Resources", scope: gatehouse.ScopeManageResource, status: created, summary: "Create a resource type with its actions", desc: envNote}, h.createResource)
	add(g, route{id: "get-resource", method: get, path: "/v1/resources/{resource}", tag: "Resources", scope: gatehouse.ScopeViewResource, summary: "Get a resource type by id or key", desc: envNote}, h.getResource)
	add(g, route{id: "update-resource", method: patch, path: "/v1/resources/{resource}", tag: "Resources", scope: gatehouse.ScopeManageResource, summary: "Update a resource type", desc: envNote}, h.updateResource)
	add(g, route{id: "replace-resource", method: http.MethodPut, path: "/v1/resources/{resource}", tag: "Resources", scope: gatehouse.ScopeManageResource,
		summary: "Update a resource type (as PATCH)", desc: envNote + " Accepted as PATCH is: the fields given change, the others stay (seed 002's PUT /v1/resources/{id})."}, h.updateResource)
	add(g, route{id: "delete-resource", method: del, path: "/v1/resources/{resource}", tag: "Resources", scope: gatehouse.ScopeManageResource, status: noContent, summary: "Delete a resource type", desc: envNote}, h.deleteResource)
	add(g, route{id: "list-roles", method: get, path: "/v1/roles", tag: "Roles", scope: gatehouse.ScopeViewRole, summary: "List roles", desc: envNote}, h.listAuthzRoles)
	add(g, route{id: "create-role", method: post, path: "/v1/roles", tag: "Roles", scope: gatehouse.ScopeManageRole, status: created, summary: "Create a role", desc: envNote}, h.createAuthzRole)
	add(g, route{id: "get-role", method: get, path: "/v1/roles/{role}", tag: "Roles", scope: gatehouse.ScopeViewRole, summary: "Get a role by id or key", desc: envNote}, h.getAuthzRole)
	add(g, route{id: "update-role", method: patch, path: "/v1/roles/{role}", tag: "Roles", scope: gatehouse.ScopeManageRole, summary: "Update a role", desc: envNote}, h.updateAuthzRole)
	add(g, route{id: "delete-role", method: del, path: "/v1/roles/{role}", tag: "Roles", scope: gatehouse.ScopeManageRole, status: noContent, summary: "Delete a role and its assignments", desc: envNote}, h.deleteAuthzRole)
	add(g, route{id: "list-role-assignments", method: get, path: "/v1/role-assignments", tag: "Role Assignments", scope: gatehouse.ScopeViewRoleAssignment, summary: "List role assignments", desc: envNote}, h.listAssignments)
	add(g, route{id: "assign-role", method: post, path: "/v1/role-assignments", tag: "Role Assignments", scope: gatehouse.ScopeManageRoleAssignment, status: created, summary: "Give a user a role in a tenant, or on a resource instance", desc: envNote}, h.assign)
	add(g, route{id: "unassign-role", method: del, path: "/v1/role-assignments", tag: "Role Assignments", scope: gatehouse.ScopeManageRoleAssignment, status: noContent, summary: "Take a role from a user in a tenant, or on a resource instance", desc: envNote}, h.unassign)

	// Fine-grained authorization: roles and relations of resource types,
	// resource instances, relationship tuples, attribute rules (authz/model.go).
	add(g, route{id: "list-resource-roles", method: get, path: "/v1/resources/{resource}/roles", tag: "Resource Roles", scope: gatehouse.ScopeViewResource, summary: "List the roles of a resource type", desc: envNote}, h.listResourceRoles)
	add(g, route{id: "create-resource-role", method: post, path: "/v1/resources/{resource}/roles", tag: "Resource Roles", scope: gatehouse.ScopeManageResource, status: created,
		summary: "Create a role of a resource type", desc: envNote + " A role of a resource type grants some of its actions on the instances it is given on (role assignments with resource_instance), and through granted_to on related instances. At most 64 roles per resource type."}, h.createResourceRole)
	add(g, route{id: "get-resource-role", method: get, path: "/v1/resources/{resource}/roles/{role}", tag: "Resource Roles", scope: gatehouse.ScopeViewResource, summary: "Get a role of a resource type", desc: envNote}, h.getResourceRole)
	add(g, route{id: "update-resource-role", method: patch, path: "/v1/resources/{resource}/roles/{role}", tag: "Resource Roles", scope: gatehouse.ScopeManageResource, summary: "Update a role of a resource type", desc: envNote}, h.updateResourceRole)
	add(g, route{id: "delete-resource-role", method: del, path: "/v1/resources/{resource}/roles/{role}", tag: "Resource Roles", scope: gatehouse.ScopeManageResource, status: noContent,
		summary: "Delete a role of a resource type", desc: envNote + " Other roles extending or deriving from it, tuples naming it and its assignments make it a 409 unless ?cascade=true."}, h.deleteResourceRole)
	add(g, route{id: "list-relations", method: get, path: "/v1/resources/{resource}/relations", tag: "Relations", scope: gatehouse.ScopeViewResource, summary: "List the relations of a resource type", desc: envNote}, h.listRelations)
	add(g, route{id: "create-relation", method: post, path: "/v1/resources/{resource}/relations", tag: "Relations", scope: gatehouse.ScopeManageResource, status: created,
		summary: "Declare a relation of a resource type", desc: envNote + " e.g. on document, {\"key\": \"parent\", \"subject\": \"folder\"}: tuples folder:f1 parent document:d1."}, h.createRelation)
	add(g, route{id: "get-relation", method: get, path: "/v1/resources/{resource}/relations/{relation}", tag: "Relations", scope: gatehouse.ScopeViewResource, summary: "Get a relation of a resource type", desc: envNote}, h.getRelation)
	add(g, route{id: "delete-relation", method: del, path: "/v1/resources/{resource}/relations/{relation}", tag: "Relations", scope: gatehouse.ScopeManageResource, status: noContent,
		summary: "Delete a relation", desc: envNote + " Its tuples and the derivations linked by it make it a 409 unless ?cascade=true."}, h.deleteRelation)
	add(g, route{id: "list-resource-instances", method: get, path: "/v1/resource-instances", tag: "Resource Instances", scope: gatehouse.ScopeViewResource, summary: "List resource instances", desc: envNote}, h.listInstances)
	add(g, route{id: "create-resource-instance", method: post, path: "/v1/resource-instances", tag: "Resource Instances", scope: gatehouse.ScopeManageResource, status: created, summary: "Create a resource instance", desc: envNote}, h.createInstance)
	add(g, route{id: "get-resource-instance", method: get, path: "/v1/resource-instances/{instance}", tag: "Resource Instances", scope: gatehouse.ScopeViewResource, summary: "Get a resource instance by id or \"resource:key\"", desc: envNote}, h.getInstance)
	add(g, route{id: "update-resource-instance", method: patch, path: "/v1/resource-instances/{instance}", tag: "Resource Instances", scope: gatehouse.ScopeManageResource, summary: "Update a resource instance's tenant or attributes", desc: envNote}, h.updateInstance)
	add(g, route{id: "delete-resource-instance", method: del, path: "/v1/resource-instances/{instance}", tag: "Resource Instances", scope: gatehouse.ScopeManageResource, status: noContent,
		summary: "Delete a resource instance with its tuples and role assignments", desc: envNote}, h.deleteInstance)
	add(g, route{id: "list-relationship-tuples", method: get, path: "/v1/relationship-tuples", tag: "Relationship Tuples", scope: gatehouse.ScopeViewResource, summary: "List relationship tuples", desc: envNote}, h.listTuples)
	add(g, route{id: "create-relationship-tuple", method: post, path: "/v1/relationship-tuples", tag: "Relationship Tuples", scope: gatehouse.ScopeManageResource, status: created,
		summary: "Create a relationship tuple", desc: envNote + " A tuple that would close a cycle or make a chain longer than 32 is refused (400 naming it)."}, h.createTuple)
	add(g, route{id: "delete-relationship-tuple", method: del, path: "/v1/relationship-tuples", tag: "Relationship Tuples", scope: gatehouse.ScopeManageResource, status: noContent,
		summary: "Delete a relationship tuple", desc: envNote + " Name it in the body or with ?subject=…&relation=…&object=…."}, h.deleteTuple)
	add(g, route{id: "create-relationship-tuples-bulk", method: post, path: "/v1/relationship-tuples/bulk", tag: "Relationship Tuples", scope: gatehouse.ScopeManageResource, status: created,
		summary: "Create up to 1,000 relationship tuples at once", desc: envNote + " In one transaction, all or none: an error names the index of the failing tuple (details.index)."}, h.createTuplesBulk)
	add(g, route{id: "delete-relationship-tuples-bulk", method: del, path: "/v1/relationship-tuples/bulk", tag: "Relationship Tuples", scope: gatehouse.ScopeManageResource, status: noContent,
		summary: "Delete up to 1,000 relationship tuples at once", desc: envNote + " In one transaction, all or none: a missing tuple is a 404 naming its index (details.index)."}, h.deleteTuplesBulk)
	add(g, route{id: "list-condition-sets", method: get, path: "/v1/condition-sets", tag: "Condition Sets", scope: gatehouse.ScopeViewRole, summary: "List user sets and resource sets", desc: envNote}, h.listConditionSets)
	add(g, route{id: "create-condition-set", method: post, path: "/v1/condition-sets", tag: "Condition Sets", scope: gatehouse.ScopeManageRole, status: created,
		summary: "Create a user set or a resource set", desc: envNote + " Conditions are checked as the engine compiles them; a bad one is a 400 saying why."}, h.createConditionSet)
	add(g, route{id: "get-condition-set", method: get, path: "/v1/condition-sets/{condition_set}", tag: "Condition Sets", scope: gatehouse.ScopeViewRole, summary: "Get a condition set by id or key", desc: envNote}, h.getConditionSet)
	add(g, route{id: "update-condition-set", method: patch, path: "/v1/condition-sets/{condition_set}", tag: "Condition Sets", scope: gatehouse.ScopeManageRole, summary: "Update a condition set", desc: envNote}, h.updateConditionSet)
	add(g, route{id: "delete-condition-set", method: del, path: "/v1/condition-sets/{condition_set}", tag: "Condition Sets", scope: gatehouse.ScopeManageRole, status: noContent,
		summary: "Delete a condition set", desc: envNote + " Its set rules make it a 409 unless ?cascade=true."}, h.deleteConditionSet)
	add(g, route{id: "list-set-rules", method: get, path: "/v1/set-rules", tag: "Set Rules", scope: gatehouse.ScopeViewRole, summary: "List set rules", desc: envNote}, h.listSetRules)
	add(g, route{id: "create-set-rule", method: post, path: "/v1/set-rules", tag: "Set Rules", scope: gatehouse.ScopeManageRole, status: created,
		summary: "Let a user set do an action on a resource set", desc: envNote}, h.createSetRule)
	add(g, route{id: "delete-set-rule", method: del, path: "/v1/set-rules", tag: "Set Rules", scope: gatehouse.ScopeManageRole, status: noContent,
		summary: "Delete a set rule named by its user set, action and resource set", desc: envNote}, h.deleteSetRule)
	add(g, route{id: "delete-set-rule-by-id", method: del, path: "/v1/set-rules/{set_rule}", tag: "Set Rules", scope: gatehouse.ScopeManageRole, status: noContent,
		summary: "Delete a set rule by id", desc: envNote}, h.deleteSetRuleByID)

	// Checks, answered from the environment's in-memory engine.
	add(g, route{id: "check", method: post, path: "/v1/allowed", tag: "Checks", scope: gatehouse.ScopeCheckAccess, hot: true,
		summary: "May this user do this action on this resource?", desc: envNote + " Answered from memory; writes are visible at once on this node."}, h.allowed)
	add(g, route{id: "check-bulk", method: post, path: "/v1/allowed/bulk", tag: "Checks", scope: gatehouse.ScopeCheckAccess, hot: true, summary: "Many checks in one call (at most 1,000), answered in order", desc: envNote}, h.allowedBulk)
	add(g, route{id: "allowed-resources", method: post, path: "/v1/allowed/resources", tag: "Checks", scope: gatehouse.ScopeCheckAccess,
		summary: "Which instances of a type may this user do this action on?", desc: envNote + " Every rule counts: tenant roles (every instance of the type in the tenant), roles on instances and those derived through relationship tuples, and attribute rules. Keys come sorted, paged."}, h.allowedResources)
	add(g, route{id: "allowed-users", method: post, path: "/v1/allowed/users", tag: "Checks", scope: gatehouse.ScopeCheckAccess,
		summary: "Which users may do this action on this resource?", desc: envNote + " On an instance (resource.key), or with no key on any resource of the type in the tenant. Keys come sorted, paged."}, h.allowedUsers)
	add(g, route{id: "user-permissions", method: post, path: "/v1/user-permissions", tag: "Checks", scope: gatehouse.ScopeCheckAccess, summary: "What may this user do, per tenant",
		desc: "The user's tenant roles and what they grant, per tenant; with `instances`, also the resource instances on which the user holds a role (assigned, or derived through relationships and tenant roles) and what those roles grant there. " + envNote}, h.userPermissions)

	// API log
	add(g, route{id: "list-logs", method: get, path: "/v1/logs", tag: "API Log", scope: gatehouse.ScopeViewLog,
		summary: "List API calls", desc: "Every external call of the organization (a project or environment key sees its own project's or environment's), newest first, without bodies. Retention: the organization's log_retention_days."}, h.listLogs)
	add(g, route{id: "export-logs", method: get, path: "/v1/logs/export", tag: "API Log", scope: gatehouse.ScopeViewLog, stream: "application/x-ndjson",
		summary: "Export API calls as JSON Lines", desc: "The matching entries in full (headers and bodies), oldest first, one JSON object per line. Takes the filters of the list; until defaults to now."}, h.exportLogs)
	add(g, route{id: "get-log", method: get, path: "/v1/logs/{log}", tag: "API Log", scope: gatehouse.ScopeViewLog,
		summary: "Get one API call with its request and response", desc: "Headers and bodies with secrets redacted; bodies are cut at the server's limit (request_truncated, response_truncated). The audit trail's calls (/v1/audit…) are logged without their response bodies: reading the trail needs view:audit."}, h.getLog)

	// Audit trail
	add(g, route{id: "list-audit", method: get, path: "/v1/audit", tag: "Audit Trail", scope: gatehouse.ScopeViewAudit,
		summary: "List the audit trail", desc: "Who changed what, when and from where: every write of the organization (a project or environment key sees its own project's or environment's), each with the object before and after, and sign-ins, setup links and key events; newest first. Only the kinds of object the caller's other scopes can read show: users need view:user, tenants view:tenant, resources (relations, instances, condition sets) view:resource, roles (resource roles, set rules) view:role, role assignments and relationship tuples view:role_assignment, API keys manage:api, members view:member, member roles view:permission, webhooks view:webhook, projects view:project, environments view:project and view:settings, the organization view:organization and view:settings, jobs view:job; the built-in Admin sees every entry. Written in the same transaction as the change. Retention: the server's --audit-retention (1 year by default)."}, h.listAudit)
	add(g, route{id: "export-audit", method: get, path: "/v1/audit/export", tag: "Audit Trail", scope: gatehouse.ScopeViewAudit, stream: "application/x-ndjson",
		summary: "Export the audit trail as JSON Lines", desc: "The matching entries, oldest first, one JSON object per line. Takes the filters of the list, and shows the same kinds of object; until defaults to now."}, h.exportAudit)
	add(g, route{id: "get-audit", method: get, path: "/v1/audit/{entry}", tag: "Audit Trail", scope: gatehouse.ScopeViewAudit,
		summary: "Get one audit entry", desc: "An entry of a kind of object the caller's scopes cannot read (see the list) is a 404."}, h.getAudit)

	// Usage
	add(g, route{id: "check-usage", method: get, path: "/v1/usage/checks", tag: "Decision Log", scope: gatehouse.ScopeViewLog,
		summary: "Checks counted over time, allowed and denied", desc: envNote + " Every permission check (v1's /v1/allowed and /v1/allowed/bulk, Permit's /allowed and /allowed/bulk) is counted per API key and minute, whatever the decision log records; buckets without checks are left out. A node adds its counts every 10 seconds.", usageGated: true}, h.checkUsage)
	add(g, route{id: "call-usage", method: get, path: "/v1/usage/calls", tag: "API Log", scope: gatehouse.ScopeViewLog,
		summary: "Logged API calls over time, by status class or by caller", desc: "Counts the calls in the API log that the caller's key reaches (as GET /v1/logs lists them), or one environment's with project and environment (what it keeps: not the dashboard's page reads, nor permission checks, which GET /v1/usage/checks counts); buckets without calls are left out. The log is written every few seconds. Whole hours and minutes are read from per-minute and per-hour counts that the log database keeps with the rows (and prunes with them), only the minute not yet over from the log itself, so a wide window costs its buckets, not its calls; a node also keeps the counts of buckets that ended over 2 minutes ago for up to 2 minutes.", usageGated: true}, h.callUsage)
	add(g, route{id: "webhook-usage", method: get, path: "/v1/usage/webhooks", tag: "Webhooks", scope: gatehouse.ScopeViewWebhook,
		summary: "Webhook deliveries over time, by outcome", desc: "Deliveries created in each bucket to the endpoints the caller reaches (as GET /v1/webhooks lists them), by their status now; buckets without deliveries are left out.", usageGated: true}, h.webhookUsage)

	// Decision log
	add(g, route{id: "list-decisions", method: get, path: "/v1/decisions", tag: "Decision Log", scope: gatehouse.ScopeViewLog,
		summary: "List recorded permission checks", desc: envNote + " What is recorded follows the environment's decision_log setting (off, sampled, full)."}, h.listDecisions)
	add(g, route{id: "get-decision", method: get, path: "/v1/decisions/{decision}", tag: "Decision Log", scope: gatehouse.ScopeViewLog, summary: "Get one recorded check", desc: envNote}, h.getDecision)

	// Standalone PDP
	add(g, route{id: "pdp-snapshot", method: get, path: "/v1/pdp/snapshot", tag: "PDP", scope: gatehouse.ScopeCheckAccess,
		body:    reflect.TypeOf(Out[PDPSnapshot]{}),
		summary: "The environment's authorization data and its feed position", desc: "Needs an environment-level key."}, h.pdpSnapshot)
	add(g, route{id: "pdp-changes", method: get, path: "/v1/pdp/changes", tag: "PDP", scope: gatehouse.ScopeCheckAccess, sse: changeSchemaNote, unlimited: true,
		summary: "Follow the environment's changes as they happen (Server-Sent Events)", desc: pdpChangesNote}, h.pdpChanges)
	add(g, route{id: "pdp-upload-decisions", method: post, path: "/v1/pdp/decisions", tag: "PDP", scope: gatehouse.ScopeCheckAccess, unlimited: true,
		summary: "Upload decisions a PDP recorded (at most 1,000 per call)", desc: pdpUploadNote}, h.pdpDecisions)

	// Webhooks
	const whNote = "A project key manages its project's endpoints, an environment key its environment's."
	add(g, route{id: "list-webhook-event-types", method: get, path: "/v1/webhooks/event-types", tag: "Webhooks", scope: gatehouse.ScopeViewWebhook,
		summary: "The event types an endpoint can subscribe to"}, h.listEventTypes)
	add(g, route{id: "list-webhooks", method: get, path: "/v1/webhooks", tag: "Webhooks", scope: gatehouse.ScopeViewWebhook, summary: "List webhook endpoints", desc: whNote}, h.listWebhooks)
	add(g, route{id: "create-webhook", secrets: apilog.Secrets{Response: []apilog.SecretPath{"data.secret"}}, method: post, path: "/v1/webhooks", tag: "Webhooks", scope: gatehouse.ScopeManageWebhook, status: created,
		summary: "Register a webhook endpoint", desc: "Returns the endpoint with its signing secret, shown only now. Every delivery is a POST of {id, event, timestamp, organization_id, project_id, environment_id, data} with X-Signature (hex HMAC-SHA256 of the body keyed with the secret), X-Webhook-Id, X-Webhook-Timestamp and the Standard Webhooks headers. " + whNote}, h.createWebhook)
	add(g, route{id: "get-webhook", method: get, path: "/v1/webhooks/{webhook}", tag: "Webhooks", scope: gatehouse.ScopeViewWebhook, summary: "Get a webhook endpoint (never its secret)"}, h.getWebhook)
	add(g, route{id: "update-webhook", method: patch, path: "/v1/webhooks/{webhook}", tag: "Webhooks", scope: gatehouse.ScopeManageWebhook, summary: "Change a webhook endpoint, or enable or disable it"}, h.updateWebhook)
	add(g, route{id: "delete-webhook", method: del, path: "/v1/webhooks/{webhook}", tag: "Webhooks", scope: gatehouse.ScopeManageWebhook, status: noContent, summary: "Delete a webhook endpoint and its deliveries"}, h.deleteWebhook)
	add(g, route{id: "rotate-webhook-secret", secrets: apilog.Secrets{Response: []apilog.SecretPath{"data.secret"}}, method: post, path: "/v1/webhooks/{webhook}/rotate-secret", tag: "Webhooks", scope: gatehouse.ScopeManageWebhook,
		summary: "Give an endpoint a new signing secret", desc: "The old secret keeps signing X-Signature for grace_period_seconds (a day by default) while the new one signs X-Signature-New; the Standard Webhooks header carries both."}, h.rotateWebhookSecret)
	add(g, route{id: "test-webhook", method: post, path: "/v1/webhooks/{webhook}/test", tag: "Webhooks", scope: gatehouse.ScopeManageWebhook, status: created,
		summary: "Send a webhook.test event to this endpoint now"}, h.testWebhook)
	add(g, route{id: "list-webhook-deliveries", method: get, path: "/v1/webhooks/{webhook}/deliveries", tag: "Webhooks", scope: gatehouse.ScopeViewWebhook,
		summary: "List an endpoint's deliveries", desc: "Newest first with order=desc. Each delivery is one event; its attempts are in GET …/deliveries/{delivery}."}, h.listDeliveries)
	add(g, route{id: "get-webhook-delivery", method: get, path: "/v1/webhooks/{webhook}/deliveries/{delivery}", tag: "Webhooks", scope: gatehouse.ScopeViewWebhook,
		summary: "Get a delivery with its body and every attempt", desc: "Each attempt: request headers, status, latency, response headers and body (cut at 4 KiB)."}, h.getDelivery)
	add(g, route{id: "replay-webhook-delivery", method: post, path: "/v1/webhooks/{webhook}/deliveries/{delivery}/replay", tag: "Webhooks", scope: gatehouse.ScopeManageWebhook, status: created,
		summary: "Send a delivery's event again, now, as a new delivery", desc: "The event keeps its id (X-Webhook-Id), so receivers can tell a replay from a new event."}, h.replayDelivery)
	add(g, route{id: "recover-webhook-deliveries", method: post, path: "/v1/webhooks/{webhook}/recover", tag: "Webhooks", scope: gatehouse.ScopeManageWebhook,
		summary: "Replay every failed delivery since a time (at most 10,000)"}, h.recoverDeliveries)

	// Jobs and tasks
	const jobNote = "A job also needs the scopes of the data it touches (an import of users needs manage:user, an export the view: scopes of everything)."
	add(g, route{id: "list-jobs", method: get, path: "/v1/jobs", tag: "Jobs", scope: gatehouse.ScopeViewJob, summary: "List jobs",
		desc: "A project or environment key sees its own project's or environment's jobs."}, h.listJobs)
	add(g, route{id: "start-job", method: post, path: "/v1/jobs", tag: "Jobs", scope: gatehouse.ScopeManageJob, status: created,
		summary: "Start an export, an environment copy or a sandbox reset", desc: envNote + " " + jobNote}, h.startJob)
	add(g, route{id: "import-job", method: post, path: "/v1/jobs/import", tag: "Jobs", scope: gatehouse.ScopeManageJob, status: created,
		rawBody: []string{"application/x-ndjson", "text/csv"},
		summary: "Import users, tenants and role assignments from a JSON Lines or CSV file",
		desc: envNote + " Every row is checked first: a file with bad rows is refused whole (400, each bad row with its line number) and nothing is imported. " +
			"The rows are then applied in batches (tasks) of batch_size, each whole or not at all; existing items are updated with the fields a row gives, existing assignments left alone. " +
			"JSON Lines: one object per line, e.g. {\"type\":\"user\",\"key\":\"ada\",\"email\":\"ada@acme.example\"}, {\"type\":\"role_assignment\",\"user\":\"ada\",\"role\":\"editor\",\"tenant\":\"acme\"} (types resource, role, relation, resource_role, tenant, user, resource_instance, relationship_tuple, condition_set, set_rule, role_assignment: the format of an export; a role_assignment with resource_instance gives a role on that instance). " +
			"CSV: a header row; ?type=users (key,email,first_name,last_name,attributes), tenants (key,name,description,attributes), role_assignments (user,role,tenant,resource_instance), resource_instances (resource,key,tenant,attributes) or relationship_tuples (subject,relation,object); an empty cell leaves the field as it is. " +
			"Limits (a 400 names the line over one; the file is streamed, never held): a row (a JSON line, or a CSV record with all its lines) at most 1 MiB, a CSV cell at most 256 KiB, a CSV row at most 32 cells, a file at most 5,000,000 rows and --max-import-bytes (1 GiB by default; 413 beyond). " +
			"Text must be UTF-8 without NUL characters (nor \\u0000 in a JSON string); an email must be a plain address (ada@acme.example), as for POST /v1/users. A batch ends at batch_size rows or 4 MiB of rows, whichever comes first. " + jobNote}, h.importJob)
	add(g, route{id: "get-job", method: get, path: "/v1/jobs/{job}", tag: "Jobs", scope: gatehouse.ScopeViewJob, summary: "Get a job and its progress"}, h.getJob)
	add(g, route{id: "cancel-job", method: post, path: "/v1/jobs/{job}/cancel", tag: "Jobs", scope: gatehouse.ScopeManageJob,
		summary: "Cancel a job", desc: "Tasks not started are cancelled; a task running now finishes its batch (applied whole) and nothing runs after it."}, h.cancelJob)
	add(g, route{id: "list-job-tasks", method: get, path: "/v1/jobs/{job}/tasks", tag: "Jobs", scope: gatehouse.ScopeViewJob, summary: "List a job's tasks, in order"}, h.jobTasks)
	add(g, route{id: "get-job-output", method: get, path: "/v1/jobs/{job}/output", tag: "Jobs", scope: gatehouse.ScopeViewJob, stream: "application/x-ndjson",
		summary: "Download an export (JSON Lines, the import format)", desc: "Needs the view: scopes of every kind of item too."}, h.jobOutput)
	add(g, route{id: "list-tasks", method: get, path: "/v1/tasks", tag: "Tasks", scope: gatehouse.ScopeViewJob, summary: "List tasks of every job"}, h.listTasks)
	add(g, route{id: "get-task", method: get, path: "/v1/tasks/{task}", tag: "Tasks", scope: gatehouse.ScopeViewJob, summary: "Get a task with its row errors"}, h.getTask)
	add(g, route{id: "retry-task", method: post, path: "/v1/tasks/{task}/retry", tag: "Tasks", scope: gatehouse.ScopeManageJob,
		summary: "Run a failed task again, alone", desc: "For a batch whose rows failed, fix their cause first (create the missing role, say): the batch is applied whole or not at all."}, h.retryTask)

	// API keys
	add(g, route{id: "list-api-keys", method: get, path: "/v1/api-keys", tag: "API Keys", scope: gatehouse.ScopeManageAPI,
		summary: "List API keys", desc: "A project key sees the keys of its project; an environment key those of its environment."}, h.listKeys)
	add(g, route{id: "create-api-key", secrets: apilog.Secrets{Response: []apilog.SecretPath{"data.token"}}, method: post, path: "/v1/api-keys", tag: "API Keys", scope: gatehouse.ScopeManageAPI, status: created,
		summary: "Create an API key", desc: "The new key's level and reach stay within the calling key's, and its scopes within the calling key's scopes. The token is returned once and never again."}, h.createKey)
	add(g, route{id: "get-api-key", method: get, path: "/v1/api-keys/{key}", tag: "API Keys", scope: gatehouse.ScopeManageAPI, summary: "Get an API key (never its token)"}, h.getKey)
	add(g, route{id: "update-api-key", method: patch, path: "/v1/api-keys/{key}", tag: "API Keys", scope: gatehouse.ScopeManageAPI,
		summary: "Rename an API key, or bring its expiry forward", desc: "Takes effect on the next request on every node. A key cannot be made to last longer than its token says: rotate it for that."}, h.updateKey)
	add(g, route{id: "revoke-api-key", method: post, path: "/v1/api-keys/{key}/revoke", tag: "API Keys", scope: gatehouse.ScopeManageAPI,
		summary: "Revoke an API key", desc: "Takes effect on the next request on every node: the call returns once every live node has dropped the key."}, h.revokeKey)
	add(g, route{id: "rotate-api-key", secrets: apilog.Secrets{Response: []apilog.SecretPath{"data.token"}}, method: post, path: "/v1/api-keys/{key}/rotate", tag: "API Keys", scope: gatehouse.ScopeManageAPI, status: created,
		summary: "Rotate an API key", desc: "Creates a new key with the same name, level and scopes, returns its token once, and ends the old key after grace_period_seconds (immediately by default)."}, h.rotateKey)
}
