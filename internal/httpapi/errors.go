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
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// APIError is the v1 error response (web's envelope).
type APIError = web.APIError

// newAPIError builds the error response for status from huma's message and
// details (validation errors become field details).
func newAPIError(ctx context.Context, status int, msg string, errs ...error) *web.APIError {
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
				e := web.NewAPIError(ctx, status, gatehouse.CodeInvalidRequest, "the request body is not valid JSON: "+d.Message)
				e.Err.Details = map[string]any{"field": "body", "reason": "invalid_json"}
				return e
			}
		}
	}
	e := web.NewAPIError(ctx, status, web.CodeOf(status), msg)
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
	return web.Fail(ctx, log, err)
}
