package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
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
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
}

// startFloor runs this binary as the floor's server.
func startFloor(ctx context.Context, tmp string, client *http.Client) (*engine, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ports, err := fine.FreePorts(1)
	if err != nil {
		return nil, err
	}
	url := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	p, err := fine.StartProc(tmp, "floor", self, "-floor-addr", "127.0.0.1:"+strconv.Itoa(ports[0]))
	if err != nil {
		return nil, err
	}
	if err := p.WaitReady(ctx, time.Minute, func(ctx context.Context) error {
		return fine.DoJSON(ctx, client, http.MethodGet, url+"/healthz", "", nil, nil)
	}); err != nil {
		p.Stop()
		return nil, fmt.Errorf("floor: %w", err)
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
		}}, nil
}
