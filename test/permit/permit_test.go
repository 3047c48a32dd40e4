//go:build interop

// Permit's SDKs (npm, Node, the Go toolchain): interop tests, run by the
// interop stage of .ci/test (go test -tags interop).

// Package permit_test runs Permit.io's official SDKs, unchanged, against a
// Gatehouse server and a standalone PDP (`gatehouse pdp`): the Node SDK
// (npm permitio, test/permit/node) and the Go SDK (permit-golang v1.2.8 and
// v1.1.4, test/permit/go, its own module). Node, npm and Go's toolchain
// are required in CI (CI=true); elsewhere a missing one skips.
package permit_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testserver"
	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

func here() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// nodeSDK returns test/permit/node with Permit's Node SDK installed from
// its lock file (once per test process: testserver.NPMInstalled).
func nodeSDK(t *testing.T) string {
	t.Helper()
	testserver.Need(t, "node")
	return testserver.NPMInstalled(t, filepath.Join(here(), "node"), filepath.Join("node_modules", "permitio", "package.json"))
}

// setup starts a server and a PDP for one SDK run. The PDP and the SDK use
// one environment key (Permit's SDKs send the same token to both).
func setup(t *testing.T) (*testserver.Server, string) {
	t.Helper()
	s := testserver.Start(t)
	return s, s.StartPDP(t, s.EnvKey)
}

func permitEnv(s *testserver.Server, pdp string, extra ...string) []string {
	return append(append(os.Environ(), "GATEHOUSE_API_URL="+s.URL, "GATEHOUSE_PDP_URL="+pdp, "PERMIT_TOKEN="+s.EnvKey,
		"GATEHOUSE_V1_KEY="+s.OrgKey), extra...)
}

func TestPermitNodeSDK(t *testing.T) {
	t.Parallel()
	dir := nodeSDK(t)
	s, pdp := setup(t)
	out := testserver.RunIn(t, dir, permitEnv(s, pdp), "node", "--test", "compat.test.mjs")
	t.Logf("permitio (node):\n%s", testserver.Tail(out, 9))
	checkAPILog(t, s, false)
}

// TestPermitNodeSDKFineGrained runs Permit's tutorials' scenarios with the
// Node SDK: a folder tree (relationships, implicit grants) and a finance
// app (condition sets, set rules, attributes on checks).
func TestPermitNodeSDKFineGrained(t *testing.T) {
	t.Parallel()
	dir := nodeSDK(t)
	s, pdp := setup(t)
	out := testserver.RunIn(t, dir, permitEnv(s, pdp), "node", "--test", "fine.test.mjs")
	t.Logf("permitio (node), fine-grained:\n%s", testserver.Tail(out, 9))
}

func TestPermitGoSDK(t *testing.T) {
	t.Parallel()
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = testserver.Need(t, "go")
	}
	for _, v := range []struct {
		name   string
		args   []string
		viaPDP bool
	}{
		{"v1.2.8", nil, false},
		// v1.1.4 sends the facts calls to the PDP, which passes them on.
		{"v1.1.4", []string{"-modfile=go.v114.mod", "-tags=permit114"}, true},
	} {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel() // a server, a PDP and a RUN_ID of their own
			s, pdp := setup(t)
			args := append([]string{"test", "-count=1", "-v"}, v.args...)
			out := testserver.RunIn(t, filepath.Join(here(), "go"), permitEnv(s, pdp, "RUN_ID=g"+strings.ReplaceAll(v.name, ".", "")), gobin, append(args, "./...")...)
			if !strings.Contains(out, "--- PASS: TestPermitGoSDK (") {
				t.Fatalf("the SDK's test did not run:\n%s", out)
			}
			t.Logf("permit-golang %s:\n%s", v.name, testserver.Tail(out, 12))
			checkAPILog(t, s, v.viaPDP)
		})
	}
}

// checkAPILog: the SDKs' calls went through the API log like any other,
// attributed to the key; viaPDP: the facts calls came through the PDP.
func checkAPILog(t *testing.T, s *testserver.Server, viaPDP bool) {
	t.Helper()
	var logs struct {
		Data []struct {
			ID        string `json:"id"`
			Path      string `json:"path"`
			ActorType string `json:"actor_type"`
			Status    int    `json:"status"`
		} `json:"data"`
		Meta struct {
			TotalItems int `json:"total_items"`
		} `json:"meta"`
	}
	// The users calls (Permit's Users API: v1.1.4 sends it to the PDP;
	// Roles.BulkAssignRole goes to the API URL in every version).
	usersCall := func(path string) bool {
		return strings.Contains(path, "/users") && !strings.Contains(path, "/tenants/")
	}
	// The log is written in the background, in batches: look until the
	// users calls are in (the first batch may hold only some calls).
	testwait.Until(t, 30*time.Second, "a /v2/facts users call in the API log", func() bool {
		raw := s.Call(t, s.OrgKey, "GET", "/v1/logs?path=/v2/facts/&per_page=100", "", 200)
		if err := json.Unmarshal(raw, &logs); err != nil {
			t.Fatal(err)
		}
		for _, c := range logs.Data {
			if usersCall(c.Path) {
				return true
			}
		}
		return false
	})
	for _, c := range logs.Data {
		if c.ActorType != "key" {
			t.Fatalf("a Permit call without its key in the API log: %+v", c)
		}
	}
	seen := 0
	for _, c := range logs.Data {
		if !usersCall(c.Path) {
			continue
		}
		var one struct {
			Data struct {
				Headers map[string]string `json:"request_headers"`
			} `json:"data"`
		}
		if err := json.Unmarshal(s.Call(t, s.OrgKey, "GET", "/v1/logs/"+c.ID, "", 200), &one); err != nil {
			t.Fatal(err)
		}
		if _, proxied := one.Data.Headers["X-Forwarded-For"]; proxied != viaPDP {
			t.Fatalf("%s through the PDP: %v, want %v (headers %v)", c.Path, proxied, viaPDP, one.Data.Headers)
		}
		seen++
	}
	if seen == 0 {
		t.Fatalf("no users call in the API log: %+v", logs.Data)
	}
}
