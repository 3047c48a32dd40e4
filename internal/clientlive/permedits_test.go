package clientlive_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/client"
)

// add_permissions and remove_permissions change a role's permissions as
// the write finds them: grants made at once, by key and by id, all land;
// a bad edit is refused and changes nothing.
func TestRolePermissionEditsAtOnce(t *testing.T) {
	ctx := context.Background()
	c := env(t)
	const n = 16
	var actions []string
	for i := range n {
		actions = append(actions, fmt.Sprintf("a%d", i))
	}
	if _, err := c.Resources.Create(ctx, client.ResourceInput{Key: "doc", Actions: actions}); err != nil {
		t.Fatal(err)
	}
	role, err := c.Roles.Create(ctx, client.RoleInput{Key: "editor"})
	if err != nil {
		t.Fatal(err)
	}
	rr, err := c.ResourceRoles.Create(ctx, "doc", client.ResourceRoleInput{Key: "writer"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i, a := range actions {
		ref, rref := role.Key, rr.Key
		if i%2 == 1 {
			ref, rref = role.ID, rr.ID
		}
		wg.Go(func() {
			if _, err := c.Roles.Update(ctx, ref, client.RolePatch{AddPermissions: []string{"doc:" + a}}); err != nil {
				errs <- fmt.Errorf("role %s add %s: %w", ref, a, err)
			}
		})
		wg.Go(func() {
			if _, err := c.ResourceRoles.Update(ctx, "doc", rref, client.ResourceRolePatch{AddPermissions: []string{a}}); err != nil {
				errs <- fmt.Errorf("resource role %s add %s: %w", rref, a, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, err := c.Roles.Get(ctx, "editor")
	if err != nil || len(got.Permissions) != n {
		t.Errorf("after %d grants at once editor grants %v (%v)", n, got.Permissions, err)
	}
	gotRR, err := c.ResourceRoles.Get(ctx, "doc", "writer")
	if err != nil || len(gotRR.Permissions) != n {
		t.Errorf("after %d grants at once writer grants %v (%v)", n, gotRR.Permissions, err)
	}

	// Adding what is granted, removing what is not: no change.
	if r, err := c.Roles.Update(ctx, "editor", client.RolePatch{AddPermissions: []string{"doc:a0"}, RemovePermissions: []string{"doc:a1"}}); err != nil || len(r.Permissions) != n-1 || slices.Contains(r.Permissions, "doc:a1") {
		t.Errorf("add a0, remove a1: %v %v", r, err)
	}
	if r, err := c.ResourceRoles.Update(ctx, "doc", "writer", client.ResourceRolePatch{RemovePermissions: []string{"a1", "a1"}}); err != nil || len(r.Permissions) != n-1 || slices.Contains(r.Permissions, "a1") {
		t.Errorf("remove a1: %v %v", r, err)
	}

	// Refused: unknown permissions, with permissions, in both lists.
	all := []string{"doc:a0"}
	for _, tc := range []struct {
		name string
		p    client.RolePatch
		rp   client.ResourceRolePatch
	}{
		{"unknown", client.RolePatch{AddPermissions: []string{"doc:fly"}}, client.ResourceRolePatch{AddPermissions: []string{"fly"}}},
		{"with permissions", client.RolePatch{Permissions: &all, AddPermissions: []string{"doc:a1"}}, client.ResourceRolePatch{Permissions: &[]string{"a0"}, RemovePermissions: []string{"a2"}}},
		{"both lists", client.RolePatch{AddPermissions: []string{"doc:a1"}, RemovePermissions: []string{"doc:a1"}}, client.ResourceRolePatch{AddPermissions: []string{"a1"}, RemovePermissions: []string{"a1"}}},
	} {
		if _, err := c.Roles.Update(ctx, "editor", tc.p); client.ErrorCode(err) != client.CodeInvalidRequest {
			t.Errorf("role, %s: %v", tc.name, err)
		}
		if _, err := c.ResourceRoles.Update(ctx, "doc", "writer", tc.rp); client.ErrorCode(err) != client.CodeInvalidRequest {
			t.Errorf("resource role, %s: %v", tc.name, err)
		}
	}
	if r, _ := c.Roles.Get(ctx, "editor"); len(r.Permissions) != n-1 {
		t.Errorf("editor after the refusals: %v", r.Permissions)
	}
	if r, _ := c.ResourceRoles.Get(ctx, "doc", "writer"); len(r.Permissions) != n-1 {
		t.Errorf("writer after the refusals: %v", r.Permissions)
	}
}
