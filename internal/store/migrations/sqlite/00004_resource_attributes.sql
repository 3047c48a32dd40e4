-- +goose Up
-- A resource type's attribute definitions: {"<key>": {"type": ..., "description": ...}}.
ALTER TABLE authz_resources ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE authz_resources DROP COLUMN attributes;
