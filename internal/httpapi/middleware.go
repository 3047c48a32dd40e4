package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apilog"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

type requestIDKey struct{}

// RequestID returns the id of the request in ctx.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// OrgHeader names the organization a request is meant for (seed 000's
// "PERSCOM ID"); when present it must match the key's organization.
const OrgHeader = "X-Organization-Id"

// OrgHeaderAlias is the same header under the name seed 000's examples
// send ("PERSCOM ID"): requests written for it work unchanged.
const OrgHeaderAlias = "X-Perscom-Id"

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validRequestID accepts a caller's id when it is short and printable.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// withRequestID gives every request an id (the caller's X-Request-Id when
// sane) and echoes it in the response.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

var (
	frameDeny = []string{"DENY"}
	noSniff   = []string{"nosniff"}
	frameNone = []string{"frame-ancestors 'none'"}
)

// withNoFraming forbids framing every answer (clickjacking): pages such as
// /docs and /v2/redoc carry frame-ancestors in their own policy; every
// other answer gets a policy of just that, and X-Frame-Options for old
// browsers.
func withNoFraming(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// Shared, never modified slices: no allocation per request (a
		// handler that sets its own policy replaces the slice).
		h["X-Frame-Options"], h["X-Content-Type-Options"], h["Content-Security-Policy"] = frameDeny, noSniff, frameNone
		next.ServeHTTP(w, r)
	})
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// withRecover answers a panic with INTERNAL_ERROR and logs it.
func withRecover(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("panic", "request_id", RequestID(r.Context()), "panic", v, "stack", string(debug.Stack()))
				if sw.status == 0 {
					writeError(w, newAPIError(r.Context(), http.StatusInternalServerError, "internal error (request id "+RequestID(r.Context())+")"))
				}
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// withAccessLog logs one line per request.
func withAccessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
			"duration", time.Since(start), "request_id", RequestID(r.Context()))
	})
}

func writeError(w http.ResponseWriter, e *APIError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(e)
}

// envelopeNotFound registers the catch-all that answers unknown routes (404)
// and wrong methods (405, with Allow) in the error envelope. It runs only
// when no other pattern matched, so matched requests are routed once.
func envelopeNotFound(mux *http.ServeMux) {
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		var allowed []string
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			if m == r.Method {
				continue
			}
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "/" && pattern != "" {
				allowed = append(allowed, m)
			}
		}
		if len(allowed) > 0 {
			allow := strings.Join(allowed, ", ")
			w.Header().Set("Allow", allow)
			writeError(w, newAPIError(r.Context(), http.StatusMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path+"; allowed: "+allow))
			return
		}
		writeError(w, newAPIError(r.Context(), http.StatusNotFound, "no route for "+r.Method+" "+r.URL.Path))
	})
}

// Operation metadata keys.
const (
	metaScope  = "scope"  // gatehouse.Scope required
	metaPublic = "public" // no key needed
	// metaUnlimited: the operation does not spend from the rate limit.
	metaUnlimited = "unlimited"
	// metaSecrets: *apilog.Secrets, the fields that carry secrets.
	metaSecrets = "secrets"
	// metaAllowDeleted: a deleted organization's keys may call it.
	metaAllowDeleted = "allow_deleted"
)

// authMiddleware admits a v1 call through g (the key, the organization
// header, the rate limit, the operation's scope), answers a refusal in the
// error envelope, and puts the principal in the context.
func authMiddleware(api huma.API, g *gate) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		op := ctx.Operation()
		rec := recordOf(ctx.Context())
		if rec != nil {
			rec.route = op.Path
			rec.secrets, _ = op.Metadata[metaSecrets].(*apilog.Secrets)
		}
		if op.Metadata[metaPublic] == true {
			next(ctx)
			return
		}
		// The dashboard calls in-process for a signed-in member: its
		// principal is in the context (no request from outside can put it
		// there). Every other call brings a key.
		scope, _ := op.Metadata[metaScope].(gatehouse.Scope)
		_, w := humago.Unwrap(ctx)
		p, ref := g.admit(ctx.Context(), w.Header(), call{authorization: ctx.Header("Authorization"), orgHeaders: [2]string{ctx.Header(OrgHeader), ctx.Header(OrgHeaderAlias)},
			remoteAddr: ctx.RemoteAddr(), scope: scope, unlimited: op.Metadata[metaUnlimited] == true, allowDeleted: op.Metadata[metaAllowDeleted] == true})
		if rec != nil && p != nil {
			rec.principal = p
		}
		if ref != nil {
			if ref.code == gatehouse.CodeRateLimitExceeded { // seed 002's body, with retry_after
				ctx.SetHeader("Content-Type", "application/json")
				ctx.SetStatus(ref.status)
				_ = json.NewEncoder(ctx.BodyWriter()).Encode(ErrorBody{Status: "error", Meta: meta(ctx.Context()),
					Err: ErrorInner{Code: ref.code, Message: ref.msg, RetryAfter: ref.retryAfter}})
				return
			}
			if ref.code != codeOf(ref.status) { // a code of its own (ORGANIZATION_DELETED)
				ctx.SetHeader("Content-Type", "application/json")
				ctx.SetStatus(ref.status)
				_ = json.NewEncoder(ctx.BodyWriter()).Encode(ErrorBody{Status: "error", Meta: meta(ctx.Context()), Err: ErrorInner{Code: ref.code, Message: ref.msg}})
				return
			}
			_ = huma.WriteErr(api, ctx, ref.status, ref.msg)
			return
		}
		if op.SkipValidateBody { // huma would report a parse error instead
			if ct := ctx.Header("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
				_ = huma.WriteErr(api, ctx, http.StatusUnsupportedMediaType, "")
				return
			}
		}
		next(huma.WithValue(ctx, principalKey{}, p))
	}
}

type principalKey struct{}

func principal(ctx context.Context) *auth.Principal {
	p, _ := ctx.Value(principalKey{}).(*auth.Principal)
	return p
}
