// Package client is the Go SDK of Gatehouse: typed methods for every v1
// endpoint group, pages and iterators, typed errors that carry the API's
// error code, retries of 429 and 503 answers that honour Retry-After,
// webhook signature verification, and permission checks answered
// in-process from a synced copy of an environment (LocalChecker).
//
//	c := client.New("http://127.0.0.1:8080", os.Getenv("GATEHOUSE_API_KEY"))
//	users, err := c.Users.List(ctx, nil)
//
// An environment key acts on its environment; with an organization or
// project key choose one with WithEnvironment.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Version is this SDK's version, sent in its User-Agent.
const Version = "1.0.0"

// Client calls one Gatehouse server with one API key. It is safe for
// concurrent use.
type Client struct {
	baseURL     string
	key         string
	org         string
	hc          *http.Client
	userAgent   string
	maxRetries  int
	maxWait     time.Duration
	project     string
	environment string

	// System: health, the calling key, the scope catalog.
	System *System
	// Organizations, projects, environments, settings and members.
	Organizations *Organizations
	Projects      *Projects
	Environments  *Environments
	Settings      *Settings
	Members       *Members
	MemberRoles   *MemberRoles
	APIKeys       *APIKeys
	// An environment's authorization data.
	Users           *Users
	Tenants         *Tenants
	Resources       *Resources
	Roles           *Roles
	RoleAssignments *RoleAssignments
	// Fine-grained authorization: roles and relations of resource types,
	// instances, relationship tuples, attribute rules.
	ResourceRoles      *ResourceRoles
	Relations          *Relations
	ResourceInstances  *ResourceInstances
	RelationshipTuples *RelationshipTuples
	ConditionSets      *ConditionSets
	SetRules           *SetRules
	// Permission checks and the decision log.
	Checks    *Checks
	Decisions *Decisions
	// The API log, webhooks, jobs and tasks.
	Logs     *Logs
	Audit    *Audit
	Webhooks *Webhooks
	Jobs     *Jobs
	Tasks    *Tasks

	// Status is the instance's status page and incidents.
	Status *Status
}

// Option configures a Client.
type Option func(*Client)

// WithOrganization sends the organization id with every request
// (X-Organization-Id): the server refuses a key of another organization.
func WithOrganization(id string) Option { return func(c *Client) { c.org = id } }

// WithHTTPClient replaces the HTTP client (timeouts, transport).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithRetries sets how often a 429 or 503 answer (and a connection error
// of a GET, or of a POST under WithIdempotencyKey, and a 409 in_progress
// of such a POST) is tried again; default 3.
func WithRetries(n int) Option { return func(c *Client) { c.maxRetries = n } }

// WithMaxWait bounds how long one retry waits for Retry-After; a longer
// wait returns the error instead. Default one minute.
func WithMaxWait(d time.Duration) Option { return func(c *Client) { c.maxWait = d } }

// WithUserAgent prefixes the User-Agent.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua + " " + c.userAgent } }

// New returns a client of the server at baseURL (e.g.
// "http://127.0.0.1:8080") with an API key.
func New(baseURL, key string, opts ...Option) *Client {
	c := &Client{baseURL: strings.TrimRight(baseURL, "/"), key: key, hc: &http.Client{Timeout: 60 * time.Second},
		userAgent: "gatehouse-go/" + Version, maxRetries: 3, maxWait: time.Minute}
	for _, o := range opts {
		o(c)
	}
	c.init()
	return c
}

// NewClient is New with the server named by GATEHOUSE_API_URL (default
// http://127.0.0.1:8080).
func NewClient(key string, opts ...Option) *Client {
	base := os.Getenv("GATEHOUSE_API_URL")
	if base == "" {
		base = "http://127.0.0.1:8080"
	}
	return New(base, key, opts...)
}

func (c *Client) init() {
	c.System, c.Organizations, c.Projects, c.Environments = &System{c}, &Organizations{c}, &Projects{c}, &Environments{c}
	c.Settings, c.Members, c.MemberRoles, c.APIKeys = &Settings{c}, &Members{c}, &MemberRoles{c}, &APIKeys{c}
	c.Users, c.Tenants, c.Resources, c.Roles, c.RoleAssignments = &Users{c}, &Tenants{c}, &Resources{c}, &Roles{c}, &RoleAssignments{c}
	c.ResourceRoles, c.Relations, c.ResourceInstances = &ResourceRoles{c}, &Relations{c}, &ResourceInstances{c}
	c.RelationshipTuples, c.ConditionSets, c.SetRules = &RelationshipTuples{c}, &ConditionSets{c}, &SetRules{c}
	c.Checks, c.Decisions, c.Logs, c.Webhooks, c.Jobs, c.Tasks = &Checks{c}, &Decisions{c}, &Logs{c}, &Webhooks{c}, &Jobs{c}, &Tasks{c}
	c.Audit = &Audit{c}
	c.Status = &Status{c}
}

// WithEnvironment returns a client whose environment-scoped calls (users,
// tenants, resources, roles, role assignments, checks, decisions, jobs) act
// on the environment project/environment (ids or keys). An environment key
// needs none: it implies its own.
func (c *Client) WithEnvironment(project, environment string) *Client {
	cp := *c
	cp.project, cp.environment = project, environment
	cp.init()
	return &cp
}

// BaseURL is the server's address.
func (c *Client) BaseURL() string { return c.baseURL }

// Key is the API key the client sends.
func (c *Client) Key() string { return c.key }

// envQuery adds the chosen environment to q.
func (c *Client) envQuery(q url.Values) url.Values {
	if q == nil {
		q = url.Values{}
	}
	if c.project != "" || c.environment != "" {
		q.Set("project", c.project)
		q.Set("environment", c.environment)
	}
	return q
}

// Error is an error answer of the API: {status: "error", error: {code,
// message, details}}. Use errors.As to read it, or the Is… helpers.
type Error struct {
	// Status is the HTTP status (0 when no answer came back).
	Status int
	// Code is the API's error code: INVALID_REQUEST, UNAUTHORIZED,
	// FORBIDDEN, NOT_FOUND, CONFLICT, RATE_LIMIT_EXCEEDED, …
	Code    string
	Message string
	Details map[string]any
	// RequestID identifies the call in the server's logs and API log.
	RequestID string
	// RetryAfter is the server's wait on 429 and 503.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	return fmt.Sprintf("gatehouse: %d %s: %s", e.Status, e.Code, e.Message)
}

// Error codes.
const (
	CodeInvalidRequest    = "INVALID_REQUEST"
	CodeUnauthorized      = "UNAUTHORIZED"
	CodeForbidden         = "FORBIDDEN"
	CodeNotFound          = "NOT_FOUND"
	CodeConflict          = "CONFLICT"
	CodeRateLimitExceeded = "RATE_LIMIT_EXCEEDED"
	CodeInternal          = "INTERNAL_ERROR"
	CodeUnavailable       = "SERVICE_UNAVAILABLE"
)

// ErrorCode is the API error code in err's chain ("" when it has none).
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// IsNotFound reports a NOT_FOUND error.
func IsNotFound(err error) bool { return ErrorCode(err) == CodeNotFound }

// IsConflict reports a CONFLICT error.
func IsConflict(err error) bool { return ErrorCode(err) == CodeConflict }

// IsForbidden reports a FORBIDDEN error.
func IsForbidden(err error) bool { return ErrorCode(err) == CodeForbidden }

// IsUnauthorized reports an UNAUTHORIZED error.
func IsUnauthorized(err error) bool { return ErrorCode(err) == CodeUnauthorized }

// request is one call.
type request struct {
	method, path string
	query        url.Values
	body         any       // JSON-encoded
	raw          io.Reader // sent as is (an import file); not retried
	ctype        string
	// stream answers are read for as long as they last (a change stream):
	// the HTTP client's overall timeout does not cut them; the caller's
	// context (and its own idle check) does.
	stream bool
}

// do makes a call and decodes its data into out (and the meta into meta).
func (c *Client) do(ctx context.Context, r request, out any, meta *PageMeta) error {
	res, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if out == nil && meta == nil {
		_, _ = io.Copy(io.Discard, res.Body)
		return nil
	}
	// data decodes straight into out (an interface holding a pointer is
	// decoded into): a large answer (a PDP's snapshot) was held twice
	// more, as the decoder's buffer and as a copy of its data.
	env := struct {
		Data any       `json:"data"`
		Meta *PageMeta `json:"meta"`
	}{Data: out, Meta: meta}
	if out == nil {
		env.Data = &json.RawMessage{} // skipped, not kept
	}
	if meta == nil {
		env.Meta = &PageMeta{}
	}
	if err := json.NewDecoder(res.Body).Decode(&env); err != nil {
		return fmt.Errorf("gatehouse: %s %s: decode the answer: %w", r.method, r.path, err)
	}
	return nil
}

// send makes a call, retrying 429 and 503 answers (and connection errors of
// GETs), and returns a 2xx response or an *Error.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	var payload []byte
	if r.body != nil {
		var err error
		if payload, err = json.Marshal(r.body); err != nil {
			return nil, fmt.Errorf("gatehouse: encode the request: %w", err)
		}
	}
	target := c.baseURL + r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	for attempt := 0; ; attempt++ {
		var body io.Reader
		switch {
		case r.raw != nil:
			body = r.raw
		case payload != nil:
			body = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(ctx, r.method, target, body)
		if err != nil {
			return nil, fmt.Errorf("gatehouse: %w", err)
		}
		if c.key != "" { // public calls (the status page) need none
			req.Header.Set("Authorization", "Bearer "+c.key)
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", c.userAgent)
		if c.org != "" {
			req.Header.Set("X-Organization-Id", c.org)
		}
		if k := idempotencyKey(ctx); k != "" && r.method == http.MethodPost {
			req.Header.Set("Idempotency-Key", k)
		}
		switch {
		case r.ctype != "":
			req.Header.Set("Content-Type", r.ctype)
		case payload != nil:
			req.Header.Set("Content-Type", "application/json")
		}
		hc := c.hc
		if r.stream && hc.Timeout > 0 {
			unbounded := *hc
			unbounded.Timeout = 0
			hc = &unbounded
		}
		res, err := hc.Do(req)
		canRetry := attempt < c.maxRetries && r.raw == nil
		// A POST under an Idempotency-Key is as safe to send again as a
		// GET: the server runs it once and answers a retry with the first
		// answer.
		keyed := r.method == http.MethodPost && idempotencyKey(ctx) != ""
		if err != nil {
			if canRetry && (r.method == http.MethodGet || keyed) && ctx.Err() == nil {
				if werr := sleep(ctx, backoff(attempt)); werr != nil {
					return nil, werr
				}
				continue
			}
			return nil, fmt.Errorf("gatehouse: %s %s: %w", r.method, r.path, err)
		}
		if res.StatusCode/100 == 2 {
			return res, nil
		}
		apiErr := readError(res)
		res.Body.Close()
		// 429 and 503 are refused before anything happens: safe to retry,
		// whatever the method; and a 409 in_progress says the first try of
		// this Idempotency-Key is still running: its answer comes later.
		inProgress := keyed && res.StatusCode == http.StatusConflict && apiErr.Details["reason"] == "in_progress"
		if canRetry && (res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusServiceUnavailable || inProgress) {
			wait := apiErr.RetryAfter
			if wait <= 0 {
				wait = backoff(attempt)
			}
			if wait <= c.maxWait {
				if werr := sleep(ctx, wait); werr != nil {
					return nil, werr
				}
				continue
			}
		}
		return nil, apiErr
	}
}

func readError(res *http.Response) *Error {
	e := &Error{Status: res.StatusCode, RequestID: res.Header.Get("X-Request-Id")}
	if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && s >= 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	data, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	var env struct {
		Error struct {
			Code    string         `json:"code"`
			Message string         `json:"message"`
			Details map[string]any `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &env) == nil && env.Error.Code != "" {
		e.Code, e.Message, e.Details = env.Error.Code, env.Error.Message, env.Error.Details
	} else {
		e.Code, e.Message = http.StatusText(res.StatusCode), strings.TrimSpace(string(data))
	}
	return e
}

// backoff is the wait before retry n (from 0) without Retry-After:
// 0.5 s, 1 s, 2 s… with jitter.
func backoff(n int) time.Duration {
	d := 500 * time.Millisecond << n
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ---- typed helpers

func get[T any](ctx context.Context, c *Client, path string, q url.Values) (*T, error) {
	var out T
	if err := c.do(ctx, request{method: http.MethodGet, path: path, query: q}, &out, nil); err != nil {
		return nil, err
	}
	return &out, nil
}

func write[T any](ctx context.Context, c *Client, method, path string, q url.Values, body any) (*T, error) {
	var out T
	if err := c.do(ctx, request{method: method, path: path, query: q, body: body}, &out, nil); err != nil {
		return nil, err
	}
	return &out, nil
}

func del(ctx context.Context, c *Client, path string, q url.Values) error {
	return c.do(ctx, request{method: http.MethodDelete, path: path, query: q}, nil, nil)
}

func seg(s string) string { return url.PathEscape(s) }
