-- list_marks holds, per environment and fact table, marks along the table's
-- rows in (created_at, id) order: each mark (at, id) and n, the number of
-- the environment's rows from that mark up to the next one. A deep page by
-- number of a list in that order (store/marks.go) adds up the marks'
-- counts to find the mark before its first row, then skips at most one
-- mark's rows, instead of every row before the page: a page at any depth
-- costs about the same, and stays so through inserts, deletes and
-- updates. The first mark of an environment's table is at the smallest
-- (at, id) there is, so every row has a mark at or before it.
--
-- Triggers keep the counts exact: an insert adds one to the mark at or
-- before its row, a delete takes one away. (created_at and id of these
-- tables are never updated.) The server splits a mark whose count has grown
-- large (inserts after the newest row all count on the last mark) by
-- reading its rows (store/marks.go); the triggers only count.
--
-- Tables: the lists that grow to millions of rows, users, tenants and role
-- assignments. Existing rows get a mark every 1,024 rows.

-- On PostgreSQL the counting is in facts_version_bump, after it has taken
-- the environment's facts_versions row: writers of an environment count
-- one after the other, so a split (which takes that row first too) and a
-- count never cross.

-- +goose Up
-- Writers wait until this commits: a row inserted while the marks are made
-- would not be counted.
LOCK TABLE authz_users, authz_tenants, authz_role_assignments IN SHARE MODE;
CREATE TABLE list_marks (
    env_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    tbl    TEXT NOT NULL,
    at     BIGINT NOT NULL,
    id     TEXT NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (env_id, tbl, at, id)
);
INSERT INTO list_marks (env_id, tbl, at, id, n)
SELECT env_id, 'authz_users', CASE WHEN rn = 0 THEN -9223372036854775808 ELSE created_at END, CASE WHEN rn = 0 THEN '' ELSE id END, LEAST(1024, total - rn)
FROM (SELECT env_id, created_at, id, ROW_NUMBER() OVER (PARTITION BY env_id ORDER BY created_at, id) - 1 AS rn, COUNT(*) OVER (PARTITION BY env_id) AS total FROM authz_users) AS r
WHERE rn % 1024 = 0;
INSERT INTO list_marks (env_id, tbl, at, id, n)
SELECT env_id, 'authz_tenants', CASE WHEN rn = 0 THEN -9223372036854775808 ELSE created_at END, CASE WHEN rn = 0 THEN '' ELSE id END, LEAST(1024, total - rn)
FROM (SELECT env_id, created_at, id, ROW_NUMBER() OVER (PARTITION BY env_id ORDER BY created_at, id) - 1 AS rn, COUNT(*) OVER (PARTITION BY env_id) AS total FROM authz_tenants) AS r
WHERE rn % 1024 = 0;
INSERT INTO list_marks (env_id, tbl, at, id, n)
SELECT env_id, 'authz_role_assignments', CASE WHEN rn = 0 THEN -9223372036854775808 ELSE created_at END, CASE WHEN rn = 0 THEN '' ELSE id END, LEAST(1024, total - rn)
FROM (SELECT env_id, created_at, id, ROW_NUMBER() OVER (PARTITION BY env_id ORDER BY created_at, id) - 1 AS rn, COUNT(*) OVER (PARTITION BY env_id) AS total FROM authz_role_assignments) AS r
WHERE rn % 1024 = 0;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION facts_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- Per environment, the statement's first and last rows in
        -- (created_at, id) order: the first says whether all of them come
        -- after the tail, the last is the new tail.
        WITH first AS (SELECT DISTINCT ON (env_id) env_id, created_at, id FROM new_rows ORDER BY env_id, created_at, id),
             last AS (SELECT DISTINCT ON (env_id) env_id, created_at, id FROM new_rows ORDER BY env_id, created_at DESC, id DESC)
        INSERT INTO facts_versions AS f (env_id, v, vr, tail_at, tail_id)
        SELECT env_id, floor(random() * 9e18)::bigint, floor(random() * 9e18)::bigint, created_at, id FROM last ORDER BY env_id
        ON CONFLICT (env_id) DO UPDATE SET v = excluded.v,
            vr = CASE WHEN (SELECT f.tail_at IS NULL OR fi.created_at > f.tail_at OR (fi.created_at = f.tail_at AND f.tail_id IS NOT NULL AND fi.id > f.tail_id) FROM first fi WHERE fi.env_id = f.env_id) THEN f.vr ELSE excluded.vr END,
            tail_at = CASE WHEN f.tail_at IS NULL OR excluded.tail_at > f.tail_at OR (excluded.tail_at = f.tail_at AND f.tail_id IS NOT NULL AND excluded.tail_id > f.tail_id) THEN excluded.tail_at ELSE f.tail_at END,
            tail_id = CASE WHEN f.tail_at IS NULL OR excluded.tail_at > f.tail_at OR (excluded.tail_at = f.tail_at AND f.tail_id IS NOT NULL AND excluded.tail_id > f.tail_id) THEN excluded.tail_id ELSE f.tail_id END;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO facts_versions (env_id, v, vr, tail_at)
        SELECT env_id, floor(random() * 9e18)::bigint, floor(random() * 9e18)::bigint, 9223372036854775807 FROM (SELECT DISTINCT env_id FROM old_rows) AS e ORDER BY env_id
        ON CONFLICT (env_id) DO UPDATE SET v = excluded.v, vr = excluded.vr;
    ELSE
        INSERT INTO facts_versions (env_id, v, vr, tail_at)
        SELECT env_id, floor(random() * 9e18)::bigint, floor(random() * 9e18)::bigint, 9223372036854775807 FROM (SELECT DISTINCT env_id FROM new_rows) AS e ORDER BY env_id
        ON CONFLICT (env_id) DO UPDATE SET v = excluded.v, vr = excluded.vr;
    END IF;
    -- list_marks (migration 00026): after the facts_versions row above,
    -- which this transaction now holds until it ends.
    IF TG_TABLE_NAME IN ('authz_users', 'authz_tenants', 'authz_role_assignments') THEN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO list_marks (env_id, tbl, at, id, n)
            SELECT DISTINCT env_id, TG_TABLE_NAME, -9223372036854775808, '', 0 FROM new_rows ORDER BY 1
            ON CONFLICT DO NOTHING;
            UPDATE list_marks m SET n = m.n + c.k FROM (
                SELECT b.env_id, b.at, b.id, COUNT(*) AS k FROM new_rows r CROSS JOIN LATERAL (
                    SELECT l.env_id, l.at, l.id FROM list_marks l WHERE l.env_id = r.env_id AND l.tbl = TG_TABLE_NAME AND (l.at, l.id) <= (r.created_at, r.id)
                    ORDER BY l.at DESC, l.id DESC LIMIT 1) b
                GROUP BY b.env_id, b.at, b.id) c
            WHERE m.env_id = c.env_id AND m.tbl = TG_TABLE_NAME AND m.at = c.at AND m.id = c.id;
        ELSIF TG_OP = 'DELETE' THEN
            UPDATE list_marks m SET n = m.n - c.k FROM (
                SELECT b.env_id, b.at, b.id, COUNT(*) AS k FROM old_rows r CROSS JOIN LATERAL (
                    SELECT l.env_id, l.at, l.id FROM list_marks l WHERE l.env_id = r.env_id AND l.tbl = TG_TABLE_NAME AND (l.at, l.id) <= (r.created_at, r.id)
                    ORDER BY l.at DESC, l.id DESC LIMIT 1) b
                GROUP BY b.env_id, b.at, b.id) c
            WHERE m.env_id = c.env_id AND m.tbl = TG_TABLE_NAME AND m.at = c.at AND m.id = c.id;
        END IF;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd


-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION facts_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- Per environment, the statement's first and last rows in
        -- (created_at, id) order: the first says whether all of them come
        -- after the tail, the last is the new tail.
        WITH first AS (SELECT DISTINCT ON (env_id) env_id, created_at, id FROM new_rows ORDER BY env_id, created_at, id),
             last AS (SELECT DISTINCT ON (env_id) env_id, created_at, id FROM new_rows ORDER BY env_id, created_at DESC, id DESC)
        INSERT INTO facts_versions AS f (env_id, v, vr, tail_at, tail_id)
        SELECT env_id, floor(random() * 9e18)::bigint, floor(random() * 9e18)::bigint, created_at, id FROM last ORDER BY env_id
        ON CONFLICT (env_id) DO UPDATE SET v = excluded.v,
            vr = CASE WHEN (SELECT f.tail_at IS NULL OR fi.created_at > f.tail_at OR (fi.created_at = f.tail_at AND f.tail_id IS NOT NULL AND fi.id > f.tail_id) FROM first fi WHERE fi.env_id = f.env_id) THEN f.vr ELSE excluded.vr END,
            tail_at = CASE WHEN f.tail_at IS NULL OR excluded.tail_at > f.tail_at OR (excluded.tail_at = f.tail_at AND f.tail_id IS NOT NULL AND excluded.tail_id > f.tail_id) THEN excluded.tail_at ELSE f.tail_at END,
            tail_id = CASE WHEN f.tail_at IS NULL OR excluded.tail_at > f.tail_at OR (excluded.tail_at = f.tail_at AND f.tail_id IS NOT NULL AND excluded.tail_id > f.tail_id) THEN excluded.tail_id ELSE f.tail_id END;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO facts_versions (env_id, v, vr, tail_at)
        SELECT env_id, floor(random() * 9e18)::bigint, floor(random() * 9e18)::bigint, 9223372036854775807 FROM (SELECT DISTINCT env_id FROM old_rows) AS e ORDER BY env_id
        ON CONFLICT (env_id) DO UPDATE SET v = excluded.v, vr = excluded.vr;
    ELSE
        INSERT INTO facts_versions (env_id, v, vr, tail_at)
        SELECT env_id, floor(random() * 9e18)::bigint, floor(random() * 9e18)::bigint, 9223372036854775807 FROM (SELECT DISTINCT env_id FROM new_rows) AS e ORDER BY env_id
        ON CONFLICT (env_id) DO UPDATE SET v = excluded.v, vr = excluded.vr;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

DROP TABLE list_marks;
