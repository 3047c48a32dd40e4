package clientlive_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/client"
)

// An application of its own, outside this repository's modules, that
// requires the SDK's module (github.com/gatehouse-dev/gatehouse/client,
// with authz) and nothing else: it builds with the module proxy turned off
// (so no other module is needed), its module list is itself and the SDK,
// and it runs against a live server: a check over HTTP and the same check
// answered in-process by a LocalChecker.
const standaloneMain = `package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/gatehouse-dev/gatehouse/client"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := client.New(os.Getenv("GATEHOUSE_API_URL"), os.Getenv("GATEHOUSE_API_KEY")) // an environment key
	if _, err := c.Resources.Create(ctx, client.ResourceInput{Key: "report", Actions: []string{"read", "delete"}}); err != nil {
		fail(err)
	}
	if _, err := c.Roles.Create(ctx, client.RoleInput{Key: "reader", Permissions: []string{"report:read"}}); err != nil {
		fail(err)
	}
	if _, err := c.Users.Create(ctx, client.UserInput{Key: "ada"}); err != nil {
		fail(err)
	}
	if _, err := c.RoleAssignments.Assign(ctx, "ada", "reader", ""); err != nil {
		fail(err)
	}
	for _, action := range []string{"read", "delete"} {
		d, err := c.Checks.Allowed(ctx, client.Check{User: "ada", Action: action, Resource: client.CheckResource{Type: "report"}})
		if err != nil {
			fail(err)
		}
		fmt.Printf("remote %s %v\n", action, d.Allow)
	}
	lc, err := client.NewLocalChecker(ctx, c)
	if err != nil {
		fail(err)
	}
	defer lc.Close()
	if err := lc.WaitUntil(ctx, func(l *client.LocalChecker) bool { return l.Synced() }); err != nil {
		fail(err)
	}
	fmt.Printf("local read %v\n", lc.Check("ada", "read", "report", "").Allow)
	fmt.Printf("local delete %v\n", lc.Check("ada", "delete", "report", "").Allow)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
`

func TestClientModuleStandsAlone(t *testing.T) {
	t.Parallel()
	_, file, _, _ := runtime.Caller(0)
	sdk, err := filepath.Abs(filepath.Join(filepath.Dir(file), "..", "..", "client"))
	if err != nil {
		t.Fatal(err)
	}
	app := t.TempDir()
	gomod := "module example.com/app\n\ngo 1.26.0\n\nrequire github.com/gatehouse-dev/gatehouse/client v0.0.0\n\n" +
		"replace github.com/gatehouse-dev/gatehouse/client => " + sdk + "\n"
	if err := os.WriteFile(filepath.Join(app, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(app, "main.go"), []byte(standaloneMain), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	envName := "standalone-app"
	org := client.New(serverURL, orgKey)
	if _, err := org.Environments.Create(ctx, "default", client.EnvironmentInput{Key: envName, Name: "A standalone app"}); err != nil {
		t.Fatal(err)
	}
	// The in-process checker follows one environment: it takes an
	// environment key.
	k, err := org.APIKeys.Create(ctx, client.APIKeyInput{Name: "standalone app", Level: "environment", Project: "default", Environment: envName,
		Scopes: []string{"manage:user", "manage:resource", "manage:role", "manage:role_assignment", "check:access"}})
	if err != nil {
		t.Fatal(err)
	}
	// No proxy, no workspace, no checksum database: whatever the build
	// needs beyond the SDK would have to be downloaded, and cannot be.
	goEnv := append(os.Environ(), "GOWORK=off", "GOPROXY=off", "GOFLAGS=-mod=mod", "GONOSUMDB=*", "GOTOOLCHAIN=local")
	run := func(env []string, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = app
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got, want := run(goEnv, "go", "list", "-m", "all"), "example.com/app\ngithub.com/gatehouse-dev/gatehouse/client v0.0.0 => "+sdk; got != want {
		t.Fatalf("the application's modules:\n%s\nwant:\n%s", got, want)
	}
	bin := filepath.Join(app, "app")
	run(goEnv, "go", "build", "-o", bin, ".")
	got := run(append(os.Environ(), "GATEHOUSE_API_URL="+serverURL, "GATEHOUSE_API_KEY="+k.Token), bin)
	if want := "remote read true\nremote delete false\nlocal read true\nlocal delete false"; got != want {
		t.Fatalf("the application printed:\n%s\nwant:\n%s", got, want)
	}
}
