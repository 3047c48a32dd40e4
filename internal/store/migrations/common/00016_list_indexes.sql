-- Indexes for the documented filters and sorts of the big lists (issue 16
-- point 12). Each ends with the sort column and id, the keyset of cursor
-- paging (and the tie-break of every list's order), so that a page is a
-- range read of one index at any depth: WHERE scope = ? [AND filter = ?]
-- AND (sort, id) after the cursor ORDER BY sort, id LIMIT n. The indexes
-- they supersede (the same leading columns without id) go.

-- +goose Up
CREATE INDEX authz_users_list_created ON authz_users (env_id, created_at, id);
CREATE INDEX authz_users_list_updated ON authz_users (env_id, updated_at, id);
CREATE INDEX authz_users_list_key ON authz_users (env_id, key, id);
CREATE INDEX authz_users_list_email ON authz_users (env_id, email, id);

CREATE INDEX authz_tenants_list_created ON authz_tenants (env_id, created_at, id);
CREATE INDEX authz_tenants_list_updated ON authz_tenants (env_id, updated_at, id);
CREATE INDEX authz_tenants_list_key ON authz_tenants (env_id, key, id);
CREATE INDEX authz_tenants_list_name ON authz_tenants (env_id, name, id);

DROP INDEX authz_role_assignments_env;
DROP INDEX authz_role_assignments_role;
DROP INDEX authz_role_assignments_tenant;
CREATE INDEX authz_role_assignments_list_env ON authz_role_assignments (env_id, created_at, id);
CREATE INDEX authz_role_assignments_list_user ON authz_role_assignments (user_id, created_at, id);
CREATE INDEX authz_role_assignments_list_role ON authz_role_assignments (role_id, created_at, id);
CREATE INDEX authz_role_assignments_list_tenant ON authz_role_assignments (tenant_id, created_at, id);

DROP INDEX authz_instances_env;
DROP INDEX authz_instances_tenant;
CREATE INDEX authz_instances_list_created ON authz_instances (env_id, created_at, id);
CREATE INDEX authz_instances_list_updated ON authz_instances (env_id, updated_at, id);
CREATE INDEX authz_instances_list_key ON authz_instances (env_id, key, id);
CREATE INDEX authz_instances_list_resource ON authz_instances (resource_id, created_at, id);
CREATE INDEX authz_instances_list_tenant ON authz_instances (tenant_id, created_at, id);

DROP INDEX authz_tuples_env;
DROP INDEX authz_tuples_object;
CREATE INDEX authz_tuples_list_created ON authz_tuples (env_id, created_at, id);
CREATE INDEX authz_tuples_list_relation ON authz_tuples (env_id, relation, id);
CREATE INDEX authz_tuples_list_subject ON authz_tuples (subject_id, created_at, id);
CREATE INDEX authz_tuples_list_object ON authz_tuples (object_id, created_at, id);

-- +goose Down
DROP INDEX authz_tuples_list_object;
DROP INDEX authz_tuples_list_subject;
DROP INDEX authz_tuples_list_relation;
DROP INDEX authz_tuples_list_created;
CREATE INDEX authz_tuples_env ON authz_tuples (env_id, created_at);
CREATE INDEX authz_tuples_object ON authz_tuples (object_id);

DROP INDEX authz_instances_list_tenant;
DROP INDEX authz_instances_list_resource;
DROP INDEX authz_instances_list_key;
DROP INDEX authz_instances_list_updated;
DROP INDEX authz_instances_list_created;
CREATE INDEX authz_instances_env ON authz_instances (env_id, created_at);
CREATE INDEX authz_instances_tenant ON authz_instances (tenant_id);

DROP INDEX authz_role_assignments_list_tenant;
DROP INDEX authz_role_assignments_list_role;
DROP INDEX authz_role_assignments_list_user;
DROP INDEX authz_role_assignments_list_env;
CREATE INDEX authz_role_assignments_env ON authz_role_assignments (env_id, created_at);
CREATE INDEX authz_role_assignments_role ON authz_role_assignments (role_id);
CREATE INDEX authz_role_assignments_tenant ON authz_role_assignments (tenant_id);

DROP INDEX authz_tenants_list_name;
DROP INDEX authz_tenants_list_key;
DROP INDEX authz_tenants_list_updated;
DROP INDEX authz_tenants_list_created;

DROP INDEX authz_users_list_email;
DROP INDEX authz_users_list_key;
DROP INDEX authz_users_list_updated;
DROP INDEX authz_users_list_created;
