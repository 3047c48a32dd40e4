-- API calls counted per minute and per hour (issue 18, usage): one row per
-- organization, project, environment (as the API log scopes its rows),
-- minute, caller (actor_id: an API key's id or a member's) and status class
-- (status / 100), in api_call_usage (minute: its start, microseconds) and
-- api_call_usage_hourly (hour). SQLite's log belongs to one process (the
-- data directory's lock), whose API log writer adds to both tables in the
-- transaction that inserts the rows, so the counts never drift from the
-- log. (PostgreSQL's log is shared by nodes of several versions during a
-- rolling upgrade: there a trigger counts, see postgres/.) The usage
-- endpoints read whole hours from the hourly table, whole minutes from the
-- other and the log only for the minute not yet over. Retention deletes
-- their minutes and hours with the log's rows (taking the rows it deletes
-- off the minute and hour the cutoff falls in), so they always agree.
--
-- The rows already logged are counted here, so history survives the
-- upgrade (one grouped pass over api_log).

-- +goose Up
CREATE TABLE api_call_usage (
    org_id       TEXT NOT NULL,
    project_id   TEXT NOT NULL,
    env_id       TEXT NOT NULL,
    minute       BIGINT NOT NULL,
    actor_id     TEXT NOT NULL,
    status_class INTEGER NOT NULL,
    calls        BIGINT NOT NULL,
    PRIMARY KEY (org_id, minute, project_id, env_id, actor_id, status_class)
);
CREATE INDEX api_call_usage_env_minute ON api_call_usage (org_id, env_id, minute);
INSERT INTO api_call_usage (org_id, project_id, env_id, minute, actor_id, status_class, calls)
SELECT org_id, project_id, env_id, created_at - created_at % 60000000, actor_id, status / 100, COUNT(*)
FROM api_log
GROUP BY org_id, project_id, env_id, created_at - created_at % 60000000, actor_id, status / 100;
CREATE TABLE api_call_usage_hourly (
    org_id       TEXT NOT NULL,
    project_id   TEXT NOT NULL,
    env_id       TEXT NOT NULL,
    hour         BIGINT NOT NULL,
    actor_id     TEXT NOT NULL,
    status_class INTEGER NOT NULL,
    calls        BIGINT NOT NULL,
    PRIMARY KEY (org_id, hour, project_id, env_id, actor_id, status_class)
);
CREATE INDEX api_call_usage_hourly_env_hour ON api_call_usage_hourly (org_id, env_id, hour);
INSERT INTO api_call_usage_hourly (org_id, project_id, env_id, hour, actor_id, status_class, calls)
SELECT org_id, project_id, env_id, minute - minute % 3600000000, actor_id, status_class, SUM(calls)
FROM api_call_usage
GROUP BY org_id, project_id, env_id, minute - minute % 3600000000, actor_id, status_class;

-- +goose Down
DROP TABLE api_call_usage_hourly;
DROP TABLE api_call_usage;
