package config

import (
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
		{name: "postgres url", env: map[string]string{"GATEHOUSE_DATABASE_URL": "postgres://u@h/db"}, check: func(t *testing.T, c Config) {
			if !c.IsPostgres() {
				t.Fatal("want postgres")
			}
		}},
		{name: "bad url", env: map[string]string{"GATEHOUSE_DATABASE_URL": "mysql://x"}, wantErr: true},
		{name: "bad addr", env: map[string]string{"GATEHOUSE_ADDR": "nope"}, wantErr: true},
		{name: "bad duration", env: map[string]string{"GATEHOUSE_SHUTDOWN_TIMEOUT": "soon"}, wantErr: true},
		{name: "bad level", env: map[string]string{"GATEHOUSE_LOG_LEVEL": "loud"}, wantErr: true},
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
