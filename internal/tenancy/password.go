package tenancy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse"
	"golang.org/x/crypto/argon2"
)

// Password hashing: argon2id with OWASP's minimum parameters (19 MiB, two
// passes, one lane), stored in the PHC string format.
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
)

// Password length limits.
const (
	MinPasswordLen = 10
	MaxPasswordLen = 256
)

// ValidatePassword checks a new password.
func ValidatePassword(pw string) error {
	n := utf8.RuneCountInString(pw)
	if n < MinPasswordLen {
		return gatehouse.FieldError("password", "too_short", "a password has at least %d characters", MinPasswordLen)
	}
	if len(pw) > MaxPasswordLen {
		return gatehouse.FieldError("password", "too_long", "a password has at most %d bytes", MaxPasswordLen)
	}
	return nil
}

// HashPassword returns the argon2id hash of pw.
func HashPassword(pw string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckPassword reports whether pw matches hash (in constant time). A hash
// made with other parameters still checks.
func CheckPassword(hash, pw string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 || m > 1<<22 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is checked when no member has the email, so that signing in
// takes as long for an unknown email as for a known one. It is made on the
// first sign-in (CheckSignIn asks for it whether the email is known or
// not, so the first attempt costs the same either way), not when the
// program starts: hashing took 82 ms and 20 MB at every start of every
// command, and of servers that never see a sign-in.
var dummyHash = sync.OnceValue(func() string {
	h, _ := HashPassword("no member has this email") // crypto/rand does not fail (Go ≥ 1.24)
	return h
})

// SetupToken is a one-time link with which a member chooses a password.
type SetupToken struct {
	TokenSHA256 string
	MemberID    string
	OrgID       string
	CreatedBy   string
	CreatedAt   time.Time
	ExpiresAt   time.Time
	UsedAt      *time.Time
}

// SetupTokenTTL is how long a setup link works.
const SetupTokenTTL = 7 * 24 * time.Hour

// TokenHash is the SHA-256 (hex) under which a token is kept.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// SetupTokenPrefix starts every setup link's token, so that one is
// recognized (and redacted) wherever it turns up.
const SetupTokenPrefix = "ghsetup_"

// NewToken returns a random URL-safe token (32 bytes).
func NewToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// NewSetupToken makes a setup link for member m (any earlier one of m
// stops working) and returns its token, shown once.
func (s *Service) NewSetupToken(ctx context.Context, m *Member, createdBy string) (string, error) {
	token := SetupTokenPrefix + NewToken()
	now := s.now()
	t := &SetupToken{TokenSHA256: TokenHash(token), MemberID: m.ID, OrgID: m.OrgID, CreatedBy: createdBy, CreatedAt: now, ExpiresAt: now.Add(SetupTokenTTL)}
	err := s.Store.InTenancyTx(ctx, func(tx Store) error {
		if err := tx.DeleteSetupTokens(ctx, m.ID); err != nil {
			return err
		}
		return tx.CreateSetupToken(ctx, t)
	})
	return token, err
}

// SetupMember returns the member a setup link is for, if it still works.
func (s *Service) SetupMember(ctx context.Context, token string) (*Member, error) {
	t, err := s.Store.GetSetupToken(ctx, TokenHash(token))
	if err != nil || t.UsedAt != nil || !s.now().Before(t.ExpiresAt) {
		return nil, gatehouse.Errorf(gatehouse.CodeNotFound, "this link does not work (any more): ask an Admin for a new one")
	}
	return s.Store.GetMember(ctx, t.OrgID, t.MemberID)
}

// UseSetupToken sets the password of the link's member and spends the
// link, in one transaction.
func (s *Service) UseSetupToken(ctx context.Context, token, password string) (*Member, error) {
	if err := ValidatePassword(password); err != nil {
		return nil, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return nil, err
	}
	var m *Member
	err = s.Store.InTenancyTx(ctx, func(tx Store) error {
		t, err := tx.GetSetupToken(ctx, TokenHash(token))
		now := s.now()
		if err != nil || t.UsedAt != nil || !now.Before(t.ExpiresAt) {
			return gatehouse.Errorf(gatehouse.CodeNotFound, "this link does not work (any more): ask an Admin for a new one")
		}
		if m, err = tx.GetMember(ctx, t.OrgID, t.MemberID); err != nil {
			return err
		}
		if err := tx.SetMemberPassword(ctx, m.OrgID, m.ID, hash); err != nil {
			return err
		}
		return tx.UseSetupToken(ctx, t.TokenSHA256, now)
	})
	return m, err
}

// ChangePassword sets a member's new password after checking the current
// one.
func (s *Service) ChangePassword(ctx context.Context, orgID, memberID, current, next string) error {
	hash, err := s.Store.MemberPasswordHash(ctx, orgID, memberID)
	if err != nil {
		return err
	}
	if !CheckPassword(hash, current) {
		return gatehouse.FieldError("current_password", "invalid_value", "the current password is not right")
	}
	if err := ValidatePassword(next); err != nil {
		return err
	}
	nh, err := HashPassword(next)
	if err != nil {
		return err
	}
	return s.Store.SetMemberPassword(ctx, orgID, memberID, nh)
}

// Authenticate returns the members (one per organization) with email and
// password. It takes about as long when nobody has the email.
func (s *Service) Authenticate(ctx context.Context, email, password string) ([]Member, error) {
	ok, _, err := s.CheckSignIn(ctx, email, password)
	return ok, err
}

// CheckSignIn is Authenticate that also returns the members with email
// whose password was checked (those that have one): the ones a failed
// sign-in was an attempt on.
func (s *Service) CheckSignIn(ctx context.Context, email, password string) (ok, tried []Member, err error) {
	email = strings.ToLower(strings.TrimSpace(email))
	dummy := dummyHash() // before the lookup: made on the first attempt, whatever the email
	ms, err := s.Store.MembersByEmail(ctx, email)
	if err != nil {
		return nil, nil, err
	}
	for _, m := range ms {
		hash, err := s.Store.MemberPasswordHash(ctx, m.OrgID, m.ID)
		if err != nil {
			return nil, nil, err
		}
		if hash == "" {
			continue
		}
		tried = append(tried, m)
		if CheckPassword(hash, password) {
			ok = append(ok, m)
		}
	}
	if len(tried) == 0 {
		CheckPassword(dummy, password)
	}
	return ok, tried, nil
}
