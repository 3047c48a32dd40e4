package httpapi

import (
	"context"
	"encoding/hex"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/authz"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/permit"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// Permit.io's API (seed 002's beta /v2): the control-plane operations
// Permit's SDKs call, at /v2/api-key/scope, /v2/projects…,
// /v2/facts/{proj}/{env}/… and /v2/schema/{proj}/{env}/…, and its decision
// endpoints (/allowed, /allowed/bulk, /allowed/all-tenants,
// /user-permissions) at the root. They act on the same data as v1 through
// the same services, and pass the same authentication, rate limit and API
// log; answers and errors have Permit's shapes. The contract is
// shared/research/permit-compat.md; docs/permit-migration.md is the guide.

// pcall is one Permit call: the request, its caller and, for the
// environment-scoped operations, the environment of its path.
type pcall struct {
	r   *http.Request
	ctx context.Context
	p   *auth.Principal
	env *tenancy.Environment
}

// pfunc answers a Permit call: a status and a body (nil: no body).
type pfunc func(c *pcall) (int, any, error)

// proute is one operation of the Permit API.
type proute struct {
	method, path string
	// twin is the v1 operation this one does the same as: its rules (the
	// scope, an organization key) are this one's, so the two cannot drift.
	twin    string
	env     bool // the path has {proj} and {env}
	fn      pfunc
	summary string
}

// pruled is a Permit operation with its twin's rule.
type pruled struct {
	proute
	rule rule
}

func (h *handlers) permitRoutes(mux *http.ServeMux, rules map[string]rule) {
	var routes []pruled
	for _, rt := range h.permitTable() {
		r, ok := rules[rt.twin]
		if !ok {
			panic("permit route " + rt.method + " " + rt.path + ": no v1 operation " + rt.twin)
		}
		routes = append(routes, pruled{rt, r})
		mux.Handle(rt.method+" "+rt.path, h.permitHandler(routes[len(routes)-1]))
	}
	// Old Permit Go SDKs (≤ v1.2.7) and Node's proxyFactsViaPdp send fact
	// calls to the decision point's address; on this server that is the
	// same listener, so those paths are served already.

	// The decision endpoints at the root: an environment key's environment.
	permit.PDPRoutes(mux, "", h.maxBody(), h.permitEngine, func(r *http.Request, req *decision.CheckRequest, res *decision.CheckResult) {
		p := principal(r.Context())
		h.record(r.Context(), envRef{p.OrgID, p.ProjectID, p.EnvironmentID}, req, res, time.Now())
	})
	servePermitSpec(mux, routes)
	mux.HandleFunc("/v2/", func(w http.ResponseWriter, r *http.Request) {
		permit.WriteError(w, gatehouse.Errorf(gatehouse.CodeNotFound, "no Permit-compatible operation %s %s (see docs/permit-migration.md)", r.Method, r.URL.Path))
	})
}

// permitTable lists the operations of the Permit API.
func (h *handlers) permitTable() []proute {
	const F, S = "/v2/facts/{proj}/{env}", "/v2/schema/{proj}/{env}"
	return []proute{
		{"GET", "/v2/api-key/scope", "get-me", false, h.pScope, "The key's organization, project and environment"},

		{"GET", "/v2/projects", "list-projects", false, h.pListProjects, "List projects"},
		{"POST", "/v2/projects", "create-project", false, h.pCreateProject, "Create a project (with development and production)"},
		{"GET", "/v2/projects/{proj}", "get-project", false, h.pGetProject, "Get a project"},
		{"PATCH", "/v2/projects/{proj}", "update-project", false, h.pUpdateProject, "Change a project"},
		{"DELETE", "/v2/projects/{proj}", "delete-project", false, h.pDeleteProject, "Delete a project"},
		{"GET", "/v2/projects/{proj}/envs", "list-environments", false, h.pListEnvs, "List a project's environments"},
		{"POST", "/v2/projects/{proj}/envs", "create-environment", false, h.pCreateEnv, "Create an environment"},
		{"GET", "/v2/projects/{proj}/envs/{env}", "get-environment", false, h.pGetEnv, "Get an environment"},
		{"PATCH", "/v2/projects/{proj}/envs/{env}", "update-environment", false, h.pUpdateEnv, "Change an environment"},
		{"DELETE", "/v2/projects/{proj}/envs/{env}", "delete-environment", false, h.pDeleteEnv, "Delete an environment"},

		{"GET", F + "/users", "list-users", true, h.pListUsers, "List users (paged; filters search, role)"},
		{"POST", F + "/users", "create-user", true, h.pPutUser(facts.PutCreate), "Create a user, with role assignments"},
		{"GET", F + "/users/{user}", "get-user", true, h.pGetUser, "Get a user"},
		{"PUT", F + "/users/{user}", "create-user", true, h.pPutUser(facts.PutReplace), "Create or replace a user (201 created, 200 replaced)"},
		{"PATCH", F + "/users/{user}", "update-user", true, h.pUpdateUser, "Change a user"},
		{"DELETE", F + "/users/{user}", "delete-user", true, h.pDeleteUser, "Delete a user"},
		{"POST", F + "/users/{user}/roles", "assign-role", true, h.pAssignment(true), "Give the user a role in a tenant"},
		{"DELETE", F + "/users/{user}/roles", "unassign-role", true, h.pAssignment(false), "Take a role from the user in a tenant"},
		{"POST", F + "/bulk/users", "create-user", true, h.pBulkUsers(false), "Create many users"},
		{"PUT", F + "/bulk/users", "create-user", true, h.pBulkUsers(true), "Create or replace many users"},
		{"DELETE", F + "/bulk/users", "delete-user", true, h.pBulkDeleteUsers, "Delete many users"},

		{"GET", F + "/tenants", "list-tenants", true, h.pListTenants, "List tenants (filters search, attr_<name>)"},
		{"POST", F + "/tenants", "create-tenant", true, h.pCreateTenant, "Create a tenant"},
		{"GET", F + "/tenants/{tenant}", "get-tenant", true, h.pGetTenant, "Get a tenant"},
		{"PATCH", F + "/tenants/{tenant}", "update-tenant", true, h.pUpdateTenant, "Change a tenant"},
		{"DELETE", F + "/tenants/{tenant}", "delete-tenant", true, h.pDeleteTenant, "Delete a tenant"},
		{"GET", F + "/tenants/{tenant}/users", "list-users", true, h.pTenantUsers, "List the users with a role in the tenant (paged)"},
		{"DELETE", F + "/tenants/{tenant}/users/{user}", "unassign-role", true, h.pRemoveTenantUser, "Take every role of the user in the tenant"},

		{"GET", F + "/role_assignments", "list-role-assignments", true, h.pListAssignments, "List role assignments (filters user, role, tenant; detailed; include_total_count)"},
		{"POST", F + "/role_assignments", "assign-role", true, h.pAssignment(true), "Assign a role"},
		{"DELETE", F + "/role_assignments", "unassign-role", true, h.pAssignment(false), "Unassign a role"},
		{"POST", F + "/role_assignments/bulk", "assign-role", true, h.pBulk(true), "Assign many roles"},
		{"DELETE", F + "/role_assignments/bulk", "unassign-role", true, h.pBulk(false), "Unassign many roles"},

		{"GET", S + "/roles", "list-roles", true, h.pListRoles, "List roles"},
		{"POST", S + "/roles", "create-role", true, h.pCreateRole, "Create a role"},
		{"GET", S + "/roles/{role}", "get-role", true, h.pGetRole, "Get a role"},
		{"PATCH", S + "/roles/{role}", "update-role", true, h.pUpdateRole, "Change a role"},
		{"DELETE", S + "/roles/{role}", "delete-role", true, h.pDeleteRole, "Delete a role"},
		{"POST", S + "/roles/{role}/permissions", "update-role", true, h.pRolePermissions(true), "Add permissions to a role"},
		{"DELETE", S + "/roles/{role}/permissions", "update-role", true, h.pRolePermissions(false), "Remove permissions from a role"},
		{"PUT", S + "/roles/{role}/parents/{parent}", "update-role", true, h.pRoleParent(true), "Make the role extend another"},
		{"DELETE", S + "/roles/{role}/parents/{parent}", "update-role", true, h.pRoleParent(false), "Stop the role extending another"},

		{"GET", S + "/resources", "list-resources", true, h.pListResources, "List resources"},
		{"POST", S + "/resources", "create-resource", true, h.pCreateResource, "Create a resource with its actions"},
		{"GET", S + "/resources/{resource}", "get-resource", true, h.pGetResource, "Get a resource"},
		{"PATCH", S + "/resources/{resource}", "update-resource", true, h.pUpdateResource(false), "Change a resource"},
		{"PUT", S + "/resources/{resource}", "replace-resource", true, h.pUpdateResource(true), "Replace a resource"},
		{"DELETE", S + "/resources/{resource}", "delete-resource", true, h.pDeleteResource, "Delete a resource"},
		{"GET", S + "/resources/{resource}/actions", "get-resource", true, h.pListActions, "List a resource's actions"},
		{"POST", S + "/resources/{resource}/actions", "update-resource", true, h.pCreateAction, "Add an action"},
		{"GET", S + "/resources/{resource}/actions/{action}", "get-resource", true, h.pGetAction, "Get an action"},
		{"PATCH", S + "/resources/{resource}/actions/{action}", "get-resource", true, h.pGetAction, "Change an action (nothing to change but what Gatehouse does not keep)"},
		{"DELETE", S + "/resources/{resource}/actions/{action}", "update-resource", true, h.pDeleteAction, "Remove an action"},
	}
}

func (h *handlers) maxBody() int64 {
	if h.MaxBodyBytes > 0 {
		return h.MaxBodyBytes
	}
	return 1 << 20
}

// permitEngine admits a decision call (check:access, an environment key:
// Permit's SDKs name no environment) and returns its engine, and the
// request with its caller (for the decision log).
func (h *handlers) permitEngine(w http.ResponseWriter, r *http.Request) (*authz.Engine, *http.Request, error) {
	p, err := h.permitAuth(w, r, gatehouse.ScopeCheckAccess)
	if err != nil {
		return nil, r, err
	}
	if p.EnvironmentID == "" {
		return nil, r, gatehouse.Errorf(gatehouse.CodeForbidden, "the decision endpoints need an environment API key (this key is of level %s: it names no environment, and Permit's SDKs send none)", p.Level)
	}
	r = r.WithContext(web.WithPrincipal(r.Context(), p))
	e, err := h.Facts.Engines.Get(r.Context(), p.EnvironmentID)
	return e, r, err
}

// permitAuth admits a Permit call through the gate v1 uses (key,
// organization header, rate limit, scope) and records the caller for the
// API log; a refusal comes back as the error to answer in Permit's shape.
func (h *handlers) permitAuth(w http.ResponseWriter, r *http.Request, scope gatehouse.Scope) (*auth.Principal, error) {
	rec := web.RecordOf(r.Context())
	if rec != nil {
		rec.Route = r.Pattern
	}
	if h.bare != nil {
		return h.bare, nil
	}
	p, ref := h.gate.Admit(r.Context(), w.Header(), web.CallOf(r, scope))
	if rec != nil && p != nil {
		rec.Principal = p
	}
	if ref != nil {
		return nil, ref.Err()
	}
	return p, nil
}

// permitHandler runs one Permit operation: auth, the environment of the
// path, the operation, and the answer in Permit's shapes.
func (h *handlers) permitHandler(rt pruled) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, body, err := h.permitServe(rt, w, r)
		if err != nil {
			permit.WriteError(w, err)
			return
		}
		if body == nil {
			w.WriteHeader(status)
			return
		}
		permit.WriteJSON(w, status, body)
	})
}

func (h *handlers) permitServe(rt pruled, w http.ResponseWriter, r *http.Request) (int, any, error) {
	p, err := h.permitAuth(w, r, rt.rule.scope)
	if err != nil {
		return 0, nil, err
	}
	if err := rt.rule.admits(p); err != nil {
		return 0, nil, err
	}
	ctx := web.WithPrincipal(r.Context(), p)
	c := &pcall{r: r, ctx: ctx, p: p}
	if rt.env {
		proj, env := r.PathValue("proj"), r.PathValue("env")
		e, err := h.environment(ctx, EnvPath{ProjectPath: ProjectPath{Project: proj}, Environment: env}, false)
		if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound && (dashed(proj) != proj || dashed(env) != env) {
			e, err = h.environment(ctx, EnvPath{ProjectPath: ProjectPath{Project: dashed(proj)}, Environment: dashed(env)}, false)
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
func (c *pcall) cascade() bool { return c.r.URL.Query().Get("cascade") == "true" }

// body decodes the request's JSON body (empty: allowed when allowEmpty).
func (c *pcall) body(limit int64, v any, allowEmpty bool) error {
	return permit.Decode(c.r, limit, v, allowEmpty)
}

// ---- paging

type ppage struct {
	page, perPage int
	total         bool // include_total_count
}

func pageOf(r *http.Request) (ppage, error) {
	q := r.URL.Query()
	pg := ppage{page: 1, perPage: 30, total: q.Get("include_total_count") == "true"}
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return pg, gatehouse.FieldError("page", "invalid_value", "page must be a number from 1")
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
	return pg, nil
}

func (pg ppage) request(sort string) gatehouse.PageRequest {
	return gatehouse.PageRequest{Page: pg.page, PerPage: pg.perPage, Sort: sort}
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

// unsupported refuses a Permit feature Gatehouse does not have, rather
// than dropping what was sent.
func unsupported(field, what string) error {
	return gatehouse.FieldError(field, "unsupported", "%s: Gatehouse does not support this (see docs/permit-migration.md)", what)
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
