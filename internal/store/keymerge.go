package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The assignments of both kinds (kind=all, the API's default, in an
// environment with roles on resource instances) sorted by the key of their
// user, role or tenant: a deep page by number walked every key before it,
// counting its rows in both tables (222 ms on SQLite, 257 ms on
// PostgreSQL half-way through 1.1M assignments). Both tables have key
// marks along that order (migrations 00028 and 00030: sorts "user" and
// "i:user", and so on), so the row at any depth is found as mergedSeek
// (mergedmarks.go) finds it in the (created_at, id) order: the two sets of
// marks, merged in (key, created_at, id) order by the database (whose
// collation orders the keys), bound at each mark the rows of both before
// it; the page starts from the last mark whose upper bound is at most its
// row's index, the other table's rows between its own mark and that one
// are counted, and what is left, about two marks' rows at most, is stepped
// over in the union of both tables' rows from that mark on.

// mergedKeyedSeek is the row at index t (0-based) of the assignments of
// both kinds of envID in the order of a sort by key (sort: "user", "role"
// or "tenant"), ascending, or of the reverse order with desc: its key,
// created_at and id. When the marks count at most countUpTo rows (or
// countUpTo <= 0), their total is checked against the rows. found is
// false when there is no such row; ok is false when the marks cannot say
// (a count found wrong: they are made again in the background), and the
// caller finds the row by a skip.
func (s *Store) mergedKeyedSeek(ctx context.Context, sort, envID string, t int, desc bool, countUpTo int) (key string, at int64, id string, found, ok bool, err error) {
	sorts := []string{sort, "i:" + sort}
	for _, so := range sorts {
		if _, known := keySorts[so]; !known {
			return "", 0, "", false, false, nil
		}
	}
	if s.noMarks || s.tx != nil {
		return "", 0, "", false, false, nil
	}
	key, at, id, found, grown, err := s.seekMergedKeyMarks(ctx, sorts, envID, t, desc, countUpTo)
	if errors.Is(err, errMarkWrong) {
		s.db.marks.disagree.Add(1)
		for _, so := range sorts {
			s.db.marks.upkeep(s, keyMarksTable(so), envID, true)
		}
		return "", 0, "", false, false, nil
	}
	if err != nil {
		return "", 0, "", false, false, err
	}
	for _, so := range grown {
		s.db.marks.upkeep(s, keyMarksTable(so), envID, false)
	}
	s.db.marks.hits.Add(1)
	return key, at, id, found, true, nil
}

// mergedKeyMarks are the key marks of the sorts whose table holds rows of
// an environment: names[k]'s marks, the rows before each (before[k][i]:
// of sort k, before its mark i), and their total.
type mergedKeyMarks struct {
	names  []string
	marks  [][]keyMark
	before [][]int64
	total  int64
}

// loadMergedKeyMarks reads envID's key marks of sorts (errMarkWrong when
// their shape is wrong).
func loadMergedKeyMarks(ctx context.Context, q querier, sorts []string, envID string) (*mergedKeyMarks, error) {
	mk := &mergedKeyMarks{}
	for _, so := range sorts {
		ms, n, err := loadKeyMarks(ctx, q, so, envID)
		if err != nil {
			return nil, err
		}
		if len(ms) == 0 {
			continue // no rows
		}
		cum := make([]int64, len(ms)+1)
		for i, m := range ms {
			cum[i+1] = cum[i] + m.n
		}
		mk.names, mk.marks, mk.before = append(mk.names, so), append(mk.marks, ms), append(mk.before, cum)
		mk.total += n
	}
	return mk, nil
}

// grown are the sorts of mk with many more marks than their rows need.
func (mk *mergedKeyMarks) grown(span int64) (grown []string) {
	for k, ms := range mk.marks {
		if n := mk.before[k][len(ms)]; int64(len(ms)) > 2*(n/span)+16 {
			grown = append(grown, mk.names[k])
		}
	}
	return grown
}

// seekMergedKeyMarks reads the marks of sorts and the row in one read
// transaction. grown are the sorts whose marks want a split or a
// compaction.
func (s *Store) seekMergedKeyMarks(ctx context.Context, sorts []string, envID string, t int, desc bool, countUpTo int) (key string, at int64, id string, found bool, grown []string, err error) {
	tx, q, err := s.marksSnapshot(ctx)
	if err != nil {
		return "", 0, "", false, nil, err
	}
	defer func() { _ = tx.Rollback() }()
	mk, err := loadMergedKeyMarks(ctx, q, sorts, envID)
	if err != nil {
		return "", 0, "", false, nil, err
	}
	if countUpTo <= 0 || mk.total <= int64(countUpTo) {
		// Few enough to count: the rows say whether the marks are right.
		var n int64
		for _, so := range mk.names {
			var c int64
			if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+keySorts[so].rows+" WHERE env_id = $1", envID).Scan(&c); err != nil {
				return "", 0, "", false, nil, fmt.Errorf("count the rows of key marks: %w", err)
			}
			n += c
		}
		if n != mk.total {
			return "", 0, "", false, nil, errMarkWrong
		}
	}
	span, _ := s.db.marks.sizes()
	grown = mk.grown(span)
	a := int64(t)
	if desc {
		a = mk.total - 1 - int64(t)
	}
	if a < 0 || a >= mk.total {
		return "", 0, "", false, grown, nil // past the end
	}
	key, at, id, big, err := s.mergedKeyRowAt(ctx, q, envID, mk, a)
	if err != nil {
		return "", 0, "", false, nil, err
	}
	for _, so := range big {
		if !slices.Contains(grown, so) {
			grown = append(grown, so)
		}
	}
	return key, at, id, true, grown, nil
}

// mergedKeyRowAt is the row at index a (0 <= a < mk.total) of the merged
// order of mk's sorts. big are the sorts whose marks it read have more
// rows than the split count.
func (s *Store) mergedKeyRowAt(ctx context.Context, q querier, envID string, mk *mergedKeyMarks, a int64) (key string, at int64, id string, big []string, err error) {
	names, marks, before := mk.names, mk.marks, mk.before
	_, split := s.db.marks.sizes()
	// The marks of all sorts in the sort's order, as the database orders
	// them (its collation of the keys): each is the next of its own sort's.
	var sel []string
	args := []any{envID}
	for k, so := range names {
		args = append(args, so)
		sel = append(sel, fmt.Sprintf("SELECT %d AS s, key, at, id FROM key_marks WHERE env_id = $1 AND sort = $%d", k, k+2))
	}
	rows, err := q.QueryContext(ctx, "SELECT s, key, at, id FROM ("+strings.Join(sel, " UNION ALL ")+") x ORDER BY key, at, id, s", args...)
	if err != nil {
		return "", 0, "", nil, fmt.Errorf("read key marks: %w", err)
	}
	var points []mergedPoint
	var keys []string
	next := make([]int, len(names))
	for rows.Next() {
		var p mergedPoint
		var k string
		if err := rows.Scan(&p.tbl, &k, &p.at, &p.id); err != nil {
			rows.Close()
			return "", 0, "", nil, fmt.Errorf("read key marks: %w", err)
		}
		if p.tbl < 0 || p.tbl >= len(names) || next[p.tbl] >= len(marks[p.tbl]) {
			rows.Close()
			return "", 0, "", nil, errMarkWrong
		}
		p.i = next[p.tbl]
		next[p.tbl]++
		if m := marks[p.tbl][p.i]; m.key != k || m.at != p.at || m.id != p.id {
			rows.Close()
			return "", 0, "", nil, errMarkWrong // (one snapshot: not expected)
		}
		points, keys = append(points, p), append(keys, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", 0, "", nil, fmt.Errorf("read key marks: %w", err)
	}
	// Walk the points, each group of equal ones at once (the first marks
	// of all sorts, at ("", the smallest at, "")): cur[k] is sort k's last
	// mark at or before the point. The chosen point is the last whose
	// upper bound is at most a.
	cur := make([]int, len(names))
	var best struct {
		g      int
		cur    []int
		isMark []bool
		lower  int64
	}
	best.g = -1
	for g := 0; g < len(points); {
		h := g
		isMark := make([]bool, len(names))
		for ; h < len(points) && keys[h] == keys[g] && points[h].at == points[g].at && points[h].id == points[g].id; h++ {
			cur[points[h].tbl], isMark[points[h].tbl] = points[h].i, true
		}
		var lower, slack int64
		for k := range names {
			lower += before[k][cur[k]]
			if !isMark[k] {
				slack += marks[k][cur[k]].n
			}
		}
		if lower > a {
			break
		}
		if lower+slack <= a {
			best.g, best.cur, best.isMark, best.lower = g, slices.Clone(cur), isMark, lower
		}
		g = h
	}
	if best.g < 0 {
		return "", 0, "", nil, errMarkWrong // the first point bounds 0: missed only if the marks are wrong
	}
	point := keyMark{key: keys[best.g], at: points[best.g].at, id: points[best.g].id}
	// The rows before the point exactly: the other sorts' rows from their
	// marks before it up to it, counted. Each mark the page relies on is
	// checked against its rows.
	exact := best.lower
	for k, so := range names {
		i := best.cur[k]
		var n int64
		for _, p := range keyMarkParts(marks[k], i) {
			c, err := s.countPart(ctx, q, so, envID, p)
			if err != nil {
				return "", 0, "", nil, err
			}
			n += c
		}
		if n != marks[k][i].n {
			return "", 0, "", nil, errMarkWrong
		}
		if n > split {
			big = append(big, so)
		}
		if best.isMark[k] {
			continue
		}
		for _, p := range keyMarkParts([]keyMark{marks[k][i], point}, 0) {
			c, err := s.countPart(ctx, q, so, envID, p)
			if err != nil {
				return "", 0, "", nil, err
			}
			exact += c
		}
	}
	r := a - exact
	if r < 0 {
		return "", 0, "", nil, errMarkWrong
	}
	// The row: r rows on from the point in the union of the sorts' rows,
	// each read from the point up to the first of its marks after which
	// it has more than r rows from the point (or to its end).
	var parts []string
	args = nil
	for k, so := range names {
		i := best.cur[k]
		j := i + 1
		for j < len(marks[k]) && before[k][j]-before[k][i+1] < r+1 {
			j++
		}
		bound := []keyMark{point}
		if j < len(marks[k]) {
			bound = append(bound, marks[k][j])
		}
		for _, p := range keyMarkParts(bound, 0) {
			parts = append(parts, fmt.Sprintf("SELECT * FROM (%s) p%d", shiftParams(s.partSQL(so, p, false), len(args)), len(parts)))
			args = append(append(args, envID), p.args...)
		}
	}
	err = q.QueryRowContext(ctx, fmt.Sprintf("SELECT * FROM (%s) x ORDER BY 1, 2, 3 LIMIT 1 OFFSET %d", strings.Join(parts, " UNION ALL "), r), args...).Scan(&key, &at, &id)
	if err == sql.ErrNoRows {
		return "", 0, "", nil, errMarkWrong // the marks count rows that are not there
	}
	if err != nil {
		return "", 0, "", nil, fmt.Errorf("read the row at a key mark: %w", err)
	}
	return key, at, id, big, nil
}

// The assignments of both kinds of one user, role or tenant (?role=viewer
// with kind=all in an environment with roles on instances) in (created_at,
// id) order are that key's run of the merged order by key: its row t is
// row before+t of it, where before counts both tables' rows of the keys
// before it, through their marks (as keyedSeekIn counts one table's).

// mergedKeyedSeekIn is the row at index t (0-based, either order) of the
// assignments of both kinds of key (sort's: "user", "role" or "tenant")
// in envID, and their count. ok is false when the marks cannot say (a
// count found wrong: they are made again in the background); the caller
// then counts and skips.
func (s *Store) mergedKeyedSeekIn(ctx context.Context, sort, envID, key string, t int, desc bool, countUpTo int) (at int64, id string, found bool, total int64, ok bool, err error) {
	sorts := []string{sort, "i:" + sort}
	for _, so := range sorts {
		if _, known := keySorts[so]; !known {
			return 0, "", false, 0, false, nil
		}
	}
	if s.noMarks || s.tx != nil || key == "" {
		return 0, "", false, 0, false, nil
	}
	at, id, found, total, grown, err := s.seekMergedKeyMarksIn(ctx, sorts, envID, key, t, desc, countUpTo)
	if errors.Is(err, errMarkWrong) {
		s.db.marks.disagree.Add(1)
		for _, so := range sorts {
			s.db.marks.upkeep(s, keyMarksTable(so), envID, true)
		}
		return 0, "", false, 0, false, nil
	}
	if err != nil {
		return 0, "", false, 0, false, err
	}
	for _, so := range grown {
		s.db.marks.upkeep(s, keyMarksTable(so), envID, false)
	}
	s.db.marks.hits.Add(1)
	return at, id, found, total, true, nil
}

func (s *Store) seekMergedKeyMarksIn(ctx context.Context, sorts []string, envID, key string, t int, desc bool, countUpTo int) (at int64, id string, found bool, total int64, grown []string, err error) {
	tx, q, err := s.marksSnapshot(ctx)
	if err != nil {
		return 0, "", false, 0, nil, err
	}
	defer func() { _ = tx.Rollback() }()
	mk, err := loadMergedKeyMarks(ctx, q, sorts, envID)
	if err != nil || len(mk.names) == 0 {
		return 0, "", false, 0, nil, err // (no assignments: no marks)
	}
	span, split := s.db.marks.sizes()
	grown = mk.grown(span)
	addGrown := func(so string) {
		if !slices.Contains(grown, so) {
			grown = append(grown, so)
		}
	}
	// Each table's rows before the key and up to it, through its marks:
	// those before the key's first mark and through its last (counted in
	// the database's collation, the marks' order), then the rows of those
	// two marks before the bounds.
	var below, upTo int64
	own := make([]int64, len(mk.names))
	for k, so := range mk.names {
		marks := mk.marks[k]
		var lo, hi int64
		if err := q.QueryRowContext(ctx, "SELECT COALESCE(SUM(CASE WHEN key < $3 THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN key <= $3 THEN 1 ELSE 0 END), 0) FROM key_marks WHERE env_id = $1 AND sort = $2",
			envID, so, key).Scan(&lo, &hi); err != nil {
			return 0, "", false, 0, nil, fmt.Errorf("read key marks: %w", err)
		}
		if lo < 1 || hi < lo || hi > int64(len(marks)) {
			return 0, "", false, 0, nil, errMarkWrong // (the first mark's key, "", is before every key)
		}
		b, err := s.keyRowsBefore(ctx, q, so, envID, marks, int(lo)-1, key, false)
		if err != nil {
			return 0, "", false, 0, nil, err
		}
		u, err := s.keyRowsBefore(ctx, q, so, envID, marks, int(hi)-1, key, true)
		if err != nil {
			return 0, "", false, 0, nil, err
		}
		if u < b {
			return 0, "", false, 0, nil, errMarkWrong
		}
		if marks[lo-1].n > split || marks[hi-1].n > split {
			addGrown(so)
		}
		below, upTo, own[k] = below+b, upTo+u, u-b
	}
	total = upTo - below
	if countUpTo <= 0 || total <= int64(countUpTo) {
		// Few enough to count: the key's rows check the marks.
		for k, so := range mk.names {
			n, err := s.countPart(ctx, q, so, envID, keyPart{cond: "k.key = $2", args: []any{key}})
			if err != nil {
				return 0, "", false, 0, nil, err
			}
			if n != own[k] {
				return 0, "", false, 0, nil, errMarkWrong
			}
		}
	}
	if t < 0 || int64(t) >= total {
		return 0, "", false, total, grown, nil // past the end
	}
	a := below + int64(t)
	if desc {
		a = upTo - 1 - int64(t)
	}
	k, at, id, big, err := s.mergedKeyRowAt(ctx, q, envID, mk, a)
	if err != nil {
		return 0, "", false, 0, nil, err
	}
	if k != key {
		return 0, "", false, 0, nil, errMarkWrong
	}
	for _, so := range big {
		addGrown(so)
	}
	return at, id, true, total, grown, nil
}
