package httpapi_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

// TestUsageQueriesPerOrganization: an organization runs at most 2 usage
// queries at once on a node; a third, of any usage endpoint, is refused
// with a 429, Retry-After and what to do, while another organization's
// queries go on, and the places come back when the queries end. The
// queries are held in flight for real: a transaction on PostgreSQL holds
// the per-minute call counts locked, so reading them waits.
func TestUsageQueriesPerOrganization(t *testing.T) {
	t.Parallel()
	s := newServerWith(t, engineConfig(t, "postgres"))
	other := s.otherOrg("Gated")
	ctx := context.Background()
	tx, err := s.app.LogDB.Writer().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "LOCK TABLE api_call_usage IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	const held = "/v1/usage/calls?interval=day&group_by=status_and_key"
	var wg sync.WaitGroup
	statuses := make([]int, 2)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = s.do(req{method: "GET", path: held, key: s.key}).status
		}()
	}
	testwait.Until(t, 20*time.Second, "2 usage queries in flight", func() bool { return s.app.UsageGate.InFlight(s.orgID) == 2 })

	for _, path := range []string{held, "/v1/usage/checks" + devQ, "/v1/usage/webhooks"} {
		got := s.do(req{method: "GET", path: path, key: s.key})
		if got.status != 429 || got.code() != "RATE_LIMIT_EXCEEDED" || got.header.Get("Retry-After") != "1" ||
			!strings.Contains(got.raw, "already has 2 usage queries running") {
			t.Errorf("%s beyond the bound: %d %q %s", path, got.status, got.header.Get("Retry-After"), got.raw)
		}
	}
	// Another organization is not held back by this one's queries.
	s.must(200, req{method: "GET", path: "/v1/usage/webhooks", key: other.key})
	if n := s.app.UsageGate.InFlight(s.orgID); n != 2 {
		t.Fatalf("in flight after the refusals: %d, want still 2", n)
	}

	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if statuses[0] != 200 || statuses[1] != 200 {
		t.Fatalf("the held queries: %v, want 200s", statuses)
	}
	if n := s.app.UsageGate.InFlight(s.orgID); n != 0 {
		t.Fatalf("in flight once they ended: %d", n)
	}
	s.must(200, req{method: "GET", path: held, key: s.key})
}
