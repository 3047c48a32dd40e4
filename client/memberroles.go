package client

import (
	"context"
	"net/http"
)

// MemberRoleInput creates a custom member role.
type MemberRoleInput struct {
	Key         string   `json:"key,omitempty"` // from Name when empty
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Scopes      []string `json:"scopes"` // from the scope catalog; admin-only scopes are refused
}

// Create creates a custom member role.
func (r *MemberRoles) Create(ctx context.Context, in MemberRoleInput) (*MemberRole, error) {
	return write[MemberRole](ctx, r.c, http.MethodPost, "/v1/member-roles", nil, in)
}

// Get returns a member role by key.
func (r *MemberRoles) Get(ctx context.Context, key string) (*MemberRole, error) {
	return get[MemberRole](ctx, r.c, "/v1/member-roles/"+seg(key), nil)
}

// Delete deletes a custom member role (built-in ones stay).
func (r *MemberRoles) Delete(ctx context.Context, key string) error {
	return del(ctx, r.c, "/v1/member-roles/"+seg(key), nil)
}
