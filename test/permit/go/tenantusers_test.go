//go:build !permit114

package compat

import (
	"context"
	"testing"

	"github.com/permitio/permit-golang/pkg/models"
	"github.com/permitio/permit-golang/pkg/permit"
)

// listTenantUsers lists a tenant's users (Tenants.ListTenantUsers, added
// after v1.1.4).
func listTenantUsers(ctx context.Context, t *testing.T, p *permit.Client, tenant string) ([]models.UserRead, bool) {
	return must[[]models.UserRead](t, "tenant users")(p.Api.Tenants.ListTenantUsers(ctx, tenant, 1, 100)), true
}
