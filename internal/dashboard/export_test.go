package dashboard

import (
	"context"

	"golang.org/x/oauth2"
)

// VerifyIDToken runs the OIDC sign-in's checks on the tokens a provider
// issued, as the callback does for a sign-in whose nonce is nonce.
func VerifyIDToken(ctx context.Context, cfg OIDC, tok *oauth2.Token, nonce string) (string, error) {
	o := newOIDCSignIn(cfg, "http://gatehouse.invalid")
	p, err := o.discover(ctx)
	if err != nil {
		return "", err
	}
	raw, _ := tok.Extra("id_token").(string)
	id, err := o.emailOf(ctx, p, raw, nonce, tok)
	return id.Email, err
}
