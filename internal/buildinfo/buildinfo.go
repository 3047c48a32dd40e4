// Package buildinfo says which Gatehouse a binary is: its version, the
// commit it was built from and when. Release builds set them at link time:
//
//	go build -ldflags "-X github.com/gatehouse-dev/gatehouse/internal/buildinfo.version=v1.2.0 \
//	  -X github.com/gatehouse-dev/gatehouse/internal/buildinfo.commit=$(git rev-parse HEAD) \
//	  -X github.com/gatehouse-dev/gatehouse/internal/buildinfo.date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" ./cmd/gatehouse
//
// (the Makefile's build and release targets do). Anything not set there
// comes from the Go toolchain's build information: the module version of
// `go install github.com/gatehouse-dev/gatehouse/cmd/gatehouse@v1.2.0`, or
// the pseudo-version, vcs.revision, vcs.time and vcs.modified that `go build`
// records in a git clone. A build with neither (go test, -buildvcs=false,
// a git worktree, which the toolchain does not recognize) is "dev".
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Set with -ldflags -X (see the package comment); empty when not.
var version, commit, date string

// Info describes this binary.
type Info struct {
	// Version is a release version (v1.2.0), a Go pseudo-version, `git
	// describe` output, or "dev" when nothing is known.
	Version string
	// Commit is the git revision, "" when unknown.
	Commit string
	// Date is the build date of a release build (-ldflags), else the
	// commit's time (vcs.time); "" when unknown.
	Date string
	// Modified: built from a tree with uncommitted changes (vcs.modified).
	Modified bool
	// Go is the toolchain and platform, e.g. "go1.26.8 linux/amd64".
	Go string
}

// Get returns this binary's Info.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(bi, version, commit, date)
}

// resolve prefers the link-time values, then the toolchain's.
func resolve(bi *debug.BuildInfo, version, commit, date string) Info {
	in := Info{Version: version, Commit: commit, Date: date, Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if in.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			in.Version = bi.Main.Version
		}
		// The toolchain's VCS settings describe the tree the binary was
		// built from; they fill in only what the link-time values left out,
		// and say nothing when the commit came from -ldflags (it may be a
		// different tree's).
		fromVCS := commit == ""
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if fromVCS {
					in.Commit = s.Value
				}
			case "vcs.time":
				if fromVCS && in.Date == "" {
					in.Date = s.Value
				}
			case "vcs.modified":
				if fromVCS {
					in.Modified = s.Value == "true"
				}
			}
		}
	}
	if in.Version == "" {
		in.Version = "dev"
	}
	return in
}

// String is the one line `gatehouse version` prints after the program's
// name: "v1.2.0 (commit 18a4627c1f2e, 2026-12-03T10:00:00Z, go1.26.8
// linux/amd64)".
func (in Info) String() string {
	var parts []string
	if in.Commit != "" {
		c := in.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		if in.Modified {
			c += ", modified"
		}
		parts = append(parts, "commit "+c)
	}
	if in.Date != "" {
		parts = append(parts, in.Date)
	}
	parts = append(parts, in.Go)
	return in.Version + " (" + strings.Join(parts, ", ") + ")"
}
