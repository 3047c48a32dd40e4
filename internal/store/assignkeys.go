package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
)

// Assignments of both kinds sorted by the key of their user, role or
// tenant (v1's sort=user|role|tenant with kind=instance, or with kind=all
// in an environment with roles on instances). Sorting the union of both
// tables took seconds at a million rows for any page; instead the keys are
// walked in order (the database orders them, in its own collation), each
// counted up to what the page still needs, and the rows of the keys that
// fill the page are read in one query: those of every key but the last
// whole (their counts are below the page), at most a page of the last
// key's from both tables' (fk, created_at, id) indexes. A page reads a key
// query and about a page of rows (and, when it starts inside a key, that
// key's rows as the merged list filtered by it reads them).

// byKeySource is where the keys of a sort come from, and the probes that
// find a key's assignments in each table: each is "FROM ... WHERE ..." for
// a key row k (k.key; k.id where the key has one row), $1 the environment.
type byKeySource struct {
	keys          string // "FROM ... WHERE ..." of the keys, k.key
	tenantProbe   string
	instanceProbe string
	// tenantRows and instanceRows are the condition on a table's
	// assignments (a) of one key, %[1]s its parameter ($1 the
	// environment).
	tenantRows, instanceRows string
	// tenantFrom and instanceFrom join a table's assignments (a) to the
	// rows (k, with k.env_id and k.key) holding their keys.
	tenantFrom, instanceFrom string
	filter                   func(f *facts.AssignmentFilter, key string)
}

var byKeySources = map[string]byKeySource{
	"user": {
		keys:          "FROM authz_users k WHERE k.env_id = $1",
		tenantProbe:   "FROM authz_role_assignments a WHERE a.user_id = k.id",
		instanceProbe: "FROM authz_instance_assignments a WHERE a.user_id = k.id",
		tenantRows:    "a.user_id = (SELECT id FROM authz_users WHERE env_id = $1 AND key = %[1]s)",
		instanceRows:  "a.user_id = (SELECT id FROM authz_users WHERE env_id = $1 AND key = %[1]s)",
		tenantFrom:    "authz_users k JOIN authz_role_assignments a ON a.user_id = k.id",
		instanceFrom:  "authz_users k JOIN authz_instance_assignments a ON a.user_id = k.id",
		filter:        func(f *facts.AssignmentFilter, key string) { f.User = key },
	},
	"tenant": {
		keys:          "FROM authz_tenants k WHERE k.env_id = $1",
		tenantProbe:   "FROM authz_role_assignments a WHERE a.tenant_id = k.id",
		instanceProbe: "FROM authz_instance_assignments a WHERE a.tenant_id = k.id",
		tenantRows:    "a.tenant_id = (SELECT id FROM authz_tenants WHERE env_id = $1 AND key = %[1]s)",
		instanceRows:  "a.tenant_id = (SELECT id FROM authz_tenants WHERE env_id = $1 AND key = %[1]s)",
		tenantFrom:    "authz_tenants k JOIN authz_role_assignments a ON a.tenant_id = k.id",
		instanceFrom:  "authz_tenants k JOIN authz_instance_assignments a ON a.tenant_id = k.id",
		filter:        func(f *facts.AssignmentFilter, key string) { f.Tenant = key },
	},
	// A role key names a tenant role, resource roles of several resource
	// types, or both: the list's role column is the key.
	"role": {
		keys:          "FROM (SELECT key FROM authz_roles WHERE env_id = $1 UNION SELECT key FROM authz_resource_roles WHERE env_id = $1) k WHERE TRUE",
		tenantProbe:   "FROM authz_roles r JOIN authz_role_assignments a ON a.role_id = r.id WHERE r.env_id = $1 AND r.key = k.key",
		instanceProbe: "FROM authz_resource_roles r JOIN authz_instance_assignments a ON a.role_id = r.id WHERE r.env_id = $1 AND r.key = k.key",
		tenantRows:    "a.role_id = (SELECT id FROM authz_roles WHERE env_id = $1 AND key = %[1]s)",
		instanceRows:  "a.role_id IN (SELECT id FROM authz_resource_roles WHERE env_id = $1 AND key = %[1]s)",
		tenantFrom:    "authz_roles k JOIN authz_role_assignments a ON a.role_id = k.id",
		instanceFrom:  "authz_resource_roles k JOIN authz_instance_assignments a ON a.role_id = k.id",
		filter:        func(f *facts.AssignmentFilter, key string) { f.Role = key },
	},
}

// byKeyWalks says whether listAssignmentsByKeyMerged reads f's list: both
// kinds (or instances only) sorted by a key, without filters (a filter
// narrows the union, whose sort is then of the matching rows only).
func byKeyWalks(f facts.AssignmentFilter, page gatehouse.PageRequest) bool {
	_, ok := byKeySources[page.Sort]
	return ok && f.User == "" && f.Role == "" && f.Tenant == "" && f.ResourceInstance == ""
}

// keyCount is a key of a sort and, when counted, how many of the listed
// assignments it holds.
type keyCount struct {
	key string
	n   int
}

// assignmentKeys returns up to limit keys of src in the list's order after
// from (all keys when !after) that hold listed
// assignments; with countUpTo > 0, with how many (each table's counted up
// to countUpTo, then added), and with all, also the keys holding none
// (n 0: the counts alone, without a probe for any).
func (s *Store) assignmentKeys(ctx context.Context, envID string, src byKeySource, instancesOnly bool, from string, after, desc bool, countUpTo, limit int, all bool, flt *byKeyFilters) ([]keyCount, error) {
	args := []any{envID}
	cond := ""
	if after {
		cmp := ">"
		if desc {
			cmp = "<"
		}
		args = append(args, from)
		cond = fmt.Sprintf(" AND k.key %s $2", cmp)
	}
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	tenantProbe, instanceProbe := src.tenantProbe, src.instanceProbe
	if flt != nil {
		if flt.key != "" {
			args = append(args, flt.key)
			cond += fmt.Sprintf(" AND k.key = $%d", len(args))
		}
		tenantProbe, instanceProbe = flt.probes(tenantProbe, instanceProbe, &args)
	}
	instancesOnly, tenantsOnly := flt.tables(instancesOnly)
	exists := func(probe string) string { return "EXISTS (SELECT 1 " + probe + ")" }
	if flt != nil && s.db.Engine == Postgres {
		// Filtered, PostgreSQL may read every row of the filter into a
		// hash for the probe instead of probing each key (the rows of a
		// role held by 46,000 assignments: 180 ms for a page of 20 keys,
		// 390 ms for 500,000); an OFFSET keeps the probe a probe.
		exists = func(probe string) string { return "EXISTS (SELECT 1 " + probe + " OFFSET 0)" }
	}
	has := exists(instanceProbe)
	switch {
	case tenantsOnly:
		has = exists(tenantProbe)
	case !instancesOnly:
		has = "(" + exists(tenantProbe) + " OR " + has + ")"
	}
	n := "1"
	if countUpTo > 0 {
		count := func(probe string) string {
			return fmt.Sprintf("(SELECT COUNT(*) FROM (SELECT 1 %s LIMIT %d) c)", probe, countUpTo)
		}
		n = count(instanceProbe)
		switch {
		case tenantsOnly:
			n = count(tenantProbe)
		case !instancesOnly:
			n = count(tenantProbe) + " + " + n
		}
	}
	if all && countUpTo > 0 {
		has = "TRUE"
	}
	query := fmt.Sprintf("SELECT k.key, %s %s%s AND %s ORDER BY k.key%s LIMIT %d", n, src.keys, cond, has, dir, limit)
	return queryAll(ctx, s.reader(), query, func(sc scanner) (keyCount, error) {
		var k keyCount
		return k, sc.Scan(&k.key, &k.n)
	}, args...)
}

// byKeyBinding binds a cursor of listAssignmentsByKeyMerged to its list.
func byKeyBinding(f facts.AssignmentFilter, sort string, desc bool) string {
	w := &where{}
	w.add("env = ?", f.EnvID)
	w.add("kind = ?", string(f.Kind))
	return cursorBinding("role assignments of both kinds by key", sort, desc, w)
}

// byKeyBatch is the most keys a page by number reads (with their counts)
// at a time while it skips whole keys.
const byKeyBatch = 500

// listAssignmentsByKeyMerged is a page of the assignments of both kinds
// (or on instances only) sorted by the key of page.Sort, then created_at
// and id (as the tenant assignments sorted by key are). A cursor holds the
// last row's key, created_at and id; a page by number skips whole keys by
// their counts, then rows within the key it starts in.
//
// With flt, the list is filtered (f's user, role, tenant or resource
// instance): every key's probe, count and rows take the filters'
// conditions, a page by number skips whole keys by their filtered counts
// (the key marks count every row), and its cursors are those of
// listBothKindsFiltered (filters.go).
func (s *Store) listAssignmentsByKeyMerged(ctx context.Context, f facts.AssignmentFilter, page gatehouse.PageRequest, flt *byKeyFilters) (gatehouse.Page[facts.Assignment], error) {
	var out gatehouse.Page[facts.Assignment]
	if page.Cursor != "" && page.Page > 1 {
		return out, gatehouse.FieldError("cursor", "conflict", "give page or cursor, not both: a cursor already says where the page starts")
	}
	if page.PerPage <= 0 {
		page.PerPage = gatehouse.DefaultPerPage
	}
	src := byKeySources[page.Sort]
	// (Assignments of a resource instance are all on instances.)
	instancesOnly := f.Kind == facts.AssignmentsOnInstances || f.ResourceInstance != ""
	bind := byKeyBinding(f, page.Sort, page.Desc)
	if flt != nil {
		bind = bothKindsFilteredBinding(f, page.Sort, page.Desc)
	}
	want := page.PerPage + 1 // a row more tells whether a page follows

	// The first key and where in it the page starts: after a cursor's row
	// (sub), or skip rows into it.
	var first string
	var started bool // first is set
	sub := ""
	skip := 0
	switch {
	case page.Cursor == StartCursor:
		out.Total = -1
	case page.Cursor != "":
		key, at, id, err := keyedCursor(page.Cursor, bind)
		if err != nil {
			return out, err
		}
		kf := f
		src.filter(&kf, key)
		first, started = key, true
		sub = encodeCursor(cursorPos{Bind: mergedBinding(kf, page.Desc), Key: at, ID: id})
		out.Total = -1
	default:
		if flt != nil {
			if err := s.countFiltered(ctx, flt.countT, flt.countI, page, &out); err != nil {
				return out, err
			}
		} else if err := s.countBothKinds(ctx, f, page, &out); err != nil {
			return out, err
		}
		skip = max(page.Offset(), 0)
		if !out.TotalCapped && skip >= out.Total {
			out.Items = []facts.Assignment{}
			return out, nil // past the end, counted
		}
		if skip >= deepOffset && (flt == nil || flt.roleSort != "" || flt.roleByTenant != "" && !s.noMarks) {
			// The row before the page, through the key marks of both
			// tables (keymerge.go), or of the assignments on instances,
			// or of the one role whose tenant assignments the list is;
			// or, that role's list sorted by tenant, from its counts per
			// tenant (a seek as the marks' are: WithoutMarks walks, to
			// compare).
			var key string
			var at int64
			var id string
			var found, ok bool
			var err error
			switch {
			case flt != nil && flt.roleSort != "":
				key, at, id, found, ok, err = s.keyedSeek(ctx, flt.roleSort, f.EnvID, skip-1, page.Desc, page.CountUpTo)
			case flt != nil:
				key, at, id, found, ok, err = s.roleRowByTenant(ctx, f.EnvID, flt.roleByTenant, skip, page.Desc)
			case instancesOnly:
				key, at, id, found, ok, err = s.keyedSeek(ctx, "i:"+page.Sort, f.EnvID, skip-1, page.Desc, page.CountUpTo)
			default:
				key, at, id, found, ok, err = s.mergedKeyedSeek(ctx, page.Sort, f.EnvID, skip-1, page.Desc, page.CountUpTo)
			}
			if err != nil {
				return out, fmt.Errorf("list role assignments: %w", err)
			}
			if ok && !found {
				out.Items = []facts.Assignment{}
				return out, nil // past the end
			}
			if ok {
				kf := f
				src.filter(&kf, key)
				first, started, skip = key, true, 0
				sub = encodeCursor(cursorPos{Bind: mergedBinding(kf, page.Desc), Key: at, ID: id})
			}
		}
		if skip > 0 {
			// Skip whole keys by their counts, a batch of keys at a time
			// (a growing one: early pages read few keys). A key's count
			// past what is left to skip changes nothing, so each is
			// counted up to the skip: a key of many rows costs no more.
			from, after, batch := "", false, 32
			for {
				keys, err := s.assignmentKeys(ctx, f.EnvID, src, instancesOnly, from, after, page.Desc, skip+1, batch, true, flt)
				if err != nil {
					return out, fmt.Errorf("list role assignments: %w", err)
				}
				for _, k := range keys {
					if k.n > skip {
						first, started = k.key, true
						break
					}
					skip -= k.n
				}
				if started || len(keys) < batch {
					break
				}
				from, after, batch = keys[len(keys)-1].key, true, min(2*batch, byKeyBatch)
			}
			if !started {
				out.Items = []facts.Assignment{}
				return out, nil // past the end
			}
		}
	}

	out.Items = []facts.Assignment{}
	var items []atRow
	from, after := first, started
	if started {
		// The key the page starts in, after the cursor's row or skip rows
		// into it: its rows as the merged list filtered by it reads them.
		kf := f
		src.filter(&kf, first)
		res, err := s.mergedAssignments(ctx, kf, gatehouse.PageRequest{PerPage: want, Desc: page.Desc, Cursor: sub}, skip, false)
		if err != nil {
			return out, err
		}
		for _, a := range res.Items {
			items = append(items, atRow{a, micros(a.CreatedAt)})
		}
	}
	for len(items) < want {
		// The next keys, counted up to what the page still needs: those
		// that fill it, then their rows in one read.
		need := want - len(items)
		keys, err := s.assignmentKeys(ctx, f.EnvID, src, instancesOnly, from, after, page.Desc, need, need, false, flt)
		if err != nil {
			return out, fmt.Errorf("list role assignments: %w", err)
		}
		var sel []string
		for sum := 0; len(sel) < len(keys) && sum < need; {
			k := keys[len(sel)]
			sel, sum = append(sel, k.key), sum+k.n
		}
		if len(sel) == 0 {
			break
		}
		rows, err := s.rowsOfKeys(ctx, f.EnvID, src, instancesOnly, sel, need, page.Desc, flt)
		if err != nil {
			return out, err
		}
		items = append(items, rows...)
		if len(sel) == len(keys) && len(keys) < need {
			break // no key after these
		}
		from, after = sel[len(sel)-1], true
	}
	if len(items) > page.PerPage {
		last := items[page.PerPage-1]
		out.NextCursor = encodeCursor(cursorPos{Bind: bind, Key: byKeyOf(last.a, page.Sort), At: &last.at, ID: last.a.ID})
		items = items[:page.PerPage]
	}
	for _, r := range items {
		out.Items = append(out.Items, r.a)
	}
	return out, nil
}

// atRow is an assignment and its created_at in microseconds.
type atRow struct {
	a  facts.Assignment
	at int64
}

// rowsOfKeys reads up to limit assignments of keys (in the list's order)
// in the list's order, in one query: all the rows of every key but the
// last (whose counts, each under limit, told that they do not fill it),
// joined from the keys' rows, and at most limit of each table's rows of
// the last key from its (fk, created_at, id) index (a key may hold
// thousands). They are ordered here by their key's place in keys (the
// database ordered the keys), then created_at and id.
func (s *Store) rowsOfKeys(ctx context.Context, envID string, src byKeySource, instancesOnly bool, keys []string, limit int, desc bool, flt *byKeyFilters) ([]atRow, error) {
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	args := []any{envID}
	var parts []string
	last := keys[len(keys)-1]
	args = append(args, last)
	lastParam := fmt.Sprintf("$%d", len(args))
	var in []string
	for _, key := range keys[:len(keys)-1] {
		args = append(args, key)
		in = append(in, fmt.Sprintf("$%d", len(args)))
	}
	type table struct{ name, cols, joins, rows, from, filter string }
	// The filters' conditions on each table's rows (a), if any.
	tenantFilter, instanceFilter := "", ""
	if flt != nil {
		tenantFilter, instanceFilter = flt.and("", "", &args)
	}
	instancesOnly, tenantsOnly := flt.tables(instancesOnly)
	var tables []table
	if !tenantsOnly {
		tables = append(tables, table{"authz_instance_assignments", instanceAssignmentCols, instanceAssignmentJoins, src.instanceRows, src.instanceFrom, instanceFilter})
	}
	if !instancesOnly {
		tables = append(tables, table{"authz_role_assignments", tenantAssignmentCols, tenantAssignmentJoins, src.tenantRows, src.tenantFrom, tenantFilter})
	}
	for _, t := range tables {
		parts = append(parts, fmt.Sprintf("SELECT * FROM (SELECT %s, a.created_at, a.created_at AS at, %s AS key FROM (SELECT * FROM %s a WHERE %s%s ORDER BY a.created_at%s, a.id%s LIMIT %d) a %s) b%d",
			t.cols, lastParam, t.name, fmt.Sprintf(t.rows, lastParam), t.filter, dir, dir, limit, t.joins, len(parts)))
		if len(in) > 0 {
			parts = append(parts, fmt.Sprintf("SELECT %s, a.created_at, a.created_at AS at, k.key FROM %s %s WHERE k.env_id = $1 AND k.key IN (%s)%s",
				t.cols, t.from, t.joins, strings.Join(in, ", "), t.filter))
		}
	}
	rank := make(map[string]int, len(keys))
	for i, k := range keys {
		rank[k] = i
	}
	rows, err := s.reader().QueryContext(ctx, strings.Join(parts, " UNION ALL "), args...)
	if err != nil {
		return nil, fmt.Errorf("list role assignments: %w", err)
	}
	defer rows.Close()
	type ranked struct {
		atRow
		rank int
	}
	var got []ranked
	for rows.Next() {
		var r ranked
		var key string
		if r.a, err = scanAnyAssignment(extraScanner{rows, []any{&r.at, &key}}); err != nil {
			return nil, fmt.Errorf("scan role assignments: %w", err)
		}
		r.rank = rank[key]
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list role assignments: %w", err)
	}
	slices.SortFunc(got, func(x, y ranked) int {
		if c := cmp.Compare(x.rank, y.rank); c != 0 {
			return c
		}
		c := cmp.Or(cmp.Compare(x.at, y.at), strings.Compare(x.a.ID, y.a.ID))
		if desc {
			return -c
		}
		return c
	})
	out := make([]atRow, 0, min(len(got), limit))
	for _, r := range got[:min(len(got), limit)] {
		out = append(out, r.atRow)
	}
	return out, nil
}

// byKeyOf is an assignment's key in a sort of listAssignmentsByKeyMerged.
func byKeyOf(a facts.Assignment, sort string) string {
	switch sort {
	case "user":
		return a.User
	case "role":
		return a.Role
	}
	return a.Tenant
}

// countBothKinds counts the listed assignments of both kinds (or on
// instances only) of an unfiltered list, each table up to page.CountUpTo.
func (s *Store) countBothKinds(ctx context.Context, f facts.AssignmentFilter, page gatehouse.PageRequest, out *gatehouse.Page[facts.Assignment]) error {
	env := func() *where {
		w := &where{}
		w.add("a.env_id = ?", f.EnvID)
		return w
	}
	var wT *where
	if f.Kind != facts.AssignmentsOnInstances {
		wT = env()
	}
	return s.countFiltered(ctx, wT, env(), page, out)
}
