package httpapi

import (
	"context"
	"errors"
	"fmt"
	"github.com/gatehouse-dev/gatehouse/internal/dberr"
	"log/slog"
	"net/http"
	"regexp"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/validation"
	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// APIError is the v1 error response (web's envelope).
type APIError = web.APIError

// newAPIError builds the error response for status from huma's message and
// details (validation errors become field details); op is the operation
// refusing the input (nil when huma names none).
func newAPIError(ctx context.Context, op *huma.Operation, status int, msg string, errs ...error) *web.APIError {
	parseFailure := status == http.StatusBadRequest // huma: the body did not parse
	if status == http.StatusUnprocessableEntity {
		status = http.StatusBadRequest
	}
	if status == http.StatusInternalServerError && msg == "cannot read request body" {
		// huma's answer to a body that ended early (shorter than its
		// Content-Length, a chunk cut off) or a connection that broke: the
		// client's doing, not the server's.
		e := web.NewAPIError(ctx, http.StatusBadRequest, gatehouse.CodeInvalidRequest,
			"the request body could not be read whole: it ended before its Content-Length, or the connection broke")
		e.Err.Details = map[string]any{"field": "body", "reason": "incomplete"}
		return e
	}
	var limit int64
	if status == http.StatusRequestEntityTooLarge {
		if _, err := fmt.Sscanf(msg, "request body is too large limit=%d bytes", &limit); err == nil && limit > 1 {
			// huma's limit is one byte over the server's (hugeLimit).
			msg = fmt.Sprintf("the request body is larger than the server takes (--max-body-bytes: %d bytes)", limit-1)
		}
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
			field, reason := classify(op, d)
			fields = append(fields, map[string]any{"field": field, "reason": reason, "message": d.Message})
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

// reasons are the stable reasons of huma's validation failures, by the
// message format huma fills in for each; any other failure is an
// invalid_value.
var reasons = []struct{ format, reason string }{
	{validation.MsgExpectedRequiredProperty, "required_field_missing"},
	{validation.MsgUnexpectedProperty, "unknown_field"},
	{validation.MsgExpectedMinimumNumber, "out_of_range"},
	{validation.MsgExpectedMaximumNumber, "out_of_range"},
	{validation.MsgExpectedMinLength, "out_of_range"},
	{validation.MsgExpectedMaxLength, "out_of_range"},
	{validation.MsgExpectedMinItems, "out_of_range"},
	{validation.MsgExpectedMaxItems, "out_of_range"},
}

// classify names the input a huma failure concerns (a body property
// without its "body." prefix, a query parameter without "query.") and its
// stable reason.
func classify(op *huma.Operation, d *huma.ErrorDetail) (field, reason string) {
	field = strings.TrimPrefix(strings.TrimPrefix(d.Location, "body."), "query.")
	if reason, ok := paramReason(op, d); ok {
		return field, reason
	}
	for _, r := range reasons {
		args, ok := filled(r.format, d.Message)
		if !ok {
			continue
		}
		if r.format == validation.MsgExpectedRequiredProperty && len(args) == 1 {
			field = args[0] // the missing property, not the object lacking it
		}
		return field, r.reason
	}
	return field, "invalid_value"
}

// paramReason classifies the failures of a request's parameters that huma
// reports without a message format of its own: a parameter the operation
// does not declare (unknown_field), and a declared one without a value
// (huma parses and validates only values that are there, so that is a
// required one missing).
func paramReason(op *huma.Operation, d *huma.ErrorDetail) (string, bool) {
	in, name, ok := strings.Cut(d.Location, ".")
	if !ok || op == nil {
		return "", false
	}
	switch in {
	case "path", "query", "header", "cookie":
	default:
		return "", false
	}
	for _, p := range op.Parameters {
		if p.In == in && p.Name == name {
			if v, isString := d.Value.(string); isString && v == "" {
				return "required_field_missing", true
			}
			return "", false
		}
	}
	return "unknown_field", true
}

// verb matches the verbs of huma's message formats.
var verb = regexp.MustCompile(`%[a-z]`)

// filled reports whether msg is format with its verbs filled in, and
// returns what filled them.
func filled(format, msg string) ([]string, bool) {
	lits := verb.Split(format, -1)
	rest, ok := strings.CutPrefix(msg, lits[0])
	if !ok {
		return nil, false
	}
	if len(lits) == 1 {
		return nil, rest == ""
	}
	var args []string
	for i, lit := range lits[1:] {
		var j int
		switch {
		case i == len(lits)-2: // the last literal ends the message
			if !strings.HasSuffix(rest, lit) {
				return nil, false
			}
			j = len(rest) - len(lit)
		default:
			if j = strings.Index(rest, lit); j < 0 {
				return nil, false
			}
		}
		args = append(args, rest[:j])
		rest = rest[j+len(lit):]
	}
	return args, true
}

// installErrors makes huma build our error bodies. huma keeps this hook in a
// package variable; it is set once, here, and does not depend on the server.
func installErrors() {
	huma.NewErrorWithContext = func(hctx huma.Context, status int, msg string, errs ...error) huma.StatusError {
		ctx := context.Background()
		var op *huma.Operation
		if hctx != nil {
			ctx, op = hctx.Context(), hctx.Operation()
		}
		return newAPIError(ctx, op, status, msg, errs...)
	}
	huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
		return newAPIError(context.Background(), nil, status, msg, errs...)
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
	e := web.Fail(ctx, log, err)
	if e.Code == http.StatusServiceUnavailable {
		// a database outage (or a cancelled call): say when to come back
		return huma.ErrorWithHeaders(e, http.Header{"Retry-After": {dberr.RetryAfter}})
	}
	return e
}
