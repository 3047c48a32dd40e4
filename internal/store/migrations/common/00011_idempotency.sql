-- +goose Up
-- Idempotency-Key: one row per organization and key (kept as a SHA-256),
-- with the request's fingerprint and, once answered, the answer sealed with
-- a key derived from the instance's secret key and the Idempotency-Key.
CREATE TABLE idempotency_keys (
    org_id      TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    key_sha256  TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state       TEXT NOT NULL,
    status      INTEGER NOT NULL DEFAULT 0,
    answer      TEXT NOT NULL DEFAULT '',
    sealed_by   TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (org_id, key_sha256)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

-- +goose Down
DROP TABLE idempotency_keys;
