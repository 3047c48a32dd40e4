-- +goose Up
-- A key's own requests-per-hour limit (0: the environment's or organization's applies).
ALTER TABLE api_keys ADD COLUMN rate_limit_per_hour INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE api_keys DROP COLUMN rate_limit_per_hour;
