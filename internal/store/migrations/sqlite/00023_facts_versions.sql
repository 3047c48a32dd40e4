-- facts_versions holds, per environment, a number that every write to any
-- of its authorization data changes: a trigger on every fact table sets it
-- to a new random value in the writing transaction (per row on SQLite, per
-- statement on PostgreSQL), so that a reader who sees the same value
-- before and after a read knows no write committed in between (a deep page
-- read by number through the cursor the node kept from the page before
-- it: store/anchor.go). Random rather than counted, so that it does not
-- come back to an old value after a restore, a failover that lost commits
-- or this migration undone and redone. No foreign key, so that the cascade
-- of an environment's deletion can still set it (a deleted environment's
-- row stays: two numbers).

-- +goose Up
CREATE TABLE facts_versions (
    env_id TEXT PRIMARY KEY,
    v      BIGINT NOT NULL
);
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
DROP TABLE facts_versions;
