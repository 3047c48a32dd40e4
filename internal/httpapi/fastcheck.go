package httpapi

import (
	"bytes"
	"io"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/metrics"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// The check path. POST /v1/allowed and Permit's POST /allowed are most of
// a server's traffic, and through the general middleware (request id,
// access log, API log, idempotency, input check, revision, huma's
// decoding and encoding) a check cost several times its decision. fastCheck
// answers the common check itself, with what those layers would do for
// it: the same gate (key, organization header, rate limit, scope), the
// same answer and headers, counting instead of an API log row (as the
// general path does unless the environment logs checks), the decision log
// per its policy. Any other call, and any check it is not sure of (an
// unusual body, a query string, an Idempotency-Key, a key the gate would
// refuse, an environment that logs checks, at_least), goes to the general
// handlers untouched, before anything was spent.

const (
	fastNone = iota
	fastV1
	fastPermit
)

// fastBodyLimit is the largest body the fast path reads; larger checks
// (attributes, context) go the general way.
const fastBodyLimit = 8 << 10

type fastCheck struct {
	h       *handlers
	next    http.Handler
	maxBody int64 // the smaller of fastBodyLimit and the server's limit
	// measured are the request metrics of the answered checks, by kind,
	// resolved once (the routes' mux patterns, as the general path's).
	measured [fastPermit + 1]*metrics.Fixed
	// traced: requests are traced (Deps.Traced); otherwise the fast path
	// does no tracing work at all.
	traced bool
}

// fastRoutes are the route patterns of the checks, by kind.
var fastRoutes = [fastPermit + 1]string{fastV1: "POST /v1/allowed", fastPermit: "POST /allowed"}

func newFastCheck(h *handlers, next http.Handler) http.Handler {
	limit := int64(fastBodyLimit)
	if h.MaxBodyBytes > 0 {
		limit = min(limit, h.MaxBodyBytes)
	}
	f := &fastCheck{h: h, next: next, maxBody: limit, traced: h.Traced}
	f.measured[fastV1] = h.Metrics.Fixed(fastRoutes[fastV1], http.MethodPost, http.StatusOK)
	f.measured[fastPermit] = h.Metrics.Fixed(fastRoutes[fastPermit], http.MethodPost, http.StatusOK)
	return f
}

type fastBuf struct {
	body []byte
	out  []byte
	tmp  []byte
	expl []byte
	// answered: the answer was written (a panic after it cannot change it).
	answered bool
}

var fastBufs = sync.Pool{New: func() any {
	return &fastBuf{body: make([]byte, 0, 1024), out: make([]byte, 0, 1024), tmp: make([]byte, 0, 256), expl: make([]byte, 0, 256)}
}}

var jsonContentType = []string{"application/json"}

// fastAnswered counts the checks the fast path answered (tests read it).
var fastAnswered atomic.Int64

func (f *fastCheck) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	kind := fastNone
	if r.Method == http.MethodPost && r.URL.RawQuery == "" && r.ContentLength > 0 && r.ContentLength <= f.maxBody {
		switch r.URL.Path {
		case "/v1/allowed":
			kind = fastV1
		case "/allowed":
			kind = fastPermit
		}
	}
	if kind == fastNone {
		f.next.ServeHTTP(w, r)
		return
	}
	buf := fastBufs.Get().(*fastBuf)
	defer fastBufs.Put(buf)
	buf.answered = false
	defer func() {
		// As WithRecover: a panic is logged and answered 500, never a
		// dropped connection.
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			if f.h.Log != nil {
				f.h.Log.Error("panic", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			}
			if !buf.answered { // after the answer, only the log says so
				web.WriteAPIError(w, web.NewAPIError(r.Context(), http.StatusInternalServerError, gatehouse.CodeInternal, "internal error"))
			}
		}
	}()
	f.serve(w, r, kind, buf)
}

// serve answers the check, or hands it to the general handlers (reporting
// false); either way the call is answered when it returns.
func (f *fastCheck) serve(w http.ResponseWriter, r *http.Request, kind int, buf *fastBuf) bool {
	start := time.Now()
	// Read exactly the announced body.
	n := int(r.ContentLength)
	if cap(buf.body) < n {
		buf.body = make([]byte, n)
	}
	body := buf.body[:n]
	if got, err := io.ReadFull(r.Body, body); err != nil {
		// A short body: the general handlers see what arrived and the
		// connection's error. Only what arrived: the rest of the pooled
		// buffer holds an earlier call's body.
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(bytes.Clone(body[:got])), r.Body))
		f.next.ServeHTTP(w, r)
		return false
	}
	fallback := func() bool {
		r.Body = io.NopCloser(bytes.NewReader(bytes.Clone(body)))
		f.next.ServeHTTP(w, r)
		return false
	}
	hdr := r.Header
	if len(hdr["Idempotency-Key"]) > 0 || !jsonBody(hdr) {
		return fallback()
	}
	// The check's strings share the pooled body: what outlives the call
	// (the decision log's entry, a trace's attributes) takes copies.
	var in fastCheckIn
	if !parseFastCheck(unsafeString(body), &in) {
		return fallback()
	}
	if kind == fastPermit && in.key == "*" {
		return fallback() // Permit's "any instance": the general path reads it
	}
	authorization := headerValue(hdr, "Authorization")
	orgs := [2]string{headerValue(hdr, OrgHeader), headerValue(hdr, OrgHeaderAlias)}
	token, found := web.Bearer(authorization)
	if !found {
		return fallback()
	}
	ctx := r.Context()
	g := f.h.gate
	p, err := g.Keys.Verify(ctx, token)
	if err != nil || p.OrgDeleted || p.EnvironmentID == "" || !p.Scopes.Has(gatehouse.ScopeCheckAccess) ||
		!orgHeaderMatches(orgs[0], p) || !orgHeaderMatches(orgs[1], p) {
		// The gate takes this verification as its own (a refused key is
		// not verified twice).
		r = r.WithContext(web.WithVerified(ctx, token, p, err))
		return fallback()
	}
	var policy decision.Policy // the decision log's (read once a check)
	if f.h.Decisions != nil {
		if policy = f.h.Decisions.Policy(ctx, p.EnvironmentID); policy.APILog {
			return fallback() // the environment logs its checks: the API log's way
		}
	}
	e, err := f.h.Facts.Engines.Get(ctx, p.EnvironmentID)
	if err != nil {
		return fallback()
	}

	// From here the call is spent from the rate limit: it is answered here,
	// or, refused, by the general handlers with this refusal.
	wh := w.Header()
	call := web.Call{Authorization: authorization, OrgHeaders: orgs, RemoteAddr: r.RemoteAddr, Scope: gatehouse.ScopeCheckAccess, Check: true,
		Verified: p} // verified above: the gate does not verify it again
	p2, ref := g.Admit(ctx, wh, call)
	if ref != nil {
		r = r.WithContext(web.WithRefused(ctx, p2, ref))
		return fallback()
	}
	p = p2

	ids := web.CallerRequestIDValues(hdr)
	id := ids[0]
	req := authz.Request{User: in.user, Action: in.action, Resource: in.typ, Key: in.key, Tenant: in.tenant}
	var decided time.Time
	if f.traced {
		decided = time.Now()
	}
	d := e.Decide(&req)
	var path []authz.Step
	if d.Allow && d.Via != authz.ViaTenantRole {
		d, path = e.Explain(&req)
	}
	// The resource as the explanation names it.
	res := append(buf.tmp[:0], in.typ...)
	if in.key != "" && d.Via != authz.ViaTenantRole {
		res = append(append(res, ':'), in.key...)
	}
	buf.tmp = res
	resName := unsafeString(res)

	out := buf.out[:0]
	if kind == fastV1 {
		out = appendV1Answer(out, &buf.expl, &d, &in, resName, path, id, start)
	} else {
		out = appendPermitAnswer(out, &buf.expl, &d, &in, resName, id)
	}
	buf.out = out
	wh["Content-Type"] = jsonContentType
	wh["X-Request-Id"] = ids
	web.SetNoFraming(wh)
	buf.answered = true
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
	fastAnswered.Add(1)

	if p.Checks != nil {
		p.Checks.Add(d.Allow)
	}
	if policy.Sample() {
		f.record(p, &in, &d, id, start)
	}
	f.measured[kind].Observe(time.Since(start))
	if f.traced {
		decision.TraceCheck(ctx, decided, d.Allow, strings.Clone(in.action), strings.Clone(in.typ))
		metrics.NoteRoute(w, fastRoutes[kind])
	}
	if log := f.h.Log; log != nil && log.Enabled(ctx, -4) { // slog.LevelDebug, as WithAccessLog
		log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", http.StatusOK,
			"duration", time.Since(start), "request_id", id)
	}
	return true
}

// record hands the decision, which the environment's policy sampled, to
// the decision log. The entry outlives the call: it keeps copies of the
// body's strings (one allocation for all).
func (f *fastCheck) record(p *auth.Principal, in *fastCheckIn, d *authz.Decision, id string, at time.Time) {
	all := strings.Join([]string{in.user, in.action, in.typ, in.key, d.Tenant}, "")
	cut := func(s string) string {
		v := all[:len(s)]
		all = all[len(s):]
		return v
	}
	f.h.Decisions.Record(decision.Entry{OrganizationID: p.OrgID, ProjectID: p.ProjectID, EnvironmentID: p.EnvironmentID, Time: at,
		Source: decision.SourceAPI, RequestID: id, KeyID: p.KeyID,
		User: cut(in.user), Action: cut(in.action), ResourceType: cut(in.typ), ResourceKey: cut(in.key), Tenant: cut(d.Tenant),
		Allow: d.Allow, Reason: d.Reason.String(), Role: d.Role})
}

// appendV1Answer writes v1's answer: {status, data: CheckResult, meta}.
func appendV1Answer(b []byte, scratch *[]byte, d *authz.Decision, in *fastCheckIn, res string, path []authz.Step, id string, now time.Time) []byte {
	b = append(b, `{"status":"success","data":{"allow":`...)
	b = appendBool(b, d.Allow)
	b = append(b, `,"reason":`...)
	b = appendJSONText(b, d.Reason.String())
	if v := d.Via.String(); v != "" {
		b = append(b, `,"via":`...)
		b = appendJSONText(b, v)
	}
	if d.Role != "" {
		b = append(b, `,"role":`...)
		b = appendJSONText(b, d.Role)
	}
	if d.Set != "" {
		b = append(b, `,"resource_set":`...)
		b = appendJSONText(b, d.Set)
	}
	b = append(b, `,"tenant":`...)
	b = appendJSONText(b, d.Tenant)
	b = append(b, `,"explanation":`...)
	b = appendExplanation(b, scratch, d, in, res)
	switch {
	case d.Allow && d.Via == authz.ViaTenantRole:
		b = append(b, `,"path":[{"kind":`...)
		b = appendJSONText(b, authz.StepTenantRole)
		b = append(b, `,"subject":"user:`...)
		b = appendJSONInner(b, in.user)
		b = append(b, `","relation":`...)
		b = appendJSONText(b, d.Role)
		b = append(b, `,"object":"tenant:`...)
		b = appendJSONInner(b, d.Tenant)
		b = append(b, `"}]`...)
	case len(path) > 0:
		b = append(b, `,"path":[`...)
		for i, s := range path {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"kind":`...)
			b = appendJSONText(b, s.Kind)
			for _, f := range [...]struct{ name, v string }{{"subject", s.Subject}, {"relation", s.Relation}, {"object", s.Object}, {"rule", s.Rule}} {
				if f.v != "" {
					b = append(append(append(b, ",\""...), f.name...), "\":"...)
					b = appendJSONText(b, f.v)
				}
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `},"meta":{"request_id":`...)
	b = appendJSONText(b, id)
	b = append(b, `,"timestamp":"`...)
	b = now.UTC().Truncate(time.Millisecond).AppendFormat(b, time.RFC3339Nano)
	return append(b, "\"}}\n"...)
}

// appendPermitAnswer writes Permit's answer: {allow, result, query, debug}.
func appendPermitAnswer(b []byte, scratch *[]byte, d *authz.Decision, in *fastCheckIn, res, id string) []byte {
	b = append(b, `{"allow":`...)
	b = appendBool(b, d.Allow)
	b = append(b, `,"result":`...)
	b = appendBool(b, d.Allow)
	b = append(b, `,"query":{"user":{"key":`...)
	b = appendJSONText(b, in.user)
	b = append(b, `},"action":`...)
	b = appendJSONText(b, in.action)
	b = append(b, `,"resource":{"type":`...)
	b = appendJSONText(b, in.typ)
	if in.key != "" {
		b = append(b, `,"key":`...)
		b = appendJSONText(b, in.key)
	}
	if d.Tenant != "" {
		b = append(b, `,"tenant":`...)
		b = appendJSONText(b, d.Tenant)
	}
	b = append(b, `}},"debug":{"reason":`...)
	b = appendJSONText(b, d.Reason.String())
	if d.Role != "" {
		b = append(b, `,"role":`...)
		b = appendJSONText(b, d.Role)
	}
	b = append(b, `,"tenant":`...)
	b = appendJSONText(b, d.Tenant)
	b = append(b, `,"explanation":`...)
	b = appendExplanation(b, scratch, d, in, res)
	return append(b, "}}\n"...)
}

// appendExplanation writes the decision's sentence as a JSON string; the
// sentence is built in scratch first.
func appendExplanation(b []byte, scratch *[]byte, d *authz.Decision, in *fastCheckIn, res string) []byte {
	*scratch = d.AppendExplain((*scratch)[:0], in.user, in.action, res, d.Tenant)
	return appendJSONText(b, unsafeString(*scratch))
}

// appendJSONInner appends v escaped as inside a JSON string, without the
// quotes.
func appendJSONInner(b []byte, v string) []byte {
	at := len(b)
	b = appendJSONText(b, v)
	copy(b[at:], b[at+1:len(b)-1])
	return b[:len(b)-2]
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

// jsonBody reports whether the request says its body is JSON.
func jsonBody(h http.Header) bool {
	ct := headerValue(h, "Content-Type")
	return ct == "application/json" || strings.HasPrefix(ct, "application/json;")
}

// headerValue is h.Get for a canonical name, without canonicalizing.
func headerValue(h http.Header, name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// orgHeaderMatches reports whether an organization header's value v, when
// sent, names p's organization (the gate's rule).
func orgHeaderMatches(v string, p *auth.Principal) bool {
	return v == "" || v == p.OrgID
}
