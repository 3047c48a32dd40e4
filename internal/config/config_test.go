package config

import (
	"strings"
	"testing"
	"time"
)

func TestApplyEnvAndValidate(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr bool
		check   func(t *testing.T, c Config)
	}{
		{name: "defaults", check: func(t *testing.T, c Config) {
			if c.Addr != "127.0.0.1:8080" || c.DataDir != "gatehouse-data" || !c.AutoInit {
				t.Fatalf("unexpected defaults %+v", c)
			}
		}},
		{name: "env overrides", env: map[string]string{"GATEHOUSE_ADDR": "127.0.0.1:9999", "GATEHOUSE_SHUTDOWN_TIMEOUT": "3s", "GATEHOUSE_AUTO_INIT": "false"},
			check: func(t *testing.T, c Config) {
				if c.Addr != "127.0.0.1:9999" || c.ShutdownTimeout != 3*time.Second || c.AutoInit {
					t.Fatalf("env not applied: %+v", c)
				}
			}},
		{name: "postgres url", env: map[string]string{"GATEHOUSE_DATABASE_URL": "postgres://u@h/db", "GATEHOUSE_SECRET_KEY": "k"}, check: func(t *testing.T, c Config) {
			if !c.IsPostgres() {
				t.Fatal("want postgres")
			}
		}},
		{name: "database pool", env: map[string]string{"GATEHOUSE_DATABASE_MAX_CONNS": "50"}, check: func(t *testing.T, c Config) {
			if c.DatabaseMaxConns != 50 {
				t.Fatalf("database-max-conns %d", c.DatabaseMaxConns)
			}
		}},
		{name: "database pool default", check: func(t *testing.T, c Config) {
			if c.DatabaseMaxConns != 20 {
				t.Fatalf("database-max-conns %d", c.DatabaseMaxConns)
			}
		}},
		{name: "empty database pool", env: map[string]string{"GATEHOUSE_DATABASE_MAX_CONNS": "0"}, wantErr: true},
		{name: "database pool not a number", env: map[string]string{"GATEHOUSE_DATABASE_MAX_CONNS": "many"}, wantErr: true},
		{name: "postgres without a secret key", env: map[string]string{"GATEHOUSE_DATABASE_URL": "postgres://u@h/db"}, wantErr: true},
		{name: "secret key twice", env: map[string]string{"GATEHOUSE_SECRET_KEY": "k", "GATEHOUSE_SECRET_KEY_FILE": "/k"}, wantErr: true},
		{name: "bad url", env: map[string]string{"GATEHOUSE_DATABASE_URL": "mysql://x"}, wantErr: true},
		{name: "bad addr", env: map[string]string{"GATEHOUSE_ADDR": "nope"}, wantErr: true},
		{name: "admin listener off by default", check: func(t *testing.T, c Config) {
			if c.AdminAddr != "" {
				t.Fatalf("admin addr %q", c.AdminAddr)
			}
		}},
		{name: "admin listener", env: map[string]string{"GATEHOUSE_ADMIN_ADDR": "127.0.0.1:9090"}, check: func(t *testing.T, c Config) {
			if c.AdminAddr != "127.0.0.1:9090" {
				t.Fatalf("admin addr %q", c.AdminAddr)
			}
		}},
		{name: "bad admin addr", env: map[string]string{"GATEHOUSE_ADMIN_ADDR": "9090"}, wantErr: true},
		{name: "admin addr on the public port", env: map[string]string{"GATEHOUSE_ADDR": "127.0.0.1:9090", "GATEHOUSE_ADMIN_ADDR": "127.0.0.1:9090"}, wantErr: true},
		{name: "bad duration", env: map[string]string{"GATEHOUSE_SHUTDOWN_TIMEOUT": "soon"}, wantErr: true},
		{name: "bad level", env: map[string]string{"GATEHOUSE_LOG_LEVEL": "loud"}, wantErr: true},
		{name: "webhooks and jobs", env: map[string]string{"GATEHOUSE_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8, 10.0.0.0/8",
			"GATEHOUSE_WEBHOOK_RETRY_SCHEDULE": "1s,1m", "GATEHOUSE_WEBHOOK_DISABLE_AFTER": "48h", "GATEHOUSE_JOB_TIMEOUT": "30s",
			"GATEHOUSE_MAX_IMPORT_BYTES": "2048", "GATEHOUSE_SANDBOX_RESET_EVERY": "12h"},
			check: func(t *testing.T, c Config) {
				if len(c.WebhookAllowNetworks) != 2 || c.WebhookAllowNetworks[1] != "10.0.0.0/8" || len(c.WebhookRetrySchedule) != 2 ||
					c.WebhookRetrySchedule[1] != time.Minute || c.WebhookDisableAfter != 48*time.Hour || c.JobTimeout != 30*time.Second ||
					c.MaxImportBytes != 2048 || c.SandboxResetEvery != 12*time.Hour {
					t.Fatalf("env not applied: %+v", c)
				}
			}},
		{name: "cors origins", env: map[string]string{"GATEHOUSE_CORS_ORIGINS": "https://a.example, HTTPS://B.Example:8443/,*"},
			check: func(t *testing.T, c Config) {
				if got := c.NormalOrigins(); len(got) != 3 || got[0] != "https://a.example" || got[1] != "https://b.example:8443" || got[2] != "*" {
					t.Fatalf("origins %q", got)
				}
			}},
		{name: "cors off by default", check: func(t *testing.T, c Config) {
			if len(c.CORSOrigins) != 0 {
				t.Fatalf("origins %q", c.CORSOrigins)
			}
		}},
		{name: "cors origin with a path", env: map[string]string{"GATEHOUSE_CORS_ORIGINS": "https://a.example/app"}, wantErr: true},
		{name: "cors origin without a scheme", env: map[string]string{"GATEHOUSE_CORS_ORIGINS": "a.example"}, wantErr: true},
		{name: "cors origin of another scheme", env: map[string]string{"GATEHOUSE_CORS_ORIGINS": "ftp://a.example"}, wantErr: true},
		{name: "cors null origin", env: map[string]string{"GATEHOUSE_CORS_ORIGINS": "null"}, wantErr: true},
		{name: "bad schedule", env: map[string]string{"GATEHOUSE_WEBHOOK_RETRY_SCHEDULE": "1s,often"}, wantErr: true},
		{name: "negative wait", env: map[string]string{"GATEHOUSE_WEBHOOK_RETRY_SCHEDULE": "-1s"}, wantErr: true},
		{name: "disable too soon", env: map[string]string{"GATEHOUSE_WEBHOOK_DISABLE_AFTER": "1s"}, wantErr: true},
		{name: "tiny import limit", env: map[string]string{"GATEHOUSE_MAX_IMPORT_BYTES": "10"}, wantErr: true},
		{name: "pdp defaults", check: func(t *testing.T, c Config) {
			if c.PDPStreamsPerKey != 8 || c.PDPStreamsPerNode != 1000 || c.PDPStreamBacklog != 10_000 || c.PDPUploadLimit != 3600 {
				t.Fatalf("pdp defaults: %+v", c)
			}
		}},
		{name: "pdp caps", env: map[string]string{"GATEHOUSE_PDP_STREAMS_PER_KEY": "2", "GATEHOUSE_PDP_STREAMS_PER_NODE": "50",
			"GATEHOUSE_PDP_STREAM_BACKLOG": "100", "GATEHOUSE_PDP_UPLOAD_LIMIT": "0"},
			check: func(t *testing.T, c Config) {
				if c.PDPStreamsPerKey != 2 || c.PDPStreamsPerNode != 50 || c.PDPStreamBacklog != 100 || c.PDPUploadLimit != 0 {
					t.Fatalf("env not applied: %+v", c)
				}
			}},
		{name: "pdp no streams", env: map[string]string{"GATEHOUSE_PDP_STREAMS_PER_KEY": "0"}, wantErr: true},
		{name: "pdp node below key", env: map[string]string{"GATEHOUSE_PDP_STREAMS_PER_KEY": "10", "GATEHOUSE_PDP_STREAMS_PER_NODE": "5"}, wantErr: true},
		{name: "pdp backlog", env: map[string]string{"GATEHOUSE_PDP_STREAM_BACKLOG": "0"}, wantErr: true},
		{name: "pdp upload limit", env: map[string]string{"GATEHOUSE_PDP_UPLOAD_LIMIT": "-1"}, wantErr: true},
		{name: "pdp not a number", env: map[string]string{"GATEHOUSE_PDP_UPLOAD_LIMIT": "lots"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			err := c.ApplyEnv(func(k string) string { return tc.env[k] })
			if err == nil {
				err = c.Validate()
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if tc.check != nil && err == nil {
				tc.check(t, c)
			}
		})
	}
}

func TestPublicBase(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ public, listen, want string }{
		{"", "127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"", ":9090", "http://127.0.0.1:9090"},
		{"", "0.0.0.0:9090", "http://127.0.0.1:9090"},
		{"", "[::]:9090", "http://127.0.0.1:9090"},
		{"", "[::1]:9090", "http://[::1]:9090"},
		{"", "gatehouse.internal:80", "http://gatehouse.internal:80"},
		{"https://auth.example.com/", "127.0.0.1:8080", "https://auth.example.com"},
		{"http://10.0.0.5:8080", ":8080", "http://10.0.0.5:8080"},
	} {
		c := Default()
		c.PublicURL = tc.public
		if got := c.PublicBase(tc.listen); got != tc.want {
			t.Errorf("PublicURL %q, listening on %q: %q, want %q", tc.public, tc.listen, got, tc.want)
		}
	}
	for _, bad := range []string{"auth.example.com", "ftp://auth.example.com", "https://", "https://u:p@auth.example.com", "https://auth.example.com/?x=1", "https://auth.example.com/#top"} {
		c := Default()
		c.PublicURL = bad
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "public-url") {
			t.Errorf("PublicURL %q: %v, want a public-url error", bad, err)
		}
	}
	c := Default()
	c.PublicURL = "https://auth.example.com"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}
