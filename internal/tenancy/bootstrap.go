package tenancy

import (
	"context"
	"fmt"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
)

// Bootstrap is a new organization with everything it starts with.
type Bootstrap struct {
	Organization *Organization
	Admin        *Member
	Project      *Project
	Environments []*Environment
}

// NewOrganization is what a caller gives to create an organization.
type NewOrganization struct {
	Name string
	// Key is derived from Name when empty.
	Key        string
	AdminEmail string
	AdminName  string
	// Tier is the organization's plan ("": the default, free).
	Tier string
}

// Founder gives a new organization what other capabilities keep for it.
type Founder interface {
	// Found runs in the transaction that stores b, with it (the
	// organization's first API key is stored there).
	Found(ctx context.Context, tx Store, b *Bootstrap) error
}

// NewBootstrap validates and builds (without storing) a new organization with
// its first Admin member, a default project and the development and
// production environments.
func (s *Service) NewBootstrap(orgName, orgKey, adminEmail, adminName string) (*Bootstrap, error) {
	if err := ValidateName("name", orgName); err != nil {
		return nil, err
	}
	if orgKey == "" {
		orgKey = Slugify(orgName)
	}
	if err := ValidateKey("key", orgKey); err != nil {
		return nil, err
	}
	email, err := normalizeEmail(adminEmail)
	if err != nil {
		return nil, err
	}
	now := s.now()
	org := &Organization{ID: NewID(), Key: orgKey, Name: strings.TrimSpace(orgName), Settings: DefaultOrgSettings(), CreatedAt: now, UpdatedAt: now}
	admin := &Member{ID: NewID(), OrgID: org.ID, Email: email, Name: strings.TrimSpace(adminName), Role: RoleAdmin, CreatedAt: now, UpdatedAt: now}
	proj := &Project{ID: NewID(), OrgID: org.ID, Key: "default", Name: "Default project", CreatedAt: now, UpdatedAt: now}
	b := &Bootstrap{Organization: org, Admin: admin, Project: proj}
	for _, key := range []string{"development", "production"} {
		b.Environments = append(b.Environments, &Environment{ID: NewID(), OrgID: org.ID, ProjectID: proj.ID,
			Key: key, Name: strings.ToUpper(key[:1]) + key[1:], Settings: DefaultEnvSettings(), CreatedAt: now, UpdatedAt: now})
	}
	return b, nil
}

// Save stores a bootstrap through st (typically a transaction).
func (b *Bootstrap) Save(ctx context.Context, st Store) error {
	if err := st.CreateOrganization(ctx, b.Organization); err != nil {
		return err
	}
	if err := st.CreateMember(ctx, b.Admin); err != nil {
		return err
	}
	if err := st.CreateProject(ctx, b.Project); err != nil {
		return err
	}
	for _, e := range b.Environments {
		if err := st.CreateEnvironment(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// CreateOrganization creates an organization with its first Admin member,
// default project and environments (seeded: see Service.Seed), and what
// f adds to them, in one transaction.
func (s *Service) CreateOrganization(ctx context.Context, in NewOrganization, f Founder) (*Bootstrap, error) {
	b, err := s.NewBootstrap(in.Name, in.Key, in.AdminEmail, in.AdminName)
	if err != nil {
		return nil, err
	}
	if in.Tier != "" {
		b.Organization.Settings.Tier = in.Tier
	}
	err = s.Store.InTenancyTx(ctx, func(tx Store) error {
		if err := b.Save(ctx, tx); err != nil {
			return err
		}
		if err := s.seed(ctx, tx, b.Environments...); err != nil {
			return err
		}
		return f.Found(ctx, tx, b)
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Bootstrapped says what Service.Bootstrap did.
type Bootstrapped struct {
	// Created is false when an organization already existed; then only
	// Organization (the first one) is set.
	Created      bool
	Organization *Organization
	Bootstrap    *Bootstrap
	// SetupToken is the one-time token with which the first Admin chooses
	// a dashboard password.
	SetupToken string
}

// Bootstrap creates the instance's first organization unless one exists, with
// CreateOrganization. It is idempotent: when an organization exists
// (also one a concurrent Bootstrap just made), it creates nothing and returns
// the first one. The first organization is the operator's own: it is on the
// enterprise tier unless in says otherwise (organizations created later
// start free), and its Admin gets a setup link.
func (s *Service) Bootstrap(ctx context.Context, in NewOrganization, f Founder) (*Bootstrapped, error) {
	n, err := s.Store.CountOrganizations(ctx)
	if err != nil {
		return nil, fmt.Errorf("count organizations: %w", err)
	}
	if n == 0 {
		if in.Tier == "" {
			in.Tier = TierEnterprise
		}
		b, err := s.CreateOrganization(ctx, in, f)
		if err == nil {
			token, err := s.NewSetupToken(ctx, b.Admin, "init")
			if err != nil {
				return nil, err
			}
			return &Bootstrapped{Created: true, Organization: b.Organization, Bootstrap: b, SetupToken: token}, nil
		}
		if gatehouse.ErrorCode(err) != gatehouse.CodeConflict { // a concurrent bootstrap won the race
			return nil, err
		}
	}
	o, err := s.Store.FirstOrganization(ctx)
	if err != nil {
		return nil, err
	}
	return &Bootstrapped{Organization: o}, nil
}
