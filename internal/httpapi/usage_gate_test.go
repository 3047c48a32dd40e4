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
// queries at once on a node. A third, of any usage endpoint, waits for a
// place (a second tab loading the usage page gets its charts), and is
// refused past the gate's wait with the documented rate-limit body (429,
// error.retry_after, Retry-After) and what to do, while another
// organization's queries go on; the places come back when the queries
// end. The queries are held in flight for real: a transaction on
// PostgreSQL holds the per-minute call counts locked, and
// interval=minute always reads them, so reading them waits.
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
	const held = "/v1/usage/calls?interval=minute&group_by=status_and_key"
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

	// Beyond the bound: each waits (about 2 s, at once), then is refused.
	paths := []string{held, "/v1/usage/checks" + devQ, "/v1/usage/webhooks"}
	refused := make([]resp, len(paths))
	var rwg sync.WaitGroup
	for i, path := range paths {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			refused[i] = s.do(req{method: "GET", path: path, key: s.key})
		}()
	}
	testwait.Until(t, 20*time.Second, "3 usage queries waiting", func() bool { return s.app.UsageGate.Waiting(s.orgID) == 3 })
	// Another organization is not held back by this one's queries.
	s.must(200, req{method: "GET", path: "/v1/usage/webhooks", key: other.key})
	rwg.Wait()
	for i, got := range refused {
		e, _ := got.body["error"].(map[string]any)
		if got.status != 429 || got.code() != "RATE_LIMIT_EXCEEDED" || got.header.Get("Retry-After") != "1" || e["retry_after"] != float64(1) ||
			!strings.Contains(got.raw, "already has 2 usage queries running") {
			t.Errorf("%s beyond the bound: %d %q %s", paths[i], got.status, got.header.Get("Retry-After"), got.raw)
		}
	}
	if n := s.app.UsageGate.InFlight(s.orgID); n != 2 {
		t.Fatalf("in flight after the refusals: %d, want still 2", n)
	}

	// A query waiting when a place frees gets it: the held ones end.
	third := make(chan int, 1)
	go func() { third <- s.do(req{method: "GET", path: held, key: s.key}).status }()
	testwait.Until(t, 20*time.Second, "a usage query waiting", func() bool { return s.app.UsageGate.Waiting(s.orgID) == 1 })
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if statuses[0] != 200 || statuses[1] != 200 {
		t.Fatalf("the held queries: %v, want 200s", statuses)
	}
	if got := <-third; got != 200 {
		t.Fatalf("the query that waited for a place: %d, want 200", got)
	}
	if n := s.app.UsageGate.InFlight(s.orgID); n != 0 {
		t.Fatalf("in flight once they ended: %d", n)
	}
	s.must(200, req{method: "GET", path: held, key: s.key})
}
