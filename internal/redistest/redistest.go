// Package redistest gives tests a Redis URL: GATEHOUSE_TEST_REDIS_URL
// (default redis://127.0.0.1:6379/0). When Redis cannot be reached a test
// calling URL fails if CI=true and skips otherwise, saying why; one calling
// Required always fails.
package redistest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// URL returns the Redis tests use, after checking that it answers.
func URL(tb testing.TB) string {
	tb.Helper()
	return lookup(tb, os.Getenv("CI") == "true")
}

// Required is URL for a test that has no meaning without Redis: it fails,
// CI or not, when Redis cannot be reached.
func Required(tb testing.TB) string {
	tb.Helper()
	return lookup(tb, true)
}

func lookup(tb testing.TB, required bool) string {
	tb.Helper()
	url := os.Getenv("GATEHOUSE_TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		tb.Fatalf("GATEHOUSE_TEST_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		if required {
			tb.Fatalf("Redis is required and is not reachable at %s (start it, or set GATEHOUSE_TEST_REDIS_URL): %v", url, err)
		}
		tb.Skipf("Redis not reachable at %s (set GATEHOUSE_TEST_REDIS_URL; CI=true makes this a failure): %v", url, err)
	}
	return url
}
