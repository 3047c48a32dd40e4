package fine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// The peers' servers are built from the Go module proxy at pinned
// versions into a cache folder outside the repository, and reused by
// later runs (cmd/httpbench, cmd/finehttp -abac). Gatehouse's own binary
// is rebuilt on every run from the repository this module sits in, so a
// run measures what is checked out.

// Pinned versions of the peers' servers.
const (
	OPAVersion     = "v1.22.2"
	OpenFGAVersion = "v1.22.1" // pinned by bench/go.mod
	SpiceDBVersion = "v1.56.2" // pinned by bench/go.mod
	CerbosVersion  = "v0.55.0" // the newest that builds with Go 1.26 (v0.56 wants go 1.27)
)

// DefaultCacheDir is $XDG_CACHE_HOME/gatehouse-bench, else
// ~/.cache/gatehouse-bench.
func DefaultCacheDir() string {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "gatehouse-bench")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".cache", "gatehouse-bench")
	}
	return filepath.Join(os.TempDir(), "gatehouse-bench")
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// goCmd is a go command with its output kept for the error.
func goCmd(ctx context.Context, dir string, env []string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if len(out) > 3000 {
			out = out[len(out)-3000:]
		}
		return fmt.Errorf("go %v (in %s): %w\n%s", args, dir, err, out)
	}
	return nil
}

// Builder builds or finds the servers' binaries.
type Builder struct {
	ModuleDir string // the bench module's directory
	Cache     string // where the peers' binaries are kept
	Logf      func(format string, args ...any)
	// Release builds Gatehouse's programs as the Makefile's release and
	// the Docker image do (CGO_ENABLED=0, -trimpath, -ldflags "-s -w")
	// instead of a plain go build.
	Release bool
}

// cached returns bin if it exists, else runs build (which must create it)
// and says how long it took.
func (b *Builder) cached(name, version, bin string, build func() error) (string, error) {
	if exists(bin) {
		b.Logf("%s %s: cached at %s", name, version, bin)
		return bin, nil
	}
	b.Logf("building %s %s into %s (minutes on a cold module and build cache)...", name, version, filepath.Dir(bin))
	start := time.Now()
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return "", err
	}
	if err := build(); err != nil {
		return "", fmt.Errorf("build %s %s: %w", name, version, err)
	}
	if !exists(bin) {
		return "", fmt.Errorf("build %s %s: no binary at %s", name, version, bin)
	}
	b.Logf("  %s built in %v", name, time.Since(start).Round(time.Second))
	return bin, nil
}

// Gatehouse builds the repository's server (every run: the build cache
// makes it quick when nothing changed).
func (b *Builder) Gatehouse(ctx context.Context) (string, error) {
	return b.fromRepository(ctx, "gatehouse")
}

// GatehousePDP builds the repository's PDP-only program, cmd/gatehouse-pdp,
// as Gatehouse does the server.
func (b *Builder) GatehousePDP(ctx context.Context) (string, error) {
	return b.fromRepository(ctx, "gatehouse-pdp")
}

// fromRepository builds ./cmd/<name> of the repository the bench module
// sits in into the cache folder.
func (b *Builder) fromRepository(ctx context.Context, name string) (string, error) {
	bin := filepath.Join(b.Cache, name)
	start := time.Now()
	args, env, how := []string{"build", "-o", bin}, []string(nil), "go build"
	if b.Release {
		args, env, how = append(args, "-trimpath", "-ldflags", "-s -w"), []string{"CGO_ENABLED=0"}, "release build (CGO_ENABLED=0, -trimpath, -s -w)"
	}
	if err := goCmd(ctx, filepath.Dir(b.ModuleDir), env, append(args, "./cmd/"+name)...); err != nil {
		return "", err
	}
	b.Logf("%s built from %s in %v (%s)", name, filepath.Dir(b.ModuleDir), time.Since(start).Round(time.Millisecond), how)
	return bin, nil
}

// OPA is `go install github.com/open-policy-agent/opa@v1.22.2` (OPA's own
// go.mod; the bench module's would need all of OPA's command-line
// dependencies).
func (b *Builder) OPA(ctx context.Context) (string, error) {
	dir := filepath.Join(b.Cache, "opa-"+OPAVersion)
	return b.cached("opa", OPAVersion, filepath.Join(dir, "opa"), func() error {
		return goCmd(ctx, dir, []string{"GOWORK=off", "GOBIN=" + dir, "GOFLAGS="}, "install", "github.com/open-policy-agent/opa@"+OPAVersion)
	})
}

// FromModule builds a main package the bench module depends on (its
// version pinned by bench/go.mod), as cmd/finehttp does.
func (b *Builder) FromModule(ctx context.Context, name, version, pkg string) (string, error) {
	dir := filepath.Join(b.Cache, name+"-"+version)
	bin, err := b.cached(name, version, filepath.Join(dir, name), func() error {
		_, _, err := BuildBinary(ctx, b.ModuleDir, dir, name, pkg)
		return err
	})
	if err != nil {
		return "", err
	}
	got, err := BinaryVersion(ctx, bin, pkg)
	if err != nil {
		return "", err
	}
	if got != version {
		return "", fmt.Errorf("%s is %s %s, want %s: remove it to rebuild", bin, name, got, version)
	}
	return bin, nil
}

// Cerbos: its go.mod has a replace directive, so `go install …@v0.55.0`
// refuses it. Its module source is copied out of the module cache and
// built in place with GOWORK=off (its go.work names folders the module zip
// does not hold).
func (b *Builder) Cerbos(ctx context.Context) (string, error) {
	dir := filepath.Join(b.Cache, "cerbos-"+CerbosVersion)
	return b.cached("cerbos", CerbosVersion, filepath.Join(dir, "cerbos"), func() error {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", "github.com/cerbos/cerbos@"+CerbosVersion)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("go mod download github.com/cerbos/cerbos@%s: %w", CerbosVersion, err)
		}
		var dl struct{ Dir, Error string }
		if err := json.Unmarshal(out, &dl); err != nil {
			return fmt.Errorf("go mod download: %w", err)
		}
		if dl.Error != "" || dl.Dir == "" {
			return fmt.Errorf("go mod download github.com/cerbos/cerbos@%s: %s", CerbosVersion, dl.Error)
		}
		src := filepath.Join(dir, "src")
		if err := os.RemoveAll(src); err != nil {
			return err
		}
		if err := copyTree(dl.Dir, src); err != nil {
			return err
		}
		return goCmd(ctx, src, []string{"GOWORK=off", "GOFLAGS=-mod=mod"}, "build", "-o", filepath.Join(dir, "cerbos"), "./cmd/cerbos")
	})
}

// copyTree copies the files of src into dst, writable (the module cache's
// are read-only).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return fmt.Errorf("copy %s: %w", path, err)
		}
		return out.Close()
	})
}
