//go:build !unix

package store

import "os"

// lockFile does not lock on this platform: run one process per data folder.
func lockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}
