//go:build interop

// The spec through the npm tools API consumers use (Spectral's lint,
// Postman's importer): interop tests, run by the interop stage of
// .ci/test (go test -tags interop).

package httpapi_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testserver"
)

// specTool returns the path of a CLI from tools/speccheck, installed from
// its lock file when it is not (once per test process:
// testserver.NPMInstalled). Without npm it fails in CI and skips elsewhere.
func specTool(t *testing.T, name string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	bin := filepath.Join("node_modules", ".bin", name)
	dir := testserver.NPMInstalled(t, filepath.Join(filepath.Dir(file), "..", "..", "tools", "speccheck"), bin)
	return filepath.Join(dir, bin)
}

func writeSpec(t *testing.T) string {
	t.Helper()
	s := newServer(t)
	path := filepath.Join(t.TempDir(), "spec.yaml")
	if err := os.WriteFile(path, []byte(s.must(200, req{method: "GET", path: "/v1/spec.yaml"}).raw), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSpecLintsCleanWithSpectral(t *testing.T) {
	t.Parallel()
	spectral := specTool(t, "spectral")
	spec := writeSpec(t)
	ruleset := filepath.Join(filepath.Dir(filepath.Dir(spectral)), "..", ".spectral.yaml")
	// Warnings fail too: the spec stays at 0 errors and 0 warnings.
	out, err := exec.Command(spectral, "lint", "--ruleset", ruleset, "--fail-severity", "warn", "--format", "text", spec).CombinedOutput()
	if err != nil {
		t.Fatalf("spectral found errors or warnings: %v\n%s", err, out)
	}
	t.Logf("spectral:\n%s", out)
}

// TestSpecLintsCleanWithRedocly runs Redocly CLI's lint with its
// recommended rules (tools/speccheck/redocly.yaml), which also checks
// every example against its schema: no error, no warning.
func TestSpecLintsCleanWithRedocly(t *testing.T) {
	t.Parallel()
	redocly := specTool(t, "redocly")
	spec := writeSpec(t)
	config := filepath.Join(filepath.Dir(filepath.Dir(redocly)), "..", "redocly.yaml")
	cmd := exec.Command(redocly, "lint", "--config", config, "--format", "json", spec)
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var report struct {
		Totals struct {
			Errors, Warnings int
		} `json:"totals"`
		Problems []struct {
			RuleID   string `json:"ruleId"`
			Severity string `json:"severity"`
			Message  string `json:"message"`
			Location []struct {
				Pointer string `json:"pointer"`
			} `json:"location"`
		} `json:"problems"`
	}
	if jerr := json.Unmarshal(out, &report); jerr != nil {
		t.Fatalf("redocly lint: %v, report not JSON (%v)\n%s\n%s", err, jerr, out, stderr.String())
	}
	for _, p := range report.Problems {
		where := ""
		if len(p.Location) > 0 {
			where = p.Location[0].Pointer
		}
		t.Errorf("redocly %s %s at %s: %s", p.Severity, p.RuleID, where, p.Message)
	}
	if report.Totals.Errors+report.Totals.Warnings > 0 || err != nil {
		t.Fatalf("redocly lint: %d errors, %d warnings (exit: %v)\n%s", report.Totals.Errors, report.Totals.Warnings, err, stderr.String())
	}
}

func TestSpecImportsIntoPostman(t *testing.T) {
	t.Parallel()
	conv := specTool(t, "openapi2postmanv2")
	spec := writeSpec(t)
	outPath := filepath.Join(t.TempDir(), "collection.json")
	out, err := exec.Command(conv, "-s", spec, "-o", outPath).CombinedOutput()
	if err != nil {
		t.Fatalf("openapi2postmanv2: %v\n%s", err, out)
	}
	data, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	var coll struct {
		Info struct{ Name string } `json:"info"`
		Item []json.RawMessage     `json:"item"`
	}
	if err := json.Unmarshal(data, &coll); err != nil {
		t.Fatalf("collection is not JSON: %v", err)
	}
	if coll.Info.Name != "Gatehouse API" || len(coll.Item) == 0 {
		t.Fatalf("collection %q has %d items", coll.Info.Name, len(coll.Item))
	}
	if !strings.Contains(string(data), `"projects"`) || !strings.Contains(string(data), `"bearer"`) {
		t.Fatal("collection lacks the projects endpoints or bearer auth")
	}
}
