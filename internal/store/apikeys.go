package store

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/secretkey"
)

var _ apikey.Store = (*Store)(nil)

const keyCols = "id, org_id, project_id, environment_id, level, name, scopes, token_sha256, created_by, created_at, expires_at, revoked_at, last_used_at, replaced_by, rate_limit_per_hour, token_format, revoked_reason"

var keySort = map[string]string{"created_at": "created_at", "name": "name", "last_used_at": "last_used_at", "expires_at": "expires_at"}

func scanKey(sc scanner) (apikey.Key, error) {
	var k apikey.Key
	var project, env nullStringScan
	var level, scopes string
	var created int64
	var expires, revoked, used nullInt
	err := sc.Scan(&k.ID, &k.OrgID, &project, &env, &level, &k.Name, &scopes, &k.TokenSHA256, &k.CreatedBy,
		&created, &expires, &revoked, &used, &k.ReplacedBy, &k.RateLimitPerHour, &k.TokenFormat, &k.RevokedReason)
	k.ProjectID, k.EnvironmentID = project.String, env.String
	k.Level = auth.Level(level)
	k.Scopes = parseScopes(scopes)
	k.CreatedAt = fromMicros(created)
	k.ExpiresAt, k.RevokedAt, k.LastUsedAt = fromNullMicros(expires), fromNullMicros(revoked), fromNullMicros(used)
	return k, err
}

// InAPIKeyTx runs fn in a transaction.
func (s *Store) InAPIKeyTx(ctx context.Context, fn func(apikey.Store) error) error {
	return s.InTx(ctx, func(tx *Store) error { return fn(tx) })
}

// CreateAPIKey stores a key record.
func (s *Store) CreateAPIKey(ctx context.Context, k *apikey.Key) error {
	return exec(ctx, s.writer(), "api key", "INSERT INTO api_keys ("+keyCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
		k.ID, k.OrgID, nullString(k.ProjectID), nullString(k.EnvironmentID), string(k.Level), k.Name, scopesText(k.Scopes),
		k.TokenSHA256, k.CreatedBy, micros(k.CreatedAt), nullMicros(k.ExpiresAt), nullMicros(k.RevokedAt), nullMicros(k.LastUsedAt), k.ReplacedBy, k.RateLimitPerHour, k.TokenFormat, k.RevokedReason)
}

// keyWithScopeCols are keyCols of api_keys k, then whether its
// organization, and its project or environment, are deleted.
var keyWithScopeCols = "k." + strings.ReplaceAll(keyCols, ", ", ", k.") +
	", o.deleted_at IS NOT NULL, COALESCE(p.deleted_at, e.deleted_at) IS NOT NULL"

const keyWithScopeFrom = " FROM api_keys k JOIN organizations o ON o.id = k.org_id" +
	" LEFT JOIN projects p ON p.id = k.project_id LEFT JOIN environments e ON e.id = k.environment_id"

func scanKeyWithScope(sc scanner) (apikey.Key, error) {
	var orgGone, scopeGone bool
	k, err := scanKey(scannerFunc(func(dest ...any) error { return sc.Scan(append(dest, &orgGone, &scopeGone)...) }))
	k.OrgDeleted, k.ScopeDeleted = orgGone, scopeGone
	return k, err
}

// GetAPIKey returns a key, with whether its organization or its project or
// environment was deleted; orgID "" matches any organization.
func (s *Store) GetAPIKey(ctx context.Context, orgID, id string) (*apikey.Key, error) {
	if orgID == "" {
		return remembered[apikey.Key](s)(getOne(ctx, s.reader(), "api key", id, "SELECT "+keyWithScopeCols+keyWithScopeFrom+" WHERE k.id = $1", scanKeyWithScope, id))
	}
	return remembered[apikey.Key](s)(getOne(ctx, s.reader(), "api key", id, "SELECT "+keyWithScopeCols+keyWithScopeFrom+" WHERE k.org_id = $1 AND k.id = $2", scanKeyWithScope, orgID, id))
}

// ListAPIKeys lists keys.
func (s *Store) ListAPIKeys(ctx context.Context, f apikey.Filter, page gatehouse.PageRequest) (gatehouse.Page[apikey.Key], error) {
	w := &where{}
	w.add("org_id = ?", f.OrgID)
	w.addIf(f.ProjectID != "", "project_id = ?", f.ProjectID)
	w.addIf(f.EnvironmentID != "", "environment_id = ?", f.EnvironmentID)
	w.addIf(f.Level != "", "level = ?", string(f.Level))
	w.addIf(f.CreatedBy != "", "created_by = ?", f.CreatedBy)
	now := micros(f.Now)
	switch f.Status {
	case apikey.StatusActive:
		w.raw("revoked_at IS NULL")
		w.add("(expires_at IS NULL OR expires_at > ?)", now)
	case apikey.StatusRevoked:
		w.raw("revoked_at IS NOT NULL")
	case apikey.StatusExpired:
		w.raw("revoked_at IS NULL")
		w.add("expires_at <= ?", now)
	}
	return listPage(ctx, s.reader(), "api_keys", keyCols, w, keySort, page, scanKey)
}

// UpdateAPIKey stores a key's mutable fields.
//
// Whatever k holds, a key's end only comes sooner: a revocation, a
// replacement and an earlier expiry already stored are kept (a write that
// read the key before a concurrent revoke or rotate committed cannot undo
// it), and an expiry is never moved later (NULL: none, the latest).
func (s *Store) UpdateAPIKey(ctx context.Context, k *apikey.Key) error {
	if s.tx != nil {
		_, _ = s.GetAPIKey(ctx, k.OrgID, k.ID) // the audit entry's "before" (see remember)
	}
	return execOne(ctx, s.writer(), "api key", k.ID,
		`UPDATE api_keys SET name = $3,
			expires_at = CASE WHEN expires_at IS NULL THEN CAST($4 AS BIGINT)
				WHEN CAST($4 AS BIGINT) IS NULL OR CAST($4 AS BIGINT) >= expires_at THEN expires_at ELSE CAST($4 AS BIGINT) END,
			revoked_reason = CASE WHEN revoked_at IS NULL THEN $7 ELSE revoked_reason END,
			revoked_at = COALESCE(revoked_at, CAST($5 AS BIGINT)),
			replaced_by = CASE WHEN replaced_by = '' THEN $6 ELSE replaced_by END
		WHERE org_id = $1 AND id = $2`,
		k.OrgID, k.ID, k.Name, nullMicros(k.ExpiresAt), nullMicros(k.RevokedAt), k.ReplacedBy, k.RevokedReason)
}

// TouchAPIKeys records last-used times, never moving one backwards.
func (s *Store) TouchAPIKeys(ctx context.Context, lastUsed map[string]time.Time) error {
	return s.InTx(ctx, func(tx *Store) error {
		for id, at := range lastUsed {
			if err := exec(ctx, tx.writer(), "api key usage",
				"UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)", id, micros(at)); err != nil {
				return err
			}
		}
		return nil
	})
}

// SigningKeys returns every signing key: its private part opened (nil for
// a retired key), its public part, and whether the private part was found
// stored in clear by an older version (Exposed).
func (s *Store) SigningKeys(ctx context.Context) ([]apikey.SigningKey, error) {
	rows, err := s.reader().QueryContext(ctx, "SELECT id, private_key, public_key, created_at FROM signing_keys ORDER BY created_at")
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	defer rows.Close()
	var out []apikey.SigningKey
	for rows.Next() {
		var k apikey.SigningKey
		var priv, pub string
		var created int64
		if err := rows.Scan(&k.ID, &priv, &pub, &created); err != nil {
			return nil, fmt.Errorf("scan signing key: %w", err)
		}
		k.CreatedAt = fromMicros(created)
		if priv != "" {
			k.Exposed = !secretkey.IsSealed(priv)
			if priv, err = s.open(priv, "signing_keys.private_key:"+k.ID); err != nil {
				return nil, err
			}
			seed, err := base64.StdEncoding.DecodeString(priv)
			if err != nil || len(seed) != ed25519.SeedSize {
				return nil, fmt.Errorf("signing key %s is corrupt", k.ID)
			}
			k.PrivateKey = ed25519.NewKeyFromSeed(seed)
			k.PublicKey = k.PrivateKey.Public().(ed25519.PublicKey)
		} else {
			raw, err := base64.StdEncoding.DecodeString(pub)
			if err != nil || len(raw) != ed25519.PublicKeySize {
				return nil, fmt.Errorf("signing key %s is corrupt", k.ID)
			}
			k.PublicKey = ed25519.PublicKey(raw)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// CreateSigningKey stores a signing key: its seed sealed, its public key
// in clear.
func (s *Store) CreateSigningKey(ctx context.Context, k apikey.SigningKey) error {
	priv, err := s.seal(base64.StdEncoding.EncodeToString(k.PrivateKey.Seed()), "signing_keys.private_key:"+k.ID)
	if err != nil {
		return err
	}
	pub := base64.StdEncoding.EncodeToString(k.PrivateKey.Public().(ed25519.PublicKey))
	return exec(ctx, s.writer(), "signing key", "INSERT INTO signing_keys (id, private_key, public_key, created_at) VALUES ($1, $2, $3, $4)",
		k.ID, priv, pub, micros(k.CreatedAt))
}

// RetireSigningKey forgets a signing key's private part: the keys it
// signed still verify with its public part; it signs nothing more.
func (s *Store) RetireSigningKey(ctx context.Context, id string, pub ed25519.PublicKey) error {
	return execOne(ctx, s.writer(), "signing key", id, "UPDATE signing_keys SET private_key = '', public_key = $2 WHERE id = $1",
		id, base64.StdEncoding.EncodeToString(pub))
}
