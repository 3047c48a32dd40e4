//go:build interop

package httpapi_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestCodeSamplesRun runs the spec's curl and Python code samples, as
// /docs shows them, against a live server (one per language): a story from
// an empty environment to checks and back (shorter in Go, where each
// sample compiles). A sample that fails exits non-zero (curl
// --fail-with-body; the Python SDK raises) or, in Go, prints another
// status than 2xx.
func TestCodeSamplesRun(t *testing.T) {
	for _, bin := range []string{"bash", "curl", "python3", "go"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required in CI", bin)
			}
			t.Skipf("%s not found (CI=true makes this a failure)", bin)
		}
	}
	_, file, _, _ := runtime.Caller(0)
	sdk := filepath.Join(filepath.Dir(file), "..", "..", "sdk", "python")
	story := []string{"healthz", "get-me", "list-scopes", "create-user", "create-tenant", "create-resource", "create-role",
		"assign-role", "get-user", "update-user", "list-role-assignments", "check", "check-bulk", "user-permissions",
		"allowed-resources", "unassign-role", "delete-user", "import-job"}

	goStory := []string{"get-me", "create-user", "get-user", "delete-user"} // each compiles: a short story
	for _, lang := range []string{"curl", "Python", "Go"} {
		t.Run(lang, func(t *testing.T) {
			s := newServer(t)
			doc := loadSpec(t, s.must(200, req{method: "GET", path: "/v1/spec.yaml"}).raw)
			samples := map[string]string{}
			for _, item := range doc.Paths.Map() {
				for _, op := range item.Operations() {
					list, _ := op.Extensions["x-codeSamples"].([]any)
					for _, x := range list {
						m := x.(map[string]any)
						if m["lang"] == lang {
							samples[op.OperationID] = m["source"].(string)
						}
					}
				}
			}
			env := append(os.Environ(), "GATEHOUSE_API_URL="+s.url, "GATEHOUSE_API_KEY="+s.key, "PYTHONPATH="+sdk)
			ids := story
			if lang == "Go" {
				ids = goStory
			}
			for _, id := range ids {
				src, ok := samples[id]
				if !ok {
					t.Fatalf("no %s sample for %s", lang, id)
				}
				var cmd *exec.Cmd
				switch lang {
				case "curl":
					cmd = exec.Command("bash", "-c", strings.Replace(src, "curl -sS", "curl -sS --fail-with-body", 1))
				case "Python":
					cmd = exec.Command("python3", "-c", src)
				default:
					main := filepath.Join(t.TempDir(), "main.go")
					if err := os.WriteFile(main, []byte(src), 0o644); err != nil {
						t.Fatal(err)
					}
					cmd = exec.Command("go", "run", main)
					cmd.Dir = filepath.Dir(main)
				}
				cmd.Env = env
				out, err := cmd.CombinedOutput()
				if err == nil && lang == "Go" && !strings.HasPrefix(string(out), "2") { // it prints the status
					err = fmt.Errorf("not a 2xx")
				}
				if err != nil {
					t.Fatalf("the %s sample of %s failed: %v\n%s\n--- sample:\n%s", lang, id, err, out, src)
				}
			}
		})
	}
}
