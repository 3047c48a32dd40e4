// Package gatehouse holds the vocabulary shared by every part of Gatehouse:
// the error type and its stable codes, the platform scopes (permissions) and
// the paging types. It imports only the standard library.
package gatehouse

import (
	"errors"
	"fmt"
)

// Error codes. They are part of the API contract: clients switch on them.
const (
	CodeInvalidRequest       = "INVALID_REQUEST"
	CodeUnauthorized         = "UNAUTHORIZED"
	CodeForbidden            = "FORBIDDEN"
	CodeNotFound             = "NOT_FOUND"
	CodeMethodNotAllowed     = "METHOD_NOT_ALLOWED"
	CodeConflict             = "CONFLICT"
	CodePayloadTooLarge      = "PAYLOAD_TOO_LARGE"
	CodeUnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE"
	CodeRateLimitExceeded    = "RATE_LIMIT_EXCEEDED"
	CodeInternal             = "INTERNAL_ERROR"
	CodeServiceUnavailable   = "SERVICE_UNAVAILABLE"
	// CodeOrganizationDeleted answers the keys of a deleted organization
	// (still restorable; HTTP 401).
	CodeOrganizationDeleted = "ORGANIZATION_DELETED"
	// CodeWrongRegion answers a key of an organization homed in another
	// region (HTTP 421 Misdirected Request); the message names the URL of
	// the key's region.
	CodeWrongRegion = "WRONG_REGION"
)

// Error is an expected failure whose message is safe to show to a client.
// Anything that is not an *Error reaching the API boundary is reported as
// INTERNAL_ERROR and its text is only logged.
type Error struct {
	Code    string
	Message string
	// Details is optional structured information, e.g. {"field": "name",
	// "reason": "required_field_missing"}.
	Details map[string]any
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns an INVALID_REQUEST error about one field.
func FieldError(field, reason, format string, args ...any) *Error {
	return &Error{
		Code:    CodeInvalidRequest,
		Message: fmt.Sprintf(format, args...),
		Details: map[string]any{"field": field, "reason": reason},
	}
}

// ErrorCode returns the code of the first *Error in err's chain, "" for nil
// and CodeInternal for any other error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the message of the first *Error in err's chain,
// safe to show to a client, and a generic one for any other error (whose
// text may hold internals).
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
