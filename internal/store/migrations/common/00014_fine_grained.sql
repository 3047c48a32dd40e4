-- +goose Up
-- Fine-grained authorization (issue 15): roles on resource types, relations
-- between types, resource instances, relationship tuples, role assignments
-- on instances, condition sets and set rules. Keys are unique per resource
-- type (roles, relations, instances) or per environment (condition sets).
-- What belongs to a resource type goes with it (ON DELETE CASCADE); the
-- service refuses or cascades deletes of what others refer to, recording
-- each removal in the change feed.
CREATE TABLE authz_resource_roles (
    id          TEXT PRIMARY KEY,
    env_id      TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    resource_id TEXT NOT NULL REFERENCES authz_resources(id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    permissions TEXT NOT NULL DEFAULT '[]',
    extends     TEXT NOT NULL DEFAULT '[]',
    granted_to  TEXT NOT NULL DEFAULT '[]',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (resource_id, key)
);
CREATE INDEX authz_resource_roles_env ON authz_resource_roles (env_id, created_at);

CREATE TABLE authz_relations (
    id          TEXT PRIMARY KEY,
    env_id      TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    resource_id TEXT NOT NULL REFERENCES authz_resources(id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    subject_id  TEXT NOT NULL REFERENCES authz_resources(id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (resource_id, key)
);
CREATE INDEX authz_relations_env ON authz_relations (env_id, created_at);
CREATE INDEX authz_relations_subject ON authz_relations (subject_id);

CREATE TABLE authz_instances (
    id          TEXT PRIMARY KEY,
    env_id      TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    resource_id TEXT NOT NULL REFERENCES authz_resources(id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    tenant_id   TEXT NOT NULL REFERENCES authz_tenants(id) ON DELETE CASCADE,
    attributes  TEXT NOT NULL DEFAULT '{}',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (resource_id, key)
);
CREATE INDEX authz_instances_env ON authz_instances (env_id, created_at);
CREATE INDEX authz_instances_tenant ON authz_instances (tenant_id);

-- subject_role is '' for an instance subject, r for a subject set "S:s#r".
CREATE TABLE authz_tuples (
    id           TEXT PRIMARY KEY,
    env_id       TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    subject_id   TEXT NOT NULL REFERENCES authz_instances(id) ON DELETE CASCADE,
    subject_role TEXT NOT NULL DEFAULT '',
    relation     TEXT NOT NULL,
    object_id    TEXT NOT NULL REFERENCES authz_instances(id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    UNIQUE (subject_id, subject_role, relation, object_id)
);
CREATE INDEX authz_tuples_env ON authz_tuples (env_id, created_at);
CREATE INDEX authz_tuples_object ON authz_tuples (object_id);

CREATE TABLE authz_instance_assignments (
    id          TEXT PRIMARY KEY,
    env_id      TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES authz_users(id) ON DELETE CASCADE,
    role_id     TEXT NOT NULL REFERENCES authz_resource_roles(id) ON DELETE CASCADE,
    instance_id TEXT NOT NULL REFERENCES authz_instances(id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    UNIQUE (user_id, instance_id, role_id)
);
CREATE INDEX authz_instance_assignments_env ON authz_instance_assignments (env_id, created_at);
CREATE INDEX authz_instance_assignments_role ON authz_instance_assignments (role_id);
CREATE INDEX authz_instance_assignments_instance ON authz_instance_assignments (instance_id);

-- resource_id is NULL for a user set.
CREATE TABLE authz_condition_sets (
    id          TEXT PRIMARY KEY,
    env_id      TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    type        TEXT NOT NULL,
    resource_id TEXT REFERENCES authz_resources(id) ON DELETE CASCADE,
    conditions  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (env_id, key)
);
CREATE INDEX authz_condition_sets_env ON authz_condition_sets (env_id, created_at);

CREATE TABLE authz_set_rules (
    id              TEXT PRIMARY KEY,
    env_id          TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    user_set_id     TEXT NOT NULL REFERENCES authz_condition_sets(id) ON DELETE CASCADE,
    action          TEXT NOT NULL,
    resource_set_id TEXT NOT NULL REFERENCES authz_condition_sets(id) ON DELETE CASCADE,
    created_at      BIGINT NOT NULL,
    UNIQUE (user_set_id, action, resource_set_id)
);
CREATE INDEX authz_set_rules_env ON authz_set_rules (env_id, created_at);

-- +goose Down
DROP TABLE authz_set_rules;
DROP TABLE authz_condition_sets;
DROP TABLE authz_instance_assignments;
DROP TABLE authz_tuples;
DROP TABLE authz_instances;
DROP TABLE authz_relations;
DROP TABLE authz_resource_roles;
