package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMembersSignInSettings(t *testing.T) {
	t.Parallel()
	secretFile := filepath.Join(t.TempDir(), "oidc-secret")
	if err := os.WriteFile(secretFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	oidc := map[string]string{"GATEHOUSE_PUBLIC_URL": "https://auth.example.com", "GATEHOUSE_OIDC_ISSUER": "https://id.example.com",
		"GATEHOUSE_OIDC_CLIENT_ID": "gh", "GATEHOUSE_OIDC_CLIENT_SECRET": "s3cret"}
	smtp := map[string]string{"GATEHOUSE_PUBLIC_URL": "https://auth.example.com", "GATEHOUSE_SMTP_URL": "smtps://u:mail-pw@smtp.example.com",
		"GATEHOUSE_SMTP_FROM": "Gatehouse <gh@example.com>"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		err  string // "" for valid
	}{
		{"none", nil, ""},
		{"oidc", oidc, ""},
		{"oidc on loopback http", with(oidc, "GATEHOUSE_OIDC_ISSUER", "http://127.0.0.1:5556/dex"), ""},
		{"oidc secret from a file", with(oidc, "GATEHOUSE_OIDC_CLIENT_SECRET", "", "GATEHOUSE_OIDC_CLIENT_SECRET_FILE", secretFile), ""},
		{"oidc over plain http", with(oidc, "GATEHOUSE_OIDC_ISSUER", "http://id.example.com"), "must be https://"},
		{"oidc not a URL", with(oidc, "GATEHOUSE_OIDC_ISSUER", "id.example.com"), "issuer URL"},
		{"oidc without a client id", with(oidc, "GATEHOUSE_OIDC_CLIENT_ID", ""), "--oidc-client-id"},
		{"oidc without a secret", with(oidc, "GATEHOUSE_OIDC_CLIENT_SECRET", ""), "client secret"},
		{"oidc secret twice", with(oidc, "GATEHOUSE_OIDC_CLIENT_SECRET_FILE", secretFile), "once"},
		{"oidc without a public URL", with(oidc, "GATEHOUSE_PUBLIC_URL", ""), "--public-url"},
		{"a client id without an issuer", map[string]string{"GATEHOUSE_OIDC_CLIENT_ID": "gh"}, "--oidc-issuer"},
		{"smtp", smtp, ""},
		{"smtp with STARTTLS", with(smtp, "GATEHOUSE_SMTP_URL", "smtp://u:pw@smtp.example.com:587"), ""},
		{"smtp other scheme", with(smtp, "GATEHOUSE_SMTP_URL", "https://u:mail-pw@smtp.example.com"), "smtp://"},
		{"smtp without a host", with(smtp, "GATEHOUSE_SMTP_URL", "smtp://u:mail-pw@"), "want smtp://"},
		{"smtp without a sender", with(smtp, "GATEHOUSE_SMTP_FROM", ""), "--smtp-from"},
		{"smtp bad sender", with(smtp, "GATEHOUSE_SMTP_FROM", "not an address"), "smtp-from"},
		{"smtp without a public URL", with(smtp, "GATEHOUSE_PUBLIC_URL", ""), "--public-url"},
		{"a sender without a server", map[string]string{"GATEHOUSE_SMTP_FROM": "gh@example.com"}, "--smtp-url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			if err := c.ApplyEnv(func(k string) string { return tc.env[k] }); err != nil {
				t.Fatal(err)
			}
			err := c.Validate()
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("got %v, want an error saying %q", err, tc.err)
			case err != nil && (strings.Contains(err.Error(), "mail-pw") || strings.Contains(err.Error(), "s3cret")):
				t.Fatalf("the error holds a password: %v", err)
			}
		})
	}
	c := Default()
	c.OIDCClientSecretFile = secretFile
	if s, err := c.OIDCSecret(); err != nil || s != "from-file" {
		t.Fatalf("secret from the file: %q %v", s, err)
	}
	byEnv := map[string]Setting{}
	for _, s := range Settings {
		byEnv[s.Env] = s
	}
	if !byEnv["GATEHOUSE_SMTP_URL"].Secret("smtps://u:pw@smtp.example.com") || byEnv["GATEHOUSE_SMTP_URL"].Secret("smtp://127.0.0.1:25") ||
		!byEnv["GATEHOUSE_OIDC_CLIENT_SECRET"].Secret("x") || byEnv["GATEHOUSE_OIDC_CLIENT_SECRET"].Flag != "" {
		t.Fatal("the SMTP password or the OIDC client secret is not treated as a credential")
	}
}
