package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

var _ tenancy.Store = (*Store)(nil)

const orgCols = "id, key, name, settings, created_at, updated_at"

// tombstoneCols are read after an organization's, project's or
// environment's own columns (see scanTombstone).
const tombstoneCols = ", deleted_at, purge_after, deleted_key"

// orgSelect are the columns scanOrg reads.
const orgSelect = orgCols + tombstoneCols

// live selects what is not deleted.
const live = "deleted_at IS NULL"

// tombstone is the scan target of tombstoneCols.
type tombstone struct {
	deleted, purge nullInt
	key            string
}

func (t *tombstone) targets() []any { return []any{&t.deleted, &t.purge, &t.key} }

// apply fills tb, and gives a deleted item its key back (while deleted its
// key column holds a freed, unique one).
func (t *tombstone) apply(tb *tenancy.Tombstone, key *string) {
	tb.DeletedAt, tb.PurgeAfter = fromNullMicros(t.deleted), fromNullMicros(t.purge)
	if tb.DeletedAt != nil && t.key != "" {
		*key = t.key
	}
}

func scanOrg(sc scanner) (tenancy.Organization, error) {
	var o tenancy.Organization
	var settings string
	var created, updated int64
	var tomb tombstone
	if err := sc.Scan(append([]any{&o.ID, &o.Key, &o.Name, &settings, &created, &updated}, tomb.targets()...)...); err != nil {
		return o, err
	}
	tomb.apply(&o.Tombstone, &o.Key)
	o.Settings = tenancy.DefaultOrgSettings()
	if err := json.Unmarshal([]byte(settings), &o.Settings); err != nil {
		return o, fmt.Errorf("organization %s settings: %w", o.ID, err)
	}
	o.CreatedAt, o.UpdatedAt = fromMicros(created), fromMicros(updated)
	return o, nil
}

func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// CreateOrganization stores a new organization.
func (s *Store) CreateOrganization(ctx context.Context, o *tenancy.Organization) error {
	settings, err := jsonText(o.Settings)
	if err != nil {
		return err
	}
	if s.tx == nil {
		return s.InTx(ctx, func(tx *Store) error { return tx.CreateOrganization(ctx, o) })
	}
	if err := duplicate(exec(ctx, s.writer(), "organization", "INSERT INTO organizations ("+orgCols+") VALUES ($1, $2, $3, $4, $5, $6)",
		o.ID, o.Key, o.Name, settings, micros(o.CreatedAt), micros(o.UpdatedAt)), "an organization", "key", o.Key); err != nil {
		return err
	}
	// Its audit entry, in the same transaction (the organization's first).
	after, err := json.Marshal(auditView(o))
	if err != nil {
		return err
	}
	return s.RecordAudit(ctx, audit.AuditEntry{OrganizationID: o.ID, Time: o.CreatedAt, Action: "organization.created", ObjectType: "organization",
		ObjectID: o.ID, ObjectKey: o.Key, After: after})
}

// GetOrganization returns an organization by id or key.
func (s *Store) GetOrganization(ctx context.Context, idOrKey string) (*tenancy.Organization, error) {
	return remembered[tenancy.Organization](s)(getOne(ctx, s.reader(), "organization", idOrKey,
		"SELECT "+orgSelect+" FROM organizations WHERE "+live+" AND "+refCond(idOrKey, 1), scanOrg, idOrKey))
}

// FirstOrganization returns the oldest organization.
func (s *Store) FirstOrganization(ctx context.Context) (*tenancy.Organization, error) {
	return getOne(ctx, s.reader(), "organization", "first",
		"SELECT "+orgSelect+" FROM organizations WHERE "+live+" ORDER BY created_at, id LIMIT 1", scanOrg)
}

// UpdateOrganization stores an organization's name and settings.
func (s *Store) UpdateOrganization(ctx context.Context, o *tenancy.Organization) error {
	settings, err := jsonText(o.Settings)
	if err != nil {
		return err
	}
	// The audit trail records it (organization.updated) with its settings
	// before and after.
	return s.InTx(ctx, func(tx *Store) error {
		if _, err := tx.GetOrganization(ctx, o.ID); err != nil {
			return err
		}
		if err := duplicate(execOne(ctx, tx.writer(), "organization", o.ID,
			"UPDATE organizations SET key = $2, name = $3, settings = $4, updated_at = $5 WHERE id = $1",
			o.ID, o.Key, o.Name, settings, micros(o.UpdatedAt)), "an organization", "key", o.Key); err != nil {
			return err
		}
		after, err := json.Marshal(auditView(o))
		if err != nil {
			return err
		}
		return tx.RecordAudit(ctx, audit.AuditEntry{OrganizationID: o.ID, Time: o.UpdatedAt, Action: "organization.updated", ObjectType: "organization",
			ObjectID: o.ID, ObjectKey: o.Key, Before: tx.beforeOf(o.ID), After: after})
	})
}

// DeleteOrganization deletes an organization and everything in it.
func (s *Store) DeleteOrganization(ctx context.Context, id string) error {
	return execOne(ctx, s.writer(), "organization", id, "DELETE FROM organizations WHERE id = $1", id)
}

// AllOrganizations lists every organization (for background work such as
// retention).
func (s *Store) AllOrganizations(ctx context.Context) ([]tenancy.Organization, error) {
	return queryAll(ctx, s.reader(), "SELECT "+orgSelect+" FROM organizations WHERE "+live+" ORDER BY created_at, id", scanOrg)
}

// CountOrganizations counts organizations.
func (s *Store) CountOrganizations(ctx context.Context) (int, error) {
	var n int
	if err := s.reader().QueryRowContext(ctx, "SELECT COUNT(*) FROM organizations WHERE "+live).Scan(&n); err != nil {
		return 0, fmt.Errorf("count organizations: %w", err)
	}
	return n, nil
}

const projectCols = "id, org_id, key, name, description, created_at, updated_at"

var projectSort = map[string]string{"created_at": "created_at", "updated_at": "updated_at", "name": "name", "key": "key"}

// projectSelect are the columns scanProject reads.
const projectSelect = projectCols + tombstoneCols

func scanProject(sc scanner) (tenancy.Project, error) {
	var p tenancy.Project
	var created, updated int64
	var tomb tombstone
	err := sc.Scan(append([]any{&p.ID, &p.OrgID, &p.Key, &p.Name, &p.Description, &created, &updated}, tomb.targets()...)...)
	p.CreatedAt, p.UpdatedAt = fromMicros(created), fromMicros(updated)
	tomb.apply(&p.Tombstone, &p.Key)
	return p, err
}

// CreateProject stores a new project.
func (s *Store) CreateProject(ctx context.Context, p *tenancy.Project) error {
	return duplicate(exec(ctx, s.writer(), "project", "INSERT INTO projects ("+projectCols+") VALUES ($1, $2, $3, $4, $5, $6, $7)",
		p.ID, p.OrgID, p.Key, p.Name, p.Description, micros(p.CreatedAt), micros(p.UpdatedAt)), "a project", "key", p.Key)
}

// GetProject returns a project of orgID by id or key.
func (s *Store) GetProject(ctx context.Context, orgID, ref string) (*tenancy.Project, error) {
	return remembered[tenancy.Project](s)(getOne(ctx, s.reader(), "project", ref,
		"SELECT "+projectSelect+" FROM projects WHERE org_id = $1 AND "+live+" AND "+refCond(ref, 2), scanProject, orgID, ref))
}

// ListProjects lists projects.
func (s *Store) ListProjects(ctx context.Context, f tenancy.ProjectFilter, page gatehouse.PageRequest) (gatehouse.Page[tenancy.Project], error) {
	w := &where{}
	w.add("org_id = ?", f.OrgID)
	w.addIf(f.ID != "", "id = ?", f.ID)
	w.addIf(f.Key != "", keyCol(f.Deleted)+" = ?", f.Key)
	listDeleted(w, f.Deleted)
	return listPage(ctx, s.reader(), "projects", projectSelect, w, projectSort, page, scanProject)
}

// UpdateProject stores a project's key, name and description.
func (s *Store) UpdateProject(ctx context.Context, p *tenancy.Project) error {
	if s.tx != nil {
		_, _ = s.GetProject(ctx, p.OrgID, p.ID) // the audit entry's "before" (see remember)
	}
	return duplicate(execOne(ctx, s.writer(), "project", p.ID,
		"UPDATE projects SET key = $3, name = $4, description = $5, updated_at = $6 WHERE org_id = $1 AND id = $2",
		p.OrgID, p.ID, p.Key, p.Name, p.Description, micros(p.UpdatedAt)), "a project", "key", p.Key)
}

// DeleteProject deletes a project with its environments and keys.
func (s *Store) DeleteProject(ctx context.Context, orgID, id string) error {
	return execOne(ctx, s.writer(), "project", id, "DELETE FROM projects WHERE org_id = $1 AND id = $2", orgID, id)
}

const envCols = "id, org_id, project_id, key, name, description, sandbox, settings, created_at, updated_at"

var envSort = map[string]string{"created_at": "created_at", "updated_at": "updated_at", "name": "name", "key": "key"}

// envSelect are the columns scanEnv reads.
const envSelect = envCols + tombstoneCols

func scanEnv(sc scanner) (tenancy.Environment, error) {
	var e tenancy.Environment
	var settings string
	var created, updated int64
	var tomb tombstone
	if err := sc.Scan(append([]any{&e.ID, &e.OrgID, &e.ProjectID, &e.Key, &e.Name, &e.Description, &e.Sandbox, &settings, &created, &updated}, tomb.targets()...)...); err != nil {
		return e, err
	}
	tomb.apply(&e.Tombstone, &e.Key)
	e.Settings = tenancy.DefaultEnvSettings()
	if err := json.Unmarshal([]byte(settings), &e.Settings); err != nil {
		return e, fmt.Errorf("environment %s settings: %w", e.ID, err)
	}
	e.CreatedAt, e.UpdatedAt = fromMicros(created), fromMicros(updated)
	return e, nil
}

// CreateEnvironment stores a new environment.
func (s *Store) CreateEnvironment(ctx context.Context, e *tenancy.Environment) error {
	settings, err := jsonText(e.Settings)
	if err != nil {
		return err
	}
	return duplicate(exec(ctx, s.writer(), "environment", "INSERT INTO environments ("+envCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
		e.ID, e.OrgID, e.ProjectID, e.Key, e.Name, e.Description, e.Sandbox, settings, micros(e.CreatedAt), micros(e.UpdatedAt)), "an environment of this project", "key", e.Key)
}

// GetEnvironment returns an environment of a project by id or key.
func (s *Store) GetEnvironment(ctx context.Context, orgID, projectID, ref string) (*tenancy.Environment, error) {
	return remembered[tenancy.Environment](s)(getOne(ctx, s.reader(), "environment", ref,
		"SELECT "+envSelect+" FROM environments WHERE org_id = $1 AND project_id = $2 AND "+live+" AND "+refCond(ref, 3),
		scanEnv, orgID, projectID, ref))
}

// EnvironmentByID returns an environment by its id alone (for background
// work that knows only the id).
func (s *Store) EnvironmentByID(ctx context.Context, id string) (*tenancy.Environment, error) {
	return getOne(ctx, s.reader(), "environment", id, "SELECT "+envSelect+" FROM environments WHERE id = $1 AND "+live, scanEnv, id)
}

// ListEnvironments lists environments.
func (s *Store) ListEnvironments(ctx context.Context, f tenancy.EnvironmentFilter, page gatehouse.PageRequest) (gatehouse.Page[tenancy.Environment], error) {
	w := &where{}
	w.add("org_id = ?", f.OrgID)
	w.addIf(f.ProjectID != "", "project_id = ?", f.ProjectID)
	w.addIf(f.ID != "", "id = ?", f.ID)
	w.addIf(f.Key != "", keyCol(f.Deleted)+" = ?", f.Key)
	if f.Sandbox != nil {
		w.add("sandbox = ?", *f.Sandbox)
	}
	listDeleted(w, f.Deleted)
	return listPage(ctx, s.reader(), "environments", envSelect, w, envSort, page, scanEnv)
}

// UpdateEnvironment stores an environment's fields and settings.
func (s *Store) UpdateEnvironment(ctx context.Context, e *tenancy.Environment) error {
	settings, err := jsonText(e.Settings)
	if err != nil {
		return err
	}
	if s.tx != nil {
		_, _ = s.GetEnvironment(ctx, e.OrgID, e.ProjectID, e.ID) // the audit entry's "before" (see remember)
	}
	return duplicate(execOne(ctx, s.writer(), "environment", e.ID,
		"UPDATE environments SET key = $3, name = $4, description = $5, sandbox = $6, settings = $7, updated_at = $8 WHERE org_id = $1 AND id = $2",
		e.OrgID, e.ID, e.Key, e.Name, e.Description, e.Sandbox, settings, micros(e.UpdatedAt)), "an environment of this project", "key", e.Key)
}

// DeleteEnvironment deletes an environment and its keys.
func (s *Store) DeleteEnvironment(ctx context.Context, orgID, id string) error {
	return execOne(ctx, s.writer(), "environment", id, "DELETE FROM environments WHERE org_id = $1 AND id = $2", orgID, id)
}

const memberCols = "id, org_id, email, name, role, created_at, updated_at"

var memberSort = map[string]string{"created_at": "created_at", "updated_at": "updated_at", "name": "name", "email": "email", "role": "role"}

func scanMember(sc scanner) (tenancy.Member, error) {
	var m tenancy.Member
	var created, updated int64
	err := sc.Scan(&m.ID, &m.OrgID, &m.Email, &m.Name, &m.Role, &created, &updated)
	m.CreatedAt, m.UpdatedAt = fromMicros(created), fromMicros(updated)
	return m, err
}

// CreateMember stores a new member.
func (s *Store) CreateMember(ctx context.Context, m *tenancy.Member) error {
	return duplicate(exec(ctx, s.writer(), "member", "INSERT INTO members ("+memberCols+") VALUES ($1, $2, $3, $4, $5, $6, $7)",
		m.ID, m.OrgID, m.Email, m.Name, m.Role, micros(m.CreatedAt), micros(m.UpdatedAt)), "a member", "email", m.Email)
}

// GetMember returns a member of orgID.
func (s *Store) GetMember(ctx context.Context, orgID, id string) (*tenancy.Member, error) {
	return remembered[tenancy.Member](s)(getOne(ctx, s.reader(), "member", id, "SELECT "+memberCols+" FROM members WHERE org_id = $1 AND id = $2", scanMember, orgID, id))
}

// ListMembers lists members.
func (s *Store) ListMembers(ctx context.Context, f tenancy.MemberFilter, page gatehouse.PageRequest) (gatehouse.Page[tenancy.Member], error) {
	w := &where{}
	w.add("org_id = ?", f.OrgID)
	w.addIf(f.Role != "", "role = ?", f.Role)
	w.addIf(f.Email != "", "email = ?", f.Email)
	return listPage(ctx, s.reader(), "members", memberCols, w, memberSort, page, scanMember)
}

// UpdateMember stores a member's name and role.
func (s *Store) UpdateMember(ctx context.Context, m *tenancy.Member) error {
	return execOne(ctx, s.writer(), "member", m.ID,
		"UPDATE members SET name = $3, role = $4, updated_at = $5 WHERE org_id = $1 AND id = $2",
		m.OrgID, m.ID, m.Name, m.Role, micros(m.UpdatedAt))
}

// DeleteMember deletes a member.
func (s *Store) DeleteMember(ctx context.Context, orgID, id string) error {
	return execOne(ctx, s.writer(), "member", id, "DELETE FROM members WHERE org_id = $1 AND id = $2", orgID, id)
}

// LockOrganization locks orgID's row until the transaction ends. SQLite
// transactions hold the database's write lock from their start
// (_txlock=immediate), so there it has nothing more to do.
func (s *Store) LockOrganization(ctx context.Context, orgID string) error {
	if s.tx == nil {
		return fmt.Errorf("lock organization: not in a transaction")
	}
	if s.db.Engine != Postgres {
		return nil
	}
	var id string
	err := s.tx.QueryRowContext(ctx, "SELECT id FROM organizations WHERE id = $1 FOR UPDATE", orgID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("organization", orgID)
	}
	if err != nil {
		return fmt.Errorf("lock organization: %w", err)
	}
	return nil
}

// CountMembers counts the members of orgID holding role.
func (s *Store) CountMembers(ctx context.Context, orgID, role string) (int, error) {
	var n int
	err := s.reader().QueryRowContext(ctx, "SELECT COUNT(*) FROM members WHERE org_id = $1 AND role = $2", orgID, role).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count members: %w", err)
	}
	return n, nil
}

const roleCols = "org_id, key, name, description, scopes, created_at, updated_at"

func scanRole(sc scanner) (tenancy.Role, error) {
	var r tenancy.Role
	var scopes string
	var created, updated int64
	err := sc.Scan(&r.OrgID, &r.Key, &r.Name, &r.Description, &scopes, &created, &updated)
	r.Scopes = parseScopes(scopes)
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
	return r, err
}

// CreateRole stores a custom member role.
func (s *Store) CreateMemberRole(ctx context.Context, r *tenancy.Role) error {
	return s.InTx(ctx, func(tx *Store) error {
		if err := duplicate(exec(ctx, tx.writer(), "role", "INSERT INTO member_roles ("+roleCols+") VALUES ($1, $2, $3, $4, $5, $6, $7)",
			r.OrgID, r.Key, r.Name, r.Description, scopesText(r.Scopes), micros(r.CreatedAt), micros(r.UpdatedAt)), "a member role", "key", r.Key); err != nil {
			return err
		}
		return tx.memberRoleAudit(ctx, "member_role.created", r.OrgID, r.Key, nil, r)
	})
}

// memberRoleAudit records a change of member role key (the audit trail).
func (s *Store) memberRoleAudit(ctx context.Context, action, orgID, key string, before, after *tenancy.Role) error {
	doc := func(r *tenancy.Role) json.RawMessage {
		if r == nil {
			return nil
		}
		b, _ := json.Marshal(map[string]any{"key": r.Key, "name": r.Name, "description": r.Description, "scopes": r.Scopes.Scopes()})
		return b
	}
	return s.RecordAudit(ctx, audit.AuditEntry{OrganizationID: orgID, Action: action, ObjectType: "member_role", ObjectKey: key,
		Before: doc(before), After: doc(after)})
}

// GetRole returns a custom role of orgID.
func (s *Store) GetMemberRole(ctx context.Context, orgID, key string) (*tenancy.Role, error) {
	return getOne(ctx, s.reader(), "role", key, "SELECT "+roleCols+" FROM member_roles WHERE org_id = $1 AND key = $2", scanRole, orgID, key)
}

// ListRoles lists the custom roles of orgID by key.
func (s *Store) ListMemberRoles(ctx context.Context, orgID string) ([]tenancy.Role, error) {
	rows, err := s.reader().QueryContext(ctx, "SELECT "+roleCols+" FROM member_roles WHERE org_id = $1 ORDER BY key", orgID)
	if err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	defer rows.Close()
	var out []tenancy.Role
	for rows.Next() {
		r, err := scanRole(rows)
		if err != nil {
			return nil, fmt.Errorf("scan role: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// UpdateRole stores a custom role's name, description and scopes.
func (s *Store) UpdateMemberRole(ctx context.Context, r *tenancy.Role) error {
	return s.InTx(ctx, func(tx *Store) error {
		before, err := tx.GetMemberRole(ctx, r.OrgID, r.Key)
		if err != nil {
			return err
		}
		if err := execOne(ctx, tx.writer(), "role", r.Key,
			"UPDATE member_roles SET name = $3, description = $4, scopes = $5, updated_at = $6 WHERE org_id = $1 AND key = $2",
			r.OrgID, r.Key, r.Name, r.Description, scopesText(r.Scopes), micros(r.UpdatedAt)); err != nil {
			return err
		}
		return tx.memberRoleAudit(ctx, "member_role.updated", r.OrgID, r.Key, before, r)
	})
}

// DeleteRole deletes a custom role.
func (s *Store) DeleteMemberRole(ctx context.Context, orgID, key string) error {
	return s.InTx(ctx, func(tx *Store) error {
		before, err := tx.GetMemberRole(ctx, orgID, key)
		if err != nil {
			return err
		}
		if err := execOne(ctx, tx.writer(), "role", key, "DELETE FROM member_roles WHERE org_id = $1 AND key = $2", orgID, key); err != nil {
			return err
		}
		return tx.memberRoleAudit(ctx, "member_role.deleted", orgID, key, before, nil)
	})
}

// InTenancyTx runs fn in one transaction.
func (s *Store) InTenancyTx(ctx context.Context, fn func(tenancy.Store) error) error {
	return s.InTx(ctx, func(tx *Store) error { return fn(tx) })
}
