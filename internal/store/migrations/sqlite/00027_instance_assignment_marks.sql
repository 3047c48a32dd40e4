-- list_marks (migration 00026) for the role assignments on resource
-- instances too: the API's default assignment list (kind=all) in an
-- environment with roles on instances merges both tables, and a deep page
-- of it by number is found by adding up both tables' marks
-- (store/marks.go, mergedSeek) instead of stepping over every row of both
-- before it. Existing rows get a mark every 1,024 rows.

-- +goose Up
INSERT INTO list_marks (env_id, tbl, at, id, n)
SELECT env_id, 'authz_instance_assignments', CASE WHEN rn = 0 THEN -9223372036854775808 ELSE created_at END, CASE WHEN rn = 0 THEN '' ELSE id END, MIN(1024, total - rn)
FROM (SELECT env_id, created_at, id, ROW_NUMBER() OVER (PARTITION BY env_id ORDER BY created_at, id) - 1 AS rn, COUNT(*) OVER (PARTITION BY env_id) AS total FROM authz_instance_assignments)
WHERE rn % 1024 = 0;
-- +goose StatementBegin
CREATE TRIGGER authz_instance_assignments_lm_ins AFTER INSERT ON authz_instance_assignments BEGIN
    INSERT OR IGNORE INTO list_marks (env_id, tbl, at, id, n) VALUES (NEW.env_id, 'authz_instance_assignments', -9223372036854775808, '', 0);
    UPDATE list_marks SET n = n + 1 WHERE env_id = NEW.env_id AND tbl = 'authz_instance_assignments' AND (at, id) = (
        SELECT at, id FROM list_marks WHERE env_id = NEW.env_id AND tbl = 'authz_instance_assignments' AND (at, id) <= (NEW.created_at, NEW.id) ORDER BY at DESC, id DESC LIMIT 1);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_instance_assignments_lm_del AFTER DELETE ON authz_instance_assignments BEGIN
    UPDATE list_marks SET n = n - 1 WHERE env_id = OLD.env_id AND tbl = 'authz_instance_assignments' AND (at, id) = (
        SELECT at, id FROM list_marks WHERE env_id = OLD.env_id AND tbl = 'authz_instance_assignments' AND (at, id) <= (OLD.created_at, OLD.id) ORDER BY at DESC, id DESC LIMIT 1);
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER authz_instance_assignments_lm_ins;
DROP TRIGGER authz_instance_assignments_lm_del;
DELETE FROM list_marks WHERE tbl = 'authz_instance_assignments';
