package apikey

import (
	"context"
	"crypto/ed25519"
	"crypto/subtle"
	"errors"
	"fmt"
	meter "github.com/gatehouse-dev/gatehouse/internal/usage"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/dberr"
	"github.com/golang-jwt/jwt/v5"
)

// Errors returned by Verify. Their messages are safe to show to a client.
var (
	ErrMissing = gatehouse.Errorf(gatehouse.CodeUnauthorized, "missing API key: send Authorization: Bearer <key>")
	ErrInvalid = gatehouse.Errorf(gatehouse.CodeUnauthorized, "invalid API key")
	ErrExpired = gatehouse.Errorf(gatehouse.CodeUnauthorized, "API key expired")
	ErrRevoked = gatehouse.Errorf(gatehouse.CodeUnauthorized, "API key revoked")
	// ErrScopeDeleted: the key's project or environment was deleted.
	ErrScopeDeleted = gatehouse.Errorf(gatehouse.CodeUnauthorized, "API key revoked: its project or environment was deleted (it works again if that is restored)")
)

// usage is the last-used time of one key, written on every verification and
// flushed to the store in batches.
type usage struct {
	last    atomic.Int64 // unix seconds
	flushed atomic.Int64
}

type entry struct {
	p       *auth.Principal
	expires int64 // unix nanoseconds; 0: never
	checked int64 // unix nanoseconds of the last store read
	use     *usage
}

// cache maps a token that verified to its principal.
type cache struct {
	ttl  int64
	size int

	mu      sync.RWMutex
	entries map[string]*entry
	gen     uint64 // bumped by forget, under mu

	usageMu sync.Mutex
	usage   map[string]*usage // key id → usage
}

func newCache(size int, ttl time.Duration) *cache {
	return &cache{ttl: int64(ttl), size: size, entries: make(map[string]*entry), usage: make(map[string]*usage)}
}

func (c *cache) get(token string) *entry {
	c.mu.RLock()
	e := c.entries[token]
	c.mu.RUnlock()
	return e
}

func (c *cache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put stores e unless a forget happened since gen was read: the entry may
// have been read from the store before a revocation committed.
func (c *cache) put(token string, e *entry, gen uint64) {
	c.mu.Lock()
	if c.gen != gen {
		c.mu.Unlock()
		return
	}
	if len(c.entries) >= c.size {
		for t := range c.entries { // drop an arbitrary entry
			delete(c.entries, t)
			break
		}
	}
	c.entries[token] = e
	c.mu.Unlock()
}

// drop removes token's entry.
func (c *cache) drop(token string) {
	c.mu.Lock()
	delete(c.entries, token)
	c.mu.Unlock()
}

// forget drops the entries of keyID, or every entry when keyID is "".
func (c *cache) forget(keyID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if keyID == "" {
		clear(c.entries)
		return
	}
	for t, e := range c.entries {
		if e.p.KeyID == keyID {
			delete(c.entries, t)
		}
	}
}

func (c *cache) usageOf(keyID string) *usage {
	c.usageMu.Lock()
	defer c.usageMu.Unlock()
	u := c.usage[keyID]
	if u == nil {
		u = &usage{}
		c.usage[keyID] = u
	}
	return u
}

// Verify authenticates a bearer token. A token seen before answers from the
// cache without allocating; otherwise its signature is checked and its
// record read from the store.
func (s *Service) Verify(ctx context.Context, token string) (*auth.Principal, error) {
	if token == "" {
		return nil, ErrMissing
	}
	now := s.now()
	nowNano := now.UnixNano()
	healthy := s.bc.Healthy()
	if healthy {
		if e := s.cache.get(token); e != nil && nowNano-e.checked < s.cache.ttl {
			if e.expires != 0 && nowNano >= e.expires {
				return nil, ErrExpired
			}
			e.use.last.Store(nowNano / int64(time.Second))
			s.hits.Add(1)
			return e.p, nil
		}
	}
	cached := s.cache.get(token)
	if cached != nil && nowNano < s.storeDown.Load() && s.withinGrace(cached, nowNano) {
		// the store failed a moment ago: do not wait on it for every call
		return s.fromOutage(cached, nowNano)
	}
	gen := s.cache.generation()
	s.misses.Add(1)
	e, err := s.verifySlow(ctx, token, now)
	if err != nil {
		if ge := new(gatehouse.Error); errors.As(err, &ge) {
			// the key's own fault (invalid, expired, revoked): no cached
			// answer may outlive what the store just said
			s.cache.drop(token)
			return nil, err
		}
		if ctx.Err() != nil || !dberr.Unavailable(err) {
			return nil, err // the caller went away, or a fault that is not an outage
		}
		// The store could not be reached (an outage): a key this node
		// verified recently keeps working for the grace.
		s.storeDown.Store(nowNano + int64(storeRetry))
		if cached != nil && s.withinGrace(cached, nowNano) {
			return s.fromOutage(cached, nowNano)
		}
		return nil, err
	}
	e.use.last.Store(nowNano / int64(time.Second))
	s.lastRead.Store(nowNano)
	if healthy {
		s.cache.put(token, e, gen)
	}
	return e.p, nil
}

// storeRetry is how long after a failed store read verification answers
// from the cache (within the grace) before it tries the store again.
const storeRetry = time.Second

func (s *Service) withinGrace(e *entry, nowNano int64) bool {
	return s.grace > 0 && nowNano-e.checked < s.grace
}

func (s *Service) fromOutage(e *entry, nowNano int64) (*auth.Principal, error) {
	if e.expires != 0 && nowNano >= e.expires {
		return nil, ErrExpired
	}
	s.outage.Add(1)
	e.use.last.Store(nowNano / int64(time.Second))
	return e.p, nil
}

func (s *Service) verifySlow(ctx context.Context, token string, now time.Time) (*entry, error) {
	if len(token) > 4096 {
		return nil, ErrInvalid
	}
	if err := s.checkRegion(token); err != nil {
		return nil, err
	}
	var c claims
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer(Issuer),
		jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithLeeway(0))
	_, err := parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		return s.publicKey(ctx, kid)
	})
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, ErrExpired
	case err != nil:
		var storeErr *storeError
		if errors.As(err, &storeErr) {
			return nil, storeErr.err
		}
		return nil, ErrInvalid
	}
	k, err := s.store.GetAPIKey(ctx, "", c.ID)
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
		return nil, ErrRevoked // deleted with its project, environment or organization
	}
	if err != nil {
		return nil, fmt.Errorf("verify api key: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(k.TokenSHA256), []byte(hashToken(token))) != 1 {
		return nil, ErrInvalid
	}
	switch k.Status(now) {
	case StatusRevoked:
		return nil, ErrRevoked
	case StatusExpired:
		return nil, ErrExpired
	}
	if k.ScopeDeleted && !k.OrgDeleted {
		return nil, ErrScopeDeleted
	}
	p := &auth.Principal{KeyID: k.ID, KeyName: k.Name, Level: k.Level, OrgID: k.OrgID, ProjectID: k.ProjectID, RateLimitPerHour: k.RateLimitPerHour,
		EnvironmentID: k.EnvironmentID, Scopes: k.Scopes, OrgDeleted: k.OrgDeleted}
	if k.EnvironmentID != "" && s.meter != nil {
		p.Checks = s.meter.Counts(meter.Cell{OrgID: k.OrgID, ProjectID: k.ProjectID, EnvID: k.EnvironmentID, KeyID: k.ID})
	}
	p.Seal()
	e := &entry{p: p, checked: now.UnixNano(), use: s.cache.usageOf(k.ID)}
	if k.ExpiresAt != nil {
		p.ExpiresAt = *k.ExpiresAt
		e.expires = k.ExpiresAt.UnixNano()
	}
	return e, nil
}

// checkRegion refuses a token whose region claim names another region than
// this cluster's, before its signature is checked or anything is read: a
// cluster of another region has its own database and signing keys, so the
// signature could not verify here anyway, and the caller needs to know
// where to go. The claim is read unverified, which is safe: it only picks
// which configured URL the refusal names. A key without a region claim
// (minted before the cluster had a region, or by a cluster without one)
// is this cluster's if its signature verifies, and works on.
func (s *Service) checkRegion(token string) error {
	if s.region == "" {
		return nil
	}
	var c claims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &c); err != nil || c.Region == "" || c.Region == s.region || !regionName(c.Region) {
		return nil // not a key of another region: the full verification decides
	}
	return WrongRegion(c.Region, s.regionURL(c.Region), s.region)
}

// WrongRegion is the refusal of a key homed in region (served at url, ""
// when unknown) presented to a cluster of region here.
func WrongRegion(region, url, here string) *gatehouse.Error {
	details := map[string]any{"region": region, "this_region": here}
	if url == "" {
		return &gatehouse.Error{Code: gatehouse.CodeWrongRegion, Details: details, Message: fmt.Sprintf(
			"this API key belongs to an organization homed in region %s, not in this region (%s); send its calls to region %s's API URL (this server has no URL for it: --region-urls)", region, here, region)}
	}
	details["api_url"] = url
	return &gatehouse.Error{Code: gatehouse.CodeWrongRegion, Details: details, Message: fmt.Sprintf(
		"this API key belongs to an organization homed in region %s, not in this region (%s): send its calls to %s (the SDKs' apiUrl)", region, here, url)}
}

// regionName reports whether r could be a region's name (what --region
// takes): anything else in the claim is no region, and the full
// verification refuses the token.
func regionName(r string) bool {
	if r == "" || len(r) > 32 || r[0] == '-' { // as config.validRegionName
		return false
	}
	for _, ch := range r {
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-') {
			return false
		}
	}
	return true
}

// Region is this cluster's region ("" none).
func (s *Service) Region() string { return s.region }

type storeError struct{ err error }

func (e *storeError) Error() string { return e.err.Error() }

// publicKey returns the key for kid, re-reading the store at most once a
// second when kid is unknown (another node may have created a signing key).
func (s *Service) publicKey(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	s.mu.RLock()
	pub, ok := s.public[kid]
	stale := s.now().Sub(s.lastReload) > time.Second
	s.mu.RUnlock()
	if ok {
		return pub, nil
	}
	if !stale || kid == "" {
		return nil, ErrInvalid
	}
	if err := s.loadSigningKeys(ctx, false); err != nil {
		return nil, &storeError{fmt.Errorf("verify api key: %w", err)}
	}
	s.mu.RLock()
	pub, ok = s.public[kid]
	s.mu.RUnlock()
	if !ok {
		return nil, ErrInvalid
	}
	return pub, nil
}

// FlushUsage writes the last-used times gathered since the previous flush.
func (s *Service) FlushUsage(ctx context.Context) error {
	batch := map[string]time.Time{}
	var marks []func()
	s.cache.usageMu.Lock()
	for id, u := range s.cache.usage {
		last := u.last.Load()
		if last > u.flushed.Load() {
			batch[id] = time.Unix(last, 0).UTC()
			marks = append(marks, func() { u.flushed.Store(last) })
		}
	}
	s.cache.usageMu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := s.store.TouchAPIKeys(ctx, batch); err != nil {
		return fmt.Errorf("flush api key usage: %w", err)
	}
	for _, m := range marks {
		m()
	}
	return nil
}

// RunUsageFlusher flushes last-used times every interval until ctx ends, then
// once more.
func (s *Service) RunUsageFlusher(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := s.FlushUsage(flushCtx); err != nil {
				s.log.Error("final api key usage flush", "err", err)
			}
			cancel()
			return
		case <-t.C:
			if err := s.FlushUsage(ctx); err != nil {
				s.log.Warn("api key usage flush", "err", err)
			}
		}
	}
}
