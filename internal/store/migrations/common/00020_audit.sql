-- +goose Up
-- The audit trail: one row per change (and per sign-in, setup link and key
-- event), written in the same transaction as the change. No foreign keys:
-- the trail of a deleted project or environment stays until retention
-- (--audit-retention) sweeps it. Secrets are never stored here.
CREATE TABLE audit_events (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL,
    project_id  TEXT NOT NULL DEFAULT '',
    env_id      TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    actor_type  TEXT NOT NULL,
    actor_id    TEXT NOT NULL DEFAULT '',
    actor_name  TEXT NOT NULL DEFAULT '',
    client_ip   TEXT NOT NULL DEFAULT '',
    request_id  TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id   TEXT NOT NULL DEFAULT '',
    object_key  TEXT NOT NULL DEFAULT '',
    before_doc  TEXT NOT NULL DEFAULT '',
    after_doc   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_org ON audit_events (org_id, created_at, id);
CREATE INDEX audit_events_env ON audit_events (env_id, created_at, id);
CREATE INDEX audit_events_object ON audit_events (org_id, object_id, created_at);
CREATE INDEX audit_events_created ON audit_events (created_at);

-- +goose Down
DROP TABLE audit_events;
