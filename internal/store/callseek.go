package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/apilog"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

// A deep page by number of the API log in time order (GET /v1/logs?page=N,
// newest or oldest first) skipped every call before it in an index: 36-70
// ms half-way through a million calls. The calls are counted already, in
// the transaction that writes them and in the one that prunes them
// (callLevels): per day and hour of a project, environment and status class
// (api_call_days, api_call_hours: log migration 00010), and per minute of
// those and a caller (api_call_usage: 00006). So the row at index t of a
// list filtered by nothing else than the first cells is found by adding up
// the days' counts to the day it falls in, then that day's hours, then that
// hour's minutes, and stepping over the calls of one minute before it. Each
// level's buckets are checked against the bucket found above them, and the
// minute's count against its rows: counts that do not match leave the page
// to the skip. The buckets before the page's are not checked (that would be
// the skip again): the counts are exact because every write and delete of
// the log adjusts them in its own transaction (on PostgreSQL the hours and
// days by triggers, so an older node's inserts and retention during a
// rolling upgrade keep them right too). Rows deleted behind the store's
// back on SQLite would shift such pages; retention is the only delete.
//
// The counts and the rows are read by separate statements, as a page's
// count and rows are: a batch committed between them may shift the page by
// its rows, as it would shift the next page by number anyway.

// dayMicros is a day in the log's unit (microseconds).
const dayMicros = 24 * hourMicros

// callSeekable reports whether f filters by nothing the days' counts do
// not hold: an organization, and any of its project, environment and
// status class. (One caller's calls are read through their own index: a
// third of a million skipped there took 27-31 ms.)
func callSeekable(f apilog.Filter) bool {
	return f.Actor == "" && f.Status == 0 && f.Method == "" && !f.Writes && f.PathPrefix == "" && f.RequestID == "" && f.Since.IsZero() && f.Until.IsZero()
}

// callSeek is the API log's marksSeek for f in time order (the default
// sort, ""; ListAPILog names "timestamp" so) through the call counts, or
// nil when the list is sorted by another column or f filters by more than
// the counts hold (or they are off: SetCallRollup).
func (s *LogStore) callSeek(f apilog.Filter, sort string) marksSeek {
	if sort != "" || !callSeekable(f) || s.logScanOnly.Load() {
		return nil
	}
	return func(ctx context.Context, t int, desc bool, countUpTo int) (at int64, id string, found bool, total int64, ok bool, err error) {
		at, id, found, total, ok, err = s.seekCalls(ctx, f, int64(t), desc, int64(countUpTo))
		if err != nil {
			return 0, "", false, 0, false, fmt.Errorf("seek the api log through its counts: %w", err)
		}
		if ok {
			s.callSeeks.Add(1)
		}
		return at, id, found, total, ok, nil
	}
}

// seekCalls finds the call at index t of f's calls in (created_at, id)
// order (descending with desc) and the list's count, exact up to
// countUpTo (beyond it, a number over countUpTo; 0: exact). found is false
// past the end; ok is false when the counts do not match the rows (the
// caller skips over the rows instead).
func (s *LogStore) seekCalls(ctx context.Context, f apilog.Filter, t int64, desc bool, countUpTo int64) (at int64, id string, found bool, total int64, ok bool, err error) {
	cells := &where{}
	cells.add("org_id = ?", f.OrgID)
	cells.addIf(f.ProjectID != "", "project_id = ?", f.ProjectID)
	cells.addIf(f.EnvID != "", "env_id = ?", f.EnvID)
	cells.addIf(f.StatusClass != 0, "status_class = ?", f.StatusClass)
	levels := []countLevel{callDays.counted(), callHours.counted(), callMinutes.counted()}
	lo, rest, want, total, ok, err := s.walkCounts(ctx, levels, cells, t, desc, countUpTo)
	if err != nil || !ok {
		return 0, "", false, total, false, err
	}

	// The minute's calls: counted, then the one at rest, read along the
	// time index (a minute holds few calls; SQLite would read a filter's
	// index, a status class's whole range, instead: 55 ms at 200,000).
	w := &where{}
	w.add("org_id = ?", f.OrgID)
	w.add("created_at >= ?", lo)
	w.add("created_at < ?", lo+minuteMicros)
	hide := s.hide()
	w.addIf(f.ProjectID != "", hide+"project_id = ?", f.ProjectID)
	w.addIf(f.EnvID != "", hide+"env_id = ?", f.EnvID)
	if f.StatusClass != 0 {
		w.add(hide+"status >= ?", f.StatusClass*100)
		w.add(hide+"status < ?", f.StatusClass*100+100)
	}
	at, id, ok, err = s.stepMinute(ctx, "api_log", w, want, rest, desc)
	if err != nil || !ok {
		return 0, "", false, 0, false, err
	}
	return at, id, true, total, true, nil
}

// hide is SQLite's prefix that keeps a column's condition out of the
// index choice ("+col"): the minute's rows are read along the time index.
func (s *LogStore) hide() string {
	if s.db.Engine == SQLite {
		return "+"
	}
	return ""
}

// countLevel is a table of rows counted per bucket of unit (its column
// col), the count in column n.
type countLevel struct {
	table, col, n string
	unit          int64
}

func (l callLevel) counted() countLevel { return countLevel{l.table, l.col, "calls", l.unit} }

// walkCounts adds up the counts of the cells (a where over the levels'
// tables) level by level, coarsest first, each level's buckets within the
// one found above it, to the finest bucket holding the row at index t (in
// bucket order, descending with desc): it returns that bucket's start lo,
// the index rest of the row within it, its count want and the list's
// total (capped as seekCalls says). ok is false past the end, or when a
// level's buckets do not add up to the bucket found above them.
func (s *LogStore) walkCounts(ctx context.Context, levels []countLevel, cells *where, t int64, desc bool, countUpTo int64) (lo, rest, want, total int64, ok bool, err error) {
	q := s.lists()
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	rest = t
	for i, l := range levels {
		w := &where{parts: append([]string(nil), cells.parts...), args: append([]any(nil), cells.args...)}
		if i > 0 {
			w.add(l.col+" >= ?", lo)
			w.add(l.col+" < ?", lo+levels[i-1].unit)
		}
		rows, err := q.QueryContext(ctx, fmt.Sprintf("SELECT %[1]s, SUM(%[5]s) FROM %[2]s%[3]s GROUP BY %[1]s ORDER BY %[1]s%[4]s", l.col, l.table, w.sql(), dir, l.n), w.args...)
		if err != nil {
			return 0, 0, 0, 0, false, err
		}
		in := false
		var sum, inN int64 // the level's rows read, and the bucket's the row is in
		for rows.Next() {
			var b, n int64
			if err := rows.Scan(&b, &n); err != nil {
				rows.Close()
				return 0, 0, 0, 0, false, err
			}
			sum += n
			if in && i == 0 && countUpTo > 0 && sum > countUpTo {
				// The count is capped: the days after the page's need
				// not be read (in an organization of many sparse
				// environments, a month of days is many cells).
				break
			}
			if in || n <= 0 {
				continue
			}
			if rest < n {
				in, lo, inN = true, b, n
				continue
			}
			rest -= n
		}
		err = errors.Join(rows.Err(), rows.Close())
		if err != nil {
			return 0, 0, 0, 0, false, err
		}
		if i == 0 {
			total = sum
		}
		// A level whose buckets do not add up to the bucket found above
		// them, or no bucket at all (past the end of the list, or counts
		// lost: the skip says which), leaves the page to the skip.
		if !in || (i > 0 && sum != want) {
			return 0, 0, 0, total, false, nil
		}
		if lo <= 0 {
			// Before 1970 a bucket is not [b, b+unit): the unit's
			// remainder (b - b % unit, in Go as in SQL) rounds toward
			// zero, so bucket 0 holds (-unit, unit) and a negative one
			// (b-unit, b]. The log never holds such times (decisions and
			// calls are stamped now, uploads refused when a day old), but
			// the skip reads them right.
			return 0, 0, 0, total, false, nil
		}
		want = inN
	}
	return lo, rest, want, total, true, nil
}

// stepMinute counts table's rows of w (one bucket's, read along the time
// index) and, when they are want, returns the one at index rest in
// (created_at, id) order; ok is false when the count differs.
func (s *LogStore) stepMinute(ctx context.Context, table string, w *where, want, rest int64, desc bool) (at int64, id string, ok bool, err error) {
	q := s.lists()
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	var n int64
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table+w.sql(), w.args...).Scan(&n); err != nil {
		return 0, "", false, err
	}
	if n != want {
		return 0, "", false, nil
	}
	err = q.QueryRowContext(ctx, fmt.Sprintf("SELECT created_at, id FROM %s%s ORDER BY created_at%s, id%s LIMIT 1 OFFSET %d", table, w.sql(), dir, dir, rest), w.args...).Scan(&at, &id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", false, nil
	}
	if err != nil {
		return 0, "", false, err
	}
	return at, id, true, nil
}

// The decision log's deep pages in time order (GET /v1/decisions?page=N)
// are found the same way, through its counts per minute, hour and day of
// an environment and decision (log migration 00011: kept by the decision
// writer and retention on SQLite, by triggers on PostgreSQL).
var (
	decisionMinutes = countLevel{"decision_minutes", "minute", "decisions", minuteMicros}
	decisionHours   = countLevel{"decision_hours", "hour", "decisions", hourMicros}
	decisionDays    = countLevel{"decision_days", "day", "decisions", dayMicros}
	// decisionLevels finest first, as callLevels.
	decisionLevels = []countLevel{decisionMinutes, decisionHours, decisionDays}
)

// decisionSeekable reports whether f filters by nothing the counts do not
// hold: an environment and the decision.
func decisionSeekable(f decision.Filter) bool {
	return f.User == "" && f.Action == "" && f.Resource == "" && f.Tenant == "" && f.Reason == "" && f.Role == "" && f.Source == "" &&
		f.RequestID == "" && f.Since.IsZero() && f.Until.IsZero()
}

// decisionSeek is the decision log's marksSeek for f in time order, or
// nil when the list is sorted by another column or f filters by more than
// the counts hold (or they are off: SetCallRollup).
func (s *LogStore) decisionSeek(f decision.Filter, sort string) marksSeek {
	if (sort != "" && sort != "timestamp") || !decisionSeekable(f) || s.logScanOnly.Load() {
		return nil
	}
	return func(ctx context.Context, t int, desc bool, countUpTo int) (at int64, id string, found bool, total int64, ok bool, err error) {
		cells := &where{}
		cells.add("org_id = ?", f.OrgID)
		cells.add("env_id = ?", f.EnvID)
		if f.Allow != nil {
			cells.add("allow = ?", *f.Allow)
		}
		lo, rest, want, total, ok, err := s.walkCounts(ctx, []countLevel{decisionDays, decisionHours, decisionMinutes}, cells, int64(t), desc, int64(countUpTo))
		if err == nil && ok {
			w := &where{}
			w.add("org_id = ?", f.OrgID)
			w.add("env_id = ?", f.EnvID)
			w.add("created_at >= ?", lo)
			w.add("created_at < ?", lo+minuteMicros)
			if f.Allow != nil {
				w.add(s.hide()+"allow = ?", *f.Allow)
			}
			at, id, ok, err = s.stepMinute(ctx, "decision_log", w, want, rest, desc)
		}
		if err != nil {
			return 0, "", false, 0, false, fmt.Errorf("seek the decision log through its counts: %w", err)
		}
		if !ok {
			return 0, "", false, total, false, nil
		}
		s.decisionSeeks.Add(1)
		return at, id, true, total, true, nil
	}
}
