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

// The Go SDK is public: it imports the standard library and the public
// decision engine only, so `go get` of it pulls nothing else in.
func TestClientImportsOnlyPublicPackages(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./client").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		switch dep {
		case "github.com/gatehouse-dev/gatehouse/client", "github.com/gatehouse-dev/gatehouse/authz", "github.com/gatehouse-dev/gatehouse":
		default:
			t.Errorf("package client depends on %s", dep)
		}
	}
}
