-- +goose Up
-- Soft delete of organizations, projects and environments: a deleted one
-- keeps its rows until purge_after (the grace period), can be restored until
-- then, and is purged by a background sweep after. Its key is freed for
-- reuse while deleted (kept in deleted_key, restored with it). deleted_with
-- names the organization or project whose deletion took it along ('' when
-- it was deleted itself), so that restoring that one brings it back.
ALTER TABLE organizations ADD COLUMN deleted_at BIGINT;
ALTER TABLE organizations ADD COLUMN purge_after BIGINT;
ALTER TABLE organizations ADD COLUMN deleted_key TEXT NOT NULL DEFAULT '';
ALTER TABLE projects ADD COLUMN deleted_at BIGINT;
ALTER TABLE projects ADD COLUMN purge_after BIGINT;
ALTER TABLE projects ADD COLUMN deleted_key TEXT NOT NULL DEFAULT '';
ALTER TABLE projects ADD COLUMN deleted_with TEXT NOT NULL DEFAULT '';
ALTER TABLE environments ADD COLUMN deleted_at BIGINT;
ALTER TABLE environments ADD COLUMN purge_after BIGINT;
ALTER TABLE environments ADD COLUMN deleted_key TEXT NOT NULL DEFAULT '';
ALTER TABLE environments ADD COLUMN deleted_with TEXT NOT NULL DEFAULT '';
CREATE INDEX organizations_purge ON organizations (purge_after);
CREATE INDEX projects_purge ON projects (purge_after);
CREATE INDEX environments_purge ON environments (purge_after);

-- +goose Down
DROP INDEX environments_purge;
DROP INDEX projects_purge;
DROP INDEX organizations_purge;
ALTER TABLE environments DROP COLUMN deleted_with;
ALTER TABLE environments DROP COLUMN deleted_key;
ALTER TABLE environments DROP COLUMN purge_after;
ALTER TABLE environments DROP COLUMN deleted_at;
ALTER TABLE projects DROP COLUMN deleted_with;
ALTER TABLE projects DROP COLUMN deleted_key;
ALTER TABLE projects DROP COLUMN purge_after;
ALTER TABLE projects DROP COLUMN deleted_at;
ALTER TABLE organizations DROP COLUMN deleted_key;
ALTER TABLE organizations DROP COLUMN purge_after;
ALTER TABLE organizations DROP COLUMN deleted_at;
