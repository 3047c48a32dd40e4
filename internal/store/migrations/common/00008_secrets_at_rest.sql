-- +goose Up
-- Secrets at rest. A signing key's private part is sealed with the
-- instance's secret key (kept outside the database); a signing key retired
-- because it was once stored in clear keeps only its public part, so the
-- keys it signed still verify. An API key's token_format is 2 when its token
-- carries a random secret that is never stored (only the token's hash is);
-- keys made before (format 1) could be rebuilt from an old copy of the
-- database and should be rotated.
ALTER TABLE signing_keys ADD COLUMN public_key TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN token_format INTEGER NOT NULL DEFAULT 1;

-- +goose Down
ALTER TABLE api_keys DROP COLUMN token_format;
ALTER TABLE signing_keys DROP COLUMN public_key;
