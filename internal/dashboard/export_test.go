package dashboard

import (
	"context"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// VerifyIDToken runs the OIDC sign-in's checks on the tokens a provider
// issued, as the callback does for a sign-in whose nonce is nonce.
func VerifyIDToken(ctx context.Context, cfg OIDC, tok *oauth2.Token, nonce string) (string, error) {
	o := newOIDCSignIn(cfg, "http://gatehouse.invalid", nil)
	p, _, err := o.discover(ctx)
	if err != nil {
		return "", err
	}
	raw, _ := tok.Extra("id_token").(string)
	id, err := o.emailOf(ctx, p, raw, nonce, tok)
	return id.Email, err
}

// SetOIDCTimeouts sets, for t, how long a call to the provider may take
// and how long a failed discovery is remembered, for the sign-ins of
// dashboards made afterwards (a test that calls it must not be parallel).
func SetOIDCTimeouts(t *testing.T, timeout, retryAfter time.Duration) {
	oldT, oldR := oidcTimeout, oidcRetryAfter
	oidcTimeout, oidcRetryAfter = timeout, retryAfter
	t.Cleanup(func() { oidcTimeout, oidcRetryAfter = oldT, oldR })
}

// SetInviteMailTimeout bounds, for t, the delivery of an invitation mail
// (a test that calls it must not be parallel).
func SetInviteMailTimeout(t *testing.T, d time.Duration) {
	old := inviteMailTimeout
	inviteMailTimeout = d
	t.Cleanup(func() { inviteMailTimeout = old })
}
