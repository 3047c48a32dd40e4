package telemetry

import (
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Unmatched names the span of a request no route pattern was noted for.
const Unmatched = "HTTP request"

// Middleware gives every request a server span, a child of the trace
// context the request carries (W3C traceparent) or a new root. The span is
// named by the route pattern the mux matched ("POST /v1/allowed", noted
// through metrics.NoteRoute) and records the method, route and status:
// never the path, its query string, a header or a body. A nil Tracing
// returns next itself.
func (t *Tracing) Middleware(next http.Handler) http.Handler {
	if t == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := t.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := t.Tracer.Start(ctx, Unmatched, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", method(r.Method))))
		rec := &recorder{ResponseWriter: w}
		defer func() {
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			if rec.route != "" {
				span.SetName(rec.route)
				span.SetAttributes(attribute.String("http.route", rec.route))
			}
			span.SetAttributes(attribute.Int("http.response.status_code", status))
			if status >= 500 {
				span.SetStatus(codes.Error, strconv.Itoa(status))
			}
			span.End()
		}()
		next.ServeHTTP(rec, r.WithContext(ctx))
	})
}

// recorder keeps the status and the route of an answer.
type recorder struct {
	http.ResponseWriter
	status int
	route  string
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets a stream (the PDPs' change feed) through.
func (w *recorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// NoteRoute keeps the first route noted (the innermost mux's).
func (w *recorder) NoteRoute(pattern string) {
	if w.route == "" {
		w.route = pattern
	}
}

// method is the request's method, or "_OTHER" for one HTTP does not
// define (the semantic conventions' spelling).
func method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "_OTHER"
}
