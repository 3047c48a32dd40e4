package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"runtime/debug"
	"slices"
	"strings"
)

// engineMigrations is the migration folder of one engine: the files of
// dir/<engine> and those of dir/common, whose SQL both engines run as is.
// A version number may appear in only one of the two folders.
func engineMigrations(fsys fs.FS, dir, engine string) (fs.FS, error) {
	m := migrationFS{fsys: fsys, files: map[string]string{}}
	for _, sub := range []string{engine, "common"} {
		entries, err := fs.ReadDir(fsys, path.Join(dir, sub))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
				continue
			}
			version, _, _ := strings.Cut(e.Name(), "_")
			for name := range m.files {
				if strings.HasPrefix(name, version+"_") {
					return nil, fmt.Errorf("migration version %s is in both %s and %s", version, m.files[name], path.Join(dir, sub, e.Name()))
				}
			}
			m.files[e.Name()] = path.Join(dir, sub, e.Name())
		}
	}
	return m, nil
}

// migrationFS is a flat, read-only folder of files taken from elsewhere in
// fsys.
type migrationFS struct {
	fsys  fs.FS
	files map[string]string // name → path in fsys
}

func (m migrationFS) Open(name string) (fs.File, error) {
	if name == "." {
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("use ReadDir")}
	}
	p, ok := m.files[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return m.fsys.Open(p)
}

func (m migrationFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if name != "." {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	names := make([]string, 0, len(m.files))
	for n := range m.files {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]fs.DirEntry, 0, len(names))
	for _, n := range names {
		info, err := fs.Stat(m.fsys, m.files[n])
		if err != nil {
			return nil, err
		}
		out = append(out, fs.FileInfoToDirEntry(info))
	}
	return out, nil
}

// MigrationsDigest identifies the schemas this build's migrations make:
// a hash of the main and log schemas' migration files and of the job
// queue's (River's) module versions. Tests key the migrated databases they
// copy by it, so that a changed migration makes new ones.
func MigrationsDigest() string {
	h := sha256.New()
	for _, set := range []migrationSet{mainSchema, logSchema} {
		_ = fs.WalkDir(set.fs, set.dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(set.fs, p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%s %d\n", p, len(b))
			h.Write(b)
			return nil
		})
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if strings.HasPrefix(d.Path, "github.com/riverqueue/") {
				if d.Replace != nil {
					d = d.Replace
				}
				fmt.Fprintf(h, "%s %s %s\n", d.Path, d.Version, d.Sum)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}
