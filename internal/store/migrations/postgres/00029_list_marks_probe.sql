-- The marks' counting in facts_version_bump (migrations 00026 to 00028)
-- finds each written row's list mark with a LATERAL read of list_marks
-- "WHERE tbl = TG_TABLE_NAME ... ORDER BY at DESC, id DESC LIMIT 1".
-- TG_TABLE_NAME is a name; as text it has the "C" collation, not the
-- column's, so the (env_id, tbl, at, id) index could not take the
-- condition on tbl: each row's mark was found by reading and sorting
-- every mark of the environment (deleting 1M assignments: 137 s, against
-- 1.8 s before the marks; bulk inserts paid it per row too). The function
-- again, with the table name in the column's collation: one backward
-- index probe a row.

-- +goose Up
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
    -- which this transaction now holds until it ends. (TG_TABLE_NAME is a
    -- name, whose text has the "C" collation: compared as it is, the
    -- index on list_marks, in the default one, cannot find a row's mark.)
    IF TG_TABLE_NAME IN ('authz_users', 'authz_tenants', 'authz_role_assignments', 'authz_instance_assignments') THEN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO list_marks (env_id, tbl, at, id, n)
            SELECT DISTINCT env_id, TG_TABLE_NAME, -9223372036854775808, '', 0 FROM new_rows ORDER BY 1
            ON CONFLICT DO NOTHING;
            UPDATE list_marks m SET n = m.n + c.k FROM (
                SELECT b.env_id, b.at, b.id, COUNT(*) AS k FROM new_rows r CROSS JOIN LATERAL (
                    SELECT l.env_id, l.at, l.id FROM list_marks l WHERE l.env_id = r.env_id AND l.tbl = TG_TABLE_NAME::text COLLATE "default" AND (l.at, l.id) <= (r.created_at, r.id)
                    ORDER BY l.at DESC, l.id DESC LIMIT 1) b
                GROUP BY b.env_id, b.at, b.id) c
            WHERE m.env_id = c.env_id AND m.tbl = TG_TABLE_NAME::text COLLATE "default" AND m.at = c.at AND m.id = c.id;
        ELSIF TG_OP = 'DELETE' THEN
            -- Rows of an environment being deleted are not counted out:
            -- its marks go with it, and a mark updated twice in the
            -- transaction would have its foreign key checked again, against
            -- the deleted environment (the cascade deletes a row's
            -- assignments one statement per row).
            UPDATE list_marks m SET n = m.n - c.k FROM (
                SELECT b.env_id, b.at, b.id, COUNT(*) AS k FROM (SELECT * FROM old_rows o WHERE EXISTS (SELECT 1 FROM environments e WHERE e.id = o.env_id)) r CROSS JOIN LATERAL (
                    SELECT l.env_id, l.at, l.id FROM list_marks l WHERE l.env_id = r.env_id AND l.tbl = TG_TABLE_NAME::text COLLATE "default" AND (l.at, l.id) <= (r.created_at, r.id)
                    ORDER BY l.at DESC, l.id DESC LIMIT 1) b
                GROUP BY b.env_id, b.at, b.id) c
            WHERE m.env_id = c.env_id AND m.tbl = TG_TABLE_NAME::text COLLATE "default" AND m.at = c.at AND m.id = c.id;
        END IF;
    END IF;
    -- key_marks (migration 00028): the assignments' marks in the order
    -- of each sort by key, found by their user's, role's and tenant's keys
    -- (a deleted user, role or tenant deletes its assignments before it
    -- goes, so their keys are there). Not for an environment being deleted,
    -- as for list_marks above.
    IF TG_TABLE_NAME = 'authz_role_assignments' THEN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO key_marks (env_id, sort, key, at, id, n)
            SELECT DISTINCT r.env_id, s.sort, '', -9223372036854775808, '', 0 FROM new_rows r CROSS JOIN (VALUES ('user'), ('role'), ('tenant')) AS s(sort) ORDER BY 1, 2
            ON CONFLICT DO NOTHING;
            UPDATE key_marks m SET n = m.n + c.k FROM (
                SELECT b.env_id, b.sort, b.key, b.at, b.id, COUNT(*) AS k FROM (
                    SELECT r.env_id, 'user'::text AS sort, k.key AS rkey, r.created_at, r.id FROM new_rows r JOIN authz_users k ON k.id = r.user_id
                    UNION ALL SELECT r.env_id, 'role'::text AS sort, k.key AS rkey, r.created_at, r.id FROM new_rows r JOIN authz_roles k ON k.id = r.role_id
                    UNION ALL SELECT r.env_id, 'tenant'::text AS sort, k.key AS rkey, r.created_at, r.id FROM new_rows r JOIN authz_tenants k ON k.id = r.tenant_id) r CROSS JOIN LATERAL (
                    SELECT l.env_id, l.sort, l.key, l.at, l.id FROM key_marks l WHERE l.env_id = r.env_id AND l.sort = r.sort AND (l.key, l.at, l.id) <= (r.rkey, r.created_at, r.id)
                    ORDER BY l.key DESC, l.at DESC, l.id DESC LIMIT 1) b
                GROUP BY b.env_id, b.sort, b.key, b.at, b.id) c
            WHERE m.env_id = c.env_id AND m.sort = c.sort AND m.key = c.key AND m.at = c.at AND m.id = c.id;
        ELSIF TG_OP = 'DELETE' THEN
            UPDATE key_marks m SET n = m.n - c.k FROM (
                SELECT b.env_id, b.sort, b.key, b.at, b.id, COUNT(*) AS k FROM (
                    SELECT r.env_id, 'user'::text AS sort, k.key AS rkey, r.created_at, r.id FROM (SELECT * FROM old_rows o WHERE EXISTS (SELECT 1 FROM environments e WHERE e.id = o.env_id)) r JOIN authz_users k ON k.id = r.user_id
                    UNION ALL SELECT r.env_id, 'role'::text AS sort, k.key AS rkey, r.created_at, r.id FROM (SELECT * FROM old_rows o WHERE EXISTS (SELECT 1 FROM environments e WHERE e.id = o.env_id)) r JOIN authz_roles k ON k.id = r.role_id
                    UNION ALL SELECT r.env_id, 'tenant'::text AS sort, k.key AS rkey, r.created_at, r.id FROM (SELECT * FROM old_rows o WHERE EXISTS (SELECT 1 FROM environments e WHERE e.id = o.env_id)) r JOIN authz_tenants k ON k.id = r.tenant_id) r CROSS JOIN LATERAL (
                    SELECT l.env_id, l.sort, l.key, l.at, l.id FROM key_marks l WHERE l.env_id = r.env_id AND l.sort = r.sort AND (l.key, l.at, l.id) <= (r.rkey, r.created_at, r.id)
                    ORDER BY l.key DESC, l.at DESC, l.id DESC LIMIT 1) b
                GROUP BY b.env_id, b.sort, b.key, b.at, b.id) c
            WHERE m.env_id = c.env_id AND m.sort = c.sort AND m.key = c.key AND m.at = c.at AND m.id = c.id;
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
    -- key_marks (migration 00028): the assignments' marks in the order
    -- of each sort by key, found by their user's, role's and tenant's keys
    -- (a deleted user, role or tenant deletes its assignments before it
    -- goes, so their keys are there). Not for an environment being deleted,
    -- as for list_marks above.
    IF TG_TABLE_NAME = 'authz_role_assignments' THEN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO key_marks (env_id, sort, key, at, id, n)
            SELECT DISTINCT r.env_id, s.sort, '', -9223372036854775808, '', 0 FROM new_rows r CROSS JOIN (VALUES ('user'), ('role'), ('tenant')) AS s(sort) ORDER BY 1, 2
            ON CONFLICT DO NOTHING;
            UPDATE key_marks m SET n = m.n + c.k FROM (
                SELECT b.env_id, b.sort, b.key, b.at, b.id, COUNT(*) AS k FROM (
                    SELECT r.env_id, 'user'::text AS sort, k.key AS rkey, r.created_at, r.id FROM new_rows r JOIN authz_users k ON k.id = r.user_id
                    UNION ALL SELECT r.env_id, 'role'::text AS sort, k.key AS rkey, r.created_at, r.id FROM new_rows r JOIN authz_roles k ON k.id = r.role_id
                    UNION ALL SELECT r.env_id, 'tenant'::text AS sort, k.key AS rkey, r.created_at, r.id FROM new_rows r JOIN authz_tenants k ON k.id = r.tenant_id) r CROSS JOIN LATERAL (
                    SELECT l.env_id, l.sort, l.key, l.at, l.id FROM key_marks l WHERE l.env_id = r.env_id AND l.sort = r.sort AND (l.key, l.at, l.id) <= (r.rkey, r.created_at, r.id)
                    ORDER BY l.key DESC, l.at DESC, l.id DESC LIMIT 1) b
                GROUP BY b.env_id, b.sort, b.key, b.at, b.id) c
            WHERE m.env_id = c.env_id AND m.sort = c.sort AND m.key = c.key AND m.at = c.at AND m.id = c.id;
        ELSIF TG_OP = 'DELETE' THEN
            UPDATE key_marks m SET n = m.n - c.k FROM (
                SELECT b.env_id, b.sort, b.key, b.at, b.id, COUNT(*) AS k FROM (
                    SELECT r.env_id, 'user'::text AS sort, k.key AS rkey, r.created_at, r.id FROM (SELECT * FROM old_rows o WHERE EXISTS (SELECT 1 FROM environments e WHERE e.id = o.env_id)) r JOIN authz_users k ON k.id = r.user_id
                    UNION ALL SELECT r.env_id, 'role'::text AS sort, k.key AS rkey, r.created_at, r.id FROM (SELECT * FROM old_rows o WHERE EXISTS (SELECT 1 FROM environments e WHERE e.id = o.env_id)) r JOIN authz_roles k ON k.id = r.role_id
                    UNION ALL SELECT r.env_id, 'tenant'::text AS sort, k.key AS rkey, r.created_at, r.id FROM (SELECT * FROM old_rows o WHERE EXISTS (SELECT 1 FROM environments e WHERE e.id = o.env_id)) r JOIN authz_tenants k ON k.id = r.tenant_id) r CROSS JOIN LATERAL (
                    SELECT l.env_id, l.sort, l.key, l.at, l.id FROM key_marks l WHERE l.env_id = r.env_id AND l.sort = r.sort AND (l.key, l.at, l.id) <= (r.rkey, r.created_at, r.id)
                    ORDER BY l.key DESC, l.at DESC, l.id DESC LIMIT 1) b
                GROUP BY b.env_id, b.sort, b.key, b.at, b.id) c
            WHERE m.env_id = c.env_id AND m.sort = c.sort AND m.key = c.key AND m.at = c.at AND m.id = c.id;
        END IF;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
