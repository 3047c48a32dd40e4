package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apilog"
)

const apiLogSummaryCols = "id, org_id, project_id, env_id, created_at, request_id, actor_type, actor_id, actor_name, method, route, path, status, error_code, latency_us, client_ip, user_agent, request_size, request_truncated, response_size, response_truncated"
const apiLogCols = apiLogSummaryCols + ", request_headers, request_body, response_body"

// apiLogRows is how many entries one INSERT carries (24 parameters each)
// on SQLite; apiLogRowsPostgres on PostgreSQL, where a batch of the API
// log's writer (1,000) is one INSERT, so that the trigger counting the
// calls runs once per transaction and locks the counts' rows in key order:
// two nodes' writers then never wait on each other in a cycle.
const apiLogRows, apiLogRowsPostgres = 200, 1000

// WriteAPILog inserts entries in one transaction. The calls are counted
// per minute, hour and day (callLevels) in the same
// one: by the database on PostgreSQL (a statement trigger on api_log, so
// that rows inserted by nodes of an older version are counted too), by
// this writer on SQLite (its log belongs to this process alone).
func (s *LogStore) WriteAPILog(ctx context.Context, entries []apilog.Call) error {
	rows := apiLogRows
	var count func(ctx context.Context, tx *sql.Tx) error
	if s.db.Engine == Postgres {
		rows = apiLogRowsPostgres
	} else {
		count = func(ctx context.Context, tx *sql.Tx) error { return s.addCallUsage(ctx, tx, entries) }
	}
	return insertAll(ctx, s, "api_log", apiLogCols, 24, rows, entries, func(args []any, e *apilog.Call) []any {
		headers := "{}"
		if len(e.RequestHeaders) > 0 {
			b, _ := json.Marshal(e.RequestHeaders)
			headers = string(b)
		}
		return append(args, e.ID, e.OrganizationID, e.ProjectID, e.EnvironmentID, micros(e.Time), e.RequestID, e.ActorType, e.ActorID, e.ActorName,
			e.Method, e.Route, e.Path, e.Status, e.ErrorCode, e.LatencyMicros, e.ClientIP, e.UserAgent, e.RequestSize, e.RequestTruncated,
			e.ResponseSize, e.ResponseTruncated, headers, e.RequestBody, e.ResponseBody)
	}, count)
}

func scanAPILogSummary(sc scanner) (apilog.Call, error) {
	var e apilog.Call
	var at int64
	err := sc.Scan(&e.ID, &e.OrganizationID, &e.ProjectID, &e.EnvironmentID, &at, &e.RequestID, &e.ActorType, &e.ActorID, &e.ActorName,
		&e.Method, &e.Route, &e.Path, &e.Status, &e.ErrorCode, &e.LatencyMicros, &e.ClientIP, &e.UserAgent, &e.RequestSize, &e.RequestTruncated,
		&e.ResponseSize, &e.ResponseTruncated)
	e.Time = fromMicros(at)
	return e, err
}

func scanAPILog(sc scanner) (apilog.Call, error) {
	var e apilog.Call
	var at int64
	var headers string
	err := sc.Scan(&e.ID, &e.OrganizationID, &e.ProjectID, &e.EnvironmentID, &at, &e.RequestID, &e.ActorType, &e.ActorID, &e.ActorName,
		&e.Method, &e.Route, &e.Path, &e.Status, &e.ErrorCode, &e.LatencyMicros, &e.ClientIP, &e.UserAgent, &e.RequestSize, &e.RequestTruncated,
		&e.ResponseSize, &e.ResponseTruncated, &headers, &e.RequestBody, &e.ResponseBody)
	e.Time = fromMicros(at)
	if err == nil && headers != "" && headers != "{}" {
		err = json.Unmarshal([]byte(headers), &e.RequestHeaders)
	}
	return e, err
}

// apiLogWhere is the API log's conditions of f. With pathBound, plainly:
// the list's cursors are bound to them (the path prefix as substr, as
// since the first version). With pathSQLite or pathPostgres, as that
// engine reads them: the prefix as a range of paths, which the index
// of log migration 00009 holds.
func apiLogWhere(f apilog.Filter, path pathForm) *where {
	w := &where{}
	w.add("org_id = ?", f.OrgID)
	w.addIf(f.ProjectID != "", "project_id = ?", f.ProjectID)
	w.addIf(f.EnvID != "", "env_id = ?", f.EnvID)
	w.addIf(f.Actor != "", "actor_id = ?", f.Actor)
	w.addIf(f.Status != 0, "status = ?", f.Status)
	if f.StatusClass != 0 {
		w.add("status >= ?", f.StatusClass*100)
		w.add("status < ?", f.StatusClass*100+100)
	}
	w.addIf(f.Method != "", "method = ?", f.Method)
	apiLogRest(f, w, true, path)
	return w
}

// pathForm is how a condition on the path prefix is written.
type pathForm int

const (
	pathBound    pathForm = iota // substr(path, 1, n) = prefix: the text cursors are bound to
	pathSQLite                   // a range of the path index
	pathPostgres                 // a range of the path index, in bytes' order (COLLATE "C")
	pathNone                     // not written (the caller reads it as a filter of its own)
)

func (s *LogStore) pathForm() pathForm {
	if s.db.Engine == SQLite {
		return pathSQLite
	}
	return pathPostgres
}

// pathIndexed is how many characters of a path the path index holds
// (log migration 00009): a path is the request's path and query string,
// as long as the client made it, and a PostgreSQL index entry may not
// exceed about 2,700 bytes.
const pathIndexed = 256

// pathKey is the expression of the path index.
const pathKey = "substr(path, 1, 256)"

// pathRange is the range of the path index that holds the paths which
// begin with prefix: [lo, end) in bytes' order (which UTF-8 keeps code
// points' order in), end being lo with its last code point's successor
// in its place. cut: the prefix is longer than the index holds, lo its
// beginning (the whole prefix is checked row by row too). ok is false for
// a prefix that is empty, not UTF-8, holds a NUL or ends with the last
// code point: such a prefix is read as substr, row by row.
func pathRange(prefix string) (lo, end string, cut, ok bool) {
	if prefix == "" || !utf8.ValidString(prefix) || strings.IndexByte(prefix, 0) >= 0 {
		return "", "", false, false
	}
	lo = prefix
	if utf8.RuneCountInString(prefix) > pathIndexed {
		lo, cut = string([]rune(prefix)[:pathIndexed]), true
	}
	r, size := utf8.DecodeLastRuneInString(lo)
	switch {
	case r == utf8.MaxRune:
		return "", "", false, false
	case r == 0xD7FF: // the next code point after the surrogates
		r = 0xE000
	default:
		r++
	}
	return lo, lo[:len(lo)-size] + string(r), cut, true
}

// addPathSubstr adds the path prefix as substr(path, 1, n) = prefix: no
// escaping of % and _ (as LIKE would need), and no collation (equality) on
// both engines.
func addPathSubstr(w *where, prefix string) {
	w.add("substr(path, 1, ?", len([]rune(prefix)))
	w.parts[len(w.parts)-1] += fmt.Sprintf(") = $%d", len(w.args)+1)
	w.args = append(w.args, prefix)
}

// addPathPrefix adds the path prefix's condition as form writes it.
func addPathPrefix(w *where, prefix string, form pathForm) {
	lo, end, cut, ok := pathRange(prefix)
	switch {
	case form == pathNone:
		if cut { // the filter holds the beginning
			addPathSubstr(w, prefix)
		}
		return
	case form == pathBound || !ok:
		addPathSubstr(w, prefix)
		return
	}
	col := pathKey
	if form == pathPostgres {
		col += ` COLLATE "C"`
	}
	w.add(col+" >= ?", lo)
	w.add(col+" < ?", end)
	if cut {
		addPathSubstr(w, prefix)
	}
}

// writesCond is ?writes=true's condition, as the partial index of log
// migration 00009 has it.
const writesCond = "method NOT IN ('GET', 'HEAD', 'OPTIONS')"

// apiLogRest adds f's conditions that no index of their own reads, the
// path prefix as path says, and, plainly, the writes and the request
// (otherwise filters of their own: logWheres'), in apiLogWhere's order.
func apiLogRest(f apilog.Filter, w *where, plainly bool, path pathForm) {
	if plainly && f.Writes {
		w.raw(writesCond)
	}
	if f.PathPrefix != "" {
		addPathPrefix(w, f.PathPrefix, path)
	}
	w.addIf(plainly && f.RequestID != "", "request_id = ?", f.RequestID)
	w.addIf(!f.Since.IsZero(), "created_at >= ?", micros(f.Since))
	w.addIf(!f.Until.IsZero(), "created_at < ?", micros(f.Until))
}

// pathMatchless reports whether prefix begins no path: a logged path is
// valid UTF-8 without NUL (apilog's sanitizing), and PostgreSQL refuses
// such a prefix as an argument.
func pathMatchless(prefix string) bool {
	return !utf8.ValidString(prefix) || strings.IndexByte(prefix, 0) >= 0
}

// ListAPILog lists entries without their headers and bodies.
func (s *LogStore) ListAPILog(ctx context.Context, f apilog.Filter, page gatehouse.PageRequest) (gatehouse.Page[apilog.Call], error) {
	if pathMatchless(f.PathPrefix) {
		out := gatehouse.Page[apilog.Call]{Items: []apilog.Call{}}
		if page.Cursor != "" {
			out.Total = -1
		}
		return out, nil
	}
	plain := apiLogWhere(f, pathBound)
	if s.db.Engine != SQLite && f.PathPrefix != "" {
		// PostgreSQL reads the conditions as they are: the prefix as a
		// range of its index; the cursors stay bound to the plain text.
		read := apiLogWhere(f, pathPostgres)
		plain.bind()
		read.bound = plain.bound
		plain = read
	}
	if page.Sort == "timestamp" {
		// The time order is the list's default (created_at): so named,
		// listRows reads a deep page's first row through the call counts
		// (callSeek) as it reads list marks.
		page.Sort = ""
	}
	byStatus := page.Sort == "status"
	// On SQLite the status class is the expression of its index (log
	// migration 00008), which holds a class's rows in time order; sorted
	// by status, a range of the status index, which holds them in that
	// order.
	filters := []logFilter{
		eqFilter("request_id", f.RequestID, f.RequestID != ""), eqFilter("actor_id", f.Actor, f.Actor != ""), eqFilter("status", f.Status, f.Status != 0),
		eqFilter("method", f.Method, f.Method != ""), eqFilter("status / 100", f.StatusClass, f.StatusClass != 0 && !byStatus),
		eqFilter("env_id", f.EnvID, f.EnvID != ""), eqFilter("project_id", f.ProjectID, f.ProjectID != ""),
		// The writes: a partial index of them (log migration 00009) holds
		// them in time order.
		{col: "writes", raw: writesCond, on: f.Writes, index: "api_log_list_writes_time"}}
	// The path prefix, a range of the path index (log migration 00009),
	// counted as the others; it leads only when it holds few rows: its
	// range holds each path's rows in time order, not the whole range's.
	restPath := pathSQLite
	if pf, ok := pathFilter(f.PathPrefix); ok {
		filters = append(filters, pf)
		restPath = pathNone // (one of filters, but for a long prefix's end)
	}
	rest := func(w *where) {
		if f.StatusClass != 0 && byStatus {
			w.add("status >= ?", f.StatusClass*100)
			w.add("status < ?", f.StatusClass*100+100)
		}
		apiLogRest(f, w, false, restPath) // (the request and the writes are filters)
	}
	sortCol := ""
	if byStatus {
		sortCol = "status"
	}
	count, w, err := s.logWheres(ctx, "api_log", func(w *where) { w.add("org_id = ?", f.OrgID) }, filters, rest, page.Sort, sortCol, plain)
	if err != nil {
		return gatehouse.Page[apilog.Call]{}, fmt.Errorf("list api log: %w", err)
	}
	// A page read through the path index (INDEXED BY: SQLite's planner
	// would read a cursor's range of the time index instead) finds a deep
	// page's first row through it too; a count through it alone names it.
	from, countIndex := indexedBy("api_log", w), ""
	if w.index == "" {
		countIndex = count.index
	}
	return listRows(ctx, s.lists(), listQuery{what: "api_log", cols: apiLogSummaryCols, from: from, idCol: "id",
		countFrom: from, countIndex: countIndex, countWhere: count, marks: s.callSeek(f, page.Sort),
		sortable: map[string]string{"timestamp": "created_at", "status": "status", "latency": "latency_us"}}, w, page, scanAPILogSummary)
}

// GetAPILog returns one entry in full.
func (s *LogStore) GetAPILog(ctx context.Context, f apilog.Filter, id string) (*apilog.Call, error) {
	w := apiLogWhere(f, s.pathForm())
	w.add("id = ?", id)
	return getOne(ctx, s.db.read, "log entry", id, "SELECT "+apiLogCols+" FROM api_log"+w.sql(), scanAPILog, w.args...)
}

// ExportAPILog calls fn with every matching entry in full, oldest first,
// reading in chunks (keyset paging, so entries written meanwhile neither
// repeat nor shift the rest).
func (s *LogStore) ExportAPILog(ctx context.Context, f apilog.Filter, fn func(*apilog.Call) error) error {
	const chunk = 500
	var lastAt int64 = -1
	lastID := ""
	if pathMatchless(f.PathPrefix) {
		return nil
	}
	// On SQLite a prefix that few calls have (filteredSortMax at most,
	// counted from its index) is read through the path index, each chunk
	// sorting those few; any other plainly, along the time index, each
	// chunk reading on from the last (given the range of a common prefix,
	// the planner read the whole range and sorted it for every chunk).
	path, from := pathPostgres, "api_log"
	if s.db.Engine == SQLite {
		path = pathBound
		if pf, ok := pathFilter(f.PathPrefix); ok && s.sortMax() >= 0 {
			w := &where{}
			w.add("org_id = ?", f.OrgID)
			n, err := s.countFilter(ctx, "api_log", w, pf, s.sortMax()+1)
			if err != nil {
				return fmt.Errorf("export api log: %w", err)
			}
			if n <= s.sortMax() {
				path, from = pathSQLite, indexedBy("api_log", &where{index: pf.index})
			}
		}
	}
	for {
		w := apiLogWhere(f, path)
		if lastAt >= 0 {
			w.add("(created_at > ?", lastAt)
			w.parts[len(w.parts)-1] += fmt.Sprintf(" OR (created_at = $%d AND id > $%d))", len(w.args)+1, len(w.args)+2)
			w.args = append(w.args, lastAt, lastID)
		}
		query := fmt.Sprintf("SELECT %s FROM %s%s ORDER BY created_at, id LIMIT %d", apiLogCols, from, w.sql(), chunk)
		rows, err := queryAll(ctx, s.lists(), query, scanAPILog, w.args...)
		if err != nil {
			return fmt.Errorf("export api log: %w", err)
		}
		for i := range rows {
			if err := fn(&rows[i]); err != nil {
				return err
			}
		}
		if len(rows) < chunk {
			return nil
		}
		last := rows[len(rows)-1]
		lastAt, lastID = micros(last.Time), last.ID
	}
}

// PruneAPILog deletes an organization's entries older than before, and
// their per-minute and per-hour counts with them (in one transaction): the
// minutes and hours that end by before go whole, and the rows deleted from
// the minute and the hour before falls in are taken off their counts (a
// count left at 0 goes), so the counts stay those of the rows kept.
//
// A row older than before inserted while this runs (on PostgreSQL, by
// another node) may be deleted without being taken off, or kept with its
// count gone: retention cuts days back, where no call is logged any more.
func (s *LogStore) PruneAPILog(ctx context.Context, orgID string, before time.Time) (int64, error) {
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("prune api log: %w", formatError(err))
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	cut := micros(before)
	for _, l := range callLevels {
		if s.db.Engine == Postgres && !l.actor {
			// A trigger takes the deleted rows off these (log migration
			// 00010: they stay right under an older node's retention).
			continue
		}
		b := floorTo(cut, l.unit)
		if cut > b {
			// The bucket the cut falls in keeps the rows from the cut on:
			// the ones before it, about to go, are taken off.
			actor, actorIs := "actor_id, ", fmt.Sprintf(" AND %s.actor_id = d.actor_id", l.table)
			if !l.actor {
				actor, actorIs = "", ""
			}
			q := fmt.Sprintf(`UPDATE %[1]s SET calls = %[1]s.calls - d.n FROM (
SELECT project_id, env_id, %[3]sstatus / 100 AS class, COUNT(*) AS n FROM api_log WHERE org_id = $1 AND created_at >= $2 AND created_at < $3
GROUP BY project_id, env_id, %[3]sstatus / 100) d
WHERE %[1]s.org_id = $1 AND %[1]s.%[2]s = $2 AND %[1]s.project_id = d.project_id AND %[1]s.env_id = d.env_id%[4]s
AND %[1]s.status_class = d.class`, l.table, l.col, actor, actorIs)
			if _, err := tx.ExecContext(ctx, q, orgID, b, cut); err != nil {
				return 0, fmt.Errorf("prune api call usage: %w", formatError(err))
			}
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE org_id = $1 AND %s = $2 AND calls <= 0", l.table, l.col), orgID, b); err != nil {
				return 0, fmt.Errorf("prune api call usage: %w", formatError(err))
			}
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE org_id = $1 AND %s < $2", l.table, l.col), orgID, b); err != nil {
			return 0, fmt.Errorf("prune api call usage: %w", formatError(err))
		}
	}
	res, err := tx.ExecContext(ctx, "DELETE FROM api_log WHERE org_id = $1 AND created_at < $2", orgID, cut)
	if err != nil {
		return 0, fmt.Errorf("prune api log: %w", formatError(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune api log: %w", err)
	}
	if s.db.Engine == Postgres {
		for _, l := range callLevels {
			if l.actor {
				continue
			}
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE org_id = $1 AND calls <= 0", l.table), orgID); err != nil {
				return 0, fmt.Errorf("prune api call counts: %w", formatError(err))
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("prune api log: %w", formatError(err))
	}
	return n, nil
}

// minuteMicros and hourMicros are a minute and an hour in the log's unit
// (microseconds).
const minuteMicros, hourMicros = 60_000_000, 3_600_000_000

// floorTo is the start of the bucket of unit us falls in, as the log
// database computes it (created_at - created_at % 60000000: the
// migration's backfill).
func floorTo(us, unit int64) int64 { return us - us%unit }

// callLevel is a table of counted calls: per bucket of unit (its column
// col) and cell (project, environment, status class, and the caller where
// actor).
type callLevel struct {
	table, col string
	unit       int64
	actor      bool
}

// callLevels are the tables of counted calls, finest first: per caller
// the minutes and hours the usage endpoints read (log migration 00006),
// and without the caller the hours and days a deep page of the API log
// adds up (00010, callseek.go: a busy organization's hundreds of callers
// made a day's hours ten thousand cells to add up, a dozen without them).
var callLevels = []callLevel{callMinutes, callHoursByCaller, callHours, callDays}

var (
	callMinutes       = callLevel{"api_call_usage", "minute", minuteMicros, true}
	callHoursByCaller = callLevel{"api_call_usage_hourly", "hour", hourMicros, true}
	callHours         = callLevel{"api_call_hours", "hour", hourMicros, false}
	callDays          = callLevel{"api_call_days", "day", dayMicros, false}
)

// callUsageRows is how many counts one upsert carries (7 parameters each).
const callUsageRows = 200

// addCallUsage adds entries to the per-minute, hour and day counts in tx
// (SQLite: on PostgreSQL the trigger counts). The counts of a batch are
// summed first (an upsert may not touch a row twice) and written in key
// order.
func (s *LogStore) addCallUsage(ctx context.Context, tx *sql.Tx, entries []apilog.Call) error {
	type cell struct {
		org, project, env string
		bucket            int64
		actor             string
		class             int
	}
	for _, l := range callLevels {
		counts := map[cell]int64{}
		for i := range entries {
			e := &entries[i]
			c := cell{e.OrganizationID, e.ProjectID, e.EnvironmentID, floorTo(micros(e.Time), l.unit), e.ActorID, e.Status / 100}
			if !l.actor {
				c.actor = ""
			}
			counts[c]++
		}
		cells := make([]cell, 0, len(counts))
		for c := range counts {
			cells = append(cells, c)
		}
		slices.SortFunc(cells, func(a, b cell) int {
			return cmp.Or(strings.Compare(a.org, b.org), cmp.Compare(a.bucket, b.bucket), strings.Compare(a.project, b.project),
				strings.Compare(a.env, b.env), strings.Compare(a.actor, b.actor), cmp.Compare(a.class, b.class))
		})
		cols, key, ncol := "org_id, project_id, env_id, "+l.col+", actor_id, status_class, calls", "project_id, env_id, actor_id, status_class", 7
		if !l.actor {
			cols, key, ncol = "org_id, project_id, env_id, "+l.col+", status_class, calls", "project_id, env_id, status_class", 6
		}
		args := make([]any, 0, len(cells)*ncol)
		for _, c := range cells {
			args = append(args, c.org, c.project, c.env, c.bucket)
			if l.actor {
				args = append(args, c.actor)
			}
			args = append(args, c.class, counts[c])
		}
		if err := s.addCounts(ctx, tx, l.table, cols, "org_id, "+l.col+", "+key, "calls", ncol, args); err != nil {
			return fmt.Errorf("add api call usage: %w", logWriteError(err))
		}
	}
	return nil
}

// addCounts adds counts to table's cells in tx, in multi-row upserts of up
// to callUsageRows cells: args holds each cell's ncol values in key order
// (cols: the cell's columns, then countCol; key: its primary key).
func (s *LogStore) addCounts(ctx context.Context, tx *sql.Tx, table, cols, key, countCol string, ncol int, args []any) error {
	for len(args) > 0 {
		n := min(len(args)/ncol, callUsageRows)
		q := s.rowsQuery(table, cols, n, ncol) + " ON CONFLICT (" + key + ") DO UPDATE SET " + countCol + " = " + table + "." + countCol + " + excluded." + countCol
		if _, err := tx.ExecContext(ctx, q, args[:n*ncol]...); err != nil {
			return err
		}
		args = args[n*ncol:]
	}
	return nil
}

// pathFilter is the path prefix as a filter of logWheres: the range of
// the path index; ok is false for a prefix read as substr (pathRange).
func pathFilter(prefix string) (f logFilter, ok bool) {
	lo, end, _, ok := pathRange(prefix)
	return logFilter{col: pathKey, v: lo, on: ok, end: end, index: "api_log_list_path_time"}, ok
}

// sortMax is filteredSortMax, or a test's (-1: every filter counted as
// many).
func (s *LogStore) sortMax() int {
	if s.db.filteredSortMax != 0 {
		return s.db.filteredSortMax
	}
	return filteredSortMax
}

// countFilter counts, up to limit, table's rows of w's conditions and f,
// read through f's index when it names one.
func (s *LogStore) countFilter(ctx context.Context, table string, w *where, f logFilter, limit int) (int, error) {
	f.add(w, false)
	w.index = f.index
	var n int
	if err := s.db.read.QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(*) FROM (SELECT 1 FROM %s%s LIMIT %d) c", indexedBy(table, w), w.sql(), limit), w.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count the rows of a filter: %w", err)
	}
	return n, nil
}

// indexedBy is table read through w's index, if it names one.
func indexedBy(table string, w *where) string {
	if w.index == "" {
		return table
	}
	return table + " INDEXED BY " + w.index
}

// logFilter is one filter of a log list: its column (or expression), its
// value, and whether the list has it; equality, or with end the range
// [v, end).
type logFilter struct {
	col string
	v   any
	on  bool
	end any
	// raw, when set, is the filter's condition, of no argument (col only
	// names it).
	raw string
	// index, when set, is the filter's index, which its count and, when
	// it leads, the list read INDEXED BY: a range's, or a partial index
	// that SQLite's planner would not rank above the time index.
	index string
}

// eqFilter is the filter col = v, when on.
func eqFilter(col string, v any, on bool) logFilter { return logFilter{col: col, v: v, on: on} }

// add adds the filter's condition to w; hidden as SQLite reads through no
// index (+col).
func (f logFilter) add(w *where, hidden bool) {
	if f.raw != "" {
		if hidden {
			w.raw("+" + f.raw) // (+method NOT IN …: no longer the partial index's term)
		} else {
			w.raw(f.raw)
		}
		return
	}
	col := f.col
	if hidden {
		col = "+" + col
	}
	if f.end == nil {
		w.add(col+" = ?", f.v)
		return
	}
	w.add(col+" >= ?", f.v)
	w.add(col+" < ?", f.end)
}

// logWheres are a log list's conditions as SQLite counts and reads them:
// prefix (the organization, the environment), then filters, then rest;
// plain is the same list written plainly, which the page's cursors are
// bound to (and which PostgreSQL, whose statistics tell the filters
// apart, reads as it is).
//
// Each equality filter has an index of (filter, created_at, id) (log
// migration 00007), and SQLite, which keeps no statistics, chose between
// two of them by rule: a user's denied decisions were read through the
// index of every denial (500 ms at a million rows, against 0.3 through
// the user's). So one filter leads, the others are written +col (the same
// condition, which SQLite does not read through an index): the filter of
// the fewest rows, each counted from its own index up to the fewest so
// far (filteredSortMax at most), filters given in the order of how few
// rows they hold as a rule, the first alone when it is alone. The count
// reads the lead's index. The page too when sorted by time; sorted by
// another column, it reads the sort's index (sortCol, a filter of the
// sort's column, leads then), unless the lead holds at most
// filteredSortMax rows, which are read and sorted. A range filter (the
// API log's path prefix, whose index holds each path's rows in time
// order but not the range's) is counted even alone and leads only when
// it holds at most filteredSortMax rows, read through its index
// (where.index: INDEXED BY) and sorted; a list whose only filter is such
// a range of more rows is read along the sort's index, its count
// through the range.
func (s *LogStore) logWheres(ctx context.Context, table string, prefix func(*where), filters []logFilter, rest func(*where), sort, sortCol string, plain *where) (count, page *where, err error) {
	plain.bind()
	var on []logFilter
	for _, f := range filters {
		if f.on {
			on = append(on, f)
		}
	}
	if s.db.Engine != SQLite || len(on) == 0 {
		return plain, plain, nil
	}
	timeSorted := sort == "" || sort == "timestamp"
	most := s.sortMax()
	// A range (the path prefix) holds its rows in time order path by
	// path, not as a whole: it leads only when counted few, and is
	// counted even alone.
	lead, fewest := 0, -1
	if len(on) > 1 || !timeSorted || on[0].end != nil {
		lead, fewest = -1, max(most, 0)+1
		for i, f := range on {
			w := &where{}
			prefix(w)
			n, err := s.countFilter(ctx, table, w, f, fewest)
			if err != nil {
				return nil, nil, err
			}
			if n < fewest || lead < 0 && f.end == nil {
				lead, fewest = i, n
			}
		}
	}
	build := func(plainCol string) *where {
		w := &where{}
		prefix(w)
		for _, f := range on {
			f.add(w, f.col != plainCol)
			if f.col == plainCol {
				w.index = f.index
			}
		}
		rest(w)
		w.bound = plain.bound
		return w
	}
	if lead >= 0 {
		count = build(on[lead].col)
	} else {
		// Only ranges, each over filteredSortMax rows: the count (up to
		// its cap) reads the first's index.
		count = build(on[0].col)
	}
	switch {
	case lead >= 0 && (timeSorted || fewest <= most):
		page = count
	case timeSorted:
		page = build("") // along the time index, every filter checked
	case sortCol != "" && slices.ContainsFunc(on, func(f logFilter) bool { return f.col == sortCol }):
		page = build(sortCol)
	default:
		page = build("") // along the sort's index, every filter checked
	}
	return count, page, nil
}
