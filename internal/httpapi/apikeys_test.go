package httpapi_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestAPIKeyIsADecodableJWTVerifiedByJWKS(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	_, token := s.newKey("environment", []string{"view:project"}, map[string]any{"project": "default", "environment": "development"})

	jwks := s.must(200, req{method: "GET", path: "/.well-known/jwks.json"})
	keys := jwks.body["keys"].([]any)
	if len(keys) != 1 {
		t.Fatalf("jwks: %s", jwks.raw)
	}
	k := keys[0].(map[string]any)
	x, err := base64.RawURLEncoding.DecodeString(k["x"].(string))
	if err != nil || k["kty"] != "OKP" || k["crv"] != "Ed25519" {
		t.Fatalf("bad JWK %v: %v", k, err)
	}
	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(token, claims, func(tok *jwt.Token) (any, error) {
		if tok.Header["kid"] != k["kid"] {
			t.Errorf("kid %v not in JWKS", tok.Header["kid"])
		}
		return ed25519.PublicKey(x), nil
	}, jwt.WithValidMethods([]string{"EdDSA"}))
	if err != nil || !parsed.Valid {
		t.Fatalf("token does not verify with the JWKS: %v", err)
	}
	for claim, want := range map[string]any{"level": "environment", "org_id": s.orgID, "project_id": s.projID, "environment_id": s.devID, "iss": "gatehouse"} {
		if claims[claim] != want {
			t.Errorf("claim %s = %v, want %v", claim, claims[claim], want)
		}
	}
	if sc, _ := claims["scopes"].([]any); len(sc) != 1 || sc[0] != "view:project" {
		t.Errorf("scopes claim = %v", claims["scopes"])
	}
	me := s.must(200, req{method: "GET", path: "/v1/me", key: token}).data()
	if me["level"] != "environment" || me["environment_id"] != s.devID || me["key_id"] != claims["jti"] {
		t.Errorf("me = %v", me)
	}
	// Only the key's id and a SHA-256 of the token are stored.
	rec, err := s.app.Store.GetAPIKey(context.Background(), "", claims["jti"].(string))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(token))
	if rec.TokenSHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("stored hash %q is not the token's SHA-256", rec.TokenSHA256)
	}
	sig := token[strings.LastIndex(token, ".")+1:]
	for _, f := range []string{"gatehouse.db", "gatehouse.db-wal"} {
		data, err := os.ReadFile(filepath.Join(s.app.Config.DataDir, f))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if strings.Contains(string(data), sig) {
			t.Fatalf("%s contains the token", f)
		}
	}
}

func TestKeyScopesNeverExceedTheCreator(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	_, limited := s.newKey("organization", []string{"manage:api", "view:project"}, nil)
	create := func(name, key string, body map[string]any, status int, code string, data map[string]any) scenario {
		return scenario{name: name, key: key, method: "POST", path: "/v1/api-keys", body: body, status: status, code: code, data: data}
	}
	s.scenarios(t, []scenario{
		create("subset of creator", limited, map[string]any{"name": "a", "level": "organization", "scopes": []string{"view:project"}}, 201, "",
			map[string]any{"name": "a", "level": "organization", "scopes": []any{"view:project"}}),
		create("scope creator lacks", limited, map[string]any{"name": "b", "level": "organization", "scopes": []string{"view:project", "manage:member"}}, 403, "FORBIDDEN", nil),
		create("unknown scope", s.key, map[string]any{"name": "c", "level": "organization", "scopes": []string{"fly:plane"}}, 400, "INVALID_REQUEST", nil),
		create("no scopes", s.key, map[string]any{"name": "d", "level": "organization", "scopes": []string{}}, 400, "INVALID_REQUEST", nil),
		create("project key needs project", s.key, map[string]any{"name": "e", "level": "project", "scopes": []string{"view:project"}}, 400, "INVALID_REQUEST", nil),
		create("org key takes no project", s.key, map[string]any{"name": "f", "level": "organization", "project": "default", "scopes": []string{"view:project"}}, 400, "INVALID_REQUEST", nil),
		create("unknown project", s.key, map[string]any{"name": "g", "level": "project", "project": "nope", "scopes": []string{"view:project"}}, 404, "NOT_FOUND", nil),
		create("expiry in the past", s.key, map[string]any{"name": "h", "level": "organization", "scopes": []string{"view:project"}, "expires_at": "2020-01-01T00:00:00Z"}, 400, "INVALID_REQUEST", nil),
		create("bad level", s.key, map[string]any{"name": "i", "level": "galaxy", "scopes": []string{"view:project"}}, 400, "INVALID_REQUEST", nil),
	})
}

func TestKeyLevelsReach(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	all := []string{"view:organization", "view:project", "manage:project", "manage:api", "view:settings", "manage:settings", "view:member"}
	_, projKey := s.newKey("project", all, map[string]any{"project": "default"})
	_, envKey := s.newKey("environment", all, map[string]any{"project": "default", "environment": "development"})
	other := s.must(201, req{method: "POST", path: "/v1/projects", key: s.key, body: map[string]any{"name": "Other"}}).data()["id"].(string)

	s.scenarios(t, []scenario{
		{name: "project key lists only its project", key: projKey, method: "GET", path: "/v1/projects", status: 200},
		{name: "project key reads its project", key: projKey, method: "GET", path: "/v1/projects/default", status: 200},
		{name: "project key cannot read another project", key: projKey, method: "GET", path: "/v1/projects/" + other, status: 403},
		{name: "project key cannot create projects", key: projKey, method: "POST", path: "/v1/projects", body: map[string]any{"name": "x"}, status: 403},
		{name: "project key creates environments in its project", key: projKey, method: "POST", path: "/v1/projects/default/environments", body: map[string]any{"name": "Staging"}, status: 201},
		{name: "project key cannot read org settings", key: projKey, method: "GET", path: "/v1/settings", status: 403},
		{name: "project key cannot list members", key: projKey, method: "GET", path: "/v1/members", status: 403},
		{name: "project key cannot create an org key", key: projKey, method: "POST", path: "/v1/api-keys", body: map[string]any{"name": "x", "level": "organization", "scopes": []string{"view:project"}}, status: 403},
		{name: "project key creates an env key", key: projKey, method: "POST", path: "/v1/api-keys", body: map[string]any{"name": "x", "level": "environment", "project": "default", "environment": "production", "scopes": []string{"view:project"}}, status: 201},
		{name: "env key reads its environment", key: envKey, method: "GET", path: "/v1/projects/default/environments/development", status: 200},
		{name: "env key cannot read a sibling environment", key: envKey, method: "GET", path: "/v1/projects/default/environments/production", status: 403},
		{name: "env key cannot change its environment", key: envKey, method: "PATCH", path: "/v1/projects/default/environments/development", body: map[string]any{"name": "x"}, status: 403},
		{name: "env key changes its environment's settings", key: envKey, method: "PATCH", path: "/v1/projects/default/environments/development/settings", body: map[string]any{"decision_log": "full"}, status: 200},
		{name: "env key cannot create a sibling's key", key: envKey, method: "POST", path: "/v1/api-keys", body: map[string]any{"name": "x", "level": "environment", "project": "default", "environment": "production", "scopes": []string{"view:project"}}, status: 403},
		{name: "env key creates a key for itself", key: envKey, method: "POST", path: "/v1/api-keys", body: map[string]any{"name": "x", "level": "environment", "project": "default", "environment": "development", "scopes": []string{"view:project"}}, status: 201},
		{name: "env key cannot manage the org key", key: envKey, method: "POST", path: "/v1/api-keys/" + meID(t, s, s.key) + "/revoke", status: 403},
	})
	if l := s.must(200, req{method: "GET", path: "/v1/projects", key: projKey}).list(); len(l) != 1 {
		t.Fatalf("project key sees %d projects", len(l))
	}
	envs := s.must(200, req{method: "GET", path: "/v1/projects/default/environments", key: envKey}).list()
	if len(envs) != 1 || envs[0].(map[string]any)["key"] != "development" {
		t.Fatalf("environment key sees %v", envs)
	}
	keys := s.must(200, req{method: "GET", path: "/v1/api-keys?per_page=100", key: envKey}).list()
	for _, k := range keys {
		if k.(map[string]any)["environment_id"] != s.devID {
			t.Fatalf("environment key lists a key outside its environment: %v", k)
		}
	}
}

func meID(t *testing.T, s *server, key string) string {
	t.Helper()
	return s.must(200, req{method: "GET", path: "/v1/me", key: key}).data()["key_id"].(string)
}

// ci: race
func TestRevokeTakesEffectOnTheNextRequest(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	id, token := s.newKey("organization", []string{"view:project"}, nil)
	for i := 0; i < 3; i++ { // warm the cache
		s.must(200, req{method: "GET", path: "/v1/projects", key: token})
	}
	d := s.must(200, req{method: "POST", path: "/v1/api-keys/" + id + "/revoke", key: s.key}).data()
	if d["status"] != "revoked" || d["revoked_at"] == nil {
		t.Fatalf("revoke answer: %v", d)
	}
	res := s.must(401, req{method: "GET", path: "/v1/projects", key: token})
	if !strings.Contains(res.raw, "revoked") {
		t.Fatalf("message does not say revoked: %s", res.raw)
	}
	s.must(200, req{method: "POST", path: "/v1/api-keys/" + id + "/revoke", key: s.key}) // idempotent
	s.must(409, req{method: "POST", path: "/v1/api-keys/" + id + "/rotate", key: s.key})
	if n := s.must(200, req{method: "GET", path: "/v1/api-keys?status=revoked", key: s.key}).meta()["total_items"]; n != float64(1) {
		t.Fatalf("revoked keys listed: %v", n)
	}
}

func TestRotate(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	id, old := s.newKey("organization", []string{"view:project", "manage:api"}, nil)
	s.must(200, req{method: "GET", path: "/v1/projects", key: old})
	d := s.must(201, req{method: "POST", path: "/v1/api-keys/" + id + "/rotate", key: s.key, body: map[string]any{"grace_period_seconds": 3600}}).data()
	fresh := d["token"].(string)
	if d["id"] == id || strings.Join(toStrings(d["scopes"]), " ") != "view:project manage:api" {
		t.Fatalf("rotated key: %v", d)
	}
	s.must(200, req{method: "GET", path: "/v1/projects", key: fresh})
	s.must(200, req{method: "GET", path: "/v1/projects", key: old}) // grace period
	got := s.must(200, req{method: "GET", path: "/v1/api-keys/" + id, key: s.key}).data()
	if got["replaced_by"] != d["id"] || got["expires_at"] == nil {
		t.Fatalf("old key after rotation: %v", got)
	}
	s.must(409, req{method: "POST", path: "/v1/api-keys/" + id + "/rotate", key: s.key})

	// Without grace the old key stops at once.
	d2 := s.must(201, req{method: "POST", path: "/v1/api-keys/" + d["id"].(string) + "/rotate", key: s.key}).data()
	s.must(401, req{method: "GET", path: "/v1/projects", key: fresh})
	s.must(200, req{method: "GET", path: "/v1/projects", key: d2["token"].(string)})
	s.must(400, req{method: "POST", path: "/v1/api-keys/" + d2["id"].(string) + "/rotate", key: s.key, body: map[string]any{"grace_period_seconds": 99999999}})
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestKeyExpiryAndLastUsed(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	id, token := s.newKey("organization", []string{"view:project"}, map[string]any{"expires_at": time.Now().Add(time.Hour).Format(time.RFC3339)})
	s.must(200, req{method: "GET", path: "/v1/projects", key: token})
	if err := s.app.Keys.FlushUsage(context.Background()); err != nil {
		t.Fatal(err)
	}
	d := s.must(200, req{method: "GET", path: "/v1/api-keys/" + id, key: s.key}).data()
	if d["last_used_at"] == nil || d["expires_at"] == nil || d["status"] != "active" {
		t.Fatalf("key: %v", d)
	}
	if _, ok := d["token"]; ok {
		t.Fatal("token shown again")
	}
	listed := s.must(http.StatusOK, req{method: "GET", path: "/v1/api-keys?sort=last_used_at&order=desc", key: s.key})
	if strings.Contains(listed.raw, token) {
		t.Fatal("list shows a token")
	}
}

// A key is renamed and its expiry brought forward in place; the next
// request sees both (the cache is dropped), and the key cannot be made to
// outlive its token.
func TestUpdateKey(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	id, token := s.newKey("organization", []string{"view:project"}, map[string]any{"expires_at": time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)})
	for range 3 { // warm the cache
		s.must(200, req{method: "GET", path: "/v1/me", key: token})
	}
	soon := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	d := s.must(200, req{method: "PATCH", path: "/v1/api-keys/" + id, key: s.key, body: map[string]any{"name": "  billing (prod) ", "expires_at": soon.Format(time.RFC3339)}}).data()
	if d["name"] != "billing (prod)" || d["expires_at"] != soon.Format(time.RFC3339) || d["status"] != "active" {
		t.Fatalf("updated key: %v", d)
	}
	me := s.must(200, req{method: "GET", path: "/v1/me", key: token}).data()
	if me["key_name"] != "billing (prod)" || me["expires_at"] != soon.Format(time.RFC3339) {
		t.Errorf("the key's next request still sees the old name or expiry: %v", me)
	}
	s.scenarios(t, []scenario{
		{name: "later than the token's expiry", key: s.key, method: "PATCH", path: "/v1/api-keys/" + id, body: map[string]any{"expires_at": time.Now().Add(3 * time.Hour).Format(time.RFC3339)}, status: 400, code: "INVALID_REQUEST"},
		{name: "in the past", key: s.key, method: "PATCH", path: "/v1/api-keys/" + id, body: map[string]any{"expires_at": "2020-01-01T00:00:00Z"}, status: 400, code: "INVALID_REQUEST"},
		{name: "empty name", key: s.key, method: "PATCH", path: "/v1/api-keys/" + id, body: map[string]any{"name": "  "}, status: 400, code: "INVALID_REQUEST"},
		{name: "unknown key", key: s.key, method: "PATCH", path: "/v1/api-keys/0190c0de-0000-7000-8000-000000000000", body: map[string]any{"name": "x"}, status: 404, code: "NOT_FOUND"},
		{name: "needs manage:api", key: token, method: "PATCH", path: "/v1/api-keys/" + id, body: map[string]any{"name": "mine"}, status: 403, code: "FORBIDDEN"},
	})
	// A key without an expiry gets one; a revoked key's expiry is not
	// changed, but it may still be renamed.
	other, _ := s.newKey("organization", []string{"view:project"}, nil)
	s.must(200, req{method: "PATCH", path: "/v1/api-keys/" + other, key: s.key, body: map[string]any{"expires_at": time.Now().Add(48 * time.Hour).Format(time.RFC3339)}})
	s.must(200, req{method: "POST", path: "/v1/api-keys/" + other + "/revoke", key: s.key})
	s.must(409, req{method: "PATCH", path: "/v1/api-keys/" + other, key: s.key, body: map[string]any{"expires_at": time.Now().Add(time.Hour).Format(time.RFC3339)}})
	if d := s.must(200, req{method: "PATCH", path: "/v1/api-keys/" + other, key: s.key, body: map[string]any{"name": "old billing"}}).data(); d["name"] != "old billing" || d["status"] != "revoked" {
		t.Errorf("renaming a revoked key: %v", d)
	}
}
