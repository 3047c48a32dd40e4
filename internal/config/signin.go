package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/mail"
)

// validateMembersSignIn checks the OIDC sign-in and the invitation mail
// settings. Its messages never hold a password or a secret.
func (c Config) validateMembersSignIn() error {
	if c.OIDCIssuer == "" {
		if c.OIDCClientID != "" || c.OIDCClientSecret != "" || c.OIDCClientSecretFile != "" || c.OIDCName != "" {
			return errors.New("the oidc-* settings need --oidc-issuer, the provider's issuer URL")
		}
	} else {
		u, err := url.Parse(c.OIDCIssuer)
		switch {
		case err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
			return fmt.Errorf("oidc-issuer %q: want the provider's issuer URL, like https://accounts.example.com", c.OIDCIssuer)
		case u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())):
			return fmt.Errorf("oidc-issuer %q: must be https:// (http:// only on a loopback address)", c.OIDCIssuer)
		case c.OIDCClientID == "":
			return errors.New("oidc-issuer needs --oidc-client-id, the dashboard's client id at the provider")
		case c.OIDCClientSecret != "" && c.OIDCClientSecretFile != "":
			return errors.New("give the OIDC client secret once: GATEHOUSE_OIDC_CLIENT_SECRET or --oidc-client-secret-file, not both")
		case c.OIDCClientSecret == "" && c.OIDCClientSecretFile == "":
			return errors.New("oidc-issuer needs the client secret: GATEHOUSE_OIDC_CLIENT_SECRET or --oidc-client-secret-file")
		case c.PublicURL == "":
			return errors.New("oidc-issuer needs --public-url: the provider sends browsers back to <public-url>/signin/oidc/callback")
		}
	}
	if c.SMTPURL == "" {
		if c.SMTPFrom != "" {
			return errors.New("smtp-from needs --smtp-url")
		}
		return nil
	}
	if c.SMTPFrom == "" {
		return errors.New("smtp-url needs --smtp-from, the sender of the invitations")
	}
	if _, err := mail.NewSender(c.SMTPURL, c.SMTPFrom); err != nil {
		return fmt.Errorf("%w (smtp-url %s)", err, mail.Redacted(c.SMTPURL))
	}
	if c.PublicURL == "" {
		return errors.New("smtp-url needs --public-url: the invitations hold a link to <public-url>/setup/…")
	}
	return nil
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// OIDCSecret is the OIDC client secret: GATEHOUSE_OIDC_CLIENT_SECRET, or
// the content of --oidc-client-secret-file (surrounding space trimmed).
func (c Config) OIDCSecret() (string, error) {
	if c.OIDCClientSecretFile == "" {
		return c.OIDCClientSecret, nil
	}
	b, err := os.ReadFile(c.OIDCClientSecretFile)
	if err != nil {
		return "", fmt.Errorf("oidc-client-secret-file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("oidc-client-secret-file %s is empty", c.OIDCClientSecretFile)
	}
	return s, nil
}
