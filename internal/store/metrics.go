package store

import (
	"context"
	"database/sql"
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
