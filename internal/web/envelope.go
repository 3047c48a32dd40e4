package web

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/gatehouse-dev/gatehouse/internal/dberr"
	"log/slog"
	"net/http"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/envelope"
)

// Meta accompanies every response (the shape the PDP shares).
type Meta = envelope.Meta

// NewMeta is the meta of a response to the request of ctx.
func NewMeta(ctx context.Context) Meta {
	m := envelope.NewMeta(RequestID(ctx))
	m.IgnoredParams = IgnoredParams(ctx)
	return m
}

type ignoredParamsKey struct{}

// WithIgnoredParams notes in ctx the query parameters (names, sorted) the
// request's operation does not take: every answer's meta lists them.
func WithIgnoredParams(ctx context.Context, names []string) context.Context {
	return context.WithValue(ctx, ignoredParamsKey{}, names)
}

// IgnoredParams are the query parameters noted in ctx as ignored.
func IgnoredParams(ctx context.Context) []string {
	names, _ := ctx.Value(ignoredParamsKey{}).([]string)
	return names
}

// StatusOf is the one table from error code to HTTP status.
var StatusOf = map[string]int{
	gatehouse.CodeInvalidRequest:       http.StatusBadRequest,
	gatehouse.CodeUnauthorized:         http.StatusUnauthorized,
	gatehouse.CodeForbidden:            http.StatusForbidden,
	gatehouse.CodeNotFound:             http.StatusNotFound,
	gatehouse.CodeMethodNotAllowed:     http.StatusMethodNotAllowed,
	gatehouse.CodeConflict:             http.StatusConflict,
	gatehouse.CodePayloadTooLarge:      http.StatusRequestEntityTooLarge,
	gatehouse.CodeUnsupportedMediaType: http.StatusUnsupportedMediaType,
	gatehouse.CodeRateLimitExceeded:    http.StatusTooManyRequests,
	gatehouse.CodeInternal:             http.StatusInternalServerError,
	gatehouse.CodeServiceUnavailable:   http.StatusServiceUnavailable,
	gatehouse.CodeOrganizationDeleted:  http.StatusUnauthorized,
	gatehouse.CodeWrongRegion:          http.StatusMisdirectedRequest,
}

// CodeOf maps a status produced outside our handlers (the router, a
// framework's parsing) back to a code.
func CodeOf(status int) string {
	switch status {
	case http.StatusUnprocessableEntity:
		return gatehouse.CodeInvalidRequest
	case http.StatusUnauthorized:
		return gatehouse.CodeUnauthorized
	}
	for code, s := range StatusOf {
		if s == status {
			return code
		}
	}
	if status >= 500 {
		return gatehouse.CodeInternal
	}
	return gatehouse.CodeInvalidRequest
}

// ErrorBody is the body of every error response (the shape the PDP
// shares).
type ErrorBody = envelope.ErrorBody

// ErrorInner is the error object: a stable code, a message for people and
// optional details.
type ErrorInner = envelope.ErrorInner

// APIError is an error response (a huma.StatusError too).
type APIError struct {
	Code int `json:"-"`
	ErrorBody
}

func (e *APIError) Error() string  { return e.Err.Message }
func (e *APIError) GetStatus() int { return e.Code }

// ContentType makes errors plain JSON.
func (e *APIError) ContentType(string) string { return "application/json" }

// NewAPIError is an error response of status, code and message.
func NewAPIError(ctx context.Context, status int, code, msg string) *APIError {
	return &APIError{Code: status, ErrorBody: ErrorBody{Status: "error", Meta: NewMeta(ctx), Err: ErrorInner{Code: code, Message: msg}}}
}

// Fail converts an error from a service into an error response. Expected
// errors keep their code, message and details; anything else is logged
// with the request id and answered as INTERNAL_ERROR without its cause.
func Fail(ctx context.Context, log *slog.Logger, err error) *APIError {
	var ge *gatehouse.Error
	if errors.As(err, &ge) {
		status, ok := StatusOf[ge.Code]
		if !ok {
			status = http.StatusInternalServerError
		}
		e := NewAPIError(ctx, status, ge.Code, ge.Message)
		e.Err.Details = ge.Details
		return e
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae
	}
	if errors.Is(err, context.Canceled) {
		return NewAPIError(ctx, http.StatusServiceUnavailable, gatehouse.CodeServiceUnavailable, "the request was cancelled")
	}
	if dberr.Unavailable(err) {
		if log == nil {
			log = slog.Default()
		}
		log.WarnContext(ctx, "database unavailable", "request_id", RequestID(ctx), "err", err)
		return NewAPIError(ctx, http.StatusServiceUnavailable, gatehouse.CodeServiceUnavailable, dberr.Message)
	}
	if dberr.Aborted(err) {
		if log == nil {
			log = slog.Default()
		}
		log.WarnContext(ctx, "database aborted the write", "request_id", RequestID(ctx), "err", err)
		return NewAPIError(ctx, http.StatusServiceUnavailable, gatehouse.CodeServiceUnavailable, dberr.AbortedMessage)
	}
	if log == nil {
		log = slog.Default()
	}
	log.ErrorContext(ctx, "internal error", "request_id", RequestID(ctx), "err", err)
	return NewAPIError(ctx, http.StatusInternalServerError, gatehouse.CodeInternal, "internal error (request id "+RequestID(ctx)+")")
}

// WriteAPIError writes e.
func WriteAPIError(w http.ResponseWriter, e *APIError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Code)
	_ = json.NewEncoder(w).Encode(e)
}

// Envelope is the ErrorWriter of the v1 envelope ({status: "error",
// error: {code, message, details}, meta}).
func Envelope(log *slog.Logger) ErrorWriter {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		e := Fail(r.Context(), log, err)
		if e.Code == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", dberr.RetryAfter)
		}
		WriteAPIError(w, e)
	}
}
