package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/facts"
)

// CountChangesSince counts envID's changes after seq, counting no further
// than limit: how far behind a change stream's client is, bounded, so a
// client far behind costs one short index scan rather than a replay.
func (s *Store) CountChangesSince(ctx context.Context, envID string, seq int64, limit int) (int, error) {
	var n int
	err := s.reader().QueryRowContext(ctx,
		"SELECT COUNT(*) FROM (SELECT 1 FROM authz_changes WHERE env_id = $1 AND seq > $2 ORDER BY seq LIMIT $3) behind",
		envID, seq, limit).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count changes since %d: %w", seq, err)
	}
	return n, nil
}

// FeedCompacted is the op of the entry that marks where an environment's
// feed was compacted: every entry before it is gone, so a follower (a node's
// engine, a PDP, an SDK) positioned before it must load a snapshot instead
// of being replayed. It takes the place of the newest entry it removed, so
// one positioned at or after it never sees it.
const FeedCompacted = facts.OpFeedCompacted

// FeedCompaction is what CompactFeed removed.
type FeedCompaction struct {
	Environments int   // environments whose feed was compacted
	Deleted      int64 // entries removed
}

// compactChunk bounds the entries one statement removes, so that SQLite's
// single writer is held briefly.
const compactChunk = 5000

// CompactFeed removes the change feed entries that no follower can be
// replayed any more: for each environment, the entries beyond its newest
// keep that are also older than olderThan. The newest entry it removes
// becomes a FeedCompacted marker, written first, so that a follower still
// before it (reading while the older entries go) meets the marker and
// resets rather than skipping what was removed.
func (s *Store) CompactFeed(ctx context.Context, keep int, olderThan time.Time) (FeedCompaction, error) {
	var out FeedCompaction
	envs, err := queryAll(ctx, s.reader(), "SELECT DISTINCT env_id FROM authz_changes", func(sc scanner) (string, error) {
		var id string
		return id, sc.Scan(&id)
	})
	if err != nil {
		return out, fmt.Errorf("compact the feed: %w", err)
	}
	for _, envID := range envs {
		var edge sql.NullInt64 // the newest entry beyond the keep window
		err := s.reader().QueryRowContext(ctx, "SELECT seq FROM authz_changes WHERE env_id = $1 ORDER BY seq DESC LIMIT 1 OFFSET $2",
			envID, keep).Scan(&edge)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("compact the feed of %s: %w", envID, err)
		}
		var floor sql.NullInt64
		if err := s.reader().QueryRowContext(ctx, "SELECT MAX(seq) FROM authz_changes WHERE env_id = $1 AND seq <= $2 AND created_at < $3",
			envID, edge.Int64, micros(olderThan)).Scan(&floor); err != nil {
			return out, fmt.Errorf("compact the feed of %s: %w", envID, err)
		}
		if !floor.Valid {
			continue
		}
		res, err := s.writer().ExecContext(ctx, "UPDATE authz_changes SET op = $1, data = '{}' WHERE seq = $2 AND op <> $1", FeedCompacted, floor.Int64)
		if err != nil {
			return out, fmt.Errorf("compact the feed of %s: mark %d: %w", envID, floor.Int64, err)
		}
		marked, _ := res.RowsAffected()
		var deleted int64
		for {
			res, err := s.writer().ExecContext(ctx, "DELETE FROM authz_changes WHERE seq IN (SELECT seq FROM authz_changes WHERE env_id = $1 AND seq < $2 ORDER BY seq LIMIT $3)",
				envID, floor.Int64, compactChunk)
			if err != nil {
				return out, fmt.Errorf("compact the feed of %s: %w", envID, err)
			}
			n, _ := res.RowsAffected()
			deleted += n
			if n < compactChunk {
				break
			}
			if err := ctx.Err(); err != nil {
				return out, err
			}
		}
		if marked+deleted > 0 {
			out.Environments++
			out.Deleted += deleted + marked
		}
	}
	return out, nil
}
