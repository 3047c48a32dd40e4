package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
)

// Lists of assignments filtered by more than one key, or by one key and
// sorted by another's (issue 16 point 12).
//
// Each filter (?user=, ?role=, ?tenant=) has an index of its own, (fk,
// created_at, id). With two filters, or a filter and a sort by another
// key, the engine must choose which index drives the read, and SQLite
// keeps no statistics to choose by: it read `?user=alice&role=viewer`
// through the role's index (300 ms at 1M assignments, when viewer holds
// half of them) and `?tenant=acme&sort=user` as, for each user in key
// order, a walk of the tenant's index (9 s for page 1). So:
//
//   - every filter's rows are counted first, each up to
//     filteredSortMax+1 from its index alone, and the list is counted and
//     read through the index of the filter with the fewest rows (the
//     others' conditions are hidden from SQLite's index choice by a unary
//     "+"; PostgreSQL, whose statistics see the difference, is left to
//     choose);
//   - sorted by another key, a list whose narrowest filter holds at most
//     filteredSortMax rows is read whole through that filter's index,
//     joined and sorted (a few milliseconds for 10,000 rows), by number or
//     by cursor; one whose filters all hold more walks the sort's keys in
//     order, each key's rows through its own index, as an unfiltered sort
//     does (the filter then holds at least one row in N/filteredSortMax,
//     so a page is found within a few thousand rows, unless the filter's
//     rows gather at keys far along the sort: a tenant whose users' keys
//     all sort last, sorted by user, walks the users before them).
//
// Cursors are bound to the filters, not to the read chosen: a walk goes on
// when a filter's count crosses the line between two pages.

// idFilter is one filter of an assignment list: its column, the id it
// matches ("" when the key named none) and its index in the where's parts;
// a filter other than col = id (roles of several resource types) has its
// own condition (numbered from $1) and arguments in cond and args. rank
// orders the counts (the fewest rows first, as a rule).
type idFilter struct {
	col, id string
	part    int
	cond    string
	args    []any
	rank    int
}

// The ranks of the filters, fewest rows first as a rule.
const (
	rankUser = iota
	rankInstance
	rankTenant
	rankRole
)

// filter adds the condition col = id to w as one of filters.
func (w *where) filter(filters *[]idFilter, col, id string, rank int) {
	w.add(col+" = ?", id)
	*filters = append(*filters, idFilter{col: col, id: id, part: len(w.parts) - 1, rank: rank})
}

// keyedCursor reads a cursor of a list sorted by key (the last row's key,
// created_at and id) that the list bound as bind handed out.
func keyedCursor(cursor, bind string) (key string, at int64, id string, err error) {
	pos, err := decodeCursor(cursor, bind)
	if err != nil {
		return "", 0, "", err
	}
	key, ok := pos.Key.(string)
	if !ok || pos.At == nil {
		// (A number for the key is a client's rewrite: PostgreSQL would
		// fail to encode it for the text column.)
		return "", 0, "", invalidCursor("cursor is malformed: pass the next_cursor of a page of this list unchanged")
	}
	return key, *pos.At, pos.ID, nil
}

// filteredSortMax is the most rows a filter of an assignment list sorted
// by another key may hold to be read whole and sorted.
var filteredSortMax = gatehouse.TotalCap

func (s *Store) filteredMax() int {
	if s.db.filteredSortMax != 0 {
		return s.db.filteredSortMax
	}
	return filteredSortMax
}

// narrowestFilter returns the index in filters of the filter with the
// fewest rows in table ("authz_role_assignments a") and that count, up to
// most+1. Each is counted from its index alone, up to one more than the
// fewest so far (by rank: users first, whose filters hold the fewest rows
// as a rule, roles last), so that a user's few rows bound the other
// counts.
func (s *Store) narrowestFilter(ctx context.Context, table string, filters []idFilter, most int) (int, int, error) {
	order := make([]int, len(filters))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(filters[a].rank, filters[b].rank) })
	best, fewest := -1, most+1
	for _, i := range order {
		f := filters[i]
		cond, args := f.cond, f.args
		if cond == "" {
			if f.id == "" {
				return i, 0, nil // no such key: no rows
			}
			cond, args = f.col+" = $1", []any{f.id}
		}
		var n int
		if err := s.reader().QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(*) FROM (SELECT 1 FROM %s WHERE %s LIMIT %d) c", table, cond, fewest), args...).Scan(&n); err != nil {
			return 0, 0, fmt.Errorf("count the rows of a filter: %w", err)
		}
		if best < 0 || n < fewest {
			best, fewest = i, n
		}
	}
	return best, fewest, nil
}

// narrowestFirst returns w read through the index of its narrowest
// filter: on SQLite, a copy of w whose other filters are hidden from the
// index choice; w itself on PostgreSQL. The copy's cursors are bound to
// w's conditions.
func (s *Store) narrowestFirst(ctx context.Context, table string, w *where, filters []idFilter) (*where, error) {
	if s.db.Engine != SQLite || len(filters) < 2 {
		return w, nil
	}
	i, _, err := s.narrowestFilter(ctx, table, filters, s.filteredMax())
	if err != nil {
		return nil, err
	}
	return hintedExcept(s.db.Engine, w, filters, func(f idFilter) bool { return f.part == filters[i].part }), nil
}

// hintedExcept returns, on SQLite, a copy of w in which the condition of
// every filter but those keep takes is written "+col = $n": the same
// condition, which SQLite does not read through col's index. Elsewhere it
// returns w. The copy's cursors are bound to w's conditions.
func hintedExcept(engine string, w *where, filters []idFilter, keep func(idFilter) bool) *where {
	if engine != SQLite {
		return w
	}
	w.bind()
	h := &where{parts: append([]string(nil), w.parts...), args: w.args, bound: w.bound, err: w.err}
	for _, f := range filters {
		if !keep(f) && !strings.HasPrefix(h.parts[f.part], "+") {
			h.parts[f.part] = "+" + h.parts[f.part]
		}
	}
	return h
}

// listAssignmentsSorted reads a page of the assignments under w sorted
// by by's key, by reading every row under w and sorting them: w is
// filtered by another key than by's, of at most filteredMax rows, and
// read through that filter's index (hintedExcept). known, when not nil,
// may give the list's count (its one filter's, counted already).
func (s *Store) listAssignmentsSorted(ctx context.Context, envID string, by assignmentGroup, rw *where, known func(gatehouse.PageRequest) (int, bool, bool), page gatehouse.PageRequest) (out gatehouse.Page[facts.Assignment], err error) {
	dir, cmpOp := " ASC", ">"
	if page.Desc {
		dir, cmpOp = " DESC", "<"
	}
	bind := cursorBinding("role assignments", by.alias+".key", page.Desc, rw)
	args := append(append([]any(nil), rw.args...), envID)
	conds := append(append([]string(nil), rw.parts...), fmt.Sprintf("%s.env_id = $%d", by.alias, len(args)))
	offset := 0
	switch {
	case page.Cursor != "" && page.Page > 1:
		return out, gatehouse.FieldError("cursor", "conflict", "give page or cursor, not both: a cursor already says where the page starts")
	case page.Cursor == StartCursor:
		out.Total = -1
	case page.Cursor != "":
		key, at, id, err := keyedCursor(page.Cursor, bind)
		if err != nil {
			return out, err
		}
		args = append(args, key, at, id)
		conds = append(conds, fmt.Sprintf("(%s.key, a.created_at, a.id) %s ($%d, $%d, $%d)", by.alias, cmpOp, len(args)-2, len(args)-1, len(args)))
		out.Total = -1
	default:
		counted := false
		if known != nil {
			out.Total, out.TotalCapped, counted = known(page)
		}
		if !counted {
			if err := countRows(ctx, s.reader(), "authz_role_assignments a", rw, page, &out); err != nil {
				return out, fmt.Errorf("count role assignments: %w", err)
			}
		}
		offset = max(page.Offset(), 0)
	}
	limit := fmt.Sprintf(" LIMIT %d", page.PerPage+1)
	if offset > 0 {
		limit += fmt.Sprintf(" OFFSET %d", offset)
	}
	// The assignments first (CROSS JOIN keeps SQLite's order), through the
	// filter's index; then each row's user, role and tenant.
	from := "authz_role_assignments a CROSS JOIN authz_users u ON u.id = a.user_id CROSS JOIN authz_roles r ON r.id = a.role_id CROSS JOIN authz_tenants t ON t.id = a.tenant_id"
	if s.db.Engine == Postgres {
		// Each row's user, role and tenant by their primary keys: given
		// the choice, PostgreSQL hashed every user of the environment
		// for a page of 1,000 rows (120 ms against 40 at 1M).
		from = "authz_role_assignments a"
		for _, g := range []assignmentGroup{assignmentGroups["user"], assignmentGroups["role"], assignmentGroups["tenant"]} {
			from += fmt.Sprintf(" CROSS JOIN LATERAL (SELECT * FROM %s %s WHERE %s.id = %s OFFSET 0) %s", g.table, g.alias, g.alias, g.fk, g.alias)
		}
	}
	rows, err := s.reader().QueryContext(ctx, fmt.Sprintf("SELECT %s, %s.key, a.created_at, a.id FROM %s WHERE %s ORDER BY %s.key%s, a.created_at%s, a.id%s%s",
		assignmentCols, by.alias, from, strings.Join(conds, " AND "), by.alias, dir, dir, dir, limit), args...)
	if err != nil {
		return out, fmt.Errorf("list role assignments: %w", err)
	}
	out.Items, out.NextCursor, err = readKeyedPage(rows, page.PerPage, scanAssignment, bind)
	return out, err
}

// listBothKindsByKey is a page of the assignments of both kinds (or on
// instances only) filtered by a user, role, tenant or resource instance
// and sorted by the key of page.Sort, then created_at and id (the order of
// every assignment list sorted by key). When each table's narrowest
// filter holds at most filteredMax rows, those rows are read whole and
// sorted (listBothKindsFiltered); otherwise the keys are walked in order
// as the unfiltered list walks them, with the filters' conditions on each
// key's rows (listAssignmentsByKeyMerged). Both give the same cursors.
// (The sorted union of both tables, narrowed by keys in the joined view,
// cost seconds at a million rows however few rows matched.)
func (s *Store) listBothKindsByKey(ctx context.Context, f facts.AssignmentFilter, page gatehouse.PageRequest) (gatehouse.Page[facts.Assignment], error) {
	wT, fT, wI, fI, err := s.assignmentWheres(ctx, f)
	if err != nil {
		return gatehouse.Page[facts.Assignment]{}, err
	}
	most := s.filteredMax()
	small := true
	// narrowest is a table's conditions read through its narrowest
	// filter's index; empty, that the table holds none of the list.
	narrowest := func(table string, w *where, filters []idFilter, empty *bool) (*where, error) {
		if len(filters) == 0 {
			small = false // the environment's rows
			return w, nil
		}
		// (Counted up to one row at least, so that 0 is none: a test's
		// most of -1 walks every list.)
		i, n, err := s.narrowestFilter(ctx, table, filters, max(most, 0))
		if err != nil {
			return nil, fmt.Errorf("list role assignments: %w", err)
		}
		small = small && n <= most
		*empty = n == 0
		return hintedExcept(s.db.Engine, w, filters, func(f idFilter) bool { return f.part == filters[i].part }), nil
	}
	var cT, cI *where
	var noTenant, noInstance bool
	if wT != nil {
		if cT, err = narrowest("authz_role_assignments a", wT, fT, &noTenant); err != nil {
			return gatehouse.Page[facts.Assignment]{}, err
		}
	}
	if cI, err = narrowest("authz_instance_assignments a", wI, fI, &noInstance); err != nil {
		return gatehouse.Page[facts.Assignment]{}, err
	}
	if small || (noTenant || wT == nil) && noInstance { // (nothing matches: nothing to walk)
		return s.listBothKindsFiltered(ctx, f, page, cT, cI)
	}
	// A table none of whose rows the filters match is left out of the
	// walk: its probe of every key found nothing, row by row (a role of
	// the tenants' that no resource role shares: each tenant's
	// assignments on instances read for their role).
	none := func(idFilter) bool { return false }
	flt := &byKeyFilters{countT: cT, countI: cI, walkI: hintedExcept(s.db.Engine, wI, fI, none), noTenant: noTenant, noInstance: noInstance}
	if wT != nil {
		flt.walkT = hintedExcept(s.db.Engine, wT, fT, none)
		// A key's probe and count of the tenant assignments read an index
		// alone where it holds the sort's column and a filter's
		// (countsFromIndex): the filter written plainly.
		flt.probeT = hintedExcept(s.db.Engine, wT, fT, func(f idFilter) bool { return slices.Contains(probeCovered[page.Sort], f.col) })
	}
	// Filtered by the sort's own key (?user=alice&sort=user), the list is
	// that key's rows: the walk reads that key alone, not every key's
	// probe.
	flt.key = map[string]string{"user": f.User, "role": f.Role, "tenant": f.Tenant}[page.Sort]
	// Filtered by a role alone that no assignment on an instance holds,
	// the list is the role's tenant assignments: sorted by user, in the
	// order of its key marks (roleUserSort), and sorted by tenant, in
	// that of its counts per tenant; a deep page starts through them.
	if noInstance && !noTenant && len(fT) == 1 && fT[0].col == "a.role_id" && fT[0].cond == "" && fT[0].id != "" {
		switch page.Sort {
		case "user":
			flt.roleSort = roleUserSort + fT[0].id
		case "tenant":
			// Sorted by tenant, each tenant's count of the role's rows
			// from (tenant_id, role_id), as the tenant assignments'
			// list reads it (keyOfRow).
			flt.roleByTenant = fT[0].id
		}
	}
	return s.listAssignmentsByKeyMerged(ctx, f, page, flt)
}

// byKeyFilters are the filters of a list of both kinds walked by key
// (listAssignmentsByKeyMerged): each table's conditions as each key's
// rows are read (walkT, walkI: on SQLite hidden from the index choice, so
// that a key's rows are read through its own index) and as the list is
// counted (countT, countI: through the narrowest filter's index); the
// tenant assignments' are nil when the list holds none of them. key, when
// set, is the only key of the sort the walk reads.
type byKeyFilters struct {
	walkT, walkI   *where
	countT, countI *where
	// probeT is walkT as a key's probe and count read it: on SQLite a
	// filter that an index holds with the sort's column (probeCovered)
	// written plainly, so that the index answers them alone.
	probeT *where
	key    string // the one key of the sort the list holds, if filtered by it
	// roleSort, when set, is the key marks (roleUserSort) whose order is
	// the list's: a role's tenant assignments alone, sorted by user.
	roleSort string
	// roleByTenant, when set, is the role whose tenant assignments alone
	// the list is, sorted by tenant.
	roleByTenant string
	// noTenant and noInstance: the filters match none of that table's
	// rows (the walk reads the other alone).
	noTenant, noInstance bool
}

// probeCovered are, by sort, the columns of filters that an index of the
// tenant assignments holds next to the sort's column: (tenant_id,
// role_id) (migration 00034), (user_id, tenant_id, role_id).
var probeCovered = map[string][]string{"tenant": {"a.role_id"}, "user": {"a.tenant_id"}}

// and returns the conditions of a tenant assignment's and an assignment on
// an instance's rows (a) with the filters' added, their arguments
// appended to args.
func (b *byKeyFilters) and(tenant, instance string, args *[]any) (string, string) {
	return b.with(b.walkT, tenant, instance, args)
}

// probes is and for a key's probe and count (probeT).
func (b *byKeyFilters) probes(tenant, instance string, args *[]any) (string, string) {
	return b.with(b.probeT, tenant, instance, args)
}

// with adds wT's conditions to tenant's and walkI's to instance's, each
// unless the walk leaves that table out (tables): every argument appended
// is used (PostgreSQL refuses one that is not).
func (b *byKeyFilters) with(wT *where, tenant, instance string, args *[]any) (string, string) {
	if wT != nil && !b.noTenant {
		tenant += " AND " + shiftParams(strings.Join(wT.parts, " AND "), len(*args))
		*args = append(*args, wT.args...)
	}
	if !b.noInstance {
		instance += " AND " + shiftParams(strings.Join(b.walkI.parts, " AND "), len(*args))
		*args = append(*args, b.walkI.args...)
	}
	return tenant, instance
}

// tables says which tables a walk reads: instancesOnly, the assignments
// on instances alone; tenantsOnly, the tenant assignments alone.
func (b *byKeyFilters) tables(instancesOnly bool) (bool, bool) {
	if b == nil {
		return instancesOnly, false
	}
	return instancesOnly || b.noTenant, b.noInstance
}

// bothKindsFilteredBinding binds a cursor of a filtered list of both
// kinds sorted by key, however it is read.
func bothKindsFilteredBinding(f facts.AssignmentFilter, sort string, desc bool) string {
	bw := &where{}
	for _, c := range []struct{ name, v string }{{"env", f.EnvID}, {"kind", f.Kind}, {"user", f.User}, {"role", f.Role}, {"tenant", f.Tenant}, {"instance", f.ResourceInstance}} {
		bw.add(c.name+" = ?", c.v)
	}
	return cursorBinding("role assignments of both kinds by key, filtered", sort, desc, bw)
}

// countFiltered counts a filtered list of both kinds: each table's rows
// under its conditions (wT nil: none of that table), up to
// page.CountUpTo.
func (s *Store) countFiltered(ctx context.Context, wT, wI *where, page gatehouse.PageRequest, out *gatehouse.Page[facts.Assignment]) error {
	for _, t := range []struct {
		table string
		w     *where
	}{{"authz_role_assignments a", wT}, {"authz_instance_assignments a", wI}} {
		if t.w == nil {
			continue
		}
		var part gatehouse.Page[facts.Assignment]
		if err := countRows(ctx, s.reader(), t.table, t.w, page, &part); err != nil {
			return fmt.Errorf("count role assignments: %w", err)
		}
		out.Total += part.Total
		out.TotalCapped = out.TotalCapped || part.TotalCapped
	}
	if out.TotalCapped || page.CountUpTo > 0 && out.Total > page.CountUpTo {
		out.Total, out.TotalCapped = page.CountUpTo, true
	}
	return nil
}

// listBothKindsFiltered reads listBothKindsByKey's page whole: each
// table's rows under its conditions (wT nil: none), read through its
// narrowest filter's index, joined, and the two sorted together.
func (s *Store) listBothKindsFiltered(ctx context.Context, f facts.AssignmentFilter, page gatehouse.PageRequest, wT, wI *where) (out gatehouse.Page[facts.Assignment], err error) {
	if page.Cursor != "" && page.Page > 1 {
		return out, gatehouse.FieldError("cursor", "conflict", "give page or cursor, not both: a cursor already says where the page starts")
	}
	if page.PerPage <= 0 {
		page.PerPage = gatehouse.DefaultPerPage
	}
	keyCol := map[string][2]string{"user": {"u.key", "u.key"}, "role": {"r.key", "rr.key"}, "tenant": {"t.key", "t.key"}}[page.Sort]
	dir, cmpOp := " ASC", ">"
	if page.Desc {
		dir, cmpOp = " DESC", "<"
	}
	bind := bothKindsFilteredBinding(f, page.Sort, page.Desc)
	// The tables' rows, joined (on SQLite in this order: the assignments
	// through the filter's index first).
	join := "JOIN "
	if s.db.Engine == SQLite {
		join = "CROSS JOIN "
	}
	var parts []string
	var args []any
	if wT != nil {
		parts = append(parts, fmt.Sprintf("SELECT %s, a.created_at, %s AS sort_key, a.created_at AS at, a.id AS row_id FROM authz_role_assignments a %s%s",
			tenantAssignmentCols, keyCol[0], strings.ReplaceAll(tenantAssignmentJoins, "JOIN ", join), wT.sql()))
		args = append(args, wT.args...)
	}
	parts = append(parts, fmt.Sprintf("SELECT %s, a.created_at, %s AS sort_key, a.created_at AS at, a.id AS row_id FROM authz_instance_assignments a %s%s",
		instanceAssignmentCols, keyCol[1], strings.ReplaceAll(instanceAssignmentJoins, "JOIN ", join), shiftParams(wI.sql(), len(args))))
	args = append(args, wI.args...)
	union := strings.Join(parts, " UNION ALL ")
	cond := ""
	offset := 0
	switch {
	case page.Cursor == StartCursor:
		out.Total = -1
	case page.Cursor != "":
		key, at, id, err := keyedCursor(page.Cursor, bind)
		if err != nil {
			return out, err
		}
		args = append(args, key, at, id)
		cond = fmt.Sprintf(" WHERE (x.sort_key, x.at, x.id) %s ($%d, $%d, $%d)", cmpOp, len(args)-2, len(args)-1, len(args))
		out.Total = -1
	default:
		if err := s.countFiltered(ctx, wT, wI, page, &out); err != nil {
			return out, err
		}
		offset = max(page.Offset(), 0)
	}
	limit := fmt.Sprintf(" LIMIT %d", page.PerPage+1)
	if offset > 0 {
		limit += fmt.Sprintf(" OFFSET %d", offset)
	}
	rows, err := s.reader().QueryContext(ctx, fmt.Sprintf("SELECT * FROM (%s) x%s ORDER BY x.sort_key%s, x.at%s, x.id%s%s", union, cond, dir, dir, dir, limit), args...)
	if err != nil {
		return out, fmt.Errorf("list role assignments: %w", err)
	}
	out.Items, out.NextCursor, err = readKeyedPage(rows, page.PerPage, scanAnyAssignment, bind)
	return out, err
}

// readKeyedPage reads up to perPage assignments from rows, each followed
// by its sort key, created_at and id (rows of a list sorted by key), and,
// when a row more follows, the cursor after the last (bound as bind). It
// closes rows.
func readKeyedPage(rows *sql.Rows, perPage int, scan func(scanner) (facts.Assignment, error), bind string) ([]facts.Assignment, string, error) {
	defer rows.Close()
	items := []facts.Assignment{}
	var lastKey, lastID string
	var lastAt int64
	for rows.Next() {
		if len(items) == perPage {
			return items, encodeCursor(cursorPos{Bind: bind, Key: lastKey, At: &lastAt, ID: lastID}), rows.Err()
		}
		a, err := scan(extraScanner{rows, []any{&lastKey, &lastAt, &lastID}})
		if err != nil {
			return nil, "", fmt.Errorf("scan role assignments: %w", err)
		}
		items = append(items, a)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list role assignments: %w", err)
	}
	return items, "", nil
}

// filterCount is the count of a list whose only condition is a filter
// counted up to most+1 rows (n), as page asks for it, when n tells it: a
// count up to at most most.
func filterCount(n, most int, page gatehouse.PageRequest) (total int, capped, ok bool) {
	if page.CountUpTo <= 0 || page.CountUpTo > most {
		return 0, false, false
	}
	if n > page.CountUpTo {
		return page.CountUpTo, true, true
	}
	return n, false, true
}
