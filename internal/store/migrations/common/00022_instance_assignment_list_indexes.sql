-- Indexes for the lists of role assignments on instances (issue 16 point
-- 12), as 00016 made them for the tenant assignments: each ends with
-- created_at and id, the keyset of cursor paging, so that the merged list
-- of both kinds (kind=all by created_at) reads a page of each table by a
-- range of one index at any depth, and the user, role and instance
-- filters do the same. They supersede the indexes of 00014 with the same
-- leading column (the instance one also serves the cascade from
-- authz_instances).

-- +goose Up
DROP INDEX authz_instance_assignments_env;
DROP INDEX authz_instance_assignments_role;
DROP INDEX authz_instance_assignments_instance;
CREATE INDEX authz_instance_assignments_list_env ON authz_instance_assignments (env_id, created_at, id);
CREATE INDEX authz_instance_assignments_list_user ON authz_instance_assignments (user_id, created_at, id);
CREATE INDEX authz_instance_assignments_list_role ON authz_instance_assignments (role_id, created_at, id);
CREATE INDEX authz_instance_assignments_list_instance ON authz_instance_assignments (instance_id, created_at, id);

-- +goose Down
DROP INDEX authz_instance_assignments_list_instance;
DROP INDEX authz_instance_assignments_list_role;
DROP INDEX authz_instance_assignments_list_user;
DROP INDEX authz_instance_assignments_list_env;
CREATE INDEX authz_instance_assignments_env ON authz_instance_assignments (env_id, created_at);
CREATE INDEX authz_instance_assignments_role ON authz_instance_assignments (role_id);
CREATE INDEX authz_instance_assignments_instance ON authz_instance_assignments (instance_id);
