package clientlive_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/client"
)

// The writes the dashboard edits with: tenants, roles, resource types
// (with the cascade of a dropped action), webhooks and keys changed in
// place; a role and a resource type deleted with what uses them.
func TestEditInPlace(t *testing.T) {
	ctx := context.Background()
	c := env(t)
	name, desc := "Acme Inc.", "the first customer"
	attrs := map[string]any{"plan": "pro", "seats": float64(12)}
	if _, err := c.Tenants.Create(ctx, client.TenantInput{Key: "acme"}); err != nil {
		t.Fatal(err)
	}
	tn, err := c.Tenants.Update(ctx, "acme", client.TenantPatch{Name: &name, Description: &desc, Attributes: &attrs})
	if err != nil || tn.Name != name || tn.Description != desc || tn.Attributes["seats"] != float64(12) {
		t.Fatalf("tenant update: %+v %v", tn, err)
	}
	if _, err := c.Resources.Create(ctx, client.ResourceInput{Key: "doc", Actions: []string{"read", "write", "delete"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Roles.Create(ctx, client.RoleInput{Key: "viewer", Permissions: []string{"doc:read"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Roles.Create(ctx, client.RoleInput{Key: "editor", Permissions: []string{"doc:read"}}); err != nil {
		t.Fatal(err)
	}
	perms, ext, rname := []string{"doc:write", "doc:delete"}, []string{"viewer"}, "Editor"
	r, err := c.Roles.Update(ctx, "editor", client.RolePatch{Name: &rname, Permissions: &perms, Extends: &ext})
	if err != nil || r.Name != "Editor" || !slices.Equal(r.Permissions, perms) || !slices.Equal(r.Extends, ext) {
		t.Fatalf("role update: %+v %v", r, err)
	}
	// Dropping an action a role grants: refused, then cascaded.
	drop := map[string]any{"actions": []string{"read", "write"}}
	if _, err := c.Resources.Update(ctx, "doc", drop); !client.IsConflict(err) {
		t.Fatalf("dropping a granted action without cascade: %v", err)
	}
	if res, err := c.Resources.UpdateCascade(ctx, "doc", drop); err != nil || len(res.Actions) != 2 {
		t.Fatalf("dropping it with cascade: %+v %v", res, err)
	}
	if r, _ := c.Roles.Get(ctx, "editor"); !slices.Equal(r.Permissions, []string{"doc:write"}) {
		t.Errorf("the role after the cascade: %v", r.Permissions)
	}
	// Deleting a role others extend: refused, then cascaded.
	if err := c.Roles.Delete(ctx, "viewer"); !client.IsConflict(err) {
		t.Fatalf("deleting an extended role: %v", err)
	}
	if err := c.Roles.DeleteCascade(ctx, "viewer"); err != nil {
		t.Fatal(err)
	}
	if r, _ := c.Roles.Get(ctx, "editor"); len(r.Extends) != 0 {
		t.Errorf("editor still extends the deleted role: %v", r.Extends)
	}
	if err := c.Resources.Delete(ctx, "doc"); !client.IsConflict(err) {
		t.Fatalf("deleting a granted resource type: %v", err)
	}
	if err := c.Resources.DeleteCascade(ctx, "doc"); err != nil {
		t.Fatal(err)
	}

	org := client.New(serverURL, orgKey)
	wh, err := org.Webhooks.Create(ctx, client.WebhookInput{URL: "http://127.0.0.1:1/hook", Events: []string{"user.created"}})
	if err != nil {
		t.Fatal(err)
	}
	url, events, off := "http://127.0.0.1:2/hook", []string{"user.created", "user.deleted"}, false
	if wh2, err := org.Webhooks.Update(ctx, wh.ID, client.WebhookPatch{URL: &url, Events: &events, Enabled: &off}); err != nil ||
		wh2.URL != url || !slices.Equal(wh2.Events, events) || wh2.Enabled {
		t.Fatalf("webhook update: %+v %v", wh2, err)
	}
	if err := org.Webhooks.Delete(ctx, wh.ID); err != nil {
		t.Fatal(err)
	}

	k, err := org.APIKeys.Create(ctx, client.APIKeyInput{Name: "ci", Level: "organization", Scopes: []string{"view:project"}})
	if err != nil {
		t.Fatal(err)
	}
	kname, exp := "ci (nightly)", time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	if k2, err := org.APIKeys.Update(ctx, k.ID, client.APIKeyPatch{Name: &kname, ExpiresAt: &exp}); err != nil || k2.Name != kname || k2.ExpiresAt == nil || !k2.ExpiresAt.Equal(exp) {
		t.Fatalf("key update: %+v %v", k2, err)
	}
	later := exp.Add(time.Hour)
	if _, err := org.APIKeys.Update(ctx, k.ID, client.APIKeyPatch{ExpiresAt: &later}); client.ErrorCode(err) != client.CodeInvalidRequest {
		t.Errorf("a later expiry: %v", err)
	}
	mine, err := org.APIKeys.List(ctx, &client.APIKeyListOptions{CreatedBy: "key:" + meKeyID(t, org)})
	if err != nil || !slices.ContainsFunc(mine.Items, func(x client.APIKey) bool { return x.ID == k.ID }) {
		t.Errorf("keys made by the org key: %v", err)
	}
	if _, err := org.APIKeys.Revoke(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
}

func meKeyID(t *testing.T, c *client.Client) string {
	t.Helper()
	me, err := c.System.Me(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return me.KeyID
}
