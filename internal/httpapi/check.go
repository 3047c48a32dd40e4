package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// envRef names the environment a call acts in.
type envRef struct{ orgID, projectID, envID string }

// envRefOf is envOf for the check path: an environment key's environment is
// known without a database read.
func (h *handlers) envRefOf(ctx context.Context, q EnvQuery) (envRef, error) {
	if p := principal(ctx); q.Project == "" && q.Environment == "" && p.EnvironmentID != "" {
		return envRef{p.OrgID, p.ProjectID, p.EnvironmentID}, nil
	}
	env, err := h.envOf(ctx, q)
	if err != nil {
		return envRef{}, err
	}
	return envRef{env.OrgID, env.ProjectID, env.ID}, nil
}

// engineOf returns the call's environment and its decision engine.
func (h *handlers) engineOf(ctx context.Context, q EnvQuery) (envRef, *authz.Engine, error) {
	ref, err := h.envRefOf(ctx, q)
	if err != nil {
		return ref, nil, err
	}
	e, err := h.Facts.Engines.Get(ctx, ref.envID)
	return ref, e, err
}

// policy is the environment's decision log policy (none without a
// decision log), read once a call.
func (h *handlers) policy(ctx context.Context, ref envRef) decision.Policy {
	if h.Decisions == nil {
		return decision.Policy{}
	}
	return h.Decisions.Policy(ctx, ref.envID)
}

// record hands a decision to the decision log when the environment's policy
// samples it. It never blocks.
func (h *handlers) record(ctx context.Context, ref envRef, pol *decision.Policy, c *decision.CheckRequest, r *decision.CheckResult, at time.Time) {
	if !pol.Sample() {
		return
	}
	var keyID string
	if p := principal(ctx); p != nil {
		keyID = p.KeyID
	}
	h.Decisions.Record(decision.Entry{OrganizationID: ref.orgID, ProjectID: ref.projectID, EnvironmentID: ref.envID, Time: at,
		Source: decision.SourceAPI, RequestID: RequestID(ctx), KeyID: keyID,
		User: c.User.Key, Action: c.Action, ResourceType: c.Resource.Type, ResourceKey: c.Resource.Key, Tenant: r.Tenant,
		Allow: r.Allow, Reason: r.Reason, Role: r.Role})
}

// checked counts n checks (allowed of them allowed) of the call and, unless
// the environment logs checks, keeps a successful call out of the API log.
func (h *handlers) checked(ctx context.Context, ref envRef, pol *decision.Policy, allowed, n int64) {
	web.Checked(ctx, h.Usage, ref.orgID, ref.projectID, ref.envID, allowed, n, pol.APILog)
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// withKnownCheckFields finds a field v1's check routes do not take, which
// their handlers then refuse (400 unknown_field, as every other route's
// schema validation does), after the gate. They skip huma's validation of
// the body (a second full parse of each call), which ignored such fields:
// a misspelt "tenat" was decided in the default tenant. It reads the body
// WithInputCheck holds, names only; a body that is not valid JSON is left
// to the operation to refuse.
func withKnownCheckFields(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && (r.URL.Path == "/v1/allowed" || r.URL.Path == "/v1/allowed/bulk") {
			if b := web.HeldBody(r); b != nil {
				if f := decision.UnknownField(b, r.URL.Path == "/v1/allowed/bulk"); f != "" && json.Valid(b) {
					r = r.WithContext(context.WithValue(r.Context(), unknownFieldKey{}, f))
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

type unknownFieldKey struct{}

// unknownField is the refusal of a check body with a field the route does
// not take (withKnownCheckFields found it), nil when none.
func unknownField(ctx context.Context) error {
	f, _ := ctx.Value(unknownFieldKey{}).(string)
	if f == "" {
		return nil
	}
	return &gatehouse.Error{Code: gatehouse.CodeInvalidRequest, Message: "invalid parameter " + f + ": unexpected property", Details: map[string]any{
		"field": f, "reason": "unknown_field", "errors": []map[string]any{{"field": f, "reason": "unknown_field", "message": "unexpected property"}}}}
}

type checkIn struct {
	EnvQuery
	Body decision.CheckRequest
}

func (h *handlers) allowed(ctx context.Context, in *checkIn) (*Out[decision.CheckResult], error) {
	if err := unknownField(ctx); err != nil {
		return nil, err
	}
	if err := in.Body.Validate(""); err != nil {
		return nil, err
	}
	ref, e, err := h.engineOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	if err := h.awaitRevision(ctx, ref.envID, in.Body.AtLeast); err != nil {
		return nil, err
	}
	start := time.Now()
	r := decision.Decide(e, &in.Body)
	decision.TraceCheck(ctx, start, r.Allow, in.Body.Action, in.Body.Resource.Type)
	pol := h.policy(ctx, ref)
	h.record(ctx, ref, &pol, &in.Body, &r, time.Now())
	h.checked(ctx, ref, &pol, b2i(r.Allow), 1)
	return ok(ctx, r), nil
}

type bulkCheckIn struct {
	EnvQuery
	Body decision.BulkRequest
}

func (h *handlers) allowedBulk(ctx context.Context, in *bulkCheckIn) (*Out[[]decision.CheckResult], error) {
	if err := unknownField(ctx); err != nil {
		return nil, err
	}
	if err := in.Body.Validate(); err != nil {
		return nil, err
	}
	ref, e, err := h.engineOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	if err := h.awaitRevision(ctx, ref.envID, in.Body.Revision()); err != nil {
		return nil, err
	}
	now := time.Now()
	out := make([]decision.CheckResult, len(in.Body.Checks))
	var allowed int64
	decision.DecideAll(e, in.Body.Checks, out)
	pol := h.policy(ctx, ref) // once for the call, not once a check
	for i := range in.Body.Checks {
		h.record(ctx, ref, &pol, &in.Body.Checks[i], &out[i], now)
		allowed += b2i(out[i].Allow)
	}
	decision.TraceChecks(ctx, now, len(out), int(allowed))
	h.checked(ctx, ref, &pol, allowed, int64(len(out)))
	return ok(ctx, out), nil
}

type userPermissionsIn struct {
	EnvQuery
	Body decision.UserPermissionsRequest
}

func (h *handlers) userPermissions(ctx context.Context, in *userPermissionsIn) (*Out[[]decision.TenantPermissions], error) {
	_, e, err := h.engineOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	out, err := decision.UserPermissions(e, &in.Body)
	if err != nil {
		return nil, err
	}
	return ok(ctx, out), nil
}

// checkUserDoc documents decision.CheckUser: a key or {key, attributes}.
type checkUserDoc struct{}

type checkUserObject struct {
	Key        string         `json:"key" minLength:"1" doc:"User key."`
	Attributes map[string]any `json:"attributes,omitempty" doc:"Attributes for attribute rules; they replace the user's stored attributes of the same name for this check."`
}

func (checkUserDoc) Schema(r huma.Registry) *huma.Schema {
	one := 1
	return &huma.Schema{Description: "The user: its key, or {key, attributes} to pass attributes for attribute rules.",
		OneOf: []*huma.Schema{{Type: huma.TypeString, MinLength: &one, Description: "User key."},
			r.Schema(reflect.TypeOf(checkUserObject{}), true, "CheckUserObject")}}
}

// LookupPageQuery pages a lookup's keys (they come sorted).
type LookupPageQuery struct {
	Page    int `query:"page" default:"1" minimum:"1" maximum:"1000000" doc:"Page number, from 1."`
	PerPage int `query:"per_page" default:"100" minimum:"1" maximum:"1000" doc:"Keys per page (max 1,000)."`
}

// keysPage answers one page of sorted keys.
func keysPage(ctx context.Context, keys []string, q LookupPageQuery) *ListOut[string] {
	total := len(keys)
	from := min((q.Page-1)*q.PerPage, total)
	to := min(from+q.PerPage, total)
	page := gatehouse.Page[string]{Items: keys[from:to], Total: total}
	return list(ctx, page, gatehouse.PageRequest{Page: q.Page, PerPage: q.PerPage}, func(s *string) string { return *s })
}

// ResourcesLookup asks which instances of a type a user may act on.
type ResourcesLookup struct {
	User     decision.CheckUser `json:"user" doc:"User key, or {key, attributes}."`
	Action   string             `json:"action" minLength:"1"`
	Resource struct {
		Type   string `json:"type" minLength:"1" doc:"Resource type key."`
		Tenant string `json:"tenant,omitempty" doc:"Only instances of this tenant; every tenant when omitted."`
	} `json:"resource"`
	Context map[string]any `json:"context,omitempty" doc:"Request context for attribute rules."`
	AtLeast int64          `json:"at_least,omitempty" minimum:"0" doc:"A revision a write answered: answer only once this node has applied it."`
}

type resourcesLookupIn struct {
	EnvQuery
	LookupPageQuery
	Body ResourcesLookup
}

func (h *handlers) allowedResources(ctx context.Context, in *resourcesLookupIn) (*ListOut[string], error) {
	if in.Body.User.Key == "" {
		return nil, gatehouse.FieldError("user", "required_field_missing", "user is required")
	}
	ref, e, err := h.engineOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	if err := h.awaitRevision(ctx, ref.envID, in.Body.AtLeast); err != nil {
		return nil, err
	}
	keys := e.ListResources(&authz.Request{User: in.Body.User.Key, UserAttributes: in.Body.User.Attributes, Action: in.Body.Action,
		Resource: in.Body.Resource.Type, Tenant: in.Body.Resource.Tenant, Context: in.Body.Context})
	return keysPage(ctx, keys, in.LookupPageQuery), nil
}

// UsersLookup asks which users may do an action on an instance.
type UsersLookup struct {
	Action   string                 `json:"action" minLength:"1"`
	Resource decision.CheckResource `json:"resource"`
	Context  map[string]any         `json:"context,omitempty" doc:"Request context for attribute rules."`
	AtLeast  int64                  `json:"at_least,omitempty" minimum:"0" doc:"A revision a write answered: answer only once this node has applied it."`
}

type usersLookupIn struct {
	EnvQuery
	LookupPageQuery
	Body UsersLookup
}

func (h *handlers) allowedUsers(ctx context.Context, in *usersLookupIn) (*ListOut[string], error) {
	ref, e, err := h.engineOf(ctx, in.EnvQuery)
	if err != nil {
		return nil, err
	}
	if err := h.awaitRevision(ctx, ref.envID, in.Body.AtLeast); err != nil {
		return nil, err
	}
	r := in.Body.Resource
	keys := e.ListUsers(&authz.Request{Action: in.Body.Action, Resource: r.Type, Key: r.Key, Tenant: r.Tenant,
		ResourceAttributes: r.Attributes, Context: in.Body.Context})
	return keysPage(ctx, keys, in.LookupPageQuery), nil
}
