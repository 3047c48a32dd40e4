-- +goose Up
-- A resource type's own category (the API's "type" field, e.g. processor), free
-- configuration (a JSON object) and status (active or archived).
ALTER TABLE authz_resources ADD COLUMN kind TEXT NOT NULL DEFAULT '';
ALTER TABLE authz_resources ADD COLUMN config TEXT NOT NULL DEFAULT '{}';
ALTER TABLE authz_resources ADD COLUMN status TEXT NOT NULL DEFAULT 'active';

-- +goose Down
ALTER TABLE authz_resources DROP COLUMN status;
ALTER TABLE authz_resources DROP COLUMN config;
ALTER TABLE authz_resources DROP COLUMN kind;
