-- Which API key uploaded a PDP decision (POST /v1/pdp/decisions), as the
-- server authenticated it. Decisions the server answered have none. Until
-- now a PDP decision's key_id was always its uploader: copy it over.

-- +goose Up
ALTER TABLE decision_log ADD COLUMN uploaded_by_key_id TEXT NOT NULL DEFAULT '';
UPDATE decision_log SET uploaded_by_key_id = key_id WHERE source = 'pdp';

-- +goose Down
ALTER TABLE decision_log DROP COLUMN uploaded_by_key_id;
