package facts

import (
	"context"
	"fmt"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/event"
)

// SeedEnvironmentTx gives a new environment what every environment starts
// with, its default tenant, in tx: the transaction creating the
// environment (nobody else can write to it before that commits, so no
// engine exists yet to catch up).
func (s *Service) SeedEnvironmentTx(ctx context.Context, tx Store, envID string) error {
	_, err := tx.GetTenant(ctx, envID, authz.DefaultTenant)
	if err == nil {
		return nil
	}
	if gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
		return err
	}
	now := s.now()
	t := &Tenant{ID: newID(), EnvID: envID, Key: authz.DefaultTenant, Name: "Default tenant", Attributes: map[string]any{}, CreatedAt: now, UpdatedAt: now}
	if err := tx.CreateTenant(ctx, t); err != nil {
		return err
	}
	if err := s.emit(ctx, tx, envID, event.TenantCreated, t); err != nil {
		return err
	}
	return s.AppendTx(ctx, tx, envID, []Change{change(OpPutTenant, t.Authz())})
}

// EnsureDefaultTenants gives every environment made by an older version
// that never got one its default tenant: run once at start.
func (s *Service) EnsureDefaultTenants(ctx context.Context) error {
	ids, err := s.Store.EnvironmentsWithoutTenant(ctx, authz.DefaultTenant)
	if err != nil {
		return fmt.Errorf("environments without a default tenant: %w", err)
	}
	for _, id := range ids {
		if err := s.EnsureDefaultTenant(ctx, id); err != nil {
			return fmt.Errorf("default tenant of environment %s: %w", id, err)
		}
	}
	return nil
}
