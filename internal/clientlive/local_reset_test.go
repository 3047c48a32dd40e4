package clientlive_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// TestLocalCheckerReloadsWhenFarBehind: a LocalChecker cut off while more
// changes than the server's stream backlog were made is told to reset
// when it reconnects, loads the snapshot again instead of a replay, and
// then follows as before. A proxy in front of a real server cuts it off.
func TestLocalCheckerReloadsWhenFarBehind(t *testing.T) {
	ctx := context.Background()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.PDPStreamBacklog = 3
	gh, err := app.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer gh.Close()
	res, err := gh.Init(ctx, app.DefaultInitOptions())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gh.Handler())
	defer srv.Close()
	k, err := client.New(srv.URL, res.Token).APIKeys.Create(ctx, client.APIKeyInput{Name: "local", Level: "environment",
		Project: "default", Environment: "development", Scopes: []string{"manage:user", "manage:resource", "manage:role", "manage:role_assignment", "check:access"}})
	if err != nil {
		t.Fatal(err)
	}
	direct := client.New(srv.URL, k.Token)

	var cut atomic.Bool
	var snapshots atomic.Int32
	target, _ := url.Parse(srv.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1 // pass events on as they come
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cut.Load() {
			http.Error(w, "cut off", http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path == "/v1/pdp/snapshot" {
			snapshots.Add(1)
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()

	if _, err := direct.Resources.Create(ctx, client.ResourceInput{Key: "report", Actions: []string{"read"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := direct.Roles.Create(ctx, client.RoleInput{Key: "reader", Permissions: []string{"report:read"}}); err != nil {
		t.Fatal(err)
	}
	lc, err := client.NewLocalChecker(ctx, client.New(proxy.URL, k.Token))
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := lc.WaitUntil(wctx, func(l *client.LocalChecker) bool { return l.Synced() }); err != nil {
		t.Fatal(err)
	}

	// Cut off; more changes than the backlog meanwhile.
	cut.Store(true)
	proxy.CloseClientConnections()
	for _, u := range []string{"ann", "ben", "cy", "dee"} {
		if _, err := direct.Users.Create(ctx, client.UserInput{Key: u}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := direct.RoleAssignments.Assign(ctx, "dee", "reader", ""); err != nil {
		t.Fatal(err)
	}
	before := snapshots.Load()
	cut.Store(false)

	if err := lc.WaitUntil(wctx, func(l *client.LocalChecker) bool {
		return l.Check("dee", "read", "report", "").Allow && l.Synced()
	}); err != nil {
		t.Fatalf("the local checker never caught up (err %v): %v", lc.Err(), err)
	}
	if snapshots.Load() == before {
		t.Fatal("the local checker caught up by a replay beyond the backlog instead of loading the snapshot")
	}
	// And it follows from there.
	if _, err := direct.RoleAssignments.Assign(ctx, "ann", "reader", ""); err != nil {
		t.Fatal(err)
	}
	if err := lc.WaitUntil(wctx, func(l *client.LocalChecker) bool { return l.Check("ann", "read", "report", "").Allow }); err != nil {
		t.Fatalf("a change after the reload: %v", err)
	}
}
