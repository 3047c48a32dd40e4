package store

import (
	"context"
	"fmt"
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
