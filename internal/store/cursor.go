package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/jackc/pgx/v5/pgconn"
)

// Keyset (cursor) paging. A cursor names the last row of a page by its
// sort value and id; the next page is the rows after it in the list's
// order, found through an index on (scope, sort column, id) instead of
// skipping OFFSET rows, so a page deep in a list of millions costs what
// the first one does. Rows inserted or deleted between pages neither
// repeat nor shift the rest.
//
// A cursor is opaque (base64url of a small JSON document and a check
// sum). It is bound to its list: the table, sort column, order and every
// condition of the query, the environment (or organization) among them;
// a cursor of another list, sort, filter or environment is refused with
// a 400, as is one that does not decode or whose check sum fails. It is
// not a secret and not signed: whatever position a made-up cursor names,
// the page is still read under the caller's own conditions, so it shows
// nothing the caller could not list anyway.

// StartCursor asks for the first page of a list by keyset: like page 1,
// but without counting the list (the count of a million rows costs more
// than the page).
const StartCursor = "start"

// cursorPos is the position a cursor names.
type cursorPos struct {
	Bind string `json:"b"`           // binding of the list (see cursorBinding)
	Key  any    `json:"k"`           // sort value of the last row
	At   *int64 `json:"t,omitempty"` // its created_at, when it breaks ties before id
	ID   string `json:"i"`           // id of the last row
}

// cursorBinding identifies a list: what it reads, its order and its
// conditions with their arguments.
func cursorBinding(what, col string, desc bool, w *where) string {
	if w.bound != nil {
		w = w.bound
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%v\x00%s\x00", what, col, desc, strings.Join(w.parts, " AND "))
	for _, a := range w.args {
		fmt.Fprintf(h, "%T:%v\x00", a, a)
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:9])
}

func cursorSum(payload []byte) []byte {
	s := sha256.Sum256(append([]byte("gatehouse cursor\x00"), payload...))
	return s[:8]
}

func encodeCursor(p cursorPos) string {
	payload, _ := json.Marshal(p) // strings and numbers only
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(cursorSum(payload))
}

func invalidCursor(format string, args ...any) error {
	return gatehouse.FieldError("cursor", "invalid_cursor", format, args...)
}

// decodeCursor reads a cursor and checks that it belongs to the list
// bound as bind.
func decodeCursor(text, bind string) (cursorPos, error) {
	var p cursorPos
	enc, sum, ok := strings.Cut(text, ".")
	payload, err1 := base64.RawURLEncoding.DecodeString(enc)
	got, err2 := base64.RawURLEncoding.DecodeString(sum)
	if !ok || err1 != nil || err2 != nil || !bytes.Equal(got, cursorSum(payload)) {
		return p, invalidCursor("cursor is malformed: pass the next_cursor of a page of this list unchanged")
	}
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	if err := d.Decode(&p); err != nil || p.ID == "" {
		return p, invalidCursor("cursor is malformed: pass the next_cursor of a page of this list unchanged")
	}
	switch k := p.Key.(type) {
	case string:
	case json.Number:
		n, err := k.Int64()
		if err != nil {
			return p, invalidCursor("cursor is malformed: pass the next_cursor of a page of this list unchanged")
		}
		p.Key = n
	default:
		return p, invalidCursor("cursor is malformed: pass the next_cursor of a page of this list unchanged")
	}
	if p.Bind != bind {
		return p, invalidCursor("cursor belongs to another list: a cursor only continues the list (same environment, filters, sort and order) whose page returned it")
	}
	return p, nil
}

// cursorKey is a scanned sort value as a cursor holds it.
func cursorKey(v any) (any, error) {
	switch k := v.(type) {
	case string:
		return k, nil
	case []byte:
		return string(k), nil
	case int64:
		return k, nil
	case int32:
		return int64(k), nil
	case int:
		return int64(k), nil
	case bool: // only through a sort column that is a boolean; none is
		return nil, fmt.Errorf("cannot page by cursor over a boolean column")
	case nil:
		return nil, fmt.Errorf("cannot page by cursor over a NULL sort value")
	}
	return nil, fmt.Errorf("cannot page by cursor over a %T sort value", v)
}

// extraScanner hands scan functions a scanner that also fills the columns
// appended after theirs (the sort value and the id).
type extraScanner struct {
	sc    scanner
	extra []any
}

func (e extraScanner) Scan(dest ...any) error {
	return e.sc.Scan(append(dest, e.extra...)...)
}

// listQuery is one list read: cols from from (a table, or "table alias
// JOIN …") under w, ordered by sortable[page.Sort] (the "" entry or
// created_at when no sort is given) and idCol. countFrom, when not "",
// is what the total is counted over instead of from (the same rows
// without the joins, when w only names the main table).
type listQuery struct {
	what, cols, from, countFrom, idCol string
	sortable                           map[string]string
	// marks, when set, finds the row at index t of the list by
	// created_at (marks.go): set only for a list whose rows are all of an
	// environment's rows of a marked table.
	marks marksSeek
	// sorted, when set, finds the row at index t of the list in the order
	// of a sort by another column (key marks, keymarks.go), or returns nil
	// for a sort without them.
	sorted func(sort string) sortSeek
	// counted, when set, may give the list's count for page, known
	// already (search.go counts a search to choose how to read it).
	counted func(page gatehouse.PageRequest) (total int, capped, ok bool)
	// countIndex, when set, is the index the count reads (SQLite's
	// INDEXED BY, after countFrom's table; see searchCountIndex).
	countIndex string
	// countWhere, when set, is the list's conditions as its count reads
	// them (the same rows, other hints: logWheres).
	countWhere *where
}

// sortSeek is Store.keyedSeek for one sort of a table by a column of its
// own and one environment: the row's sort column and id.
type sortSeek func(ctx context.Context, t int, desc bool, countUpTo int) (key any, id string, found, ok bool, err error)

// marksSeek is Store.markedSeek for one table and environment.
type marksSeek func(ctx context.Context, t int, desc bool, countUpTo int) (at int64, id string, found bool, total int64, ok bool, err error)

func listRows[T any](ctx context.Context, q querier, lq listQuery, w *where, page gatehouse.PageRequest,
	scan func(scanner) (T, error)) (gatehouse.Page[T], error) {
	var out gatehouse.Page[T]
	if w.err != nil {
		return out, w.err
	}
	col, ok := lq.sortable[page.Sort]
	if !ok && page.Sort == "" {
		col, ok = "created_at", true
	}
	if !ok {
		return out, unknownSort(page.Sort, lq.sortable)
	}
	if page.PerPage <= 0 {
		page.PerPage = gatehouse.DefaultPerPage
	}
	dir, cmp := " ASC", ">"
	if page.Desc {
		dir, cmp = " DESC", "<"
	}
	bind := cursorBinding(lq.what, col, page.Desc, w)
	args := append([]any(nil), w.args...)
	conds := w.sql()
	limit := fmt.Sprintf(" LIMIT %d", page.PerPage+1)
	if page.Cursor == StartCursor {
		if page.Page > 1 {
			return out, gatehouse.FieldError("cursor", "conflict", "give page or cursor, not both: a cursor already says where the page starts")
		}
		out.Total = -1
	} else if page.Cursor != "" {
		if page.Page > 1 {
			return out, gatehouse.FieldError("cursor", "conflict", "give page or cursor, not both: a cursor already says where the page starts")
		}
		pos, err := decodeCursor(page.Cursor, bind)
		if err != nil {
			return out, err
		}
		args = append(args, pos.Key, pos.ID)
		conds = andWhere(conds, afterCond(col, lq.idCol, cmp, len(args)-1, len(args)))
		out.Total = -1
	} else {
		countFrom := lq.countFrom
		if countFrom == "" {
			countFrom = lq.from
		}
		off := page.Offset()
		// A deep page of a marked list takes its first row and its count
		// from the list marks (marks.go), else from the rows.
		marked := false
		var markAt int64
		var markID string
		var found bool
		if lq.marks != nil && off >= deepOffset && (page.Sort == "" || page.Sort == "created_at") {
			var total int64
			var err error
			markAt, markID, found, total, marked, err = lq.marks(ctx, off-1, page.Desc, page.CountUpTo)
			if err != nil {
				return out, fmt.Errorf("list %s: %w", lq.what, err)
			}
			if marked {
				out.Total = int(total)
				if page.CountUpTo > 0 && out.Total > page.CountUpTo {
					out.Total, out.TotalCapped = page.CountUpTo, true
				}
			}
		}
		counted := false
		if !marked && lq.counted != nil {
			out.Total, out.TotalCapped, counted = lq.counted(page)
		}
		if !marked && !counted {
			from := countFrom
			if lq.countIndex != "" {
				from += " INDEXED BY " + lq.countIndex
			}
			cw := w
			if lq.countWhere != nil {
				cw = lq.countWhere
			}
			if err := countRows(ctx, q, from, cw, page, &out); err != nil {
				return out, fmt.Errorf("count %s: %w", lq.what, err)
			}
		}
		var seek sortSeek
		if !marked && off >= deepOffset && lq.sorted != nil && page.Sort != "" && page.Sort != "created_at" {
			seek = lq.sorted(page.Sort)
		}
		if seek != nil {
			// The row before a deep page in the order of another column,
			// through its key marks.
			key, id, found, ok, err := seek(ctx, off-1, page.Desc, page.CountUpTo)
			if err != nil {
				return out, fmt.Errorf("list %s: %w", lq.what, err)
			}
			if ok && !found {
				out.Items = []T{}
				return out, nil
			}
			if ok {
				args = append(args, key, id)
				conds = andWhere(conds, afterCond(col, lq.idCol, cmp, len(args)-1, len(args)))
				off = 0
			}
		}
		if off >= deepOffset {
			// A deep page: find the row before it through the narrowest
			// read (the sort column and id, from the count's tables, which
			// an index covers), then read the page after it as a cursor
			// would, instead of reading and joining every skipped row.
			var key any
			var id string
			var err error
			if marked {
				key, id = markAt, markID
				if !found {
					err = sql.ErrNoRows
				}
			} else {
				err = q.QueryRowContext(ctx, fmt.Sprintf("SELECT %s, %s FROM %s%s ORDER BY %s%s, %s%s LIMIT 1 OFFSET %d",
					col, lq.idCol, countFrom, conds, col, dir, lq.idCol, dir, off-1), args...).Scan(&key, &id)
			}
			if err == sql.ErrNoRows {
				out.Items = []T{}
				return out, nil
			} else if err != nil {
				return out, fmt.Errorf("list %s: %w", lq.what, err)
			}
			if key, err = cursorKey(key); err != nil {
				return out, fmt.Errorf("list %s: %w", lq.what, err)
			}
			args = append(args, key, id)
			conds = andWhere(conds, afterCond(col, lq.idCol, cmp, len(args)-1, len(args)))
		} else if off > 0 {
			limit += fmt.Sprintf(" OFFSET %d", off)
		}
	}
	query := fmt.Sprintf("SELECT %s, %s, %s FROM %s%s ORDER BY %s%s, %s%s%s",
		lq.cols, col, lq.idCol, lq.from, conds, col, dir, lq.idCol, dir, limit)
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil && page.Cursor != "" && page.Cursor != StartCursor && keyOfAnotherType(err) {
		// A cursor's key is of its sort's column. One whose key a client
		// rewrote to another type (its checksum keeps mistakes out, not
		// a rewrite) is malformed, not a server error. (SQLite compares
		// across types: a position like any other.)
		return out, invalidCursor("cursor is malformed: pass the next_cursor of a page of this list unchanged")
	}
	if err != nil {
		return out, fmt.Errorf("list %s: %w", lq.what, err)
	}
	defer rows.Close()
	out.Items = []T{}
	var lastKey any
	var lastID string
	more := false
	for rows.Next() {
		if len(out.Items) == page.PerPage {
			more = true
			break
		}
		item, err := scan(extraScanner{rows, []any{&lastKey, &lastID}})
		if err != nil {
			return out, fmt.Errorf("scan %s: %w", lq.what, err)
		}
		out.Items = append(out.Items, item)
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("list %s: %w", lq.what, err)
	}
	if more {
		key, err := cursorKey(lastKey)
		if err != nil {
			return out, fmt.Errorf("list %s: %w", lq.what, err)
		}
		out.NextCursor = encodeCursor(cursorPos{Bind: bind, Key: key, ID: lastID})
	}
	return out, nil
}

// deepOffset is the offset from which a page asked for by number is read
// through the row before it (see listRows): below it, OFFSET over the
// page's own query costs less than a second query.
var deepOffset = 1000

// afterCond is the condition "after (key $k, id $i)" in a list's order
// (cmp is ">" or "<"). On a column of the list's own table (a bare name),
// a row comparison, which both engines start an index range at, so that
// many rows of one value (users without an email, say) are not read
// from the first of them; on a joined table's column (qualified), a range
// on it that both engines use to drive the join, then the row comparison.
func afterCond(col, idCol, cmp string, k, i int) string {
	row := fmt.Sprintf("(%s, %s) %s ($%d, $%d)", col, idCol, cmp, k, i)
	if !strings.Contains(col, ".") {
		return row
	}
	return fmt.Sprintf("%s %s= $%d AND %s", col, cmp, k, row)
}

// andWhere adds cond to a WHERE clause ("" or " WHERE …").
func andWhere(conds, cond string) string {
	if conds == "" {
		return " WHERE " + cond
	}
	return conds + " AND " + cond
}

// countRows counts the rows of from under w, up to page.CountUpTo when set
// (a scan of at most that many index entries instead of all of them).
func countRows[T any](ctx context.Context, q querier, from string, w *where, page gatehouse.PageRequest, out *gatehouse.Page[T]) error {
	if page.CountUpTo <= 0 {
		return q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+from+w.sql(), w.args...).Scan(&out.Total)
	}
	err := q.QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(*) FROM (SELECT 1 FROM %s%s LIMIT %d) c", from, w.sql(), page.CountUpTo+1), w.args...).Scan(&out.Total)
	if out.Total > page.CountUpTo {
		out.Total, out.TotalCapped = page.CountUpTo, true
	}
	return err
}

// unknownSort refuses a sort the list does not have, naming those it has.
func unknownSort(sort string, sortable map[string]string) error {
	var names []string
	for k := range sortable {
		if k != "" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	return gatehouse.FieldError("sort", "invalid_value", "cannot sort by %q: sort by one of %s", sort, strings.Join(names, ", "))
}

// keyOfAnotherType says whether a PostgreSQL list query failed on a
// parameter of another type than its column's: a number for a text column
// (the driver cannot encode it) or a text for a number (the server cannot
// read it, SQLSTATE 22P02).
func keyOfAnotherType(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "22P02"
	}
	return strings.Contains(err.Error(), "failed to encode args")
}
