package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// gcraScript is gcra() as one atomic Redis script, in microseconds, on the
// Redis server's clock (so that every node agrees on "now").
var gcraScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local period = tonumber(ARGV[1])
local interval = math.floor(period / tonumber(ARGV[2]))
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local nxt = tat + interval
local allow_at = nxt - period
if now < allow_at then
  return {0, 0, tat - now, allow_at - now}
end
redis.call('SET', KEYS[1], nxt, 'PX', math.ceil((nxt - now) / 1000))
return {1, math.floor((period - (nxt - now)) / interval), nxt - now, 0}
`)

// quietLogger keeps go-redis from printing on its own: failures reach the
// Limiter, which logs them once in a while.
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

func init() { redis.SetLogger(quietLogger{}) }

// Redis is the store shared by many nodes.
type Redis struct {
	client redis.UniversalClient
	prefix string
}

// NewRedis returns a store over client; keys start with prefix.
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix}
}

// OpenRedis connects to url (redis://host:port/db).
func OpenRedis(url string) (*Redis, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = 500*time.Millisecond, 500*time.Millisecond, 500*time.Millisecond
	opt.MaxRetries = 0 // a failed decision fails open or closed at once
	opt.DialerRetries, opt.DialerRetryTimeout = 1, 10*time.Millisecond
	return NewRedis(redis.NewClient(opt), "gatehouse:rl:"), nil
}

// Close closes the client.
func (r *Redis) Close() error { return r.client.Close() }

// Take implements Store.
func (r *Redis) Take(ctx context.Context, bucket string, limit int) (Result, error) {
	if limit <= 0 {
		return Result{}, errors.New("ratelimit: limit must be positive")
	}
	v, err := gcraScript.Run(ctx, r.client, []string{r.prefix + bucket}, int64(Period/time.Microsecond), limit).Int64Slice()
	if err != nil {
		return Result{}, fmt.Errorf("redis rate limit: %w", err)
	}
	if len(v) != 4 {
		return Result{}, fmt.Errorf("redis rate limit: unexpected answer %v", v)
	}
	now := time.Now()
	return Result{Allowed: v[0] == 1, Limit: limit, Remaining: int(v[1]),
		Reset: now.Add(time.Duration(v[2]) * time.Microsecond), RetryAfter: time.Duration(v[3]) * time.Microsecond}, nil
}

// Ping implements Store.
func (r *Redis) Ping(ctx context.Context) error { return r.client.Ping(ctx).Err() }
