// Package pgtest gives tests a fresh PostgreSQL database. The server is
// GATEHOUSE_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres).
// When it cannot be reached the test fails if CI=true and skips otherwise,
// saying why.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// SecretKey is the instance secret key tests' PostgreSQL deployments share
// (every node of one needs the same; GATEHOUSE_SECRET_KEY). A test key,
// protecting nothing but throw-away test databases.
const SecretKey = "dGVzdHMtb25seS1nYXRlaG91c2Utc2VjcmV0LWtleS0="

// AdminURL is the server tests create their databases on.
func AdminURL() string {
	if u := os.Getenv("GATEHOUSE_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// NewDatabase creates an empty database for tb, dropped when tb ends, and
// returns its URL.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	return newDatabase(tb, "")
}

// NewDatabaseFrom creates a database for tb, dropped when tb ends, as a
// copy of the template database named after key, and returns its URL. The
// template is filled by build (given its URL; build must close every
// connection it opens) once per PostgreSQL server and key: test processes
// take turns under an advisory lock, the first builds it and marks it a
// template, the others copy it; a template whose build did not finish is
// built again. key names the content build produces (e.g. a hash of the
// migrations it runs): a template is never rebuilt for the same key.
func NewDatabaseFrom(tb testing.TB, key string, build func(ctx context.Context, url string) error) string {
	tb.Helper()
	name := "gatehouse_tmpl_" + key
	if len(name) > 63 || strings.Trim(key, "0123456789abcdefghijklmnopqrstuvwxyz_") != "" {
		tb.Fatalf("pgtest: template key %q: want at most 48 characters of [0-9a-z_]", key)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	connect(ctx, tb).Close(ctx) // skips, or fails in CI, without a server
	v, _ := templates.LoadOrStore(name, &template{})
	tp := v.(*template)
	tp.once.Do(func() { tp.err = buildTemplate(name, build) })
	if tp.err != nil {
		tb.Fatalf("template database %s: %v", name, tp.err)
	}
	return newDatabase(tb, name)
}

type template struct {
	once sync.Once
	err  error
}

// templates are this process's template databases, by name.
var templates sync.Map

// buildTemplate makes sure the template database name exists, built by
// build, under an advisory lock that other test processes wait for.
func buildTemplate(name string, build func(ctx context.Context, url string) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	admin := AdminURL()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", admin, err)
	}
	// Closing the connection gives the lock back, also when we fail.
	defer conn.Close(context.Background())
	h := fnv.New64a()
	h.Write([]byte("gatehouse test template: " + name))
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(h.Sum64())); err != nil { //nolint:gosec // a key, any 64 bits will do
		return fmt.Errorf("lock: %w", err)
	}
	var done bool
	switch err := conn.QueryRow(ctx, "SELECT datistemplate FROM pg_database WHERE datname = $1", name).Scan(&done); {
	case err == nil && done:
		return nil
	case err == nil:
		// A build that did not finish (its process died): start again.
		if _, err := conn.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop unfinished template: %w", err)
		}
	case !errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("look up template: %w", err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		return fmt.Errorf("parse %s: %w", admin, err)
	}
	u.Path = "/" + name
	if err := build(ctx, u.String()); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	// No connection may reach a template while it is copied: none can now.
	// Marking it a template comes last, so that it says the build finished.
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+name+" WITH ALLOW_CONNECTIONS false"); err != nil {
		return fmt.Errorf("close to connections: %w", err)
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+name+" WITH IS_TEMPLATE true"); err != nil {
		return fmt.Errorf("mark as template: %w", err)
	}
	return nil
}

// connect connects to the server tests create their databases on. When it
// cannot, tb fails if CI=true and skips otherwise.
func connect(ctx context.Context, tb testing.TB) *pgx.Conn {
	tb.Helper()
	admin := AdminURL()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("PostgreSQL is required in CI and is not reachable at %s: %v", admin, err)
		}
		tb.Skipf("PostgreSQL not reachable at %s (set GATEHOUSE_TEST_DATABASE_URL; CI=true makes this a failure): %v", admin, err)
	}
	return conn
}

// newDatabase creates a database for tb (a copy of template, if not
// empty), dropped when tb ends, and returns its URL.
func newDatabase(tb testing.TB, template string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin := AdminURL()
	conn := connect(ctx, tb)
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "gatehouse_test_" + hex.EncodeToString(b[:])
	create := "CREATE DATABASE " + name
	if template != "" {
		create += " TEMPLATE " + template
	}
	if _, err := conn.Exec(ctx, create); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			tb.Logf("drop test database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Logf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		tb.Fatalf("parse %s: %v", admin, err)
	}
	u.Path = "/" + name
	return u.String()
}
