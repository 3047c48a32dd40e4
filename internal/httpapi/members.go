package httpapi

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// Member is the wire form of a member.
type Member struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Role      string    `json:"role" doc:"A member role key: admin, developer, viewer or a custom role."`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func memberOut(m *tenancy.Member) Member {
	return Member{ID: m.ID, Email: m.Email, Name: m.Name, Role: m.Role, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
}

// MemberRole is the wire form of a member role.
type MemberRole struct {
	Key         string            `json:"key"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Scopes      []gatehouse.Scope `json:"scopes" doc:"The permissions the role grants."`
	Builtin     bool              `json:"builtin" doc:"Built-in roles cannot be changed or deleted."`
	CreatedAt   *time.Time        `json:"created_at,omitempty"`
	UpdatedAt   *time.Time        `json:"updated_at,omitempty"`
}

func roleOut(r *tenancy.Role) MemberRole {
	out := MemberRole{Key: r.Key, Name: r.Name, Description: r.Description, Scopes: r.Scopes.Scopes(), Builtin: r.Builtin}
	if !r.Builtin {
		c, u := r.CreatedAt, r.UpdatedAt
		out.CreatedAt, out.UpdatedAt = &c, &u
	}
	return out
}

// needsPermissionScope guards giving a member a role: only a caller holding
// manage:permission (the Admin role) may hand out anything beyond viewer.
func needsPermissionScope(ctx context.Context, role string) error {
	if role == tenancy.RoleViewer || principal(ctx).Scopes.Has(gatehouse.ScopeManagePermission) {
		return nil
	}
	return forbidden("giving the %q role needs the %s scope (the Admin role)", role, gatehouse.ScopeManagePermission)
}

type listMembersIn struct {
	PageQuery
	Sort  string `query:"sort" default:"created_at" enum:"created_at,updated_at,name,email,role"`
	Role  string `query:"role" doc:"Only members with this role."`
	Email string `query:"email" doc:"Only the member with this email."`
}

func (h *handlers) listMembers(ctx context.Context, in *listMembersIn) (*ListOut[Member], error) {
	req := in.request(in.Sort)
	page, err := h.Tenancy.Members(ctx, principal(ctx), tenancy.MemberFilter{Role: in.Role, Email: in.Email}, req)
	if err != nil {
		return nil, err
	}
	return list(ctx, page, req, memberOut), nil
}

type MemberPath struct {
	Member string `path:"member" doc:"Member id."`
}

func (h *handlers) getMember(ctx context.Context, in *MemberPath) (*Out[Member], error) {
	m, err := h.Tenancy.Member(ctx, principal(ctx), in.Member)
	if err != nil {
		return nil, err
	}
	return ok(ctx, memberOut(m)), nil
}

type createMemberIn struct {
	Body struct {
		Email string `json:"email" format:"email" maxLength:"254"`
		Name  string `json:"name,omitempty" maxLength:"200"`
		Role  string `json:"role" doc:"A member role key."`
	}
}

func (h *handlers) createMember(ctx context.Context, in *createMemberIn) (*Out[Member], error) {
	if err := needsPermissionScope(ctx, in.Body.Role); err != nil {
		return nil, err
	}
	m, err := h.Tenancy.CreateMember(ctx, principal(ctx).OrgID, in.Body.Email, in.Body.Name, in.Body.Role)
	if err != nil {
		return nil, err
	}
	return ok(ctx, memberOut(m)), nil
}

type updateMemberIn struct {
	MemberPath
	Body struct {
		Name *string `json:"name,omitempty" maxLength:"200"`
		Role *string `json:"role,omitempty"`
	}
}

func (h *handlers) updateMember(ctx context.Context, in *updateMemberIn) (*Out[Member], error) {
	p := principal(ctx)
	m, err := h.Tenancy.UpdateMember(ctx, p.Scopes, p.OrgID, in.Member, in.Body.Name, in.Body.Role)
	if err != nil {
		return nil, err
	}
	return ok(ctx, memberOut(m)), nil
}

func (h *handlers) deleteMember(ctx context.Context, in *MemberPath) (*NoContent, error) {
	p := principal(ctx)
	if err := h.Tenancy.DeleteMember(ctx, p.Scopes, p.OrgID, in.Member); err != nil {
		return nil, err
	}
	return &NoContent{}, nil
}

// SetupLink is a one-time link with which a member chooses a password.
type SetupLink struct {
	MemberID  string    `json:"member_id"`
	Path      string    `json:"path" doc:"Open it on this server (https://<host><path>); it works once. Shown only now."`
	ExpiresAt time.Time `json:"expires_at"`
}

func (h *handlers) memberSetupLink(ctx context.Context, in *MemberPath) (*Out[SetupLink], error) {
	p := principal(ctx)
	m, token, err := h.Tenancy.NewMemberSetupLink(ctx, p.Scopes, p.OrgID, in.Member, p.Actor())
	if err != nil {
		return nil, err
	}
	return ok(ctx, SetupLink{MemberID: m.ID, Path: "/setup/" + token, ExpiresAt: time.Now().Add(tenancy.SetupTokenTTL).UTC().Truncate(time.Second)}), nil
}

type listRolesIn struct {
	PageQuery
}

func (h *handlers) listRoles(ctx context.Context, in *listRolesIn) (*ListOut[MemberRole], error) {
	if err := in.noCursor(); err != nil {
		return nil, err
	}
	roles, err := h.Tenancy.Roles(ctx, principal(ctx).OrgID)
	if err != nil {
		return nil, err
	}
	if in.Order == "desc" {
		for i, j := 0, len(roles)-1; i < j; i, j = i+1, j-1 {
			roles[i], roles[j] = roles[j], roles[i]
		}
	}
	req := in.request("")
	page := gatehouse.Page[tenancy.Role]{Total: len(roles), Items: []tenancy.Role{}}
	if start := req.Offset(); start < len(roles) {
		page.Items = roles[start:min(start+req.PerPage, len(roles))]
	}
	return list(ctx, page, req, roleOut), nil
}

type RolePath struct {
	Role string `path:"role" doc:"Role key."`
}

func (h *handlers) getRole(ctx context.Context, in *RolePath) (*Out[MemberRole], error) {
	r, err := h.Tenancy.Role(ctx, principal(ctx).OrgID, in.Role)
	if err != nil {
		return nil, err
	}
	return ok(ctx, roleOut(r)), nil
}

type createRoleIn struct {
	Body struct {
		Key         string            `json:"key,omitempty" doc:"URL-safe key; derived from the name when omitted."`
		Name        string            `json:"name" minLength:"1" maxLength:"200"`
		Description string            `json:"description,omitempty" maxLength:"2000"`
		Scopes      []gatehouse.Scope `json:"scopes" doc:"Scopes from GET /v1/scopes; admin-only scopes are refused."`
	}
}

func (h *handlers) createRole(ctx context.Context, in *createRoleIn) (*Out[MemberRole], error) {
	r, err := h.Tenancy.CreateRole(ctx, principal(ctx).OrgID, tenancy.NewRoleInput{Key: in.Body.Key, Name: in.Body.Name,
		Description: in.Body.Description, Scopes: in.Body.Scopes})
	if err != nil {
		return nil, err
	}
	return ok(ctx, roleOut(r)), nil
}

type updateRoleIn struct {
	RolePath
	Body struct {
		Name        *string            `json:"name,omitempty" minLength:"1" maxLength:"200"`
		Description *string            `json:"description,omitempty" maxLength:"2000"`
		Scopes      *[]gatehouse.Scope `json:"scopes,omitempty"`
	}
}

func (h *handlers) updateRole(ctx context.Context, in *updateRoleIn) (*Out[MemberRole], error) {
	r, err := h.Tenancy.UpdateRole(ctx, principal(ctx).OrgID, in.Role, in.Body.Name, in.Body.Description, in.Body.Scopes)
	if err != nil {
		return nil, err
	}
	return ok(ctx, roleOut(r)), nil
}

func (h *handlers) deleteRole(ctx context.Context, in *RolePath) (*NoContent, error) {
	if err := h.Tenancy.DeleteRole(ctx, principal(ctx).OrgID, in.Role); err != nil {
		return nil, err
	}
	return &NoContent{}, nil
}
