package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

type scanner interface{ Scan(dest ...any) error }

// where accumulates AND-ed conditions written with "?" for their argument,
// numbered $1, $2… when rendered.
type where struct {
	parts []string
	args  []any
	// bound, when set, is the where a list's cursors are bound to (see
	// cursorBinding): these conditions before any that only choose how
	// the rows are read (search.go's index), which may differ from one
	// page to the next of the same list.
	bound *where
	// err is a condition's refusal of its input (searchCond's), which
	// the list returns instead of reading.
	err error
	// index, when set, is the index SQLite is to read these conditions
	// through (INDEXED BY): a range (logWheres') that its planner, which
	// ranks a range of one index as any other, would not choose over the
	// time index's range of a cursor.
	index string
}

// bind takes w's conditions as they are as those its list's cursors are
// bound to.
func (w *where) bind() {
	if w.bound == nil {
		w.bound = &where{parts: slices.Clone(w.parts), args: slices.Clone(w.args)}
	}
}

func (w *where) add(cond string, arg any) {
	w.args = append(w.args, arg)
	w.parts = append(w.parts, strings.Replace(cond, "?", fmt.Sprintf("$%d", len(w.args)), 1))
}

func (w *where) addIf(ok bool, cond string, arg any) {
	if ok {
		w.add(cond, arg)
	}
}

func (w *where) raw(cond string) { w.parts = append(w.parts, cond) }

func (w *where) sql() string {
	if len(w.parts) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.parts, " AND ")
}

// listPage runs a count and a page query over table with the conditions in
// w. sortable maps API sort fields to columns; ties break on id. With a
// cursor it pages by keyset and counts nothing (see cursor.go).
func listPage[T any](ctx context.Context, q querier, table, cols string, w *where, sortable map[string]string,
	page gatehouse.PageRequest, scan func(scanner) (T, error)) (gatehouse.Page[T], error) {
	return listRows(ctx, q, listQuery{what: table, cols: cols, from: table, idCol: "id", sortable: sortable}, w, page, scan)
}

// getOne runs a single-row query, turning no row into NOT_FOUND.
func getOne[T any](ctx context.Context, q querier, what, id, query string, scan func(scanner) (T, error), args ...any) (*T, error) {
	v, err := scan(q.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(what, id)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", what, err)
	}
	return &v, nil
}

// execOne runs a write that must touch exactly one row.
func execOne(ctx context.Context, q querier, what, id, query string, args ...any) error {
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		if fe := formatError(err); fe != err {
			return fe
		}
		return fmt.Errorf("write %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("write %s: %w", what, err)
	}
	if n == 0 {
		return notFound(what, id)
	}
	return nil
}

// exec runs a write and translates its error.
func exec(ctx context.Context, q querier, what, query string, args ...any) error {
	if _, err := q.ExecContext(ctx, query, args...); err != nil {
		if fe := formatError(err); fe != err {
			return fe
		}
		return fmt.Errorf("write %s: %w", what, err)
	}
	return nil
}

// refCond matches a row by id when ref has the form of an id, by key
// otherwise; its argument is $n.
func refCond(ref string, n int) string {
	if tenancy.IsID(ref) {
		return fmt.Sprintf("id = $%d", n)
	}
	return fmt.Sprintf("key = $%d", n)
}
