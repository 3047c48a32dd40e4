-- The API log's status class (?status=4xx) on SQLite: an index of the
-- expression status / 100, which the list's condition writes the same way
-- there, so that a class's rows are a range of it in time order (issue 16
-- point 12; see 00007). PostgreSQL reads the class as a range of
-- status through its statistics' choice of index, faster than through
-- such an index in a measured run (bench/README.md, "Sixteenth pass").

-- +goose Up
CREATE INDEX api_log_list_class_time ON api_log (org_id, (status / 100), created_at, id);

-- +goose Down
DROP INDEX api_log_list_class_time;
