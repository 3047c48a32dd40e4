//go:build unix

package store

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on path (created if needed) for as long
// as the returned file is open: one process at a time owns an embedded
// database.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("the database %s is in use by another gatehouse process: stop it first, or give this one its own --data-dir", path[:len(path)-len(".lock")])
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}
