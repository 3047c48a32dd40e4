package app

import (
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/dashboard"
	"github.com/gatehouse-dev/gatehouse/internal/mail"
)

// signInDeps are how members get in besides a password: an OIDC provider
// and the mail server sending invitations (each zero/nil when not
// configured).
type signInDeps struct {
	oidc dashboard.OIDC
	mail *mail.Sender
}

func membersSignIn(cfg config.Config) (signInDeps, error) {
	var d signInDeps
	if cfg.OIDCIssuer != "" {
		secret, err := cfg.OIDCSecret()
		if err != nil {
			return d, err
		}
		d.oidc = dashboard.OIDC{Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID, ClientSecret: secret, Name: cfg.OIDCName}
	}
	if cfg.SMTPURL != "" {
		s, err := mail.NewSender(cfg.SMTPURL, cfg.SMTPFrom)
		if err != nil {
			return d, err
		}
		d.mail = s
	}
	return d, nil
}
