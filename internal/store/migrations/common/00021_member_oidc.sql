-- +goose Up
-- The OpenID Connect identity (issuer and subject) a member first signed in
-- with: a later sign-in with the same email but another identity is
-- refused. '' means none yet; removing the member forgets it.
ALTER TABLE members ADD COLUMN oidc_issuer TEXT NOT NULL DEFAULT '';
ALTER TABLE members ADD COLUMN oidc_subject TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE members DROP COLUMN oidc_subject;
ALTER TABLE members DROP COLUMN oidc_issuer;
