package ratelimit_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
)

// The limiter counts its decisions on limited requests (not the unlimited
// ones) and the store's failures: what the metrics read.
func TestLimiterCounts(t *testing.T) {
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	l := ratelimit.NewLimiter(ratelimit.NewMemory(), func(context.Context, *auth.Principal) (ratelimit.Target, error) {
		return ratelimit.Target{}, nil
	}, ratelimit.Options{FailOpen: true, Log: quiet})
	b := bucket()
	for range 3 {
		l.TakeTarget(ctx, ratelimit.Target{Bucket: b, Limit: 2})
	}
	l.TakeTarget(ctx, ratelimit.Target{Bucket: b, Limit: 0}) // not limited: not counted
	if c := l.Counts(); c != (ratelimit.Counts{Allowed: 2, Refused: 1}) {
		t.Fatalf("memory store: %+v, want 2 allowed, 1 refused", c)
	}

	// A Redis nobody listens on: every call fails; fail closed refuses.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r, err := ratelimit.OpenRedis("redis://"+addr, ratelimit.RedisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	down := ratelimit.NewLimiter(r, nil, ratelimit.Options{FailOpen: false, Log: quiet})
	for i := range 3 {
		d := down.TakeTarget(ctx, ratelimit.Target{Bucket: b, Limit: 2})
		if !d.OnShare || d.Allowed != (i < 2) {
			t.Fatalf("decision %d with the store down: %+v", i, d)
		}
	}
	// one failure sent the limiter to its share; the share decided the rest
	if c := down.Counts(); c != (ratelimit.Counts{Allowed: 2, Refused: 1, StoreFailures: 1}) {
		t.Fatalf("store down: %+v, want 2 allowed, 1 refused, 1 store failure", c)
	}
}
