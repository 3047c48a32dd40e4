// Package apikey issues, verifies, rotates and revokes Gatehouse API keys.
//
// A key is an EdDSA (Ed25519) JWT whose claims carry its level, its
// organization, project and environment ids and its scopes, so anyone can
// decode it. The server stores only the key's id (the jti) and a SHA-256 of
// the token; the token is shown once. Verification is a hot path: a token
// that verified once is answered from an in-memory cache until the key is
// revoked or changed, which every node learns through a Broadcaster.
package apikey

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/event"
)

// Key is the stored record of an API key; the token itself is never stored.
type Key struct {
	ID            string
	OrgID         string
	ProjectID     string
	EnvironmentID string
	Level         auth.Level
	Name          string
	Scopes        gatehouse.ScopeSet
	TokenSHA256   string
	CreatedBy     string // "member:<id>" or "key:<id>"
	CreatedAt     time.Time
	ExpiresAt     *time.Time
	RevokedAt     *time.Time
	// RevokedReason says why a key was revoked: "" (by a caller) or one
	// of the Reason constants.
	RevokedReason string
	LastUsedAt    *time.Time
	// ReplacedBy is the id of the key a rotation created from this one.
	ReplacedBy string
	// RateLimitPerHour is the key's own limit; 0: the environment's or
	// organization's limit applies.
	RateLimitPerHour int
	// TokenFormat is TokenWithSecret for keys whose token carries a random
	// secret that is never stored; TokenLegacy keys (made by versions
	// before it) have a token an old copy of the database could rebuild.
	TokenFormat int
	// OrgDeleted and ScopeDeleted say, when read by GetAPIKey, that the
	// key's organization, or its project or environment, was deleted (and
	// may still be restored): the key does not work meanwhile.
	OrgDeleted, ScopeDeleted bool
}

// Why a key was revoked, besides a caller's revoke.
const (
	ReasonRotated          = "rotated"
	ReasonCreatorRemoved   = "creator_removed"
	ReasonCreatorLostScope = "creator_lost_scope"
)

// Token formats.
const (
	// TokenLegacy tokens were made of their claims alone: Ed25519 is
	// deterministic, so the signing key and the claims rebuilt them.
	TokenLegacy = 1
	// TokenWithSecret tokens carry 256 random bits (the nonce claim) that
	// the server never stores: only the token's SHA-256 is kept.
	TokenWithSecret = 2
)

// Legacy reports whether k's token could be rebuilt from an old copy of
// the database (see TokenLegacy): such keys should be rotated.
func (k *Key) Legacy() bool { return k.TokenFormat == TokenLegacy }

// Status values of a key as the API reports them.
const (
	StatusActive  = "active"
	StatusRevoked = "revoked"
	StatusExpired = "expired"
)

// Status is active, revoked or expired at now.
func (k *Key) Status(now time.Time) string {
	switch {
	case k.RevokedAt != nil:
		return StatusRevoked
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return StatusExpired
	}
	return StatusActive
}

// Filter narrows a key list.
type Filter struct {
	OrgID         string
	ProjectID     string // keys of this project (project and environment keys)
	EnvironmentID string
	Level         auth.Level
	// CreatedBy: only keys this actor made ("member:<id>", "key:<id>").
	CreatedBy string
	// Status filters on active, revoked or expired at Now.
	Status string
	Now    time.Time
}

// SigningKey is one of the server's Ed25519 key pairs. Its id is the JWT kid.
type SigningKey struct {
	ID string
	// PrivateKey is nil for a retired key, which only verifies.
	PrivateKey ed25519.PrivateKey
	PublicKey  ed25519.PublicKey
	CreatedAt  time.Time
	// Exposed: the private key was stored in clear by an older version, so
	// copies of the database may hold it. Such a key is retired at start.
	Exposed bool
}

// Store persists keys and signing keys.
type Store interface {
	InAPIKeyTx(ctx context.Context, fn func(Store) error) error
	CreateAPIKey(ctx context.Context, k *Key) error
	// GetAPIKey returns a key of orgID; orgID "" matches any organization.
	GetAPIKey(ctx context.Context, orgID, id string) (*Key, error)
	ListAPIKeys(ctx context.Context, f Filter, page gatehouse.PageRequest) (gatehouse.Page[Key], error)
	UpdateAPIKey(ctx context.Context, k *Key) error
	TouchAPIKeys(ctx context.Context, lastUsed map[string]time.Time) error
	// SigningKeys returns every signing key, private parts opened.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// CreateSigningKey stores a signing key, its private part sealed with
	// the instance's secret key.
	CreateSigningKey(ctx context.Context, k SigningKey) error
	// RetireSigningKey keeps only the public part of signing key id.
	RetireSigningKey(ctx context.Context, id string, pub ed25519.PublicKey) error
	// Emit records events in the transaction (the webhook outbox).
	Emit(ctx context.Context, events ...event.Event) error
}

// View is a key as events carry it (the v1 API's shape; never its token
// nor the token's hash).
type View struct {
	ID            string            `json:"id"`
	Name          string            `json:"name"`
	Level         string            `json:"level"`
	ProjectID     string            `json:"project_id,omitempty"`
	EnvironmentID string            `json:"environment_id,omitempty"`
	Scopes        []gatehouse.Scope `json:"scopes"`
	Status        string            `json:"status"`
	CreatedBy     string            `json:"created_by"`
	CreatedAt     time.Time         `json:"created_at"`
	ExpiresAt     *time.Time        `json:"expires_at,omitempty"`
	RevokedAt     *time.Time        `json:"revoked_at,omitempty"`
	RevokedReason string            `json:"revoked_reason,omitempty"`
	ReplacedBy    string            `json:"replaced_by,omitempty"`
	RateLimit     int               `json:"rate_limit_per_hour,omitempty"`
}

// View returns the key's event view at now.
func (k *Key) View(now time.Time) View {
	return View{ID: k.ID, Name: k.Name, Level: string(k.Level), ProjectID: k.ProjectID, EnvironmentID: k.EnvironmentID,
		Scopes: k.Scopes.Scopes(), Status: k.Status(now), CreatedBy: k.CreatedBy, CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt,
		RevokedAt: k.RevokedAt, RevokedReason: k.RevokedReason, ReplacedBy: k.ReplacedBy, RateLimit: k.RateLimitPerHour}
}

// Broadcaster tells every node that a key changed, so that caches drop it.
type Broadcaster interface {
	// Publish announces that keyID changed ("" means: forget every key) and
	// returns once every live node has applied it, or ctx ends.
	Publish(ctx context.Context, keyID string) error
	// Subscribe registers fn to run for each announcement, from any node.
	Subscribe(fn func(keyID string))
	// Healthy reports whether announcements are being received. While it is
	// false, verification bypasses the cache.
	Healthy() bool
}

// UnconfirmedError is Publish's error when live nodes did not acknowledge
// an announcement in time (a node that crashed moments ago, whose
// heartbeat has not expired yet, or one that is stuck).
type UnconfirmedError struct {
	Nodes int
	Err   error
}

func (e *UnconfirmedError) Error() string {
	return fmt.Sprintf("%d node(s) did not acknowledge the change: %v", e.Nodes, e.Err)
}

func (e *UnconfirmedError) Unwrap() error { return e.Err }

// Confirmations notes, for one request, how many live nodes did not
// confirm a key change it made (0: every node did).
type Confirmations struct{ unconfirmed atomic.Int64 }

// Unconfirmed is the number noted (0 for a nil note).
func (c *Confirmations) Unconfirmed() int64 {
	if c == nil {
		return 0
	}
	return c.unconfirmed.Load()
}

type confirmationsKey struct{}

// WithConfirmations gives ctx a note of the key changes' confirmations.
func WithConfirmations(ctx context.Context) (context.Context, *Confirmations) {
	c := &Confirmations{}
	return context.WithValue(ctx, confirmationsKey{}, c), c
}

// ConfirmationsOf is ctx's note, or nil.
func ConfirmationsOf(ctx context.Context) *Confirmations {
	c, _ := ctx.Value(confirmationsKey{}).(*Confirmations)
	return c
}

// LocalBroadcaster is the Broadcaster of a single-node deployment.
type LocalBroadcaster struct{ subs []func(string) }

// Publish runs the subscribers in the caller's goroutine.
func (b *LocalBroadcaster) Publish(_ context.Context, keyID string) error {
	for _, fn := range b.subs {
		fn(keyID)
	}
	return nil
}

// Subscribe registers fn. It must be called before the server starts.
func (b *LocalBroadcaster) Subscribe(fn func(string)) { b.subs = append(b.subs, fn) }

// Healthy is always true for a single node.
func (b *LocalBroadcaster) Healthy() bool { return true }

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
