-- +goose Up
-- Roles and roles of resource types carry free attributes (a JSON object,
-- like a user's): metadata stored and returned, not used by checks.
ALTER TABLE authz_roles ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
ALTER TABLE authz_resource_roles ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE authz_resource_roles DROP COLUMN attributes;
ALTER TABLE authz_roles DROP COLUMN attributes;
