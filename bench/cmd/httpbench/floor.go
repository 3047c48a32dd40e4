package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/bench/fine"
	"github.com/gatehouse-dev/gatehouse/client/authz/authztest"
)

// The floor: plain net/http and encoding/json around precomputed maps
// (authztest.Floor: a role mask per (user, tenant), and per resource type
// and action the mask of the roles granting it), in a process of its own
// (this binary, run with -floor-addr) so that its RSS is its own. It is
// what "nothing but a map lookup and JSON over loopback" costs here.

type floorCheck struct {
	User     string `json:"user"`
	Action   string `json:"action"`
	Resource struct {
		Type   string `json:"type"`
		Tenant string `json:"tenant"`
	} `json:"resource"`
}

type floorAnswer struct {
	Allow bool `json:"allow"`
}

// ghAnswer is Gatehouse's answer to POST /v1/allowed, for the floor that
// answers as it does.
type ghAnswer struct {
	Status string `json:"status"`
	Data   struct {
		Allow       bool     `json:"allow"`
		Reason      string   `json:"reason"`
		Via         string   `json:"via,omitempty"`
		Role        string   `json:"role,omitempty"`
		Tenant      string   `json:"tenant"`
		Explanation string   `json:"explanation"`
		Path        []ghStep `json:"path,omitempty"`
	} `json:"data"`
	Meta struct {
		RequestID string `json:"request_id"`
		Timestamp string `json:"timestamp"`
	} `json:"meta"`
}

type ghStep struct {
	Kind     string `json:"kind"`
	Subject  string `json:"subject"`
	Relation string `json:"relation"`
	Object   string `json:"object"`
}

// serveFloor is the child process: it generates the same data set, builds
// the maps and answers POST /check on addr until it is stopped.
func serveFloor(addr string) error {
	ds := authztest.Generate(authztest.Medium, 1)
	f := authztest.NewFloor(ds)
	// Its RSS is then that of the maps, not of the generator's garbage.
	runtime.KeepAlive(ds)
	debug.FreeOSMemory()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("POST /check", func(w http.ResponseWriter, r *http.Request) {
		var c floorCheck
		if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(floorAnswer{Allow: f.Check(c.User, c.Action, c.Resource.Type, c.Resource.Tenant)})
	})
	// The same lookup answered as Gatehouse's server answers POST
	// /v1/allowed: its headers and its envelope (reason, explanation,
	// path, request id, timestamp), a bearer key required but not
	// verified. Beside the plain floor it shows what the answer's size
	// costs (both ends: the load generator decodes it), apart from the
	// server's own work.
	var remaining atomic.Int64
	remaining.Store(100_000_000)
	mux.HandleFunc("POST /v1/allowed", func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			http.Error(w, "missing API key", http.StatusUnauthorized)
			return
		}
		var c floorCheck
		if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var id [12]byte
		_, _ = rand.Read(id[:])
		a := ghAnswer{Status: "success"}
		a.Meta.RequestID, a.Meta.Timestamp = hex.EncodeToString(id[:]), time.Now().UTC().Format("2006-01-02T15:04:05.999Z07:00")
		d := &a.Data
		d.Tenant = c.Resource.Tenant
		if role, ok := f.Grant(c.User, c.Action, c.Resource.Type, c.Resource.Tenant); ok {
			d.Allow, d.Reason, d.Via, d.Role = true, "granted", "tenant_role", role
			d.Explanation = fmt.Sprintf("user %q has role %q in tenant %q, which grants %s:%s", c.User, role, c.Resource.Tenant, c.Resource.Type, c.Action)
			d.Path = []ghStep{{Kind: "tenant_role", Subject: "user:" + c.User, Relation: role, Object: "tenant:" + c.Resource.Tenant}}
		} else {
			d.Reason = "not_granted"
			d.Explanation = fmt.Sprintf("no role of user %q in tenant %q grants %s:%s", c.User, c.Resource.Tenant, c.Resource.Type, c.Action)
		}
		body, err := json.Marshal(&a)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", "frame-ancestors 'none'")
		h.Set("Content-Type", "application/json")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-RateLimit-Limit", "100000000")
		h.Set("X-RateLimit-Remaining", strconv.FormatInt(remaining.Add(-1), 10))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
		h.Set("X-Request-Id", a.Meta.RequestID)
		_, _ = w.Write(body)
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
}

// startFloor runs this binary as the floor's server: the plain floor, and
// (when g is not nil) the floor answering as Gatehouse does, asked by g's
// client code with g's check key.
func startFloor(ctx context.Context, tmp string, client *http.Client, g *gatehouseServer) (*engine, *engine, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	ports, err := fine.FreePorts(1)
	if err != nil {
		return nil, nil, err
	}
	url := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	p, err := fine.StartProc(tmp, "floor", self, "-floor-addr", "127.0.0.1:"+strconv.Itoa(ports[0]))
	if err != nil {
		return nil, nil, err
	}
	if err := p.WaitReady(ctx, time.Minute, func(ctx context.Context) error {
		return fine.DoJSON(ctx, client, http.MethodGet, url+"/healthz", "", nil, nil)
	}); err != nil {
		p.Stop()
		return nil, nil, fmt.Errorf("floor: %w", err)
	}
	var same *engine
	if g != nil {
		same = &engine{name: "floor answering as Gatehouse does", batch: 1, proc: p,
			note: "floor answering as Gatehouse does: the floor's process and lookup, answering POST /v1/allowed with Gatehouse's headers and envelope (reason, explanation, path, request id, timestamp), asked with the same request and key as the server; the key is required, not verified",
			check: func(ctx context.Context, qs []authztest.Query, out []bool) error {
				var err error
				out[0], err = g.allowed(ctx, url, &qs[0])
				return err
			}}
	}
	return &engine{name: "floor: net/http + encoding/json + maps", batch: 1, proc: p,
		note: "floor: this harness's binary run as a server (-floor-addr); its file pages count in its VmRSS, and the binary links the peers' client libraries, so its RssAnon is the better figure of its memory",
		check: func(ctx context.Context, qs []authztest.Query, out []bool) error {
			var c floorCheck
			q := &qs[0]
			c.User, c.Action, c.Resource.Type, c.Resource.Tenant = q.User, q.Action, q.Resource, q.Tenant
			var a floorAnswer
			err := fine.PostJSON(ctx, client, url+"/check", "", c, &a)
			out[0] = a.Allow
			return err
		}}, same, nil
}
