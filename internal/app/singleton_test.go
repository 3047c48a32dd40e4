package app_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/datadirtest"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

// TestNodesStartTogether: three nodes started at once on an empty
// PostgreSQL database (each with auto-init, as `serve` does) all start;
// the database gets one first organization. Their pools have the
// configured size.
func TestNodesStartTogether(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DatabaseURL, cfg.SecretKey = datadirtest.Postgres(t), pgtest.SecretKey
	cfg.DatabaseMaxConns = 7
	const nodes = 3
	apps := make([]*app.App, nodes)
	results := make([]*app.InitResult, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	startAll := make(chan struct{})
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startAll
			a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				errs[i] = err
				return
			}
			apps[i] = a
			results[i], errs[i] = a.Init(context.Background(), app.DefaultInitOptions())
		}()
	}
	close(startAll)
	wg.Wait()
	for _, a := range apps {
		if a != nil {
			t.Cleanup(func() { a.Close() })
		}
	}
	created := 0
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		if results[i].Created {
			created++
		}
		if results[i].Organization.ID != results[0].Organization.ID {
			t.Fatalf("nodes %d and 0 see different first organizations", i)
		}
		if got := apps[i].DB.Writer().Stats().MaxOpenConnections; got != cfg.DatabaseMaxConns {
			t.Fatalf("node %d: a pool of %d connections, want %d (--database-max-conns)", i, got, cfg.DatabaseMaxConns)
		}
	}
	if created != 1 {
		t.Fatalf("%d nodes created the first organization, want 1", created)
	}
}

// holdLock takes the cluster-wide lock name through db, as another node
// running that work would, waiting out the nodes' own rounds.
func holdLock(t *testing.T, db *store.DB, name string) (unlock func()) {
	t.Helper()
	testwait.Until(t, 30*time.Second, "the "+name+" lock", func() bool {
		u, ok, err := db.TryLock(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		unlock = u
		return ok
	})
	return unlock
}

// TestSingletonWorkOneNodeAtATime: on two nodes sharing a PostgreSQL
// database, a node skips a round of log retention or of the jobs sweep
// while another holds its lock (the old log entries stay), and runs it once
// the lock is free.
func TestSingletonWorkOneNodeAtATime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := twoNodesWith(t, config.Default())
	logs := n.a.LogDB.LogStore()
	orgID := n.res.Organization.ID
	countDecisions := func() int {
		page, err := logs.ListDecisions(ctx, decision.Filter{OrgID: orgID, EnvID: "e"}, gatehouse.PageRequest{Page: 1, PerPage: 10, Sort: "timestamp"})
		if err != nil {
			t.Fatal(err)
		}
		return page.Total
	}

	unlock := holdLock(t, n.b.DB, app.LockLogRetention)
	old := time.Now().AddDate(0, 0, -40) // past the default 30 days
	var entries []decision.Entry
	for i := range 3 {
		entries = append(entries, decision.Entry{ID: fmt.Sprint("old", i), OrganizationID: orgID, ProjectID: "p", EnvironmentID: "e",
			Time: old, Source: decision.SourceAPI, User: "u", Action: "a", ResourceType: "r", Tenant: "default", Reason: "unknown_user"})
	}
	if err := logs.WriteDecisions(ctx, entries); err != nil {
		t.Fatal(err)
	}
	for _, a := range []*app.App{n.a, n.b} {
		ran, err := a.RetentionRound(ctx)
		if err != nil || ran {
			t.Fatalf("a retention round ran while another node held its lock: ran=%v err=%v", ran, err)
		}
	}
	if got := countDecisions(); got != 3 {
		t.Fatalf("%d old decisions left while retention was locked, want 3", got)
	}
	unlock()
	testwait.Until(t, 30*time.Second, "a retention round on node A", func() bool {
		ran, err := n.a.RetentionRound(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ran
	})
	if got := countDecisions(); got != 0 {
		t.Fatalf("%d old decisions left after a retention round, want 0", got)
	}

	unlock = holdLock(t, n.a.DB, app.LockJobsSweep)
	for _, a := range []*app.App{n.a, n.b} {
		if ran, err := a.SweepJobs(ctx); err != nil || ran {
			t.Fatalf("a jobs sweep ran while another node held its lock: ran=%v err=%v", ran, err)
		}
	}
	unlock()
	testwait.Until(t, 30*time.Second, "a jobs sweep on node B", func() bool {
		ran, err := n.b.SweepJobs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ran
	})
}
