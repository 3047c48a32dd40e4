// Package permit speaks Permit.io's wire protocol, so that Permit's official
// SDKs work unchanged against Gatehouse: the decision point's endpoints
// (POST /allowed, /allowed/bulk, /allowed/all-tenants, /user-permissions)
// answered from an authz engine, and Permit's error body. The server's
// Permit API (internal/permit/v2) and the standalone PDP (internal/pdp)
// both use it. The contract is what Permit's SDKs send and expect
// (test/permit runs them against the server).
package permit

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gatehouse-dev/gatehouse/internal/dberr"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

// Error is Permit's error body (its OpenAPI's ErrorDetails). Validation
// failures also carry FastAPI's detail list, which Permit answers 422
// with and its Go SDK reads its message from.
type Error struct {
	ID             string       `json:"id"`
	ErrorCode      string       `json:"error_code"`
	Title          string       `json:"title"`
	Message        string       `json:"message"`
	SupportLink    string       `json:"support_link,omitempty"`
	AdditionalInfo any          `json:"additional_info,omitempty"`
	Detail         []FieldIssue `json:"detail,omitempty"`
	status         int
}

// FieldIssue is one entry of a 422 answer's detail list.
type FieldIssue struct {
	Loc  []string `json:"loc"`
	Msg  string   `json:"msg"`
	Type string   `json:"type"`
}

func (e *Error) Error() string { return e.Message }

// Status is the HTTP status the error is answered with.
func (e *Error) Status() int { return e.status }

// Permit's error codes and their titles, by Gatehouse code.
var codes = map[string]struct {
	status      int
	code, title string
}{
	gatehouse.CodeInvalidRequest:       {http.StatusUnprocessableEntity, "INVALID_INPUT", "Invalid input"},
	gatehouse.CodeUnauthorized:         {http.StatusUnauthorized, "UNAUTHORIZED", "Unauthorized"},
	gatehouse.CodeForbidden:            {http.StatusForbidden, "FORBIDDEN_ACCESS", "Forbidden access"},
	gatehouse.CodeNotFound:             {http.StatusNotFound, "NOT_FOUND", "Not found"},
	gatehouse.CodeMethodNotAllowed:     {http.StatusMethodNotAllowed, "INVALID_INPUT", "Method not allowed"},
	gatehouse.CodeConflict:             {http.StatusConflict, "DUPLICATE_ENTITY", "Duplicate entity"},
	gatehouse.CodePayloadTooLarge:      {http.StatusRequestEntityTooLarge, "INVALID_INPUT", "Payload too large"},
	gatehouse.CodeUnsupportedMediaType: {http.StatusUnsupportedMediaType, "INVALID_INPUT", "Unsupported media type"},
	gatehouse.CodeRateLimitExceeded:    {http.StatusTooManyRequests, "RATE_LIMITED", "Too many requests"},
	gatehouse.CodeServiceUnavailable:   {http.StatusServiceUnavailable, "UNEXPECTED_ERROR", "Service unavailable"},
	gatehouse.CodeOrganizationDeleted:  {http.StatusUnauthorized, "UNAUTHORIZED", "Organization deleted"},
	gatehouse.CodeWrongRegion:          {http.StatusMisdirectedRequest, "WRONG_REGION", "Wrong region"},
}

// NewError is Permit's error for a Gatehouse error code.
func NewError(code, message string) *Error {
	c, ok := codes[code]
	if !ok {
		c = codes[gatehouse.CodeServiceUnavailable]
		c.status, c.title = http.StatusInternalServerError, "Unexpected error"
	}
	e := &Error{ID: newID(), ErrorCode: c.code, Title: c.title, Message: message, status: c.status,
		SupportLink: "https://github.com/gatehouse-dev/gatehouse/blob/main/docs/permit-migration.md"}
	if c.status == http.StatusUnprocessableEntity {
		e.Detail = []FieldIssue{{Loc: []string{"body"}, Msg: message, Type: "value_error"}}
	}
	return e
}

// CodedError is an error with one of Permit's own codes.
func CodedError(status int, code, title, message string) *Error {
	return &Error{ID: newID(), ErrorCode: code, Title: title, Message: message, status: status}
}

// FromError converts any error to Permit's: a *gatehouse.Error keeps its
// code, message and field; anything else is an unexpected error whose
// message says no more than its id.
func FromError(err error) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	var ge *gatehouse.Error
	if !errors.As(err, &ge) && dberr.Unavailable(err) {
		return NewError(gatehouse.CodeServiceUnavailable, dberr.Message)
	}
	if ge == nil && dberr.Aborted(err) {
		return NewError(gatehouse.CodeServiceUnavailable, dberr.AbortedMessage)
	}
	if ge == nil {
		e := NewError(gatehouse.CodeInternal, "")
		e.Message = "internal error (id " + e.ID + ")"
		return e
	}
	e := NewError(ge.Code, ge.Message)
	if len(ge.Details) > 0 {
		e.AdditionalInfo = ge.Details
		if ge.Details["reason"] == "in_use" { // not a duplicate: something refers to it
			e.ErrorCode, e.Title = "ENTITY_IN_USE", "Entity in use"
		}
		f, hasField := ge.Details["field"].(string)
		where, hasWhere := ge.Details["location"].(string) // path, query or body: an input check's
		if (hasField || hasWhere) && e.Detail != nil {
			reason, _ := ge.Details["reason"].(string)
			if reason == "" {
				reason = "value_error"
			}
			loc := []string{"body"}
			if hasWhere {
				loc = []string{where}
			}
			if hasField && f != "" {
				loc = append(loc, f)
			}
			e.Detail = []FieldIssue{{Loc: loc, Msg: ge.Message, Type: reason}}
		}
	}
	return e
}

// WriteError answers err in Permit's shape.
func WriteError(w http.ResponseWriter, err error) {
	e := FromError(err)
	if e.status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", dberr.RetryAfter)
	}
	WriteJSON(w, e.status, e)
}

// WriteJSON answers v with status as application/json (Permit's Go SDK
// refuses any other content type).
func WriteJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		_ = json.NewEncoder(&buf).Encode(NewError(gatehouse.CodeInternal, "cannot encode the answer"))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Decode reads a JSON body into v (at most limit bytes; unknown fields are
// ignored, as Permit does). An empty body is an error unless allowEmpty.
func Decode(r *http.Request, limit int64, v any, allowEmpty bool) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return gatehouse.Errorf(gatehouse.CodeInvalidRequest, "cannot read the body: %v", err)
	}
	if int64(len(body)) > limit {
		return gatehouse.Errorf(gatehouse.CodePayloadTooLarge, "the body is larger than %d bytes", limit)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if allowEmpty {
			return nil
		}
		return gatehouse.Errorf(gatehouse.CodeInvalidRequest, "a JSON body is required")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return gatehouse.FieldError(te.Field, "type_error", "%s must be %s, not %s", te.Field, te.Type, te.Value)
		}
		return gatehouse.Errorf(gatehouse.CodeInvalidRequest, "the body is not valid JSON: %v", err)
	}
	return nil
}

// ---- the decision point

// User is a check's user: Permit's SDKs send an object; a bare key works too.
type User struct {
	Key        string         `json:"key"`
	FirstName  string         `json:"first_name,omitempty"`
	LastName   string         `json:"last_name,omitempty"`
	Email      string         `json:"email,omitempty"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

// UnmarshalJSON accepts "key" or {"key", ...} (with camelCase names too).
func (u *User) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*u = User{Key: s}
		return nil
	}
	var o struct {
		Key        string         `json:"key"`
		FirstName  string         `json:"first_name"`
		LastName   string         `json:"last_name"`
		FirstCamel string         `json:"firstName"`
		LastCamel  string         `json:"lastName"`
		Email      string         `json:"email"`
		Attributes map[string]any `json:"attributes"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return fmt.Errorf("user must be a key or an object with a key")
	}
	*u = User{Key: o.Key, FirstName: first(o.FirstName, o.FirstCamel), LastName: first(o.LastName, o.LastCamel), Email: o.Email, Attributes: o.Attributes}
	return nil
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Resource is a check's resource: {"type", "key", "tenant", ...} or
// "type" / "type:key"; an "id" stands for the key when there is none, and
// the key "*" means any resource of the type.
type Resource struct {
	Type       string         `json:"type"`
	Key        string         `json:"key,omitempty"`
	Tenant     string         `json:"tenant,omitempty"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

// UnmarshalJSON accepts both forms.
func (r *Resource) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		typ, key, _ := strings.Cut(s, ":")
		*r = Resource{Type: typ, Key: anyKey(key)}
		return nil
	}
	var p struct {
		Type       string         `json:"type"`
		Key        string         `json:"key"`
		ID         string         `json:"id"`
		Tenant     string         `json:"tenant"`
		Attributes map[string]any `json:"attributes"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("resource must be \"type[:key]\" or an object with a type")
	}
	// Permit's Go SDK's FilterObjects sends the instance as id, not key.
	*r = Resource{Type: p.Type, Key: anyKey(first(p.Key, p.ID)), Tenant: p.Tenant, Attributes: p.Attributes}
	return nil
}

// anyKey is a check's resource key, with Permit's "*" (any resource of the
// type: "document:*") as none.
func anyKey(key string) string {
	if key == "*" {
		return ""
	}
	return key
}

// Check is the body of POST /allowed.
type Check struct {
	User     User           `json:"user"`
	Action   string         `json:"action"`
	Resource Resource       `json:"resource"`
	Context  map[string]any `json:"context,omitempty"`
}

// Request is the check in Gatehouse's terms.
func (c *Check) Request() decision.CheckRequest {
	return decision.CheckRequest{User: decision.CheckUser{Key: c.User.Key, Attributes: c.User.Attributes}, Action: c.Action, Context: c.Context,
		Resource: decision.CheckResource{Type: c.Resource.Type, Key: c.Resource.Key, Tenant: c.Resource.Tenant, Attributes: c.Resource.Attributes}}
}

// Answer is the body of a check's answer: allow, and result, the same
// boolean for older SDKs (Permit's Go SDK needs it to be a boolean).
type Answer struct {
	Allow  bool  `json:"allow"`
	Result bool  `json:"result"`
	Query  Query `json:"query"`
	Debug  Debug `json:"debug"`
}

// Query echoes what was decided (the tenant filled in).
type Query struct {
	User     User     `json:"user"`
	Action   string   `json:"action"`
	Resource Resource `json:"resource"`
}

// Debug says why.
type Debug struct {
	Reason      string `json:"reason"`
	Role        string `json:"role,omitempty"`
	Tenant      string `json:"tenant"`
	Explanation string `json:"explanation"`
}

// Decide answers a Permit check from e.
func Decide(e *authz.Engine, c *Check) (Answer, decision.CheckRequest, decision.CheckResult, error) {
	req := c.Request()
	if err := req.Validate(""); err != nil {
		return Answer{}, req, decision.CheckResult{}, err
	}
	res := decision.Decide(e, &req)
	return answerOf(c, &req, &res), req, res, nil
}

// answerOf is Permit's answer to c, asked as req and decided res.
func answerOf(c *Check, req *decision.CheckRequest, res *decision.CheckResult) Answer {
	return Answer{Allow: res.Allow, Result: res.Allow,
		Query: Query{User: c.User, Action: c.Action, Resource: Resource{Type: req.Resource.Type, Key: req.Resource.Key, Tenant: res.Tenant}},
		Debug: Debug{Reason: res.Reason, Role: res.Role, Tenant: res.Tenant, Explanation: res.Explanation},
	}
}

// BulkChecks is the body of POST /allowed/bulk: Permit's SDKs send a JSON
// array; {"checks": [...]} works too.
type BulkChecks []Check

// UnmarshalJSON accepts both forms.
func (b *BulkChecks) UnmarshalJSON(data []byte) error {
	var list []Check
	if err := json.Unmarshal(data, &list); err == nil {
		*b = list
		return nil
	}
	var wrapped struct {
		Checks []Check `json:"checks"`
	}
	if err := json.Unmarshal(data, &wrapped); err != nil {
		return err
	}
	*b = wrapped.Checks
	return nil
}

// BulkAnswer is the answer of POST /allowed/bulk, in request order.
type BulkAnswer struct {
	Allow []Answer `json:"allow"`
}

// TenantRef names a tenant in answers.
type TenantRef struct {
	Key        string         `json:"key"`
	Attributes map[string]any `json:"attributes"`
}

// PermissionsEntry is one scope of a user-permissions answer: a tenant,
// or a resource instance (Resource set).
type PermissionsEntry struct {
	Tenant      TenantRef    `json:"tenant"`
	Resource    *ResourceRef `json:"resource,omitempty"`
	Permissions []string     `json:"permissions"`
	Roles       []string     `json:"roles"`
}

// ResourceRef names a resource instance in answers.
type ResourceRef struct {
	Type string `json:"type"`
	Key  string `json:"key"`
}

// PermissionsQuery is the body of POST /user-permissions.
type PermissionsQuery struct {
	User          User           `json:"user"`
	Tenants       []string       `json:"tenants,omitempty"`
	Resources     []string       `json:"resources,omitempty"`
	ResourceTypes []string       `json:"resource_types,omitempty"`
	Context       map[string]any `json:"context,omitempty"`
}

// UserPermissions answers POST /user-permissions: a bare object keyed
// "__tenant:<tenant key>" for the user's tenant roles and "<type>:<key>"
// for the instances on which the user holds a role (assigned or derived),
// with the permissions those roles grant there. Resource filters keep the
// permissions on those resource types (and those instances).
func UserPermissions(e *authz.Engine, q *PermissionsQuery) (map[string]PermissionsEntry, error) {
	if q.User.Key == "" {
		return nil, gatehouse.FieldError("user", "required_field_missing", "user.key is required")
	}
	types := map[string]bool{}
	tenantOnly := false
	for _, t := range q.ResourceTypes {
		if t != "__tenant" {
			types[t] = true
		} else {
			tenantOnly = true
		}
	}
	instances := map[string]bool{}
	for _, r := range q.Resources {
		typ, key, _ := strings.Cut(r, ":")
		if typ == "__tenant" {
			tenantOnly = true
			continue
		}
		types[typ] = true
		if key != "" && key != "*" {
			instances[r] = true
		}
	}
	out := map[string]PermissionsEntry{}
	if !tenantOnly || len(types) > 0 {
		instancePermissions(e, q, types, instances, out)
	}
	for _, tp := range e.Permissions(q.User.Key, q.Tenants) {
		perms := []string{}
		for _, p := range tp.Permissions {
			if typ, _, _ := strings.Cut(p, ":"); len(types) == 0 || types[typ] {
				perms = append(perms, p)
			}
		}
		t, _ := e.Tenant(tp.Tenant)
		attrs := t.Attributes
		if attrs == nil {
			attrs = map[string]any{}
		}
		roles := tp.Roles
		if roles == nil {
			roles = []string{}
		}
		out["__tenant:"+tp.Tenant] = PermissionsEntry{Tenant: TenantRef{Key: tp.Tenant, Attributes: attrs}, Permissions: perms, Roles: roles}
	}
	return out, nil
}

// instancePermissions adds to out the instances (of types, or of any type
// when empty; only those of instances when given) on which the user holds
// a role, assigned or derived, with the permissions those roles grant.
func instancePermissions(e *authz.Engine, q *PermissionsQuery, types, instances map[string]bool, out map[string]PermissionsEntry) {
	var typeList []string
	for t := range types {
		typeList = append(typeList, t)
	}
	for _, ip := range e.InstancePermissions(q.User.Key, q.Tenants, typeList) {
		if len(instances) > 0 && !instances[ip.Resource] {
			continue
		}
		typ, key, _ := strings.Cut(ip.Resource, ":")
		t, _ := e.Tenant(ip.Tenant)
		attrs := t.Attributes
		if attrs == nil {
			attrs = map[string]any{}
		}
		out[ip.Resource] = PermissionsEntry{Tenant: TenantRef{Key: ip.Tenant, Attributes: attrs}, Resource: &ResourceRef{Type: typ, Key: key},
			Permissions: ip.Permissions, Roles: ip.Roles}
	}
}

// AllTenantsAnswer is the answer of POST /allowed/all-tenants.
type AllTenantsAnswer struct {
	AllowedTenants []TenantAllowed `json:"allowed_tenants"`
}

// TenantAllowed is one tenant where a check is allowed.
type TenantAllowed struct {
	Tenant TenantRef `json:"tenant"`
	Allow  bool      `json:"allow"`
	Result bool      `json:"result"`
}

// AllTenants answers a check in every tenant, under every rule (tenant
// roles, roles on instances, attribute rules), listing those where it is
// allowed; a check of an instance is allowed at most in its tenant.
func AllTenants(e *authz.Engine, c *Check) (AllTenantsAnswer, error) {
	req := c.Request()
	req.Resource.Tenant = authz.DefaultTenant // validated below, replaced per tenant
	if err := req.Validate(""); err != nil {
		return AllTenantsAnswer{}, err
	}
	out := AllTenantsAnswer{AllowedTenants: []TenantAllowed{}}
	for _, tk := range e.TenantKeys() {
		r := req.Request()
		r.Tenant = tk
		if d := e.Decide(&r); d.Allow && d.Tenant == tk {
			t, _ := e.Tenant(tk)
			attrs := t.Attributes
			if attrs == nil {
				attrs = map[string]any{}
			}
			out.AllowedTenants = append(out.AllowedTenants, TenantAllowed{Tenant: TenantRef{Key: tk, Attributes: attrs}, Allow: true, Result: true})
		}
	}
	return out, nil
}

// MaxBulk is the most checks one bulk call may carry.
const MaxBulk = decision.MaxBulk

// Recorder receives every decision made (the decision log), a call's at
// once (res[i] answers reqs[i]); nil: none.
type Recorder func(r *http.Request, reqs []decision.CheckRequest, res []decision.CheckResult)

// Admit authenticates a decision call and returns the engine of its
// caller, and the request to go on with (its context may carry the
// caller); it may set response headers (rate limits) on w.
type Admit func(w http.ResponseWriter, r *http.Request) (*authz.Engine, *http.Request, error)

// PDPRoutes registers Permit's decision endpoints on mux; limit is the
// largest body read.
func PDPRoutes(mux *http.ServeMux, prefix string, limit int64, engine Admit, record Recorder) {
	handle := func(path string, fn func(http.ResponseWriter, *http.Request, *authz.Engine) (any, error)) {
		mux.HandleFunc("POST "+prefix+path, func(w http.ResponseWriter, r *http.Request) {
			e, r, err := engine(w, r)
			if err != nil {
				WriteError(w, err)
				return
			}
			v, err := fn(w, r, e)
			if err != nil {
				WriteError(w, err)
				return
			}
			WriteJSON(w, http.StatusOK, v)
		})
	}
	handle("/allowed", func(w http.ResponseWriter, r *http.Request, e *authz.Engine) (any, error) {
		var c Check
		if err := Decode(r, limit, &c, false); err != nil {
			return nil, err
		}
		start := time.Now()
		a, req, res, err := Decide(e, &c)
		if err == nil {
			decision.TraceCheck(r.Context(), start, res.Allow, req.Action, req.Resource.Type)
		}
		if err == nil && record != nil {
			record(r, []decision.CheckRequest{req}, []decision.CheckResult{res})
		}
		return a, err
	})
	handle("/allowed/bulk", func(w http.ResponseWriter, r *http.Request, e *authz.Engine) (any, error) {
		var b BulkChecks
		if err := Decode(r, limit, &b, false); err != nil {
			return nil, err
		}
		if len(b) > MaxBulk {
			return nil, gatehouse.FieldError("checks", "out_of_range", "send at most %d checks", MaxBulk)
		}
		// Every check is valid or none is decided; then all are decided
		// at once (a few allocations a call, not a few a check).
		reqs := make([]decision.CheckRequest, len(b))
		for i := range b {
			reqs[i] = b[i].Request()
			if err := reqs[i].Validate(""); err != nil {
				return nil, gatehouse.FieldError(fmt.Sprintf("[%d]", i), "invalid", "check %d: %s", i, err.Error())
			}
		}
		out := BulkAnswer{Allow: make([]Answer, len(b))}
		start, allowed := time.Now(), 0
		defer func() { decision.TraceChecks(r.Context(), start, len(b), allowed) }()
		res := make([]decision.CheckResult, len(b))
		decision.DecideAll(e, reqs, res)
		for i := range b {
			out.Allow[i] = answerOf(&b[i], &reqs[i], &res[i])
			if res[i].Allow {
				allowed++
			}
		}
		if record != nil {
			record(r, reqs, res)
		}
		return out, nil
	})
	handle("/allowed/all-tenants", func(w http.ResponseWriter, r *http.Request, e *authz.Engine) (any, error) {
		var c Check
		if err := Decode(r, limit, &c, false); err != nil {
			return nil, err
		}
		return AllTenants(e, &c)
	})
	handle("/user-permissions", func(w http.ResponseWriter, r *http.Request, e *authz.Engine) (any, error) {
		var q PermissionsQuery
		if err := Decode(r, limit, &q, false); err != nil {
			return nil, err
		}
		return UserPermissions(e, &q)
	})
}
