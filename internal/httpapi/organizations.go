package httpapi

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// Organization is the wire form of an organization.
type Organization struct {
	ID        string    `json:"id"`
	Key       string    `json:"key"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	tenancy.Tombstone
}

func orgOut(o *tenancy.Organization) Organization {
	return Organization{ID: o.ID, Key: o.Key, Name: o.Name, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt, Tombstone: o.Tombstone}
}

// ownOrg loads the caller's organization when ref names it; any other
// organization is NOT_FOUND, whether it exists or not. A deleted
// organization's key gets its organization as deleted.
func (h *handlers) ownOrg(ctx context.Context, ref string) (*tenancy.Organization, error) {
	o, err := h.Tenancy.Organization(ctx, principal(ctx))
	if err != nil {
		return nil, err
	}
	if ref != o.ID && ref != o.Key {
		return nil, gatehouse.Errorf(gatehouse.CodeNotFound, "organization %q not found", ref)
	}
	return o, nil
}

type OrgPath struct {
	Organization string `path:"organization" doc:"Organization id or key."`
}

func (h *handlers) listOrganizations(ctx context.Context, in *struct{ PageQuery }) (*ListOut[Organization], error) {
	if err := in.noCursor(); err != nil {
		return nil, err
	}
	o, err := h.Tenancy.Organization(ctx, principal(ctx))
	if err != nil {
		return nil, err
	}
	page := gatehouse.Page[tenancy.Organization]{Total: 1}
	if in.Page == 1 {
		page.Items = []tenancy.Organization{*o}
	}
	return list(ctx, page, in.request(""), orgOut), nil
}

func (h *handlers) getOrganization(ctx context.Context, in *OrgPath) (*Out[Organization], error) {
	o, err := h.ownOrg(ctx, in.Organization)
	if err != nil {
		return nil, err
	}
	return ok(ctx, orgOut(o)), nil
}

// CreatedOrganization is everything a new organization starts with.
type CreatedOrganization struct {
	Organization Organization  `json:"organization"`
	Admin        Member        `json:"admin"`
	Project      Project       `json:"project"`
	Environments []Environment `json:"environments"`
	APIKey       CreatedAPIKey `json:"api_key"` // an organization key holding every scope; its token is shown only here
}

type createOrgIn struct {
	Body struct {
		Name       string `json:"name" minLength:"1" maxLength:"200"`
		Key        string `json:"key,omitempty" doc:"URL-safe key; derived from the name when omitted."`
		AdminEmail string `json:"admin_email" format:"email" doc:"The first member, with the Admin role."`
		AdminName  string `json:"admin_name,omitempty"`
	}
}

func (h *handlers) createOrganization(ctx context.Context, in *createOrgIn) (*Out[CreatedOrganization], error) {
	b, k, token, err := h.CreateOrg(ctx, in.Body.Name, in.Body.Key, in.Body.AdminEmail, in.Body.AdminName, principal(ctx).Actor())
	if err != nil {
		return nil, err
	}
	out := CreatedOrganization{Organization: orgOut(b.Organization), Admin: memberOut(b.Admin), Project: projectOut(b.Project),
		APIKey: CreatedAPIKey{APIKey: keyOut(k, h.Keys.Now()), Token: token}}
	for _, e := range b.Environments {
		out.Environments = append(out.Environments, envOut(e))
	}
	return ok(ctx, out), nil
}

type updateOrgIn struct {
	OrgPath
	Body struct {
		Name *string `json:"name,omitempty" minLength:"1" maxLength:"200"`
	}
}

func (h *handlers) updateOrganization(ctx context.Context, in *updateOrgIn) (*Out[Organization], error) {
	o, err := h.ownOrg(ctx, in.Organization)
	if err != nil {
		return nil, err
	}
	o, err = h.Tenancy.UpdateOrganization(ctx, o.ID, in.Body.Name)
	if err != nil {
		return nil, err
	}
	return ok(ctx, orgOut(o)), nil
}

func (h *handlers) deleteOrganization(ctx context.Context, in *OrgPath) (*NoContent, error) {
	o, err := h.ownOrg(ctx, in.Organization)
	if err != nil {
		return nil, err
	}
	if _, err := h.Tenancy.DeleteOrganization(ctx, o.ID); err != nil {
		return nil, err
	}
	return &NoContent{}, nil
}

func (h *handlers) restoreOrganization(ctx context.Context, in *OrgPath) (*Out[Organization], error) {
	o, err := h.ownOrg(ctx, in.Organization)
	if err != nil {
		return nil, err
	}
	if !o.Deleted() {
		return nil, gatehouse.Errorf(gatehouse.CodeConflict, "organization %s is not deleted", o.Key)
	}
	if o, err = h.Tenancy.RestoreOrganization(ctx, o.ID); err != nil {
		return nil, err
	}
	return ok(ctx, orgOut(o)), nil
}

// OrgSettings is the wire form of an organization's settings.
type OrgSettings struct {
	Tier             string `json:"tier" enum:"free,pro,enterprise" doc:"Selects the default rate limit: free 100, pro 1,000, enterprise 10,000 requests per hour."`
	RateLimitPerHour *int   `json:"rate_limit_per_hour" doc:"Overrides the tier's hourly limit; null uses the tier's."`
	EffectiveLimit   int    `json:"effective_rate_limit_per_hour" doc:"The limit that applies."`
	LogRetentionDays int    `json:"log_retention_days" doc:"How many days API log entries are kept."`
}

func orgSettingsOut(s tenancy.OrgSettings) OrgSettings {
	eff := tenancy.TierLimit(s.Tier)
	if s.RateLimitPerHour != nil {
		eff = *s.RateLimitPerHour
	}
	return OrgSettings{Tier: s.Tier, RateLimitPerHour: s.RateLimitPerHour, EffectiveLimit: eff, LogRetentionDays: s.LogRetentionDays}
}

func (h *handlers) getOrgSettings(ctx context.Context, _ *struct{}) (*Out[OrgSettings], error) {
	o, err := h.Tenancy.Organization(ctx, principal(ctx))
	if err != nil {
		return nil, err
	}
	return ok(ctx, orgSettingsOut(o.Settings)), nil
}

type updateOrgSettingsIn struct {
	Body struct {
		Tier             *string `json:"tier,omitempty" enum:"free,pro,enterprise"`
		RateLimitPerHour *int    `json:"rate_limit_per_hour,omitempty" minimum:"0" doc:"0 removes the override."`
		LogRetentionDays *int    `json:"log_retention_days,omitempty" minimum:"1" maximum:"3650"`
	}
}

func (h *handlers) updateOrgSettings(ctx context.Context, in *updateOrgSettingsIn) (*Out[OrgSettings], error) {
	b := in.Body
	o, err := h.Tenancy.UpdateOrgSettings(ctx, principal(ctx).OrgID, func(s *tenancy.OrgSettings) {
		if b.Tier != nil {
			s.Tier = *b.Tier
		}
		if b.RateLimitPerHour != nil {
			s.RateLimitPerHour = b.RateLimitPerHour
			if *b.RateLimitPerHour == 0 {
				s.RateLimitPerHour = nil
			}
		}
		if b.LogRetentionDays != nil {
			s.LogRetentionDays = *b.LogRetentionDays
		}
	})
	if err != nil {
		return nil, err
	}
	h.limitsChanged(o.ID)
	return ok(ctx, orgSettingsOut(o.Settings)), nil
}
