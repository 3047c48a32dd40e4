-- +goose Up
-- An environment's authorization data. Keys are unique per environment.
CREATE TABLE authz_users (
    id         TEXT PRIMARY KEY,
    env_id     TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    email      TEXT NOT NULL DEFAULT '',
    first_name TEXT NOT NULL DEFAULT '',
    last_name  TEXT NOT NULL DEFAULT '',
    attributes TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (env_id, key)
);

CREATE TABLE authz_tenants (
    id          TEXT PRIMARY KEY,
    env_id      TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    attributes  TEXT NOT NULL DEFAULT '{}',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (env_id, key)
);

CREATE TABLE authz_resources (
    id          TEXT PRIMARY KEY,
    env_id      TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    actions     TEXT NOT NULL DEFAULT '[]',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (env_id, key)
);

CREATE TABLE authz_roles (
    id          TEXT PRIMARY KEY,
    env_id      TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    permissions TEXT NOT NULL DEFAULT '[]',
    extends     TEXT NOT NULL DEFAULT '[]',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (env_id, key)
);

CREATE TABLE authz_role_assignments (
    id         TEXT PRIMARY KEY,
    env_id     TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES authz_users(id) ON DELETE CASCADE,
    role_id    TEXT NOT NULL REFERENCES authz_roles(id) ON DELETE CASCADE,
    tenant_id  TEXT NOT NULL REFERENCES authz_tenants(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, tenant_id, role_id)
);
CREATE INDEX authz_role_assignments_env ON authz_role_assignments (env_id, created_at);
CREATE INDEX authz_role_assignments_role ON authz_role_assignments (role_id);
CREATE INDEX authz_role_assignments_tenant ON authz_role_assignments (tenant_id);

-- The change feed: every write to an environment's authorization data, in
-- commit order per environment. Nodes and PDPs follow it.
CREATE TABLE authz_changes (
    seq BIGSERIAL PRIMARY KEY,
    env_id     TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    op         TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX authz_changes_env ON authz_changes (env_id, seq);

-- +goose Down
DROP TABLE authz_changes;
DROP TABLE authz_role_assignments;
DROP TABLE authz_roles;
DROP TABLE authz_resources;
DROP TABLE authz_tenants;
DROP TABLE authz_users;
