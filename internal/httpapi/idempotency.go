package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/idempotency"
	"github.com/gatehouse-dev/gatehouse/internal/permit"
)

// withIdempotency honours Idempotency-Key on every POST (v1, /v2 and the
// decision endpoints): the first request runs, a retry with the same key
// and request gets the first answer again (Idempotent-Replayed: true)
// instead of running twice; the same key with another request is a 409.
// Keys are per organization: the call's key must verify (a call that does
// not is left to the gate, which refuses it). Replays pass the gate's rate
// limit like any call. It runs inside the API log, which records a replay
// as its operation (secrets redacted as declared).
func withIdempotency(svc *idempotency.Service, g *gate, maxBody int64, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get(idempotency.Header)
		if r.Method != http.MethodPost || key == "" && len(r.Header.Values(idempotency.Header)) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		if err := idempotency.Valid(key); err != nil {
			answerError(w, r, log, err)
			return
		}
		token, ok := bearer(r.Header.Get("Authorization"))
		if !ok {
			next.ServeHTTP(w, r) // the gate answers
			return
		}
		p, err := g.keys.Verify(r.Context(), token)
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
			answerError(w, r, log, gatehouse.Errorf(gatehouse.CodeInvalidRequest, "cannot read the request body: %v", err))
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
		o, err := svc.Begin(r.Context(), p.OrgID, key, r.Method, r.URL.RequestURI(), body)
		if err != nil {
			answerError(w, r, log, err)
			return
		}
		if o.Replay != nil {
			replay(w, r, g, p, o.Replay)
			return
		}
		cw := &captureWriter{ResponseWriter: w}
		finished := false
		defer func() {
			if !finished { // a panic: let a retry run again
				_ = svc.Abandon(context.WithoutCancel(r.Context()), o)
			}
		}()
		next.ServeHTTP(cw, r)
		finished = true
		a := &idempotency.Answer{Status: cw.statusOr200(), Header: keptHeaders(cw.Header()), Body: cw.body.Bytes()}
		if rec := recordOf(r.Context()); rec != nil {
			a.Route, a.Secrets = rec.route, rec.secrets
		}
		if err := svc.Finish(context.WithoutCancel(r.Context()), o, a); err != nil {
			log.ErrorContext(r.Context(), "keep the answer of an idempotent request", "request_id", RequestID(r.Context()), "err", err)
			_ = svc.Abandon(context.WithoutCancel(r.Context()), o)
		}
	})
}

// replay answers with a kept answer, after the gate's rate limit.
func replay(w http.ResponseWriter, r *http.Request, g *gate, p *auth.Principal, a *idempotency.Answer) {
	if rec := recordOf(r.Context()); rec != nil {
		rec.route, rec.secrets, rec.principal = a.Route, a.Secrets, p
	}
	if g.limiter != nil {
		if ref := limitRefusal(w.Header(), g.limiter.Take(r.Context(), p)); ref != nil {
			answerError(w, r, nil, gatehouse.Errorf(ref.code, "%s", ref.msg))
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

// answerError answers err in the shape of the API the path belongs to.
func answerError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	if permitPath(r.URL.Path) {
		permit.WriteError(w, err)
		return
	}
	if log == nil {
		log = slog.Default()
	}
	var e *APIError
	if !errors.As(fail(r.Context(), log, err), &e) {
		e = newAPIError(r.Context(), http.StatusInternalServerError, "internal error")
	}
	if ra := w.Header().Get("Retry-After"); ra != "" && strings.Contains(e.Err.Code, "RATE") {
		w.Header().Set("Retry-After", ra)
	}
	writeError(w, e)
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
