package apikey_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// switchable is a Broadcaster whose health a test controls; announcements
// reach the subscribers in-process like the single-node one.
type switchable struct {
	apikey.LocalBroadcaster
	down atomic.Bool
}

func (s *switchable) Healthy() bool { return !s.down.Load() }

type fixture struct {
	db    *store.DB
	svc   *apikey.Service
	st    *store.Store
	bc    *switchable
	org   *auth.Principal
	clock *atomic.Int64
}

func newFixture(tb testing.TB) *fixture { return newFixtureClock(tb, false) }

// newFixtureClock builds a fixture; realClock uses time.Now (benchmarks)
// instead of the test's settable clock.
func newFixtureClock(tb testing.TB, realClock bool) *fixture {
	tb.Helper()
	ctx := context.Background()
	db, err := store.OpenSQLite(ctx, filepath.Join(tb.TempDir(), "k.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	db.SetSecrets(storetest.Ring(tb))
	st := db.Store()
	o := &tenancy.Organization{ID: tenancy.NewID(), Key: "acme", Name: "Acme", Settings: tenancy.DefaultOrgSettings(), CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := st.CreateOrganization(ctx, o); err != nil {
		tb.Fatal(err)
	}
	clock := &atomic.Int64{}
	clock.Store(time.Now().UnixNano())
	bc := &switchable{}
	opts := apikey.Options{Now: func() time.Time { return time.Unix(0, clock.Load()) }}
	if realClock {
		opts.Now = nil
	}
	svc, err := apikey.NewService(ctx, st, bc, slog.New(slog.NewTextHandler(io.Discard, nil)), opts)
	if err != nil {
		tb.Fatal(err)
	}
	root := &auth.Principal{KeyID: "root", Level: auth.LevelOrganization, OrgID: o.ID, Scopes: gatehouse.MustScopeSet(gatehouse.AllScopes()...)}
	return &fixture{db: db, svc: svc, st: st, bc: bc, org: root, clock: clock}
}

func (f *fixture) issue(tb testing.TB, exp *time.Time) (*apikey.Key, string) {
	tb.Helper()
	k, token, err := f.svc.Issue(context.Background(), f.org, apikey.Spec{Name: "k", Level: auth.LevelOrganization,
		Scopes: []gatehouse.Scope{gatehouse.ScopeViewProject}, ExpiresAt: exp})
	if err != nil {
		tb.Fatal(err)
	}
	return k, token
}

func (f *fixture) advance(d time.Duration) { f.clock.Add(int64(d)) }

func TestVerify(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	k, token := f.issue(t, nil)
	p1, err := f.svc.Verify(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := f.svc.Verify(ctx, token)
	if err != nil || p1 != p2 {
		t.Fatalf("second verification did not come from the cache: %v", err)
	}
	if p1.KeyID != k.ID || !p1.Scopes.Has(gatehouse.ScopeViewProject) || p1.Scopes.Has(gatehouse.ScopeManageAPI) {
		t.Fatalf("principal %+v", p1)
	}

	parts := strings.Split(token, ".")
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"empty", "", apikey.ErrMissing},
		{"garbage", "abc", apikey.ErrInvalid},
		{"tampered payload", parts[0] + "." + parts[1] + "x." + parts[2], apikey.ErrInvalid},
		{"tampered signature", parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])), apikey.ErrInvalid},
		{"alg none", "eyJhbGciOiJub25lIn0." + parts[1] + ".", apikey.ErrInvalid},
		{"too long", strings.Repeat("a", 5000), apikey.ErrInvalid},
	}
	for _, tc := range tests {
		if _, err := f.svc.Verify(ctx, tc.token); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestRevokeDropsTheCachedKey(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	k, token := f.issue(t, nil)
	if _, err := f.svc.Verify(ctx, token); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Revoke(ctx, f.org.OrgID, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Verify(ctx, token); !errors.Is(err, apikey.ErrRevoked) {
		t.Fatalf("after revoke: %v", err)
	}
}

func TestExpiryIsCheckedOnTheCachedPath(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	exp := time.Unix(0, f.clock.Load()).Add(time.Hour)
	_, token := f.issue(t, &exp)
	if _, err := f.svc.Verify(ctx, token); err != nil {
		t.Fatal(err)
	}
	f.advance(2 * time.Hour)
	if _, err := f.svc.Verify(ctx, token); !errors.Is(err, apikey.ErrExpired) {
		t.Fatalf("expired key: %v", err)
	}
}

// While the broadcaster is unhealthy (a node that may have missed an
// announcement) every verification reads the store.
func TestUnhealthyBroadcasterBypassesTheCache(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	k, token := f.issue(t, nil)
	if _, err := f.svc.Verify(ctx, token); err != nil {
		t.Fatal(err)
	}
	f.bc.down.Store(true)
	now := time.Now()
	k.RevokedAt = &now
	if err := f.st.UpdateAPIKey(ctx, k); err != nil { // revoked behind the service's back
		t.Fatal(err)
	}
	if _, err := f.svc.Verify(ctx, token); !errors.Is(err, apikey.ErrRevoked) {
		t.Fatalf("unhealthy node trusted its cache: %v", err)
	}
}

// A cached key is re-read from the store after the cache TTL even without
// an announcement (one was lost, e.g. a node died between commit and notify).
func TestCacheTTL(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	k, token := f.issue(t, nil)
	if _, err := f.svc.Verify(ctx, token); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	k.RevokedAt = &now
	if err := f.st.UpdateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Verify(ctx, token); err != nil {
		t.Fatalf("within the TTL the cache answers: %v", err)
	}
	f.advance(2 * time.Minute)
	if _, err := f.svc.Verify(ctx, token); !errors.Is(err, apikey.ErrRevoked) {
		t.Fatalf("after the TTL: %v", err)
	}
}

func TestLastUsedIsFlushed(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	k, token := f.issue(t, nil)
	if _, err := f.svc.Verify(ctx, token); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := f.st.GetAPIKey(ctx, "", k.ID)
	if err != nil || got.LastUsedAt == nil {
		t.Fatalf("last used not recorded: %v %v", got, err)
	}
}

func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	f := newFixtureClock(b, true)
	_, token := f.issue(b, nil)
	if _, err := f.svc.Verify(ctx, token); err != nil {
		b.Fatal(err)
	}
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := f.svc.Verify(ctx, token); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := f.svc.Verify(ctx, token); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("uncached", func(b *testing.B) { // signature check + store read every time
		f.bc.down.Store(true)
		defer f.bc.down.Store(false)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := f.svc.Verify(ctx, token); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// With the store unreadable (here: closed), keys verified within the outage
// grace keep working from memory, the cache's TTL notwithstanding; a key
// revoked before the outage, a key never verified, one past its expiry and
// one whose last store read is older than the grace do not.
func TestVerifyThroughAStoreOutage(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	_, token := f.issue(t, nil)
	exp := time.Unix(0, f.clock.Load()).Add(3 * time.Minute)
	_, soon := f.issue(t, &exp)
	rk, revoked := f.issue(t, nil)
	_, unseen := f.issue(t, nil)
	for _, tok := range []string{token, soon, revoked} {
		if _, err := f.svc.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.svc.Revoke(ctx, f.org.OrgID, rk.ID); err != nil {
		t.Fatal(err)
	}
	f.bc.down.Store(true) // the database is gone: so is the listener
	f.db.Close()
	f.advance(2 * time.Minute) // past the cache TTL: a store read is due
	for i := 0; i < 3; i++ {
		if p, err := f.svc.Verify(ctx, token); err != nil || p == nil {
			t.Fatalf("a key verified before the outage: %v", err)
		}
	}
	if f.svc.OutageAnswers() != 3 {
		t.Fatalf("answers from memory: %d, want 3", f.svc.OutageAnswers())
	}
	if _, err := f.svc.Verify(ctx, revoked); err == nil {
		t.Fatal("a key revoked before the outage works in it")
	}
	if _, err := f.svc.Verify(ctx, unseen); err == nil || gatehouse.ErrorCode(err) != gatehouse.CodeInternal {
		t.Fatalf("a key never verified: %v, want a store error (the gate answers 503)", err)
	}
	f.advance(2 * time.Minute)
	if _, err := f.svc.Verify(ctx, soon); !errors.Is(err, apikey.ErrExpired) {
		t.Fatalf("a key past its expiry in the outage: %v", err)
	}
	f.advance(apikey.DefaultOutageGrace)
	if _, err := f.svc.Verify(ctx, token); err == nil {
		t.Fatal("a key works past the outage grace")
	}
}

// A key revoked on another node while this node's listener is down is
// refused from the store; a caller cancelling its own request cannot make
// the node fall back on its cache (which no longer holds the key).
func TestCancelledVerifyDoesNotReopenARevokedKey(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	k, token := f.issue(t, nil)
	if _, err := f.svc.Verify(ctx, token); err != nil {
		t.Fatal(err)
	}
	f.bc.down.Store(true) // no announcements reach this node
	revokedAt := time.Unix(0, f.clock.Load()).UTC()
	k.RevokedAt = &revokedAt
	if err := f.st.UpdateAPIKey(ctx, k); err != nil { // another node's revocation
		t.Fatal(err)
	}
	if _, err := f.svc.Verify(ctx, token); !errors.Is(err, apikey.ErrRevoked) {
		t.Fatalf("revoked elsewhere: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := f.svc.Verify(cctx, token); err == nil {
		t.Fatal("a cancelled verification admitted a revoked key")
	}
	for i := 0; i < 3; i++ {
		if _, err := f.svc.Verify(ctx, token); !errors.Is(err, apikey.ErrRevoked) {
			t.Fatalf("after a cancelled request: %v", err)
		}
	}
	if f.svc.OutageAnswers() != 0 {
		t.Fatalf("answers from memory: %d", f.svc.OutageAnswers())
	}
}
