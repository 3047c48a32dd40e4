package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// cacheChannel is the LISTEN/NOTIFY channel of key-cache invalidations;
// factsChannel tells nodes that an environment's change feed moved.
const (
	cacheChannel = "gatehouse_cache"
	factsChannel = "gatehouse_facts"
)

// nodeLiveness is how recent a node's heartbeat must be for Publish to wait
// for its acknowledgement.
const nodeLiveness = 10 * time.Second

// PGBroadcaster spreads API key invalidations between the nodes that share a
// PostgreSQL database. Each node LISTENs; Publish NOTIFYs and then waits
// until every live node has acknowledged the event in cache_nodes, so that
// a revocation has taken effect everywhere when the API answers.
type PGBroadcaster struct {
	db     *DB
	log    *slog.Logger
	nodeID string

	healthy atomic.Bool
	mu      sync.Mutex
	subs    []func(string)
	// onFacts runs (in its own goroutine) when another node announces a
	// change to an environment's authorization data, and with "" after a
	// reconnection, when announcements may have been missed.
	onFacts func(envID string)
}

// NotifyFacts announces that envID's change feed moved.
func (b *PGBroadcaster) NotifyFacts(ctx context.Context, envID string) {
	if _, err := b.db.write.ExecContext(ctx, "SELECT pg_notify($1, $2)", factsChannel, envID); err != nil {
		b.log.Warn("notify facts change", "env_id", envID, "err", err)
	}
}

func (b *PGBroadcaster) deliverFacts(envID string) {
	if b.onFacts != nil {
		go b.onFacts(envID)
	}
}

var _ apikey.Broadcaster = (*PGBroadcaster)(nil)

// NewPGBroadcaster returns a broadcaster over db; call Run to start it.
// onFacts (when not nil) runs, in its own goroutine, when another node
// announces a change to an environment's authorization data, and with ""
// after a reconnection, when announcements may have been missed.
func NewPGBroadcaster(db *DB, log *slog.Logger, onFacts func(envID string)) *PGBroadcaster {
	return &PGBroadcaster{db: db, log: log, nodeID: uuid.Must(uuid.NewV7()).String(), onFacts: onFacts}
}

// Healthy reports whether the node is listening.
func (b *PGBroadcaster) Healthy() bool { return b.healthy.Load() }

// Subscribe registers fn.
func (b *PGBroadcaster) Subscribe(fn func(string)) {
	b.mu.Lock()
	b.subs = append(b.subs, fn)
	b.mu.Unlock()
}

func (b *PGBroadcaster) deliver(keyID string) {
	b.mu.Lock()
	subs := append([]func(string){}, b.subs...)
	b.mu.Unlock()
	for _, fn := range subs {
		fn(keyID)
	}
}

const dbNowMicros = "(extract(epoch from clock_timestamp()) * 1000000)::bigint"

// Publish announces keyID and waits for every live node's acknowledgement,
// at most 5 seconds.
func (b *PGBroadcaster) Publish(ctx context.Context, keyID string) error {
	var seq int64
	if err := b.db.write.QueryRowContext(ctx, "SELECT nextval('cache_event_seq')").Scan(&seq); err != nil {
		return fmt.Errorf("cache event: %w", err)
	}
	if _, err := b.db.write.ExecContext(ctx, "SELECT pg_notify($1, $2)", cacheChannel, strconv.FormatInt(seq, 10)+":"+keyID); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		var lagging int
		err := b.db.write.QueryRowContext(ctx,
			"SELECT COUNT(*) FROM cache_nodes WHERE seen_seq < $1 AND heartbeat_at > "+dbNowMicros+" - $2",
			seq, nodeLiveness.Microseconds()).Scan(&lagging)
		if err != nil {
			return fmt.Errorf("wait for cache acknowledgements: %w", err)
		}
		if lagging == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return &apikey.UnconfirmedError{Nodes: lagging, Err: fmt.Errorf("cache event %d: %w", seq, ctx.Err())}
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// Run listens until ctx ends, reconnecting after failures. While it is not
// listening, Healthy is false and verification bypasses the cache.
func (b *PGBroadcaster) Run(ctx context.Context) {
	go b.heartbeat(ctx)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := b.listen(ctx)
		b.healthy.Store(false)
		if ctx.Err() != nil {
			break
		}
		b.log.Warn("api key cache listener stopped; verifying every key against the database until it is back", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if _, err := b.db.write.ExecContext(cleanup, "DELETE FROM cache_nodes WHERE node_id = $1", b.nodeID); err != nil {
		b.log.Warn("unregister cache node", "err", err)
	}
}

func (b *PGBroadcaster) listen(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, b.db.URL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, ch := range []string{cacheChannel, factsChannel} {
		if _, err := conn.Exec(ctx, "LISTEN "+ch); err != nil {
			return fmt.Errorf("listen %s: %w", ch, err)
		}
	}
	// Events up to the current sequence value were announced before this
	// connection listened: forget everything instead of replaying them.
	_, err = b.db.write.ExecContext(ctx, `INSERT INTO cache_nodes (node_id, seen_seq, heartbeat_at)
		VALUES ($1, (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM cache_event_seq), `+dbNowMicros+`)
		ON CONFLICT (node_id) DO UPDATE SET seen_seq = EXCLUDED.seen_seq, heartbeat_at = EXCLUDED.heartbeat_at`, b.nodeID)
	if err != nil {
		return fmt.Errorf("register cache node: %w", err)
	}
	b.deliver("")
	b.deliverFacts("")
	b.healthy.Store(true)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("wait for notification: %w", err)
		}
		if n.Channel == factsChannel {
			b.deliverFacts(n.Payload)
			continue
		}
		seqText, keyID, ok := strings.Cut(n.Payload, ":")
		seq, perr := strconv.ParseInt(seqText, 10, 64)
		if !ok || perr != nil {
			b.log.Warn("malformed cache event", "payload", n.Payload)
			b.deliver("")
			continue
		}
		b.deliver(keyID)
		if _, err := b.db.write.ExecContext(ctx,
			"UPDATE cache_nodes SET seen_seq = GREATEST(seen_seq, $2), heartbeat_at = "+dbNowMicros+" WHERE node_id = $1",
			b.nodeID, seq); err != nil {
			return fmt.Errorf("acknowledge cache event: %w", err)
		}
	}
}

func (b *PGBroadcaster) heartbeat(ctx context.Context) {
	t := time.NewTicker(nodeLiveness / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !b.healthy.Load() {
			continue
		}
		_, err := b.db.write.ExecContext(ctx, "UPDATE cache_nodes SET heartbeat_at = "+dbNowMicros+" WHERE node_id = $1", b.nodeID)
		if err != nil && !errors.Is(err, context.Canceled) {
			b.log.Warn("cache node heartbeat", "err", err)
		}
	}
}
