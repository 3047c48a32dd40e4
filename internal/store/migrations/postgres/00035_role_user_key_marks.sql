-- Key marks (migration 00028) of one role's tenant assignments sorted by
-- user: sort 'ru:' || role_id, marks (key, at, id) along (user key,
-- created_at, id) counting only that role's rows. A deep page by number
-- of a role sorted by user (?role=viewer&sort=user, when the role holds
-- more rows than are read whole and sorted) walked every user before the
-- page, counting each one's rows of the role: 0.2-0.9 s half-way through
-- a role holding 500,000 of 1M assignments (bench/README.md, "Fifteenth
-- pass"). Through these marks it adds up the counts to the mark before
-- its first row and steps over at most that mark's rows, as the sorts of
-- 00028 do. Existing assignments get a mark every 1,024 rows of each role.
--
-- The counting is a statement trigger of its own, named to fire after
-- authz_role_assignments_fv_* (PostgreSQL fires a table's triggers in
-- name order): facts_version_bump has taken the environment's
-- facts_versions row by then, as every writer counting marks does first.
-- Rows of an environment being deleted are not counted out (00026, 00028);
-- a role deleted takes its marks with it (its assignments go first,
-- counted out).

-- +goose Up
-- Writers wait until this commits: a row inserted while the marks are made
-- would not be counted.
LOCK TABLE authz_role_assignments, authz_users IN SHARE MODE;
INSERT INTO key_marks (env_id, sort, key, at, id, n)
SELECT env_id, 'ru:' || role_id, CASE WHEN rn = 0 THEN '' ELSE key END, CASE WHEN rn = 0 THEN -9223372036854775808 ELSE created_at END, CASE WHEN rn = 0 THEN '' ELSE id END, LEAST(1024, total - rn)
FROM (SELECT a.env_id, a.role_id, k.key, a.created_at, a.id, ROW_NUMBER() OVER (PARTITION BY a.env_id, a.role_id ORDER BY k.key, a.created_at, a.id) - 1 AS rn, COUNT(*) OVER (PARTITION BY a.env_id, a.role_id) AS total
      FROM authz_role_assignments a JOIN authz_users k ON k.id = a.user_id) AS r
WHERE rn % 1024 = 0;

-- +goose StatementBegin
CREATE FUNCTION role_user_key_marks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO key_marks (env_id, sort, key, at, id, n)
        SELECT DISTINCT r.env_id, 'ru:' || r.role_id, '', -9223372036854775808, '', 0 FROM new_rows r ORDER BY 1, 2
        ON CONFLICT DO NOTHING;
        UPDATE key_marks m SET n = m.n + c.k FROM (
            SELECT b.env_id, b.sort, b.key, b.at, b.id, COUNT(*) AS k FROM (
                SELECT r.env_id, 'ru:' || r.role_id AS sort, k.key AS rkey, r.created_at, r.id FROM new_rows r JOIN authz_users k ON k.id = r.user_id) r CROSS JOIN LATERAL (
                SELECT l.env_id, l.sort, l.key, l.at, l.id FROM key_marks l WHERE l.env_id = r.env_id AND l.sort = r.sort AND (l.key, l.at, l.id) <= (r.rkey, r.created_at, r.id)
                ORDER BY l.key DESC, l.at DESC, l.id DESC LIMIT 1) b
            GROUP BY b.env_id, b.sort, b.key, b.at, b.id) c
        WHERE m.env_id = c.env_id AND m.sort = c.sort AND m.key = c.key AND m.at = c.at AND m.id = c.id;
    ELSE
        UPDATE key_marks m SET n = m.n - c.k FROM (
            SELECT b.env_id, b.sort, b.key, b.at, b.id, COUNT(*) AS k FROM (
                SELECT r.env_id, 'ru:' || r.role_id AS sort, k.key AS rkey, r.created_at, r.id FROM (SELECT * FROM old_rows o WHERE EXISTS (SELECT 1 FROM environments e WHERE e.id = o.env_id)) r JOIN authz_users k ON k.id = r.user_id) r CROSS JOIN LATERAL (
                SELECT l.env_id, l.sort, l.key, l.at, l.id FROM key_marks l WHERE l.env_id = r.env_id AND l.sort = r.sort AND (l.key, l.at, l.id) <= (r.rkey, r.created_at, r.id)
                ORDER BY l.key DESC, l.at DESC, l.id DESC LIMIT 1) b
            GROUP BY b.env_id, b.sort, b.key, b.at, b.id) c
        WHERE m.env_id = c.env_id AND m.sort = c.sort AND m.key = c.key AND m.at = c.at AND m.id = c.id;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER authz_role_assignments_rkm_ins AFTER INSERT ON authz_role_assignments REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION role_user_key_marks();
CREATE TRIGGER authz_role_assignments_rkm_del AFTER DELETE ON authz_role_assignments REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION role_user_key_marks();

-- +goose StatementBegin
CREATE FUNCTION role_user_key_marks_role_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM environments WHERE id = OLD.env_id) THEN
        RETURN NULL; -- (the environment's marks go with it)
    END IF;
    -- The environment's facts_versions row first, as every writer of
    -- marks takes it (a row trigger fires before the statement's
    -- facts_version_bump): otherwise the marks' upkeep, which holds it
    -- and then rewrites these marks, deadlocks with this delete, or makes
    -- a mark again after it.
    PERFORM 1 FROM facts_versions WHERE env_id = OLD.env_id FOR UPDATE;
    DELETE FROM key_marks WHERE env_id = OLD.env_id AND sort = 'ru:' || OLD.id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER authz_roles_rkm_del AFTER DELETE ON authz_roles FOR EACH ROW EXECUTE FUNCTION role_user_key_marks_role_del();

-- +goose Down
DROP TRIGGER authz_roles_rkm_del ON authz_roles;
DROP FUNCTION role_user_key_marks_role_del();
DROP TRIGGER authz_role_assignments_rkm_del ON authz_role_assignments;
DROP TRIGGER authz_role_assignments_rkm_ins ON authz_role_assignments;
DROP FUNCTION role_user_key_marks();
DELETE FROM key_marks WHERE sort LIKE 'ru:%';
