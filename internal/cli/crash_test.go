package cli_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

// TestMain removes the gatehouse binary the child processes run, if a
// test built it.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// gatehouseBinary is the real program (./cmd/gatehouse), built once per
// test process, the first time a test needs it, and always without the
// race detector: the children are the processes under test (their
// SIGKILLs, outages and load), not the detector's target, and a -race
// child costs several times the CPU, which the load on three of them
// made the package's slowest part. The test itself keeps whatever flags
// it was built with (-race in CI). The go command's build cache makes a
// rebuild of unchanged sources a link only.
func gatehouseBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			binErr = fmt.Errorf("the go command is needed to build the child processes' binary: %w", err)
			return
		}
		if binDir, err = os.MkdirTemp("", "gatehouse-cli-test-"); err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(binDir, "gatehouse")
		if runtime.GOOS == "windows" {
			binPath += ".exe"
		}
		out, err := exec.Command(goTool, "build", "-o", binPath, "github.com/gatehouse-dev/gatehouse/cmd/gatehouse").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build ./cmd/gatehouse: %w\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// child is a gatehouse process.
type child struct {
	cmd *exec.Cmd
	out *syncBuffer
}

func startChild(t *testing.T, env []string, args ...string) *child {
	t.Helper()
	c := &child{out: &syncBuffer{}}
	c.cmd = exec.Command(gatehouseBinary(t), args...)
	c.cmd.Env = append(os.Environ(), env...)
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			_, _ = c.cmd.Process.Wait()
		}
		if t.Failed() || os.Getenv("GATEHOUSE_TEST_SHOW_CHILD") != "" {
			t.Logf("server output:\n%s", c.out.String())
		}
	})
	return c
}

func waitHealthy(t *testing.T, base string) {
	t.Helper()
	testwait.Until(t, 60*time.Second, base+"/healthz answering 200", func() bool {
		res, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
}

func api(t *testing.T, method, url, key, ctype, body string) (int, map[string]any) {
	t.Helper()
	r, _ := http.NewRequest(method, url, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		r.Header.Set("Content-Type", ctype)
	}
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// TestCrashLosesNothing kills the server (SIGKILL) while webhook events
// are waiting to be delivered and an import is half done, starts it again,
// and checks that every event is delivered (duplicates allowed) and the
// import completes.
func TestCrashLosesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, err := run(t, nil, "init", "--output", "json", "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	var in initOut
	if err := json.Unmarshal([]byte(out), &in); err != nil {
		t.Fatal(err)
	}
	key := in.APIKey

	// The receiver refuses everything until the crash is over.
	var up atomic.Bool
	var mu sync.Mutex
	seen := map[string]map[string]any{} // event id → payload
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !up.Load() {
			time.Sleep(20 * time.Millisecond)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var p map[string]any
		_ = json.Unmarshal(body, &p)
		mu.Lock()
		seen[r.Header.Get("X-Webhook-Id")] = p
		mu.Unlock()
	}))
	defer rc.Close()

	addr := freeAddr(t)
	base := "http://" + addr
	// Retries come fast after the restart, and keep coming for over a
	// minute while the first process runs (however slow the machine):
	// ten at 300 ms, then every 2 s (the schedule's most: 50).
	schedule := strings.Repeat("300ms,", 10) + strings.Repeat("2s,", 39) + "2s"
	env := []string{"GATEHOUSE_WEBHOOK_ALLOW_NETWORKS=127.0.0.0/8", "GATEHOUSE_WEBHOOK_RETRY_SCHEDULE=" + schedule}
	args := []string{"serve", "--data-dir", dir, "--addr", addr, "--log-level", "info"}
	first := startChild(t, env, args...)
	waitHealthy(t, base)

	q := "?project=default&environment=development"
	if st, res := api(t, "POST", base+"/v1/webhooks", key, "application/json", `{"url":"`+rc.URL+`","events":["user.created","job.completed"]}`); st != 201 {
		t.Fatalf("webhook: %d %v", st, res)
	}
	const users = 30
	for i := 0; i < users; i++ {
		if st, res := api(t, "POST", base+"/v1/users"+q, key, "application/json", fmt.Sprintf(`{"key":"crash-%d"}`, i)); st != 201 {
			t.Fatalf("user: %d %v", st, res)
		}
	}
	var file strings.Builder
	const imported = 4000
	for i := 0; i < imported; i++ {
		fmt.Fprintf(&file, `{"type":"user","key":"imp-%d"}`+"\n", i)
	}
	st, res := api(t, "POST", base+"/v1/jobs/import"+q+"&batch_size=20", key, "application/x-ndjson", file.String())
	if st != 201 {
		t.Fatalf("import: %d %v", st, res)
	}
	jobID := res["data"].(map[string]any)["id"].(string)
	// Kill it once some batches are applied, not all.
	var done float64
	testwait.Until(t, 60*time.Second, "the import's first batch", func() bool {
		_, res := api(t, "GET", base+"/v1/jobs/"+jobID, key, "", "")
		done = res["data"].(map[string]any)["progress"].(map[string]any)["done_items"].(float64)
		return done > 0
	})
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if done >= imported {
		t.Fatalf("the import finished (%v rows) before the kill: make it longer", done)
	}
	t.Logf("killed with %v of %d rows imported", done, imported)
	_ = first.cmd.Wait()
	if res, err := http.Get(base + "/healthz"); err == nil {
		res.Body.Close()
		t.Fatal("the server still answers after SIGKILL")
	}

	up.Store(true)
	startChild(t, env, args...)
	waitHealthy(t, base)
	// However long the rest takes on a slow machine: fail only when
	// nothing moves (rows imported, job status, events delivered) for a
	// minute.
	testwait.Progress(t, time.Minute, "after the restart", func() (any, bool) {
		_, res := api(t, "GET", base+"/v1/jobs/"+jobID, key, "", "")
		job := res["data"].(map[string]any)
		status := job["status"]
		mu.Lock()
		got := map[string]bool{}
		for _, p := range seen {
			if p["event"] == "user.created" {
				got[p["data"].(map[string]any)["key"].(string)] = true
			}
			if p["event"] == "job.completed" {
				got["job"] = true
			}
		}
		mu.Unlock()
		progress := fmt.Sprintf("job %v with %v rows, %d of %d events delivered", status, job["progress"].(map[string]any)["done_items"], len(got), users+1)
		return progress, len(got) == users+1 && status == "succeeded"
	})
	_, list := api(t, "GET", base+"/v1/users"+q+"&per_page=1", key, "", "")
	if n := list["meta"].(map[string]any)["total_items"].(float64); n != users+imported {
		t.Errorf("%v users after the restart, want %d (the import applied whole, once)", n, users+imported)
	}
}
