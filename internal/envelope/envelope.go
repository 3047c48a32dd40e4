// Package envelope is the shape of the JSON answers of Gatehouse's APIs,
// the server's v1 and the standalone PDP's: {status, data, meta} and, for
// an error, {status: "error", error: {code, message, details}, meta}. It
// imports only the standard library, so that the PDP answers in the same
// shape without importing the server's packages.
package envelope

import "time"

// Meta accompanies every response.
type Meta struct {
	RequestID string    `json:"request_id" doc:"The id of this request; also in the X-Request-Id header."`
	Timestamp time.Time `json:"timestamp" doc:"When the response was made."`
	// UnconfirmedNodes: a key change some live nodes did not confirm.
	UnconfirmedNodes int64 `json:"unconfirmed_nodes,omitempty" doc:"On a change of an API key (revoke, rotate, update): how many live nodes did not confirm, within 5 s, that they dropped the key from their cache (a node that crashed moments ago counts until its heartbeat expires, 10 s). Absent when every node confirmed. An unconfirmed node still re-reads the key within a minute."`
	// Revision is the change-feed position a write produced.
	Revision int64 `json:"revision,omitempty" doc:"On a write of authorization data: the change-feed position it produced (also in the Gatehouse-Revision header). Pass it as at_least to a check or lookup to be answered only once the answering node or PDP has applied it."`
	// IgnoredParams are the query parameters the request sent that the
	// operation does not take.
	IgnoredParams []string `json:"ignored_params,omitempty" doc:"The query parameters of the request that this operation does not take, by name, sorted: they were ignored (a cache-buster such as _=123, or a misspelt parameter: a filter that seems to have no effect may be listed here). Absent when there were none."`
}

// NewMeta is the meta of a response, now, to the request of id requestID.
func NewMeta(requestID string) Meta {
	return Meta{RequestID: requestID, Timestamp: time.Now().UTC().Truncate(time.Millisecond)}
}

// ErrorBody is the body of every error response.
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

// Error is the body of an error response to the request of id requestID.
func Error(requestID, code, msg string, details map[string]any) ErrorBody {
	return ErrorBody{Status: "error", Err: ErrorInner{Code: code, Message: msg, Details: details}, Meta: NewMeta(requestID)}
}

// OK is the body of a success response.
type OK struct {
	Status string `json:"status"`
	Data   any    `json:"data,omitempty"`
	Meta   Meta   `json:"meta"`
}

// Success is the body of a success response carrying data to the request
// of id requestID.
func Success(requestID string, data any) OK {
	return OK{Status: "success", Data: data, Meta: NewMeta(requestID)}
}

// ValidRequestID reports whether a caller's X-Request-Id is kept (echoed,
// logged): up to 64 letters, digits, dashes, underscores and dots;
// anything else is replaced by a new id, by the server and the PDP alike.
func ValidRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}
