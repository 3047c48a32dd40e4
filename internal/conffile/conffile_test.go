package conffile

import (
	"strings"
	"testing"
)

func TestParseFileErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, text, want string
	}{
		{"not a mapping", "- addr\n", "gh.yaml:1: want a mapping"},
		{"twice", "addr: a:1\nlog-level: info\naddr: b:2\n", "gh.yaml:3: addr is set twice (first on line 1)"},
		{"nested list", "cors-origins:\n  - [a, b]\n", "gh.yaml:2: cors-origins: a list may hold only single values"},
		{"nested map", "region-urls:\n  eu:\n    url: x\n", "gh.yaml:3: region-urls: a map may hold only name: value pairs"},
		{"comma in list item", "cors-origins:\n  - \"a,b\"\n", `gh.yaml:2: cors-origins: list item "a,b" holds a comma`},
		{"bad yaml", "addr: [\n", "gh.yaml: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseFile("gh.yaml", []byte(tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	f, err := ParseFile("gh.yaml", []byte("# nothing yet\n"))
	if err != nil || len(f.Entries) != 0 {
		t.Fatalf("empty file: %v %+v", err, f)
	}
}
