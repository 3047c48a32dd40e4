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
CREATE FUNCTION facts_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE TRIGGER authz_users_fv_ins AFTER INSERT ON authz_users REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_users_fv_upd AFTER UPDATE ON authz_users REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_users_fv_del AFTER DELETE ON authz_users REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_tenants_fv_ins AFTER INSERT ON authz_tenants REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_tenants_fv_upd AFTER UPDATE ON authz_tenants REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_tenants_fv_del AFTER DELETE ON authz_tenants REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_roles_fv_ins AFTER INSERT ON authz_roles REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_roles_fv_upd AFTER UPDATE ON authz_roles REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_roles_fv_del AFTER DELETE ON authz_roles REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_resources_fv_ins AFTER INSERT ON authz_resources REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_resources_fv_upd AFTER UPDATE ON authz_resources REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_resources_fv_del AFTER DELETE ON authz_resources REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_role_assignments_fv_ins AFTER INSERT ON authz_role_assignments REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_role_assignments_fv_upd AFTER UPDATE ON authz_role_assignments REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_role_assignments_fv_del AFTER DELETE ON authz_role_assignments REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_resource_roles_fv_ins AFTER INSERT ON authz_resource_roles REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_resource_roles_fv_upd AFTER UPDATE ON authz_resource_roles REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_resource_roles_fv_del AFTER DELETE ON authz_resource_roles REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_relations_fv_ins AFTER INSERT ON authz_relations REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_relations_fv_upd AFTER UPDATE ON authz_relations REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_relations_fv_del AFTER DELETE ON authz_relations REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_instances_fv_ins AFTER INSERT ON authz_instances REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_instances_fv_upd AFTER UPDATE ON authz_instances REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_instances_fv_del AFTER DELETE ON authz_instances REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_instance_assignments_fv_ins AFTER INSERT ON authz_instance_assignments REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_instance_assignments_fv_upd AFTER UPDATE ON authz_instance_assignments REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_instance_assignments_fv_del AFTER DELETE ON authz_instance_assignments REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_tuples_fv_ins AFTER INSERT ON authz_tuples REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_tuples_fv_upd AFTER UPDATE ON authz_tuples REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_tuples_fv_del AFTER DELETE ON authz_tuples REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_condition_sets_fv_ins AFTER INSERT ON authz_condition_sets REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_condition_sets_fv_upd AFTER UPDATE ON authz_condition_sets REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_condition_sets_fv_del AFTER DELETE ON authz_condition_sets REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_set_rules_fv_ins AFTER INSERT ON authz_set_rules REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_set_rules_fv_upd AFTER UPDATE ON authz_set_rules REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER authz_set_rules_fv_del AFTER DELETE ON authz_set_rules REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION facts_version_bump();

-- +goose Down
DROP TRIGGER authz_users_fv_ins ON authz_users;
DROP TRIGGER authz_users_fv_upd ON authz_users;
DROP TRIGGER authz_users_fv_del ON authz_users;
DROP TRIGGER authz_tenants_fv_ins ON authz_tenants;
DROP TRIGGER authz_tenants_fv_upd ON authz_tenants;
DROP TRIGGER authz_tenants_fv_del ON authz_tenants;
DROP TRIGGER authz_roles_fv_ins ON authz_roles;
DROP TRIGGER authz_roles_fv_upd ON authz_roles;
DROP TRIGGER authz_roles_fv_del ON authz_roles;
DROP TRIGGER authz_resources_fv_ins ON authz_resources;
DROP TRIGGER authz_resources_fv_upd ON authz_resources;
DROP TRIGGER authz_resources_fv_del ON authz_resources;
DROP TRIGGER authz_role_assignments_fv_ins ON authz_role_assignments;
DROP TRIGGER authz_role_assignments_fv_upd ON authz_role_assignments;
DROP TRIGGER authz_role_assignments_fv_del ON authz_role_assignments;
DROP TRIGGER authz_resource_roles_fv_ins ON authz_resource_roles;
DROP TRIGGER authz_resource_roles_fv_upd ON authz_resource_roles;
DROP TRIGGER authz_resource_roles_fv_del ON authz_resource_roles;
DROP TRIGGER authz_relations_fv_ins ON authz_relations;
DROP TRIGGER authz_relations_fv_upd ON authz_relations;
DROP TRIGGER authz_relations_fv_del ON authz_relations;
DROP TRIGGER authz_instances_fv_ins ON authz_instances;
DROP TRIGGER authz_instances_fv_upd ON authz_instances;
DROP TRIGGER authz_instances_fv_del ON authz_instances;
DROP TRIGGER authz_instance_assignments_fv_ins ON authz_instance_assignments;
DROP TRIGGER authz_instance_assignments_fv_upd ON authz_instance_assignments;
DROP TRIGGER authz_instance_assignments_fv_del ON authz_instance_assignments;
DROP TRIGGER authz_tuples_fv_ins ON authz_tuples;
DROP TRIGGER authz_tuples_fv_upd ON authz_tuples;
DROP TRIGGER authz_tuples_fv_del ON authz_tuples;
DROP TRIGGER authz_condition_sets_fv_ins ON authz_condition_sets;
DROP TRIGGER authz_condition_sets_fv_upd ON authz_condition_sets;
DROP TRIGGER authz_condition_sets_fv_del ON authz_condition_sets;
DROP TRIGGER authz_set_rules_fv_ins ON authz_set_rules;
DROP TRIGGER authz_set_rules_fv_upd ON authz_set_rules;
DROP TRIGGER authz_set_rules_fv_del ON authz_set_rules;
DROP FUNCTION facts_version_bump();
DROP TABLE facts_versions;
