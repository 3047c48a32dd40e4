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
//     so a page is found within a few thousand rows).
//
// Cursors are bound to the filters, not to the read chosen: a walk goes on
// when a filter's count crosses the line between two pages.

// idFilter is one filter of an assignment list: its column, the id it
// matches ("" when the key named none) and its index in the where's parts.
type idFilter struct {
	col, id string
	part    int
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
// fewest so far (users first, whose filters hold the fewest rows as a
// rule, roles last), so that a user's few rows bound the other counts.
func (s *Store) narrowestFilter(ctx context.Context, table string, filters []idFilter, most int) (int, int, error) {
	order := make([]int, len(filters))
	for i := range order {
		order[i] = i
	}
	rank := func(f idFilter) int {
		return strings.Index("user tenant role instance", strings.TrimSuffix(f.col[strings.IndexByte(f.col, '.')+1:], "_id"))
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(rank(filters[a]), rank(filters[b])) })
	best, fewest := -1, most+1
	for _, i := range order {
		f := filters[i]
		if f.id == "" {
			return i, 0, nil // no such key: no rows
		}
		var n int
		if err := s.reader().QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(*) FROM (SELECT 1 FROM %s WHERE %s = $1 LIMIT %d) c", table, f.col, fewest), f.id).Scan(&n); err != nil {
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
	return hintedExcept(s.db.Engine, w, filters, func(f idFilter) bool { return f == filters[i] }), nil
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
// read through that filter's index (hintedExcept).
func (s *Store) listAssignmentsSorted(ctx context.Context, envID string, by assignmentGroup, rw *where, page gatehouse.PageRequest) (out gatehouse.Page[facts.Assignment], err error) {
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
		pos, err := decodeCursor(page.Cursor, bind)
		if err != nil {
			return out, err
		}
		if pos.At == nil {
			return out, invalidCursor("cursor is malformed: pass the next_cursor of a page of this list unchanged")
		}
		args = append(args, pos.Key, *pos.At, pos.ID)
		conds = append(conds, fmt.Sprintf("(%s.key, a.created_at, a.id) %s ($%d, $%d, $%d)", by.alias, cmpOp, len(args)-2, len(args)-1, len(args)))
		out.Total = -1
	default:
		if err := countRows(ctx, s.reader(), "authz_role_assignments a", rw, page, &out); err != nil {
			return out, fmt.Errorf("count role assignments: %w", err)
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
	defer rows.Close()
	out.Items = []facts.Assignment{}
	var lastKey, lastID string
	var lastAt int64
	more := false
	for rows.Next() {
		if len(out.Items) == page.PerPage {
			more = true
			break
		}
		a, err := scanAssignment(extraScanner{rows, []any{&lastKey, &lastAt, &lastID}})
		if err != nil {
			return out, fmt.Errorf("scan role assignments: %w", err)
		}
		out.Items = append(out.Items, a)
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("list role assignments: %w", err)
	}
	if more {
		out.NextCursor = encodeCursor(cursorPos{Bind: bind, Key: lastKey, At: &lastAt, ID: lastID})
	}
	return out, nil
}
