// Package testserver starts the real gatehouse program (its serve and pdp
// commands, in-process, on loopback) for tests that drive it from outside:
// the SDKs' suites, the seeds' examples, Permit's SDKs.
package testserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/cli"
)

// Server is a Gatehouse started for one test on an embedded database,
// with an organization key and an environment key of the default
// project's development environment.
type Server struct {
	URL, OrgID, OrgKey, EnvKey string
}

type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *SyncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// FreeAddr returns a loopback address nobody listens on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// run runs the program until ctx ends; the returned channel gives its result.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) <-chan error {
	done := make(chan error, 1)
	go func() {
		done <- cli.Run(ctx, args, func(string) string { return "" }, strings.NewReader(""), stdout, stderr)
	}()
	return done
}

// waitHealthy polls url until it answers 200.
func waitHealthy(t testing.TB, url string, done <-chan error, logs *SyncBuffer) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-done:
			t.Fatalf("%s: the program ended early: %v\n%s", url, err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not become healthy: %v\n%s", url, err, logs.String())
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// Start runs `gatehouse init` and `gatehouse serve` on a fresh data folder
// until the test ends. The organization's hourly limit is lifted (suites
// make hundreds of calls) and an environment key is made with scopes
// (default: every fact scope and check:access).
func Start(t testing.TB, envScopes ...string) *Server {
	t.Helper()
	dir := t.TempDir()
	var out SyncBuffer
	if err := cli.Run(context.Background(), []string{"init", "--output", "json", "--data-dir", dir}, func(string) string { return "" },
		strings.NewReader(""), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var init struct {
		OrganizationID string `json:"organization_id"`
		APIKey         string `json:"api_key"`
	}
	if err := json.Unmarshal([]byte(out.String()), &init); err != nil {
		t.Fatal(err)
	}
	addr := FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var logs SyncBuffer
	done := run(ctx, []string{"serve", "--addr", addr, "--data-dir", dir}, io.Discard, &logs)
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	s := &Server{URL: "http://" + addr, OrgID: init.OrganizationID, OrgKey: init.APIKey}
	waitHealthy(t, s.URL+"/healthz", done, &logs)
	s.Call(t, s.OrgKey, "PATCH", "/v1/settings", `{"rate_limit_per_hour": 100000}`, http.StatusOK)
	if len(envScopes) == 0 {
		envScopes = []string{"view:user", "manage:user", "view:tenant", "manage:tenant", "view:resource", "manage:resource", "view:role",
			"manage:role", "view:role_assignment", "manage:role_assignment", "check:access"}
	}
	s.EnvKey = s.NewKey(t, "environment", envScopes...)
	return s
}

// NewKey makes a key of level (environment: the default project's
// development environment) and returns its token.
func (s *Server) NewKey(t testing.TB, level string, scopes ...string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"name": "test " + level + " key", "level": level, "project": "default", "environment": "development", "scopes": scopes})
	if level == "organization" {
		body, _ = json.Marshal(map[string]any{"name": "test key", "level": level, "scopes": scopes})
	}
	var key struct {
		Data struct {
			Token string `json:"token"`
		} `json:"data"`
	}
	raw := s.Call(t, s.OrgKey, "POST", "/v1/api-keys", string(body), http.StatusCreated)
	if err := json.Unmarshal(raw, &key); err != nil || key.Data.Token == "" {
		t.Fatalf("new %s key: %s %v", level, raw, err)
	}
	return key.Data.Token
}

// Call sends one request with key and checks its status.
func (s *Server) Call(t testing.TB, key, method, path, body string, want int) []byte {
	t.Helper()
	req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, res.StatusCode, want, data)
	}
	return data
}

// Env is the process environment with the server's address and keys.
func (s *Server) Env() []string {
	return append(os.Environ(), "GATEHOUSE_API_URL="+s.URL, "GATEHOUSE_API_KEY="+s.OrgKey, "GATEHOUSE_ENV_API_KEY="+s.EnvKey,
		"GATEHOUSE_ORGANIZATION_ID="+s.OrgID)
}

// StartPDP runs `gatehouse pdp` with key against the server until the test
// ends and returns its address once it serves a snapshot.
func (s *Server) StartPDP(t testing.TB, key string) string {
	t.Helper()
	addr := FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var logs SyncBuffer
	done := run(ctx, []string{"pdp", "--api-url", s.URL, "--key", key, "--addr", addr, "--snapshot-dir", t.TempDir()}, io.Discard, &logs)
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("pdp: %v", err)
		}
	})
	url := "http://" + addr
	waitHealthy(t, url+"/healthz", done, &logs)
	return url
}

// Need finds a program, failing in CI (CI=true) and skipping elsewhere
// without it.
func Need(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI", name)
		}
		t.Skipf("%s not found (CI=true makes this a failure)", name)
	}
	return p
}

// RunIn runs a program in dir with env and fails the test with its output
// when it fails.
func RunIn(t testing.TB, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// npmInstalls are this process's `npm ci` runs, one per folder.
var npmInstalls sync.Map // folder → *npmInstall

type npmInstall struct {
	once sync.Once
	out  []byte
	err  error
}

// NPMInstalled makes sure dir's pinned npm packages are installed (`npm ci`
// from its package-lock.json, unless marker, a path under dir, shows an
// earlier install: .ci/run installs them before the suite) and returns dir.
// Tests that share a folder run in parallel: the install runs once per
// folder and process, the others wait for it (two `npm ci` in one folder
// delete each other's node_modules). npm missing fails the test in CI
// and skips it elsewhere.
func NPMInstalled(t testing.TB, dir, marker string) string {
	t.Helper()
	Need(t, "npm")
	v, _ := npmInstalls.LoadOrStore(dir, &npmInstall{})
	in := v.(*npmInstall)
	in.once.Do(func() {
		if _, err := os.Stat(filepath.Join(dir, marker)); err == nil {
			return
		}
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = dir
		in.out, in.err = cmd.CombinedOutput()
	})
	if in.err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, in.err, in.out)
	}
	if _, err := os.Stat(filepath.Join(dir, marker)); err != nil {
		t.Fatalf("%s after npm ci in %s: %v", marker, dir, err)
	}
	return dir
}

// Tail is the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Eventually polls ok every 50 ms until it holds, failing the test with
// what after within: for what the server does in the background (the API
// log is written in batches, changes reach followers a moment later).
func Eventually(t testing.TB, what string, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
