package httpapi

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// APIKey is the wire form of an API key; its token is never included.
type APIKey struct {
	ID            string            `json:"id" doc:"The key's id; also its JWT jti claim."`
	Name          string            `json:"name"`
	Level         string            `json:"level" enum:"organization,project,environment"`
	ProjectID     string            `json:"project_id,omitempty"`
	EnvironmentID string            `json:"environment_id,omitempty"`
	Scopes        []gatehouse.Scope `json:"scopes"`
	Status        string            `json:"status" enum:"active,revoked,expired"`
	CreatedBy     string            `json:"created_by" doc:"member:<id>, key:<id>, or init (the key the instance's set-up made)."`
	CreatedAt     time.Time         `json:"created_at"`
	ExpiresAt     *time.Time        `json:"expires_at,omitempty"`
	RevokedAt     *time.Time        `json:"revoked_at,omitempty"`
	RevokedReason string            `json:"revoked_reason,omitempty" enum:"rotated,creator_removed,creator_lost_scope" doc:"Why the key was revoked, when not by a call to revoke it: rotated, creator_removed (the member who made it was removed), creator_lost_scope (their role no longer holds one of its scopes)."`
	LastUsedAt    *time.Time        `json:"last_used_at,omitempty" doc:"Recorded within seconds of use."`
	ReplacedBy    string            `json:"replaced_by,omitempty" doc:"The key a rotation created from this one."`
	RateLimit     int               `json:"rate_limit_per_hour,omitempty" doc:"The key's own requests-per-hour limit; absent: the environment's or organization's applies."`
	LegacyToken   bool              `json:"legacy_token,omitempty" doc:"Made by a version whose tokens carried no random secret: a copy of the database from then could rebuild it. Rotate it."`
}

// CreatedAPIKey is a new key with its token, shown only in this response.
type CreatedAPIKey struct {
	APIKey
	Token string `json:"token" doc:"The API key itself (an EdDSA JWT). Shown once: store it now."`
}

func keyOut(k *apikey.Key, now time.Time) APIKey {
	return APIKey{ID: k.ID, Name: k.Name, Level: string(k.Level), ProjectID: k.ProjectID, EnvironmentID: k.EnvironmentID,
		Scopes: k.Scopes.Scopes(), Status: k.Status(now), CreatedBy: k.CreatedBy, CreatedAt: k.CreatedAt,
		ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt, RevokedReason: k.RevokedReason, LastUsedAt: k.LastUsedAt, ReplacedBy: k.ReplacedBy, RateLimit: k.RateLimitPerHour,
		LegacyToken: k.Legacy() && k.Status(now) == apikey.StatusActive}
}

type listKeysIn struct {
	PageQuery
	Sort      string `query:"sort" default:"created_at" enum:"created_at,name,last_used_at,expires_at"`
	Level     string `query:"level" enum:"organization,project,environment" doc:"Only keys of this level."`
	Status    string `query:"status" enum:"active,revoked,expired" doc:"Only keys in this state."`
	CreatedBy string `query:"created_by" maxLength:"100" doc:"Only keys made by this member or key (member:<id>, key:<id>)."`
}

func (h *handlers) listKeys(ctx context.Context, in *listKeysIn) (*ListOut[APIKey], error) {
	p := principal(ctx)
	f := apikey.Filter{OrgID: p.OrgID, ProjectID: p.ProjectID, EnvironmentID: p.EnvironmentID, Level: auth.Level(in.Level), Status: in.Status, CreatedBy: in.CreatedBy}
	req := in.request(in.Sort)
	page, err := h.Keys.List(ctx, f, req)
	if err != nil {
		return nil, err
	}
	now := h.Keys.Now()
	return list(ctx, page, req, func(k *apikey.Key) APIKey { return keyOut(k, now) }), nil
}

type createKeyIn struct {
	Body struct {
		Name        string            `json:"name" minLength:"1" maxLength:"200"`
		Level       string            `json:"level" enum:"organization,project,environment"`
		Project     string            `json:"project,omitempty" doc:"Project id or key: required for project and environment keys."`
		Environment string            `json:"environment,omitempty" doc:"Environment id or key: required for environment keys."`
		Scopes      []gatehouse.Scope `json:"scopes" minItems:"1" doc:"Scopes from GET /v1/scopes, each held by the calling key."`
		ExpiresAt   *time.Time        `json:"expires_at,omitempty" doc:"When the key stops working; never when omitted."`
		RateLimit   int               `json:"rate_limit_per_hour,omitempty" minimum:"0" maximum:"100000000" doc:"The key's own requests-per-hour limit (it spends from its own bucket); 0 or omitted: the environment's or organization's limit applies. At most the limit that applies to the calling key, unless it holds manage:settings."`
	}
}

func (h *handlers) createKey(ctx context.Context, in *createKeyIn) (*Out[CreatedAPIKey], error) {
	p := principal(ctx)
	b := in.Body
	spec := apikey.Spec{Name: b.Name, Level: auth.Level(b.Level), Scopes: b.Scopes, ExpiresAt: b.ExpiresAt, RateLimitPerHour: b.RateLimit}
	switch spec.Level {
	case auth.LevelOrganization:
		if b.Project != "" || b.Environment != "" {
			return nil, gatehouse.FieldError("project", "not_allowed", "an organization key takes no project or environment")
		}
	case auth.LevelProject, auth.LevelEnvironment:
		if b.Project == "" {
			return nil, gatehouse.FieldError("project", "required_field_missing", "project is required for a %s key", spec.Level)
		}
		proj, _, err := h.project(ctx, b.Project, false)
		if err != nil {
			return nil, err
		}
		spec.ProjectID = proj.ID
		if spec.Level == auth.LevelEnvironment {
			if b.Environment == "" {
				return nil, gatehouse.FieldError("environment", "required_field_missing", "environment is required for an environment key")
			}
			env, err := h.Tenancy.EnvironmentIn(ctx, proj, b.Environment)
			if err != nil {
				return nil, err
			}
			spec.EnvironmentID = env.ID
		} else if b.Environment != "" {
			return nil, gatehouse.FieldError("environment", "not_allowed", "a project key takes no environment")
		}
	}
	if err := h.checkKeyLimit(ctx, p, spec.RateLimitPerHour); err != nil {
		return nil, err
	}
	k, token, err := h.Keys.Issue(ctx, p, spec)
	if err != nil {
		return nil, err
	}
	return ok(ctx, CreatedAPIKey{APIKey: keyOut(k, h.Keys.Now()), Token: token}), nil
}

// checkKeyLimit refuses a key of its own limit above the limit its creator
// spends from (a way out of the organization's limit), unless the creator
// holds manage:settings, which sets the limits anyway.
func (h *handlers) checkKeyLimit(ctx context.Context, p *auth.Principal, limit int) error {
	if limit == 0 || h.Limiter == nil || p.Scopes.Has(gatehouse.ScopeManageSettings) {
		return nil
	}
	if p.MemberID != "" {
		// A member's dashboard budget is theirs, not their keys': what
		// applies to a member's keys is the organization's limit.
		q := *p
		q.RateLimitPerHour = 0
		p = &q
	}
	own, err := h.Limiter.LimitOf(ctx, p)
	if err != nil {
		return err
	}
	if own > 0 && limit > own {
		return &gatehouse.Error{Code: gatehouse.CodeForbidden,
			Message: fmt.Sprintf("rate_limit_per_hour %d is above the %d an hour that applies to the calling key: a key's own limit may not exceed its creator's without the %s scope", limit, own, gatehouse.ScopeManageSettings),
			Details: map[string]any{"field": "rate_limit_per_hour", "reason": "exceeds_creator_limit", "max": own}}
	}
	return nil
}

type KeyPath struct {
	Key string `path:"key" doc:"API key id."`
}

// reachableKey loads a key of the caller's organization that the caller
// could have created.
func (h *handlers) reachableKey(ctx context.Context, id string) (*apikey.Key, error) {
	p := principal(ctx)
	k, err := h.Keys.Get(ctx, p.OrgID, id)
	if err != nil {
		return nil, err
	}
	if !p.CanIssue(k.Level, k.ProjectID, k.EnvironmentID) {
		return nil, forbidden("this %s key cannot manage %s key %s", p.Level, k.Level, id)
	}
	return k, nil
}

func (h *handlers) getKey(ctx context.Context, in *KeyPath) (*Out[APIKey], error) {
	k, err := h.reachableKey(ctx, in.Key)
	if err != nil {
		return nil, err
	}
	return ok(ctx, keyOut(k, h.Keys.Now())), nil
}

func (h *handlers) revokeKey(ctx context.Context, in *KeyPath) (*Out[APIKey], error) {
	ctx, _ = apikey.WithConfirmations(ctx) // meta.unconfirmed_nodes
	k, err := h.reachableKey(ctx, in.Key)
	if err != nil {
		return nil, err
	}
	k, err = h.Keys.Revoke(ctx, k.OrgID, k.ID)
	if err != nil {
		return nil, err
	}
	return ok(ctx, keyOut(k, h.Keys.Now())), nil
}

type updateKeyIn struct {
	KeyPath
	Body struct {
		Name      *string    `json:"name,omitempty" minLength:"1" maxLength:"200"`
		ExpiresAt *time.Time `json:"expires_at,omitempty" doc:"When the key stops working: in the future, and no later than its current expiry (its token carries the expiry it was made with; rotate the key for a later one). Only an active key's expiry changes."`
	}
}

func (h *handlers) updateKey(ctx context.Context, in *updateKeyIn) (*Out[APIKey], error) {
	ctx, _ = apikey.WithConfirmations(ctx) // meta.unconfirmed_nodes
	k, err := h.reachableKey(ctx, in.Key)
	if err != nil {
		return nil, err
	}
	k, err = h.Keys.Update(ctx, k.OrgID, k.ID, apikey.Patch{Name: in.Body.Name, ExpiresAt: in.Body.ExpiresAt})
	if err != nil {
		return nil, err
	}
	return ok(ctx, keyOut(k, h.Keys.Now())), nil
}

type rotateKeyIn struct {
	KeyPath
	Body *struct {
		GracePeriodSeconds int `json:"grace_period_seconds,omitempty" minimum:"0" maximum:"604800" doc:"How long the old key keeps working; 0 (default) ends it now."`
	}
}

func (h *handlers) rotateKey(ctx context.Context, in *rotateKeyIn) (*Out[CreatedAPIKey], error) {
	ctx, _ = apikey.WithConfirmations(ctx) // meta.unconfirmed_nodes
	if _, err := h.reachableKey(ctx, in.Key); err != nil {
		return nil, err
	}
	grace := 0
	if in.Body != nil {
		grace = in.Body.GracePeriodSeconds
	}
	k, token, err := h.Keys.Rotate(ctx, principal(ctx), in.Key, time.Duration(grace)*time.Second)
	if err != nil {
		return nil, err
	}
	return ok(ctx, CreatedAPIKey{APIKey: keyOut(k, h.Keys.Now()), Token: token}), nil
}
