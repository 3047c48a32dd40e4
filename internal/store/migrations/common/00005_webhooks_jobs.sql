-- +goose Up
-- Webhooks: endpoints, the events they receive (the outbox: written in the
-- transaction of the change), one delivery per event and endpoint, and every
-- attempt of each delivery. The SQL is the same for both engines.
CREATE TABLE webhook_endpoints (
    id                         TEXT PRIMARY KEY,
    org_id                     TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    project_id                 TEXT REFERENCES projects(id) ON DELETE CASCADE,
    env_id                     TEXT REFERENCES environments(id) ON DELETE CASCADE,
    url                        TEXT NOT NULL,
    description                TEXT NOT NULL DEFAULT '',
    events                     TEXT NOT NULL,
    enabled                    BOOLEAN NOT NULL DEFAULT TRUE,
    secret                     TEXT NOT NULL,
    previous_secret            TEXT NOT NULL DEFAULT '',
    previous_secret_expires_at BIGINT,
    failing_since              BIGINT,
    last_success_at            BIGINT,
    last_failure_at            BIGINT,
    disabled_at                BIGINT,
    disabled_reason            TEXT NOT NULL DEFAULT '',
    created_by                 TEXT NOT NULL,
    created_at                 BIGINT NOT NULL,
    updated_at                 BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_org ON webhook_endpoints (org_id, created_at);

-- No foreign key to projects or environments: the event of a deletion
-- outlives what it is about.
CREATE TABLE webhook_events (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL DEFAULT '',
    env_id     TEXT NOT NULL DEFAULT '',
    type       TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX webhook_events_org ON webhook_events (org_id, created_at);

CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_id         TEXT NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
    org_id           TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_status_code INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL DEFAULT '',
    next_attempt_at  BIGINT,
    replay_of        TEXT NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    delivered_at     BIGINT
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

CREATE TABLE webhook_attempts (
    id                 TEXT PRIMARY KEY,
    delivery_id        TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempt            INTEGER NOT NULL,
    started_at         BIGINT NOT NULL,
    duration_us        BIGINT NOT NULL,
    status_code        INTEGER NOT NULL DEFAULT 0,
    error              TEXT NOT NULL DEFAULT '',
    request_headers    TEXT NOT NULL DEFAULT '{}',
    response_headers   TEXT NOT NULL DEFAULT '{}',
    response_body      TEXT NOT NULL DEFAULT '',
    response_truncated BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, attempt);

-- Jobs (long work done in the background) and their tasks, run in order.
-- An export task keeps its part of the output.
CREATE TABLE jobs (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    project_id   TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    env_id       TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    type         TEXT NOT NULL,
    status       TEXT NOT NULL,
    params       TEXT NOT NULL DEFAULT '{}',
    total_tasks  INTEGER NOT NULL DEFAULT 0,
    total_items  BIGINT NOT NULL DEFAULT 0,
    done_items   BIGINT NOT NULL DEFAULT 0,
    failed_items BIGINT NOT NULL DEFAULT 0,
    result       TEXT NOT NULL DEFAULT '{}',
    error        TEXT NOT NULL DEFAULT '',
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    started_at   BIGINT,
    finished_at  BIGINT,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX jobs_org ON jobs (org_id, created_at);
CREATE INDEX jobs_env ON jobs (env_id, created_at);

CREATE TABLE job_tasks (
    id          TEXT PRIMARY KEY,
    job_id      TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    org_id      TEXT NOT NULL,
    env_id      TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    status      TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    params      TEXT NOT NULL DEFAULT '{}',
    input       TEXT NOT NULL DEFAULT '',
    items       BIGINT NOT NULL DEFAULT 0,
    first_line  BIGINT NOT NULL DEFAULT 0,
    last_line   BIGINT NOT NULL DEFAULT 0,
    result      TEXT NOT NULL DEFAULT '{}',
    errors      TEXT NOT NULL DEFAULT '[]',
    error       TEXT NOT NULL DEFAULT '',
    output      TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    started_at  BIGINT,
    finished_at BIGINT,
    updated_at  BIGINT NOT NULL,
    UNIQUE (job_id, seq)
);
CREATE INDEX job_tasks_org ON job_tasks (org_id, created_at);

-- When a sandbox environment's data was last reset (daily).
ALTER TABLE environments ADD COLUMN reset_at BIGINT;

-- +goose Down
ALTER TABLE environments DROP COLUMN reset_at;
DROP TABLE job_tasks;
DROP TABLE jobs;
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
DROP TABLE webhook_endpoints;
