package store

import (
	"context"
	"fmt"
	"os"
)

// SQLite keeps the pages that deleted rows free inside its file: without
// more, a database never shrinks after retention. Embedded databases are
// created in incremental auto-vacuum mode, and ReclaimSpace (after each
// retention round) hands their free pages back to the file system.

// autoVacuumConvertMax is the largest existing database converted to
// incremental auto-vacuum when it is opened (the conversion rewrites the
// whole file once); a larger one is left as it is, with a warning.
const autoVacuumConvertMax = 256 << 20

// reclaimChunk is the most pages one statement frees, so that the single
// writer is held briefly.
const reclaimChunk = 2048

// setAutoVacuum puts a SQLite database in incremental auto-vacuum mode: a
// new one before its tables exist, an existing one of at most
// autoVacuumConvertMax bytes by a VACUUM. It says whether the mode is on.
func (db *DB) setAutoVacuum(ctx context.Context, path string) (bool, error) {
	var mode int
	if err := db.write.QueryRowContext(ctx, "PRAGMA auto_vacuum").Scan(&mode); err != nil {
		return false, fmt.Errorf("read auto_vacuum: %w", err)
	}
	if mode == 2 { // incremental
		return true, nil
	}
	var tables int
	if err := db.write.QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_master").Scan(&tables); err != nil {
		return false, fmt.Errorf("read the schema: %w", err)
	}
	if tables > 0 {
		size := int64(0)
		for _, f := range []string{path, path + "-wal"} {
			if fi, err := os.Stat(f); err == nil {
				size += fi.Size()
			}
		}
		if size > autoVacuumConvertMax {
			return false, nil
		}
	}
	if _, err := db.write.ExecContext(ctx, "PRAGMA auto_vacuum = INCREMENTAL"); err != nil {
		return false, fmt.Errorf("set auto_vacuum: %w", err)
	}
	// The mode takes effect when the file is rebuilt (a new file's first
	// page is already written when WAL mode is set): cheap while it is
	// small.
	if _, err := db.write.ExecContext(ctx, "VACUUM"); err != nil {
		return false, fmt.Errorf("vacuum to incremental auto_vacuum: %w", err)
	}
	if err := db.write.QueryRowContext(ctx, "PRAGMA auto_vacuum").Scan(&mode); err != nil {
		return false, fmt.Errorf("read auto_vacuum: %w", err)
	}
	return mode == 2, nil
}

// ReclaimSpace frees the pages a SQLite database's deleted rows left, a
// chunk at a time, shrinking its file; it returns the bytes freed. It does
// nothing on PostgreSQL, or on a database not in incremental auto-vacuum
// mode (see setAutoVacuum).
func (db *DB) ReclaimSpace(ctx context.Context) (int64, error) {
	if db.Engine != SQLite {
		return 0, nil
	}
	var mode, pageSize int64
	if err := db.write.QueryRowContext(ctx, "PRAGMA auto_vacuum").Scan(&mode); err != nil {
		return 0, fmt.Errorf("read auto_vacuum: %w", err)
	}
	if mode != 2 {
		return 0, nil
	}
	if err := db.write.QueryRowContext(ctx, "PRAGMA page_size").Scan(&pageSize); err != nil {
		return 0, fmt.Errorf("read page_size: %w", err)
	}
	var freed int64
	for {
		var free int64
		if err := db.write.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&free); err != nil {
			return freed, fmt.Errorf("read freelist_count: %w", err)
		}
		if free == 0 {
			if freed > 0 {
				// The file shrinks when the WAL is checkpointed: now, if
				// no reader holds it back (PASSIVE never waits).
				if _, err := db.write.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
					return freed, fmt.Errorf("checkpoint: %w", err)
				}
			}
			return freed, nil
		}
		n := min(free, reclaimChunk)
		if _, err := db.write.ExecContext(ctx, fmt.Sprintf("PRAGMA incremental_vacuum(%d)", n)); err != nil {
			return freed, fmt.Errorf("incremental vacuum: %w", err)
		}
		freed += n * pageSize
		if err := ctx.Err(); err != nil {
			return freed, err
		}
	}
}

// Checkpoint folds a SQLite database's write-ahead log into its file and
// truncates the log (nothing on PostgreSQL).
func (db *DB) Checkpoint(ctx context.Context) error {
	if db.Engine != SQLite {
		return nil
	}
	if _, err := db.write.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}
