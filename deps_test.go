package gatehouse_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The shared vocabulary package imports only the standard library, so that
// the SDK and the decision engine can depend on it without pulling anything in.
func TestRootImportsOnlyTheStandardLibrary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep != "github.com/gatehouse-dev/gatehouse" {
			t.Errorf("package gatehouse depends on %s", dep)
		}
	}
}
