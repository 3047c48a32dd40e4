package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Pools are db's connection pools by name (prefix, then _write and _read
// when they differ); none for a DB whose pools belong to another.
func (db *DB) Pools(prefix string) map[string]*sql.DB {
	if db == nil || db.shared {
		return nil
	}
	if db.read == db.write {
		return map[string]*sql.DB{prefix: db.write}
	}
	return map[string]*sql.DB{prefix + "_write": db.write, prefix + "_read": db.read}
}

// QueueBacklog counts the background jobs waiting to run (available,
// scheduled or retryable), by kind, on the reading pool (on SQLite the
// writer's single connection stays free). Kinds with none are left out.
func (db *DB) QueueBacklog(ctx context.Context) (map[string]int64, error) {
	rows, err := db.read.QueryContext(ctx,
		"SELECT kind, count(*) FROM river_job WHERE state IN ('available', 'scheduled', 'retryable') GROUP BY kind")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var kind string
		var n int64
		if err := rows.Scan(&kind, &n); err != nil {
			return nil, err
		}
		out[kind] = n
	}
	return out, rows.Err()
}

// OldestWaiting is when the oldest job of kind that has not finished
// (waiting, scheduled, retrying or running) was enqueued; ok is false when
// there is none. For webhook deliveries it is the oldest undelivered
// delivery's creation: a retry snoozes the same job.
func (db *DB) OldestWaiting(ctx context.Context, kind string) (at time.Time, ok bool, err error) {
	var v any
	err = db.read.QueryRowContext(ctx,
		"SELECT min(created_at) FROM river_job WHERE kind = $1 AND state IN ('available', 'scheduled', 'retryable', 'running', 'pending')", kind).Scan(&v)
	if err != nil {
		return time.Time{}, false, err
	}
	switch t := v.(type) {
	case nil:
		return time.Time{}, false, nil
	case time.Time:
		return t, true, nil
	case []byte:
		v = string(t)
	}
	s, isText := v.(string)
	if !isText {
		return time.Time{}, false, fmt.Errorf("oldest %s job: a created_at of type %T", kind, v)
	}
	// River's SQLite driver writes UTC as "2006-01-02 15:04:05.000".
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, true, nil
		}
	}
	return time.Time{}, false, fmt.Errorf("oldest %s job: cannot read the time %q", kind, s)
}
