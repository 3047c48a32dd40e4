package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/gatehouse-dev/gatehouse"
)

// statusOf is the one table from error code to HTTP status.
var statusOf = map[string]int{
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
}

// codeOf maps a status produced outside our handlers (huma's parsing and
// validation, the router) back to a code.
func codeOf(status int) string {
	switch status {
	case http.StatusUnprocessableEntity:
		return gatehouse.CodeInvalidRequest
	case http.StatusUnauthorized:
		return gatehouse.CodeUnauthorized
	}
	for code, s := range statusOf {
		if s == status {
			return code
		}
	}
	if status >= 500 {
		return gatehouse.CodeInternal
	}
	return gatehouse.CodeInvalidRequest
}

// ErrorBody is the body of every error response (seed 002).
type ErrorBody struct {
	Status string     `json:"status" enum:"error"`
	Err    ErrorInner `json:"error"`
	Meta   Meta       `json:"meta"`
}

// ErrorInner is the error object: a stable code, a message for people and
// optional details.
type ErrorInner struct {
	Code       string         `json:"code" enum:"INVALID_REQUEST,UNAUTHORIZED,FORBIDDEN,NOT_FOUND,METHOD_NOT_ALLOWED,CONFLICT,PAYLOAD_TOO_LARGE,UNSUPPORTED_MEDIA_TYPE,RATE_LIMIT_EXCEEDED,INTERNAL_ERROR,SERVICE_UNAVAILABLE,ORGANIZATION_DELETED"`
	Message    string         `json:"message"`
	Details    map[string]any `json:"details,omitempty"`
	RetryAfter int            `json:"retry_after,omitempty" doc:"Seconds to wait, on RATE_LIMIT_EXCEEDED."`
}

// APIError is an error response; it implements huma.StatusError.
type APIError struct {
	status int
	ErrorBody
}

func (e *APIError) Error() string  { return e.Err.Message }
func (e *APIError) GetStatus() int { return e.status }

// ContentType makes huma send errors as plain JSON.
func (e *APIError) ContentType(string) string { return "application/json" }

// newAPIError builds the error response for status from huma's message and
// details (validation errors become field details).
func newAPIError(ctx context.Context, status int, msg string, errs ...error) *APIError {
	parseFailure := status == http.StatusBadRequest // huma: the body did not parse
	if status == http.StatusUnprocessableEntity {
		status = http.StatusBadRequest
	}
	switch status {
	case http.StatusUnsupportedMediaType:
		msg, errs = "unsupported Content-Type: send the body as application/json", nil
	case http.StatusBadRequest:
		if parseFailure && len(errs) == 1 {
			var d *huma.ErrorDetail
			if errors.As(errs[0], &d) && d.Location == "body" {
				return &APIError{status: status, ErrorBody: ErrorBody{Status: "error", Meta: meta(ctx), Err: ErrorInner{
					Code: gatehouse.CodeInvalidRequest, Message: "the request body is not valid JSON: " + d.Message,
					Details: map[string]any{"field": "body", "reason": "invalid_json"}}}}
			}
		}
	}
	e := &APIError{status: status, ErrorBody: ErrorBody{Status: "error", Meta: meta(ctx),
		Err: ErrorInner{Code: codeOf(status), Message: msg}}}
	var fields []map[string]any
	for _, err := range errs {
		if err == nil {
			continue
		}
		var d *huma.ErrorDetail
		if errors.As(err, &d) {
			field := strings.TrimPrefix(strings.TrimPrefix(d.Location, "body."), "query.")
			if rest, ok := strings.CutPrefix(d.Message, "expected required property "); ok {
				field = strings.TrimSuffix(rest, " to be present")
			}
			fields = append(fields, map[string]any{"field": field, "reason": reasonOf(d.Message), "message": d.Message})
		} else {
			fields = append(fields, map[string]any{"message": err.Error()})
		}
	}
	if len(fields) > 0 {
		e.Err.Details = map[string]any{"errors": fields}
		if f, ok := fields[0]["field"]; ok {
			e.Err.Details["field"] = f
			e.Err.Details["reason"] = fields[0]["reason"]
			if status == http.StatusBadRequest {
				e.Err.Message = fmt.Sprintf("invalid parameter %v: %s", f, fields[0]["message"])
			}
		}
	}
	return e
}

// reasonOf turns a validation message into a stable reason.
func reasonOf(msg string) string {
	switch {
	case strings.Contains(msg, "required"):
		return "required_field_missing"
	case strings.Contains(msg, "unknown") || strings.Contains(msg, "unexpected property"):
		return "unknown_field"
	case strings.Contains(msg, ">=") || strings.Contains(msg, "<=") || strings.Contains(msg, "length"):
		return "out_of_range"
	}
	return "invalid_value"
}

// installErrors makes huma build our error bodies. huma keeps this hook in a
// package variable; it is set once, here, and does not depend on the server.
func installErrors() {
	huma.NewErrorWithContext = func(hctx huma.Context, status int, msg string, errs ...error) huma.StatusError {
		ctx := context.Background()
		if hctx != nil {
			ctx = hctx.Context()
		}
		return newAPIError(ctx, status, msg, errs...)
	}
	huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
		return newAPIError(context.Background(), status, msg, errs...)
	}
}

// fail converts an error from a service into an error response. Expected
// errors keep their code and message; anything else is logged with the
// request id and answered as INTERNAL_ERROR without its cause.
func fail(ctx context.Context, log *slog.Logger, err error) error {
	// An error wrapped with headers (huma.ErrorWithHeaders: a Retry-After)
	// keeps them.
	var he huma.HeadersError
	if errors.As(err, &he) {
		if inner := errors.Unwrap(he); inner != nil {
			return huma.ErrorWithHeaders(fail(ctx, log, inner), he.GetHeaders())
		}
	}
	var ge *gatehouse.Error
	if errors.As(err, &ge) {
		status, ok := statusOf[ge.Code]
		if !ok {
			status = http.StatusInternalServerError
		}
		e := newAPIError(ctx, status, ge.Message)
		e.Err.Code, e.Err.Message = ge.Code, ge.Message // our own message, also on 415
		e.Err.Details = ge.Details
		return e
	}
	if errors.Is(err, context.Canceled) {
		return newAPIError(ctx, http.StatusServiceUnavailable, "the request was cancelled")
	}
	log.ErrorContext(ctx, "internal error", "request_id", RequestID(ctx), "err", err)
	return newAPIError(ctx, http.StatusInternalServerError, "internal error (request id "+RequestID(ctx)+")")
}
