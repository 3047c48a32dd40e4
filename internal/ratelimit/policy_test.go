package ratelimit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
)

// settings are fixed limits, counting how often each is read.
type settings struct {
	org      map[string]int
	env      map[string]int
	sandbox  map[string]bool
	orgReads int
}

func (s *settings) OrgLimit(_ context.Context, org string) (int, error) {
	s.orgReads++
	return s.org[org], nil
}

func (s *settings) EnvLimit(_ context.Context, env string) (int, bool, error) {
	return s.env[env], s.sandbox[env], nil
}

func TestPolicyTiers(t *testing.T) {
	t.Parallel()
	s := &settings{
		org:     map[string]int{"o1": 1000},
		env:     map[string]int{"e-override": 50},
		sandbox: map[string]bool{"e-sandbox": true},
	}
	p := ratelimit.NewPolicy(s, time.Hour)
	cases := []struct {
		name       string
		principal  auth.Principal
		wantBucket string
		wantLimit  int
	}{
		{"a sandbox environment is not limited", auth.Principal{OrgID: "o1", EnvironmentID: "e-sandbox", RateLimitPerHour: 5}, "", 0},
		{"a key's own limit wins over its environment's", auth.Principal{OrgID: "o1", EnvironmentID: "e-override", KeyID: "k1", RateLimitPerHour: 5}, "", 5},
		{"an environment's override", auth.Principal{OrgID: "o1", EnvironmentID: "e-override"}, "env:e-override", 50},
		{"else the organization's limit", auth.Principal{OrgID: "o1", EnvironmentID: "e-plain"}, "org:o1", 1000},
		{"an organization key", auth.Principal{OrgID: "o1"}, "org:o1", 1000},
	}
	for _, c := range cases {
		got, err := p.Target(context.Background(), &c.principal)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if c.wantBucket != "" && got.Bucket != c.wantBucket || got.Limit != c.wantLimit {
			t.Errorf("%s: got %+v, want bucket %q limit %d", c.name, got, c.wantBucket, c.wantLimit)
		}
		if c.wantBucket == "" && c.wantLimit > 0 && got.Bucket != c.principal.Actor() {
			t.Errorf("%s: bucket %q, want the key's own %q", c.name, got.Bucket, c.principal.Actor())
		}
	}
	if s.orgReads != 1 {
		t.Errorf("organization settings read %d times, want once within the ttl", s.orgReads)
	}
	s.org["o1"] = 10
	p.Forget("o1")
	got, _ := p.Target(context.Background(), &auth.Principal{OrgID: "o1"})
	if got.Limit != 10 {
		t.Errorf("after Forget the limit is %d, want the new 10", got.Limit)
	}
}

// TestPolicyCheckBudget: checks spend from a bucket of their own, 100
// times the limit that applies to the caller's API calls (the
// organization's, or its environment's override); a sandbox is not limited
// and a key with its own limit spends that on checks too.
func TestPolicyCheckBudget(t *testing.T) {
	t.Parallel()
	s := &settings{
		org:     map[string]int{"o1": 100, "big": 5_000_000},
		env:     map[string]int{"e-override": 50},
		sandbox: map[string]bool{"e-sandbox": true},
	}
	p := ratelimit.NewPolicy(s, time.Hour)
	cases := []struct {
		name       string
		principal  auth.Principal
		wantBucket string
		wantLimit  int
	}{
		{"a sandbox environment is not limited", auth.Principal{OrgID: "o1", EnvironmentID: "e-sandbox"}, "", 0},
		{"a key's own limit covers its checks", auth.Principal{OrgID: "o1", EnvironmentID: "e-plain", KeyID: "k1", RateLimitPerHour: 5}, "key:k1", 5},
		{"an environment's override: its checks' own bucket", auth.Principal{OrgID: "o1", EnvironmentID: "e-override"}, "checks:env:e-override", 5000},
		{"the organization's check budget", auth.Principal{OrgID: "o1", EnvironmentID: "e-plain"}, "checks:org:o1", 10_000},
		{"at most 100,000,000", auth.Principal{OrgID: "big", EnvironmentID: "e-plain"}, "checks:org:big", 100_000_000},
	}
	for _, c := range cases {
		got, err := p.CheckTarget(context.Background(), &c.principal)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got.Bucket != c.wantBucket || got.Limit != c.wantLimit {
			t.Errorf("%s: got %+v, want bucket %q limit %d", c.name, got, c.wantBucket, c.wantLimit)
		}
	}
	if calls, _ := p.Target(context.Background(), &auth.Principal{OrgID: "o1", EnvironmentID: "e-plain"}); calls.Bucket != "org:o1" || calls.Limit != 100 {
		t.Errorf("calls: %+v", calls)
	}
}

// TestPolicyKeepsTheLastLimitInAnOutage: when the settings cannot be read
// once the ttl passed, the limit last read applies (not an error, which
// would let everything through or refuse everything).
func TestPolicyKeepsTheLastLimitInAnOutage(t *testing.T) {
	t.Parallel()
	s := &failing{settings: settings{org: map[string]int{"o1": 100}}}
	p := ratelimit.NewPolicy(s, time.Nanosecond)
	pr := &auth.Principal{OrgID: "o1"}
	if got, err := p.Target(context.Background(), pr); err != nil || got.Limit != 100 {
		t.Fatalf("first read: %+v %v", got, err)
	}
	s.down = true
	if got, err := p.Target(context.Background(), pr); err != nil || got.Limit != 100 {
		t.Fatalf("in the outage: %+v %v", got, err)
	}
	if _, err := p.Target(context.Background(), &auth.Principal{OrgID: "never-read"}); err == nil {
		t.Fatal("a limit never read: no error in the outage")
	}
}

type failing struct {
	settings
	down bool
}

func (f *failing) OrgLimit(ctx context.Context, org string) (int, error) {
	if f.down {
		return 0, errors.New("database unreachable")
	}
	return f.settings.OrgLimit(ctx, org)
}
