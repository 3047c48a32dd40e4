-- +goose Up
-- The first organization's key was recorded as made by its first Admin.
-- Keys now follow the member who made them (revoked when the member is
-- removed), and that key was made by the set-up, not by the member: say so.
UPDATE api_keys SET created_by = 'init' WHERE name = 'Initial organization key' AND created_by LIKE 'member:%';

-- +goose Down
SELECT 1;
