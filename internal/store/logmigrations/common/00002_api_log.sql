-- +goose Up
CREATE TABLE api_log (
    id                 TEXT PRIMARY KEY,
    org_id             TEXT NOT NULL,
    project_id         TEXT NOT NULL,
    env_id             TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    request_id         TEXT NOT NULL,
    actor_type         TEXT NOT NULL,
    actor_id           TEXT NOT NULL,
    actor_name         TEXT NOT NULL,
    method             TEXT NOT NULL,
    route              TEXT NOT NULL,
    path               TEXT NOT NULL,
    status             INTEGER NOT NULL,
    error_code         TEXT NOT NULL,
    latency_us         BIGINT NOT NULL,
    client_ip          TEXT NOT NULL,
    user_agent         TEXT NOT NULL,
    request_headers    TEXT NOT NULL,
    request_body       TEXT NOT NULL,
    request_size       BIGINT NOT NULL,
    request_truncated  BOOLEAN NOT NULL,
    response_body      TEXT NOT NULL,
    response_size      BIGINT NOT NULL,
    response_truncated BOOLEAN NOT NULL
);
CREATE INDEX api_log_org_time ON api_log (org_id, created_at);
CREATE INDEX api_log_org_request ON api_log (org_id, request_id);

-- +goose Down
DROP TABLE api_log;
