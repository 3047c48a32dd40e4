package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
)

var _ facts.Store = (*Store)(nil)

// InFactsTx runs fn in a transaction holding envID's write lock. On
// PostgreSQL the lock is the environment row (FOR UPDATE); SQLite has a
// single writer.
func (s *Store) InFactsTx(ctx context.Context, envID string, fn func(facts.Store) error) error {
	return s.InTx(ctx, func(tx *Store) error {
		if s.db.Engine == Postgres {
			var id string
			err := tx.tx.QueryRowContext(ctx, "SELECT id FROM environments WHERE id = $1 FOR UPDATE", envID).Scan(&id)
			if err == sql.ErrNoRows {
				return notFound("environment", envID)
			}
			if err != nil {
				return fmt.Errorf("lock environment: %w", err)
			}
		}
		return fn(tx)
	})
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps and slices of JSON values reach here
	}
	return string(b)
}

func fromJSON[T any](text string) (T, error) {
	var v T
	err := json.Unmarshal([]byte(text), &v)
	return v, err
}

// searchCond adds a case-insensitive substring match over cols.
func searchCond(w *where, search string, cols ...string) {
	if search == "" {
		return
	}
	if strings.ContainsRune(search, 0) || !utf8.ValidString(search) {
		// PostgreSQL refuses either in text, and SQLite's LIKE and FTS5
		// end a string at a NUL.
		w.err = gatehouse.FieldError("search", "invalid_value", "search must be UTF-8 text without NUL characters")
		return
	}
	pat := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(strings.ToLower(search)) + "%"
	w.args = append(w.args, pat)
	n := len(w.args)
	var ors []string
	for _, c := range cols {
		ors = append(ors, fmt.Sprintf("LOWER(%s) LIKE $%d ESCAPE '\\'", c, n))
	}
	w.parts = append(w.parts, "("+strings.Join(ors, " OR ")+")")
}

// The sorts of each fact list: only columns its table has, each with an
// index (env_id, column, id) or, for roles and resource types, few rows.
var (
	userSort   = map[string]string{"created_at": "created_at", "updated_at": "updated_at", "key": "key", "email": "email"}
	namedSort  = map[string]string{"created_at": "created_at", "updated_at": "updated_at", "key": "key", "name": "name"}
	tenantSort = namedSort
)

// ---- users

const userCols = "id, env_id, key, email, first_name, last_name, attributes, created_at, updated_at"

func scanUser(sc scanner) (facts.User, error) {
	var u facts.User
	var attrs string
	var c, up int64
	if err := sc.Scan(&u.ID, &u.EnvID, &u.Key, &u.Email, &u.FirstName, &u.LastName, &attrs, &c, &up); err != nil {
		return u, err
	}
	u.CreatedAt, u.UpdatedAt = fromMicros(c), fromMicros(up)
	var err error
	u.Attributes, err = fromJSON[map[string]any](attrs)
	return u, err
}

// CreateUser stores a user.
func (s *Store) CreateUser(ctx context.Context, u *facts.User) error {
	return duplicate(exec(ctx, s.writer(), "user", "INSERT INTO authz_users ("+userCols+") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
		u.ID, u.EnvID, u.Key, u.Email, u.FirstName, u.LastName, mustJSON(u.Attributes), micros(u.CreatedAt), micros(u.UpdatedAt)), "a user", "key", u.Key)
}

// GetUser returns a user by id or key.
func (s *Store) GetUser(ctx context.Context, envID, ref string) (*facts.User, error) {
	return remembered[facts.User](s)(getOne(ctx, s.reader(), "user", ref, "SELECT "+userCols+" FROM authz_users WHERE env_id = $1 AND "+refCond(ref, 2), scanUser, envID, ref))
}

// ListUsers lists users.
func (s *Store) ListUsers(ctx context.Context, f facts.Filter, page gatehouse.PageRequest) (gatehouse.Page[facts.User], error) {
	return anchored(ctx, s, "users", f.EnvID, f, page, func(p gatehouse.PageRequest) (gatehouse.Page[facts.User], error) { return s.listUsers(ctx, f, p) })
}

func (s *Store) listUsers(ctx context.Context, f facts.Filter, page gatehouse.PageRequest) (gatehouse.Page[facts.User], error) {
	w := &where{}
	w.add("env_id = ?", f.EnvID)
	w.addIf(f.Key != "", "key = ?", f.Key)
	w.addIf(f.Email != "", "email = ?", f.Email)
	found, err := s.search(ctx, w, f.EnvID, f.Search, userSearch)
	if err != nil {
		return gatehouse.Page[facts.User]{}, err
	}
	return listRows(ctx, s.reader(), listQuery{what: "authz_users", counted: found.count, countIndex: s.searchCountIndex("authz_users", w, f.Search), cols: userCols, from: "authz_users", idCol: "id", sortable: userSort,
		marks: s.marksOf("authz_users", f.EnvID, len(w.parts) == 1), sorted: s.ownSorted("authz_users", f.EnvID, len(w.parts) == 1)}, w, page, scanUser)
}

// UpdateUser stores a user's fields.
func (s *Store) UpdateUser(ctx context.Context, u *facts.User) error {
	return execOne(ctx, s.writer(), "user", u.Key, "UPDATE authz_users SET email=$3, first_name=$4, last_name=$5, attributes=$6, updated_at=$7 WHERE env_id=$1 AND id=$2",
		u.EnvID, u.ID, u.Email, u.FirstName, u.LastName, mustJSON(u.Attributes), micros(u.UpdatedAt))
}

// DeleteUser deletes a user and its assignments.
func (s *Store) DeleteUser(ctx context.Context, envID, id string) error {
	return execOne(ctx, s.writer(), "user", id, "DELETE FROM authz_users WHERE env_id = $1 AND id = $2", envID, id)
}

// ---- tenants

const tenantCols = "id, env_id, key, name, description, attributes, created_at, updated_at"

func scanTenant(sc scanner) (facts.Tenant, error) {
	var t facts.Tenant
	var attrs string
	var c, up int64
	if err := sc.Scan(&t.ID, &t.EnvID, &t.Key, &t.Name, &t.Description, &attrs, &c, &up); err != nil {
		return t, err
	}
	t.CreatedAt, t.UpdatedAt = fromMicros(c), fromMicros(up)
	var err error
	t.Attributes, err = fromJSON[map[string]any](attrs)
	return t, err
}

// CreateTenant stores a tenant.
func (s *Store) CreateTenant(ctx context.Context, t *facts.Tenant) error {
	return duplicate(exec(ctx, s.writer(), "tenant", "INSERT INTO authz_tenants ("+tenantCols+") VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
		t.ID, t.EnvID, t.Key, t.Name, t.Description, mustJSON(t.Attributes), micros(t.CreatedAt), micros(t.UpdatedAt)), "a tenant", "key", t.Key)
}

// GetTenant returns a tenant by id or key.
func (s *Store) GetTenant(ctx context.Context, envID, ref string) (*facts.Tenant, error) {
	return remembered[facts.Tenant](s)(getOne(ctx, s.reader(), "tenant", ref, "SELECT "+tenantCols+" FROM authz_tenants WHERE env_id = $1 AND "+refCond(ref, 2), scanTenant, envID, ref))
}

// EnvironmentsWithoutTenant lists the environments (deleted ones too) that
// have no tenant with key.
func (s *Store) EnvironmentsWithoutTenant(ctx context.Context, key string) ([]string, error) {
	return queryAll(ctx, s.reader(), "SELECT e.id FROM environments e WHERE NOT EXISTS (SELECT 1 FROM authz_tenants t WHERE t.env_id = e.id AND t.key = $1) ORDER BY e.id",
		func(sc scanner) (string, error) {
			var id string
			return id, sc.Scan(&id)
		}, key)
}

// LiveEnvironmentIDs lists the environments not deleted, in projects and
// organizations not deleted.
func (s *Store) LiveEnvironmentIDs(ctx context.Context) ([]string, error) {
	return queryAll(ctx, s.reader(), "SELECT e.id FROM environments e JOIN projects p ON p.id = e.project_id JOIN organizations o ON o.id = e.org_id"+
		" WHERE e.deleted_at IS NULL AND p.deleted_at IS NULL AND o.deleted_at IS NULL ORDER BY e.id",
		func(sc scanner) (string, error) {
			var id string
			return id, sc.Scan(&id)
		})
}

// ListTenants lists tenants.
func (s *Store) ListTenants(ctx context.Context, f facts.Filter, page gatehouse.PageRequest) (gatehouse.Page[facts.Tenant], error) {
	return anchored(ctx, s, "tenants", f.EnvID, f, page, func(p gatehouse.PageRequest) (gatehouse.Page[facts.Tenant], error) { return s.listTenants(ctx, f, p) })
}

func (s *Store) listTenants(ctx context.Context, f facts.Filter, page gatehouse.PageRequest) (gatehouse.Page[facts.Tenant], error) {
	w := &where{}
	w.add("env_id = ?", f.EnvID)
	w.addIf(f.Key != "", "key = ?", f.Key)
	found, err := s.search(ctx, w, f.EnvID, f.Search, tenantSearch)
	if err != nil {
		return gatehouse.Page[facts.Tenant]{}, err
	}
	return listRows(ctx, s.reader(), listQuery{what: "authz_tenants", counted: found.count, countIndex: s.searchCountIndex("authz_tenants", w, f.Search), cols: tenantCols, from: "authz_tenants", idCol: "id", sortable: tenantSort,
		marks: s.marksOf("authz_tenants", f.EnvID, len(w.parts) == 1), sorted: s.ownSorted("authz_tenants", f.EnvID, len(w.parts) == 1)}, w, page, scanTenant)
}

// UpdateTenant stores a tenant's fields.
func (s *Store) UpdateTenant(ctx context.Context, t *facts.Tenant) error {
	return execOne(ctx, s.writer(), "tenant", t.Key, "UPDATE authz_tenants SET name=$3, description=$4, attributes=$5, updated_at=$6 WHERE env_id=$1 AND id=$2",
		t.EnvID, t.ID, t.Name, t.Description, mustJSON(t.Attributes), micros(t.UpdatedAt))
}

// DeleteTenant deletes a tenant and the assignments in it.
func (s *Store) DeleteTenant(ctx context.Context, envID, id string) error {
	return execOne(ctx, s.writer(), "tenant", id, "DELETE FROM authz_tenants WHERE env_id = $1 AND id = $2", envID, id)
}

// ---- resources

const resourceCols = "id, env_id, key, name, description, actions, created_at, updated_at, attributes, kind, config, status"

func scanResource(sc scanner) (facts.Resource, error) {
	var r facts.Resource
	var actions, attrs, config string
	var c, up int64
	if err := sc.Scan(&r.ID, &r.EnvID, &r.Key, &r.Name, &r.Description, &actions, &c, &up, &attrs, &r.Type, &config, &r.Status); err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(config), &r.Config); err != nil {
		return r, fmt.Errorf("resource %s config: %w", r.Key, err)
	}
	r.Attributes = map[string]facts.AttributeDef{}
	if attrs != "" && attrs != "{}" {
		if err := json.Unmarshal([]byte(attrs), &r.Attributes); err != nil {
			return r, fmt.Errorf("resource %s attributes: %w", r.Key, err)
		}
	}
	r.CreatedAt, r.UpdatedAt = fromMicros(c), fromMicros(up)
	var err error
	r.Actions, err = fromJSON[[]string](actions)
	return r, err
}

// CreateResource stores a resource type.
func (s *Store) CreateResource(ctx context.Context, r *facts.Resource) error {
	return duplicate(exec(ctx, s.writer(), "resource", "INSERT INTO authz_resources ("+resourceCols+") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
		r.ID, r.EnvID, r.Key, r.Name, r.Description, mustJSON(r.Actions), micros(r.CreatedAt), micros(r.UpdatedAt), attrsJSON(r.Attributes),
		r.Type, objectJSON(r.Config), r.Status), "a resource type", "key", r.Key)
}

// GetResource returns a resource type by id or key.
func (s *Store) GetResource(ctx context.Context, envID, ref string) (*facts.Resource, error) {
	return remembered[facts.Resource](s)(getOne(ctx, s.reader(), "resource", ref, "SELECT "+resourceCols+" FROM authz_resources WHERE env_id = $1 AND "+refCond(ref, 2), scanResource, envID, ref))
}

// ListResources lists resource types.
func (s *Store) ListResources(ctx context.Context, f facts.Filter, page gatehouse.PageRequest) (gatehouse.Page[facts.Resource], error) {
	w := &where{}
	w.add("env_id = ?", f.EnvID)
	w.addIf(f.Key != "", "key = ?", f.Key)
	w.addIf(f.Type != "", "kind = ?", f.Type)
	w.addIf(f.Status != "", "status = ?", f.Status)
	searchCond(w, f.Search, "key", "name")
	return listPage(ctx, s.reader(), "authz_resources", resourceCols, w, namedSort, page, scanResource)
}

// UpdateResource stores a resource type's fields.
func (s *Store) UpdateResource(ctx context.Context, r *facts.Resource) error {
	return execOne(ctx, s.writer(), "resource", r.Key, "UPDATE authz_resources SET name=$3, description=$4, actions=$5, updated_at=$6, attributes=$7, kind=$8, config=$9, status=$10 WHERE env_id=$1 AND id=$2",
		r.EnvID, r.ID, r.Name, r.Description, mustJSON(r.Actions), micros(r.UpdatedAt), attrsJSON(r.Attributes), r.Type, objectJSON(r.Config), r.Status)
}

// objectJSON is a column of a JSON object ({} when empty): a resource
// type's config, a role's attributes.
func objectJSON(m map[string]any) string {
	if len(m) == 0 {
		return "{}"
	}
	return mustJSON(m)
}

func attrsJSON(defs map[string]facts.AttributeDef) string {
	if len(defs) == 0 {
		return "{}"
	}
	return mustJSON(defs)
}

// DeleteResource deletes a resource type.
func (s *Store) DeleteResource(ctx context.Context, envID, id string) error {
	return execOne(ctx, s.writer(), "resource", id, "DELETE FROM authz_resources WHERE env_id = $1 AND id = $2", envID, id)
}

// ---- roles

const authzRoleCols = "id, env_id, key, name, description, permissions, extends, created_at, updated_at, attributes"

func scanAuthzRole(sc scanner) (facts.Role, error) {
	var r facts.Role
	var perms, ext, attrs string
	var c, up int64
	if err := sc.Scan(&r.ID, &r.EnvID, &r.Key, &r.Name, &r.Description, &perms, &ext, &c, &up, &attrs); err != nil {
		return r, err
	}
	r.CreatedAt, r.UpdatedAt = fromMicros(c), fromMicros(up)
	var err error
	if r.Permissions, err = fromJSON[[]string](perms); err != nil {
		return r, err
	}
	if r.Extends, err = fromJSON[[]string](ext); err != nil {
		return r, err
	}
	r.Attributes, err = valuesJSON(attrs)
	return r, err
}

// valuesJSON reads a column of attribute values (a JSON object); a null
// reads as none.
func valuesJSON(text string) (map[string]any, error) {
	m, err := fromJSON[map[string]any](text)
	if err != nil {
		return nil, fmt.Errorf("attributes: %w", err)
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// CreateRole stores a role.
func (s *Store) CreateRole(ctx context.Context, r *facts.Role) error {
	return duplicate(exec(ctx, s.writer(), "role", "INSERT INTO authz_roles ("+authzRoleCols+") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
		r.ID, r.EnvID, r.Key, r.Name, r.Description, mustJSON(r.Permissions), mustJSON(r.Extends), micros(r.CreatedAt), micros(r.UpdatedAt), objectJSON(r.Attributes)), "a role", "key", r.Key)
}

// GetRole returns a role by id or key.
func (s *Store) GetRole(ctx context.Context, envID, ref string) (*facts.Role, error) {
	return remembered[facts.Role](s)(getOne(ctx, s.reader(), "role", ref, "SELECT "+authzRoleCols+" FROM authz_roles WHERE env_id = $1 AND "+refCond(ref, 2), scanAuthzRole, envID, ref))
}

// ListRoles lists roles.
func (s *Store) ListRoles(ctx context.Context, f facts.Filter, page gatehouse.PageRequest) (gatehouse.Page[facts.Role], error) {
	w := &where{}
	w.add("env_id = ?", f.EnvID)
	w.addIf(f.Key != "", "key = ?", f.Key)
	searchCond(w, f.Search, "key", "name")
	return listPage(ctx, s.reader(), "authz_roles", authzRoleCols, w, namedSort, page, scanAuthzRole)
}

// AllRoles returns every role of envID.
func (s *Store) AllRoles(ctx context.Context, envID string) ([]facts.Role, error) {
	return queryAll(ctx, s.reader(), "SELECT "+authzRoleCols+" FROM authz_roles WHERE env_id = $1 ORDER BY key", scanAuthzRole, envID)
}

// UpdateRole stores a role's fields.
func (s *Store) UpdateRole(ctx context.Context, r *facts.Role) error {
	return execOne(ctx, s.writer(), "role", r.Key, "UPDATE authz_roles SET name=$3, description=$4, permissions=$5, extends=$6, updated_at=$7, attributes=$8 WHERE env_id=$1 AND id=$2",
		r.EnvID, r.ID, r.Name, r.Description, mustJSON(r.Permissions), mustJSON(r.Extends), micros(r.UpdatedAt), objectJSON(r.Attributes))
}

// DeleteRole deletes a role and its assignments.
func (s *Store) DeleteRole(ctx context.Context, envID, id string) error {
	return execOne(ctx, s.writer(), "role", id, "DELETE FROM authz_roles WHERE env_id = $1 AND id = $2", envID, id)
}

// ---- assignments

const assignmentCols = "a.id, a.env_id, a.user_id, a.role_id, a.tenant_id, u.key, r.key, t.key, a.created_at"
const assignmentFrom = `authz_role_assignments a
JOIN authz_users u ON u.id = a.user_id
JOIN authz_roles r ON r.id = a.role_id
JOIN authz_tenants t ON t.id = a.tenant_id`

func scanAssignment(sc scanner) (facts.Assignment, error) {
	var a facts.Assignment
	var c int64
	err := sc.Scan(&a.ID, &a.EnvID, &a.UserID, &a.RoleID, &a.TenantID, &a.User, &a.Role, &a.Tenant, &c)
	a.CreatedAt = fromMicros(c)
	return a, err
}

// CreateAssignment stores an assignment; a duplicate is a CONFLICT.
func (s *Store) CreateAssignment(ctx context.Context, a *facts.Assignment) error {
	return exec(ctx, s.writer(), "role assignment", "INSERT INTO authz_role_assignments (id, env_id, user_id, role_id, tenant_id, created_at) VALUES ($1,$2,$3,$4,$5,$6)",
		a.ID, a.EnvID, a.UserID, a.RoleID, a.TenantID, micros(a.CreatedAt))
}

// DeleteAssignment deletes an assignment.
func (s *Store) DeleteAssignment(ctx context.Context, envID, userID, roleID, tenantID string) error {
	return execOne(ctx, s.writer(), "role assignment", "", "DELETE FROM authz_role_assignments WHERE env_id=$1 AND user_id=$2 AND role_id=$3 AND tenant_id=$4",
		envID, userID, roleID, tenantID)
}

// ListAssignments lists assignments, filtered by keys. The keys are
// resolved to ids first, so that the filters and the count read the
// assignments' own indexes (env_id, user_id, role_id or tenant_id, then
// the sort column and id) without joining a million rows.
func (s *Store) ListAssignments(ctx context.Context, f facts.AssignmentFilter, page gatehouse.PageRequest) (gatehouse.Page[facts.Assignment], error) {
	return anchored(ctx, s, "role assignments", f.EnvID, f, page, func(p gatehouse.PageRequest) (gatehouse.Page[facts.Assignment], error) {
		return s.listAssignments(ctx, f, p)
	})
}

func (s *Store) listAssignments(ctx context.Context, f facts.AssignmentFilter, page gatehouse.PageRequest) (gatehouse.Page[facts.Assignment], error) {
	if f.Kind == facts.AllAssignments && f.ResourceInstance == "" {
		// Most environments have no role on an instance: then "all" is the
		// tenant assignments, read through their indexes instead of a
		// union. (A cursor of one form is refused by the other, should the
		// first role on an instance arrive during a walk.)
		var one int
		err := s.reader().QueryRowContext(ctx, "SELECT 1 FROM authz_instance_assignments WHERE env_id = $1 LIMIT 1", f.EnvID).Scan(&one)
		if err == sql.ErrNoRows {
			f.Kind = ""
		} else if err != nil {
			return gatehouse.Page[facts.Assignment]{}, fmt.Errorf("list role assignments: %w", err)
		}
	}
	if f.Kind != "" || f.ResourceInstance != "" {
		return s.listAnyAssignments(ctx, f, page)
	}
	w := &where{}
	if f.User == "" && f.Role == "" && f.Tenant == "" {
		w.add("a.env_id = ?", f.EnvID)
	}
	// A user, role or tenant (resolved in this environment) implies the
	// environment: without a condition on env_id, which their indexes do
	// not hold, a count reads only the index, not every row's table entry.
	// marks find a deep page in the default order: the environment's list
	// marks for all of its assignments, the key marks of one user, role
	// or tenant for theirs.
	envOnly := f.User == "" && f.Role == "" && f.Tenant == ""
	marks := s.marksOf("authz_role_assignments", f.EnvID, envOnly)
	type keyFilter struct {
		sort, key, table, col string
		rank                  int
	}
	var onlyKey keyFilter // the one filter, when there is one and it matches
	var filters []idFilter
	for _, by := range []keyFilter{{"user", f.User, "authz_users", "a.user_id", rankUser}, {"role", f.Role, "authz_roles", "a.role_id", rankRole}, {"tenant", f.Tenant, "authz_tenants", "a.tenant_id", rankTenant}} {
		if by.key == "" {
			continue
		}
		var id string
		err := s.reader().QueryRowContext(ctx, "SELECT id FROM "+by.table+" WHERE env_id = $1 AND key = $2", f.EnvID, by.key).Scan(&id)
		if err == sql.ErrNoRows {
			id = "" // no such key: no assignment matches (ids are never "")
		} else if err != nil {
			return gatehouse.Page[facts.Assignment]{}, fmt.Errorf("list role assignments: %w", err)
		}
		w.filter(&filters, by.col, id, by.rank)
		if id != "" && len(w.parts) == 1 {
			marks, onlyKey = s.keyMarksOf(by.sort, f.EnvID, by.key), by
		} else {
			marks, onlyKey = nil, keyFilter{} // two filters, or none matches
		}
	}
	if by, ok := assignmentGroups[page.Sort]; ok {
		if onlyKey.sort != page.Sort {
			onlyKey = keyFilter{} // (sorted by another key: not the key's run of the order)
		}
		return s.listAssignmentsBy(ctx, f.EnvID, by, w, filters, page, envOnly, onlyKey.key)
	}
	if page.Sort != "" && page.Sort != "created_at" {
		return gatehouse.Page[facts.Assignment]{}, unknownSort(page.Sort, assignmentSorts)
	}
	if len(filters) > 1 {
		// Two or three filters: read through the index of the one with
		// the fewest rows (filters.go).
		var err error
		if w, err = s.narrowestFirst(ctx, "authz_role_assignments a", w, filters); err != nil {
			return gatehouse.Page[facts.Assignment]{}, fmt.Errorf("list role assignments: %w", err)
		}
	}
	return listRows(ctx, s.reader(), listQuery{what: "role assignments", cols: assignmentCols,
		from: assignmentFrom, countFrom: "authz_role_assignments a", idCol: "a.id",
		sortable: map[string]string{"": "a.created_at", "created_at": "a.created_at"},
		marks:    marks}, w, page, scanAssignment)
}

// assignmentGroup is a sort of the assignments by the key of what they
// name: the table of that key and the assignment's column naming it.
type assignmentGroup struct{ table, alias, fk string }

var assignmentGroups = map[string]assignmentGroup{
	"user":   {"authz_users", "u", "a.user_id"},
	"role":   {"authz_roles", "r", "a.role_id"},
	"tenant": {"authz_tenants", "t", "a.tenant_id"},
}

// assignmentSorts names the sorts of the assignment lists.
var assignmentSorts = map[string]string{"created_at": "", "user": "", "role": "", "tenant": ""}

// countsFromIndex says whether an index holds both the sort's key column
// fk and every filter's, so that keyOfRow counts each key's rows of the
// filters without reading the table: a tenant's rows of a role from
// (tenant_id, role_id) (migration 00034), a user's of a role or tenant
// from (user_id, tenant_id, role_id). Otherwise (sorted by role, a tenant
// filtered by user, or filtered by the sort's own key) each count would
// read every row of every key up to the page from the table, more than
// the skip it would replace.
func countsFromIndex(fk string, filters []idFilter) bool {
	covered := map[string][]string{"a.tenant_id": {"a.role_id"}, "a.user_id": {"a.role_id", "a.tenant_id"}}[fk]
	return len(filters) > 0 && !slices.ContainsFunc(filters, func(f idFilter) bool { return !slices.Contains(covered, f.col) })
}

// keyOfRow returns the key (and its row's id) of by's table holding the
// row at offset (0-based: the row offset-1 of the list is the offset-th)
// of the assignments matching inner, among the keys matching outer, in
// key order (dir, cmp its comparison), and how many rows the keys before
// it hold: the keys' counts read a batch of keys at a time, stopping at
// that key. sql.ErrNoRows when the list holds offset rows or fewer.
func (s *Store) keyOfRow(ctx context.Context, by assignmentGroup, outerSQL, innerSQL string, args []any, dir, cmp string, offset int64) (key, id string, before int64, err error) {
	const batch = 256
	// Each count's filter written plainly where the sort's column and the
	// filter's lead an index, (tenant_id, role_id) or (user_id,
	// tenant_id, role_id), so that both bound its read: hinted
	// (hintedExcept), the filter's entries of every other value of it
	// were read and checked (a tenant's rows of every role).
	if col := map[string]string{"a.tenant_id": "a.role_id", "a.user_id": "a.tenant_id"}[by.fk]; col != "" {
		innerSQL = strings.ReplaceAll(innerSQL, "+"+col+" =", col+" =")
	}
	var after string
	for first := true; ; first = false {
		qargs, from := args, ""
		if !first {
			qargs = append(append([]any(nil), args...), after)
			from = fmt.Sprintf(" AND %s.key %s $%d", by.alias, cmp, len(qargs))
		}
		rows, err := s.reader().QueryContext(ctx, fmt.Sprintf("SELECT %s.key, %s.id, (SELECT COUNT(*) FROM authz_role_assignments a WHERE %s = %s.id AND %s) FROM %s %s WHERE %s%s ORDER BY %s.key%s LIMIT %d",
			by.alias, by.alias, by.fk, by.alias, innerSQL, by.table, by.alias, outerSQL, from, by.alias, dir, batch), qargs...)
		if err != nil {
			return "", "", 0, err
		}
		read := 0
		for rows.Next() {
			var k, kid string
			var n int64
			if err := rows.Scan(&k, &kid, &n); err != nil {
				rows.Close()
				return "", "", 0, err
			}
			read++
			after = k
			if before+n >= offset {
				rows.Close()
				return k, kid, before, nil
			}
			before += n
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return "", "", 0, err
		}
		if read < batch {
			return "", "", 0, sql.ErrNoRows
		}
	}
}

// roleRowByTenant is the row before the offset-th (1-based) of role's
// tenant assignments in (tenant key, created_at, id) order (reversed with
// desc): its tenant's key, created_at and id, found through each
// tenant's count of the role's rows from (tenant_id, role_id), then a
// step within that tenant. found is false past the end; ok is false when
// the tenant's rows changed between the two reads (the caller walks).
func (s *Store) roleRowByTenant(ctx context.Context, envID, roleID string, offset int, desc bool) (key string, at int64, id string, found, ok bool, err error) {
	by := assignmentGroups["tenant"]
	dir, cmp := " ASC", ">"
	if desc {
		dir, cmp = " DESC", "<"
	}
	key, tid, before, err := s.keyOfRow(ctx, by, "t.env_id = $2", "a.role_id = $1", []any{roleID, envID}, dir, cmp, int64(offset))
	if err == sql.ErrNoRows {
		return "", 0, "", false, true, nil
	}
	if err != nil {
		return "", 0, "", false, false, err
	}
	// Within the tenant, its rows in order, each checked for the role (on
	// SQLite hidden from the index choice: the role's index would read
	// the role's rows of every tenant).
	plus := "+"
	if s.db.Engine == Postgres {
		plus = ""
	}
	err = s.reader().QueryRowContext(ctx, fmt.Sprintf("SELECT a.created_at, a.id FROM authz_role_assignments a WHERE a.tenant_id = $1 AND %sa.role_id = $2 ORDER BY a.created_at%s, a.id%s LIMIT 1 OFFSET %d",
		plus, dir, dir, offset-1-int(before)), tid, roleID).Scan(&at, &id)
	if err == sql.ErrNoRows {
		return "", 0, "", false, false, nil // (deleted since the count)
	}
	if err != nil {
		return "", 0, "", false, false, err
	}
	return key, at, id, true, true, nil
}

// listAssignmentsBy lists assignments sorted by the key of their user,
// role or tenant, then created_at and id. The query walks the keys in
// order (the (env_id, key) index) and, for each, its assignments in order
// (the (fk, created_at, id) index), so that a page reads about as many
// rows as it returns instead of sorting the environment's assignments:
// on SQLite a nested loop in that order (CROSS JOIN fixes it), on
// PostgreSQL a LATERAL subquery of at most a page per key.
//
// envOnly says that w is the environment alone, and onlyKey (when not "")
// that w is one key of the sort's own table (?role=viewer&sort=role): a
// deep page of either list starts through the sort's key marks
// (keymarks.go).
func (s *Store) listAssignmentsBy(ctx context.Context, envID string, by assignmentGroup, w *where, filters []idFilter, page gatehouse.PageRequest, envOnly bool, onlyKey string) (gatehouse.Page[facts.Assignment], error) {
	var out gatehouse.Page[facts.Assignment]
	if page.PerPage <= 0 {
		page.PerPage = gatehouse.DefaultPerPage
	}
	countW := w
	var known func(gatehouse.PageRequest) (int, bool, bool) // the count, when the filter's tells it
	roleSort := ""                                          // one role's key marks by user (roleUserSort), when the list is that
	if slices.ContainsFunc(filters, func(f idFilter) bool { return f.col != by.fk }) {
		// Filtered by another key than the sort's (filters.go): a filter
		// of few rows is read whole and sorted; otherwise the keys are
		// walked in order as below, each key's rows through its own
		// index (not the filter's), and counted through the narrowest
		// filter's.
		i, n, err := s.narrowestFilter(ctx, "authz_role_assignments a", filters, s.filteredMax())
		if err != nil {
			return out, fmt.Errorf("list role assignments: %w", err)
		}
		narrowest := func(f idFilter) bool { return f.part == filters[i].part }
		if len(filters) == 1 {
			known = func(page gatehouse.PageRequest) (int, bool, bool) { return filterCount(n, s.filteredMax(), page) }
		}
		if n <= s.filteredMax() {
			// (On PostgreSQL too: the walk reads the keys before the
			// filter's first row.)
			return s.listAssignmentsSorted(ctx, envID, by, hintedExcept(s.db.Engine, w, filters, narrowest), known, page)
		}
		countW = hintedExcept(s.db.Engine, w, filters, narrowest)
		w = hintedExcept(s.db.Engine, w, filters, func(f idFilter) bool { return f.col == by.fk })
		if len(filters) == 1 && filters[0].col == "a.role_id" && by.fk == "a.user_id" {
			roleSort = roleUserSort + filters[0].id
		}
	}
	dir, cmp := " ASC", ">"
	if page.Desc {
		dir, cmp = " DESC", "<"
	}
	bind := cursorBinding("role assignments", by.alias+".key", page.Desc, w)
	args := append(append([]any(nil), w.args...), envID)
	outer := []string{fmt.Sprintf("%s.env_id = $%d", by.alias, len(args))}
	inner := append([]string(nil), w.parts...)
	offset := 0
	// With a cursor, the page is the rest of the cursor's key (the range
	// after (created_at, id) in its index) and then, if that is not a
	// page, the keys after it: two reads that each follow an index, where
	// one OR over both would read the cursor's key from its start.
	var rest []string
	// seek starts the page after the row (key, at, id).
	seek := func(key any, at int64, id string) {
		args = append(args, key, at, id)
		k, c, i := len(args)-2, len(args)-1, len(args)
		rest = append(append([]string(nil), outer...), fmt.Sprintf("%s.key = $%d", by.alias, k))
		inner = append(inner, fmt.Sprintf("a.created_at %s= $%d AND (a.created_at %s $%d OR a.id %s $%d)", cmp, c, cmp, c, cmp, i))
		outer = append(outer, fmt.Sprintf("%s.key %s $%d", by.alias, cmp, k))
	}
	if page.Cursor == StartCursor {
		if page.Page > 1 {
			return out, gatehouse.FieldError("cursor", "conflict", "give page or cursor, not both: a cursor already says where the page starts")
		}
		out.Total = -1
	} else if page.Cursor != "" {
		if page.Page > 1 {
			return out, gatehouse.FieldError("cursor", "conflict", "give page or cursor, not both: a cursor already says where the page starts")
		}
		key, at, id, err := keyedCursor(page.Cursor, bind)
		if err != nil {
			return out, err
		}
		seek(key, at, id)
		out.Total = -1
	} else {
		counted := false
		if known != nil {
			out.Total, out.TotalCapped, counted = known(page)
		}
		if !counted {
			if err := countRows(ctx, s.reader(), "authz_role_assignments a", countW, page, &out); err != nil {
				return out, fmt.Errorf("count role assignments: %w", err)
			}
		}
		offset = max(page.Offset(), 0)
		if offset >= deepOffset && (envOnly || onlyKey != "" || roleSort != "") {
			// The row before the page, through the key marks.
			var key string
			var at int64
			var id string
			var found, ok bool
			var err error
			if envOnly {
				key, at, id, found, ok, err = s.keyedSeek(ctx, page.Sort, envID, offset-1, page.Desc, page.CountUpTo)
			} else if roleSort != "" {
				key, at, id, found, ok, err = s.keyedSeek(ctx, roleSort, envID, offset-1, page.Desc, page.CountUpTo)
			} else {
				key = onlyKey
				at, id, found, _, ok, err = s.keyedSeekIn(ctx, page.Sort, envID, onlyKey, offset-1, page.Desc, page.CountUpTo)
			}
			if err != nil {
				return out, fmt.Errorf("list role assignments: %w", err)
			}
			if ok && !found {
				out.Items = []facts.Assignment{}
				return out, nil // past the end
			}
			if ok {
				seek(key, at, id)
				offset = 0
			}
		}
		if offset >= deepOffset {
			// A deep page: the row before it, read from the indexes alone
			// (the keys' (env_id, key, id) and the assignments' (fk,
			// created_at, id)), then the page after it as a cursor reads
			// it, instead of reading and joining every skipped row.
			// The assignment's environment is its key's (a user, role or
			// tenant of the environment): the condition moves to the
			// key's table, whose index holds it, so that the assignments'
			// (fk, created_at, id) index answers alone, without reading
			// every skipped row for its env_id.
			anchorOuter := append([]string(nil), outer...)
			anchorInner := []string{"TRUE"}
			for _, c := range inner {
				if rest, ok := strings.CutPrefix(c, "a.env_id = $"); ok {
					anchorOuter = append(anchorOuter, by.alias+".env_id = $"+rest)
				} else {
					anchorInner = append(anchorInner, c)
				}
			}
			innerSQL, outerSQL := strings.Join(anchorInner, " AND "), strings.Join(anchorOuter, " AND ")
			var key, id string
			var at int64
			var err error
			if s.db.Engine == Postgres {
				// PostgreSQL would sort the joined rows of each key (its
				// nested loop does not keep the inner order), so: the
				// running count of the keys' assignments, in key order,
				// up to the key holding the row (a window over an index
				// scan, which stops there), then that row by OFFSET in
				// the key's own index range.
				var gid string
				var cum, n int64
				err = s.reader().QueryRowContext(ctx, fmt.Sprintf("SELECT key, id, cum, n FROM (SELECT %s.key, %s.id, c.n, SUM(c.n) OVER (ORDER BY %s.key%s ROWS UNBOUNDED PRECEDING) AS cum FROM %s %s CROSS JOIN LATERAL (SELECT COUNT(*) AS n FROM authz_role_assignments a WHERE %s = %s.id AND %s) c WHERE %s) x WHERE cum >= %d ORDER BY key%s LIMIT 1",
					by.alias, by.alias, by.alias, dir, by.table, by.alias, by.fk, by.alias, innerSQL, outerSQL, offset, dir), args...).Scan(&key, &gid, &cum, &n)
				if err == nil {
					// (The key's conditions again, as a one-time filter:
					// every parameter is used.)
					gargs := append(append([]any(nil), args...), gid)
					err = s.reader().QueryRowContext(ctx, fmt.Sprintf("SELECT a.created_at, a.id FROM authz_role_assignments a WHERE %s = $%d AND EXISTS (SELECT 1 FROM %s %s WHERE %s.id = $%d AND %s) AND %s ORDER BY a.created_at%s, a.id%s LIMIT 1 OFFSET %d",
						by.fk, len(gargs), by.table, by.alias, by.alias, len(gargs), outerSQL, innerSQL, dir, dir, offset-1-int(cum-n)), gargs...).Scan(&at, &id)
				}
			} else if countsFromIndex(by.fk, filters) {
				// Filtered by another key than the sort's, where an index
				// holds both (countsFromIndex): each key's count of the
				// filter's rows from that index alone, in key order, a
				// batch of keys at a time, up to the key holding the row;
				// then that row by OFFSET in the key's own index range. A
				// skip over the joined rows read every skipped row from
				// the table for the filter: 1.2 s half-way through a role
				// holding 500,000 of 1M sorted by tenant.
				var gid string
				var before int64
				if key, gid, before, err = s.keyOfRow(ctx, by, outerSQL, innerSQL, args, dir, cmp, int64(offset)); err == nil {
					gargs := append(append([]any(nil), args...), gid)
					err = s.reader().QueryRowContext(ctx, fmt.Sprintf("SELECT a.created_at, a.id FROM authz_role_assignments a WHERE %s = $%d AND %s ORDER BY a.created_at%s, a.id%s LIMIT 1 OFFSET %d",
						by.fk, len(gargs), innerSQL, dir, dir, offset-1-int(before)), gargs...).Scan(&at, &id)
				}
			} else {
				err = s.reader().QueryRowContext(ctx, fmt.Sprintf("SELECT %s.key, a.created_at, a.id FROM %s %s CROSS JOIN authz_role_assignments a ON %s = %s.id WHERE %s AND %s ORDER BY %s.key%s, a.created_at%s, a.id%s LIMIT 1 OFFSET %d",
					by.alias, by.table, by.alias, by.fk, by.alias, outerSQL, innerSQL, by.alias, dir, dir, dir, offset-1), args...).Scan(&key, &at, &id)
			}
			if err == sql.ErrNoRows {
				out.Items = []facts.Assignment{}
				return out, nil
			} else if err != nil {
				return out, fmt.Errorf("list role assignments: %w", err)
			}
			seek(key, at, id)
			offset = 0
		}
	}
	var others []string
	for _, g := range []assignmentGroup{assignmentGroups["user"], assignmentGroups["role"], assignmentGroups["tenant"]} {
		if g.alias != by.alias {
			others = append(others, fmt.Sprintf("%s %s ON %s.id = %s", g.table, g.alias, g.alias, g.fk))
		}
	}
	order := fmt.Sprintf(" ORDER BY %s.key%s, a.created_at%s, a.id%s", by.alias, dir, dir, dir)
	out.Items = []facts.Assignment{}
	var lastKey, lastID string
	var lastAt int64
	more := false
	read := func(outer, inner []string, args []any) error {
		want := page.PerPage + 1 - len(out.Items)
		limit := fmt.Sprintf(" LIMIT %d", want)
		if offset > 0 {
			limit += fmt.Sprintf(" OFFSET %d", offset)
		}
		if len(inner) == 0 {
			inner = []string{"TRUE"}
		}
		var query string
		if s.db.Engine == Postgres {
			query = fmt.Sprintf("SELECT %s, %s.key, a.created_at, a.id FROM %s %s CROSS JOIN LATERAL (SELECT * FROM authz_role_assignments a WHERE %s = %s.id AND %s ORDER BY a.created_at%s, a.id%s LIMIT %d) a JOIN %s JOIN %s WHERE %s%s%s",
				assignmentCols, by.alias, by.table, by.alias, by.fk, by.alias, strings.Join(inner, " AND "), dir, dir, want+offset,
				others[0], others[1], strings.Join(outer, " AND "), order, limit)
		} else {
			query = fmt.Sprintf("SELECT %s, %s.key, a.created_at, a.id FROM %s %s CROSS JOIN authz_role_assignments a ON %s = %s.id CROSS JOIN %s CROSS JOIN %s WHERE %s AND %s%s%s",
				assignmentCols, by.alias, by.table, by.alias, by.fk, by.alias, others[0], others[1], strings.Join(outer, " AND "), strings.Join(inner, " AND "), order, limit)
		}
		rows, err := s.reader().QueryContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("list role assignments: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			if len(out.Items) == page.PerPage {
				more = true
				break
			}
			a, err := scanAssignment(extraScanner{rows, []any{&lastKey, &lastAt, &lastID}})
			if err != nil {
				return fmt.Errorf("scan role assignments: %w", err)
			}
			out.Items = append(out.Items, a)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list role assignments: %w", err)
		}
		return nil
	}
	if rest != nil {
		if err := read(rest, inner, args); err != nil {
			return out, err
		}
		inner = w.parts // the keys after the cursor's: from their start
		args = args[:len(args)-2]
	}
	if !more {
		if err := read(outer, inner, args); err != nil {
			return out, err
		}
	}
	if more {
		out.NextCursor = encodeCursor(cursorPos{Bind: bind, Key: lastKey, At: &lastAt, ID: lastID})
	}
	return out, nil
}

// ---- feed

// AppendChange appends c to envID's feed and sets its Seq.
func (s *Store) AppendChange(ctx context.Context, envID string, c *facts.Change) error {
	err := s.writer().QueryRowContext(ctx, "INSERT INTO authz_changes (env_id, op, data, created_at) VALUES ($1,$2,$3,$4) RETURNING seq",
		envID, c.Op, string(c.Data), micros(c.CreatedAt)).Scan(&c.Seq)
	if err != nil {
		return fmt.Errorf("append change: %w", formatError(err))
	}
	return nil
}

// ChangesSince returns up to limit changes of envID after seq, in order.
func (s *Store) ChangesSince(ctx context.Context, envID string, seq int64, limit int) ([]facts.Change, error) {
	return queryAll(ctx, s.reader(), "SELECT seq, op, data, created_at FROM authz_changes WHERE env_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
		func(sc scanner) (facts.Change, error) {
			var c facts.Change
			var data string
			var created int64
			err := sc.Scan(&c.Seq, &c.Op, &data, &created)
			c.Data, c.CreatedAt = json.RawMessage(data), fromMicros(created)
			return c, err
		}, envID, seq, limit)
}

// FeedPosition is the seq of envID's latest change (0 when none).
func (s *Store) FeedPosition(ctx context.Context, envID string) (int64, error) {
	var seq int64
	if err := s.reader().QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM authz_changes WHERE env_id = $1", envID).Scan(&seq); err != nil {
		return 0, fmt.Errorf("feed position: %w", err)
	}
	return seq, nil
}

func queryAll[T any](ctx context.Context, q querier, query string, scan func(scanner) (T, error), args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
