package app_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/secretkey"
	"github.com/gatehouse-dev/gatehouse/internal/testserver"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// The embedded default's data folder is 0700 and every file
// in it 0600, on a fresh start and after a start that finds them open.
func TestDataFolderIsPrivate(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, dir string) {
		t.Helper()
		err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			if perm := info.Mode().Perm(); perm&0o077 != 0 {
				t.Errorf("%s has mode %o: others may read it", path, perm)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Run("fresh", func(t *testing.T) {
		cfg := config.Default()
		cfg.DataDir = filepath.Join(t.TempDir(), "data")
		a, err := app.New(context.Background(), cfg, quiet())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Init(context.Background(), app.DefaultInitOptions()); err != nil {
			t.Fatal(err)
		}
		check(t, cfg.DataDir) // while open: the -wal and -shm files exist
		for _, f := range []string{"gatehouse.db", "gatehouse.db-wal", "logs.db", secretkey.FileName} {
			if _, err := os.Stat(filepath.Join(cfg.DataDir, f)); err != nil {
				t.Errorf("expected %s: %v", f, err)
			}
		}
		a.Close()
		check(t, cfg.DataDir)
	})
	t.Run("repaired", func(t *testing.T) {
		cfg := config.Default()
		cfg.DataDir = filepath.Join(t.TempDir(), "data")
		a, err := app.New(context.Background(), cfg, quiet())
		if err != nil {
			t.Fatal(err)
		}
		a.Close()
		// An operator's copy or an older version left everything open.
		_ = filepath.Walk(cfg.DataDir, func(path string, info os.FileInfo, err error) error {
			if info.IsDir() {
				return os.Chmod(path, 0o755)
			}
			return os.Chmod(path, 0o644)
		})
		var logs testserver.SyncBuffer // the node logs from its background work too
		a, err = app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		check(t, cfg.DataDir)
		if !strings.Contains(logs.String(), "readable by others") {
			t.Errorf("the repair was not logged:\n%s", logs.String())
		}
	})
}

// The secret key rotates on the embedded default: secrets
// re-sealed with a new key in secret.key, the old key no longer opens
// them, and a rotation cut off after it wrote the new key leaves a server
// that starts and a second run that finishes.
func TestSecretKeyRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	a, err := app.New(ctx, cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Init(ctx, app.DefaultInitOptions())
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	keyFile := filepath.Join(cfg.DataDir, secretkey.FileName)
	before, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}

	rot, err := app.RotateSecretKey(ctx, cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if rot.Resealed < 1 {
		t.Errorf("rotation re-sealed %d secrets (the signing key at least)", rot.Resealed)
	}
	after, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) == string(before) {
		t.Fatal("rotation kept the key")
	}
	if _, err := os.Stat(keyFile + secretkey.NextSuffix); !os.IsNotExist(err) {
		t.Errorf("rotation left %s%s behind", keyFile, secretkey.NextSuffix)
	}
	// The server starts with the new key and the old organization key works.
	a, url := start(t, cfg)
	if status, _ := call(t, "GET", url+"/v1/me", res.Token, ""); status != 200 {
		t.Fatalf("after rotation the organization key answers %d", status)
	}
	a.Close()

	// With only the old key the signing key cannot be opened.
	old := config.Default()
	old.DataDir = cfg.DataDir
	old.SecretKey = string(before)
	if _, err := app.New(ctx, old, quiet()); err == nil || !strings.Contains(err.Error(), "secret key") {
		t.Errorf("a server with the old key started (%v)", err)
	}

	// Cut off after writing the next key: the server still starts; a
	// second run finishes.
	next, err := secretkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := secretkey.WriteKeyFile(keyFile+secretkey.NextSuffix, next); err != nil {
		t.Fatal(err)
	}
	a, url = start(t, cfg)
	if status, _ := call(t, "GET", url+"/v1/me", res.Token, ""); status != 200 {
		t.Fatalf("with a rotation cut off the organization key answers %d", status)
	}
	a.Close()
	if _, err := app.RotateSecretKey(ctx, cfg, quiet()); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(keyFile); strings.TrimSpace(string(got)) != next.Encode() {
		t.Error("the second run did not finish the cut-off rotation with its key")
	}
}

// PostgreSQL needs a configured key (one shared by every
// node), and says how to make one.
func TestPostgresNeedsASecretKey(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres"
	_, err := app.New(context.Background(), cfg, quiet())
	if err == nil || !strings.Contains(err.Error(), "GATEHOUSE_SECRET_KEY") || !strings.Contains(err.Error(), "gatehouse secret-key generate") {
		t.Fatalf("PostgreSQL without a secret key: %v", err)
	}
}
