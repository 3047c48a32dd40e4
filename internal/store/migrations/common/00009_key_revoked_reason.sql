-- +goose Up
-- Why a key was revoked: '' (by a caller), rotated, creator_removed (the
-- member who made it left), creator_lost_scope (their role no longer holds
-- one of its scopes), organization_deleted.
ALTER TABLE api_keys ADD COLUMN revoked_reason TEXT NOT NULL DEFAULT '';
CREATE INDEX api_keys_created_by ON api_keys (org_id, created_by);

-- +goose Down
DROP INDEX api_keys_created_by;
ALTER TABLE api_keys DROP COLUMN revoked_reason;
