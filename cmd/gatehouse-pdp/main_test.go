package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/cli"
	"github.com/gatehouse-dev/gatehouse/internal/testserver"
)

// TestGatehousePDPBinary builds gatehouse-pdp (without -race: the child is
// the process under test, not the detector's target) and runs it: its help
// is `gatehouse pdp --help` under its own name, and against a real server
// it syncs and answers checks as `gatehouse pdp` does.
func TestGatehousePDPBinary(t *testing.T) {
	t.Parallel()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the binary: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "gatehouse-pdp")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/gatehouse-pdp: %v\n%s", err, out)
	}

	t.Run("help", func(t *testing.T) {
		// no GATEHOUSE_ variable: the defaults shown are the built-in ones
		cmd := exec.Command(bin, "--help")
		cmd.Env = []string{}
		got, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("gatehouse-pdp --help: %v\n%s", err, got)
		}
		var want bytes.Buffer
		if err := cli.Run(context.Background(), []string{"pdp", "--help"}, func(string) string { return "" }, strings.NewReader(""), &want, &want); err != nil {
			t.Fatalf("gatehouse pdp --help: %v", err)
		}
		// The same text but for the name it is typed by and the --version
		// flag, which gatehouse has as a command.
		named := strings.NewReplacer("  gatehouse-pdp [flags]", "  gatehouse pdp [flags]", "  gatehouse-pdp --api-url", "  gatehouse pdp --api-url",
			"help for gatehouse-pdp", "help for pdp")
		var lines []string
		sawVersion := false
		for _, l := range strings.Split(string(got), "\n") {
			if strings.Contains(l, "--version") {
				sawVersion = true
				continue
			}
			lines = append(lines, named.Replace(l))
		}
		if !sawVersion {
			t.Errorf("gatehouse-pdp --help shows no --version:\n%s", got)
		}
		wantLines := strings.Split(want.String(), "\n")
		for i := 0; i < max(len(lines), len(wantLines)); i++ {
			var g, w string
			if i < len(lines) {
				g = lines[i]
			}
			if i < len(wantLines) {
				w = wantLines[i]
			}
			if g != w {
				t.Errorf("gatehouse-pdp --help (named gatehouse pdp, without --version), line %d:\n%q\nwant gatehouse pdp --help's:\n%q\nwhole:\n%s", i+1, g, w, got)
				break
			}
		}
		for _, flag := range []string{"--api-url", "--key-file", "--snapshot-dir", "--config", "--log-level", "--memory-limit", "GATEHOUSE_PDP_ADDR"} {
			if !strings.Contains(string(got), flag) {
				t.Errorf("gatehouse-pdp --help lacks %s", flag)
			}
		}
	})

	t.Run("version", func(t *testing.T) {
		out, err := exec.Command(bin, "--version").CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "gatehouse-pdp ") || !strings.Contains(string(out), runtime.Version()) {
			t.Errorf("gatehouse-pdp --version: %v\n%s", err, out)
		}
	})

	t.Run("checks", func(t *testing.T) {
		srv := testserver.Start(t)
		for _, c := range [][2]string{
			{"/v1/resources", `{"key":"document","actions":["read","write"]}`},
			{"/v1/roles", `{"key":"viewer","permissions":["document:read"]}`},
			{"/v1/users", `{"key":"ada"}`},
			{"/v1/tenants", `{"key":"acme","name":"Acme"}`},
			{"/v1/role-assignments", `{"user":"ada","role":"viewer","tenant":"acme"}`},
		} {
			srv.Call(t, srv.EnvKey, "POST", c[0], c[1], http.StatusCreated)
		}
		addr := testserver.FreeAddr(t)
		var logs testserver.SyncBuffer
		cmd := exec.Command(bin, "--api-url", srv.URL, "--addr", addr, "--snapshot-dir", t.TempDir(), "--log-format", "json")
		cmd.Env = append(os.Environ(), "GATEHOUSE_API_KEY="+srv.EnvKey)
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() {
			_ = cmd.Process.Signal(os.Interrupt)
			if err := <-exited; err != nil {
				t.Errorf("gatehouse-pdp ended with %v on SIGINT", err)
			}
			if t.Failed() {
				t.Logf("gatehouse-pdp output:\n%s", logs.String())
			}
		})
		base := "http://" + addr
		var health struct {
			Sync struct {
				State string `json:"state"`
			} `json:"sync"`
		}
		testserver.Eventually(t, "gatehouse-pdp /healthz answering 200, synced", 60*time.Second, func() bool {
			select {
			case err := <-exited:
				exited <- err
				t.Fatalf("gatehouse-pdp ended early: %v\n%s", err, logs.String())
			default:
			}
			res, err := http.Get(base + "/healthz")
			if err != nil {
				return false
			}
			defer res.Body.Close()
			return res.StatusCode == http.StatusOK && json.NewDecoder(res.Body).Decode(&health) == nil && health.Sync.State == "synced"
		})
		check := func(user string) bool {
			t.Helper()
			req, _ := http.NewRequest("POST", base+"/v1/allowed",
				strings.NewReader(`{"user":"`+user+`","action":"read","resource":{"type":"document","tenant":"acme"}}`))
			req.Header.Set("Authorization", "Bearer "+srv.EnvKey)
			req.Header.Set("Content-Type", "application/json")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			var answer struct {
				Data struct {
					Allow bool   `json:"allow"`
					Role  string `json:"role"`
				} `json:"data"`
			}
			if res.StatusCode != http.StatusOK || json.Unmarshal(body, &answer) != nil {
				t.Fatalf("check %s: %d %s", user, res.StatusCode, body)
			}
			if answer.Data.Allow && answer.Data.Role != "viewer" {
				t.Errorf("check %s: allowed through role %q, want viewer", user, answer.Data.Role)
			}
			return answer.Data.Allow
		}
		if !check("ada") {
			t.Error("ada, a viewer in acme, may not read its documents")
		}
		if check("bob") {
			t.Error("bob, who holds no role, may read acme's documents")
		}
		// a write on the server reaches the running PDP over its stream
		srv.Call(t, srv.EnvKey, "POST", "/v1/users", `{"key":"bob"}`, http.StatusCreated)
		srv.Call(t, srv.EnvKey, "POST", "/v1/role-assignments", `{"user":"bob","role":"viewer","tenant":"acme"}`, http.StatusCreated)
		testserver.Eventually(t, "bob's new role reaching gatehouse-pdp", 30*time.Second, func() bool { return check("bob") })
		if !strings.Contains(logs.String(), `"msg":"pdp listening"`) {
			t.Errorf("no JSON start-up line (--log-format json):\n%s", logs.String())
		}
	})
}
