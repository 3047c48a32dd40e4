-- Permission checks counted per API key, environment and minute (the
-- checks themselves are not API log rows unless an environment asks for
-- them: api_log_checks). One row per key and minute; a node adds its
-- counts to the row (nodes share it).

-- +goose Up
CREATE TABLE check_usage (
    org_id     TEXT NOT NULL,
    project_id TEXT NOT NULL,
    env_id     TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    minute     BIGINT NOT NULL,
    allowed    BIGINT NOT NULL,
    denied     BIGINT NOT NULL,
    PRIMARY KEY (env_id, key_id, minute)
);
CREATE INDEX check_usage_org_env_minute ON check_usage (org_id, env_id, minute);

-- +goose Down
DROP TABLE check_usage;
