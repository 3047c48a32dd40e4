package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
)

// settings are fixed limits, counting how often each is read.
type settings struct {
	org      map[string]int
	checks   map[string]int
	env      map[string]int
	sandbox  map[string]bool
	orgReads int
}

func (s *settings) OrgLimit(_ context.Context, org string) (int, error) {
	s.orgReads++
	return s.org[org], nil
}

func (s *settings) OrgCheckLimit(_ context.Context, org string) (int, error) {
	return s.checks[org], nil
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

// TestPolicyCheckBudget: checks spend from the organization's check
// budget, a bucket apart from its calls' and from an environment's
// override; a sandbox is not limited and a key with its own limit spends
// that on checks too.
func TestPolicyCheckBudget(t *testing.T) {
	t.Parallel()
	s := &settings{
		org:     map[string]int{"o1": 100},
		checks:  map[string]int{"o1": 10_000},
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
		{"an environment's override is for its calls, not its checks", auth.Principal{OrgID: "o1", EnvironmentID: "e-override"}, "checks:org:o1", 10_000},
		{"the organization's check budget", auth.Principal{OrgID: "o1", EnvironmentID: "e-plain"}, "checks:org:o1", 10_000},
	}
	for _, c := range cases {
		got, err := p.CheckTarget(context.Background(), &c.principal)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if c.wantBucket != "" && got.Bucket != c.principal.Actor() && got.Bucket != c.wantBucket || got.Limit != c.wantLimit {
			t.Errorf("%s: got %+v, want bucket %q limit %d", c.name, got, c.wantBucket, c.wantLimit)
		}
	}
	if calls, _ := p.Target(context.Background(), &auth.Principal{OrgID: "o1", EnvironmentID: "e-plain"}); calls.Bucket == "checks:org:o1" || calls.Limit != 100 {
		t.Errorf("calls share the check budget: %+v", calls)
	}
	s.checks["o1"] = 20_000
	p.Forget("o1")
	if got, _ := p.CheckTarget(context.Background(), &auth.Principal{OrgID: "o1", EnvironmentID: "e-plain"}); got.Limit != 20_000 {
		t.Errorf("after Forget the check budget is %d, want the new 20000", got.Limit)
	}
}
