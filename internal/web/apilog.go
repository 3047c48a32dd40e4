package web

import (
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apilog"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/batch"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
)

// CallRecord is what the layers of one request learn about it for the API
// log: the operation and the caller.
type CallRecord struct {
	Route     string
	Principal *auth.Principal
	// Secrets are the operation's declared secret fields.
	Secrets *apilog.Secrets
	// Counted: a permission check, counted (Checked) and, when it
	// succeeds, not logged.
	Counted bool
}

type callRecordKey struct{}

// RecordOf is the API log's record of the request of ctx (nil when the
// call is not logged); the front doors fill it in.
func RecordOf(ctx context.Context) *CallRecord {
	if r, ok := ctx.Value(callRecordKey{}).(*CallRecord); ok {
		return r
	}
	if ri, _ := ctx.Value(requestIDKey{}).(*requestInfo); ri != nil {
		return ri.rec
	}
	return nil
}

// logged is what WithAPILog keeps of one call, in one allocation.
type logged struct {
	rec CallRecord
	in  capReader
	out capWriter
}

// unlogged are the paths the API log leaves out: probes and documentation,
// which carry no caller and would drown the log.
func unlogged(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/v1/spec.yaml", "/v1/spec.json", "/.well-known/jwks.json", "/v2/openapi.json", "/v2/redoc":
		return true
	}
	return path == "/docs" || strings.HasPrefix(path, "/docs/")
}

// bodyUnlogged are the paths whose response bodies the API log leaves out
// (the call itself is logged): the audit trail, which needs view:audit and
// would otherwise be readable by anyone with view:log at /v1/logs/{id}.
func bodyUnlogged(path string) bool {
	return path == "/v1/audit" || strings.HasPrefix(path, "/v1/audit/")
}

// WithAPILog records every external call: it keeps up to limit bytes of the
// request and response bodies and hands the entry to the background writer.
// Redaction, truncation marks and ids happen on the writer's goroutine.
func WithAPILog(w *batch.Writer[apilog.Call], limit int, keys interface {
	Verify(ctx context.Context, token string) (*auth.Principal, error)
}, next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if unlogged(r.URL.Path) || r.Context().Value(unloggedKey{}) != nil {
			next.ServeHTTP(rw, r)
			return
		}
		start := time.Now()
		l := &logged{in: capReader{r: r.Body, limit: limit}, out: capWriter{ResponseWriter: rw, limit: limit}}
		rec, body, cw := &l.rec, &l.in, &l.out
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = body
		}
		// The record goes in the request's own (WithRequestID's) when it
		// has one free: no new context, no copy of the request.
		if ri, _ := r.Context().Value(requestIDKey{}).(*requestInfo); ri != nil && ri.rec == nil && r.Context().Value(callRecordKey{}) == nil {
			ri.rec = rec
			next.ServeHTTP(cw, r)
		} else {
			next.ServeHTTP(cw, r.WithContext(context.WithValue(r.Context(), callRecordKey{}, rec)))
		}

		p := rec.Principal
		if p == nil {
			// Unknown routes never reach the auth layer: attribute the call
			// when its key is valid (a cached lookup).
			if token, ok := Bearer(r.Header.Get("Authorization")); ok {
				p, _ = keys.Verify(r.Context(), token)
			}
		}
		status := cw.status
		if status == 0 {
			status = http.StatusOK
		}
		if rec.Counted && status < 400 {
			return
		}
		e := apilog.Call{Time: start.UTC(), RequestID: RequestID(r.Context()), Method: r.Method, Route: rec.Route, Path: r.URL.RequestURI(),
			Status: status, LatencyMicros: time.Since(start).Microseconds(), ClientIP: ClientIP(r), UserAgent: r.UserAgent(),
			RawHeaders: r.Header, RawRequest: body.buf, RequestSize: body.n, RequestTruncated: body.n > int64(len(body.buf)),
			ResponseSize: cw.n, ResponseTruncated: cw.n > int64(len(cw.buf)), Secrets: rec.Secrets}
		if !strings.HasPrefix(cw.Header().Get("Content-Type"), "text/event-stream") && !bodyUnlogged(r.URL.Path) {
			e.RawResponse = cw.buf
		}
		if p != nil {
			e.OrganizationID, e.ProjectID, e.EnvironmentID = p.OrgID, p.ProjectID, p.EnvironmentID
			e.ActorType, e.ActorID, e.ActorName = "key", p.KeyID, p.KeyName
			if p.MemberID != "" { // the dashboard, acting for a member
				e.ActorType, e.ActorID = "member", p.MemberID
			}
		}
		w.Add(e)
	})
}

// PrepareAPILog runs on the writer's goroutine before a batch is written:
// secrets out of headers and bodies, error codes read from error bodies, ids.
func PrepareAPILog(newID func() string) func([]apilog.Call) {
	return func(es []apilog.Call) {
		for i := range es {
			e := &es[i]
			if e.ID == "" {
				e.ID = newID()
			}
			if e.RawHeaders != nil {
				e.RequestHeaders = make(map[string]string, len(e.RawHeaders))
				for k, v := range e.RawHeaders {
					e.RequestHeaders[k] = strings.Join(v, ", ")
				}
			}
			if e.RawRequest != nil {
				e.RequestBody = string(e.RawRequest)
			}
			if e.RawResponse != nil {
				e.ResponseBody = string(e.RawResponse)
			}
			e.RawHeaders, e.RawRequest, e.RawResponse = nil, nil, nil
			if e.Status >= 400 {
				if m := errorCodeIn.FindStringSubmatch(e.ResponseBody); m != nil {
					e.ErrorCode = m[1]
				} else if m := permitCodeIn.FindStringSubmatch(e.ResponseBody); m != nil {
					e.ErrorCode = m[1]
				}
			}
			apilog.Redact(e)
			apilog.Sanitize(e)
		}
	}
}

// errorCodeIn finds the code of an error body (also in a cut one: the
// error object comes first).
var errorCodeIn = regexp.MustCompile(`"error":\{"code":"([A-Z_]+)"`)

// permitCodeIn finds the code of a Permit-shaped error body (/v2).
var permitCodeIn = regexp.MustCompile(`"error_code":"([A-Z_]+)"`)

// EntrySize is an entry's weight in the log queue's byte budget.
func EntrySize(e apilog.Call) int {
	return 1024 + len(e.Path) + len(e.UserAgent) + len(e.RawRequest) + len(e.RawResponse) + len(e.RequestBody) + len(e.ResponseBody)
}

// ClientIP is the caller's address: the TCP peer, or, behind a proxy of
// --trusted-proxies, the client it forwarded (clientaddr set RemoteAddr).
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// capReader keeps the first limit bytes read and counts them all.
type capReader struct {
	r     io.ReadCloser
	limit int
	buf   []byte
	n     int64
}

func (c *capReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.n += int64(n)
		if room := c.limit - len(c.buf); room > 0 {
			c.buf = append(c.buf, p[:min(n, room)]...)
		}
	}
	return n, err
}

func (c *capReader) Close() error { return c.r.Close() }

// capWriter keeps the status and the first limit bytes written.
type capWriter struct {
	http.ResponseWriter
	limit  int
	status int
	buf    []byte
	n      int64
}

func (c *capWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *capWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	c.n += int64(len(p))
	if room := c.limit - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(len(p), room)]...)
	}
	return c.ResponseWriter.Write(p)
}

func (c *capWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

type unloggedKey struct{}

// Unlogged marks an in-process call the API log leaves out: the
// dashboard's reads that only draw its pages (its writes are logged).
func Unlogged(ctx context.Context) context.Context {
	return context.WithValue(ctx, unloggedKey{}, true)
}

// Checked notes n permission checks (allowed of them allowed) answered in
// the environment env of organization org and project project for the
// caller of ctx: they are counted for usage, and unless logged (the
// environment's api_log_checks) the API log leaves the call out when it
// succeeds. A refused or failed call is logged as any other.
func Checked(ctx context.Context, m *usage.Meter, org, project, env string, allowed, n int64, logged bool) {
	if !logged {
		if rec := RecordOf(ctx); rec != nil {
			rec.Counted = true
		}
	}
	p := Principal(ctx)
	if p == nil {
		return
	}
	c := p.Checks
	if c == nil || p.EnvironmentID != env {
		key := p.KeyID
		if key == "" {
			key = p.Actor()
		}
		c = m.Counts(usage.Cell{OrgID: org, ProjectID: project, EnvID: env, KeyID: key})
	}
	if c != nil {
		c.AddN(allowed, n)
	}
}
