// Package config holds Gatehouse's settings: defaults in code, overridden by
// GATEHOUSE_* environment variables, overridden by command-line flags. Each
// setting is declared once, in Settings.
package config

import (
	"errors"
	"fmt"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/clientaddr"
	"github.com/gatehouse-dev/gatehouse/internal/memory"
)

// Config is everything a Gatehouse process needs to start.
type Config struct {
	// ConfigFile is a YAML file of settings (keys: flag names), below the
	// environment and the flags; empty: none.
	ConfigFile string
	// TLSCert and TLSKey are PEM files: with both, the public listener
	// serves HTTPS.
	TLSCert, TLSKey string
	// Region names this cluster's region (eu, us...); empty: no regions.
	// Organizations are homed in their cluster's region and their keys
	// carry it.
	Region string
	// RegionURLs are the public URLs of the regions, name=url each (the
	// other clusters'; this one's too, optionally).
	RegionURLs []string
	// Addr is the HTTP listen address of `gatehouse serve`.
	Addr string
	// AdminAddr is the listen address of the admin listener (Prometheus
	// metrics, pprof); empty: none.
	AdminAddr string
	// OTLPEndpoint is the OTLP/HTTP collector traces are sent to
	// (host:port or an http(s):// URL); empty: no tracing at all.
	OTLPEndpoint string
	// OTLPInsecure sends traces over plain HTTP instead of TLS.
	OTLPInsecure bool
	// TraceSampleRatio is the share of new traces recorded (parent-based:
	// a request whose traceparent says sampled is always recorded).
	TraceSampleRatio float64
	// SpanExporter, when set, receives every ended span at once instead of
	// an OTLP collector (tests: an in-memory exporter); not a setting.
	SpanExporter sdktrace.SpanExporter
	// PublicURL is the server's address as people and programs reach it
	// (scheme, host, maybe a port), for printed and shown links; empty
	// derives it from the listen address (see PublicBase).
	PublicURL string
	// DataDir holds the embedded SQLite database when DatabaseURL is empty.
	DataDir string
	// DatabaseURL selects PostgreSQL ("postgres://..."); empty means the
	// embedded SQLite database in DataDir.
	DatabaseURL string
	// DatabaseMaxConns bounds the PostgreSQL pool of this node (the
	// LISTEN connection and a held cluster lock's come on top).
	DatabaseMaxConns int
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// LogFormat is text or json.
	LogFormat string
	// MaxBodyBytes is the largest request body the API accepts.
	MaxBodyBytes int64
	// MemoryLimit is the Go runtime's soft memory limit in bytes; 0: not
	// set (GOMEMLIMIT applies).
	MemoryLimit int64
	// ShutdownTimeout bounds a graceful shutdown.
	ShutdownTimeout time.Duration
	// AutoInit creates the first organization when `serve` starts on an
	// empty database.
	AutoInit bool
	// LogBodyBytes is how much of each request and response body the API
	// log keeps (the rest is cut and the entry marked truncated).
	LogBodyBytes int
	// AuditRetention is how long the audit trail keeps an entry.
	AuditRetention time.Duration
	// RedisURL selects the Redis rate limit store shared by many nodes
	// ("redis://host:6379/0"); empty keeps the limits in this process.
	RedisURL string
	// AnonymousRateLimit is the hourly limit, per client address, of calls
	// without a valid key (0: not limited).
	AnonymousRateLimit int
	// TrustedProxies are the networks of the proxies in front of the
	// server, whose X-Forwarded-For names the client (clientaddr).
	TrustedProxies []string
	// SignInRateLimit bounds dashboard sign-in attempts per client address
	// and hour; while Redis is down each node enforces its share of it.
	SignInRateLimit int
	// RateLimitFailOpen: while Redis cannot be reached each node enforces
	// its share of every limit (1/RateLimitNodes until the live nodes have
	// been counted through Redis); open rounds the share up, closed rounds
	// it down (and refuses with 503 a limit below the node count, or a
	// caller whose limit cannot be read).
	RateLimitFailOpen bool
	// RateLimitNodes is how many nodes share Redis, assumed until they have
	// been counted through it.
	RateLimitNodes int
	// RateLimitTimeout bounds each Redis call of the rate limiter: slower,
	// and the node decides on its share until Redis answers in time again.
	RateLimitTimeout time.Duration

	// WebhookAllowNetworks are networks (CIDRs) webhook deliveries may
	// reach although they are private, loopback or link-local.
	WebhookAllowNetworks []string
	// WebhookRetrySchedule is the wait before each retry of a failed
	// delivery; its length plus one is the number of attempts.
	WebhookRetrySchedule []time.Duration
	// WebhookDisableAfter disables an endpoint that failed for this long.
	WebhookDisableAfter time.Duration
	// WebhookTimeout bounds one delivery attempt.
	WebhookTimeout time.Duration
	// JobTimeout bounds one run of a job task. A run cut off by a crash is
	// taken over by another node once its heartbeat is
	// jobs.DefaultStale(JobTimeout) old (at once on the embedded default,
	// where one process owns the data).
	JobTimeout time.Duration
	// JobWorkers is how many job tasks this node runs at once (0: 1 on
	// SQLite, 4 on PostgreSQL).
	JobWorkers int
	// JobPause is the rest between two tasks of a job, in percent of the
	// time the last one took.
	JobPause int
	// MaxImportBytes bounds an import file.
	MaxImportBytes int64
	// SandboxResetEvery is how often sandbox environments are reset.
	SandboxResetEvery time.Duration
	// DeleteGracePeriod is how long a deleted organization, project or
	// environment can be restored before it is purged for good.
	DeleteGracePeriod time.Duration
	// KeyOutageGrace is how long a key this node verified keeps working
	// while the database cannot be read (0: not at all).
	KeyOutageGrace time.Duration
	// SecureCookies marks the dashboard's cookies Secure: "auto" (when the
	// request came over TLS or X-Forwarded-Proto says https), "always" or
	// "never".
	SecureCookies string
	// CORSOrigins are the origins (scheme://host[:port], or "*" for any)
	// whose web pages may call the API from a browser; none: CORS is off.
	CORSOrigins []string

	// SecretKey is the instance's secret key (GATEHOUSE_SECRET_KEY only:
	// never a flag, which would show in ps). It seals the secrets the
	// database keeps (signing keys, webhook secrets).
	SecretKey string
	// SecretKeyFile holds the secret key instead. With neither set, the
	// embedded default keeps it in DataDir/secret.key (created on first
	// start); PostgreSQL deployments must set one of them.
	SecretKeyFile string
	// PreviousSecretKey and PreviousSecretKeyFile name a key being
	// replaced: it opens what it sealed until `gatehouse secret-key rotate`
	// re-seals everything with SecretKey.
	PreviousSecretKey     string
	PreviousSecretKeyFile string

	// OIDCIssuer is the OpenID Connect provider members may sign in with
	// (empty: none), OIDCClientID the dashboard's client there, and
	// OIDCClientSecret (GATEHOUSE_OIDC_CLIENT_SECRET only: never a flag) or
	// OIDCClientSecretFile its secret. OIDCName names it on the button.
	OIDCIssuer, OIDCClientID               string
	OIDCClientSecret, OIDCClientSecretFile string
	OIDCName                               string
	// SMTPURL is the mail server that sends invitations (empty: setup
	// links are shown to the inviter, not mailed); SMTPFrom their sender.
	SMTPURL, SMTPFrom string
	// PDPStreamsPerKey caps the change streams (GET /v1/pdp/changes) one
	// API key may hold open on one node; a PDP needs one.
	PDPStreamsPerKey int
	// PDPStreamsPerNode caps the change streams one node holds open.
	PDPStreamsPerNode int
	// PDPStreamBacklog is the most changes a stream replays to a client
	// that resumes from an older position; further behind, it is told to
	// load the snapshot again (a reset event).
	PDPStreamBacklog int
	// PDPUploadLimit is the hourly number of decision uploads (POST
	// /v1/pdp/decisions, up to 1,000 decisions each) one key may make, in a
	// bucket of its own (0: not limited).
	PDPUploadLimit int

	// Now is the clock of the services that read the time (tests set
	// their own); not a setting: Default gives time.Now.
	Now func() time.Time

	// StatusSampleEvery is how often the status page's components are
	// sampled (by one node of a cluster at a time).
	StatusSampleEvery time.Duration
}

// ParseDurations reads a comma-separated list of durations ("5s,5m,2h").
func ParseDurations(v string) ([]time.Duration, error) {
	var out []time.Duration
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		d, err := time.ParseDuration(part)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%q is not a positive duration such as 30s, 5m or 2h", part)
		}
		out = append(out, d)
	}
	return out, nil
}

// SplitList reads a comma-separated list.
func SplitList(v string) []string {
	var out []string
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// EnvPrefix prefixes every environment variable Gatehouse reads.
const EnvPrefix = "GATEHOUSE_"

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("tls-cert and tls-key go together: give both (a PEM certificate chain and its private key) or neither")
	}
	if err := c.validateRegions(); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("addr %q: %w", c.Addr, err)
	}
	if c.AdminAddr != "" {
		if _, _, err := net.SplitHostPort(c.AdminAddr); err != nil {
			return fmt.Errorf("admin-addr %q: %w", c.AdminAddr, err)
		}
		if c.AdminAddr == c.Addr {
			return fmt.Errorf("admin-addr %q: must differ from addr (metrics and pprof never go on the public port)", c.AdminAddr)
		}
	}
	if _, err := clientaddr.Parse(c.TrustedProxies); err != nil {
		return fmt.Errorf("trusted-proxies %s", err)
	}
	if c.TraceSampleRatio < 0 || c.TraceSampleRatio > 1 {
		return fmt.Errorf("trace-sample-ratio %v: must be between 0 and 1", c.TraceSampleRatio)
	}
	if c.PublicURL != "" {
		if err := checkPublicURL(c.PublicURL); err != nil {
			return fmt.Errorf("public-url %q: %w", c.PublicURL, err)
		}
	}
	if c.DatabaseURL == "" && c.DataDir == "" {
		return fmt.Errorf("data-dir is required when no database-url is set")
	}
	if c.DatabaseURL != "" && !c.IsPostgres() {
		return fmt.Errorf("database-url must start with postgres:// or postgresql://")
	}
	if c.DatabaseMaxConns < 1 {
		return fmt.Errorf("database-max-conns %d: must be at least 1", c.DatabaseMaxConns)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("log-format %q: want text or json", c.LogFormat)
	}
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		return fmt.Errorf("redis-url must start with redis:// or rediss://")
	}
	if c.RateLimitNodes < 1 {
		return fmt.Errorf("rate-limit-nodes %d: must be at least 1", c.RateLimitNodes)
	}
	if c.RateLimitTimeout < time.Millisecond || c.RateLimitTimeout > 10*time.Second {
		return fmt.Errorf("rate-limit-timeout %s: must be between 1ms and 10s", c.RateLimitTimeout)
	}
	if c.SignInRateLimit < 1 {
		return fmt.Errorf("sign-in-rate-limit %d: must be at least 1", c.SignInRateLimit)
	}
	if c.LogBodyBytes < 0 || c.LogBodyBytes > 16<<20 {
		return fmt.Errorf("log-body-bytes %d: must be between 0 and 16 MiB", c.LogBodyBytes)
	}
	if c.AuditRetention < 24*time.Hour {
		return fmt.Errorf("audit-retention %s: must be at least a day (24h)", c.AuditRetention)
	}
	if c.MemoryLimit != 0 && c.MemoryLimit < memory.MinLimit {
		return fmt.Errorf("memory-limit %s: must be at least %s (or 0: off)", memory.FormatSize(c.MemoryLimit), memory.FormatSize(memory.MinLimit))
	}
	if c.MaxBodyBytes < 1024 {
		return fmt.Errorf("max-body-bytes %d: must be at least 1024", c.MaxBodyBytes)
	}
	if len(c.WebhookRetrySchedule) == 0 || len(c.WebhookRetrySchedule) > 50 {
		return fmt.Errorf("webhook-retry-schedule: give 1 to 50 waits between attempts")
	}
	if c.WebhookDisableAfter < time.Minute {
		return fmt.Errorf("webhook-disable-after %s: must be at least a minute", c.WebhookDisableAfter)
	}
	if c.WebhookTimeout < time.Second || c.WebhookTimeout > 5*time.Minute {
		return fmt.Errorf("webhook-timeout %s: must be between 1s and 5m", c.WebhookTimeout)
	}
	if c.JobTimeout < time.Second {
		return fmt.Errorf("job-timeout %s: must be at least a second", c.JobTimeout)
	}
	if c.JobWorkers < 0 || c.JobWorkers > 64 {
		return fmt.Errorf("job-workers %d: must be between 0 (automatic) and 64", c.JobWorkers)
	}
	if c.JobPause < 0 || c.JobPause > 10000 {
		return fmt.Errorf("job-pause %d: must be between 0 and 10000 (percent)", c.JobPause)
	}
	if c.MaxImportBytes < 1024 {
		return fmt.Errorf("max-import-bytes %d: must be at least 1024", c.MaxImportBytes)
	}
	switch c.SecureCookies {
	case "auto", "always", "never":
	default:
		return fmt.Errorf("secure-cookies %q: want auto, always or never", c.SecureCookies)
	}
	for _, o := range c.CORSOrigins {
		if _, err := NormalOrigin(o); err != nil {
			return fmt.Errorf("cors-origins: %q %w", o, err)
		}
	}
	if c.SecretKey != "" && c.SecretKeyFile != "" {
		return fmt.Errorf("give the secret key once: GATEHOUSE_SECRET_KEY or --secret-key-file, not both")
	}
	if c.IsPostgres() && c.SecretKey == "" && c.SecretKeyFile == "" {
		return fmt.Errorf("PostgreSQL deployments need a secret key kept outside the database: set GATEHOUSE_SECRET_KEY or --secret-key-file to the same key on every node (make one with `gatehouse secret-key generate`)")
	}
	if err := c.validateMembersSignIn(); err != nil {
		return err
	}
	if c.PDPStreamsPerKey < 1 {
		return fmt.Errorf("pdp-streams-per-key %d: must be at least 1 (a PDP needs one stream)", c.PDPStreamsPerKey)
	}
	if c.PDPStreamsPerNode < c.PDPStreamsPerKey {
		return fmt.Errorf("pdp-streams-per-node %d: must be at least pdp-streams-per-key (%d)", c.PDPStreamsPerNode, c.PDPStreamsPerKey)
	}
	if c.PDPStreamBacklog < 1 {
		return fmt.Errorf("pdp-stream-backlog %d: must be at least 1", c.PDPStreamBacklog)
	}
	if c.PDPUploadLimit < 0 {
		return fmt.Errorf("pdp-upload-limit %d: want uploads per hour per key, 0 for none", c.PDPUploadLimit)
	}
	if c.KeyOutageGrace < 0 {
		return fmt.Errorf("key-outage-grace %s: must not be negative (0 turns it off)", c.KeyOutageGrace)
	}
	if c.StatusSampleEvery < 100*time.Millisecond {
		return fmt.Errorf("status-sample-interval %s: must be at least 100ms", c.StatusSampleEvery)
	}
	if c.DeleteGracePeriod < time.Minute {
		return fmt.Errorf("delete-grace-period %s: must be at least a minute", c.DeleteGracePeriod)
	}
	if c.SandboxResetEvery < time.Minute {
		return fmt.Errorf("sandbox-reset-every %s: must be at least a minute", c.SandboxResetEvery)
	}
	return nil
}

// NormalOrigin is a --cors-origins value as a browser's Origin header
// spells it: "*" (any origin) or scheme://host[:port] in lower case,
// without a trailing slash. Anything else (a path, another scheme) is an
// error saying what an origin looks like.
func NormalOrigin(o string) (string, error) {
	if o == "*" {
		return o, nil
	}
	u, err := url.Parse(strings.TrimSuffix(o, "/"))
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		return "", errors.New("is not an origin: want scheme://host[:port], such as https://app.example.com, or * for any origin")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", errors.New("is not an origin: its scheme must be http or https")
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.HasSuffix(u.Host, ":"):
		return "", errors.New("is not an origin: an origin is scheme://host[:port] alone, without path, query or user")
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// NormalOrigins are c.CORSOrigins as NormalOrigin spells them (the valid
// ones: Validate reports the others).
func (c Config) NormalOrigins() []string {
	var out []string
	for _, o := range c.CORSOrigins {
		if n, err := NormalOrigin(o); err == nil {
			out = append(out, n)
		}
	}
	return out
}

func checkPublicURL(v string) error {
	u, err := url.Parse(v)
	switch {
	case err != nil:
		return errors.New("want a URL like https://auth.example.com")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("want an http:// or https:// URL, like https://auth.example.com")
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return errors.New("want a scheme and a host (and maybe a port), like https://auth.example.com")
	}
	return nil
}

// PublicBase is the base of the links this server hands out (no trailing
// slash): PublicURL when set, else http:// and listenAddr, with a wildcard
// host (":8080", "0.0.0.0:8080", "[::]:8080") read as 127.0.0.1.
func (c Config) PublicBase(listenAddr string) string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	host, port, err := net.SplitHostPort(listenAddr)
	if err != nil {
		if c.TLSCert != "" {
			return "https://" + listenAddr
		}
		return "http://" + listenAddr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	scheme := "http://"
	if c.TLSCert != "" {
		scheme = "https://"
	}
	return scheme + net.JoinHostPort(host, port)
}

// IsPostgres reports whether DatabaseURL selects PostgreSQL.
func (c Config) IsPostgres() bool {
	return strings.HasPrefix(c.DatabaseURL, "postgres://") || strings.HasPrefix(c.DatabaseURL, "postgresql://")
}

// SQLitePath is the embedded database file.
func (c Config) SQLitePath() string { return filepath.Join(c.DataDir, "gatehouse.db") }

// LogSQLitePath is the embedded log database file (the decision log), kept
// apart so that log writes never contend with the main data.
func (c Config) LogSQLitePath() string { return filepath.Join(c.DataDir, "logs.db") }

// regionName is a region's name: lower-case letters, digits and dashes.
func validRegionName(r string) bool {
	if r == "" || len(r) > 32 || r[0] == '-' {
		return false
	}
	for _, ch := range r {
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-') {
			return false
		}
	}
	return true
}

func (c Config) validateRegions() error {
	if c.Region != "" && !validRegionName(c.Region) {
		return fmt.Errorf("region %q: want a short name of lower-case letters, digits and dashes, like eu or us-east", c.Region)
	}
	if len(c.RegionURLs) > 0 && c.Region == "" {
		return fmt.Errorf("region-urls needs --region: name this cluster's region too")
	}
	seen := map[string]bool{}
	for _, pair := range c.RegionURLs {
		name, u, ok := strings.Cut(pair, "=")
		if !ok || !validRegionName(name) {
			return fmt.Errorf("region-urls %q: want name=url pairs, like us=https://us.auth.example.com,eu=https://eu.auth.example.com", pair)
		}
		if seen[name] {
			return fmt.Errorf("region-urls: region %s is named twice", name)
		}
		seen[name] = true
		if err := checkPublicURL(u); err != nil {
			return fmt.Errorf("region-urls %s: %w", name, err)
		}
	}
	return nil
}

// RegionURL is the public URL of region (no trailing slash): from
// RegionURLs, or for this cluster's own region without an entry, "" (the
// caller uses PublicBase).
func (c Config) RegionURL(region string) string {
	for _, pair := range c.RegionURLs {
		if name, u, ok := strings.Cut(pair, "="); ok && name == region {
			return strings.TrimRight(u, "/")
		}
	}
	return ""
}

// APIURL is the URL to give SDKs as apiUrl: this region's entry in
// RegionURLs, else PublicBase(listenAddr).
func (c Config) APIURL(listenAddr string) string {
	if c.Region != "" {
		if u := c.RegionURL(c.Region); u != "" {
			return u
		}
	}
	return c.PublicBase(listenAddr)
}
