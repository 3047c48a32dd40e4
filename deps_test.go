package gatehouse_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The shared vocabulary package imports only the standard library. (The Go
// SDK and the decision engine, in the module at client/, do not import it:
// that would make the SDK's module require the server's; client/module_test.go
// holds them to it.)
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

// The layers below the front doors never import them: the store, the
// services and the engine know nothing of HTTP handlers, the dashboard or
// huma, so that every rule holds whichever door a call came through.
func TestLowerLayersImportNoFrontDoor(t *testing.T) {
	const mod = "github.com/gatehouse-dev/gatehouse/"
	below := []string{"./internal/store/...", "./internal/tenancy", "./internal/facts", "./internal/apikey", "./internal/webhook",
		"./internal/jobs", "./internal/ratelimit", "./internal/decision", "./internal/apilog", "./internal/idempotency",
		"./internal/secretkey", "./internal/event", "./internal/auth", "./internal/batch", "./internal/queue", "./internal/status", "github.com/gatehouse-dev/gatehouse/client/authz"}
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

// The standalone PDP runs beside an application, away from the server: it
// is the Go SDK's in-process checker plus a disk snapshot, its endpoints and
// decision uploads. It never imports the server's packages (services,
// store, front doors, keys, tenancy) nor their drivers and frameworks,
// only the SDK, the engine, the shared vocabulary and the wire types of
// checks (decision, Permit's protocol) with their leaf helpers (dberr).
func TestPDPImportsNoServerPackage(t *testing.T) {
	const mod = "github.com/gatehouse-dev/gatehouse"
	allowed := map[string]bool{mod: true, mod + "/client/authz": true, mod + "/client": true, mod + "/internal/pdp": true,
		mod + "/internal/decision": true, mod + "/internal/permit": true, mod + "/internal/batch": true, mod + "/internal/envelope": true,
		mod + "/internal/dberr":      true, // a leaf: standard library only
		mod + "/internal/adminhttp":  true, // a leaf: standard library only
		mod + "/internal/jsonstream": true, // a leaf: standard library only
		mod + "/internal/jsontext":   true} // a leaf: standard library only
	thirdParty := []string{"github.com/danielgtaylor/huma", "github.com/jackc/pgx", "modernc.org/sqlite", "github.com/redis/go-redis",
		"github.com/riverqueue/river", "github.com/pressly/goose", "github.com/golang-jwt/jwt", "github.com/spf13/cobra"}
	checkDeps(t, "./internal/pdp", mod, allowed, thirdParty)
}

// gatehouse-pdp is `gatehouse pdp` alone: the PDP, its command and what
// the command line shares (cmdkit, the configuration file, logging), so that
// its binary and the code pages it keeps resident stay small. None of the
// server's packages, drivers or frameworks, nor OpenTelemetry's SDK and
// exporters, may come in through a shared helper.
func TestPDPBinaryImportsNoServerPackage(t *testing.T) {
	const mod = "github.com/gatehouse-dev/gatehouse"
	allowed := map[string]bool{mod + "/cmd/gatehouse-pdp": true, mod + "/internal/pdpcmd": true, mod + "/internal/cmdkit": true,
		mod + "/internal/conffile": true, mod + "/internal/logging": true, mod + "/internal/memory": true, mod + "/internal/buildinfo": true,
		// internal/pdp and what TestPDPImportsNoServerPackage lets it import
		mod: true, mod + "/client/authz": true, mod + "/client": true, mod + "/internal/pdp": true, mod + "/internal/decision": true,
		mod + "/internal/permit": true, mod + "/internal/batch": true, mod + "/internal/envelope": true, mod + "/internal/dberr": true,
		mod + "/internal/adminhttp": true, mod + "/internal/jsonstream": true, mod + "/internal/jsontext": true}
	forbidden := []string{"github.com/danielgtaylor/huma", "github.com/jackc/pgx", "modernc.org/sqlite", "modernc.org/libc", "github.com/redis/go-redis", "github.com/riverqueue/river",
		"github.com/pressly/goose", "github.com/golang-jwt/jwt", "github.com/prometheus/client_golang",
		"go.opentelemetry.io/otel/sdk", "go.opentelemetry.io/otel/exporters", "go.opentelemetry.io/contrib"}
	checkDeps(t, "./cmd/gatehouse-pdp", mod, allowed, forbidden)
}

// checkDeps fails t for each package pkg depends on (not the standard
// library's) that is of module mod and not allowed, or under one of the
// forbidden import paths.
func checkDeps(t *testing.T, pkg, mod string, allowed map[string]bool, forbidden []string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-test=false", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 2 {
		t.Fatalf("go list -deps %s listed %d packages: %v", pkg, len(deps), deps)
	}
	for _, dep := range deps {
		if dep == mod || strings.HasPrefix(dep, mod+"/") {
			if !allowed[dep] {
				t.Errorf("%s depends on %s, a package of the server", pkg, dep)
			}
			continue
		}
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("%s depends on %s, a framework, driver or exporter of the server", pkg, dep)
			}
		}
	}
}

// The answers' envelope is shared by the server and the PDP: it imports
// nothing beyond the standard library.
func TestEnvelopeImportsOnlyTheStandardLibrary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./internal/envelope").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep != "github.com/gatehouse-dev/gatehouse/internal/envelope" {
			t.Errorf("package envelope depends on %s", dep)
		}
	}
}

// The two APIs are apart: v1 (httpapi) and Permit's (permit/v2) share the
// front-door kit (web) and the services, never each other's code; the app
// puts them on one handler.
func TestFrontDoorsAreApart(t *testing.T) {
	const mod = "github.com/gatehouse-dev/gatehouse/internal/"
	for pkg, other := range map[string]string{"./internal/httpapi": mod + "permit/v2", "./internal/permit/v2": mod + "httpapi"} {
		out, err := exec.Command("go", "list", "-deps", "-test=false", "-f", "{{.ImportPath}}", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == other {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
}
