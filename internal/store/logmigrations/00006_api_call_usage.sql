-- API calls counted per minute (issue 18, usage): one row per
-- organization, project, environment (as the API log scopes its rows),
-- minute, caller (actor_id: an API key's id or a member's) and status class
-- (status / 100). The API log's batch writer adds to it in the transaction
-- that inserts the rows, so the counts never drift from the log; the usage
-- endpoints read it for whole minutes and the log only for the minute not
-- yet over. Retention deletes its minutes with the log's rows (recounting
-- the minute the cutoff falls in), so both always agree.
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

-- +goose Down
DROP TABLE api_call_usage;
