package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// LoadEnvironment reads envID's data and feed position in one read
// transaction.
//
// A node reads this to build an environment's engine, and an environment
// may hold a million relationships that must load in seconds (issue 15).
// So the large tables (users, resource instances, relationship tuples and
// both kinds of role assignment) are each read in one pass, without joins
// and with only the columns the engine needs; the ids they hold are
// resolved in memory against the rows read before them, instead of by an
// index look-up in the database per row. Rows share their strings: an
// instance's "resource:key" is built once for every tuple and assignment
// that names it.
func (s *Store) LoadEnvironment(ctx context.Context, envID string) (authz.Data, int64, error) {
	var d authz.Data
	var seq int64
	opts := &sql.TxOptions{ReadOnly: true}
	if s.db.Engine == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := s.db.read.BeginTx(ctx, opts)
	if err != nil {
		return d, 0, fmt.Errorf("load environment: %w", err)
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM authz_changes WHERE env_id = $1", envID).Scan(&seq); err != nil {
		return d, 0, fmt.Errorf("load environment: %w", err)
	}
	l := &loader{ctx: ctx, q: tx, envID: envID, d: &d, strs: map[string]string{}}
	if err := l.load(); err != nil {
		return authz.Data{}, 0, fmt.Errorf("load environment %s: %w", envID, err)
	}
	return d, seq, nil
}

// loader reads one environment into d.
type loader struct {
	ctx   context.Context
	q     querier
	envID string
	d     *authz.Data

	// keys by id
	users, tenants, resources, roles, resourceRoles idMap[string]
	// inst is the index in d.Instances of an instance id; refs[i] is
	// d.Instances[i]'s "resource:key".
	inst idMap[int32]
	refs []string
	// strs interns the few distinct values of a large column (a tuple's
	// relation and subject role).
	strs map[string]string
}

func (l *loader) load() error {
	for _, step := range []func() error{l.count, l.loadUsers, l.loadTenants, l.loadResources, l.loadRoles, l.loadTenantAssignments,
		l.loadResourceRoles, l.loadRelations, l.loadInstances, l.loadTuples, l.loadInstanceAssignments, l.loadConditionSets, l.loadSetRules} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// count sizes the slices and maps of the large tables up front: grown
// row by row, they would be allocated and copied over several times
// (five times their final size for a slice, as append grows a large one
// by a quarter).
func (l *loader) count() error {
	var users, tenantAssignments, instances, tuples, instanceAssignments int
	err := l.q.QueryRowContext(l.ctx, `SELECT (SELECT COUNT(*) FROM authz_users WHERE env_id = $1),
  (SELECT COUNT(*) FROM authz_role_assignments WHERE env_id = $1),
  (SELECT COUNT(*) FROM authz_instances WHERE env_id = $1),
  (SELECT COUNT(*) FROM authz_tuples WHERE env_id = $1),
  (SELECT COUNT(*) FROM authz_instance_assignments WHERE env_id = $1)`, l.envID).
		Scan(&users, &tenantAssignments, &instances, &tuples, &instanceAssignments)
	if err != nil {
		return fmt.Errorf("count rows: %w", err)
	}
	l.d.Users = sized[authz.User](users)
	l.users = newIDMap[string](users)
	l.d.Assignments = sized[authz.Assignment](tenantAssignments + instanceAssignments)
	l.d.Instances = sized[authz.Instance](instances)
	l.refs = sized[string](instances)
	l.inst = newIDMap[int32](instances)
	l.d.Tuples = sized[authz.Tuple](tuples)
	return nil
}

// sized is an empty slice with room for n items; nil for none, as
// appending to nothing gives.
func sized[T any](n int) []T {
	if n == 0 {
		return nil
	}
	return make([]T, 0, n)
}

// each runs query, whose one argument is the environment, and calls row
// for each row with the row's columns in dest (pointers to strings).
//
// The rows are read by a goroutine of their own, in batches, while this
// one handles them: the driver's work (SQLite's VM, PostgreSQL's wire
// decoding) overlaps with resolving ids, on a second core if there is one.
// The transaction is the reader's alone until it is done.
func (l *loader) each(what, query string, dest []any, row func() error) error {
	cols := make([]*string, len(dest))
	for i, d := range dest {
		cols[i] = d.(*string)
	}
	const batchRows = 1024
	ctx, cancel := context.WithCancel(l.ctx)
	defer cancel()
	full := make(chan []string, 4)
	free := make(chan []string, 6)
	var readErr error // set before full is closed
	go func() {
		defer close(full)
		readErr = func() error {
			rows, err := l.q.QueryContext(ctx, query, l.envID)
			if err != nil {
				return err
			}
			defer rows.Close()
			vals := make([]string, len(cols))
			scan := make([]any, len(cols))
			for i := range vals {
				scan[i] = &vals[i]
			}
			var b []string
			for rows.Next() {
				if err := rows.Scan(scan...); err != nil {
					return err
				}
				if b == nil {
					select {
					case b = <-free:
					default:
						b = make([]string, 0, batchRows*len(cols))
					}
				}
				b = append(b, vals...)
				if len(b) == cap(b) {
					select {
					case full <- b:
					case <-ctx.Done():
						return ctx.Err()
					}
					b = nil
				}
			}
			if err := rows.Err(); err != nil {
				return err
			}
			if len(b) > 0 {
				select {
				case full <- b:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		}()
	}()
	var rowErr error
	for b := range full {
		for off := 0; off < len(b) && rowErr == nil; off += len(cols) {
			for i, c := range cols {
				*c = b[off+i]
			}
			rowErr = row()
		}
		if rowErr != nil {
			cancel() // the reader stops; drain what it sent until it is done
			continue
		}
		clear(b) // drop the strings: the batch is reused
		select {
		case free <- b[:0]:
		default:
		}
	}
	if rowErr != nil {
		return fmt.Errorf("load %s: %w", what, rowErr)
	}
	if readErr != nil {
		return fmt.Errorf("load %s: %w", what, readErr)
	}
	return nil
}

// intern returns the first string equal to s that it was given.
func (l *loader) intern(s string) string {
	if v, ok := l.strs[s]; ok {
		return v
	}
	l.strs[s] = s
	return s
}

// engineAttrs parses stored attributes for the engine. None ("{}", as the
// service stores them) is nil, as the change feed gives it: the engine
// reads a nil map as an empty one, and an empty map would cost every
// instance an allocation.
func engineAttrs(text string) (map[string]any, error) {
	if text == "{}" || text == "null" {
		return nil, nil
	}
	return fromJSON[map[string]any](text)
}

// idMap maps ids to values. Every id the service makes is a UUID in
// canonical form, kept as its 16 bytes: a map keyed by them hashes and
// compares keys in place, where a string key is compared through a
// pointer (a cache miss per look-up in a map of a million). Other ids, if
// any, are kept as strings.
type idMap[V any] struct {
	uuids map[uuidKey]V
	other map[string]V
}

func newIDMap[V any](n int) idMap[V] {
	return idMap[V]{uuids: make(map[uuidKey]V, n), other: map[string]V{}}
}

func (m idMap[V]) put(id string, v V) {
	if k, ok := parseUUID(id); ok {
		m.uuids[k] = v
	} else {
		m.other[id] = v
	}
}

func (m idMap[V]) get(id string) (V, bool) {
	if k, ok := parseUUID(id); ok {
		v, ok := m.uuids[k]
		return v, ok
	}
	v, ok := m.other[id]
	return v, ok
}

// lookup is get, failing for an id of what that is not in the map.
func (m idMap[V]) lookup(what, id string) (V, error) {
	v, ok := m.get(id)
	if !ok {
		return v, fmt.Errorf("%s %s is not in the environment", what, id)
	}
	return v, nil
}

type uuidKey [16]byte

// uuidHex are the positions of the 16 hex pairs of a UUID's text.
var uuidHex = [16]int{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}

// parseUUID reads s when it is a UUID as uuid.String writes it (36
// characters, lower-case hex, dashes at 8, 13, 18 and 23), so that two
// different strings never give the same key.
func parseUUID(s string) (uuidKey, bool) {
	var k uuidKey
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return k, false
	}
	for i, at := range uuidHex {
		hi, lo := hexValue[s[at]], hexValue[s[at+1]]
		if hi|lo > 15 {
			return k, false
		}
		k[i] = hi<<4 | lo
	}
	return k, true
}

// hexValue is the value of a lower-case hex digit, 0xff for any other byte.
var hexValue = func() (t [256]byte) {
	for c := range t {
		t[c] = lowerHex(byte(c))
	}
	return t
}()

func lowerHex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return 0xff
}

func (l *loader) loadUsers() error {
	var id, k, email, first, last, attrs string
	return l.each("users", "SELECT id, key, email, first_name, last_name, attributes FROM authz_users WHERE env_id = $1",
		[]any{&id, &k, &email, &first, &last, &attrs}, func() error {
			a, err := engineAttrs(attrs)
			if err != nil {
				return fmt.Errorf("user %s attributes: %w", k, err)
			}
			l.users.put(id, k)
			l.d.Users = append(l.d.Users, authz.User{Key: k, Email: email, FirstName: first, LastName: last, Attributes: a})
			return nil
		})
}

func (l *loader) loadTenants() error {
	l.tenants = newIDMap[string](0)
	var id, k, name, attrs string
	return l.each("tenants", "SELECT id, key, name, attributes FROM authz_tenants WHERE env_id = $1",
		[]any{&id, &k, &name, &attrs}, func() error {
			a, err := engineAttrs(attrs)
			if err != nil {
				return fmt.Errorf("tenant %s attributes: %w", k, err)
			}
			l.tenants.put(id, k)
			l.d.Tenants = append(l.d.Tenants, authz.Tenant{Key: k, Name: name, Attributes: a})
			return nil
		})
}

// Resource types, roles, resource roles, relations, condition sets and set
// rules are few: they are read whole, as the API reads them.

func (l *loader) loadResources() error {
	rs, err := queryAll(l.ctx, l.q, "SELECT "+resourceCols+" FROM authz_resources WHERE env_id = $1", scanResource, l.envID)
	if err != nil {
		return fmt.Errorf("load resources: %w", err)
	}
	l.resources = newIDMap[string](len(rs))
	for _, r := range rs {
		l.resources.put(r.ID, r.Key)
		l.d.Resources = append(l.d.Resources, r.Authz())
	}
	return nil
}

func (l *loader) loadRoles() error {
	rs, err := queryAll(l.ctx, l.q, "SELECT "+authzRoleCols+" FROM authz_roles WHERE env_id = $1", scanAuthzRole, l.envID)
	if err != nil {
		return fmt.Errorf("load roles: %w", err)
	}
	l.roles = newIDMap[string](len(rs))
	for _, r := range rs {
		l.roles.put(r.ID, r.Key)
		l.d.Roles = append(l.d.Roles, r.Authz())
	}
	return nil
}

func (l *loader) loadTenantAssignments() error {
	var u, r, t string
	return l.each("assignments", "SELECT user_id, role_id, tenant_id FROM authz_role_assignments WHERE env_id = $1",
		[]any{&u, &r, &t}, func() error {
			var a authz.Assignment
			var err error
			if a.User, err = l.users.lookup("user", u); err != nil {
				return err
			}
			if a.Role, err = l.roles.lookup("role", r); err != nil {
				return err
			}
			if a.Tenant, err = l.tenants.lookup("tenant", t); err != nil {
				return err
			}
			l.d.Assignments = append(l.d.Assignments, a)
			return nil
		})
}

func (l *loader) loadResourceRoles() error {
	rs, err := queryAll(l.ctx, l.q, "SELECT "+rroleCols+" FROM "+rroleFrom+" WHERE x.env_id = $1", scanResourceRole, l.envID)
	if err != nil {
		return fmt.Errorf("load resource roles: %w", err)
	}
	l.resourceRoles = newIDMap[string](len(rs))
	for _, r := range rs {
		l.resourceRoles.put(r.ID, r.Key)
		l.d.ResourceRoles = append(l.d.ResourceRoles, r.Authz())
	}
	return nil
}

func (l *loader) loadRelations() error {
	rs, err := queryAll(l.ctx, l.q, "SELECT "+relationCols+" FROM "+relationFrom+" WHERE x.env_id = $1", scanRelation, l.envID)
	if err != nil {
		return fmt.Errorf("load relations: %w", err)
	}
	for _, r := range rs {
		l.d.Relations = append(l.d.Relations, r.Authz())
	}
	return nil
}

func (l *loader) loadInstances() error {
	var id, res, k, tenant, attrs string
	return l.each("resource instances", "SELECT id, resource_id, key, tenant_id, attributes FROM authz_instances WHERE env_id = $1",
		[]any{&id, &res, &k, &tenant, &attrs}, func() error {
			in := authz.Instance{Key: k}
			var err error
			if in.Resource, err = l.resources.lookup("resource type", res); err != nil {
				return err
			}
			if in.Tenant, err = l.tenants.lookup("tenant", tenant); err != nil {
				return err
			}
			if in.Attributes, err = engineAttrs(attrs); err != nil {
				return fmt.Errorf("resource instance %s:%s attributes: %w", in.Resource, k, err)
			}
			l.inst.put(id, int32(len(l.d.Instances)))
			l.d.Instances = append(l.d.Instances, in)
			l.refs = append(l.refs, in.Resource+":"+k)
			return nil
		})
}

func (l *loader) loadTuples() error {
	var subj, role, rel, obj string
	return l.each("relationship tuples", "SELECT subject_id, subject_role, relation, object_id FROM authz_tuples WHERE env_id = $1",
		[]any{&subj, &role, &rel, &obj}, func() error {
			s, err := l.inst.lookup("resource instance", subj)
			if err != nil {
				return err
			}
			o, err := l.inst.lookup("resource instance", obj)
			if err != nil {
				return err
			}
			t := authz.Tuple{Subject: l.refs[s], Relation: l.intern(rel), Object: l.refs[o]}
			if role != "" {
				t.Subject += "#" + l.intern(role)
			}
			l.d.Tuples = append(l.d.Tuples, t)
			return nil
		})
}

func (l *loader) loadInstanceAssignments() error {
	var u, r, inst string
	return l.each("role assignments on instances", "SELECT user_id, role_id, instance_id FROM authz_instance_assignments WHERE env_id = $1",
		[]any{&u, &r, &inst}, func() error {
			var a authz.Assignment
			var err error
			if a.User, err = l.users.lookup("user", u); err != nil {
				return err
			}
			if a.Role, err = l.resourceRoles.lookup("resource role", r); err != nil {
				return err
			}
			i, err := l.inst.lookup("resource instance", inst)
			if err != nil {
				return err
			}
			a.Tenant, a.ResourceInstance = l.d.Instances[i].Tenant, l.refs[i]
			l.d.Assignments = append(l.d.Assignments, a)
			return nil
		})
}

func (l *loader) loadConditionSets() error {
	cs, err := queryAll(l.ctx, l.q, "SELECT "+csetCols+" FROM "+csetFrom+" WHERE x.env_id = $1", scanConditionSet, l.envID)
	if err != nil {
		return fmt.Errorf("load condition sets: %w", err)
	}
	for _, c := range cs {
		l.d.ConditionSets = append(l.d.ConditionSets, c.Authz())
	}
	return nil
}

func (l *loader) loadSetRules() error {
	rs, err := queryAll(l.ctx, l.q, "SELECT "+ruleCols+" FROM "+ruleFrom+" WHERE x.env_id = $1", scanSetRule, l.envID)
	if err != nil {
		return fmt.Errorf("load set rules: %w", err)
	}
	for _, r := range rs {
		l.d.SetRules = append(l.d.SetRules, r.Authz())
	}
	return nil
}
