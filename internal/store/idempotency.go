package store

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/idempotency"
)

var _ idempotency.Store = (*Store)(nil)

// ClaimIdempotency inserts r unless a live record of its key exists, which
// it returns instead; an expired one, or one running since before
// leaseBefore, is replaced.
func (s *Store) ClaimIdempotency(ctx context.Context, r *idempotency.Record, leaseBefore time.Time) (*idempotency.Record, error) {
	var existing *idempotency.Record
	err := s.InTx(ctx, func(tx *Store) error {
		if _, err := tx.tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE org_id = $1 AND key_sha256 = $2
			AND (expires_at <= $3 OR (state = $4 AND created_at < $5))`,
			r.OrgID, r.KeyHash, micros(r.CreatedAt), idempotency.StateRunning, micros(leaseBefore)); err != nil {
			return fmt.Errorf("claim idempotency key: %w", formatError(err))
		}
		res, err := tx.tx.ExecContext(ctx, `INSERT INTO idempotency_keys (org_id, key_sha256, fingerprint, state, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (org_id, key_sha256) DO NOTHING`,
			r.OrgID, r.KeyHash, r.Fingerprint, r.State, micros(r.CreatedAt), micros(r.ExpiresAt))
		if err != nil {
			return fmt.Errorf("claim idempotency key: %w", formatError(err))
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		existing, err = getOne(ctx, tx.tx, "idempotency key", "", `SELECT org_id, key_sha256, fingerprint, state, status, answer, sealed_by, created_at, expires_at
			FROM idempotency_keys WHERE org_id = $1 AND key_sha256 = $2`, func(sc scanner) (idempotency.Record, error) {
			var x idempotency.Record
			var c, e int64
			err := sc.Scan(&x.OrgID, &x.KeyHash, &x.Fingerprint, &x.State, &x.Status, &x.Answer, &x.SealedBy, &c, &e)
			x.CreatedAt, x.ExpiresAt = fromMicros(c), fromMicros(e)
			return x, err
		}, r.OrgID, r.KeyHash)
		return err
	})
	return existing, err
}

// CompleteIdempotency stores the answer of a claimed record.
func (s *Store) CompleteIdempotency(ctx context.Context, r *idempotency.Record) error {
	return execOne(ctx, s.writer(), "idempotency key", "", `UPDATE idempotency_keys SET state = $3, status = $4, answer = $5, sealed_by = $6
		WHERE org_id = $1 AND key_sha256 = $2 AND fingerprint = $7`, r.OrgID, r.KeyHash, r.State, r.Status, r.Answer, r.SealedBy, r.Fingerprint)
}

// ReleaseIdempotency forgets a record.
func (s *Store) ReleaseIdempotency(ctx context.Context, orgID, keyHash string) error {
	return exec(ctx, s.writer(), "idempotency key", "DELETE FROM idempotency_keys WHERE org_id = $1 AND key_sha256 = $2", orgID, keyHash)
}

// PruneIdempotency forgets the records that expired before before.
func (s *Store) PruneIdempotency(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.writer().ExecContext(ctx, "DELETE FROM idempotency_keys WHERE expires_at <= $1", micros(before))
	if err != nil {
		return 0, fmt.Errorf("prune idempotency keys: %w", formatError(err))
	}
	return res.RowsAffected()
}
