-- Key marks (migration 00028) of one role's tenant assignments sorted by
-- user: sort 'ru:' || role_id, marks (key, at, id) along (user key,
-- created_at, id) counting only that role's rows. A deep page by number
-- of a role sorted by user (?role=viewer&sort=user, when the role holds
-- more rows than are read whole and sorted) walked every user before the
-- page, counting each one's rows of the role: 0.2-0.9 s half-way through
-- a role holding 500,000 of 1M assignments (bench/README.md, "Fifteenth
-- pass"). Through these marks it adds up the counts to the mark before
-- its first row and steps over at most that mark's rows, as the sorts of
-- 00028 do. Triggers keep the counts exact; a role deleted takes its
-- marks with it (its assignments go first, counted out). Existing
-- assignments get a mark every 1,024 rows of each role.

-- +goose Up
INSERT INTO key_marks (env_id, sort, key, at, id, n)
SELECT env_id, 'ru:' || role_id, CASE WHEN rn = 0 THEN '' ELSE key END, CASE WHEN rn = 0 THEN -9223372036854775808 ELSE created_at END, CASE WHEN rn = 0 THEN '' ELSE id END, MIN(1024, total - rn)
FROM (SELECT a.env_id, a.role_id, k.key, a.created_at, a.id, ROW_NUMBER() OVER (PARTITION BY a.env_id, a.role_id ORDER BY k.key, a.created_at, a.id) - 1 AS rn, COUNT(*) OVER (PARTITION BY a.env_id, a.role_id) AS total
      FROM authz_role_assignments a JOIN authz_users k ON k.id = a.user_id) AS r
WHERE rn % 1024 = 0;
-- +goose StatementBegin
CREATE TRIGGER authz_role_assignments_rkm_ins AFTER INSERT ON authz_role_assignments BEGIN
    INSERT OR IGNORE INTO key_marks (env_id, sort, key, at, id, n) VALUES (NEW.env_id, 'ru:' || NEW.role_id, '', -9223372036854775808, '', 0);
    UPDATE key_marks SET n = n + 1 WHERE env_id = NEW.env_id AND sort = 'ru:' || NEW.role_id AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = NEW.env_id AND sort = 'ru:' || NEW.role_id AND (key, at, id) <= ((SELECT key FROM authz_users WHERE id = NEW.user_id), NEW.created_at, NEW.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_role_assignments_rkm_del AFTER DELETE ON authz_role_assignments BEGIN
    UPDATE key_marks SET n = n - 1 WHERE env_id = OLD.env_id AND sort = 'ru:' || OLD.role_id AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = OLD.env_id AND sort = 'ru:' || OLD.role_id AND (key, at, id) <= ((SELECT key FROM authz_users WHERE id = OLD.user_id), OLD.created_at, OLD.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_roles_rkm_del AFTER DELETE ON authz_roles BEGIN
    DELETE FROM key_marks WHERE env_id = OLD.env_id AND sort = 'ru:' || OLD.id;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER authz_roles_rkm_del;
DROP TRIGGER authz_role_assignments_rkm_del;
DROP TRIGGER authz_role_assignments_rkm_ins;
DELETE FROM key_marks WHERE sort LIKE 'ru:%';
