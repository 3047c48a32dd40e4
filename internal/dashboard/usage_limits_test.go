package dashboard

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/client"
)

// TestDashboardUsageSharedLimit: a key on a shared limit shows the use of
// all the keys on it, not its share alone as if the limit were its own; a
// key with its own limit shows its own use.
func TestDashboardUsageSharedLimit(t *testing.T) {
	t.Parallel()
	keys := []client.APIKey{
		{ID: "a", Name: "a", EnvironmentID: "dev"},
		{ID: "b", Name: "b", EnvironmentID: "dev"},
		{ID: "own", Name: "own", EnvironmentID: "dev", RateLimit: 100},
		{ID: "orgkey", Name: "orgkey"},
	}
	envs := []envChoice{{EnvID: "dev"}}
	calls := []client.CallUsage{{KeyID: "a", Calls: 30}, {KeyID: "b", Calls: 50}, {KeyID: "own", Calls: 10}, {KeyID: "orgkey", Calls: 5}}
	got := map[string]keyLimit{}
	for _, l := range limitsOf(keys, envs, &client.OrgSettings{EffectiveLimit: 1000}, map[string]int{"dev": 100}, calls, nil) {
		got[l.Key.ID] = l
	}
	for _, tc := range []struct {
		id      string
		used    int64
		percent int
		shared  bool
		calls   int64
	}{
		{"a", 80, 80, true, 30},
		{"b", 80, 80, true, 50},
		{"own", 10, 10, false, 10},
		{"orgkey", 5, 0, true, 5},
	} {
		l := got[tc.id]
		if l.Used != tc.used || l.Percent != tc.percent || l.Shared != tc.shared || l.Calls != tc.calls {
			t.Errorf("%s: used %d (%d%%) shared %t calls %d; want %d (%d%%) %t %d", tc.id, l.Used, l.Percent, l.Shared, l.Calls, tc.used, tc.percent, tc.shared, tc.calls)
		}
	}
}

// TestDashboardUsageKeyLabel: a caller neither listed as a key nor as a
// member is labelled as a deleted or unknown key, not shown as a bare id.
func TestDashboardUsageKeyLabel(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]string{
		"":           "no valid key",
		"member:m_1": "a member (dashboard)",
		"key_gone":   "deleted or unknown key (key_gone)",
	} {
		if got := keyLabel(id); got != want {
			t.Errorf("keyLabel(%q) = %q, want %q", id, got, want)
		}
	}
}
