package apilog

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
)

// What the log keeps of a call is decided in two ways, both applied to
// every entry:
//
//   - per operation: an operation that returns (or takes) a one-time
//     secret declares where it is (Secrets); that field is replaced, and a
//     body of such an operation that cannot be read whole (cut at the log's
//     body limit, say) is dropped rather than guessed at;
//   - per shape: anything shaped like a Gatehouse credential (an API key,
//     a webhook secret, a setup link's token) is replaced wherever it
//     appears: path, query, every header, either body.
//
// Credential headers (Authorization, Cookie…) are never kept.

// Redacted replaces a secret.
const Redacted = "[REDACTED]"

// DroppedBody replaces the body of an operation that carries a secret when
// the body cannot be read whole.
const DroppedBody = "[REDACTED: the body of an operation that carries a secret, cut or unreadable]"

// sensitiveHeaders never reach the log.
var sensitiveHeaders = map[string]bool{"authorization": true, "proxy-authorization": true, "cookie": true, "set-cookie": true, "x-api-key": true}

// RedactHeader returns what the log keeps of a header's value.
func RedactHeader(name, value string) string {
	if sensitiveHeaders[strings.ToLower(name)] {
		return Redacted
	}
	return RedactShaped(value)
}

// credentialShaped finds Gatehouse credentials by their shape: API keys
// (JWTs: base64url header and claims that start with "eyJ", a signature),
// also cut short; webhook signing secrets (whsec_…); setup link tokens
// (ghsetup_…).
var credentialShaped = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{6,}(?:\.[A-Za-z0-9_-]*){0,2}|whsec_[A-Za-z0-9+/=_-]{8,}|ghsetup_[A-Za-z0-9_-]{8,}`)

// credentialHint is what every credential shape contains; text without
// any is left as it is without running the expression.
func credentialHint(s string) bool {
	return strings.Contains(s, "eyJ") || strings.Contains(s, "whsec_") || strings.Contains(s, "ghsetup_")
}

// RedactShaped replaces anything shaped like a Gatehouse credential in s
// (also URL-escaped text: the shapes contain nothing a URL escapes).
func RedactShaped(s string) string {
	if !credentialHint(s) {
		return s
	}
	return credentialShaped.ReplaceAllString(s, Redacted)
}

// Redact removes the secrets of e in place: what the log keeps of its
// path, headers and bodies. It runs on the log writer's goroutine.
func Redact(e *Call) {
	e.Path = RedactShaped(e.Path)
	e.UserAgent = RedactShaped(e.UserAgent)
	for k, v := range e.RequestHeaders {
		e.RequestHeaders[k] = RedactHeader(k, v)
	}
	var req, res []SecretPath
	if e.Secrets != nil {
		req, res = e.Secrets.Request, e.Secrets.Response
	}
	e.RequestBody = RedactBody(e.RequestBody, req, !e.RequestTruncated)
	e.ResponseBody = RedactBody(e.ResponseBody, res, !e.ResponseTruncated)
	e.Secrets = nil
}

// SecretPath names a field that holds a secret, as dot-separated object
// keys from the top of the JSON body ("data.token"); "[]" steps into every
// element of an array ("data[].token").
type SecretPath string

// RedactBody returns what the log keeps of a body: the fields at paths
// replaced (the body must then be complete JSON, else it is dropped whole),
// and credential shapes anywhere.
func RedactBody(body string, paths []SecretPath, complete bool) string {
	if body == "" {
		return body
	}
	if len(paths) > 0 {
		if !complete {
			return DroppedBody
		}
		var v any
		dec := json.NewDecoder(strings.NewReader(body))
		dec.UseNumber()
		if dec.Decode(&v) != nil || dec.More() {
			return DroppedBody
		}
		changed := false
		for _, p := range paths {
			if redactAt(v, splitPath(string(p))) {
				changed = true
			}
		}
		if changed {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if enc.Encode(v) != nil {
				return DroppedBody
			}
			body = strings.TrimSuffix(buf.String(), "\n")
		}
	}
	return RedactShaped(body)
}

func splitPath(p string) []string {
	var out []string
	for _, part := range strings.Split(p, ".") {
		if name, ok := strings.CutSuffix(part, "[]"); ok {
			if name != "" {
				out = append(out, name)
			}
			out = append(out, "[]")
			continue
		}
		out = append(out, part)
	}
	return out
}

// redactAt replaces the values at path in v; it reports whether any was.
func redactAt(v any, path []string) bool {
	if len(path) == 0 {
		return false
	}
	switch t := v.(type) {
	case map[string]any:
		x, ok := t[path[0]]
		if !ok {
			return false
		}
		if len(path) == 1 {
			if x == nil {
				return false
			}
			t[path[0]] = Redacted
			return true
		}
		return redactAt(x, path[1:])
	case []any:
		if path[0] != "[]" {
			return false
		}
		changed := false
		for i := range t {
			if len(path) == 1 {
				t[i] = Redacted
				changed = true
				continue
			}
			if redactAt(t[i], path[1:]) {
				changed = true
			}
		}
		return changed
	}
	return false
}
