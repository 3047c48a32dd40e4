package secretkey

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// FileName is the key file of the embedded default, in the data folder.
const FileName = "secret.key"

// NextSuffix marks the key file a rotation of the embedded default writes
// before it re-seals: while it exists (a rotation was cut off), its key
// opens values as well.
const NextSuffix = ".next"

// Source says where the secret key comes from, in order of precedence.
type Source struct {
	// Key is the key itself (GATEHOUSE_SECRET_KEY).
	Key string
	// File holds the key (--secret-key-file, GATEHOUSE_SECRET_KEY_FILE).
	File string
	// Previous are keys being replaced: they open values but never seal
	// (GATEHOUSE_PREVIOUS_SECRET_KEY, --previous-secret-key-file).
	Previous     []string
	PreviousFile string
	// DataDir, when neither Key nor File is set, holds the key file of the
	// embedded default (created on first start when Create is set).
	DataDir string
	Create  bool
}

// Explicit reports whether the key is configured rather than the embedded
// default's file.
func (s Source) Explicit() bool { return s.Key != "" || s.File != "" }

// DefaultFile is the embedded default's key file.
func (s Source) DefaultFile() string { return filepath.Join(s.DataDir, FileName) }

// ErrNoKey means no key is configured and none may be created here.
var ErrNoKey = errors.New("no secret key: set GATEHOUSE_SECRET_KEY or --secret-key-file (every node of a deployment needs the same key; make one with `gatehouse secret-key generate`). " +
	"Gatehouse encrypts the API keys' signing keys and webhook secrets with it, so that a copy of the database reveals no credential")

// Load returns the ring the source describes. Notes are things worth
// logging (a key file created or its mode repaired).
func Load(s Source) (ring *Ring, notes []string, err error) {
	var primary *Key
	var older []*Key
	switch {
	case s.Key != "":
		if primary, err = Parse(s.Key); err != nil {
			return nil, nil, fmt.Errorf("GATEHOUSE_SECRET_KEY: %w", err)
		}
	case s.File != "":
		if primary, notes, err = readKeyFile(s.File); err != nil {
			return nil, nil, err
		}
	case s.DataDir != "":
		path := s.DefaultFile()
		primary, notes, err = readKeyFile(path)
		if errors.Is(err, fs.ErrNotExist) && s.Create {
			if primary, err = Generate(); err != nil {
				return nil, nil, err
			}
			if err = WriteKeyFile(path, primary); err != nil {
				return nil, nil, err
			}
			notes = append(notes, "created the secret key "+path+" (mode 0600): back it up apart from the database; without it the signing keys and webhook secrets cannot be read")
		} else if err != nil {
			return nil, nil, err
		}
		next, n, err := readKeyFile(path + NextSuffix)
		switch {
		case err == nil:
			older = append(older, next)
			notes = append(notes, n...)
			notes = append(notes, "a secret key rotation was cut off ("+path+NextSuffix+" exists): run `gatehouse secret-key rotate` again")
		case !errors.Is(err, fs.ErrNotExist):
			return nil, nil, err
		}
	default:
		return nil, nil, ErrNoKey
	}
	for i, text := range s.Previous {
		k, err := Parse(text)
		if err != nil {
			return nil, nil, fmt.Errorf("previous secret key %d: %w", i+1, err)
		}
		older = append(older, k)
	}
	if s.PreviousFile != "" {
		k, n, err := readKeyFile(s.PreviousFile)
		if err != nil {
			return nil, nil, err
		}
		older = append(older, k)
		notes = append(notes, n...)
	}
	ring, err = NewRing(primary, older...)
	return ring, notes, err
}

// readKeyFile reads a key file, repairing a mode that lets others read it.
func readKeyFile(path string) (*Key, []string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("secret key file: %w", err)
	}
	var notes []string
	if st.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, nil, fmt.Errorf("secret key file %s is readable by others (mode %o) and could not be fixed: %w", path, st.Mode().Perm(), err)
		}
		notes = append(notes, fmt.Sprintf("the secret key file %s was readable by others (mode %o): changed to 0600", path, st.Mode().Perm()))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("secret key file: %w", err)
	}
	k, err := Parse(string(data))
	if err != nil {
		return nil, nil, fmt.Errorf("secret key file %s: %w", path, err)
	}
	return k, notes, nil
}

// WriteKeyFile writes k to path with mode 0600, atomically and durably: a
// crash leaves either no file or the whole key.
func WriteKeyFile(path string, k *Key) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("secret key file: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".secret-key-*")
	if err != nil {
		return fmt.Errorf("secret key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("secret key file: %w", err)
	}
	if _, err := tmp.WriteString(k.Encode() + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("secret key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("secret key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("secret key file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("secret key file: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("secret key file: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !strings.Contains(err.Error(), "invalid argument") {
		return fmt.Errorf("secret key file: sync %s: %w", dir, err)
	}
	return nil
}
