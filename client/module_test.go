package client_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The module at client/ (this SDK and the authz engine) stands alone: it
// requires no other module, so `go get github.com/gatehouse-dev/gatehouse/client`
// adds exactly one module to an application's build, none of the server's
// (huma, SQLite, pgx, Prometheus, ...).
func TestModuleRequiresNothing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want string // every line of the output, trimmed
	}{
		{"modules", []string{"list", "-m", "all"}, "github.com/gatehouse-dev/gatehouse/client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command("go", tc.args...)
			cmd.Env = append(cmd.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOPROXY=off")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("go %s: %v\n%s", strings.Join(tc.args, " "), err, out)
			}
			if got := strings.TrimSpace(string(out)); got != tc.want {
				t.Errorf("go %s:\n%s\nwant %q", strings.Join(tc.args, " "), got, tc.want)
			}
		})
	}
}

// Every package of the module, tests included, imports the standard
// library and the module's own packages only: no test reaches for the
// server (its live-server tests are in the server's module,
// internal/clientlive).
func TestPackagesImportOnlyTheModule(t *testing.T) {
	t.Parallel()
	const mod = "github.com/gatehouse-dev/gatehouse/client"
	cmd := exec.Command("go", "list", "-deps", "-test", "-f", "{{if not .Standard}}{{.ImportPath}}{{println}}{{end}}", "./...")
	cmd.Env = append(cmd.Environ(), "GOWORK=off", "GOPROXY=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	var deps []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		// go list -test also names test variants: "pkg [pkg.test]", "pkg.test", "pkg_test [pkg.test]".
		dep, _, _ := strings.Cut(line, " ")
		deps = append(deps, dep)
		rest, ok := strings.CutPrefix(dep, mod)
		if !ok || (rest != "" && !strings.HasPrefix(rest, "/") && rest != ".test" && rest != "_test") {
			t.Errorf("the client module's packages depend on %s", dep)
		}
	}
	if len(deps) < 3 {
		t.Fatalf("go list found %d packages: %q", len(deps), deps)
	}
}
