package store

import (
	"context"
	"database/sql"
	"runtime"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Trace makes every statement the Store's methods run a span, under the
// span of the context they are given: named by the Store method that ran
// it ("store.UserByKey"), with the database system and the statement's
// operation (SELECT, INSERT…). Never the statement's text or its bound
// values. A nil tracer (the default) traces nothing and wraps nothing.
func (db *DB) Trace(t trace.Tracer) { db.tracer = t }

// traced runs q's statements in spans.
type traced struct {
	q      querier
	tracer trace.Tracer
	system string
}

func (db *DB) traced(q querier) querier {
	if db.tracer == nil {
		return q
	}
	system := "sqlite"
	if db.Engine == Postgres {
		system = "postgresql"
	}
	return traced{q: q, tracer: db.tracer, system: system}
}

func (t traced) start(ctx context.Context, query string) (context.Context, trace.Span) {
	return t.tracer.Start(ctx, caller(), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system.name", t.system), attribute.String("db.operation.name", operation(query))))
}

func end(span trace.Span, err error) {
	if err != nil && err != sql.ErrNoRows {
		span.SetStatus(codes.Error, "the statement failed")
	}
	span.End()
}

func (t traced) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx, span := t.start(ctx, query)
	res, err := t.q.ExecContext(ctx, query, args...)
	end(span, err)
	return res, err
}

// QueryContext's span ends when the first rows are ready, not when they
// are read.
func (t traced) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx, span := t.start(ctx, query)
	rows, err := t.q.QueryContext(ctx, query, args...)
	end(span, err)
	return rows, err
}

func (t traced) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	ctx, span := t.start(ctx, query)
	row := t.q.QueryRowContext(ctx, query, args...)
	end(span, row.Err())
	return row
}

// operation is a statement's first word, upper-cased (SELECT, INSERT,
// WITH…): what it does, without a value it carries.
func operation(query string) string {
	query = strings.TrimSpace(query)
	if i := strings.IndexAny(query, " \t\n("); i > 0 {
		query = query[:i]
	}
	if len(query) > 16 {
		query = query[:16]
	}
	return strings.ToUpper(query)
}

// caller names the span by the first function outside this file and the
// store's shared helpers: the Store method that ran the statement.
func caller() string {
	var pcs [12]uintptr
	n := runtime.Callers(3, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		name := f.Function
		if i := strings.LastIndex(name, "/"); i >= 0 {
			name = name[i+1:]
		}
		// store.(*Store).UserByKey → UserByKey; store.getOne[...] is a helper.
		if strings.HasPrefix(name, "store.") && !helper(name) {
			if i := strings.LastIndex(name, "."); i >= 0 {
				return "store." + strings.TrimSuffix(name[i+1:], "-fm")
			}
		}
		if !more {
			return "store.query"
		}
	}
}

// helper reports the store's shared query helpers, which spans are not
// named after.
func helper(name string) bool {
	for _, h := range []string{"store.getOne", "store.queryAll", "store.execOne", "store.exec", "store.listPage", "store.traced", "store.(*Store).reader",
		"store.(*Store).writer", "store.(*Store).InTx"} {
		if strings.HasPrefix(name, h) {
			return true
		}
	}
	return strings.Contains(name, ".func") // closures: their method comes next
}
