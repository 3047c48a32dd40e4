package facts_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
)

// feedStore is a store of one environment's feed in memory: what following
// a feed reads. Any other method of facts.Store panics (nil embedded).
type feedStore struct {
	facts.Store

	mu      sync.Mutex
	entries []facts.Change
	readErr error
	counts  int // CountChangesSince calls
}

// add appends n put_user entries, positions growing by step (other
// environments share the sequence, so positions are not dense).
func (s *feedStore) add(n int, step int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seq := int64(0)
	if len(s.entries) > 0 {
		seq = s.entries[len(s.entries)-1].Seq
	}
	for range n {
		seq += step
		data, _ := json.Marshal(authz.User{Key: fmt.Sprintf("u%d", seq)})
		s.entries = append(s.entries, facts.Change{Seq: seq, Change: authz.Change{Op: authz.OpPutUser, Data: data}, CreatedAt: time.Now()})
	}
}

func (s *feedStore) GetTenant(_ context.Context, envID, ref string) (*facts.Tenant, error) {
	return &facts.Tenant{EnvID: envID, Key: ref}, nil
}

func (s *feedStore) LoadEnvironment(context.Context, string) (authz.Data, int64, error) {
	return authz.Data{Tenants: []authz.Tenant{{Key: authz.DefaultTenant}}}, 0, nil
}

func (s *feedStore) ChangesSince(_ context.Context, _ string, seq int64, limit int) ([]facts.Change, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.readErr != nil {
		return nil, s.readErr
	}
	var out []facts.Change
	for _, c := range s.entries {
		if c.Seq > seq && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}

func (s *feedStore) FeedPosition(context.Context, string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.entries) == 0 {
		return 0, nil
	}
	return s.entries[len(s.entries)-1].Seq, nil
}

func (s *feedStore) CountChangesSince(_ context.Context, _ string, seq int64, limit int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts++
	n := 0
	for _, c := range s.entries {
		if c.Seq > seq && n < limit {
			n++
		}
	}
	return n, nil
}

func newFeed(t *testing.T) (*facts.Service, *feedStore) {
	t.Helper()
	st := &feedStore{}
	return facts.NewService(st, slog.New(slog.NewTextHandler(io.Discard, nil))), st
}

// describe is a follow's events, one word each: c<seq>, s<seq>, reset.
func describe(evs []facts.FeedEvent) string {
	var out []string
	for _, ev := range evs {
		switch ev.Kind {
		case facts.FeedChange:
			out = append(out, fmt.Sprintf("c%d", ev.Entry.Seq))
		case facts.FeedSynced:
			out = append(out, fmt.Sprintf("s%d", ev.Seq))
		default:
			out = append(out, ev.Kind)
		}
	}
	return strings.Join(out, " ")
}

// errCaughtUp ends a follow once it has caught up.
var errCaughtUp = errors.New("caught up")

// TestFollowPositions: where a follow starts, what it replays and when it
// resets, from the follower's position and the feed's.
func TestFollowPositions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		entries   int   // on the feed, positions 2, 4, 6…
		step      int64 // between positions
		opts      facts.FollowOptions
		want      string
		reset     string // in the reason of a reset
		wantCount bool   // the backlog was counted, not estimated
	}{
		{name: "new follower starts at the current position", entries: 3, step: 2,
			opts: facts.FollowOptions{Since: 0}, want: "s6"},
		{name: "empty feed", entries: 0, step: 1, opts: facts.FollowOptions{}, want: "s0"},
		{name: "resume replays what follows", entries: 3, step: 2,
			opts: facts.FollowOptions{Since: 2, Resume: true}, want: "c4 c6 s6"},
		{name: "resume at the end", entries: 3, step: 2,
			opts: facts.FollowOptions{Since: 6, Resume: true}, want: "s6"},
		{name: "ahead of the feed", entries: 3, step: 2,
			opts: facts.FollowOptions{Since: 7, Resume: true}, want: "reset", reset: "ahead of the feed (6)"},
		{name: "further behind than the backlog", entries: 4, step: 1,
			opts: facts.FollowOptions{Since: 0, Resume: true, Backlog: 3}, want: "reset", reset: "more than 3 changes behind", wantCount: true},
		{name: "sparse positions within the backlog", entries: 3, step: 10,
			opts: facts.FollowOptions{Since: 0, Resume: true, Backlog: 3}, want: "c10 c20 c30 s30", wantCount: true},
		{name: "exactly the backlog", entries: 3, step: 1,
			opts: facts.FollowOptions{Since: 0, Resume: true, Backlog: 3}, want: "c1 c2 c3 s3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			svc, st := newFeed(t)
			st.add(tc.entries, tc.step)
			ctx := context.Background()
			f, err := svc.Follow(ctx, "env", tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if (f.Reset() != "") != (tc.reset != "") || !strings.Contains(f.Reset(), tc.reset) {
				t.Fatalf("Reset() = %q, want one saying %q", f.Reset(), tc.reset)
			}
			f.Wait = func(context.Context, <-chan struct{}) error { return errCaughtUp }
			var evs []facts.FeedEvent
			err = f.Run(ctx, func(ev facts.FeedEvent) error { evs = append(evs, ev); return nil })
			if tc.reset != "" && err != nil || tc.reset == "" && !errors.Is(err, errCaughtUp) {
				t.Fatalf("Run = %v", err)
			}
			if got := describe(evs); got != tc.want {
				t.Fatalf("events %q, want %q", got, tc.want)
			}
			if tc.reset != "" && evs[0].Reason != f.Reset() {
				t.Fatalf("reset event %q, want %q", evs[0].Reason, f.Reset())
			}
			if (st.counts > 0) != tc.wantCount {
				t.Fatalf("backlog counted %d times", st.counts)
			}
		})
	}
}

// TestFollowSeesLaterChanges: a follower that has caught up waits for the
// feed to move and is sent what was written, then synced again.
func TestFollowSeesLaterChanges(t *testing.T) {
	t.Parallel()
	svc, st := newFeed(t)
	st.add(2, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f, err := svc.Follow(ctx, "env", facts.FollowOptions{})
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan facts.FeedEvent, 16)
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx, func(ev facts.FeedEvent) error { events <- ev; return nil }) }()
	next := func() facts.FeedEvent {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case <-time.After(5 * time.Second):
			t.Fatal("no event")
			return facts.FeedEvent{}
		}
	}
	if ev := next(); ev.Kind != facts.FeedSynced || ev.Seq != 2 {
		t.Fatalf("first event %+v", ev)
	}
	st.add(2, 1)
	if err := svc.Engines.CatchUp(ctx, "env"); err != nil { // what a committed write does
		t.Fatal(err)
	}
	var got []facts.FeedEvent
	for i := 0; i < 3; i++ {
		got = append(got, next())
	}
	if d := describe(got); d != "c3 c4 s4" {
		t.Fatalf("after a write: %q", d)
	}
	if got[0].Entry.Op != authz.OpPutUser || got[0].Entry.CreatedAt.IsZero() {
		t.Fatalf("entry %+v", got[0].Entry)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel: %v", err)
	}
	if f.Since() != 4 {
		t.Fatalf("Since %d", f.Since())
	}
}

// TestFollowLongReplay: a replay goes in batches, in order, calling Between
// between them; an error of Between ends it.
func TestFollowLongReplay(t *testing.T) {
	t.Parallel()
	svc, st := newFeed(t)
	st.add(1200, 1)
	ctx := context.Background()
	f, err := svc.Follow(ctx, "env", facts.FollowOptions{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	betweens := 0
	f.Between = func(context.Context) error { betweens++; return nil }
	f.Wait = func(context.Context, <-chan struct{}) error { return errCaughtUp }
	last, changes, synced := int64(0), 0, 0
	err = f.Run(ctx, func(ev facts.FeedEvent) error {
		switch ev.Kind {
		case facts.FeedChange:
			if ev.Entry.Seq != last+1 {
				return fmt.Errorf("entry %d after %d", ev.Entry.Seq, last)
			}
			last = ev.Entry.Seq
			changes++
		case facts.FeedSynced:
			synced++
		}
		return nil
	})
	if !errors.Is(err, errCaughtUp) || changes != 1200 || synced != 1 || betweens != 2 {
		t.Fatalf("Run = %v after %d changes, %d synced, %d betweens", err, changes, synced, betweens)
	}

	stop := errors.New("stop")
	f, err = svc.Follow(ctx, "env", facts.FollowOptions{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	f.Between = func(context.Context) error { return stop }
	changes = 0
	err = f.Run(ctx, func(facts.FeedEvent) error { changes++; return nil })
	if !errors.Is(err, stop) || changes != 500 {
		t.Fatalf("stopped replay: %v after %d events", err, changes)
	}
}

// TestFollowErrors: an error of the event function ends the follow with
// it; a feed that cannot be read ends it with the store's error.
func TestFollowErrors(t *testing.T) {
	t.Parallel()
	svc, st := newFeed(t)
	st.add(3, 1)
	ctx := context.Background()
	f, err := svc.Follow(ctx, "env", facts.FollowOptions{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	gone := errors.New("client gone")
	n := 0
	if err := f.Run(ctx, func(facts.FeedEvent) error { n++; return gone }); !errors.Is(err, gone) || n != 1 {
		t.Fatalf("Run = %v after %d events", err, n)
	}

	broken := errors.New("disk on fire")
	st.mu.Lock()
	st.readErr = broken
	st.mu.Unlock()
	if err := f.Run(ctx, func(facts.FeedEvent) error { return nil }); !errors.Is(err, broken) {
		t.Fatalf("Run on a broken feed = %v", err)
	}
}
