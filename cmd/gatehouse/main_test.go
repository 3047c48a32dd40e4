package main_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestVersionStampedAtLinkTime builds the binary with the version
// -ldflags the Makefile's build and release targets pass and runs
// `gatehouse version`.
func TestVersionStampedAtLinkTime(t *testing.T) {
	t.Parallel()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the binary: %v", err)
	}
	const pkg = "github.com/gatehouse-dev/gatehouse/internal/buildinfo"
	bin := filepath.Join(t.TempDir(), "gatehouse")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	ldflags := "-s -w -X " + pkg + ".version=v9.8.7-test -X " + pkg + ".commit=0123456789abcdef0123456789abcdef01234567 -X " + pkg + ".date=2026-12-03T10:11:12Z"
	// A plain build (no -trimpath, no -race, no -gcflags), as `make build`
	// does: its packages are the ones go vet and internal/cli's tests have
	// compiled already, so only the link is new work. (With -race but
	// without .ci/test's -gcflags, modernc.org/... was a third variant
	// compiled for this test alone: about a minute of both cores on a
	// fresh machine.)
	args := []string{"build", "-ldflags", ldflags, "-o", bin, "."}
	if out, err := exec.Command(goTool, args...).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("gatehouse version: %v\n%s", err, out)
	}
	want := "gatehouse v9.8.7-test (commit 0123456789ab, 2026-12-03T10:11:12Z, " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")\n"
	if string(out) != want {
		t.Fatalf("gatehouse version printed\n%q, want\n%q", out, want)
	}
	if strings.Contains(string(out), "dev") {
		t.Fatalf("a stamped build still says dev: %q", out)
	}
}
