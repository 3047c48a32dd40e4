package client

import (
	"encoding/json"
	"time"

	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// Organization is the top of tenancy.
type Organization struct {
	ID        string    `json:"id"`
	Key       string    `json:"key"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Project groups environments.
type Project struct {
	ID          string    `json:"id"`
	Key         string    `json:"key"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Environment holds its own authorization data.
type Environment struct {
	ID          string    `json:"id"`
	ProjectID   string    `json:"project_id"`
	Key         string    `json:"key"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Sandbox     bool      `json:"sandbox"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Member is a person who signs in to the dashboard.
type Member struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// MemberRole is a named set of platform scopes.
type MemberRole struct {
	Key         string   `json:"key"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Scopes      []string `json:"scopes"`
	Builtin     bool     `json:"builtin"`
}

// SetupLink lets a member choose a dashboard password, once.
type SetupLink struct {
	MemberID  string    `json:"member_id"`
	Path      string    `json:"path"`
	ExpiresAt time.Time `json:"expires_at"`
}

// APIKey is a key without its token.
type APIKey struct {
	ID            string     `json:"id"`
	Name          string     `json:"name"`
	Level         string     `json:"level"`
	ProjectID     string     `json:"project_id,omitempty"`
	EnvironmentID string     `json:"environment_id,omitempty"`
	Scopes        []string   `json:"scopes"`
	Status        string     `json:"status"`
	CreatedBy     string     `json:"created_by"`
	CreatedAt     time.Time  `json:"created_at"`
	ExpiresAt     *time.Time `json:"expires_at,omitempty"`
	RevokedAt     *time.Time `json:"revoked_at,omitempty"`
	// RevokedReason says why a key was revoked other than by a call to
	// revoke it: rotated, creator_removed or creator_lost_scope.
	RevokedReason string     `json:"revoked_reason,omitempty"`
	LastUsedAt    *time.Time `json:"last_used_at,omitempty"`
	ReplacedBy    string     `json:"replaced_by,omitempty"`
	RateLimit     int        `json:"rate_limit_per_hour,omitempty"`
	// LegacyToken marks an active key whose token carries no random
	// secret (made by an old version): rotate it.
	LegacyToken bool `json:"legacy_token,omitempty"`
}

// CreatedAPIKey is a new key with its token, shown once.
type CreatedAPIKey struct {
	APIKey
	Token string `json:"token"`
}

// OrgSettings are an organization's settings.
type OrgSettings struct {
	Tier             string `json:"tier"`
	RateLimitPerHour *int   `json:"rate_limit_per_hour"`
	EffectiveLimit   int    `json:"effective_rate_limit_per_hour,omitempty"`
	LogRetentionDays int    `json:"log_retention_days"`
}

// EnvSettings are an environment's settings.
type EnvSettings struct {
	RateLimitPerHour      *int    `json:"rate_limit_per_hour"`
	DecisionLog           string  `json:"decision_log"`
	DecisionLogSampleRate float64 `json:"decision_log_sample_rate"`
	// APILogChecks: successful checks are API log rows too (by default
	// they are only counted).
	APILogChecks bool `json:"api_log_checks"`
}

// User is an end user of the application, the subject of checks.
type User struct {
	ID         string         `json:"id"`
	Key        string         `json:"key"`
	Email      string         `json:"email"`
	FirstName  string         `json:"first_name"`
	LastName   string         `json:"last_name"`
	Attributes map[string]any `json:"attributes"`
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
}

// Tenant is an isolated part of the application.
type Tenant struct {
	ID          string         `json:"id"`
	Key         string         `json:"key"`
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Attributes  map[string]any `json:"attributes"`
	CreatedAt   time.Time      `json:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
}

// AttributeDef declares an attribute of a resource type.
type AttributeDef struct {
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
}

// Resource is a resource type and its actions.
type Resource struct {
	ID          string                  `json:"id"`
	Key         string                  `json:"key"`
	Name        string                  `json:"name"`
	Description string                  `json:"description"`
	Type        string                  `json:"type,omitempty"`
	Status      string                  `json:"status,omitempty"`
	Config      map[string]any          `json:"config,omitempty"`
	Actions     []string                `json:"actions"`
	Attributes  map[string]AttributeDef `json:"attributes"`
	CreatedAt   time.Time               `json:"created_at"`
	UpdatedAt   time.Time               `json:"updated_at"`
}

// Role grants "resource:action" permissions and may extend other roles.
type Role struct {
	ID          string         `json:"id"`
	Key         string         `json:"key"`
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Permissions []string       `json:"permissions"`
	Extends     []string       `json:"extends"`
	Attributes  map[string]any `json:"attributes"` // your metadata; not used by checks
	CreatedAt   time.Time      `json:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
}

// RoleAssignment gives a user a role in a tenant, or a role of a resource
// type on one instance.
type RoleAssignment struct {
	ID       string `json:"id"`
	User     string `json:"user"`
	Role     string `json:"role"`
	Tenant   string `json:"tenant"`
	UserID   string `json:"user_id"`
	RoleID   string `json:"role_id"`
	TenantID string `json:"tenant_id"`
	// ResourceInstance ("resource:key") is set for a role on one instance.
	ResourceInstance   string    `json:"resource_instance,omitempty"`
	ResourceInstanceID string    `json:"resource_instance_id,omitempty"`
	CreatedAt          time.Time `json:"created_at"`
}

// Check asks whether a user may do an action on a resource.
type Check struct {
	User string `json:"user"`
	// UserAttributes replace the user's stored attributes of the same name
	// for this check (attribute rules); the user is then sent as
	// {"key", "attributes"}.
	UserAttributes map[string]any `json:"-"`
	Action         string         `json:"action"`
	Resource       CheckResource  `json:"resource"`
	Context        map[string]any `json:"context,omitempty"`
}

// MarshalJSON sends the user as a key, or as {key, attributes} when the
// check carries user attributes.
func (c Check) MarshalJSON() ([]byte, error) {
	type plain Check
	if c.UserAttributes == nil {
		return json.Marshal(plain(c))
	}
	return json.Marshal(struct {
		User any `json:"user"`
		plain
	}{User: map[string]any{"key": c.User, "attributes": c.UserAttributes}, plain: plain(c)})
}

// Request is the engine's form of the check.
func (c *Check) Request() authz.Request {
	return authz.Request{User: c.User, UserAttributes: c.UserAttributes, Action: c.Action, Resource: c.Resource.Type,
		Key: c.Resource.Key, Tenant: c.Resource.Tenant, ResourceAttributes: c.Resource.Attributes, Context: c.Context}
}

// CheckResource is what a check is about.
type CheckResource struct {
	Type       string         `json:"type"`
	Key        string         `json:"key,omitempty"`
	Tenant     string         `json:"tenant,omitempty"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

// Decision is the answer to a check.
type Decision struct {
	Allow       bool   `json:"allow"`
	Reason      string `json:"reason"`
	Via         string `json:"via,omitempty"` // tenant_role, instance_role or set_rule
	Role        string `json:"role,omitempty"`
	ResourceSet string `json:"resource_set,omitempty"`
	Tenant      string `json:"tenant"`
	Explanation string `json:"explanation"`
	// Path is why it is allowed: the chain of facts and rules.
	Path []authz.Step `json:"path,omitempty"`
}

// TenantPermissions are a user's roles and permissions in one tenant.
type TenantPermissions struct {
	Tenant      string   `json:"tenant"`
	Roles       []string `json:"roles"`
	Permissions []string `json:"permissions"`
	// Instances are the tenant's instances on which the user holds a role
	// (asked for with PermissionsQuery.Instances).
	Instances []InstancePermissions `json:"instances,omitempty"`
}

// InstancePermissions are what a user may do on one resource instance by
// the roles it holds there (assigned, or derived).
type InstancePermissions struct {
	Resource    string   `json:"resource"` // "type:key"
	Roles       []string `json:"roles"`
	Permissions []string `json:"permissions"` // "type:action"
}

// PermissionsQuery asks what a user may do.
type PermissionsQuery struct {
	User    string   `json:"user"`
	Tenants []string `json:"tenants,omitempty"` // none: every tenant where the user holds a role
	// Instances lists, per tenant, the instances on which the user holds
	// a role too; ResourceTypes narrows them.
	Instances     bool     `json:"instances,omitempty"`
	ResourceTypes []string `json:"resource_types,omitempty"`
}

// DecisionEntry is a recorded check.
type DecisionEntry struct {
	ID           string    `json:"id"`
	Time         time.Time `json:"timestamp"`
	Source       string    `json:"source"`
	RequestID    string    `json:"request_id"`
	KeyID        string    `json:"key_id"`
	User         string    `json:"user"`
	Action       string    `json:"action"`
	ResourceType string    `json:"resource_type"`
	ResourceKey  string    `json:"resource_key"`
	Tenant       string    `json:"tenant"`
	Allow        bool      `json:"allow"`
	Reason       string    `json:"reason"`
	Role         string    `json:"role"`
}

// AuditEntry is one change of the audit trail: who made it, when, from
// where, and the object before and after (never a secret).
type AuditEntry struct {
	ID             string          `json:"id"`
	Time           time.Time       `json:"timestamp"`
	OrganizationID string          `json:"organization_id"`
	ProjectID      string          `json:"project_id,omitempty"`
	EnvironmentID  string          `json:"environment_id,omitempty"`
	ActorType      string          `json:"actor_type"` // member, key or system
	ActorID        string          `json:"actor_id,omitempty"`
	ActorName      string          `json:"actor_name,omitempty"` // the member's email or the key's name
	ClientIP       string          `json:"client_ip,omitempty"`
	RequestID      string          `json:"request_id,omitempty"`
	Action         string          `json:"action"` // e.g. user.updated
	ObjectType     string          `json:"object_type"`
	ObjectID       string          `json:"object_id,omitempty"`
	ObjectKey      string          `json:"object_key,omitempty"`
	Before         json.RawMessage `json:"before,omitempty"` // the object before the change (none for a creation)
	After          json.RawMessage `json:"after,omitempty"`  // and after it (none for a deletion)
}

// Call is one API call of the API log.
type Call struct {
	ID                string            `json:"id"`
	Time              time.Time         `json:"timestamp"`
	RequestID         string            `json:"request_id"`
	OrganizationID    string            `json:"organization_id"`
	ProjectID         string            `json:"project_id,omitempty"`
	EnvironmentID     string            `json:"environment_id,omitempty"`
	ActorType         string            `json:"actor_type,omitempty"`
	ActorID           string            `json:"actor_id,omitempty"`
	ActorName         string            `json:"actor_name,omitempty"`
	Method            string            `json:"method"`
	Route             string            `json:"route"`
	Path              string            `json:"path"`
	Status            int               `json:"status"`
	ErrorCode         string            `json:"error_code,omitempty"`
	LatencyMicros     int64             `json:"latency_us"`
	ClientIP          string            `json:"client_ip"`
	UserAgent         string            `json:"user_agent"`
	RequestHeaders    map[string]string `json:"request_headers,omitempty"`
	RequestBody       string            `json:"request_body,omitempty"`
	RequestSize       int64             `json:"request_size"`
	RequestTruncated  bool              `json:"request_truncated"`
	ResponseBody      string            `json:"response_body,omitempty"`
	ResponseSize      int64             `json:"response_size"`
	ResponseTruncated bool              `json:"response_truncated"`
}

// Webhook is an endpoint that receives events.
type Webhook struct {
	ID                      string     `json:"id"`
	URL                     string     `json:"url"`
	Description             string     `json:"description"`
	Events                  []string   `json:"events"`
	Enabled                 bool       `json:"enabled"`
	Status                  string     `json:"status"`
	ProjectID               string     `json:"project_id,omitempty"`
	EnvironmentID           string     `json:"environment_id,omitempty"`
	FailingSince            *time.Time `json:"failing_since,omitempty"`
	LastSuccessAt           *time.Time `json:"last_success_at,omitempty"`
	LastFailureAt           *time.Time `json:"last_failure_at,omitempty"`
	DisabledAt              *time.Time `json:"disabled_at,omitempty"`
	DisabledReason          string     `json:"disabled_reason,omitempty"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`
	CreatedBy               string     `json:"created_by"`
	CreatedAt               time.Time  `json:"created_at"`
	UpdatedAt               time.Time  `json:"updated_at"`
	// Secret is set only when the endpoint is created or its secret rotated.
	Secret string `json:"secret,omitempty"`
}

// Delivery is one event sent to one endpoint.
type Delivery struct {
	ID             string     `json:"id"`
	WebhookID      string     `json:"webhook_id"`
	EventID        string     `json:"event_id"`
	Event          string     `json:"event"`
	Status         string     `json:"status"`
	Attempts       int        `json:"attempts"`
	LastStatusCode int        `json:"last_status_code,omitempty"`
	LastError      string     `json:"last_error,omitempty"`
	NextAttemptAt  *time.Time `json:"next_attempt_at,omitempty"`
	ReplayOf       string     `json:"replay_of,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	DeliveredAt    *time.Time `json:"delivered_at,omitempty"`
	// Set by Webhooks.Delivery:
	Payload        json.RawMessage `json:"payload,omitempty"`
	AttemptHistory []Attempt       `json:"attempt_history,omitempty"`
}

// Attempt is one HTTP request of a delivery.
type Attempt struct {
	Attempt           int               `json:"attempt"`
	StartedAt         time.Time         `json:"started_at"`
	DurationMS        float64           `json:"duration_ms"`
	StatusCode        int               `json:"status_code,omitempty"`
	Error             string            `json:"error,omitempty"`
	RequestHeaders    map[string]string `json:"request_headers"`
	ResponseHeaders   map[string]string `json:"response_headers"`
	ResponseBody      string            `json:"response_body"`
	ResponseTruncated bool              `json:"response_truncated"`
}

// Job is long work done in the background.
type Job struct {
	ID            string     `json:"id"`
	Type          string     `json:"type"`
	Status        string     `json:"status"`
	ProjectID     string     `json:"project_id"`
	EnvironmentID string     `json:"environment_id"`
	Progress      Progress   `json:"progress"`
	Result        JobResult  `json:"result"`
	Error         string     `json:"error,omitempty"`
	OutputURL     string     `json:"output_url,omitempty"`
	CreatedBy     string     `json:"created_by"`
	CreatedAt     time.Time  `json:"created_at"`
	StartedAt     *time.Time `json:"started_at,omitempty"`
	FinishedAt    *time.Time `json:"finished_at,omitempty"`
}

// Ended reports whether the job has finished (succeeded, failed or
// cancelled).
func (j *Job) Ended() bool {
	return j.Status == "succeeded" || j.Status == "failed" || j.Status == "cancelled"
}

// Progress says how far a job is.
type Progress struct {
	TotalItems  int64   `json:"total_items"`
	DoneItems   int64   `json:"done_items"`
	FailedItems int64   `json:"failed_items"`
	TotalTasks  int     `json:"total_tasks"`
	Percent     float64 `json:"percent"`
}

// JobResult sums a job up.
type JobResult struct {
	Created     int        `json:"created"`
	Updated     int        `json:"updated"`
	Unchanged   int        `json:"unchanged"`
	FailedTasks int        `json:"failed_tasks"`
	Errors      []RowError `json:"errors,omitempty"`
	ErrorCount  int        `json:"error_count"`
}

// RowError is a row of an import that could not be applied.
type RowError struct {
	Line    int64  `json:"line"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// Task is one step of a job.
type Task struct {
	ID         string     `json:"id"`
	JobID      string     `json:"job_id"`
	Seq        int        `json:"seq"`
	Kind       string     `json:"kind"`
	Status     string     `json:"status"`
	Attempts   int        `json:"attempts"`
	Items      int64      `json:"items"`
	FirstLine  int64      `json:"first_line,omitempty"`
	LastLine   int64      `json:"last_line,omitempty"`
	RowKind    string     `json:"row_kind,omitempty"` // an export or copy task: the kind of item it reads
	Result     RowResult  `json:"result"`
	Errors     []RowError `json:"errors"`
	Error      string     `json:"error,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// Me is the calling key.
type Me struct {
	KeyID          string     `json:"key_id"`
	KeyName        string     `json:"key_name"`
	Level          string     `json:"level"`
	OrganizationID string     `json:"organization_id"`
	ProjectID      string     `json:"project_id,omitempty"`
	EnvironmentID  string     `json:"environment_id,omitempty"`
	Scopes         []string   `json:"scopes"`
	ExpiresAt      *time.Time `json:"expires_at,omitempty"`
}

// Scope is one permission of the scope catalog.
type Scope struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	AdminOnly   bool   `json:"admin_only"`
}

// Derivation grants a resource role to the holders of a role on a related
// instance, or (OnResource "__tenant") of a tenant role in the instance's
// tenant.
type Derivation struct {
	Role             string `json:"role"`
	OnResource       string `json:"on_resource"`
	LinkedByRelation string `json:"linked_by_relation,omitempty"`
}

// ResourceRole is a role of a resource type, given on single instances.
type ResourceRole struct {
	ID          string         `json:"id"`
	Key         string         `json:"key"`
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Resource    string         `json:"resource"`
	ResourceID  string         `json:"resource_id"`
	Permissions []string       `json:"permissions"` // actions of the resource type
	Extends     []string       `json:"extends"`     // other roles of the resource type
	GrantedTo   []Derivation   `json:"granted_to"`
	Attributes  map[string]any `json:"attributes"` // your metadata; not used by checks
	CreatedAt   time.Time      `json:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
}

// Relation is a relation declared on a resource type (the tuples'
// objects), whose subjects are instances of Subject.
type Relation struct {
	ID          string    `json:"id"`
	Key         string    `json:"key"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Resource    string    `json:"resource"`
	ResourceID  string    `json:"resource_id"`
	Subject     string    `json:"subject"`
	SubjectID   string    `json:"subject_id"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// ResourceInstance is one resource of a type, in one tenant.
type ResourceInstance struct {
	ID         string         `json:"id"`
	Key        string         `json:"key"`
	Resource   string         `json:"resource"`
	ResourceID string         `json:"resource_id"`
	Tenant     string         `json:"tenant"`
	TenantID   string         `json:"tenant_id"`
	Attributes map[string]any `json:"attributes"`
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
}

// Ref is the instance's "resource:key".
func (i *ResourceInstance) Ref() string { return i.Resource + ":" + i.Key }

// RelationshipTuple links two instances: Subject Relation Object
// ("folder:f1 parent document:d1"); a subject "team:t1#member" stands for
// the holders of a role on an instance.
type RelationshipTuple struct {
	ID        string    `json:"id,omitempty"`
	Subject   string    `json:"subject"`
	Relation  string    `json:"relation"`
	Object    string    `json:"object"`
	SubjectID string    `json:"subject_id,omitempty"`
	ObjectID  string    `json:"object_id,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`
}

// Condition set types.
const (
	UserSet     = "userset"
	ResourceSet = "resourceset"
)

// ConditionSet selects users (a user set) or resources of one type (a
// resource set) by conditions on attributes.
type ConditionSet struct {
	ID          string          `json:"id"`
	Key         string          `json:"key"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Type        string          `json:"type"` // UserSet or ResourceSet
	Resource    string          `json:"resource,omitempty"`
	ResourceID  string          `json:"resource_id,omitempty"`
	Conditions  json.RawMessage `json:"conditions"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

// SetRule lets the users of a user set do an action on the resources of a
// resource set.
type SetRule struct {
	ID            string    `json:"id"`
	UserSet       string    `json:"user_set"`
	Action        string    `json:"action"`
	ResourceSet   string    `json:"resource_set"`
	UserSetID     string    `json:"user_set_id"`
	ResourceSetID string    `json:"resource_set_id"`
	CreatedAt     time.Time `json:"created_at"`
}
