package store

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// SecureDataDir makes the embedded default's data folder private: the
// folder (and any inside it) mode 0700, its files 0600. The databases hold
// password hashes, API key records and the audit of every call, and the
// folder holds the secret key: nobody but the server's user may read them.
// It returns a note for each mode it had to repair, to be logged as a
// warning.
func SecureDataDir(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	var notes []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil // not ours to change
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			if err := os.Chmod(path, perm&^0o077|want&0o700); err != nil {
				return fmt.Errorf("make %s private: %w", path, err)
			}
			notes = append(notes, fmt.Sprintf("%s was readable by others (mode %o): changed to %o", path, perm, perm&^0o077|want&0o700))
		}
		return nil
	})
	if err != nil {
		return notes, fmt.Errorf("data dir %s: %w", dir, err)
	}
	return notes, nil
}

// createPrivate creates path with mode 0600 unless it exists, so that
// SQLite (which gives its -wal and -shm files the database file's mode)
// never makes a file others can read.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	return f.Close()
}
