package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestEveryFieldIsOneSetting keeps Settings and Config in step: each field
// is declared by exactly one setting, and flags and variables are unique.
func TestEveryFieldIsOneSetting(t *testing.T) {
	var c Config
	byAddr := map[uintptr]string{}
	cv := reflect.ValueOf(&c).Elem()
	for i := range cv.NumField() {
		// Now, a clock, and SpanExporter, a test's hook, are no settings.
		if f := cv.Type().Field(i); f.Type.Kind() != reflect.Func && f.Type.Kind() != reflect.Interface {
			byAddr[cv.Field(i).Addr().Pointer()] = f.Name
		}
	}
	seen := map[string]string{}
	flags, envs := map[string]bool{}, map[string]bool{}
	for _, s := range Settings {
		p := reflect.ValueOf(s.Ptr(&c))
		switch v := s.Ptr(&c).(type) {
		case FailMode:
			p = reflect.ValueOf(v.Open)
		case Ratio:
			p = reflect.ValueOf(v.P)
		case Size:
			p = reflect.ValueOf(v.N)
		}
		name, ok := byAddr[p.Pointer()]
		if !ok {
			t.Errorf("%s: its field is not in Config", s.Env)
			continue
		}
		if other, dup := seen[name]; dup {
			t.Errorf("Config.%s is declared twice: %s and %s", name, other, s.Env)
		}
		seen[name] = s.Env
		if !strings.HasPrefix(s.Env, EnvPrefix) || envs[s.Env] {
			t.Errorf("%s: variable not prefixed with %s or declared twice", s.Env, EnvPrefix)
		}
		envs[s.Env] = true
		if s.Flag != "" && flags[s.Flag] {
			t.Errorf("--%s declared twice", s.Flag)
		}
		flags[s.Flag] = true
		if s.Help == "" {
			t.Errorf("%s has no help", s.Env)
		}
		if s.DefaultText() == "" && s.NoDefault == "" {
			t.Errorf("%s: an empty default needs NoDefault to say what it means", s.Env)
		}
	}
	for _, name := range byAddr {
		if _, ok := seen[name]; !ok {
			t.Errorf("Config.%s has no setting", name)
		}
	}
}

// TestREADMEConfigurationTable checks that the README's configuration table
// lists exactly the declared settings, in order, with their flag, variable
// and default.
func TestREADMEConfigurationTable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Configuration\n")
	if !ok {
		t.Fatal("README has no ## Configuration section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var got [][3]string
	inTable := false
	for _, line := range strings.Split(section, "\n") {
		switch {
		case strings.HasPrefix(line, "| flag | env | default |"):
			inTable = true
		case inTable && strings.HasPrefix(line, "|---"):
		case inTable && strings.HasPrefix(line, "|"):
			cells := strings.Split(strings.Trim(line, "|"), "|")
			if len(cells) < 4 {
				t.Fatalf("README row %q: want 4 columns", line)
			}
			got = append(got, [3]string{strings.TrimSpace(cells[0]), strings.TrimSpace(cells[1]), strings.TrimSpace(cells[2])})
		case inTable:
			inTable = false
		}
	}
	var want [][3]string
	for _, s := range Settings {
		row := [3]string{"", "`" + s.Env + "`", s.NoDefault}
		if s.Flag != "" {
			row[0] = "`--" + s.Flag + "`"
		}
		if d := s.DefaultText(); d != "" {
			row[2] = "`" + d + "`"
		}
		want = append(want, row)
	}
	if !reflect.DeepEqual(got, want) {
		var w strings.Builder
		for _, r := range want {
			w.WriteString("| " + r[0] + " | " + r[1] + " | " + r[2] + " | …\n")
		}
		t.Errorf("README configuration table (flag, env, default) differs from config.Settings; want rows:\n%s\ngot %q", w.String(), got)
	}
}

func TestDefaultText(t *testing.T) {
	c := Default()
	for _, tc := range []struct {
		v    any
		want string
	}{
		{&c.WebhookRetrySchedule, "5s,5m,30m,2h,5h,10h,14h,20h,24h"},
		{&c.DeleteGracePeriod, "168h"},
		{new(90 * time.Minute), "1h30m"},
		{new(90 * time.Second), "1m30s"},
		{new(2*time.Hour + 3*time.Second), "2h0m3s"},
		{&c.MaxBodyBytes, "1048576"},
		{FailMode{&c.RateLimitFailOpen}, "open"},
		{&c.AutoInit, "true"},
	} {
		if got := format(tc.v); got != tc.want {
			t.Errorf("format(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestEnvErrors(t *testing.T) {
	for env, want := range map[string]string{
		"GATEHOUSE_RATE_LIMIT_FAIL":      `GATEHOUSE_RATE_LIMIT_FAIL "half": want open or closed`,
		"GATEHOUSE_ANONYMOUS_RATE_LIMIT": `GATEHOUSE_ANONYMOUS_RATE_LIMIT "-1": want a number of requests per hour, 0 for none`,
		"GATEHOUSE_SIGN_IN_RATE_LIMIT":   `GATEHOUSE_SIGN_IN_RATE_LIMIT "0": want a number of attempts per hour, at least 1`,
		"GATEHOUSE_MAX_BODY_BYTES":       `GATEHOUSE_MAX_BODY_BYTES: strconv.ParseInt: parsing "x": invalid syntax`,
	} {
		value := map[string]string{"GATEHOUSE_RATE_LIMIT_FAIL": "half", "GATEHOUSE_ANONYMOUS_RATE_LIMIT": "-1",
			"GATEHOUSE_SIGN_IN_RATE_LIMIT": "0", "GATEHOUSE_MAX_BODY_BYTES": "x"}[env]
		c := Default()
		err := c.ApplyEnv(func(k string) string {
			if k == env {
				return value
			}
			return ""
		})
		if err == nil || err.Error() != want {
			t.Errorf("%s=%s: err = %v, want %s", env, value, err, want)
		}
	}
	c := Default()
	if err := c.ApplyEnv(func(k string) string {
		return map[string]string{"GATEHOUSE_RATE_LIMIT_FAIL": "closed", "GATEHOUSE_ANONYMOUS_RATE_LIMIT": "0"}[k]
	}); err != nil || c.RateLimitFailOpen || c.AnonymousRateLimit != 0 {
		t.Fatalf("err %v, config %+v", err, c)
	}
}

// TestTraceSampleRatio: the ratio is read as a number from 0 to 1, and
// anything else is refused with what is wanted.
func TestTraceSampleRatio(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  string
		want float64
		err  bool
	}{{"0.25", 0.25, false}, {"0", 0, false}, {"1", 1, false}, {"1.5", 0, true}, {"-0.1", 0, true}, {"half", 0, true}} {
		c := Default()
		err := c.ApplyEnv(func(k string) string {
			if k == EnvPrefix+"TRACE_SAMPLE_RATIO" {
				return tc.env
			}
			return ""
		})
		if (err != nil) != tc.err || (!tc.err && c.TraceSampleRatio != tc.want) {
			t.Errorf("%q: ratio %v, err %v", tc.env, c.TraceSampleRatio, err)
		}
		if err != nil && !strings.Contains(err.Error(), "a number from 0 to 1") {
			t.Errorf("%q: error %q does not say what is wanted", tc.env, err)
		}
	}
	if c := Default(); c.TraceSampleRatio != 1 || c.OTLPEndpoint != "" {
		t.Errorf("defaults: ratio %v, endpoint %q", c.TraceSampleRatio, c.OTLPEndpoint)
	}
	c := Default()
	c.TraceSampleRatio = 2
	if err := c.Validate(); err == nil {
		t.Error("Validate took a ratio of 2")
	}
}
