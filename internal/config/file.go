package config

import (
	"fmt"
	"strings"
)

// FileKey is the configuration file's key of a setting: its flag, or for a
// setting read only from the environment (a secret), the variable's name
// without GATEHOUSE_, lower case, words joined by dashes (secret-key).
func (s Setting) FileKey() string {
	if s.Flag != "" {
		return s.Flag
	}
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(s.Env, EnvPrefix)), "_", "-")
}

// Secret reports whether a value of this setting is a credential: the
// secret keys themselves, and a URL holding a password.
func (s Setting) Secret(value string) bool {
	switch s.Env {
	case EnvPrefix + "SECRET_KEY", EnvPrefix + "PREVIOUS_SECRET_KEY", EnvPrefix + "OIDC_CLIENT_SECRET":
		return value != ""
	case EnvPrefix + "DATABASE_URL", EnvPrefix + "REDIS_URL", EnvPrefix + "SMTP_URL":
		return urlHasPassword(value)
	}
	return false
}

// urlHasPassword reports whether a postgres:// or redis:// URL (or a
// key=value connection string) carries a password.
func urlHasPassword(v string) bool {
	if strings.Contains(v, "password=") {
		return true
	}
	_, rest, ok := strings.Cut(v, "://")
	if !ok {
		return false
	}
	userinfo, _, ok := strings.Cut(rest, "@")
	if !ok || strings.Contains(userinfo, "/") {
		return false
	}
	_, pw, ok := strings.Cut(userinfo, ":")
	return ok && pw != ""
}

// ParseValue sets the setting's field in c from its textual form v, with
// the error saying what a value should look like.
func (s Setting) ParseValue(c *Config, v string) error {
	if err := s.parse(c, v); err != nil {
		if s.Want != "" {
			return fmt.Errorf("want %s", s.Want)
		}
		return err
	}
	return nil
}
