package cli_test

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// TestSettingFlags: `serve --help` offers a flag for every declared setting
// that has one, with its help and the environment's value as its default.
func TestSettingFlags(t *testing.T) {
	t.Parallel()
	out, err := run(t, map[string]string{"GATEHOUSE_JOB_TIMEOUT": "42s", "GATEHOUSE_DATA_DIR": "/srv/gh"}, "serve", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range config.Settings {
		if s.Flag == "" {
			if strings.Contains(out, s.Env+")") {
				t.Errorf("%s is read only from the environment, yet a flag names it", s.Env)
			}
			continue
		}
		if !strings.Contains(out, "--"+s.Flag+" ") || !strings.Contains(out, s.Usage()) {
			t.Errorf("serve --help lacks --%s with %q", s.Flag, s.Usage())
		}
	}
	for _, want := range []string{"(env GATEHOUSE_JOB_TIMEOUT) (default 42s)", `(env GATEHOUSE_DATA_DIR) (default "/srv/gh")`} {
		if !strings.Contains(out, want) {
			t.Errorf("serve --help lacks %q", want)
		}
	}
	out, err = run(t, nil, "serve", "--rate-limit-fail", "sometimes")
	if err == nil || !strings.Contains(err.Error(), "want open or closed") {
		t.Fatalf("--rate-limit-fail sometimes: %v %s", err, out)
	}
}
