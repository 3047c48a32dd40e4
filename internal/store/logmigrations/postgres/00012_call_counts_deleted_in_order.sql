-- The API call counts of 00010 (per hour and day of a project, environment
-- and status class) take deleted rows off through ordered upserts, as the
-- decision counts of 00011 do: 00010's DELETE trigger ran UPDATE ... FROM
-- over the deleted rows grouped per cell, which locks the cells in the
-- order its plan reads them (a hash join over the table), while the INSERT
-- trigger locks them in key order. Retention and a writer of calls as old
-- as its cut could then take one hour's cells in opposite orders and
-- deadlock. The upserts add negative counts in key order; a cell left at 0
-- or below is retention's to delete (PruneAPILog, in the same
-- transaction). Nodes of the version before run the same trigger: no
-- change to them.

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION api_call_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO api_call_hours (org_id, project_id, env_id, hour, status_class, calls)
    SELECT org_id, project_id, env_id, created_at - created_at % 3600000000, status / 100, -COUNT(*)
    FROM old_rows
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 4, 2, 3, 5
    ON CONFLICT (org_id, hour, project_id, env_id, status_class)
    DO UPDATE SET calls = api_call_hours.calls + excluded.calls;
    INSERT INTO api_call_days (org_id, project_id, env_id, day, status_class, calls)
    SELECT org_id, project_id, env_id, created_at - created_at % 86400000000, status / 100, -COUNT(*)
    FROM old_rows
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 4, 2, 3, 5
    ON CONFLICT (org_id, day, project_id, env_id, status_class)
    DO UPDATE SET calls = api_call_days.calls + excluded.calls;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION api_call_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
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
