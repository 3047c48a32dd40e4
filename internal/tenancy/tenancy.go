// Package tenancy manages the top of Gatehouse's hierarchy: organizations,
// their projects and environments, their members and the member roles that
// grant platform scopes, and organization and environment settings.
package tenancy

import (
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"regexp"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/google/uuid"
)

// Organization is the top of tenancy.
type Organization struct {
	ID        string
	Key       string
	Name      string
	Settings  OrgSettings
	CreatedAt time.Time
	UpdatedAt time.Time
	Tombstone
}

// Tombstone marks an organization, project or environment that was deleted:
// it can be restored until PurgeAfter, when it is purged for good.
type Tombstone struct {
	DeletedAt  *time.Time `json:"deleted_at,omitempty"`
	PurgeAfter *time.Time `json:"purge_after,omitempty"`
}

// Deleted reports whether the thing was deleted (and not restored).
func (t Tombstone) Deleted() bool { return t.DeletedAt != nil }

// Project groups environments.
type Project struct {
	ID          string    `json:"id"`
	OrgID       string    `json:"-"`
	Key         string    `json:"key"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	Tombstone
}

// Environment is where authorization data lives (development, production…).
// A sandbox environment is not rate limited and its data is reset daily.
type Environment struct {
	ID          string      `json:"id"`
	OrgID       string      `json:"-"`
	ProjectID   string      `json:"project_id"`
	Key         string      `json:"key"`
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Sandbox     bool        `json:"sandbox"`
	Settings    EnvSettings `json:"-"`
	CreatedAt   time.Time   `json:"created_at"`
	UpdatedAt   time.Time   `json:"updated_at"`
	// ResetAt is when a sandbox's data was last reset (nil: never).
	ResetAt *time.Time `json:"-"`
	Tombstone
}

// Member is a person of the organization who signs in to the dashboard.
type Member struct {
	ID        string    `json:"id"`
	OrgID     string    `json:"-"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Role      string    `json:"role"` // a role key: admin, developer, viewer or a custom role's key
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Role is a member role: a named set of platform scopes. The built-in roles
// (admin, developer, viewer) are defined in code and cannot be changed.
type Role struct {
	OrgID       string
	Key         string
	Name        string
	Description string
	Scopes      gatehouse.ScopeSet
	Builtin     bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Built-in role keys.
const (
	RoleAdmin     = "admin"
	RoleDeveloper = "developer"
	RoleViewer    = "viewer"
)

// BuiltinRoles returns the three built-in roles. Admin holds every scope of
// the catalog, so it grows with the catalog.
func BuiltinRoles() []Role {
	all := gatehouse.MustScopeSet(gatehouse.AllScopes()...)
	return []Role{
		{Key: RoleAdmin, Name: "Admin", Builtin: true, Scopes: all,
			Description: "Everything, including members' roles and permissions."},
		{Key: RoleDeveloper, Name: "Developer", Builtin: true,
			Description: "Works on projects, environments, API keys, authorization data, webhooks and jobs; reads members and settings.",
			Scopes: gatehouse.MustScopeSet(gatehouse.ScopeViewOrganization, gatehouse.ScopeViewProject,
				gatehouse.ScopeManageProject, gatehouse.ScopeViewMember, gatehouse.ScopeManageAPI,
				gatehouse.ScopeViewSettings,
				gatehouse.ScopeViewUser, gatehouse.ScopeManageUser, gatehouse.ScopeViewTenant, gatehouse.ScopeManageTenant,
				gatehouse.ScopeViewResource, gatehouse.ScopeManageResource, gatehouse.ScopeViewRole, gatehouse.ScopeManageRole,
				gatehouse.ScopeViewRoleAssignment, gatehouse.ScopeManageRoleAssignment, gatehouse.ScopeCheckAccess, gatehouse.ScopeViewLog,
				gatehouse.ScopeViewWebhook, gatehouse.ScopeManageWebhook, gatehouse.ScopeViewJob, gatehouse.ScopeManageJob)},
		{Key: RoleViewer, Name: "Viewer", Builtin: true,
			Description: "Reads projects, environments, members, settings, authorization data, webhooks and jobs.",
			Scopes: gatehouse.MustScopeSet(gatehouse.ScopeViewOrganization, gatehouse.ScopeViewProject,
				gatehouse.ScopeViewMember, gatehouse.ScopeViewSettings, gatehouse.ScopeViewUser, gatehouse.ScopeViewTenant,
				gatehouse.ScopeViewResource, gatehouse.ScopeViewRole, gatehouse.ScopeViewRoleAssignment, gatehouse.ScopeCheckAccess, gatehouse.ScopeViewLog,
				gatehouse.ScopeViewWebhook, gatehouse.ScopeViewJob)},
	}
}

// BuiltinRole returns the built-in role with key, if there is one.
func BuiltinRole(key string) (Role, bool) {
	for _, r := range BuiltinRoles() {
		if r.Key == key {
			return r, true
		}
	}
	return Role{}, false
}

// Tiers of an organization: each has a default hourly rate limit.
const (
	TierFree       = "free"
	TierPro        = "pro"
	TierEnterprise = "enterprise"
)

// OrgSettings are an organization's settings.
type OrgSettings struct {
	// Tier selects the default rate limit.
	Tier string `json:"tier"`
	// RateLimitPerHour overrides the tier's limit when set.
	RateLimitPerHour *int `json:"rate_limit_per_hour"`
	// LogRetentionDays is how long API log entries are kept.
	LogRetentionDays int `json:"log_retention_days"`
}

// DefaultOrgSettings are the settings of a new organization.
func DefaultOrgSettings() OrgSettings {
	return OrgSettings{Tier: TierFree, LogRetentionDays: 30}
}

// TierLimit is the default hourly request limit of a tier (free 100, pro
// 1,000, enterprise 10,000).
func TierLimit(tier string) int {
	switch tier {
	case TierPro:
		return 1000
	case TierEnterprise:
		return 10000
	}
	return 100
}

// Validate checks the settings.
func (s OrgSettings) Validate() error {
	switch s.Tier {
	case TierFree, TierPro, TierEnterprise:
	default:
		return gatehouse.FieldError("tier", "invalid_value", "tier must be free, pro or enterprise")
	}
	if s.RateLimitPerHour != nil && (*s.RateLimitPerHour < 1 || *s.RateLimitPerHour > 100_000_000) {
		return gatehouse.FieldError("rate_limit_per_hour", "out_of_range", "rate_limit_per_hour must be between 1 and 100000000")
	}
	if s.LogRetentionDays < 1 || s.LogRetentionDays > 3650 {
		return gatehouse.FieldError("log_retention_days", "out_of_range", "log_retention_days must be between 1 and 3650")
	}
	return nil
}

// Decision log modes of an environment.
const (
	DecisionLogOff     = "off"
	DecisionLogSampled = "sampled"
	DecisionLogFull    = "full"
)

// EnvSettings are an environment's settings.
type EnvSettings struct {
	// RateLimitPerHour overrides the organization's limit for keys of this
	// environment when set.
	RateLimitPerHour *int `json:"rate_limit_per_hour"`
	// DecisionLog says which permission checks are recorded.
	DecisionLog string `json:"decision_log"`
	// DecisionLogSampleRate is the fraction recorded when DecisionLog is sampled.
	DecisionLogSampleRate float64 `json:"decision_log_sample_rate"`
	// APILogChecks records permission checks in the API log too, a row
	// each; by default they are only counted (and in the decision log per
	// DecisionLog).
	APILogChecks bool `json:"api_log_checks,omitempty"`
}

// DecisionPolicy is what the settings say about recording checks.
func (s EnvSettings) DecisionPolicy() decision.Policy {
	return decision.Policy{Mode: s.DecisionLog, SampleRate: s.DecisionLogSampleRate, APILog: s.APILogChecks}
}

// DefaultEnvSettings are the settings of a new environment.
func DefaultEnvSettings() EnvSettings {
	return EnvSettings{DecisionLog: DecisionLogOff, DecisionLogSampleRate: 0.01}
}

// Validate checks the settings.
func (s EnvSettings) Validate() error {
	switch s.DecisionLog {
	case DecisionLogOff, DecisionLogSampled, DecisionLogFull:
	default:
		return gatehouse.FieldError("decision_log", "invalid_value", "decision_log must be off, sampled or full")
	}
	if s.DecisionLogSampleRate < 0 || s.DecisionLogSampleRate > 1 {
		return gatehouse.FieldError("decision_log_sample_rate", "out_of_range", "decision_log_sample_rate must be between 0 and 1")
	}
	if s.RateLimitPerHour != nil && (*s.RateLimitPerHour < 1 || *s.RateLimitPerHour > 100_000_000) {
		return gatehouse.FieldError("rate_limit_per_hour", "out_of_range", "rate_limit_per_hour must be between 1 and 100000000")
	}
	return nil
}

var keyPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidateKey checks a URL-safe key (slug) such as a project's "web-app".
// A key must not look like an id, so that paths can take either.
func ValidateKey(field, key string) error {
	if !keyPattern.MatchString(key) {
		return gatehouse.FieldError(field, "invalid_format",
			"%s must be 1-63 characters of a-z, 0-9, '-' or '_', starting with a letter or digit", field)
	}
	if IsID(key) {
		return gatehouse.FieldError(field, "invalid_format", "%s must not have the form of an id", field)
	}
	return nil
}

// ValidateName checks a display name.
func ValidateName(field, name string) error {
	if strings.TrimSpace(name) == "" {
		return gatehouse.FieldError(field, "required_field_missing", "%s is required", field)
	}
	if len(name) > 200 {
		return gatehouse.FieldError(field, "too_long", "%s must be at most 200 characters", field)
	}
	return nil
}

// IsID reports whether s has the form of a Gatehouse id (a UUID).
func IsID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

// NewID returns a new time-ordered id.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// Slugify turns a name into a key candidate ("Web App" → "web-app").
func Slugify(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case b.Len() > 0 && !dash:
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= 60 {
			break
		}
	}
	s := strings.TrimRight(b.String(), "-")
	if s == "" {
		s = "org"
	}
	return s
}
