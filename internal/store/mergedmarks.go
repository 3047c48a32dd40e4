package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The API's default assignment list (kind=all) in an environment with
// roles on resource instances merges two tables in (created_at, id)
// order. A deep page of it by number stepped over every row of both before
// it (116 ms on SQLite half-way through 1.1M rows). Both tables have list
// marks (migration 00027), so the row at any depth is found from them: the
// marks of both tables, merged in (created_at, id) order, bound at each
// mark the rows of the union before it (exactly the counts up to it for
// the table the mark is in; for the other, between the counts up to its
// mark before and after). The page starts from the last mark whose upper
// bound is at most the row's index; the other table's rows between its own
// mark and that one are counted, and what is left, less than about two
// marks' rows, is stepped over in the union.

// mergedSeek is the row at index t (0-based) of the union of envID's rows
// of tables in (created_at, id) order, ascending, or of the reverse order
// with desc: where a deep page of the merged assignment list starts. When
// the marks count at most countUpTo rows (or countUpTo <= 0), their total
// is checked against the rows, in the same snapshot. found is false when
// there is no such row; ok is false when the marks cannot say (a count
// found wrong: they are made again in the background), and the caller
// reads the row by a skip.
func (s *Store) mergedSeek(ctx context.Context, tables []string, envID string, t int, desc bool, countUpTo int) (at int64, id string, found, ok bool, err error) {
	if s.noMarks || s.tx != nil {
		return 0, "", false, false, nil
	}
	for _, table := range tables {
		if !markedTables[table] {
			return 0, "", false, false, nil
		}
	}
	at, id, found, grown, err := s.seekMergedMarks(ctx, tables, envID, t, desc, countUpTo)
	if errors.Is(err, errMarkWrong) {
		s.db.marks.disagree.Add(1)
		for _, table := range tables {
			s.db.marks.upkeep(s, table, envID, true)
		}
		return 0, "", false, false, nil // read by a skip
	}
	if err != nil {
		return 0, "", false, false, err
	}
	for _, table := range grown {
		s.db.marks.upkeep(s, table, envID, false)
	}
	s.db.marks.hits.Add(1)
	return at, id, found, true, nil
}

// mergedPoint is a mark of one of the merged tables.
type mergedPoint struct {
	at  int64
	id  string
	tbl int // index into the tables
	i   int // index into that table's marks
}

// seekMergedMarks reads the marks of tables and the row in one read
// transaction. grown are the tables whose marks want a split or a
// compaction.
func (s *Store) seekMergedMarks(ctx context.Context, tables []string, envID string, t int, desc bool, countUpTo int) (at int64, id string, found bool, grown []string, err error) {
	tx, q, err := s.marksSnapshot(ctx)
	if err != nil {
		return 0, "", false, nil, err
	}
	defer func() { _ = tx.Rollback() }()
	// The tables that hold rows of envID, their marks and the rows before
	// each mark (before[k][i]: of table k, before its mark i).
	var names []string
	var marks [][]listMark
	var before [][]int64
	var total int64
	for _, table := range tables {
		ms, err := readMarks(ctx, q, table, envID)
		if err != nil {
			return 0, "", false, nil, err
		}
		if len(ms) == 0 {
			var one int
			err := q.QueryRowContext(ctx, "SELECT 1 FROM "+table+" WHERE env_id = $1 LIMIT 1", envID).Scan(&one)
			if err == sql.ErrNoRows {
				continue // no rows: no marks
			}
			if err != nil {
				return 0, "", false, nil, fmt.Errorf("read list marks: %w", err)
			}
			return 0, "", false, nil, errMarkWrong
		}
		if ms[0].at != markMin || ms[0].id != "" {
			return 0, "", false, nil, errMarkWrong
		}
		cum := make([]int64, len(ms)+1)
		for i, m := range ms {
			if m.n < 0 {
				return 0, "", false, nil, errMarkWrong
			}
			cum[i+1] = cum[i] + m.n
		}
		names, marks, before = append(names, table), append(marks, ms), append(before, cum)
		total += cum[len(ms)]
	}
	if countUpTo <= 0 || total <= int64(countUpTo) {
		// Few enough to count: the rows say whether the marks are right
		// (in this snapshot: a write since the caller's count is no
		// disagreement).
		var n int64
		for _, table := range names {
			var c int64
			if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table+" WHERE env_id = $1", envID).Scan(&c); err != nil {
				return 0, "", false, nil, fmt.Errorf("count the rows of list marks: %w", err)
			}
			n += c
		}
		if n != total {
			return 0, "", false, nil, errMarkWrong
		}
	}
	span, split := s.db.marks.sizes()
	for k, ms := range marks {
		if n := before[k][len(ms)]; int64(len(ms)) > 2*(n/span)+16 {
			grown = append(grown, names[k])
		}
	}
	a := int64(t)
	if desc {
		a = total - 1 - int64(t)
	}
	if a < 0 || a >= total {
		return 0, "", false, grown, nil // past the end
	}

	var points []mergedPoint
	for k, ms := range marks {
		for i, m := range ms {
			points = append(points, mergedPoint{m.at, m.id, k, i})
		}
	}
	slices.SortFunc(points, func(x, y mergedPoint) int {
		if x.at != y.at {
			if x.at < y.at {
				return -1
			}
			return 1
		}
		return strings.Compare(x.id, y.id)
	})
	// Walk the points, each group of equal ones at once: cur[k] is table
	// k's last mark at or before the point. The chosen point is the last
	// whose upper bound is at most a (the first, where every table has a
	// mark, bounds 0).
	cur := make([]int, len(marks))
	var best struct {
		at     int64
		id     string
		cur    []int
		isMark []bool
		lower  int64
	}
	for g := 0; g < len(points); {
		h := g
		isMark := make([]bool, len(marks))
		for ; h < len(points) && points[h].at == points[g].at && points[h].id == points[g].id; h++ {
			cur[points[h].tbl], isMark[points[h].tbl] = points[h].i, true
		}
		// lower: the rows before the marks at or before the point; slack:
		// the rows of the other tables' marks the point is inside, some
		// of which are before it.
		var lower, slack int64
		for k := range marks {
			lower += before[k][cur[k]]
			if !isMark[k] {
				slack += marks[k][cur[k]].n
			}
		}
		if lower > a {
			break // every later point's bounds are above a too
		}
		if lower+slack <= a {
			best.at, best.id, best.cur, best.isMark, best.lower = points[g].at, points[g].id, slices.Clone(cur), isMark, lower
		}
		g = h
	}
	if best.cur == nil {
		return 0, "", false, nil, errMarkWrong // the first point bounds 0: not reached only if the marks are wrong
	}
	// The rows before the point exactly: the other tables' rows from
	// their marks before it up to it, counted. Each mark the page relies
	// on is checked against its rows (a count gone wrong shows here).
	exact := best.lower
	for k, table := range names {
		i := best.cur[k]
		rng, args := markRange(envID, marks[k], i)
		var n int64
		if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table+rng, args...).Scan(&n); err != nil {
			return 0, "", false, nil, fmt.Errorf("read the rows of a list mark: %w", err)
		}
		if n != marks[k][i].n {
			return 0, "", false, nil, errMarkWrong
		}
		if marks[k][i].n > split && !slices.Contains(grown, table) {
			grown = append(grown, table)
		}
		if best.isMark[k] {
			continue
		}
		args = append(args[:3:3], best.at, best.id)
		if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table+" WHERE env_id = $1 AND created_at >= $2 AND (created_at > $2 OR id >= $3) AND created_at <= $4 AND (created_at < $4 OR id < $5)", args...).Scan(&n); err != nil {
			return 0, "", false, nil, fmt.Errorf("read the rows of a list mark: %w", err)
		}
		exact += n
	}
	r := a - exact
	if r < 0 {
		return 0, "", false, nil, errMarkWrong
	}
	// The row: r rows on from the point in the union, each table read
	// from it in its (env_id, created_at, id) index for at most r+1 rows.
	var parts []string
	for k, table := range names {
		parts = append(parts, fmt.Sprintf("SELECT * FROM (SELECT created_at AS at, id FROM %s WHERE env_id = $1 AND created_at >= $2 AND (created_at > $2 OR id >= $3) ORDER BY created_at, id LIMIT %d) b%d", table, r+1, k))
	}
	err = q.QueryRowContext(ctx, fmt.Sprintf("SELECT at, id FROM (%s) x ORDER BY at, id LIMIT 1 OFFSET %d", strings.Join(parts, " UNION ALL "), r),
		envID, best.at, best.id).Scan(&at, &id)
	if err == sql.ErrNoRows {
		return 0, "", false, nil, errMarkWrong // the marks count rows that are not there
	}
	if err != nil {
		return 0, "", false, nil, fmt.Errorf("read the row at a list mark: %w", err)
	}
	return at, id, true, grown, nil
}
