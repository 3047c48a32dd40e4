package web

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/idempotency"
)

// WithIdempotency honours Idempotency-Key on every POST (v1, /v2 and the
// decision endpoints): the first request runs, a retry with the same key
// and request gets the first answer again (Idempotent-Replayed: true)
// instead of running twice; the same key with another request is a 409.
// Keys are per API key: the call's key must verify (a call that does not
// is left to the gate, which refuses it), and only the key that made the
// first request gets its answer again (another key's request with the
// same Idempotency-Key runs as its own, through the gate). Replays pass the gate's rate
// limit like any call. It runs inside the API log, which records a replay
// as its operation (secrets redacted as declared).
func WithIdempotency(svc *idempotency.Service, g *Gate, maxBody int64, errs ErrorWriter, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get(idempotency.Header)
		if r.Method != http.MethodPost || key == "" && len(r.Header.Values(idempotency.Header)) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		if err := idempotency.Valid(key); err != nil {
			errs(w, r, err)
			return
		}
		token, ok := Bearer(r.Header.Get("Authorization"))
		if !ok {
			next.ServeHTTP(w, r) // the gate answers
			return
		}
		p, err := g.Keys.Verify(r.Context(), token)
		if err != nil || p.OrgDeleted {
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > maxBody {
			next.ServeHTTP(w, r) // too large: 413, nothing to remember
			return
		}
		orig := r.Body
		body, err := io.ReadAll(io.LimitReader(orig, maxBody+1))
		if err != nil {
			errs(w, r, gatehouse.Errorf(gatehouse.CodeInvalidRequest, "cannot read the request body: %v", err))
			return
		}
		if int64(len(body)) > maxBody { // a streamed upload: given on whole, not remembered
			r.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(body), orig), orig}
			next.ServeHTTP(w, r)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		o, err := svc.Begin(r.Context(), p.OrgID, p.Actor(), key, r.Method, r.URL.RequestURI(), body)
		if err != nil {
			errs(w, r, err)
			return
		}
		if o.Replay != nil {
			replay(w, r, g, errs, p, o.Replay)
			return
		}
		cw := &captureWriter{ResponseWriter: w}
		finished := false
		defer func() {
			if !finished { // a panic: let a retry run again
				_ = svc.Abandon(context.WithoutCancel(r.Context()), o)
			}
		}()
		unkept := new(bool)
		next.ServeHTTP(cw, r.WithContext(context.WithValue(r.Context(), unkeptKey{}, unkept)))
		finished = true
		if *unkept {
			// Nothing to replay: a retry runs again, with the same effect.
			_ = svc.Abandon(context.WithoutCancel(r.Context()), o)
			return
		}
		a := &idempotency.Answer{Status: cw.statusOr200(), Header: keptHeaders(cw.Header()), Body: cw.body.Bytes()}
		if rec := RecordOf(r.Context()); rec != nil {
			a.Route, a.Secrets = rec.Route, rec.Secrets
		}
		if err := svc.Finish(context.WithoutCancel(r.Context()), o, a); err != nil {
			g.Log.ErrorContext(r.Context(), "keep the answer of an idempotent request", "request_id", RequestID(r.Context()), "err", err)
			_ = svc.Abandon(context.WithoutCancel(r.Context()), o)
		}
	})
}

type unkeptKey struct{}

// NothingToReplay says, from an operation's handler, that its answer need
// not be kept for a retry with the same Idempotency-Key: the request
// changed nothing, so running it again has the same effect (a PDP's upload
// that wrote no decision, whose answer may list a thousand refusals). The
// key is forgotten as after a refusal.
func NothingToReplay(ctx context.Context) {
	if p, _ := ctx.Value(unkeptKey{}).(*bool); p != nil {
		*p = true
	}
}

// IsCheckRoute says whether route (a path, or a method and a path) is a
// permission check's, v1's or Permit's: those spend from the check budget.
func IsCheckRoute(route string) bool {
	if i := strings.IndexByte(route, ' '); i >= 0 {
		route = route[i+1:]
	}
	switch {
	case route == "/v1/allowed", strings.HasPrefix(route, "/v1/allowed/"), route == "/v1/user-permissions",
		route == "/allowed", strings.HasPrefix(route, "/allowed/"), route == "/user-permissions":
		return true
	}
	return false
}

// replay answers with a kept answer, after the gate's rate limit.
func replay(w http.ResponseWriter, r *http.Request, g *Gate, errs ErrorWriter, p *auth.Principal, a *idempotency.Answer) {
	if rec := RecordOf(r.Context()); rec != nil {
		rec.Route, rec.Secrets, rec.Principal = a.Route, a.Secrets, p
	}
	if g.Limiter != nil {
		take := g.Limiter.Take
		if IsCheckRoute(a.Route) {
			take = g.Limiter.TakeCheck // a check's replay spends what the check did
		}
		if ref := LimitRefusal(w.Header(), take(r.Context(), p)); ref != nil {
			errs(w, r, ref.Err())
			return
		}
	}
	for k, v := range a.Header {
		w.Header()[k] = v
	}
	w.Header().Set(idempotency.ReplayedHeader, "true")
	w.WriteHeader(a.Status)
	_, _ = w.Write(a.Body)
}

// keptHeaders are the answer's headers a replay sends again (not those of
// this moment, such as the request id or the rate limit).
func keptHeaders(h http.Header) http.Header {
	out := http.Header{}
	for _, k := range []string{"Content-Type", "Location"} {
		if v := h.Values(k); len(v) > 0 {
			out[k] = v
		}
	}
	return out
}

// captureWriter keeps the status and the whole body written.
type captureWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *captureWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	c.body.Write(p)
	return c.ResponseWriter.Write(p)
}

func (c *captureWriter) statusOr200() int {
	if c.status == 0 {
		return http.StatusOK
	}
	return c.status
}

func (c *captureWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
