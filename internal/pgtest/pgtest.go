// Package pgtest gives tests a fresh PostgreSQL database. The server is
// GATEHOUSE_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres).
// When it cannot be reached the test fails if CI=true and skips otherwise,
// saying why.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
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
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin := AdminURL()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("PostgreSQL is required in CI and is not reachable at %s: %v", admin, err)
		}
		tb.Skipf("PostgreSQL not reachable at %s (set GATEHOUSE_TEST_DATABASE_URL; CI=true makes this a failure): %v", admin, err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "gatehouse_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
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
