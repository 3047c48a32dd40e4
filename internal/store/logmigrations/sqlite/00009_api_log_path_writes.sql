-- The API log's path prefix (?path=/v1/users) and writes (?writes=true) on
-- SQLite (issue 16 point 12; PostgreSQL has the same in its own 00009).
--
-- The path: an index of a path's first 256 characters after the
-- organization, so that the calls under a prefix are a range of it
-- (substr(path, 1, 256) >= prefix AND < its successor), counted from it
-- and, when they are few, read through it and sorted; a prefix that most
-- calls share is read along the time index as before. Without it a prefix
-- few calls hold read the organization's calls row by row: 5 s at a
-- million.
--
-- The writes: a partial index of the calls whose method is not GET, HEAD
-- or OPTIONS, in time order, so that their pages (deep ones too) read
-- them alone; it holds only those calls.

-- +goose Up
CREATE INDEX api_log_list_path_time ON api_log (org_id, substr(path, 1, 256), created_at, id);
CREATE INDEX api_log_list_writes_time ON api_log (org_id, created_at, id) WHERE method NOT IN ('GET', 'HEAD', 'OPTIONS');

-- +goose Down
DROP INDEX api_log_list_writes_time;
DROP INDEX api_log_list_path_time;
