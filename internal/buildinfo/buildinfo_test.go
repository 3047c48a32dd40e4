package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	t.Parallel()
	clone := &debug.BuildInfo{Main: debug.Module{Path: "github.com/gatehouse-dev/gatehouse", Version: "v0.0.0-20261203072129-9ce7539fc6ce+dirty"},
		Settings: []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "9ce7539fc6cebcc82624884378da70a512019388"},
			{Key: "vcs.time", Value: "2026-12-03T07:21:29Z"}, {Key: "vcs.modified", Value: "true"}}}
	installed := &debug.BuildInfo{Main: debug.Module{Path: "github.com/gatehouse-dev/gatehouse", Version: "v1.2.0"}}
	bare := &debug.BuildInfo{Main: debug.Module{Path: "github.com/gatehouse-dev/gatehouse", Version: "(devel)"}}
	tests := []struct {
		name                  string
		bi                    *debug.BuildInfo
		version, commit, date string
		want                  Info
	}{
		{"go build in a clone", clone, "", "", "",
			Info{Version: "v0.0.0-20261203072129-9ce7539fc6ce+dirty", Commit: "9ce7539fc6cebcc82624884378da70a512019388", Date: "2026-12-03T07:21:29Z", Modified: true}},
		{"go install module@version", installed, "", "", "", Info{Version: "v1.2.0"}},
		{"nothing known", bare, "", "", "", Info{Version: "dev"}},
		{"no build info", nil, "", "", "", Info{Version: "dev"}},
		{"release build in a clone: ldflags win, the tree's VCS state is not mixed in", clone, "v1.3.0", "abc123", "2026-12-04T00:00:00Z",
			Info{Version: "v1.3.0", Commit: "abc123", Date: "2026-12-04T00:00:00Z"}},
		{"only a version from ldflags", clone, "v1.3.0", "", "",
			Info{Version: "v1.3.0", Commit: "9ce7539fc6cebcc82624884378da70a512019388", Date: "2026-12-03T07:21:29Z", Modified: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := resolve(tc.bi, tc.version, tc.commit, tc.date)
			tc.want.Go = got.Go
			if got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
			if !strings.HasPrefix(got.Go, "go") {
				t.Fatalf("Go = %q", got.Go)
			}
		})
	}
	s := resolve(clone, "", "", "").String()
	if !strings.HasPrefix(s, "v0.0.0-20261203072129-9ce7539fc6ce+dirty (commit 9ce7539fc6ce, modified, 2026-12-03T07:21:29Z, go") {
		t.Fatalf("String() = %q", s)
	}
	if s := resolve(bare, "", "", "").String(); !strings.HasPrefix(s, "dev (go") {
		t.Fatalf("String() = %q", s)
	}
}
