package fine

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// GatehouseHTTP is the real Gatehouse server (app.New, served as `gatehouse
// serve` serves it) in this process, on a loopback listener, with its
// default configuration: the embedded SQLite database, or PostgreSQL.
type GatehouseHTTP struct {
	URL      string
	CheckKey string // environment key with check:access
	loadKey  string // environment key with the management scopes
	client   *http.Client
	app      *app.App
	stop     context.CancelFunc
	served   chan error
	revision atomic.Int64 // highest revision a load write answered
	Calls    atomic.Int64 // API calls of the load
}

// StartGatehouse starts the server. dataDir holds SQLite (and the secret
// key); databaseURL, when set, selects PostgreSQL. Its log goes to
// dataDir + ".log".
func StartGatehouse(ctx context.Context, dataDir, databaseURL string, client *http.Client) (*GatehouseHTTP, error) {
	cfg := config.Default()
	cfg.DataDir = dataDir
	if databaseURL != "" {
		cfg.DatabaseURL = databaseURL
		var k [32]byte
		if _, err := rand.Read(k[:]); err != nil {
			return nil, err
		}
		cfg.SecretKey = base64.StdEncoding.EncodeToString(k[:])
	}
	lf, err := os.Create(filepath.Clean(dataDir) + ".log") // beside the data folder, which Gatehouse keeps private
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(lf, nil)) // info, as `serve` logs by default
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		lf.Close()
		return nil, fmt.Errorf("gatehouse: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		a.Close()
		lf.Close()
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.Background())
	g := &GatehouseHTTP{URL: "http://" + ln.Addr().String(), client: client, app: a, stop: cancel, served: make(chan error, 1)}
	go func() {
		g.served <- a.Serve(sctx, ln)
		a.Close()
		lf.Close()
	}()
	res, err := a.Init(ctx, app.DefaultInitOptions())
	if err != nil {
		g.Close()
		return nil, fmt.Errorf("gatehouse init: %w", err)
	}
	// Two environment keys, as an application would hold them: one to
	// write the data, one to check. Their own hourly limit is high enough
	// for the run (the limiter still runs on every call).
	mk := func(name string, scopes ...string) (string, error) {
		var out struct{ Data struct{ Token string } }
		err := PostJSON(ctx, client, g.URL+"/v1/api-keys", res.Token, map[string]any{
			"name": name, "level": "environment", "project": "default", "environment": "development",
			"scopes": scopes, "rate_limit_per_hour": 100_000_000,
		}, &out)
		if err == nil && out.Data.Token == "" {
			err = errors.New("no token in the answer")
		}
		return out.Data.Token, err
	}
	if g.loadKey, err = mk("finehttp-load", "manage:resource", "manage:user", "manage:tenant", "manage:role", "manage:role_assignment"); err != nil {
		g.Close()
		return nil, fmt.Errorf("gatehouse: create the load key: %w", err)
	}
	if g.CheckKey, err = mk("finehttp-check", "check:access"); err != nil {
		g.Close()
		return nil, fmt.Errorf("gatehouse: create the check key: %w", err)
	}
	return g, nil
}

// post is one write of the load; it remembers the revision it answered.
func (g *GatehouseHTTP) post(ctx context.Context, path string, body any) error {
	return g.write(ctx, http.MethodPost, path, body)
}

// write is one write of the load with any method.
func (g *GatehouseHTTP) write(ctx context.Context, method, path string, body any) error {
	var out struct {
		Meta struct {
			Revision int64 `json:"revision"`
		} `json:"meta"`
	}
	g.Calls.Add(1)
	if err := DoJSON(ctx, g.client, method, g.URL+path, g.loadKey, body, &out); err != nil {
		return err
	}
	for {
		cur := g.revision.Load()
		if out.Meta.Revision <= cur || g.revision.CompareAndSwap(cur, out.Meta.Revision) {
			return nil
		}
	}
}

// Load writes the data set through the public API as an application
// would: resource types with their actions, relations, resource roles
// (with their granted_to derivations), tenants, users, one call per
// resource instance, relationship tuples 1,000 per bulk call, one call per
// instance role assignment. Calls of one kind run on workers clients;
// tuples go in order, one bulk call at a time.
func (g *GatehouseHTTP) Load(ctx context.Context, r *ReBAC, workers int, logf func(string, ...any)) error {
	d := &r.DS.Data
	stage := g.stager(ctx, logf)
	if err := stage("resource types", len(d.Resources), 1, func(ctx context.Context, i int) error {
		return g.post(ctx, "/v1/resources", map[string]any{"key": d.Resources[i].Key, "actions": d.Resources[i].Actions})
	}); err != nil {
		return err
	}
	if err := stage("relations", len(d.Relations), 1, func(ctx context.Context, i int) error {
		rel := d.Relations[i]
		return g.post(ctx, "/v1/resources/"+rel.Resource+"/relations", map[string]any{"key": rel.Key, "subject": rel.Subject})
	}); err != nil {
		return err
	}
	if err := stage("resource roles", len(d.ResourceRoles), 1, func(ctx context.Context, i int) error {
		rr := d.ResourceRoles[i]
		body := map[string]any{"key": rr.Key, "permissions": rr.Permissions}
		if len(rr.Extends) > 0 {
			body["extends"] = rr.Extends
		}
		if len(rr.GrantedTo) > 0 {
			gs := make([]map[string]string, len(rr.GrantedTo))
			for j, dv := range rr.GrantedTo {
				gs[j] = map[string]string{"role": dv.Role, "on_resource": dv.OnResource, "linked_by_relation": dv.LinkedByRelation}
			}
			body["granted_to"] = gs
		}
		return g.post(ctx, "/v1/resources/"+rr.Resource+"/roles", body)
	}); err != nil {
		return err
	}
	if err := stage("tenants", len(d.Tenants), workers, func(ctx context.Context, i int) error {
		return g.post(ctx, "/v1/tenants", map[string]any{"key": d.Tenants[i].Key})
	}); err != nil {
		return err
	}
	if err := stage("users", len(d.Users), workers, func(ctx context.Context, i int) error {
		return g.post(ctx, "/v1/users", map[string]any{"key": d.Users[i].Key})
	}); err != nil {
		return err
	}
	if err := stage("resource instances", len(d.Instances), workers, func(ctx context.Context, i int) error {
		in := d.Instances[i]
		body := map[string]any{"resource": in.Resource, "key": in.Key}
		if in.Tenant != "" {
			body["tenant"] = in.Tenant
		}
		return g.post(ctx, "/v1/resource-instances", body)
	}); err != nil {
		return err
	}
	const bulk = 1000
	if err := stage("tuples (bulk of 1,000)", len(d.Tuples), 1, func(ctx context.Context, i int) error {
		if i%bulk != 0 {
			return nil
		}
		part := d.Tuples[i:min(i+bulk, len(d.Tuples))]
		ts := make([]map[string]string, len(part))
		for j, t := range part {
			ts[j] = map[string]string{"subject": t.Subject, "relation": t.Relation, "object": t.Object}
		}
		return g.post(ctx, "/v1/relationship-tuples/bulk", map[string]any{"tuples": ts})
	}); err != nil {
		return err
	}
	if err := stage("role assignments", len(d.Assignments), workers, func(ctx context.Context, i int) error {
		a := d.Assignments[i]
		body := map[string]any{"user": a.User, "role": a.Role, "resource_instance": a.ResourceInstance}
		if a.Tenant != "" {
			body["tenant"] = a.Tenant
		}
		return g.post(ctx, "/v1/role-assignments", body)
	}); err != nil {
		return err
	}
	return g.readYourWrites(ctx, &r.Checks[0].Request)
}

// stager returns what runs one stage of the load: f(i) for i in [0, n)
// on workers clients, its time logged.
func (g *GatehouseHTTP) stager(ctx context.Context, logf func(string, ...any)) func(name string, n, workers int, f func(ctx context.Context, i int) error) error {
	return func(name string, n, workers int, f func(ctx context.Context, i int) error) error {
		start := time.Now()
		if err := Parallel(ctx, n, workers, f); err != nil {
			return fmt.Errorf("gatehouse: load %s: %w", name, err)
		}
		logf("    %-22s %6d in %v", name, n, time.Since(start).Round(time.Millisecond))
		return nil
	}
}

// readYourWrites is one check (q) that waits for the last revision the
// load's writes answered.
func (g *GatehouseHTTP) readYourWrites(ctx context.Context, q *authz.Request) error {
	var out struct{ Data struct{ Allow bool } }
	if err := PostJSON(ctx, g.client, g.URL+"/v1/allowed", g.CheckKey, map[string]any{
		"user": q.User, "action": q.Action, "resource": map[string]string{"type": q.Resource, "key": q.Key}, "at_least": g.revision.Load(),
	}, &out); err != nil {
		return fmt.Errorf("gatehouse: check at revision %d: %w", g.revision.Load(), err)
	}
	return nil
}

type ghCheck struct {
	User     string     `json:"user"`
	Action   string     `json:"action"`
	Resource ghResource `json:"resource"`
}

type ghResource struct {
	Type string `json:"type"`
	Key  string `json:"key,omitempty"`
}

// Check is POST /v1/allowed with the check key.
func (g *GatehouseHTTP) Check(ctx context.Context, q *authz.Request) (bool, error) {
	var out struct {
		Data struct {
			Allow bool `json:"allow"`
		} `json:"data"`
	}
	err := PostJSON(ctx, g.client, g.URL+"/v1/allowed", g.CheckKey, ghCheck{User: q.User, Action: q.Action, Resource: ghResource{Type: q.Resource, Key: q.Key}}, &out)
	return out.Data.Allow, err
}

// List is POST /v1/allowed/resources, every page of 1,000 keys.
func (g *GatehouseHTTP) List(ctx context.Context, l *ListQuery) ([]string, error) {
	var keys []string
	for page := 1; ; page++ {
		var out struct {
			Data []string `json:"data"`
			Meta struct {
				HasNext bool `json:"has_next"`
			} `json:"meta"`
		}
		if err := PostJSON(ctx, g.client, g.URL+"/v1/allowed/resources?per_page=1000&page="+strconv.Itoa(page), g.CheckKey,
			ghCheck{User: l.User, Action: l.Action, Resource: ghResource{Type: l.Resource}}, &out); err != nil {
			return nil, err
		}
		keys = append(keys, out.Data...)
		if !out.Meta.HasNext {
			break
		}
	}
	return sortedCopy(keys, l.Resource), nil
}

// Close stops the server and closes its databases.
func (g *GatehouseHTTP) Close() {
	g.stop()
	select {
	case err := <-g.served:
		if err != nil && !strings.Contains(err.Error(), "closed") {
			fmt.Fprintln(os.Stderr, "gatehouse serve:", err)
		}
	case <-time.After(30 * time.Second):
		fmt.Fprintln(os.Stderr, "gatehouse: not stopped after 30 s")
	}
}
