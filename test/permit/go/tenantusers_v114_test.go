//go:build permit114

package compat

import (
	"context"
	"testing"

	"github.com/permitio/permit-golang/pkg/models"
	"github.com/permitio/permit-golang/pkg/permit"
)

// listTenantUsers: v1.1.4 has no Tenants.ListTenantUsers.
func listTenantUsers(context.Context, *testing.T, *permit.Client, string) ([]models.UserRead, bool) {
	return nil, false
}
