package apikey_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/golang-jwt/jwt/v5"
)

// forge signs claims with priv as the server would.
func forge(t *testing.T, kid string, priv ed25519.PrivateKey, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func claimsOf(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// Even someone holding every row of the database and the
// signing key itself cannot rebuild a live key: the token carries a random
// secret (the nonce claim) the server never stores.
func TestTokenCannotBeRebuiltFromTheDatabase(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	k, token := f.issue(t, nil)
	c := claimsOf(t, token)
	nonce, _ := c["nonce"].(string)
	if raw, err := base64.RawURLEncoding.DecodeString(nonce); err != nil || len(raw) != 32 {
		t.Fatalf("token's nonce claim %q is not 256 random bits", nonce)
	}
	stored, err := f.st.GetAPIKey(ctx, "", k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.TokenFormat != apikey.TokenWithSecret || stored.Legacy() {
		t.Errorf("new key stored with token format %d", stored.TokenFormat)
	}
	sum := sha256.Sum256([]byte(token))
	if stored.TokenSHA256 != hex.EncodeToString(sum[:]) {
		t.Fatal("the stored hash is not the token's SHA-256")
	}
	// The attacker's best try: every claim from the stored record, signed
	// with the (stolen) signing key, with and without a guessed nonce.
	keys, err := f.st.SigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kid := strings.Split(token, ".")[0]
	hdr, _ := base64.RawURLEncoding.DecodeString(kid)
	var h struct {
		Kid string `json:"kid"`
	}
	_ = json.Unmarshal(hdr, &h)
	var priv ed25519.PrivateKey
	for _, sk := range keys {
		if sk.ID == h.Kid {
			priv = sk.PrivateKey
		}
	}
	if priv == nil {
		t.Fatal("the token's signing key is not in the store")
	}
	rebuilt := jwt.MapClaims{"iss": apikey.Issuer, "sub": stored.OrgID, "jti": stored.ID, "iat": stored.CreatedAt.Unix(),
		"level": string(stored.Level), "org_id": stored.OrgID, "scopes": []string{"view:project"}}
	for _, guess := range []string{"", base64.RawURLEncoding.EncodeToString(make([]byte, 32))} {
		if guess != "" {
			rebuilt["nonce"] = guess
		}
		forged := forge(t, h.Kid, priv, rebuilt)
		if forged == token {
			t.Fatal("the token was rebuilt from the database")
		}
		if _, err := f.svc.Verify(ctx, forged); !errors.Is(err, apikey.ErrInvalid) {
			t.Errorf("a token rebuilt from the stored record verified: %v", err)
		}
	}
	if _, err := f.svc.Verify(ctx, token); err != nil {
		t.Fatalf("the real token: %v", err)
	}
}

// Upgrading from a version that stored the signing key in
// clear retires that key (only its public part stays) and signs new keys
// with a new, sealed one; keys made before keep working and are marked
// legacy.
func TestSigningKeyStoredInClearIsRetired(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// What an older version left: a signing key in clear, newer than the
	// current one, and a key it signed (no nonce; token_format 1).
	_, oldPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Writer().ExecContext(ctx, "INSERT INTO signing_keys (id, private_key, created_at) VALUES ($1, $2, $3)",
		"old-kid", base64.StdEncoding.EncodeToString(oldPriv.Seed()), time.Now().Add(time.Hour).UnixMicro()); err != nil {
		t.Fatal(err)
	}
	k, _, err := f.svc.Mint(apikey.Spec{Name: "legacy", Level: auth.LevelOrganization, OrgID: f.org.OrgID,
		Scopes: []gatehouse.Scope{gatehouse.ScopeViewProject}, CreatedBy: "key:root"})
	if err != nil {
		t.Fatal(err)
	}
	legacyToken := forge(t, "old-kid", oldPriv, jwt.MapClaims{"iss": apikey.Issuer, "sub": k.OrgID, "jti": k.ID, "iat": k.CreatedAt.Unix(),
		"level": "organization", "org_id": k.OrgID, "scopes": []string{"view:project"}})
	sum := sha256.Sum256([]byte(legacyToken))
	k.TokenSHA256, k.TokenFormat = hex.EncodeToString(sum[:]), apikey.TokenLegacy
	if err := f.st.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}

	svc, err := apikey.NewService(ctx, f.st, f.bc, slog.New(slog.NewTextHandler(io.Discard, nil)), apikey.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var raw string
	if err := f.db.Writer().QueryRowContext(ctx, "SELECT private_key FROM signing_keys WHERE id = 'old-kid'").Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if raw != "" {
		t.Fatalf("the signing key stored in clear is still there: %q", raw)
	}
	if _, err := svc.Verify(ctx, legacyToken); err != nil {
		t.Fatalf("a key made before the upgrade stopped working: %v", err)
	}
	if got, _ := f.st.GetAPIKey(ctx, "", k.ID); !got.Legacy() {
		t.Error("a key made before the upgrade is not marked legacy")
	}
	_, token, err := svc.Issue(ctx, f.org, apikey.Spec{Name: "new", Level: auth.LevelOrganization, Scopes: []gatehouse.Scope{gatehouse.ScopeViewProject}})
	if err != nil {
		t.Fatal(err)
	}
	if hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0]); strings.Contains(string(hdr), "old-kid") {
		t.Error("a new key was signed with the retired signing key")
	}
	if _, err := svc.Verify(ctx, token); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, j := range svc.JWKS() {
		found = found || j.Kid == "old-kid"
	}
	if !found {
		t.Error("the retired key's public part is not in the JWKS (its keys could not be verified offline)")
	}
}
