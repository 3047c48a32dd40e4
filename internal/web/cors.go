package web

import (
	"net/http"
	"strings"
)

// CORS lets web pages of other origins call the API from a browser
// (`gatehouse serve --cors-origins`). It is off unless origins are given.
//
// A preflight (OPTIONS with Origin and Access-Control-Request-Method) is
// answered here, 204, before anything else sees it: it needs no API key,
// spends no rate limit and writes no API log entry. From an allowed origin
// it carries the Access-Control-Allow-* headers; from any other, none (the
// browser then refuses the call). Other requests go on as before; from an
// allowed origin their answer carries Access-Control-Allow-Origin and
// Access-Control-Expose-Headers.
//
// The API authenticates by the Authorization header, never by cookies, so
// no answer says Access-Control-Allow-Credentials: a browser's request
// with credentials (cookies) is refused by the browser, and "*" (any
// origin) is safe to allow.

// CORSAllowMethods are the methods the API's operations use.
const CORSAllowMethods = "GET, POST, PUT, PATCH, DELETE"

// CORSAllowHeaders are the request headers the API reads (besides the
// ones browsers always allow).
const CORSAllowHeaders = "Authorization, Content-Type, Idempotency-Key, X-Request-Id, " + OrgHeader + ", " + OrgHeaderAlias + ", Last-Event-ID"

// CORSExposeHeaders are the response headers the API sets that a page may
// read (besides the ones browsers always expose).
const CORSExposeHeaders = "X-Request-Id, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After, " +
	"Gatehouse-Revision, Gatehouse-Next-Cursor, Location, Idempotent-Replayed, Content-Disposition, Allow"

// CORSMaxAge is how long (seconds) a browser may keep a preflight's answer
// (Chromium keeps at most 2 hours).
const CORSMaxAge = "7200"

// WithCORS answers and marks cross-origin requests to the paths applies
// holds for, from origins: each "*" (any origin) or an origin as browsers
// send it, scheme://host[:port] in lower case (config.NormalOrigin). With
// no origins it returns next unchanged.
func WithCORS(origins []string, applies func(path string) bool, next http.Handler) http.Handler {
	if len(origins) == 0 {
		return next
	}
	anyOrigin := false
	allowed := map[string]bool{}
	for _, o := range origins {
		if o == "*" {
			anyOrigin = true
		}
		allowed[o] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !applies(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		origin := r.Header.Get("Origin")
		preflight := r.Method == http.MethodOptions && origin != "" && r.Header.Get("Access-Control-Request-Method") != ""
		h := w.Header()
		if !anyOrigin {
			// The answer depends on the origin: caches must know.
			h.Add("Vary", "Origin")
		}
		ok := origin != "" && (anyOrigin || allowed[strings.ToLower(origin)])
		if ok {
			if anyOrigin {
				h.Set("Access-Control-Allow-Origin", "*")
			} else {
				h.Set("Access-Control-Allow-Origin", origin)
			}
		}
		if !preflight {
			if ok {
				h.Set("Access-Control-Expose-Headers", CORSExposeHeaders)
			}
			next.ServeHTTP(w, r)
			return
		}
		h.Add("Vary", "Access-Control-Request-Method")
		h.Add("Vary", "Access-Control-Request-Headers")
		if ok {
			h.Set("Access-Control-Allow-Methods", CORSAllowMethods)
			h.Set("Access-Control-Allow-Headers", CORSAllowHeaders)
			h.Set("Access-Control-Max-Age", CORSMaxAge)
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
