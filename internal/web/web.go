// Package web is the front-door kit every API of Gatehouse shares (the v1
// API, the Permit-compatible /v2, the decision endpoints): request ids,
// panic recovery, the access log, the no-framing headers, the input check
// (no NUL, only UTF-8), Idempotency-Key, the API log's capture, the gate
// that admits a call (its key, the organization header, the rate limit,
// the operation's scope), and the one error envelope. It holds no rule of
// its own about data: those live in the capability packages below.
package web

import "net/http"

// ErrorWriter answers an error in the wire shape of the API a request
// belongs to (the v1 envelope, Permit's body).
type ErrorWriter func(w http.ResponseWriter, r *http.Request, err error)
