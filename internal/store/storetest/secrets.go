package storetest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/secretkey"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Ring returns a ring of one new key, for tests.
func Ring(t testing.TB) *secretkey.Ring {
	t.Helper()
	k, err := secretkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	r, err := secretkey.NewRing(k)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// rawColumn reads one column of one row as the database holds it: what a
// backup or a read-only SQL role sees.
func rawColumn(t *testing.T, db *store.DB, table, column, id string) string {
	t.Helper()
	var v string
	if err := db.Writer().QueryRowContext(context.Background(), "SELECT "+column+" FROM "+table+" WHERE id = $1", id).Scan(&v); err != nil {
		t.Fatalf("read %s.%s: %v", table, column, err)
	}
	return v
}

func setRaw(t *testing.T, db *store.DB, table, column, id, v string) {
	t.Helper()
	if _, err := db.Writer().ExecContext(context.Background(), "UPDATE "+table+" SET "+column+" = $1 WHERE id = $2", v, id); err != nil {
		t.Fatalf("write %s.%s: %v", table, column, err)
	}
}

// testSecretsAtRest: signing keys and webhook secrets are sealed in the
// database; values an older version left in clear are sealed (webhooks) or
// reported (signing keys); a rotation re-seals; a value moved to another
// row, or sealed with a key the ring lacks, does not open.
func testSecretsAtRest(t *testing.T, db *store.DB) {
	ctx := context.Background()
	st := db.Store()
	old, err := secretkey.Generate()
	must(t, err)
	ringOld, err := secretkey.NewRing(old)
	must(t, err)
	db.SetSecrets(ringOld)

	// Signing keys: sealed, and a clear one (an older version's) is flagged.
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	must(t, st.CreateSigningKey(ctx, apikey.SigningKey{ID: "kid-sealed", PrivateKey: priv, CreatedAt: now}))
	raw := rawColumn(t, db, "signing_keys", "private_key", "kid-sealed")
	if !secretkey.IsSealed(raw) || strings.Contains(raw, base64.StdEncoding.EncodeToString(priv.Seed())) {
		t.Fatalf("signing key stored as %q, want it sealed", raw)
	}
	_, clearPriv, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	must(t, st.CreateSigningKey(ctx, apikey.SigningKey{ID: "kid-clear", PrivateKey: clearPriv, CreatedAt: now.Add(-1)}))
	setRaw(t, db, "signing_keys", "private_key", "kid-clear", base64.StdEncoding.EncodeToString(clearPriv.Seed()))
	keys, err := st.SigningKeys(ctx)
	must(t, err)
	byID := map[string]apikey.SigningKey{}
	for _, k := range keys {
		byID[k.ID] = k
	}
	if k := byID["kid-sealed"]; k.Exposed || !k.PrivateKey.Equal(priv) || !k.PublicKey.Equal(priv.Public()) {
		t.Errorf("sealed signing key read back as %+v", k)
	}
	if k := byID["kid-clear"]; !k.Exposed || !k.PrivateKey.Equal(clearPriv) {
		t.Errorf("a signing key stored in clear is not reported exposed: %+v", k)
	}
	must(t, st.RetireSigningKey(ctx, "kid-clear", clearPriv.Public().(ed25519.PublicKey)))
	if raw := rawColumn(t, db, "signing_keys", "private_key", "kid-clear"); raw != "" {
		t.Errorf("a retired signing key keeps %q", raw)
	}
	keys, err = st.SigningKeys(ctx)
	must(t, err)
	for _, k := range keys {
		if k.ID == "kid-clear" && (k.PrivateKey != nil || !k.PublicKey.Equal(clearPriv.Public())) {
			t.Errorf("retired signing key read back as %+v", k)
		}
	}

	// Webhook secrets: sealed; a clear one is sealed by SealSecrets.
	org := newOrg(t, st, "acme")
	e := newEndpoint(t, st, org.ID, "", "", true, "user.created")
	if raw := rawColumn(t, db, "webhook_endpoints", "secret", e.ID); !secretkey.IsSealed(raw) || strings.Contains(raw, e.Secret) {
		t.Fatalf("webhook secret stored as %q, want it sealed", raw)
	}
	legacy := newEndpoint(t, st, org.ID, "", "", true, "user.created")
	setRaw(t, db, "webhook_endpoints", "secret", legacy.ID, legacy.Secret)
	rep, err := db.SealSecrets(ctx, false)
	must(t, err)
	if rep.Sealed != 1 {
		t.Errorf("SealSecrets sealed %d values, want 1 (%+v)", rep.Sealed, rep)
	}
	if raw := rawColumn(t, db, "webhook_endpoints", "secret", legacy.ID); !secretkey.IsSealed(raw) {
		t.Errorf("a clear webhook secret is still %q after SealSecrets", raw)
	}
	got, err := st.GetEndpoint(ctx, org.ID, legacy.ID)
	must(t, err)
	if got.Secret != legacy.Secret {
		t.Errorf("sealed legacy secret opens as %q", got.Secret)
	}

	// A sealed value copied to another row does not open there.
	setRaw(t, db, "webhook_endpoints", "secret", legacy.ID, rawColumn(t, db, "webhook_endpoints", "secret", e.ID))
	if _, err := st.GetEndpoint(ctx, org.ID, legacy.ID); err == nil {
		t.Error("a secret moved from another row opened")
	}
	legacy.Secret = "whsec_again"
	must(t, st.UpdateEndpoint(ctx, legacy))

	// Rotation: a ring with a new primary re-seals; the old key is then
	// no longer needed, and a ring without the key that sealed fails.
	next, err := secretkey.Generate()
	must(t, err)
	both, err := secretkey.NewRing(next, old)
	must(t, err)
	db.SetSecrets(both)
	rep, err = db.SealSecrets(ctx, true)
	must(t, err)
	if rep.Resealed != 3 || rep.Current != 0 { // one signing key, two endpoints' secrets
		t.Errorf("rotation re-sealed %d values, want 3 (%+v)", rep.Resealed, rep)
	}
	onlyNext, err := secretkey.NewRing(next)
	must(t, err)
	db.SetSecrets(onlyNext)
	got, err = st.GetEndpoint(ctx, org.ID, e.ID)
	must(t, err)
	if got.Secret != e.Secret {
		t.Errorf("after rotation the secret opens as %q", got.Secret)
	}
	if _, err := st.SigningKeys(ctx); err != nil {
		t.Errorf("after rotation the signing keys do not open: %v", err)
	}
	db.SetSecrets(ringOld)
	if _, err := st.GetEndpoint(ctx, org.ID, e.ID); !errors.Is(err, secretkey.ErrUnknownKey) {
		t.Errorf("opening with a ring that lacks the key: %v, want ErrUnknownKey", err)
	}
	if _, err := db.SealSecrets(ctx, true); !errors.Is(err, secretkey.ErrUnknownKey) {
		t.Errorf("SealSecrets with a ring that lacks the key: %v, want ErrUnknownKey", err)
	}
}
