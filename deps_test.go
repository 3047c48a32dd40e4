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

// The layers below the front doors never import them: the store, the
// services and the engine know nothing of HTTP handlers, the dashboard or
// huma, so that every rule holds whichever door a call came through.
func TestLowerLayersImportNoFrontDoor(t *testing.T) {
	const mod = "github.com/gatehouse-dev/gatehouse/"
	below := []string{"./internal/store/...", "./internal/tenancy", "./internal/facts", "./internal/apikey", "./internal/webhook",
		"./internal/jobs", "./internal/ratelimit", "./internal/decision", "./internal/apilog", "./internal/idempotency",
		"./internal/secretkey", "./internal/event", "./internal/auth", "./internal/batch", "./internal/queue", "./authz"}
	forbidden := []string{mod + "internal/httpapi", mod + "internal/dashboard", mod + "internal/web", mod + "internal/permit",
		mod + "internal/app", mod + "internal/cli", "github.com/danielgtaylor/huma"}
	for _, pkg := range below {
		out, err := exec.Command("go", "list", "-deps", "-test=false", "-f", "{{.ImportPath}}", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range forbidden {
				if dep == f || strings.HasPrefix(dep, f+"/") {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
	}
}
