package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
)

// BackupSQLite copies the embedded database at src into dst, a file that
// must not exist yet, with SQLite's VACUUM INTO: a consistent copy (one
// read transaction) taken while the server runs, through a read-only
// connection that neither takes the data folder's lock nor blocks the
// server's writes. dst is made private (0600) before SQLite fills it.
func BackupSQLite(ctx context.Context, src, dst string) error {
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("backup %s: %w", src, err)
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("backup: %s already exists: choose a new --out folder", dst)
		}
		return fmt.Errorf("backup: %w", err)
	}
	f.Close()
	db, err := sql.Open("sqlite", "file:"+src+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		os.Remove(dst)
		return fmt.Errorf("backup: open %s: %w", src, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		os.Remove(dst)
		return fmt.Errorf("backup %s: %w", src, err)
	}
	return nil
}
