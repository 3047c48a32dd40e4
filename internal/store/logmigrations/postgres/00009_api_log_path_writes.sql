-- The API log's path prefix (?path=/v1/users) and writes (?writes=true) on
-- PostgreSQL (issue 16 point 12; SQLite has the same in its own 00009).
--
-- The path: an index of a path's first 256 characters in bytes' order
-- (COLLATE "C", whatever the database's collation), so that the calls
-- under a prefix are a range of it. 256 characters: a path is the
-- request's path and query string as long as the client made it, and an
-- index entry may not exceed about 2,700 bytes (a longer one would fail
-- the log's write).
--
-- The writes: a partial index of the calls whose method is not GET, HEAD
-- or OPTIONS, in time order; it holds only those calls.

-- +goose Up
CREATE INDEX api_log_list_path_time ON api_log (org_id, (substr(path, 1, 256) COLLATE "C"), created_at, id);
CREATE INDEX api_log_list_writes_time ON api_log (org_id, created_at, id) WHERE method NOT IN ('GET', 'HEAD', 'OPTIONS');

-- +goose Down
DROP INDEX api_log_list_writes_time;
DROP INDEX api_log_list_path_time;
