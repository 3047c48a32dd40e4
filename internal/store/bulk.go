package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
)

// Bulk reads and writes of imports, exports and copies. Multi-row
// statements carry at most bulkRows rows (SQLite allows 32,766 bound
// values per statement).
const bulkRows = 400

// chunks calls fn with successive slices of at most n items.
func chunks[T any](items []T, n int, fn func([]T) error) error {
	for len(items) > 0 {
		k := min(n, len(items))
		if err := fn(items[:k]); err != nil {
			return err
		}
		items = items[k:]
	}
	return nil
}

// placeholders returns "($1,$2,…),(…)" for rows of cols values each, or
// "(?,?,…)" on SQLite, which looks "$n" up by name (quadratic in a long
// statement) but binds "?" by position.
func (s *Store) placeholders(rows, cols int) string {
	var b strings.Builder
	n := 1
	for r := 0; r < rows; r++ {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for c := 0; c < cols; c++ {
			if c > 0 {
				b.WriteByte(',')
			}
			s.param(&b, n)
			n++
		}
		b.WriteByte(')')
	}
	return b.String()
}

func (s *Store) param(b *strings.Builder, n int) {
	if s.db.Engine == SQLite {
		b.WriteByte('?')
	} else {
		fmt.Fprintf(b, "$%d", n)
	}
}

// inList returns "$from,$from+1,…" (or "?,?,…" on SQLite) for n values;
// on SQLite every other parameter of the statement must be "?" too.
func (s *Store) inList(from, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		s.param(&b, from+i)
	}
	return b.String()
}

func byKeys[T any](ctx context.Context, s *Store, table, cols, envID string, keys []string, scan func(scanner) (T, error), key func(*T) string) (map[string]*T, error) {
	out := make(map[string]*T, len(keys))
	err := chunks(keys, bulkRows, func(part []string) error {
		args, first := s.envAndList(envID, part)
		items, err := queryAll(ctx, s.reader(), "SELECT "+cols+" FROM "+table+" WHERE env_id = "+first+" AND key IN ("+s.inList(2, len(part))+")", scan, args...)
		if err != nil {
			return err
		}
		for i := range items {
			out[key(&items[i])] = &items[i]
		}
		return nil
	})
	return out, err
}

// envAndList returns the arguments of a query on envID and a list (envID,
// then the list's values, for inList(2, len(list))) and the placeholder
// of envID.
func (s *Store) envAndList(envID string, list []string) ([]any, string) {
	args := make([]any, 0, len(list)+1)
	args = append(args, envID)
	for _, v := range list {
		args = append(args, v)
	}
	if s.db.Engine == SQLite {
		return args, "?"
	}
	return args, "$1"
}

// UsersByKey returns the users of envID with the given keys.
func (s *Store) UsersByKey(ctx context.Context, envID string, keys []string) (map[string]*facts.User, error) {
	return rememberAll(s, func(u *facts.User) string { return u.ID })(byKeys(ctx, s, "authz_users", userCols, envID, keys, scanUser, func(u *facts.User) string { return u.Key }))
}

// AssignmentsOfUsers returns the tenant role assignments of envID's users
// with the given ids, by user, then created_at and id: one read (per
// bulkRows users) through the assignments' (user_id, created_at, id)
// index, for lists that show each user's roles.
func (s *Store) AssignmentsOfUsers(ctx context.Context, envID string, userIDs []string) ([]facts.Assignment, error) {
	var out []facts.Assignment
	err := chunks(userIDs, bulkRows, func(part []string) error {
		args, first := s.envAndList(envID, part)
		items, err := queryAll(ctx, s.reader(), "SELECT "+assignmentCols+" FROM "+assignmentFrom+" WHERE a.env_id = "+first+
			" AND a.user_id IN ("+s.inList(2, len(part))+") ORDER BY a.user_id, a.created_at, a.id", scanAssignment, args...)
		if err != nil {
			return fmt.Errorf("role assignments of users: %w", err)
		}
		out = append(out, items...)
		return nil
	})
	return out, err
}

// TenantsByKey returns the tenants of envID with the given keys.
func (s *Store) TenantsByKey(ctx context.Context, envID string, keys []string) (map[string]*facts.Tenant, error) {
	return rememberAll(s, func(t *facts.Tenant) string { return t.ID })(byKeys(ctx, s, "authz_tenants", tenantCols, envID, keys, scanTenant, func(t *facts.Tenant) string { return t.Key }))
}

// RoleIDs maps envID's role keys to ids.
func (s *Store) RoleIDs(ctx context.Context, envID string) (map[string]string, error) {
	rows, err := s.reader().QueryContext(ctx, "SELECT key, id FROM authz_roles WHERE env_id = $1", envID)
	if err != nil {
		return nil, fmt.Errorf("role ids: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, id string
		if err := rows.Scan(&k, &id); err != nil {
			return nil, fmt.Errorf("role ids: %w", err)
		}
		out[k] = id
	}
	return out, rows.Err()
}

// InsertUsers stores new users.
func (s *Store) InsertUsers(ctx context.Context, us []*facts.User) error {
	err := chunks(us, bulkRows, func(part []*facts.User) error {
		args := make([]any, 0, len(part)*9)
		for _, u := range part {
			args = append(args, u.ID, u.EnvID, u.Key, u.Email, u.FirstName, u.LastName, mustJSON(u.Attributes), micros(u.CreatedAt), micros(u.UpdatedAt))
		}
		return exec(ctx, s.writer(), "users", "INSERT INTO authz_users ("+userCols+") VALUES "+s.placeholders(len(part), 9), args...)
	})
	if err != nil {
		return err
	}
	envs := envsOf(us, func(u *facts.User) string { return u.EnvID })
	if err := s.splitGrownMarks(ctx, "authz_users", envs); err != nil {
		return err
	}
	return s.splitGrownKeyMarks(ctx, "authz_users", envs)
}

// InsertTenants stores new tenants.
func (s *Store) InsertTenants(ctx context.Context, ts []*facts.Tenant) error {
	err := chunks(ts, bulkRows, func(part []*facts.Tenant) error {
		args := make([]any, 0, len(part)*8)
		for _, t := range part {
			args = append(args, t.ID, t.EnvID, t.Key, t.Name, t.Description, mustJSON(t.Attributes), micros(t.CreatedAt), micros(t.UpdatedAt))
		}
		return exec(ctx, s.writer(), "tenants", "INSERT INTO authz_tenants ("+tenantCols+") VALUES "+s.placeholders(len(part), 8), args...)
	})
	if err != nil {
		return err
	}
	envs := envsOf(ts, func(t *facts.Tenant) string { return t.EnvID })
	if err := s.splitGrownMarks(ctx, "authz_tenants", envs); err != nil {
		return err
	}
	return s.splitGrownKeyMarks(ctx, "authz_tenants", envs)
}

// InsertAssignments stores the assignments that do not exist yet and
// returns the ids of those stored.
func (s *Store) InsertAssignments(ctx context.Context, as []facts.Assignment) (map[string]bool, error) {
	inserted := make(map[string]bool, len(as))
	err := chunks(as, bulkRows, func(part []facts.Assignment) error {
		args := make([]any, 0, len(part)*6)
		for i := range part {
			a := &part[i]
			args = append(args, a.ID, a.EnvID, a.UserID, a.RoleID, a.TenantID, micros(a.CreatedAt))
		}
		rows, err := s.writer().QueryContext(ctx, "INSERT INTO authz_role_assignments (id, env_id, user_id, role_id, tenant_id, created_at) VALUES "+
			s.placeholders(len(part), 6)+" ON CONFLICT DO NOTHING RETURNING id", args...)
		if err != nil {
			return fmt.Errorf("insert role assignments: %w", formatError(err))
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return fmt.Errorf("insert role assignments: %w", err)
			}
			inserted[id] = true
		}
		return rows.Err()
	})
	if err != nil {
		return inserted, err
	}
	envs := envsOf(as, func(a facts.Assignment) string { return a.EnvID })
	if err := s.splitGrownMarks(ctx, "authz_role_assignments", envs); err != nil {
		return inserted, err
	}
	return inserted, s.splitGrownKeyMarks(ctx, "authz_role_assignments", envs)
}

// ClearEnvironment deletes envID's authorization data but its default
// tenant.
//
// Every user and assignment of the environment goes, so their marks
// (list marks and key marks) go first: the triggers then find no mark to
// count each row out of. Deleting 1M assignments took 46.5 s on SQLite
// with the counting and 35.2 s without (24.5 s before the marks existed).
// The tenants keep theirs (the default tenant stays; the others are
// counted out as they go). The marks' lock
// comes first, so that no split of them commits in between.
func (s *Store) ClearEnvironment(ctx context.Context, envID string) error {
	if _, err := s.lockMarks(ctx, envID); err != nil {
		return err
	}
	for _, q := range []string{
		"DELETE FROM key_marks WHERE env_id = $1 AND sort NOT IN ('t:key', 't:name', 't:updated_at')",
		"DELETE FROM list_marks WHERE env_id = $1 AND tbl IN ('authz_role_assignments', 'authz_instance_assignments', 'authz_users')",
		"DELETE FROM authz_role_assignments WHERE env_id = $1",
		"DELETE FROM authz_condition_sets WHERE env_id = $1", // their set rules go with them
		"DELETE FROM authz_roles WHERE env_id = $1",
		"DELETE FROM authz_resources WHERE env_id = $1",
		"DELETE FROM authz_users WHERE env_id = $1",
		"DELETE FROM authz_tenants WHERE env_id = $1 AND key <> '" + authz.DefaultTenant + "'",
	} {
		if err := exec(ctx, s.writer(), "environment data", q, envID); err != nil {
			return err
		}
	}
	return nil
}

// rowTables are the table of each row kind.
var rowTables = map[string]string{
	facts.KindResource: "authz_resources", facts.KindRole: "authz_roles", facts.KindTenant: "authz_tenants",
	facts.KindUser: "authz_users",
	// both kinds of assignment: in a tenant and on an instance
	facts.KindRoleAssignment: "(SELECT id, env_id FROM authz_role_assignments UNION ALL SELECT id, env_id FROM authz_instance_assignments) a",
	facts.KindRelation:       "authz_relations", facts.KindResourceRole: "authz_resource_roles", facts.KindInstance: "authz_instances",
	facts.KindTuple: "authz_tuples", facts.KindConditionSet: "authz_condition_sets", facts.KindSetRule: "authz_set_rules",
}

func rowTable(kind string) (string, error) {
	t, ok := rowTables[kind]
	if !ok {
		return "", fmt.Errorf("unknown row kind %q", kind)
	}
	return t, nil
}

// CountRows counts the items of kind in envID.
func (s *Store) CountRows(ctx context.Context, envID, kind string) (int, error) {
	t, err := rowTable(kind)
	if err != nil {
		return 0, err
	}
	var n int
	if err := s.reader().QueryRowContext(ctx, "SELECT COUNT(*) FROM "+t+" WHERE env_id = $1", envID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", t, err)
	}
	return n, nil
}

// IDBoundaries returns every n-th id of kind in envID, in id order.
func (s *Store) IDBoundaries(ctx context.Context, envID, kind string, n int) ([]string, error) {
	t, err := rowTable(kind)
	if err != nil {
		return nil, err
	}
	rows, err := s.reader().QueryContext(ctx, "SELECT id FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS rn FROM "+t+
		" WHERE env_id = $1) numbered WHERE rn % $2 = 0 ORDER BY id", envID, n)
	if err != nil {
		return nil, fmt.Errorf("id boundaries of %s: %w", t, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("id boundaries of %s: %w", t, err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// ExportRows reads the items of kind in envID with ids in (after, upto].
func (s *Store) ExportRows(ctx context.Context, envID, kind, after, upto string) ([]facts.Row, error) {
	w := &where{}
	prefix := ""
	switch kind {
	case facts.KindUser, facts.KindTenant, facts.KindResource, facts.KindRole:
	default:
		prefix = "x."
	}
	w.add(prefix+"env_id = ?", envID)
	w.addIf(after != "", prefix+"id > ?", after)
	w.addIf(upto != "", prefix+"id <= ?", upto)
	order := " ORDER BY " + prefix + "id"
	q := s.reader()
	switch kind {
	case facts.KindUser:
		return exportAll(ctx, q, "SELECT "+userCols+" FROM authz_users"+w.sql()+order, scanUser, facts.RowOfUser, w.args)
	case facts.KindTenant:
		return exportAll(ctx, q, "SELECT "+tenantCols+" FROM authz_tenants"+w.sql()+order, scanTenant, facts.RowOfTenant, w.args)
	case facts.KindResource:
		return exportAll(ctx, q, "SELECT "+resourceCols+" FROM authz_resources"+w.sql()+order, scanResource, facts.RowOfResource, w.args)
	case facts.KindRole:
		return exportAll(ctx, q, "SELECT "+authzRoleCols+" FROM authz_roles"+w.sql()+order, scanAuthzRole, facts.RowOfRole, w.args)
	case facts.KindRoleAssignment:
		return exportAll(ctx, q, "SELECT x.id, x.env_id, x.user_id, x.role_id, x.tenant_id, x.user_key, x.role_key, x.tenant_key, x.instance_id, x.resource_instance, x.created_at FROM "+
			assignmentUnion+w.sql()+order, scanAnyAssignment, facts.RowOfAssignment, w.args)
	case facts.KindRelation:
		return exportAll(ctx, q, "SELECT "+relationCols+" FROM "+relationFrom+w.sql()+order, scanRelation, facts.RowOfRelation, w.args)
	case facts.KindResourceRole:
		return exportAll(ctx, q, "SELECT "+rroleCols+" FROM "+rroleFrom+w.sql()+order, scanResourceRole, facts.RowOfResourceRole, w.args)
	case facts.KindInstance:
		return exportAll(ctx, q, "SELECT "+instanceCols+" FROM "+instanceFrom+w.sql()+order, scanInstance, facts.RowOfInstance, w.args)
	case facts.KindTuple:
		return exportAll(ctx, q, "SELECT "+tupleCols+" FROM "+tupleFrom+w.sql()+order, scanTuple, facts.RowOfTuple, w.args)
	case facts.KindConditionSet:
		return exportAll(ctx, q, "SELECT "+csetCols+" FROM "+csetFrom+w.sql()+order, scanConditionSet, facts.RowOfConditionSet, w.args)
	case facts.KindSetRule:
		return exportAll(ctx, q, "SELECT "+ruleCols+" FROM "+ruleFrom+w.sql()+order, scanSetRule, facts.RowOfSetRule, w.args)
	}
	return nil, fmt.Errorf("unknown row kind %q", kind)
}

func exportAll[T any](ctx context.Context, q querier, query string, scan func(scanner) (T, error), row func(*T) facts.Row, args []any) ([]facts.Row, error) {
	items, err := queryAll(ctx, q, query, scan, args...)
	if err != nil {
		return nil, err
	}
	out := make([]facts.Row, len(items))
	for i := range items {
		out[i] = row(&items[i])
	}
	return out, nil
}

// InstancesByKey returns the instances of resource type resourceID (an id)
// in envID with the given keys.
func (s *Store) InstancesByKey(ctx context.Context, envID, resourceID string, keys []string) (map[string]*facts.Instance, error) {
	out := make(map[string]*facts.Instance, len(keys))
	err := chunks(keys, bulkRows, func(part []string) error {
		args := make([]any, 0, len(part)+2)
		args = append(args, envID, resourceID)
		for _, k := range part {
			args = append(args, k)
		}
		var b strings.Builder
		b.WriteString("SELECT " + instanceCols + " FROM " + instanceFrom + " WHERE x.env_id = ")
		s.param(&b, 1)
		b.WriteString(" AND x.resource_id = ")
		s.param(&b, 2)
		b.WriteString(" AND x.key IN (" + s.inList(3, len(part)) + ")")
		items, err := queryAll(ctx, s.reader(), b.String(), scanInstance, args...)
		if err != nil {
			return err
		}
		for i := range items {
			out[items[i].Key] = &items[i]
		}
		return nil
	})
	return out, err
}

// InsertInstances stores new instances.
func (s *Store) InsertInstances(ctx context.Context, is []*facts.Instance) error {
	return chunks(is, bulkRows, func(part []*facts.Instance) error {
		args := make([]any, 0, len(part)*8)
		for _, i := range part {
			args = append(args, i.ID, i.EnvID, i.ResourceID, i.Key, i.TenantID, mustJSON(i.Attributes), micros(i.CreatedAt), micros(i.UpdatedAt))
		}
		return exec(ctx, s.writer(), "resource instances", "INSERT INTO authz_instances (id, env_id, resource_id, key, tenant_id, attributes, created_at, updated_at) VALUES "+
			s.placeholders(len(part), 8), args...)
	})
}

// insertReturning runs a multi-row INSERT … ON CONFLICT DO NOTHING
// RETURNING id in chunks and returns the ids stored.
func insertReturning[T any](ctx context.Context, s *Store, what, head string, cols int, items []T, values func(*T) []any) (map[string]bool, error) {
	inserted := make(map[string]bool, len(items))
	err := chunks(items, bulkRows, func(part []T) error {
		args := make([]any, 0, len(part)*cols)
		for i := range part {
			args = append(args, values(&part[i])...)
		}
		rows, err := s.writer().QueryContext(ctx, head+" VALUES "+s.placeholders(len(part), cols)+" ON CONFLICT DO NOTHING RETURNING id", args...)
		if err != nil {
			return fmt.Errorf("insert %s: %w", what, formatError(err))
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return fmt.Errorf("insert %s: %w", what, err)
			}
			inserted[id] = true
		}
		return rows.Err()
	})
	return inserted, err
}

// InsertTuples stores the tuples that do not exist yet and returns the ids
// of those stored.
func (s *Store) InsertTuples(ctx context.Context, ts []facts.Tuple) (map[string]bool, error) {
	return insertReturning(ctx, s, "relationship tuples", "INSERT INTO authz_tuples (id, env_id, subject_id, subject_role, relation, object_id, created_at)", 7, ts,
		func(t *facts.Tuple) []any {
			return []any{t.ID, t.EnvID, t.SubjectID, t.SubjectRole, t.Relation, t.ObjectID, micros(t.CreatedAt)}
		})
}

// InsertInstanceAssignments stores the role assignments on instances that
// do not exist yet and returns the ids of those stored.
func (s *Store) InsertInstanceAssignments(ctx context.Context, as []facts.Assignment) (map[string]bool, error) {
	inserted, err := insertReturning(ctx, s, "role assignments", "INSERT INTO authz_instance_assignments (id, env_id, user_id, role_id, instance_id, tenant_id, created_at)", 7, as,
		func(a *facts.Assignment) []any {
			return []any{a.ID, a.EnvID, a.UserID, a.RoleID, a.InstanceID, a.TenantID, micros(a.CreatedAt)}
		})
	if err != nil || len(as) < 64 {
		// (A single assignment's insert leaves a grown mark to the next
		// deep page, which has it split in the background.)
		return inserted, err
	}
	envs := envsOf(as, func(a facts.Assignment) string { return a.EnvID })
	if err := s.splitGrownMarks(ctx, "authz_instance_assignments", envs); err != nil {
		return inserted, err
	}
	return inserted, s.splitGrownKeyMarks(ctx, "authz_instance_assignments", envs)
}
