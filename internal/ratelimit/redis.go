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

// chargeScript counts ARGV[3] requests a node let through on its own
// (while it could not reach Redis) against the bucket: its theoretical
// arrival time moves on by that many intervals, allowed or not, so that the
// other nodes see them.
var chargeScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = math.floor(tonumber(ARGV[1]) / tonumber(ARGV[2]))
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
tat = tat + interval * tonumber(ARGV[3])
redis.call('SET', KEYS[1], tat, 'PX', math.ceil((tat - now) / 1000))
return tat - now
`)

// heartbeatScript records node ARGV[1] alive for ARGV[2] ms (a sorted set
// scored by each node's expiry, on Redis's clock), forgets the nodes whose
// time is up and returns how many are alive.
var heartbeatScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('PEXPIRE', KEYS[1], ttl)
return redis.call('ZCARD', KEYS[1])
`)

// quietLogger keeps go-redis from printing on its own: failures reach the
// Limiter, which logs them once in a while.
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

func init() { redis.SetLogger(quietLogger{}) }

// DefaultRedisTimeout bounds one Redis call of a rate limit decision.
const DefaultRedisTimeout = 200 * time.Millisecond

// RedisOptions configure OpenRedis.
type RedisOptions struct {
	// Prefix starts every key (default "gatehouse:"): buckets are under
	// Prefix+"rl:", the live nodes in Prefix+"nodes".
	Prefix string
	// Timeout bounds each call: connecting, waiting for a pooled
	// connection, writing and reading (default DefaultRedisTimeout). A call
	// that takes longer fails, and the Limiter decides on its own share.
	Timeout time.Duration
}

// chargeTimeout bounds a charge: longer than a decision's call, as a
// charge that timed out may still be counted, and is then counted again.
const chargeTimeout = 2 * time.Second

// Redis is the store shared by many nodes.
type Redis struct {
	client redis.UniversalClient
	charge redis.UniversalClient // client with chargeTimeout
	prefix string                // of buckets
	nodes  string                // the live nodes' key
}

// NewRedis returns a store over client; keys start with prefix (see
// RedisOptions.Prefix).
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{client: client, charge: client, prefix: prefix + "rl:", nodes: prefix + "nodes"}
}

// OpenRedis connects to url (redis://host:port/db).
func OpenRedis(url string, o RedisOptions) (*Redis, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	if o.Prefix == "" {
		o.Prefix = "gatehouse:"
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultRedisTimeout
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout, opt.PoolTimeout = o.Timeout, o.Timeout, o.Timeout, o.Timeout
	opt.MaxRetries = 0 // a failed call is decided on this node's share at once
	opt.DialerRetries, opt.DialerRetryTimeout = 1, 10*time.Millisecond
	c := redis.NewClient(opt)
	r := NewRedis(c, o.Prefix)
	r.charge = c.WithTimeout(max(chargeTimeout, o.Timeout))
	return r, nil
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

// Heartbeat implements Shared.
func (r *Redis) Heartbeat(ctx context.Context, node string, ttl time.Duration) (int, error) {
	n, err := heartbeatScript.Run(ctx, r.client, []string{r.nodes}, node, ttl.Milliseconds()).Int()
	if err != nil {
		return 0, fmt.Errorf("redis node heartbeat: %w", err)
	}
	return n, nil
}

// Leave implements Shared.
func (r *Redis) Leave(ctx context.Context, node string) error {
	return r.client.ZRem(ctx, r.nodes, node).Err()
}

// Charge implements Shared: one pipeline (the script's text is sent with
// each charge, as a pipeline cannot fall back from EVALSHA).
func (r *Redis) Charge(ctx context.Context, charges []Charge) error {
	if len(charges) == 0 {
		return nil
	}
	cmds := make([]*redis.Cmd, len(charges))
	_, err := r.charge.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range charges {
			cmds[i] = chargeScript.Eval(ctx, p, []string{r.prefix + c.Bucket}, int64(Period/time.Microsecond), c.Limit, c.N)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis rate limit charge: %w", err)
	}
	for i, cmd := range cmds {
		us, err := cmd.Int64()
		if err != nil {
			return fmt.Errorf("redis rate limit charge: %w", err)
		}
		charges[i].Full = time.Duration(us) * time.Microsecond
	}
	return nil
}
