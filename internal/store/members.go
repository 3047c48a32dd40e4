package store

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// MembersByEmail returns the members with email in every organization
// that is not deleted.
func (s *Store) MembersByEmail(ctx context.Context, email string) ([]tenancy.Member, error) {
	return queryAll(ctx, s.reader(), "SELECT "+memberCols+" FROM members WHERE email = $1 AND org_id IN (SELECT id FROM organizations WHERE "+live+") ORDER BY created_at", scanMember, email)
}

// MemberPasswordHash returns a member's password hash ("" : none set).
func (s *Store) MemberPasswordHash(ctx context.Context, orgID, id string) (string, error) {
	h, err := getOne(ctx, s.reader(), "member", id, "SELECT password_hash FROM members WHERE org_id = $1 AND id = $2",
		func(sc scanner) (string, error) { var h string; return h, sc.Scan(&h) }, orgID, id)
	if err != nil {
		return "", err
	}
	return *h, nil
}

// SetMemberPassword stores a member's password hash and ends the
// member's sessions: a new password signs everyone out.
func (s *Store) SetMemberPassword(ctx context.Context, orgID, id, hash string) error {
	return s.InTx(ctx, func(tx *Store) error {
		if err := execOne(ctx, tx.writer(), "member", id, "UPDATE members SET password_hash = $3 WHERE org_id = $1 AND id = $2", orgID, id, hash); err != nil {
			return err
		}
		if err := exec(ctx, tx.writer(), "session", "DELETE FROM sessions WHERE member_id = $1", id); err != nil {
			return err
		}
		return tx.memberAudit(ctx, orgID, id, "member.password_set", "", nil) // by the member (a setup link, or their old password)
	})
}

const setupTokenCols = "token_sha256, member_id, org_id, created_by, created_at, expires_at, used_at"

// CreateSetupToken stores a setup link.
// The audit trail records it (member.setup_link_created), never its token.
func (s *Store) CreateSetupToken(ctx context.Context, t *tenancy.SetupToken) error {
	return s.InTx(ctx, func(tx *Store) error {
		if err := exec(ctx, tx.writer(), "setup link", "INSERT INTO member_tokens ("+setupTokenCols+") VALUES ($1,$2,$3,$4,$5,$6,$7)",
			t.TokenSHA256, t.MemberID, t.OrgID, t.CreatedBy, micros(t.CreatedAt), micros(t.ExpiresAt), nullMicros(t.UsedAt)); err != nil {
			return err
		}
		return tx.orgMemberAudit(ctx, t.OrgID, t.MemberID, "member.setup_link_created", map[string]any{"expires_at": t.ExpiresAt})
	})
}

// GetSetupToken returns a setup link by its hash.
func (s *Store) GetSetupToken(ctx context.Context, tokenSHA256 string) (*tenancy.SetupToken, error) {
	return getOne(ctx, s.reader(), "setup link", "", "SELECT "+setupTokenCols+" FROM member_tokens WHERE token_sha256 = $1", func(sc scanner) (tenancy.SetupToken, error) {
		var t tenancy.SetupToken
		var c, e int64
		var used nullInt
		err := sc.Scan(&t.TokenSHA256, &t.MemberID, &t.OrgID, &t.CreatedBy, &c, &e, &used)
		t.CreatedAt, t.ExpiresAt, t.UsedAt = fromMicros(c), fromMicros(e), fromNullMicros(used)
		return t, err
	}, tokenSHA256)
}

// UseSetupToken marks a setup link used.
// The member's use of it is in the audit trail (member.setup_link_used).
func (s *Store) UseSetupToken(ctx context.Context, tokenSHA256 string, at time.Time) error {
	return s.InTx(ctx, func(tx *Store) error {
		if err := execOne(ctx, tx.writer(), "setup link", "", "UPDATE member_tokens SET used_at = $2 WHERE token_sha256 = $1 AND used_at IS NULL", tokenSHA256, micros(at)); err != nil {
			return err
		}
		var orgID, memberID string
		if err := tx.writer().QueryRowContext(ctx, "SELECT org_id, member_id FROM member_tokens WHERE token_sha256 = $1", tokenSHA256).Scan(&orgID, &memberID); err != nil {
			return fmt.Errorf("setup link: %w", err)
		}
		return tx.memberAudit(ctx, orgID, memberID, "member.setup_link_used", "", nil)
	})
}

// DeleteSetupTokens deletes a member's setup links.
func (s *Store) DeleteSetupTokens(ctx context.Context, memberID string) error {
	return exec(ctx, s.writer(), "setup link", "DELETE FROM member_tokens WHERE member_id = $1", memberID)
}

// MemberOIDC returns the OpenID Connect identity a member is linked to
// ("", "": none yet).
func (s *Store) MemberOIDC(ctx context.Context, orgID, id string) (issuer, subject string, err error) {
	p, err := getOne(ctx, s.reader(), "member", id, "SELECT oidc_issuer, oidc_subject FROM members WHERE org_id = $1 AND id = $2",
		func(sc scanner) ([2]string, error) { var v [2]string; return v, sc.Scan(&v[0], &v[1]) }, orgID, id)
	if err != nil {
		return "", "", err
	}
	return p[0], p[1], nil
}

// LinkMemberOIDC links a member to an OpenID Connect identity unless it is
// linked already; it reports whether the member is now linked to exactly
// that identity (false: to another one, which stays).
//
// A new link is recorded in the audit trail (member.oidc_linked, with the
// issuer and the subject: an identifier, not a secret) in the same
// transaction.
func (s *Store) LinkMemberOIDC(ctx context.Context, orgID, id, issuer, subject string) (bool, error) {
	if s.tx == nil {
		var linked bool
		err := s.InTx(ctx, func(tx *Store) error {
			var err error
			linked, err = tx.LinkMemberOIDC(ctx, orgID, id, issuer, subject)
			return err
		})
		return linked, err
	}
	res, err := s.writer().ExecContext(ctx, "UPDATE members SET oidc_issuer = $3, oidc_subject = $4 WHERE org_id = $1 AND id = $2 AND oidc_subject = ''",
		orgID, id, issuer, subject)
	if err != nil {
		return false, fmt.Errorf("write member: %w", formatError(err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, err
	} else if n == 1 {
		if err := s.memberAudit(ctx, orgID, id, "member.oidc_linked", "", map[string]string{"id": id, "oidc_issuer": issuer, "oidc_subject": subject}); err != nil {
			return false, err
		}
	}
	// Read back from the writer: the row as this update left it.
	p, err := getOne(ctx, s.writer(), "member", id, "SELECT oidc_issuer, oidc_subject FROM members WHERE org_id = $1 AND id = $2",
		func(sc scanner) ([2]string, error) { var v [2]string; return v, sc.Scan(&v[0], &v[1]) }, orgID, id)
	if err != nil {
		return false, err
	}
	return p[0] == issuer && p[1] == subject, nil
}
