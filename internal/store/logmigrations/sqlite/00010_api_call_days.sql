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
-- SQLite's log belongs to one process, whose API log writer adds to every
-- count in the transaction that inserts the rows (see 00006); retention
-- takes the rows it deletes off the day and hour the cutoff falls in and
-- deletes those before. The calls already logged are counted here, from
-- 00006's hours.

-- +goose Up
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
INSERT INTO api_call_hours (org_id, project_id, env_id, hour, status_class, calls)
SELECT org_id, project_id, env_id, hour, status_class, SUM(calls)
FROM api_call_usage_hourly
GROUP BY org_id, project_id, env_id, hour, status_class;
INSERT INTO api_call_days (org_id, project_id, env_id, day, status_class, calls)
SELECT org_id, project_id, env_id, hour - hour % 86400000000, status_class, SUM(calls)
FROM api_call_hours
GROUP BY org_id, project_id, env_id, hour - hour % 86400000000, status_class;

-- +goose Down
DROP TABLE api_call_days;
DROP TABLE api_call_hours;
