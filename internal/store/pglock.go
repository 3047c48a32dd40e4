package store

import (
	"context"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster-wide locks. Nodes sharing one PostgreSQL database take a
// session-level advisory lock (pg_advisory_lock) on a connection of its own,
// outside the pool, and give it back by closing that connection: a node that
// crashes while holding one loses it with its connection, and no pooled
// connection is ever left holding a lock. On SQLite one process owns the
// database (its folder is locked: see lockFile), so every lock is granted.
//
// Through PgBouncer, these connections (like the LISTEN one) need session
// pooling: in transaction pooling a session lock stays on whichever server
// connection ran it.

// lockMigrate serialises the schema migrations of every node (the main,
// log and queue schemas).
const lockMigrate = "migrate"

// advisoryKey is the advisory lock key of name: a 64-bit hash, in a
// namespace of Gatehouse's own.
func advisoryKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("gatehouse lock: " + name))
	return int64(h.Sum64()) //nolint:gosec // a key, any 64 bits will do
}

// TryLock takes the cluster-wide lock name if no node holds it, and reports
// whether it did; unlock gives it back (call it once, when ok). Singleton
// background work (log retention, sweeps) runs under it, so that nodes
// sharing a PostgreSQL database skip a round another node is running. On
// SQLite it is always granted: one process owns the database, and keeps its
// own work from overlapping.
func (db *DB) TryLock(ctx context.Context, name string) (unlock func(), ok bool, err error) {
	if db.Engine != Postgres {
		return func() {}, true, nil
	}
	conn, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		return nil, false, fmt.Errorf("lock %s: connect: %w", name, err)
	}
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", advisoryKey(name)).Scan(&ok); err != nil || !ok {
		closeLockConn(conn)
		if err != nil {
			return nil, false, fmt.Errorf("lock %s: %w", name, err)
		}
		return nil, false, nil
	}
	return func() { unlockConn(conn, name) }, true, nil
}

// waitLock waits for the cluster-wide lock name (until ctx ends) and returns
// the function that gives it back.
func (db *DB) waitLock(ctx context.Context, name string) (unlock func(), err error) {
	if db.Engine != Postgres {
		return func() {}, nil
	}
	conn, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		return nil, fmt.Errorf("lock %s: connect: %w", name, err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", advisoryKey(name)); err != nil {
		closeLockConn(conn)
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	return func() { unlockConn(conn, name) }, nil
}

// unlockConn gives the lock name back on its session, then ends the session.
// Ending the session alone releases the lock too, but only once the server's
// backend has seen the goodbye and exited, after Close returns: a node that
// takes the lock right after unlock returned could find it still held. The
// explicit unlock answers only once the lock is free. If it fails (the
// connection is dead), closing ends the session, and the lock with it.
func unlockConn(conn *pgx.Conn, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", advisoryKey(name))
	closeLockConn(conn)
}

// closeLockConn ends a lock's session, which releases its locks.
func closeLockConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = conn.Close(ctx) // the server ends the session, and its locks, also when the goodbye is lost
}
