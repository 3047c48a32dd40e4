-- API calls counted per minute and per hour (issue 18, usage): one row per
-- organization, project, environment (as the API log scopes its rows),
-- minute, caller (actor_id: an API key's id or a member's) and status class
-- (status / 100), in api_call_usage (minute: its start, microseconds) and
-- api_call_usage_hourly (hour). The usage endpoints read whole hours from
-- the hourly table, whole minutes from the other and the log only for the
-- minute not yet over. Retention deletes their minutes and hours with the
-- log's rows (taking the rows it deletes off the minute and hour the cutoff
-- falls in), so they always agree.
--
-- On PostgreSQL the database counts: a statement trigger on api_log adds
-- every INSERT's rows to both tables in the inserting transaction, whichever
-- Gatehouse version inserts them. Nodes of the version before this one keep
-- writing the shared log during a rolling upgrade, without counting: the
-- trigger counts their rows too, exactly once. (SQLite's log belongs to one
-- process, which counts in the writer's transaction: see sqlite/.)
--
-- The trigger is created before the rows already logged are counted, in
-- this one transaction: creating it locks api_log against inserts until the
-- commit, so every row is counted either here or by the trigger, never both
-- and never neither. Inserts wait while the backfill runs (one grouped pass
-- over api_log).

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

-- One INSERT's rows, summed per cell (an upsert may not touch a row twice)
-- and written in key order, so that concurrent writers lock rows in the
-- same order: the minutes first, then the hours.
-- +goose StatementBegin
CREATE FUNCTION api_call_usage_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO api_call_usage (org_id, project_id, env_id, minute, actor_id, status_class, calls)
    SELECT org_id, project_id, env_id, created_at - created_at % 60000000, actor_id, status / 100, COUNT(*)
    FROM new_rows
    GROUP BY 1, 2, 3, 4, 5, 6
    ORDER BY 1, 4, 2, 3, 5, 6
    ON CONFLICT (org_id, minute, project_id, env_id, actor_id, status_class)
    DO UPDATE SET calls = api_call_usage.calls + excluded.calls;
    INSERT INTO api_call_usage_hourly (org_id, project_id, env_id, hour, actor_id, status_class, calls)
    SELECT org_id, project_id, env_id, created_at - created_at % 3600000000, actor_id, status / 100, COUNT(*)
    FROM new_rows
    GROUP BY 1, 2, 3, 4, 5, 6
    ORDER BY 1, 4, 2, 3, 5, 6
    ON CONFLICT (org_id, hour, project_id, env_id, actor_id, status_class)
    DO UPDATE SET calls = api_call_usage_hourly.calls + excluded.calls;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER api_log_call_usage AFTER INSERT ON api_log
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION api_call_usage_count();

INSERT INTO api_call_usage (org_id, project_id, env_id, minute, actor_id, status_class, calls)
SELECT org_id, project_id, env_id, created_at - created_at % 60000000, actor_id, status / 100, COUNT(*)
FROM api_log
GROUP BY org_id, project_id, env_id, created_at - created_at % 60000000, actor_id, status / 100;
INSERT INTO api_call_usage_hourly (org_id, project_id, env_id, hour, actor_id, status_class, calls)
SELECT org_id, project_id, env_id, minute - minute % 3600000000, actor_id, status_class, SUM(calls)
FROM api_call_usage
GROUP BY org_id, project_id, env_id, minute - minute % 3600000000, actor_id, status_class;

-- +goose Down
DROP TRIGGER api_log_call_usage ON api_log;
DROP FUNCTION api_call_usage_count();
DROP TABLE api_call_usage_hourly;
DROP TABLE api_call_usage;
