-- key_marks: list marks (migration 00026) along the role assignments in
-- the order of a sort by the key of their user, role or tenant (v1's
-- sort=user|role|tenant): per environment and sort, marks (key, at, id)
-- with n, the number of the environment's assignments from that mark up to
-- the next one in (key, created_at, id) order. A deep page by number of a
-- sorted list (store/keymarks.go) adds up the counts to the mark before its
-- first row and steps over at most that mark's rows, instead of counting
-- its way over every key before it. The first mark of an environment's
-- sort is at ('', the smallest at, ''), before every row.
--
-- Triggers keep the counts exact: an assignment's insert adds one to the
-- mark at or before its row under each sort, found by its user's, role's
-- and tenant's keys; a delete takes one away. Keys and created_at are never
-- updated. A user, role or tenant deleted takes its assignments first (a
-- BEFORE DELETE trigger), while its key can still be read: a cascade would
-- delete them after it, when their key is gone. Existing assignments get a
-- mark every 1,024 rows of each sort.

-- +goose Up
CREATE TABLE key_marks (
    env_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    sort   TEXT NOT NULL,
    key    TEXT NOT NULL,
    at     INTEGER NOT NULL,
    id     TEXT NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (env_id, sort, key, at, id)
) WITHOUT ROWID;
INSERT INTO key_marks (env_id, sort, key, at, id, n)
SELECT env_id, 'user', CASE WHEN rn = 0 THEN '' ELSE key END, CASE WHEN rn = 0 THEN -9223372036854775808 ELSE created_at END, CASE WHEN rn = 0 THEN '' ELSE id END, MIN(1024, total - rn)
FROM (SELECT a.env_id, k.key, a.created_at, a.id, ROW_NUMBER() OVER (PARTITION BY a.env_id ORDER BY k.key, a.created_at, a.id) - 1 AS rn, COUNT(*) OVER (PARTITION BY a.env_id) AS total
      FROM authz_role_assignments a JOIN authz_users k ON k.id = a.user_id) AS r
WHERE rn % 1024 = 0;
INSERT INTO key_marks (env_id, sort, key, at, id, n)
SELECT env_id, 'role', CASE WHEN rn = 0 THEN '' ELSE key END, CASE WHEN rn = 0 THEN -9223372036854775808 ELSE created_at END, CASE WHEN rn = 0 THEN '' ELSE id END, MIN(1024, total - rn)
FROM (SELECT a.env_id, k.key, a.created_at, a.id, ROW_NUMBER() OVER (PARTITION BY a.env_id ORDER BY k.key, a.created_at, a.id) - 1 AS rn, COUNT(*) OVER (PARTITION BY a.env_id) AS total
      FROM authz_role_assignments a JOIN authz_roles k ON k.id = a.role_id) AS r
WHERE rn % 1024 = 0;
INSERT INTO key_marks (env_id, sort, key, at, id, n)
SELECT env_id, 'tenant', CASE WHEN rn = 0 THEN '' ELSE key END, CASE WHEN rn = 0 THEN -9223372036854775808 ELSE created_at END, CASE WHEN rn = 0 THEN '' ELSE id END, MIN(1024, total - rn)
FROM (SELECT a.env_id, k.key, a.created_at, a.id, ROW_NUMBER() OVER (PARTITION BY a.env_id ORDER BY k.key, a.created_at, a.id) - 1 AS rn, COUNT(*) OVER (PARTITION BY a.env_id) AS total
      FROM authz_role_assignments a JOIN authz_tenants k ON k.id = a.tenant_id) AS r
WHERE rn % 1024 = 0;
-- +goose StatementBegin
CREATE TRIGGER authz_role_assignments_km_ins AFTER INSERT ON authz_role_assignments BEGIN
    INSERT OR IGNORE INTO key_marks (env_id, sort, key, at, id, n) VALUES (NEW.env_id, 'user', '', -9223372036854775808, '', 0), (NEW.env_id, 'role', '', -9223372036854775808, '', 0), (NEW.env_id, 'tenant', '', -9223372036854775808, '', 0);
    UPDATE key_marks SET n = n + 1 WHERE env_id = NEW.env_id AND sort = 'user' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = NEW.env_id AND sort = 'user' AND (key, at, id) <= ((SELECT key FROM authz_users WHERE id = NEW.user_id), NEW.created_at, NEW.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
    UPDATE key_marks SET n = n + 1 WHERE env_id = NEW.env_id AND sort = 'role' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = NEW.env_id AND sort = 'role' AND (key, at, id) <= ((SELECT key FROM authz_roles WHERE id = NEW.role_id), NEW.created_at, NEW.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
    UPDATE key_marks SET n = n + 1 WHERE env_id = NEW.env_id AND sort = 'tenant' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = NEW.env_id AND sort = 'tenant' AND (key, at, id) <= ((SELECT key FROM authz_tenants WHERE id = NEW.tenant_id), NEW.created_at, NEW.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_role_assignments_km_del AFTER DELETE ON authz_role_assignments BEGIN
    UPDATE key_marks SET n = n - 1 WHERE env_id = OLD.env_id AND sort = 'user' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = OLD.env_id AND sort = 'user' AND (key, at, id) <= ((SELECT key FROM authz_users WHERE id = OLD.user_id), OLD.created_at, OLD.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
    UPDATE key_marks SET n = n - 1 WHERE env_id = OLD.env_id AND sort = 'role' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = OLD.env_id AND sort = 'role' AND (key, at, id) <= ((SELECT key FROM authz_roles WHERE id = OLD.role_id), OLD.created_at, OLD.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
    UPDATE key_marks SET n = n - 1 WHERE env_id = OLD.env_id AND sort = 'tenant' AND (key, at, id) = (
        SELECT key, at, id FROM key_marks WHERE env_id = OLD.env_id AND sort = 'tenant' AND (key, at, id) <= ((SELECT key FROM authz_tenants WHERE id = OLD.tenant_id), OLD.created_at, OLD.id) ORDER BY key DESC, at DESC, id DESC LIMIT 1);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_users_km_del BEFORE DELETE ON authz_users BEGIN
    DELETE FROM authz_role_assignments WHERE user_id = OLD.id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_roles_km_del BEFORE DELETE ON authz_roles BEGIN
    DELETE FROM authz_role_assignments WHERE role_id = OLD.id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authz_tenants_km_del BEFORE DELETE ON authz_tenants BEGIN
    DELETE FROM authz_role_assignments WHERE tenant_id = OLD.id;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER authz_users_km_del;
DROP TRIGGER authz_roles_km_del;
DROP TRIGGER authz_tenants_km_del;
DROP TRIGGER authz_role_assignments_km_ins;
DROP TRIGGER authz_role_assignments_km_del;
DROP TABLE key_marks;
