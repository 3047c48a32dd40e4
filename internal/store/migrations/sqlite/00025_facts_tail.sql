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
-- given their environment's tail and a new vr, so no cursor kept before
-- this migration is taken under the new rule. An environment whose row is
-- first made by an update or a delete (none should be: its rows were
-- inserted first) gets the greatest tail_at, so no insert there ever
-- counts as after it.

-- +goose Up
ALTER TABLE facts_versions ADD COLUMN vr BIGINT NOT NULL DEFAULT 0;
ALTER TABLE facts_versions ADD COLUMN tail_at BIGINT;
ALTER TABLE facts_versions ADD COLUMN tail_id TEXT;
UPDATE facts_versions SET vr = random();
INSERT INTO facts_versions (env_id, v, vr, tail_at)
SELECT env_id, random(), random(), max(at) FROM (
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
) WHERE true GROUP BY env_id
ON CONFLICT (env_id) DO UPDATE SET v = random(), vr = random(), tail_at = excluded.tail_at, tail_id = NULL;
DROP TRIGGER authz_users_fv_ins;
DROP TRIGGER authz_users_fv_upd;
DROP TRIGGER authz_users_fv_del;
DROP TRIGGER authz_tenants_fv_ins;
DROP TRIGGER authz_tenants_fv_upd;
DROP TRIGGER authz_tenants_fv_del;
DROP TRIGGER authz_roles_fv_ins;
DROP TRIGGER authz_roles_fv_upd;
DROP TRIGGER authz_roles_fv_del;
DROP TRIGGER authz_resources_fv_ins;
DROP TRIGGER authz_resources_fv_upd;
DROP TRIGGER authz_resources_fv_del;
DROP TRIGGER authz_role_assignments_fv_ins;
DROP TRIGGER authz_role_assignments_fv_upd;
DROP TRIGGER authz_role_assignments_fv_del;
DROP TRIGGER authz_resource_roles_fv_ins;
DROP TRIGGER authz_resource_roles_fv_upd;
DROP TRIGGER authz_resource_roles_fv_del;
DROP TRIGGER authz_relations_fv_ins;
DROP TRIGGER authz_relations_fv_upd;
DROP TRIGGER authz_relations_fv_del;
DROP TRIGGER authz_instances_fv_ins;
DROP TRIGGER authz_instances_fv_upd;
DROP TRIGGER authz_instances_fv_del;
DROP TRIGGER authz_instance_assignments_fv_ins;
DROP TRIGGER authz_instance_assignments_fv_upd;
DROP TRIGGER authz_instance_assignments_fv_del;
DROP TRIGGER authz_tuples_fv_ins;
DROP TRIGGER authz_tuples_fv_upd;
DROP TRIGGER authz_tuples_fv_del;
DROP TRIGGER authz_condition_sets_fv_ins;
DROP TRIGGER authz_condition_sets_fv_upd;
DROP TRIGGER authz_condition_sets_fv_del;
DROP TRIGGER authz_set_rules_fv_ins;
DROP TRIGGER authz_set_rules_fv_upd;
DROP TRIGGER authz_set_rules_fv_del;
-- +goose StatementBegin
CREATE TRIGGER authz_users_fv_ins AFTER INSERT ON authz_users BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at, tail_id) VALUES (NEW.env_id, random(), random(), NEW.created_at, NEW.id)
    ON CONFLICT (env_id) DO UPDATE SET v = random(),
        vr = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN vr ELSE random() END,
        tail_at = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN excluded.tail_at ELSE tail_at END,
        tail_id = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN excluded.tail_id ELSE tail_id END;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_users_fv_upd AFTER UPDATE ON authz_users BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at) VALUES (NEW.env_id, random(), random(), 9223372036854775807) ON CONFLICT (env_id) DO UPDATE SET v = random(), vr = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_users_fv_del AFTER DELETE ON authz_users BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at) VALUES (OLD.env_id, random(), random(), 9223372036854775807) ON CONFLICT (env_id) DO UPDATE SET v = random(), vr = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_tenants_fv_ins AFTER INSERT ON authz_tenants BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at, tail_id) VALUES (NEW.env_id, random(), random(), NEW.created_at, NEW.id)
    ON CONFLICT (env_id) DO UPDATE SET v = random(),
        vr = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN vr ELSE random() END,
        tail_at = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN excluded.tail_at ELSE tail_at END,
        tail_id = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN excluded.tail_id ELSE tail_id END;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_tenants_fv_upd AFTER UPDATE ON authz_tenants BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at) VALUES (NEW.env_id, random(), random(), 9223372036854775807) ON CONFLICT (env_id) DO UPDATE SET v = random(), vr = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_tenants_fv_del AFTER DELETE ON authz_tenants BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at) VALUES (OLD.env_id, random(), random(), 9223372036854775807) ON CONFLICT (env_id) DO UPDATE SET v = random(), vr = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_roles_fv_ins AFTER INSERT ON authz_roles BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at, tail_id) VALUES (NEW.env_id, random(), random(), NEW.created_at, NEW.id)
    ON CONFLICT (env_id) DO UPDATE SET v = random(),
        vr = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN vr ELSE random() END,
        tail_at = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN excluded.tail_at ELSE tail_at END,
        tail_id = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN excluded.tail_id ELSE tail_id END;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_roles_fv_upd AFTER UPDATE ON authz_roles BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at) VALUES (NEW.env_id, random(), random(), 9223372036854775807) ON CONFLICT (env_id) DO UPDATE SET v = random(), vr = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_roles_fv_del AFTER DELETE ON authz_roles BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at) VALUES (OLD.env_id, random(), random(), 9223372036854775807) ON CONFLICT (env_id) DO UPDATE SET v = random(), vr = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_resources_fv_ins AFTER INSERT ON authz_resources BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at, tail_id) VALUES (NEW.env_id, random(), random(), NEW.created_at, NEW.id)
    ON CONFLICT (env_id) DO UPDATE SET v = random(),
        vr = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN vr ELSE random() END,
        tail_at = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN excluded.tail_at ELSE tail_at END,
        tail_id = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN excluded.tail_id ELSE tail_id END;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_resources_fv_upd AFTER UPDATE ON authz_resources BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at) VALUES (NEW.env_id, random(), random(), 9223372036854775807) ON CONFLICT (env_id) DO UPDATE SET v = random(), vr = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_resources_fv_del AFTER DELETE ON authz_resources BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at) VALUES (OLD.env_id, random(), random(), 9223372036854775807) ON CONFLICT (env_id) DO UPDATE SET v = random(), vr = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_role_assignments_fv_ins AFTER INSERT ON authz_role_assignments BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at, tail_id) VALUES (NEW.env_id, random(), random(), NEW.created_at, NEW.id)
    ON CONFLICT (env_id) DO UPDATE SET v = random(),
        vr = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN vr ELSE random() END,
        tail_at = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN excluded.tail_at ELSE tail_at END,
        tail_id = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN excluded.tail_id ELSE tail_id END;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_role_assignments_fv_upd AFTER UPDATE ON authz_role_assignments BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at) VALUES (NEW.env_id, random(), random(), 9223372036854775807) ON CONFLICT (env_id) DO UPDATE SET v = random(), vr = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_role_assignments_fv_del AFTER DELETE ON authz_role_assignments BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at) VALUES (OLD.env_id, random(), random(), 9223372036854775807) ON CONFLICT (env_id) DO UPDATE SET v = random(), vr = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_resource_roles_fv_ins AFTER INSERT ON authz_resource_roles BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at, tail_id) VALUES (NEW.env_id, random(), random(), NEW.created_at, NEW.id)
    ON CONFLICT (env_id) DO UPDATE SET v = random(),
        vr = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN vr ELSE random() END,
        tail_at = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN excluded.tail_at ELSE tail_at END,
        tail_id = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN excluded.tail_id ELSE tail_id END;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_resource_roles_fv_upd AFTER UPDATE ON authz_resource_roles BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at) VALUES (NEW.env_id, random(), random(), 9223372036854775807) ON CONFLICT (env_id) DO UPDATE SET v = random(), vr = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_resource_roles_fv_del AFTER DELETE ON authz_resource_roles BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at) VALUES (OLD.env_id, random(), random(), 9223372036854775807) ON CONFLICT (env_id) DO UPDATE SET v = random(), vr = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_relations_fv_ins AFTER INSERT ON authz_relations BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at, tail_id) VALUES (NEW.env_id, random(), random(), NEW.created_at, NEW.id)
    ON CONFLICT (env_id) DO UPDATE SET v = random(),
        vr = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN vr ELSE random() END,
        tail_at = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN excluded.tail_at ELSE tail_at END,
        tail_id = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN excluded.tail_id ELSE tail_id END;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_relations_fv_upd AFTER UPDATE ON authz_relations BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at) VALUES (NEW.env_id, random(), random(), 9223372036854775807) ON CONFLICT (env_id) DO UPDATE SET v = random(), vr = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_relations_fv_del AFTER DELETE ON authz_relations BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at) VALUES (OLD.env_id, random(), random(), 9223372036854775807) ON CONFLICT (env_id) DO UPDATE SET v = random(), vr = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_instances_fv_ins AFTER INSERT ON authz_instances BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at, tail_id) VALUES (NEW.env_id, random(), random(), NEW.created_at, NEW.id)
    ON CONFLICT (env_id) DO UPDATE SET v = random(),
        vr = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN vr ELSE random() END,
        tail_at = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN excluded.tail_at ELSE tail_at END,
        tail_id = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN excluded.tail_id ELSE tail_id END;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_instances_fv_upd AFTER UPDATE ON authz_instances BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at) VALUES (NEW.env_id, random(), random(), 9223372036854775807) ON CONFLICT (env_id) DO UPDATE SET v = random(), vr = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_instances_fv_del AFTER DELETE ON authz_instances BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at) VALUES (OLD.env_id, random(), random(), 9223372036854775807) ON CONFLICT (env_id) DO UPDATE SET v = random(), vr = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_instance_assignments_fv_ins AFTER INSERT ON authz_instance_assignments BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at, tail_id) VALUES (NEW.env_id, random(), random(), NEW.created_at, NEW.id)
    ON CONFLICT (env_id) DO UPDATE SET v = random(),
        vr = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN vr ELSE random() END,
        tail_at = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN excluded.tail_at ELSE tail_at END,
        tail_id = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN excluded.tail_id ELSE tail_id END;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_instance_assignments_fv_upd AFTER UPDATE ON authz_instance_assignments BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at) VALUES (NEW.env_id, random(), random(), 9223372036854775807) ON CONFLICT (env_id) DO UPDATE SET v = random(), vr = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_instance_assignments_fv_del AFTER DELETE ON authz_instance_assignments BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at) VALUES (OLD.env_id, random(), random(), 9223372036854775807) ON CONFLICT (env_id) DO UPDATE SET v = random(), vr = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_tuples_fv_ins AFTER INSERT ON authz_tuples BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at, tail_id) VALUES (NEW.env_id, random(), random(), NEW.created_at, NEW.id)
    ON CONFLICT (env_id) DO UPDATE SET v = random(),
        vr = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN vr ELSE random() END,
        tail_at = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN excluded.tail_at ELSE tail_at END,
        tail_id = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN excluded.tail_id ELSE tail_id END;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_tuples_fv_upd AFTER UPDATE ON authz_tuples BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at) VALUES (NEW.env_id, random(), random(), 9223372036854775807) ON CONFLICT (env_id) DO UPDATE SET v = random(), vr = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_tuples_fv_del AFTER DELETE ON authz_tuples BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at) VALUES (OLD.env_id, random(), random(), 9223372036854775807) ON CONFLICT (env_id) DO UPDATE SET v = random(), vr = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_condition_sets_fv_ins AFTER INSERT ON authz_condition_sets BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at, tail_id) VALUES (NEW.env_id, random(), random(), NEW.created_at, NEW.id)
    ON CONFLICT (env_id) DO UPDATE SET v = random(),
        vr = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN vr ELSE random() END,
        tail_at = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN excluded.tail_at ELSE tail_at END,
        tail_id = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN excluded.tail_id ELSE tail_id END;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_condition_sets_fv_upd AFTER UPDATE ON authz_condition_sets BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at) VALUES (NEW.env_id, random(), random(), 9223372036854775807) ON CONFLICT (env_id) DO UPDATE SET v = random(), vr = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_condition_sets_fv_del AFTER DELETE ON authz_condition_sets BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at) VALUES (OLD.env_id, random(), random(), 9223372036854775807) ON CONFLICT (env_id) DO UPDATE SET v = random(), vr = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_set_rules_fv_ins AFTER INSERT ON authz_set_rules BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at, tail_id) VALUES (NEW.env_id, random(), random(), NEW.created_at, NEW.id)
    ON CONFLICT (env_id) DO UPDATE SET v = random(),
        vr = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN vr ELSE random() END,
        tail_at = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN excluded.tail_at ELSE tail_at END,
        tail_id = CASE WHEN tail_at IS NULL OR excluded.tail_at > tail_at OR (excluded.tail_at = tail_at AND tail_id IS NOT NULL AND excluded.tail_id > tail_id) THEN excluded.tail_id ELSE tail_id END;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_set_rules_fv_upd AFTER UPDATE ON authz_set_rules BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at) VALUES (NEW.env_id, random(), random(), 9223372036854775807) ON CONFLICT (env_id) DO UPDATE SET v = random(), vr = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_set_rules_fv_del AFTER DELETE ON authz_set_rules BEGIN
    INSERT INTO facts_versions (env_id, v, vr, tail_at) VALUES (OLD.env_id, random(), random(), 9223372036854775807) ON CONFLICT (env_id) DO UPDATE SET v = random(), vr = random();
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER authz_users_fv_ins;
DROP TRIGGER authz_users_fv_upd;
DROP TRIGGER authz_users_fv_del;
DROP TRIGGER authz_tenants_fv_ins;
DROP TRIGGER authz_tenants_fv_upd;
DROP TRIGGER authz_tenants_fv_del;
DROP TRIGGER authz_roles_fv_ins;
DROP TRIGGER authz_roles_fv_upd;
DROP TRIGGER authz_roles_fv_del;
DROP TRIGGER authz_resources_fv_ins;
DROP TRIGGER authz_resources_fv_upd;
DROP TRIGGER authz_resources_fv_del;
DROP TRIGGER authz_role_assignments_fv_ins;
DROP TRIGGER authz_role_assignments_fv_upd;
DROP TRIGGER authz_role_assignments_fv_del;
DROP TRIGGER authz_resource_roles_fv_ins;
DROP TRIGGER authz_resource_roles_fv_upd;
DROP TRIGGER authz_resource_roles_fv_del;
DROP TRIGGER authz_relations_fv_ins;
DROP TRIGGER authz_relations_fv_upd;
DROP TRIGGER authz_relations_fv_del;
DROP TRIGGER authz_instances_fv_ins;
DROP TRIGGER authz_instances_fv_upd;
DROP TRIGGER authz_instances_fv_del;
DROP TRIGGER authz_instance_assignments_fv_ins;
DROP TRIGGER authz_instance_assignments_fv_upd;
DROP TRIGGER authz_instance_assignments_fv_del;
DROP TRIGGER authz_tuples_fv_ins;
DROP TRIGGER authz_tuples_fv_upd;
DROP TRIGGER authz_tuples_fv_del;
DROP TRIGGER authz_condition_sets_fv_ins;
DROP TRIGGER authz_condition_sets_fv_upd;
DROP TRIGGER authz_condition_sets_fv_del;
DROP TRIGGER authz_set_rules_fv_ins;
DROP TRIGGER authz_set_rules_fv_upd;
DROP TRIGGER authz_set_rules_fv_del;
-- +goose StatementBegin
CREATE TRIGGER authz_users_fv_ins AFTER INSERT ON authz_users BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (NEW.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_users_fv_upd AFTER UPDATE ON authz_users BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (NEW.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_users_fv_del AFTER DELETE ON authz_users BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (OLD.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_tenants_fv_ins AFTER INSERT ON authz_tenants BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (NEW.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_tenants_fv_upd AFTER UPDATE ON authz_tenants BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (NEW.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_tenants_fv_del AFTER DELETE ON authz_tenants BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (OLD.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_roles_fv_ins AFTER INSERT ON authz_roles BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (NEW.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_roles_fv_upd AFTER UPDATE ON authz_roles BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (NEW.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_roles_fv_del AFTER DELETE ON authz_roles BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (OLD.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_resources_fv_ins AFTER INSERT ON authz_resources BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (NEW.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_resources_fv_upd AFTER UPDATE ON authz_resources BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (NEW.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_resources_fv_del AFTER DELETE ON authz_resources BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (OLD.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_role_assignments_fv_ins AFTER INSERT ON authz_role_assignments BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (NEW.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_role_assignments_fv_upd AFTER UPDATE ON authz_role_assignments BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (NEW.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_role_assignments_fv_del AFTER DELETE ON authz_role_assignments BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (OLD.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_resource_roles_fv_ins AFTER INSERT ON authz_resource_roles BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (NEW.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_resource_roles_fv_upd AFTER UPDATE ON authz_resource_roles BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (NEW.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_resource_roles_fv_del AFTER DELETE ON authz_resource_roles BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (OLD.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_relations_fv_ins AFTER INSERT ON authz_relations BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (NEW.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_relations_fv_upd AFTER UPDATE ON authz_relations BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (NEW.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_relations_fv_del AFTER DELETE ON authz_relations BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (OLD.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_instances_fv_ins AFTER INSERT ON authz_instances BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (NEW.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_instances_fv_upd AFTER UPDATE ON authz_instances BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (NEW.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_instances_fv_del AFTER DELETE ON authz_instances BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (OLD.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_instance_assignments_fv_ins AFTER INSERT ON authz_instance_assignments BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (NEW.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_instance_assignments_fv_upd AFTER UPDATE ON authz_instance_assignments BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (NEW.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_instance_assignments_fv_del AFTER DELETE ON authz_instance_assignments BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (OLD.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_tuples_fv_ins AFTER INSERT ON authz_tuples BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (NEW.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_tuples_fv_upd AFTER UPDATE ON authz_tuples BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (NEW.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_tuples_fv_del AFTER DELETE ON authz_tuples BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (OLD.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_condition_sets_fv_ins AFTER INSERT ON authz_condition_sets BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (NEW.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_condition_sets_fv_upd AFTER UPDATE ON authz_condition_sets BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (NEW.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_condition_sets_fv_del AFTER DELETE ON authz_condition_sets BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (OLD.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_set_rules_fv_ins AFTER INSERT ON authz_set_rules BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (NEW.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_set_rules_fv_upd AFTER UPDATE ON authz_set_rules BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (NEW.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_set_rules_fv_del AFTER DELETE ON authz_set_rules BEGIN
    INSERT INTO facts_versions (env_id, v) VALUES (OLD.env_id, random()) ON CONFLICT (env_id) DO UPDATE SET v = random();
END;
-- +goose StatementEnd
ALTER TABLE facts_versions DROP COLUMN tail_id;
ALTER TABLE facts_versions DROP COLUMN tail_at;
ALTER TABLE facts_versions DROP COLUMN vr;
