package pdp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/envelope"
	"github.com/gatehouse-dev/gatehouse/internal/jsontext"
	"github.com/gatehouse-dev/gatehouse/internal/permit"
)

// maxBody bounds a check request (a bulk call of 1,000 checks fits).
const maxBody = 1 << 20

// Handler answers the PDP's HTTP API: the check operations of the server's
// v1 API, in the same shapes, and /healthz.
func (p *PDP) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", p.healthz)
	mux.HandleFunc("POST /v1/allowed", p.authed(p.allowed))
	mux.HandleFunc("POST /v1/allowed/bulk", p.authed(p.allowedBulk))
	mux.HandleFunc("POST /v1/user-permissions", p.authed(p.userPermissions))
	mux.HandleFunc("POST /v1/allowed/resources", p.authed(p.allowedResources))
	mux.HandleFunc("POST /v1/allowed/users", p.authed(p.allowedUsers))
	// Permit.io's decision endpoints, for Permit's SDKs (their pdp URL).
	permit.PDPRoutes(mux, "", maxBody, p.permitEngine, func(_ *http.Request, reqs []decision.CheckRequest, res []decision.CheckResult) {
		now, pol := time.Now(), p.policy.Load()
		for i := range reqs {
			p.recordAs(pol, &reqs[i], &res[i], now)
		}
	})
	// Older Permit Go SDKs and Node's proxyFactsViaPdp send the control
	// plane's /v2 calls here: they go on to the server, unchanged.
	mux.Handle("/v2/", p.proxy)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, r, http.StatusNotFound, gatehouse.CodeNotFound, "no such operation on a PDP: it answers POST /v1/allowed, /v1/allowed/bulk, /v1/allowed/resources, /v1/allowed/users, /v1/user-permissions, "+
			"Permit's /allowed, /allowed/bulk, /allowed/all-tenants and /user-permissions, and GET /healthz; /v2/ goes to the server")
	})
	return withRequestID(mux)
}

func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !envelope.ValidRequestID(id) { // the server's rule
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		r.Header.Set("X-Request-Id", id)
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeOK(w http.ResponseWriter, r *http.Request, data any) {
	writeJSON(w, http.StatusOK, envelope.Success(r.Header.Get("X-Request-Id"), data))
}

// writeErr answers an error in the server's shape.
func writeErr(w http.ResponseWriter, r *http.Request, status int, code, msg string, details ...map[string]any) {
	var d map[string]any
	if len(details) > 0 {
		d = details[0]
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse-pdp"`)
	}
	writeJSON(w, status, envelope.Error(r.Header.Get("X-Request-Id"), code, msg, d))
}

// msgRevoked answers callers once the server has revoked the PDP's key.
const msgRevoked = "API key revoked: the server revoked this PDP's key, so the PDP no longer answers checks that present it; start the PDP with a valid key"

// authed admits calls that carry the PDP's own key, while the server has
// not revoked it, and only once a snapshot is being served.
func (p *PDP) authed(next func(http.ResponseWriter, *http.Request, *authz.Engine)) http.HandlerFunc {
	want := []byte("Bearer " + p.cfg.Key)
	return func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			writeErr(w, r, http.StatusUnauthorized, gatehouse.CodeUnauthorized, "send the PDP's API key: Authorization: Bearer <key>")
			return
		}
		if p.refusing.Load() {
			writeErr(w, r, http.StatusUnauthorized, gatehouse.CodeUnauthorized, msgRevoked)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
			writeErr(w, r, http.StatusUnsupportedMediaType, gatehouse.CodeUnsupportedMediaType, "send application/json")
			return
		}
		e := p.engine()
		if e == nil {
			w.Header().Set("Retry-After", "1")
			writeErr(w, r, http.StatusServiceUnavailable, gatehouse.CodeServiceUnavailable, "the PDP has no snapshot yet: it cannot reach the server and has none saved")
			return
		}
		next(w, r, e)
	}
}

// permitEngine admits a Permit decision call: the PDP's own key, a snapshot.
func (p *PDP) permitEngine(_ http.ResponseWriter, r *http.Request) (*authz.Engine, *http.Request, error) {
	got := []byte(r.Header.Get("Authorization"))
	if subtle.ConstantTimeCompare(got, []byte("Bearer "+p.cfg.Key)) != 1 {
		return nil, r, gatehouse.Errorf(gatehouse.CodeUnauthorized, "send the PDP's API key: Authorization: Bearer <key>")
	}
	if p.refusing.Load() {
		return nil, r, gatehouse.Errorf(gatehouse.CodeUnauthorized, "%s", msgRevoked)
	}
	e := p.engine()
	if e == nil {
		return nil, r, gatehouse.Errorf(gatehouse.CodeServiceUnavailable, "the PDP has no snapshot yet: it cannot reach the server and has none saved")
	}
	return e, r, nil
}

// decode reads a JSON body into v, answering the error itself.
func decode(w http.ResponseWriter, r *http.Request, v any) bool { return decodeChecked(w, r, v, nil) }

// decodeChecked reads the body whole into v, as the server does: one JSON
// value and nothing after it, and, when known is given, no field it names
// as unknown (the server's check routes refuse them: a misspelt "tenat"
// must not be decided in the default tenant on a PDP either).
func decodeChecked(w http.ResponseWriter, r *http.Request, v any, known func([]byte) string) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeErr(w, r, http.StatusRequestEntityTooLarge, gatehouse.CodePayloadTooLarge, "the body is larger than 1 MiB")
			return false
		}
		writeErr(w, r, http.StatusBadRequest, gatehouse.CodeInvalidRequest, "the request body could not be read whole: "+err.Error())
		return false
	}
	if reason, at := jsontext.Problem(body); reason != "" {
		// As the server: a NUL character (raw or \u0000) or invalid UTF-8
		// is refused, not decoded (into a replacement character).
		field, msg := jsontext.Describe(body, reason, at)
		writeErr(w, r, http.StatusBadRequest, gatehouse.CodeInvalidRequest, msg,
			map[string]any{"location": "body", "field": field, "reason": reason})
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		writeErr(w, r, http.StatusBadRequest, gatehouse.CodeInvalidRequest, "the body is not valid JSON for this operation: "+err.Error())
		return false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		writeErr(w, r, http.StatusBadRequest, gatehouse.CodeInvalidRequest, "the body is not valid JSON for this operation: more follows its value")
		return false
	}
	if known != nil {
		if f := known(body); f != "" {
			writeErr(w, r, http.StatusBadRequest, gatehouse.CodeInvalidRequest, "invalid parameter "+f+": unexpected property",
				map[string]any{"field": f, "reason": "unknown_field"})
			return false
		}
	}
	return true
}

func invalid(w http.ResponseWriter, r *http.Request, err error) {
	var ge *gatehouse.Error
	if errors.As(err, &ge) {
		writeErr(w, r, http.StatusBadRequest, ge.Code, ge.Message, ge.Details)
		return
	}
	writeErr(w, r, http.StatusBadRequest, gatehouse.CodeInvalidRequest, err.Error())
}

func (p *PDP) record(c *decision.CheckRequest, res *decision.CheckResult, at time.Time) {
	p.recordAs(p.policy.Load(), c, res, at)
}

// recordAs is record under pol (a bulk call reads the policy once).
func (p *PDP) recordAs(pol *decision.Policy, c *decision.CheckRequest, res *decision.CheckResult, at time.Time) {
	if !pol.Sample() {
		return
	}
	p.recorder.Record(decision.Entry{OrganizationID: p.claims.OrgID, ProjectID: p.claims.ProjectID, EnvironmentID: p.claims.EnvironmentID,
		Time: at, Source: decision.SourcePDP, User: c.User.Key, Action: c.Action, ResourceType: c.Resource.Type, ResourceKey: c.Resource.Key,
		Tenant: res.Tenant, Allow: res.Allow, Reason: res.Reason, Role: res.Role})
}

func (p *PDP) allowed(w http.ResponseWriter, r *http.Request, e *authz.Engine) {
	var c decision.CheckRequest
	if !decodeChecked(w, r, &c, func(b []byte) string { return decision.UnknownField(b, false) }) {
		return
	}
	if err := c.Validate(""); err != nil {
		invalid(w, r, err)
		return
	}
	if e = p.awaitRevision(w, r, e, c.AtLeast); e == nil {
		return
	}
	res := decision.Decide(e, &c)
	p.record(&c, &res, time.Now())
	writeOK(w, r, res)
}

func (p *PDP) allowedBulk(w http.ResponseWriter, r *http.Request, e *authz.Engine) {
	var b decision.BulkRequest
	if !decodeChecked(w, r, &b, func(b []byte) string { return decision.UnknownField(b, true) }) {
		return
	}
	if err := b.Validate(); err != nil {
		invalid(w, r, err)
		return
	}
	if e = p.awaitRevision(w, r, e, b.Revision()); e == nil {
		return
	}
	now := time.Now()
	out := make([]decision.CheckResult, len(b.Checks))
	decision.DecideAll(e, b.Checks, out) // as the server's bulk: a few allocations a call, not a few a check
	pol := p.policy.Load()
	for i := range b.Checks {
		p.recordAs(pol, &b.Checks[i], &out[i], now)
	}
	writeOK(w, r, out)
}

func (p *PDP) userPermissions(w http.ResponseWriter, r *http.Request, e *authz.Engine) {
	var q decision.UserPermissionsRequest
	if !decode(w, r, &q) {
		return
	}
	if q.User == "" {
		invalid(w, r, gatehouse.FieldError("user", "required_field_missing", "user is required"))
		return
	}
	out, err := decision.UserPermissions(e, &q)
	if err != nil {
		invalid(w, r, err)
		return
	}
	writeOK(w, r, out)
}

// healthz answers 200 while a snapshot is served (whatever the sync state,
// which the body reports) and 503 before there is one and once the PDP
// refuses checks because the server revoked its key (state "revoked").
func (p *PDP) healthz(w http.ResponseWriter, r *http.Request) {
	st := p.Status()
	status, word := http.StatusOK, "ok"
	if !st.Serving {
		status, word = http.StatusServiceUnavailable, "unavailable"
	}
	writeJSON(w, status, map[string]any{"status": word, "sync": st})
}

// revisionWait bounds how long a call with at_least waits for the PDP to
// apply that revision.
const revisionWait = 5 * time.Second

// awaitRevision returns the engine to answer from once the PDP has applied
// the change-feed position atLeast (0: e at once), or answers 409 itself
// and returns nil.
func (p *PDP) awaitRevision(w http.ResponseWriter, r *http.Request, e *authz.Engine, atLeast int64) *authz.Engine {
	if atLeast <= 0 {
		return e
	}
	lc := p.lc.Load()
	if lc == nil {
		return e
	}
	ctx, cancel := context.WithTimeout(r.Context(), revisionWait)
	defer cancel()
	if err := lc.WaitFor(ctx, atLeast); err != nil {
		writeErr(w, r, http.StatusConflict, gatehouse.CodeConflict,
			fmt.Sprintf("this PDP has applied the change feed up to revision %d, not yet at_least %d: retry, and pass a revision this environment's writes answered", lc.Seq(), atLeast),
			map[string]any{"field": "at_least", "reason": "revision_not_reached", "revision": lc.Seq(), "at_least": atLeast})
		return nil
	}
	return lc.Engine()
}

// lookup is the body of the lookups: POST /v1/allowed/resources names a
// user and a type, /v1/allowed/users an action on a resource.
type lookup struct {
	User     decision.CheckUser     `json:"user"`
	Action   string                 `json:"action"`
	Resource decision.CheckResource `json:"resource"`
	Context  map[string]any         `json:"context,omitempty"`
	AtLeast  int64                  `json:"at_least,omitempty"`
}

// keysPage answers one page of sorted keys as the server does (page,
// per_page up to 1,000, default 100).
func keysPage(w http.ResponseWriter, r *http.Request, keys []string) {
	q := r.URL.Query()
	page, perPage := 1, 100
	var err error
	if v := q.Get("page"); v != "" {
		if page, err = strconv.Atoi(v); err != nil || page < 1 || page > 1_000_000 {
			invalid(w, r, gatehouse.FieldError("page", "out_of_range", "page is a number from 1"))
			return
		}
	}
	if v := q.Get("per_page"); v != "" {
		if perPage, err = strconv.Atoi(v); err != nil || perPage < 1 || perPage > 1000 {
			invalid(w, r, gatehouse.FieldError("per_page", "out_of_range", "per_page is a number from 1 to 1000"))
			return
		}
	}
	total := len(keys)
	from := min((page-1)*perPage, total)
	to := min(from+perPage, total)
	pages := (total + perPage - 1) / perPage
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "data": keys[from:to], "meta": map[string]any{
		"request_id": r.Header.Get("X-Request-Id"), "timestamp": time.Now().UTC().Truncate(time.Millisecond),
		"page": page, "per_page": perPage, "total_items": total, "total_pages": pages, "has_next": page < pages, "has_previous": page > 1 && total > 0}})
}

func (p *PDP) allowedResources(w http.ResponseWriter, r *http.Request, e *authz.Engine) {
	var l lookup
	if !decode(w, r, &l) {
		return
	}
	switch {
	case l.User.Key == "":
		invalid(w, r, gatehouse.FieldError("user", "required_field_missing", "user is required"))
		return
	case l.Action == "" || l.Resource.Type == "":
		invalid(w, r, gatehouse.FieldError("action", "required_field_missing", "action and resource.type are required"))
		return
	}
	if e = p.awaitRevision(w, r, e, l.AtLeast); e == nil {
		return
	}
	keysPage(w, r, e.ListResources(&authz.Request{User: l.User.Key, UserAttributes: l.User.Attributes, Action: l.Action,
		Resource: l.Resource.Type, Tenant: l.Resource.Tenant, Context: l.Context}))
}

func (p *PDP) allowedUsers(w http.ResponseWriter, r *http.Request, e *authz.Engine) {
	var l lookup
	if !decode(w, r, &l) {
		return
	}
	if l.Action == "" || l.Resource.Type == "" {
		invalid(w, r, gatehouse.FieldError("action", "required_field_missing", "action and resource.type are required"))
		return
	}
	if e = p.awaitRevision(w, r, e, l.AtLeast); e == nil {
		return
	}
	keysPage(w, r, e.ListUsers(&authz.Request{Action: l.Action, Resource: l.Resource.Type, Key: l.Resource.Key,
		Tenant: l.Resource.Tenant, ResourceAttributes: l.Resource.Attributes, Context: l.Context}))
}
