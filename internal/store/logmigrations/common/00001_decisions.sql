-- The log database (one set of SQL for SQLite and PostgreSQL): high-volume
-- records kept apart from the main data (on SQLite a file of its own). No
-- foreign keys: entries outlive what they name until retention removes them.

-- +goose Up
CREATE TABLE decision_log (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL,
    project_id    TEXT NOT NULL,
    env_id        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    source        TEXT NOT NULL,
    request_id    TEXT NOT NULL,
    key_id        TEXT NOT NULL,
    user_key      TEXT NOT NULL,
    action        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_key  TEXT NOT NULL,
    tenant        TEXT NOT NULL,
    allow         BOOLEAN NOT NULL,
    reason        TEXT NOT NULL,
    role          TEXT NOT NULL
);
CREATE INDEX decision_log_env_time ON decision_log (org_id, env_id, created_at);
CREATE INDEX decision_log_env_user ON decision_log (org_id, env_id, user_key, created_at);

-- +goose Down
DROP TABLE decision_log;
