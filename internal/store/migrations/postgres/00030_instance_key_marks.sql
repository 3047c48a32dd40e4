-- key_marks (migration 00028) for the role assignments on resource
-- instances: sorts "i:user", "i:role" and "i:tenant", along the order of
-- a sort by the key of their user, resource role or instance's tenant,
-- (key, created_at, id). The list of both kinds (kind=all, the API's
-- default, in an environment with roles on instances) sorted by key
-- merges both tables' marks (store/keymerge.go): a deep page by number
-- was a walk over every key before it (222 ms on SQLite half-way through
-- 1.1M assignments).
--
-- Triggers keep the counts exact, as 00028's do: an insert adds one to the
-- mark at or before its row under each sort, a delete takes one away. A
-- user, resource role, instance or tenant deleted takes its assignments
-- on instances first (BEFORE DELETE), while their keys can still be read.
-- An instance moved to another tenant moves its assignments' counts from
-- the marks of its old tenant's key to those of its new one. Keys and
-- created_at are never updated. Existing assignments get a mark every
-- 1,024 rows of each sort.


-- On PostgreSQL the counting of inserts and deletes is in
-- facts_version_bump (the function again, as 00029 has it, with the
-- assignments on instances added), after it has taken the environment's
-- facts_versions row; an instance moved takes that row first too.

-- +goose Up
-- Writers wait until this commits: a row inserted while the marks are made
-- would not be counted.
LOCK TABLE authz_instance_assignments, authz_users, authz_resource_roles, authz_instances, authz_tenants IN SHARE MODE;
CREATE INDEX authz_resource_roles_env_key ON authz_resource_roles (env_id, key);
INSERT INTO key_marks (env_id, sort, key, at, id, n)
SELECT env_id, 'i:user', CASE WHEN rn = 0 THEN '' ELSE key END, CASE WHEN rn = 0 THEN -9223372036854775808 ELSE created_at END, CASE WHEN rn = 0 THEN '' ELSE id END, LEAST(1024, total - rn)
FROM (SELECT a.env_id, k.key, a.created_at, a.id, ROW_NUMBER() OVER (PARTITION BY a.env_id ORDER BY k.key, a.created_at, a.id) - 1 AS rn, COUNT(*) OVER (PARTITION BY a.env_id) AS total
      FROM authz_instance_assignments a JOIN authz_users k ON k.id = a.user_id) AS r
WHERE rn % 1024 = 0;
INSERT INTO key_marks (env_id, sort, key, at, id, n)
SELECT env_id, 'i:role', CASE WHEN rn = 0 THEN '' ELSE key END, CASE WHEN rn = 0 THEN -9223372036854775808 ELSE created_at END, CASE WHEN rn = 0 THEN '' ELSE id END, LEAST(1024, total - rn)
FROM (SELECT a.env_id, k.key, a.created_at, a.id, ROW_NUMBER() OVER (PARTITION BY a.env_id ORDER BY k.key, a.created_at, a.id) - 1 AS rn, COUNT(*) OVER (PARTITION BY a.env_id) AS total
      FROM authz_instance_assignments a JOIN authz_resource_roles k ON k.id = a.role_id) AS r
WHERE rn % 1024 = 0;
INSERT INTO key_marks (env_id, sort, key, at, id, n)
SELECT env_id, 'i:tenant', CASE WHEN rn = 0 THEN '' ELSE key END, CASE WHEN rn = 0 THEN -9223372036854775808 ELSE created_at END, CASE WHEN rn = 0 THEN '' ELSE id END, LEAST(1024, total - rn)
FROM (SELECT a.env_id, k.key, a.created_at, a.id, ROW_NUMBER() OVER (PARTITION BY a.env_id ORDER BY k.key, a.created_at, a.id) - 1 AS rn, COUNT(*) OVER (PARTITION BY a.env_id) AS total
      FROM authz_instance_assignments a JOIN authz_instances ki ON ki.id = a.instance_id JOIN authz_tenants k ON k.id = ki.tenant_id) AS r
WHERE rn % 1024 = 0;

-- +goose StatementBegin
CREATE FUNCTION key_marks_instance_parent_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM environments WHERE id = OLD.env_id) THEN
        RETURN OLD;
    END IF;
    IF TG_TABLE_NAME = 'authz_users' THEN
        IF EXISTS (SELECT 1 FROM authz_instance_assignments WHERE user_id = OLD.id) THEN
            DELETE FROM authz_instance_assignments WHERE user_id = OLD.id;
        END IF;
    ELSIF TG_TABLE_NAME = 'authz_resource_roles' THEN
        IF EXISTS (SELECT 1 FROM authz_instance_assignments WHERE role_id = OLD.id) THEN
            DELETE FROM authz_instance_assignments WHERE role_id = OLD.id;
        END IF;
    ELSIF TG_TABLE_NAME = 'authz_instances' THEN
        IF EXISTS (SELECT 1 FROM authz_instance_assignments WHERE instance_id = OLD.id) THEN
            DELETE FROM authz_instance_assignments WHERE instance_id = OLD.id;
        END IF;
    ELSIF EXISTS (SELECT 1 FROM authz_instances i JOIN authz_instance_assignments a ON a.instance_id = i.id WHERE i.tenant_id = OLD.id) THEN
        DELETE FROM authz_instance_assignments WHERE instance_id IN (SELECT id FROM authz_instances WHERE tenant_id = OLD.id);
    END IF;
    RETURN OLD;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER authz_users_ikm_del BEFORE DELETE ON authz_users FOR EACH ROW EXECUTE FUNCTION key_marks_instance_parent_del();
CREATE TRIGGER authz_tenants_ikm_del BEFORE DELETE ON authz_tenants FOR EACH ROW EXECUTE FUNCTION key_marks_instance_parent_del();
CREATE TRIGGER authz_resource_roles_km_del BEFORE DELETE ON authz_resource_roles FOR EACH ROW EXECUTE FUNCTION key_marks_instance_parent_del();
CREATE TRIGGER authz_instances_km_del BEFORE DELETE ON authz_instances FOR EACH ROW EXECUTE FUNCTION key_marks_instance_parent_del();

-- +goose StatementBegin
CREATE FUNCTION key_marks_instance_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM authz_instance_assignments WHERE instance_id = NEW.id) THEN
        RETURN NULL;
    END IF;
    -- The environment's facts_versions row, as every counting writer
    -- takes it (no count crosses a split of the marks).
    PERFORM 1 FROM facts_versions WHERE env_id = NEW.env_id FOR UPDATE;
    UPDATE key_marks m SET n = m.n + c.k FROM (
        SELECT b.key, b.at, b.id, SUM(r.d) AS k FROM (
            SELECT t.key AS rkey, a.created_at, a.id, -1 AS d FROM authz_instance_assignments a JOIN authz_tenants t ON t.id = OLD.tenant_id WHERE a.instance_id = NEW.id
            UNION ALL SELECT t.key AS rkey, a.created_at, a.id, 1 AS d FROM authz_instance_assignments a JOIN authz_tenants t ON t.id = NEW.tenant_id WHERE a.instance_id = NEW.id) r CROSS JOIN LATERAL (
            SELECT l.key, l.at, l.id FROM key_marks l WHERE l.env_id = NEW.env_id AND l.sort = 'i:tenant' AND (l.key, l.at, l.id) <= (r.rkey, r.created_at, r.id)
            ORDER BY l.key DESC, l.at DESC, l.id DESC LIMIT 1) b
        GROUP BY b.key, b.at, b.id) c
    WHERE m.env_id = NEW.env_id AND m.sort = 'i:tenant' AND m.key = c.key AND m.at = c.at AND m.id = c.id AND c.k <> 0;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER authz_instances_km_tenant AFTER UPDATE OF tenant_id ON authz_instances FOR EACH ROW
    WHEN (OLD.tenant_id IS DISTINCT FROM NEW.tenant_id) EXECUTE FUNCTION key_marks_instance_move();

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
    -- key_marks on the assignments on instances (migration 00030), as
    -- above: found by their user's, resource role's and instance's
    -- tenant's keys (each deleted takes its assignments on instances
    -- first).
    IF TG_TABLE_NAME = 'authz_instance_assignments' THEN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO key_marks (env_id, sort, key, at, id, n)
            SELECT DISTINCT r.env_id, s.sort, '', -9223372036854775808, '', 0 FROM new_rows r CROSS JOIN (VALUES ('i:user'), ('i:role'), ('i:tenant')) AS s(sort) ORDER BY 1, 2
            ON CONFLICT DO NOTHING;
            UPDATE key_marks m SET n = m.n + c.k FROM (
                SELECT b.env_id, b.sort, b.key, b.at, b.id, COUNT(*) AS k FROM (
                    SELECT r.env_id, 'i:user'::text AS sort, k.key AS rkey, r.created_at, r.id FROM new_rows r JOIN authz_users k ON k.id = r.user_id
                    UNION ALL SELECT r.env_id, 'i:role'::text AS sort, k.key AS rkey, r.created_at, r.id FROM new_rows r JOIN authz_resource_roles k ON k.id = r.role_id
                    UNION ALL SELECT r.env_id, 'i:tenant'::text AS sort, k.key AS rkey, r.created_at, r.id FROM new_rows r JOIN authz_instances ki ON ki.id = r.instance_id JOIN authz_tenants k ON k.id = ki.tenant_id) r CROSS JOIN LATERAL (
                    SELECT l.env_id, l.sort, l.key, l.at, l.id FROM key_marks l WHERE l.env_id = r.env_id AND l.sort = r.sort AND (l.key, l.at, l.id) <= (r.rkey, r.created_at, r.id)
                    ORDER BY l.key DESC, l.at DESC, l.id DESC LIMIT 1) b
                GROUP BY b.env_id, b.sort, b.key, b.at, b.id) c
            WHERE m.env_id = c.env_id AND m.sort = c.sort AND m.key = c.key AND m.at = c.at AND m.id = c.id;
        ELSIF TG_OP = 'DELETE' THEN
            UPDATE key_marks m SET n = m.n - c.k FROM (
                SELECT b.env_id, b.sort, b.key, b.at, b.id, COUNT(*) AS k FROM (
                    SELECT r.env_id, 'i:user'::text AS sort, k.key AS rkey, r.created_at, r.id FROM (SELECT * FROM old_rows o WHERE EXISTS (SELECT 1 FROM environments e WHERE e.id = o.env_id)) r JOIN authz_users k ON k.id = r.user_id
                    UNION ALL SELECT r.env_id, 'i:role'::text AS sort, k.key AS rkey, r.created_at, r.id FROM (SELECT * FROM old_rows o WHERE EXISTS (SELECT 1 FROM environments e WHERE e.id = o.env_id)) r JOIN authz_resource_roles k ON k.id = r.role_id
                    UNION ALL SELECT r.env_id, 'i:tenant'::text AS sort, k.key AS rkey, r.created_at, r.id FROM (SELECT * FROM old_rows o WHERE EXISTS (SELECT 1 FROM environments e WHERE e.id = o.env_id)) r JOIN authz_instances ki ON ki.id = r.instance_id JOIN authz_tenants k ON k.id = ki.tenant_id) r CROSS JOIN LATERAL (
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

DROP TRIGGER authz_instances_km_tenant ON authz_instances;
DROP FUNCTION key_marks_instance_move();
DROP TRIGGER authz_instances_km_del ON authz_instances;
DROP TRIGGER authz_resource_roles_km_del ON authz_resource_roles;
DROP TRIGGER authz_tenants_ikm_del ON authz_tenants;
DROP TRIGGER authz_users_ikm_del ON authz_users;
DROP FUNCTION key_marks_instance_parent_del();
DELETE FROM key_marks WHERE sort IN ('i:user', 'i:role', 'i:tenant');
DROP INDEX authz_resource_roles_env_key;
