// Package sdk_test runs the JavaScript and Python SDKs' own tests, and the
// seeds' example requests, against a live server started here. Node, npm,
// Python and curl are required in CI (CI=true) and skip the tests
// elsewhere when missing.
package sdk_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/cli"
)

// server is a Gatehouse started for one test, with an organization key and
// an environment key (default project, development environment).
type server struct {
	URL, OrgID, OrgKey, EnvKey string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func start(t *testing.T) *server {
	t.Helper()
	dir := t.TempDir()
	var out syncBuffer
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs syncBuffer
	go func() {
		done <- cli.Run(ctx, []string{"serve", "--addr", addr, "--data-dir", dir}, func(string) string { return "" }, strings.NewReader(""), io.Discard, &logs)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	s := &server{URL: "http://" + addr, OrgID: init.OrganizationID, OrgKey: init.APIKey}
	for deadline := time.Now().Add(20 * time.Second); ; {
		res, err := http.Get(s.URL + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start: %v\n%s", err, logs.String())
		}
		time.Sleep(30 * time.Millisecond)
	}
	// The SDK suites make hundreds of calls: lift the organization's hourly
	// limit so that they measure the SDKs, not the rate limiter.
	s.call(t, s.OrgKey, "PATCH", "/v1/settings", `{"rate_limit_per_hour": 100000}`, 200)
	var key struct {
		Data struct {
			Token string `json:"token"`
		} `json:"data"`
	}
	body := s.call(t, s.OrgKey, "POST", "/v1/api-keys", `{"name":"sdk tests","level":"environment","project":"default","environment":"development",
		"scopes":["view:user","manage:user","view:tenant","manage:tenant","view:resource","manage:resource","view:role","manage:role",
		"view:role_assignment","manage:role_assignment","check:access"]}`, 201)
	if err := json.Unmarshal(body, &key); err != nil || key.Data.Token == "" {
		t.Fatalf("environment key: %s %v", body, err)
	}
	s.EnvKey = key.Data.Token
	return s
}

// call sends one request and checks its status.
func (s *server) call(t *testing.T, key, method, path, body string, want int) []byte {
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

func (s *server) env() []string {
	return append(os.Environ(), "GATEHOUSE_API_URL="+s.URL, "GATEHOUSE_API_KEY="+s.OrgKey, "GATEHOUSE_ENV_API_KEY="+s.EnvKey,
		"GATEHOUSE_ORGANIZATION_ID="+s.OrgID)
}

// need finds a program, failing in CI and skipping elsewhere without it.
func need(t *testing.T, name string) string {
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

func here() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

func runIn(t *testing.T, dir string, env []string, name string, args ...string) string {
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

var npmOnce sync.Once

// jsReady installs the JS SDK's pinned dev dependencies (when .ci/run has
// not) and builds it.
func jsReady(t *testing.T) string {
	t.Helper()
	need(t, "node")
	need(t, "npm")
	dir := filepath.Join(here(), "js")
	var err error
	var out []byte
	npmOnce.Do(func() {
		if _, statErr := os.Stat(filepath.Join(dir, "node_modules", ".bin", "tsc")); statErr != nil {
			cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
			cmd.Dir = dir
			if out, err = cmd.CombinedOutput(); err != nil {
				return
			}
		}
		cmd := exec.Command("npm", "run", "build")
		cmd.Dir = dir
		out, err = cmd.CombinedOutput()
	})
	if err != nil {
		t.Fatalf("building the JavaScript SDK: %v\n%s", err, out)
	}
	return dir
}

// TestJavaScriptSDK builds the SDK and runs its tests (Node's test runner)
// against a live server, with seed 000's fetch and axios requests and seed
// 002's require example.
func TestJavaScriptSDK(t *testing.T) {
	dir := jsReady(t)
	s := start(t)
	s.call(t, s.EnvKey, "POST", "/v1/users", `{"key":"seed-user","email":"seed@example.com"}`, 201)
	out := runIn(t, dir, s.env(), "npm", "test", "--silent")
	t.Logf("node --test:\n%s", tail(out, 12))
}

// TestJavaScriptSDKIsGeneratedFromTheServedSpec regenerates the SDK from
// the running server's /v1/spec.yaml and compares it with what is
// committed: an API change without `npm run generate` fails here.
func TestJavaScriptSDKIsGeneratedFromTheServedSpec(t *testing.T) {
	dir := jsReady(t)
	s := start(t)
	outDir := filepath.Join(t.TempDir(), "gen")
	env := append(s.env(), "GATEHOUSE_SPEC="+s.URL+"/v1/spec.yaml", "GATEHOUSE_GEN_OUT="+outDir)
	runIn(t, dir, env, "npm", "run", "generate", "--silent")
	committed := filepath.Join(dir, "src", "gen")
	var files []string
	err := filepath.WalkDir(outDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(outDir, p)
		files = append(files, rel)
		want, _ := os.ReadFile(p)
		got, rerr := os.ReadFile(filepath.Join(committed, rel))
		if rerr != nil || !bytes.Equal(got, want) {
			return fmt.Errorf("sdk/js/src/gen/%s is not what the served spec generates: run `cd sdk/js && npm run generate`", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var have int
	_ = filepath.WalkDir(committed, func(_ string, d os.DirEntry, _ error) error {
		if d != nil && !d.IsDir() {
			have++
		}
		return nil
	})
	if have != len(files) || len(files) < 5 {
		t.Fatalf("committed sdk/js/src/gen has %d files, the generator makes %d", have, len(files))
	}
}

// TestPythonSDK runs the Python SDK's tests (unittest, the standard library
// only) against a live server, with seed 002's Python example.
func TestPythonSDK(t *testing.T) {
	py := need(t, "python3")
	s := start(t)
	out := runIn(t, filepath.Join(here(), "python"), s.env(), py, "-m", "unittest", "discover", "-s", "tests", "-v")
	t.Logf("unittest:\n%s", tail(out, 6))
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
