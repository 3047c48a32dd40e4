package apikey

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	meter "github.com/gatehouse-dev/gatehouse/internal/usage"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/event"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Issuer is the iss claim of every key.
const Issuer = "gatehouse"

// MaxGracePeriod bounds how long a rotated key keeps working.
const MaxGracePeriod = 7 * 24 * time.Hour

// claims are the JWT claims of a key.
type claims struct {
	jwt.RegisteredClaims
	Level         string   `json:"level"`
	OrgID         string   `json:"org_id"`
	ProjectID     string   `json:"project_id,omitempty"`
	EnvironmentID string   `json:"environment_id,omitempty"`
	Scopes        []string `json:"scopes"`
	// Nonce is 256 random bits the server never stores: without the token
	// itself, nobody (a copy of the database included) can rebuild it.
	Nonce string `json:"nonce,omitempty"`
	// Region is the region the key's organization is homed in (its
	// cluster's --region); absent when the cluster had none.
	Region string `json:"region,omitempty"`
}

// Service issues and verifies keys.
type Service struct {
	store Store
	bc    Broadcaster
	log   *slog.Logger
	now   func() time.Time

	mu         sync.RWMutex
	signing    SigningKey                   // newest key: signs
	public     map[string]ed25519.PublicKey // kid → public key: verifies
	lastReload time.Time

	cache *cache
	// region is this cluster's region ("" none); regionURL gives a
	// region's public URL ("" unknown).
	region    string
	regionURL func(string) string

	// meter counts checks: an environment key's principal carries its
	// counter (nil: checks are not counted).
	meter *meter.Meter

	// grace: Options.OutageGrace in nanoseconds. storeDown: until when
	// (unix nanoseconds) verification answers from the cache within the
	// grace without trying the store, after a failed read.
	grace     int64
	storeDown atomic.Int64
	outage    atomic.Int64 // verifications answered from the cache in an outage
	lastRead  atomic.Int64 // unix nanoseconds of the last key read from the store
	// hits and misses count verifications answered from the cache and
	// those that read the store (metrics).
	hits, misses atomic.Int64
}

// CacheCounts are the verifications answered from the cache (hits), those
// that checked the signature and read the store (misses), and those
// answered from the cache because the store could not be read (outage).
func (s *Service) CacheCounts() (hits, misses, outage int64) {
	return s.hits.Load(), s.misses.Load(), s.outage.Load()
}

// DefaultOutageGrace is Options.OutageGrace's default.
const DefaultOutageGrace = 10 * time.Minute

// OutageAnswers counts the verifications answered from memory because the
// store could not be read.
func (s *Service) OutageAnswers() int64 { return s.outage.Load() }

// OutageGrace is how long a key this node verified keeps working while
// the store cannot be read (0: not at all).
func (s *Service) OutageGrace() time.Duration { return time.Duration(s.grace) }

// CanAnswerInOutage says whether some key this node verified would still
// work now with the store unreadable: one was read from the store within
// the outage grace.
func (s *Service) CanAnswerInOutage() bool {
	last := s.lastRead.Load()
	return s.grace > 0 && last != 0 && s.now().UnixNano()-last < s.grace
}

// CountChecks gives each environment key verified from now on the counter
// of its checks in m.
func (s *Service) CountChecks(m *meter.Meter) {
	s.meter = m
	s.cache.forget("")
}

// Options tune a Service.
type Options struct {
	// CacheTTL is how long a verified key is trusted before it is read again
	// from the store, even without an announcement. Default one minute.
	CacheTTL time.Duration
	// CacheSize caps the number of cached tokens. Default 100,000.
	CacheSize int
	// Now is the clock; default time.Now.
	Now func() time.Time
	// OutageGrace is how long after its last successful read from the store
	// a key this node verified keeps working while the store cannot be read
	// (a database outage): checks go on answering from memory. Revocations
	// the node learnt before the outage still apply; one made elsewhere
	// during it (when this node cannot read the database) is not seen until
	// the database is back or the grace ends. Default 10 minutes; negative:
	// none (every verification needs the store once the cache TTL passed).
	OutageGrace time.Duration
	// Region is this cluster's region: every key minted carries it, and a
	// key carrying another is refused with WRONG_REGION before anything
	// is read. Empty: no regions (keys carry none, none is refused for
	// its region).
	Region string
	// RegionURL is the public URL of a region, for the refusal's message
	// ("" when unknown).
	RegionURL func(region string) string
}

// NewService loads (or on first start creates) the signing keys.
func NewService(ctx context.Context, st Store, bc Broadcaster, log *slog.Logger, opt Options) (*Service, error) {
	if opt.CacheTTL <= 0 {
		opt.CacheTTL = time.Minute
	}
	if opt.CacheSize <= 0 {
		opt.CacheSize = 100_000
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	switch {
	case opt.OutageGrace == 0:
		opt.OutageGrace = DefaultOutageGrace
	case opt.OutageGrace < 0:
		opt.OutageGrace = 0
	}
	s := &Service{store: st, bc: bc, log: log, now: opt.Now, cache: newCache(opt.CacheSize, opt.CacheTTL), grace: int64(opt.OutageGrace),
		region: opt.Region, regionURL: opt.RegionURL}
	if s.regionURL == nil {
		s.regionURL = func(string) string { return "" }
	}
	if err := s.loadSigningKeys(ctx, true); err != nil {
		return nil, err
	}
	bc.Subscribe(s.cache.forget)
	return s, nil
}

func (s *Service) loadSigningKeys(ctx context.Context, create bool) error {
	keys, err := s.store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	if create && needsNewSigningKey(keys) {
		if keys, err = s.renewSigningKeys(ctx); err != nil {
			return err
		}
	}
	var signer *SigningKey
	pub := make(map[string]ed25519.PublicKey, len(keys))
	for i, k := range keys {
		pub[k.ID] = k.PublicKey
		if k.PrivateKey != nil && !k.Exposed && (signer == nil || !k.CreatedAt.Before(signer.CreatedAt)) {
			signer = &keys[i] // the newest key that is sealed signs
		}
	}
	if signer == nil {
		return errors.New("no signing key to sign with")
	}
	s.mu.Lock()
	s.signing = *signer
	s.public = pub
	s.lastReload = s.now()
	s.mu.Unlock()
	return nil
}

// needsNewSigningKey: there is none, or one was stored in clear (an older
// version did so; a copy of the database may hold it).
func needsNewSigningKey(keys []SigningKey) bool {
	signs := false
	for _, k := range keys {
		if k.Exposed {
			return true
		}
		signs = signs || k.PrivateKey != nil
	}
	return !signs
}

// renewSigningKeys, in one transaction, retires every signing key stored
// in clear (its public part keeps verifying the keys it signed) and
// creates a new sealed one when none is left to sign with. Several nodes
// starting at once may each create one; the newest signs, all verify.
func (s *Service) renewSigningKeys(ctx context.Context) ([]SigningKey, error) {
	var keys []SigningKey
	err := s.store.InAPIKeyTx(ctx, func(tx Store) error {
		var err error
		if keys, err = tx.SigningKeys(ctx); err != nil {
			return err
		}
		if !needsNewSigningKey(keys) {
			return nil // another node did it
		}
		retired := 0
		for i, k := range keys {
			if k.Exposed {
				if err := tx.RetireSigningKey(ctx, k.ID, k.PublicKey); err != nil {
					return fmt.Errorf("retire signing key: %w", err)
				}
				keys[i].PrivateKey, keys[i].Exposed = nil, false
				retired++
			}
		}
		if retired > 0 {
			s.log.Warn("retired signing keys an older version stored in clear: API keys made before this version still work, but a copy of the database from then could rebuild them; rotate them (they are listed with legacy_token: true)",
				"retired", retired)
		}
		for _, k := range keys {
			if k.PrivateKey != nil {
				return nil
			}
		}
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return fmt.Errorf("generate signing key: %w", err)
		}
		sum := sha256.Sum256(priv.Public().(ed25519.PublicKey))
		k := SigningKey{ID: base64.RawURLEncoding.EncodeToString(sum[:12]), PrivateKey: priv, PublicKey: priv.Public().(ed25519.PublicKey), CreatedAt: s.now().UTC()}
		if err := tx.CreateSigningKey(ctx, k); err != nil {
			return fmt.Errorf("store signing key: %w", err)
		}
		keys = append(keys, k)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}

// Spec describes a key to create.
type Spec struct {
	Name          string
	Level         auth.Level
	OrgID         string
	ProjectID     string
	EnvironmentID string
	Scopes        []gatehouse.Scope
	ExpiresAt     *time.Time
	CreatedBy     string
	// RateLimitPerHour is the key's own limit (0: none of its own).
	RateLimitPerHour int
}

// Mint validates spec and returns the key record and its token without
// storing anything. The caller stores the record (see Issue).
func (s *Service) Mint(spec Spec) (*Key, string, error) {
	name := strings.TrimSpace(spec.Name)
	if name == "" {
		return nil, "", gatehouse.FieldError("name", "required_field_missing", "name is required")
	}
	if len(name) > 200 {
		return nil, "", gatehouse.FieldError("name", "too_long", "name must be at most 200 characters")
	}
	if !spec.Level.Valid() {
		return nil, "", gatehouse.FieldError("level", "invalid_value", "level must be organization, project or environment")
	}
	if (spec.Level != auth.LevelOrganization) != (spec.ProjectID != "") || (spec.Level == auth.LevelEnvironment) != (spec.EnvironmentID != "") {
		return nil, "", gatehouse.FieldError("level", "invalid_value", "a %s key needs exactly the ids of its level", spec.Level)
	}
	if spec.RateLimitPerHour < 0 {
		return nil, "", gatehouse.FieldError("rate_limit_per_hour", "out_of_range", "rate_limit_per_hour must not be negative")
	}
	if len(spec.Scopes) == 0 {
		return nil, "", gatehouse.FieldError("scopes", "required_field_missing", "at least one scope is required")
	}
	set, err := gatehouse.NewScopeSet(spec.Scopes)
	if err != nil {
		return nil, "", err
	}
	now := s.now().UTC().Truncate(time.Second)
	if spec.ExpiresAt != nil {
		exp := spec.ExpiresAt.UTC().Truncate(time.Second)
		if !exp.After(now) {
			return nil, "", gatehouse.FieldError("expires_at", "in_the_past", "expires_at must be in the future")
		}
		spec.ExpiresAt = &exp
	}
	k := &Key{ID: uuid.Must(uuid.NewV7()).String(), OrgID: spec.OrgID, ProjectID: spec.ProjectID, EnvironmentID: spec.EnvironmentID,
		Level: spec.Level, Name: name, Scopes: set, CreatedBy: spec.CreatedBy, CreatedAt: now, ExpiresAt: spec.ExpiresAt,
		RateLimitPerHour: spec.RateLimitPerHour, TokenFormat: TokenWithSecret}
	var nonce [32]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, "", fmt.Errorf("key secret: %w", err)
	}
	token, err := s.sign(k, base64.RawURLEncoding.EncodeToString(nonce[:]))
	if err != nil {
		return nil, "", err
	}
	k.TokenSHA256 = hashToken(token)
	return k, token, nil
}

func (s *Service) sign(k *Key, nonce string) (string, error) {
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: Issuer, Subject: k.OrgID, ID: k.ID, IssuedAt: jwt.NewNumericDate(k.CreatedAt)},
		Level:            string(k.Level), OrgID: k.OrgID, ProjectID: k.ProjectID, EnvironmentID: k.EnvironmentID, Nonce: nonce,
		Region: s.region,
	}
	for _, sc := range k.Scopes.Scopes() {
		c.Scopes = append(c.Scopes, string(sc))
	}
	if k.ExpiresAt != nil {
		c.ExpiresAt = jwt.NewNumericDate(*k.ExpiresAt)
	}
	s.mu.RLock()
	sk := s.signing
	s.mu.RUnlock()
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	t.Header["kid"] = sk.ID
	token, err := t.SignedString(sk.PrivateKey)
	if err != nil {
		return "", fmt.Errorf("sign key: %w", err)
	}
	return token, nil
}

// Issue creates and stores a key on behalf of creator: the key's level and
// reach stay within the creator's, and its scopes within the creator's.
func (s *Service) Issue(ctx context.Context, creator *auth.Principal, spec Spec) (*Key, string, error) {
	spec.OrgID = creator.OrgID
	spec.CreatedBy = creator.Actor()
	if err := checkCreator(creator, spec); err != nil {
		return nil, "", err
	}
	k, token, err := s.Mint(spec)
	if err != nil {
		return nil, "", err
	}
	err = s.store.InAPIKeyTx(ctx, func(tx Store) error {
		if err := tx.CreateAPIKey(ctx, k); err != nil {
			return err
		}
		return tx.Emit(ctx, s.keyEvent(event.APIKeyCreated, k, k.View(s.now())))
	})
	if err != nil {
		return nil, "", err
	}
	return k, token, nil
}

// keyEvent is an event about key k.
func (s *Service) keyEvent(typ string, k *Key, data any) event.Event {
	return event.Event{ID: uuid.Must(uuid.NewV7()).String(), Type: typ, OrgID: k.OrgID, ProjectID: k.ProjectID, EnvID: k.EnvironmentID,
		OccurredAt: s.now().UTC(), Data: data}
}

func checkCreator(creator *auth.Principal, spec Spec) error {
	if !creator.CanIssue(spec.Level, spec.ProjectID, spec.EnvironmentID) {
		return gatehouse.Errorf(gatehouse.CodeForbidden, "a %s key cannot create this %s key", creator.Level, spec.Level)
	}
	set, err := gatehouse.NewScopeSet(spec.Scopes)
	if err != nil {
		return err
	}
	if missing := set &^ creator.Scopes; missing != 0 {
		return &gatehouse.Error{Code: gatehouse.CodeForbidden,
			Message: "a key cannot get scopes its creator lacks: " + missing.String(),
			Details: map[string]any{"field": "scopes", "reason": "exceeds_creator_scopes"}}
	}
	return nil
}

// Revoke revokes key id of orgID. It returns once every node has dropped the
// key from its cache.
func (s *Service) Revoke(ctx context.Context, orgID, id string) (*Key, error) {
	k, err := s.store.GetAPIKey(ctx, orgID, id)
	if err != nil {
		return nil, err
	}
	if k.RevokedAt == nil {
		now := s.now().UTC().Truncate(time.Microsecond)
		k.RevokedAt = &now
		err := s.store.InAPIKeyTx(ctx, func(tx Store) error {
			if err := tx.UpdateAPIKey(ctx, k); err != nil {
				return err
			}
			return tx.Emit(ctx, s.keyEvent(event.APIKeyRevoked, k, k.View(now)))
		})
		if err != nil {
			return nil, err
		}
	}
	s.announce(ctx, k.ID)
	return k, nil
}

// Patch lists the fields of a key to change; nil: unchanged.
type Patch struct {
	Name *string
	// ExpiresAt brings the key's end forward. The token carries the
	// expiry it was made with (its exp claim), so a key cannot be made to
	// last longer: rotate it for that.
	ExpiresAt *time.Time
}

// Update renames key id of orgID or brings its expiry forward, with an
// api_key.updated event. It returns once every node has dropped the key
// from its cache (which holds its name and expiry).
func (s *Service) Update(ctx context.Context, orgID, id string, p Patch) (*Key, error) {
	var k *Key
	err := s.store.InAPIKeyTx(ctx, func(tx Store) error {
		var err error
		if k, err = tx.GetAPIKey(ctx, orgID, id); err != nil {
			return err
		}
		if p.Name != nil {
			name := strings.TrimSpace(*p.Name)
			if name == "" {
				return gatehouse.FieldError("name", "required_field_missing", "name must not be empty")
			}
			if len(name) > 200 {
				return gatehouse.FieldError("name", "too_long", "name must be at most 200 characters")
			}
			k.Name = name
		}
		if p.ExpiresAt != nil {
			now := s.now().UTC()
			if st := k.Status(now); st != StatusActive {
				return &gatehouse.Error{Code: gatehouse.CodeConflict, Message: fmt.Sprintf("key %s is %s: its expiry cannot change", id, st),
					Details: map[string]any{"field": "expires_at", "reason": "not_active"}}
			}
			exp := p.ExpiresAt.UTC().Truncate(time.Second)
			if !exp.After(now) {
				return gatehouse.FieldError("expires_at", "in_the_past", "expires_at must be in the future")
			}
			if k.ExpiresAt != nil && exp.After(*k.ExpiresAt) {
				return gatehouse.FieldError("expires_at", "later_than_token",
					"expires_at may only come sooner than the key's %s: its token carries that expiry (rotate the key for one that lasts longer)", k.ExpiresAt.UTC().Format(time.RFC3339))
			}
			k.ExpiresAt = &exp
		}
		if err := tx.UpdateAPIKey(ctx, k); err != nil {
			return err
		}
		return tx.Emit(ctx, s.keyEvent(event.APIKeyUpdated, k, k.View(s.now())))
	})
	if err != nil {
		return nil, err
	}
	s.announce(ctx, k.ID)
	return k, nil
}

// Rotate creates a new key like key id and ends the old one after grace
// (immediately when grace is 0). The new token is returned once.
func (s *Service) Rotate(ctx context.Context, creator *auth.Principal, id string, grace time.Duration) (*Key, string, error) {
	if grace < 0 || grace > MaxGracePeriod {
		return nil, "", gatehouse.FieldError("grace_period_seconds", "out_of_range", "grace_period_seconds must be between 0 and %d", int(MaxGracePeriod/time.Second))
	}
	var (
		nk    *Key
		token string
		old   *Key
	)
	err := s.store.InAPIKeyTx(ctx, func(tx Store) error {
		var err error
		old, err = tx.GetAPIKey(ctx, creator.OrgID, id)
		if err != nil {
			return err
		}
		if st := old.Status(s.now()); st != StatusActive {
			return gatehouse.Errorf(gatehouse.CodeConflict, "key %s is %s and cannot be rotated", id, st)
		}
		if old.ReplacedBy != "" {
			return gatehouse.Errorf(gatehouse.CodeConflict, "key %s was already rotated into %s", id, old.ReplacedBy)
		}
		spec := Spec{Name: old.Name, Level: old.Level, OrgID: old.OrgID, ProjectID: old.ProjectID, EnvironmentID: old.EnvironmentID, RateLimitPerHour: old.RateLimitPerHour,
			Scopes: old.Scopes.Scopes(), ExpiresAt: old.ExpiresAt, CreatedBy: creator.Actor()}
		if err := checkCreator(creator, spec); err != nil {
			return err
		}
		nk, token, err = s.Mint(spec)
		if err != nil {
			return err
		}
		if err := tx.CreateAPIKey(ctx, nk); err != nil {
			return err
		}
		end := s.now().UTC().Truncate(time.Second).Add(grace)
		if grace == 0 {
			old.RevokedAt, old.RevokedReason = &end, ReasonRotated
		} else if old.ExpiresAt == nil || end.Before(*old.ExpiresAt) {
			old.ExpiresAt = &end
		}
		old.ReplacedBy = nk.ID
		if err := tx.UpdateAPIKey(ctx, old); err != nil {
			return err
		}
		now := s.now()
		return tx.Emit(ctx, s.keyEvent(event.APIKeyRotated, old, map[string]any{"old_key": old.View(now), "new_key": nk.View(now)}))
	})
	if err != nil {
		return nil, "", err
	}
	s.announce(ctx, old.ID)
	return nk, token, nil
}

// ConstrainCreator revokes, in tx, the active keys creator made in orgID
// whose scopes are not within allowed (every one when all is set), with
// reason and an api_key.revoked event each. Call the returned function once
// tx commits: it tells every node to drop those keys.
func (s *Service) ConstrainCreator(ctx context.Context, tx Store, orgID, creator string, allowed gatehouse.ScopeSet, all bool, reason string) (func(), error) {
	now := s.now().UTC().Truncate(time.Microsecond)
	var victims []Key
	for page := 1; ; page++ {
		res, err := tx.ListAPIKeys(ctx, Filter{OrgID: orgID, CreatedBy: creator, Status: StatusActive, Now: now},
			gatehouse.PageRequest{Page: page, PerPage: 100})
		if err != nil {
			return nil, err
		}
		for _, k := range res.Items {
			if all || k.Scopes&^allowed != 0 {
				victims = append(victims, k)
			}
		}
		if page*100 >= res.Total {
			break
		}
	}
	ids := make([]string, 0, len(victims))
	for i := range victims {
		k := &victims[i]
		k.RevokedAt, k.RevokedReason = &now, reason
		if err := tx.UpdateAPIKey(ctx, k); err != nil {
			return nil, err
		}
		if err := tx.Emit(ctx, s.keyEvent(event.APIKeyRevoked, k, k.View(now))); err != nil {
			return nil, err
		}
		ids = append(ids, k.ID)
	}
	return func() {
		for _, id := range ids {
			s.announce(ctx, id)
		}
	}, nil
}

// Forget drops every cached key on every node (after deleting a project, an
// environment or an organization, whose keys go with it).
func (s *Service) Forget(ctx context.Context) { s.announce(ctx, "") }

func (s *Service) announce(ctx context.Context, keyID string) {
	s.cache.forget(keyID)
	if err := s.bc.Publish(ctx, keyID); err != nil {
		// The change is committed; nodes that missed it bypass their cache
		// while unhealthy and re-read every key after CacheTTL. The answer
		// says so (meta.unconfirmed_nodes), never silently.
		s.log.Warn("api key change not confirmed by every node", "key_id", keyID, "err", err)
		n := int64(1)
		if ue := new(UnconfirmedError); errors.As(err, &ue) {
			n = int64(ue.Nodes)
		}
		if c := ConfirmationsOf(ctx); c != nil {
			c.unconfirmed.Add(n)
		}
	}
}

// Get returns key id of orgID.
func (s *Service) Get(ctx context.Context, orgID, id string) (*Key, error) {
	return s.store.GetAPIKey(ctx, orgID, id)
}

// List lists keys.
func (s *Service) List(ctx context.Context, f Filter, page gatehouse.PageRequest) (gatehouse.Page[Key], error) {
	f.Now = s.now()
	return s.store.ListAPIKeys(ctx, f, page)
}

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.now() }

// JWK is one public key in a JWKS document (RFC 8037 OKP key).
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// JWKS returns the public keys that verify API keys.
func (s *Service) JWKS() []JWK {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]JWK, 0, len(s.public))
	for kid, pub := range s.public {
		out = append(out, JWK{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(pub), Kid: kid, Alg: "EdDSA", Use: "sig"})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kid < out[j].Kid })
	return out
}
