-- API calls counted per day and per hour of a project, environment and
-- status class (issue 16 point 12), beside 00006's minutes and hours, which
-- count per caller too. A deep page by number of the API log in time order
-- (GET /v1/logs?page=25000) skipped every call before it in an index:
-- 36-70 ms half-way through a million. The list now adds up the days'
-- counts to the day the page starts in, then that day's hours, then that
-- hour's minutes (00006), and steps over the few calls of one minute
-- (callseek.go). Without the callers a month is a few hundred days' cells
-- and an hour a dozen; with them (00006's hours) a busy organization's
-- hundreds of callers made a day's hours ten thousand cells to add up.
--
-- The statement trigger of 00006 counts the days and hours too, whichever
-- version inserts the rows, and one on DELETE takes deleted rows off them
-- (below). api_log is locked against inserts and deletes
-- (SHARE) for this transaction before the trigger changes, so that every
-- row is counted in them either by the backfill from 00006's hours or by
-- the trigger, never both and never neither (nodes of the version before
-- wait for the commit, as they did for 00006).

-- +goose Up
LOCK TABLE api_log IN SHARE MODE;
CREATE TABLE api_call_hours (
    org_id       TEXT NOT NULL,
    project_id   TEXT NOT NULL,
    env_id       TEXT NOT NULL,
    hour         BIGINT NOT NULL,
    status_class INTEGER NOT NULL,
    calls        BIGINT NOT NULL,
    PRIMARY KEY (org_id, hour, project_id, env_id, status_class)
);
CREATE INDEX api_call_hours_env ON api_call_hours (org_id, env_id, hour);
CREATE TABLE api_call_days (
    org_id       TEXT NOT NULL,
    project_id   TEXT NOT NULL,
    env_id       TEXT NOT NULL,
    day          BIGINT NOT NULL,
    status_class INTEGER NOT NULL,
    calls        BIGINT NOT NULL,
    PRIMARY KEY (org_id, day, project_id, env_id, status_class)
);
CREATE INDEX api_call_days_env ON api_call_days (org_id, env_id, day);

-- The minutes and hours of 00006, then these hours and days, each summed
-- per cell and written in key order (00006).
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION api_call_usage_count() RETURNS trigger LANGUAGE plpgsql AS $$
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
    INSERT INTO api_call_hours (org_id, project_id, env_id, hour, status_class, calls)
    SELECT org_id, project_id, env_id, created_at - created_at % 3600000000, status / 100, COUNT(*)
    FROM new_rows
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 4, 2, 3, 5
    ON CONFLICT (org_id, hour, project_id, env_id, status_class)
    DO UPDATE SET calls = api_call_hours.calls + excluded.calls;
    INSERT INTO api_call_days (org_id, project_id, env_id, day, status_class, calls)
    SELECT org_id, project_id, env_id, created_at - created_at % 86400000000, status / 100, COUNT(*)
    FROM new_rows
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 4, 2, 3, 5
    ON CONFLICT (org_id, day, project_id, env_id, status_class)
    DO UPDATE SET calls = api_call_days.calls + excluded.calls;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- Rows deleted from api_log are taken off these hours and days by the
-- database too, whichever version deletes them: the retention of a node of
-- the version before (which takes them off 00006's minutes and hours only)
-- keeps them right during a rolling upgrade. (This version's retention
-- leaves these two to the trigger.) A delete waiting on this migration's
-- lock runs after its commit, so the trigger takes its rows off the
-- backfilled counts.
-- +goose StatementBegin
CREATE FUNCTION api_call_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE api_call_hours h SET calls = h.calls - d.n FROM (
        SELECT org_id, project_id, env_id, created_at - created_at % 3600000000 AS b, status / 100 AS c, COUNT(*) AS n
        FROM old_rows GROUP BY 1, 2, 3, 4, 5) d
    WHERE h.org_id = d.org_id AND h.hour = d.b AND h.project_id = d.project_id AND h.env_id = d.env_id AND h.status_class = d.c;
    UPDATE api_call_days h SET calls = h.calls - d.n FROM (
        SELECT org_id, project_id, env_id, created_at - created_at % 86400000000 AS b, status / 100 AS c, COUNT(*) AS n
        FROM old_rows GROUP BY 1, 2, 3, 4, 5) d
    WHERE h.org_id = d.org_id AND h.day = d.b AND h.project_id = d.project_id AND h.env_id = d.env_id AND h.status_class = d.c;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER api_log_call_counts_deleted AFTER DELETE ON api_log
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION api_call_counts_deleted();

INSERT INTO api_call_hours (org_id, project_id, env_id, hour, status_class, calls)
SELECT org_id, project_id, env_id, hour, status_class, SUM(calls)
FROM api_call_usage_hourly
GROUP BY org_id, project_id, env_id, hour, status_class;
INSERT INTO api_call_days (org_id, project_id, env_id, day, status_class, calls)
SELECT org_id, project_id, env_id, hour - hour % 86400000000, status_class, SUM(calls)
FROM api_call_hours
GROUP BY org_id, project_id, env_id, hour - hour % 86400000000, status_class;

-- +goose Down
LOCK TABLE api_log IN SHARE MODE;
DROP TRIGGER api_log_call_counts_deleted ON api_log;
DROP FUNCTION api_call_counts_deleted();
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION api_call_usage_count() RETURNS trigger LANGUAGE plpgsql AS $$
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
DROP TABLE api_call_days;
DROP TABLE api_call_hours;
