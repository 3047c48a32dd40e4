package store

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

var _ tenancy.SessionStore = (*Store)(nil)

const sessionCols = "token_sha256, member_id, org_id, project_id, env_id, user_agent, client_ip, created_at, last_seen_at, expires_at"

// CreateSession stores a dashboard session.
// The sign-in is in the audit trail (member.signed_in), never the token.
func (s *Store) CreateSession(ctx context.Context, x *tenancy.Session) error {
	return s.InTx(ctx, func(tx *Store) error {
		if err := exec(ctx, tx.writer(), "session", "INSERT INTO sessions ("+sessionCols+") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
			x.TokenSHA256, x.MemberID, x.OrgID, x.ProjectID, x.EnvID, x.UserAgent, x.ClientIP, micros(x.CreatedAt), micros(x.LastSeenAt), micros(x.ExpiresAt)); err != nil {
			return err
		}
		return tx.memberAudit(ctx, x.OrgID, x.MemberID, "member.signed_in", x.ClientIP,
			map[string]any{"user_agent": x.UserAgent, "expires_at": x.ExpiresAt})
	})
}

// GetSession returns a session by the hash of its token.
func (s *Store) GetSession(ctx context.Context, tokenSHA256 string) (*tenancy.Session, error) {
	return getOne(ctx, s.reader(), "session", "", "SELECT "+sessionCols+" FROM sessions WHERE token_sha256 = $1", func(sc scanner) (tenancy.Session, error) {
		var x tenancy.Session
		var c, l, e int64
		err := sc.Scan(&x.TokenSHA256, &x.MemberID, &x.OrgID, &x.ProjectID, &x.EnvID, &x.UserAgent, &x.ClientIP, &c, &l, &e)
		x.CreatedAt, x.LastSeenAt, x.ExpiresAt = fromMicros(c), fromMicros(l), fromMicros(e)
		return x, err
	}, tokenSHA256)
}

// UpdateSession stores a session's environment and times.
func (s *Store) UpdateSession(ctx context.Context, x *tenancy.Session) error {
	return execOne(ctx, s.writer(), "session", "", "UPDATE sessions SET project_id = $2, env_id = $3, last_seen_at = $4, expires_at = $5 WHERE token_sha256 = $1",
		x.TokenSHA256, x.ProjectID, x.EnvID, micros(x.LastSeenAt), micros(x.ExpiresAt))
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, tokenSHA256 string) error {
	return exec(ctx, s.writer(), "session", "DELETE FROM sessions WHERE token_sha256 = $1", tokenSHA256)
}

// PruneSessions deletes the sessions that have expired.
func (s *Store) PruneSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.writer().ExecContext(ctx, "DELETE FROM sessions WHERE expires_at < $1", micros(now))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
