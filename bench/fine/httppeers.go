package fine

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Server is a peer's server process listening on loopback.
type Server struct {
	Proc  *Proc
	URL   string
	Ready time.Duration // from start to its health check answering 200
}

// StartOPAServer runs `opa run --server` on files (data JSON, rego
// policies) on a free loopback port; it is ready when GET /health answers
// 200. OPA logs at its default level.
func StartOPAServer(ctx context.Context, bin, tmp string, client *http.Client, files ...string) (*Server, error) {
	ports, err := FreePorts(1)
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	s := &Server{URL: "http://" + addr}
	t0 := time.Now()
	args := append([]string{"run", "--server", "--addr", addr, "--skip-version-check"}, files...)
	if s.Proc, err = StartProc(tmp, "opa", bin, args...); err != nil {
		return nil, err
	}
	if err := PollUntil(ctx, s.Proc, 2*time.Minute, func(ctx context.Context) error {
		return DoJSON(ctx, client, http.MethodGet, s.URL+"/health", "", nil, nil)
	}); err != nil {
		s.Proc.Stop()
		return nil, fmt.Errorf("opa: %w", err)
	}
	s.Ready = time.Since(t0)
	return s, nil
}

// StartCerbosServer runs `cerbos server` on the policies of policyDir
// (disk storage, not watched; telemetry off) on free loopback ports, its
// config written into dir; it is ready when GET /_cerbos/health answers
// 200.
func StartCerbosServer(ctx context.Context, bin, tmp, dir, policyDir string, client *http.Client) (*Server, error) {
	ports, err := FreePorts(2)
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	s := &Server{URL: "http://" + addr}
	conf := fmt.Sprintf(`server:
  httpListenAddr: %q
  grpcListenAddr: %q
storage:
  driver: disk
  disk:
    directory: %q
    watchForChanges: false
telemetry:
  disabled: true
`, addr, "127.0.0.1:"+strconv.Itoa(ports[1]), policyDir)
	confPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	t0 := time.Now()
	if s.Proc, err = StartProc(tmp, "cerbos", bin, "server", "--config", confPath); err != nil {
		return nil, err
	}
	if err := PollUntil(ctx, s.Proc, 2*time.Minute, func(ctx context.Context) error {
		return DoJSON(ctx, client, http.MethodGet, s.URL+"/_cerbos/health", "", nil, nil)
	}); err != nil {
		s.Proc.Stop()
		return nil, fmt.Errorf("cerbos: %w", err)
	}
	s.Ready = time.Since(t0)
	return s, nil
}
