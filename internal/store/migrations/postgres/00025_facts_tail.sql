-- 00023's facts_versions value v changes on every write, and a deep page
-- by number is read through a kept cursor only while it has not changed
-- since (store/anchor.go). On a live system that is seldom: almost every
-- page of a walk follows some write. Most writes are inserts, and a row
-- inserted after every row the environment already has, in (created_at,
-- id) order, does not move any row of a list sorted by created_at
-- ascending: every kept cursor of such a list still stands at the same
-- offset. So facts_versions gains:
--
--   vr       a second random value, changed by every write except such an
--            insert: deletes, updates, and inserts that are not after the
--            tail (a clock behind another node's, an import of old rows)
--   tail_at  the greatest (created_at, id) ever inserted in the
--   tail_id  environment's fact tables; tail_id NULL with tail_at set means
--            "some row at tail_at": an insert at that same time counts as
--            not after it. tail_at NULL: no fact row yet, any insert is after.
--
-- A list by created_at ascending whose count is capped (more rows than it
-- counts) uses a kept cursor while vr has not changed. Existing rows are
-- given their environment's tail and a new vr, and list_anchors gains vr
-- (0 for the cursors kept before: never a value the triggers give), so no
-- cursor kept before this migration, or by a node of the version before,
-- is taken under the new rule. An environment whose row is
-- first made by an update or a delete (none should be: its rows were
-- inserted first) gets the greatest tail_at, so no insert there ever
-- counts as after it.

-- +goose Up
-- Writers wait until this commits (and those in flight finish first): a
-- row inserted while the tails are computed, whose statement trigger then
-- ran the old function, would otherwise sit above its environment's tail.
LOCK TABLE authz_users, authz_tenants, authz_roles, authz_resources, authz_role_assignments, authz_resource_roles, authz_relations, authz_instances, authz_instance_assignments, authz_tuples, authz_condition_sets, authz_set_rules IN SHARE MODE;
ALTER TABLE facts_versions ADD COLUMN vr BIGINT NOT NULL DEFAULT 0;
ALTER TABLE facts_versions ADD COLUMN tail_at BIGINT;
ALTER TABLE facts_versions ADD COLUMN tail_id TEXT;
ALTER TABLE list_anchors ADD COLUMN vr BIGINT NOT NULL DEFAULT 0;
UPDATE facts_versions SET vr = floor(random() * 9e18)::bigint;
INSERT INTO facts_versions AS f (env_id, v, vr, tail_at)
SELECT env_id, floor(random() * 9e18)::bigint, floor(random() * 9e18)::bigint, max(at) FROM (
    SELECT env_id, max(created_at) AS at FROM authz_users GROUP BY env_id UNION ALL
    SELECT env_id, max(created_at) AS at FROM authz_tenants GROUP BY env_id UNION ALL
    SELECT env_id, max(created_at) AS at FROM authz_roles GROUP BY env_id UNION ALL
    SELECT env_id, max(created_at) AS at FROM authz_resources GROUP BY env_id UNION ALL
    SELECT env_id, max(created_at) AS at FROM authz_role_assignments GROUP BY env_id UNION ALL
    SELECT env_id, max(created_at) AS at FROM authz_resource_roles GROUP BY env_id UNION ALL
    SELECT env_id, max(created_at) AS at FROM authz_relations GROUP BY env_id UNION ALL
    SELECT env_id, max(created_at) AS at FROM authz_instances GROUP BY env_id UNION ALL
    SELECT env_id, max(created_at) AS at FROM authz_instance_assignments GROUP BY env_id UNION ALL
    SELECT env_id, max(created_at) AS at FROM authz_tuples GROUP BY env_id UNION ALL
    SELECT env_id, max(created_at) AS at FROM authz_condition_sets GROUP BY env_id UNION ALL
    SELECT env_id, max(created_at) AS at FROM authz_set_rules GROUP BY env_id
) AS t GROUP BY env_id ORDER BY env_id
ON CONFLICT (env_id) DO UPDATE SET v = excluded.v, vr = excluded.vr, tail_at = excluded.tail_at, tail_id = NULL;

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

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION facts_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO facts_versions (env_id, v)
        SELECT env_id, floor(random() * 9e18)::bigint FROM (SELECT DISTINCT env_id FROM old_rows) AS e ORDER BY env_id
        ON CONFLICT (env_id) DO UPDATE SET v = floor(random() * 9e18)::bigint;
    ELSE
        INSERT INTO facts_versions (env_id, v)
        SELECT env_id, floor(random() * 9e18)::bigint FROM (SELECT DISTINCT env_id FROM new_rows) AS e ORDER BY env_id
        ON CONFLICT (env_id) DO UPDATE SET v = floor(random() * 9e18)::bigint;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
ALTER TABLE list_anchors DROP COLUMN vr;
ALTER TABLE facts_versions DROP COLUMN tail_id;
ALTER TABLE facts_versions DROP COLUMN tail_at;
ALTER TABLE facts_versions DROP COLUMN vr;
