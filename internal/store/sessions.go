package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
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

// SignOut ends a session and, when it was still live at now (as
// tenancy's SessionOf decides: an expired session's row may linger until
// PruneSessions), records the sign-out (member.signed_out) in the same
// transaction; a session that is not there (already signed out, or
// pruned) is nothing to record.
func (s *Store) SignOut(ctx context.Context, tokenSHA256, clientIP string, now time.Time) error {
	return s.InTx(ctx, func(tx *Store) error {
		var x tenancy.Session
		var created, expires int64
		err := tx.writer().QueryRowContext(ctx, "DELETE FROM sessions WHERE token_sha256 = $1 RETURNING org_id, member_id, created_at, expires_at", tokenSHA256).
			Scan(&x.OrgID, &x.MemberID, &created, &expires)
		if err == sql.ErrNoRows {
			return nil
		}
		if err != nil {
			return fmt.Errorf("sign out: %w", formatError(err))
		}
		x.CreatedAt, x.ExpiresAt = fromMicros(created), fromMicros(expires)
		if !x.LiveAt(now) {
			return nil
		}
		return tx.memberAudit(ctx, x.OrgID, x.MemberID, "member.signed_out", clientIP, nil)
	})
}

// RecordSignInFailure records a failed sign-in (member.sign_in_failed) on
// each member it was for, in a transaction of its own: who tried is not
// known, so the actor is the member's address with no id, and the entry
// holds only the method (see tenancy.SignInFailure).
func (s *Store) RecordSignInFailure(ctx context.Context, f tenancy.SignInFailure) error {
	if len(f.Members) == 0 {
		return nil
	}
	doc, err := json.Marshal(map[string]string{"method": f.Method})
	if err != nil {
		return err
	}
	requestID := f.RequestID
	if requestID == "" {
		requestID = audit.ActorFrom(ctx).RequestID
	}
	return s.InTx(ctx, func(tx *Store) error {
		for _, m := range f.Members {
			if err := tx.RecordAudit(ctx, audit.AuditEntry{OrganizationID: m.OrgID, Action: "member.sign_in_failed", ObjectType: "member", ObjectID: m.ID, ObjectKey: m.Email,
				ActorType: audit.ActorMember, ActorName: m.Email, ClientIP: f.ClientIP, RequestID: requestID, After: doc}); err != nil {
				return err
			}
		}
		return nil
	})
}

// PruneSessions deletes the sessions that have expired.
func (s *Store) PruneSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.writer().ExecContext(ctx, "DELETE FROM sessions WHERE expires_at < $1", micros(now))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
