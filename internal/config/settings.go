package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/conffile"
	"github.com/gatehouse-dev/gatehouse/internal/logging"
	"github.com/gatehouse-dev/gatehouse/internal/memory"
)

// Setting declares one setting once: its field in Config, its default, its
// command-line flag, its environment variable and its help. The flags, the
// environment reading, the defaults and the README's configuration table
// are all derived from Settings.
type Setting struct {
	// Flag is the flag's name without dashes; empty for a setting read
	// only from the environment (a secret, which a flag would show in ps).
	Flag string
	// Env is the environment variable, GATEHOUSE_ included.
	Env string
	// Global makes the flag one of every command that opens the server's
	// database (serve, init, migrate, setup-link, secret-key rotate): a
	// database or logging setting. Otherwise it is a flag of `serve`.
	Global bool
	// Help is the flag's help; the flag's usage adds "(env <Env>)".
	Help string
	// NoDefault describes, in the README, what an empty default means.
	NoDefault string
	// Want says what a bad environment value should look like; empty
	// reports the parser's own error.
	Want string
	// Min is the least whole number accepted from the environment.
	Min *int64

	field field
}

// TakesList reports whether the setting is a list (a,b,...).
func (s Setting) TakesList() bool {
	switch s.field.ptr(&Config{}).(type) {
	case *[]string, *[]time.Duration:
		return true
	}
	return false
}

// field is a typed Config field seen untyped: its address and its default.
type field struct {
	ptr        func(*Config) any
	setDefault func(*Config)
}

func of[T any](get func(*Config) *T, def T) field {
	return field{ptr: func(c *Config) any { return get(c) }, setDefault: func(c *Config) { *get(c) = def }}
}

// Value is a setting with a textual form of its own (a flag.Value).
type Value interface {
	String() string
	Set(string) error
	Type() string
}

// Ptr is the setting's field in c: a *string, *int, *int64, *bool,
// *time.Duration, *[]time.Duration, *[]string or a Value.
func (s Setting) Ptr(c *Config) any { return s.field.ptr(c) }

// Usage is the flag's help text.
func (s Setting) Usage() string { return s.Help + " (env " + s.Env + ")" }

// DefaultText is the default as the environment variable would spell it
// ("" when empty).
func (s Setting) DefaultText() string {
	c := Default()
	return format(s.Ptr(&c))
}

// FailMode is a bool spelt open (true) or closed (false): what the rate
// limiter does when Redis is unreachable.
type FailMode struct{ Open *bool }

func (f FailMode) String() string {
	if f.Open == nil || *f.Open {
		return "open"
	}
	return "closed"
}

// Set reads open or closed.
func (f FailMode) Set(v string) error {
	switch v {
	case "open":
		*f.Open = true
	case "closed":
		*f.Open = false
	default:
		return fmt.Errorf("want open or closed")
	}
	return nil
}

// Type names the values in flag help.
func (FailMode) Type() string { return "open|closed" }

// Ratio is a float64 spelt as a number from 0 to 1: a share.
type Ratio struct{ P *float64 }

func (r Ratio) String() string {
	if r.P == nil {
		return "0"
	}
	return strconv.FormatFloat(*r.P, 'g', -1, 64)
}

// Set reads a number from 0 to 1.
func (r Ratio) Set(v string) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1 {
		return fmt.Errorf("want a number from 0 to 1")
	}
	*r.P = f
	return nil
}

// Type names the values in flag help.
func (Ratio) Type() string { return "0..1" }

// Size is an int64 of bytes spelt with an optional unit (100MiB, 64MB);
// 0 (or off) is none.
type Size struct{ N *int64 }

func (s Size) String() string {
	if s.N == nil {
		return ""
	}
	return memory.FormatSize(*s.N)
}

// Set reads a size.
func (s Size) Set(v string) error {
	n, err := memory.ParseSize(v)
	if err != nil {
		return err
	}
	*s.N = n
	return nil
}

// Type names the values in flag help.
func (Size) Type() string { return "size" }

func minimum(n int64) *int64 { return &n }

// Settings is every setting, in the order of the README's table.
var Settings = []Setting{
	{Flag: conffile.Flag, Env: conffile.Env, Global: true, NoDefault: "(none)", Help: conffile.Help,
		field: of(func(c *Config) *string { return &c.ConfigFile }, "")},
	{Flag: "addr", Env: EnvPrefix + "ADDR", Help: "listen address",
		field: of(func(c *Config) *string { return &c.Addr }, "127.0.0.1:8080")},
	{Flag: "admin-addr", Env: EnvPrefix + "ADMIN_ADDR", NoDefault: "(empty: off)",
		Help:  "listen address of the admin listener serving Prometheus /metrics and /debug/pprof/ (e.g. 127.0.0.1:9090); never the public port; keep it off the internet; empty: off",
		field: of(func(c *Config) *string { return &c.AdminAddr }, "")},
	{Flag: "otlp-endpoint", Env: EnvPrefix + "OTLP_ENDPOINT", NoDefault: "(empty: off)",
		Help:  "OTLP/HTTP collector to send OpenTelemetry traces to (host:port, or an http(s):// URL with its path); empty: no tracing, at no cost",
		field: of(func(c *Config) *string { return &c.OTLPEndpoint }, "")},
	{Flag: "otlp-insecure", Env: EnvPrefix + "OTLP_INSECURE",
		Help:  "send traces to the --otlp-endpoint over plain HTTP, not TLS (a collector on loopback or a private network)",
		field: of(func(c *Config) *bool { return &c.OTLPInsecure }, false)},
	{Flag: "trace-sample-ratio", Env: EnvPrefix + "TRACE_SAMPLE_RATIO", Want: "a number from 0 to 1",
		Help: "share of new traces recorded when --otlp-endpoint is set; a request whose traceparent is sampled is always recorded, one whose traceparent is not sampled never",
		field: field{ptr: func(c *Config) any { return Ratio{&c.TraceSampleRatio} },
			setDefault: func(c *Config) { c.TraceSampleRatio = 1 }}},
	{Flag: "public-url", Env: EnvPrefix + "PUBLIC_URL", NoDefault: "(empty: http:// and the listen address)",
		Help:  "the address people reach this server at (e.g. https://auth.example.com behind a proxy): the links serve, init and setup-link print and the dashboard shows",
		field: of(func(c *Config) *string { return &c.PublicURL }, "")},
	{Flag: "tls-cert", Env: EnvPrefix + "TLS_CERT", NoDefault: "(none: plain HTTP)",
		Help:  "PEM certificate (chain) file: with --tls-key, the public listener serves HTTPS",
		field: of(func(c *Config) *string { return &c.TLSCert }, "")},
	{Flag: "tls-key", Env: EnvPrefix + "TLS_KEY", NoDefault: "(none: plain HTTP)",
		Help:  "PEM private key file of --tls-cert",
		field: of(func(c *Config) *string { return &c.TLSKey }, "")},
	{Flag: "region", Env: EnvPrefix + "REGION", Global: true, NoDefault: "(none: no regions)",
		Help:  "this cluster's region (e.g. eu): its organizations are homed here and their keys carry it; a key of another region gets 421 naming its region's URL",
		field: of(func(c *Config) *string { return &c.Region }, "")},
	{Flag: "region-urls", Env: EnvPrefix + "REGION_URLS", Global: true, NoDefault: "(none)",
		Help:  "public URLs of the regions, name=url comma-separated (us=https://us.auth.example.com,eu=https://eu.auth.example.com)",
		field: of(func(c *Config) *[]string { return &c.RegionURLs }, nil)},
	{Flag: "data-dir", Env: EnvPrefix + "DATA_DIR", Global: true, Help: "folder of the embedded SQLite database",
		field: of(func(c *Config) *string { return &c.DataDir }, "gatehouse-data")},
	{Flag: "database-url", Env: EnvPrefix + "DATABASE_URL", Global: true, NoDefault: "(empty: SQLite)",
		Help:  "PostgreSQL URL (postgres://...); empty uses SQLite in --data-dir",
		field: of(func(c *Config) *string { return &c.DatabaseURL }, "")},
	{Flag: "database-max-conns", Env: EnvPrefix + "DATABASE_MAX_CONNS", Global: true, Want: "a number of connections, at least 1", Min: minimum(1),
		Help:  "PostgreSQL connections this node's pool opens at most (plus one for LISTEN and one while it holds a cluster lock)",
		field: of(func(c *Config) *int { return &c.DatabaseMaxConns }, 20)},
	{Flag: logging.Level.Flag, Env: logging.Level.Env, Global: true, Help: logging.Level.Help,
		field: of(func(c *Config) *string { return &c.LogLevel }, logging.Level.Default)},
	{Flag: logging.Format.Flag, Env: logging.Format.Env, Global: true, Help: logging.Format.Help,
		field: of(func(c *Config) *string { return &c.LogFormat }, logging.Format.Default)},
	{Flag: "max-body-bytes", Env: EnvPrefix + "MAX_BODY_BYTES", Help: "largest request body accepted",
		field: of(func(c *Config) *int64 { return &c.MaxBodyBytes }, 1<<20)},
	{Flag: "memory-limit", Env: EnvPrefix + "MEMORY_LIMIT", NoDefault: "(empty: off)",
		Help: "the Go runtime's soft memory limit (debug.SetMemoryLimit), such as 100MiB: the collector works harder as the heap nears it, " +
			"so the process keeps less idle memory; not a cap (a node that needs more gets more); at least 16MiB; empty or 0: off (GOMEMLIMIT applies)",
		field: field{ptr: func(c *Config) any { return Size{&c.MemoryLimit} }, setDefault: func(c *Config) { c.MemoryLimit = 0 }}},
	{Flag: "auto-init", Env: EnvPrefix + "AUTO_INIT", Help: "create the first organization on an empty database",
		field: of(func(c *Config) *bool { return &c.AutoInit }, true)},
	{Flag: "redis-url", Env: EnvPrefix + "REDIS_URL", NoDefault: "(empty: in memory)",
		Help:  "Redis for rate limits shared by many nodes (redis://host:6379/0); empty keeps them in this process",
		field: of(func(c *Config) *string { return &c.RedisURL }, "")},
	{Flag: "rate-limit-fail", Env: EnvPrefix + "RATE_LIMIT_FAIL", Want: "open or closed",
		Help: "while Redis is unreachable each node enforces its share of every limit (limit/N): open rounds the share up, closed rounds it down (503 when it is zero)",
		field: field{ptr: func(c *Config) any { return FailMode{&c.RateLimitFailOpen} },
			setDefault: func(c *Config) { c.RateLimitFailOpen = true }}},
	{Flag: "rate-limit-nodes", Env: EnvPrefix + "RATE_LIMIT_NODES", Want: "a number of nodes, at least 1", Min: minimum(1),
		Help:  "how many nodes share Redis (the N of each node's share while Redis is unreachable), until the nodes have counted themselves through Redis",
		field: of(func(c *Config) *int { return &c.RateLimitNodes }, 1)},
	{Flag: "rate-limit-timeout", Env: EnvPrefix + "RATE_LIMIT_TIMEOUT",
		Help:  "how long a rate limit decision waits for Redis; slower, and the node enforces its share until Redis answers in time",
		field: of(func(c *Config) *time.Duration { return &c.RateLimitTimeout }, 200*time.Millisecond)},
	{Flag: "anonymous-rate-limit", Env: EnvPrefix + "ANONYMOUS_RATE_LIMIT", Want: "a number of requests per hour, 0 for none", Min: minimum(0),
		Help:  "hourly limit per client address of calls without a valid key, 0 for none",
		field: of(func(c *Config) *int { return &c.AnonymousRateLimit }, 1000)},
	{Flag: "trusted-proxies", Env: EnvPrefix + "TRUSTED_PROXIES", NoDefault: "(none: the peer is the client)",
		Help:  "addresses or networks of the proxies or load balancers in front of the server (theirs, not the whole network they sit in), e.g. 10.1.2.0/28,127.0.0.1: a request from one of them is from the address its X-Forwarded-For names (read from the right, past every trusted proxy), for rate limits, the API log and the audit trail; empty: the connection's peer is the client and the header is ignored",
		field: of(func(c *Config) *[]string { return &c.TrustedProxies }, nil)},
	{Flag: "log-body-bytes", Env: EnvPrefix + "LOG_BODY_BYTES", Help: "how much of each request and response body the API log keeps",
		field: of(func(c *Config) *int { return &c.LogBodyBytes }, 64<<10)},
	{Flag: "audit-retention", Env: EnvPrefix + "AUDIT_RETENTION", Help: "how long the audit trail keeps each entry (apart from the organizations' log retention)",
		field: of(func(c *Config) *time.Duration { return &c.AuditRetention }, 365*24*time.Hour)},
	{Flag: "secure-cookies", Env: EnvPrefix + "SECURE_COOKIES",
		Help:  "mark the dashboard's cookies Secure: auto (over TLS or X-Forwarded-Proto: https), always or never",
		field: of(func(c *Config) *string { return &c.SecureCookies }, "auto")},
	{Flag: "cors-origins", Env: EnvPrefix + "CORS_ORIGINS", NoDefault: "(none: off)",
		Help:  "origins whose web pages may call the API from a browser (CORS), e.g. https://a.example,https://b.example; * for any; empty: off",
		field: of(func(c *Config) *[]string { return &c.CORSOrigins }, nil)},
	{Flag: "webhook-allow-networks", Env: EnvPrefix + "WEBHOOK_ALLOW_NETWORKS", NoDefault: "(none)",
		Help:  "networks (CIDRs) webhook deliveries may reach although private or loopback, e.g. 10.0.0.0/8,127.0.0.1",
		field: of(func(c *Config) *[]string { return &c.WebhookAllowNetworks }, nil)},
	{Flag: "webhook-retry-schedule", Env: EnvPrefix + "WEBHOOK_RETRY_SCHEDULE",
		Help: "wait before each retry of a failed delivery; attempts = waits + 1",
		field: of(func(c *Config) *[]time.Duration { return &c.WebhookRetrySchedule }, []time.Duration{5 * time.Second, 5 * time.Minute,
			30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 24 * time.Hour})},
	{Flag: "webhook-disable-after", Env: EnvPrefix + "WEBHOOK_DISABLE_AFTER", Help: "disable an endpoint whose every attempt failed for this long",
		field: of(func(c *Config) *time.Duration { return &c.WebhookDisableAfter }, 5*24*time.Hour)},
	{Flag: "webhook-timeout", Env: EnvPrefix + "WEBHOOK_TIMEOUT", Help: "time limit of one delivery attempt",
		field: of(func(c *Config) *time.Duration { return &c.WebhookTimeout }, 15*time.Second)},
	{Flag: "job-timeout", Env: EnvPrefix + "JOB_TIMEOUT", Help: "time limit of one job task; a stopped node's running task is taken over once its heartbeat is a quarter of this old (1s to 30s)",
		field: of(func(c *Config) *time.Duration { return &c.JobTimeout }, 2*time.Minute)},
	{Flag: "job-workers", Env: EnvPrefix + "JOB_WORKERS", Want: "a number of tasks, 0 for automatic", Min: minimum(0),
		Help:  "job tasks (import batches…) this node runs at once; 0: 1 on the embedded SQLite (one writer, shared with the API), 4 on PostgreSQL",
		field: of(func(c *Config) *int { return &c.JobWorkers }, 0)},
	{Flag: "job-pause", Env: EnvPrefix + "JOB_PAUSE", Want: "a percentage, 0 for none", Min: minimum(0),
		Help:  "rest between two tasks of a job, in percent of the time the last one took (the API's share of the writer and the CPU during an import); 0 for none",
		field: of(func(c *Config) *int { return &c.JobPause }, 100)},
	{Flag: "max-import-bytes", Env: EnvPrefix + "MAX_IMPORT_BYTES", Help: "largest import file accepted",
		field: of(func(c *Config) *int64 { return &c.MaxImportBytes }, 1<<30)},
	{Flag: "sandbox-reset-every", Env: EnvPrefix + "SANDBOX_RESET_EVERY", Help: "how often sandbox environments' data is reset",
		field: of(func(c *Config) *time.Duration { return &c.SandboxResetEvery }, 24*time.Hour)},
	{Flag: "pdp-streams-per-key", Env: EnvPrefix + "PDP_STREAMS_PER_KEY", Want: "a whole number",
		Help:  "change streams (GET /v1/pdp/changes) one API key may hold open on this node",
		field: of(func(c *Config) *int { return &c.PDPStreamsPerKey }, 8)},
	{Flag: "pdp-streams-per-node", Env: EnvPrefix + "PDP_STREAMS_PER_NODE", Want: "a whole number",
		Help:  "change streams this node holds open at most",
		field: of(func(c *Config) *int { return &c.PDPStreamsPerNode }, 1000)},
	{Flag: "pdp-stream-backlog", Env: EnvPrefix + "PDP_STREAM_BACKLOG", Want: "a whole number",
		Help:  "most changes a resuming stream replays; further behind, the client reloads the snapshot",
		field: of(func(c *Config) *int { return &c.PDPStreamBacklog }, 10_000)},
	{Flag: "pdp-upload-limit", Env: EnvPrefix + "PDP_UPLOAD_LIMIT", Want: "a whole number",
		Help:  "decision uploads (POST /v1/pdp/decisions) per hour per key, 0 for none",
		field: of(func(c *Config) *int { return &c.PDPUploadLimit }, 3600)},
	{Flag: "secret-key-file", Env: EnvPrefix + "SECRET_KEY_FILE", Global: true,
		NoDefault: "SQLite: `<data-dir>/secret.key`, made on first start; PostgreSQL: **required**",
		Help:      "file holding the secret key that encrypts secrets at rest; the key itself may instead be in GATEHOUSE_SECRET_KEY; default for SQLite: <data-dir>/secret.key, made on first start",
		field:     of(func(c *Config) *string { return &c.SecretKeyFile }, "")},
	{Env: EnvPrefix + "SECRET_KEY", NoDefault: "(none)", Help: "the secret key itself, instead of a file",
		field: of(func(c *Config) *string { return &c.SecretKey }, "")},
	{Flag: "previous-secret-key-file", Env: EnvPrefix + "PREVIOUS_SECRET_KEY_FILE", Global: true, NoDefault: "(none)",
		Help:  "file holding the secret key being replaced, during a rotation",
		field: of(func(c *Config) *string { return &c.PreviousSecretKeyFile }, "")},
	{Env: EnvPrefix + "PREVIOUS_SECRET_KEY", NoDefault: "(none)", Help: "the secret key being replaced itself, instead of a file",
		field: of(func(c *Config) *string { return &c.PreviousSecretKey }, "")},
	{Flag: "sign-in-rate-limit", Env: EnvPrefix + "SIGN_IN_RATE_LIMIT", Want: "a number of attempts per hour, at least 1", Min: minimum(1),
		Help:  "dashboard sign-in attempts per client address and hour; enforced by each node alone while Redis is down",
		field: of(func(c *Config) *int { return &c.SignInRateLimit }, 60)},
	{Flag: "oidc-issuer", Env: EnvPrefix + "OIDC_ISSUER", NoDefault: "(none: password sign-in only)",
		Help:  "OpenID Connect provider members may sign in to the dashboard with (its issuer URL, https://, or http:// on loopback); needs --oidc-client-id, a client secret and --public-url",
		field: of(func(c *Config) *string { return &c.OIDCIssuer }, "")},
	{Flag: "oidc-client-id", Env: EnvPrefix + "OIDC_CLIENT_ID", NoDefault: "(none)",
		Help:  "the dashboard's client id at the --oidc-issuer",
		field: of(func(c *Config) *string { return &c.OIDCClientID }, "")},
	{Flag: "oidc-client-secret-file", Env: EnvPrefix + "OIDC_CLIENT_SECRET_FILE", NoDefault: "(none)",
		Help:  "file holding the dashboard's client secret at the --oidc-issuer; the secret itself may instead be in GATEHOUSE_OIDC_CLIENT_SECRET",
		field: of(func(c *Config) *string { return &c.OIDCClientSecretFile }, "")},
	{Env: EnvPrefix + "OIDC_CLIENT_SECRET", NoDefault: "(none)", Help: "the OIDC client secret itself, instead of a file",
		field: of(func(c *Config) *string { return &c.OIDCClientSecret }, "")},
	{Flag: "oidc-name", Env: EnvPrefix + "OIDC_NAME", NoDefault: "(the issuer's host)",
		Help:  "the provider's name on the sign-in page's button (Sign in with <name>)",
		field: of(func(c *Config) *string { return &c.OIDCName }, "")},
	{Flag: "smtp-url", Env: EnvPrefix + "SMTP_URL", NoDefault: "(none: setup links are shown, not mailed)",
		Help:  "mail server that sends invitations to new members (smtp://user:pass@host:587 with STARTTLS, smtps://user:pass@host:465); needs --smtp-from and --public-url",
		field: of(func(c *Config) *string { return &c.SMTPURL }, "")},
	{Flag: "smtp-from", Env: EnvPrefix + "SMTP_FROM", NoDefault: "(none)",
		Help:  "the From address of the mail Gatehouse sends (Gatehouse <gatehouse@example.com>)",
		field: of(func(c *Config) *string { return &c.SMTPFrom }, "")},
	{Flag: "delete-grace-period", Env: EnvPrefix + "DELETE_GRACE_PERIOD",
		Help:  "how long a deleted organization, project or environment can be restored before it is purged",
		field: of(func(c *Config) *time.Duration { return &c.DeleteGracePeriod }, 7*24*time.Hour)},
	{Flag: "status-sample-interval", Env: EnvPrefix + "STATUS_SAMPLE_INTERVAL",
		Help:  "how often one node samples each component's state for the status page (/status, /v1/status); uptime is the fraction of samples up",
		field: of(func(c *Config) *time.Duration { return &c.StatusSampleEvery }, time.Minute)},
	{Flag: "key-outage-grace", Env: EnvPrefix + "KEY_OUTAGE_GRACE",
		Help:  "while the database cannot be read, keys this node verified within this long keep working (checks go on from memory; a revocation made elsewhere during the outage is not seen until it ends); 0 turns it off",
		field: of(func(c *Config) *time.Duration { return &c.KeyOutageGrace }, 10*time.Minute)},
	{Env: EnvPrefix + "SHUTDOWN_TIMEOUT", Help: "graceful shutdown bound",
		field: of(func(c *Config) *time.Duration { return &c.ShutdownTimeout }, 15*time.Second)},
}

// Default returns the built-in defaults.
func Default() Config {
	c := Config{Now: time.Now}
	for _, s := range Settings {
		s.field.setDefault(&c)
	}
	return c
}

// ApplyEnv overrides c with the GATEHOUSE_* variables that are set.
func (c *Config) ApplyEnv(getenv func(string) string) error {
	for _, s := range Settings {
		v := getenv(s.Env)
		if v == "" {
			continue
		}
		if err := s.parse(c, v); err != nil {
			if s.Want != "" {
				return fmt.Errorf("%s %q: want %s", s.Env, v, s.Want)
			}
			return fmt.Errorf("%s: %w", s.Env, err)
		}
	}
	return nil
}

// parse sets the setting's field in c from its textual form v.
func (s Setting) parse(c *Config, v string) error {
	atLeast := func(n int64) error {
		if s.Min != nil && n < *s.Min {
			return fmt.Errorf("%d is less than %d", n, *s.Min)
		}
		return nil
	}
	switch p := s.Ptr(c).(type) {
	case *string:
		*p = v
	case *int:
		n, err := strconv.Atoi(v)
		if err == nil {
			err = atLeast(int64(n))
		}
		if err != nil {
			return err
		}
		*p = n
	case *int64:
		n, err := strconv.ParseInt(v, 10, 64)
		if err == nil {
			err = atLeast(n)
		}
		if err != nil {
			return err
		}
		*p = n
	case *bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return err
		}
		*p = b
	case *time.Duration:
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		*p = d
	case *[]time.Duration:
		ds, err := ParseDurations(v)
		if err != nil {
			return err
		}
		*p = ds
	case *[]string:
		*p = SplitList(v)
	case Value:
		return p.Set(v)
	default:
		return fmt.Errorf("setting %s: no parser for %T", s.Env, p)
	}
	return nil
}

// format spells a setting's value the way its environment variable takes
// it; durations lose their zero minutes and seconds (2h, not 2h0m0s).
func format(v any) string {
	short := func(d time.Duration) string {
		s := d.String()
		if strings.HasSuffix(s, "m0s") {
			s = strings.TrimSuffix(s, "0s")
		}
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
		return s
	}
	switch p := v.(type) {
	case *string:
		return *p
	case *int:
		return strconv.Itoa(*p)
	case *int64:
		return strconv.FormatInt(*p, 10)
	case *bool:
		return strconv.FormatBool(*p)
	case *time.Duration:
		return short(*p)
	case *[]time.Duration:
		parts := make([]string, len(*p))
		for i, d := range *p {
			parts[i] = short(d)
		}
		return strings.Join(parts, ",")
	case *[]string:
		return strings.Join(*p, ",")
	case Value:
		return p.String()
	}
	return fmt.Sprint(v)
}
