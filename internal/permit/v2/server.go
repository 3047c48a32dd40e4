// Package permitv2 is Permit.io's API (the beta /v2) on Gatehouse:
// the control-plane operations Permit's SDKs call, at /v2/api-key/scope,
// /v2/projects…, /v2/facts/{proj}/{env}/… and /v2/schema/{proj}/{env}/…,
// its decision endpoints (/allowed, /allowed/bulk, /allowed/all-tenants,
// /user-permissions) at the root, and its reference (/v2/openapi.json,
// /v2/redoc). The operations act on the same data as v1 through the same
// services, pass the same gate (key, organization header, rate limit,
// scope) and API log, and each takes its access rule from its v1 twin's
// rule row; answers and errors have Permit's shapes (package permit holds
// the wire format, which the standalone PDP shares). The contract is what
// Permit's Node and Go SDKs send and expect (test/permit runs them);
// docs/permit-migration.md is the guide.
package permitv2

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/permit"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// Deps are what the Permit API uses.
type Deps struct {
	Log       *slog.Logger
	Tenancy   *tenancy.Service
	Keys      *apikey.Service
	Facts     *facts.Service
	Decisions *decision.Recorder // nil: checks are not recorded
	// Usage counts checks (nil: not counted).
	Usage *usage.Meter
	// Gate admits every call, as it admits v1's.
	Gate *web.Gate
	// Twins are the v1 operations' rules by operation id: each Permit
	// operation names its v1 twin and is called under the twin's rule.
	Twins map[string]web.Rule
	// Errors is the server's one error writer; it answers the paths Owns
	// claims in Permit's shape (see Shape). nil: Shape's writer.
	Errors web.ErrorWriter
	// LimitsChanged says that an environment's limit settings changed (by
	// id); nil: nobody listens.
	LimitsChanged func(id string)
	MaxBodyBytes  int64
	// Bare, set only by benchmarks, replaces the gate with this fixed
	// caller.
	Bare *auth.Principal
}

// server is the Permit API: what its operations use.
type server struct {
	Tenancy       *tenancy.Service
	Keys          *apikey.Service
	Facts         *facts.Service
	Decisions     *decision.Recorder
	usage         *usage.Meter
	gate          *web.Gate
	errs          web.ErrorWriter
	limitsChanged func(id string)
	maxBody       int64
	bare          *auth.Principal
}

// call is one Permit call: the request, its caller and, for the
// environment-scoped operations, the environment of its path.
type call struct {
	r   *http.Request
	ctx context.Context
	p   *auth.Principal
	env *tenancy.Environment
	// header is the answer's header (Gatehouse-Next-Cursor).
	header http.Header
}

// handler answers a Permit call: a status and a body (nil: no body).
type handler func(c *call) (int, any, error)

// route is one operation of the Permit API.
type route struct {
	method, path string
	// twin is the v1 operation this one does the same as: its rule (the
	// scope, an organization key) is this one's, so the two cannot drift.
	twin    string
	env     bool // the path has {proj} and {env}
	fn      handler
	summary string
}

// ruled is a Permit operation with its twin's rule.
type ruled struct {
	route
	rule web.Rule
}

// Mount registers the Permit API on mux. Its paths are those Owns
// claims; the server's error writer (d.Errors) must answer them with
// Shape's writer.
func Mount(mux *http.ServeMux, d Deps) error {
	s := &server{Tenancy: d.Tenancy, Keys: d.Keys, Facts: d.Facts, Decisions: d.Decisions, usage: d.Usage, gate: d.Gate, errs: d.Errors,
		limitsChanged: d.LimitsChanged, maxBody: d.MaxBodyBytes, bare: d.Bare}
	if s.maxBody <= 0 {
		s.maxBody = 1 << 20
	}
	if s.limitsChanged == nil {
		s.limitsChanged = func(string) {}
	}
	if s.errs == nil {
		s.errs = Shape(d.Log).Write
	}
	var routes []ruled
	for _, rt := range s.routes() {
		r, ok := d.Twins[rt.twin]
		if !ok {
			return fmt.Errorf("permit route %s %s: no v1 operation %s", rt.method, rt.path, rt.twin)
		}
		routes = append(routes, ruled{rt, r})
		mux.Handle(rt.method+" "+rt.path, s.handle(routes[len(routes)-1]))
	}
	// Old Permit Go SDKs (≤ v1.2.7) and Node's proxyFactsViaPdp send fact
	// calls to the decision point's address; on this server that is the
	// same listener, so those paths are served already.

	// The decision endpoints at the root: an environment key's environment.
	permit.PDPRoutes(mux, "", s.maxBody, s.engine, func(r *http.Request, reqs []decision.CheckRequest, res []decision.CheckResult) {
		s.record(r.Context(), reqs, res, time.Now())
	})
	serveSpec(mux, routes)
	served := map[string][]string{} // path template → methods served
	for _, rt := range routes {
		t := template(rt.path)
		served[t] = append(served[t], rt.method)
	}
	mux.HandleFunc("/v2/", func(w http.ResponseWriter, r *http.Request) {
		for t, methods := range served {
			if matchTemplate(t, r.URL.Path) {
				s.errs(w, r, gatehouse.Errorf(gatehouse.CodeMethodNotAllowed, "%s is served with %s, not %s", r.URL.Path, strings.Join(methods, ", "), r.Method))
				return
			}
		}
		if t, ok := permitHas(r.URL.Path); ok {
			s.errs(w, r, notImplemented(fmt.Sprintf("%s %s (Permit's %s)", r.Method, r.URL.Path, t)))
			return
		}
		s.errs(w, r, gatehouse.Errorf(gatehouse.CodeNotFound, "no Permit-compatible operation %s %s (see docs/permit-migration.md)", r.Method, r.URL.Path))
	})
	return nil
}

// Owns reports whether path belongs to the Permit API, whose errors have
// Permit's shape.
func Owns(path string) bool {
	return strings.HasPrefix(path, "/v2/") || path == "/allowed" || strings.HasPrefix(path, "/allowed/") || path == "/user-permissions"
}

// Shape is the Permit API's claim on the server's error writer: its
// paths, answered in Permit's error body. An unexpected error is logged
// with the id its answer carries.
func Shape(log *slog.Logger) web.Shape {
	if log == nil {
		log = slog.Default()
	}
	return web.Shape{Owns: Owns, Write: func(w http.ResponseWriter, r *http.Request, err error) {
		e := permit.FromError(err)
		var ge *gatehouse.Error
		var pe *permit.Error
		if !errors.As(err, &ge) && !errors.As(err, &pe) {
			log.ErrorContext(r.Context(), "internal error", "request_id", web.RequestID(r.Context()), "error_id", e.ID, "err", err)
		}
		permit.WriteJSON(w, e.Status(), e)
	}}
}

// record counts a call's decisions (res[i] answers reqs[i]) and hands
// each that the environment's decision log policy samples to the log.
// The policy is read once a call.
func (s *server) record(ctx context.Context, reqs []decision.CheckRequest, res []decision.CheckResult, at time.Time) {
	p := web.Principal(ctx)
	if p == nil {
		return
	}
	var allowed int64
	for i := range res {
		if res[i].Allow {
			allowed++
		}
	}
	var pol decision.Policy
	if s.Decisions != nil {
		pol = s.Decisions.Policy(ctx, p.EnvironmentID)
	}
	web.Checked(ctx, s.usage, p.OrgID, p.ProjectID, p.EnvironmentID, allowed, int64(len(res)), pol.APILog)
	id := web.RequestID(ctx)
	for i := range reqs {
		if !pol.Sample() {
			continue
		}
		c, r := &reqs[i], &res[i]
		s.Decisions.Record(decision.Entry{OrganizationID: p.OrgID, ProjectID: p.ProjectID, EnvironmentID: p.EnvironmentID, Time: at,
			Source: decision.SourceAPI, RequestID: id, KeyID: p.KeyID,
			User: c.User.Key, Action: c.Action, ResourceType: c.Resource.Type, ResourceKey: c.Resource.Key, Tenant: r.Tenant,
			Allow: r.Allow, Reason: r.Reason, Role: r.Role})
	}
}

// routes lists the operations of the Permit API.
func (s *server) routes() []route {
	const F, S = "/v2/facts/{proj}/{env}", "/v2/schema/{proj}/{env}"
	return []route{
		{"GET", "/v2/api-key/scope", "get-me", false, s.scope, "The key's organization, project and environment"},

		{"GET", "/v2/projects", "list-projects", false, s.listProjects, "List projects"},
		{"POST", "/v2/projects", "create-project", false, s.createProject, "Create a project (with development and production)"},
		{"GET", "/v2/projects/{proj}", "get-project", false, s.getProject, "Get a project"},
		{"PATCH", "/v2/projects/{proj}", "update-project", false, s.updateProject, "Change a project"},
		{"DELETE", "/v2/projects/{proj}", "delete-project", false, s.deleteProject, "Delete a project"},
		{"GET", "/v2/projects/{proj}/envs", "list-environments", false, s.listEnvs, "List a project's environments"},
		{"POST", "/v2/projects/{proj}/envs", "create-environment", false, s.createEnv, "Create an environment"},
		{"GET", "/v2/projects/{proj}/envs/{env}", "get-environment", false, s.getEnv, "Get an environment"},
		{"PATCH", "/v2/projects/{proj}/envs/{env}", "update-environment", false, s.updateEnv, "Change an environment"},
		{"DELETE", "/v2/projects/{proj}/envs/{env}", "delete-environment", false, s.deleteEnv, "Delete an environment"},

		{"GET", F + "/users", "list-users", true, s.listUsers, "List users (paged; filters search, role)"},
		{"POST", F + "/users", "create-user", true, s.putUser(facts.PutCreate), "Create a user, with role assignments"},
		{"GET", F + "/users/{user}", "get-user", true, s.getUser, "Get a user"},
		{"PUT", F + "/users/{user}", "create-user", true, s.putUser(facts.PutReplace), "Create or replace a user (201 created, 200 replaced)"},
		{"PATCH", F + "/users/{user}", "update-user", true, s.updateUser, "Change a user"},
		{"DELETE", F + "/users/{user}", "delete-user", true, s.deleteUser, "Delete a user"},
		{"POST", F + "/users/{user}/roles", "assign-role", true, s.assignment(true), "Give the user a role in a tenant"},
		{"DELETE", F + "/users/{user}/roles", "unassign-role", true, s.assignment(false), "Take a role from the user in a tenant"},
		{"POST", F + "/bulk/users", "create-user", true, s.bulkUsers(false), "Create many users"},
		{"PUT", F + "/bulk/users", "create-user", true, s.bulkUsers(true), "Create or replace many users"},
		{"DELETE", F + "/bulk/users", "delete-user", true, s.bulkDeleteUsers, "Delete many users"},

		{"GET", F + "/tenants", "list-tenants", true, s.listTenants, "List tenants (filters search, attr_<name>)"},
		{"POST", F + "/tenants", "create-tenant", true, s.createTenant, "Create a tenant"},
		{"GET", F + "/tenants/{tenant}", "get-tenant", true, s.getTenant, "Get a tenant"},
		{"PATCH", F + "/tenants/{tenant}", "update-tenant", true, s.updateTenant, "Change a tenant"},
		{"DELETE", F + "/tenants/{tenant}", "delete-tenant", true, s.deleteTenant, "Delete a tenant"},
		{"GET", F + "/tenants/{tenant}/users", "list-users", true, s.tenantUsers, "List the users with a role in the tenant (paged)"},
		{"DELETE", F + "/tenants/{tenant}/users/{user}", "unassign-role", true, s.removeTenantUser, "Take every role of the user in the tenant"},

		{"GET", F + "/role_assignments", "list-role-assignments", true, s.listAssignments, "List role assignments (filters user, role, tenant; detailed; include_total_count)"},
		{"POST", F + "/role_assignments", "assign-role", true, s.assignment(true), "Assign a role"},
		{"DELETE", F + "/role_assignments", "unassign-role", true, s.assignment(false), "Unassign a role"},
		{"POST", F + "/role_assignments/bulk", "assign-role", true, s.bulk(true), "Assign many roles"},
		{"DELETE", F + "/role_assignments/bulk", "unassign-role", true, s.bulk(false), "Unassign many roles"},

		{"GET", S + "/roles", "list-roles", true, s.listRoles, "List roles (filters search, attr_<name>)"},
		{"POST", S + "/roles", "create-role", true, s.createRole, "Create a role"},
		{"GET", S + "/roles/{role}", "get-role", true, s.getRole, "Get a role"},
		{"PATCH", S + "/roles/{role}", "update-role", true, s.updateRole, "Change a role"},
		{"DELETE", S + "/roles/{role}", "delete-role", true, s.deleteRole, "Delete a role"},
		{"POST", S + "/roles/{role}/permissions", "update-role", true, s.rolePermissions(true), "Add permissions to a role"},
		{"DELETE", S + "/roles/{role}/permissions", "update-role", true, s.rolePermissions(false), "Remove permissions from a role"},
		{"PUT", S + "/roles/{role}/parents/{parent}", "update-role", true, s.roleParent(true), "Make the role extend another"},
		{"DELETE", S + "/roles/{role}/parents/{parent}", "update-role", true, s.roleParent(false), "Stop the role extending another"},

		{"GET", S + "/resources", "list-resources", true, s.listResources, "List resources"},
		{"POST", S + "/resources", "create-resource", true, s.createResource, "Create a resource with its actions"},
		{"GET", S + "/resources/{resource}", "get-resource", true, s.getResource, "Get a resource"},
		{"PATCH", S + "/resources/{resource}", "update-resource", true, s.updateResource(false), "Change a resource"},
		{"PUT", S + "/resources/{resource}", "replace-resource", true, s.updateResource(true), "Replace a resource"},
		{"DELETE", S + "/resources/{resource}", "delete-resource", true, s.deleteResource, "Delete a resource"},
		{"GET", S + "/resources/{resource}/actions", "get-resource", true, s.listActions, "List a resource's actions"},
		{"POST", S + "/resources/{resource}/actions", "update-resource", true, s.createAction, "Add an action"},
		{"GET", S + "/resources/{resource}/actions/{action}", "get-resource", true, s.getAction, "Get an action"},
		{"PATCH", S + "/resources/{resource}/actions/{action}", "get-resource", true, s.getAction, "Change an action (nothing to change but what Gatehouse does not keep)"},
		{"DELETE", S + "/resources/{resource}/actions/{action}", "update-resource", true, s.deleteAction, "Remove an action"},
		{"GET", S + "/resources/{resource}/action_groups", "get-resource", true, s.listActionGroups, "List a resource's action groups (filters attr_<name>)"},
		{"POST", S + "/resources/{resource}/action_groups", "update-resource", true, s.createActionGroup, "Add an action group (roles naming it get its actions)"},
		{"GET", S + "/resources/{resource}/action_groups/{group}", "get-resource", true, s.getActionGroup, "Get an action group"},
		{"PATCH", S + "/resources/{resource}/action_groups/{group}", "update-resource", true, s.updateActionGroup, "Change an action group (roles naming it keep the actions it had)"},
		{"DELETE", S + "/resources/{resource}/action_groups/{group}", "update-resource", true, s.deleteActionGroup, "Remove an action group"},
		{"GET", S + "/resources/{resource}/attributes", "get-resource", true, refused("the resource attributes API (give attributes in the resource's body)"), "Not implemented (501): set attributes in the resource's body"},
		{"POST", S + "/resources/{resource}/attributes", "update-resource", true, refused("the resource attributes API (give attributes in the resource's body)"), "Not implemented (501): set attributes in the resource's body"},

		{"GET", S + "/resources/{resource}/roles", "list-resource-roles", true, s.listResourceRoles, "List the roles of a resource type (filters search, attr_<name>)"},
		{"POST", S + "/resources/{resource}/roles", "create-resource-role", true, s.createResourceRole, "Create a role of a resource type (with granted_to: implicit grants)"},
		{"GET", S + "/resources/{resource}/roles/{role}", "get-resource-role", true, s.getResourceRole, "Get a role of a resource type"},
		{"PATCH", S + "/resources/{resource}/roles/{role}", "update-resource-role", true, s.updateResourceRole, "Change a role of a resource type"},
		{"DELETE", S + "/resources/{resource}/roles/{role}", "delete-resource-role", true, s.deleteResourceRole, "Delete a role of a resource type"},
		{"POST", S + "/resources/{resource}/roles/{role}/permissions", "update-resource-role", true, s.resourceRolePermissions(true), "Add permissions to a role of a resource type"},
		{"DELETE", S + "/resources/{resource}/roles/{role}/permissions", "update-resource-role", true, s.resourceRolePermissions(false), "Remove permissions from a role of a resource type"},
		{"PUT", S + "/resources/{resource}/roles/{role}/parents/{parent}", "update-resource-role", true, s.resourceRoleParent(true), "Make the role extend another of its type"},
		{"DELETE", S + "/resources/{resource}/roles/{role}/parents/{parent}", "update-resource-role", true, s.resourceRoleParent(false), "Stop the role extending another"},
		{"POST", S + "/resources/{resource}/roles/{role}/implicit_grants", "update-resource-role", true, s.implicitGrant(true), "Derive the role from a role on a related instance (an implicit grant)"},
		{"DELETE", S + "/resources/{resource}/roles/{role}/implicit_grants", "update-resource-role", true, s.implicitGrant(false), "Remove an implicit grant"},
		{"PUT", S + "/resources/{resource}/roles/{role}/implicit_grants/conditions", "update-resource-role", true, refused("conditions on implicit grants"), "Not implemented (501)"},
		{"GET", S + "/resources/{resource}/roles/{role}/ancestors", "get-resource-role", true, refused("role ancestors"), "Not implemented (501)"},
		{"GET", S + "/resources/{resource}/roles/{role}/descendants", "get-resource-role", true, refused("role descendants"), "Not implemented (501)"},

		{"GET", S + "/resources/{resource}/relations", "list-relations", true, s.listRelations, "List the relations of a resource type"},
		{"POST", S + "/resources/{resource}/relations", "create-relation", true, s.createRelation, "Declare a relation (subject_resource: its subjects' type)"},
		{"GET", S + "/resources/{resource}/relations/{relation}", "get-relation", true, s.getRelation, "Get a relation"},
		{"DELETE", S + "/resources/{resource}/relations/{relation}", "delete-relation", true, s.deleteRelation, "Delete a relation"},

		{"GET", S + "/condition_sets", "list-condition-sets", true, s.listConditionSets, "List condition sets (filters type, search)"},
		{"POST", S + "/condition_sets", "create-condition-set", true, s.createConditionSet, "Create a user set or a resource set"},
		{"GET", S + "/condition_sets/{set}", "get-condition-set", true, s.getConditionSet, "Get a condition set"},
		{"PATCH", S + "/condition_sets/{set}", "update-condition-set", true, s.updateConditionSet, "Change a condition set"},
		{"DELETE", S + "/condition_sets/{set}", "delete-condition-set", true, s.deleteConditionSet, "Delete a condition set"},
		{"GET", S + "/condition_sets/{set}/ancestors", "get-condition-set", true, refused("nested condition sets"), "Not implemented (501)"},
		{"GET", S + "/condition_sets/{set}/descendants", "get-condition-set", true, refused("nested condition sets"), "Not implemented (501)"},
		{"GET", S + "/condition_sets/{set}/possible_parents", "get-condition-set", true, refused("nested condition sets"), "Not implemented (501)"},
		{"GET", S + "/users/attributes", "list-users", true, refused("the user attributes API (users' attributes are free JSON)"), "Not implemented (501)"},
		{"POST", S + "/users/attributes", "update-user", true, refused("the user attributes API (users' attributes are free JSON)"), "Not implemented (501)"},

		{"GET", F + "/resource_instances", "list-resource-instances", true, s.listInstances, "List resource instances (filters resource, tenant, search, attr_<name>)"},
		{"POST", F + "/resource_instances", "create-resource-instance", true, s.createInstance, "Create a resource instance"},
		{"GET", F + "/resource_instances/{instance}", "get-resource-instance", true, s.getInstance, "Get a resource instance (id or type:key)"},
		{"PATCH", F + "/resource_instances/{instance}", "update-resource-instance", true, s.updateInstance, "Change a resource instance's attributes"},
		{"DELETE", F + "/resource_instances/{instance}", "delete-resource-instance", true, s.deleteInstance, "Delete a resource instance (with its tuples and role assignments)"},
		{"PUT", F + "/bulk/resource_instances", "create-resource-instance", true, refused("bulk resource instance writes (create them one by one)"), "Not implemented (501)"},
		{"DELETE", F + "/bulk/resource_instances", "delete-resource-instance", true, refused("bulk resource instance writes (delete them one by one)"), "Not implemented (501)"},

		{"GET", F + "/relationship_tuples", "list-relationship-tuples", true, s.listTuples, "List relationship tuples (filters subject, relation, object, subject_type, object_type, tenant)"},
		{"POST", F + "/relationship_tuples", "create-relationship-tuple", true, s.createTuple, "Create a relationship tuple (with tenant: creating missing instances)"},
		{"DELETE", F + "/relationship_tuples", "delete-relationship-tuple", true, s.deleteTuple, "Delete a relationship tuple"},
		{"POST", F + "/relationship_tuples/bulk", "create-relationship-tuples-bulk", true, s.bulkTuples(true), "Create many relationship tuples (all or none)"},
		{"DELETE", F + "/relationship_tuples/bulk", "delete-relationship-tuples-bulk", true, s.bulkTuples(false), "Delete many relationship tuples (all or none)"},

		{"GET", F + "/set_rules", "list-set-rules", true, s.listSetRules, "List set rules (filters user_set, permission, resource_set)"},
		{"POST", F + "/set_rules", "create-set-rule", true, s.createSetRule, "Let a user set do \"resource:action\" on a resource set"},
		{"DELETE", F + "/set_rules", "delete-set-rule", true, s.deleteSetRule, "Remove a set rule"},
		{"GET", F + "/proxy_configs", "list-resources", true, refused("proxy configs"), "Not implemented (501)"},
		{"POST", F + "/proxy_configs", "update-resource", true, refused("proxy configs"), "Not implemented (501)"},
	}
}

// engine admits a decision call (check:access, an environment key:
// Permit's SDKs name no environment) and returns its engine, and the
// request with its caller (for the decision log).
func (s *server) engine(w http.ResponseWriter, r *http.Request) (*authz.Engine, *http.Request, error) {
	p, err := s.admit(w, r, gatehouse.ScopeCheckAccess)
	if err != nil {
		return nil, r, err
	}
	if p.EnvironmentID == "" {
		return nil, r, gatehouse.Errorf(gatehouse.CodeForbidden, "the decision endpoints need an environment API key (this key is of level %s: it names no environment, and Permit's SDKs send none)", p.Level)
	}
	r = r.WithContext(web.WithPrincipal(r.Context(), p))
	e, err := s.Facts.Engines.Get(r.Context(), p.EnvironmentID)
	return e, r, err
}

// admit admits a Permit call through the gate v1 uses (key,
// organization header, rate limit, scope) and records the caller for the
// API log; a refusal comes back as the error to answer in Permit's shape.
func (s *server) admit(w http.ResponseWriter, r *http.Request, scope gatehouse.Scope) (*auth.Principal, error) {
	rec := web.RecordOf(r.Context())
	if rec != nil {
		rec.Route = r.Pattern
	}
	if s.bare != nil {
		return s.bare, nil
	}
	call := web.CallOf(r, scope)
	// Permit's decision routes spend from the check budget.
	call.Check = !strings.HasPrefix(r.URL.Path, "/v2/")
	p, ref := s.gate.Admit(r.Context(), w.Header(), call)
	if rec != nil && p != nil {
		rec.Principal = p
	}
	if ref != nil {
		return nil, ref.Err()
	}
	return p, nil
}

// handle runs one Permit operation: auth, the environment of the path,
// the operation, and the answer in Permit's shapes.
func (s *server) handle(rt ruled) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, body, err := s.serve(rt, w, r)
		if err != nil {
			s.errs(w, r, err)
			return
		}
		if body == nil {
			w.WriteHeader(status)
			return
		}
		permit.WriteJSON(w, status, body)
	})
}

func (s *server) serve(rt ruled, w http.ResponseWriter, r *http.Request) (int, any, error) {
	p, err := s.admit(w, r, rt.rule.Scope)
	if err != nil {
		return 0, nil, err
	}
	if err := rt.rule.Admits(p); err != nil {
		return 0, nil, err
	}
	ctx := web.WithPrincipal(r.Context(), p)
	if r.Method == http.MethodGet && r.URL.Query().Has("cursor") && !cursorLists[rt.path] {
		return 0, nil, gatehouse.FieldError("cursor", "invalid_value",
			"cursor paging (Gatehouse's extension) is offered on the lists of users, tenants, resource instances and role assignments only: page this list with page and per_page")
	}
	c := &call{r: r, ctx: ctx, p: p, header: w.Header()}
	if rt.env {
		proj, env := r.PathValue("proj"), r.PathValue("env")
		e, err := s.Tenancy.Environment(ctx, p, proj, env, false)
		if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound && (dashed(proj) != proj || dashed(env) != env) {
			e, err = s.Tenancy.Environment(ctx, p, dashed(proj), dashed(env), false)
		}
		if err != nil {
			return 0, nil, err
		}
		c.env = e
	}
	return rt.fn(c)
}

// dashed turns Permit's 32-hex id form into the dashed UUID one; anything
// else is returned as it is.
func dashed(ref string) string {
	if len(ref) != 32 {
		return ref
	}
	if _, err := hex.DecodeString(ref); err != nil {
		return ref
	}
	return ref[:8] + "-" + ref[8:12] + "-" + ref[12:16] + "-" + ref[16:20] + "-" + ref[20:]
}

// byRef looks an item up by id or key, also by Permit's undashed id.
func byRef[T any](ref string, get func(string) (T, error)) (T, error) {
	v, err := get(ref)
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound && dashed(ref) != ref {
		if v2, err2 := get(dashed(ref)); err2 == nil {
			return v2, nil
		}
	}
	return v, err
}

// cascade reports ?cascade=true: a delete also removes what refers to the
// deleted thing (the rule v1 follows).
func (c *call) cascade() bool { return c.r.URL.Query().Get("cascade") == "true" }

// body decodes the request's JSON body (empty: allowed when allowEmpty).
func (c *call) body(limit int64, v any, allowEmpty bool) error {
	return permit.Decode(c.r, limit, v, allowEmpty)
}

// ---- paging

type ppage struct {
	page, perPage int
	total         bool // include_total_count
	// cursor is Gatehouse's keyset paging (?cursor=, "start" for the
	// first page; docs/permit-migration.md): the page after the row it
	// names, not counted (total_count and page_count are -1), and the
	// next page's cursor in the Gatehouse-Next-Cursor header.
	cursor string
}

// NextCursorHeader carries the cursor of the page after a page read by
// cursor; it is absent on the last page.
const NextCursorHeader = "Gatehouse-Next-Cursor"

// cursorLists are the lists that page by cursor.
var cursorLists = map[string]bool{
	"/v2/facts/{proj}/{env}/users":              true,
	"/v2/facts/{proj}/{env}/tenants":            true,
	"/v2/facts/{proj}/{env}/resource_instances": true,
	"/v2/facts/{proj}/{env}/role_assignments":   true,
}

// next hands the cursor of the page after this one to a client paging by
// cursor (an answer by page number stays Permit's).
func (c *call) next(pg ppage, cursor string) {
	if pg.cursor != "" && cursor != "" {
		c.header.Set(NextCursorHeader, cursor)
	}
}

// noCursor refuses a cursor on a list filtered here, in memory, which
// cannot start from a cursor's row.
func (pg ppage) noCursor(filter string) error {
	if pg.cursor == "" {
		return nil
	}
	return permit.CodedError(http.StatusUnprocessableEntity, "CURSOR_NOT_SUPPORTED", "Cursor paging not supported with this filter",
		filter+" is applied by Gatehouse in memory, over the whole list, so this list cannot start from a cursor: page it with page and per_page, or drop the filter")
}

// maxPage is the largest page number, v1's too (100M rows at 100 a page).
const maxPage = 1_000_000

func pageOf(r *http.Request) (ppage, error) {
	q := r.URL.Query()
	pg := ppage{page: 1, perPage: 30, total: q.Get("include_total_count") == "true"}
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPage {
			// Bounded as v1's page is: a page number past any list (9e18
			// wraps the offset) is refused, not answered as page 1.
			return pg, gatehouse.FieldError("page", "invalid_value", "page must be a number from 1 to %d; use ?cursor= to walk longer lists", maxPage)
		}
		pg.page = n
	}
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return pg, gatehouse.FieldError("per_page", "invalid_value", "per_page must be a number from 1")
		}
		if n > 100 {
			return pg, permit.CodedError(http.StatusUnprocessableEntity, "PAGINATION_SIZE_OVERREACHED", "Pagination size overreached", "per_page must be at most 100")
		}
		pg.perPage = n
	}
	if pg.cursor = q.Get("cursor"); pg.cursor != "" && pg.page > 1 {
		return pg, gatehouse.FieldError("cursor", "conflict", "give page or cursor, not both: a cursor already says where the page starts (cursor=start for the first page)")
	}
	return pg, nil
}

// request is the store's request for the page: counted only when the
// answer shows the count (include_total_count), since counting a list of
// a million rows costs more than its page; the count of a plain list is
// capped at 1, a read of two index entries.
func (pg ppage) request(sort string) gatehouse.PageRequest {
	r := pg.counted(sort)
	if !pg.total {
		r.CountUpTo = 1
	}
	return r
}

// counted is request for a list whose answer always shows the count
// (Permit's users list).
func (pg ppage) counted(sort string) gatehouse.PageRequest {
	return gatehouse.PageRequest{Page: pg.page, PerPage: pg.perPage, Sort: sort, Cursor: pg.cursor}
}

// paginated is Permit's paged list: {data, total_count, page_count}.
type paginated[T any] struct {
	Data       []T `json:"data"`
	TotalCount int `json:"total_count"`
	PageCount  int `json:"page_count"`
}

func paged[T any](items []T, total, perPage int) paginated[T] {
	if items == nil {
		items = []T{}
	}
	if total < 0 { // a page by cursor: not counted
		return paginated[T]{Data: items, TotalCount: -1, PageCount: -1}
	}
	return paginated[T]{Data: items, TotalCount: total, PageCount: (total + perPage - 1) / perPage}
}

// window returns the page pg of items.
func window[T any](items []T, pg ppage) []T {
	from := (pg.page - 1) * pg.perPage
	if from >= len(items) {
		return []T{}
	}
	return items[from:min(from+pg.perPage, len(items))]
}

// listOrPaged answers a list plainly, or paged when include_total_count
// asks for it.
func listOrPaged[T any](items []T, total int, pg ppage) any {
	if pg.total {
		return paged(items, total, pg.perPage)
	}
	if items == nil {
		return []T{}
	}
	return items
}

// values returns the non-empty values of a repeatable query parameter
// (Permit's Go SDK sends tenant= for "any").
func values(r *http.Request, name string) []string {
	var out []string
	for _, v := range r.URL.Query()[name] {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

func orEmptyMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func orEmptyList(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
