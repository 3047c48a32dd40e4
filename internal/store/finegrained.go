package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// Fine-grained authorization data (issue 15): see facts/finetypes.go.

// listFrom is listPage over a join: from is "table alias JOIN …", idCol
// the tie-breaking column.
func listFrom[T any](ctx context.Context, q querier, what, cols, from, idCol string, w *where, sortable map[string]string,
	page gatehouse.PageRequest, scan func(scanner) (T, error)) (gatehouse.Page[T], error) {
	return listRows(ctx, q, listQuery{what: what, cols: cols, from: from, idCol: idCol, sortable: sortable}, w, page, scan)
}

// refAs matches alias's row by id when ref has the form of an id, by key
// otherwise; its argument is $n.
func refAs(alias, ref string, n int) string {
	if tenancy.IsID(ref) {
		return fmt.Sprintf("%s.id = $%d", alias, n)
	}
	return fmt.Sprintf("%s.key = $%d", alias, n)
}

// sorts of the fine-grained lists.
func sortsOf(alias string, extra map[string]string) map[string]string {
	m := map[string]string{"": alias + ".created_at", "created_at": alias + ".created_at", "key": alias + ".key"}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// ---- resource roles

const rroleCols = "x.id, x.env_id, x.resource_id, r.key, x.key, x.name, x.description, x.permissions, x.extends, x.granted_to, x.created_at, x.updated_at, x.attributes"
const rroleFrom = "authz_resource_roles x JOIN authz_resources r ON r.id = x.resource_id"

func scanResourceRole(sc scanner) (facts.ResourceRole, error) {
	var r facts.ResourceRole
	var perms, ext, granted, attrs string
	var c, up int64
	if err := sc.Scan(&r.ID, &r.EnvID, &r.ResourceID, &r.Resource, &r.Key, &r.Name, &r.Description, &perms, &ext, &granted, &c, &up, &attrs); err != nil {
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
	if r.GrantedTo, err = fromJSON[[]authz.Derivation](granted); err != nil {
		return r, err
	}
	r.Attributes, err = valuesJSON(attrs)
	return r, err
}

func derivationsJSON(ds []authz.Derivation) string {
	if ds == nil {
		ds = []authz.Derivation{}
	}
	return mustJSON(ds)
}

// CreateResourceRole stores a resource role.
func (s *Store) CreateResourceRole(ctx context.Context, r *facts.ResourceRole) error {
	err := exec(ctx, s.writer(), "resource role", "INSERT INTO authz_resource_roles (id, env_id, resource_id, key, name, description, permissions, extends, granted_to, created_at, updated_at, attributes) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
		r.ID, r.EnvID, r.ResourceID, r.Key, r.Name, r.Description, mustJSON(r.Permissions), mustJSON(r.Extends), derivationsJSON(r.GrantedTo), micros(r.CreatedAt), micros(r.UpdatedAt),
		objectJSON(r.Attributes))
	return conflictOn(err, "key", r.Key, "resource type %q already has a role %q", r.Resource, r.Key)
}

// conflictOn rewrites a unique violation into one naming field and value.
func conflictOn(err error, field, value, format string, args ...any) error {
	if isDuplicate(err) {
		return &gatehouse.Error{Code: gatehouse.CodeConflict, Message: fmt.Sprintf(format, args...),
			Details: map[string]any{"field": field, "value": value, "reason": "already_exists"}}
	}
	return err
}

// GetResourceRole returns a role of resource type resourceID by id or key.
func (s *Store) GetResourceRole(ctx context.Context, envID, resourceID, ref string) (*facts.ResourceRole, error) {
	return remembered[facts.ResourceRole](s)(getOne(ctx, s.reader(), "resource role", ref, "SELECT "+rroleCols+" FROM "+rroleFrom+" WHERE x.env_id = $1 AND x.resource_id = $2 AND "+refAs("x", ref, 3),
		scanResourceRole, envID, resourceID, ref))
}

// ListResourceRoles lists resource roles (f.Resource: a resource type id).
func (s *Store) ListResourceRoles(ctx context.Context, f facts.FineFilter, page gatehouse.PageRequest) (gatehouse.Page[facts.ResourceRole], error) {
	w := &where{}
	w.add("x.env_id = ?", f.EnvID)
	w.addIf(f.Resource != "", "x.resource_id = ?", f.Resource)
	w.addIf(f.Key != "", "x.key = ?", f.Key)
	searchCond(w, f.Search, "x.key", "x.name")
	return listFrom(ctx, s.reader(), "resource roles", rroleCols, rroleFrom, "x.id", w,
		sortsOf("x", map[string]string{"updated_at": "x.updated_at", "name": "x.name"}), page, scanResourceRole)
}

// AllResourceRoles returns every resource role of envID.
func (s *Store) AllResourceRoles(ctx context.Context, envID string) ([]facts.ResourceRole, error) {
	return queryAll(ctx, s.reader(), "SELECT "+rroleCols+" FROM "+rroleFrom+" WHERE x.env_id = $1 ORDER BY r.key, x.key", scanResourceRole, envID)
}

// UpdateResourceRole stores a resource role's fields.
func (s *Store) UpdateResourceRole(ctx context.Context, r *facts.ResourceRole) error {
	return execOne(ctx, s.writer(), "resource role", r.Key, "UPDATE authz_resource_roles SET name=$3, description=$4, permissions=$5, extends=$6, granted_to=$7, updated_at=$8, attributes=$9 WHERE env_id=$1 AND id=$2",
		r.EnvID, r.ID, r.Name, r.Description, mustJSON(r.Permissions), mustJSON(r.Extends), derivationsJSON(r.GrantedTo), micros(r.UpdatedAt), objectJSON(r.Attributes))
}

// DeleteResourceRole deletes a resource role and its assignments.
func (s *Store) DeleteResourceRole(ctx context.Context, envID, id string) error {
	return execOne(ctx, s.writer(), "resource role", id, "DELETE FROM authz_resource_roles WHERE env_id = $1 AND id = $2", envID, id)
}

// ---- relations

const relationCols = "x.id, x.env_id, x.resource_id, r.key, x.key, x.name, x.description, x.subject_id, sr.key, x.created_at, x.updated_at"
const relationFrom = "authz_relations x JOIN authz_resources r ON r.id = x.resource_id JOIN authz_resources sr ON sr.id = x.subject_id"

func scanRelation(sc scanner) (facts.Relation, error) {
	var r facts.Relation
	var c, up int64
	err := sc.Scan(&r.ID, &r.EnvID, &r.ResourceID, &r.Resource, &r.Key, &r.Name, &r.Description, &r.SubjectID, &r.Subject, &c, &up)
	r.CreatedAt, r.UpdatedAt = fromMicros(c), fromMicros(up)
	return r, err
}

// CreateRelation stores a relation.
func (s *Store) CreateRelation(ctx context.Context, r *facts.Relation) error {
	err := exec(ctx, s.writer(), "relation", "INSERT INTO authz_relations (id, env_id, resource_id, key, name, description, subject_id, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
		r.ID, r.EnvID, r.ResourceID, r.Key, r.Name, r.Description, r.SubjectID, micros(r.CreatedAt), micros(r.UpdatedAt))
	return conflictOn(err, "key", r.Key, "resource type %q already has a relation %q", r.Resource, r.Key)
}

// GetRelation returns a relation of resource type resourceID by id or key.
func (s *Store) GetRelation(ctx context.Context, envID, resourceID, ref string) (*facts.Relation, error) {
	return remembered[facts.Relation](s)(getOne(ctx, s.reader(), "relation", ref, "SELECT "+relationCols+" FROM "+relationFrom+" WHERE x.env_id = $1 AND x.resource_id = $2 AND "+refAs("x", ref, 3),
		scanRelation, envID, resourceID, ref))
}

// ListRelations lists relations (f.Resource: a resource type id).
func (s *Store) ListRelations(ctx context.Context, f facts.FineFilter, page gatehouse.PageRequest) (gatehouse.Page[facts.Relation], error) {
	w := &where{}
	w.add("x.env_id = ?", f.EnvID)
	w.addIf(f.Resource != "", "x.resource_id = ?", f.Resource)
	w.addIf(f.Key != "", "x.key = ?", f.Key)
	searchCond(w, f.Search, "x.key", "x.name")
	return listFrom(ctx, s.reader(), "relations", relationCols, relationFrom, "x.id", w,
		sortsOf("x", map[string]string{"updated_at": "x.updated_at", "name": "x.name"}), page, scanRelation)
}

// AllRelations returns every relation of envID.
func (s *Store) AllRelations(ctx context.Context, envID string) ([]facts.Relation, error) {
	return queryAll(ctx, s.reader(), "SELECT "+relationCols+" FROM "+relationFrom+" WHERE x.env_id = $1 ORDER BY r.key, x.key", scanRelation, envID)
}

// UpdateRelation stores a relation's name and description.
func (s *Store) UpdateRelation(ctx context.Context, r *facts.Relation) error {
	return execOne(ctx, s.writer(), "relation", r.Key, "UPDATE authz_relations SET name=$3, description=$4, updated_at=$5 WHERE env_id=$1 AND id=$2",
		r.EnvID, r.ID, r.Name, r.Description, micros(r.UpdatedAt))
}

// DeleteRelation deletes a relation.
func (s *Store) DeleteRelation(ctx context.Context, envID, id string) error {
	return execOne(ctx, s.writer(), "relation", id, "DELETE FROM authz_relations WHERE env_id = $1 AND id = $2", envID, id)
}

// ---- instances

const instanceCols = "x.id, x.env_id, x.resource_id, r.key, x.key, x.tenant_id, t.key, x.attributes, x.created_at, x.updated_at"
const instanceFrom = "authz_instances x JOIN authz_resources r ON r.id = x.resource_id JOIN authz_tenants t ON t.id = x.tenant_id"

func scanInstance(sc scanner) (facts.Instance, error) {
	var i facts.Instance
	var attrs string
	var c, up int64
	if err := sc.Scan(&i.ID, &i.EnvID, &i.ResourceID, &i.Resource, &i.Key, &i.TenantID, &i.Tenant, &attrs, &c, &up); err != nil {
		return i, err
	}
	i.CreatedAt, i.UpdatedAt = fromMicros(c), fromMicros(up)
	var err error
	i.Attributes, err = fromJSON[map[string]any](attrs)
	return i, err
}

// CreateInstance stores a resource instance.
func (s *Store) CreateInstance(ctx context.Context, i *facts.Instance) error {
	err := exec(ctx, s.writer(), "resource instance", "INSERT INTO authz_instances (id, env_id, resource_id, key, tenant_id, attributes, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
		i.ID, i.EnvID, i.ResourceID, i.Key, i.TenantID, mustJSON(i.Attributes), micros(i.CreatedAt), micros(i.UpdatedAt))
	return conflictOn(err, "key", i.Key, "resource instance %q already exists", i.Ref())
}

// GetInstance returns an instance by id or "resource:key". The resource
// is resolved first so that the (resource_id, key) index answers: joined on
// r.key, SQLite scanned every instance of the environment.
func (s *Store) GetInstance(ctx context.Context, envID, ref string) (*facts.Instance, error) {
	if tenancy.IsID(ref) {
		return remembered[facts.Instance](s)(getOne(ctx, s.reader(), "resource instance", ref, "SELECT "+instanceCols+" FROM "+instanceFrom+" WHERE x.env_id = $1 AND x.id = $2", scanInstance, envID, ref))
	}
	res, key, ok := strings.Cut(ref, ":")
	if !ok {
		return nil, gatehouse.Errorf(gatehouse.CodeNotFound, "resource instance %q not found (name it \"resource:key\" or by id)", ref)
	}
	return remembered[facts.Instance](s)(getOne(ctx, s.reader(), "resource instance", ref, "SELECT "+instanceCols+" FROM "+instanceFrom+
		" WHERE x.env_id = $1 AND x.resource_id = (SELECT id FROM authz_resources WHERE env_id = $1 AND key = $2) AND x.key = $3", scanInstance, envID, res, key))
}

// ListInstances lists instances (f.Resource and f.Tenant: keys).
func (s *Store) ListInstances(ctx context.Context, f facts.FineFilter, page gatehouse.PageRequest) (gatehouse.Page[facts.Instance], error) {
	return anchored(ctx, s, "resource instances", f.EnvID, f, page, func(p gatehouse.PageRequest) (gatehouse.Page[facts.Instance], error) {
		return s.listInstances(ctx, f, p)
	})
}

func (s *Store) listInstances(ctx context.Context, f facts.FineFilter, page gatehouse.PageRequest) (gatehouse.Page[facts.Instance], error) {
	w := &where{}
	w.add("x.env_id = ?", f.EnvID)
	w.addIf(f.Resource != "", "r.key = ?", f.Resource)
	w.addIf(f.Key != "", "x.key = ?", f.Key)
	w.addIf(f.Tenant != "", "t.key = ?", f.Tenant)
	found, err := s.search(ctx, w, f.EnvID, f.Search, instanceSearch)
	if err != nil {
		return gatehouse.Page[facts.Instance]{}, err
	}
	return listRows(ctx, s.reader(), listQuery{what: "resource instances", cols: instanceCols, from: instanceFrom, idCol: "x.id",
		sortable: sortsOf("x", map[string]string{"updated_at": "x.updated_at", "resource": "r.key", "tenant": "t.key"}), counted: found.count}, w, page, scanInstance)
}

// UpdateInstance stores an instance's tenant and attributes.
func (s *Store) UpdateInstance(ctx context.Context, i *facts.Instance) error {
	return execOne(ctx, s.writer(), "resource instance", i.Ref(), "UPDATE authz_instances SET tenant_id=$3, attributes=$4, updated_at=$5 WHERE env_id=$1 AND id=$2",
		i.EnvID, i.ID, i.TenantID, mustJSON(i.Attributes), micros(i.UpdatedAt))
}

// DeleteInstance deletes an instance with its tuples and assignments.
func (s *Store) DeleteInstance(ctx context.Context, envID, id string) error {
	return execOne(ctx, s.writer(), "resource instance", id, "DELETE FROM authz_instances WHERE env_id = $1 AND id = $2", envID, id)
}

// ---- tuples

const tupleCols = "x.id, x.env_id, x.subject_id, x.subject_role, sr.key, si.key, x.relation, x.object_id, orr.key, oi.key, x.created_at"
const tupleFrom = `authz_tuples x JOIN authz_instances si ON si.id = x.subject_id JOIN authz_resources sr ON sr.id = si.resource_id
JOIN authz_instances oi ON oi.id = x.object_id JOIN authz_resources orr ON orr.id = oi.resource_id`

func scanTuple(sc scanner) (facts.Tuple, error) {
	var t facts.Tuple
	var sres, skey, ores, okey string
	var c int64
	err := sc.Scan(&t.ID, &t.EnvID, &t.SubjectID, &t.SubjectRole, &sres, &skey, &t.Relation, &t.ObjectID, &ores, &okey, &c)
	t.Subject, t.Object, t.CreatedAt = sres+":"+skey, ores+":"+okey, fromMicros(c)
	if t.SubjectRole != "" {
		t.Subject += "#" + t.SubjectRole
	}
	return t, err
}

// CreateTuple stores a tuple.
func (s *Store) CreateTuple(ctx context.Context, t *facts.Tuple) error {
	err := exec(ctx, s.writer(), "relationship tuple", "INSERT INTO authz_tuples (id, env_id, subject_id, subject_role, relation, object_id, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7)",
		t.ID, t.EnvID, t.SubjectID, t.SubjectRole, t.Relation, t.ObjectID, micros(t.CreatedAt))
	if isDuplicate(err) {
		return &gatehouse.Error{Code: gatehouse.CodeConflict, Message: fmt.Sprintf("relationship tuple %s %s %s already exists", t.Subject, t.Relation, t.Object),
			Details: map[string]any{"reason": "already_exists", "subject": t.Subject, "relation": t.Relation, "object": t.Object}}
	}
	return err
}

// DeleteTuple deletes a tuple by id.
func (s *Store) DeleteTuple(ctx context.Context, envID, id string) error {
	return execOne(ctx, s.writer(), "relationship tuple", id, "DELETE FROM authz_tuples WHERE env_id = $1 AND id = $2", envID, id)
}

// ListTuples lists tuples.
func (s *Store) ListTuples(ctx context.Context, f facts.TupleFilter, page gatehouse.PageRequest) (gatehouse.Page[facts.Tuple], error) {
	return anchored(ctx, s, "relationship tuples", f.EnvID, f, page, func(p gatehouse.PageRequest) (gatehouse.Page[facts.Tuple], error) { return s.listTuples(ctx, f, p) })
}

func (s *Store) listTuples(ctx context.Context, f facts.TupleFilter, page gatehouse.PageRequest) (gatehouse.Page[facts.Tuple], error) {
	w := &where{}
	w.add("x.env_id = ?", f.EnvID)
	if f.Subject != "" {
		ref, role, _ := strings.Cut(f.Subject, "#")
		res, key, _ := strings.Cut(ref, ":")
		w.add("sr.key = ?", res)
		w.add("si.key = ?", key)
		w.add("x.subject_role = ?", role)
	}
	if f.Object != "" {
		res, key, _ := strings.Cut(f.Object, ":")
		w.add("orr.key = ?", res)
		w.add("oi.key = ?", key)
	}
	w.addIf(f.Relation != "", "x.relation = ?", f.Relation)
	w.addIf(f.SubjectID != "", "x.subject_id = ?", f.SubjectID)
	w.addIf(f.ObjectID != "", "x.object_id = ?", f.ObjectID)
	if f.AnyID != "" {
		w.args = append(w.args, f.AnyID)
		w.raw(fmt.Sprintf("(x.subject_id = $%d OR x.object_id = $%d)", len(w.args), len(w.args)))
	}
	w.addIf(f.ObjectResourceID != "", "oi.resource_id = ?", f.ObjectResourceID)
	w.addIf(f.SubjectResourceID != "", "si.resource_id = ?", f.SubjectResourceID)
	w.addIf(f.SubjectRole != "", "x.subject_role = ?", f.SubjectRole)
	if f.Role != nil {
		w.add("x.subject_role = ?", *f.Role)
	}
	return listFrom(ctx, s.reader(), "relationship tuples", tupleCols, tupleFrom, "x.id", w,
		map[string]string{"": "x.created_at", "created_at": "x.created_at", "relation": "x.relation"}, page, scanTuple)
}

// ---- instance assignments

// CreateInstanceAssignment stores a role assignment on an instance.
func (s *Store) CreateInstanceAssignment(ctx context.Context, a *facts.Assignment) error {
	return exec(ctx, s.writer(), "role assignment", "INSERT INTO authz_instance_assignments (id, env_id, user_id, role_id, instance_id, tenant_id, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7)",
		a.ID, a.EnvID, a.UserID, a.RoleID, a.InstanceID, a.TenantID, micros(a.CreatedAt))
}

// DeleteInstanceAssignment deletes a role assignment on an instance.
func (s *Store) DeleteInstanceAssignment(ctx context.Context, envID, userID, roleID, instanceID string) error {
	return execOne(ctx, s.writer(), "role assignment", "", "DELETE FROM authz_instance_assignments WHERE env_id=$1 AND user_id=$2 AND role_id=$3 AND instance_id=$4",
		envID, userID, roleID, instanceID)
}

// assignmentUnion has the columns of both kinds of assignment.
const assignmentUnion = `(SELECT a.id, a.env_id, a.user_id, a.role_id, a.tenant_id, u.key AS user_key, r.key AS role_key, t.key AS tenant_key,
  '' AS instance_id, '' AS resource_instance, a.created_at
FROM authz_role_assignments a JOIN authz_users u ON u.id = a.user_id JOIN authz_roles r ON r.id = a.role_id JOIN authz_tenants t ON t.id = a.tenant_id
UNION ALL
SELECT a.id, a.env_id, a.user_id, a.role_id, a.tenant_id, u.key, rr.key, t.key, a.instance_id, res.key || ':' || i.key, a.created_at
FROM authz_instance_assignments a JOIN authz_users u ON u.id = a.user_id JOIN authz_resource_roles rr ON rr.id = a.role_id
JOIN authz_instances i ON i.id = a.instance_id JOIN authz_resources res ON res.id = i.resource_id JOIN authz_tenants t ON t.id = a.tenant_id) x`

func scanAnyAssignment(sc scanner) (facts.Assignment, error) {
	var a facts.Assignment
	var c int64
	err := sc.Scan(&a.ID, &a.EnvID, &a.UserID, &a.RoleID, &a.TenantID, &a.User, &a.Role, &a.Tenant, &a.InstanceID, &a.ResourceInstance, &c)
	a.CreatedAt = fromMicros(c)
	return a, err
}

// listAnyAssignments lists assignments of both kinds (or on instances only).
// In created_at order it merges the two tables (see
// listMergedAssignments); sorted by the key of the user, role or tenant
// it walks the keys (listAssignmentsByKeyMerged), or, filtered, reads the
// filters' rows whole or walks the keys with the filters'
// (listBothKindsByKey).
func (s *Store) listAnyAssignments(ctx context.Context, f facts.AssignmentFilter, page gatehouse.PageRequest) (gatehouse.Page[facts.Assignment], error) {
	if (page.Sort == "" || page.Sort == "created_at") && (page.Cursor != "" || mergedByNumber) {
		return s.listMergedAssignments(ctx, f, page)
	}
	if byKeyWalks(f, page) && (page.Cursor != "" || mergedByNumber) {
		return s.listAssignmentsByKeyMerged(ctx, f, page, nil)
	}
	if _, ok := byKeySources[page.Sort]; ok && (page.Cursor != "" || mergedByNumber) {
		// Filtered and sorted by a key (filters.go).
		return s.listBothKindsByKey(ctx, f, page)
	}
	w := &where{}
	w.add("x.env_id = ?", f.EnvID)
	w.addIf(f.User != "", "x.user_key = ?", f.User)
	w.addIf(f.Role != "", "x.role_key = ?", f.Role)
	w.addIf(f.Tenant != "", "x.tenant_key = ?", f.Tenant)
	w.addIf(f.ResourceInstance != "", "x.resource_instance = ?", f.ResourceInstance)
	if f.Kind == facts.AssignmentsOnInstances {
		w.raw("x.instance_id <> ''")
	}
	return listFrom(ctx, s.reader(), "role assignments", "x.id, x.env_id, x.user_id, x.role_id, x.tenant_id, x.user_key, x.role_key, x.tenant_key, x.instance_id, x.resource_instance, x.created_at",
		assignmentUnion, "x.id", w, map[string]string{"": "x.created_at", "created_at": "x.created_at", "user": "x.user_key", "role": "x.role_key", "tenant": "x.tenant_key"}, page, scanAnyAssignment)
}

// mergedByNumber: pages by number of the assignments of both kinds are
// read as listMergedAssignments and listAssignmentsByKeyMerged read them
// (a benchmark turns it off for the figure of the sorted union beside
// them).
var mergedByNumber = true

// listMergedAssignments is a page of the assignments of both kinds (or on
// instances only) in created_at order, by cursor or by page number: one
// keyset over both tables. Each table is read from the cursor's
// (created_at, id) by its index (env_id, or the user, role or instance
// filter, then created_at and id) for at most a page, and the two ordered
// reads are merged here, so that a page reads about a page of rows from
// each table instead of sorting their union (which a page by number did:
// seconds at a million rows, for the API's default list). A page by
// number starts after the row before it, found from both indexes alone;
// it is counted as the two tables' counts (each up to CountUpTo). Ids are
// lowercase UUIDs, which both engines and Go order alike, so the merge
// agrees with each read's order.
func (s *Store) listMergedAssignments(ctx context.Context, f facts.AssignmentFilter, page gatehouse.PageRequest) (gatehouse.Page[facts.Assignment], error) {
	if page.Cursor != "" && page.Page > 1 {
		return gatehouse.Page[facts.Assignment]{}, gatehouse.FieldError("cursor", "conflict", "give page or cursor, not both: a cursor already says where the page starts")
	}
	if page.PerPage <= 0 {
		page.PerPage = gatehouse.DefaultPerPage
	}
	skip := 0 // rows before the page (a page by number)
	if page.Cursor == "" {
		skip = max(page.Offset(), 0)
	}
	return s.mergedAssignments(ctx, f, page, skip, page.Cursor == "")
}

// mergedAssignments is listMergedAssignments' read: page.PerPage rows
// after page.Cursor (if any) and skip more rows, counted when counted
// (otherwise Total is -1).
func (s *Store) mergedAssignments(ctx context.Context, f facts.AssignmentFilter, page gatehouse.PageRequest, skip int, counted bool) (gatehouse.Page[facts.Assignment], error) {
	var out gatehouse.Page[facts.Assignment]
	if !counted {
		out.Total = -1
	}
	dir, cmp := " ASC", ">"
	if page.Desc {
		dir, cmp = " DESC", "<"
	}
	bind := mergedBinding(f, page.Desc)
	var pos *cursorPos
	if page.Cursor != "" && page.Cursor != StartCursor {
		p, err := decodeCursor(page.Cursor, bind)
		if err != nil {
			return out, err
		}
		k, ok := p.Key.(int64)
		if !ok {
			return out, invalidCursor("cursor is malformed: pass the next_cursor of a page of this list unchanged")
		}
		p.Key = k
		pos = &p
	}
	// read appends up to a page and one of a table's assignments after the
	// cursor, in order, with their created_at (microseconds).
	type row struct {
		a  facts.Assignment
		at int64
	}
	// The page's rows are chosen in the assignment table alone (a range of
	// one index), then joined: joined first, PostgreSQL's planner may hash
	// the joined tables and sort the environment's rows instead.
	read := func(table, cols, joins string, w *where) ([]row, error) {
		args := append([]any(nil), w.args...)
		conds := w.sql()
		if pos != nil {
			args = append(args, pos.Key, pos.ID)
			k, i := len(args)-1, len(args)
			cond := fmt.Sprintf("a.created_at %s= $%d AND (a.created_at %s $%d OR a.id %s $%d)", cmp, k, cmp, k, cmp, i)
			if conds == "" {
				conds = " WHERE " + cond
			} else {
				conds += " AND " + cond
			}
		}
		query := fmt.Sprintf("SELECT %s, a.created_at, a.created_at FROM (SELECT * FROM %s a%s ORDER BY a.created_at%s, a.id%s LIMIT %d) a %s ORDER BY a.created_at%s, a.id%s",
			cols, table, conds, dir, dir, page.PerPage+1, joins, dir, dir)
		rows, err := s.reader().QueryContext(ctx, query, args...)
		if err != nil {
			return nil, fmt.Errorf("list role assignments: %w", err)
		}
		defer rows.Close()
		var got []row
		for rows.Next() {
			var r row
			if r.a, err = scanAnyAssignment(extraScanner{rows, []any{&r.at}}); err != nil {
				return nil, fmt.Errorf("scan role assignments: %w", err)
			}
			got = append(got, r)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("list role assignments: %w", err)
		}
		return got, nil
	}
	// count adds a table's matching rows to a page by number's total.
	capped := false
	count := func(table string, w *where) error {
		if !counted {
			return nil
		}
		var part gatehouse.Page[facts.Assignment]
		if err := countRows(ctx, s.reader(), table+" a", w, page, &part); err != nil {
			return fmt.Errorf("count role assignments: %w", err)
		}
		out.Total += part.Total
		capped = capped || part.TotalCapped
		return nil
	}
	// capTotal caps a page by number's total as the API shows it.
	capTotal := func() {
		if capped || page.CountUpTo > 0 && out.Total > page.CountUpTo {
			out.Total, out.TotalCapped = page.CountUpTo, true
		}
	}
	var tenantRows, instanceRows []row
	wT, fT, wI, fI, err := s.assignmentWheres(ctx, f)
	if err != nil {
		return out, err
	}
	// Two or three filters: through the narrowest's index (filters.go).
	if wT != nil {
		if wT, err = s.narrowestFirst(ctx, "authz_role_assignments a", wT, fT); err != nil {
			return out, fmt.Errorf("list role assignments: %w", err)
		}
		if err := count("authz_role_assignments", wT); err != nil {
			return out, err
		}
	}
	if wI, err = s.narrowestFirst(ctx, "authz_instance_assignments a", wI, fI); err != nil {
		return out, fmt.Errorf("list role assignments: %w", err)
	}
	if err := count("authz_instance_assignments", wI); err != nil {
		return out, err
	}
	// pastEnd takes a seek's answer: the page starts after the row it
	// found, or the page is past the end (true), or, when the marks could
	// not say (ok false), the skip below finds the row.
	pastEnd := func(at int64, id string, found, ok bool) bool {
		if ok && found {
			pos, skip = &cursorPos{Key: at, ID: id}, 0
		}
		return ok && !found
	}
	if skip >= deepOffset && f.User == "" && f.Role == "" && f.Tenant == "" && f.ResourceInstance == "" && counted {
		// A deep page of the environment's list: the row before it,
		// found through both tables' list marks (mergedmarks.go).
		tables := []string{"authz_instance_assignments"}
		if wT != nil {
			tables = append(tables, "authz_role_assignments")
		}
		at, id, found, ok, err := s.mergedSeek(ctx, tables, f.EnvID, skip-1, page.Desc, page.CountUpTo)
		if err != nil {
			return out, fmt.Errorf("list role assignments: %w", err)
		}
		if pastEnd(at, id, found, ok) {
			out.Items = []facts.Assignment{}
			capTotal()
			return out, nil
		}
	}
	if by, key := oneKeyOf(f); skip >= max(deepOffset, s.db.marks.mergedInDepth()) && by != "" && counted {
		// A deep page of one user's, role's or tenant's assignments: the
		// row before it, found through both tables' key marks
		// (keymerge.go), or those of the assignments on instances; not
		// as deep, by the skip below, which costs less there.
		var at int64
		var id string
		var found, ok bool
		var err error
		if wT == nil {
			at, id, found, _, ok, err = s.keyedSeekIn(ctx, "i:"+by, f.EnvID, key, skip-1, page.Desc, page.CountUpTo)
		} else {
			at, id, found, _, ok, err = s.mergedKeyedSeekIn(ctx, by, f.EnvID, key, skip-1, page.Desc, page.CountUpTo)
		}
		if err != nil {
			return out, fmt.Errorf("list role assignments: %w", err)
		}
		if pastEnd(at, id, found, ok) {
			out.Items = []facts.Assignment{}
			capTotal()
			return out, nil
		}
	}
	if skip > 0 {
		// A page by number: the row before it, found in both tables'
		// indexes alone by one ordered read of their merged keys (SQLite
		// merges the two index reads of a UNION ALL with an ORDER BY,
		// PostgreSQL those of ordered, limited branches), then the page
		// after it as a cursor reads it.
		var parts []string
		var args []any
		part := func(table string, w *where) {
			q := fmt.Sprintf("SELECT a.created_at AS at, a.id AS id FROM %s a%s", table, shiftParams(w.sql(), len(args)))
			if s.db.Engine == Postgres {
				// PostgreSQL merges the branches' index reads (Merge
				// Append) only when each is ordered and limited itself; a
				// top-level ORDER BY sorts the union.
				q = fmt.Sprintf("SELECT * FROM (%s ORDER BY a.created_at%s, a.id%s LIMIT %d) b%d", q, dir, dir, skip, len(parts))
			}
			parts, args = append(parts, q), append(args, w.args...)
		}
		if wT != nil {
			part("authz_role_assignments", wT)
		}
		part("authz_instance_assignments", wI)
		query := fmt.Sprintf("%s ORDER BY 1%s, 2%s LIMIT 1 OFFSET %d", strings.Join(parts, " UNION ALL "), dir, dir, skip-1)
		if s.db.Engine == Postgres {
			query = fmt.Sprintf("SELECT at, id FROM (%s) x ORDER BY at%s, id%s LIMIT 1 OFFSET %d", strings.Join(parts, " UNION ALL "), dir, dir, skip-1)
		}
		var p cursorPos
		var at int64
		err := s.reader().QueryRowContext(ctx, query, args...).Scan(&at, &p.ID)
		if err == sql.ErrNoRows {
			out.Items = []facts.Assignment{}
			capTotal()
			return out, nil // past the end
		} else if err != nil {
			return out, fmt.Errorf("list role assignments: %w", err)
		}
		p.Key = at
		pos = &p
	}
	if wT != nil {
		if tenantRows, err = read("authz_role_assignments", tenantAssignmentCols, tenantAssignmentJoins, wT); err != nil {
			return out, err
		}
	}
	if instanceRows, err = read("authz_instance_assignments", instanceAssignmentCols, instanceAssignmentJoins, wI); err != nil {
		return out, err
	}
	before := func(x, y row) bool { // x comes first in the list's order
		if x.at != y.at {
			return (x.at < y.at) != page.Desc
		}
		return (x.a.ID < y.a.ID) != page.Desc
	}
	capTotal()
	out.Items = []facts.Assignment{}
	var last row
	for len(out.Items) < page.PerPage && (len(tenantRows) > 0 || len(instanceRows) > 0) {
		if len(instanceRows) == 0 || len(tenantRows) > 0 && before(tenantRows[0], instanceRows[0]) {
			last, tenantRows = tenantRows[0], tenantRows[1:]
		} else {
			last, instanceRows = instanceRows[0], instanceRows[1:]
		}
		out.Items = append(out.Items, last.a)
	}
	if len(out.Items) > 0 && (len(tenantRows) > 0 || len(instanceRows) > 0) {
		out.NextCursor = encodeCursor(cursorPos{Bind: bind, Key: last.at, ID: last.a.ID})
	}
	return out, nil
}

// assignmentWheres is the conditions of f's rows in each table of
// assignments: wT those of the tenant assignments (nil when the list is of
// assignments on instances only), wI those on instances, each with its
// filters (fT, fI: none when it is the environment's rows).
func (s *Store) assignmentWheres(ctx context.Context, f facts.AssignmentFilter) (wT *where, fT []idFilter, wI *where, fI []idFilter, err error) {
	idOf := func(query string, args ...any) (string, error) {
		var id string
		err := s.reader().QueryRowContext(ctx, query, args...).Scan(&id)
		if err == sql.ErrNoRows {
			return "", nil // nothing of that key: no assignment matches (ids are never "")
		}
		if err != nil {
			return "", fmt.Errorf("list role assignments: %w", err)
		}
		return id, nil
	}
	var userID, tenantID string
	if f.User != "" {
		if userID, err = idOf("SELECT id FROM authz_users WHERE env_id = $1 AND key = $2", f.EnvID, f.User); err != nil {
			return nil, nil, nil, nil, err
		}
	}
	if f.Tenant != "" {
		if tenantID, err = idOf("SELECT id FROM authz_tenants WHERE env_id = $1 AND key = $2", f.EnvID, f.Tenant); err != nil {
			return nil, nil, nil, nil, err
		}
	}
	if f.Kind != facts.AssignmentsOnInstances && f.ResourceInstance == "" {
		// A user, role or tenant implies the environment and has its index.
		w := &where{}
		wT = w
		if f.User == "" && f.Role == "" && f.Tenant == "" {
			w.add("a.env_id = ?", f.EnvID)
		}
		var filters []idFilter
		if f.User != "" {
			w.filter(&filters, "a.user_id", userID, rankUser)
		}
		if f.Role != "" {
			roleID, err := idOf("SELECT id FROM authz_roles WHERE env_id = $1 AND key = $2", f.EnvID, f.Role)
			if err != nil {
				return nil, nil, nil, nil, err
			}
			w.filter(&filters, "a.role_id", roleID, rankRole)
		}
		if f.Tenant != "" {
			w.filter(&filters, "a.tenant_id", tenantID, rankTenant)
		}
		fT = filters
	}
	{
		w := &where{}
		wI = w
		// The tenant filter too: its instances' assignments are read by
		// the (instance_id, created_at, id) index; with env_id the
		// environment's whole range was walked for a tenant's few.
		if f.User == "" && f.ResourceInstance == "" && f.Role == "" && f.Tenant == "" {
			w.add("a.env_id = ?", f.EnvID)
		}
		var filters []idFilter
		if f.User != "" {
			w.filter(&filters, "a.user_id", userID, rankUser)
		}
		if f.ResourceInstance != "" {
			res, key, _ := strings.Cut(f.ResourceInstance, ":")
			instID, err := idOf("SELECT x.id FROM authz_instances x JOIN authz_resources r ON r.id = x.resource_id WHERE x.env_id = $1 AND r.env_id = $1 AND r.key = $2 AND x.key = $3",
				f.EnvID, res, key)
			if err != nil {
				return nil, nil, nil, nil, err
			}
			w.filter(&filters, "a.instance_id", instID, rankInstance)
		}
		if f.Role != "" {
			// Roles of several resource types may share a key: one is a
			// range of the (role_id, created_at, id) index, more a filter.
			roleIDs, err := queryAll(ctx, s.reader(), "SELECT id FROM authz_resource_roles WHERE env_id = $1 AND key = $2 ORDER BY id", func(sc scanner) (string, error) {
				var id string
				return id, sc.Scan(&id)
			}, f.EnvID, f.Role)
			if err != nil {
				return nil, nil, nil, nil, fmt.Errorf("list role assignments: %w", err)
			}
			switch len(roleIDs) {
			case 0:
				w.filter(&filters, "a.role_id", "", rankRole) // no such role: nothing matches
			case 1:
				w.filter(&filters, "a.role_id", roleIDs[0], rankRole)
			default:
				var in, own []string
				var args []any
				for _, id := range roleIDs {
					w.args, args = append(w.args, id), append(args, id)
					in, own = append(in, fmt.Sprintf("$%d", len(w.args))), append(own, fmt.Sprintf("$%d", len(args)))
				}
				w.raw("a.role_id IN (" + strings.Join(in, ", ") + ")")
				filters = append(filters, idFilter{col: "a.role_id", part: len(w.parts) - 1, rank: rankRole,
					cond: "a.role_id IN (" + strings.Join(own, ", ") + ")", args: args})
			}
		}
		if f.Tenant != "" {
			w.filter(&filters, "a.tenant_id", tenantID, rankTenant)
		}
		fI = filters
	}
	return wT, fT, wI, fI, nil
}

// oneKeyOf is the sort by key ("user", "role" or "tenant") and the key
// of f's only filter, or "" when f has none of those, more than one, or
// a resource instance.
func oneKeyOf(f facts.AssignmentFilter) (sort, key string) {
	if f.ResourceInstance != "" {
		return "", ""
	}
	for _, k := range []struct{ sort, key string }{{"user", f.User}, {"role", f.Role}, {"tenant", f.Tenant}} {
		if k.key == "" {
			continue
		}
		if sort != "" {
			return "", ""
		}
		sort, key = k.sort, k.key
	}
	return sort, key
}

// The columns of scanAnyAssignment from a page of each assignment table
// (a), and the joins that name what they hold.
const (
	tenantAssignmentCols    = "a.id, a.env_id, a.user_id, a.role_id, a.tenant_id, u.key, r.key, t.key, '', ''"
	tenantAssignmentJoins   = "JOIN authz_users u ON u.id = a.user_id JOIN authz_roles r ON r.id = a.role_id JOIN authz_tenants t ON t.id = a.tenant_id"
	instanceAssignmentCols  = "a.id, a.env_id, a.user_id, a.role_id, a.tenant_id, u.key, rr.key, t.key, a.instance_id, res.key || ':' || i.key"
	instanceAssignmentJoins = "JOIN authz_users u ON u.id = a.user_id JOIN authz_resource_roles rr ON rr.id = a.role_id JOIN authz_instances i ON i.id = a.instance_id" +
		" JOIN authz_resources res ON res.id = i.resource_id JOIN authz_tenants t ON t.id = a.tenant_id"
)

// shiftParams renumbers the $n parameters of a condition written for its
// own query by by, for a query whose first by parameters come before it.
func shiftParams(cond string, by int) string {
	if by == 0 {
		return cond
	}
	return paramRe.ReplaceAllStringFunc(cond, func(m string) string {
		n, _ := strconv.Atoi(m[1:])
		return "$" + strconv.Itoa(n+by)
	})
}

var paramRe = regexp.MustCompile(`\$[0-9]+`)

// mergedBinding binds a cursor of listMergedAssignments to its list.
func mergedBinding(f facts.AssignmentFilter, desc bool) string {
	w := &where{}
	w.add("env = ?", f.EnvID)
	w.add("user = ?", f.User)
	w.add("role = ?", f.Role)
	w.add("tenant = ?", f.Tenant)
	w.add("instance = ?", f.ResourceInstance)
	w.add("kind = ?", string(f.Kind))
	return cursorBinding("role assignments of both kinds", "created_at", desc, w)
}

// ---- condition sets

const csetCols = "x.id, x.env_id, x.key, x.name, x.description, x.type, x.resource_id, r.key, x.conditions, x.created_at, x.updated_at"
const csetFrom = "authz_condition_sets x LEFT JOIN authz_resources r ON r.id = x.resource_id"

func scanConditionSet(sc scanner) (facts.ConditionSet, error) {
	var cs facts.ConditionSet
	var resID, res sql.NullString
	var conds string
	var c, up int64
	err := sc.Scan(&cs.ID, &cs.EnvID, &cs.Key, &cs.Name, &cs.Description, &cs.Type, &resID, &res, &conds, &c, &up)
	cs.ResourceID, cs.Resource, cs.Conditions = resID.String, res.String, json.RawMessage(conds)
	cs.CreatedAt, cs.UpdatedAt = fromMicros(c), fromMicros(up)
	return cs, err
}

// CreateConditionSet stores a condition set.
func (s *Store) CreateConditionSet(ctx context.Context, c *facts.ConditionSet) error {
	err := exec(ctx, s.writer(), "condition set", "INSERT INTO authz_condition_sets (id, env_id, key, name, description, type, resource_id, conditions, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
		c.ID, c.EnvID, c.Key, c.Name, c.Description, c.Type, nullString(c.ResourceID), string(c.Conditions), micros(c.CreatedAt), micros(c.UpdatedAt))
	return conflictOn(err, "key", c.Key, "a condition set with key %q already exists", c.Key)
}

// GetConditionSet returns a condition set by id or key.
func (s *Store) GetConditionSet(ctx context.Context, envID, ref string) (*facts.ConditionSet, error) {
	return remembered[facts.ConditionSet](s)(getOne(ctx, s.reader(), "condition set", ref, "SELECT "+csetCols+" FROM "+csetFrom+" WHERE x.env_id = $1 AND "+refAs("x", ref, 2), scanConditionSet, envID, ref))
}

// ListConditionSets lists condition sets (f.Resource: a key).
func (s *Store) ListConditionSets(ctx context.Context, f facts.FineFilter, page gatehouse.PageRequest) (gatehouse.Page[facts.ConditionSet], error) {
	w := &where{}
	w.add("x.env_id = ?", f.EnvID)
	w.addIf(f.Key != "", "x.key = ?", f.Key)
	w.addIf(f.Type != "", "x.type = ?", f.Type)
	w.addIf(f.Resource != "", "r.key = ?", f.Resource)
	searchCond(w, f.Search, "x.key", "x.name")
	return listFrom(ctx, s.reader(), "condition sets", csetCols, csetFrom, "x.id", w,
		sortsOf("x", map[string]string{"updated_at": "x.updated_at", "name": "x.name"}), page, scanConditionSet)
}

// UpdateConditionSet stores a condition set's fields.
func (s *Store) UpdateConditionSet(ctx context.Context, c *facts.ConditionSet) error {
	return execOne(ctx, s.writer(), "condition set", c.Key, "UPDATE authz_condition_sets SET name=$3, description=$4, conditions=$5, updated_at=$6 WHERE env_id=$1 AND id=$2",
		c.EnvID, c.ID, c.Name, c.Description, string(c.Conditions), micros(c.UpdatedAt))
}

// DeleteConditionSet deletes a condition set and its set rules.
func (s *Store) DeleteConditionSet(ctx context.Context, envID, id string) error {
	return execOne(ctx, s.writer(), "condition set", id, "DELETE FROM authz_condition_sets WHERE env_id = $1 AND id = $2", envID, id)
}

// ---- set rules

const ruleCols = "x.id, x.env_id, x.user_set_id, us.key, x.action, x.resource_set_id, rs.key, x.created_at"
const ruleFrom = "authz_set_rules x JOIN authz_condition_sets us ON us.id = x.user_set_id JOIN authz_condition_sets rs ON rs.id = x.resource_set_id"

func scanSetRule(sc scanner) (facts.SetRule, error) {
	var r facts.SetRule
	var c int64
	err := sc.Scan(&r.ID, &r.EnvID, &r.UserSetID, &r.UserSet, &r.Action, &r.ResourceSetID, &r.ResourceSet, &c)
	r.CreatedAt = fromMicros(c)
	return r, err
}

// CreateSetRule stores a set rule.
func (s *Store) CreateSetRule(ctx context.Context, r *facts.SetRule) error {
	err := exec(ctx, s.writer(), "set rule", "INSERT INTO authz_set_rules (id, env_id, user_set_id, action, resource_set_id, created_at) VALUES ($1,$2,$3,$4,$5,$6)",
		r.ID, r.EnvID, r.UserSetID, r.Action, r.ResourceSetID, micros(r.CreatedAt))
	if isDuplicate(err) {
		return &gatehouse.Error{Code: gatehouse.CodeConflict, Message: fmt.Sprintf("set rule %s × %s × %s already exists", r.UserSet, r.Action, r.ResourceSet),
			Details: map[string]any{"reason": "already_exists", "user_set": r.UserSet, "action": r.Action, "resource_set": r.ResourceSet}}
	}
	return err
}

// GetSetRule returns a set rule by id.
func (s *Store) GetSetRule(ctx context.Context, envID, id string) (*facts.SetRule, error) {
	return remembered[facts.SetRule](s)(getOne(ctx, s.reader(), "set rule", id, "SELECT "+ruleCols+" FROM "+ruleFrom+" WHERE x.env_id = $1 AND x.id = $2", scanSetRule, envID, id))
}

// ListSetRules lists set rules.
func (s *Store) ListSetRules(ctx context.Context, f facts.SetRuleFilter, page gatehouse.PageRequest) (gatehouse.Page[facts.SetRule], error) {
	w := &where{}
	w.add("x.env_id = ?", f.EnvID)
	w.addIf(f.UserSet != "", "us.key = ?", f.UserSet)
	w.addIf(f.Action != "", "x.action = ?", f.Action)
	w.addIf(f.ResourceSet != "", "rs.key = ?", f.ResourceSet)
	if f.SetID != "" {
		w.args = append(w.args, f.SetID)
		w.raw(fmt.Sprintf("(x.user_set_id = $%d OR x.resource_set_id = $%d)", len(w.args), len(w.args)))
	}
	return listFrom(ctx, s.reader(), "set rules", ruleCols, ruleFrom, "x.id", w,
		map[string]string{"": "x.created_at", "created_at": "x.created_at", "action": "x.action", "user_set": "us.key", "resource_set": "rs.key"}, page, scanSetRule)
}

// DeleteSetRule deletes a set rule.
func (s *Store) DeleteSetRule(ctx context.Context, envID, id string) error {
	return execOne(ctx, s.writer(), "set rule", id, "DELETE FROM authz_set_rules WHERE env_id = $1 AND id = $2", envID, id)
}
