// Package apilog is the API request log: every external call with
// who made it, what it asked and what it got, secrets redacted, written in
// the background to the log database.
package apilog

import (
	"context"
	"net/http"
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
	// Secrets says where the operation's bodies carry one-time secrets.
	Secrets *Secrets `json:"-"`
}

// Secrets is an operation's declaration of the fields of its request and
// response bodies that hold secrets (a new key's token, a setup link…):
// the log never keeps them.
type Secrets struct {
	Request, Response []SecretPath
}

// Filter narrows a list of entries; zero fields match everything.
type Filter struct {
	OrgID, ProjectID, EnvID string
	Actor                   string // actor id
	Status                  int
	StatusClass             int // 2 for 2xx … 5 for 5xx
	Method                  string
	Writes                  bool // only methods other than GET, HEAD and OPTIONS
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
