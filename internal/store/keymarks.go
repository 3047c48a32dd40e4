package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// A deep page by number of the tenant assignments sorted by the key of
// their user, role or tenant (v1's sort=user|role|tenant) counted its way
// over every key before it: 80–430 ms half-way through 1M assignments.
// key_marks (migration 00028) are list marks (marks.go) along that order,
// (key, created_at, id), one set per sort, kept exact by triggers: the
// row at any depth is found by adding up the counts to the mark before it,
// then stepping over at most that mark's rows. A mark's rows are read in
// up to three parts, each of which an index reads in order: the rest of
// the mark's own key after it, the keys between it and the next mark, and
// the next mark's key before it.
//
// The marks' upkeep is the list marks' (marks.go): a bulk insert splits
// the marks it grew, a page that meets a large mark or many nearly empty
// ones has them split or merged in the background, and a count found
// wrong has them made again. Their "table" there is keyMarksTable(sort).

// keySorts are the sorts with key marks: those of the tenant assignments
// ("user", "role", "tenant") and of the assignments on resource instances
// ("i:user", "i:role", "i:tenant": the list of both kinds sorted by key
// merges both tables' marks, keymerge.go). For each: the table of the
// keys (k), the table of the rows, and the join from a key row to its
// rows (a), %[1]s the join's keyword.
var keySorts = map[string]keySortOf{
	"user":     {table: "authz_users", rows: "authz_role_assignments", join: "%[1]s authz_role_assignments a ON a.user_id = k.id", ofKey: "FROM authz_role_assignments a WHERE a.user_id = k.id"},
	"role":     {table: "authz_roles", rows: "authz_role_assignments", join: "%[1]s authz_role_assignments a ON a.role_id = k.id", ofKey: "FROM authz_role_assignments a WHERE a.role_id = k.id"},
	"tenant":   {table: "authz_tenants", rows: "authz_role_assignments", join: "%[1]s authz_role_assignments a ON a.tenant_id = k.id", ofKey: "FROM authz_role_assignments a WHERE a.tenant_id = k.id"},
	"i:user":   {table: "authz_users", rows: "authz_instance_assignments", join: "%[1]s authz_instance_assignments a ON a.user_id = k.id", ofKey: "FROM authz_instance_assignments a WHERE a.user_id = k.id"},
	"i:role":   {table: "authz_resource_roles", rows: "authz_instance_assignments", join: "%[1]s authz_instance_assignments a ON a.role_id = k.id", ofKey: "FROM authz_instance_assignments a WHERE a.role_id = k.id"},
	"i:tenant": {table: "authz_tenants", rows: "authz_instance_assignments", join: "%[1]s authz_instance_assignments a ON a.tenant_id = k.id", ofKey: "FROM authz_instance_assignments a WHERE a.tenant_id = k.id"},

	// Users and tenants sorted by a column of their own (migration 00031),
	// in the list's order (column, id): the rows are the keys' table's,
	// and a mark's (key, at, id) holds the column in key (text) or at
	// (integer), the other constant.
	"u:key":        ownColumn("authz_users", "k.key", zeroAt),
	"u:email":      ownColumn("authz_users", "k.email", zeroAt),
	"u:updated_at": ownColumn("authz_users", "''", "k.updated_at"),
	"t:key":        ownColumn("authz_tenants", "k.key", zeroAt),
	"t:name":       ownColumn("authz_tenants", "k.name", zeroAt),
	"t:updated_at": ownColumn("authz_tenants", "''", "k.updated_at"),
}

// keySortOf is a sort with key marks (keySorts, keySortFor).
type keySortOf struct {
	table string // the keys' table (k)
	rows  string // the rows' table (a)
	join  string // k to a, %[1]s the join's keyword
	ofKey string // "FROM ... WHERE ..." of the rows (a) of key row k (PostgreSQL)
	// rowCond, when set, is the condition on a row (a) that the marks
	// count (one role's rows: roleUserSort).
	rowCond string
	// own, for a table sorted by a column of its own (rows and keys are
	// one table, k): the parts' conditions on k.key, a.created_at and
	// a.id rewritten to its expressions; sel and order are the rows'
	// (key, at, id) and their order.
	own        *strings.Replacer
	sel, order string
}

// roleUserSort prefixes the sort of the key marks of one role's tenant
// assignments sorted by user (migration 00035): "ru:" and the role's id.
// A deep page by number of ?role=viewer&sort=user, when the role holds
// more rows than are read whole and sorted, is found through them: the
// walk over every user before the page, counting each one's rows of the
// role, took 0.2-0.9 s half-way through a role of 500,000 rows.
const roleUserSort = "ru:"

// keySortFor is the sort with key marks named sort: one of keySorts, or
// a role's sort by user (roleUserSort), whose id is written into the
// marks' reads as a literal (and so must be of the characters ids are
// made of; another id's list is read by the walk).
func keySortFor(sort string) (keySortOf, bool) {
	if ks, ok := keySorts[sort]; ok {
		return ks, true
	}
	role, ok := strings.CutPrefix(sort, roleUserSort)
	if !ok || !literalID(role) {
		return keySortOf{}, false
	}
	ks := keySorts["user"]
	ks.rowCond = "a.role_id = '" + role + "'"
	return ks, true
}

// literalID says whether id may be written into SQL as a literal: 1 to
// 128 letters, digits, '-', '_', '.' or ':' (UUIDs, and the ids tests and
// imports make).
func literalID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// rowsSQL selects what of envID's rows that a sort's marks count (what
// and end around them: "COUNT(*)", or "1" and " LIMIT 1"), with its
// arguments. A role's rows are its environment's: they are read by the
// role's index alone (through the environment's, or checking each row's
// environment, SQLite read every row of the role from the table).
func (ks keySortOf) rowsSQL(envID, what, end string) (string, []any) {
	if ks.rowCond == "" {
		return "SELECT " + what + " FROM " + ks.rows + " a WHERE a.env_id = $1" + end, []any{envID}
	}
	return "SELECT " + what + " FROM " + ks.rows + " a WHERE " + ks.rowCond + end, nil
}

// andRow is " AND " and the sort's row condition (rowCond), plus its
// prefix (SQLite's "+", which keeps the condition out of the index
// choice), or "" when the sort counts every row.
func (ks keySortOf) andRow(plus string) string {
	if ks.rowCond == "" {
		return ""
	}
	return " AND " + plus + ks.rowCond
}

// zeroAt is the at of a sort by a text column: the same for every row.
const zeroAt = "CAST(0 AS BIGINT)"

// ownColumn is the sort of table by its column key (text) or at
// (integer), then id.
func ownColumn(table, key, at string) keySortOf {
	order := key + ", k.id"
	if key == "''" {
		order = at + ", k.id"
	}
	// The bounds of keyMarkParts as conditions an index range takes: a
	// text column's rows all have at 0 (a mark's at is 0, or the smallest
	// at for the first mark, whose id "" is before every id), so the
	// bound is on id alone; updated_at's, a row comparison.
	after, before5, before3 := "CAST($3 AS BIGINT) <= 0 AND k.id >= $4", "CAST($5 AS BIGINT) >= 0 AND k.id < $6", "CAST($3 AS BIGINT) >= 0 AND k.id < $4"
	if key == "''" {
		after, before5, before3 = "("+at+", k.id) >= ($3, $4)", "("+at+", k.id) < ($5, $6)", "("+at+", k.id) < ($3, $4)"
	}
	return keySortOf{table: table, rows: table, own: strings.NewReplacer(
		keyAfter, after, keyBefore5, before5, keyBefore3, before3,
		"k.key", key, "a.created_at", at, "a.id", "k.id"),
		sel: key + ", " + at + ", k.id", order: order}
}

// keyMarksTable is the name the marks' upkeep knows a sort's key marks by.
func keyMarksTable(sort string) string { return "key_marks:" + sort }

type keyMark struct {
	key string
	at  int64
	id  string
	n   int64
}

// readKeyMarks reads envID's key marks of sort in the sort's order (the
// database's collation of the keys, as the list's).
func readKeyMarks(ctx context.Context, q querier, sort, envID string) ([]keyMark, error) {
	rows, err := q.QueryContext(ctx, "SELECT key, at, id, n FROM key_marks WHERE env_id = $1 AND sort = $2 ORDER BY key, at, id", envID, sort)
	if err != nil {
		return nil, fmt.Errorf("read key marks: %w", err)
	}
	defer rows.Close()
	var marks []keyMark
	for rows.Next() {
		var m keyMark
		if err := rows.Scan(&m.key, &m.at, &m.id, &m.n); err != nil {
			return nil, fmt.Errorf("read key marks: %w", err)
		}
		marks = append(marks, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read key marks: %w", err)
	}
	return marks, nil
}

// keyPart is a condition on a key's row (k) and its assignments (a) and
// its parameters after $1 (the environment): one of the parts a mark's
// rows are read in, in order.
type keyPart struct {
	cond string
	args []any
	keys bool // a condition on the keys alone (the keys between two marks')
}

// The bounds of a part within a key: at or after a mark ($3, $4), before
// the next ($5, $6), before a mark ($3, $4).
const (
	keyAfter   = "a.created_at >= $3 AND (a.created_at > $3 OR a.id >= $4)"
	keyBefore5 = "a.created_at <= $5 AND (a.created_at < $5 OR a.id < $6)"
	keyBefore3 = "a.created_at <= $3 AND (a.created_at < $3 OR a.id < $4)"
)

// keyMarkParts are the parts of the rows of marks[i], up to the next mark.
func keyMarkParts(marks []keyMark, i int) []keyPart {
	m := marks[i]
	after := keyAfter
	if i+1 == len(marks) {
		return []keyPart{{"k.key = $2 AND " + after, []any{m.key, m.at, m.id}, false}, {"k.key > $2", []any{m.key}, true}}
	}
	next := marks[i+1]
	if next.key == m.key {
		return []keyPart{{"k.key = $2 AND " + after + " AND " + keyBefore5, []any{m.key, m.at, m.id, next.at, next.id}, false}}
	}
	return []keyPart{
		{"k.key = $2 AND " + after, []any{m.key, m.at, m.id}, false},
		{"k.key > $2 AND k.key < $3", []any{m.key, next.key}, true},
		{"k.key = $2 AND " + keyBefore3, []any{next.key, next.at, next.id}, false},
	}
}

// keyFrom is the FROM clause of sort's keys joined to their assignments,
// keys first (SQLite keeps a CROSS JOIN's order: the keys' (env_id, key)
// index, then each key's (fk, created_at, id) range, already in order).
func (s *Store) keyFrom(sort string) string {
	ks, _ := keySortFor(sort)
	join, plus := "JOIN", ""
	if s.db.Engine != Postgres {
		// (A role's condition hidden from SQLite's index choice, which
		// would read the role's rows by its index instead of each key's.)
		join, plus = "CROSS JOIN", "+"
	}
	return fmt.Sprintf(" FROM %s k %s%s WHERE k.env_id = $1 AND ", ks.table, fmt.Sprintf(ks.join, join), ks.andRow(plus))
}

// partSQL is the query of a part's rows (k.key, a.created_at, a.id) in
// the list's order, or (count) of their number. On PostgreSQL the keys
// of a range of keys are read first, by their index, and each key's
// assignments by theirs: a join over a range of keys was planned as a
// parallel scan of every key of the table (the range's estimate is a
// statistics bucket, 1% of the keys, where it holds a few dozen).
func (s *Store) partSQL(sort string, p keyPart, count bool) string {
	ks, _ := keySortFor(sort)
	if ks.own != nil {
		from := fmt.Sprintf(" FROM %s k WHERE k.env_id = $1 AND %s", ks.table, ks.own.Replace(p.cond))
		if count {
			return "SELECT COUNT(*)" + from
		}
		return "SELECT " + ks.sel + from + " ORDER BY " + ks.order
	}
	if s.db.Engine != Postgres || !p.keys {
		if count {
			return "SELECT COUNT(*)" + s.keyFrom(sort) + p.cond
		}
		return "SELECT k.key, a.created_at, a.id" + s.keyFrom(sort) + p.cond + " ORDER BY k.key, a.created_at, a.id"
	}
	keys := fmt.Sprintf("(SELECT k.id, k.key FROM %s k WHERE k.env_id = $1 AND %s OFFSET 0) k", ks.table, p.cond)
	ofKey := ks.ofKey + ks.andRow("")
	if count {
		return fmt.Sprintf("SELECT COALESCE(SUM(c.n), 0) FROM %s CROSS JOIN LATERAL (SELECT COUNT(*) AS n %s) c", keys, ofKey)
	}
	return fmt.Sprintf("SELECT k.key, a.created_at, a.id FROM %s CROSS JOIN LATERAL (SELECT a.created_at, a.id %s ORDER BY a.created_at, a.id OFFSET 0) a ORDER BY k.key, a.created_at, a.id", keys, ofKey)
}

// keyCounts reads the keys of a part over a range of keys (p.keys), in
// the sort's order, each with its number of rows, from an index where
// one holds the key's column and the sort's row condition ((user_id,
// tenant_id, role_id) for a role's sort by user); keys of none are left
// out.
func (s *Store) keyCounts(ctx context.Context, q querier, sort, envID string, p keyPart) ([]keyCount, error) {
	ks, _ := keySortFor(sort)
	plus := ""
	if s.db.Engine != Postgres {
		plus = "+" // (SQLite: each key's entries, not the role's)
	}
	rows, err := q.QueryContext(ctx, fmt.Sprintf("SELECT key, n FROM (SELECT k.key, (SELECT COUNT(*) %s%s) AS n FROM %s k WHERE k.env_id = $1 AND %s) c WHERE n > 0 ORDER BY key",
		ks.ofKey, ks.andRow(plus), ks.table, p.cond), append([]any{envID}, p.args...)...)
	if err != nil {
		return nil, fmt.Errorf("count the rows of a key mark's keys: %w", err)
	}
	defer rows.Close()
	var out []keyCount
	for rows.Next() {
		var c keyCount
		if err := rows.Scan(&c.key, &c.n); err != nil {
			return nil, fmt.Errorf("count the rows of a key mark's keys: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count the rows of a key mark's keys: %w", err)
	}
	return out, nil
}

// countPart counts a part's rows.
func (s *Store) countPart(ctx context.Context, q querier, sort, envID string, p keyPart) (int64, error) {
	var n int64
	err := q.QueryRowContext(ctx, s.partSQL(sort, p, true), append([]any{envID}, p.args...)...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("read the rows of a key mark: %w", err)
	}
	return n, nil
}

// keyedSeek is where a deep page of envID's tenant assignments sorted by
// sort starts: the row at index t (0-based) of that order, ascending, or
// of the reverse order with desc (the key, created_at and id of the row
// before the page). When the marks count at most countUpTo rows (or
// countUpTo <= 0), their total is checked against the rows, in the same
// snapshot. found is false when there is no such row; ok is false when the
// marks cannot say (a count found wrong: they are made again in the
// background), and the caller finds the row by a skip.
func (s *Store) keyedSeek(ctx context.Context, sort, envID string, t int, desc bool, countUpTo int) (key string, at int64, id string, found, ok bool, err error) {
	if _, known := keySortFor(sort); !known || s.noMarks || s.tx != nil {
		return "", 0, "", false, false, nil
	}
	key, at, id, found, upkeep, err := s.seekKeyMarks(ctx, sort, envID, t, desc, countUpTo)
	if errors.Is(err, errMarkWrong) {
		s.db.marks.disagree.Add(1)
		s.db.marks.upkeep(s, keyMarksTable(sort), envID, true)
		return "", 0, "", false, false, nil
	}
	if err != nil {
		return "", 0, "", false, false, err
	}
	if upkeep {
		s.db.marks.upkeep(s, keyMarksTable(sort), envID, false)
	}
	s.db.marks.hits.Add(1)
	return key, at, id, found, true, nil
}

// seekKeyMarks reads the marks and the row in one read transaction.
// upkeep reports that the marks want a split or a compaction.
func (s *Store) seekKeyMarks(ctx context.Context, sort, envID string, t int, desc bool, countUpTo int) (key string, at int64, id string, found, upkeep bool, err error) {
	tx, q, err := s.marksSnapshot(ctx)
	if err != nil {
		return "", 0, "", false, false, err
	}
	defer func() { _ = tx.Rollback() }()
	marks, total, err := loadKeyMarks(ctx, q, sort, envID)
	if err != nil || len(marks) == 0 {
		return "", 0, "", false, false, err // (no assignments: no marks)
	}
	if countUpTo <= 0 || total <= int64(countUpTo) {
		// Few enough to count: the rows say whether the marks are right
		// (in this snapshot: a write since the caller's count is no
		// disagreement).
		var n int64
		ks, _ := keySortFor(sort)
		query, args := ks.rowsSQL(envID, "COUNT(*)", "")
		if err := q.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
			return "", 0, "", false, false, fmt.Errorf("count the rows of key marks: %w", err)
		}
		if n != total {
			return "", 0, "", false, false, errMarkWrong
		}
	}
	span, _ := s.db.marks.sizes()
	upkeep = int64(len(marks)) > 2*(total/span)+16
	a := int64(t)
	if desc {
		a = total - 1 - int64(t)
	}
	if a < 0 || a >= total {
		return "", 0, "", false, upkeep, nil // past the end
	}
	key, at, id, big, err := s.keyRowAt(ctx, q, sort, envID, marks, a)
	if err != nil {
		return "", 0, "", false, false, err
	}
	return key, at, id, true, upkeep || big, nil
}

// loadKeyMarks reads envID's key marks of sort and checks their shape:
// none when the environment has no assignment, else a first mark at the
// start and no negative count (errMarkWrong otherwise). total is their
// rows.
func loadKeyMarks(ctx context.Context, q querier, sort, envID string) (marks []keyMark, total int64, err error) {
	marks, err = readKeyMarks(ctx, q, sort, envID)
	if err != nil {
		return nil, 0, err
	}
	if len(marks) == 0 {
		var one int
		ks, _ := keySortFor(sort)
		query, args := ks.rowsSQL(envID, "1", " LIMIT 1")
		err := q.QueryRowContext(ctx, query, args...).Scan(&one)
		if err == sql.ErrNoRows {
			return nil, 0, nil
		}
		if err != nil {
			return nil, 0, fmt.Errorf("read key marks: %w", err)
		}
		return nil, 0, errMarkWrong
	}
	if marks[0].key != "" || marks[0].at != markMin || marks[0].id != "" {
		return nil, 0, errMarkWrong
	}
	for _, m := range marks {
		if m.n < 0 {
			return nil, 0, errMarkWrong
		}
		total += m.n
	}
	return marks, total, nil
}

// keyRowAt is the row at index a (0 <= a < the marks' total) of the sort's
// order: the mark it falls in, whose rows are counted part by part (a
// count gone wrong shows here), then r rows into the part it falls in.
// big says that mark has more rows than the split count.
func (s *Store) keyRowAt(ctx context.Context, q querier, sort, envID string, marks []keyMark, a int64) (key string, at int64, id string, big bool, err error) {
	_, split := s.db.marks.sizes()
	var cum int64
	for i, m := range marks {
		if a >= cum+m.n {
			cum += m.n
			continue
		}
		parts := keyMarkParts(marks, i)
		counts := make([]int64, len(parts))
		perKey := make([][]keyCount, len(parts))
		ks, _ := keySortFor(sort)
		var n int64
		for j, p := range parts {
			if p.keys && ks.rowCond != "" {
				// A role's rows between two marks' keys may be spread
				// over thousands of keys (a role few users hold): each
				// key's count from an index, and the row read within its
				// key, instead of a skip over every key's rows read from
				// the table for their role.
				if perKey[j], err = s.keyCounts(ctx, q, sort, envID, p); err != nil {
					return "", 0, "", false, err
				}
				for _, c := range perKey[j] {
					counts[j] += int64(c.n)
				}
			} else if counts[j], err = s.countPart(ctx, q, sort, envID, p); err != nil {
				return "", 0, "", false, err
			}
			n += counts[j]
		}
		if n != m.n {
			return "", 0, "", false, errMarkWrong
		}
		r := a - cum
		for j, p := range parts {
			if r >= counts[j] {
				r -= counts[j]
				continue
			}
			if perKey[j] != nil {
				for _, c := range perKey[j] {
					if r >= int64(c.n) {
						r -= int64(c.n)
						continue
					}
					p = keyPart{cond: "k.key = $2", args: []any{c.key}}
					break
				}
			}
			err := q.QueryRowContext(ctx, fmt.Sprintf("%s LIMIT 1 OFFSET %d", s.partSQL(sort, p, false), r),
				append([]any{envID}, p.args...)...).Scan(&key, &at, &id)
			if err != nil {
				return "", 0, "", false, fmt.Errorf("read the row at a key mark: %w", err)
			}
			return key, at, id, m.n > split, nil
		}
	}
	return "", 0, "", false, errMarkWrong
}

// A list of the tenant assignments of one user, role or tenant in
// (created_at, id) order (?role=viewer, say) is that key's run of the
// sort's order (key, created_at, id): its row t is row before+t of the
// whole order, where before counts the rows of the keys before it. The
// marks give before, and the key's count, without reading more than the
// rows of the mark the key starts in and of the one it ends in.

// keyMarksOf is the marks' seek of the list of the tenant assignments of
// key (sort's: a user, role or tenant of envID) in (created_at, id) order.
func (s *Store) keyMarksOf(sort, envID, key string) marksSeek {
	if _, known := keySortFor(sort); !known || key == "" {
		return nil
	}
	return func(ctx context.Context, t int, desc bool, countUpTo int) (int64, string, bool, int64, bool, error) {
		return s.keyedSeekIn(ctx, sort, envID, key, t, desc, countUpTo)
	}
}

// keyedSeekIn is markedSeek for the list of key's assignments: the row at
// index t of it (0-based, either order) and its count. ok is false when
// the marks cannot say (a count found wrong: they are made again in the
// background); the caller then counts and skips.
func (s *Store) keyedSeekIn(ctx context.Context, sort, envID, key string, t int, desc bool, countUpTo int) (at int64, id string, found bool, total int64, ok bool, err error) {
	if s.noMarks || s.tx != nil {
		return 0, "", false, 0, false, nil
	}
	at, id, found, total, upkeep, err := s.seekKeyMarksIn(ctx, sort, envID, key, t, desc, countUpTo)
	if errors.Is(err, errMarkWrong) {
		s.db.marks.disagree.Add(1)
		s.db.marks.upkeep(s, keyMarksTable(sort), envID, true)
		return 0, "", false, 0, false, nil
	}
	if err != nil {
		return 0, "", false, 0, false, err
	}
	if upkeep {
		s.db.marks.upkeep(s, keyMarksTable(sort), envID, false)
	}
	s.db.marks.hits.Add(1)
	return at, id, found, total, true, nil
}

func (s *Store) seekKeyMarksIn(ctx context.Context, sort, envID, key string, t int, desc bool, countUpTo int) (at int64, id string, found bool, total int64, upkeep bool, err error) {
	tx, q, err := s.marksSnapshot(ctx)
	if err != nil {
		return 0, "", false, 0, false, err
	}
	defer func() { _ = tx.Rollback() }()
	marks, all, err := loadKeyMarks(ctx, q, sort, envID)
	if err != nil || len(marks) == 0 {
		return 0, "", false, 0, false, err
	}
	// How many marks are before the key, and up to it, in the database's
	// collation (the marks' order).
	var below, through int64
	if err := q.QueryRowContext(ctx, "SELECT COALESCE(SUM(CASE WHEN key < $3 THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN key <= $3 THEN 1 ELSE 0 END), 0) FROM key_marks WHERE env_id = $1 AND sort = $2",
		envID, sort, key).Scan(&below, &through); err != nil {
		return 0, "", false, 0, false, fmt.Errorf("read key marks: %w", err)
	}
	if below < 1 || through < below || through > int64(len(marks)) {
		return 0, "", false, 0, false, errMarkWrong // (the first mark's key, "", is before every key)
	}
	// (The marks at the key's two ends are counted on every such page:
	// one grown past the split count is split, as the one a row is in.)
	_, split := s.db.marks.sizes()
	before, err := s.keyRowsBefore(ctx, q, sort, envID, marks, int(below)-1, key, false)
	if err != nil {
		return 0, "", false, 0, false, err
	}
	upTo, err := s.keyRowsBefore(ctx, q, sort, envID, marks, int(through)-1, key, true)
	if err != nil {
		return 0, "", false, 0, false, err
	}
	big := marks[below-1].n > split || marks[through-1].n > split
	total = upTo - before
	if total < 0 {
		return 0, "", false, 0, false, errMarkWrong
	}
	if countUpTo <= 0 || total <= int64(countUpTo) {
		// Few enough to count: the key's rows check the marks.
		n, err := s.countPart(ctx, q, sort, envID, keyPart{cond: "k.key = $2", args: []any{key}})
		if err != nil {
			return 0, "", false, 0, false, err
		}
		if n != total {
			return 0, "", false, 0, false, errMarkWrong
		}
	}
	span, _ := s.db.marks.sizes()
	upkeep = big || int64(len(marks)) > 2*(all/span)+16
	if t < 0 || int64(t) >= total {
		return 0, "", false, total, upkeep, nil // past the end
	}
	a := before + int64(t)
	if desc {
		a = upTo - 1 - int64(t)
	}
	k, at, id, bigAt, err := s.keyRowAt(ctx, q, sort, envID, marks, a)
	if err != nil {
		return 0, "", false, 0, false, err
	}
	if k != key {
		return 0, "", false, 0, false, errMarkWrong
	}
	return at, id, true, total, upkeep || bigAt, nil
}

// keyRowsBefore counts the rows of the sort's order before key (or, with
// through, up to and with it), where marks[i] is the last mark before key
// (with through, the last at or before it): the rows of the marks before
// marks[i], and those of marks[i] before the bound (the rest of its own
// key after it, and the keys after its key up to the bound; all of them
// are marks[i]'s, since the next mark is at or after the bound).
func (s *Store) keyRowsBefore(ctx context.Context, q querier, sort, envID string, marks []keyMark, i int, key string, through bool) (int64, error) {
	var n int64
	for _, m := range marks[:i] {
		n += m.n
	}
	m := marks[i]
	after := "k.key = $2 AND " + keyAfter
	parts := []keyPart{{after, []any{m.key, m.at, m.id}, false}}
	switch {
	case through && m.key == key:
		// marks[i]'s rows up to the next mark, after the key, are its own.
	case through:
		parts = append(parts, keyPart{"k.key > $2 AND k.key <= $3", []any{m.key, key}, true})
	default:
		parts = append(parts, keyPart{"k.key > $2 AND k.key < $3", []any{m.key, key}, true})
	}
	var in int64
	for _, p := range parts {
		c, err := s.countPart(ctx, q, sort, envID, p)
		if err != nil {
			return 0, err
		}
		in += c
	}
	if in > m.n {
		return 0, errMarkWrong
	}
	return n + in, nil
}

// splitKeyMarks is SplitMarks for a sort's key marks.
func (s *Store) splitKeyMarks(ctx context.Context, sort, envID string) error {
	return s.InTx(ctx, func(tx *Store) error {
		q := tx.writer()
		if held, err := tx.lockMarks(ctx, envID); err != nil || !held {
			return err // (not held: never written, no marks)
		}
		marks, err := readKeyMarks(ctx, q, sort, envID)
		if err != nil {
			return err
		}
		span, split := s.db.marks.sizes()
		var total int64
		for i, m := range marks {
			total += m.n
			if m.n <= split {
				continue
			}
			if err := tx.splitKeyMark(ctx, q, sort, envID, marks, i, span); err != nil {
				return err
			}
			s.db.marks.splits.Add(1)
		}
		if int64(len(marks)) <= 2*(total/span)+16 {
			return nil
		}
		// Many more marks than the rows need: a mark takes in the next
		// while together they count at most span rows.
		if marks, err = readKeyMarks(ctx, q, sort, envID); err != nil {
			return err
		}
		counts := make([]int64, len(marks))
		for i, m := range marks {
			counts[i] = m.n
		}
		return compactMarks(counts, span, func(j int) error {
			if _, err := q.ExecContext(ctx, "DELETE FROM key_marks WHERE env_id = $1 AND sort = $2 AND key = $3 AND at = $4 AND id = $5", envID, sort, marks[j].key, marks[j].at, marks[j].id); err != nil {
				return fmt.Errorf("compact key marks: %w", err)
			}
			return nil
		}, func(i int, n int64) error {
			if _, err := q.ExecContext(ctx, "UPDATE key_marks SET n = $6 WHERE env_id = $1 AND sort = $2 AND key = $3 AND at = $4 AND id = $5", envID, sort, marks[i].key, marks[i].at, marks[i].id, n); err != nil {
				return fmt.Errorf("compact key marks: %w", err)
			}
			return nil
		})
	})
}

// rebuildKeyMarks is RebuildMarks for a sort's key marks.
func (s *Store) rebuildKeyMarks(ctx context.Context, sort, envID string) error {
	return s.InTx(ctx, func(tx *Store) error {
		q := tx.writer()
		if _, err := tx.lockMarks(ctx, envID); err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, "DELETE FROM key_marks WHERE env_id = $1 AND sort = $2", envID, sort); err != nil {
			return fmt.Errorf("rebuild key marks: %w", err)
		}
		if role, ok := strings.CutPrefix(sort, roleUserSort); ok {
			// A role deleted since the page that asked for this takes
			// its marks with it: none made again for it.
			var one int
			err := q.QueryRowContext(ctx, "SELECT 1 FROM authz_roles WHERE id = $1 AND env_id = $2", role, envID).Scan(&one)
			if err == sql.ErrNoRows {
				return nil
			}
			if err != nil {
				return fmt.Errorf("rebuild key marks: %w", err)
			}
		}
		if _, err := q.ExecContext(ctx, "INSERT INTO key_marks (env_id, sort, key, at, id, n) VALUES ($1, $2, '', $3, '', 0)", envID, sort, int64(markMin)); err != nil {
			return fmt.Errorf("rebuild key marks: %w", err)
		}
		span, _ := s.db.marks.sizes()
		return tx.splitKeyMark(ctx, q, sort, envID, []keyMark{{at: markMin}}, 0, span)
	})
}

// splitKeyMark reads the rows of marks[i] (up to the next mark), part by
// part, and puts a mark on every span-th, each counting its rows.
func (s *Store) splitKeyMark(ctx context.Context, q querier, sort, envID string, marks []keyMark, i int, span int64) error {
	m := marks[i]
	var made []keyMark
	cur := keyMark{key: m.key, at: m.at, id: m.id}
	for _, p := range keyMarkParts(marks, i) {
		rows, err := q.QueryContext(ctx, s.partSQL(sort, p, false), append([]any{envID}, p.args...)...)
		if err != nil {
			return fmt.Errorf("split key marks: %w", err)
		}
		for rows.Next() {
			var r keyMark
			if err := rows.Scan(&r.key, &r.at, &r.id); err != nil {
				rows.Close()
				return fmt.Errorf("split key marks: %w", err)
			}
			if cur.n == span {
				made = append(made, cur)
				cur = r
			}
			cur.n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("split key marks: %w", err)
		}
	}
	made = append(made, cur)
	if _, err := q.ExecContext(ctx, "UPDATE key_marks SET n = $6 WHERE env_id = $1 AND sort = $2 AND key = $3 AND at = $4 AND id = $5", envID, sort, made[0].key, made[0].at, made[0].id, made[0].n); err != nil {
		return fmt.Errorf("split key marks: %w", err)
	}
	return chunks(made[1:], 200, func(part []keyMark) error {
		args := make([]any, 0, len(part)*6)
		for _, n := range part {
			args = append(args, envID, sort, n.key, n.at, n.id, n.n)
		}
		if _, err := q.ExecContext(ctx, "INSERT INTO key_marks (env_id, sort, key, at, id, n) VALUES "+s.placeholders(len(part), 6), args...); err != nil {
			return fmt.Errorf("split key marks: %w", err)
		}
		return nil
	})
}

// splitGrownKeyMarks splits the key marks of envIDs that a bulk insert of
// assignments into rows (a table of assignments) grew past the split
// count.
func (s *Store) splitGrownKeyMarks(ctx context.Context, rows string, envIDs []string) error {
	_, split := s.db.marks.sizes()
	for _, env := range envIDs {
		var sorts []string
		for sort, ks := range keySorts {
			if ks.rows == rows {
				sorts = append(sorts, sort)
			}
		}
		if rows == "authz_role_assignments" {
			// The roles' sorts by user (roleUserSort) with a mark grown
			// past the split count.
			grown, err := s.grownRoleSorts(ctx, env, split)
			if err != nil {
				return err
			}
			sorts = append(sorts, grown...)
		}
		for _, sort := range sorts {
			var one int
			err := s.writer().QueryRowContext(ctx, "SELECT 1 FROM key_marks WHERE env_id = $1 AND sort = $2 AND n > $3 LIMIT 1", env, sort, split).Scan(&one)
			if err == sql.ErrNoRows {
				continue
			}
			if err != nil {
				return fmt.Errorf("split key marks: %w", err)
			}
			if err := s.splitKeyMarks(ctx, sort, env); err != nil {
				return err
			}
		}
	}
	return nil
}

// grownRoleSorts are envID's roles' sorts by user (roleUserSort) with a
// mark of more than split rows.
func (s *Store) grownRoleSorts(ctx context.Context, envID string, split int64) ([]string, error) {
	// (A prefix, not a range of sorts: in a database's collation ';'
	// need not follow ':'.)
	rows, err := s.writer().QueryContext(ctx, "SELECT DISTINCT sort FROM key_marks WHERE env_id = $1 AND substr(sort, 1, $2) = $3 AND n > $4", envID, len(roleUserSort), roleUserSort, split)
	if err != nil {
		return nil, fmt.Errorf("split key marks: %w", err)
	}
	defer rows.Close()
	var sorts []string
	for rows.Next() {
		var sort string
		if err := rows.Scan(&sort); err != nil {
			return nil, fmt.Errorf("split key marks: %w", err)
		}
		if _, known := keySortFor(sort); known {
			sorts = append(sorts, sort)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("split key marks: %w", err)
	}
	return sorts, nil
}

// keyMarksSort is the sort of a key marks' upkeep table name, if it is one.
func keyMarksSort(table string) (string, bool) {
	sort, ok := strings.CutPrefix(table, "key_marks:")
	if _, known := keySortFor(sort); !ok || !known {
		return "", false
	}
	return sort, true
}

// ownSorted is listQuery.sorted for envID's users or tenants (table), or
// nil when the list is filtered (envOnly false): a sort by key, email or
// name, or updated_at through its key marks.
func (s *Store) ownSorted(table, envID string, envOnly bool) func(sort string) sortSeek {
	if !envOnly {
		return nil
	}
	var prefix string
	switch table {
	case "authz_users":
		prefix = "u:"
	case "authz_tenants":
		prefix = "t:"
	default:
		return nil
	}
	return func(sort string) sortSeek {
		ks, known := keySorts[prefix+sort]
		if !known || ks.rows != table {
			return nil
		}
		return func(ctx context.Context, t int, desc bool, countUpTo int) (any, string, bool, bool, error) {
			key, at, id, found, ok, err := s.keyedSeek(ctx, prefix+sort, envID, t, desc, countUpTo)
			if sort == "updated_at" {
				return at, id, found, ok, err
			}
			return key, id, found, ok, err
		}
	}
}
