package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"
	"unsafe"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apilog"
	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/envelope"
)

type requestIDKey struct{}

// requestInfo is what WithRequestID puts in a request's context: its id
// and the caller's address (the audit trail's "from where"), and, filled
// in by the layers inside, the caller the front door admitted and the API
// log's record of the call (so that neither costs a context and a copy of
// the request of its own).
//
// The rule that keeps one request's caller out of another's: one
// requestInfo per run of the API handler (WithRequestID makes a fresh one
// each time, also for the dashboard's in-process calls), never shared
// between goroutines. Code that runs sub-requests through the handler in
// parallel must send each through WithRequestID, not reuse the outer
// context's requestInfo (its fields are written without a lock).
type requestInfo struct {
	id, ip string
	p      *auth.Principal
	rec    *CallRecord
}

// RequestID returns the id of the request in ctx.
func RequestID(ctx context.Context) string {
	if ri, _ := ctx.Value(requestIDKey{}).(*requestInfo); ri != nil {
		return ri.id
	}
	return ""
}

func requestIP(ctx context.Context) string {
	if ri, _ := ctx.Value(requestIDKey{}).(*requestInfo); ri != nil {
		return ri.ip
	}
	return ""
}

// CallerRequestIDValues is the request's id as the X-Request-Id header's
// values: the caller's X-Request-Id when sane (its own slice: no
// allocation), otherwise a random one (the id and its slice in one
// allocation).
func CallerRequestIDValues(h http.Header) []string {
	if v := h["X-Request-Id"]; len(v) > 0 && validRequestID(v[0]) {
		return v[:1:1]
	}
	id := new(idValues)
	var b [12]byte
	_, _ = rand.Read(b[:])
	hex.Encode(id.b[:], b[:])
	id.vals[0] = unsafe.String(&id.b[0], len(id.b)) // id.b is not written again
	return id.vals[:]
}

type idValues struct {
	vals [1]string
	b    [24]byte
}

// SetNoFraming sets WithNoFraming's headers on h.
func SetNoFraming(h http.Header) {
	h["X-Frame-Options"], h["X-Content-Type-Options"], h["Content-Security-Policy"] = frameDeny, noSniff, frameNone
}

// validRequestID accepts a caller's id when it is short and printable
// (the PDP's rule too).
func validRequestID(id string) bool { return envelope.ValidRequestID(id) }

// WithRequestID gives every request an id (the caller's X-Request-Id when
// sane) and echoes it in the response.
func WithRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ids := CallerRequestIDValues(r.Header)
		id := ids[0]
		w.Header()["X-Request-Id"] = ids
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, &requestInfo{id: id, ip: ClientIP(r)})))
	})
}

type principalKey struct{}

// WithPrincipal is ctx with the caller a front door admitted, who is also
// the actor of the changes the call makes (the audit trail's: see
// principalActor).
func WithPrincipal(ctx context.Context, p *auth.Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// The audit trail reads the actor of a request's changes from its
// principal, when a change is written: nothing is added to the context of
// every call (most change nothing).
func init() { audit.RegisterActorOf(principalActor) }

func principalActor(ctx context.Context) (audit.Actor, bool) {
	p := Principal(ctx)
	if p == nil {
		return audit.Actor{}, false
	}
	a := audit.Actor{Type: audit.ActorKey, ID: p.KeyID, Name: p.KeyName, RequestID: RequestID(ctx), IP: requestIP(ctx)}
	if p.MemberID != "" {
		a.Type, a.ID = audit.ActorMember, p.MemberID
	}
	return a, true
}

// Principal is the caller a front door admitted (nil: none).
func Principal(ctx context.Context) *auth.Principal {
	if p, ok := ctx.Value(principalKey{}).(*auth.Principal); ok {
		return p
	}
	if ri, _ := ctx.Value(requestIDKey{}).(*requestInfo); ri != nil {
		return ri.p
	}
	return nil
}

// Admitted is ctx with p as its caller, as WithPrincipal, for a front door
// that admitted the request of ctx: the principal is kept in the request's
// own record (WithRequestID's) when ctx has one without a caller yet, and
// fresh is false (ctx is returned as it is, nothing allocated). Otherwise
// it is WithPrincipal's new context, and fresh is true.
func Admitted(ctx context.Context, p *auth.Principal) (c context.Context, fresh bool) {
	if ri, _ := ctx.Value(requestIDKey{}).(*requestInfo); ri != nil && ri.p == nil && ctx.Value(principalKey{}) == nil {
		ri.p = p
		return ctx, false
	}
	return WithPrincipal(ctx, p), true
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

// WithRecover answers a panic with INTERNAL_ERROR (in the envelope) and
// logs it.
func WithRecover(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("panic", "request_id", RequestID(r.Context()), "panic", v, "stack", string(debug.Stack()))
				if sw.status == 0 {
					WriteAPIError(w, NewAPIError(r.Context(), http.StatusInternalServerError, gatehouse.CodeInternal,
						"internal error (request id "+RequestID(r.Context())+")"))
				}
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// WithAccessLog logs one line per request.
func WithAccessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if log.Enabled(r.Context(), slog.LevelDebug) { // the arguments cost allocations
			log.Debug("request", "method", r.Method, "path", apilog.RedactShaped(r.URL.Path), "status", sw.status,
				"duration", time.Since(start), "request_id", RequestID(r.Context()))
		}
	})
}

var (
	frameDeny = []string{"DENY"}
	noSniff   = []string{"nosniff"}
	frameNone = []string{"frame-ancestors 'none'"}
)

// WithNoFraming forbids framing every answer (clickjacking): pages such as
// /docs and /v2/redoc carry frame-ancestors in their own policy; every
// other answer gets a policy of just that, and X-Frame-Options for old
// browsers.
func WithNoFraming(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// Shared, never modified slices: no allocation per request (a
		// handler that sets its own policy replaces the slice).
		h["X-Frame-Options"], h["X-Content-Type-Options"], h["Content-Security-Policy"] = frameDeny, noSniff, frameNone
		next.ServeHTTP(w, r)
	})
}

// NotFound registers on mux the catch-all that answers unknown routes (404)
// and wrong methods (405, with Allow) in the envelope. It runs only when no
// other pattern matched, so matched requests are routed once.
func NotFound(mux *http.ServeMux) {
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
			WriteAPIError(w, NewAPIError(r.Context(), http.StatusMethodNotAllowed, gatehouse.CodeMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path+"; allowed: "+allow))
			return
		}
		WriteAPIError(w, NewAPIError(r.Context(), http.StatusNotFound, gatehouse.CodeNotFound, "no route for "+r.Method+" "+r.URL.Path))
	})
}
