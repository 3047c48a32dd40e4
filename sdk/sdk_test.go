//go:build interop

// The SDKs' own suites (npm, Node, Python): interop tests, run by the
// interop stage of .ci/test (go test -tags interop).

// Package sdk_test runs the JavaScript and Python SDKs' own tests, and the
// documented example requests, against a live server started here. Node, npm,
// Python and curl are required in CI (CI=true) and skip the tests
// elsewhere when missing.
package sdk_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testserver"
)

func here() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// The JavaScript SDK is built once for the tests that use it (they run in
// parallel): the outcome is kept for each of them.
var (
	npmOnce sync.Once
	npmOut  []byte
	npmErr  error
)

// jsReady installs the JS SDK's pinned dev dependencies (when .ci/run has
// not) and builds it the way a release does: `npm pack`, whose prepack
// script builds dist/, writes sdk/js/gatehouse-sdk-VERSION.tgz (ignored by
// git; TestJavaScriptSDKInstallsFromItsTarball installs it).
func jsReady(t *testing.T) string {
	t.Helper()
	testserver.Need(t, "node")
	dir := testserver.NPMInstalled(t, filepath.Join(here(), "js"), filepath.Join("node_modules", ".bin", "tsc"))
	npmOnce.Do(func() {
		cmd := exec.Command("npm", "pack", "--loglevel=error")
		cmd.Dir = dir
		npmOut, npmErr = cmd.CombinedOutput()
	})
	if npmErr != nil {
		t.Fatalf("building the JavaScript SDK: %v\n%s", npmErr, npmOut)
	}
	return dir
}

// TestJavaScriptSDK builds the SDK and runs its tests (Node's test runner)
// against a live server, with PERSCOM's documented fetch and axios
// requests and our API reference's require example.
func TestJavaScriptSDK(t *testing.T) {
	t.Parallel()
	dir := jsReady(t)
	s := testserver.Start(t)
	s.Call(t, s.EnvKey, "POST", "/v1/users", `{"key":"seed-user","email":"seed@example.com"}`, 201)
	out := testserver.RunIn(t, dir, s.Env(), "npm", "test", "--silent")
	t.Logf("node --test:\n%s", testserver.Tail(out, 12))
}

// TestJavaScriptSDKIsGeneratedFromTheServedSpec regenerates the SDK from
// the running server's /v1/spec.yaml and compares it with what is
// committed: an API change without `npm run generate` fails here.
func TestJavaScriptSDKIsGeneratedFromTheServedSpec(t *testing.T) {
	t.Parallel()
	dir := jsReady(t)
	s := testserver.Start(t)
	outDir := filepath.Join(t.TempDir(), "gen")
	env := append(s.Env(), "GATEHOUSE_SPEC="+s.URL+"/v1/spec.yaml", "GATEHOUSE_GEN_OUT="+outDir)
	testserver.RunIn(t, dir, env, "npm", "run", "generate", "--silent")
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
// only) against a live server, with our API reference's Python example.
func TestPythonSDK(t *testing.T) {
	t.Parallel()
	py := testserver.Need(t, "python3")
	s := testserver.Start(t)
	out := testserver.RunIn(t, filepath.Join(here(), "python"), s.Env(), py, "-m", "unittest", "discover", "-s", "tests", "-v")
	t.Logf("unittest:\n%s", testserver.Tail(out, 6))
}
