-- +goose Up
-- The status page: each component's current state, its samples counted per
-- UTC day (90 days kept, never raw samples), and the incidents the instance
-- operator posts with their updates.
CREATE TABLE status_components (
    component  TEXT PRIMARY KEY,
    state      TEXT NOT NULL,
    note       TEXT NOT NULL DEFAULT '',
    since      BIGINT NOT NULL,
    checked_at BIGINT NOT NULL
);

CREATE TABLE status_days (
    component TEXT NOT NULL,
    day       TEXT NOT NULL,
    up        BIGINT NOT NULL DEFAULT 0,
    degraded  BIGINT NOT NULL DEFAULT 0,
    down      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (component, day)
);
CREATE INDEX status_days_day ON status_days (day);

CREATE TABLE status_incidents (
    id          TEXT PRIMARY KEY,
    title       TEXT NOT NULL,
    impact      TEXT NOT NULL,
    status      TEXT NOT NULL,
    components  TEXT NOT NULL DEFAULT '[]',
    created_by  TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    resolved_at BIGINT
);
CREATE INDEX status_incidents_created ON status_incidents (created_at);

CREATE TABLE status_incident_updates (
    id          TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES status_incidents(id) ON DELETE CASCADE,
    status      TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_by  TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);
CREATE INDEX status_incident_updates_incident ON status_incident_updates (incident_id, created_at);

-- The webhooks component looks for deliveries left waiting past their time.
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (next_attempt_at, created_at) WHERE status = 'pending';

-- +goose Down
DROP INDEX webhook_deliveries_pending;
DROP TABLE status_incident_updates;
DROP TABLE status_incidents;
DROP TABLE status_days;
DROP TABLE status_components;
