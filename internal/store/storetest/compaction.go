package storetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// testFeedCompaction: compacting an environment's feed keeps its newest
// entries, puts a marker in place of the newest one removed, and everyone
// positioned before the marker starts again from a snapshot: another
// node's engine reloads (and then holds every write), a change stream's
// follower is reset; a follower within the kept entries is replayed them.
func testFeedCompaction(t *testing.T, st *store.Store) {
	ctx := context.Background()
	svc, env := factsEnv(t, st)
	must(t, svc.EnsureDefaultTenant(ctx, env))
	_, err := svc.CreateResource(ctx, env, facts.ResourceInput{Key: "doc", Actions: []string{"read"}})
	must(t, err)
	_, err = svc.CreateRole(ctx, env, facts.RoleInput{Key: "reader", Permissions: []string{"doc:read"}})
	must(t, err)
	addUsers := func(from, to int) {
		for i := from; i < to; i++ {
			_, err := svc.CreateUser(ctx, env, facts.UserInput{Key: fmt.Sprintf("u%d", i)})
			must(t, err)
		}
	}
	addUsers(0, 20)
	// Another node loads the environment now and hears nothing more.
	other := facts.NewService(st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	_, err = other.Engines.Get(ctx, env)
	must(t, err)
	_, stale, _ := other.Engines.Loaded(env)
	addUsers(20, 50)
	latest, err := st.FeedPosition(ctx, env)
	must(t, err)

	// Nothing is old enough: nothing goes.
	c, err := st.CompactFeed(ctx, 10, time.Now().Add(-time.Hour))
	must(t, err)
	if c.Deleted != 0 {
		t.Fatalf("compacted entries younger than the cut-off: %+v", c)
	}
	c, err = st.CompactFeed(ctx, 10, time.Now().Add(time.Hour))
	must(t, err)
	left, err := st.ChangesSince(ctx, env, 0, 1000)
	must(t, err)
	if c.Environments != 1 || len(left) != 11 || left[0].Op != store.FeedCompacted || left[len(left)-1].Seq != latest {
		t.Fatalf("after compaction (%+v): %d entries, first %q, last %d (feed at %d)", c, len(left), left[0].Op, left[len(left)-1].Seq, latest)
	}
	if again, err := st.CompactFeed(ctx, 10, time.Now().Add(time.Hour)); err != nil || again.Deleted != 0 {
		t.Fatalf("a second compaction: %+v %v", again, err)
	}
	if pos, err := st.FeedPosition(ctx, env); err != nil || pos != latest {
		t.Fatalf("feed position after compaction: %d %v, want %d", pos, err, latest)
	}

	// The other node's engine, behind the marker, reloads whole.
	must(t, other.Engines.CatchUp(ctx, env))
	e, err := other.Engines.Get(ctx, env)
	must(t, err)
	if n := e.Stats().Users; n != 50 {
		t.Fatalf("the other node's engine after compaction holds %d users, want 50", n)
	}
	if _, seq, _ := other.Engines.Loaded(env); seq != latest {
		t.Fatalf("the other node's engine at %d, feed at %d", seq, latest)
	}

	// A follower from before the marker is reset; one within is replayed.
	follow := func(since int64) []facts.FeedEvent {
		t.Helper()
		f, err := svc.Follow(ctx, env, facts.FollowOptions{Since: since, Resume: true})
		must(t, err)
		var got []facts.FeedEvent
		done := errors.New("synced")
		f.Wait = func(context.Context, <-chan struct{}) error { return done }
		err = f.Run(ctx, func(ev facts.FeedEvent) error {
			got = append(got, ev)
			return nil
		})
		if err != nil && !errors.Is(err, done) {
			t.Fatal(err)
		}
		return got
	}
	if got := follow(stale); len(got) != 1 || got[0].Kind != facts.FeedReset || !strings.Contains(got[0].Reason, "compacted") {
		t.Fatalf("a follower at %d (before the marker): %+v", stale, got)
	}
	got := follow(left[5].Seq)
	if len(got) != 6 || got[0].Kind != facts.FeedChange || got[0].Entry.Seq != left[6].Seq || got[5].Kind != facts.FeedSynced {
		t.Fatalf("a follower within the kept entries: %+v", got)
	}
}
