package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// feedServer is a server of one environment's snapshot and change stream:
// the users in its snapshot at position snapSeq, then one put_user entry
// per later position.
type feedServer struct {
	snapSeq   int64
	snapUsers []string
	entries   []client.FeedEntry
	failLoads int32 // snapshot loads answered 503 before one succeeds

	loads  atomic.Int32
	mu     sync.Mutex
	sinces []string // the since of every stream opened
}

func putUser(seq int64, key string) client.FeedEntry {
	data, _ := json.Marshal(authz.User{Key: key})
	return client.FeedEntry{Seq: seq, Change: authz.Change{Op: authz.OpPutUser, Data: data}, CreatedAt: time.Now().UTC()}
}

func (f *feedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v1/pdp/snapshot":
		if f.loads.Add(1) <= f.failLoads {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"status":"error","error":{"code":"SERVICE_UNAVAILABLE","message":"starting"}}`)
			return
		}
		d := authz.Data{Tenants: []authz.Tenant{{Key: authz.DefaultTenant}}}
		for _, u := range f.snapUsers {
			d.Users = append(d.Users, authz.User{Key: u})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": client.Snapshot{EnvironmentID: "env", Seq: f.snapSeq, Data: d}})
	case "/v1/pdp/changes":
		f.mu.Lock()
		f.sinces = append(f.sinces, r.URL.Query().Get("since"))
		f.mu.Unlock()
		var since int64
		fmt.Sscan(r.URL.Query().Get("since"), &since)
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "event: settings\ndata: {\"mode\":\"full\"}\n\n")
		last := since
		for _, e := range f.entries {
			if e.Seq > since {
				b, _ := json.Marshal(e)
				fmt.Fprintf(w, "id: %d\nevent: change\ndata: %s\n\n", e.Seq, b)
				last = e.Seq
			}
		}
		fmt.Fprintf(w, "event: synced\ndata: {\"seq\":%d}\n\n", last)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	default:
		http.NotFound(w, r)
	}
}

// hookLog records what a checker's hooks were told.
type hookLog struct {
	mu                        sync.Mutex
	loaded, connected, failed int
	updated                   []int64 // entry seqs; 0: a snapshot replaced the copy
	synced                    []int64
	events                    []string
}

func (h *hookLog) hooks() client.LocalHooks {
	return client.LocalHooks{
		Loaded:    func(*client.Snapshot) error { h.mu.Lock(); h.loaded++; h.mu.Unlock(); return nil },
		Connected: func() { h.mu.Lock(); h.connected++; h.mu.Unlock() },
		Updated: func(e *client.FeedEntry) {
			h.mu.Lock()
			defer h.mu.Unlock()
			if e == nil {
				h.updated = append(h.updated, 0)
			} else {
				h.updated = append(h.updated, e.Seq)
			}
		},
		Synced: func(seq int64) { h.mu.Lock(); h.synced = append(h.synced, seq); h.mu.Unlock() },
		Event: func(ev client.StreamEvent) error {
			h.mu.Lock()
			h.events = append(h.events, ev.Event+" "+ev.Data)
			h.mu.Unlock()
			return nil
		},
		Failed: func(error, time.Duration) { h.mu.Lock(); h.failed++; h.mu.Unlock() },
	}
}

func (h *hookLog) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return fmt.Sprintf("loaded %d connected %d failed %d updated %v synced %v events %q", h.loaded, h.connected, h.failed, h.updated, h.synced, h.events)
}

func known(l *client.LocalChecker, user string) bool {
	return l.Check(user, "read", "doc", "").Reason != authz.UnknownUser
}

// TestLocalCheckerStartsFromASavedCopy: with WithStartSnapshot the checker
// answers from the saved copy at once, loads nothing, follows the changes
// after the copy's position and tells its hooks.
func TestLocalCheckerStartsFromASavedCopy(t *testing.T) {
	t.Parallel()
	fs := &feedServer{snapSeq: 3, snapUsers: []string{"ann", "bob", "cy"}, entries: []client.FeedEntry{putUser(2, "bob"), putUser(3, "cy"), putUser(5, "dee")}}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	var h hookLog
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	saved := &client.Snapshot{EnvironmentID: "env", Seq: 2, Data: authz.Data{Tenants: []authz.Tenant{{Key: authz.DefaultTenant}}, Users: []authz.User{{Key: "ann"}, {Key: "bob"}}}}
	lc, err := client.NewLocalChecker(ctx, client.New(srv.URL, "key"), client.WithStartSnapshot(saved), client.WithHooks(h.hooks()))
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	if !known(lc, "bob") || lc.Engine() == nil {
		t.Fatal("the saved copy is not served at once")
	}
	if err := lc.WaitUntil(ctx, func(l *client.LocalChecker) bool { return l.Synced() && l.Seq() == 5 }); err != nil {
		t.Fatalf("never caught up (%v): %s", err, &h)
	}
	if !known(lc, "cy") || !known(lc, "dee") {
		t.Fatal("the changes after the saved copy were not applied")
	}
	data, seq, ok := lc.Copy()
	if !ok || seq != 5 || len(data.Users) != 4 {
		t.Fatalf("Copy: %d users at %d (%v)", len(data.Users), seq, ok)
	}
	if fs.loads.Load() != 0 {
		t.Fatal("the checker loaded the server's snapshot although it had a copy")
	}
	fs.mu.Lock()
	sinces := fmt.Sprint(fs.sinces)
	fs.mu.Unlock()
	if sinces != "[2]" {
		t.Fatalf("streams opened from %s, want [2]", sinces)
	}
	if got := h.String(); got != `loaded 0 connected 1 failed 0 updated [3 5] synced [5] events ["settings {\"mode\":\"full\"}"]` {
		t.Fatalf("hooks: %s", got)
	}
}

// TestLocalCheckerLoadsInTheBackground: with WithBackgroundLoad the checker
// starts although the server cannot give its snapshot yet, denies
// everything meanwhile, and serves the snapshot once the server does.
func TestLocalCheckerLoadsInTheBackground(t *testing.T) {
	t.Parallel()
	fs := &feedServer{snapSeq: 1, snapUsers: []string{"ann"}, failLoads: 2}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	var h hookLog
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := client.New(srv.URL, "key", client.WithRetries(0))
	if _, err := client.NewLocalChecker(ctx, c); client.ErrorCode(err) != client.CodeUnavailable {
		t.Fatalf("without WithBackgroundLoad: %v", err)
	}
	lc, err := client.NewLocalChecker(ctx, c, client.WithBackgroundLoad(), client.WithRetryWait(time.Millisecond, 4*time.Millisecond), client.WithHooks(h.hooks()))
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	if err := lc.WaitUntil(ctx, func(l *client.LocalChecker) bool { return l.Synced() }); err != nil {
		t.Fatalf("never loaded (%v): %s", err, &h)
	}
	if !known(lc, "ann") || lc.Engine() == nil {
		t.Fatal("the snapshot is not served")
	}
	if got := h.String(); got != `loaded 1 connected 1 failed 1 updated [0] synced [1] events ["settings {\"mode\":\"full\"}"]` {
		t.Fatalf("hooks: %s", got)
	}
}
