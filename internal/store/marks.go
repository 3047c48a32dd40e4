package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// A deep page by number of a list in (created_at, id) order starts after
// the row before it, and finding that row by OFFSET costs a step over
// every row before it: about 60 ms half-way through 1M role assignments on
// SQLite, twice that on PostgreSQL. list_marks (migration 00026) holds,
// per environment and table, marks along those rows with the number of
// rows from each mark to the next, kept exact by triggers. The row at any
// depth is found by adding up the counts (a few hundred marks at 1M rows)
// to the mark before it, then stepping over at most that mark's rows.
// Unlike a kept cursor (anchor.go), that holds through any write: inserts
// anywhere, deletes and updates. It serves the lists whose only condition
// is the environment, by created_at either way; a filtered list or another
// sort is read by a skip (or a kept cursor) as before.
//
// Inserts after the newest row all count on the last mark, so a mark's
// count grows: a bulk insert (an import's batch) splits the marks it grew
// past markSplit rows into marks of markSpan rows, in its transaction; a
// page that steps through a mark of more than markSplit rows (single
// inserts since) reads it as it is and has it split in the background.
// Deletes leave marks of few rows or none: the same upkeep merges them
// when there are many more marks than the rows need. A read never waits
// for the write lock the upkeep takes.

// markedTables are the tables with list_marks triggers.
var markedTables = map[string]bool{"authz_users": true, "authz_tenants": true, "authz_role_assignments": true, "authz_instance_assignments": true}

// markSpan is the rows a mark covers after a split; markSplit the count
// from which a page splits the mark it falls in (a database's own, which
// a test may lower: DB.markSpan, DB.markSplit).
const markSpan, markSplit int64 = 1024, 4096

// markMin is the first mark's created_at: before every row's.
const markMin = math.MinInt64

type listMark struct {
	at int64
	id string
	n  int64
}

// markStats counts deep pages found through marks, pages that found a
// count that is not its rows' (the marks made again), and splits; and
// runs the marks' upkeep in the background.
type markStats struct {
	hits, disagree, splits atomic.Int64
	span, split            int64    // 0: markSpan, markSplit
	mergedInFrom           int      // 0: mergedKeyedInFrom
	busy                   sync.Map // table and environment → upkeep running
	wg                     sync.WaitGroup
	mu                     sync.Mutex // guards stop and cancel, and wg.Add against close
	stop                   context.Context
	cancel                 context.CancelFunc
}

// close cancels the upkeep in flight and waits for it to end.
func (m *markStats) close() {
	m.mu.Lock()
	if m.stop == nil {
		m.stop, m.cancel = context.WithCancel(context.Background())
	}
	m.cancel()
	m.mu.Unlock()
	m.wg.Wait()
}

// mergedKeyedInFrom is the depth from which a page of one user's, role's
// or tenant's assignments of both kinds is found through the key marks
// (keymerge.go): their fixed cost (about 6 ms on SQLite, 16-21 ms on
// PostgreSQL at 1M assignments) is more than the skip's up to some tens
// of thousands of rows (5 ms at 20,000 on both).
const mergedKeyedInFrom = 50_000

// mergedInDepth is the database's mergedKeyedInFrom (a test may lower it).
func (m *markStats) mergedInDepth() int {
	if m.mergedInFrom > 0 {
		return m.mergedInFrom
	}
	return mergedKeyedInFrom
}

func (m *markStats) sizes() (span, split int64) {
	if m.span > 0 {
		return m.span, m.split
	}
	return markSpan, markSplit
}

// MarkPages reports how many deep pages by number this database's node
// found through list_marks, how many pages found a count that is not its
// rows' (and had the table's marks made again), and how many marks it
// split.
func (db *DB) MarkPages() (hits, disagree, splits int64) {
	return db.marks.hits.Load(), db.marks.disagree.Load(), db.marks.splits.Load()
}

// markedSeek is where a deep page of envID's rows of table in (created_at,
// id) order starts: the row at index t (0-based) of that order, ascending,
// or of the reverse order with desc, and how many rows there are (made
// from the rows when at most countUpTo, or when countUpTo <= 0). found
// is false when there is no such row (the page is empty); ok is false when
// the marks cannot say (a count found wrong: they are made again in the
// background): the caller counts and reads the row by a skip.
func (s *Store) markedSeek(ctx context.Context, table, envID string, t int, desc bool, countUpTo int) (at int64, id string, found bool, total int64, ok bool, err error) {
	if !markedTables[table] || s.noMarks || s.tx != nil {
		return 0, "", false, 0, false, nil
	}
	at, id, found, total, upkeep, err := s.seekMarks(ctx, table, envID, t, desc, countUpTo)
	if errors.Is(err, errMarkWrong) {
		s.db.marks.disagree.Add(1)
		s.db.marks.upkeep(s, table, envID, true)
		return 0, "", false, 0, false, nil // read by a skip
	}
	if err != nil {
		return 0, "", false, 0, false, err
	}
	if upkeep {
		s.db.marks.upkeep(s, table, envID, false)
	}
	s.db.marks.hits.Add(1)
	return at, id, found, total, true, nil
}

// upkeep splits (or, with rebuild, makes again) envID's marks of table in
// the background, once at a time per table and environment: a read never
// waits for the write lock the split takes (an import may hold it for
// seconds), and pages read meanwhile step over a large mark's rows.
func (m *markStats) upkeep(s *Store, table, envID string, rebuild bool) {
	key := table + "\x00" + envID
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stop == nil {
		m.stop, m.cancel = context.WithCancel(context.Background())
	}
	if m.stop.Err() != nil {
		return // closing
	}
	if _, busy := m.busy.LoadOrStore(key, true); busy {
		return
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer m.busy.Delete(key)
		ctx, cancel := context.WithTimeout(m.stop, 5*time.Minute)
		defer cancel()
		st := &Store{db: s.db}
		var err error
		if rebuild {
			slog.Warn("a list mark's count is not its rows' (were rows written with the triggers off?): counting the marks again", "table", table, "env_id", envID)
			err = st.RebuildMarks(ctx, table, envID)
		} else {
			err = st.SplitMarks(ctx, table, envID)
		}
		if err != nil && ctx.Err() == nil {
			slog.Warn("could not keep a list's marks", "table", table, "env_id", envID, "err", err)
		}
	}()
}

// marksOf is the marks of envID's rows of table for a list: nil unless
// envOnly, the list's rows are all of the environment's rows of table.
func (s *Store) marksOf(table, envID string, envOnly bool) marksSeek {
	if !envOnly || !markedTables[table] {
		return nil
	}
	return func(ctx context.Context, t int, desc bool, countUpTo int) (int64, string, bool, int64, bool, error) {
		return s.markedSeek(ctx, table, envID, t, desc, countUpTo)
	}
}

var errMarkWrong = errors.New("a list mark's count is not its rows'")

// seekMarks reads the marks and the row in one read transaction (one
// snapshot: the counts and the rows agree). upkeep reports that the marks
// want a split (the row was in a mark of more than the split count) or a
// compaction (many more marks than the rows need).
func (s *Store) seekMarks(ctx context.Context, table, envID string, t int, desc bool, countUpTo int) (at int64, id string, found bool, total int64, upkeep bool, err error) {
	tx, q, err := s.marksSnapshot(ctx)
	if err != nil {
		return 0, "", false, 0, false, err
	}
	defer func() { _ = tx.Rollback() }()
	marks, err := readMarks(ctx, q, table, envID)
	if err != nil {
		return 0, "", false, 0, false, err
	}
	if len(marks) == 0 {
		// No row was ever counted here, or rows were written with the
		// triggers off: the rows say which.
		var one int
		err := q.QueryRowContext(ctx, "SELECT 1 FROM "+table+" WHERE env_id = $1 LIMIT 1", envID).Scan(&one)
		if err == sql.ErrNoRows {
			return 0, "", false, 0, false, nil
		}
		if err != nil {
			return 0, "", false, 0, false, fmt.Errorf("read list marks: %w", err)
		}
		return 0, "", false, 0, false, errMarkWrong
	}
	for _, m := range marks {
		if m.n < 0 {
			return 0, "", false, 0, false, errMarkWrong
		}
		total += m.n
	}
	if countUpTo <= 0 || total <= int64(countUpTo) {
		// The count the page shows is exact: made from the rows, as a
		// page without marks makes it (they are at most countUpTo, or
		// the caller counts them all).
		var n int64
		if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table+" WHERE env_id = $1", envID).Scan(&n); err != nil {
			return 0, "", false, 0, false, fmt.Errorf("count the rows of list marks: %w", err)
		}
		if n != total {
			return 0, "", false, 0, false, errMarkWrong
		}
	}
	a := int64(t)
	if desc {
		a = total - 1 - int64(t)
	}
	// checked reads the rows of marks[i] and reports whether it counts
	// them: a count gone wrong (rows written with the triggers off) shows
	// here, and the marks are made again. It reads as many rows as the
	// step to a row in the mark reads at most.
	checked := func(i int) error {
		rng, args := markRange(envID, marks, i)
		var n int64
		if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table+rng, args...).Scan(&n); err != nil {
			return fmt.Errorf("read the rows of a list mark: %w", err)
		}
		if n != marks[i].n {
			return errMarkWrong
		}
		return nil
	}
	span, split := s.db.marks.sizes()
	upkeep = int64(len(marks)) > 2*(total/span)+16
	if a < 0 || a >= total {
		// Past the end (or before the start): so the last mark says.
		last := marks[len(marks)-1]
		if err := checked(len(marks) - 1); err != nil {
			return 0, "", false, 0, false, err
		}
		return 0, "", false, total, upkeep || last.n > split, nil
	}
	var cum int64
	for i, m := range marks {
		if a >= cum+m.n {
			cum += m.n
			continue
		}
		if err := checked(i); err != nil {
			return 0, "", false, 0, false, err
		}
		rng, args := markRange(envID, marks, i)
		err := q.QueryRowContext(ctx, fmt.Sprintf("SELECT created_at, id FROM %s%s ORDER BY created_at, id LIMIT 1 OFFSET %d", table, rng, a-cum), args...).Scan(&at, &id)
		if err == sql.ErrNoRows {
			return 0, "", false, 0, false, errMarkWrong
		}
		if err != nil {
			return 0, "", false, 0, false, fmt.Errorf("read the row at a list mark: %w", err)
		}
		return at, id, true, total, upkeep || m.n > split, nil
	}
	return 0, "", false, 0, false, errMarkWrong
}

// markRange is the WHERE clause of the rows of marks[i] (from it up to the
// next mark), and its arguments.
func markRange(envID string, marks []listMark, i int) (string, []any) {
	m := marks[i]
	cond, args := " WHERE env_id = $1 AND created_at >= $2 AND (created_at > $2 OR id >= $3)", []any{envID, m.at, m.id}
	if i+1 < len(marks) {
		next := marks[i+1]
		args = append(args, next.at, next.id)
		cond += " AND created_at <= $4 AND (created_at < $4 OR id < $5)"
	}
	return cond, args
}

func readMarks(ctx context.Context, q querier, table, envID string) ([]listMark, error) {
	rows, err := q.QueryContext(ctx, "SELECT at, id, n FROM list_marks WHERE env_id = $1 AND tbl = $2 ORDER BY at, id", envID, table)
	if err != nil {
		return nil, fmt.Errorf("read list marks: %w", err)
	}
	defer rows.Close()
	var marks []listMark
	for rows.Next() {
		var m listMark
		if err := rows.Scan(&m.at, &m.id, &m.n); err != nil {
			return nil, fmt.Errorf("read list marks: %w", err)
		}
		marks = append(marks, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read list marks: %w", err)
	}
	return marks, nil
}

// SplitMarks splits every mark of envID's rows of table (or, for
// keyMarksTable(sort), of a sort's key marks) that covers more
// than markSplit rows into marks of markSpan rows, counting them as it
// reads them (so a count that had drifted is made right too), and merges
// neighbouring marks of few rows when there are many more marks than the
// rows need. It runs in one write transaction; on PostgreSQL it first
// takes the environment's facts_versions row, which every writer of the
// environment takes before counting (migration 00026), so no count
// crosses it.
func (s *Store) SplitMarks(ctx context.Context, table, envID string) error {
	if sort, ok := keyMarksSort(table); ok {
		return s.splitKeyMarks(ctx, sort, envID)
	}
	if !markedTables[table] {
		return fmt.Errorf("split list marks: %s has none", table)
	}
	return s.InTx(ctx, func(tx *Store) error {
		q := tx.writer()
		if held, err := tx.lockMarks(ctx, envID); err != nil || !held {
			return err // (not held: never written, no marks)
		}
		marks, err := readMarks(ctx, q, table, envID)
		if err != nil {
			return err
		}
		span, split := s.db.marks.sizes()
		for i, m := range marks {
			if m.n <= split {
				continue
			}
			if err := tx.splitMark(ctx, q, table, envID, marks, i, span); err != nil {
				return err
			}
			s.db.marks.splits.Add(1)
		}
		if int64(len(marks)) <= 2*(total(marks)/span)+16 {
			return nil
		}
		// Many more marks than the rows need (deletes leave marks of few
		// rows or none): a mark takes in the next while together they
		// count at most span rows.
		if marks, err = readMarks(ctx, q, table, envID); err != nil {
			return err
		}
		counts := make([]int64, len(marks))
		for i, m := range marks {
			counts[i] = m.n
		}
		return compactMarks(counts, span, func(j int) error {
			if _, err := q.ExecContext(ctx, "DELETE FROM list_marks WHERE env_id = $1 AND tbl = $2 AND at = $3 AND id = $4", envID, table, marks[j].at, marks[j].id); err != nil {
				return fmt.Errorf("compact list marks: %w", err)
			}
			return nil
		}, func(i int, n int64) error {
			if _, err := q.ExecContext(ctx, "UPDATE list_marks SET n = $5 WHERE env_id = $1 AND tbl = $2 AND at = $3 AND id = $4", envID, table, marks[i].at, marks[i].id, n); err != nil {
				return fmt.Errorf("compact list marks: %w", err)
			}
			return nil
		})
	})
}

// total is the rows marks count.
func total(marks []listMark) int64 {
	var n int64
	for _, m := range marks {
		n += m.n
	}
	return n
}

// RebuildMarks makes envID's marks of table again from its rows (one read
// of them all), as SplitMarks makes a large one: for marks whose counts
// went wrong.
func (s *Store) RebuildMarks(ctx context.Context, table, envID string) error {
	if sort, ok := keyMarksSort(table); ok {
		return s.rebuildKeyMarks(ctx, sort, envID)
	}
	if !markedTables[table] {
		return fmt.Errorf("rebuild list marks: %s has none", table)
	}
	return s.InTx(ctx, func(tx *Store) error {
		q := tx.writer()
		if _, err := tx.lockMarks(ctx, envID); err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, "DELETE FROM list_marks WHERE env_id = $1 AND tbl = $2", envID, table); err != nil {
			return fmt.Errorf("rebuild list marks: %w", err)
		}
		first := []listMark{{at: markMin}}
		if _, err := q.ExecContext(ctx, "INSERT INTO list_marks (env_id, tbl, at, id, n) VALUES ($1, $2, $3, '', 0)", envID, table, int64(markMin)); err != nil {
			return fmt.Errorf("rebuild list marks: %w", err)
		}
		span, _ := s.db.marks.sizes()
		return tx.splitMark(ctx, q, table, envID, first, 0, span)
	})
}

// splitMark reads the rows of marks[i] (up to the next mark) and puts a
// mark on every span-th, each counting its rows.
func (s *Store) splitMark(ctx context.Context, q querier, table, envID string, marks []listMark, i int, span int64) error {
	m := marks[i]
	rng, args := markRange(envID, marks, i)
	rows, err := q.QueryContext(ctx, "SELECT created_at, id FROM "+table+rng+" ORDER BY created_at, id", args...)
	if err != nil {
		return fmt.Errorf("split list marks: %w", err)
	}
	var made []listMark
	cur := listMark{at: m.at, id: m.id}
	for rows.Next() {
		var at int64
		var id string
		if err := rows.Scan(&at, &id); err != nil {
			rows.Close()
			return fmt.Errorf("split list marks: %w", err)
		}
		if cur.n == span {
			made = append(made, cur)
			cur = listMark{at: at, id: id}
		}
		cur.n++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("split list marks: %w", err)
	}
	made = append(made, cur)
	if _, err := q.ExecContext(ctx, "UPDATE list_marks SET n = $4 WHERE env_id = $1 AND tbl = $2 AND at = $3 AND id = $5", envID, table, made[0].at, made[0].n, made[0].id); err != nil {
		return fmt.Errorf("split list marks: %w", err)
	}
	// The new marks, 200 a statement.
	return chunks(made[1:], 200, func(part []listMark) error {
		args := make([]any, 0, len(part)*5)
		for _, n := range part {
			args = append(args, envID, table, n.at, n.id, n.n)
		}
		if _, err := q.ExecContext(ctx, "INSERT INTO list_marks (env_id, tbl, at, id, n) VALUES "+s.placeholders(len(part), 5), args...); err != nil {
			return fmt.Errorf("split list marks: %w", err)
		}
		return nil
	})
}

// splitGrownMarks splits the marks of table in envIDs that a bulk insert
// grew past the split count, in the insert's transaction when there is
// one: an import leaves its marks small, and its environment's first deep
// page does not read the rows it added.
func (s *Store) splitGrownMarks(ctx context.Context, table string, envIDs []string) error {
	_, split := s.db.marks.sizes()
	for _, env := range envIDs {
		var one int
		err := s.writer().QueryRowContext(ctx, "SELECT 1 FROM list_marks WHERE env_id = $1 AND tbl = $2 AND n > $3 LIMIT 1", env, table, split).Scan(&one)
		if err == sql.ErrNoRows {
			continue
		}
		if err != nil {
			return fmt.Errorf("split list marks: %w", err)
		}
		if err := s.SplitMarks(ctx, table, env); err != nil {
			return err
		}
	}
	return nil
}

// envsOf is the environments of rows, each once.
func envsOf[T any](rows []T, env func(T) string) []string {
	var out []string
	for _, r := range rows {
		if e := env(r); !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

// marksSnapshot opens the read transaction a seek through marks reads the
// marks and the rows in: one snapshot, in which the counts and the rows
// agree.
func (s *Store) marksSnapshot(ctx context.Context) (*sql.Tx, querier, error) {
	opts := &sql.TxOptions{ReadOnly: true}
	if s.db.Engine == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := s.db.read.BeginTx(ctx, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("read list marks: %w", err)
	}
	return tx, s.db.traced(tx), nil
}

// lockMarks takes, on PostgreSQL, envID's facts_versions row, which every
// writer of the environment takes before it counts (migration 00026), so
// that no count crosses a split or a rebuild of its marks. held is false
// when the environment was never written (no row, no marks); SQLite's
// one writer needs no lock.
func (s *Store) lockMarks(ctx context.Context, envID string) (held bool, err error) {
	if s.db.Engine != Postgres {
		return true, nil
	}
	var one int
	err = s.writer().QueryRowContext(ctx, "SELECT 1 FROM facts_versions WHERE env_id = $1 FOR UPDATE", envID).Scan(&one)
	if err == sql.ErrNoRows {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("lock list marks: %w", err)
	}
	return true, nil
}

// compactMarks merges neighbouring marks of few rows, given their counts
// in order: a mark takes in the next (drop) while together they count at
// most span rows, and then counts them (set).
func compactMarks(counts []int64, span int64, drop func(j int) error, set func(i int, n int64) error) error {
	for i := 0; i < len(counts); {
		j := i + 1
		n := counts[i]
		for j < len(counts) && n+counts[j] <= span {
			if err := drop(j); err != nil {
				return err
			}
			n += counts[j]
			j++
		}
		if n != counts[i] {
			if err := set(i, n); err != nil {
				return err
			}
		}
		i = j
	}
	return nil
}
