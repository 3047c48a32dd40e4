package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/bench/fine"
	"github.com/gatehouse-dev/gatehouse/client/authz/authztest"
)

// gatehouseServer is the real binary, `gatehouse serve` with its default
// configuration on the embedded SQLite database: every check verifies the
// API key, passes the rate limiter and is written to the API log.
type gatehouseServer struct {
	bin, dataDir, tmp string
	url               string
	memory            bool   // start with an admin listener (-memory)
	adminURL          string // the server's admin listener, if any
	orgKey, checkKey  string
	proc              *fine.Proc
	client            *http.Client
}

// initGatehouse runs `gatehouse init` (the organization, its default
// project and environments, an organization key) and starts the server.
func initGatehouse(ctx context.Context, bin, tmp string, client *http.Client, memory bool) (*gatehouseServer, error) {
	g := &gatehouseServer{bin: bin, dataDir: filepath.Join(tmp, "gatehouse-data"), tmp: tmp, client: client, memory: memory}
	cmd := exec.CommandContext(ctx, bin, "init", "-o", "json", "--data-dir", g.dataDir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("gatehouse init: %w\n%s", err, stderr.Bytes())
	}
	var res struct {
		APIKey string `json:"api_key"`
	}
	if err := json.Unmarshal(out, &res); err != nil || res.APIKey == "" {
		return nil, fmt.Errorf("gatehouse init: no api_key in %q (%v)", out, err)
	}
	g.orgKey = res.APIKey
	if _, _, err := g.start(ctx, "gatehouse-load"); err != nil {
		if g.proc != nil {
			g.proc.Stop()
		}
		return nil, err
	}
	// The environment key an application checks with. Its own hourly
	// limit is high enough for the run; the limiter still runs on every
	// call.
	var key struct{ Data struct{ Token string } }
	if err := fine.PostJSON(ctx, client, g.url+"/v1/api-keys", g.orgKey, map[string]any{
		"name": "httpbench-check", "level": "environment", "project": "default", "environment": "development",
		"scopes": []string{"check:access"}, "rate_limit_per_hour": 100_000_000,
	}, &key); err != nil || key.Data.Token == "" {
		g.proc.Stop()
		if err == nil {
			err = errors.New("no token in the answer")
		}
		return nil, fmt.Errorf("gatehouse: create the check key: %w", err)
	}
	g.checkKey = key.Data.Token
	return g, nil
}

// start runs `gatehouse serve` and returns how long it took from the
// process's start to GET /readyz answering 200, and to the first check
// answering 200 (on a restart, that check waits for the engine to be
// built from the database).
func (g *gatehouseServer) start(ctx context.Context, name string) (ready, first time.Duration, err error) {
	ports, err := fine.FreePorts(2)
	if err != nil {
		return 0, 0, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	g.url = "http://" + addr
	args := []string{"serve", "--data-dir", g.dataDir, "--addr", addr}
	if g.memory {
		admin := "127.0.0.1:" + strconv.Itoa(ports[1])
		g.adminURL = "http://" + admin
		args = append(args, "--admin-addr", admin)
	}
	t0 := time.Now()
	p, err := fine.StartProc(g.tmp, name, g.bin, args...)
	if err != nil {
		return 0, 0, err
	}
	g.proc = p
	if err := fine.PollUntil(ctx, p, time.Minute, func(ctx context.Context) error {
		return fine.DoJSON(ctx, g.client, http.MethodGet, g.url+"/readyz", "", nil, nil)
	}); err != nil {
		return 0, 0, fmt.Errorf("gatehouse serve: %w", err)
	}
	ready = time.Since(t0)
	if g.checkKey == "" {
		return ready, 0, nil
	}
	q := authztest.Query{User: "user-0", Action: "action-0", Resource: "type-0", Tenant: "tenant-0"}
	if err := fine.PollUntil(ctx, p, time.Minute, func(ctx context.Context) error {
		_, err := g.allowed(ctx, g.url, &q)
		return err
	}); err != nil {
		return 0, 0, fmt.Errorf("gatehouse serve: first check: %w", err)
	}
	return ready, time.Since(t0), nil
}

// importRows writes the data set as one JSON Lines import (POST
// /v1/jobs/import): resource types with their actions, roles with their
// permissions, tenants, users, then the role assignments; and waits for
// the job.
func (g *gatehouseServer) importRows(ctx context.Context, ds *authztest.Dataset, timeout time.Duration) (int, error) {
	var body bytes.Buffer
	w := bufio.NewWriter(&body)
	enc := json.NewEncoder(w)
	n := 0
	put := func(row map[string]any) error {
		n++
		return enc.Encode(row)
	}
	d := &ds.Data
	for _, r := range d.Resources {
		if err := put(map[string]any{"type": "resource", "key": r.Key, "actions": r.Actions}); err != nil {
			return 0, err
		}
	}
	for _, r := range d.Roles {
		if err := put(map[string]any{"type": "role", "key": r.Key, "permissions": r.Permissions}); err != nil {
			return 0, err
		}
	}
	for _, t := range d.Tenants {
		if err := put(map[string]any{"type": "tenant", "key": t.Key, "name": t.Name}); err != nil {
			return 0, err
		}
	}
	for _, u := range d.Users {
		if err := put(map[string]any{"type": "user", "key": u.Key, "email": u.Email}); err != nil {
			return 0, err
		}
	}
	for _, a := range d.Assignments {
		if err := put(map[string]any{"type": "role_assignment", "user": a.User, "role": a.Role, "tenant": a.Tenant}); err != nil {
			return 0, err
		}
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.url+"/v1/jobs/import?project=default&environment=development", &body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Authorization", "Bearer "+g.orgKey)
	resp, err := g.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("gatehouse import: %w", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	if resp.StatusCode/100 != 2 {
		return 0, fmt.Errorf("gatehouse import: status %d: %.2000s", resp.StatusCode, b)
	}
	var job struct{ Data jobState }
	if err := json.Unmarshal(b, &job); err != nil {
		return 0, fmt.Errorf("gatehouse import: %w", err)
	}
	deadline := time.Now().Add(timeout)
	for last := time.Now(); ; {
		switch job.Data.Status {
		case "succeeded":
			if job.Data.Progress.FailedItems > 0 || job.Data.Progress.DoneItems != int64(n) {
				return 0, fmt.Errorf("gatehouse import: %d of %d rows done, %d failed", job.Data.Progress.DoneItems, n, job.Data.Progress.FailedItems)
			}
			return n, nil
		case "failed", "cancelled":
			return 0, fmt.Errorf("gatehouse import: job %s %s: %s", job.Data.ID, job.Data.Status, job.Data.Error)
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("gatehouse import: job %s still %s after %v", job.Data.ID, job.Data.Status, timeout)
		}
		if time.Since(last) > 10*time.Second {
			logf("    import %s: %.0f%%", job.Data.Status, job.Data.Progress.Percent)
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if err := fine.DoJSON(ctx, g.client, http.MethodGet, g.url+"/v1/jobs/"+job.Data.ID, g.orgKey, nil, &job); err != nil {
			return 0, fmt.Errorf("gatehouse import: %w", err)
		}
	}
}

type jobState struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Error    string `json:"error"`
	Progress struct {
		DoneItems   int64   `json:"done_items"`
		FailedItems int64   `json:"failed_items"`
		Percent     float64 `json:"percent"`
	} `json:"progress"`
}

type ghResource struct {
	Type   string `json:"type"`
	Tenant string `json:"tenant"`
}

type ghCheck struct {
	User     string     `json:"user"`
	Action   string     `json:"action"`
	Resource ghResource `json:"resource"`
}

// allowed is POST /v1/allowed (the server's or the PDP's: the same shape).
func (g *gatehouseServer) allowed(ctx context.Context, base string, q *authztest.Query) (bool, error) {
	var out struct {
		Data struct {
			Allow bool `json:"allow"`
		} `json:"data"`
	}
	err := fine.PostJSON(ctx, g.client, base+"/v1/allowed", g.checkKey, ghCheck{User: q.User, Action: q.Action, Resource: ghResource{Type: q.Resource, Tenant: q.Tenant}}, &out)
	return out.Data.Allow, err
}

// engines are the server's three ways to check: /v1/allowed, Permit's
// /allowed and /v1/allowed/bulk (bulk checks per call).
func (g *gatehouseServer) engines(bulk int) []*engine {
	one := &engine{name: "Gatehouse server (SQLite, full stack)", batch: 1, proc: g.proc, adminURL: g.adminURL,
		check: func(ctx context.Context, qs []authztest.Query, out []bool) (err error) {
			out[0], err = g.allowed(ctx, g.url, &qs[0])
			return err
		}}
	type permitUser struct {
		Key string `json:"key"`
	}
	type permitCheck struct {
		User     permitUser `json:"user"`
		Action   string     `json:"action"`
		Resource ghResource `json:"resource"`
	}
	permit := &engine{name: "  same server, Permit's POST /allowed", batch: 1, proc: g.proc,
		check: func(ctx context.Context, qs []authztest.Query, out []bool) error {
			var res struct {
				Allow bool `json:"allow"`
			}
			q := &qs[0]
			err := fine.PostJSON(ctx, g.client, g.url+"/allowed", g.checkKey, permitCheck{User: permitUser{Key: q.User}, Action: q.Action, Resource: ghResource{Type: q.Resource, Tenant: q.Tenant}}, &res)
			out[0] = res.Allow
			return err
		}}
	bulkE := &engine{name: fmt.Sprintf("  same server, /v1/allowed/bulk (%d per call)", bulk), batch: bulk, proc: g.proc,
		note: "bulk: latencies and rates are per check (a call's time divided by the checks it carries)",
		check: func(ctx context.Context, qs []authztest.Query, out []bool) error {
			checks := make([]ghCheck, len(qs))
			for i, q := range qs {
				checks[i] = ghCheck{User: q.User, Action: q.Action, Resource: ghResource{Type: q.Resource, Tenant: q.Tenant}}
			}
			var res struct {
				Data []struct {
					Allow bool `json:"allow"`
				} `json:"data"`
			}
			if err := fine.PostJSON(ctx, g.client, g.url+"/v1/allowed/bulk", g.checkKey, map[string]any{"checks": checks}, &res); err != nil {
				return err
			}
			if len(res.Data) != len(qs) {
				return fmt.Errorf("bulk: %d answers to %d checks", len(res.Data), len(qs))
			}
			for i := range res.Data {
				out[i] = res.Data[i].Allow
			}
			return nil
		}}
	return []*engine{one, permit, bulkE}
}

// startPDP runs a PDP against the server with the check key and an empty
// snapshot folder of its own (its first start: it loads the snapshot from
// the server), and times its start to GET /healthz answering 200 (it has
// no /readyz; /healthz answers 200 once it serves a snapshot) and to its
// first check. The PDP is `gatehouse pdp`, or, with bin set, that
// PDP-only program (cmd/gatehouse-pdp: the same command alone).
func (g *gatehouseServer) startPDP(ctx context.Context, bin string) (*engine, error) {
	ports, err := fine.FreePorts(2)
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	url := "http://" + addr
	// slug names its files: distinct for the two programs, which may run
	// side by side (one snapshot folder would let the second start from
	// the first's file instead of the server).
	name, slug, program, args := "gatehouse pdp", "pdp", g.bin, []string{"pdp"}
	if bin != "" {
		name, slug, program, args = "gatehouse-pdp", "gatehouse-pdp", bin, nil
	}
	snap := filepath.Join(g.tmp, slug+"-snapshot")
	if err := os.MkdirAll(snap, 0o700); err != nil {
		return nil, err
	}
	args = append(args, "--api-url", g.url, "--key", g.checkKey, "--addr", addr, "--snapshot-dir", snap)
	adminURL := ""
	if g.memory {
		admin := "127.0.0.1:" + strconv.Itoa(ports[1])
		adminURL = "http://" + admin
		args = append(args, "--admin-addr", admin)
	}
	t0 := time.Now()
	p, err := fine.StartProc(g.tmp, slug, program, args...)
	if err != nil {
		return nil, err
	}
	e := &engine{name: name + " (sidecar)", batch: 1, proc: p, adminURL: adminURL,
		note: name + ": ready = GET /healthz 200 (it has no /readyz), from a first start with an empty snapshot folder (the snapshot comes from the server)",
		check: func(ctx context.Context, qs []authztest.Query, out []bool) (err error) {
			out[0], err = g.allowed(ctx, url, &qs[0])
			return err
		}}
	if err := fine.PollUntil(ctx, p, 2*time.Minute, func(ctx context.Context) error {
		return fine.DoJSON(ctx, g.client, http.MethodGet, url+"/healthz", "", nil, nil)
	}); err != nil {
		p.Stop()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	e.ready = time.Since(t0)
	var health struct {
		Sync struct {
			SnapshotSource string `json:"snapshot_source"`
		} `json:"sync"`
	}
	if err := fine.DoJSON(ctx, g.client, http.MethodGet, url+"/healthz", "", nil, &health); err != nil || health.Sync.SnapshotSource != "server" {
		p.Stop()
		return nil, fmt.Errorf("%s: its snapshot came from %q, not from the server (an empty folder was meant): %v", name, health.Sync.SnapshotSource, err)
	}
	q := authztest.Query{User: "user-0", Action: "action-0", Resource: "type-0", Tenant: "tenant-0"}
	if err := fine.PollUntil(ctx, p, time.Minute, func(ctx context.Context) error {
		_, err := g.allowed(ctx, url, &q)
		return err
	}); err != nil {
		p.Stop()
		return nil, fmt.Errorf("%s: first check: %w", name, err)
	}
	e.first = time.Since(t0)
	return e, nil
}
