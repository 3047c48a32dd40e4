-- Decisions counted per minute, hour and day of an environment and
-- decision (issue 16 point 12), as 00006 and 00010 count the API log's
-- calls. A deep page by number of the decision log in time order
-- (GET /v1/decisions?page=25000, with or without ?allow=) skipped every
-- decision before it in an index: 57-60 ms half-way through a million
-- denials. The list now adds up the days' counts to the day the page starts
-- in, then that day's hours, then that hour's minutes, and steps over the
-- decisions of one minute (callseek.go).
--
-- SQLite's log belongs to one process, whose decision writer adds to the
-- counts in the transaction that inserts the rows; retention takes the
-- rows it deletes off the buckets the cutoff falls in and deletes those
-- before. The decisions already logged are counted here.

-- +goose Up
CREATE TABLE decision_minutes (
    org_id    TEXT NOT NULL,
    env_id    TEXT NOT NULL,
    minute    BIGINT NOT NULL,
    allow     BOOLEAN NOT NULL,
    decisions BIGINT NOT NULL,
    PRIMARY KEY (org_id, env_id, minute, allow)
);
CREATE TABLE decision_hours (
    org_id    TEXT NOT NULL,
    env_id    TEXT NOT NULL,
    hour      BIGINT NOT NULL,
    allow     BOOLEAN NOT NULL,
    decisions BIGINT NOT NULL,
    PRIMARY KEY (org_id, env_id, hour, allow)
);
CREATE TABLE decision_days (
    org_id    TEXT NOT NULL,
    env_id    TEXT NOT NULL,
    day       BIGINT NOT NULL,
    allow     BOOLEAN NOT NULL,
    decisions BIGINT NOT NULL,
    PRIMARY KEY (org_id, env_id, day, allow)
);
INSERT INTO decision_minutes (org_id, env_id, minute, allow, decisions)
SELECT org_id, env_id, created_at - created_at % 60000000, allow, COUNT(*)
FROM decision_log
GROUP BY org_id, env_id, created_at - created_at % 60000000, allow;
INSERT INTO decision_hours (org_id, env_id, hour, allow, decisions)
SELECT org_id, env_id, minute - minute % 3600000000, allow, SUM(decisions)
FROM decision_minutes
GROUP BY org_id, env_id, minute - minute % 3600000000, allow;
INSERT INTO decision_days (org_id, env_id, day, allow, decisions)
SELECT org_id, env_id, hour - hour % 86400000000, allow, SUM(decisions)
FROM decision_hours
GROUP BY org_id, env_id, hour - hour % 86400000000, allow;

-- +goose Down
DROP TABLE decision_days;
DROP TABLE decision_hours;
DROP TABLE decision_minutes;
