package config

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/conffile"
)

// TestFileApply: flag > environment > file > default; unknown keys and
// refused values name the key and the line.
func TestFileApply(t *testing.T) {
	t.Parallel()
	text := `# gatehouse.yaml
log-level: debug
job-timeout: 90s
webhook-retry-schedule: [1s, 2m]
region-urls:
  us: https://us.example.com
  eu: https://eu.example.com
max-body-bytes: 4096
`
	f, err := conffile.ParseFile("gh.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	c := Default()
	env := map[string]string{EnvPrefix + "JOB_TIMEOUT": "3m"}
	flagSet := map[string]bool{"max-body-bytes": true}
	targets := map[string]conffile.Target{}
	for _, s := range Settings {
		targets[s.FileKey()] = conffile.Target{Set: func(v string) error { return s.ParseValue(&c, v) }, Env: s.Env,
			Changed: func() bool { return flagSet[s.Flag] }, Secret: s.Secret, TakesMap: s.Flag == "region-urls", TakesList: s.TakesList()}
	}
	if _, err := f.Apply(targets, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.LogLevel != "debug" {
		t.Errorf("file: log-level = %q", c.LogLevel)
	}
	if c.JobTimeout != 2*time.Minute {
		t.Errorf("environment set job-timeout: the file must yield to it, got %s", c.JobTimeout) // ApplyEnv runs before: the default stays here
	}
	if c.MaxBodyBytes != 1<<20 {
		t.Errorf("a flag set max-body-bytes: the file must yield to it, got %d", c.MaxBodyBytes)
	}
	if got := c.WebhookRetrySchedule; len(got) != 2 || got[0] != time.Second || got[1] != 2*time.Minute {
		t.Errorf("webhook-retry-schedule = %v", got)
	}
	if got := strings.Join(c.RegionURLs, ","); got != "us=https://us.example.com,eu=https://eu.example.com" {
		t.Errorf("region-urls = %q", got)
	}

	for _, tc := range []struct{ text, want string }{
		{"log-level: debug\nadr: 1.2.3.4:80\n", `gh.yaml:2: unknown key "adr"`},
		{"\nanonymous-rate-limit: -5\n", `gh.yaml:2: anonymous-rate-limit "-5": want a number of requests per hour, 0 for none`},
		{"job-timeout: soon\n", `gh.yaml:1: job-timeout "soon": time: invalid duration "soon"`},
		{"rate-limit-fail: sometimes\n", `gh.yaml:1: rate-limit-fail "sometimes": want open or closed`},
	} {
		f, err := conffile.ParseFile("gh.yaml", []byte(tc.text))
		if err != nil {
			t.Fatal(err)
		}
		c := Default()
		targets := map[string]conffile.Target{}
		for _, s := range Settings {
			targets[s.FileKey()] = conffile.Target{Set: func(v string) error { return s.ParseValue(&c, v) }, Env: s.Env}
		}
		if _, err := f.Apply(targets, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.text, err, tc.want)
		}
	}
}

func TestSecretValues(t *testing.T) {
	t.Parallel()
	byEnv := map[string]Setting{}
	for _, s := range Settings {
		byEnv[s.Env] = s
	}
	for _, tc := range []struct {
		env, value string
		secret     bool
	}{
		{"GATEHOUSE_DATABASE_URL", "postgres://gh:s3cret@db:5432/gh", true},
		{"GATEHOUSE_DATABASE_URL", "postgres://gh@db:5432/gh", false},
		{"GATEHOUSE_DATABASE_URL", "host=db user=gh password=x", true},
		{"GATEHOUSE_REDIS_URL", "redis://:pw@redis:6379/0", true},
		{"GATEHOUSE_REDIS_URL", "redis://redis:6379/0", false},
		{"GATEHOUSE_SECRET_KEY", "abc", true},
		{"GATEHOUSE_ADDR", "0.0.0.0:8080", false},
	} {
		if got := byEnv[tc.env].Secret(tc.value); got != tc.secret {
			t.Errorf("%s=%s: secret %v, want %v", tc.env, tc.value, got, tc.secret)
		}
	}
	if k := byEnv["GATEHOUSE_SECRET_KEY"].FileKey(); k != "secret-key" {
		t.Errorf("file key of GATEHOUSE_SECRET_KEY = %q", k)
	}
}

func TestRegionSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		region string
		urls   []string
		want   string
	}{
		{"EU", nil, `region "EU": want a short name`},
		{"", []string{"us=https://us.example.com"}, "region-urls needs --region"},
		{"eu", []string{"us"}, `region-urls "us": want name=url pairs`},
		{"eu", []string{"us=ftp://us.example.com"}, "region-urls us: want an http:// or https:// URL"},
		{"eu", []string{"us=https://a.example.com", "us=https://b.example.com"}, "region us is named twice"},
		{"eu", []string{"us=https://us.example.com", "eu=https://eu.example.com/"}, ""},
	} {
		c := Default()
		c.Region, c.RegionURLs = tc.region, tc.urls
		err := c.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("region %q urls %v: err = %v, want %q", tc.region, tc.urls, err, tc.want)
		}
	}
	c := Default()
	c.Region, c.RegionURLs = "eu", []string{"us=https://us.example.com", "eu=https://eu.example.com/"}
	if got := c.APIURL("0.0.0.0:8080"); got != "https://eu.example.com" {
		t.Errorf("APIURL = %q", got)
	}
	c.RegionURLs = []string{"us=https://us.example.com"}
	if got := c.APIURL("0.0.0.0:8080"); got != "http://127.0.0.1:8080" {
		t.Errorf("APIURL without an own entry = %q", got)
	}
	c.TLSCert, c.TLSKey = "c.pem", "k.pem"
	if got := c.APIURL("0.0.0.0:8443"); got != "https://127.0.0.1:8443" {
		t.Errorf("APIURL over TLS = %q", got)
	}
}
