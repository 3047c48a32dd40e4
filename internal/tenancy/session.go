package tenancy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// Session is a member signed in to the dashboard. Its token is in the
// member's cookie; the store keeps only the token's SHA-256.
type Session struct {
	TokenSHA256 string
	MemberID    string
	OrgID       string
	// ProjectID and EnvID are the environment the member works in.
	ProjectID  string
	EnvID      string
	UserAgent  string
	ClientIP   string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
}

// SessionStore keeps sessions.
type SessionStore interface {
	CreateSession(ctx context.Context, s *Session) error
	GetSession(ctx context.Context, tokenSHA256 string) (*Session, error)
	UpdateSession(ctx context.Context, s *Session) error
	DeleteSession(ctx context.Context, tokenSHA256 string) error
	// SignOut deletes the session of tokenSHA256 (nothing when there is
	// none) and, when it was still live at now (see SessionOf), records
	// the sign-out (member.signed_out, from clientIP) in the audit trail,
	// in one transaction.
	SignOut(ctx context.Context, tokenSHA256, clientIP string, now time.Time) error
	// RecordSignInFailure records a failed sign-in in the audit trail, in
	// a transaction of its own (a failed sign-in writes nothing else).
	RecordSignInFailure(ctx context.Context, f SignInFailure) error
}

// SignInFailure is a failed dashboard sign-in, as the audit trail records
// it (member.sign_in_failed): on the members it was for, with the method
// and the client's address, and never the password, a token, or why it
// failed.
type SignInFailure struct {
	// Members are the ones the attempt was on: with a password sign-in,
	// the members with the address given that have a password (in the
	// organization chosen, if one was); with OIDC, the one member the
	// provider's account was refused for. None: nothing is recorded (an
	// address no member has belongs to no organization's trail, and so a
	// flood of made-up addresses writes nothing).
	Members []Member
	// Method is how: "password" or "oidc".
	Method    string
	ClientIP  string
	RequestID string
}

// Sign-in methods of SignInFailure.
const (
	SignInPassword = "password"
	SignInOIDC     = "oidc"
)

// Session lifetimes: a session ends after SessionIdle without use, and
// SessionMax after it started whatever its use; its last use is recorded
// at most every sessionTouch.
const (
	SessionIdle  = 12 * time.Hour
	SessionMax   = 7 * 24 * time.Hour
	sessionTouch = time.Minute
)

// Signed is a live session with who it is for, as they are now (a role
// change applies at once).
type Signed struct {
	Session *Session
	Member  *Member
	Role    *Role
	Org     *Organization
}

// StartSession signs member m in and returns the session's token, for the
// member's cookie only.
func (s *Service) StartSession(ctx context.Context, st SessionStore, m *Member, userAgent, clientIP string) (string, *Session, error) {
	token := NewToken()
	now := s.Now()
	x := &Session{TokenSHA256: TokenHash(token), MemberID: m.ID, OrgID: m.OrgID, UserAgent: clip(userAgent, 300),
		ClientIP: clientIP, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(SessionIdle)}
	if err := st.CreateSession(ctx, x); err != nil {
		return "", nil, err
	}
	return token, x, nil
}

// SessionOf returns the live session of token with its member, role and
// organization; nil when there is none, it ended, or its member or
// organization is gone (it is then deleted).
func (s *Service) SessionOf(ctx context.Context, st SessionStore, token string) (*Signed, error) {
	if token == "" {
		return nil, nil
	}
	x, err := st.GetSession(ctx, TokenHash(token))
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	now := s.Now()
	if !x.LiveAt(now) {
		_ = st.DeleteSession(ctx, x.TokenSHA256)
		return nil, nil
	}
	m, err := s.Store.GetMember(ctx, x.OrgID, x.MemberID)
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	role, err := s.Role(ctx, m.OrgID, m.Role)
	if err != nil {
		return nil, err
	}
	org, err := s.Store.GetOrganization(ctx, m.OrgID)
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound { // the organization was deleted
		_ = st.DeleteSession(ctx, x.TokenSHA256)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if now.Sub(x.LastSeenAt) > sessionTouch {
		x.LastSeenAt = now
		x.ExpiresAt = now.Add(SessionIdle)
		if end := x.CreatedAt.Add(SessionMax); end.Before(x.ExpiresAt) {
			x.ExpiresAt = end
		}
		if err := st.UpdateSession(ctx, x); err != nil {
			return nil, err
		}
	}
	return &Signed{Session: x, Member: m, Role: role, Org: org}, nil
}

// LiveAt says whether session x is still live at now: used within
// SessionIdle (ExpiresAt) and within SessionMax of its start.
func (x *Session) LiveAt(now time.Time) bool {
	return now.Before(x.ExpiresAt) && now.Sub(x.CreatedAt) <= SessionMax
}

func clip(v string, n int) string {
	if len(v) > n {
		return v[:n]
	}
	return v
}

// WorkIn records the environment a session's member works in.
func (s *Service) WorkIn(ctx context.Context, st SessionStore, x *Session, projectID, envID string) error {
	x.ProjectID, x.EnvID = projectID, envID
	return st.UpdateSession(ctx, x)
}

// EndSession signs the session of token out (nothing when there is none),
// from clientIP: the sign-out is in the audit trail. If it cannot be
// recorded, the session is deleted all the same (revoking it matters
// more than recording it) and the error says so: ErrSignOutNotRecorded
// when the session is gone, another error when it may still be live.
func (s *Service) EndSession(ctx context.Context, st SessionStore, token, clientIP string) error {
	err := st.SignOut(ctx, TokenHash(token), clientIP, s.Now())
	if err == nil || gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
		return nil
	}
	if derr := st.DeleteSession(ctx, TokenHash(token)); derr != nil && gatehouse.ErrorCode(derr) != gatehouse.CodeNotFound {
		return fmt.Errorf("sign out: %w; delete the session: %w", err, derr)
	}
	return fmt.Errorf("%w: %w", ErrSignOutNotRecorded, err)
}

// ErrSignOutNotRecorded: EndSession deleted the session but could not
// record the sign-out.
var ErrSignOutNotRecorded = errors.New("signed out, but the sign-out is not in the audit trail")

// OrganizationOf returns the organization of member m (one that
// Authenticate returned: the caller has proven to be m).
func (s *Service) OrganizationOf(ctx context.Context, m *Member) (*Organization, error) {
	return s.Store.GetOrganization(ctx, m.OrgID)
}
