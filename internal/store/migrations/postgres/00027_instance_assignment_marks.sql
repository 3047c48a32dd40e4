-- list_marks (migration 00026) for the role assignments on resource
-- instances too: the API's default assignment list (kind=all) in an
-- environment with roles on instances merges both tables, and a deep page
-- of it by number is found by adding up both tables' marks
-- (store/marks.go, mergedSeek) instead of stepping over every row of both
-- before it. Existing rows get a mark every 1,024 rows; facts_version_bump
-- counts this table's inserts and deletes as it counts the others', but no
-- longer the deletes of an environment being deleted.

-- +goose Up
-- Writers wait until this commits: a row inserted while the marks are made
-- would not be counted.
LOCK TABLE authz_instance_assignments IN SHARE MODE;
INSERT INTO list_marks (env_id, tbl, at, id, n)
SELECT env_id, 'authz_instance_assignments', CASE WHEN rn = 0 THEN -9223372036854775808 ELSE created_at END, CASE WHEN rn = 0 THEN '' ELSE id END, LEAST(1024, total - rn)
FROM (SELECT env_id, created_at, id, ROW_NUMBER() OVER (PARTITION BY env_id ORDER BY created_at, id) - 1 AS rn, COUNT(*) OVER (PARTITION BY env_id) AS total FROM authz_instance_assignments) AS r
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
    -- list_marks (migrations 00026 and 00027): after the facts_versions row above,
    -- which this transaction now holds until it ends.
    IF TG_TABLE_NAME IN ('authz_users', 'authz_tenants', 'authz_role_assignments', 'authz_instance_assignments') THEN
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
            -- Rows of an environment being deleted are not counted out:
            -- its marks go with it, and a mark updated twice in the
            -- transaction would have its foreign key checked again, against
            -- the deleted environment (the cascade deletes a row's
            -- assignments one statement per row).
            UPDATE list_marks m SET n = m.n - c.k FROM (
                SELECT b.env_id, b.at, b.id, COUNT(*) AS k FROM (SELECT * FROM old_rows o WHERE EXISTS (SELECT 1 FROM environments e WHERE e.id = o.env_id)) r CROSS JOIN LATERAL (
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

DELETE FROM list_marks WHERE tbl = 'authz_instance_assignments';
