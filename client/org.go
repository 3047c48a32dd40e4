package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"time"
)

// System is health, the calling key and the scope catalog.
type System struct{ c *Client }

// Me describes the calling key.
func (s *System) Me(ctx context.Context) (*Me, error) { return get[Me](ctx, s.c, "/v1/me", nil) }

// Scopes lists the scope catalog.
func (s *System) Scopes(ctx context.Context) ([]Scope, error) {
	out, err := get[[]Scope](ctx, s.c, "/v1/scopes", nil)
	if err != nil {
		return nil, err
	}
	return *out, nil
}

// Ready reports whether the server and its database answer.
func (s *System) Ready(ctx context.Context) error {
	return s.c.do(ctx, request{method: http.MethodGet, path: "/readyz"}, nil, nil)
}

// Organizations: a key sees only its own.
type Organizations struct{ c *Client }

// Get returns an organization by id or key.
func (o *Organizations) Get(ctx context.Context, ref string) (*Organization, error) {
	return get[Organization](ctx, o.c, "/v1/organizations/"+seg(ref), nil)
}

// Projects of the organization.
type Projects struct{ c *Client }

// ProjectInput creates or changes a project.
type ProjectInput struct {
	Key         string `json:"key,omitempty"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
}

// List lists projects.
func (p *Projects) List(ctx context.Context, opt *ListOptions) (*Page[Project], error) {
	return list[Project](ctx, p.c, "/v1/projects", opt.values())
}

// All iterates over every project.
func (p *Projects) All(ctx context.Context) iter.Seq2[Project, error] {
	return all[Project](ctx, p.c, "/v1/projects", url.Values{})
}

// Get returns a project by id or key.
func (p *Projects) Get(ctx context.Context, ref string) (*Project, error) {
	return get[Project](ctx, p.c, "/v1/projects/"+seg(ref), nil)
}

// Create creates a project (with development and production environments).
func (p *Projects) Create(ctx context.Context, in ProjectInput) (*Project, error) {
	return write[Project](ctx, p.c, http.MethodPost, "/v1/projects", nil, in)
}

// Update changes a project's fields that are set.
func (p *Projects) Update(ctx context.Context, ref string, in ProjectInput) (*Project, error) {
	return write[Project](ctx, p.c, http.MethodPatch, "/v1/projects/"+seg(ref), nil, in)
}

// Delete deletes a project with its environments and their data.
func (p *Projects) Delete(ctx context.Context, ref string) error {
	return del(ctx, p.c, "/v1/projects/"+seg(ref), nil)
}

// Environments of a project.
type Environments struct{ c *Client }

// EnvironmentInput creates or changes an environment.
type EnvironmentInput struct {
	Key         string `json:"key,omitempty"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	Sandbox     *bool  `json:"sandbox,omitempty"`
}

// List lists a project's environments.
func (e *Environments) List(ctx context.Context, project string, opt *ListOptions) (*Page[Environment], error) {
	return list[Environment](ctx, e.c, "/v1/projects/"+seg(project)+"/environments", opt.values())
}

// Get returns an environment.
func (e *Environments) Get(ctx context.Context, project, env string) (*Environment, error) {
	return get[Environment](ctx, e.c, "/v1/projects/"+seg(project)+"/environments/"+seg(env), nil)
}

// Create creates an environment.
func (e *Environments) Create(ctx context.Context, project string, in EnvironmentInput) (*Environment, error) {
	return write[Environment](ctx, e.c, http.MethodPost, "/v1/projects/"+seg(project)+"/environments", nil, in)
}

// Delete deletes an environment with its data and keys.
func (e *Environments) Delete(ctx context.Context, project, env string) error {
	return del(ctx, e.c, "/v1/projects/"+seg(project)+"/environments/"+seg(env), nil)
}

// Settings of the organization and its environments.
type Settings struct{ c *Client }

// Organization returns the organization's settings.
func (s *Settings) Organization(ctx context.Context) (*OrgSettings, error) {
	return get[OrgSettings](ctx, s.c, "/v1/settings", nil)
}

// UpdateOrganization changes the organization's settings: fields of patch
// as the API names them (tier, rate_limit_per_hour, log_retention_days).
func (s *Settings) UpdateOrganization(ctx context.Context, patch map[string]any) (*OrgSettings, error) {
	return write[OrgSettings](ctx, s.c, http.MethodPatch, "/v1/settings", nil, patch)
}

// Environment returns an environment's settings.
func (s *Settings) Environment(ctx context.Context, project, env string) (*EnvSettings, error) {
	return get[EnvSettings](ctx, s.c, "/v1/projects/"+seg(project)+"/environments/"+seg(env)+"/settings", nil)
}

// UpdateEnvironment changes an environment's settings (decision_log,
// decision_log_sample_rate, api_log_checks, rate_limit_per_hour).
func (s *Settings) UpdateEnvironment(ctx context.Context, project, env string, patch map[string]any) (*EnvSettings, error) {
	return write[EnvSettings](ctx, s.c, http.MethodPatch, "/v1/projects/"+seg(project)+"/environments/"+seg(env)+"/settings", nil, patch)
}

// Members of the organization.
type Members struct{ c *Client }

// MemberInput adds a member.
type MemberInput struct {
	Email string `json:"email"`
	Name  string `json:"name,omitempty"`
	Role  string `json:"role"`
}

// List lists members (role filters by role key).
func (m *Members) List(ctx context.Context, role string, opt *ListOptions) (*Page[Member], error) {
	q := opt.values()
	set(q, "role", role)
	return list[Member](ctx, m.c, "/v1/members", q)
}

// Create adds a member.
func (m *Members) Create(ctx context.Context, in MemberInput) (*Member, error) {
	return write[Member](ctx, m.c, http.MethodPost, "/v1/members", nil, in)
}

// Get returns a member.
func (m *Members) Get(ctx context.Context, id string) (*Member, error) {
	return get[Member](ctx, m.c, "/v1/members/"+seg(id), nil)
}

// SetRole changes a member's role.
func (m *Members) SetRole(ctx context.Context, id, role string) (*Member, error) {
	return write[Member](ctx, m.c, http.MethodPatch, "/v1/members/"+seg(id), nil, map[string]string{"role": role})
}

// SetupLink makes a one-time link with which the member chooses a
// dashboard password (the Admin role).
func (m *Members) SetupLink(ctx context.Context, id string) (*SetupLink, error) {
	return write[SetupLink](ctx, m.c, http.MethodPost, "/v1/members/"+seg(id)+"/setup-link", nil, nil)
}

// Delete removes a member.
func (m *Members) Delete(ctx context.Context, id string) error {
	return del(ctx, m.c, "/v1/members/"+seg(id), nil)
}

// MemberRoles are the roles members hold.
type MemberRoles struct{ c *Client }

// List lists member roles, built-in first.
func (r *MemberRoles) List(ctx context.Context) ([]MemberRole, error) {
	p, err := list[MemberRole](ctx, r.c, "/v1/member-roles", nil)
	if err != nil {
		return nil, err
	}
	return p.Items, nil
}

// APIKeys of the organization.
type APIKeys struct{ c *Client }

// APIKeyInput creates a key. Project and Environment are ids or keys.
type APIKeyInput struct {
	Name        string     `json:"name"`
	Level       string     `json:"level"` // organization, project or environment
	Project     string     `json:"project,omitempty"`
	Environment string     `json:"environment,omitempty"`
	Scopes      []string   `json:"scopes"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	RateLimit   int        `json:"rate_limit_per_hour,omitempty"`
}

// APIKeyPatch changes a key (nil fields stay). ExpiresAt may only bring
// the key's end forward: its token carries the expiry it was made with.
type APIKeyPatch struct {
	Name      *string    `json:"name,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// APIKeyListOptions filter the list.
type APIKeyListOptions struct {
	ListOptions
	Level     string
	Status    string // active, revoked, expired
	CreatedBy string // member:<id> or key:<id>
}

// List lists keys.
func (k *APIKeys) List(ctx context.Context, opt *APIKeyListOptions) (*Page[APIKey], error) {
	var q url.Values
	if opt != nil {
		q = opt.values()
		set(q, "level", opt.Level)
		set(q, "status", opt.Status)
		set(q, "created_by", opt.CreatedBy)
	}
	return list[APIKey](ctx, k.c, "/v1/api-keys", q)
}

// Create creates a key; its token is in the answer, once.
func (k *APIKeys) Create(ctx context.Context, in APIKeyInput) (*CreatedAPIKey, error) {
	return write[CreatedAPIKey](ctx, k.c, http.MethodPost, "/v1/api-keys", nil, in)
}

// Get returns a key (never its token).
func (k *APIKeys) Get(ctx context.Context, id string) (*APIKey, error) {
	return get[APIKey](ctx, k.c, "/v1/api-keys/"+seg(id), nil)
}

// Update renames a key or brings its expiry forward, on every node.
func (k *APIKeys) Update(ctx context.Context, id string, p APIKeyPatch) (*APIKey, error) {
	return write[APIKey](ctx, k.c, http.MethodPatch, "/v1/api-keys/"+seg(id), nil, p)
}

// Revoke revokes a key on every node.
func (k *APIKeys) Revoke(ctx context.Context, id string) (*APIKey, error) {
	return write[APIKey](ctx, k.c, http.MethodPost, "/v1/api-keys/"+seg(id)+"/revoke", nil, nil)
}

// Rotate makes a new key like id; the old one ends after grace.
func (k *APIKeys) Rotate(ctx context.Context, id string, grace time.Duration) (*CreatedAPIKey, error) {
	return write[CreatedAPIKey](ctx, k.c, http.MethodPost, "/v1/api-keys/"+seg(id)+"/rotate", nil, map[string]int{"grace_period_seconds": int(grace / time.Second)})
}
