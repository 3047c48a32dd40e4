package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/facts"
)

// MergedCursorAt is the cursor of the merged list of both kinds of
// assignment (listMergedAssignments) positioned just before created_at
// at: what a walk would hand out there, for benchmarks that start deep in
// a list without walking to it.
func MergedCursorAt(f facts.AssignmentFilter, desc bool, at time.Time) string {
	id := "0" // before every id of that instant: ids are UUIDs
	if desc {
		id = "g" // after every id (hex digits and dashes sort before g)
	}
	return encodeCursor(cursorPos{Bind: mergedBinding(f, desc), Key: micros(at), ID: id})
}

// SetDeepOffset sets the offset from which a page asked for by number is
// read through the row before it, for a benchmark to time the plain
// OFFSET read beside it; it returns a func that restores the default.
// Never in a parallel test.
func SetDeepOffset(n int) (restore func()) {
	old := deepOffset
	deepOffset = n
	return func() { deepOffset = old }
}

// SetMergedByNumber sets whether shallow pages by number of the
// assignments of both kinds are read merged (as by cursor) or from the
// sorted union of both tables, for a benchmark to time both; it returns a
// func that restores the default. Never in a parallel test.
func SetMergedByNumber(on bool) (restore func()) {
	old := mergedByNumber
	mergedByNumber = on
	return func() { mergedByNumber = old }
}

// WithoutAnchors is s reading every deep page by number by a skip, never
// through a kept cursor (anchor.go), for a test or a benchmark to compare
// the two on the same node.
func WithoutAnchors(s *Store) *Store {
	c := *s
	c.noAnchors = true
	return &c
}

// WithoutMarks is s finding every deep page's first row by a skip, never
// through list_marks (marks.go), for a test or a benchmark to compare.
func WithoutMarks(s *Store) *Store {
	c := *s
	c.noMarks = true
	return &c
}

// SetMarkSpan sets the rows db's list marks cover after a split and the
// count from which a page splits one, for a test to split small lists.
// Before db is used.
func SetMarkSpan(db *DB, span, split int64) { db.marks.span, db.marks.split = span, split }

// SetMergedKeyedDepth sets the depth from which a page of one key's
// assignments of both kinds is found through the key marks.
func SetMergedKeyedDepth(db *DB, n int) { db.marks.mergedInFrom = n }

// MarksExact reports whether every list mark of envID's rows of table
// counts the rows from it to the next mark, and the first is at the start,
// once the marks' upkeep that pages started has ended. No page may be read
// meanwhile.
func MarksExact(ctx context.Context, db *DB, table, envID string) error {
	db.marks.wg.Wait() // the upkeep pages started
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	q := db.traced(tx)
	marks, err := readMarks(ctx, q, table, envID)
	if err != nil {
		return err
	}
	if len(marks) == 0 {
		var n int
		if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table+" WHERE env_id = $1", envID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%s: %d rows and no mark", table, n)
		}
		return nil
	}
	if marks[0].at != markMin || marks[0].id != "" {
		return fmt.Errorf("%s: the first mark is at (%d, %q)", table, marks[0].at, marks[0].id)
	}
	for i, m := range marks {
		cond, args := "", []any{envID, m.at, m.id}
		if i+1 < len(marks) {
			args = append(args, marks[i+1].at, marks[i+1].id)
			cond = " AND created_at <= $4 AND (created_at < $4 OR id < $5)"
		}
		var n int64
		if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table+" WHERE env_id = $1 AND created_at >= $2 AND (created_at > $2 OR id >= $3)"+cond, args...).Scan(&n); err != nil {
			return err
		}
		if n != m.n {
			return fmt.Errorf("%s: mark %d of %d at (%d, %q) counts %d rows, has %d", table, i, len(marks), m.at, m.id, m.n, n)
		}
	}
	return nil
}

// RoleUserSort is the sort of the key marks of role's tenant assignments
// sorted by user (migration 00035).
func RoleUserSort(role string) string { return roleUserSort + role }

// KeyMarksExact is MarksExact for the key marks of sort (keymarks.go).
func KeyMarksExact(ctx context.Context, db *DB, sort, envID string) error {
	db.marks.wg.Wait() // the upkeep pages started
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	q := db.traced(tx)
	marks, err := readKeyMarks(ctx, q, sort, envID)
	if err != nil {
		return err
	}
	s := db.Store()
	if len(marks) == 0 {
		var n int
		ks, known := keySortFor(sort)
		if !known {
			return fmt.Errorf("key marks of %s: no such sort", sort)
		}
		query, args := ks.rowsSQL(envID, "COUNT(*)", "")
		if err := q.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("key marks of %s: %d assignments and no mark", sort, n)
		}
		return nil
	}
	if marks[0].key != "" || marks[0].at != markMin || marks[0].id != "" {
		return fmt.Errorf("key marks of %s: the first mark is at (%q, %d, %q)", sort, marks[0].key, marks[0].at, marks[0].id)
	}
	for i, m := range marks {
		var n int64
		for _, p := range keyMarkParts(marks, i) {
			c, err := s.countPart(ctx, q, sort, envID, p)
			if err != nil {
				return err
			}
			n += c
		}
		if n != m.n {
			return fmt.Errorf("key marks of %s: mark %d of %d at (%q, %d, %q) counts %d rows, has %d", sort, i, len(marks), m.key, m.at, m.id, m.n, n)
		}
	}
	return nil
}

// WithoutSearchIndex is s reading ?search= through every row of the
// environment, never through a trigram index (search.go), for a test to
// compare the two.
func WithoutSearchIndex(s *Store) *Store {
	c := *s
	c.noSearchIndex = true
	return &c
}

// SetSearchIndexedMax sets the most rows holding a term that a search
// reads through its index. Before db is used.
func SetSearchIndexedMax(db *DB, n int) { db.searchIndexedMax = n }

// SetFilteredSortMax sets the most rows of a filter of an assignment list
// sorted by another key that db's lists read whole and sort (filters.go);
// -1: none.
func SetFilteredSortMax(db *DB, n int) { db.filteredSortMax = n }

// SearchIndexed reports whether db reads ?search= through trigram indexes
// (always on SQLite; on PostgreSQL when pg_trgm could be created).
func SearchIndexed(db *DB) bool { return db.Engine == SQLite || db.searchIndexed }

// SearchIndexIntact runs FTS5's integrity check of SQLite's search
// indexes against the rows they index (nil on PostgreSQL, whose indexes
// are its own).
func SearchIndexIntact(ctx context.Context, db *DB) error {
	if db.Engine != SQLite {
		return nil
	}
	for _, idx := range searchIndexes {
		t := idx.fts
		if _, err := db.write.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s(%s, rank) VALUES ('integrity-check', 1)", t, t)); err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
	}
	return nil
}

// ReKeyCursor returns c, a cursor a list handed out, with its key replaced
// by key and its checksum made again, as a client rewriting one would.
func ReKeyCursor(c string, key any) string {
	enc, _, _ := strings.Cut(c, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(enc)
	var p cursorPos
	_ = json.Unmarshal(payload, &p)
	p.Key = key
	return encodeCursor(p)
}

// RecordLogReads has seen told the statements of db's log lists' reads
// (nil: no more). Never in a parallel test.
func RecordLogReads(db *DB, seen func(query string, args []any)) { db.logReads = seen }

// CallCountsDisagree compares every level of the call counts (minutes,
// hours, days; or the tables named) with the API log's rows grouped the
// same way, and describes the first level where they differ ("" when they
// all agree).
func (s *LogStore) CallCountsDisagree(ctx context.Context, tables ...string) (string, error) {
	for _, l := range callLevels {
		if len(tables) > 0 && !slices.Contains(tables, l.table) {
			continue
		}
		actor := "actor_id, "
		if !l.actor {
			actor = ""
		}
		rows := fmt.Sprintf(`SELECT org_id, project_id, env_id, created_at - created_at %% %[1]d AS b, %[2]sstatus / 100 AS c, COUNT(*) AS n
FROM api_log GROUP BY org_id, project_id, env_id, created_at - created_at %% %[1]d, %[2]sstatus / 100`, l.unit, actor)
		counts := fmt.Sprintf("SELECT org_id, project_id, env_id, %s, %sstatus_class, calls FROM %s WHERE calls > 0", l.col, actor, l.table)
		for _, q := range []string{rows + " EXCEPT " + counts, counts + " EXCEPT " + rows} {
			var n int
			if err := s.db.read.QueryRowContext(ctx, "SELECT COUNT(*) FROM ("+q+") d").Scan(&n); err != nil {
				return "", err
			}
			if n > 0 {
				return fmt.Sprintf("%s: %d cells differ from the rows", l.table, n), nil
			}
		}
	}
	return "", nil
}

// CallSeeks is how many deep pages of the API log s found through the call
// counts (callseek.go), not by the skip.
func (s *LogStore) CallSeeks() int64 { return s.callSeeks.Load() }

// DecisionSeeks is how many deep pages of the decision log s found through
// the decision counts.
func (s *LogStore) DecisionSeeks() int64 { return s.decisionSeeks.Load() }

// DecisionCountsDisagree compares every level of the decision counts with
// the decision log's rows grouped the same way, and describes the first
// level where they differ ("" when they all agree).
func (s *LogStore) DecisionCountsDisagree(ctx context.Context) (string, error) {
	for _, l := range decisionLevels {
		rows := fmt.Sprintf(`SELECT org_id, env_id, created_at - created_at %% %[1]d AS b, allow, COUNT(*) AS n
FROM decision_log GROUP BY org_id, env_id, created_at - created_at %% %[1]d, allow`, l.unit)
		counts := fmt.Sprintf("SELECT org_id, env_id, %s, allow, decisions FROM %s WHERE decisions > 0", l.col, l.table)
		for _, q := range []string{rows + " EXCEPT " + counts, counts + " EXCEPT " + rows} {
			var n int
			if err := s.db.read.QueryRowContext(ctx, "SELECT COUNT(*) FROM ("+q+") d").Scan(&n); err != nil {
				return "", err
			}
			if n > 0 {
				return fmt.Sprintf("%s: %d cells differ from the rows", l.table, n), nil
			}
		}
		var zero int
		if err := s.db.read.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+l.table+" WHERE decisions <= 0").Scan(&zero); err != nil {
			return "", err
		}
		if zero > 0 {
			return fmt.Sprintf("%s: %d cells left at 0 or below", l.table, zero), nil
		}
	}
	return "", nil
}
