package client

import (
	"context"
	"net/http"
	"time"
)

// UploadedDecision is a decision a decision point recorded, sent to the
// server's decision log (POST /v1/pdp/decisions).
type UploadedDecision struct {
	Time         time.Time `json:"timestamp"`
	User         string    `json:"user"`
	Action       string    `json:"action"`
	ResourceType string    `json:"resource_type"`
	ResourceKey  string    `json:"resource_key,omitempty"`
	Tenant       string    `json:"tenant"`
	Allow        bool      `json:"allow"`
	Reason       string    `json:"reason"`
	Role         string    `json:"role,omitempty"`
}

// UploadResult says what an upload of decisions wrote and what it refused.
type UploadResult struct {
	Written     int             `json:"written"`
	Refused     int             `json:"refused"`
	DecisionLog string          `json:"decision_log"` // the environment's mode the upload was judged by
	Errors      []UploadRefusal `json:"errors,omitempty"`
	Message     string          `json:"message,omitempty"`
}

// UploadRefusal is one decision an upload refused.
type UploadRefusal struct {
	Index   int    `json:"index"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// UploadDecisions sends decisions a decision point recorded (at most 1,000
// per call) to the key's environment's decision log; an environment key.
func (c *Client) UploadDecisions(ctx context.Context, decisions []UploadedDecision) (*UploadResult, error) {
	body := struct {
		Decisions []UploadedDecision `json:"decisions"`
	}{decisions}
	return write[UploadResult](ctx, c, http.MethodPost, "/v1/pdp/decisions", nil, body)
}
