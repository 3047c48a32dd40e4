// Package apilog is the API request log (seed 001): every external call with
// who made it, what it asked and what it got, secrets redacted, written in
// the background to the log database.
package apilog

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// Call is one API call as the log keeps it.
type Call struct {
	ID                string            `json:"id"`
	Time              time.Time         `json:"timestamp" doc:"When the request arrived."`
	RequestID         string            `json:"request_id"`
	OrganizationID    string            `json:"organization_id"`
	ProjectID         string            `json:"project_id,omitempty"`
	EnvironmentID     string            `json:"environment_id,omitempty"`
	ActorType         string            `json:"actor_type,omitempty" enum:"key,member" doc:"Who called: an API key (or, with the dashboard, a member)."`
	ActorID           string            `json:"actor_id,omitempty"`
	ActorName         string            `json:"actor_name,omitempty"`
	Method            string            `json:"method"`
	Route             string            `json:"route" doc:"The operation's path template, e.g. /v1/users/{user}; empty for unknown routes."`
	Path              string            `json:"path" doc:"The path and query string as sent."`
	Status            int               `json:"status"`
	ErrorCode         string            `json:"error_code,omitempty"`
	LatencyMicros     int64             `json:"latency_us"`
	ClientIP          string            `json:"client_ip"`
	UserAgent         string            `json:"user_agent"`
	RequestHeaders    map[string]string `json:"request_headers,omitempty" doc:"Credentials redacted."`
	RequestBody       string            `json:"request_body,omitempty" doc:"Secrets redacted; cut at the server's log body limit."`
	RequestSize       int64             `json:"request_size"`
	RequestTruncated  bool              `json:"request_truncated"`
	ResponseBody      string            `json:"response_body,omitempty" doc:"Secrets (such as a new key's token) redacted; cut at the server's log body limit."`
	ResponseSize      int64             `json:"response_size"`
	ResponseTruncated bool              `json:"response_truncated"`

	// Raw parts, kept by the request path and turned into the fields above
	// on the writer's goroutine (no copies while the request waits).
	RawHeaders  http.Header `json:"-"`
	RawRequest  []byte      `json:"-"`
	RawResponse []byte      `json:"-"`
}

// Filter narrows a list of entries; zero fields match everything.
type Filter struct {
	OrgID, ProjectID, EnvID string
	Actor                   string // actor id
	Status                  int
	StatusClass             int // 2 for 2xx … 5 for 5xx
	Method                  string
	PathPrefix              string
	RequestID               string
	Since, Until            time.Time // [Since, Until)
}

// Store persists the log.
type Store interface {
	WriteAPILog(ctx context.Context, entries []Call) error
	ListAPILog(ctx context.Context, f Filter, page gatehouse.PageRequest) (gatehouse.Page[Call], error)
	GetAPILog(ctx context.Context, f Filter, id string) (*Call, error)
	// ExportAPILog calls fn with every matching entry, oldest first.
	ExportAPILog(ctx context.Context, f Filter, fn func(*Call) error) error
	PruneAPILog(ctx context.Context, orgID string, before time.Time) (int64, error)
}

// Redacted replaces a secret.
const Redacted = "[REDACTED]"

// sensitiveHeaders never reach the log.
var sensitiveHeaders = map[string]bool{"authorization": true, "proxy-authorization": true, "cookie": true, "set-cookie": true, "x-api-key": true}

// RedactHeader returns what the log keeps of a header's value.
func RedactHeader(name, value string) string {
	if sensitiveHeaders[strings.ToLower(name)] {
		return Redacted
	}
	return value
}

// sensitiveKey reports whether a JSON field holds a secret.
func sensitiveKey(k string) bool {
	k = strings.ToLower(k)
	for _, s := range []string{"token", "secret", "password", "passphrase", "private_key", "api_key", "authorization"} {
		if k == s || strings.HasSuffix(k, "_"+s) || strings.HasPrefix(k, s+"_") {
			return true
		}
	}
	return false
}

var (
	// A JSON string value of a sensitive field, complete or cut off at the
	// end of a truncated body.
	sensitivePair    = regexp.MustCompile(`(?i)("(?:[a-z0-9_]*_)?(?:token|secret|password|passphrase|private_key|api_key|authorization)(?:_[a-z0-9_]*)?"\s*:\s*)"(?:[^"\\]|\\.)*"`)
	sensitiveCut     = regexp.MustCompile(`(?i)("(?:[a-z0-9_]*_)?(?:token|secret|password|passphrase|private_key|api_key|authorization)(?:_[a-z0-9_]*)?"\s*:\s*)"(?:[^"\\]|\\.)*\\?$`)
	sensitiveForm    = regexp.MustCompile(`(?i)\b((?:[a-z0-9_]*_)?(?:token|secret|password|passphrase|private_key|api_key|authorization)(?:_[a-z0-9_]*)?=)[^&\s]*`)
	jwtShaped        = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*`)
	redactedJSONText = `"` + Redacted + `"`
)

// RedactBody removes secrets from a body: JSON fields with secret names
// (token, secret, password, …, also as *_token etc.) and anything shaped like
// an API key (a JWT), whether or not the body is complete JSON.
func RedactBody(body string, complete bool) string {
	if !mayHoldSecret(body) {
		return body
	}
	if complete {
		var v any
		dec := json.NewDecoder(strings.NewReader(body))
		dec.UseNumber()
		if dec.Decode(&v) == nil && !dec.More() {
			if redactValue(&v) {
				var buf bytes.Buffer
				enc := json.NewEncoder(&buf)
				enc.SetEscapeHTML(false)
				if enc.Encode(v) == nil {
					body = strings.TrimSuffix(buf.String(), "\n")
				}
			}
			return jwtShaped.ReplaceAllString(body, Redacted)
		}
	}
	body = sensitivePair.ReplaceAllString(body, "${1}"+redactedJSONText)
	body = sensitiveCut.ReplaceAllString(body, "${1}"+redactedJSONText)
	body = sensitiveForm.ReplaceAllString(body, "${1}"+Redacted)
	return jwtShaped.ReplaceAllString(body, Redacted)
}

// secretWords are what every redaction rule looks for; a body without any
// of them is left as it is, without parsing.
var secretWords = []string{"token", "secret", "password", "passphrase", "private_key", "api_key", "authorization", "eyj"}

func mayHoldSecret(body string) bool {
	if body == "" {
		return false
	}
	lower := strings.ToLower(body)
	for _, w := range secretWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}

// redactValue redacts in place and reports whether anything changed.
func redactValue(v *any) bool {
	changed := false
	switch t := (*v).(type) {
	case map[string]any:
		for k, x := range t {
			if sensitiveKey(k) {
				if _, isObj := x.(map[string]any); !isObj && x != nil {
					t[k] = Redacted
					changed = true
					continue
				}
			}
			if redactValue(&x) {
				t[k] = x
				changed = true
			}
		}
	case []any:
		for i := range t {
			if redactValue(&t[i]) {
				changed = true
			}
		}
	}
	return changed
}
