package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/client/authz/authztest"
)

// loggedEngine is the server's POST /v1/allowed with the environment's
// api_log_checks on during its own phases only (issue 17 point 2: what a
// row per check costs). Its before hook turns the setting on and waits
// until a marked check is in the API log; its after hook turns it off and
// waits until a marked check made after that is provably not logged (a
// management call made after it is in the log and the check is not: the
// log is written in order). The other engines' phases run with the
// default, checks counted instead of logged.
func (g *gatehouseServer) loggedEngine() *engine {
	e := &engine{name: "  same server, api_log_checks on (a log row per check)", batch: 1, proc: g.proc,
		note: "api_log_checks: the same server and environment with `api_log_checks: true` during this engine's phases only (default off: checks are counted, not logged)",
		check: func(ctx context.Context, qs []authztest.Query, out []bool) (err error) {
			out[0], err = g.allowed(ctx, g.url, &qs[0])
			return err
		}}
	e.before = func(ctx context.Context) error { return g.setAPILogChecks(ctx, true) }
	e.after = func(ctx context.Context) error { return g.setAPILogChecks(ctx, false) }
	return e
}

var markSeq atomic.Int64

// setAPILogChecks switches the development environment's api_log_checks
// and returns once the server acts on it.
func (g *gatehouseServer) setAPILogChecks(ctx context.Context, on bool) error {
	if err := g.do(ctx, http.MethodPatch, "/v1/projects/default/environments/development/settings", g.orgKey, "",
		map[string]any{"api_log_checks": on}); err != nil {
		return fmt.Errorf("api_log_checks=%v: %w", on, err)
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		mark := fmt.Sprintf("httpbench-%d-%d", time.Now().UnixNano(), markSeq.Add(1))
		q := authztest.Query{User: "user-0", Action: "action-0", Resource: "type-0", Tenant: "tenant-0"}
		if err := g.do(ctx, http.MethodPost, "/v1/allowed", g.checkKey, mark+"-check",
			ghCheck{User: q.User, Action: q.Action, Resource: ghResource{Type: q.Resource, Tenant: q.Tenant}}); err != nil {
			return err
		}
		// A management call after the check: once it is in the log, so
		// is the check if it was logged.
		if err := g.do(ctx, http.MethodGet, "/v1/me", g.orgKey, mark+"-me", nil); err != nil {
			return err
		}
		for time.Now().Before(deadline) {
			seen, err := g.logged(ctx, mark+"-me")
			if err != nil {
				return err
			}
			if seen {
				break
			}
			if err := pause(ctx, 50*time.Millisecond); err != nil {
				return err
			}
		}
		logged, err := g.logged(ctx, mark+"-check")
		if err != nil {
			return err
		}
		if logged == on {
			return nil
		}
		if err := pause(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("api_log_checks=%v: the server did not act on it within a minute", on)
}

func pause(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// logged reports whether the API log holds a call with this request id.
func (g *gatehouseServer) logged(ctx context.Context, requestID string) (bool, error) {
	var res struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := g.doOut(ctx, http.MethodGet, "/v1/logs?request_id="+url.QueryEscape(requestID), g.orgKey, "", nil, &res); err != nil {
		return false, err
	}
	return len(res.Data) > 0, nil
}

func (g *gatehouseServer) do(ctx context.Context, method, path, token, requestID string, body any) error {
	return g.doOut(ctx, method, path, token, requestID, body, nil)
}

// doOut is fine.DoJSON with a request id.
func (g *gatehouseServer) doOut(ctx context.Context, method, path, token, requestID string, body, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.url+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if requestID != "" {
		req.Header.Set("X-Request-Id", requestID)
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: status %s: %.500s", method, path, strconv.Itoa(resp.StatusCode), b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}
