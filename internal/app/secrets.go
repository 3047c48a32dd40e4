package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/secretkey"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// SecretKeySource is where cfg says the instance's secret key is.
func SecretKeySource(cfg config.Config) secretkey.Source {
	src := secretkey.Source{Key: cfg.SecretKey, File: cfg.SecretKeyFile, PreviousFile: cfg.PreviousSecretKeyFile}
	if cfg.PreviousSecretKey != "" {
		src.Previous = []string{cfg.PreviousSecretKey}
	}
	if !cfg.IsPostgres() {
		src.DataDir, src.Create = cfg.DataDir, true
	}
	return src
}

func loadSecretKey(cfg config.Config, log *slog.Logger) (*secretkey.Ring, error) {
	ring, notes, err := secretkey.Load(SecretKeySource(cfg))
	for _, n := range notes {
		log.Warn("secret key: " + n)
	}
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return ring, nil
}

// openDB opens (and migrates) the main database cfg names, with the
// secret key ring that seals its secrets; the embedded default's data
// folder is made private first.
func openDB(ctx context.Context, cfg config.Config, log *slog.Logger) (*store.DB, error) {
	if !cfg.IsPostgres() {
		notes, err := store.SecureDataDir(cfg.DataDir)
		for _, n := range notes {
			log.Warn("data folder: " + n)
		}
		if err != nil {
			return nil, err
		}
	}
	ring, err := loadSecretKey(cfg, log)
	if err != nil {
		return nil, err
	}
	var db *store.DB
	if cfg.IsPostgres() {
		db, err = store.OpenPostgres(ctx, cfg.DatabaseURL, store.PostgresOptions{MaxConns: cfg.DatabaseMaxConns})
	} else {
		db, err = store.OpenSQLite(ctx, cfg.SQLitePath())
	}
	if err != nil {
		return nil, err
	}
	db.SetSecrets(ring)
	return db, nil
}

// RotateResult says what a secret key rotation did.
type RotateResult struct {
	store.SealReport
	// NewKeyFile is the embedded default's key file, now holding a new key
	// ("" when the key is configured: GATEHOUSE_SECRET_KEY or a key file).
	NewKeyFile string
	KeyID      string
}

// RotateSecretKey re-seals every secret in the database with the primary
// secret key, in one transaction.
//
// On the embedded default (no key configured) it first makes a new key:
// it writes it beside the current one (secret.key.next), re-seals, then
// replaces secret.key with it; a crash at any point leaves a folder the
// server starts from (while secret.key.next exists its key opens values
// too) and a second run finishes the rotation.
//
// With a configured key, configure the new key as the secret key and the
// old one as the previous key (on every node), run this once, then drop
// the previous key.
func RotateSecretKey(ctx context.Context, cfg config.Config, log *slog.Logger) (*RotateResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	src := SecretKeySource(cfg)
	db, err := openDB(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if src.Explicit() {
		rep, err := db.SealSecrets(ctx, true)
		if err != nil {
			return nil, err
		}
		ring, _, _ := secretkey.Load(src)
		return &RotateResult{SealReport: rep, KeyID: ring.Primary().ID()}, nil
	}
	current, _, err := secretkey.Load(src)
	if err != nil {
		return nil, err
	}
	path := src.DefaultFile()
	next, err := readNext(path + secretkey.NextSuffix)
	if err != nil {
		return nil, err
	}
	if next == nil { // a cut-off rotation's key is reused
		if next, err = secretkey.Generate(); err != nil {
			return nil, err
		}
		if err := secretkey.WriteKeyFile(path+secretkey.NextSuffix, next); err != nil {
			return nil, err
		}
	}
	ring, err := secretkey.NewRing(next, current.Keys()...)
	if err != nil {
		return nil, err
	}
	db.SetSecrets(ring)
	rep, err := db.SealSecrets(ctx, true)
	if err != nil {
		return nil, err
	}
	if err := secretkey.WriteKeyFile(path, next); err != nil {
		return nil, err
	}
	if err := os.Remove(path + secretkey.NextSuffix); err != nil {
		return nil, fmt.Errorf("secret key rotation: %w", err)
	}
	return &RotateResult{SealReport: rep, NewKeyFile: path, KeyID: next.ID()}, nil
}

func readNext(path string) (*secretkey.Key, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("secret key rotation: %w", err)
	}
	return secretkey.Parse(string(data))
}
